//! The admin's site inventory: which subnet is which site. Two readers, one model:
//! Microsoft's Call Quality Dashboard building data file (`cqd.rs`) and the Teams
//! network topology as a CSV (`topology.rs`). Each checks its file the way its service
//! checks an upload and keeps every row it can read; what is wrong is a
//! [`SiteProblem`] with its line, never a reason to stop a probe (`claims.rs` compares
//! what the inventory says of a site with what was measured there).

pub mod claims;
mod cqd;
mod delimited;
mod topology;

use std::net::IpAddr;

use ipnet::IpNet;
use serde::Serialize;

use crate::vocab::{SiteFileFormat, SiteProblemKind};

/// One subnet of the inventory and what the file says of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Subnet {
    /// The network (`10.1.0.0/22`).
    #[serde(serialize_with = "display")]
    pub net: IpNet,
    /// The site it belongs to: CQD's BuildingName (NetworkName when that is empty), or
    /// the topology's NetworkSiteID.
    pub site: String,
    /// CQD's NetworkName (empty in a topology file).
    pub network_name: String,
    /// The line of the file.
    pub line: usize,
    /// CQD's InsideCorp: inside the corporate network (`null` in a topology file).
    pub inside_corp: Option<bool>,
    /// CQD's ExpressRoute (`null` in a topology file).
    pub express_route: Option<bool>,
    /// A VPN subnet: CQD's VPN column, or "VPN" as its NetworkName or BuildingName
    /// (Microsoft's two documented conventions).
    pub vpn: bool,
}

/// A site: a building (CQD) or a network site (Teams), with where it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Site {
    /// The name reports use (the `site` label).
    pub name: String,
    /// CQD's Region or the topology's NetworkRegionID.
    pub region: String,
    /// City (CQD).
    pub city: String,
    /// Country (CQD).
    pub country: String,
    /// How many subnets the file gives it.
    pub subnets: usize,
}

/// An external address the tenant trusts (the topology's trusted IPs: where a site's
/// traffic reaches the internet).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrustedIp {
    /// The address range.
    #[serde(serialize_with = "display")]
    pub net: IpNet,
    /// Its description.
    pub description: String,
    /// The line of the file.
    pub line: usize,
}

/// What is wrong with a row, and whether the service would refuse the file for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SiteProblem {
    /// The line of the file (1-based).
    pub line: usize,
    /// What kind of mistake.
    pub kind: SiteProblemKind,
    /// Whether CQD (or Teams) refuses the upload for it; otherwise it is advice.
    pub rejected: bool,
    /// What is wrong and what to write instead.
    pub message: String,
}

/// A whole inventory file, read.
#[derive(Debug, Clone, Serialize)]
pub struct Inventory {
    /// The file, as given.
    pub path: String,
    /// Its layout.
    pub format: SiteFileFormat,
    /// The sites, in the order the file first names them.
    pub sites: Vec<Site>,
    /// Every subnet read, in file order.
    pub subnets: Vec<Subnet>,
    /// The tenant's trusted external addresses (topology files only).
    pub trusted_ips: Vec<TrustedIp>,
    /// Every mistake, in file order.
    pub problems: Vec<SiteProblem>,
}

/// What a site lookup found for one address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SiteMatch {
    /// The address looked up.
    pub address: IpAddr,
    /// The site's name.
    pub site: String,
    /// The subnet that matched (the longest).
    #[serde(serialize_with = "display")]
    pub subnet: IpNet,
    /// Its line in the file.
    pub line: usize,
    /// What the file says of the subnet.
    pub inside_corp: Option<bool>,
    /// ExpressRoute, as the file says.
    pub express_route: Option<bool>,
    /// A VPN subnet.
    pub vpn: bool,
}

impl Inventory {
    /// Reads `text` (the content of `path`): a file whose first row names
    /// `MaskBits` is a Teams topology, anything else a CQD building file.
    pub fn parse(path: &str, text: &str) -> Inventory {
        let mut inv = if topology::is_topology(text) {
            topology::read(path, text)
        } else {
            cqd::read(path, text)
        };
        inv.problems.extend(overlaps(&inv.subnets, inv.format));
        inv.problems.sort_by_key(|p| p.line);
        inv.sites = sites_of(&inv.subnets, &inv.sites);
        inv
    }

