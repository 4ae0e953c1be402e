//! The TURN client in simulated time against a scripted relay. (Interop with
//! a real relay, coturn, is in tests/coturn.rs.)

use super::*;
use crate::stun::{Check, Credentials};

const SERVER: &str = "203.0.113.10:3478";
const OTHER: &str = "203.0.113.11:3478";
const RELAYED: &str = "203.0.113.10:50000";
const MAPPED: &str = "198.51.100.20:40000";

/// What the scripted relay does.
#[derive(Default)]
struct Script {
    stale_once: bool,
    redirect_once: bool,
    lifetime: u32,
    seen: Vec<(u16, bool)>,
}

impl Script {
    /// Answers one request the way a long-term-credential TURN server does.
    fn answer(&mut self, to_server: SocketAddr, bytes: &[u8]) -> Option<Vec<u8>> {
        let m = Message::parse(bytes).ok()?;
        if m.class() != Class::Request {
            return None;
        }
        let txid: [u8; 12] = m.transaction_id().try_into().ok()?;
        let creds = Credentials::LongTerm {
            username: "alice",
            realm: "lab",
            password: "pw",
        };
        let authed = m.check_integrity(Some(&creds)) == Check::Ok;
        self.seen.push((m.method(), authed));
        let mut b = MessageBuilder::new(m.method(), Class::Error, txid);
        if self.redirect_once && to_server == SERVER.parse().ok()? {
            self.redirect_once = false;
            b.add_error(300, "Try Alternate");
            b.add_address(attr_type::ALTERNATE_SERVER, OTHER.parse().ok()?, false);
            return Some(b.build());
        }
        if !authed {
            b.add_error(401, "Unauthorized")
                .add(attr_type::REALM, b"lab")
                .add(attr_type::NONCE, b"n1");
            return Some(b.build());
        }
        if self.stale_once && m.method() == method::REFRESH {
            self.stale_once = false;
            b.add_error(438, "Stale Nonce")
                .add(attr_type::REALM, b"lab")
                .add(attr_type::NONCE, b"n2");
            return Some(b.build());
        }
        let mut ok = MessageBuilder::new(m.method(), Class::Success, txid);
        match m.method() {
            method::ALLOCATE => {
                ok.add_address(attr_type::XOR_RELAYED_ADDRESS, RELAYED.parse().ok()?, true)
                    .add_address(attr_type::XOR_MAPPED_ADDRESS, MAPPED.parse().ok()?, true)
                    .add_u32(attr_type::LIFETIME, self.lifetime);
            }
            method::REFRESH => {
                ok.add_u32(attr_type::LIFETIME, self.lifetime);
            }
            _ => {}
        }
        ok.add_integrity(&long_term_key("alice", "lab", "pw"));
        Some(ok.build())
    }
}

/// Runs client and relay until `until`; `drop` decides per transmit (by
/// count) whether the network loses it; answers are delivered after
/// `delay`, so they can overtake each other.
fn run(
    client: &mut TurnClient,
    script: &mut Script,
    t0: Instant,
    until: Duration,
    drop: &dyn Fn(usize) -> bool,
    delay: &dyn Fn(usize) -> Duration,
) -> Vec<(Duration, TurnEvent)> {
    let mut now = t0;
    let mut sent = 0usize;
    let mut in_flight: Vec<(Instant, Vec<u8>, SocketAddr)> = Vec::new();
    let mut events = Vec::new();
    while now - t0 <= until {
        while let Some(tx) = client.poll_transmit() {
            sent += 1;
            if drop(sent) {
                continue;
            }
            if let Some(answer) = script.answer(tx.destination, &tx.payload) {
                in_flight.push((now + delay(sent), answer, tx.destination));
            }
        }
        while let Some(e) = client.poll_event() {
            events.push((now - t0, e));
        }
        let next_arrival = in_flight.iter().map(|(t, ..)| *t).min();
        let next = [client.poll_timeout(), next_arrival]
            .into_iter()
            .flatten()
            .min();
        let Some(next) = next else { break };
        if next - t0 > until {
            break;
        }
        now = next.max(now);
        if let Some(i) = in_flight.iter().position(|(t, ..)| *t <= now) {
            let (_, bytes, from) = in_flight.remove(i);
            client.handle_input(now, from, &bytes);
        } else {
            client.handle_timeout(now);
        }
    }
    events
}

/// A client for SERVER as alice, allocation started at `t0`.
fn allocating(t0: Instant, password: &str, seed: u64) -> TurnClient {
    let mut c = TurnClient::new(
        SERVER.parse().unwrap(),
        "alice",
        password,
        Transport::UDP_DEFAULT,
        seed,
    );
    c.allocate(t0);
    c
}

