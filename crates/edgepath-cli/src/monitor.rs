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
use edgepath_model::{MediaPath, Modality, ServiceId, Status, Via, VpnState};
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
    pub vpn: VpnState,
    /// Microsoft's version of the endpoint data, when known.
    pub endpoints_version: Option<String>,
}

/// A modality in a run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ModalityRecord {
    /// `audio`, `video`, `app_sharing`, `file_transfer`.
    pub modality: Modality,
    /// `relay-udp`, `relay-tcp`, `relay-tcp-proxy`, `none`.
    pub path: MediaPath,
    /// `good`, `degraded`, `failing`.
    pub status: Status,
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
    pub service: ServiceId,
    /// `direct`, `proxy`, `none`.
    pub via: Via,
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
                    modality: m.modality,
                    path: m.path,
                    status: m.status,
                    loss_ratio: m.quality.as_ref().map(|q| q.overall.loss_pct / 100.0),
                    rtt_ms: m.quality.as_ref().map(|q| q.overall.rtt_ms),
                    jitter_ms: m.quality.as_ref().map(|q| q.overall.jitter_ms),
                })
                .collect(),
            services: r
                .services
                .iter()
                .map(|s| ServiceRecord {
                    service: s.service,
                    via: s.via,
                    intercepted: s.tls.as_ref().is_some_and(|t| t.intercepted),
                })
                .collect(),
            vpn: r.vpn.state,
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
    let settings = crate::check_settings::CheckSettings::from_args(&args.check)?;
    let (cfg, source) = crate::check_cmd::config(&settings)?;
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
    pub vpn: BTreeMap<VpnState, usize>,
}

