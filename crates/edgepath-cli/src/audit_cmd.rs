//! `edgepath audit FILE...`: what an existing firewall configuration does to each
//! modality and service, and the rule that decides.

use anyhow::{bail, Result};
use edgepath_model::{FlowVerdict, MediaPath, Status, Via};
use edgepath_policy::audit::{
    self,
    predict::{Asked, Interfaces},
    AuditOptions, AuditReport,
};

use crate::args::AuditArgs;
use crate::model_input;
use crate::output::{emit, emit_json, read_text, Outcome, Table, WithEndpoints};

/// Runs the command.
pub fn run(args: &AuditArgs) -> Result<Outcome> {
    let format = args.format;
    let input = model_input::load(&args.endpoints, args.provisioning.as_deref(), args.profile)?;
    let mut rulesets = Vec::new();
    let mut squid = None;
    let mut tunnel = None;
    let mut pac = None;
    let mut sets: Option<audit::ipset::IpSets> = None;
    let mut names = Vec::new();
    for path in &args.files {
        let (text, _) = read_text(path)?;
        let shown = path.display().to_string();
        match audit::read(&shown, &text, format)? {
            audit::Config::Firewall(rs) => rulesets.push(rs),
            audit::Config::Proxy(sq) => {
                if squid.is_some() {
                    bail!("{shown}: a second proxy configuration; give one");
                }
                squid = Some(sq);
            }
            audit::Config::Tunnel(t) => {
                if tunnel.is_some() {
                    bail!("{shown}: a second VPN configuration; give one");
                }
                tunnel = Some(t);
            }
            audit::Config::Pac(p) => {
                if pac.is_some() {
                    bail!("{shown}: a second PAC file; give one");
                }
                pac = Some(p);
            }
            audit::Config::Sets(s) => {
                let all = sets.get_or_insert_with(Default::default);
                for (name, set) in s.sets {
                    if let Some(before) = all.sets.get(&name) {
                        bail!(
                            "{}: ipset {name} again (first at {})",
                            set.created_at,
                            before.created_at
                        );
                    }
                    all.sets.insert(name, set);
                }
                all.warnings.extend(s.warnings);
            }
        }
        names.push(shown);
    }
    let mut egress: Option<audit::ir::Ruleset> = None;
    for path in &args.egress {
        let (text, _) = read_text(path)?;
        let shown = path.display().to_string();
        match audit::read(&shown, &text, None)? {
            audit::Config::Firewall(rs) => egress.get_or_insert_with(Default::default).merge(rs),
            _ => bail!(
                "--egress {shown}: the company's egress is a firewall ruleset (`nft -j list ruleset` or iptables-save)"
            ),
        }
    }
    // The rules' `-m set` matches take their members from the ipset files; without
    // them they stay unknown, saying so.
    if let Some(sets) = &sets {
        if rulesets.is_empty() && egress.is_none() {
            bail!("ipset save output holds the sets iptables rules name: give those rules (iptables-save) too");
        }
        for rs in rulesets.iter_mut().chain(egress.as_mut()) {
            audit::ipset::resolve(rs, sets);
        }
        if let Some(first) = rulesets.first_mut() {
            first.warnings.extend(sets.warnings.iter().cloned());
        }
    }
    if egress.is_some() && tunnel.is_none() {
        bail!("--egress is the firewall behind a VPN: give the VPN's configuration (WireGuard or OpenVPN) too");
    }
    let model = edgepath_policy::build(&input.catalog, &input.ranges, &Default::default())?;
    let opts = AuditOptions {
        hook: args.hook,
        families: args.family.0.clone(),
        client: args.client,
        proxy: args.proxy.map(|p| (p.ip(), p.port())),
        squid,
        tunnel,
        egress,
        pac,
        interfaces: Interfaces {
            client_in: args.in_iface.clone(),
            out: args.out_iface.clone(),
            proxy_in: args.proxy_in.clone().or_else(|| args.in_iface.clone()),
        },
    };
    if args.files.is_empty() {
        bail!("give at least one configuration file");
    }
    let report = audit::audit(rulesets, &model, &input.ranges, &opts);
    let all_good = report
        .modalities
        .iter()
        .all(|m| m.path == Some(MediaPath::RelayUdp) && m.status == Some(Status::Good))
        && report.services.iter().all(|s| s.reachable == Some(true));
    if args.output.json {
        emit_json(&WithEndpoints {
            endpoints: &input.source,
            report: &report,
        })?;
    } else {
        let mut text = render(&report, &names.join(", "));
        text.insert_str(
            text.find('\n').map_or(0, |i| i + 1),
            &format!("Endpoint data: {}\n", input.source.description),
        );
        emit(&text)?;
    }
    Ok(if all_good {
        Outcome::Clean
    } else {
        Outcome::Findings
    })
}

