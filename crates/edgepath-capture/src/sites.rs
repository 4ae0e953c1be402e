//! A capture's flows and findings per site of the admin's inventory: each flow belongs
//! to the site of its client's address (`unknown` when the address is in no subnet), a
//! finding to the site of the flow it is about.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use edgepath_model::{Inventory, MediaPath, Severity};
use serde::Serialize;

use crate::report::Report;

/// The site label of flows whose client is in no subnet of the inventory.
pub const UNKNOWN: &str = "unknown";

/// One site's part of a capture.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SiteSummary {
    /// The site (or `unknown`).
    pub site: String,
    /// The client addresses seen there.
    pub clients: Vec<IpAddr>,
    /// Flows whose client is there.
    pub flows: usize,
    /// Media flows per path (`relay-udp`: 3, ...).
    pub media_paths: BTreeMap<MediaPath, usize>,
    /// Findings about its flows, per severity.
    pub findings: BTreeMap<Severity, usize>,
    /// The warnings and errors about its flows, as the report says them.
    pub problems: Vec<String>,
}

/// The address of an `ip:port` or `[v6]:port` end as the report writes it.
fn address(end: &str) -> Option<IpAddr> {
    end.parse::<SocketAddr>().ok().map(|a| a.ip())
}

fn slot(sites: &mut BTreeMap<String, SiteSummary>, name: String) -> &mut SiteSummary {
    sites.entry(name.clone()).or_insert_with(|| SiteSummary {
        site: name,
        clients: Vec::new(),
        flows: 0,
        media_paths: BTreeMap::new(),
        findings: BTreeMap::new(),
        problems: Vec::new(),
    })
}

/// The report's flows and findings grouped by site, busiest first.
pub fn by_site(report: &Report, inv: &Inventory) -> Vec<SiteSummary> {
    let site_of = |client: &str| {
        address(client)
            .and_then(|a| inv.lookup(a))
            .map_or_else(|| UNKNOWN.to_owned(), |m| m.site)
    };
    let mut sites: BTreeMap<String, SiteSummary> = BTreeMap::new();
    for f in &report.flows {
        let s = slot(&mut sites, site_of(&f.client));
        s.flows += 1;
        if let Some(ip) = address(&f.client) {
            if !s.clients.contains(&ip) {
                s.clients.push(ip);
            }
        }
        if let Some(path) = f.path {
            *s.media_paths.entry(path).or_default() += 1;
        }
    }
    for finding in &report.findings {
        let Some(flow) = &finding.flow else {
            continue;
        };
        let s = slot(&mut sites, site_of(&flow.client));
        *s.findings.entry(finding.severity).or_default() += 1;
        if finding.severity >= Severity::Warn {
            s.problems.push(finding.message.clone());
        }
    }
    let mut out: Vec<SiteSummary> = sites.into_values().collect();
    for s in &mut out {
        s.clients.sort();
    }
    out.sort_by(|a, b| b.flows.cmp(&a.flows).then_with(|| a.site.cmp(&b.site)));
    out
}
