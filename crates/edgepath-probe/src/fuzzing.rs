//! Entry points for cargo-fuzz (`fuzz/fuzz_targets/probe_machines.rs`): the probe's
//! own machines on a simulated clock, fed arbitrary datagrams and jumps in time. Not an
//! API: the targets need a way in to `pub(crate)` machines.
#![doc(hidden)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use edgepath_wire::stun::{method, Class, MessageBuilder};

use crate::driver::{Machine, Pace};
use crate::quality::Unwatched;
use crate::relay::FirstAnswer;
use crate::roundtrip::{RoundTrips, RATE};

const RELAY: &str = "203.0.113.10:3478";

/// Splits `data` into (op, chunk) pairs: one byte, a length byte, that many bytes.
fn ops(data: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    let mut rest = data;
    std::iter::from_fn(move || {
        let (&op, tail) = rest.split_first()?;
        let n = usize::from(tail.first().copied().unwrap_or(0));
        let tail = tail.get(1..).unwrap_or(&[]);
        let (chunk, after) = tail.split_at(n.min(tail.len()));
        rest = after;
        Some((op, chunk))
    })
}

/// The round-trip stream under arbitrary answers: it sends to the relay only, never
/// more than its total, never faster than [`RATE`] a second, and ends in bounded time.
pub fn round_trips(data: &[u8]) {
    let relay: SocketAddr = RELAY.parse().unwrap_or_else(|_| unreachable!());
    let secs = u64::from(data.first().copied().unwrap_or(0) % 4 + 1);
    let t0 = Instant::now();
    let mut watch = Unwatched;
    let mut m = RoundTrips::new(relay, t0, Duration::from_secs(secs), &mut watch);
    let mut now = t0;
    let mut sent: Vec<(Instant, [u8; 12])> = Vec::new();
    let drain = |m: &mut RoundTrips<'_>, now: Instant, sent: &mut Vec<(Instant, [u8; 12])>| {
        while let Some((to, bytes)) = m.poll_transmit() {
            assert_eq!(to, relay, "a request to another address");
            let id = bytes.get(8..20).and_then(|b| <[u8; 12]>::try_from(b).ok());
            sent.push((
                now,
                id.unwrap_or_else(|| unreachable!("requests are whole")),
            ));
        }
    };
    for (op, chunk) in ops(data) {
        if m.is_done() {
            break;
        }
        match op % 4 {
            0 => {
                now = m.poll_timeout().map_or(now, |t| t.max(now));
                m.handle_timeout(now);
            }
            1 => m.handle_input(now, relay, chunk),
            2 => {
                // A well-formed answer to one of the requests sent (or to none).
                let id = sent
                    .get(usize::from(chunk.first().copied().unwrap_or(0)))
                    .map_or([0; 12], |s| s.1);
                let answer = MessageBuilder::new(method::BINDING, Class::Success, id).build();
                m.handle_input(now, relay, &answer);
            }
            _ => now += Duration::from_millis(u64::from(op) * 7),
        }
        drain(&mut m, now, &mut sent);
    }
    // However it was fed, the clock alone ends it: the rest of the requests, the grace.
    for _ in 0..10_000 {
        if m.is_done() {
            break;
        }
        now = m.poll_timeout().map_or(now, |t| t.max(now));
        m.handle_timeout(now);
        drain(&mut m, now, &mut sent);
    }
    assert!(m.is_done(), "the stream did not end");
    assert!(
        sent.len() as u64 <= secs * u64::from(RATE),
        "more requests than asked for"
    );
    assert!(
        sent.iter().all(|s| s.0 < t0 + Duration::from_secs(secs)),
        "a request after the asked duration"
    );
    let per = RATE as usize;
    for w in sent.windows(per + 1) {
        assert!(
            // RATE + 1 sends span a second, less the slack of one late send.
            w[per].0 - w[0].0 >= Duration::from_secs(1) - Pace::SLACK,
            "faster than the rate: {:?}",
            w.iter().map(|x| x.0 - t0).collect::<Vec<_>>()
        );
    }
}

