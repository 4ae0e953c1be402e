//! `edgepath capture FILE`: what a capture of client traffic shows, in the model's terms.

use std::fs::File;

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use edgepath_capture::report::FlowReport;
use edgepath_capture::rtpstats::Direction;
use edgepath_capture::stunflow::AllocationResult;
use edgepath_capture::{CaptureError, Report};
use edgepath_model::{FlowService, Profile, Severity};

use crate::args::CaptureArgs;
use crate::model_input;
use serde::Serialize;

use crate::output::{emit, emit_json, Outcome, Table};

/// Text rows shown without `--all`: Microsoft 365 and media flows first.
const TEXT_ROWS: usize = 200;

/// The JSON document: the endpoint data, how a live capture went (absent for a
/// file), and the report's own fields.
#[derive(Serialize)]
struct CaptureJson<'a> {
    endpoints: &'a edgepath_model::EndpointSource,
    #[serde(skip_serializing_if = "Option::is_none")]
    live: Option<serde_json::Value>,
    #[serde(flatten)]
    report: &'a Report,
    /// Flows and findings per site, with `--sites`.
    #[serde(skip_serializing_if = "Option::is_none")]
    sites: Option<Vec<edgepath_capture::sites::SiteSummary>>,
}

/// Runs the command.
pub fn run(args: &CaptureArgs) -> Result<Outcome> {
    let input = model_input::load(
        &args.endpoints,
        args.provisioning.as_deref(),
        Profile::Current,
    )?;
    let inventory = args
        .sites
        .as_deref()
        .map(crate::sites_cmd::load)
        .transpose()?;
    let (report, title, live) = match (&args.interface, &args.file) {
        (Some(interface), _) => live_capture(args, interface, &input)?,
        (None, Some(file)) => (
            read_file(file, args.threads, &input)?,
            file.display().to_string(),
            None,
        ),
        (None, None) => bail!("give a capture FILE, or --interface IF to capture live"),
    };
    let dropped = live
        .as_ref()
        .and_then(|l| l.get("dropped"))
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0);
    let outcome = if report.findings.iter().any(|f| f.severity != Severity::Info)
        || !report.warnings.is_empty()
        || dropped > 0
    {
        Outcome::Findings
    } else {
        Outcome::Clean
    };
    if let Some(html) = &args.html {
        std::fs::write(
            html,
            crate::report::capture_page(&report, &title, &input.source),
        )
        .with_context(|| format!("--html {}", html.display()))?;
    }
    let sites = inventory
        .as_ref()
        .map(|inv| edgepath_capture::sites::by_site(&report, inv));
    if args.output.json {
        emit_json(&CaptureJson {
            endpoints: &input.source,
            live,
            report: &report,
            sites,
        })?;
    } else {
        let mut text = render(&report, &title, args.all);
        if let (Some(sites), Some(inv)) = (&sites, &inventory) {
            text.push_str(&sites_text(sites, inv));
        }
        // Flows are classified by these ranges: say which list they are.
        let mut head = format!("Endpoint data: {}\n", input.source.description);
        if let Some(l) = &live {
            head.push_str(&live_line(l));
        }
        text.insert_str(text.find('\n').map_or(0, |i| i + 1), &head);
        emit(&text)?;
    }
    // The process ends here: freeing a large report (tens of thousands of flows with
    // their strings) one allocation at a time took a tenth of a 400 MB run.
    std::mem::forget(report);
    Ok(outcome)
}

/// The per-site summary of the text report.
fn sites_text(
    sites: &[edgepath_capture::sites::SiteSummary],
    inv: &edgepath_model::Inventory,
) -> String {
    let mut out = format!("\nPer site ({}):\n", inv.path);
    let mut t = Table::new(&["SITE", "CLIENTS", "FLOWS", "MEDIA PATHS", "FINDINGS"]);
    for s in sites {
        let paths: Vec<String> = s
            .media_paths
            .iter()
            .map(|(p, n)| format!("{p} {n}"))
            .collect();
        let findings: Vec<String> = s
            .findings
            .iter()
            .rev()
            .map(|(sev, n)| format!("{n} {sev}"))
            .collect();
        t.row(vec![
            s.site.clone(),
            s.clients.len().to_string(),
            s.flows.to_string(),
            if paths.is_empty() {
                "-".into()
            } else {
                paths.join(", ")
            },
            if findings.is_empty() {
                "-".into()
            } else {
                findings.join(", ")
            },
        ]);
    }
    t.render(&mut out);
    for s in sites.iter().filter(|s| !s.problems.is_empty()) {
        out.push_str(&format!("{}:\n", s.site));
        for p in &s.problems {
            out.push_str(&format!("  - {p}\n"));
        }
    }
    if !inv.problems.is_empty() {
        out.push_str(&format!(
            "The inventory has {} problem(s); `edgepath sites {}` lists them.\n",
            inv.problems.len(),
            inv.path
        ));
    }
    out
}

