//! Relays that answer garbage, reflect requests, lose requests or send without end:
//! reported, never a panic, a hang or unbounded memory; answers matched by transaction
//! id whatever else arrives, a known loss counted exactly, the pace kept. (Loopback
//! servers started by the test; the probe's machines on its one driver.)
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use edgepath_model::PortRange;
use edgepath_probe::quality::Unwatched;
use edgepath_probe::relay::udp_probe;
use edgepath_probe::relay_tcp::{attempt, Framing, TcpProbe, TcpTarget};
use edgepath_probe::roundtrip;
use edgepath_probe::tls::Trust;
use edgepath_wire::stun::{method, Class, MessageBuilder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn udp_garbage_and_reflections_are_no_answer() {
    rt().block_on(async {
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let dest = server.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = [0u8; 2048];
            while let Ok((n, from)) = server.recv_from(&mut buf).await {
                // Junk, a reflection of the request itself, and an oversized datagram.
                let _ = server.send_to(b"\x00\x01garbage", from).await;
                let _ = server.send_to(&buf[..n], from).await;
                let _ = server.send_to(&vec![0x01u8; 9000], from).await;
            }
        });
        let start = Instant::now();
        let p = udp_probe(
            dest,
            PortRange::new(41000, 41019).unwrap(),
            0,
            Duration::from_millis(800),
        )
        .await;
        assert!(p.answer.is_none(), "{p:?}");
        assert!(
            p.error
                .as_deref()
                .unwrap()
                .contains("no answer within 800 ms"),
            "{p:?}"
        );
        assert!(start.elapsed() < Duration::from_secs(2));
    });
}

#[test]
fn tcp_garbage_is_not_turn_and_an_endless_stream_is_cut() {
    rt().block_on(async {
        let junk = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let junk_addr = junk.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = junk.accept().await {
                let mut b = [0u8; 512];
                let _ = s.read(&mut b).await;
                let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
            }
        });
        let p = tcp_probe(junk_addr, Framing::Standard, Duration::from_secs(2)).await;
        assert!(p.connected && p.answer.is_none());
        let err = p.error.as_deref().unwrap();
        // "HT" reads as a ChannelData header announcing more than came: not whole.
        assert!(
            err.contains("not a whole TURN message")
                && err.contains("`HTTP/1.1 400 Bad Request....`"),
            "{p:?}"
        );
        // The same server behind "TLS": the handshake fails and says so.
        let p = tcp_probe(junk_addr, Framing::Tls, Duration::from_secs(2)).await;
        assert!(p.connected && p.answer.is_none(), "{p:?}");
        assert!(p.tls.as_ref().is_some_and(|t| !t.handshake), "{p:?}");

        // A "STUN" header announcing 64 KiB, then bytes without end: the probe gives up
        // on its timeout, having buffered at most one message's worth.
        let endless = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endless_addr: SocketAddr = endless.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = endless.accept().await {
                tokio::spawn(async move {
                    let _ = s
                        .write_all(&[0x01, 0x01, 0xFF, 0xFF, 0x21, 0x12, 0xA4, 0x42])
                        .await;
                    let chunk = vec![0u8; 4096];
                    while s.write_all(&chunk).await.is_ok() {}
                });
            }
        });
        let start = Instant::now();
        let p = tcp_probe(endless_addr, Framing::Standard, Duration::from_millis(700)).await;
        assert!(p.answer.is_none(), "{p:?}");
        assert!(start.elapsed() < Duration::from_secs(2), "bounded in time");
        for framing in [Framing::PseudoTls, Framing::Tls, Framing::TlsRfc] {
            let p = tcp_probe(endless_addr, framing, Duration::from_millis(700)).await;
            assert!(p.answer.is_none() && p.error.is_some(), "{p:?}");
        }
    });
}

/// One attempt in `framing` to `dest` (loopback, no source range), bounded by `timeout`.
async fn tcp_probe(dest: SocketAddr, framing: Framing, timeout: Duration) -> TcpProbe {
    let trust = Trust::load(&[]).unwrap();
    let target = TcpTarget {
        dest,
        proxy: None,
        source: None,
        relay_name: "relay.example",
        trust: &trust,
        timeout,
    };
    attempt(&target, framing, true, 0).await
}

/// A Binding success for `request`'s transaction id.
fn success_for(request: &[u8]) -> Vec<u8> {
    let id: [u8; 12] = request[8..20].try_into().unwrap();
    MessageBuilder::new(method::BINDING, Class::Success, id).build()
}

#[test]
fn round_trips_count_a_known_loss_and_ignore_garbage() {
    rt().block_on(async {
        let relay = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let dest = relay.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = [0u8; 2048];
            let mut n_req = 0u32;
            while let Ok((n, from)) = relay.recv_from(&mut buf).await {
                n_req += 1;
                // Garbage before every answer; every 10th request unanswered.
                let _ = relay.send_to(b"\x17\x03\x03junk", from).await;
                if n_req % 10 != 0 && n >= 20 {
                    let _ = relay.send_to(&success_for(&buf[..n]), from).await;
                }
            }
        });
        let start = Instant::now();
        let q = roundtrip::measure(
            dest,
            PortRange::new(41100, 41119).unwrap(),
            Duration::from_secs(2),
            &mut Unwatched,
        )
        .await
        .unwrap();
        let o = &q.overall;
        assert_eq!(o.sent, 50, "25 per second for 2 s: {o:?}");
        assert_eq!(o.received, 45, "{o:?}");
        assert!((o.loss_pct - 10.0).abs() < 1e-9, "{o:?}");
        assert_eq!(o.reorder_pct, 0.0);
        // 2 s of sending (the last request at 1.96 s), then the grace for the lost ones.
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(1900), "{took:?}");
        assert!(took < Duration::from_secs(4), "{took:?}");
    });
}

#[test]
fn a_probe_takes_the_answer_after_garbage() {
    rt().block_on(async {
        let relay = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let dest = relay.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = [0u8; 2048];
            while let Ok((n, from)) = relay.recv_from(&mut buf).await {
                let _ = relay.send_to(b"not stun at all", from).await;
                // An answer with another transaction id: not ours.
                let mut other = success_for(&buf[..n]);
                other[19] ^= 0xff;
                let _ = relay.send_to(&other, from).await;
                let _ = relay.send_to(&success_for(&buf[..n]), from).await;
            }
        });
        let p = udp_probe(
            dest,
            PortRange::new(41120, 41139).unwrap(),
            0,
            Duration::from_secs(2),
        )
        .await;
        let a = p.answer.expect("the real answer");
        assert_eq!(a.class, "success");
        assert_eq!(p.error, None);
    });
}
