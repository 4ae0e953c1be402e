use std::net::IpAddr;

use super::claims::{compare, Measured};
use super::*;
use crate::vocab::Severity;

/// Microsoft's sample row (CQD-upload-tenant-building-data.md), 15 columns.
const SAMPLE: &str = "192.168.1.0,USA/Seattle/SEATTLE-SEA-1,26,SEATTLE-SEA-1,Contoso,IT Termination,Engineering,Seattle,98001,US,WA,MSUS,1,0,0";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A CQD row for `net`/`range` in `building`, with InsideCorp and VPN as given.
fn row(net: &str, range: &str, building: &str, inside: &str, vpn: &str) -> String {
    format!("{net},{building}-net,{range},{building},Contoso,,,Seattle,98001,US,WA,MSUS,{inside},0,{vpn}")
}

#[test]
fn microsofts_documented_examples_are_accepted() {
    // The sample row; the supernet example (10.1.0.0/22 for four /24 floors); a VPN pool
    // as Microsoft advises, one /32 per address with the building "VPN"; a 14-column
    // row (VPN is optional); and the same as TSV.
    let mut text = format!(
        "{SAMPLE}\n{}\n",
        row("10.1.0.0", "22", "Marketing", "1", "0")
    );
    for host in 1..=4 {
        text += &format!("172.16.18.{host},VPN,32,VPN,Contoso,,,,,US,,MSUS,1,0,0\n");
    }
    text += "10.2.0.0,Lab,24,Lab,,,,,,,,,1,1\n";
    let inv = Inventory::parse("b.csv", &text);
    assert!(inv.problems.is_empty(), "{:?}", inv.problem_lines());
    assert!(inv.accepted());
    assert_eq!(inv.format, SiteFileFormat::CqdBuilding);
    let names: Vec<&str> = inv.sites.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["SEATTLE-SEA-1", "Marketing", "VPN", "Lab"]);
    assert_eq!(inv.sites[2].subnets, 4);
    assert_eq!(
        (inv.sites[0].city.as_str(), inv.sites[0].region.as_str()),
        ("Seattle", "MSUS")
    );
    let m = inv.lookup(ip("10.1.2.77")).unwrap();
    assert_eq!(
        (m.site.as_str(), m.subnet.to_string(), m.line),
        ("Marketing", "10.1.0.0/22".to_owned(), 2)
    );
    assert_eq!(m.inside_corp, Some(true));
    assert!(inv.lookup(ip("172.16.18.3")).unwrap().vpn);
    assert_eq!(
        inv.lookup(ip("10.2.0.9")).unwrap().express_route,
        Some(true)
    );
    assert!(inv.lookup(ip("192.168.1.64")).is_none(), "outside the /26");
    assert!(
        inv.lookup(ip("::ffff:192.168.1.5")).is_some(),
        "IPv4-mapped"
    );
    let tsv = Inventory::parse("b.tsv", &SAMPLE.replace(',', "\t"));
    assert!(tsv.problems.is_empty() && tsv.subnets.len() == 1);
}

