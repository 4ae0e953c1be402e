//! STUN (RFC 8489, compatible with RFC 5389 and classic RFC 3489) and
//! Microsoft's MS-TURN, as a checked zero-copy view ([`Message`]) and an
//! owned builder ([`MessageBuilder`]).
//!
//! The variant is detected from the bytes, never configured:
//! - RFC 5389/8489: the header's magic cookie 0x2112A442;
//! - MS-TURN: a MAGIC-COOKIE *attribute* (0x000F, 0x72C64BC6) first; real
//!   Teams clients also put the RFC cookie in the header. Microsoft's relays
//!   send attributes without padding (a 9-byte SOFTWARE runs straight into
//!   the next attribute), so for MS-TURN the attribute walk accepts the
//!   unpadded layout when the padded one does not fit the message exactly;
//! - classic RFC 3489: no cookie, a 16-byte transaction id, Binding only.

mod access;
mod attr;
mod builder;
mod integrity;

pub use attr::{attr_name, AttrValue, Attribute};
pub use builder::MessageBuilder;
pub use integrity::{fingerprint, hmac, long_term_key, long_term_key_sha256, Check, Credentials};

use crate::DecodeError;

/// Length of the STUN header.
pub const HEADER_LEN: usize = 20;
/// The RFC 5389 magic cookie in the header.
pub const MAGIC_COOKIE: u32 = 0x2112_A442;
/// The value of MS-TURN's MAGIC-COOKIE attribute.
pub const MS_MAGIC_COOKIE: u32 = 0x72C6_4BC6;

/// Attribute type numbers used by the codec itself.
pub mod attr_type {
    /// MAPPED-ADDRESS.
    pub const MAPPED_ADDRESS: u16 = 0x0001;
    /// CHANGE-REQUEST (RFC 5780).
    pub const CHANGE_REQUEST: u16 = 0x0003;
    /// USERNAME.
    pub const USERNAME: u16 = 0x0006;
    /// MESSAGE-INTEGRITY (HMAC-SHA1; 32-byte HMAC-SHA256 in MS-TURN v3+).
    pub const MESSAGE_INTEGRITY: u16 = 0x0008;
    /// ERROR-CODE.
    pub const ERROR_CODE: u16 = 0x0009;
    /// UNKNOWN-ATTRIBUTES.
    pub const UNKNOWN_ATTRIBUTES: u16 = 0x000A;
    /// CHANNEL-NUMBER (RFC 8656).
    pub const CHANNEL_NUMBER: u16 = 0x000C;
    /// LIFETIME.
    pub const LIFETIME: u16 = 0x000D;
    /// MS-TURN's MAGIC-COOKIE attribute.
    pub const MS_MAGIC_COOKIE: u16 = 0x000F;
    /// XOR-PEER-ADDRESS (RFC 8656).
    pub const XOR_PEER_ADDRESS: u16 = 0x0012;
    /// DATA.
    pub const DATA: u16 = 0x0013;
    /// REALM in RFC 5389 numbering (NONCE in MS-TURN's).
    pub const REALM: u16 = 0x0014;
    /// NONCE in RFC 5389 numbering (REALM in MS-TURN's).
    pub const NONCE: u16 = 0x0015;
    /// XOR-RELAYED-ADDRESS (RFC 8656).
    pub const XOR_RELAYED_ADDRESS: u16 = 0x0016;
    /// REQUESTED-ADDRESS-FAMILY.
    pub const REQUESTED_ADDRESS_FAMILY: u16 = 0x0017;
    /// REQUESTED-TRANSPORT (RFC 8656).
    pub const REQUESTED_TRANSPORT: u16 = 0x0019;
    /// MESSAGE-INTEGRITY-SHA256 (RFC 8489).
    pub const MESSAGE_INTEGRITY_SHA256: u16 = 0x001C;
    /// PASSWORD-ALGORITHM (RFC 8489).
    pub const PASSWORD_ALGORITHM: u16 = 0x001D;
    /// USERHASH (RFC 8489).
    pub const USERHASH: u16 = 0x001E;
    /// XOR-MAPPED-ADDRESS.
    pub const XOR_MAPPED_ADDRESS: u16 = 0x0020;
    /// PRIORITY (ICE).
    pub const PRIORITY: u16 = 0x0024;
    /// USE-CANDIDATE (ICE).
    pub const USE_CANDIDATE: u16 = 0x0025;
    /// SOFTWARE.
    pub const SOFTWARE: u16 = 0x8022;
    /// ALTERNATE-SERVER (RFC 8489 numbering).
    pub const ALTERNATE_SERVER: u16 = 0x8023;
    /// FINGERPRINT.
    pub const FINGERPRINT: u16 = 0x8028;
    /// ICE-CONTROLLED.
    pub const ICE_CONTROLLED: u16 = 0x8029;
    /// ICE-CONTROLLING.
    pub const ICE_CONTROLLING: u16 = 0x802A;
    /// MS-VERSION.
    pub const MS_VERSION: u16 = 0x8008;
    /// XOR-MAPPED-ADDRESS in the pre-RFC numbering MS-TURN uses.
    pub const MS_XOR_MAPPED_ADDRESS: u16 = 0x8020;
}

