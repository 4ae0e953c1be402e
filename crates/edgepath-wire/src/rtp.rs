//! RTP and RTCP header views (RFC 3550), checked once, then panic-free.

use crate::DecodeError;

/// A checked view of an RTP packet's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader<'a> {
    buf: &'a [u8],
    payload_start: usize,
    payload_end: usize,
}

impl<'a> RtpHeader<'a> {
    /// Checks `buf` as an RTP packet: version 2, CSRCs, extension and
    /// padding all inside the packet.
    pub fn parse(buf: &'a [u8]) -> Result<Self, DecodeError> {
        if buf.len() < 12 {
            return Err(DecodeError::new(
                0,
                format!("{} bytes is too short for an RTP header (12)", buf.len()),
            ));
        }
        if buf[0] >> 6 != 2 {
            return Err(DecodeError::new(
                0,
                format!("RTP version {} (must be 2)", buf[0] >> 6),
            ));
        }
        let csrc = usize::from(buf[0] & 0x0F);
        let mut at = 12 + 4 * csrc;
        if at > buf.len() {
            return Err(DecodeError::new(
                0,
                format!("{csrc} CSRCs run past the end"),
            ));
        }
        if buf[0] & 0x10 != 0 {
            if at + 4 > buf.len() {
                return Err(DecodeError::new(at, "header extension cut short"));
            }
            let words = usize::from(u16::from_be_bytes([buf[at + 2], buf[at + 3]]));
            at += 4 + 4 * words;
            if at > buf.len() {
                return Err(DecodeError::new(
                    at - 4 * words - 2,
                    format!("header extension of {words} words runs past the end"),
                ));
            }
        }
        let mut end = buf.len();
        if buf[0] & 0x20 != 0 {
            let pad = usize::from(buf[buf.len() - 1]);
            if pad == 0 || at + pad > buf.len() {
                return Err(DecodeError::new(
                    buf.len() - 1,
                    format!("padding count {pad} is impossible"),
                ));
            }
            end -= pad;
        }
        Ok(RtpHeader {
            buf,
            payload_start: at,
            payload_end: end,
        })
    }

    /// The marker bit.
    pub fn marker(&self) -> bool {
        self.buf[1] & 0x80 != 0
    }

    /// The payload type, 0-127.
    pub fn payload_type(&self) -> u8 {
        self.buf[1] & 0x7F
    }

    /// The sequence number.
    pub fn sequence(&self) -> u16 {
        u16::from_be_bytes([self.buf[2], self.buf[3]])
    }

    /// The media timestamp.
    pub fn timestamp(&self) -> u32 {
        u32::from_be_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]])
    }

    /// The synchronisation source.
    pub fn ssrc(&self) -> u32 {
        u32::from_be_bytes([self.buf[8], self.buf[9], self.buf[10], self.buf[11]])
    }

    /// The payload, without header, extension or padding.
    pub fn payload(&self) -> &'a [u8] {
        &self.buf[self.payload_start..self.payload_end]
    }
}

/// One RTCP reception report block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ReportBlock {
    /// The source reported on.
    pub ssrc: u32,
    /// Fraction lost since the last report, /256.
    pub fraction_lost: u8,
    /// Cumulative packets lost (24-bit signed).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received.
    pub highest_sequence: u32,
    /// Interarrival jitter, in timestamp units.
    pub jitter: u32,
    /// Last SR timestamp (middle 32 bits of NTP).
    pub last_sr: u32,
    /// Delay since last SR, 1/65536 s.
    pub delay_since_last_sr: u32,
}

/// One packet of an RTCP compound packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RtcpPacket {
    /// Sender report (PT 200).
    SenderReport {
        /// Sender's SSRC.
        ssrc: u32,
        /// NTP timestamp.
        ntp: u64,
        /// RTP timestamp.
        rtp_timestamp: u32,
        /// Packets sent.
        packets: u32,
        /// Octets sent.
        octets: u32,
        /// Report blocks: what the sender heard from each source.
        reports: Vec<ReportBlock>,
    },
    /// Receiver report (PT 201).
    ReceiverReport {
        /// Reporter's SSRC.
        ssrc: u32,
        /// Report blocks: what the reporter heard from each source.
        reports: Vec<ReportBlock>,
    },
    /// Any other type (SDES, BYE, APP, feedback, XR): its type and length.
    Other {
        /// Packet type.
        packet_type: u8,
        /// Bytes, header included.
        len: usize,
    },
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn report_blocks(
    b: &[u8],
    count: usize,
    at: usize,
    end: usize,
) -> Result<Vec<ReportBlock>, DecodeError> {
    if at + 24 * count > end {
        return Err(DecodeError::new(
            at,
            format!("{count} report blocks do not fit the packet"),
        ));
    }
    Ok((0..count)
        .map(|i| {
            let o = at + 24 * i;
            let lost = be32(b, o + 4) & 0x00FF_FFFF;
            // Sign-extend the 24-bit cumulative count.
            let cumulative_lost = ((lost << 8) as i32) >> 8;
            ReportBlock {
                ssrc: be32(b, o),
                fraction_lost: b[o + 4],
                cumulative_lost,
                highest_sequence: be32(b, o + 8),
                jitter: be32(b, o + 12),
                last_sr: be32(b, o + 16),
                delay_since_last_sr: be32(b, o + 20),
            }
        })
        .collect())
}

