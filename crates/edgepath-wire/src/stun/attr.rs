//! Attribute names and typed values. Unknown attributes are kept as bytes;
//! a value of the wrong size is reported as malformed, never a panic.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::{RawAttribute, Variant, MAGIC_COOKIE};

/// An attribute's name in the message's dialect.
///
/// MS-TURN differs from RFC 5389 in a few numbers: 0x0014 is NONCE and
/// 0x0015 REALM (swapped), 0x000E ALTERNATE-SERVER, 0x0010 BANDWIDTH,
/// 0x0011/0x0012 DESTINATION/REMOTE-ADDRESS (draft TURN-08).
pub fn attr_name(typ: u16, variant: Variant) -> Option<&'static str> {
    let ms = variant == Variant::MsTurn;
    Some(match typ {
        0x0001 => "MAPPED-ADDRESS",
        0x0002 => "RESPONSE-ADDRESS",
        0x0003 => "CHANGE-REQUEST",
        0x0004 => "SOURCE-ADDRESS",
        0x0005 => "CHANGED-ADDRESS",
        0x0006 => "USERNAME",
        0x0007 => "PASSWORD",
        0x0008 => "MESSAGE-INTEGRITY",
        0x0009 => "ERROR-CODE",
        0x000A => "UNKNOWN-ATTRIBUTES",
        0x000B => "REFLECTED-FROM",
        0x000C => "CHANNEL-NUMBER",
        0x000D => "LIFETIME",
        0x000E if ms => "ALTERNATE-SERVER",
        0x000F if ms => "MAGIC-COOKIE",
        0x0010 => "BANDWIDTH",
        0x0011 if ms => "DESTINATION-ADDRESS",
        0x0012 if ms => "REMOTE-ADDRESS",
        0x0012 => "XOR-PEER-ADDRESS",
        0x0013 => "DATA",
        0x0014 if ms => "NONCE",
        0x0014 => "REALM",
        0x0015 if ms => "REALM",
        0x0015 => "NONCE",
        0x0016 => "XOR-RELAYED-ADDRESS",
        0x0017 => "REQUESTED-ADDRESS-FAMILY",
        0x0018 => "EVEN-PORT",
        0x0019 => "REQUESTED-TRANSPORT",
        0x001A => "DONT-FRAGMENT",
        0x001C => "MESSAGE-INTEGRITY-SHA256",
        0x001D => "PASSWORD-ALGORITHM",
        0x001E => "USERHASH",
        0x0020 => "XOR-MAPPED-ADDRESS",
        0x0022 => "RESERVATION-TOKEN",
        0x0024 => "PRIORITY",
        0x0025 => "USE-CANDIDATE",
        0x0026 => "PADDING",
        0x0027 => "RESPONSE-PORT",
        0x002A => "CONNECTION-ID",
        0x8000 => "ADDITIONAL-ADDRESS-FAMILY",
        0x8001 => "ADDRESS-ERROR-CODE",
        0x8002 => "PASSWORD-ALGORITHMS",
        0x8003 => "ALTERNATE-DOMAIN",
        0x8004 => "ICMP",
        0x8008 => "MS-VERSION",
        0x8020 => "XOR-MAPPED-ADDRESS",
        0x8022 => "SOFTWARE",
        0x8023 => "ALTERNATE-SERVER",
        0x8027 => "CACHE-TIMEOUT",
        0x8028 => "FINGERPRINT",
        0x8029 => "ICE-CONTROLLED",
        0x802A => "ICE-CONTROLLING",
        0x802B => "RESPONSE-ORIGIN",
        0x802C => "OTHER-ADDRESS",
        0x8032 => "MS-ALTERNATE-HOST-NAME",
        0x8037 => "MS-APP-ID",
        0x8039 => "MS-SECURE-TAG",
        0x8050 => "MS-SEQUENCE-NUMBER",
        0x8054 => "CANDIDATE-IDENTIFIER",
        0x8055 => "MS-SERVICE-QUALITY",
        0x8056 => "BANDWIDTH-ADMISSION-CONTROL-MESSAGE",
        0x8057 => "BANDWIDTH-RESERVATION-IDENTIFIER",
        0x8058 => "BANDWIDTH-RESERVATION-AMOUNT",
        0x8059 => "REMOTE-SITE-ADDRESS",
        0x805A => "REMOTE-RELAY-SITE-ADDRESS",
        0x805B => "LOCAL-SITE-ADDRESS",
        0x805C => "LOCAL-RELAY-SITE-ADDRESS",
        0x805D => "REMOTE-SITE-ADDRESS-RESPONSE",
        0x805E => "REMOTE-RELAY-SITE-ADDRESS-RESPONSE",
        0x805F => "LOCAL-SITE-ADDRESS-RESPONSE",
        0x8060 => "LOCAL-RELAY-SITE-ADDRESS-RESPONSE",
        0x8061 => "SIP-DIALOG-IDENTIFIER",
        0x8062 => "SIP-CALL-IDENTIFIER",
        0x8068 => "LOCATION-PROFILE",
        0x8070 => "IMPLEMENTATION-VERSION",
        0x8090 => "MS-ALTERNATE-MAPPED-ADDRESS",
        0x8095 => "MULTIPLEXED-TURN-SESSION-ID",
        _ => return None,
    })
}

