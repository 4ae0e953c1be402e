//! Microsoft's MS-TURN transport framing:
//!
//! - **Multiplexed TURN over UDP** (MS-VERSION 5+): `0xFF10`, a 2-byte
//!   length of what follows, an 8-byte session id, then the inner packet
//!   (STUN or media). Checked against real frames from a Teams client to
//!   relays on UDP 3479/3480.
//! - **TCP framing** (after the pseudo-TLS exchange on port 443): every
//!   message carries `type` (0x02 TURN control, 0x03 end-to-end data), a
//!   reserved byte and a 2-byte length.
//! - **Pseudo-TLS**: a TLS 1.0 handshake record (ClientHello; ServerHello
//!   and ServerHelloDone in one record) exchanged so that inspecting
//!   firewalls and proxies let the connection through; no keys follow.

use crate::DecodeError;

/// The channel number that marks a multiplexed TURN frame.
pub const MULTIPLEXED_CHANNEL: u16 = 0xFF10;

/// A checked view of a multiplexed TURN frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Multiplexed<'a> {
    session_id: &'a [u8],
    inner: &'a [u8],
}

impl<'a> Multiplexed<'a> {
    /// Reads a frame at the start of `buf`.
    pub fn parse(buf: &'a [u8]) -> Result<Self, DecodeError> {
        if buf.len() < 12 {
            return Err(DecodeError::new(
                0,
                format!(
                    "{} bytes is too short for a multiplexed TURN frame (12)",
                    buf.len()
                ),
            ));
        }
        if u16::from_be_bytes([buf[0], buf[1]]) != MULTIPLEXED_CHANNEL {
            return Err(DecodeError::new(
                0,
                "a multiplexed TURN frame starts with 0xFF10",
            ));
        }
        let len = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
        if len < 8 {
            return Err(DecodeError::new(
                2,
                format!("length {len} leaves no room for the 8-byte session id"),
            ));
        }
        if 4 + len > buf.len() {
            return Err(DecodeError::new(
                2,
                format!(
                    "length {len} runs past the end: {} bytes follow",
                    buf.len() - 4
                ),
            ));
        }
        Ok(Multiplexed {
            session_id: &buf[4..12],
            inner: &buf[12..4 + len],
        })
    }

    /// The 8-byte session id (MULTIPLEXED-TURN-SESSION-ID).
    pub fn session_id(&self) -> &'a [u8] {
        self.session_id
    }

    /// The carried packet.
    pub fn inner(&self) -> &'a [u8] {
        self.inner
    }
}

/// Builds a multiplexed frame around `inner`.
pub fn multiplexed(session_id: [u8; 8], inner: &[u8]) -> Vec<u8> {
    let len = (inner.len() + 8).min(usize::from(u16::MAX));
    let mut out = Vec::with_capacity(4 + len);
    out.extend_from_slice(&MULTIPLEXED_CHANNEL.to_be_bytes());
    out.extend_from_slice(&(len as u16).to_be_bytes());
    out.extend_from_slice(&session_id);
    out.extend_from_slice(&inner[..len - 8]);
    out
}

/// The kind of an MS-TURN TCP frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// 0x02: a TURN control message.
    Control,
    /// 0x03: end-to-end data.
    Data,
}

/// One MS-TURN TCP frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpFrame<'a> {
    /// Control or data.
    pub kind: FrameKind,
    /// The frame's payload.
    pub payload: &'a [u8],
}

impl<'a> TcpFrame<'a> {
    /// Reads a frame at the start of `buf`; `Ok(None)` when incomplete.
    pub fn parse(buf: &'a [u8]) -> Result<Option<(Self, usize)>, DecodeError> {
        if buf.len() < 4 {
            return Ok(None);
        }
        let kind = match buf[0] {
            0x02 => FrameKind::Control,
            0x03 => FrameKind::Data,
            t => {
                return Err(DecodeError::new(
                    0,
                    format!(
                    "MS-TURN TCP frame type 0x{t:02X} is neither 0x02 (control) nor 0x03 (data)"
                ),
                ))
            }
        };
        let len = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
        if buf.len() < 4 + len {
            return Ok(None);
        }
        Ok(Some((
            TcpFrame {
                kind,
                payload: &buf[4..4 + len],
            },
            4 + len,
        )))
    }
}

/// Builds an MS-TURN TCP frame.
pub fn tcp_frame(kind: FrameKind, payload: &[u8]) -> Vec<u8> {
    let len = payload.len().min(usize::from(u16::MAX));
    let mut out = Vec::with_capacity(4 + len);
    out.push(match kind {
        FrameKind::Control => 0x02,
        FrameKind::Data => 0x03,
    });
    out.push(0);
    out.extend_from_slice(&(len as u16).to_be_bytes());
    out.extend_from_slice(&payload[..len]);
    out
}

/// TLS handshake message types seen in a pseudo-TLS record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PseudoTls {
    /// Handshake message types in the record (1 ClientHello, 2 ServerHello,
    /// 14 ServerHelloDone).
    pub handshake_types: Vec<u8>,
    /// Bytes the record takes.
    pub wire_len: usize,
}

impl PseudoTls {
    /// Whether this is the client's opening (a lone ClientHello).
    pub fn is_client_hello(&self) -> bool {
        self.handshake_types == [1]
    }

