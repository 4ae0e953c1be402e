//! Microsoft's Call Quality Dashboard building data file, checked as CQD checks an
//! upload ("Upload tenant and building data in CQD"): .csv or .tsv, no header row, 14
//! columns in the documented order plus the optional VPN column, Integer columns
//! numeric, Bool columns 0 or 1, no overlapping ranges (mod.rs). Beyond CQD's own
//! checks, the documented advice: a supernet no wider than /8, NetworkIP the network's
//! first address, building and network names filled, VPN subnets expanded.

use std::net::IpAddr;

use ipnet::IpNet;

use super::delimited::{self, Row};
use super::{Inventory, Site, SiteProblem, Subnet};
use crate::vocab::{SiteFileFormat, SiteProblemKind};

/// The documented columns, in order (VPN, the 15th, is optional).
pub const COLUMNS: [&str; 15] = [
    "NetworkIP",
    "NetworkName",
    "NetworkRange",
    "BuildingName",
    "OwnershipType",
    "BuildingType",
    "BuildingOfficeType",
    "City",
    "ZipCode",
    "Country",
    "State",
    "Region",
    "InsideCorp",
    "ExpressRoute",
    "VPN",
];

const NETWORK_IP: usize = 0;
const NETWORK_NAME: usize = 1;
const NETWORK_RANGE: usize = 2;
const BUILDING_NAME: usize = 3;
const CITY: usize = 7;
const COUNTRY: usize = 9;
const REGION: usize = 11;
const INSIDE_CORP: usize = 12;
const EXPRESS_ROUTE: usize = 13;
const VPN: usize = 14;

/// The widest supernet Microsoft's guidance takes ("supernetting can only be used in a
/// subnet mapping with 8-bit to 28-bit mask"; longer masks are plain subnets).
const WIDEST_PREFIX: u8 = 8;

pub(super) fn read(path: &str, text: &str) -> Inventory {
    let mut inv = Inventory {
        path: path.to_owned(),
        format: SiteFileFormat::CqdBuilding,
        sites: Vec::new(),
        subnets: Vec::new(),
        trusted_ips: Vec::new(),
        problems: Vec::new(),
    };
    let rows = delimited::rows(text, delimited::delimiter(text));
    let last_data = rows
        .iter()
        .rposition(|r| !matches!(r, Ok(Row { fields, .. }) if fields.is_empty()));
    for (i, row) in rows.into_iter().enumerate() {
        let row = match row {
            Ok(row) => row,
            Err((line, message)) => {
                inv.problems
                    .push(problem(line, SiteProblemKind::Columns, true, message));
                continue;
            }
        };
        if row.fields.is_empty() {
            // Blank lines after the data are a file's usual end; inside it, a row.
            if last_data.is_some_and(|last| i < last) {
                inv.problems.push(problem(
                    row.line,
                    SiteProblemKind::Columns,
                    true,
                    "an empty row: CQD wants 14 or 15 columns in every row".to_owned(),
                ));
            }
            continue;
        }
        if row.line == 1 && is_header(&row.fields) {
            inv.problems.push(problem(
                1,
                SiteProblemKind::Header,
                true,
                "a header row: CQD's building file has none (the first line must be data); delete it"
                    .to_owned(),
            ));
            continue;
        }
        read_row(&row, &mut inv);
    }
    inv
}

fn is_header(fields: &[String]) -> bool {
    let first = fields[0].to_ascii_lowercase();
    first.starts_with("network") || first == "subnet" || first == "ip"
}

fn problem(line: usize, kind: SiteProblemKind, rejected: bool, message: String) -> SiteProblem {
    SiteProblem {
        line,
        kind,
        rejected,
        message,
    }
}

