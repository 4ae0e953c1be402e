//! What the inventory claims of a client's site against what a check measured there:
//! pure, so the lens that measured (check, serve) only gathers the facts.

use std::net::IpAddr;

use serde::Serialize;

use super::{Inventory, SiteMatch};
use crate::vocab::Severity;

/// What a check measured that the inventory makes claims about.
#[derive(Debug, Clone, Default)]
pub struct Measured {
    /// The client's address towards the relay (the local address the probe used).
    pub local: Option<IpAddr>,
    /// The public addresses the relay saw.
    pub public: Vec<IpAddr>,
    /// Whether Teams media leaves through a VPN tunnel (`None`: not known).
    pub media_tunnelled: Option<bool>,
    /// Whether the client was told to use an HTTP proxy (by flag, environment,
    /// system settings or PAC).
    pub proxy: bool,
}

/// One disagreement (or a fact worth saying) between inventory and measurement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SiteFinding {
    /// How much it matters.
    pub severity: Severity,
    /// What differs, and what to change (the file or the network).
    pub text: String,
}

/// The client's site and every claim that does not hold. `None` site: the address is
/// in no subnet of the file (CQD counts such calls as outside the network).
pub fn compare(inv: &Inventory, m: &Measured) -> (Option<SiteMatch>, Vec<SiteFinding>) {
    let mut out = Vec::new();
    let mut say = |severity, text: String| out.push(SiteFinding { severity, text });
    let Some(local) = m.local else {
        say(
            Severity::Info,
            "the client's address is not known (no relay was reached): its site is not known"
                .to_owned(),
        );
        return (None, out);
    };
    let found = inv.lookup(local);
    let Some(site) = &found else {
        say(
            Severity::Warn,
            format!(
                "{local} is in no subnet of {}: CQD counts this client's calls as outside and reports them under no building; add its subnet",
                inv.path
            ),
        );
        return (None, out);
    };
    let at = format!(
        "{} ({}, {}:{})",
        site.site, site.subnet, inv.path, site.line
    );
    match (site.vpn, m.media_tunnelled) {
        (true, Some(false)) => say(
            Severity::Warn,
            format!("{at} is marked VPN, but Teams media leaves directly, not through a tunnel: the subnet is not (or no longer) a VPN pool, or the tunnel is split; correct the file"),
        ),
        (false, Some(true)) => say(
            Severity::Warn,
            format!("{at} is not marked VPN, but Teams media goes through a tunnel: mark the subnet VPN in the file (CQD then tells these calls apart), and split Teams media out of the tunnel"),
        ),
        _ => {}
    }
    // A VPN pool is inside by definition and its clients often skip the proxy (a split
    // tunnel sends Microsoft 365 straight out): the proxy says nothing of it.
    match (site.inside_corp.filter(|_| !site.vpn), m.proxy) {
        (Some(true), false) => say(
            Severity::Info,
            format!("{at} is marked InsideCorp, but no proxy was configured here: a corporate network usually has one; if this subnet is a guest or home network, set InsideCorp to 0"),
        ),
        (Some(false), true) => say(
            Severity::Info,
            format!("{at} is marked outside the corporate network (InsideCorp 0), but a proxy is configured: if the subnet is corporate, set InsideCorp to 1"),
        ),
        _ => {}
    }
    for public in &m.public {
        if inv.trusts(*public) == Some(false) {
            say(
                Severity::Warn,
                format!("{at} reaches the internet from {public}, which is not among the tenant's trusted IPs: Teams will not place this client in its network site (location-based routing, emergency addresses); add the address"),
            );
        }
    }
    (found, out)
}

/// The site part of a check's report: the client's site and what does not hold, the
/// inventory's own problems counted among the findings.
#[derive(Debug, Clone, Serialize)]
pub struct SiteReport {
    /// The inventory file.
    pub file: String,
    /// Its layout.
    pub format: crate::vocab::SiteFileFormat,
    /// Whether CQD (or Teams) would take the file as it is.
    pub accepted: bool,
    /// The client's site (`null`: in no subnet of the file, or not known).
    pub site: Option<SiteMatch>,
    /// Disagreements between the file and the measurement, then the file's problems.
    pub findings: Vec<SiteFinding>,
}

impl SiteReport {
    /// Compares `inv` with `m` ([`compare`]) and adds the file's own problems: a
    /// mistake in the file is a finding of the run, never a reason to stop it.
    pub fn new(inv: &Inventory, m: &Measured) -> SiteReport {
        let (site, mut findings) = compare(inv, m);
        if !inv.problems.is_empty() {
            let first = inv.problem_lines().into_iter().next().unwrap_or_default();
            findings.push(SiteFinding {
                severity: Severity::Warn,
                text: format!(
                    "the site inventory has {} problem(s){}, first {first}; `edgepath sites {}` lists them",
                    inv.problems.len(),
                    if inv.accepted() { "" } else { " for which it would be refused" },
                    inv.path
                ),
            });
        }
        SiteReport {
            file: inv.path.clone(),
            format: inv.format,
            accepted: inv.accepted(),
            site,
            findings,
        }
    }

    /// The site's name, or `unknown` (the label value when the client is in no site).
    pub fn label(&self) -> &str {
        self.site.as_ref().map_or("unknown", |s| s.site.as_str())
    }

    /// Whether any finding asks for a change.
    pub fn has_warnings(&self) -> bool {
        self.findings.iter().any(|f| f.severity >= Severity::Warn)
    }
}
