//! One packet, dissected into a typed, serialisable tree: STUN / TURN / MS-TURN (with
//! every attribute decoded and the integrity and fingerprint checked), TURN ChannelData,
//! MS-TURN's 0xFF10 multiplexing and TCP frames, TLS records (pseudo-TLS), RTP and RTCP.
//! `edgepath decode` renders it as JSON (serde) and as text ([`std::fmt::Display`]); a
//! fuzz target drives both. The codec is chosen by the first bytes (RFC 7983 ranges).

mod text;

use serde::Serialize;

use crate::demux::{self, Kind};
use crate::stun::{AttrValue, Attribute, Check, Credentials, Message, Variant};
use crate::{ms, rtp, turn};

/// How deep framings may nest (a 0xFF10 frame around ChannelData around STUN is
/// already unusual).
const MAX_DEPTH: usize = 3;

/// Why bytes are not a packet edgepath decodes; the message names the byte offset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DissectError(String);

/// One layer of a packet; framings carry the layer inside as `inner`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Layer {
    /// A STUN, TURN or MS-TURN message.
    Stun(StunLayer),
    /// An MS-TURN TCP frame (after pseudo-TLS).
    MsTcpFrame(FrameLayer),
    /// TURN ChannelData.
    ChannelData(ChannelLayer),
    /// MS-TURN 0xFF10 multiplexing.
    MsMultiplexed(MultiplexLayer),
    /// An RTP header.
    Rtp(RtpLayer),
    /// An RTCP compound packet.
    Rtcp(RtcpLayer),
    /// A TLS record (MS-TURN's pseudo-TLS looks like one).
    Tls(TlsLayer),
    /// Bytes inside a framing that are no packet edgepath knows.
    Data(DataLayer),
    /// Bytes inside an MS-TURN TCP frame that could not be decoded, with why.
    Unknown(UnknownLayer),
}

/// A STUN message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StunLayer {
    /// `stun`, `ms-turn`, `classic-stun` (the dialect).
    pub protocol: Variant,
    /// `binding`, `allocate`, ... or the number (`0x00a`).
    pub method: String,
    /// `request`, `success`, `error`, `indication`.
    pub class: &'static str,
    /// The 12-byte transaction id (16 bytes in classic STUN), as hex.
    pub transaction_id: String,
    /// The length field: bytes of attributes.
    pub length: usize,
    /// Whether attributes are padded to 4 bytes (MS-TURN's old form is not).
    pub padded: bool,
    /// Every attribute, decoded.
    pub attributes: Vec<AttrDoc>,
    /// `ok`, `bad`, `unchecked`, `absent`.
    pub integrity: Check,
    /// `ok`, `bad`, `absent`.
    pub fingerprint: Check,
    /// Trailing bytes, unknown comprehension-required attributes.
    pub warnings: Vec<String>,
}

/// One attribute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttrDoc {
    /// The type number.
    #[serde(rename = "type")]
    pub typ: u16,
    /// Its name, or `0xNNNN`.
    pub name: String,
    /// Value bytes.
    pub length: usize,
    /// The decoded value, in fields named by what it is.
    #[serde(flatten)]
    pub value: AttrFields,
}