/// The most lines of one kind the text report lists; the rest are counted, and
/// `--json` has them all.
const MAX_LISTED: usize = 20;

/// Each distinct line once, in first-seen order (one rule often leaves many questions
/// undecided); past [`MAX_LISTED`] a line says how many more there are.
fn listed(lines: &[String], lead: &str) -> String {
    // A ruleset may bring thousands of warnings: a set, not a scan per line.
    let mut seen = std::collections::HashSet::new();
    let distinct: Vec<&String> = lines.iter().filter(|l| seen.insert(*l)).collect();
    let mut out = String::new();
    for l in distinct.iter().take(MAX_LISTED) {
        out.push_str(&format!("{lead}{l}\n"));
    }
    if distinct.len() > MAX_LISTED {
        out.push_str(&format!(
            "{lead}... and {} more (--json lists them all)\n",
            distinct.len() - MAX_LISTED
        ));
    }
    out
}

fn or_unknown<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "unknown".to_owned(), |x| x.to_string())
}

fn render(r: &AuditReport, files: &str) -> String {
    let i = &r.interfaces;
    // The proxy's side only where it differs from the clients' (its default).
    let proxy_in = i
        .proxy_in
        .as_ref()
        .filter(|p| Some(*p) != i.client_in.as_ref());
    let sides: String = [
        ("in", i.client_in.as_ref()),
        ("out", i.out.as_ref()),
        ("proxy in", proxy_in),
    ]
    .iter()
    .filter_map(|(side, name)| name.map(|n| format!(", {side} {n}")))
    .collect();
    let mut out = format!("edgepath audit: {files} ({} hook{sides})\n\n", r.hook);
    let mut t = Table::new(&[
        "MODALITY",
        "PATH",
        "STATUS",
        "SOURCE PORTS",
        "UDP TO THE RELAYS DECIDED BY",
    ]);
    for m in &r.modalities {
        let by = m
            .flows
            .iter()
            .filter(|f| f.protocol == Asked::Udp)
            .flat_map(|f| {
                f.decided_by
                    .iter()
                    .map(move |b| format!("{} {}: {b}", f.family, f.verdict))
            })
            .next()
            .unwrap_or_default();
        t.row(vec![
            m.modality.to_string(),
            or_unknown(m.path),
            or_unknown(m.status),
            m.source_ports.to_string(),
            by,
        ]);
    }
    t.render(&mut out);
    out.push('\n');
    let mut t = Table::new(&["SERVICE", "REACHABLE", "VIA", "INTERCEPTED", "DECIDED BY"]);
    for s in &r.services {
        // The question that settles the route: the direct one when direct works; the
        // proxy's own decision (or the way to the proxy, asked last) through a proxy;
        // else the proxy's refusal, or the first question that blocks.
        let accepted = |f: &&audit::predict::FlowAudit| f.verdict == FlowVerdict::Accepted;
        let settles = match s.via {
            Some(Via::Direct) => s.flows.iter().find(accepted),
            Some(Via::Proxy) => s
                .flows
                .iter()
                .find(|f| f.protocol == Asked::HttpConnect)
                .or_else(|| s.flows.iter().rev().find(accepted)),
            _ => s
                .flows
                .iter()
                .find(|f| f.protocol == Asked::HttpConnect && !accepted(f))
                .or_else(|| s.flows.iter().find(|f| !accepted(f))),
        };
        let by = settles
            .and_then(|f| {
                f.decided_by
                    .first()
                    .map(|b| format!("{} {}: {b}", f.family, f.verdict))
            })
            .unwrap_or_default();
        t.row(vec![
            s.service.id().to_owned(),
            or_unknown(s.reachable.map(|b| if b { "yes" } else { "no" })),
            or_unknown(s.via),
            or_unknown(s.intercepted.map(|b| if b { "yes" } else { "no" })),
            by,
        ]);
    }
    t.render(&mut out);
    for f in &r.families {
        out.push_str(&format!(
            "\n{}: media {}, UDP to the relays {}, TCP 443 to the relays {}",
            f.family,
            or_unknown(f.path),
            f.udp,
            f.tcp
        ));
    }
    out.push('\n');
    let fixes: Vec<&audit::Fix> = r.modalities.iter().flat_map(|m| &m.fix).collect();
    let mut seen = Vec::new();
    for f in fixes {
        if !seen.contains(&f) {
            seen.push(f);
        }
    }
    if let Some(v) = &r.vpn {
        out.push_str(&format!("\nVPN ({}): {}: {}\n", v.file, v.state, v.note));
        for m in &v.media {
            out.push_str(&format!(
                "  {} {}{}\n",
                m.net,
                m.route_word(),
                if m.routed_by.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", m.routed_by.join("; "))
                }
            ));
        }
        for c in &v.carriers {
            out.push_str(&format!(
                "  the tunnel itself, {} to {} port {}: {}{}\n",
                serde_json::to_value(c.protocol)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                c.destinations,
                c.ports,
                c.verdict,
                if c.decided_by.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", c.decided_by.join("; "))
                }
            ));
        }
    }
    if let Some(p) = &r.pac {
        out.push_str(&format!(
            "\nPAC ({}){}:\n",
            p.file,
            p.proxy
                .as_ref()
                .map_or_else(String::new, |x| format!(", proxy {x}"))
        ));
        for q in &p.questions {
            let answer = match &q.error {
                Some(e) => format!("no answer: {e}"),
                None => q.answer.clone(),
            };
            out.push_str(&format!(
                "  {:<16} {answer}{}\n",
                q.target,
                q.decided_by
                    .as_ref()
                    .map_or_else(String::new, |d| format!(" ({d})"))
            ));
        }
    }
    if !seen.is_empty() {
        out.push_str("\nTo give media UDP to the relays (relay-udp):\n");
        for f in seen {
            out.push_str(&format!("  {}\n      ({})\n", f.command, f.reason));
        }
    }
    let mut service_fixes: Vec<&audit::Fix> = Vec::new();
    for f in r.services.iter().flat_map(|s| &s.fix) {
        if !service_fixes.contains(&f) {
            service_fixes.push(f);
        }
    }
    if !service_fixes.is_empty() {
        out.push_str("\nTo reach the services that are not reached, directly:\n");
        for f in service_fixes {
            out.push_str(&format!("  {}\n      ({})\n", f.command, f.reason));
        }
    }
    let unknown: Vec<String> = r
        .modalities
        .iter()
        .flat_map(|m| &m.flows)
        .chain(
            r.services
                .iter()
                .flat_map(|s| s.flows.iter().chain(&s.http)),
        )
        .filter_map(|f| {
            f.unknown.as_ref().map(|u| match f.decided_by.is_empty() {
                // No rule was met: the input itself is missing (a family not given).
                true => u.clone(),
                false => format!("{}: {u}", f.decided_by.join("; ")),
            })
        })
        .collect();
    if !unknown.is_empty() {
        out.push_str(&format!(
            "\n{} question(s) could not be decided, because of:\n",
            r.unknown
        ));
        out.push_str(&listed(&unknown, "  - "));
    }
    out.push_str(&listed(&r.warnings, "Warning: "));
    for n in &r.notes {
        out.push_str(&format!("Note: {n}\n"));
    }
    out
}
