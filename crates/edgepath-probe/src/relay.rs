//! Probing the A/V edge's relays without credentials: any STUN answer, a 401 included,
//! proves the path is open (DOMAIN.md section 7).
//!
//! Over UDP each probe sends, from a source port inside a modality's range, both a
//! standard Binding request and an MS-TURN Allocate shaped like a real Teams client's
//! first one (MAGIC-COOKIE, App-ID, MS-VERSION 6, BANDWIDTH, MS-Service-Quality).
//! TCP 443 is [`crate::relay_tcp`]'s.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use edgepath_model::PortRange;
use edgepath_wire::ms;
use edgepath_wire::stun::{attr_type, method, Class, Message, MessageBuilder, Variant};
use edgepath_wire::transaction::{StunTransaction, TransactionEvent, Transport};
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::UdpSocket;

use crate::driver::{drive, Ended, Machine};
use crate::error::ProbeError;

/// What a relay said, when it said anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Answer {
    /// `stun` or `ms-turn`.
    pub protocol: Variant,
    /// `binding` or `allocate`.
    pub method: String,
    /// `success` or `error`.
    pub class: &'static str,
    /// The error code (401 for an unauthenticated Allocate).
    pub code: Option<u16>,
    /// The client's address as the relay saw it.
    pub mapped: Option<SocketAddr>,
    /// Round trip of the first answer, in milliseconds.
    pub rtt_ms: u64,
}

/// Reads the parts of a response a report needs.
pub(crate) fn answer_of(bytes: &[u8], rtt: Duration) -> Option<Answer> {
    let m = Message::parse(bytes).ok()?;
    Some(Answer {
        protocol: m.variant(),
        method: m.method_name().unwrap_or("unknown").to_owned(),
        class: m.class().name(),
        code: m.error_code().map(|(c, _)| c),
        mapped: m.reflexive_address(),
        rtt_ms: rtt.as_millis() as u64,
    })
}

/// A transaction id from the operating system's generator (RFC 8489 section 6).
fn txid() -> [u8; 12] {
    crate::ids::transaction_id()
}

/// A standard Binding request.
pub fn binding_request() -> Vec<u8> {
    MessageBuilder::new(method::BINDING, Class::Request, txid())
        .add_fingerprint()
        .build()
}

/// An unauthenticated MS-TURN Allocate as a Teams client's first one
/// (teams.pcap frame 1238): MAGIC-COOKIE, App-ID 2, MS-VERSION 6, 0x8006 = 1,
/// BANDWIDTH 12000, MS-Service-Quality (2, 2).
pub fn ms_allocate_request() -> Vec<u8> {
    let mut b = MessageBuilder::ms_turn(method::ALLOCATE, Class::Request, txid());
    b.add_u32(0x8037, 2)
        .add_u32(attr_type::MS_VERSION, 6)
        .add_u32(0x8006, 1)
        .add_u32(0x0010, 12000)
        .add(0x8055, &[0, 2, 0, 2]);
    b.build()
}

/// A standard TURN Allocate without credentials (draws a 401 from an RFC relay).
pub fn allocate_request() -> Vec<u8> {
    let mut b = MessageBuilder::new(method::ALLOCATE, Class::Request, txid());
    b.add(attr_type::REQUESTED_TRANSPORT, &[17, 0, 0, 0]);
    b.build()
}

/// One UDP probe's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UdpProbe {
    /// Where to.
    pub destination: SocketAddr,
    /// The local port it was sent from (inside the modality's range), if one was free.
    pub source_port: Option<u16>,
    /// The local address the system chose towards the relay.
    pub local_ip: Option<IpAddr>,
    /// The first answer, if any.
    pub answer: Option<Answer>,
    /// Why there was none.
    pub error: Option<String>,
    /// How the network answered.
    pub reach: Reach,
}

/// How the network answered a probe, whatever the relay said: the difference
/// between a path that refuses (an ICMP error or a TCP reset: the client knows at
/// once) and one that drops silently (the client waits for its timeout) matters
/// to dual-stack clients at call setup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reach {
    /// The relay answered.
    Answered,
    /// TCP opened (or the proxy tunnel), but no TURN answer came.
    Opened,
    /// Refused: ICMP unreachable or a TCP reset.
    Refused,
    /// Nothing came back before the timeout: silently dropped, or nothing there.
    Silent,
    /// Not sent, or failed for a local reason (no free port, no route).
    Failed,
}

/// A connect error as [`Reach`]: an answer from the network that said no, or a
/// local failure.
pub(crate) fn reach_of_connect_error(e: &std::io::Error) -> Reach {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::ConnectionRefused | K::ConnectionReset | K::HostUnreachable => Reach::Refused,
        K::TimedOut => Reach::Silent,
        _ => Reach::Failed,
    }
}

/// Binds a UDP socket to a free port inside `range`, starting at a spread offset so
/// that concurrent probes of the same modality take different ports.
pub(crate) async fn bind_in_range(range: PortRange, v6: bool, offset: u16) -> Option<UdpSocket> {
    let n = range.len() as u16;
    for i in 0..n {
        let port = range.first() + (offset.wrapping_add(i)) % n;
        let ip = if v6 {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        } else {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        };
        if let Ok(s) = UdpSocket::bind(SocketAddr::new(ip, port)).await {
            return Some(s);
        }
    }
    None
}