/// A decoded attribute value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttrValue<'a> {
    /// A transport address (plain or XOR'd, already un-XOR'd).
    Address(SocketAddr),
    /// UTF-8 text (USERNAME, REALM, NONCE, SOFTWARE, ...).
    Text(&'a str),
    /// A 32-bit number (LIFETIME, PRIORITY, MS-VERSION, BANDWIDTH, ...).
    U32(u32),
    /// A 64-bit number (ICE tie-breakers).
    U64(u64),
    /// ERROR-CODE.
    Error {
        /// 300-699.
        code: u16,
        /// The reason phrase.
        reason: &'a str,
    },
    /// CHANGE-REQUEST flags.
    ChangeRequest {
        /// Change IP.
        ip: bool,
        /// Change port.
        port: bool,
    },
    /// A list of attribute types (UNKNOWN-ATTRIBUTES).
    Types(Vec<u16>),
    /// REQUESTED-TRANSPORT's protocol number (17 = UDP).
    Protocol(u8),
    /// CHANNEL-NUMBER.
    Channel(u16),
    /// RESPONSE-PORT (RFC 5780).
    Port(u16),
    /// PASSWORD-ALGORITHM(S): (algorithm, parameters); 1 MD5, 2 SHA-256.
    PasswordAlgorithms(Vec<(u16, &'a [u8])>),
    /// An attribute that is only a flag (USE-CANDIDATE, DONT-FRAGMENT).
    Flag,
    /// MESSAGE-INTEGRITY(-SHA256) value.
    Integrity(&'a [u8]),
    /// FINGERPRINT value.
    Fingerprint(u32),
    /// MS-SEQUENCE-NUMBER.
    MsSequence {
        /// 20-byte connection id.
        connection_id: &'a [u8],
        /// The sequence number.
        sequence: u32,
    },
    /// MS-SERVICE-QUALITY.
    MsServiceQuality {
        /// Stream type (1 audio, 2 video, 3 supplemental video, 4 data).
        stream_type: u16,
        /// Service quality (0 best effort, 1 reliable).
        quality: u16,
    },
    /// MS-TURN's MAGIC-COOKIE.
    MsCookie(u32),
    /// Opaque bytes (DATA, USERHASH, session ids, unknown attributes).
    Bytes(&'a [u8]),
    /// The value does not have the form its type requires.
    Malformed(String),
}

/// One attribute with its decoded value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute<'a> {
    /// The raw attribute.
    pub raw: RawAttribute<'a>,
    /// Its name, when known.
    pub name: Option<&'static str>,
    /// Its value.
    pub value: AttrValue<'a>,
}

fn addr(value: &[u8], xor_with: Option<&[u8]>) -> AttrValue<'static> {
    if value.len() < 4 {
        return AttrValue::Malformed(format!("{} bytes is too short for an address", value.len()));
    }
    let family = value[1];
    let mut port = u16::from_be_bytes([value[2], value[3]]);
    let cookie = MAGIC_COOKIE.to_be_bytes();
    match (family, value.len()) {
        (0x01, 8) => {
            let mut ip = [value[4], value[5], value[6], value[7]];
            if xor_with.is_some() {
                port ^= (MAGIC_COOKIE >> 16) as u16;
                for (b, k) in ip.iter_mut().zip(cookie) {
                    *b ^= k;
                }
            }
            AttrValue::Address(SocketAddr::new(IpAddr::V4(Ipv4Addr::from(ip)), port))
        }
        (0x02, 20) => {
            let mut ip = [0u8; 16];
            ip.copy_from_slice(&value[4..20]);
            if let Some(txid) = xor_with {
                port ^= (MAGIC_COOKIE >> 16) as u16;
                let key: Vec<u8> = cookie.iter().chain(txid.iter()).copied().collect();
                for (b, k) in ip.iter_mut().zip(key) {
                    *b ^= k;
                }
            }
            AttrValue::Address(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(ip)), port))
        }
        (0x01 | 0x02, n) => AttrValue::Malformed(format!("address family {family} with {n} bytes")),
        _ => AttrValue::Malformed(format!("unknown address family 0x{family:02X}")),
    }
}

