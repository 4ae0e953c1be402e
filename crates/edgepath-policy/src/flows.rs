//! The flows a client needs, derived once from the catalog; every target renders the
//! same list, so a firewall, a PAC file and a checklist never disagree.

use std::collections::BTreeSet;

use edgepath_model::service::LEGACY_HIGH_PORTS;
use edgepath_model::{
    Catalog, Category, MediaRanges, PortRange, PortSet, Profile, QosRule, ServiceId,
};
use ipnet::{Ipv4Net, Ipv6Net};

use crate::options::SplitTunnel;

/// A transport protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Proto {
    /// `tcp` or `udp`.
    pub fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// One allowed flow: a protocol and ports to a set of destinations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    /// A stable identifier of the destination set (`skype_11`): letters, digits and
    /// `_` only, so it can name nftables sets and iptables comments as it is.
    pub key: String,
    /// Microsoft's endpoint set id.
    pub set_id: u32,
    /// The set's service area.
    pub area: String,
    /// The set's category.
    pub category: Category,
    /// Whether Microsoft marks the set as required.
    pub required: bool,
    /// Which of the model's services use it.
    pub services: Vec<ServiceId>,
    /// The protocol.
    pub proto: Proto,
    /// Destination ports.
    pub ports: PortSet,
    /// Destination IPv4 ranges, aggregated.
    pub v4: Vec<Ipv4Net>,
    /// Destination IPv6 ranges, aggregated.
    pub v6: Vec<Ipv6Net>,
    /// Destination names (wildcards as Microsoft writes them).
    pub names: Vec<String>,
    /// The client source ports to require, when media is filtered by source range.
    pub source: Option<PortRange>,
    /// Whether the flow carries real-time media.
    pub media: bool,
}

impl Flow {
    /// Whether the flow can be expressed by address (it lists ranges).
    pub fn has_addresses(&self) -> bool {
        !self.v4.is_empty() || !self.v6.is_empty()
    }

    /// The model's services that use the flow: `sip, web-services, data-edge`, or
    /// `other Skype endpoints` for sets no service names.
    pub fn services_text(&self) -> String {
        if self.services.is_empty() {
            format!("other {} endpoints", self.area)
        } else {
            let ids: Vec<&str> = self.services.iter().map(|s| s.id()).collect();
            ids.join(", ")
        }
    }

    /// What the flow is for, for comments: `set 11 (Skype, Optimize): av-edge`.
    pub fn label(&self) -> String {
        let services = self.services_text();
        let optional = if self.required { "" } else { ", optional" };
        format!(
            "set {} ({}, {}{optional}): {services}",
            self.set_id, self.area, self.category
        )
    }
}

/// Choices that shape the flows.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Require the media source range on media flows (off by default: DOMAIN.md
    /// section 2 explains why filtering by source port is not generally recommended).
    pub restrict_source_ports: bool,
}

/// The flows, the QoS table and the data they came from.
#[derive(Debug, Clone)]
pub struct RuleSet {
    /// Every flow, in endpoint-set order.
    pub flows: Vec<Flow>,
    /// QoS by source range, one row per distinct range.
    pub qos: Vec<QosRule>,
    /// Which modalities each QoS row covers (file transfer shares app sharing's range).
    pub qos_modalities: Vec<Vec<String>>,
    /// The port profile.
    pub profile: Profile,
    /// Every Optimize endpoint set of the data with addresses (Exchange, SharePoint
    /// and Teams media alike, whether or not a service uses it): what VPN split
    /// tunnels and proxies should leave out.
    pub optimize: Vec<OptimizeSet>,
}

/// An Optimize endpoint set's addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptimizeSet {
    /// Microsoft's id.
    pub set_id: u32,
    /// The service area, cleaned for comments.
    pub area: String,
    /// Whether it is the Teams media (relay) set.
    pub media: bool,
    /// IPv4 ranges, aggregated.
    pub v4: Vec<Ipv4Net>,
    /// IPv6 ranges, aggregated.
    pub v6: Vec<Ipv6Net>,
}

impl OptimizeSet {
    /// `set 11 (Skype)`.
    pub fn label(&self) -> String {
        format!("set {} ({})", self.set_id, self.area)
    }
}

impl RuleSet {
    /// The Optimize sets that `split` leaves outside a VPN tunnel, and those it
    /// keeps inside.
    pub fn split_tunnel(&self, split: SplitTunnel) -> (Vec<&OptimizeSet>, Vec<&OptimizeSet>) {
        self.optimize
            .iter()
            .partition(|s| split == SplitTunnel::Optimize || s.media)
    }