/// A capture file, on `threads` threads (one per core by default).
fn read_file(path: &Path, threads: Option<u32>, input: &model_input::ModelInput) -> Result<Report> {
    let shown = path.display();
    let file = File::open(path).with_context(|| format!("{shown}: cannot open"))?;
    let threads = threads.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        |n| n as usize,
    );
    // Each thread opens the file itself; a pipe or device cannot be read twice.
    let regular = file.metadata().is_ok_and(|m| m.is_file());
    let analysed = if threads > 1 && regular {
        let mut sources = vec![file];
        for _ in 1..threads {
            sources.push(File::open(path).with_context(|| format!("{shown}: cannot open"))?);
        }
        edgepath_capture::analyze_parallel(sources, &input.catalog, input.ranges)
    } else {
        edgepath_capture::analyze(file, &input.catalog, input.ranges)
    };
    analysed.map_err(|e| match e {
        CaptureError::Io(io) => anyhow!("{shown}: {io}"),
        other => anyhow!("{shown}: {other}"),
    })
}

/// The text report's line on how a live capture went.
fn live_line(l: &serde_json::Value) -> String {
    let n = |k: &str| l.get(k).and_then(serde_json::Value::as_u64).unwrap_or(0);
    let mut line = format!(
        "Live: filter {}; {} packets received",
        l.get("filter")
            .and_then(serde_json::Value::as_str)
            .filter(|f| !f.is_empty())
            .map_or("none".to_owned(), |f| format!("\"{f}\"")),
        n("received")
    );
    if n("dropped") + n("dropped_by_interface") > 0 {
        line.push_str(&format!(
            ", {} DROPPED by the kernel (edgepath read too slowly) and {} by the interface: \
             the report misses them",
            n("dropped"),
            n("dropped_by_interface")
        ));
    }
    if let Some(w) = l.get("written").and_then(serde_json::Value::as_str) {
        line.push_str(&format!("; written to {w}"));
    }
    line.push('\n');
    line
}

#[cfg(feature = "live")]
fn live_capture(
    args: &CaptureArgs,
    interface: &str,
    input: &model_input::ModelInput,
) -> Result<(Report, String, Option<serde_json::Value>)> {
    let live = crate::live::capture(
        interface,
        args.filter.as_deref(),
        args.duration.map(std::time::Duration::from_secs),
        args.write.as_deref(),
        args.buffer_size,
        &input.catalog,
        input.ranges,
    )?;
    let title = format!("interface {interface} (live, {:.1} s)", live.info.seconds);
    Ok((live.report, title, Some(serde_json::to_value(&live.info)?)))
}

#[cfg(not(feature = "live"))]
fn live_capture(
    _: &CaptureArgs,
    interface: &str,
    _: &model_input::ModelInput,
) -> Result<(Report, String, Option<serde_json::Value>)> {
    if cfg!(windows) {
        // Npcap is the only way to capture on Windows, and its SDK cannot be built or
        // tested here: say so rather than pretend.
        bail!(
            "cannot capture on {interface}: live capture is not available on Windows yet; \
             capture with Wireshark or dumpcap (Npcap) and give the capture file: \
             edgepath capture FILE.pcapng"
        )
    }
    bail!(
        "cannot capture on {interface}: this edgepath was built without live capture; build \
         it with `cargo build --release --features live` (needs libpcap: on Debian, \
         apt-get install libpcap-dev), or capture with tcpdump/dumpcap and give the capture file"
    )
}

fn interesting(f: &FlowReport) -> bool {
    !matches!(f.service, FlowService::Other | FlowService::Dns)
}

