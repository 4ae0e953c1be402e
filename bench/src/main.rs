//! Decoding speed: edgepath-wire against stun-rs and stun_codec, on the same
//! bytes, in one run. Each decoder does the same work: check the message and
//! decode every attribute into a typed value (edgepath also verifies the
//! FINGERPRINT, as stun_codec does while decoding).
//!
//! Timing: per case, a warm-up, then 21 batches sized to ~40 ms each; the
//! median batch gives ns per message. Machines here are shared and noisy, so
//! the median (not the mean) is reported, with the spread (min..max).

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytecodec::DecodeExt;
use edgepath_wire::stun::{attr_type, method, Class, Message, MessageBuilder};

use stun_codec::rfc5245::attributes::IceControlled;
use stun_codec::rfc5245::attributes::IceControlling;
use stun_codec::rfc5245::attributes::Priority;
use stun_codec::rfc5245::attributes::UseCandidate;
use stun_codec::rfc5389::attributes::ErrorCode;
use stun_codec::rfc5389::attributes::Fingerprint;
use stun_codec::rfc5389::attributes::MappedAddress;
use stun_codec::rfc5389::attributes::MessageIntegrity;
use stun_codec::rfc5389::attributes::Nonce;
use stun_codec::rfc5389::attributes::Realm;
use stun_codec::rfc5389::attributes::Software;
use stun_codec::rfc5389::attributes::Username;
use stun_codec::rfc5389::attributes::XorMappedAddress;
use stun_codec::rfc5766::attributes::Lifetime;
use stun_codec::rfc5766::attributes::XorRelayAddress;

stun_codec::define_attribute_enums!(
    CodecAttribute,
    CodecAttributeDecoder,
    CodecAttributeEncoder,
    [
        MappedAddress,
        Username,
        MessageIntegrity,
        ErrorCode,
        Realm,
        Nonce,
        XorMappedAddress,
        Software,
        Fingerprint,
        Priority,
        IceControlled,
        IceControlling,
        UseCandidate,
        Lifetime,
        XorRelayAddress
    ]
);

/// RFC 5769 section 2.1: a Binding request as ICE sends it.
const BINDING_REQUEST: &str = "000100582112a442b7e7a701bc34d686fa87dfae802200105354554e207465737420636c69656e74002400046e0001ff80290008932ff9b151263b36000600096576746a3a68367659202020000800149aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a280280004e57a3bcf";

/// An Allocate success as coturn 4.6 sends it: XOR-RELAYED-ADDRESS,
/// XOR-MAPPED-ADDRESS, LIFETIME, SOFTWARE, MESSAGE-INTEGRITY, FINGERPRINT.
fn allocate_success() -> Vec<u8> {
    let mut b = MessageBuilder::new(method::ALLOCATE, Class::Success, *b"edgepathtx01");
    b.add_address(
        attr_type::XOR_RELAYED_ADDRESS,
        "203.0.113.10:50000".parse().unwrap(),
        true,
    )
    .add_address(
        attr_type::XOR_MAPPED_ADDRESS,
        "198.51.100.20:40000".parse().unwrap(),
        true,
    )
    .add_u32(attr_type::LIFETIME, 600)
    .add(attr_type::SOFTWARE, b"Coturn-4.6.1 'Gorst'")
    .add_integrity(&edgepath_wire::stun::long_term_key("alice", "lab", "pw"))
    .add_fingerprint();
    b.build()
}

fn ours(bytes: &[u8]) -> usize {
    let m = Message::parse(bytes).expect("edgepath decodes it");
    let mut n = 0;
    for a in m.decoded() {
        black_box(&a);
        n += 1;
    }
    assert_ne!(m.check_fingerprint(), edgepath_wire::stun::Check::Bad);
    n
}

fn stun_rs(decoder: &stun_rs::MessageDecoder, bytes: &[u8]) -> usize {
    let (msg, _) = decoder.decode(bytes).expect("stun-rs decodes it");
    msg.attributes().len()
}

fn stun_codec_decode(bytes: &[u8]) -> usize {
    let mut d = stun_codec::MessageDecoder::<CodecAttribute>::new();
    let msg = d
        .decode_from_bytes(bytes)
        .expect("stun_codec reads it")
        .expect("stun_codec decodes every attribute");
    msg.attributes().count()
}

/// Median ns per call of `f`, with min and max batch.
fn measure(mut f: impl FnMut() -> usize) -> (f64, f64, f64) {
    let warm = Instant::now();
    let mut iters: u64 = 0;
    while warm.elapsed() < Duration::from_millis(200) {
        black_box(f());
        iters += 1;
    }
    let per_batch = (iters / 5).max(1); // ~40 ms
    let mut samples: Vec<f64> = (0..21)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..per_batch {
                black_box(f());
            }
            t.elapsed().as_nanos() as f64 / per_batch as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    (samples[10], samples[0], samples[20])
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn main() {
    let cases = [
        ("Binding request (RFC 5769 2.1)", hex(BINDING_REQUEST)),
        ("Allocate success (coturn-like)", allocate_success()),
    ];
    let stun_rs_decoder = stun_rs::MessageDecoderBuilder::default().build();
    println!("decoding one message: median ns (min..max of 21 batches), messages/s");
    for (name, bytes) in &cases {
        // Preflight: every decoder must really decode these bytes, fully.
        let counts = (
            ours(bytes),
            stun_rs(&stun_rs_decoder, bytes),
            stun_codec_decode(bytes),
        );
        assert!(
            counts.0 == counts.1 && counts.1 == counts.2,
            "{name}: attribute counts differ: {counts:?}"
        );
        println!("\n{name}, {} bytes, {} attributes", bytes.len(), counts.0);
        let rows = [
            ("edgepath-wire", measure(|| ours(bytes))),
            (
                "stun-rs 0.1.11",
                measure(|| stun_rs(&stun_rs_decoder, bytes)),
            ),
            ("stun_codec 0.4", measure(|| stun_codec_decode(bytes))),
        ];
        let fastest_peer = rows[1].1 .0.min(rows[2].1 .0);
        for (who, (med, lo, hi)) in rows {
            println!(
                "  {who:<15} {med:>8.1} ns ({lo:.1}..{hi:.1})  {:>12.0}/s",
                1e9 / med
            );
        }
        println!(
            "  edgepath vs the faster peer: {:.1}x",
            fastest_peer / rows[0].1 .0
        );
    }
}
