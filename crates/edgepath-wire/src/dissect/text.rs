//! The dissection as text for people: one line per layer (framings indented around what
//! they carry), and for STUN one line per attribute with its decoded fields.

use std::fmt::{self, Display, Formatter, Write};

use super::{AttrDoc, AttrFields, Layer, RtcpDoc, StunLayer};

/// `[1,2,3]`.
fn list<T: Display>(items: &[T]) -> String {
    let parts: Vec<String> = items.iter().map(ToString::to_string).collect();
    format!("[{}]", parts.join(","))
}

impl AttrFields {
    /// `key=value` pairs, in the order the JSON has them.
    pub fn text(&self) -> String {
        match self {
            AttrFields::Address { address } => format!("address={address}"),
            AttrFields::Text { value } => format!("value={value}"),
            AttrFields::Number { value } => format!("value={value}"),
            AttrFields::Error { code, reason } => format!("code={code} reason={reason}"),
            AttrFields::ChangeRequest {
                change_ip,
                change_port,
            } => format!("change_ip={change_ip} change_port={change_port}"),
            AttrFields::Types { types } => format!("types={}", list(types)),
            AttrFields::Protocol { protocol } => format!("protocol={protocol}"),
            AttrFields::Channel { channel } => format!("channel={channel}"),
            AttrFields::Port { port } => format!("port={port}"),
            AttrFields::Algorithms { algorithms } => {
                let names: Vec<String> = algorithms
                    .iter()
                    .map(|a| {
                        if a.parameters.is_empty() {
                            a.name.to_owned()
                        } else {
                            format!("{}({})", a.name, a.parameters)
                        }
                    })
                    .collect();
                format!("algorithms={}", names.join(","))
            }
            AttrFields::MsSequence {
                connection_id,
                sequence,
            } => format!("connection_id={connection_id} sequence={sequence}"),
            AttrFields::MsServiceQuality {
                service_quality,
                stream_type,
            } => format!("service_quality={service_quality} stream_type={stream_type}"),
            AttrFields::Malformed { hex, malformed } => format!("hex={hex} malformed={malformed}"),
            AttrFields::Bytes { hex } => format!("hex={hex}"),
            AttrFields::Flag {} => String::new(),
        }
    }
}

fn stun(out: &mut String, pad: &str, s: &StunLayer) {
    let _ = writeln!(
        out,
        "{pad}{} {} {}, transaction {}, {} bytes of attributes{}",
        s.protocol.name(),
        s.method,
        s.class,
        s.transaction_id,
        s.length,
        if s.padded { "" } else { ", unpadded (MS-TURN)" }
    );
    for AttrDoc {
        typ,
        name,
        length,
        value,
    } in &s.attributes
    {
        let _ = writeln!(
            out,
            "{pad}  0x{typ:04x} {name:<28} {length:>3}  {}",
            value.text()
        );
    }
    let _ = writeln!(
        out,
        "{pad}integrity: {}, fingerprint: {}",
        s.integrity.name(),
        s.fingerprint.name()
    );
    for w in &s.warnings {
        let _ = writeln!(out, "{pad}warning: {w}");
    }
}

fn rtcp_line(p: &RtcpDoc) -> String {
    match p {
        RtcpDoc::SenderReport {
            ssrc,
            packets,
            octets,
            reports,
            ..
        } => format!(
            "sender-report ssrc={ssrc} packets={packets} octets={octets} report_blocks={}",
            reports.len()
        ),
        RtcpDoc::ReceiverReport { ssrc, reports, .. } => {
            format!(
                "receiver-report ssrc={ssrc} report_blocks={}",
                reports.len()
            )
        }
        RtcpDoc::Other {
            packet_type,
            length,
        } => format!("type={packet_type} length={length}"),
    }
}

fn layer(out: &mut String, l: &Layer, indent: usize) {
    let pad = "  ".repeat(indent);
    let inner = match l {
        Layer::Stun(s) => {
            stun(out, &pad, s);
            None
        }
        Layer::MsTcpFrame(f) => {
            let _ = writeln!(
                out,
                "{pad}{} frame={} length={}",
                f.protocol, f.frame, f.length
            );
            Some(&f.inner)
        }
        Layer::ChannelData(c) => {
            let _ = writeln!(
                out,
                "{pad}{} channel={} channel_valid={} length={}",
                c.protocol, c.channel, c.channel_valid, c.length
            );
            Some(&c.inner)
        }
        Layer::MsMultiplexed(m) => {
            let _ = writeln!(
                out,
                "{pad}{} length={} session_id={}",
                m.protocol, m.length, m.session_id
            );
            Some(&m.inner)
        }
        Layer::Rtp(r) => {
            let _ = writeln!(
                out,
                "{pad}{} marker={} payload_length={} payload_type={} sequence={} ssrc={} timestamp={}",
                r.protocol, r.marker, r.payload_length, r.payload_type, r.sequence, r.ssrc, r.timestamp
            );
            None
        }
        Layer::Rtcp(r) => {
            let _ = writeln!(out, "{pad}{} packets={}", r.protocol, r.packets.len());
            for p in &r.packets {
                let _ = writeln!(out, "{pad}  {}", rtcp_line(p));
            }
            None
        }
        Layer::Tls(t) => {
            let mut line = format!("{pad}{}", t.protocol);
            if let Some(h) = &t.handshake_types {
                let _ = write!(line, " handshake_types={}", list(h));
            }
            if let Some(a) = t.pseudo_tls_server_answer {
                let _ = write!(line, " pseudo_tls_server_answer={a}");
            }
            let _ = writeln!(
                out,
                "{line} record_type={} version={}",
                t.record_type, t.version
            );
            None
        }
        Layer::Data(d) => {
            let _ = writeln!(out, "{pad}{} hex={}", d.protocol, d.hex);
            None
        }
        Layer::Unknown(u) => {
            let _ = writeln!(out, "{pad}{} error={} hex={}", u.protocol, u.error, u.hex);
            None
        }
    };
    if let Some(i) = inner {
        layer(out, i, indent + 1);
    }
}

impl Display for Layer {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        layer(&mut out, self, 0);
        f.write_str(&out)
    }
}
