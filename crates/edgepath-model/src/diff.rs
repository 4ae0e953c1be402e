//! What changed between two copies of Microsoft's endpoint data: per endpoint set
//! the addresses, names and ports added and removed, and sets added or removed.
//! This is the list an admin reviews before changing a firewall, so it names every
//! item rather than counting them.

use std::collections::BTreeSet;

use serde::{Serialize, Serializer};

use crate::endpoints::{Category, EndpointData, EndpointSet};
use crate::ports::PortSet;

/// A whole endpoint set, as added or removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SetSummary {
    /// Microsoft's id.
    pub id: u32,
    /// The service area.
    pub service_area: String,
    /// Its category.
    pub category: Category,
    /// Its names.
    pub urls: Vec<String>,
    /// Its address ranges.
    pub ips: Vec<String>,
    /// Its TCP ports.
    pub tcp_ports: PortSet,
    /// Its UDP ports.
    pub udp_ports: PortSet,
}

impl SetSummary {
    fn of(set: &EndpointSet) -> Self {
        SetSummary {
            id: set.id,
            service_area: set.service_area.clone(),
            category: set.category,
            urls: set.urls.clone(),
            ips: set.ips.iter().map(ToString::to_string).collect(),
            tcp_ports: set.tcp_ports.clone(),
            udp_ports: set.udp_ports.clone(),
        }
    }
}

/// Something added and something removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Delta<T> {
    /// In the new data only.
    pub added: T,
    /// In the old data only.
    pub removed: T,
}

/// A value before and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change<T> {
    /// In the old data.
    pub old: T,
    /// In the new data.
    pub new: T,
}

/// How one set present in both copies changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SetChange {
    /// Microsoft's id.
    pub id: u32,
    /// The service area (the new one, if it changed).
    pub service_area: String,
    /// The category, when it changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<Change<Category>>,
    /// Whether Microsoft marks it required, when that changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required: Option<Change<bool>>,
    /// Address ranges.
    pub ips: Delta<Vec<String>>,
    /// Host names and wildcards, as Microsoft writes them.
    pub urls: Delta<Vec<String>>,
    /// TCP ports.
    #[serde(serialize_with = "ser_ports")]
    pub tcp_ports: Delta<PortSet>,
    /// UDP ports.
    #[serde(serialize_with = "ser_ports")]
    pub udp_ports: Delta<PortSet>,
}

fn ser_ports<S: Serializer>(d: &Delta<PortSet>, s: S) -> Result<S::Ok, S::Error> {
    Delta {
        added: d.added.to_strings(),
        removed: d.removed.to_strings(),
    }
    .serialize(s)
}

/// Every change from one copy of the endpoint data to another, sets in id order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EndpointDiff {
    /// Sets only the new data has.
    pub sets_added: Vec<SetSummary>,
    /// Sets only the old data has.
    pub sets_removed: Vec<SetSummary>,
    /// Sets in both whose contents differ.
    pub sets_changed: Vec<SetChange>,
}

impl EndpointDiff {
    /// Whether the two copies list the same sets with the same contents.
    pub fn is_empty(&self) -> bool {
        self.sets_added.is_empty() && self.sets_removed.is_empty() && self.sets_changed.is_empty()
    }

    /// The change list as indented text, one line per item; "no changes" when empty.
    pub fn render(&self) -> String {
        if self.is_empty() {
            return "  no changes\n".to_owned();
        }
        let mut out = String::new();
        let mut line = |t: String| {
            out.push_str("  ");
            out.push_str(&t);
            out.push('\n');
        };
        for s in &self.sets_added {
            line(format!(
                "+ set {} ({}, {}) added: {}",
                s.id,
                s.service_area,
                s.category,
                contents(s)
            ));
        }
        for s in &self.sets_removed {
            line(format!(
                "- set {} ({}, {}) removed: {}",
                s.id,
                s.service_area,
                s.category,
                contents(s)
            ));
        }
        for c in &self.sets_changed {
            line(format!("~ set {} ({}):", c.id, c.service_area));
            if let Some(k) = &c.category {
                line(format!("    category {} -> {}", k.old, k.new));
            }
            if let Some(r) = &c.required {
                line(format!("    required {} -> {}", r.old, r.new));
            }
            let items = |sign: &str, what: &str, v: &[String]| -> Option<String> {
                (!v.is_empty()).then(|| format!("    {sign} {what}: {}", v.join(", ")))
            };
            let ports = |sign: &str, what: &str, p: &PortSet| -> Option<String> {
                (!p.is_empty()).then(|| format!("    {sign} {what}: {p}"))
            };
            for l in [
                items("+", "addresses", &c.ips.added),
                items("-", "addresses", &c.ips.removed),
                items("+", "names", &c.urls.added),
                items("-", "names", &c.urls.removed),
                ports("+", "TCP ports", &c.tcp_ports.added),
                ports("-", "TCP ports", &c.tcp_ports.removed),
                ports("+", "UDP ports", &c.udp_ports.added),
                ports("-", "UDP ports", &c.udp_ports.removed),
            ]
            .into_iter()
            .flatten()
            {
                line(l);
            }
        }
        out
    }
}

fn contents(s: &SetSummary) -> String {
    let mut parts = Vec::new();
    if !s.ips.is_empty() {
        parts.push(format!("addresses {}", s.ips.join(", ")));
    }
    if !s.urls.is_empty() {
        parts.push(format!("names {}", s.urls.join(", ")));
    }
    if !s.tcp_ports.is_empty() {
        parts.push(format!("TCP {}", s.tcp_ports));
    }
    if !s.udp_ports.is_empty() {
        parts.push(format!("UDP {}", s.udp_ports));
    }
    parts.join("; ")
}