    /// Whether the service would take the file as it is.
    pub fn accepted(&self) -> bool {
        !self.problems.iter().any(|p| p.rejected)
    }

    /// The site of `address`: the longest subnet that holds it (where the file has
    /// overlaps, the most specific is the one meant).
    pub fn lookup(&self, address: IpAddr) -> Option<SiteMatch> {
        let address = canonical(address);
        self.subnets
            .iter()
            .filter(|s| s.net.contains(&address))
            .max_by_key(|s| s.net.prefix_len())
            .map(|s| SiteMatch {
                address,
                site: s.site.clone(),
                subnet: s.net,
                line: s.line,
                inside_corp: s.inside_corp,
                express_route: s.express_route,
                vpn: s.vpn,
            })
    }

    /// Whether `address` is one of the tenant's trusted external addresses; `None`
    /// when the file lists none (a CQD file never does).
    pub fn trusts(&self, address: IpAddr) -> Option<bool> {
        if self.trusted_ips.is_empty() {
            return None;
        }
        let address = canonical(address);
        Some(self.trusted_ips.iter().any(|t| t.net.contains(&address)))
    }

    /// `path:line: message` for every problem, for people.
    pub fn problem_lines(&self) -> Vec<String> {
        self.problems
            .iter()
            .map(|p| format!("{}:{}: {}", self.path, p.line, p.message))
            .collect()
    }
}

fn display<S: serde::Serializer>(net: &IpNet, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(net)
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// The sites with their subnet counts, keeping what the reader learnt of each (region,
/// city, country) from its first row.
fn sites_of(subnets: &[Subnet], known: &[Site]) -> Vec<Site> {
    let mut out: Vec<Site> = Vec::new();
    for s in subnets {
        match out.iter_mut().find(|x| x.name == s.site) {
            Some(site) => site.subnets += 1,
            None => {
                let mut site = known
                    .iter()
                    .find(|k| k.name == s.site)
                    .cloned()
                    .unwrap_or_else(|| Site {
                        name: s.site.clone(),
                        region: String::new(),
                        city: String::new(),
                        country: String::new(),
                        subnets: 0,
                    });
                site.subnets = 1;
                out.push(site);
            }
        }
    }
    out
}

/// Duplicates and overlaps between subnets. CQD refuses any overlap ("all new building
/// uploads will be checked for any overlapping ranges"); Teams refuses a subnet defined
/// twice (one site per subnet), and takes nested subnets (the longest match wins),
/// which are advice here.
fn overlaps(subnets: &[Subnet], format: SiteFileFormat) -> Vec<SiteProblem> {
    let mut order: Vec<&Subnet> = subnets.iter().collect();
    // By first address, the wider first: each subnet need only be compared with those
    // still open before it (a stack of containing networks).
    order.sort_by_key(|s| (s.net.network(), s.net.prefix_len(), s.line));
    let mut open: Vec<&Subnet> = Vec::new();
    let mut out = Vec::new();
    for s in order {
        open.retain(|o| o.net.contains(&s.net.network()));
        for o in &open {
            out.push(if o.net == s.net {
                let same_site = o.site == s.site;
                SiteProblem {
                    line: s.line,
                    kind: SiteProblemKind::Duplicate,
                    // CQD refuses the overlap; the cmdlets refuse a subnet that exists.
                    rejected: true,
                    message: if same_site {
                        format!("{} is given twice (also line {})", s.net, o.line)
                    } else {
                        format!(
                            "{} is given to site {} and to {} (line {}): a subnet belongs to one site",
                            s.net, s.site, o.site, o.line
                        )
                    },
                }
            } else {
                SiteProblem {
                    line: s.line,
                    kind: SiteProblemKind::Overlap,
                    rejected: format == SiteFileFormat::CqdBuilding,
                    message: format!(
                        "{} ({}) lies inside {} ({}, line {}){}",
                        s.net,
                        s.site,
                        o.net,
                        o.site,
                        o.line,
                        if format == SiteFileFormat::CqdBuilding {
                            ": CQD refuses overlapping ranges; split the wider one"
                        } else {
                            ": the longer prefix decides a client's site"
                        }
                    ),
                }
            });
        }
        open.push(s);
    }
    out
}

#[cfg(test)]
mod tests;