/// A modality over the history.
#[derive(Debug, Serialize)]
pub struct ModalitySummary {
    /// The modality.
    pub modality: Modality,
    /// Runs per path (every path of the ladder, 0 included).
    pub paths: BTreeMap<MediaPath, usize>,
    /// Runs per status.
    pub statuses: BTreeMap<Status, usize>,
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
    pub service: ServiceId,
    /// Runs per route.
    pub via: BTreeMap<Via, usize>,
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
    // The modalities in the order the records give them.
    let mut names: Vec<Modality> = Vec::new();
    for m in records.iter().flat_map(|r| &r.modalities) {
        if !names.contains(&m.modality) {
            names.push(m.modality);
        }
    }
    for name in names {
        let mine: Vec<&ModalityRecord> = records
            .iter()
            .flat_map(|r| r.modalities.iter().filter(|m| m.modality == name))
            .collect();
        let mut paths: BTreeMap<MediaPath, usize> =
            MediaPath::LADDER.iter().map(|p| (*p, 0)).collect();
        let mut statuses: BTreeMap<Status, usize> = Status::ALL.iter().map(|s| (*s, 0)).collect();
        for m in &mine {
            *paths.entry(m.path).or_default() += 1;
            *statuses.entry(m.status).or_default() += 1;
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
    let mut services: BTreeMap<ServiceId, ServiceSummary> = BTreeMap::new();
    for s in records.iter().flat_map(|r| &r.services) {
        let e = services.entry(s.service).or_insert_with(|| ServiceSummary {
            service: s.service,
            via: Via::ALL.iter().map(|v| (*v, 0)).collect(),
            intercepted: 0,
        });
        *e.via.entry(s.via).or_default() += 1;
        e.intercepted += usize::from(s.intercepted);
    }
    let mut vpn: BTreeMap<VpnState, usize> = VpnState::ALL.iter().map(|v| (*v, 0)).collect();
    for r in records {
        *vpn.entry(r.vpn).or_default() += 1;
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
    let mut head: Vec<String> = vec!["MODALITY".into()];
    head.extend(
        MediaPath::LADDER
            .iter()
            .map(|p| p.name().to_ascii_uppercase()),
    );
    head.extend([
        "LOSS P50/P95".into(),
        "RTT P50/P95 MS".into(),
        "JITTER P50/P95 MS".into(),
    ]);
    let mut t = Table::new(&head.iter().map(String::as_str).collect::<Vec<_>>());
    for m in &s.modalities {
        let total: usize = m.paths.values().sum();
        let two = |p: &Option<Percentiles>, scale: f64, unit: &str| {
            p.map_or_else(
                || "-".to_owned(),
                |p| format!("{:.1}/{:.1}{unit}", p.p50 * scale, p.p95 * scale),
            )
        };
        let mut row = vec![m.modality.id().to_owned()];
        row.extend(
            MediaPath::LADDER
                .iter()
                .map(|p| pct(m.paths.get(p).copied().unwrap_or(0), total)),
        );
        row.extend([
            two(&m.loss_ratio, 100.0, " %"),
            two(&m.rtt_ms, 1.0, ""),
            two(&m.jitter_ms, 1.0, ""),
        ]);
        t.row(row);
    }
    t.render(&mut out);
    out.push('\n');
    let mut head: Vec<String> = vec!["SERVICE".into()];
    head.extend(Via::ALL.iter().map(|v| v.name().to_ascii_uppercase()));
    head.push("INTERCEPTED".into());
    let mut t = Table::new(&head.iter().map(String::as_str).collect::<Vec<_>>());
    for sv in &s.services {
        let total: usize = sv.via.values().sum();
        let mut row = vec![sv.service.id().to_owned()];
        row.extend(
            Via::ALL
                .iter()
                .map(|v| pct(sv.via.get(v).copied().unwrap_or(0), total)),
        );
        row.push(pct(sv.intercepted, total));
        t.row(row);
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
    let all_udp = s.modalities.iter().all(|m| {
        m.paths
            .iter()
            .all(|(p, n)| *p == MediaPath::RelayUdp || *n == 0)
    });
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

    fn record(path: MediaPath, loss: Option<f64>) -> Record {
        Record {
            time: "2026-11-26T10:00:00Z".into(),
            elapsed_ms: 1000,
            modalities: vec![ModalityRecord {
                modality: Modality::Audio,
                path,
                status: path.base_status(),
                loss_ratio: loss,
                rtt_ms: loss.map(|_| 20.0),
                jitter_ms: None,
            }],
            services: vec![ServiceRecord {
                service: ServiceId::Sip,
                via: Via::Direct,
                intercepted: false,
            }],
            vpn: VpnState::None,
            endpoints_version: None,
        }
    }

    #[test]
    fn a_history_line_with_an_unknown_word_is_named() {
        let dir = std::env::temp_dir().join(format!("edgepath-monitor-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("h.jsonl");
        let good = serde_json::to_string(&record(MediaPath::RelayUdp, None)).unwrap();
        std::fs::write(
            &p,
            format!(
                "{good}\n{}\n",
                good.replace("relay-udp", "relay-carrier-pigeon")
            ),
        )
        .unwrap();
        let e = read_history(&p).unwrap_err().to_string();
        assert!(
            e.contains("h.jsonl:2:") && e.contains("unknown MediaPath"),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn summary_counts_paths_and_quality() {
        let recs = vec![
            record(MediaPath::RelayUdp, Some(0.0)),
            record(MediaPath::RelayUdp, Some(0.02)),
            record(MediaPath::RelayTcp, None),
            record(MediaPath::RelayUdp, Some(0.01)),
        ];
        let s = summary(&recs);
        let a = &s.modalities[0];
        assert_eq!(a.paths[&MediaPath::RelayUdp], 3);
        assert_eq!(a.paths[&MediaPath::RelayTcp], 1);
        assert_eq!(a.paths[&MediaPath::None], 0);
        let l = a.loss_ratio.unwrap();
        assert_eq!((l.n, l.p50, l.max), (3, 0.01, 0.02));
        assert!(a.jitter_ms.is_none());
        assert_eq!(s.services[0].via[&Via::Direct], 4);
        assert!(render(&s).contains("75 %"));
    }
}