/// Reads `(algorithm, parameter length, parameters padded to 4)` entries.
fn password_algorithms(v: &[u8], single: bool) -> AttrValue<'_> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < v.len() {
        let Some(h) = v.get(at..at + 4) else {
            return AttrValue::Malformed(format!(
                "a truncated algorithm entry at byte {at} of the value"
            ));
        };
        let alg = u16::from_be_bytes([h[0], h[1]]);
        let plen = usize::from(u16::from_be_bytes([h[2], h[3]]));
        let Some(params) = v.get(at + 4..at + 4 + plen) else {
            return AttrValue::Malformed(format!(
                "algorithm {alg}'s {plen} parameter bytes run past the value"
            ));
        };
        out.push((alg, params));
        at += 4 + ((plen + 3) & !3);
    }
    if single && out.len() != 1 {
        return AttrValue::Malformed(format!(
            "PASSWORD-ALGORITHM holds {} algorithms, not one",
            out.len()
        ));
    }
    AttrValue::PasswordAlgorithms(out)
}

fn text(value: &[u8]) -> AttrValue<'_> {
    match std::str::from_utf8(value) {
        Ok(s) => AttrValue::Text(s),
        Err(_) => AttrValue::Bytes(value),
    }
}

fn u32_of(value: &[u8]) -> AttrValue<'static> {
    match <[u8; 4]>::try_from(value) {
        Ok(b) => AttrValue::U32(u32::from_be_bytes(b)),
        Err(_) => AttrValue::Malformed(format!("{} bytes where 4 are required", value.len())),
    }
}

