//! `edgepath monitor`: the same check on a schedule, for those without Prometheus. Each
//! run appends one JSON line to the history (a compact record: paths, statuses, quality
//! figures, services, VPN; the full report is `check --json`'s); `--summary` reads a
//! history back: how often each modality was on each path and the quality percentiles.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use edgepath_model::sites::claims::SiteReport;

use anyhow::{anyhow, Context, Result};
use edgepath_model::{MediaPath, Status, Via};
use edgepath_probe::check;
use edgepath_probe::quality::Unwatched;

use crate::args::MonitorArgs;
use crate::history::{read_history, summary, Percentiles, Record, Summary};
use crate::output::{emit, emit_json, Outcome, Table};

/// Seconds of `5m`, `30s`, `1h` or `90` (seconds).
fn seconds(s: &str) -> Result<u64, String> {
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}`: a number with s, m or h (5m)"))?;
    match unit {
        "s" => Ok(n),
        "m" => Ok(n.saturating_mul(60)),
        "h" => Ok(n.saturating_mul(3600)),
        _ => Err(format!("`{s}`: the unit is s, m or h")),
    }
}

/// `5m`, `30s`, `1h`, `90` (seconds): at least 10 s, at most a day.
pub fn parse_interval(s: &str) -> Result<Duration, String> {
    let secs = seconds(s)?;
    if !(10..=86_400).contains(&secs) {
        return Err(format!("`{s}`: between 10 s and 24 h"));
    }
    Ok(Duration::from_secs(secs))
}

/// `--spread`: as `--interval`, and `0` for none; at most a day.
pub fn parse_spread(s: &str) -> Result<Duration, String> {
    let secs = seconds(s)?;
    if secs > 86_400 {
        return Err(format!("`{s}`: at most 24 h"));
    }
    Ok(Duration::from_secs(secs))
}

/// The spread when `--spread` is not given: a tenth of the interval, at most 5 minutes
/// (a 5 m interval spreads its runs over 30 s).
pub fn default_spread(interval: Duration) -> Duration {
    (interval / 10).min(Duration::from_secs(300))
}

/// Where in `spread` a run starts, from 8 random bytes: uniform to the millisecond.
pub fn offset_in(spread: Duration, random: [u8; 8]) -> Duration {
    let ms = spread.as_millis() as u64;
    if ms == 0 {
        return Duration::ZERO;
    }
    Duration::from_millis(u64::from_le_bytes(random) % ms)
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
    let inventory = args
        .check
        .sites
        .as_deref()
        .map(crate::sites_cmd::load)
        .transpose()?;
    if let Some(inv) = &inventory {
        for line in inv.problem_lines() {
            eprintln!("edgepath monitor: site inventory: {line}");
        }
    }
    let spread = args.spread.unwrap_or_else(|| default_spread(args.interval));
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
        "edgepath monitor: a check every {} s into {}, each at a random moment within {} s of its slot (--spread), Ctrl-C ends it",
        args.interval.as_secs(),
        history.display(),
        spread.as_secs()
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
    // Slots are a fixed cadence from the start; each run starts at a random moment of
    // its slot's spread (a run that overran its slot starts at once).
    let first_slot = Instant::now();
    loop {
        let slot = first_slot + args.interval * u32::try_from(runs).unwrap_or(u32::MAX);
        let at = slot + offset_in(spread, edgepath_probe::ids::random_bytes());
        let stop = runtime.block_on(async {
            tokio::select! {
                _ = tokio::time::sleep_until(at.into()) => false,
                _ = stop_rx.wait_for(|s| *s) => true,
            }
        });
        if stop {
            break;
        }
        let time = crate::store::now_rfc3339();
        let report = runtime.block_on(check::run(&cfg, &mut Unwatched));
        let mut record = Record::of(&report, time, version.clone());
        let site = inventory
            .as_ref()
            .map(|inv| SiteReport::new(inv, &report.site_facts()));
        if let Some(site) = &site {
            record.site = Some(site.label().to_owned());
            if site.has_warnings() {
                worst = Outcome::Findings;
            }
        }
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
        match &record.site {
            Some(site) => println!("{} [{site}] {}", record.time, paths.join(", ")),
            None => println!("{} {}", record.time, paths.join(", ")),
        }
        if report.modalities.iter().any(|m| m.status != Status::Good) {
            worst = Outcome::Findings;
        }
        runs += 1;
        if args.count.is_some_and(|c| runs >= c) || *stop_rx.borrow() {
            break;
        }
    }
    runtime.shutdown_background();
    Ok(worst)
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
    use crate::history::tests::record;

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
    fn spreads() {
        assert_eq!(parse_spread("0"), Ok(Duration::ZERO));
        assert_eq!(parse_spread("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_spread("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_spread("2m"), Ok(Duration::from_secs(120)));
        for bad in ["", "x", "25h", "3d"] {
            assert!(parse_spread(bad).is_err(), "{bad}");
        }
        assert_eq!(
            default_spread(Duration::from_secs(300)),
            Duration::from_secs(30)
        );
        assert_eq!(
            default_spread(Duration::from_secs(86_400)),
            Duration::from_secs(300)
        );
        assert_eq!(offset_in(Duration::ZERO, [0xff; 8]), Duration::ZERO);
        let spread = Duration::from_secs(30);
        for r in [[0u8; 8], [0xff; 8], [7, 1, 2, 3, 4, 5, 6, 7]] {
            assert!(offset_in(spread, r) < spread);
        }
        // Uniform enough: 1,000 draws from the OS cover every tenth of the spread.
        let mut tenths = [0u32; 10];
        for _ in 0..1000 {
            let o = offset_in(spread, edgepath_probe::ids::random_bytes());
            tenths[(o.as_millis() / 3000) as usize] += 1;
        }
        assert!(tenths.iter().all(|&n| n > 40), "{tenths:?}");
    }

    #[test]
    fn the_summary_is_rendered_with_shares() {
        let recs = vec![
            record(MediaPath::RelayUdp, Some(0.0)),
            record(MediaPath::RelayUdp, Some(0.02)),
            record(MediaPath::RelayTcp, None),
            record(MediaPath::RelayUdp, Some(0.01)),
        ];
        assert!(render(&summary(&recs)).contains("75 %"));
    }
}