/// An attribute's decoded value; fields in alphabetical order, as text shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum AttrFields {
    /// A transport address.
    Address {
        /// `ip:port`.
        address: String,
    },
    /// Text (USERNAME, REALM, NONCE, SOFTWARE, ...).
    Text {
        /// The text.
        value: String,
    },
    /// A number.
    Number {
        /// The number.
        value: u64,
    },
    /// ERROR-CODE.
    Error {
        /// 300-699.
        code: u16,
        /// The reason phrase.
        reason: String,
    },
    /// CHANGE-REQUEST.
    ChangeRequest {
        /// Change IP.
        change_ip: bool,
        /// Change port.
        change_port: bool,
    },
    /// UNKNOWN-ATTRIBUTES.
    Types {
        /// The types.
        types: Vec<u16>,
    },
    /// REQUESTED-TRANSPORT.
    Protocol {
        /// The protocol number.
        protocol: u8,
    },
    /// CHANNEL-NUMBER.
    Channel {
        /// The channel.
        channel: u16,
    },
    /// RESPONSE-PORT.
    Port {
        /// The port.
        port: u16,
    },
    /// PASSWORD-ALGORITHM(S).
    Algorithms {
        /// Each algorithm.
        algorithms: Vec<Algorithm>,
    },
    /// MS-SEQUENCE-NUMBER.
    MsSequence {
        /// The 20-byte connection id, as hex.
        connection_id: String,
        /// The sequence number.
        sequence: u32,
    },
    /// MS-SERVICE-QUALITY.
    MsServiceQuality {
        /// 0 best effort, 1 reliable.
        service_quality: u16,
        /// 1 audio, 2 video, 3 supplemental video, 4 data.
        stream_type: u16,
    },
    /// A value of the wrong form.
    Malformed {
        /// The raw value, hex.
        hex: String,
        /// What is wrong.
        malformed: String,
    },
    /// Opaque bytes.
    Bytes {
        /// The value bytes, as hex.
        hex: String,
    },
    /// A flag: no value.
    Flag {},
}

/// One entry of PASSWORD-ALGORITHM(S).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Algorithm {
    /// 1 MD5, 2 SHA-256.
    pub algorithm: u16,
    /// `MD5`, `SHA-256` or `unknown`.
    pub name: &'static str,
    /// The algorithm's parameters, as hex (empty for MD5 and SHA-256).
    pub parameters: String,
}

/// An MS-TURN TCP frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FrameLayer {
    /// `ms-tcp-frame`.
    pub protocol: &'static str,
    /// `control` or `data`.
    pub frame: &'static str,
    /// Payload bytes.
    pub length: usize,
    /// The payload.
    pub inner: Box<Layer>,
}

/// TURN ChannelData.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChannelLayer {
    /// `channel-data`.
    pub protocol: &'static str,
    /// The channel number.
    pub channel: u16,
    /// Whether it is in TURN's channel range.
    pub channel_valid: bool,
    /// Payload bytes.
    pub length: usize,
    /// The payload.
    pub inner: Box<Layer>,
}

/// MS-TURN 0xFF10 multiplexing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MultiplexLayer {
    /// `ms-multiplexed`.
    pub protocol: &'static str,
    /// The 8-byte session id, hex.
    pub session_id: String,
    /// Payload bytes.
    pub length: usize,
    /// The payload.
    pub inner: Box<Layer>,
}

/// An RTP header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RtpLayer {
    /// `rtp`.
    pub protocol: &'static str,
    /// Payload type.
    pub payload_type: u8,
    /// Marker bit.
    pub marker: bool,
    /// Sequence number.
    pub sequence: u16,
    /// The RTP timestamp, in the payload's clock units.
    pub timestamp: u32,
    /// SSRC.
    pub ssrc: u32,
    /// Payload bytes.
    pub payload_length: usize,
}

/// An RTCP compound packet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RtcpLayer {
    /// `rtcp`.
    pub protocol: &'static str,
    /// Each packet.
    pub packets: Vec<RtcpDoc>,
}

/// One RTCP packet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum RtcpDoc {
    /// Sender report.
    SenderReport {
        /// `sender-report`.
        #[serde(rename = "type")]
        kind: &'static str,
        /// Sender SSRC.
        ssrc: u32,
        /// NTP timestamp.
        ntp: u64,
        /// RTP timestamp.
        rtp_timestamp: u32,
        /// Packets sent.
        packets: u32,
        /// Octets sent.
        octets: u32,
        /// Report blocks.
        reports: Vec<rtp::ReportBlock>,
    },
    /// Receiver report.
    ReceiverReport {
        /// `receiver-report`.
        #[serde(rename = "type")]
        kind: &'static str,
        /// Reporter SSRC.
        ssrc: u32,
        /// Report blocks.
        reports: Vec<rtp::ReportBlock>,
    },
    /// Any other packet type.
    Other {
        /// The packet type number.
        #[serde(rename = "type")]
        packet_type: u8,
        /// Bytes, header included.
        length: usize,
    },
}