impl<'a> Attribute<'a> {
    /// Decodes `raw`. `message` is the whole message (for the transaction id
    /// that IPv6 XOR addresses need).
    pub fn decode(raw: RawAttribute<'a>, variant: Variant, message: &'a [u8]) -> Self {
        let v = raw.value;
        let ms = variant == Variant::MsTurn;
        // XOR'd IPv6 addresses mix in the 12-byte transaction id.
        let txid = message.get(8..20).unwrap_or(&[]);
        let value = match raw.typ {
            0x0001 | 0x0002 | 0x0004 | 0x0005 | 0x000B | 0x8023 | 0x802B | 0x802C | 0x8090 => {
                addr(v, None)
            }
            0x000E | 0x0011 if ms => addr(v, None),
            0x0012 if ms => addr(v, None),
            0x0012 | 0x0016 | 0x0020 | 0x8020 => addr(v, Some(txid)),
            0x0006 | 0x0014 | 0x0015 | 0x8022 | 0x8003 | 0x8032 => text(v),
            0x0003 => match <[u8; 4]>::try_from(v) {
                Ok(b) => AttrValue::ChangeRequest {
                    ip: b[3] & 0x04 != 0,
                    port: b[3] & 0x02 != 0,
                },
                Err(_) => AttrValue::Malformed(format!("{} bytes where 4 are required", v.len())),
            },
            0x0008 | 0x001C => AttrValue::Integrity(v),
            0x0009 => {
                if v.len() < 4 {
                    AttrValue::Malformed(format!(
                        "{} bytes is too short for an error code",
                        v.len()
                    ))
                } else {
                    let code = u16::from(v[2] & 0x07) * 100 + u16::from(v[3]);
                    AttrValue::Error {
                        code,
                        reason: std::str::from_utf8(&v[4..]).unwrap_or("(reason is not UTF-8)"),
                    }
                }
            }
            0x000A => {
                if v.len() % 2 != 0 {
                    AttrValue::Malformed("an odd number of bytes in a list of 16-bit types".into())
                } else {
                    AttrValue::Types(
                        v.chunks_exact(2)
                            .map(|c| u16::from_be_bytes([c[0], c[1]]))
                            .collect(),
                    )
                }
            }
            0x000C => match v {
                [a, b, _, _] => AttrValue::Channel(u16::from_be_bytes([*a, *b])),
                _ => AttrValue::Malformed(format!("{} bytes where 4 are required", v.len())),
            },
            0x000F if ms => match u32_of(v) {
                AttrValue::U32(c) => AttrValue::MsCookie(c),
                other => other,
            },
            0x000D | 0x0010 | 0x0024 | 0x8008 | 0x8037 | 0x8070 | 0x8027 => u32_of(v),
            0x0027 => match v {
                [a, b, _, _] => AttrValue::Port(u16::from_be_bytes([*a, *b])),
                _ => AttrValue::Malformed(format!("{} bytes where 4 are required", v.len())),
            },
            0x001D | 0x8002 => password_algorithms(v, raw.typ == 0x001D),
            0x0019 => match v {
                [p, _, _, _] => AttrValue::Protocol(*p),
                _ => AttrValue::Malformed(format!("{} bytes where 4 are required", v.len())),
            },
            0x0017 => match v {
                [f, _, _, _] => AttrValue::U32(u32::from(*f)),
                _ => AttrValue::Malformed(format!("{} bytes where 4 are required", v.len())),
            },
            0x0025 | 0x001A => {
                if v.is_empty() {
                    AttrValue::Flag
                } else {
                    AttrValue::Malformed(format!("a flag attribute with {} bytes", v.len()))
                }
            }
            0x8028 => match <[u8; 4]>::try_from(v) {
                Ok(b) => AttrValue::Fingerprint(u32::from_be_bytes(b)),
                Err(_) => AttrValue::Malformed(format!("{} bytes where 4 are required", v.len())),
            },
            0x8029 | 0x802A => match <[u8; 8]>::try_from(v) {
                Ok(b) => AttrValue::U64(u64::from_be_bytes(b)),
                Err(_) => AttrValue::Malformed(format!("{} bytes where 8 are required", v.len())),
            },
            0x8050 => {
                if v.len() == 24 {
                    AttrValue::MsSequence {
                        connection_id: &v[..20],
                        sequence: u32::from_be_bytes([v[20], v[21], v[22], v[23]]),
                    }
                } else {
                    AttrValue::Malformed(format!("{} bytes where 24 are required", v.len()))
                }
            }
            0x8055 => match v {
                [a, b, c, d] => AttrValue::MsServiceQuality {
                    stream_type: u16::from_be_bytes([*a, *b]),
                    quality: u16::from_be_bytes([*c, *d]),
                },
                _ => AttrValue::Malformed(format!("{} bytes where 4 are required", v.len())),
            },
            0x8054 => text(v),
            _ => AttrValue::Bytes(v),
        };
        Attribute {
            raw,
            name: attr_name(raw.typ, variant),
            value,
        }
    }
}