/// The relay probe under arbitrary datagrams: only an answer with one of its own
/// transaction ids ends it with an answer.
pub fn first_answer(data: &[u8]) {
    let relay: SocketAddr = RELAY.parse().unwrap_or_else(|_| unreachable!());
    let t0 = Instant::now();
    let mut m = FirstAnswer::new(relay, t0);
    let mut ids: Vec<Vec<u8>> = Vec::new();
    let mut now = t0;
    for (op, chunk) in ops(data) {
        while let Some((to, bytes)) = m.poll_transmit() {
            assert_eq!(to, relay);
            ids.push(bytes[8..20].to_vec());
        }
        if m.is_done() {
            break;
        }
        match op % 3 {
            0 => {
                now = m.poll_timeout().map_or(now, |t| t.max(now));
                m.handle_timeout(now);
            }
            _ => {
                m.handle_input(now, relay, chunk);
                if m.is_done() {
                    assert!(
                        chunk.len() >= 20 && ids.iter().any(|id| id[..] == chunk[8..20]),
                        "an answer that is not to our request ended the probe"
                    );
                }
            }
        }
    }
}

/// The framing inside the relay's TCP and TLS connections (`relay_tcp::Inner`, both
/// kinds) on arbitrary bytes in arbitrary pieces: no panic, what is kept bounded, every
/// message cut out of the input and whole; then well-formed STUN and ChannelData
/// (payloads from the input) encoded, split at input-chosen points, cut back exactly.
pub fn tls_framing(data: &[u8]) {
    use crate::relay_tcp::Inner;
    for inner in [Inner::Rfc, Inner::MsFrames] {
        let mut pending = Vec::new();
        let mut fed = 0usize;
        let mut out = 0usize;
        for (_, chunk) in ops(data) {
            pending.extend_from_slice(chunk);
            fed += chunk.len();
            loop {
                match inner.cut(&mut pending) {
                    Ok(Some(msg)) => {
                        assert!(!msg.is_empty(), "an empty message");
                        out += msg.len();
                        assert!(out <= fed, "more out than in");
                    }
                    Ok(None) => break,
                    Err(_) => {
                        pending.clear();
                        break;
                    }
                }
            }
            // A frame or message is at most 64 KiB and a header: never more kept.
            assert!(pending.len() <= 65_535 + 20, "{} bytes kept", pending.len());
        }
    }
    // Round trip: the input's pieces as payloads.
    let mut msgs: Vec<Vec<u8>> = Vec::new();
    for (op, chunk) in ops(data) {
        let id = [op; 12];
        msgs.push(if op % 2 == 0 {
            let mut b = MessageBuilder::new(method::BINDING, Class::Request, id);
            b.add(0x8022, chunk);
            b.build()
        } else {
            let mut c = vec![0x40, op, 0, 0];
            c[2..4].copy_from_slice(&(chunk.len() as u16).to_be_bytes());
            c.extend_from_slice(chunk);
            c
        });
    }
    for inner in [Inner::Rfc, Inner::MsFrames] {
        let wire: Vec<u8> = msgs.iter().flat_map(|m| inner.encode(m)).collect();
        let mut pending = Vec::new();
        let mut got = Vec::new();
        let step = usize::from(data.first().copied().unwrap_or(1)).max(1);
        for piece in wire.chunks(step) {
            pending.extend_from_slice(piece);
            while let Some(m) = inner
                .cut(&mut pending)
                .unwrap_or_else(|e| panic!("{inner:?}: a well-formed message refused: {e}"))
            {
                got.push(m);
            }
        }
        assert!(pending.is_empty(), "{inner:?}: bytes left over");
        assert_eq!(got, msgs, "{inner:?}: not what was sent");
    }
}

#[cfg(test)]
mod tests {
    /// The fuzz entry points hold on a few fixed inputs (the fuzzer runs them for real).
    #[test]
    fn entry_points_hold_on_fixed_inputs() {
        let mut lcg = 0x2545_f491_u32;
        let noise: Vec<u8> = (0..4096)
            .map(|_| {
                lcg = lcg.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                (lcg >> 16) as u8
            })
            .collect();
        for data in [&[][..], &[0, 0, 2, 0, 1, 3, 0, 0, 0], &noise[..]] {
            super::round_trips(data);
            super::first_answer(data);
        }
    }
}
