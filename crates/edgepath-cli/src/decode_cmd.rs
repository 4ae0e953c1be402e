//! `edgepath decode`: one packet, from hex or a file, decoded and checked.

use anyhow::{anyhow, bail, Context, Result};
use edgepath_wire::stun::{AttrValue, Attribute, Check, Credentials, Message};
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
    let msg = Message::parse(&bytes)
        .map_err(|e| anyhow!("not a packet edgepath decodes: {e}{}", hint(&bytes)))?;
    let integrity = msg.check_integrity(creds.as_ref());
    let fingerprint = msg.check_fingerprint();
    let mut warnings = Vec::new();
    if bytes.len() > msg.len() {
        warnings.push(format!(
            "{} bytes follow the message (its length field says {}); they were not decoded",
            bytes.len() - msg.len(),
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
    let attributes: Vec<Value> = msg.decoded().map(|a| attr_json(&a)).collect();
    let outcome = if integrity == Check::Bad || fingerprint == Check::Bad {
        Outcome::Findings
    } else {
        Outcome::Clean
    };
    let doc = json!({
        "protocol": msg.variant().name(),
        "method": msg.method_name().map_or_else(|| format!("0x{:03x}", msg.method()), str::to_owned),
        "class": msg.class().name(),
        "transaction_id": hex(msg.transaction_id()),
        "length": msg.len() - 20,
        "padded": msg.padded(),
        "attributes": attributes,
        "integrity": integrity.name(),
        "fingerprint": fingerprint.name(),
        "warnings": warnings,
    });
    if args.output.json {
        emit_json(&doc)?;
    } else {
        emit(&render(&msg, &doc))?;
    }
    Ok(outcome)
}

/// What the first byte suggests, per RFC 7983's demultiplexing ranges.
fn hint(b: &[u8]) -> String {
    match b.first() {
        Some(0..=3) => String::new(),
        Some(0xFF) if b.get(1) == Some(&0x10) => {
            " (0xFF10 looks like MS-TURN multiplexed framing; edgepath cannot decode that yet)"
                .into()
        }
        Some(20..=63) => {
            " (the first byte looks like DTLS or a TLS record; edgepath cannot decode that yet)"
                .into()
        }
        Some(64..=79) => {
            " (the first byte looks like TURN ChannelData; edgepath cannot decode that yet)".into()
        }
        Some(128..=191) => {
            " (the first byte looks like RTP/RTCP; edgepath cannot decode that yet)".into()
        }
        _ => String::new(),
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

fn render(msg: &Message<'_>, doc: &Value) -> String {
    let mut out = format!(
        "{} {} {} (type 0x{:04x}), transaction {}, {} bytes of attributes{}\n",
        doc["protocol"].as_str().unwrap_or("?"),
        doc["method"].as_str().unwrap_or("?"),
        doc["class"].as_str().unwrap_or("?"),
        msg.message_type(),
        doc["transaction_id"].as_str().unwrap_or("?"),
        msg.len() - 20,
        if msg.padded() {
            ""
        } else {
            ", unpadded (MS-TURN)"
        }
    );
    for a in doc["attributes"].as_array().into_iter().flatten() {
        let mut fields = Vec::new();
        if let Some(o) = a.as_object() {
            for (k, v) in o {
                if !matches!(k.as_str(), "type" | "name" | "length") {
                    fields.push(format!(
                        "{k}={}",
                        v.as_str().map_or_else(|| v.to_string(), str::to_owned)
                    ));
                }
            }
        }
        out.push_str(&format!(
            "  0x{:04x} {:<28} {:>3}  {}\n",
            a["type"].as_u64().unwrap_or(0),
            a["name"].as_str().unwrap_or("?"),
            a["length"].as_u64().unwrap_or(0),
            fields.join(" ")
        ));
    }
    out.push_str(&format!(
        "integrity: {}, fingerprint: {}\n",
        doc["integrity"].as_str().unwrap_or("?"),
        doc["fingerprint"].as_str().unwrap_or("?")
    ));
    for w in doc["warnings"].as_array().into_iter().flatten() {
        out.push_str(&format!("warning: {}\n", w.as_str().unwrap_or("")));
    }
    out
}