/// Which STUN dialect a message is written in; serialised as its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// RFC 5389 / RFC 8489, with the header cookie.
    Stun,
    /// Microsoft's MS-TURN (MAGIC-COOKIE attribute first).
    MsTurn,
    /// RFC 3489 classic STUN: no cookie.
    Classic,
}

impl Variant {
    /// The name used in reports: `stun`, `ms-turn`, `classic-stun`.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Stun => "stun",
            Variant::MsTurn => "ms-turn",
            Variant::Classic => "classic-stun",
        }
    }
}

/// The message class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// A request.
    Request,
    /// An indication.
    Indication,
    /// A success response.
    Success,
    /// An error response.
    Error,
}

impl Class {
    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Class::Request => "request",
            Class::Indication => "indication",
            Class::Success => "success",
            Class::Error => "error",
        }
    }

    fn bits(self) -> u16 {
        match self {
            Class::Request => 0x0000,
            Class::Indication => 0x0010,
            Class::Success => 0x0100,
            Class::Error => 0x0110,
        }
    }
}

/// STUN/TURN method numbers.
pub mod method {
    /// Binding.
    pub const BINDING: u16 = 0x001;
    /// Allocate (TURN).
    pub const ALLOCATE: u16 = 0x003;
    /// Refresh (TURN); "Send request" in MS-TURN.
    pub const REFRESH: u16 = 0x004;
    /// Send (TURN indication).
    pub const SEND: u16 = 0x006;
    /// Data (TURN indication).
    pub const DATA: u16 = 0x007;
    /// CreatePermission (TURN).
    pub const CREATE_PERMISSION: u16 = 0x008;
    /// ChannelBind (TURN).
    pub const CHANNEL_BIND: u16 = 0x009;
}

/// Splits a message type into method and class (RFC 5389 section 6).
pub fn split_type(t: u16) -> (u16, Class) {
    let class = match t & 0x0110 {
        0x0000 => Class::Request,
        0x0010 => Class::Indication,
        0x0100 => Class::Success,
        _ => Class::Error,
    };
    let method = (t & 0x000F) | ((t & 0x00E0) >> 1) | ((t & 0x3E00) >> 2);
    (method, class)
}

/// Joins method and class into a message type.
pub fn join_type(method: u16, class: Class) -> u16 {
    (method & 0x000F) | ((method & 0x0070) << 1) | ((method & 0x0F80) << 2) | class.bits()
}

/// A method's name, in the dialect's terms.
pub fn method_name(method: u16, variant: Variant) -> Option<&'static str> {
    Some(match (method, variant) {
        (method::BINDING, _) => "binding",
        (0x002, _) => "shared-secret",
        (method::ALLOCATE, _) => "allocate",
        (method::REFRESH, Variant::MsTurn) => "send",
        (method::REFRESH, _) => "refresh",
        (0x005, Variant::MsTurn) => "data",
        (method::SEND, Variant::MsTurn) => "set-active-destination",
        (method::SEND, _) => "send",
        (method::DATA, _) => "data",
        (method::CREATE_PERMISSION, _) => "create-permission",
        (method::CHANNEL_BIND, _) => "channel-bind",
        (0x00A, _) => "connect",
        (0x00B, _) => "connection-bind",
        (0x00C, _) => "connection-attempt",
        _ => return None,
    })
}

