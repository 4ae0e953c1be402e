//! `edgepath capture FILE`: what a capture of client traffic shows, in the model's terms.

use std::fs::File;

use anyhow::{anyhow, Context, Result};
use edgepath_capture::report::FlowReport;
use edgepath_capture::rtpstats::Direction;
use edgepath_capture::stunflow::AllocationResult;
use edgepath_capture::{CaptureError, Report};
use edgepath_model::{FlowService, Profile, Severity};

use crate::args::CaptureArgs;
use crate::model_input;
use crate::output::{emit, emit_json, Outcome, Table, WithEndpoints};

/// Text rows shown without `--all`: Microsoft 365 and media flows first.
const TEXT_ROWS: usize = 200;

/// Runs the command.
pub fn run(args: &CaptureArgs) -> Result<Outcome> {
    let input = model_input::load(
        &args.endpoints,
        args.provisioning.as_deref(),
        Profile::Current,
    )?;
    let shown = args.file.display();
    let file = File::open(&args.file).with_context(|| format!("{shown}: cannot open"))?;
    let threads = args.threads.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        |n| n as usize,
    );
    // Each thread opens the file itself; a pipe or device cannot be read twice.
    let regular = file.metadata().is_ok_and(|m| m.is_file());
    let analysed = if threads > 1 && regular {
        let mut sources = vec![file];
        for _ in 1..threads {
            sources.push(File::open(&args.file).with_context(|| format!("{shown}: cannot open"))?);
        }
        edgepath_capture::analyze_parallel(sources, &input.catalog, input.ranges)
    } else {
        edgepath_capture::analyze(file, &input.catalog, input.ranges)
    };
    let report = analysed.map_err(|e| match e {
        CaptureError::Io(io) => anyhow!("{shown}: {io}"),
        other => anyhow!("{shown}: {other}"),
    })?;
    let outcome = if report.findings.iter().any(|f| f.severity != Severity::Info)
        || !report.warnings.is_empty()
    {
        Outcome::Findings
    } else {
        Outcome::Clean
    };
    if args.output.json {
        emit_json(&WithEndpoints {
            endpoints: &input.source,
            report: &report,
        })?;
    } else {
        let mut text = render(&report, &shown.to_string(), args.all);
        // Flows are classified by these ranges: say which list they are.
        text.insert_str(
            text.find('\n').map_or(0, |i| i + 1),
            &format!("Endpoint data: {}\n", input.source.description),
        );
        emit(&text)?;
    }
    // The process ends here: freeing a large report (tens of thousands of flows with
    // their strings) one allocation at a time took a tenth of a 400 MB run.
    std::mem::forget(report);
    Ok(outcome)
}

fn interesting(f: &FlowReport) -> bool {
    !matches!(f.service, FlowService::Other | FlowService::Dns)
}

fn render(r: &Report, file: &str, all: bool) -> String {
    let s = &r.stats;
    let mut out = format!(
        "edgepath capture: {file}: {} packets, {} flows over {:.1} s{}\n",
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