/// Sends a Binding and an MS-TURN Allocate from a port in `range` to `dest`,
/// retransmitting (RTO 250 ms, doubling) until an answer or `timeout`.
pub async fn udp_probe(
    dest: SocketAddr,
    range: PortRange,
    offset: u16,
    timeout: Duration,
) -> UdpProbe {
    let mut probe = UdpProbe {
        destination: dest,
        source_port: None,
        local_ip: None,
        answer: None,
        error: None,
        reach: Reach::Failed,
    };
    let Some(sock) = bind_in_range(range, dest.is_ipv6(), offset).await else {
        probe.error = Some(format!("no free local UDP port in {range}"));
        return probe;
    };
    probe.source_port = sock.local_addr().ok().map(|a| a.port());
    if let Err(e) = sock.connect(dest).await {
        probe.error = Some(format!("cannot send to {dest}: {e}"));
        return probe;
    }
    probe.local_ip = sock.local_addr().ok().map(|a| a.ip());
    let mut m = FirstAnswer::new(dest, Instant::now());
    let ended = drive(&sock, &mut m, Instant::now() + timeout).await;
    match (ended, m.outcome) {
        (_, Some(Ok(answer))) => {
            probe.answer = Some(answer);
            probe.reach = Reach::Answered;
        }
        (_, Some(Err(e))) => {
            probe.error = Some(format!("refused: {e}"));
            probe.reach = Reach::Refused;
        }
        (Ended::Deadline | Ended::Done | Ended::Closed(_), None) => {
            probe.error = Some(format!("no answer within {} ms", timeout.as_millis()));
            probe.reach = Reach::Silent;
        }
    }
    probe
}

/// A Binding and an MS-TURN Allocate to one relay port, each retransmitted (RTO 250 ms,
/// doubling): done at the first answer to either, or at the first ICMP error.
pub(crate) struct FirstAnswer {
    dest: SocketAddr,
    start: Instant,
    txs: [StunTransaction; 2],
    outcome: Option<Result<Answer, std::io::Error>>,
}

impl FirstAnswer {
    pub(crate) fn new(dest: SocketAddr, start: Instant) -> Self {
        let transport = Transport::Udp {
            rto: Duration::from_millis(250),
        };
        FirstAnswer {
            dest,
            start,
            txs: [
                StunTransaction::new(binding_request(), start, transport),
                StunTransaction::new(ms_allocate_request(), start, transport),
            ],
            outcome: None,
        }
    }
}

impl Machine for FirstAnswer {
    fn poll_transmit(&mut self) -> Option<(SocketAddr, Vec<u8>)> {
        let dest = self.dest;
        self.txs
            .iter_mut()
            .find_map(|tx| tx.poll_transmit().map(|b| (dest, b.to_vec())))
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.txs.iter().filter_map(|t| t.poll_timeout()).min()
    }

    fn handle_timeout(&mut self, now: Instant) {
        for tx in &mut self.txs {
            tx.handle_timeout(now);
        }
    }

    fn handle_input(&mut self, now: Instant, _from: SocketAddr, bytes: &[u8]) {
        for tx in &mut self.txs {
            if tx.handle_input(bytes) {
                if let Some(TransactionEvent::Response(r)) = tx.poll_event() {
                    if let Some(a) = answer_of(&r, now - self.start) {
                        self.outcome = Some(Ok(a));
                    }
                }
            }
        }
    }

    fn handle_socket_error(&mut self, error: std::io::Error) {
        // ICMP unreachable, reported on the connected socket.
        self.outcome.get_or_insert(Err(error));
    }

    fn is_done(&self) -> bool {
        self.outcome.is_some()
    }
}

