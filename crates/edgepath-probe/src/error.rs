//! Why a probe or a measurement could not give its figures. Reports keep the message
//! (`Display`), callers match the kind: a port range used up is the host's problem, a
//! refusal is the relay's answer, silence is the network's.

use std::net::SocketAddr;
use std::time::Duration;

use edgepath_model::PortRange;

/// A probe's failure, by what went wrong.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// Every port of the source range was taken (another Teams client, another probe).
    #[error("no free local UDP port in {0}")]
    NoFreePort(PortRange),
    /// The operating system would not send (no route, or an ICMP error reported back).
    #[error("cannot send to {to}: {source}")]
    Send {
        /// Where to.
        to: SocketAddr,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// Receiving failed (an ICMP error reported on the socket).
    #[error("receive failed: {0}")]
    Receive(std::io::Error),
    /// A TCP connection, directly or through the proxy, did not open.
    #[error("{0}")]
    Connect(String),
    /// The relay answered a request with an error.
    #[error("the relay refused {request}: {code} {reason}")]
    Refused {
        /// The request (`Allocate`, `CreatePermission`, ...).
        request: String,
        /// The STUN error code.
        code: u16,
        /// Its reason phrase.
        reason: String,
    },
    /// The relay did not answer a request after every retransmission.
    #[error("the relay did not answer {0}")]
    Unanswered(String),
    /// Nothing came within the time allowed.
    #[error("no answer from {what} within {} ms", within.as_millis())]
    Timeout {
        /// Who was waited for.
        what: String,
        /// How long.
        within: Duration,
    },
    /// Reading or writing a connection failed.
    #[error("{doing} failed: {source}")]
    Io {
        /// `read` or `send`.
        doing: &'static str,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The peer broke the protocol (a malformed or oversized frame).
    #[error("{0}")]
    Protocol(String),
}