/// Reads an RTCP compound packet.
pub fn parse_rtcp(buf: &[u8]) -> Result<Vec<RtcpPacket>, DecodeError> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < buf.len() {
        if buf.len() - at < 4 {
            return Err(DecodeError::new(at, "an RTCP header cut short"));
        }
        if buf[at] >> 6 != 2 {
            return Err(DecodeError::new(
                at,
                format!("RTCP version {} (must be 2)", buf[at] >> 6),
            ));
        }
        let count = usize::from(buf[at] & 0x1F);
        let pt = buf[at + 1];
        let len = 4 * (usize::from(u16::from_be_bytes([buf[at + 2], buf[at + 3]])) + 1);
        let end = at + len;
        if end > buf.len() {
            return Err(DecodeError::new(
                at + 2,
                format!("RTCP length {len} runs past the end"),
            ));
        }
        let packet = match pt {
            200 => {
                if len < 28 {
                    return Err(DecodeError::new(
                        at,
                        "a sender report shorter than its sender info",
                    ));
                }
                RtcpPacket::SenderReport {
                    ssrc: be32(buf, at + 4),
                    ntp: (u64::from(be32(buf, at + 8)) << 32) | u64::from(be32(buf, at + 12)),
                    rtp_timestamp: be32(buf, at + 16),
                    packets: be32(buf, at + 20),
                    octets: be32(buf, at + 24),
                    reports: report_blocks(buf, count, at + 28, end)?,
                }
            }
            201 => {
                if len < 8 {
                    return Err(DecodeError::new(at, "a receiver report without its SSRC"));
                }
                RtcpPacket::ReceiverReport {
                    ssrc: be32(buf, at + 4),
                    reports: report_blocks(buf, count, at + 8, end)?,
                }
            }
            _ => RtcpPacket::Other {
                packet_type: pt,
                len,
            },
        };
        out.push(packet);
        at = end;
    }
    if out.is_empty() {
        return Err(DecodeError::new(0, "empty RTCP packet"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtp_with_csrc_extension_and_padding() {
        let mut p = vec![0xB1, 0xE0, 0x12, 0x34, 0, 0, 0, 160, 0xDE, 0xAD, 0xBE, 0xEF];
        p.extend_from_slice(&[0, 0, 0, 1]); // one CSRC
        p.extend_from_slice(&[0xBE, 0xDE, 0, 1, 1, 2, 3, 4]); // extension, 1 word
        p.extend_from_slice(b"voice");
        p.extend_from_slice(&[0, 0, 3]); // 3 bytes of padding
        let h = RtpHeader::parse(&p).unwrap();
        assert!(h.marker());
        assert_eq!(
            (h.payload_type(), h.sequence(), h.timestamp(), h.ssrc()),
            (0x60, 0x1234, 160, 0xDEADBEEF)
        );
        assert_eq!(h.payload(), b"voice");
        assert!(RtpHeader::parse(&p[..14]).is_err());
        let mut bad = p.clone();
        *bad.last_mut().unwrap() = 200;
        assert!(RtpHeader::parse(&bad).is_err());
    }

    #[test]
    fn rtcp_sr_and_rr() {
        let mut sr = vec![0x81, 200, 0, 12];
        sr.extend_from_slice(&1u32.to_be_bytes());
        sr.extend_from_slice(&[0; 20]);
        sr.extend_from_slice(&2u32.to_be_bytes());
        sr.extend_from_slice(&[0x10, 0xFF, 0xFF, 0xFE]); // 1/16 lost, cumulative -2
        sr.extend_from_slice(&[0; 16]);
        let mut rr = vec![0x80, 201, 0, 1, 0, 0, 0, 3];
        let mut both = sr.clone();
        both.append(&mut rr);
        let p = parse_rtcp(&both).unwrap();
        match &p[0] {
            RtcpPacket::SenderReport { ssrc, reports, .. } => {
                assert_eq!(*ssrc, 1);
                assert_eq!(
                    (reports[0].fraction_lost, reports[0].cumulative_lost),
                    (0x10, -2)
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            p[1],
            RtcpPacket::ReceiverReport {
                ssrc: 3,
                reports: vec![]
            }
        );
        sr[3] = 40;
        assert!(parse_rtcp(&sr).is_err());
    }
}
