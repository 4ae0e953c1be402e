//! NAT mapping behaviour (RFC 5780 section 4.3, the part a relay without a second
//! address can answer): two Binding requests from one local port to two relay ports;
//! the same public address and port for both is endpoint-independent mapping, two
//! different ones address- or port-dependent (a symmetric NAT).
//!
//! [`NatMapping`] is sans-IO: it holds one STUN transaction per relay port (RFC 8489
//! retransmissions) and matches every answer to its request by transaction id, so a
//! late answer to a retransmitted request to 3478 can never pass for the 3479 answer,
//! and anything that is not a STUN answer to one of them (garbage, someone else's
//! packet) is ignored instead of ending the probe. Either dialect's XOR-MAPPED-ADDRESS
//! is read (Microsoft's relays use 0x8020). edgepath-probe's `nat::run` drives it on
//! one socket bound in the audio source range, where Teams itself sends from.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::stun::Message;
use crate::transaction::{StunTransaction, TransactionEvent, Transport};

/// The two relay ports asked.
pub const PORTS: [u16; 2] = [3478, 3479];

/// What the mapping test found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mapping {
    /// Both answered with the same public address and port.
    EndpointIndependent(SocketAddr),
    /// Both answered, with different public addresses or ports.
    Dependent(SocketAddr, SocketAddr),
    /// Fewer than two answers with an address.
    Unknown,
}

/// Two Binding transactions and what they answered.
#[derive(Debug)]
pub struct NatMapping {
    destinations: [SocketAddr; 2],
    transactions: [StunTransaction; 2],
    mapped: [Option<SocketAddr>; 2],
    /// Datagrams that answered neither request (garbage, strangers, duplicates).
    pub ignored: u32,
}

impl NatMapping {
    /// Probes `relay` on ports 3478 and 3479 with the Binding requests given
    /// (`requests[i]` to `PORTS[i]`), starting at `now`.
    pub fn new(
        relay: std::net::IpAddr,
        requests: [Vec<u8>; 2],
        now: Instant,
        rto: Duration,
    ) -> Self {
        let [a, b] = requests;
        let transport = Transport::Udp { rto };
        NatMapping {
            destinations: PORTS.map(|p| SocketAddr::new(relay, p)),
            transactions: [
                StunTransaction::new(a, now, transport),
                StunTransaction::new(b, now, transport),
            ],
            mapped: [None, None],
            ignored: 0,
        }
    }

    /// The next datagram to send and where to.
    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, Vec<u8>)> {
        for (tx, dest) in self.transactions.iter_mut().zip(self.destinations) {
            if let Some(bytes) = tx.poll_transmit() {
                return Some((dest, bytes.to_vec()));
            }
        }
        None
    }

    /// When to call [`NatMapping::handle_timeout`] next; `None` when both are done.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.transactions
            .iter()
            .filter_map(StunTransaction::poll_timeout)
            .min()
    }

    /// Time passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        for tx in &mut self.transactions {
            tx.handle_timeout(now);
        }
    }

    /// A datagram arrived: it counts only as the answer to the request whose
    /// transaction id it carries.
    pub fn handle_input(&mut self, bytes: &[u8]) {
        for (i, tx) in self.transactions.iter_mut().enumerate() {
            if tx.handle_input(bytes) {
                if let Some(TransactionEvent::Response(r)) = tx.poll_event() {
                    self.mapped[i] = Message::parse(&r).ok().and_then(|m| m.reflexive_address());
                }
                return;
            }
        }
        self.ignored += 1;
    }

    /// Whether both transactions ended (answered or timed out).
    pub fn is_done(&self) -> bool {
        self.transactions.iter().all(StunTransaction::is_done)
    }

    /// The public addresses seen from each port, in `PORTS` order.
    pub fn mapped(&self) -> [Option<SocketAddr>; 2] {
        self.mapped
    }

    /// The verdict so far.
    pub fn mapping(&self) -> Mapping {
        match self.mapped {
            [Some(a), Some(b)] if a == b => Mapping::EndpointIndependent(a),
            [Some(a), Some(b)] => Mapping::Dependent(a, b),
            _ => Mapping::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stun::{attr_type, method, Class, MessageBuilder};

    fn request(id: u8) -> Vec<u8> {
        MessageBuilder::new(method::BINDING, Class::Request, [id; 12]).build()
    }

    fn answer(id: u8, mapped: &str, ms_turn_numbering: bool) -> Vec<u8> {
        let mut b = MessageBuilder::new(method::BINDING, Class::Success, [id; 12]);
        let typ = if ms_turn_numbering {
            attr_type::MS_XOR_MAPPED_ADDRESS
        } else {
            attr_type::XOR_MAPPED_ADDRESS
        };
        b.add_address(typ, mapped.parse().unwrap(), true);
        b.build()
    }

    fn machine() -> (NatMapping, Instant) {
        let t0 = Instant::now();
        let m = NatMapping::new(
            "203.0.113.10".parse().unwrap(),
            [request(1), request(2)],
            t0,
            Duration::from_millis(250),
        );
        (m, t0)
    }

    #[test]
    fn a_late_answer_cannot_pass_for_the_other_port() {
        let (mut m, t0) = machine();
        assert_eq!(m.poll_transmit().unwrap().0.port(), 3478);
        assert_eq!(m.poll_transmit().unwrap().0.port(), 3479);
        // Retransmissions, then the 3478 answer arrives late, after the 3479 one was
        // asked for: a symmetric NAT gave each destination its own port.
        m.handle_timeout(t0 + Duration::from_millis(260));
        while m.poll_transmit().is_some() {}
        m.handle_input(&answer(2, "198.51.100.2:61002", false));
        m.handle_input(&answer(1, "198.51.100.2:61001", false));
        // A duplicate of the 3478 answer changes nothing.
        m.handle_input(&answer(1, "198.51.100.2:61001", false));
        assert_eq!(
            m.mapping(),
            Mapping::Dependent(
                "198.51.100.2:61001".parse().unwrap(),
                "198.51.100.2:61002".parse().unwrap()
            )
        );
        assert_eq!(m.ignored, 1);
        assert!(m.is_done());
    }

    #[test]
    fn garbage_and_strangers_are_ignored_and_microsofts_address_is_read() {
        let (mut m, _) = machine();
        m.handle_input(b"\x17\x03\x03 not stun");
        m.handle_input(&[]);
        m.handle_input(&answer(9, "192.0.2.9:9", false)); // someone else's transaction
        assert_eq!(m.ignored, 3);
        assert!(!m.is_done());
        m.handle_input(&answer(1, "198.51.100.2:50019", true));
        m.handle_input(&answer(2, "198.51.100.2:50019", true));
        assert_eq!(
            m.mapping(),
            Mapping::EndpointIndependent("198.51.100.2:50019".parse().unwrap())
        );
    }

    #[test]
    fn silence_ends_in_unknown() {
        let (mut m, t0) = machine();
        let mut now = t0;
        for _ in 0..100 {
            while m.poll_transmit().is_some() {}
            match m.poll_timeout() {
                Some(t) => {
                    now = t.max(now);
                    m.handle_timeout(now);
                }
                None => break,
            }
        }
        assert!(m.is_done());
        assert_eq!(m.mapping(), Mapping::Unknown);
    }
}
