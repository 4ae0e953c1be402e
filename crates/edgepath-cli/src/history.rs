//! The monitor's history: one JSON line per run (a compact record of the check: paths,
//! statuses, quality figures, services, VPN, in the model's words), read back with a
//! bad line named, and what a history says (how often each modality was on each path,
//! the quality percentiles). Apart from the command, so the HTML report and any later
//! reader share one format.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use edgepath_model::{MediaPath, Modality, ServiceId, Status, Via, VpnState};
use edgepath_probe::check::Report;
use serde::{Deserialize, Serialize};

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
    /// The site of the client (with `--sites`; `unknown` when in none), absent without
    /// an inventory and in histories written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
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
    pub fn of(r: &Report, time: String, version: Option<String>) -> Self {
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
            site: None,
        }
    }
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let p = Percentiles::of((1..=100).map(f64::from).collect()).unwrap();
        assert_eq!((p.n, p.p50, p.p95, p.max), (100, 50.0, 95.0, 100.0));
        let p = Percentiles::of(vec![3.0]).unwrap();
        assert_eq!((p.p50, p.p95, p.max), (3.0, 3.0, 3.0));
        assert!(Percentiles::of(vec![f64::NAN]).is_none());
    }

    /// A record of one modality on `path` and one service.
    pub(crate) fn record(path: MediaPath, loss: Option<f64>) -> Record {
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
            site: None,
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
    }
}
