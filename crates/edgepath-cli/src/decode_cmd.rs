//! `edgepath decode`: one packet, from hex or a file, decoded and checked.

use anyhow::{anyhow, bail, Context, Result};
use edgepath_wire::demux::{self, Kind};
use edgepath_wire::stun::{AttrValue, Attribute, Credentials, Message};
use edgepath_wire::{ms, rtp, turn};
use serde_json::{json, Map, Value};

use crate::args::DecodeArgs;
use crate::output::{emit, emit_json, Outcome};

/// Largest packet accepted: a STUN message is at most 64 KiB + header.
const MAX_PACKET: u64 = 70 * 1024;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Runs the command.
pub fn run(args: &DecodeArgs) -> Result<Outcome> {
    let bytes = match (&args.hex, &args.file) {
        (Some(h), None) => {
            edgepath_wire::parse_hex(h).map_err(|e| anyhow!("the hex input: {e}"))?
        }
        (None, Some(f)) => {
            let meta =
                std::fs::metadata(f).with_context(|| format!("cannot open {}", f.display()))?;
            if meta.len() > MAX_PACKET {
                bail!(
                    "{}: {} bytes is larger than any packet edgepath decodes",
                    f.display(),
                    meta.len()
                );
            }
            std::fs::read(f).with_context(|| format!("cannot read {}", f.display()))?
        }
        // clap enforces exactly one of them.
        _ => bail!("give the packet as HEX or with --file"),
    };
    let creds = match (&args.username, &args.realm, &args.password) {
        (None, None, Some(p)) => Some(Credentials::ShortTerm { password: p }),
        (Some(u), Some(r), Some(p)) => Some(Credentials::LongTerm {
            username: u,
            realm: r,
            password: p,
        }),
        (None, None, None) => None,
        _ => bail!("for long-term credentials give --username, --realm and --password together; for short-term only --password"),
    };
    let doc = decode(&bytes, creds.as_ref(), 0)
        .map_err(|e| anyhow!("not a packet edgepath decodes: {e}"))?;
    let bad = |v: &Value| v["integrity"] == "bad" || v["fingerprint"] == "bad";
    let outcome = if bad(&doc) || bad(&doc["inner"]) {
        Outcome::Findings
    } else {
        Outcome::Clean
    };
    if args.output.json {
        emit_json(&doc)?;
    } else {
        emit(&render(&doc, 0))?;
    }
    Ok(outcome)
}

/// How deep framings may nest (a 0xFF10 frame around ChannelData around
/// STUN is already unusual).
const MAX_DEPTH: usize = 3;