/// A TLS record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TlsLayer {
    /// `tls`.
    pub protocol: &'static str,
    /// The record's content type (22 handshake).
    pub record_type: u8,
    /// `3.1` etc.
    pub version: String,
    /// Handshake message types, for handshake records.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handshake_types: Option<Vec<u8>>,
    /// Whether it is a relay's pseudo-TLS answer (ServerHello + ServerHelloDone).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pseudo_tls_server_answer: Option<bool>,
}

/// Opaque bytes inside a framing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DataLayer {
    /// `data`.
    pub protocol: &'static str,
    /// The bytes, as hex.
    pub hex: String,
}

/// Undecodable bytes inside an MS-TURN TCP frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnknownLayer {
    /// `unknown`.
    pub protocol: &'static str,
    /// Why they could not be decoded, with the byte offset.
    pub error: String,
    /// The bytes, as hex.
    pub hex: String,
}

impl Layer {
    /// Whether an integrity or fingerprint check failed, here or in a layer inside.
    pub fn check_failed(&self) -> bool {
        match self {
            Layer::Stun(s) => s.integrity == Check::Bad || s.fingerprint == Check::Bad,
            Layer::MsTcpFrame(f) => f.inner.check_failed(),
            Layer::ChannelData(c) => c.inner.check_failed(),
            Layer::MsMultiplexed(m) => m.inner.check_failed(),
            _ => false,
        }
    }
}

