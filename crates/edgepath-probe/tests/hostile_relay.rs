//! Relays that answer garbage, reflect requests or send without end: reported, never
//! a panic, a hang or unbounded memory. (Loopback servers started by the test.)
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use edgepath_model::PortRange;
use edgepath_probe::relay::{tcp_probe, udp_probe, Framing};
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
        assert!(
            err.contains("not a whole TURN message")
                && err.contains("`HTTP/1.1 400 Bad Request....`"),
            "{p:?}"
        );

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
        let p = tcp_probe(endless_addr, Framing::PseudoTls, Duration::from_millis(700)).await;
        assert!(p.answer.is_none() && p.error.is_some(), "{p:?}");
    });
}