    /// The ranges of `sets`, aggregated per family.
    pub fn ranges_of(sets: &[&OptimizeSet]) -> (Vec<Ipv4Net>, Vec<Ipv6Net>) {
        let v4: Vec<Ipv4Net> = sets.iter().flat_map(|s| s.v4.iter().copied()).collect();
        let v6: Vec<Ipv6Net> = sets.iter().flat_map(|s| s.v6.iter().copied()).collect();
        (Ipv4Net::aggregate(&v4), Ipv6Net::aggregate(&v6))
    }
}

/// Why no rules could be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// Endpoint data with no Skype/Teams set carries nothing to allow.
    #[error(
        "the endpoint data has no Skype for Business Online / Teams (Skype area) endpoint set"
    )]
    NoSkypeSets,
}

/// The ranges split by family, each aggregated.
fn by_family(nets: &[ipnet::IpNet]) -> (Vec<Ipv4Net>, Vec<Ipv6Net>) {
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    for n in nets {
        match n {
            ipnet::IpNet::V4(x) => v4.push(*x),
            ipnet::IpNet::V6(x) => v6.push(*x),
        }
    }
    (Ipv4Net::aggregate(&v4), Ipv6Net::aggregate(&v6))
}

/// The service area as it may appear in generated comments: it comes from outside,
/// so only letters, digits, spaces, `-` and `_` are kept (no line breaks or quotes
/// that could end a comment and start a rule).
fn clean_area(area: &str) -> String {
    area.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .take(40)
        .collect()
}

/// `skype_11`: the area reduced to lower-case letters and digits (it comes from
/// outside and names things in generated configuration), then the set id.
fn set_key(area: &str, id: u32) -> String {
    let area: String = area
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if area.is_empty() {
        format!("set_{id}")
    } else {
        format!("{area}_{id}")
    }
}

/// Builds the flows from the catalog.
pub fn build(
    catalog: &Catalog,
    ranges: &MediaRanges,
    opts: &Options,
) -> Result<RuleSet, PolicyError> {
    let data = catalog.endpoint_data();
    let used: BTreeSet<u32> = catalog
        .services()
        .iter()
        .flat_map(|s| s.endpoint_set_ids.iter().copied())
        .collect();
    let relay_sets: BTreeSet<u32> = catalog
        .service(ServiceId::AvEdge)
        .endpoint_set_ids
        .iter()
        .copied()
        .collect();
    let mut flows = Vec::new();
    let mut optimize = Vec::new();
    for set in data.sets() {
        if set.category == Category::Optimize && !set.ips.is_empty() {
            let (v4, v6) = by_family(&set.ips);
            optimize.push(OptimizeSet {
                set_id: set.id,
                area: clean_area(&set.service_area),
                media: relay_sets.contains(&set.id),
                v4,
                v6,
            });
        }
        if set.service_area != "Skype" && !used.contains(&set.id) {
            continue;
        }
        let services: Vec<ServiceId> = catalog
            .services()
            .iter()
            .filter(|s| s.endpoint_set_ids.contains(&set.id))
            .map(|s| s.id)
            .collect();
        let (v4, v6) = by_family(&set.ips);
        let is_relay = relay_sets.contains(&set.id);
        let mut per_proto = vec![
            (Proto::Tcp, set.tcp_ports.clone()),
            (Proto::Udp, set.udp_ports.clone()),
        ];
        if is_relay && catalog.profile() == Profile::Legacy {
            let high = PortRange::new(LEGACY_HIGH_PORTS.0, LEGACY_HIGH_PORTS.1)
                .expect("constant range is valid");
            for (_, ports) in &mut per_proto {
                ports.insert(high);
            }
        }
        for (proto, ports) in per_proto {
            if ports.is_empty() {
                continue;
            }
            let media = is_relay;
            flows.push(Flow {
                key: set_key(&set.service_area, set.id),
                set_id: set.id,
                area: clean_area(&set.service_area),
                category: set.category,
                required: set.required,
                services: services.clone(),
                proto,
                ports,
                v4: v4.clone(),
                v6: v6.clone(),
                names: set.urls.clone(),
                source: (media && opts.restrict_source_ports).then_some(ranges.media),
                media,
            });
        }
    }
    if !flows.iter().any(|f| f.area == "Skype") {
        return Err(PolicyError::NoSkypeSets);
    }
    let mut qos: Vec<QosRule> = Vec::new();
    let mut qos_modalities: Vec<Vec<String>> = Vec::new();
    for rule in ranges.qos() {
        match qos.iter().position(|q| q.ports == rule.ports) {
            Some(i) => qos_modalities[i].push(rule.modality.to_string()),
            None => {
                qos_modalities.push(vec![rule.modality.to_string()]);
                qos.push(rule);
            }
        }
    }
    Ok(RuleSet {
        flows,
        qos,
        qos_modalities,
        profile: catalog.profile(),
        optimize,
    })
}
