//! The Teams network topology (Teams admin center: Locations > Network topology) as a
//! CSV. Teams has no upload format of its own; the columns are named after the
//! parameters of the cmdlets that define it (`New-CsTenantNetworkSubnet -SubnetID
//! -MaskBits -NetworkSiteID`, `New-CsTenantNetworkSite -NetworkRegionID`,
//! `New-CsTenantTrustedIPAddress -IPAddress -MaskBits`), so `Export-Csv` of their
//! `Get-` twins, joined, reads as it is. A header row is required; columns in any
//! order, case-insensitive; a `#TYPE` line (Windows PowerShell's Export-Csv) is
//! skipped. A row is a subnet (SubnetID, or Identity, with NetworkSiteID) or a trusted
//! IP (IPAddress). As the cmdlets do, an address may have host bits set (the cmdlet's
//! own example is 192.168.0.1 with 24 mask bits) and MaskBits runs 0-32 / 0-128.

use std::net::IpAddr;

use ipnet::IpNet;

use super::delimited::{self, Row};
use super::{Inventory, Site, SiteProblem, Subnet, TrustedIp};
use crate::vocab::{SiteFileFormat, SiteProblemKind};

/// Whether `text` is a topology CSV: its first row (after a `#TYPE` line) names a
/// `MaskBits` column.
pub(super) fn is_topology(text: &str) -> bool {
    header_line(text).is_some_and(|l| {
        l.split([',', '\t', ';'])
            .any(|c| c.trim().trim_matches('"').eq_ignore_ascii_case("maskbits"))
    })
}

fn header_line(text: &str) -> Option<&str> {
    text.strip_prefix('\u{feff}')
        .unwrap_or(text)
        .lines()
        .find(|l| !l.trim().is_empty() && !l.starts_with("#TYPE"))
}

/// Column positions by name.
struct Columns {
    subnet: Option<usize>,
    ip_address: Option<usize>,
    mask_bits: usize,
    site: Option<usize>,
    region: Option<usize>,
    description: Option<usize>,
}

impl Columns {
    fn of(header: &[String]) -> Option<Columns> {
        let find = |names: &[&str]| {
            header
                .iter()
                .position(|h| names.iter().any(|n| h.eq_ignore_ascii_case(n)))
        };
        Some(Columns {
            // Get-CsTenantNetworkSubnet names the subnet `Identity` (and SubnetID).
            subnet: find(&["SubnetID"])
                .or_else(|| find(&["Identity"]).filter(|_| find(&["IPAddress"]).is_none())),
            ip_address: find(&["IPAddress"]),
            mask_bits: find(&["MaskBits"])?,
            site: find(&["NetworkSiteID", "Site"]),
            region: find(&["NetworkRegionID", "Region"]),
            description: find(&["Description"]),
        })
    }
}

pub(super) fn read(path: &str, text: &str) -> Inventory {
    let mut inv = Inventory {
        path: path.to_owned(),
        format: SiteFileFormat::TeamsTopology,
        sites: Vec::new(),
        subnets: Vec::new(),
        trusted_ips: Vec::new(),
        problems: Vec::new(),
    };
    let delimiter = header_line(text).map_or(',', delimited::delimiter);
    let mut columns = None;
    let mut width = 0;
    for row in delimited::rows(text, delimiter) {
        let row = match row {
            Ok(row) => row,
            Err((line, message)) => {
                inv.problems
                    .push(problem(line, SiteProblemKind::Columns, message));
                continue;
            }
        };
        if row.fields.is_empty() || row.fields[0].starts_with("#TYPE") {
            continue;
        }
        let Some(cols) = &columns else {
            // is_topology() found MaskBits in this first row.
            columns = Columns::of(&row.fields);
            width = row.fields.len();
            continue;
        };
        if row.fields.len() != width {
            inv.problems.push(problem(
                row.line,
                SiteProblemKind::Columns,
                format!("{} columns; the header has {width}", row.fields.len()),
            ));
            continue;
        }
        read_row(&row, cols, &mut inv);
    }
    inv
}

fn problem(line: usize, kind: SiteProblemKind, message: String) -> SiteProblem {
    SiteProblem {
        line,
        kind,
        rejected: true,
        message,
    }
}

fn read_row(row: &Row, cols: &Columns, inv: &mut Inventory) {
    let get = |i: Option<usize>| i.map_or("", |i| row.fields[i].as_str());
    let subnet = get(cols.subnet);
    let ip = get(cols.ip_address);
    let (text, column) = match (subnet.is_empty(), ip.is_empty()) {
        (false, true) => (subnet, "SubnetID"),
        (true, false) => (ip, "IPAddress"),
        (false, false) => {
            inv.problems.push(problem(
                row.line,
                SiteProblemKind::Columns,
                "both SubnetID and IPAddress: a row is a subnet or a trusted IP".to_owned(),
            ));
            return;
        }
        (true, true) => {
            inv.problems.push(problem(
                row.line,
                SiteProblemKind::Missing,
                "neither SubnetID nor IPAddress".to_owned(),
            ));
            return;
        }
    };
    let Ok(address) = text.parse::<IpAddr>() else {
        inv.problems.push(problem(
            row.line,
            SiteProblemKind::Address,
            format!("{column} `{text}` is not an IP address"),
        ));
        return;
    };
    let max = if address.is_ipv4() { 32 } else { 128 };
    let bits = &row.fields[cols.mask_bits];
    let Some(net) = bits
        .parse::<u8>()
        .ok()
        .and_then(|b| IpNet::new(address, b).ok())
    else {
        inv.problems.push(problem(
            row.line,
            SiteProblemKind::Range,
            format!("MaskBits `{bits}` is not 0 to {max} for {address}"),
        ));
        return;
    };
    let net = net.trunc();
    let description = get(cols.description).to_owned();
    if column == "IPAddress" {
        inv.trusted_ips.push(TrustedIp {
            net,
            description,
            line: row.line,
        });
        return;
    }
    let site = get(cols.site).to_owned();
    if site.is_empty() {
        inv.problems.push(problem(
            row.line,
            SiteProblemKind::Missing,
            format!("subnet {net} has no NetworkSiteID: each subnet belongs to a site"),
        ));
        return;
    }
    if !inv.sites.iter().any(|s| s.name == site) {
        inv.sites.push(Site {
            name: site.clone(),
            region: get(cols.region).to_owned(),
            city: String::new(),
            country: String::new(),
            subnets: 0,
        });
    }
    inv.subnets.push(Subnet {
        net,
        vpn: site.eq_ignore_ascii_case("vpn"),
        site,
        network_name: String::new(),
        line: row.line,
        inside_corp: None,
        express_route: None,
    });
}