#[test]
fn rejects_what_cqd_rejects_with_the_reason_and_line() {
    let good = row("10.9.0.0", "24", "Ok", "1", "0");
    // (the bad row, its kind, whether CQD refuses the file, words of the message)
    let cases: &[(String, SiteProblemKind, bool, &str)] = &[
        (
            row("10.1.0.0", "24", "A", "1", "0")
                .replacen(",0,0", ",0", 1)
                .replacen(",1,0", "", 1),
            SiteProblemKind::Columns,
            true,
            "CQD wants 14",
        ),
        (
            row("10.1.0.300", "24", "A", "1", "0"),
            SiteProblemKind::Address,
            true,
            "not an IP address",
        ),
        (
            row("10.1.0.0", "33", "A", "1", "0"),
            SiteProblemKind::Range,
            true,
            "not a prefix length (8 to 32)",
        ),
        (
            row("10.0.0.0", "7", "A", "1", "0"),
            SiteProblemKind::Range,
            true,
            "wider than /8",
        ),
        (
            row("10.1.0.0", "x", "A", "1", "0"),
            SiteProblemKind::Range,
            true,
            "not a prefix length",
        ),
        (
            row("10.1.0.5", "24", "A", "1", "0"),
            SiteProblemKind::Range,
            true,
            "write 10.1.0.0",
        ),
        (
            row("10.1.0.0", "24", "A", "yes", "0"),
            SiteProblemKind::Boolean,
            true,
            "InsideCorp `yes` is not a Bool",
        ),
        (
            row("10.1.0.0", "24", "A", "1", "2"),
            SiteProblemKind::Boolean,
            true,
            "VPN `2`",
        ),
        (
            row("10.9.0.0", "24", "Ok", "1", "0"),
            SiteProblemKind::Duplicate,
            true,
            "given twice (also line 1)",
        ),
        (
            row("10.9.0.128", "25", "B", "1", "0"),
            SiteProblemKind::Overlap,
            true,
            "CQD refuses overlapping",
        ),
        (
            row("10.8.0.0", "15", "B", "1", "0"),
            SiteProblemKind::Overlap,
            true,
            "lies inside 10.8.0.0/15",
        ),
        (
            row("172.16.18.0", "24", "VPN", "1", "0"),
            SiteProblemKind::VpnSubnet,
            false,
            "one /32 row per address",
        ),
        (
            row("10.1.0.0", "24", "", "1", "0"),
            SiteProblemKind::Missing,
            false,
            "BuildingName is empty",
        ),
        (
            "\"10.1.0.0,x".to_owned(),
            SiteProblemKind::Columns,
            true,
            "not closed",
        ),
    ];
    for (bad, kind, rejected, words) in cases {
        let inv = Inventory::parse("b.csv", &format!("{good}\n{bad}\n"));
        let p = inv
            .problems
            .iter()
            .find(|p| p.kind == *kind)
            .unwrap_or_else(|| panic!("{bad}: no {kind} in {:?}", inv.problem_lines()));
        assert_eq!(p.rejected, *rejected, "{bad}");
        assert_eq!(
            inv.accepted(),
            !rejected,
            "{bad}: {:?}",
            inv.problem_lines()
        );
        assert!(p.message.contains(words), "{bad}: {}", p.message);
        // The good row is kept whatever the bad one did.
        assert!(inv.lookup(ip("10.9.0.1")).is_some(), "{bad}");
    }
}

#[test]
fn a_header_row_or_a_blank_row_inside_is_refused_a_trailing_one_is_not() {
    let header = format!("NetworkIP,NetworkName,NetworkRange\n{SAMPLE}\n");
    let inv = Inventory::parse("b.csv", &header);
    assert_eq!(inv.problems[0].kind, SiteProblemKind::Header);
    assert_eq!(inv.problems[0].line, 1);
    assert_eq!(inv.subnets.len(), 1);
    let gap = Inventory::parse(
        "b.csv",
        &format!("{SAMPLE}\n\n{}\n\n\n", row("10.1.0.0", "24", "A", "1", "0")),
    );
    assert_eq!(
        gap.problem_lines(),
        ["b.csv:2: an empty row: CQD wants 14 or 15 columns in every row"]
    );
    assert!(Inventory::parse("b.csv", &format!("{SAMPLE}\r\n\r\n"))
        .problems
        .is_empty());
    let empty = Inventory::parse("b.csv", "");
    assert!(empty.problems.is_empty() && empty.subnets.is_empty());
}

#[test]
fn overlaps_are_found_in_any_order_and_nested_twice() {
    let text = [
        row("10.1.2.0", "24", "C", "1", "0"),
        row("10.0.0.0", "8", "A", "1", "0"),
        row("10.1.0.0", "16", "B", "1", "0"),
        row("11.0.0.0", "24", "D", "1", "0"),
    ]
    .join("\n");
    let inv = Inventory::parse("b.csv", &text);
    let overlaps: Vec<(usize, String)> = inv
        .problems
        .iter()
        .map(|p| (p.line, p.message.split(':').next().unwrap().to_owned()))
        .collect();
    assert_eq!(
        overlaps,
        [
            (
                1,
                "10.1.2.0/24 (C) lies inside 10.0.0.0/8 (A, line 2)".to_owned()
            ),
            (
                1,
                "10.1.2.0/24 (C) lies inside 10.1.0.0/16 (B, line 3)".to_owned()
            ),
            (
                3,
                "10.1.0.0/16 (B) lies inside 10.0.0.0/8 (A, line 2)".to_owned()
            ),
        ]
    );
    // The most specific subnet names the site.
    assert_eq!(inv.lookup(ip("10.1.2.3")).unwrap().site, "C");
    assert_eq!(inv.lookup(ip("10.1.9.3")).unwrap().site, "B");
}

