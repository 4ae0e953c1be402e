//! Interop with a real TURN server: coturn (Debian package `coturn`) on
//! loopback, started and stopped by the test. Our sans-IO machines are driven
//! over real UDP sockets: Binding, Allocate with long-term credentials,
//! Refresh, CreatePermission, ChannelBind, and data both ways between two
//! allocations by Send/Data indications and by ChannelData.
#![allow(clippy::unwrap_used)]

use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use edgepath_wire::stun::{attr_type, method, AttrValue, Class, Message, MessageBuilder};
use edgepath_wire::transaction::{StunTransaction, TransactionEvent, Transport};
use edgepath_wire::turn_client::{TurnClient, TurnEvent};

/// The server process, killed (by its own PID) when dropped.
struct Coturn(Child);

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_udp_port() -> u16 {
    // Below Linux's ephemeral range (32768-60999): a port taken from port 0 was free
    // only until the next socket bound to port 0 (the other test's, running in
    // parallel) could take it before coturn did, and coturn then never answered.
    // Steps of 50 keep each server's relay range (port+1..port+40) apart too.
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let start = (std::process::id() % 100) as u16 * 50;
    for _ in 0..200 {
        let port = 20_000 + (start + NEXT.fetch_add(50, Ordering::Relaxed)) % 10_000;
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free UDP port between 20000 and 29999 for coturn");
}

/// Starts coturn, or explains why it cannot: in CI that is a failure.
fn start_coturn(port: u16) -> Option<Coturn> {
    if Command::new("turnserver")
        .arg("--version")
        .output()
        .is_err()
    {
        let msg =
            "coturn's turnserver is not installed (apt-get install coturn; .ci/run does this)";
        if std::env::var_os("CI").is_some() {
            panic!("{msg}");
        }
        eprintln!("SKIPPED coturn interop: {msg}");
        return None;
    }
    let (min, max) = (
        port.wrapping_add(1).max(1024),
        port.wrapping_add(40).max(1100),
    );
    let child = Command::new("turnserver")
        .args([
            "-n",
            "--listening-ip",
            "127.0.0.1",
            "--relay-ip",
            "127.0.0.1",
        ])
        .args(["--listening-port", &port.to_string()])
        .args([
            "--min-port",
            &min.to_string(),
            "--max-port",
            &max.to_string(),
        ])
        .args(["--lt-cred-mech", "--user", "alice:pw", "--realm", "lab"])
        .args([
            "--no-tls",
            "--no-dtls",
            "--no-cli",
            "--allow-loopback-peers",
            "--no-tcp-relay",
        ])
        .args(["--log-file", "stdout", "--simple-log"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Some(Coturn(child))
}

/// Sends a Binding request until answered (coturn takes a moment to start).
fn binding(sock: &UdpSocket, server: SocketAddr) -> SocketAddr {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let req = MessageBuilder::new(method::BINDING, Class::Request, [0x42; 12]).build();
        let mut tx = StunTransaction::new(
            req,
            Instant::now(),
            Transport::Udp {
                rto: Duration::from_millis(100),
            },
        );
        let mut buf = [0u8; 1500];
        loop {
            if let Some(b) = tx.poll_transmit() {
                sock.send_to(b, server).unwrap();
            }
            let Some(t) = tx.poll_timeout() else { break };
            let wait = t
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1));
            sock.set_read_timeout(Some(wait)).unwrap();
            match sock.recv_from(&mut buf) {
                Ok((n, _)) => {
                    tx.handle_input(&buf[..n]);
                }
                Err(_) => tx.handle_timeout(Instant::now()),
            }
            match tx.poll_event() {
                Some(TransactionEvent::Response(r)) => {
                    let m = Message::parse(&r).unwrap();
                    assert_eq!(m.class(), Class::Success);
                    for a in m.decoded() {
                        if let (attr_type::XOR_MAPPED_ADDRESS, AttrValue::Address(addr)) =
                            (a.raw.typ, a.value)
                        {
                            return addr;
                        }
                    }
                    panic!("Binding success without XOR-MAPPED-ADDRESS");
                }
                Some(TransactionEvent::TimedOut) => break,
                None => {}
            }
            if tx.sends() >= 3 {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "coturn did not answer a Binding request within 10 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One client with its socket.
struct Peer {
    sock: UdpSocket,
    client: TurnClient,
}

impl Peer {
    fn new(server: SocketAddr, seed: u64) -> Self {
        Peer {
            sock: UdpSocket::bind("127.0.0.1:0").unwrap(),
            client: TurnClient::new(server, "alice", "pw", Transport::UDP_DEFAULT, seed),
        }
    }

    /// Sends what the client has queued (data handed to `send_to`).
    fn flush(&mut self) {
        while let Some(t) = self.client.poll_transmit() {
            self.sock.send_to(&t.payload, t.destination).unwrap();
        }
    }

    /// Drives the client until `want` matches an event, for at most 5 s.
    fn until(&mut self, want: impl Fn(&TurnEvent) -> bool) -> TurnEvent {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut buf = [0u8; 2048];
        loop {
            while let Some(t) = self.client.poll_transmit() {
                self.sock.send_to(&t.payload, t.destination).unwrap();
            }
            while let Some(e) = self.client.poll_event() {
                if want(&e) {
                    return e;
                }
                assert!(
                    !matches!(e, TurnEvent::Failed { .. } | TurnEvent::TimedOut { .. }),
                    "{e:?}"
                );
            }
            let now = Instant::now();
            assert!(now < deadline, "no matching event within 5 s");
            let wake = self.client.poll_timeout().unwrap_or(deadline).min(deadline);
            let wait = wake
                .saturating_duration_since(now)
                .clamp(Duration::from_millis(1), Duration::from_millis(200));
            self.sock.set_read_timeout(Some(wait)).unwrap();
            match self.sock.recv_from(&mut buf) {
                Ok((n, from)) => {
                    self.client.handle_input(Instant::now(), from, &buf[..n]);
                }
                Err(_) => self.client.handle_timeout(Instant::now()),
            }
        }
    }
}

#[test]
fn interop_with_coturn() {
    let port = free_udp_port();
    let Some(_server) = start_coturn(port) else {
        return;
    };
    let server: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();

    // Binding: the reflexive address of a loopback socket is itself.
    let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
    assert_eq!(binding(&probe, server), probe.local_addr().unwrap());

    // Two allocations with long-term credentials (401 challenge, then auth).
    let mut a = Peer::new(server, 11);
    let mut b = Peer::new(server, 22);
    a.client.allocate(Instant::now());
    b.client.allocate(Instant::now());
    let relayed = |e: TurnEvent| match e {
        TurnEvent::Allocated {
            relayed, mapped, ..
        } => (relayed, mapped),
        other => panic!("{other:?}"),
    };
    let (a_relay, a_mapped) = relayed(a.until(|e| matches!(e, TurnEvent::Allocated { .. })));
    let (b_relay, _) = relayed(b.until(|e| matches!(e, TurnEvent::Allocated { .. })));
    assert_eq!(a_mapped, Some(a.sock.local_addr().unwrap()));
    assert_ne!(a_relay, b_relay);

    // Refresh.
    a.client.refresh(Instant::now(), 300);
    assert!(matches!(
        a.until(|e| matches!(e, TurnEvent::Refreshed { .. })),
        TurnEvent::Refreshed { .. }
    ));

    // Permissions both ways, then Send indication -> Data indication.
    a.client.create_permission(Instant::now(), b_relay.ip());
    a.until(|e| matches!(e, TurnEvent::PermissionCreated(_)));
    b.client.create_permission(Instant::now(), a_relay.ip());
    b.until(|e| matches!(e, TurnEvent::PermissionCreated(_)));
    a.client.send_to(b_relay, b"ping via send indication");
    a.flush();
    assert_eq!(
        b.until(|e| matches!(e, TurnEvent::Data { .. })),
        TurnEvent::Data {
            peer: a_relay,
            data: b"ping via send indication".to_vec()
        }
    );

    // Channels both ways, then ChannelData round trip.
    let ch_a = a.client.channel_bind(Instant::now(), b_relay);
    assert_eq!(
        a.until(|e| matches!(e, TurnEvent::ChannelBound { .. })),
        TurnEvent::ChannelBound {
            peer: b_relay,
            channel: ch_a
        }
    );
    b.client.channel_bind(Instant::now(), a_relay);
    b.until(|e| matches!(e, TurnEvent::ChannelBound { .. }));
    a.client.send_to(b_relay, b"over a channel");
    a.flush();
    assert_eq!(
        b.until(|e| matches!(e, TurnEvent::Data { .. })),
        TurnEvent::Data {
            peer: a_relay,
            data: b"over a channel".to_vec()
        }
    );
    b.client.send_to(a_relay, b"and back");
    b.flush();
    assert_eq!(
        a.until(|e| matches!(e, TurnEvent::Data { .. })),
        TurnEvent::Data {
            peer: b_relay,
            data: b"and back".to_vec()
        }
    );

    // Release both allocations.
    for p in [&mut a, &mut b] {
        p.client.refresh(Instant::now(), 0);
        assert_eq!(
            p.until(|e| matches!(e, TurnEvent::Refreshed { .. })),
            TurnEvent::Refreshed {
                lifetime: Duration::ZERO
            }
        );
    }
}

#[test]
fn coturn_rejects_a_wrong_password_and_we_say_so() {
    let port = free_udp_port();
    let Some(_server) = start_coturn(port) else {
        return;
    };
    let server: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
    binding(&probe, server);
    let mut p = Peer {
        sock: UdpSocket::bind("127.0.0.1:0").unwrap(),
        client: TurnClient::new(server, "alice", "wrong", Transport::UDP_DEFAULT, 3),
    };
    p.client.allocate(Instant::now());
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = [0u8; 2048];
    loop {
        while let Some(t) = p.client.poll_transmit() {
            p.sock.send_to(&t.payload, t.destination).unwrap();
        }
        if let Some(e) = p.client.poll_event() {
            assert!(matches!(e, TurnEvent::Failed { code: 401, .. }), "{e:?}");
            return;
        }
        assert!(Instant::now() < deadline, "no answer within 5 s");
        p.sock
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        match p.sock.recv_from(&mut buf) {
            Ok((n, from)) => {
                p.client.handle_input(Instant::now(), from, &buf[..n]);
            }
            Err(_) => p.client.handle_timeout(Instant::now()),
        }
    }
}