/// Decodes one packet into the JSON document, choosing the codec by the
/// first bytes (RFC 7983 ranges, 0xFF10, TLS records, MS-TURN TCP frames).
fn decode(bytes: &[u8], creds: Option<&Credentials<'_>>, depth: usize) -> Result<Value, String> {
    if depth > MAX_DEPTH {
        return Err("framings nested too deep".into());
    }
    match demux::classify(bytes) {
        Kind::Stun => {
            match Message::parse(bytes) {
                Ok(msg) => Ok(stun_json(&msg, bytes.len(), creds)),
                // 0x02/0x03 also start MS-TURN's TCP frames (after pseudo-TLS).
                Err(e) => match (bytes[0], ms::TcpFrame::parse(bytes)) {
                    (2 | 3, Ok(Some((frame, used)))) if used == bytes.len() => {
                        let mut v = json!({
                            "protocol": "ms-tcp-frame",
                            "frame": match frame.kind { ms::FrameKind::Control => "control", ms::FrameKind::Data => "data" },
                            "length": frame.payload.len(),
                        });
                        v["inner"] = decode(frame.payload, creds, depth + 1).unwrap_or_else(|e| json!({"protocol": "unknown", "error": e, "hex": hex(frame.payload)}));
                        Ok(v)
                    }
                    _ => Err(e.to_string()),
                },
            }
        }
        Kind::ChannelData => {
            let cd = turn::ChannelData::parse(bytes, false).map_err(|e| e.to_string())?;
            let mut v = json!({
                "protocol": "channel-data",
                "channel": cd.channel(),
                "channel_valid": cd.channel_is_valid(),
                "length": cd.data().len(),
            });
            v["inner"] = decode(cd.data(), creds, depth + 1)
                .unwrap_or_else(|_| json!({"protocol": "data", "hex": hex(cd.data())}));
            Ok(v)
        }
        Kind::MsMultiplexed => {
            let m = ms::Multiplexed::parse(bytes).map_err(|e| e.to_string())?;
            let mut v = json!({
                "protocol": "ms-multiplexed",
                "session_id": hex(m.session_id()),
                "length": m.inner().len(),
            });
            v["inner"] = decode(m.inner(), creds, depth + 1)
                .unwrap_or_else(|_| json!({"protocol": "data", "hex": hex(m.inner())}));
            Ok(v)
        }
        Kind::Rtp => {
            let h = rtp::RtpHeader::parse(bytes).map_err(|e| e.to_string())?;
            Ok(json!({
                "protocol": "rtp",
                "payload_type": h.payload_type(),
                "marker": h.marker(),
                "sequence": h.sequence(),
                "timestamp": h.timestamp(),
                "ssrc": h.ssrc(),
                "payload_length": h.payload().len(),
            }))
        }
        Kind::Rtcp => {
            let packets = rtp::parse_rtcp(bytes).map_err(|e| e.to_string())?;
            Ok(
                json!({"protocol": "rtcp", "packets": packets.iter().map(rtcp_json).collect::<Vec<_>>()}),
            )
        }
        Kind::Tls => {
            let declared = bytes.get(3..5).map_or(usize::MAX, |l| {
                usize::from(u16::from_be_bytes([l[0], l[1]]))
            });
            if 5 + declared > bytes.len() {
                return Err(format!(
                    "byte 3: the TLS record's length runs past the end ({} bytes given)",
                    bytes.len()
                ));
            }
            let mut v = json!({
                "protocol": "tls",
                "record_type": bytes[0],
                "version": format!("{}.{}", bytes[1], bytes.get(2).copied().unwrap_or(0)),
            });
            if bytes[0] == 0x16 {
                match ms::parse_pseudo_tls(bytes).map_err(|e| e.to_string())? {
                    Some(p) => {
                        v["handshake_types"] = json!(p.handshake_types);
                        v["pseudo_tls_server_answer"] = json!(p.is_server_answer());
                    }
                    None => return Err("byte 3: the TLS record runs past the end".into()),
                }
            }
            Ok(v)
        }
        other => Err(format!(
            "byte 0: first byte 0x{:02X}{}",
            bytes.first().copied().unwrap_or(0),
            hint(other)
        )),
    }
}

fn rtcp_json(p: &rtp::RtcpPacket) -> Value {
    let blocks = |r: &[rtp::ReportBlock]| -> Vec<Value> {
        r.iter()
            .map(|b| {
                json!({
                    "ssrc": b.ssrc, "fraction_lost": b.fraction_lost, "cumulative_lost": b.cumulative_lost,
                    "highest_sequence": b.highest_sequence, "jitter": b.jitter,
                    "last_sr": b.last_sr, "delay_since_last_sr": b.delay_since_last_sr,
                })
            })
            .collect()
    };
    match p {
        rtp::RtcpPacket::SenderReport {
            ssrc,
            ntp,
            rtp_timestamp,
            packets,
            octets,
            reports,
        } => json!({
            "type": "sender-report", "ssrc": ssrc, "ntp": ntp, "rtp_timestamp": rtp_timestamp,
            "packets": packets, "octets": octets, "reports": blocks(reports),
        }),
        rtp::RtcpPacket::ReceiverReport { ssrc, reports } => json!({
            "type": "receiver-report", "ssrc": ssrc, "reports": blocks(reports),
        }),
        rtp::RtcpPacket::Other { packet_type, len } => json!({"type": packet_type, "length": len}),
    }
}

fn stun_json(msg: &Message<'_>, input_len: usize, creds: Option<&Credentials<'_>>) -> Value {
    let integrity = msg.check_integrity(creds);
    let fingerprint = msg.check_fingerprint();
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
    json!({
        "protocol": msg.variant().name(),
        "method": msg.method_name().map_or_else(|| format!("0x{:03x}", msg.method()), str::to_owned),
        "class": msg.class().name(),
        "transaction_id": hex(msg.transaction_id()),
        "length": msg.len() - 20,
        "padded": msg.padded(),
        "attributes": msg.decoded().map(|a| attr_json(&a)).collect::<Vec<_>>(),
        "integrity": integrity.name(),
        "fingerprint": fingerprint.name(),
        "warnings": warnings,
    })
}

/// What the first byte suggests, for the error message.
fn hint(kind: Kind) -> &'static str {
    match kind {
        Kind::Zrtp => " looks like ZRTP, which edgepath does not decode",
        Kind::Dtls => " looks like DTLS, which edgepath does not decode",
        _ => " starts no packet edgepath knows (STUN, TURN ChannelData, MS-TURN, RTP, RTCP, TLS)",
    }
}