/// Lower-case hex.
pub fn hex(b: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

/// Dissects one packet; `creds` check MESSAGE-INTEGRITY where given.
pub fn dissect(bytes: &[u8], creds: Option<&Credentials<'_>>) -> Result<Layer, DissectError> {
    layer(bytes, creds, 0).map_err(DissectError)
}

fn layer(bytes: &[u8], creds: Option<&Credentials<'_>>, depth: usize) -> Result<Layer, String> {
    if depth > MAX_DEPTH {
        return Err("framings nested too deep".into());
    }
    let data = |b: &[u8]| {
        Box::new(Layer::Data(DataLayer {
            protocol: "data",
            hex: hex(b),
        }))
    };
    match demux::classify(bytes) {
        Kind::Stun => match Message::parse(bytes) {
            Ok(msg) => Ok(Layer::Stun(stun(&msg, bytes.len(), creds))),
            // 0x02/0x03 also start MS-TURN's TCP frames (after pseudo-TLS).
            Err(e) => match (bytes.first(), ms::TcpFrame::parse(bytes)) {
                (Some(2 | 3), Ok(Some((frame, used)))) if used == bytes.len() => {
                    let inner = layer(frame.payload, creds, depth + 1).unwrap_or_else(|e| {
                        Layer::Unknown(UnknownLayer {
                            protocol: "unknown",
                            error: e,
                            hex: hex(frame.payload),
                        })
                    });
                    Ok(Layer::MsTcpFrame(FrameLayer {
                        protocol: "ms-tcp-frame",
                        frame: match frame.kind {
                            ms::FrameKind::Control => "control",
                            ms::FrameKind::Data => "data",
                        },
                        length: frame.payload.len(),
                        inner: Box::new(inner),
                    }))
                }
                _ => Err(e.to_string()),
            },
        },
        Kind::ChannelData => {
            let cd = turn::ChannelData::parse(bytes, false).map_err(|e| e.to_string())?;
            Ok(Layer::ChannelData(ChannelLayer {
                protocol: "channel-data",
                channel: cd.channel(),
                channel_valid: cd.channel_is_valid(),
                length: cd.data().len(),
                inner: layer(cd.data(), creds, depth + 1)
                    .map_or_else(|_| data(cd.data()), Box::new),
            }))
        }
        Kind::MsMultiplexed => {
            let m = ms::Multiplexed::parse(bytes).map_err(|e| e.to_string())?;
            Ok(Layer::MsMultiplexed(MultiplexLayer {
                protocol: "ms-multiplexed",
                session_id: hex(m.session_id()),
                length: m.inner().len(),
                inner: layer(m.inner(), creds, depth + 1)
                    .map_or_else(|_| data(m.inner()), Box::new),
            }))
        }
        Kind::Rtp => {
            let h = rtp::RtpHeader::parse(bytes).map_err(|e| e.to_string())?;
            Ok(Layer::Rtp(RtpLayer {
                protocol: "rtp",
                payload_type: h.payload_type(),
                marker: h.marker(),
                sequence: h.sequence(),
                timestamp: h.timestamp(),
                ssrc: h.ssrc(),
                payload_length: h.payload().len(),
            }))
        }
        Kind::Rtcp => {
            let packets = rtp::parse_rtcp(bytes).map_err(|e| e.to_string())?;
            Ok(Layer::Rtcp(RtcpLayer {
                protocol: "rtcp",
                packets: packets.iter().map(rtcp).collect(),
            }))
        }
        Kind::Tls => tls(bytes),
        other => Err(format!(
            "byte 0: first byte 0x{:02X}{}",
            bytes.first().copied().unwrap_or(0),
            hint(other)
        )),
    }
}

fn tls(bytes: &[u8]) -> Result<Layer, String> {
    // The record header is 5 bytes; its length field must fit in what follows. Written
    // as a subtraction on a checked length, so no declared length can overflow it.
    let declared = match bytes.get(3..5) {
        Some(l) => usize::from(u16::from_be_bytes([l[0], l[1]])),
        None => {
            return Err(format!(
                "byte {}: a TLS record header is 5 bytes, {} given",
                bytes.len(),
                bytes.len()
            ))
        }
    };
    if declared > bytes.len() - 5 {
        return Err(format!(
            "byte 3: the TLS record's length ({declared}) runs past the end ({} bytes given)",
            bytes.len()
        ));
    }
    let mut t = TlsLayer {
        protocol: "tls",
        record_type: bytes[0],
        version: format!("{}.{}", bytes[1], bytes[2]),
        handshake_types: None,
        pseudo_tls_server_answer: None,
    };
    if bytes[0] == 0x16 {
        match ms::parse_pseudo_tls(bytes).map_err(|e| e.to_string())? {
            Some(p) => {
                t.pseudo_tls_server_answer = Some(p.is_server_answer());
                t.handshake_types = Some(p.handshake_types);
            }
            None => return Err("byte 3: the TLS record runs past the end".into()),
        }
    }
    Ok(Layer::Tls(t))
}

fn rtcp(p: &rtp::RtcpPacket) -> RtcpDoc {
    match p {
        rtp::RtcpPacket::SenderReport {
            ssrc,
            ntp,
            rtp_timestamp,
            packets,
            octets,
            reports,
        } => RtcpDoc::SenderReport {
            kind: "sender-report",
            ssrc: *ssrc,
            ntp: *ntp,
            rtp_timestamp: *rtp_timestamp,
            packets: *packets,
            octets: *octets,
            reports: reports.clone(),
        },
        rtp::RtcpPacket::ReceiverReport { ssrc, reports } => RtcpDoc::ReceiverReport {
            kind: "receiver-report",
            ssrc: *ssrc,
            reports: reports.clone(),
        },
        rtp::RtcpPacket::Other { packet_type, len } => RtcpDoc::Other {
            packet_type: *packet_type,
            length: *len,
        },
    }
}

fn stun(msg: &Message<'_>, input_len: usize, creds: Option<&Credentials<'_>>) -> StunLayer {
    let mut warnings = Vec::new();
    if input_len > msg.len() {
        warnings.push(format!(
            "{} bytes follow the message (its length field says {}); they were not decoded",
            input_len - msg.len(),
            msg.len() - 20
        ));
    }
    let unknown = msg.unknown_required();
    if !unknown.is_empty() {
        let list: Vec<String> = unknown.iter().map(|t| format!("0x{t:04X}")).collect();
        warnings.push(format!(
            "comprehension-required attributes unknown to edgepath: {} (a server would answer 420)",
            list.join(", ")
        ));
    }
    StunLayer {
        protocol: msg.variant(),
        method: msg
            .method_name()
            .map_or_else(|| format!("0x{:03x}", msg.method()), str::to_owned),
        class: msg.class().name(),
        transaction_id: hex(msg.transaction_id()),
        length: msg.len() - 20,
        padded: msg.padded(),
        attributes: msg.decoded().map(|a| attr(&a)).collect(),
        integrity: msg.check_integrity(creds),
        fingerprint: msg.check_fingerprint(),
        warnings,
    }
}

fn attr(a: &Attribute<'_>) -> AttrDoc {
    let value = match &a.value {
        AttrValue::Address(s) => AttrFields::Address {
            address: s.to_string(),
        },
        AttrValue::Text(t) => AttrFields::Text {
            value: (*t).to_owned(),
        },
        AttrValue::U32(v) | AttrValue::MsCookie(v) | AttrValue::Fingerprint(v) => {
            AttrFields::Number {
                value: u64::from(*v),
            }
        }
        AttrValue::U64(v) => AttrFields::Number { value: *v },
        AttrValue::Error { code, reason } => AttrFields::Error {
            code: *code,
            reason: (*reason).to_owned(),
        },
        AttrValue::ChangeRequest { ip, port } => AttrFields::ChangeRequest {
            change_ip: *ip,
            change_port: *port,
        },
        AttrValue::Types(t) => AttrFields::Types { types: t.clone() },
        AttrValue::Protocol(p) => AttrFields::Protocol { protocol: *p },
        AttrValue::Channel(c) => AttrFields::Channel { channel: *c },
        AttrValue::Port(p) => AttrFields::Port { port: *p },
        AttrValue::PasswordAlgorithms(list) => AttrFields::Algorithms {
            algorithms: list
                .iter()
                .map(|(alg, params)| Algorithm {
                    algorithm: *alg,
                    name: match alg {
                        1 => "MD5",
                        2 => "SHA-256",
                        _ => "unknown",
                    },
                    parameters: hex(params),
                })
                .collect(),
        },
        AttrValue::Flag => AttrFields::Flag {},
        AttrValue::Integrity(v) | AttrValue::Bytes(v) => AttrFields::Bytes { hex: hex(v) },
        AttrValue::MsSequence {
            connection_id,
            sequence,
        } => AttrFields::MsSequence {
            connection_id: hex(connection_id),
            sequence: *sequence,
        },
        AttrValue::MsServiceQuality {
            stream_type,
            quality,
        } => AttrFields::MsServiceQuality {
            service_quality: *quality,
            stream_type: *stream_type,
        },
        AttrValue::Malformed(why) => AttrFields::Malformed {
            hex: hex(a.raw.value),
            malformed: why.clone(),
        },
    };
    AttrDoc {
        typ: a.raw.typ,
        name: a
            .name
            .map_or_else(|| format!("0x{:04X}", a.raw.typ), str::to_owned),
        length: a.raw.value.len(),
        value,
    }
}

/// What the first byte suggests, for the error message.
fn hint(kind: Kind) -> &'static str {
    match kind {
        Kind::Zrtp => " looks like ZRTP, which edgepath does not decode",
        Kind::Dtls => " looks like DTLS, which edgepath does not decode",
        _ => " starts no packet edgepath knows (STUN, TURN ChannelData, MS-TURN, RTP, RTCP, TLS)",
    }
}

#[cfg(test)]
mod tests;
