//! DNS answers, so that flows to an address get the name the client asked for. Only
//! what is needed: the question name and the A/AAAA records of a response (CNAME
//! chains end in them). Name compression is followed with a hop limit.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Reads a (possibly compressed) name at `at`; returns it and the offset after it.
fn name(msg: &[u8], mut at: usize) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut after = None;
    for _ in 0..64 {
        let len = usize::from(*msg.get(at)?);
        match len >> 6 {
            0 if len == 0 => return Some((out, after.unwrap_or(at + 1))),
            0 => {
                let label = msg.get(at + 1..at + 1 + len)?;
                if !out.is_empty() {
                    out.push('.');
                }
                for &b in label {
                    let c = char::from(b.to_ascii_lowercase());
                    out.push(if c.is_ascii_graphic() { c } else { '?' });
                }
                if out.len() > 255 {
                    return None;
                }
                at += 1 + len;
            }
            3 => {
                let ptr = ((len & 0x3F) << 8) | usize::from(*msg.get(at + 1)?);
                after.get_or_insert(at + 2);
                at = ptr;
            }
            _ => return None,
        }
    }
    None
}

/// The question name and the addresses a DNS response gives for it.
pub fn answers(msg: &[u8]) -> Option<(String, Vec<IpAddr>)> {
    if msg.len() < 12 || msg[2] & 0x80 == 0 {
        return None; // not a response
    }
    let qd = u16::from_be_bytes([msg[4], msg[5]]);
    let an = u16::from_be_bytes([msg[6], msg[7]]);
    if qd == 0 {
        return None;
    }
    let (qname, mut at) = name(msg, 12)?;
    at += 4;
    for _ in 1..qd {
        at = name(msg, at)?.1 + 4;
    }
    let mut addrs = Vec::new();
    for _ in 0..an.min(64) {
        let (_, after) = name(msg, at)?;
        let h = msg.get(after..after + 10)?;
        let typ = u16::from_be_bytes([h[0], h[1]]);
        let rdlen = usize::from(u16::from_be_bytes([h[8], h[9]]));
        let rdata = msg.get(after + 10..after + 10 + rdlen)?;
        match (typ, rdata.len()) {
            (1, 4) => addrs.push(IpAddr::V4(Ipv4Addr::new(
                rdata[0], rdata[1], rdata[2], rdata[3],
            ))),
            (28, 16) => {
                let mut b = [0u8; 16];
                b.copy_from_slice(rdata);
                addrs.push(IpAddr::V6(Ipv6Addr::from(b)));
            }
            _ => {}
        }
        at = after + 10 + rdlen;
    }
    Some((qname, addrs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_with_a_cname_and_compression() {
        // teams.microsoft.com CNAME x.y (compressed), then A 52.113.194.132.
        let mut m = vec![0x12, 0x34, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0];
        for l in ["teams", "microsoft", "com"] {
            m.push(l.len() as u8);
            m.extend_from_slice(l.as_bytes());
        }
        m.extend_from_slice(&[0, 0, 1, 0, 1]);
        // answer 1: pointer to the question, CNAME, rdata "x" + pointer to "microsoft.com"
        m.extend_from_slice(&[0xC0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 4, 1, b'x', 0xC0, 18]);
        // answer 2: pointer to the CNAME target at offset 45, A
        let target = m.len() - 4;
        m.extend_from_slice(&[
            0xC0,
            target as u8,
            0,
            1,
            0,
            1,
            0,
            0,
            0,
            60,
            0,
            4,
            52,
            113,
            194,
            132,
        ]);
        let (q, a) = answers(&m).unwrap();
        assert_eq!(q, "teams.microsoft.com");
        assert_eq!(a, vec![IpAddr::V4(Ipv4Addr::new(52, 113, 194, 132))]);
        for n in 0..m.len() {
            let _ = answers(&m[..n]);
        }
        // A pointer loop ends.
        let mut bad = m[..12].to_vec();
        bad.extend_from_slice(&[0xC0, 12]);
        assert!(answers(&bad).is_none());
    }
}
