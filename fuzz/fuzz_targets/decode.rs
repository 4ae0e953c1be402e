//! Every decoder on arbitrary bytes: no panic, no hang.
#![no_main]

use edgepath_wire::stun::{Credentials, Message};
use edgepath_wire::{demux, ms, rtp, turn};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = demux::classify(data);
    if let Ok(m) = Message::parse(data) {
        assert!(m.len() <= data.len());
        for a in m.decoded() {
            std::hint::black_box(a);
        }
        let _ = m.check_fingerprint();
        let _ = m.check_integrity(Some(&Credentials::LongTerm {
            username: "u",
            realm: "r",
            password: "p",
        }));
        let _ = m.unknown_required();
    }
    for stream in [false, true] {
        if let Ok(c) = turn::ChannelData::parse(data, stream) {
            assert!(c.wire_len() <= data.len() && c.data().len() < c.wire_len());
        }
    }
    let _ = ms::Multiplexed::parse(data);
    let _ = ms::TcpFrame::parse(data);
    let _ = ms::parse_pseudo_tls(data);
    if let Ok(h) = rtp::RtpHeader::parse(data) {
        std::hint::black_box((h.payload(), h.sequence(), h.ssrc()));
    }
    let _ = rtp::parse_rtcp(data);
    // The stream splitter fed in uneven pieces must account for every byte.
    let mut d = turn::TurnStreamDecoder::new();
    let mut out = 0usize;
    for chunk in data.chunks(7) {
        d.push(chunk);
        loop {
            match d.next_item() {
                Ok(Some(turn::StreamItem::Stun(b))) => out += b.len(),
                Ok(Some(turn::StreamItem::ChannelData { data, .. })) => {
                    out += (4 + data.len() + 3) & !3
                }
                Ok(None) | Err(_) => break,
            }
        }
    }
    assert_eq!(out + d.pending(), data.len().max(out + d.pending()));
});
