//! Media modalities, their default source-port ranges and DSCP markings.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ports::PortRange;

/// A kind of real-time media a client sends. The JSON names are stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Modality {
    /// Voice.
    Audio,
    /// Camera video.
    Video,
    /// Desktop / application sharing (VBSS and RDP-based sharing).
    AppSharing,
    /// Peer-to-peer file transfer; it shares app sharing's port range by default.
    FileTransfer,
}

impl Modality {
    /// All modalities, in the order reports list them.
    pub const ALL: [Modality; 4] = [
        Modality::Audio,
        Modality::Video,
        Modality::AppSharing,
        Modality::FileTransfer,
    ];

    /// The stable id used in JSON and on the command line.
    pub fn id(self) -> &'static str {
        match self {
            Modality::Audio => "audio",
            Modality::Video => "video",
            Modality::AppSharing => "app_sharing",
            Modality::FileTransfer => "file_transfer",
        }
    }

    /// Microsoft's default client source-port range for this modality.
    pub fn default_range(self) -> PortRange {
        let (a, b) = match self {
            Modality::Audio => (50000, 50019),
            Modality::Video => (50020, 50039),
            Modality::AppSharing | Modality::FileTransfer => (50040, 50059),
        };
        // Constant, ordered, non-zero bounds: cannot fail.
        PortRange::new(a, b).expect("constant default range is valid")
    }

    /// Microsoft's recommended DSCP value for this modality's source range.
    ///
    /// File transfer has no marking of its own in Microsoft's guidance; it uses
    /// app sharing's range by default, so a source-port QoS policy marks it as
    /// app sharing (AF21) and we say so rather than inventing another class.
    pub fn default_dscp(self) -> Dscp {
        match self {
            Modality::Audio => Dscp::EF,
            Modality::Video => Dscp::AF41,
            Modality::AppSharing | Modality::FileTransfer => Dscp::AF21,
        }
    }
}

impl fmt::Display for Modality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl FromStr for Modality {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Modality::ALL
            .into_iter()
            .find(|m| m.id() == s)
            .ok_or_else(|| {
                format!("unknown modality `{s}` (audio, video, app_sharing, file_transfer)")
            })
    }
}

impl Serialize for Modality {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.id())
    }
}

impl<'de> Deserialize<'de> for Modality {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::vocab::from_name(d)
    }
}

/// A Differentiated Services Code Point, 0 to 63.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Dscp(u8);

impl Dscp {
    /// Expedited Forwarding (46): voice.
    pub const EF: Dscp = Dscp(46);
    /// Assured Forwarding 41 (34): interactive video.
    pub const AF41: Dscp = Dscp(34);
    /// Assured Forwarding 21 (18): sharing and data.
    pub const AF21: Dscp = Dscp(18);

    /// Builds a DSCP value; `None` above 63 (DSCP is six bits).
    pub fn new(value: u8) -> Option<Dscp> {
        (value <= 63).then_some(Dscp(value))
    }

    /// The numeric value, 0 to 63.
    pub fn value(self) -> u8 {
        self.0
    }

    /// The conventional name (`EF`, `AF41`, `CS3`, ...), or `None` for an
    /// unnamed code point.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "CS0",
            8 => "CS1",
            10 => "AF11",
            12 => "AF12",
            14 => "AF13",
            16 => "CS2",
            18 => "AF21",
            20 => "AF22",
            22 => "AF23",
            24 => "CS3",
            26 => "AF31",
            28 => "AF32",
            30 => "AF33",
            32 => "CS4",
            34 => "AF41",
            36 => "AF42",
            38 => "AF43",
            40 => "CS5",
            44 => "VOICE-ADMIT",
            46 => "EF",
            48 => "CS6",
            56 => "CS7",
            _ => return None,
        })
    }
}

impl fmt::Display for Dscp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{} ({n})", self.0),
            None => write!(f, "{}", self.0),
        }
    }
}

impl Serialize for Dscp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(self.0)
    }
}

/// One row of a source-port QoS table: which ports get which marking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QosRule {
    /// The modality the ports carry.
    pub modality: Modality,
    /// The client source ports to classify.
    pub ports: PortRange,
    /// The DSCP value to mark.
    pub dscp: Dscp,
}

/// The client's provisioned source-port ranges (DOMAIN.md section 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MediaRanges {
    /// All media, `ucMinMediaPort`..`ucMaxMediaPort`.
    pub media: PortRange,
    /// Audio's source ports, `ucMinAudioPort`..`ucMaxAudioPort` (QoS EF 46).
    pub audio: PortRange,
    /// Video's source ports, `ucMinVideoPort`..`ucMaxVideoPort` (QoS AF41 34).
    pub video: PortRange,
    /// Application sharing.
    pub app_sharing: PortRange,
    /// File transfer (shares app sharing's range by default).
    pub file_transfer: PortRange,
    /// SIP dynamic ports, when provisioned (not media; never marked).
    pub sip_dynamic: Option<PortRange>,
}

impl Default for MediaRanges {
    /// Microsoft's defaults.
    fn default() -> Self {
        MediaRanges {
            media: PortRange::new(50000, 50059).expect("constant range is valid"),
            audio: Modality::Audio.default_range(),
            video: Modality::Video.default_range(),
            app_sharing: Modality::AppSharing.default_range(),
            file_transfer: Modality::FileTransfer.default_range(),
            sip_dynamic: None,
        }
    }
}

impl MediaRanges {
    /// The range of one modality.
    pub fn range(&self, m: Modality) -> PortRange {
        match m {
            Modality::Audio => self.audio,
            Modality::Video => self.video,
            Modality::AppSharing => self.app_sharing,
            Modality::FileTransfer => self.file_transfer,
        }
    }

    /// The modality a client source port belongs to. Where file transfer
    /// shares app sharing's range, the port reads as app sharing, the
    /// modality Microsoft's QoS guidance names for it.
    pub fn modality_of(&self, port: u16) -> Option<Modality> {
        Modality::ALL
            .into_iter()
            .find(|m| self.range(*m).contains(port))
    }

    /// The source-port QoS table, one row per modality, with Microsoft's DSCP.
    pub fn qos(&self) -> Vec<QosRule> {
        Modality::ALL
            .into_iter()
            .map(|m| QosRule {
                modality: m,
                ports: self.range(m),
                dscp: m.default_dscp(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_microsoft_guidance() {
        assert_eq!(Modality::Audio.default_range().to_string(), "50000-50019");
        assert_eq!(Modality::Video.default_range().to_string(), "50020-50039");
        assert_eq!(
            Modality::AppSharing.default_range().to_string(),
            "50040-50059"
        );
        assert_eq!(Modality::Audio.default_dscp().value(), 46);
        assert_eq!(Modality::Video.default_dscp().value(), 34);
        assert_eq!(Modality::AppSharing.default_dscp().value(), 18);
        assert_eq!(Dscp::EF.to_string(), "46 (EF)");
        assert!(Dscp::new(64).is_none());
    }

    #[test]
    fn ids_round_trip() {
        for m in Modality::ALL {
            assert_eq!(m.id().parse::<Modality>().unwrap(), m);
        }
        assert!("voice".parse::<Modality>().is_err());
    }
}
