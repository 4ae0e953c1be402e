//! Drives edgepath-wire's sans-IO NAT mapping machine ([`NatMapping`]) on one UDP
//! socket bound in the audio source range, where Teams itself sends from.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use edgepath_model::PortRange;

use crate::driver::{drive, Machine};
pub use edgepath_wire::nat::{Mapping, NatMapping};

/// Runs the test against `relay` from a port in `range` (the audio range), within
/// `timeout`. `None` when no port was free or no socket could be had.
pub async fn run(relay: IpAddr, range: PortRange, timeout: Duration) -> Option<NatMapping> {
    // The last ports of the range: the relay probes take the first ones.
    let sock = crate::relay::bind_in_range(range, relay.is_ipv6(), range.len() as u16 - 1).await?;
    let start = Instant::now();
    let mut m = NatMapping::new(
        relay,
        [
            crate::relay::binding_request(),
            crate::relay::binding_request(),
        ],
        start,
        Duration::from_millis(250),
    );
    drive(&sock, &mut FromRelay(&mut m, relay), start + timeout).await;
    Some(m)
}

/// The NAT machine on the driver: only answers from the relay probed count; a send the
/// network refuses (ICMP) leaves its transaction to time out.
struct FromRelay<'a>(&'a mut NatMapping, IpAddr);

impl Machine for FromRelay<'_> {
    fn poll_transmit(&mut self) -> Option<(std::net::SocketAddr, Vec<u8>)> {
        self.0.poll_transmit()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.0.poll_timeout()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.0.handle_timeout(now);
    }

    fn handle_input(&mut self, _now: Instant, from: std::net::SocketAddr, bytes: &[u8]) {
        if from.ip() == self.1 {
            self.0.handle_input(bytes);
        } else {
            self.0.ignored += 1;
        }
    }

    fn is_done(&self) -> bool {
        self.0.is_done()
    }
}
