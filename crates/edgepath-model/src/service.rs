//! The services a Skype for Business Online / Teams client talks to
//! (DOMAIN.md section 1), kept as data: ids, purpose, ports per profile,
//! source-port class, which endpoint sets carry their addresses, and the
//! names a probe can use.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ports::{PortRange, PortSet};

/// Stable service ids, as they appear in JSON and on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ServiceId {
    /// SIP sign-in and registration, tunnelled in TLS on 443.
    Sip,
    /// Web services: web ticket, address book, group expansion.
    WebServices,
    /// Data Edge (PSOM): meeting control.
    DataEdge,
    /// A/V Edge: STUN/TURN media relays.
    AvEdge,
    /// Exchange Web Services.
    Ews,
    /// Office Web Apps / Office Online.
    OfficeWebApps,
}

impl ServiceId {
    /// All services in the order of the article's table.
    pub const ALL: [ServiceId; 6] = [
        ServiceId::Sip,
        ServiceId::WebServices,
        ServiceId::DataEdge,
        ServiceId::AvEdge,
        ServiceId::Ews,
        ServiceId::OfficeWebApps,
    ];

    /// The stable id string.
    pub fn id(self) -> &'static str {
        self.def().id_str
    }

    /// The service's definition.
    pub fn def(self) -> &'static ServiceDef {
        // SERVICES is indexed in the same order as the enum; a unit test
        // checks that every entry's `id` matches its position.
        &SERVICES[self as usize]
    }
}

impl fmt::Display for ServiceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl FromStr for ServiceId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ServiceId::ALL
            .into_iter()
            .find(|v| v.id() == s)
            .ok_or_else(|| {
                let ids: Vec<_> = ServiceId::ALL.iter().map(|v| v.id()).collect();
                format!("unknown service `{s}` ({})", ids.join(", "))
            })
    }
}

impl Serialize for ServiceId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.id())
    }
}

impl<'de> Deserialize<'de> for ServiceId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::vocab::from_name(d)
    }
}

/// Which destination ports the client needs: Microsoft's current list or the
/// pre-2017 one with the A/V edge's high ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum Profile {
    /// Since 2017: TCP 443 and UDP 3478-3481. The relays still use their high
    /// ports when those are reachable.
    #[default]
    Current,
    /// Adds UDP and TCP 50000-59999 on the A/V edge.
    Legacy,
}

impl Profile {
    /// The name used on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Current => "current",
            Profile::Legacy => "legacy",
        }
    }
}

impl FromStr for Profile {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "current" => Ok(Profile::Current),
            "legacy" => Ok(Profile::Legacy),
            _ => Err(format!("unknown profile `{s}` (current or legacy)")),
        }
    }
}

impl Serialize for Profile {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// Where a client's source ports for a service come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceClass {
    /// Any ephemeral port the OS hands out: not controllable, not filterable.
    Ephemeral,
    /// The provisioned media range (`ucMinMediaPort`..`ucMaxMediaPort`):
    /// usable for QoS classification and, for media only, filtering.
    Media,
}

impl SourceClass {
    /// The name used in JSON.
    pub fn name(self) -> &'static str {
        match self {
            SourceClass::Ephemeral => "ephemeral",
            SourceClass::Media => "media",
        }
    }
}

/// A service's static definition.
#[derive(Debug)]
pub struct ServiceDef {
    id_str: &'static str,
    /// The article's name for the service.
    pub name: &'static str,
    /// What travels over it.
    pub purpose: &'static str,
    /// Source-port class of the client side.
    pub source: SourceClass,
    /// Microsoft endpoint set ids (service area, id) that carry its
    /// destination names and addresses. Microsoft keeps these ids stable.
    pub endpoint_sets: &'static [(&'static str, u32)],
    /// Names a probe can resolve and connect to (DOMAIN.md section 9).
    pub probe_names: &'static [&'static str],
    /// Extra remarks shown with the service.
    pub notes: &'static [&'static str],
    tcp: &'static [(u16, u16)],
    udp: &'static [(u16, u16)],
}

/// The A/V edge's high ports, needed before 2017 and still used when open.
pub const LEGACY_HIGH_PORTS: (u16, u16) = (50000, 59999);

const HTTPS: &[(u16, u16)] = &[(443, 443)];

