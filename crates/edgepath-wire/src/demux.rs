//! First-byte demultiplexing of what arrives on a media socket (RFC 7983,
//! with Microsoft's 0xFF10 multiplexed TURN and TLS records on TCP 443).

/// What a packet looks like from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// STUN / TURN / MS-TURN (first byte 0-3).
    Stun,
    /// ZRTP (16-19).
    Zrtp,
    /// A TLS record (0x14-0x17 then version 0x03 0x0X), as on TCP 443.
    Tls,
    /// DTLS (20-63).
    Dtls,
    /// TURN ChannelData (64-79).
    ChannelData,
    /// RTP (128-191, payload type not in RTCP's range).
    Rtp,
    /// RTCP (128-191, packet type 192-223).
    Rtcp,
    /// MS-TURN multiplexed frame (0xFF10).
    MsMultiplexed,
    /// None of the above.
    Unknown,
}

impl Kind {
    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Stun => "stun",
            Kind::Zrtp => "zrtp",
            Kind::Tls => "tls",
            Kind::Dtls => "dtls",
            Kind::ChannelData => "channel-data",
            Kind::Rtp => "rtp",
            Kind::Rtcp => "rtcp",
            Kind::MsMultiplexed => "ms-multiplexed",
            Kind::Unknown => "unknown",
        }
    }
}

/// Classifies `buf` by its first bytes.
pub fn classify(buf: &[u8]) -> Kind {
    let Some(&b0) = buf.first() else {
        return Kind::Unknown;
    };
    match b0 {
        0..=3 => Kind::Stun,
        16..=19 => Kind::Zrtp,
        0x14..=0x17 if buf.get(1) == Some(&0x03) && buf.get(2).is_some_and(|v| *v <= 0x04) => {
            Kind::Tls
        }
        20..=63 => Kind::Dtls,
        64..=79 => Kind::ChannelData,
        // RFC 5761: RTCP packet types 192-223 (after the marker bit, 64-95).
        128..=191 => match buf.get(1) {
            Some(pt) if (192..=223).contains(pt) => Kind::Rtcp,
            Some(_) => Kind::Rtp,
            None => Kind::Unknown,
        },
        0xFF if buf.get(1) == Some(&0x10) => Kind::MsMultiplexed,
        _ => Kind::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(classify(&[0x00, 0x01]), Kind::Stun);
        assert_eq!(classify(&[0x16, 0x03, 0x01]), Kind::Tls);
        assert_eq!(classify(&[0x16, 0xFE, 0xFD]), Kind::Dtls);
        assert_eq!(classify(&[0x40, 0x00]), Kind::ChannelData);
        assert_eq!(classify(&[0x80, 0x00]), Kind::Rtp);
        assert_eq!(classify(&[0x80, 0xE0]), Kind::Rtp);
        assert_eq!(classify(&[0x81, 200]), Kind::Rtcp);
        assert_eq!(classify(&[0xFF, 0x10]), Kind::MsMultiplexed);
        assert_eq!(classify(&[0xFF, 0x11]), Kind::Unknown);
        assert_eq!(classify(&[]), Kind::Unknown);
    }
}