/// One attribute as it sits in the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawAttribute<'a> {
    /// The type number.
    pub typ: u16,
    /// The value, without padding.
    pub value: &'a [u8],
    /// Offset of the attribute's header from the start of the message.
    pub offset: usize,
}

/// A checked view of one STUN/MS-TURN message. Once built, no accessor can
/// panic: the header and every attribute's bounds were checked.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    buf: &'a [u8],
    variant: Variant,
    padded: bool,
}

/// Whether `buf` starts like a STUN message: two zero bits, a length that is
/// possible, and either the magic cookie or MS-TURN's cookie attribute.
/// Cheap; for demultiplexing, not validation.
pub fn looks_like_stun(buf: &[u8]) -> bool {
    buf.len() >= HEADER_LEN
        && buf[0] & 0xC0 == 0
        && (be32(buf, 4) == MAGIC_COOKIE
            || (buf.len() >= 28
                && be16(buf, 20) == attr_type::MS_MAGIC_COOKIE
                && be32(buf, 24) == MS_MAGIC_COOKIE))
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Walks attributes from `HEADER_LEN` to `end`. Returns `Ok(())` when they
/// tile the body exactly, else the offset and reason of the first fault.
fn walk(buf: &[u8], end: usize, padded: bool) -> Result<(), DecodeError> {
    let mut at = HEADER_LEN;
    while at < end {
        if end - at < 4 {
            return Err(DecodeError::new(
                at,
                format!(
                    "{} stray bytes where an attribute header (4 bytes) should be",
                    end - at
                ),
            ));
        }
        let typ = be16(buf, at);
        let len = usize::from(be16(buf, at + 2));
        let value_end = at + 4 + len;
        if value_end > end {
            return Err(DecodeError::new(
                at + 2,
                format!(
                    "attribute 0x{typ:04X} claims {len} bytes but only {} remain in the message",
                    end - at - 4
                ),
            ));
        }
        at = if padded {
            // The last attribute's padding may be missing at the very end.
            ((value_end + 3) & !3).min(end)
        } else {
            value_end
        };
    }
    Ok(())
}

impl<'a> Message<'a> {
    /// Checks `buf` and returns a view of the message at its start. Bytes
    /// after the message (as on a TCP stream) are allowed; see
    /// [`Message::len`].
    pub fn parse(buf: &'a [u8]) -> Result<Self, DecodeError> {
        if buf.len() < HEADER_LEN {
            return Err(DecodeError::new(
                0,
                format!(
                    "{} bytes is too short for a STUN header (20 bytes)",
                    buf.len()
                ),
            ));
        }
        if buf[0] & 0xC0 != 0 {
            return Err(DecodeError::new(
                0,
                format!(
                    "first byte 0x{:02X}: a STUN message starts with two zero bits",
                    buf[0]
                ),
            ));
        }
        let body_len = usize::from(be16(buf, 2));
        let end = HEADER_LEN + body_len;
        if end > buf.len() {
            return Err(DecodeError::new(
                2,
                format!(
                    "message length {body_len} runs past the end: only {} bytes follow the header",
                    buf.len() - HEADER_LEN
                ),
            ));
        }
        let ms_cookie_attr = body_len >= 8
            && be16(buf, 20) == attr_type::MS_MAGIC_COOKIE
            && be16(buf, 22) == 4
            && be32(buf, 24) == MS_MAGIC_COOKIE;
        let variant = if ms_cookie_attr {
            Variant::MsTurn
        } else if be32(buf, 4) == MAGIC_COOKIE {
            Variant::Stun
        } else {
            let (method, _) = split_type(be16(buf, 0));
            if method > 0x002 {
                return Err(DecodeError::new(
                    4,
                    format!(
                        "no magic cookie (0x{:08X}) and method 0x{method:03X} is not a classic STUN one",
                        be32(buf, 4)
                    ),
                ));
            }
            Variant::Classic
        };
        if variant == Variant::Stun && body_len % 4 != 0 {
            return Err(DecodeError::new(
                2,
                format!(
                    "message length {body_len} is not a multiple of 4 (RFC 8489 requires padding)"
                ),
            ));
        }
        let padded_walk = walk(buf, end, true);
        let padded = match (padded_walk, variant) {
            (Ok(()), _) if body_len % 4 == 0 => true,
            // MS-TURN relays do not pad: accept the layout that tiles exactly.
            (padded_walk, Variant::MsTurn) => match (walk(buf, end, false), padded_walk) {
                (Ok(()), _) => false,
                (Err(_), Ok(())) => true,
                (Err(_), Err(e)) => return Err(e),
            },
            (Ok(()), _) => true,
            (Err(e), _) => return Err(e),
        };
        Ok(Message {
            buf: &buf[..end],
            variant,
            padded,
        })
    }

    /// The dialect.
    pub fn variant(&self) -> Variant {
        self.variant
    }

    /// Whether attributes are padded to 4 bytes (false for MS-TURN relays).
    pub fn padded(&self) -> bool {
        self.padded
    }

    /// The message's bytes (header and attributes).
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// Total length in bytes, header included.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Always false: a message has at least its header.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The raw message type.
    pub fn message_type(&self) -> u16 {
        be16(self.buf, 0)
    }

    /// The method number.
    pub fn method(&self) -> u16 {
        if self.variant == Variant::MsTurn && self.message_type() == 0x0115 {
            // MS-TURN's Data Indication predates RFC 5389's class bits.
            return 0x005;
        }
        split_type(self.message_type()).0
    }

    /// The class.
    pub fn class(&self) -> Class {
        if self.variant == Variant::MsTurn && self.message_type() == 0x0115 {
            return Class::Indication;
        }
        split_type(self.message_type()).1
    }

    /// The method's name, if known.
    pub fn method_name(&self) -> Option<&'static str> {
        method_name(self.method(), self.variant)
    }

    /// Whether the header carries the RFC 5389 magic cookie.
    pub fn has_magic_cookie(&self) -> bool {
        be32(self.buf, 4) == MAGIC_COOKIE
    }

    /// The transaction id: 12 bytes after the cookie, or all 16 bytes where
    /// there is no cookie (classic STUN, older MS-TURN).
    pub fn transaction_id(&self) -> &'a [u8] {
        if self.has_magic_cookie() {
            &self.buf[8..20]
        } else {
            &self.buf[4..20]
        }
    }

    /// The attributes, in order.
    pub fn attributes(&self) -> Attributes<'a> {
        Attributes {
            buf: self.buf,
            at: HEADER_LEN,
            padded: self.padded,
        }
    }

    /// The first attribute of type `typ`.
    pub fn attribute(&self, typ: u16) -> Option<RawAttribute<'a>> {
        self.attributes().find(|a| a.typ == typ)
    }

    /// Decoded attributes, in order.
    pub fn decoded(&self) -> impl Iterator<Item = Attribute<'a>> + '_ {
        let variant = self.variant;
        let buf = self.buf;
        self.attributes()
            .map(move |raw| Attribute::decode(raw, variant, buf))
    }

    /// Comprehension-required attributes (type below 0x8000) this codec does
    /// not know. A server would answer 420 for them.
    pub fn unknown_required(&self) -> Vec<u16> {
        self.attributes()
            .filter(|a| a.typ < 0x8000 && attr_name(a.typ, self.variant).is_none())
            .map(|a| a.typ)
            .collect()
    }
}

/// Iterator over a checked message's attributes.
#[derive(Debug, Clone)]
pub struct Attributes<'a> {
    buf: &'a [u8],
    at: usize,
    padded: bool,
}

impl<'a> Iterator for Attributes<'a> {
    type Item = RawAttribute<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        // Message::parse walked these exact bounds; `get` keeps it panic-free
        // regardless.
        let hdr = self.buf.get(self.at..self.at + 4)?;
        let typ = u16::from_be_bytes([hdr[0], hdr[1]]);
        let len = usize::from(u16::from_be_bytes([hdr[2], hdr[3]]));
        let value = self.buf.get(self.at + 4..self.at + 4 + len)?;
        let offset = self.at;
        let next = self.at + 4 + len;
        self.at = if self.padded { (next + 3) & !3 } else { next };
        Some(RawAttribute { typ, value, offset })
    }
}

#[cfg(test)]
mod tests;

impl serde::Serialize for Variant {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl std::fmt::Display for Variant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
