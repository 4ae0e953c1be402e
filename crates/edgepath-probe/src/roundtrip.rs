//! Media quality without an account: STUN Binding requests to the relay, from the
//! audio source range, at [`RATE`] per second for the asked duration; every answer's
//! round trip. Microsoft's relays (and every STUN server) answer Bindings without
//! credentials, so this works for every user where the relayed stream
//! ([`crate::quality::measure`]) needs TURN credentials nobody has for Microsoft's
//! relays.
//!
//! The figures are round trips: loss of a request or of its answer, the worst loss in
//! any 200 ms, RTT mean / p95 / max, jitter as RFC 3550's smoothing applied to the RTT
//! variation, and reorder (an answer arriving after the answer to a later request).
//! They are graded against Microsoft's client-to-edge targets as they are, and the
//! report says so. Answers that stop for good after a run of them (rate limiting)
//! are reported as that, not as loss.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use edgepath_model::PortRange;
use edgepath_wire::stun::{Class, Message};

use crate::quality::{summarize, Method, Quality, Sent, Watch, Windows};

/// Requests per second: half an audio stream's 50 packets/s, and five in every 200 ms
/// so that the burst-loss window is measured.
pub const RATE: u32 = 25;

// Never above an audio stream's rate, and five requests in every 200 ms window.
const _: () = assert!(RATE <= crate::quality::PACKETS_PER_SECOND && RATE * 200 / 1000 >= 5);

/// How long answers may still come after the last request: three times the slowest
/// round trip seen, at least [`GRACE_MIN`], at most [`GRACE_MAX`]; and not at all once
/// every request is answered.
const GRACE_MIN: Duration = Duration::from_millis(250);
/// See [`GRACE_MIN`].
const GRACE_MAX: Duration = Duration::from_millis(1000);

/// A silent tail this long after a run of answers reads as rate limiting.
const RATE_LIMIT_SILENCE: Duration = Duration::from_secs(2);

/// Whether the stream's answers stopped for good after a run of them: at least 20
/// answered, at least 95 % of those sent until the last answer, and nothing for
/// [`RATE_LIMIT_SILENCE`] of requests after it. Returns the index of the last answered
/// request then.
pub(crate) fn rate_limited_after(slots: &[Sent]) -> Option<usize> {
    let last = slots.iter().rposition(|s| s.back.is_some())?;
    let answered = slots[..=last].iter().filter(|s| s.back.is_some()).count();
    let silent_for = slots.last()?.at.saturating_sub(slots[last].at);
    (answered >= 20 && answered * 100 >= (last + 1) * 95 && silent_for >= RATE_LIMIT_SILENCE)
        .then_some(last)
}

