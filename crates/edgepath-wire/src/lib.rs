//! edgepath's wire codecs, sans-IO: they take bytes and give views, values
//! and errors; they never open sockets or read clocks.
//!
//! - [`stun`]: STUN (RFC 8489/5389, classic 3489), TURN attributes
//!   (RFC 8656), NAT behaviour discovery (RFC 5780), ICE, and Microsoft's
//!   MS-TURN, with integrity and fingerprint;
//! - [`turn`]: ChannelData and TURN stream framing;
//! - [`ms`]: MS-TURN's 0xFF10 multiplexing, TCP framing and pseudo-TLS;
//! - [`rtp`]: RTP and RTCP views; [`demux`]: first-byte demultiplexing;
//! - [`transaction`] and [`turn_client`]: the client state machines, driven
//!   by `handle_input` / `handle_timeout` / `poll_transmit` / `poll_timeout`
//!   / `poll_event`.
#![forbid(unsafe_code)]

pub mod demux;
pub mod dissect;
pub mod ms;
pub mod nat;
pub mod rtp;
pub mod stun;
pub mod transaction;
pub mod turn;
pub mod turn_client;

/// Why bytes could not be decoded: where, and what was wrong. The input is
/// at fault (malformed or not the protocol), never the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("byte {offset}: {reason}")]
pub struct DecodeError {
    /// Offset of the fault from the start of the input.
    pub offset: usize,
    /// What was wrong.
    pub reason: String,
}

impl DecodeError {
    /// An error at `offset`.
    pub fn new(offset: usize, reason: impl Into<String>) -> Self {
        DecodeError {
            offset,
            reason: reason.into(),
        }
    }
}

/// Reads a hex string as Wireshark's "Copy as Hex Stream" and similar give
/// it: spaces, colons, newlines and an optional `0x` prefix are allowed.
pub fn parse_hex(text: &str) -> Result<Vec<u8>, DecodeError> {
    let t = text.trim();
    let t = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    let mut out = Vec::with_capacity(t.len() / 2);
    let mut high: Option<u8> = None;
    for (i, c) in t.char_indices() {
        if c.is_whitespace() || c == ':' || c == '-' {
            if high.is_some() {
                return Err(DecodeError::new(
                    i,
                    "separator in the middle of a byte (odd number of hex digits before it)",
                ));
            }
            continue;
        }
        let Some(d) = c.to_digit(16) else {
            return Err(DecodeError::new(i, format!("`{c}` is not a hex digit")));
        };
        // to_digit(16) is below 16, so it fits a u8.
        let d = d as u8;
        match high.take() {
            None => high = Some(d),
            Some(h) => out.push(h << 4 | d),
        }
    }
    if high.is_some() {
        return Err(DecodeError::new(t.len(), "odd number of hex digits"));
    }
    if out.is_empty() {
        return Err(DecodeError::new(0, "no hex digits"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_forms() {
        assert_eq!(parse_hex("0001 00:2a\n").unwrap(), vec![0, 1, 0, 0x2a]);
        assert_eq!(parse_hex("0xABcd").unwrap(), vec![0xab, 0xcd]);
        assert_eq!(
            parse_hex("abc").unwrap_err().reason,
            "odd number of hex digits"
        );
        assert_eq!(parse_hex("a bc").unwrap_err().offset, 1);
        assert!(parse_hex("zz")
            .unwrap_err()
            .to_string()
            .contains("`z` is not a hex digit"));
        assert!(parse_hex("  ").is_err());
    }
}
