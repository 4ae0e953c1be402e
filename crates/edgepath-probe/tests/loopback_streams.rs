//! The driver and its machines against loopback relays the test controls: answers
//! matched by transaction id whatever else arrives, a known loss counted exactly, the
//! pace kept, and the first answer of a probe taken even after garbage.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use edgepath_model::PortRange;
use edgepath_probe::quality::Unwatched;
use edgepath_probe::relay::udp_probe;
use edgepath_probe::roundtrip;
use edgepath_wire::stun::{method, Class, MessageBuilder};
use tokio::net::UdpSocket;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
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
