//! `edgepath monitor`: the same check on a schedule, for those without Prometheus. Each
//! run appends one JSON line to the history (a compact record: paths, statuses, quality
//! figures, services, VPN; the full report is `check --json`'s); `--summary` reads a
//! history back: how often each modality was on each path and the quality percentiles.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use edgepath_model::{MediaPath, Status, Via, VpnState};
use edgepath_probe::check::{self, Report};
use edgepath_probe::quality::Unwatched;
use serde::{Deserialize, Serialize};

use crate::args::MonitorArgs;
use crate::output::{emit, emit_json, Outcome, Table};

/// One run, as the history keeps it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Record {
    /// When the run started (RFC 3339, UTC).
    pub time: String,
    /// How long it took, ms.
    pub elapsed_ms: u64,
    /// Per modality.
    pub modalities: Vec<ModalityRecord>,
    /// Per service.
    pub services: Vec<ServiceRecord>,
    /// The VPN state.
    pub vpn: String,
    /// Microsoft's version of the endpoint data, when known.
    pub endpoints_version: Option<String>,
}

/// A modality in a run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ModalityRecord {
    /// `audio`, `video`, `app_sharing`, `file_transfer`.
    pub modality: String,
    /// `relay-udp`, `relay-tcp`, `relay-tcp-proxy`, `none`.
    pub path: String,
    /// `good`, `degraded`, `failing`.
    pub status: String,
    /// Loss, 0 to 1, when measured.
    pub loss_ratio: Option<f64>,
    /// Mean round trip, ms, when measured.
    pub rtt_ms: Option<f64>,
    /// Jitter, ms, when measured.
    pub jitter_ms: Option<f64>,
}

/// A service in a run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ServiceRecord {
    /// Its id.
    pub service: String,
    /// `direct`, `proxy`, `none`.
    pub via: String,
    /// TLS interception seen.
    pub intercepted: bool,
}

impl Record {
    fn of(r: &Report, time: String, version: Option<String>) -> Self {
        Record {
            time,
            elapsed_ms: r.elapsed_ms,
            modalities: r
                .modalities
                .iter()
                .map(|m| ModalityRecord {
                    modality: m.modality.id().to_owned(),
                    path: m.path.name().to_owned(),
                    status: m.status.name().to_owned(),
                    loss_ratio: m.quality.as_ref().map(|q| q.overall.loss_pct / 100.0),
                    rtt_ms: m.quality.as_ref().map(|q| q.overall.rtt_ms),
                    jitter_ms: m.quality.as_ref().map(|q| q.overall.jitter_ms),
                })
                .collect(),
            services: r
                .services
                .iter()
                .map(|s| ServiceRecord {
                    service: s.service.id().to_owned(),
                    via: s.via.name().to_owned(),
                    intercepted: s.tls.as_ref().is_some_and(|t| t.intercepted),
                })
                .collect(),
            vpn: r.vpn.state.name().to_owned(),
            endpoints_version: version,
        }
    }
}

