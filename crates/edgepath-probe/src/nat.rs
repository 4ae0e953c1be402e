//! Drives edgepath-wire's sans-IO NAT mapping machine ([`NatMapping`]) on one UDP
//! socket bound in the audio source range, where Teams itself sends from.

use std::time::{Duration, Instant};

use edgepath_model::PortRange;
pub use edgepath_wire::nat::{Mapping, NatMapping};

/// Runs the test against `relay` from a port in `range` (the audio range), within
/// `timeout`. `None` when no port was free or no socket could be had.
pub async fn run(
    relay: std::net::IpAddr,
    range: PortRange,
    timeout: Duration,
) -> Option<NatMapping> {
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
    let deadline = tokio::time::Instant::now() + timeout;
    let mut buf = vec![0u8; 2048];
    while !m.is_done() {
        while let Some((dest, bytes)) = m.poll_transmit() {
            // A refused send (ICMP) leaves the transaction to time out.
            let _ = sock.send_to(&bytes, dest).await;
        }
        let wake = m
            .poll_timeout()
            .map(tokio::time::Instant::from_std)
            .map_or(deadline, |w| w.min(deadline));
        tokio::select! {
            r = sock.recv_from(&mut buf) => {
                // Only answers from the relay probed count; errors (ICMP) are ignored.
                if let Ok((n, from)) = r {
                    if from.ip() == relay {
                        m.handle_input(&buf[..n]);
                    } else {
                        m.ignored += 1;
                    }
                }
            }
            _ = tokio::time::sleep_until(wake) => {
                if tokio::time::Instant::now() >= deadline {
                    break;
                }
                m.handle_timeout(Instant::now());
            }
        }
    }
    Some(m)
}