fn read_row(row: &Row, inv: &mut Inventory) {
    let f = &row.fields;
    let line = row.line;
    let mut bad = |kind, rejected, message: String| {
        inv.problems.push(problem(line, kind, rejected, message));
    };
    if f.len() != 14 && f.len() != 15 {
        bad(
            SiteProblemKind::Columns,
            true,
            format!(
                "{} columns; CQD wants 14 ({} .. {}) or 15 (with {})",
                f.len(),
                COLUMNS[0],
                COLUMNS[13],
                COLUMNS[14]
            ),
        );
        return;
    }
    let address: Option<IpAddr> = match f[NETWORK_IP].parse() {
        Ok(a) => Some(a),
        Err(_) => {
            bad(
                SiteProblemKind::Address,
                true,
                format!("NetworkIP `{}` is not an IP address", f[NETWORK_IP]),
            );
            None
        }
    };
    let max = if matches!(address, Some(IpAddr::V6(_))) {
        128
    } else {
        32
    };
    let range: Option<u8> = match f[NETWORK_RANGE].parse::<u8>() {
        Ok(r) if (WIDEST_PREFIX..=max).contains(&r) => Some(r),
        Ok(r) if r < WIDEST_PREFIX => {
            bad(
                SiteProblemKind::Range,
                true,
                format!("NetworkRange {r} is a supernet wider than /{WIDEST_PREFIX}, the widest CQD maps"),
            );
            None
        }
        _ => {
            bad(
                SiteProblemKind::Range,
                true,
                format!(
                    "NetworkRange `{}` is not a prefix length ({WIDEST_PREFIX} to {max})",
                    f[NETWORK_RANGE]
                ),
            );
            None
        }
    };
    let mut flag = |col: usize, optional: bool| -> Option<Option<bool>> {
        match f.get(col).map(String::as_str) {
            Some("1") => Some(Some(true)),
            Some("0") => Some(Some(false)),
            None | Some("") if optional => Some(None),
            Some(v) => {
                bad(
                    SiteProblemKind::Boolean,
                    true,
                    format!("{} `{v}` is not a Bool (0 or 1)", COLUMNS[col]),
                );
                None
            }
            None => None,
        }
    };
    let inside_corp = flag(INSIDE_CORP, false);
    let express_route = flag(EXPRESS_ROUTE, false);
    let vpn_column = flag(VPN, true);
    let (Some(address), Some(range), Some(inside_corp), Some(express_route), Some(vpn_column)) =
        (address, range, inside_corp, express_route, vpn_column)
    else {
        return;
    };
    let Ok(net) = IpNet::new(address, range) else {
        return;
    };
    if net.network() != address {
        bad(
            SiteProblemKind::Range,
            true,
            format!(
                "NetworkIP {address} is not the first address of its /{range}: CQD expands NetworkIP + NetworkRange, so write {}",
                net.network()
            ),
        );
        return;
    }
    let network_name = f[NETWORK_NAME].clone();
    let building = f[BUILDING_NAME].clone();
    if network_name.is_empty() || building.is_empty() {
        bad(
            SiteProblemKind::Missing,
            false,
            format!(
                "{} is empty: CQD takes it, but its reports show building and network names",
                if building.is_empty() {
                    "BuildingName"
                } else {
                    "NetworkName"
                }
            ),
        );
    }
    let named_vpn =
        network_name.eq_ignore_ascii_case("vpn") || building.eq_ignore_ascii_case("vpn");
    let vpn = vpn_column == Some(true) || named_vpn;
    let single = range == max;
    if named_vpn && vpn_column != Some(true) && !single {
        bad(
            SiteProblemKind::VpnSubnet,
            false,
            format!(
                "a VPN subnet as one /{range} row: VPNs misreport the client's subnet, so Microsoft asks for one /{max} row per address, or VPN = 1 (the 15th column) to expand it"
            ),
        );
    }
    let site = if building.is_empty() {
        network_name.clone()
    } else {
        building
    };
    if !inv.sites.iter().any(|s| s.name == site) {
        inv.sites.push(Site {
            name: site.clone(),
            region: f[REGION].clone(),
            city: f[CITY].clone(),
            country: f[COUNTRY].clone(),
            subnets: 0,
        });
    }
    inv.subnets.push(Subnet {
        net,
        site,
        network_name,
        line,
        inside_corp,
        express_route,
        vpn,
    });
}
