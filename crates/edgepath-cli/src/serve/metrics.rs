//! A check's report as Prometheus metrics, through the official client's OpenMetrics
//! text encoder. Prometheus' naming guide: base units (seconds), ratios 0 to 1, one
//! time series per value of a small enum label (path, status, via), set to 1 for the
//! current value and 0 for the others so a change shows as a change, and no
//! high-cardinality labels (no addresses).

use edgepath_model::sites::claims::SiteReport;
use edgepath_model::{EndpointSource, MediaPath, Severity, Status, Via, VpnState};
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

/// A label value as the exposition format writes it: the encoder writes values as they
/// are, and a site name comes from the admin's file.
fn label_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// The metrics of one probe: `report` (None when the check could not run), how long
/// it took, the endpoint data it used, and with a site inventory the probe's site:
/// then every series carries a `site` label (a constant label of the registry, so a
/// central Prometheus that gathers many branches tells them apart without relabelling).
pub fn probe_metrics(
    report: Option<&Report>,
    seconds: f64,
    source: Option<&EndpointSource>,
    site: Option<&SiteReport>,
) -> String {
    let site_label = site.map(|s| {
        (
            std::borrow::Cow::Borrowed("site"),
            std::borrow::Cow::Owned(label_value(s.label())),
        )
    });
    let mut reg = Registry::with_prefix_and_labels("edgepath", site_label.into_iter());
    if let Some(site) = site {
        let findings = family(
            &mut reg,
            "site_findings",
            "What the site inventory claims of this site that the probe did not find, per severity (info, warn, error)",
            None,
        );
        for sev in Severity::ALL {
            let n = site.findings.iter().filter(|f| f.severity == *sev).count();
            findings
                .get_or_create(&labels(&[("severity", sev.name())]))
                .set(n as f64);
        }
    }
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
        let text = probe_metrics(None, 1.5, None, None);
        assert!(text.contains("edgepath_probe_success 0"), "{text}");
        assert!(
            text.contains("edgepath_probe_duration_seconds 1.5"),
            "{text}"
        );
        assert!(!text.contains("modality_path"), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn a_site_label_on_every_series_escaped() {
        let inv = edgepath_model::Inventory::parse(
            "s.csv",
            "10.0.0.0,n,24,Bldg \"7\" \\ east,,,,,,,,,1,0\n",
        );
        let facts = edgepath_model::sites::claims::Measured {
            local: Some("10.0.0.9".parse().unwrap()),
            ..Default::default()
        };
        let site = SiteReport::new(&inv, &facts);
        let text = probe_metrics(None, 1.0, None, Some(&site));
        let label = r#"site="Bldg \"7\" \\ east""#;
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            assert!(line.contains(label), "{line}");
        }
        assert!(
            text.contains(r#"edgepath_site_findings{site="Bldg \"7\" \\ east",severity="info"} 1"#),
            "{text}"
        );
    }
}
