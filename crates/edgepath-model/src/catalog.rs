//! The catalog: the service table (DOMAIN.md section 1) joined with endpoint
//! data, under a port profile. This is the one model every lens reads.

use std::collections::BTreeSet;

use ipnet::IpNet;
use serde::{Serialize, Serializer};

use crate::endpoints::{Category, EndpointData};
use crate::ports::{PortRange, PortSet};
use crate::service::{Profile, ServiceId, SourceClass};
use crate::version::{DataVersion, Freshness};

/// Why a catalog could not be built from endpoint data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    /// The data has no `Skype` service area, so it says nothing about the
    /// relays, signalling or web services a client needs.
    #[error("the endpoint data has no Skype service area (Skype for Business Online / Teams); is it the right file?")]
    NoSkypeArea,
}

/// Where the endpoint data in use came from, which Microsoft version it is and how
/// old. Serialised as the `endpoints` object of every JSON report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EndpointSource {
    /// `embedded`, `cache` or `file`.
    pub kind: &'static str,
    /// Microsoft's version (`2025013000`), when known.
    pub version: Option<DataVersion>,
    /// The version's publication date (`2025-01-30`), when the version is known.
    pub date: Option<String>,
    /// Days from that date to today, when the version is known.
    pub age_days: Option<i64>,
    /// Whether the data is older than 35 days ([`crate::STALE_AFTER_DAYS`]); `null` when
    /// its version, and so its age, is unknown.
    pub stale: Option<bool>,
    /// When `catalog update` or `catalog import` kept it (RFC 3339), for kept data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stored_at: Option<String>,
    /// The file it was read from, when not embedded.
    pub path: Option<String>,
    /// A sentence for people, naming the version.
    pub description: String,
}

impl EndpointSource {
    /// Describes data of `kind` that came from `origin` (a phrase: "endpoint data
    /// from x.json"), with its version when known, aged against `today` (days
    /// since 1970-01-01).
    pub fn new(
        kind: &'static str,
        origin: &str,
        version: Option<DataVersion>,
        path: Option<String>,
        today: i64,
    ) -> Self {
        let fresh = version.as_ref().map(|v| Freshness::of(v, today));
        let label = version.as_ref().map_or_else(
            || "Microsoft's version not recorded".to_owned(),
            DataVersion::label,
        );
        EndpointSource {
            kind,
            date: version.as_ref().map(DataVersion::date),
            age_days: fresh.map(|f| f.age_days),
            stale: fresh.map(|f| f.stale),
            version,
            stored_at: None,
            path,
            description: format!("{origin}, {label}"),
        }
    }

    /// The warning to give once per run when the data is stale: its version, its
    /// age and the fix.
    pub fn staleness_warning(&self) -> Option<String> {
        if self.stale != Some(true) {
            return None;
        }
        let version = self.version.as_ref()?;
        Some(format!(
            "the endpoint data is {}, {} days old (Microsoft publishes a new list monthly, 30 days before new addresses go live): rules and verdicts may miss addresses in use today; run `edgepath catalog update` (online) or `edgepath catalog import FILE --endpoints-version VERSION`",
            version.label(),
            self.age_days.unwrap_or_default()
        ))
    }
}

/// The source-port side of a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourcePorts {
    /// `ephemeral` or `media`.
    #[serde(serialize_with = "ser_class")]
    pub class: SourceClass,
    /// The media range, for `media`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range: Option<PortRange>,
}

fn ser_class<S: Serializer>(c: &SourceClass, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(c.name())
}

/// One service as the catalog describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CatalogService {
    /// Stable id.
    pub id: ServiceId,
    /// The article's name.
    pub name: &'static str,
    /// What travels over it.
    pub purpose: &'static str,
    /// Destination TCP ports.
    pub tcp_ports: PortSet,
    /// Destination UDP ports.
    pub udp_ports: PortSet,
    /// The client's source ports.
    pub source_ports: SourcePorts,
    /// The endpoint sets that gave names and addresses.
    pub endpoint_set_ids: Vec<u32>,
    /// The highest category of those sets.
    pub category: Option<Category>,
    /// Destination names (wildcards included) from the endpoint data.
    pub names: Vec<String>,
    /// Destination address ranges from the endpoint data.
    #[serde(serialize_with = "ser_nets")]
    pub ips: Vec<IpNet>,
    /// Names a probe resolves for this service.
    pub probe_names: Vec<&'static str>,
    /// Remarks for admins (fallbacks, legacy ports), from the service table.
    pub notes: Vec<String>,
}

fn ser_nets<S: Serializer>(nets: &[IpNet], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(nets.iter().map(ToString::to_string))
}

/// The model of what a client needs, from one set of endpoint data.
#[derive(Debug, Clone)]
pub struct Catalog {
    profile: Profile,
    data: EndpointData,
    services: Vec<CatalogService>,
    media_range: PortRange,
    warnings: Vec<String>,
}