static SERVICES: [ServiceDef; 6] = [
    ServiceDef {
        id_str: "sip",
        name: "SIP sign-in / registration",
        purpose: "sign-in, provisioning, presence and buddy list: SIP/TLS (5061 on premises) tunnelled in TCP 443",
        source: SourceClass::Ephemeral,
        endpoint_sets: &[("Skype", 12)],
        probe_names: &["sipdir.online.lync.com"],
        notes: &[],
        tcp: HTTPS,
        udp: &[],
    },
    ServiceDef {
        id_str: "web-services",
        name: "Web services",
        purpose: "web ticket, group expansion, address book download, autodiscover",
        source: SourceClass::Ephemeral,
        endpoint_sets: &[("Skype", 12)],
        probe_names: &["webdir.online.lync.com"],
        notes: &[],
        tcp: HTTPS,
        udp: &[],
    },
    ServiceDef {
        id_str: "data-edge",
        name: "Data Edge (PSOM)",
        purpose: "meeting control: whiteboard, polls, presentation control",
        source: SourceClass::Ephemeral,
        endpoint_sets: &[("Skype", 12)],
        probe_names: &["teams.microsoft.com"],
        notes: &[],
        tcp: HTTPS,
        udp: &[],
    },
    ServiceDef {
        id_str: "av-edge",
        name: "A/V Edge (STUN/TURN)",
        purpose: "audio, video, file transfer and desktop sharing media via Microsoft's relays",
        source: SourceClass::Media,
        endpoint_sets: &[("Skype", 11)],
        probe_names: &["worldaz.tr.teams.microsoft.com", "world.tr.teams.microsoft.com"],
        notes: &[
            "media falls back to TCP 443 when UDP 3478-3481 is blocked, at a cost in quality",
            "the relays still use their high ports 50000-59999 when those are reachable (see --profile legacy)",
        ],
        tcp: HTTPS,
        udp: &[(3478, 3481)],
    },
    ServiceDef {
        id_str: "ews",
        name: "Exchange Web Services",
        purpose: "meetings and calendar",
        source: SourceClass::Ephemeral,
        endpoint_sets: &[("Exchange", 1)],
        probe_names: &["outlook.office365.com"],
        notes: &[],
        tcp: HTTPS,
        udp: &[],
    },
    ServiceDef {
        id_str: "office-web-apps",
        name: "Office Web Apps / Office Online",
        purpose: "PowerPoint presentation in meetings",
        source: SourceClass::Ephemeral,
        endpoint_sets: &[("Common", 46)],
        probe_names: &["office.live.com"],
        notes: &[],
        tcp: HTTPS,
        udp: &[],
    },
];

fn to_set(pairs: &[(u16, u16)]) -> PortSet {
    // The tables above are constants with non-zero, ordered bounds.
    PortSet::from_ranges(
        pairs
            .iter()
            .map(|&(a, b)| PortRange::new(a, b).expect("constant port range is valid")),
    )
}

impl ServiceDef {
    /// The stable id string.
    pub fn id(&self) -> &'static str {
        self.id_str
    }

    /// Destination TCP ports the client needs under `profile`.
    pub fn tcp_ports(&self, profile: Profile) -> PortSet {
        let mut set = to_set(self.tcp);
        if profile == Profile::Legacy && self.source == SourceClass::Media {
            set.extend(&to_set(&[LEGACY_HIGH_PORTS]));
        }
        set
    }

    /// Destination UDP ports the client needs under `profile`.
    pub fn udp_ports(&self, profile: Profile) -> PortSet {
        let mut set = to_set(self.udp);
        if profile == Profile::Legacy && self.source == SourceClass::Media {
            set.extend(&to_set(&[LEGACY_HIGH_PORTS]));
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_in_enum_order() {
        for s in ServiceId::ALL {
            assert_eq!(SERVICES[s as usize].id_str, s.id());
            assert_eq!(s.id().parse::<ServiceId>().unwrap(), s);
        }
    }

    #[test]
    fn profiles() {
        let av = ServiceId::AvEdge.def();
        assert_eq!(av.udp_ports(Profile::Current).to_strings(), ["3478-3481"]);
        assert_eq!(av.tcp_ports(Profile::Current).to_strings(), ["443"]);
        assert_eq!(
            av.udp_ports(Profile::Legacy).to_strings(),
            ["3478-3481", "50000-59999"]
        );
        assert_eq!(
            av.tcp_ports(Profile::Legacy).to_strings(),
            ["443", "50000-59999"]
        );
        let sip = ServiceId::Sip.def();
        assert_eq!(sip.tcp_ports(Profile::Legacy).to_strings(), ["443"]);
        assert!(sip.udp_ports(Profile::Legacy).is_empty());
    }
}
