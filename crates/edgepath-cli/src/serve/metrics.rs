//! A check's report as Prometheus metrics, through the official client's OpenMetrics
//! text encoder. Prometheus' naming guide: base units (seconds), ratios 0 to 1, one
//! time series per value of a small enum label (path, status, via), set to 1 for the
//! current value and 0 for the others so a change shows as a change, and no
//! high-cardinality labels (no addresses).

use edgepath_model::{EndpointSource, MediaPath, Status, Via, VpnState};
use edgepath_probe::check::Report;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};
use std::sync::atomic::AtomicU64;

type Labels = Vec<(String, String)>;
type Gauges = Family<Labels, Gauge<f64, AtomicU64>>;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// One gauge family, registered.
fn family(reg: &mut Registry, name: &str, help: &str, unit: Option<Unit>) -> Gauges {
    let f = Gauges::default();
    match unit {
        Some(u) => reg.register_with_unit(name, help, u, f.clone()),
        None => reg.register(name, help, f.clone()),
    }
    f
}

/// One gauge without labels, registered.
fn single(reg: &mut Registry, name: &str, help: &str, unit: Option<Unit>, v: f64) {
    let g: Gauge<f64, AtomicU64> = Gauge::default();
    g.set(v);
    match unit {
        Some(u) => reg.register_with_unit(name, help, u, g),
        None => reg.register(name, help, g),
    }
}

/// 1 for `current`, 0 for every other value of the enum.
fn one_hot<T: Copy + PartialEq>(
    f: &Gauges,
    base: &[(&str, &str)],
    key: &str,
    all: &[T],
    current: T,
    name: impl Fn(T) -> &'static str,
) {
    for &v in all {
        let mut l = labels(base);
        l.push((key.to_owned(), name(v).to_owned()));
        f.get_or_create(&l)
            .set(if v == current { 1.0 } else { 0.0 });
    }
}

fn bool_f(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

/// The metrics of one probe: `report` (None when the check could not run), how long
/// it took, and the endpoint data it used.
pub fn probe_metrics(
    report: Option<&Report>,
    seconds: f64,
    source: Option<&EndpointSource>,
) -> String {
    let mut reg = Registry::with_prefix("edgepath");
    let ok = report.is_some_and(|r| r.modalities.iter().all(|m| m.path != MediaPath::None));
    single(
        &mut reg,
        "probe_success",
        "1 when the check ran and every modality has a media path (not none)",
        None,
        bool_f(ok),
    );
    single(
        &mut reg,
        "probe_duration",
        "How long the check took",
        Some(Unit::Seconds),
        seconds,
    );
    if let Some(age) = source.and_then(|s| s.age_days) {
        single(
            &mut reg,
            "endpoints_age",
            "Age of the Microsoft 365 endpoint data used, from its version's date",
            Some(Unit::Seconds),
            age as f64 * 86_400.0,
        );
    }
    if let Some(r) = report {
        let path = family(
            &mut reg,
            "modality_path",
            "1 for the media path the modality takes now (relay-udp, relay-tcp, relay-tcp-proxy, none), 0 for the others",
            None,
        );
        let status = family(
            &mut reg,
            "modality_status",
            "1 for the modality's status now (good, degraded, failing), 0 for the others",
            None,
        );
        let loss = family(
            &mut reg,
            "quality_loss_ratio",
            "Packets lost over the quality measurement, 0 to 1",
            None,
        );
        let rtt = family(
            &mut reg,
            "quality_rtt",
            "Mean round trip over the quality measurement",
            Some(Unit::Seconds),
        );
        let jitter = family(
            &mut reg,
            "quality_jitter",
            "Jitter (RFC 3550) over the quality measurement",
            Some(Unit::Seconds),
        );
        for m in &r.modalities {
            let base = [("modality", m.modality.id())];
            one_hot(
                &path,
                &base,
                "path",
                &MediaPath::LADDER,
                m.path,
                MediaPath::name,
            );
            one_hot(
                &status,
                &base,
                "status",
                Status::ALL,
                m.status,
                Status::name,
            );
            if let Some(q) = &m.quality {
                let l = labels(&base);
                loss.get_or_create(&l).set(q.overall.loss_pct / 100.0);
                rtt.get_or_create(&l).set(q.overall.rtt_ms / 1000.0);
                jitter.get_or_create(&l).set(q.overall.jitter_ms / 1000.0);
            }
        }
        let reach = family(
            &mut reg,
            "service_reachable",
            "1 for the way the service is reached now (direct, proxy, none), 0 for the others",
            None,
        );
        let intercepted = family(
            &mut reg,
            "tls_intercepted",
            "1 when the service's TLS is intercepted (a certificate not from Microsoft's issuers)",
            None,
        );
        for s in &r.services {
            let base = [("service", s.service.id())];
            one_hot(&reach, &base, "via", Via::ALL, s.via, Via::name);
            intercepted
                .get_or_create(&labels(&base))
                .set(bool_f(s.tls.as_ref().is_some_and(|t| t.intercepted)));
        }
        let vpn = family(
            &mut reg,
            "vpn_state",
            "1 for where Teams media goes with a VPN up (none, split, forced, partial, unknown), 0 for the others",
            None,
        );
        one_hot(
            &vpn,
            &[],
            "state",
            VpnState::ALL,
            r.vpn.state,
            VpnState::name,
        );
    }
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = encode(&mut out, &reg);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_report_only_failure_and_duration() {
        let text = probe_metrics(None, 1.5, None);
        assert!(text.contains("edgepath_probe_success 0"), "{text}");
        assert!(
            text.contains("edgepath_probe_duration_seconds 1.5"),
            "{text}"
        );
        assert!(!text.contains("modality_path"), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }
}