/// Microsoft's default media source range, `ucMinMediaPort`..`ucMaxMediaPort`.
pub fn default_media_range() -> PortRange {
    PortRange::new(50000, 50059).expect("constant range is valid")
}

impl Catalog {
    /// Joins the service table with `data` under `profile`, using Microsoft's
    /// default media source range.
    pub fn build(data: EndpointData, profile: Profile) -> Result<Self, CatalogError> {
        Self::build_with_media_range(data, profile, default_media_range())
    }

    /// As [`Catalog::build`], with the media source range from provisioning.
    pub fn build_with_media_range(
        data: EndpointData,
        profile: Profile,
        media_range: PortRange,
    ) -> Result<Self, CatalogError> {
        if !data.has_skype_area() {
            return Err(CatalogError::NoSkypeArea);
        }
        let mut warnings = Vec::new();
        let services = ServiceId::ALL
            .into_iter()
            .map(|id| {
                let def = id.def();
                let mut names = BTreeSet::new();
                let mut nets = BTreeSet::new();
                let mut set_ids = Vec::new();
                let mut category = None;
                for &(area, set_id) in def.endpoint_sets {
                    match data.set(set_id).filter(|s| s.service_area == area) {
                        Some(set) => {
                            set_ids.push(set_id);
                            names.extend(set.urls.iter().cloned());
                            nets.extend(set.ips.iter().copied());
                            category = category.max(Some(set.category));
                        }
                        None => warnings.push(format!(
                            "the endpoint data has no {area} set {set_id}: {} lists no names or addresses from it",
                            def.id()
                        )),
                    }
                }
                CatalogService {
                    id,
                    name: def.name,
                    purpose: def.purpose,
                    tcp_ports: def.tcp_ports(profile),
                    udp_ports: def.udp_ports(profile),
                    source_ports: SourcePorts {
                        class: def.source,
                        range: (def.source == SourceClass::Media).then_some(media_range),
                    },
                    endpoint_set_ids: set_ids,
                    category,
                    names: names.into_iter().collect(),
                    ips: nets.into_iter().collect(),
                    probe_names: def.probe_names.to_vec(),
                    notes: def.notes.iter().map(|n| (*n).to_owned()).collect(),
                }
            })
            .collect();
        Ok(Catalog {
            profile,
            data,
            services,
            media_range,
            warnings,
        })
    }

    /// The port profile.
    pub fn profile(&self) -> Profile {
        self.profile
    }

    /// The endpoint data underneath.
    pub fn endpoint_data(&self) -> &EndpointData {
        &self.data
    }

    /// The services, in the article's order.
    pub fn services(&self) -> &[CatalogService] {
        &self.services
    }

    /// One service.
    pub fn service(&self, id: ServiceId) -> &CatalogService {
        // `services` holds every ServiceId, built from ServiceId::ALL in order.
        &self.services[id as usize]
    }

    /// The media source range in force.
    pub fn media_range(&self) -> PortRange {
        self.media_range
    }

    /// Sets the data lacked, and the like.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot;

    #[test]
    fn services_get_names_and_addresses_from_the_data() {
        let cat = Catalog::build(snapshot::endpoint_data(), Profile::Current).unwrap();
        assert!(cat.warnings().is_empty(), "{:?}", cat.warnings());
        let av = cat.service(ServiceId::AvEdge);
        assert_eq!(av.endpoint_set_ids, vec![11]);
        assert_eq!(av.category, Some(Category::Optimize));
        assert!(av.ips.iter().any(|n| n.to_string() == "52.112.0.0/14"));
        assert_eq!(av.source_ports.range.unwrap().to_string(), "50000-50059");
        let sip = cat.service(ServiceId::Sip);
        assert!(sip.names.contains(&"*.lync.com".to_owned()));
        assert_eq!(sip.source_ports.class, SourceClass::Ephemeral);
        let ews = cat.service(ServiceId::Ews);
        assert!(ews.names.contains(&"outlook.office365.com".to_owned()));
    }

    #[test]
    fn data_without_skype_is_refused() {
        let data = EndpointData::parse(
            r#"[{"id": 1, "serviceArea": "Exchange", "category": "Optimize", "tcpPorts": "443"}]"#,
        )
        .unwrap();
        assert_eq!(
            Catalog::build(data, Profile::Current).unwrap_err(),
            CatalogError::NoSkypeArea
        );
    }

    #[test]
    fn missing_sets_are_warned_about() {
        let data = EndpointData::parse(
            r#"[{"id": 11, "serviceArea": "Skype", "category": "Optimize", "ips": ["198.51.100.0/24"], "udpPorts": "3478-3481"}]"#,
        )
        .unwrap();
        let cat = Catalog::build(data, Profile::Legacy).unwrap();
        assert!(cat.warnings().iter().any(|w| w.contains("Skype set 12")));
        assert!(cat.warnings().iter().any(|w| w.contains("Exchange set 1")));
        assert_eq!(
            cat.service(ServiceId::AvEdge).udp_ports.to_strings(),
            ["3478-3481", "50000-59999"]
        );
    }
}