fn attr_json(a: &Attribute<'_>) -> Value {
    let mut o = Map::new();
    o.insert("type".into(), json!(a.raw.typ));
    o.insert(
        "name".into(),
        json!(a
            .name
            .map_or_else(|| format!("0x{:04X}", a.raw.typ), str::to_owned)),
    );
    o.insert("length".into(), json!(a.raw.value.len()));
    let mut put = |k: &str, v: Value| {
        o.insert(k.into(), v);
    };
    match &a.value {
        AttrValue::Address(s) => put("address", json!(s.to_string())),
        AttrValue::Text(t) => put("value", json!(t)),
        AttrValue::U32(v) | AttrValue::MsCookie(v) | AttrValue::Fingerprint(v) => {
            put("value", json!(v))
        }
        AttrValue::U64(v) => put("value", json!(v)),
        AttrValue::Error { code, reason } => {
            put("code", json!(code));
            put("reason", json!(reason));
        }
        AttrValue::ChangeRequest { ip, port } => {
            put("change_ip", json!(ip));
            put("change_port", json!(port));
        }
        AttrValue::Types(t) => put("types", json!(t)),
        AttrValue::Protocol(p) => put("protocol", json!(p)),
        AttrValue::Channel(c) => put("channel", json!(c)),
        AttrValue::Port(p) => put("port", json!(p)),
        AttrValue::PasswordAlgorithms(list) => put(
            "algorithms",
            json!(list
                .iter()
                .map(|(alg, params)| json!({
                    "algorithm": alg,
                    "name": match alg { 1 => "MD5", 2 => "SHA-256", _ => "unknown" },
                    "parameters": hex(params),
                }))
                .collect::<Vec<_>>()),
        ),
        AttrValue::Flag => {}
        AttrValue::Integrity(v) | AttrValue::Bytes(v) => put("hex", json!(hex(v))),
        AttrValue::MsSequence {
            connection_id,
            sequence,
        } => {
            put("connection_id", json!(hex(connection_id)));
            put("sequence", json!(sequence));
        }
        AttrValue::MsServiceQuality {
            stream_type,
            quality,
        } => {
            put("stream_type", json!(stream_type));
            put("service_quality", json!(quality));
        }
        AttrValue::Malformed(why) => {
            put("malformed", json!(why));
            put("hex", json!(hex(a.raw.value)));
        }
    }
    Value::Object(o)
}

fn render(doc: &Value, indent: usize) -> String {
    let pad = "  ".repeat(indent);
    let mut out = String::new();
    let scalar = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_owned);
    if doc.get("attributes").is_some() {
        out.push_str(&format!(
            "{pad}{} {} {}, transaction {}, {} bytes of attributes{}\n",
            scalar(&doc["protocol"]),
            scalar(&doc["method"]),
            scalar(&doc["class"]),
            scalar(&doc["transaction_id"]),
            scalar(&doc["length"]),
            if doc["padded"] == false {
                ", unpadded (MS-TURN)"
            } else {
                ""
            }
        ));
        for a in doc["attributes"].as_array().into_iter().flatten() {
            let fields: Vec<String> = a
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(k, _)| !matches!(k.as_str(), "type" | "name" | "length"))
                .map(|(k, v)| format!("{k}={}", scalar(v)))
                .collect();
            out.push_str(&format!(
                "{pad}  0x{:04x} {:<28} {:>3}  {}\n",
                a["type"].as_u64().unwrap_or(0),
                scalar(&a["name"]),
                scalar(&a["length"]),
                fields.join(" ")
            ));
        }
        out.push_str(&format!(
            "{pad}integrity: {}, fingerprint: {}\n",
            scalar(&doc["integrity"]),
            scalar(&doc["fingerprint"])
        ));
        for w in doc["warnings"].as_array().into_iter().flatten() {
            out.push_str(&format!("{pad}warning: {}\n", scalar(w)));
        }
        return out;
    }
    let fields: Vec<String> = doc
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| !matches!(k.as_str(), "protocol" | "inner"))
        .map(|(k, v)| format!("{k}={}", scalar(v)))
        .collect();
    out.push_str(&format!(
        "{pad}{} {}\n",
        scalar(&doc["protocol"]),
        fields.join(" ")
    ));
    if let Some(inner) = doc.get("inner") {
        out.push_str(&render(inner, indent + 1));
    }
    out
}