/// Measures round trips to `relay` for `duration` from a port in `range` (the audio
/// range). `progress` is told the fraction done, about once a second.
pub async fn measure(
    relay: SocketAddr,
    range: PortRange,
    duration: Duration,
    watch: &mut dyn Watch,
) -> Result<Quality, String> {
    // The middle of the range: the relay probes and the NAT probe took its ends.
    let sock = crate::relay::bind_in_range(range, relay.is_ipv6(), range.len() as u16 / 2)
        .await
        .ok_or_else(|| format!("no free local UDP port in {range}"))?;
    sock.connect(relay)
        .await
        .map_err(|e| format!("cannot send to {relay}: {e}"))?;
    let mut total = (duration.as_secs_f64() * f64::from(RATE)).round().max(1.0) as u32;
    let mut windows = Windows::new(RATE);
    let mut slots: Vec<Sent> = Vec::with_capacity(total as usize);
    let mut ids: HashMap<[u8; 12], usize> = HashMap::with_capacity(total as usize);
    let start = Instant::now();
    let mut ticker = tokio::time::interval(Duration::from_millis(1000 / u64::from(RATE)));
    // Never catch up with a burst: a stall sends fewer requests, never more than RATE/s.
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut buf = vec![0u8; 2048];
    let mut arrivals = 0u32;
    let mut last_progress = Instant::now();
    let far = tokio::time::Instant::now() + duration + Duration::from_secs(3600);
    let mut drain: Option<tokio::time::Instant> = None;
    loop {
        if last_progress.elapsed() >= Duration::from_secs(1) {
            watch.progress((slots.len() as f64 / f64::from(total)).min(1.0));
            last_progress = Instant::now();
        }
        windows.emit_ready(&slots, start.elapsed(), GRACE_MAX, watch);
        if drain.is_none() && watch.stopped() {
            // Ctrl-C: stop sending; what is in flight still counts.
            total = slots.len() as u32;
            drain = Some(tokio::time::Instant::now() + GRACE_MAX);
        }
        tokio::select! {
            _ = ticker.tick(), if (slots.len() as u32) < total => {
                let id = crate::ids::transaction_id();
                let req = edgepath_wire::stun::MessageBuilder::new(
                    edgepath_wire::stun::method::BINDING,
                    Class::Request,
                    id,
                )
                .build();
                ids.insert(id, slots.len());
                slots.push(Sent { at: start.elapsed(), back: None, order: u32::MAX });
                // A refused send (ICMP) is a lost request: the figures will say so.
                let _ = sock.send(&req).await;
                if slots.len() as u32 == total {
                    let slowest = slots
                        .iter()
                        .filter_map(|s| s.back.map(|b| b - s.at))
                        .max()
                        .unwrap_or(GRACE_MAX);
                    drain = Some(tokio::time::Instant::now() + (slowest * 3).clamp(GRACE_MIN, GRACE_MAX));
                }
            }
            r = sock.recv(&mut buf) => {
                let Ok(n) = r else { continue };
                let Ok(m) = Message::parse(&buf[..n]) else { continue };
                let Ok(id) = <[u8; 12]>::try_from(m.transaction_id()) else { continue };
                if m.class() != Class::Success && m.class() != Class::Error {
                    continue;
                }
                if let Some(s) = ids.get(&id).and_then(|&i| slots.get_mut(i)) {
                    if s.back.is_none() {
                        s.back = Some(start.elapsed());
                        s.order = arrivals;
                        arrivals += 1;
                    }
                }
                if drain.is_some() && arrivals as usize == slots.len() {
                    break; // every request answered: nothing more to wait for
                }
            }
            _ = tokio::time::sleep_until(drain.unwrap_or(far)) => break,
        }
    }
    watch.progress(1.0);
    windows.emit_rest(&slots, watch);
    let rate_limited = rate_limited_after(&slots).map(|last| {
        let note = format!(
            "the relay answered {} requests, then none for {:.1} s: rate limiting, not loss; the figures stop at the last answer",
            slots[..=last].iter().filter(|s| s.back.is_some()).count(),
            slots.last().map_or(0.0, |l| (l.at - slots[last].at).as_secs_f64())
        );
        slots.truncate(last + 1);
        note
    });
    let (overall, windows, grades, status) = summarize(&slots, RATE);
    Ok(Quality {
        method: Method::StunRoundTrip,
        rate_per_s: RATE,
        rate_limited,
        relay,
        relayed: None,
        overall,
        windows,
        grades,
        status,
        integrity_failures: 0,
    })
}