fn render(r: &Report, source: &str, all: bool) -> String {
    let s = &r.stats;
    let mut out = format!(
        "edgepath capture: {source}: {} packets, {} flows over {:.1} s{}\n",
        s.packets,
        s.flows,
        s.duration_s,
        s.start
            .as_deref()
            .map(|t| format!(" from {t}"))
            .unwrap_or_default()
    );
    let per: Vec<String> = s.services.iter().map(|(k, v)| format!("{k} {v}")).collect();
    out.push_str(&format!("Flows by service: {}\n", per.join(", ")));
    let sk = &s.skipped;
    let skipped = sk.not_ip + sk.other_protocol + sk.fragments + sk.malformed;
    if skipped > 0 {
        out.push_str(&format!(
            "Not followed: {skipped} packets ({} not IP, {} not TCP/UDP, {} fragments, {} malformed)\n",
            sk.not_ip, sk.other_protocol, sk.fragments, sk.malformed
        ));
    }
    for w in &r.warnings {
        out.push_str(&format!("Warning: {w}\n"));
    }
    out.push('\n');
    let mut t = Table::new(&[
        "CLIENT",
        "SERVER",
        "PROTO",
        "SERVICE",
        "MODALITY",
        "PATH",
        "PACKETS",
        "NAME / DETAIL",
    ]);
    let rows: Vec<&FlowReport> = r.flows.iter().filter(|f| all || interesting(f)).collect();
    for f in rows.iter().take(if all { usize::MAX } else { TEXT_ROWS }) {
        let mut detail = f.name.clone().unwrap_or_default();
        if let Some(st) = &f.stun {
            let mut relayed: Vec<&str> = st
                .allocations
                .iter()
                .filter(|a| a.result == AllocationResult::Success)
                .filter_map(|a| a.relayed.as_deref())
                .collect();
            relayed.dedup();
            for rel in relayed {
                detail.push_str(&format!(" relayed {rel}"));
            }
            if st.ice_checks > 0 {
                detail.push_str(&format!(" {} ICE checks", st.ice_checks));
            }
        }
        if let Some(tls) = f.tls.as_ref().and_then(|t| t.issuer.as_ref()) {
            detail.push_str(&format!(" (issuer {tls})"));
        }
        if !f.rtp.is_empty() {
            detail.push_str(&format!(" {} RTP stream(s)", f.rtp.len()));
        }
        t.row(vec![
            f.client.clone(),
            f.server.clone(),
            f.transport.to_owned(),
            f.service.to_string(),
            f.modality
                .map(|m| m.to_string())
                .unwrap_or_else(|| "-".into()),
            f.path.map_or_else(|| "-".to_owned(), |p| p.to_string()),
            format!("{}/{}", f.packets[0], f.packets[1]),
            detail.trim().to_owned(),
        ]);
    }
    t.render(&mut out);
    if rows.len() > TEXT_ROWS && !all {
        out.push_str(&format!(
            "... and {} more (--all lists every flow; --json gives all)\n",
            rows.len() - TEXT_ROWS
        ));
    }
    let hidden = r.flows.len() - rows.len();
    if hidden > 0 && !all {
        out.push_str(&format!(
            "({hidden} DNS and other flows not shown; --all lists them)\n"
        ));
    }
    let streams: Vec<String> = r
        .flows
        .iter()
        .flat_map(|f| f.rtp.iter().map(move |s| (f, s)))
        .filter(|(_, s)| s.packets >= 10)
        .take(20)
        .map(|(f, s)| {
            format!(
                "  {} {} -> {}: ssrc {} {} PT {:?}, {} packets, lost {} ({:.2} %), jitter {}",
                f.transport,
                if s.direction == Direction::ClientToServer {
                    &f.client
                } else {
                    &f.server
                },
                if s.direction == Direction::ClientToServer {
                    &f.server
                } else {
                    &f.client
                },
                s.ssrc,
                s.codec.unwrap_or("codec ?"),
                s.payload_types,
                s.packets,
                s.lost,
                s.loss_pct,
                s.jitter_ms
                    .map_or("unknown (clock rate)".to_owned(), |j| format!("{j:.1} ms"))
            )
        })
        .collect();
    if !streams.is_empty() {
        out.push_str("\nRTP streams:\n");
        out.push_str(&streams.join("\n"));
        out.push('\n');
    }
    if r.findings.is_empty() {
        out.push_str("\nNo findings.\n");
    } else {
        out.push_str(&format!("\n{} finding(s):\n", r.findings.len()));
        for f in r.findings.iter().take(if all { usize::MAX } else { 50 }) {
            let at = f
                .flow
                .as_ref()
                .map(|x| format!(" {} -> {}", x.client, x.server))
                .unwrap_or_default();
            out.push_str(&format!(
                "  [{}] {}{at}: {}\n",
                f.severity, f.kind, f.message
            ));
        }
        if r.findings.len() > 50 && !all {
            out.push_str(&format!(
                "  ... and {} more (--json)\n",
                r.findings.len() - 50
            ));
        }
    }
    out
}
