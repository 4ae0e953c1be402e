//! Per family, as `check` reports it: the best media path, UDP and TCP 443 to the
//! relays, the services reached; and what a verdict only one family gives assumes of
//! the clients.

use edgepath_model::{Family, FlowVerdict, MediaPath};

use super::media::RelayTcp;
use super::report::{Asked, FamilyAudit, FlowAudit, ModalityAudit, ServiceAudit};

/// One [`FamilyAudit`] per family asked.
pub(super) fn per_family(
    relays: &[RelayTcp],
    modalities: &[ModalityAudit],
    services: &[ServiceAudit],
) -> Vec<FamilyAudit> {
    relays
        .iter()
        .map(|RelayTcp { family, direct, .. }| {
            // Paths are the same for every modality but its source ports: the first
            // stands for them.
            let first = modalities.first();
            let path = first.and_then(|m| m.family_paths.get(family).copied().flatten());
            let udp = first
                .map(|m| {
                    let mine: Vec<&FlowAudit> = m
                        .flows
                        .iter()
                        .filter(|v| v.family == *family && v.protocol == Asked::Udp)
                        .collect();
                    // As `check`: the relay answers on UDP when some port of it passes.
                    if m.family_paths.get(family) == Some(&Some(MediaPath::RelayUdp)) {
                        FlowVerdict::Accepted
                    } else {
                        summary(&mine)
                    }
                })
                .unwrap_or(FlowVerdict::NotAsked);
            FamilyAudit {
                family: *family,
                path,
                udp,
                tcp: summary(&direct.iter().collect::<Vec<_>>()),
                services_reachable: services
                    .iter()
                    .filter(|s| {
                        let mine: Vec<&FlowAudit> =
                            s.flows.iter().filter(|v| v.family == *family).collect();
                        !mine.is_empty() && mine.iter().all(|v| v.accepted())
                    })
                    .map(|s| s.service)
                    .collect(),
            }
        })
        .collect()
}

/// What a modality's verdict assumes of the clients' families: where the best path is
/// only one family's, a note names it and what the others give (a client without that
/// family gets less), one note per distinct case.
pub(super) fn family_assumptions(modalities: &[ModalityAudit], families: &[Family]) -> Vec<String> {
    let mut cases: Vec<(String, Vec<&str>)> = Vec::new();
    for m in modalities {
        let Some(best) = m.path else { continue };
        let (giving, others): (Vec<Family>, Vec<Family>) = families
            .iter()
            .partition(|f| m.family_paths.get(f) == Some(&Some(best)));
        if others.is_empty() || giving.is_empty() {
            continue;
        }
        let without: Vec<String> = others
            .iter()
            .map(|f| match m.family_paths.get(f).copied().flatten() {
                Some(p) => format!("{f} gives {p}"),
                None => format!("{f} is unknown"),
            })
            .collect();
        let names: Vec<String> = giving.iter().map(ToString::to_string).collect();
        // `others` is not empty: more than one family was asked, so `--family both`.
        let case = format!(
            "{best} only over {} ({}): the verdict takes the clients to have {} (--family \
             both); if they do not, give --family {}",
            names.join(" and "),
            without.join(", "),
            names.join(" and "),
            others[0],
        );
        match cases.iter_mut().find(|(c, _)| *c == case) {
            Some((_, ms)) => ms.push(m.modality.id()),
            None => cases.push((case, vec![m.modality.id()])),
        }
    }
    cases
        .into_iter()
        .map(|(case, ms)| format!("{}: {case}", ms.join(", ")))
        .collect()
}

/// One verdict for several flows: theirs when they agree, else unknown or partly.
fn summary(v: &[&FlowAudit]) -> FlowVerdict {
    if v.is_empty() {
        FlowVerdict::NotAsked
    } else if v.iter().all(|f| f.verdict == v[0].verdict) {
        v[0].verdict
    } else if v.iter().any(|f| f.verdict == FlowVerdict::Unknown) {
        FlowVerdict::Unknown
    } else {
        FlowVerdict::Partly
    }
}
