//! The STUN transaction, the TURN client and the NAT mapping machine under arbitrary
//! inputs and times: no panic, no unbounded output, time never moves a deadline into
//! the past, and the NAT machine only ever maps answers to its own requests.
#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use edgepath_wire::nat::{Mapping, NatMapping};
use edgepath_wire::stun::{method, Class, MessageBuilder};
use edgepath_wire::transaction::{StunTransaction, Transport};
use edgepath_wire::turn_client::TurnClient;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let server: SocketAddr = "203.0.113.1:3478".parse().unwrap();
    let peer: SocketAddr = "198.51.100.2:5000".parse().unwrap();
    let t0 = Instant::now();
    let mut now = t0;
    let transport = if data.first().is_some_and(|b| b & 1 == 1) {
        Transport::Tcp
    } else {
        Transport::UDP_DEFAULT
    };
    let mut c = TurnClient::new(server, "u", "p", transport, 42);
    let mut tx = StunTransaction::new(data.get(..20).unwrap_or(&[0; 20]).to_vec(), t0, transport);
    let request = |id: u8| MessageBuilder::new(method::BINDING, Class::Request, [id; 12]).build();
    let mut nat = NatMapping::new(server.ip(), [request(1), request(2)], t0, Duration::from_millis(250));
    let mut rest = data;
    let mut fed = 0u32;
    while let Some((&op, tail)) = rest.split_first() {
        let n = usize::from(tail.first().copied().unwrap_or(0));
        let (chunk, after) = tail.split_at(n.min(tail.len()));
        rest = after;
        match op % 8 {
            0 => now += Duration::from_millis(u64::from(op) * 97),
            1 => {
                c.handle_input(now, server, chunk);
                tx.handle_input(chunk);
                nat.handle_input(chunk);
                fed += 1;
            }
            2 => c.allocate(now),
            3 => c.refresh(now, u32::from(op)),
            4 => c.create_permission(now, peer.ip()),
            5 => {
                c.channel_bind(now, peer);
            }
            6 => c.send_to(peer, chunk),
            _ => {
                // Liveness: after any jump in time, repeated timeouts catch up
                // within a bounded number of calls (Rc retransmissions + the end).
                for _ in 0..16 {
                    c.handle_timeout(now);
                    tx.handle_timeout(now);
                    nat.handle_timeout(now);
                    while tx.poll_transmit().is_some() {}
                    while nat.poll_transmit().is_some() {}
                }
                assert!(
                    nat.is_done() || nat.poll_timeout().is_some_and(|t| t > now),
                    "NAT machine cannot catch up with time"
                );
                assert!(
                    tx.is_done() || tx.poll_timeout().is_some_and(|t| t > now),
                    "transaction cannot catch up with time"
                );
                assert!(
                    c.poll_timeout().is_none_or(|t| t > now),
                    "TURN client cannot catch up with time"
                );
            }
        }
        let mut sent = 0;
        while c.poll_transmit().is_some() {
            sent += 1;
            assert!(sent < 10_000, "unbounded transmits");
        }
        while tx.poll_transmit().is_some() {
            sent += 1;
            assert!(sent < 10_000, "unbounded transmits");
        }
        while nat.poll_transmit().is_some() {
            sent += 1;
            assert!(sent < 10_000, "unbounded transmits");
        }
        // Every datagram either answers one request or is counted as ignored; a
        // mapping needs two answers.
        assert!(nat.ignored <= fed);
        if !matches!(nat.mapping(), Mapping::Unknown) {
            assert!(fed >= 2 && nat.mapped().iter().all(Option::is_some));
        }
        while c.poll_event().is_some() {}
        let _ = tx.poll_event();
        let _ = c.poll_timeout();
    }
});
