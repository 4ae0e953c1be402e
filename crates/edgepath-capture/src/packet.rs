//! Link, network and transport headers: Ethernet (with VLAN tags), Linux cooked
//! capture (SLL and SLL2), raw IP, BSD loopback; IPv4 (first fragments only) and IPv6
//! (extension headers skipped); TCP and UDP. Zero-copy; every length is checked before
//! it is used, so no input can panic.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::reader::LinkType;

/// Transport protocol numbers edgepath follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transport {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Transport {
    /// `tcp` or `udp`.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
        }
    }
}

/// TCP header fields the analysis uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpInfo {
    /// Sequence number.
    pub seq: u32,
    /// SYN set.
    pub syn: bool,
    /// ACK set.
    pub ack: bool,
    /// FIN or RST set.
    pub fin_or_rst: bool,
}

/// A decoded TCP or UDP packet.
#[derive(Debug, Clone, Copy)]
pub struct Segment<'a> {
    /// Source address.
    pub src: IpAddr,
    /// Source port.
    pub sport: u16,
    /// Destination address.
    pub dst: IpAddr,
    /// Destination port.
    pub dport: u16,
    /// TCP or UDP.
    pub transport: Transport,
    /// TCP header fields.
    pub tcp: Option<TcpInfo>,
    /// The transport payload (as captured: may be cut by the snap length).
    pub payload: &'a [u8],
    /// The IP packet's length on the wire (header included).
    pub ip_len: usize,
    /// The DSCP mark (the IPv4 TOS or IPv6 traffic class without its two ECN bits).
    pub dscp: u8,
}

/// Why a packet is not followed (counted, never an error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// Not IPv4 or IPv6 (ARP, LLDP, ...), or a link type edgepath does not read.
    NotIp,
    /// Not TCP or UDP (ICMP, ...).
    OtherProtocol,
    /// A non-first IP fragment (its ports are in the first).
    Fragment,
    /// Headers cut short or inconsistent.
    Malformed,
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// Decodes a packet of link type `link` down to its TCP or UDP payload.
pub fn decode(link: LinkType, data: &[u8]) -> Result<Segment<'_>, Skip> {
    let (ethertype, ip) = match link {
        // Ethernet, with up to two VLAN tags (802.1Q / 802.1ad).
        1 => {
            let mut at = 12;
            let mut et = be16(data, at).ok_or(Skip::Malformed)?;
            let mut tags = 0;
            while matches!(et, 0x8100 | 0x88A8 | 0x9100) && tags < 3 {
                at += 4;
                et = be16(data, at).ok_or(Skip::Malformed)?;
                tags += 1;
            }
            (et, data.get(at + 2..).ok_or(Skip::Malformed)?)
        }
        // Linux cooked capture v1: protocol at 14.
        113 => (
            be16(data, 14).ok_or(Skip::Malformed)?,
            data.get(16..).ok_or(Skip::Malformed)?,
        ),
        // Linux cooked capture v2: protocol at 0.
        276 => (
            be16(data, 0).ok_or(Skip::Malformed)?,
            data.get(20..).ok_or(Skip::Malformed)?,
        ),
        // Raw IP (101, and 12 / 14 as some systems write it), IPv4, IPv6.
        101 | 12 | 14 | 228 | 229 => match data.first().map(|b| b >> 4) {
            Some(4) => (0x0800, data),
            Some(6) => (0x86DD, data),
            _ => return Err(Skip::NotIp),
        },
        // BSD loopback: a 4-byte address family in the writer's byte order.
        0 | 108 => {
            let fam = data.get(..4).ok_or(Skip::Malformed)?;
            let le = u32::from_le_bytes([fam[0], fam[1], fam[2], fam[3]]);
            let be = u32::from_be_bytes([fam[0], fam[1], fam[2], fam[3]]);
            let et = if le == 2 || be == 2 {
                0x0800
            } else if [24, 28, 30].contains(&le) || [24, 28, 30].contains(&be) {
                0x86DD
            } else {
                return Err(Skip::NotIp);
            };
            (et, &data[4..])
        }
        _ => return Err(Skip::NotIp),
    };
    match ethertype {
        0x0800 => ipv4(ip),
        0x86DD => ipv6(ip),
        _ => Err(Skip::NotIp),
    }
}

fn ipv4(b: &[u8]) -> Result<Segment<'_>, Skip> {
    if b.len() < 20 || b[0] >> 4 != 4 {
        return Err(Skip::Malformed);
    }
    let ihl = usize::from(b[0] & 0x0F) * 4;
    let total = usize::from(u16::from_be_bytes([b[2], b[3]]));
    if ihl < 20 || total < ihl {
        return Err(Skip::Malformed);
    }
    let frag = u16::from_be_bytes([b[6], b[7]]);
    if frag & 0x1FFF != 0 {
        return Err(Skip::Fragment);
    }
    // Ethernet padding after the IP packet is not payload; a snap length may cut it.
    let end = total.min(b.len());
    let body = b.get(ihl..end).ok_or(Skip::Malformed)?;
    let src = IpAddr::V4(Ipv4Addr::new(b[12], b[13], b[14], b[15]));
    let dst = IpAddr::V4(Ipv4Addr::new(b[16], b[17], b[18], b[19]));
    transport(b[9], src, dst, body, total, b[1] >> 2)
}