/// `5m`, `30s`, `1h`, `90` (seconds): at least 10 s, at most a day.
pub fn parse_interval(s: &str) -> Result<Duration, String> {
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}`: a number with s, m or h (5m)"))?;
    let secs = match unit {
        "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        _ => return Err(format!("`{s}`: the unit is s, m or h")),
    };
    if !(10..=86_400).contains(&secs) {
        return Err(format!("`{s}`: between 10 s and 24 h"));
    }
    Ok(Duration::from_secs(secs))
}

/// Runs the command.
pub fn run(args: &MonitorArgs) -> Result<Outcome> {
    if let Some(history) = &args.summary {
        return summarize(history, args);
    }
    let history = args
        .history
        .as_deref()
        .ok_or_else(|| anyhow!("give --history FILE (runs are appended) or --summary FILE"))?;
    let (cfg, source) = crate::check_cmd::config(&args.check)?;
    let version = source.version.map(|v| v.to_string());
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(history)
        .with_context(|| format!("{}", history.display()))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    eprintln!(
        "edgepath monitor: a check every {} s into {} (Ctrl-C ends it)",
        args.interval.as_secs(),
        history.display()
    );
    let mut runs = 0u64;
    let mut worst = Outcome::Clean;
    // Ctrl-C is watched for the whole run, not only between checks: once tokio handles
    // SIGINT the default (ending the process) is gone, so a Ctrl-C during a check must
    // still end the monitor when that check is written down.
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    runtime.spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            let _ = stop_tx.send(true);
        }
    });
    loop {
        let started = Instant::now();
        let time = crate::store::now_rfc3339();
        let report = runtime.block_on(check::run(&cfg, &mut Unwatched));
        let record = Record::of(&report, time, version.clone());
        let mut line = serde_json::to_string(&record).context("could not render the record")?;
        line.push('\n');
        file.write_all(line.as_bytes())
            .and_then(|()| file.flush())
            .with_context(|| format!("{}: cannot append", history.display()))?;
        let paths: Vec<String> = record
            .modalities
            .iter()
            .map(|m| format!("{} {} ({})", m.modality, m.path, m.status))
            .collect();
        println!("{} {}", record.time, paths.join(", "));
        if report.modalities.iter().any(|m| m.status != Status::Good) {
            worst = Outcome::Findings;
        }
        runs += 1;
        if args.count.is_some_and(|c| runs >= c) || *stop_rx.borrow() {
            break;
        }
        let next = started + args.interval;
        let stop = runtime.block_on(async {
            tokio::select! {
                _ = tokio::time::sleep_until(next.into()) => false,
                _ = stop_rx.wait_for(|s| *s) => true,
            }
        });
        if stop {
            break;
        }
    }
    runtime.shutdown_background();
    Ok(worst)
}

/// Reads a history: every line a record; a bad line is an error naming it.
pub fn read_history(path: &Path) -> Result<Vec<Record>> {
    let file = std::fs::File::open(path).with_context(|| format!("{}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("{}:{}", path.display(), i + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let r: Record = serde_json::from_str(&line)
            .map_err(|e| anyhow!("{}:{}: not a monitor record: {e}", path.display(), i + 1))?;
        out.push(r);
    }
    if out.is_empty() {
        bail!("{}: no records", path.display());
    }
    Ok(out)
}

/// What a history says.
#[derive(Debug, Serialize)]
pub struct Summary {
    /// Records read.
    pub runs: usize,
    /// The first and last run's time.
    pub from: String,
    /// The last.
    pub to: String,
    /// Per modality: runs on each path, and quality percentiles.
    pub modalities: Vec<ModalitySummary>,
    /// Per service: runs per route, and runs intercepted.
    pub services: Vec<ServiceSummary>,
    /// Runs per VPN state.
    pub vpn: BTreeMap<String, usize>,
}

/// A modality over the history.
#[derive(Debug, Serialize)]
pub struct ModalitySummary {
    /// The modality.
    pub modality: String,
    /// Runs per path (every path named, 0 included).
    pub paths: BTreeMap<String, usize>,
    /// Runs per status.
    pub statuses: BTreeMap<String, usize>,
    /// Loss ratio percentiles (p50, p95, max) over the runs that measured it.
    pub loss_ratio: Option<Percentiles>,
    /// Round trip, ms.
    pub rtt_ms: Option<Percentiles>,
    /// Jitter, ms.
    pub jitter_ms: Option<Percentiles>,
}

/// A service over the history.
#[derive(Debug, Serialize)]
pub struct ServiceSummary {
    /// The service.
    pub service: String,
    /// Runs per route.
    pub via: BTreeMap<String, usize>,
    /// Runs with TLS interception.
    pub intercepted: usize,
}

/// Percentiles of a series (nearest rank).
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Percentiles {
    /// Samples.
    pub n: usize,
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// Worst.
    pub max: f64,
}

impl Percentiles {
    /// Of `v` (any order); none when empty.
    pub fn of(mut v: Vec<f64>) -> Option<Self> {
        v.retain(|x| x.is_finite());
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let rank = |p: f64| v[((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
        Some(Percentiles {
            n: v.len(),
            p50: rank(0.5),
            p95: rank(0.95),
            max: v[v.len() - 1],
        })
    }
}

/// The summary of `records`.
pub fn summary(records: &[Record]) -> Summary {
    let mut modalities: Vec<ModalitySummary> = Vec::new();
    let names: Vec<String> = {
        let mut v: Vec<String> = Vec::new();
        for r in records {
            for m in &r.modalities {
                if !v.contains(&m.modality) {
                    v.push(m.modality.clone());
                }
            }
        }
        v
    };
    for name in names {
        let mine: Vec<&ModalityRecord> = records
            .iter()
            .flat_map(|r| r.modalities.iter().filter(|m| m.modality == name))
            .collect();
        let mut paths: BTreeMap<String, usize> = MediaPath::ALL
            .iter()
            .filter(|p| **p != MediaPath::P2pUdp)
            .map(|p| (p.name().to_owned(), 0))
            .collect();
        let mut statuses: BTreeMap<String, usize> = Status::ALL
            .iter()
            .map(|s| (s.name().to_owned(), 0))
            .collect();
        for m in &mine {
            *paths.entry(m.path.clone()).or_default() += 1;
            *statuses.entry(m.status.clone()).or_default() += 1;
        }
        let series = |f: fn(&ModalityRecord) -> Option<f64>| {
            Percentiles::of(mine.iter().filter_map(|m| f(m)).collect())
        };
        modalities.push(ModalitySummary {
            modality: name,
            paths,
            statuses,
            loss_ratio: series(|m| m.loss_ratio),
            rtt_ms: series(|m| m.rtt_ms),
            jitter_ms: series(|m| m.jitter_ms),
        });
    }
    let mut services: BTreeMap<String, ServiceSummary> = BTreeMap::new();
    for s in records.iter().flat_map(|r| &r.services) {
        let e = services
            .entry(s.service.clone())
            .or_insert_with(|| ServiceSummary {
                service: s.service.clone(),
                via: Via::ALL.iter().map(|v| (v.name().to_owned(), 0)).collect(),
                intercepted: 0,
            });
        *e.via.entry(s.via.clone()).or_default() += 1;
        e.intercepted += usize::from(s.intercepted);
    }
    let mut vpn: BTreeMap<String, usize> = VpnState::ALL
        .iter()
        .map(|v| (v.name().to_owned(), 0))
        .collect();
    for r in records {
        *vpn.entry(r.vpn.clone()).or_default() += 1;
    }
    Summary {
        runs: records.len(),
        from: records.first().map(|r| r.time.clone()).unwrap_or_default(),
        to: records.last().map(|r| r.time.clone()).unwrap_or_default(),
        modalities,
        services: services.into_values().collect(),
        vpn,
    }
}

fn pct(n: usize, of: usize) -> String {
    if of == 0 {
        "-".into()
    } else {
        format!("{:.0} %", 100.0 * n as f64 / of as f64)
    }
}

fn render(s: &Summary) -> String {
    let mut out = format!(
        "edgepath monitor: {} runs from {} to {}\n\n",
        s.runs, s.from, s.to
    );
    let mut t = Table::new(&[
        "MODALITY",
        "RELAY-UDP",
        "RELAY-TCP",
        "RELAY-TCP-PROXY",
        "NONE",
        "LOSS P50/P95",
        "RTT P50/P95 MS",
        "JITTER P50/P95 MS",
    ]);
    for m in &s.modalities {
        let total: usize = m.paths.values().sum();
        let at = |p: &str| pct(m.paths.get(p).copied().unwrap_or(0), total);
        let two = |p: &Option<Percentiles>, scale: f64, unit: &str| {
            p.map_or_else(
                || "-".to_owned(),
                |p| format!("{:.1}/{:.1}{unit}", p.p50 * scale, p.p95 * scale),
            )
        };
        t.row(vec![
            m.modality.clone(),
            at("relay-udp"),
            at("relay-tcp"),
            at("relay-tcp-proxy"),
            at("none"),
            two(&m.loss_ratio, 100.0, " %"),
            two(&m.rtt_ms, 1.0, ""),
            two(&m.jitter_ms, 1.0, ""),
        ]);
    }
    t.render(&mut out);
    out.push('\n');
    let mut t = Table::new(&["SERVICE", "DIRECT", "PROXY", "NONE", "INTERCEPTED"]);
    for sv in &s.services {
        let total: usize = sv.via.values().sum();
        let at = |v: &str| pct(sv.via.get(v).copied().unwrap_or(0), total);
        t.row(vec![
            sv.service.clone(),
            at("direct"),
            at("proxy"),
            at("none"),
            pct(sv.intercepted, total),
        ]);
    }
    t.render(&mut out);
    let vpn: Vec<String> = s
        .vpn
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| format!("{k} {}", pct(*n, s.runs)))
        .collect();
    out.push_str(&format!("\nVPN: {}\n", vpn.join(", ")));
    out
}

fn summarize(path: &Path, args: &MonitorArgs) -> Result<Outcome> {
    let records = read_history(path)?;
    let s = summary(&records);
    if let Some(html) = &args.check.html {
        let page = crate::report::monitor_page(&s, &records, &path.display().to_string());
        std::fs::write(html, page).with_context(|| format!("{}", html.display()))?;
        eprintln!("edgepath monitor: wrote {}", html.display());
    }
    if args.check.output.json {
        emit_json(&s)?;
    } else {
        emit(&render(&s))?;
    }
    let all_udp = s
        .modalities
        .iter()
        .all(|m| m.paths.iter().all(|(p, n)| p == "relay-udp" || *n == 0));
    Ok(if all_udp {
        Outcome::Clean
    } else {
        Outcome::Findings
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_interval("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_interval("1h"), Ok(Duration::from_secs(3600)));
        for bad in ["", "5x", "1s", "2d", "m", "99999999999999999999h"] {
            assert!(parse_interval(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let p = Percentiles::of((1..=100).map(f64::from).collect()).unwrap();
        assert_eq!((p.n, p.p50, p.p95, p.max), (100, 50.0, 95.0, 100.0));
        let p = Percentiles::of(vec![3.0]).unwrap();
        assert_eq!((p.p50, p.p95, p.max), (3.0, 3.0, 3.0));
        assert!(Percentiles::of(vec![f64::NAN]).is_none());
    }

    fn record(path: &str, loss: Option<f64>) -> Record {
        Record {
            time: "2026-11-26T10:00:00Z".into(),
            elapsed_ms: 1000,
            modalities: vec![ModalityRecord {
                modality: "audio".into(),
                path: path.into(),
                status: if path == "relay-udp" {
                    "good"
                } else {
                    "degraded"
                }
                .into(),
                loss_ratio: loss,
                rtt_ms: loss.map(|_| 20.0),
                jitter_ms: None,
            }],
            services: vec![ServiceRecord {
                service: "sip".into(),
                via: "direct".into(),
                intercepted: false,
            }],
            vpn: "none".into(),
            endpoints_version: None,
        }
    }

    #[test]
    fn summary_counts_paths_and_quality() {
        let recs = vec![
            record("relay-udp", Some(0.0)),
            record("relay-udp", Some(0.02)),
            record("relay-tcp", None),
            record("relay-udp", Some(0.01)),
        ];
        let s = summary(&recs);
        let a = &s.modalities[0];
        assert_eq!(a.paths["relay-udp"], 3);
        assert_eq!(a.paths["relay-tcp"], 1);
        assert_eq!(a.paths["none"], 0);
        let l = a.loss_ratio.unwrap();
        assert_eq!((l.n, l.p50, l.max), (3, 0.01, 0.02));
        assert!(a.jitter_ms.is_none());
        assert_eq!(s.services[0].via["direct"], 4);
        assert!(render(&s).contains("75 %"));
    }
}