/// Items of `new` not in `old`, and of `old` not in `new`, each sorted.
fn delta<T: Ord + Clone + ToString>(old: &[T], new: &[T]) -> Delta<Vec<String>> {
    let o: BTreeSet<&T> = old.iter().collect();
    let n: BTreeSet<&T> = new.iter().collect();
    Delta {
        added: n.difference(&o).map(|x| x.to_string()).collect(),
        removed: o.difference(&n).map(|x| x.to_string()).collect(),
    }
}

/// Compares two copies of the endpoint data.
pub fn diff(old: &EndpointData, new: &EndpointData) -> EndpointDiff {
    let mut out = EndpointDiff::default();
    let mut ids: Vec<u32> = old.sets().iter().chain(new.sets()).map(|s| s.id).collect();
    ids.sort_unstable();
    ids.dedup();
    for id in ids {
        match (old.set(id), new.set(id)) {
            (None, Some(n)) => out.sets_added.push(SetSummary::of(n)),
            (Some(o), None) => out.sets_removed.push(SetSummary::of(o)),
            (Some(o), Some(n)) => {
                let change = SetChange {
                    id,
                    service_area: n.service_area.clone(),
                    category: (o.category != n.category).then_some(Change {
                        old: o.category,
                        new: n.category,
                    }),
                    required: (o.required != n.required).then_some(Change {
                        old: o.required,
                        new: n.required,
                    }),
                    ips: delta(&o.ips, &n.ips),
                    urls: delta(&o.urls, &n.urls),
                    tcp_ports: Delta {
                        added: n.tcp_ports.difference(&o.tcp_ports),
                        removed: o.tcp_ports.difference(&n.tcp_ports),
                    },
                    udp_ports: Delta {
                        added: n.udp_ports.difference(&o.udp_ports),
                        removed: o.udp_ports.difference(&n.udp_ports),
                    },
                };
                let unchanged = change.category.is_none()
                    && change.required.is_none()
                    && change.ips == Delta::default()
                    && change.urls == Delta::default()
                    && change.tcp_ports == Delta::default()
                    && change.udp_ports == Delta::default();
                if !unchanged {
                    out.sets_changed.push(change);
                }
            }
            (None, None) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> EndpointData {
        let p = format!(
            "{}/../../../shared/fixtures/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        EndpointData::parse(&std::fs::read_to_string(p).expect("shared fixture")).unwrap()
    }

    #[test]
    fn old_snapshot_to_2025013000() {
        let old = fixture("o365-endpoints-worldwide.json");
        let new = fixture("o365-endpoints-worldwide-2025013000.json");
        let d = diff(&old, &new);
        let removed: Vec<u32> = d.sets_removed.iter().map(|s| s.id).collect();
        assert_eq!(removed, [13, 15, 22, 26, 29]);
        let media = d.sets_changed.iter().find(|c| c.id == 11).unwrap();
        assert_eq!(media.ips.added, ["52.122.0.0/15", "2603:1063::/38"]);
        assert_eq!(media.ips.removed, ["13.107.64.0/18", "52.120.0.0/14"]);
        assert!(media.udp_ports.added.is_empty() && media.udp_ports.removed.is_empty());
        let sig = d.sets_changed.iter().find(|c| c.id == 12).unwrap();
        assert!(sig
            .urls
            .added
            .contains(&"*.teams.cloud.microsoft".to_owned()));
        assert!(sig.urls.added.contains(&"teams.cloud.microsoft".to_owned()));
        let text = d.render();
        assert!(text.contains("- set 13 (Skype"), "{text}");
        assert!(
            text.contains("+ addresses: 52.122.0.0/15, 2603:1063::/38"),
            "{text}"
        );
        // The reverse diff swaps every side.
        let back = diff(&new, &old);
        assert_eq!(back.sets_added.len(), d.sets_removed.len());
        assert_eq!(back.sets_removed.len(), d.sets_added.len());
        assert!(diff(&new, &new).is_empty());
        assert_eq!(diff(&new, &new).render(), "  no changes\n");
    }

    #[test]
    fn ports_category_and_required_changes() {
        let old = EndpointData::parse(
            r#"[{"id": 11, "serviceArea": "Skype", "category": "Allow", "required": false, "udpPorts": "3478-3481", "tcpPorts": "443"}]"#,
        )
        .unwrap();
        let new = EndpointData::parse(
            r#"[{"id": 11, "serviceArea": "Skype", "category": "Optimize", "required": true, "udpPorts": "3478,3480-3481", "tcpPorts": "80,443"}]"#,
        )
        .unwrap();
        let d = diff(&old, &new);
        let c = &d.sets_changed[0];
        assert_eq!(
            c.category.as_ref().map(|k| (k.old, k.new)),
            Some((Category::Allow, Category::Optimize))
        );
        assert_eq!(
            c.required.as_ref().map(|k| (k.old, k.new)),
            Some((false, true))
        );
        assert_eq!(c.udp_ports.removed.to_string(), "3479");
        assert_eq!(c.tcp_ports.added.to_string(), "80");
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(
            json["sets_changed"][0]["udp_ports"]["removed"],
            serde_json::json!(["3479"])
        );
        assert_eq!(json["sets_changed"][0]["category"]["new"], "Optimize");
    }
}