    /// Whether this is the relay's answer (ServerHello then ServerHelloDone
    /// in one record, with no certificate: what marks it as pseudo-TLS).
    pub fn is_server_answer(&self) -> bool {
        self.handshake_types == [2, 14]
    }
}

/// Reads a TLS handshake record at the start of `buf` and lists its
/// handshake messages; `Ok(None)` when incomplete.
pub fn parse_pseudo_tls(buf: &[u8]) -> Result<Option<PseudoTls>, DecodeError> {
    if buf.len() < 5 {
        return Ok(None);
    }
    if buf[0] != 0x16 || buf[1] != 0x03 {
        return Err(DecodeError::new(
            0,
            "not a TLS handshake record (0x16 0x03 ..)",
        ));
    }
    let len = usize::from(u16::from_be_bytes([buf[3], buf[4]]));
    if buf.len() < 5 + len {
        return Ok(None);
    }
    let body = &buf[5..5 + len];
    let mut types = Vec::new();
    let mut at = 0;
    while at < body.len() {
        if body.len() - at < 4 {
            return Err(DecodeError::new(
                5 + at,
                "a handshake header cut short inside the record",
            ));
        }
        let hlen = (usize::from(body[at + 1]) << 16)
            | (usize::from(body[at + 2]) << 8)
            | usize::from(body[at + 3]);
        if at + 4 + hlen > body.len() {
            return Err(DecodeError::new(
                5 + at + 1,
                format!("handshake message of {hlen} bytes overruns its record"),
            ));
        }
        types.push(body[at]);
        at += 4 + hlen;
    }
    Ok(Some(PseudoTls {
        handshake_types: types,
        wire_len: 5 + len,
    }))
}

/// The pseudo-TLS ClientHello a client opens TCP 443 to a relay with: a TLS
/// 1.0 record, 32 random bytes, no session id, one cipher suite, no
/// compression, no extensions.
pub fn pseudo_tls_client_hello(random: [u8; 32]) -> Vec<u8> {
    let mut hs = vec![0x03, 0x01];
    hs.extend_from_slice(&random);
    hs.push(0); // session id length
    hs.extend_from_slice(&[0x00, 0x02, 0x00, 0x18]); // one cipher suite: TLS_DH_anon_WITH_RC4_128_MD5
    hs.extend_from_slice(&[0x01, 0x00]); // compression: null
    let mut out = vec![0x16, 0x03, 0x01];
    out.extend_from_slice(&((hs.len() + 4) as u16).to_be_bytes());
    out.push(0x01);
    out.extend_from_slice(&(hs.len() as u32).to_be_bytes()[1..]);
    out.extend_from_slice(&hs);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_hex;
    use crate::stun::{Class, Message};

    /// teams.pcap frame 1424: 192.168.1.6:50016 -> 52.114.252.8:3479.
    const TEAMS_MULTIPLEXED: &str = "ff100060deaa296708f708fc010100442112a44281275a7e28b364d88f3d14f980700004000000070020000800012c851560584a8037000400000002803600040000000100080014998b53fec81f7d913f18f8cc4c645293987537ed802800043ea7ac36";

    #[test]
    fn real_multiplexed_frame() {
        let b = parse_hex(TEAMS_MULTIPLEXED).unwrap();
        let m = Multiplexed::parse(&b).unwrap();
        assert_eq!(m.session_id(), &parse_hex("deaa296708f708fc").unwrap()[..]);
        let inner = Message::parse(m.inner()).unwrap();
        assert_eq!(
            (inner.method_name(), inner.class()),
            (Some("binding"), Class::Success)
        );
        assert_eq!(inner.len(), m.inner().len());
        let rebuilt = multiplexed(m.session_id().try_into().unwrap(), m.inner());
        assert_eq!(rebuilt, b);
        assert!(Multiplexed::parse(&b[..50]).is_err());
    }

    #[test]
    fn tcp_frames_and_pseudo_tls() {
        let f = tcp_frame(FrameKind::Control, b"abc");
        assert_eq!(f, [2, 0, 0, 3, b'a', b'b', b'c']);
        let (frame, used) = TcpFrame::parse(&f).unwrap().unwrap();
        assert_eq!(
            (frame.kind, frame.payload, used),
            (FrameKind::Control, &b"abc"[..], 7)
        );
        assert_eq!(TcpFrame::parse(&f[..5]).unwrap(), None);
        assert!(TcpFrame::parse(&[9, 0, 0, 0]).is_err());
        let hello = pseudo_tls_client_hello([7; 32]);
        let p = parse_pseudo_tls(&hello).unwrap().unwrap();
        assert!(p.is_client_hello());
        assert_eq!(p.wire_len, hello.len());
        assert_eq!(parse_pseudo_tls(&hello[..10]).unwrap(), None);
        // ServerHello + ServerHelloDone in one record.
        let mut sh = vec![
            0x16, 0x03, 0x01, 0x00, 0x0a, 0x02, 0x00, 0x00, 0x02, 0x03, 0x01, 0x0e, 0x00, 0x00,
            0x00,
        ];
        let p = parse_pseudo_tls(&sh).unwrap().unwrap();
        assert!(p.is_server_answer());
        sh[8] = 0x40;
        assert!(parse_pseudo_tls(&sh).is_err());
    }
}