const TOPOLOGY: &str =
    "#TYPE Deserialized.Microsoft.Teams.Policy.Administration.Cmdlets.Core.SubnetResponse
\"NetworkRegionID\",\"NetworkSiteID\",\"SubnetID\",\"IPAddress\",\"MaskBits\",\"Description\"
\"EMEA\",\"Berlin\",\"192.168.0.1\",\"\",\"24\",\"Floor 1\"
\"EMEA\",\"Berlin\",\"2001:db8:10::\",\"\",\"48\",\"\"
\"AMER\",\"Seattle\",\"10.20.0.0\",\"\",\"16\",\"\"
\"AMER\",\"Seattle-Lab\",\"10.20.5.0\",\"\",\"24\",\"\"
\"\",\"\",\"\",\"203.0.113.0\",\"28\",\"Berlin egress\"
";

#[test]
fn the_teams_topology_reads_subnets_sites_and_trusted_ips() {
    let inv = Inventory::parse("topology.csv", TOPOLOGY);
    assert_eq!(inv.format, SiteFileFormat::TeamsTopology);
    // Nested subnets of two sites: Teams takes them, the longest match decides.
    assert_eq!(inv.problems.len(), 1, "{:?}", inv.problem_lines());
    assert!(!inv.problems[0].rejected && inv.problems[0].kind == SiteProblemKind::Overlap);
    assert!(inv.accepted());
    let names: Vec<(&str, &str)> = inv
        .sites
        .iter()
        .map(|s| (s.name.as_str(), s.region.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("Berlin", "EMEA"),
            ("Seattle", "AMER"),
            ("Seattle-Lab", "AMER")
        ]
    );
    // The cmdlet's own example has host bits set: the subnet is its network.
    assert_eq!(inv.subnets[0].net.to_string(), "192.168.0.0/24");
    assert_eq!(inv.lookup(ip("192.168.0.200")).unwrap().line, 3);
    assert_eq!(inv.lookup(ip("2001:db8:10::5")).unwrap().site, "Berlin");
    assert_eq!(inv.lookup(ip("10.20.5.9")).unwrap().site, "Seattle-Lab");
    assert_eq!(inv.lookup(ip("10.20.6.9")).unwrap().site, "Seattle");
    assert_eq!(inv.trusts(ip("203.0.113.14")), Some(true));
    assert_eq!(inv.trusts(ip("198.51.100.1")), Some(false));
    assert_eq!(
        Inventory::parse("b.csv", SAMPLE).trusts(ip("198.51.100.1")),
        None
    );
}

#[test]
fn the_teams_topology_refuses_what_the_cmdlets_refuse() {
    let header = "NetworkSiteID,SubnetID,IPAddress,MaskBits\n";
    let cases: &[(&str, SiteProblemKind, &str)] = &[
        (
            "Berlin,10.0.0.0,,33",
            SiteProblemKind::Range,
            "MaskBits `33` is not 0 to 32",
        ),
        (
            "Berlin,10.0.0.x,,24",
            SiteProblemKind::Address,
            "SubnetID `10.0.0.x`",
        ),
        (
            ",10.0.0.0,,24",
            SiteProblemKind::Missing,
            "has no NetworkSiteID",
        ),
        (
            "Berlin,10.0.0.0,1.2.3.4,24",
            SiteProblemKind::Columns,
            "a subnet or a trusted IP",
        ),
        ("Berlin,,,24", SiteProblemKind::Missing, "neither"),
        (
            "Berlin,10.0.0.0,24",
            SiteProblemKind::Columns,
            "3 columns; the header has 4",
        ),
        (
            "Paris,10.1.0.0,,24",
            SiteProblemKind::Duplicate,
            "given to site Paris and to Rome (line 2)",
        ),
        (
            "Rome,10.1.0.0,,24",
            SiteProblemKind::Duplicate,
            "given twice",
        ),
    ];
    for (bad, kind, words) in cases {
        let inv = Inventory::parse("t.csv", &format!("{header}Rome,10.1.0.0,,24\n{bad}\n"));
        let p = inv
            .problems
            .iter()
            .find(|p| p.kind == *kind)
            .unwrap_or_else(|| panic!("{bad}: {:?}", inv.problem_lines()));
        assert!(p.rejected && p.line == 3, "{bad}: {p:?}");
        assert!(p.message.contains(words), "{bad}: {}", p.message);
        assert!(!inv.accepted());
    }
}