/// Quality over a TCP path (relay-tcp, relay-tcp-proxy): STUN Binding requests over one
/// TCP connection to the relay's 443 (directly, or through `proxy`'s CONNECT tunnel), in
/// the framing the relay answered (RFC, or MS-TURN's pseudo-TLS frames), at [`RATE`]
/// per second: round trip and jitter per request, windows as for UDP. TCP retransmits,
/// so loss shows as delay, not as missing answers.
pub async fn measure_tcp(
    dest: SocketAddr,
    proxy: Option<&crate::proxy::Proxy>,
    framing: crate::relay::Framing,
    duration: Duration,
    watch: &mut dyn Watch,
) -> Result<Quality, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let connect = async {
        match proxy {
            Some(p) => crate::proxy::connect(
                p,
                &dest.ip().to_string(),
                dest.port(),
                Duration::from_secs(5),
            )
            .await
            .map_err(|e| e.to_string()),
            None => tokio::net::TcpStream::connect(dest)
                .await
                .map_err(|e| e.to_string()),
        }
    };
    let mut stream = tokio::time::timeout(Duration::from_secs(6), connect)
        .await
        .map_err(|_| format!("TCP to {dest} did not open within 6 s"))??;
    let pseudo = framing == crate::relay::Framing::PseudoTls;
    let mut pending = if pseudo {
        tokio::time::timeout(
            Duration::from_secs(5),
            crate::relay::pseudo_tls_handshake(&mut stream),
        )
        .await
        .map_err(|_| "no pseudo-TLS answer within 5 s".to_owned())??
    } else {
        Vec::new()
    };
    let (mut rd, mut wr) = stream.into_split();
    let mut total = (duration.as_secs_f64() * f64::from(RATE)).round().max(1.0) as u32;
    let mut windows = Windows::new(RATE);
    let mut slots: Vec<Sent> = Vec::with_capacity(total as usize);
    let mut ids: HashMap<[u8; 12], usize> = HashMap::with_capacity(total as usize);
    let start = Instant::now();
    let mut ticker = tokio::time::interval(Duration::from_millis(1000 / u64::from(RATE)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut buf = vec![0u8; 4096];
    let mut arrivals = 0u32;
    let mut last_progress = Instant::now();
    let far = tokio::time::Instant::now() + duration + Duration::from_secs(3600);
    let mut drain: Option<tokio::time::Instant> = None;
    let mut closed = false;
    loop {
        if last_progress.elapsed() >= Duration::from_secs(1) {
            watch.progress((slots.len() as f64 / f64::from(total)).min(1.0));
            last_progress = Instant::now();
        }
        windows.emit_ready(&slots, start.elapsed(), GRACE_MAX, watch);
        if drain.is_none() && watch.stopped() {
            total = slots.len() as u32;
            drain = Some(tokio::time::Instant::now() + GRACE_MAX);
        }
        // Whole messages in what was read: RFC framing is STUN back to back; MS-TURN
        // puts each in a 4-byte frame.
        loop {
            let (msg, used) = if pseudo {
                match edgepath_wire::ms::TcpFrame::parse(&pending) {
                    Ok(Some((f, used))) => (f.payload.to_vec(), used),
                    Ok(None) => break,
                    Err(e) => return Err(format!("a bad MS-TURN frame from the relay: {e}")),
                }
            } else {
                if pending.len() < 20 {
                    break;
                }
                let len = 20 + usize::from(u16::from_be_bytes([pending[2], pending[3]]));
                if pending.len() < len {
                    break;
                }
                (pending[..len].to_vec(), len)
            };
            pending.drain(..used);
            if let Ok(m) = Message::parse(&msg) {
                if let Some(s) = <[u8; 12]>::try_from(m.transaction_id())
                    .ok()
                    .and_then(|id| ids.get(&id))
                    .and_then(|&i| slots.get_mut(i))
                {
                    if s.back.is_none() {
                        s.back = Some(start.elapsed());
                        s.order = arrivals;
                        arrivals += 1;
                    }
                }
            }
        }
        if pending.len() > 70 * 1024 {
            return Err("more than 70 KiB from the relay without a whole message".into());
        }
        if drain.is_some() && arrivals as usize == slots.len() {
            break;
        }
        tokio::select! {
            _ = ticker.tick(), if (slots.len() as u32) < total && !closed => {
                let id = crate::ids::transaction_id();
                let req = edgepath_wire::stun::MessageBuilder::new(
                    edgepath_wire::stun::method::BINDING,
                    Class::Request,
                    id,
                )
                .build();
                let wire = if pseudo {
                    edgepath_wire::ms::tcp_frame(edgepath_wire::ms::FrameKind::Control, &req)
                } else {
                    req
                };
                ids.insert(id, slots.len());
                slots.push(Sent { at: start.elapsed(), back: None, order: u32::MAX });
                if wr.write_all(&wire).await.is_err() {
                    closed = true;
                }
                if slots.len() as u32 == total || closed {
                    drain = Some(tokio::time::Instant::now() + GRACE_MAX);
                }
            }
            r = rd.read(&mut buf), if !closed => match r {
                Ok(0) | Err(_) => {
                    closed = true;
                    drain.get_or_insert(tokio::time::Instant::now());
                }
                Ok(n) => pending.extend_from_slice(&buf[..n]),
            },
            _ = tokio::time::sleep_until(drain.unwrap_or(far)) => break,
        }
    }
    watch.progress(1.0);
    windows.emit_rest(&slots, watch);
    let (overall, windows, grades, status) = summarize(&slots, RATE);
    Ok(Quality {
        method: Method::TcpRoundTrip,
        rate_per_s: RATE,
        rate_limited: closed.then(|| {
            format!(
                "the relay closed the connection after {} answers; the figures stop there",
                arrivals
            )
        }),
        relay: dest,
        relayed: None,
        overall,
        windows,
        grades,
        status,
        integrity_failures: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slots(pattern: &[bool]) -> Vec<Sent> {
        pattern
            .iter()
            .enumerate()
            .map(|(i, &ok)| {
                let at = Duration::from_millis(40 * i as u64);
                Sent {
                    at,
                    back: ok.then(|| at + Duration::from_millis(20)),
                    order: i as u32,
                }
            })
            .collect()
    }

    #[test]
    fn rate_limiting_is_a_run_of_answers_then_silence() {
        // 100 answers, then 3 s of silence: rate limited after index 99.
        let mut p = vec![true; 100];
        p.extend(vec![false; 75]);
        assert_eq!(rate_limited_after(&slots(&p)), Some(99));
        // Scattered loss all along is loss, not a limit.
        let scattered: Vec<bool> = (0..175).map(|i| i % 10 != 0).collect();
        assert_eq!(rate_limited_after(&slots(&scattered)), None);
        // A short silence at the end is ordinary loss.
        let mut short = vec![true; 100];
        short.extend(vec![false; 10]);
        assert_eq!(rate_limited_after(&slots(&short)), None);
        // Too few answers to tell.
        let mut few = vec![true; 10];
        few.extend(vec![false; 100]);
        assert_eq!(rate_limited_after(&slots(&few)), None);
        assert_eq!(rate_limited_after(&[]), None);
    }
}