fn ipv6(b: &[u8]) -> Result<Segment<'_>, Skip> {
    if b.len() < 40 || b[0] >> 4 != 6 {
        return Err(Skip::Malformed);
    }
    let payload_len = usize::from(u16::from_be_bytes([b[4], b[5]]));
    let mut next = b[6];
    let mut src = [0u8; 16];
    src.copy_from_slice(&b[8..24]);
    let mut dst = [0u8; 16];
    dst.copy_from_slice(&b[24..40]);
    let end = (40 + payload_len).min(b.len());
    let mut at = 40;
    // Extension headers: hop-by-hop, routing, fragment, destination options.
    for _ in 0..8 {
        match next {
            0 | 43 | 60 => {
                let h = b.get(at..at + 2).ok_or(Skip::Malformed)?;
                next = h[0];
                at += (usize::from(h[1]) + 1) * 8;
            }
            44 => {
                let h = b.get(at..at + 8).ok_or(Skip::Malformed)?;
                if u16::from_be_bytes([h[2], h[3]]) & 0xFFF8 != 0 {
                    return Err(Skip::Fragment);
                }
                next = h[0];
                at += 8;
            }
            _ => break,
        }
    }
    let body = b.get(at..end.max(at)).ok_or(Skip::Malformed)?;
    transport(
        next,
        IpAddr::V6(Ipv6Addr::from(src)),
        IpAddr::V6(Ipv6Addr::from(dst)),
        body,
        40 + payload_len,
        // Traffic class: the low nibble of byte 0 and the high one of byte 1.
        ((b[0] & 0x0F) << 2) | (b[1] >> 6),
    )
}

fn transport(
    proto: u8,
    src: IpAddr,
    dst: IpAddr,
    b: &[u8],
    ip_len: usize,
    dscp: u8,
) -> Result<Segment<'_>, Skip> {
    match proto {
        6 => {
            if b.len() < 20 {
                return Err(Skip::Malformed);
            }
            let off = usize::from(b[12] >> 4) * 4;
            if off < 20 || off > b.len() {
                return Err(Skip::Malformed);
            }
            let flags = b[13];
            Ok(Segment {
                src,
                sport: u16::from_be_bytes([b[0], b[1]]),
                dst,
                dport: u16::from_be_bytes([b[2], b[3]]),
                transport: Transport::Tcp,
                tcp: Some(TcpInfo {
                    seq: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
                    syn: flags & 0x02 != 0,
                    ack: flags & 0x10 != 0,
                    fin_or_rst: flags & 0x05 != 0,
                }),
                payload: &b[off..],
                ip_len,
                dscp,
            })
        }
        17 => {
            if b.len() < 8 {
                return Err(Skip::Malformed);
            }
            let len = usize::from(u16::from_be_bytes([b[4], b[5]]));
            let end = if (8..=b.len()).contains(&len) {
                len
            } else {
                b.len()
            };
            Ok(Segment {
                src,
                sport: u16::from_be_bytes([b[0], b[1]]),
                dst,
                dport: u16::from_be_bytes([b[2], b[3]]),
                transport: Transport::Udp,
                tcp: None,
                payload: &b[8..end],
                ip_len,
                dscp,
            })
        }
        _ => Err(Skip::OtherProtocol),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A raw IPv4 UDP packet with TOS `tos`.
    fn v4(tos: u8) -> Vec<u8> {
        let mut p = vec![
            0x45, tos, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 192, 168, 1, 10, 203, 0, 113, 10,
        ];
        p.extend_from_slice(&[0xC3, 0x50, 0x0D, 0x96, 0, 8, 0, 0]);
        p
    }

    /// A raw IPv6 UDP packet with traffic class `tc`.
    fn v6(tc: u8) -> Vec<u8> {
        let mut p = vec![0x60 | (tc >> 4), tc << 4, 0, 0, 0, 8, 17, 64];
        p.extend_from_slice(&[
            0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ]);
        p.extend_from_slice(&[
            0x20, 0x01, 0x0d, 0xb8, 0, 0x01, 0x13, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ]);
        p.extend_from_slice(&[0xC3, 0x50, 0x0D, 0x96, 0, 8, 0, 0]);
        p
    }

    #[test]
    fn dscp_is_read_from_both_families_without_the_ecn_bits() {
        // (TOS / traffic class, DSCP): EF with ECT(0), AF41 with CE, AF21, none.
        for (byte, dscp) in [(0xBA, 46), (0x8B, 34), (0x48, 18), (0x03, 0), (0x00, 0)] {
            let (p4, p6) = (v4(byte), v6(byte));
            let a = decode(101, &p4).unwrap();
            assert_eq!((a.dscp, a.sport, a.dport), (dscp, 50000, 3478));
            let b = decode(101, &p6).unwrap();
            assert_eq!((b.dscp, b.sport, b.dport), (dscp, 50000, 3478), "{byte:#x}");
        }
    }
}
