//! Building messages: header, attributes (padded with zeros), integrity and
//! fingerprint last.

use std::net::SocketAddr;

use super::integrity::{fingerprint, hmac};
use super::{attr_type, join_type, Class, HEADER_LEN, MAGIC_COOKIE, MS_MAGIC_COOKIE};

/// Builds one STUN / MS-TURN message.
#[derive(Debug, Clone)]
pub struct MessageBuilder {
    buf: Vec<u8>,
}

impl MessageBuilder {
    /// A message with the RFC 5389 cookie and a 12-byte transaction id.
    pub fn new(method: u16, class: Class, transaction_id: [u8; 12]) -> Self {
        let mut buf = Vec::with_capacity(128);
        buf.extend_from_slice(&join_type(method, class).to_be_bytes());
        buf.extend_from_slice(&[0, 0]);
        buf.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        buf.extend_from_slice(&transaction_id);
        MessageBuilder { buf }
    }

    /// A message with a raw message type (as MS-TURN's pre-RFC types need)
    /// and the RFC 5389 cookie.
    pub fn with_type(message_type: u16, transaction_id: [u8; 12]) -> Self {
        let mut buf = Vec::with_capacity(128);
        buf.extend_from_slice(&(message_type & 0x3FFF).to_be_bytes());
        buf.extend_from_slice(&[0, 0]);
        buf.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        buf.extend_from_slice(&transaction_id);
        MessageBuilder { buf }
    }

    /// An MS-TURN message: the RFC cookie in the header (as real Teams clients
    /// send it) and the MAGIC-COOKIE attribute first.
    pub fn ms_turn(method: u16, class: Class, transaction_id: [u8; 12]) -> Self {
        let mut b = Self::new(method, class, transaction_id);
        b.add_u32(attr_type::MS_MAGIC_COOKIE, MS_MAGIC_COOKIE);
        b
    }

    fn set_len(&mut self) {
        // The builder never grows past 64 KiB in practice; saturate rather
        // than wrap if a caller forces it (the result then fails to parse).
        let len = u16::try_from(self.buf.len() - HEADER_LEN).unwrap_or(u16::MAX);
        self.buf[2..4].copy_from_slice(&len.to_be_bytes());
    }

    /// Adds an attribute with `value`, padded with zeros to 4 bytes.
    /// Values over 65535 bytes are truncated at the attribute length limit.
    pub fn add(&mut self, typ: u16, value: &[u8]) -> &mut Self {
        let len = value.len().min(usize::from(u16::MAX));
        self.buf.extend_from_slice(&typ.to_be_bytes());
        self.buf.extend_from_slice(&(len as u16).to_be_bytes());
        self.buf.extend_from_slice(&value[..len]);
        while self.buf.len() % 4 != 0 {
            self.buf.push(0);
        }
        self.set_len();
        self
    }

    /// Adds a 32-bit attribute.
    pub fn add_u32(&mut self, typ: u16, v: u32) -> &mut Self {
        self.add(typ, &v.to_be_bytes())
    }

    /// Adds a 64-bit attribute.
    pub fn add_u64(&mut self, typ: u16, v: u64) -> &mut Self {
        self.add(typ, &v.to_be_bytes())
    }

    /// Adds an address attribute, XOR'd when `xor` (XOR-MAPPED-ADDRESS,
    /// XOR-PEER-ADDRESS, XOR-RELAYED-ADDRESS).
    pub fn add_address(&mut self, typ: u16, addr: SocketAddr, xor: bool) -> &mut Self {
        let cookie = MAGIC_COOKIE.to_be_bytes();
        let mut v = vec![0u8];
        let port = if xor {
            addr.port() ^ (MAGIC_COOKIE >> 16) as u16
        } else {
            addr.port()
        };
        match addr {
            SocketAddr::V4(a) => {
                v.push(0x01);
                v.extend_from_slice(&port.to_be_bytes());
                let mut ip = a.ip().octets();
                if xor {
                    for (b, k) in ip.iter_mut().zip(cookie) {
                        *b ^= k;
                    }
                }
                v.extend_from_slice(&ip);
            }
            SocketAddr::V6(a) => {
                v.push(0x02);
                v.extend_from_slice(&port.to_be_bytes());
                let mut ip = a.ip().octets();
                if xor {
                    let key: Vec<u8> = cookie.iter().chain(&self.buf[8..20]).copied().collect();
                    for (b, k) in ip.iter_mut().zip(key) {
                        *b ^= k;
                    }
                }
                v.extend_from_slice(&ip);
            }
        }
        self.add(typ, &v)
    }

    /// Adds ERROR-CODE.
    pub fn add_error(&mut self, code: u16, reason: &str) -> &mut Self {
        let mut v = vec![0, 0, (code / 100) as u8 & 0x07, (code % 100) as u8];
        v.extend_from_slice(reason.as_bytes());
        self.add(attr_type::ERROR_CODE, &v)
    }

    /// Adds MESSAGE-INTEGRITY (HMAC-SHA1) computed with `key`.
    pub fn add_integrity(&mut self, key: &[u8]) -> &mut Self {
        self.add_mac(attr_type::MESSAGE_INTEGRITY, key, false)
    }

    /// Adds MESSAGE-INTEGRITY-SHA256 computed with `key`.
    pub fn add_integrity_sha256(&mut self, key: &[u8]) -> &mut Self {
        self.add_mac(attr_type::MESSAGE_INTEGRITY_SHA256, key, true)
    }

    fn add_mac(&mut self, typ: u16, key: &[u8], sha256: bool) -> &mut Self {
        let size = if sha256 { 32 } else { 20 };
        let at = self.buf.len();
        self.add(typ, &vec![0u8; size]);
        let mac = hmac(key, &self.buf[..at], sha256);
        self.buf[at + 4..at + 4 + size].copy_from_slice(&mac);
        self
    }

    /// Adds FINGERPRINT; it must be the last attribute.
    pub fn add_fingerprint(&mut self) -> &mut Self {
        let at = self.buf.len();
        self.add(attr_type::FINGERPRINT, &[0; 4]);
        let fp = fingerprint(&self.buf[..at]);
        self.buf[at + 4..at + 8].copy_from_slice(&fp.to_be_bytes());
        self
    }

    /// The finished bytes.
    pub fn build(&self) -> Vec<u8> {
        self.buf.clone()
    }
}