/// A relay granting 600 s, with the given twists.
fn relay(stale_once: bool, redirect_once: bool) -> Script {
    Script {
        lifetime: 600,
        stale_once,
        redirect_once,
        ..Script::default()
    }
}

fn no_loss(_: usize) -> bool {
    false
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn challenge_then_allocated() {
    let t0 = Instant::now();
    let mut c = allocating(t0, "pw", 1);
    let mut s = relay(false, false);
    let ev = run(
        &mut c,
        &mut s,
        t0,
        Duration::from_secs(1),
        &no_loss,
        &|_| ms(20),
    );
    assert_eq!(
        ev.first().map(|e| e.1.clone()),
        Some(TurnEvent::Allocated {
            relayed: RELAYED.parse().unwrap(),
            mapped: Some(MAPPED.parse().unwrap()),
            lifetime: Duration::from_secs(600),
        })
    );
    // Two round trips: the 401 challenge, then the authenticated request.
    assert_eq!(ev[0].0, ms(40));
    assert_eq!(
        s.seen,
        [(method::ALLOCATE, false), (method::ALLOCATE, true)]
    );
}

#[test]
fn loss_is_recovered_by_retransmission() {
    let t0 = Instant::now();
    let mut c = allocating(t0, "pw", 2);
    let mut s = relay(false, false);
    // The first two sends are lost: retransmits at 500 ms and 1500 ms.
    let ev = run(
        &mut c,
        &mut s,
        t0,
        Duration::from_secs(5),
        &|n| n <= 2,
        &|_| ms(10),
    );
    assert!(matches!(ev[0].1, TurnEvent::Allocated { .. }), "{ev:?}");
    assert_eq!(ev[0].0, ms(1500 + 10 + 10));
}

#[test]
fn reordered_and_duplicated_answers_are_harmless() {
    let t0 = Instant::now();
    let mut c = allocating(t0, "pw", 3);
    let mut s = relay(false, false);
    // Answers take 700 ms: the retransmission at 500 ms draws a second 401
    // that arrives after the first was already acted on.
    let ev = run(
        &mut c,
        &mut s,
        t0,
        Duration::from_secs(5),
        &no_loss,
        &|_| ms(700),
    );
    let allocated: Vec<_> = ev
        .iter()
        .filter(|e| matches!(e.1, TurnEvent::Allocated { .. }))
        .collect();
    assert_eq!(allocated.len(), 1, "{ev:?}");
    assert!(
        !ev.iter().any(|e| matches!(e.1, TurnEvent::Failed { .. })),
        "{ev:?}"
    );
}

#[test]
fn refresh_before_expiry_survives_a_stale_nonce() {
    let t0 = Instant::now();
    let mut c = allocating(t0, "pw", 4);
    let mut s = relay(true, false);
    let ev = run(
        &mut c,
        &mut s,
        t0,
        Duration::from_secs(600),
        &no_loss,
        &|_| ms(10),
    );
    let refreshed: Vec<_> = ev
        .iter()
        .filter(|e| matches!(e.1, TurnEvent::Refreshed { .. }))
        .collect();
    // First refresh due at 540 s (a minute early); the 438 costs one round trip.
    assert_eq!(refreshed.len(), 1, "{ev:?}");
    assert_eq!(refreshed[0].0, Duration::from_secs(540) + ms(20) + ms(20));
    assert!(s.seen.contains(&(method::REFRESH, true)));
}

#[test]
fn try_alternate_moves_to_the_other_server() {
    let t0 = Instant::now();
    let mut c = allocating(t0, "pw", 5);
    let mut s = relay(false, true);
    let ev = run(
        &mut c,
        &mut s,
        t0,
        Duration::from_secs(2),
        &no_loss,
        &|_| ms(10),
    );
    assert_eq!(
        ev[0].1,
        TurnEvent::Redirected {
            to: OTHER.parse().unwrap()
        }
    );
    assert!(matches!(ev[1].1, TurnEvent::Allocated { .. }));
    assert_eq!(c.server(), OTHER.parse::<SocketAddr>().unwrap());
}

#[test]
fn wrong_password_fails_instead_of_looping() {
    let t0 = Instant::now();
    let mut c = allocating(t0, "nope", 6);
    let mut s = relay(false, false);
    let ev = run(
        &mut c,
        &mut s,
        t0,
        Duration::from_secs(2),
        &no_loss,
        &|_| ms(10),
    );
    assert_eq!(
        ev.iter().map(|e| e.1.clone()).collect::<Vec<_>>(),
        [TurnEvent::Failed {
            request: "allocate",
            code: 401,
            reason: "Unauthorized".into()
        }]
    );
}

#[test]
fn permissions_channels_and_silence() {
    let t0 = Instant::now();
    let mut c = allocating(t0, "pw", 7);
    let mut s = relay(false, false);
    run(&mut c, &mut s, t0, ms(100), &no_loss, &|_| ms(10));
    let peer: SocketAddr = "198.51.100.99:6000".parse().unwrap();
    c.create_permission(t0, peer.ip());
    let ch = c.channel_bind(t0, peer);
    let ev = run(&mut c, &mut s, t0, ms(100), &no_loss, &|_| ms(10));
    assert!(ev
        .iter()
        .any(|e| e.1 == TurnEvent::PermissionCreated(peer.ip())));
    assert!(ev
        .iter()
        .any(|e| e.1 == TurnEvent::ChannelBound { peer, channel: ch }));
    // Bound: data goes as ChannelData; data back on the channel is delivered.
    c.send_to(peer, b"hi");
    assert_eq!(
        c.poll_transmit().unwrap().payload,
        channel_data(ch, b"hi", false)
    );
    assert!(c.handle_input(t0, SERVER.parse().unwrap(), &channel_data(ch, b"yo", false)));
    assert_eq!(
        c.poll_event(),
        Some(TurnEvent::Data {
            peer,
            data: b"yo".to_vec()
        })
    );
    // Nothing from a stranger is taken.
    assert!(!c.handle_input(
        t0,
        "192.0.2.1:1".parse().unwrap(),
        &channel_data(ch, b"x", false)
    ));
    // A relay that never answers: the request times out after 39.5 s.
    let mut silent = TurnClient::new(
        SERVER.parse().unwrap(),
        "alice",
        "pw",
        Transport::UDP_DEFAULT,
        8,
    );
    silent.allocate(t0);
    let ev = run(
        &mut silent,
        &mut s,
        t0,
        Duration::from_secs(60),
        &|_| true,
        &|_| ms(10),
    );
    assert_eq!(
        ev,
        [(
            ms(39_500),
            TurnEvent::TimedOut {
                request: "allocate"
            }
        )]
    );
}

#[test]
fn a_success_with_a_forged_integrity_is_counted_and_not_believed() {
    let t0 = Instant::now();
    let mut c = allocating(t0, "pw", 5);
    let mut s = relay(false, false);
    // First the 401 challenge, answered for real.
    let first = c.poll_transmit().unwrap();
    let challenge = s.answer(first.destination, &first.payload).unwrap();
    c.handle_input(t0, first.destination, &challenge);
    // The authenticated Allocate: a success signed with someone else's key arrives
    // first; it must not allocate.
    let second = c.poll_transmit().unwrap();
    let m = Message::parse(&second.payload).unwrap();
    let txid: [u8; 12] = m.transaction_id().try_into().unwrap();
    let mut forged = MessageBuilder::new(method::ALLOCATE, Class::Success, txid);
    forged
        .add_address(
            attr_type::XOR_RELAYED_ADDRESS,
            "192.0.2.66:4000".parse().unwrap(),
            true,
        )
        .add_integrity(&long_term_key("mallory", "lab", "guess"));
    assert!(c.handle_input(t0, second.destination, &forged.build()));
    assert_eq!(c.integrity_failures(), 1);
    assert!(
        c.poll_event().is_none(),
        "a forged success allocates nothing"
    );
    assert_eq!(c.relayed(), None);
    // The real answer to the same transaction still counts.
    let real = s.answer(second.destination, &second.payload).unwrap();
    c.handle_input(t0, second.destination, &real);
    assert!(matches!(c.poll_event(), Some(TurnEvent::Allocated { .. })));
    assert_eq!(c.integrity_failures(), 1);
}

#[test]
fn transaction_ids_come_from_the_source_given() {
    let t0 = Instant::now();
    let mut c = TurnClient::new(
        SERVER.parse().unwrap(),
        "alice",
        "pw",
        Transport::UDP_DEFAULT,
        9,
    );
    let mut n = 0u8;
    c.set_id_source(Box::new(move || {
        n += 1;
        [n; 12]
    }));
    c.allocate(t0);
    let tx = c.poll_transmit().unwrap();
    assert_eq!(
        Message::parse(&tx.payload).unwrap().transaction_id(),
        &[1u8; 12]
    );
}