async fn read_exact_timeout<S: AsyncRead + Unpin>(
    s: &mut S,
    buf: &mut Vec<u8>,
    want: usize,
) -> Result<(), ProbeError> {
    while buf.len() < want {
        let mut chunk = [0u8; 1024];
        let n = s.read(&mut chunk).await.map_err(|source| ProbeError::Io {
            doing: "read",
            source,
        })?;
        if n == 0 {
            return Err(ProbeError::Protocol(format!(
                "the connection closed after {} bytes",
                buf.len()
            )));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(())
}

/// MS-TURN's pseudo-TLS opening on an open stream: a fake ClientHello, answered by
/// ServerHello + ServerHelloDone. Returns the bytes read past the answer.
pub(crate) async fn pseudo_tls_handshake<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
) -> Result<Vec<u8>, ProbeError> {
    let mut random = [0u8; 32];
    random[..12].copy_from_slice(&txid());
    s.write_all(&ms::pseudo_tls_client_hello(random))
        .await
        .map_err(|source| ProbeError::Io {
            doing: "send",
            source,
        })?;
    let mut got = Vec::new();
    read_exact_timeout(s, &mut got, 5).await?;
    let record = loop {
        match ms::parse_pseudo_tls(&got) {
            Ok(Some(r)) => break r,
            Ok(None) => {
                let want = got.len() + 1;
                read_exact_timeout(s, &mut got, want).await?;
                if got.len() > 16 * 1024 {
                    return Err(ProbeError::Protocol(
                        "a pseudo-TLS answer over 16 KiB".into(),
                    ));
                }
            }
            Err(e) => {
                return Err(ProbeError::Protocol(format!(
                    "no pseudo-TLS answer (not a Microsoft relay?): {e}"
                )))
            }
        }
    };
    if !record.is_server_answer() {
        return Err(ProbeError::Protocol(format!(
            "pseudo-TLS answered with handshake types {:?}, not ServerHello + ServerHelloDone",
            record.handshake_types
        )));
    }
    got.drain(..record.wire_len);
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn success_for(request: &[u8]) -> Vec<u8> {
        let id: [u8; 12] = request[8..20].try_into().unwrap_or_default();
        MessageBuilder::new(method::BINDING, Class::Success, id).build()
    }

    #[test]
    fn first_answer_sends_both_requests_and_takes_only_a_matching_answer() {
        let dest: SocketAddr = "203.0.113.10:3478"
            .parse()
            .unwrap_or_else(|_| unreachable!());
        let t0 = Instant::now();
        let mut m = FirstAnswer::new(dest, t0);
        let sent: Vec<_> = std::iter::from_fn(|| m.poll_transmit()).collect();
        assert_eq!(sent.len(), 2, "a Binding and an Allocate");
        assert!(sent.iter().all(|(to, _)| *to == dest));
        // Garbage, and an answer to a request nobody sent: still waiting.
        m.handle_input(t0, dest, b"\x01\x01junk");
        m.handle_input(t0, dest, &success_for(&[7u8; 20]));
        assert!(!m.is_done());
        // Nothing answered by the first RTO: both are sent again.
        m.handle_timeout(t0 + Duration::from_millis(250));
        assert_eq!(std::iter::from_fn(|| m.poll_transmit()).count(), 2);
        m.handle_input(
            t0 + Duration::from_millis(300),
            dest,
            &success_for(&sent[0].1),
        );
        assert!(m.is_done());
        let answer = m.outcome.and_then(Result::ok).map(|a| (a.class, a.rtt_ms));
        assert_eq!(answer, Some(("success", 300)));
    }

    /// Frame 1238 of ../shared/captures/teams.pcap: a Teams client's first Allocate,
    /// 192.168.1.6:50016 -> 52.114.250.123:3478 (the same bytes the wire crate parses).
    const TEAMS_ALLOCATE: &str = "000300302112a442b2343f6e67f41d58acba639f000f000472c64bc68037000400000002800800040000000680060004000000010010000400002ee08055000400020002";
    /// Frame 1245: the relay's 401 to it (realm "rtcmedia", ERROR-CODE unpadded).
    const TEAMS_401: &str = "011300a72112a442b2343f6e67f41d58acba639f000f000472c64bc680080004000000060009003d00000401546865207265717565737420646964206e6f7420636f6e7461696e2061204d6573736167652d496e7465677269747920617474726962757465000e000800010d963472fa8d00140014024ecbf8827a60d65306debfa77d87d14402dd5d0015000a227274636d65646961220001000800010d983472fa8d809500087f20c4dd4f848dfa802000080001c1d571a76a0a";

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap_or_default())
            .collect()
    }

    #[test]
    fn the_ms_allocate_is_the_real_clients_byte_for_byte_but_its_id() {
        let real = hex(TEAMS_ALLOCATE);
        let ours = ms_allocate_request();
        assert_eq!(ours.len(), real.len(), "68 bytes, as frame 1238");
        // Type, length and the RFC 5389 cookie in the header, as the real client.
        assert_eq!(ours[..8], real[..8]);
        // A fresh transaction id from the operating system, not the capture's.
        assert_ne!(ours[8..20], real[8..20]);
        // Every attribute, in order, type, length and value: MAGIC-COOKIE, App-ID 2,
        // MS-VERSION 6, 0x8006 = 1, BANDWIDTH 12000, MS-Service-Quality (2, 2).
        assert_eq!(ours[20..], real[20..]);
    }

    #[test]
    fn the_real_relays_401_reads_as_an_ms_turn_allocate_error() {
        let a = answer_of(&hex(TEAMS_401), Duration::from_millis(7));
        let a = a.map(|a| (a.protocol, a.method, a.class, a.code, a.rtt_ms));
        assert_eq!(
            a,
            Some((
                Variant::MsTurn,
                "allocate".to_owned(),
                "error",
                Some(401),
                7
            ))
        );
    }

    #[test]
    fn first_answer_ends_at_an_icmp_error() {
        let dest: SocketAddr = "203.0.113.10:3478"
            .parse()
            .unwrap_or_else(|_| unreachable!());
        let mut m = FirstAnswer::new(dest, Instant::now());
        m.handle_socket_error(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert!(m.is_done());
        assert!(matches!(m.outcome, Some(Err(_))));
    }
}
