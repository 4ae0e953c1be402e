//! `edgepath sites FILE|-`: the site inventory, checked and listed; and `load`, which
//! every command with `--sites` reads the file through.

use std::net::IpAddr;
use std::path::Path;

use anyhow::Result;
use edgepath_model::sites::SiteMatch;
use edgepath_model::Inventory;
use serde::Serialize;

use crate::args::SitesArgs;
use crate::output::{emit, emit_json, read_text, Outcome, Table};

/// Reads the inventory at `path` (`-`: standard input). Only a file that cannot be read
/// at all is an error; every mistake inside it is a problem of the inventory, so that a
/// probe goes on with the rows that hold.
pub fn load(path: &Path) -> Result<Inventory> {
    let shown = if path.as_os_str() == "-" {
        "standard input".to_owned()
    } else {
        path.display().to_string()
    };
    let (text, bad_utf8) = read_text(path)?;
    let mut inv = Inventory::parse(&shown, &text);
    if let Some(note) = bad_utf8 {
        inv.problems.insert(
            0,
            edgepath_model::SiteProblem {
                line: 1,
                kind: edgepath_model::SiteProblemKind::Columns,
                rejected: true,
                message: note,
            },
        );
    }
    Ok(inv)
}

#[derive(Serialize)]
struct SitesDocument<'a> {
    #[serde(flatten)]
    inventory: &'a Inventory,
    /// Whether CQD (or Teams) would take the file as it is.
    accepted: bool,
    lookups: Vec<Lookup>,
}

#[derive(Serialize)]
struct Lookup {
    address: IpAddr,
    #[serde(rename = "match")]
    found: Option<SiteMatch>,
}

/// Runs the command: exit 1 when the file has problems (CQD or Teams would refuse it,
/// or Microsoft's guidance advises otherwise), 0 when it is clean.
pub fn run(args: &SitesArgs) -> Result<Outcome> {
    let inv = load(&args.input)?;
    let lookups: Vec<Lookup> = args
        .lookup
        .iter()
        .map(|a| Lookup {
            address: *a,
            found: inv.lookup(*a),
        })
        .collect();
    let outcome = Outcome::from_warnings(&inv.problems);
    if args.output.json {
        emit_json(&SitesDocument {
            inventory: &inv,
            accepted: inv.accepted(),
            lookups,
        })?;
        return Ok(outcome);
    }
    emit(&text(&inv, &lookups))?;
    Ok(outcome)
}

fn text(inv: &Inventory, lookups: &[Lookup]) -> String {
    let mut out = format!(
        "Site inventory: {} ({}): {} site(s), {} subnet(s){}\n\n",
        inv.path,
        inv.format,
        inv.sites.len(),
        inv.subnets.len(),
        if inv.trusted_ips.is_empty() {
            String::new()
        } else {
            format!(", {} trusted IP range(s)", inv.trusted_ips.len())
        }
    );
    let mut t = Table::new(&[
        "SITE", "REGION", "CITY", "COUNTRY", "SUBNETS", "INSIDE", "VPN",
    ]);
    for site in &inv.sites {
        let subnets: Vec<_> = inv.subnets.iter().filter(|s| s.site == site.name).collect();
        let flag = |f: &dyn Fn(&edgepath_model::Subnet) -> Option<bool>| {
            let yes = subnets.iter().filter(|s| f(s) == Some(true)).count();
            let known = subnets.iter().filter(|s| f(s).is_some()).count();
            match (known, yes) {
                (0, _) => "-".to_owned(),
                (k, y) if y == k => "yes".to_owned(),
                (_, 0) => "no".to_owned(),
                (k, y) => format!("{y} of {k}"),
            }
        };
        t.row(vec![
            site.name.clone(),
            dash(&site.region),
            dash(&site.city),
            dash(&site.country),
            site.subnets.to_string(),
            flag(&|s| s.inside_corp),
            flag(&|s| Some(s.vpn)),
        ]);
    }
    t.render(&mut out);
    if !inv.trusted_ips.is_empty() {
        out.push_str("\nTrusted IPs (the tenant's egress addresses):\n");
        for ip in &inv.trusted_ips {
            out.push_str(&format!("  {} {}\n", ip.net, ip.description));
        }
    }
    if !lookups.is_empty() {
        out.push('\n');
        for l in lookups {
            match &l.found {
                Some(m) => out.push_str(&format!(
                    "{} is in {} ({}, line {})\n",
                    l.address, m.site, m.subnet, m.line
                )),
                None => out.push_str(&format!("{} is in no site\n", l.address)),
            }
        }
    }
    if inv.problems.is_empty() {
        out.push_str(&format!(
            "\nNo problems: {} would take this file.\n",
            taker(inv)
        ));
    } else {
        let refused = inv.problems.iter().filter(|p| p.rejected).count();
        out.push_str(&format!(
            "\n{} problem(s){}:\n",
            inv.problems.len(),
            if refused > 0 {
                format!(", {refused} for which {} refuses the file", taker(inv))
            } else {
                String::new()
            }
        ));
        for (p, line) in inv.problems.iter().zip(inv.problem_lines()) {
            out.push_str(&format!(
                "  {line}{}\n",
                if p.rejected { "" } else { " (advice)" }
            ));
        }
    }
    out
}

fn taker(inv: &Inventory) -> &'static str {
    match inv.format {
        edgepath_model::SiteFileFormat::CqdBuilding => "CQD",
        edgepath_model::SiteFileFormat::TeamsTopology => "Teams",
    }
}

fn dash(s: &str) -> String {
    if s.is_empty() {
        "-".to_owned()
    } else {
        s.to_owned()
    }
}