fn measured(local: &str, tunnel: Option<bool>, proxy: bool, public: &[&str]) -> Measured {
    Measured {
        local: Some(ip(local)),
        public: public.iter().map(|p| ip(p)).collect(),
        media_tunnelled: tunnel,
        proxy,
    }
}

#[test]
fn claims_are_compared_with_what_was_measured() {
    let text = [
        row("10.1.0.0", "24", "HQ", "1", "0"),
        row("10.2.0.0", "24", "Guest", "0", "0"),
        "10.8.0.0,VPN,24,Remote,,,,,,,,,1,0,1".to_owned(),
    ]
    .join("\n");
    let inv = Inventory::parse("b.csv", &text);
    // (measurement, the site, the words each finding holds)
    let cases: &[(Measured, Option<&str>, &[&str])] = &[
        (
            measured("10.1.0.5", Some(false), true, &[]),
            Some("HQ"),
            &[],
        ),
        (
            measured("10.1.0.5", Some(false), false, &[]),
            Some("HQ"),
            &["InsideCorp, but no proxy"],
        ),
        (
            measured("10.2.0.5", Some(false), true, &[]),
            Some("Guest"),
            &["set InsideCorp to 1"],
        ),
        (
            measured("10.1.0.5", Some(true), true, &[]),
            Some("HQ"),
            &["not marked VPN, but Teams media goes through a tunnel"],
        ),
        (
            measured("10.8.0.5", Some(false), false, &[]),
            Some("Remote"),
            &["is marked VPN, but Teams media leaves directly"],
        ),
        (
            measured("10.8.0.5", Some(true), false, &[]),
            Some("Remote"),
            &[],
        ),
        (
            measured("10.3.0.5", Some(false), false, &[]),
            None,
            &["10.3.0.5 is in no subnet of b.csv"],
        ),
    ];
    for (m, site, words) in cases {
        let (found, findings) = compare(&inv, m);
        assert_eq!(found.map(|f| f.site).as_deref(), *site, "{m:?}");
        let texts: Vec<&str> = findings.iter().map(|f| f.text.as_str()).collect();
        assert_eq!(texts.len(), words.len(), "{m:?}: {texts:?}");
        for (t, w) in texts.iter().zip(words.iter()) {
            assert!(t.contains(w), "{t}");
        }
    }
    let topo = Inventory::parse("t.csv", TOPOLOGY);
    let (_, f) = compare(
        &topo,
        &measured("192.168.0.9", None, false, &["198.51.100.7", "203.0.113.2"]),
    );
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].severity, Severity::Warn);
    assert!(
        f[0].text
            .contains("198.51.100.7, which is not among the tenant's trusted IPs"),
        "{}",
        f[0].text
    );
    let (none, f) = compare(&topo, &Measured::default());
    assert!(none.is_none() && f[0].text.contains("not known"));
}

mod arbitrary_input {
    use proptest::prelude::*;

    use super::super::Inventory;

    proptest! {
        /// Any text, of either format, reads without a panic, and every problem names a
        /// line of the file.
        #[test]
        fn never_panics(body in "[0-9a-f.:,/\t\" \nVPNMaskBits#TYPE-]{0,400}", topo in any::<bool>()) {
            let text = if topo { format!("SubnetID,MaskBits,NetworkSiteID\n{body}") } else { body };
            let inv = Inventory::parse("x.csv", &text);
            let lines = text.lines().count().max(1);
            for p in &inv.problems {
                prop_assert!(p.line >= 1 && p.line <= lines, "{p:?}");
            }
        }
    }
}
