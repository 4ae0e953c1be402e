//! Whether this machine marks each modality's media with Microsoft's DSCP value, read
//! from Windows' policy-based QoS: each policy is a key under
//! `Software\Policies\Microsoft\Windows\QoS` (the machine's, then the user's) holding
//! strings: "Application Name", "Protocol" (`*`, `TCP`, `UDP`), "Local Port"
//! (`50000:50019`, `50000-50019`, `50000` or `*`), "Remote IP"/"Remote Port", "DSCP
//! Value". That is where Group Policy and `New-NetQosPolicy` (what `rules --target
//! windows` writes) put them. Reading the keys is `registry.rs`'s; this module decides,
//! so its rules are tested on any system.

use edgepath_model::{Dscp, Modality, PortRange, QosState};
use serde::Serialize;

/// A policy's key as found: its name (with where it is) and its values (name, data).
pub type PolicyKey = (String, Vec<(String, String)>);

/// One policy as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QosPolicy {
    /// Its name (the key's), with where it is (`machine` or `user`).
    pub name: String,
    /// "Application Name" (`*` for every program).
    pub application: String,
    /// Whether it applies to UDP (`*` or `UDP`), where media goes first.
    pub udp: bool,
    /// "Local Port": the source ports it marks; `None` for every port.
    pub local_ports: Option<(u16, u16)>,
    /// "DSCP Value".
    pub dscp: u8,
    /// Whether it only applies to some destinations (a remote address or port).
    pub narrowed: bool,
}

/// What the policies do to one modality, in `check`'s report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QosMarking {
    /// `marked`, `wrong-dscp`, `partial` or `none`.
    pub state: QosState,
    /// Microsoft's value for the modality.
    pub expected_dscp: Dscp,
    /// The policies that touch the modality's source range, as `name: ports -> DSCP`.
    pub policies: Vec<String>,
}

/// Reads one policy from its values (name, data); an unreadable value is an error
/// naming the policy and the value.
pub fn parse_policy(name: &str, values: &[(String, String)]) -> Result<QosPolicy, String> {
    let get = |key: &str| {
        values
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.trim())
    };
    let dscp = get("DSCP Value").ok_or_else(|| format!("QoS policy {name}: no \"DSCP Value\""))?;
    let dscp = dscp
        .parse::<u8>()
        .ok()
        .filter(|d| *d <= 63)
        .ok_or_else(|| format!("QoS policy {name}: \"DSCP Value\" `{dscp}` is not 0-63"))?;
    let local_ports = match get("Local Port").unwrap_or("*") {
        "*" | "" => None,
        p => Some(port_range(p).ok_or_else(|| {
            format!("QoS policy {name}: \"Local Port\" `{p}` is not a port or range")
        })?),
    };
    let udp = matches!(
        get("Protocol").unwrap_or("*").to_ascii_uppercase().as_str(),
        "*" | "UDP"
    );
    let narrowed = ["Remote IP", "Remote Port"]
        .iter()
        .any(|k| get(k).is_some_and(|v| v != "*" && !v.is_empty()));
    Ok(QosPolicy {
        name: name.to_owned(),
        application: get("Application Name").unwrap_or("*").to_owned(),
        udp,
        local_ports,
        dscp,
        narrowed,
    })
}

/// `50000:50019`, `50000-50019` or `50000`.
fn port_range(text: &str) -> Option<(u16, u16)> {
    let (a, b) = text
        .split_once(':')
        .or_else(|| text.split_once('-'))
        .unwrap_or((text, text));
    let (a, b) = (a.trim().parse::<u16>().ok()?, b.trim().parse::<u16>().ok()?);
    (a <= b).then_some((a, b))
}

/// What `policies` do to `modality`'s media from `range`: the UDP policies whose
/// source ports meet the range; `marked` when those with Microsoft's value for every
/// destination cover all of it (one only for some destinations or ports makes it
/// `partial` at best: it may not reach the relays).
pub fn marking(policies: &[QosPolicy], modality: Modality, range: PortRange) -> QosMarking {
    let expected = modality.default_dscp();
    let (lo, hi) = (range.first(), range.last());
    let touching: Vec<&QosPolicy> = policies
        .iter()
        .filter(|p| p.udp)
        .filter(|p| p.local_ports.is_none_or(|(a, b)| a <= hi && lo <= b))
        .collect();
    // The ports of the range the right value covers, one sweep over sorted pieces.
    let mut right: Vec<(u16, u16)> = touching
        .iter()
        .filter(|p| p.dscp == expected.value() && !p.narrowed)
        .map(|p| {
            p.local_ports
                .map_or((lo, hi), |(a, b)| (a.max(lo), b.min(hi)))
        })
        .collect();
    right.sort_unstable();
    let mut next = u32::from(lo);
    for (a, b) in &right {
        if u32::from(*a) <= next {
            next = next.max(u32::from(*b) + 1);
        }
    }
    let covered = next > u32::from(hi);
    let wrong = touching.iter().any(|p| p.dscp != expected.value());
    let some_right = touching.iter().any(|p| p.dscp == expected.value());
    let state = if covered {
        QosState::Marked
    } else if wrong {
        QosState::WrongDscp
    } else if some_right {
        QosState::Partial
    } else {
        QosState::Unmarked
    };
    QosMarking {
        state,
        expected_dscp: expected,
        policies: touching
            .iter()
            .map(|p| {
                let ports = p
                    .local_ports
                    .map_or("every port".to_owned(), |(a, b)| format!("{a}-{b}"));
                let app = if p.application == "*" {
                    String::new()
                } else {
                    format!(" ({})", p.application)
                };
                let only = if p.narrowed {
                    ", to some destinations only"
                } else {
                    ""
                };
                format!("{}{app}: {ports}{only} -> DSCP {}", p.name, p.dscp)
            })
            .collect(),
    }
}

/// The QoS policies on this machine, where edgepath can read them (Windows); `None`
/// elsewhere.
pub fn read() -> Option<Result<Vec<QosPolicy>, String>> {
    #[cfg(windows)]
    {
        Some(crate::registry::qos_policies().and_then(|found| {
            found
                .iter()
                .map(|(name, values)| parse_policy(name, values))
                .collect()
        }))
    }
    #[cfg(not(windows))]
    {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(name: &str, protocol: &str, ports: &str, dscp: &str) -> QosPolicy {
        let values: Vec<(String, String)> = [
            ("Version", "1.0"),
            ("Application Name", "ms-teams.exe"),
            ("Protocol", protocol),
            ("Local Port", ports),
            ("Local IP", "*"),
            ("Remote Port", "*"),
            ("Remote IP", "*"),
            ("DSCP Value", dscp),
            ("Throttle Rate", "-1"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        parse_policy(name, &values).unwrap()
    }

    fn range(a: u16, b: u16) -> PortRange {
        PortRange::new(a, b).unwrap()
    }

    #[test]
    fn each_modality_marked_or_not() {
        let generated = [
            policy("edgepath audio", "*", "50000:50019", "46"),
            policy("edgepath video", "*", "50020:50039", "34"),
            policy(
                "edgepath app_sharing and file_transfer",
                "*",
                "50040:50059",
                "18",
            ),
        ];
        type Case<'a> = (&'a [QosPolicy], Modality, PortRange, QosState);
        let audio = (Modality::Audio, range(50000, 50019));
        let sharing = (Modality::AppSharing, range(50040, 50059));
        let split = [
            policy("low", "UDP", "50000-50009", "46"),
            policy("high", "*", "50010:50019", "46"),
        ];
        let half = [policy("half", "*", "50000:50009", "46")];
        let wrong = [policy("all-ef", "*", "50000:50059", "46")];
        let tcp_only = [policy("tcp", "TCP", "50000:50019", "46")];
        let any_port = [policy("any", "*", "*", "46")];
        let cases: &[Case<'_>] = &[
            (&generated, audio.0, audio.1, QosState::Marked),
            (&generated, sharing.0, sharing.1, QosState::Marked),
            (&generated[..2], sharing.0, sharing.1, QosState::Unmarked),
            // Two policies that cover the range together.
            (&split, audio.0, audio.1, QosState::Marked),
            (&half, audio.0, audio.1, QosState::Partial),
            // One policy for all media with EF: sharing gets the wrong value.
            (&wrong, sharing.0, sharing.1, QosState::WrongDscp),
            (&wrong, audio.0, audio.1, QosState::Marked),
            // TCP alone does not mark the UDP media.
            (&tcp_only, audio.0, audio.1, QosState::Unmarked),
            (&any_port, audio.0, audio.1, QosState::Marked),
            (&[], audio.0, audio.1, QosState::Unmarked),
        ];
        for (policies, m, r, want) in cases {
            let got = marking(policies, *m, *r);
            assert_eq!(got.state, *want, "{m} {policies:?}");
        }
        let got = marking(&generated, Modality::Video, range(50020, 50039));
        assert_eq!(
            got.policies,
            ["edgepath video (ms-teams.exe): 50020-50039 -> DSCP 34"]
        );
        assert_eq!(got.expected_dscp.value(), 34);
    }

    #[test]
    fn bad_values_are_named() {
        let bad = |k: &str, v: &str| {
            parse_policy(
                "p",
                &[("DSCP Value".into(), "46".into()), (k.into(), v.into())],
            )
            .unwrap_err()
        };
        assert!(bad("Local Port", "50019:50000").contains("\"Local Port\" `50019:50000`"));
        assert!(bad("Local Port", "audio").contains("not a port"));
        let e = parse_policy("p", &[("DSCP Value".into(), "64".into())]).unwrap_err();
        assert!(e.contains("not 0-63"), "{e}");
        let e = parse_policy("p", &[]).unwrap_err();
        assert!(e.contains("no \"DSCP Value\""), "{e}");
        // A policy only for some destinations may not reach the relays: partial.
        let narrowed = parse_policy(
            "p",
            &[
                ("DSCP Value".into(), "46".into()),
                ("Remote IP".into(), "10.0.0.0".into()),
            ],
        )
        .unwrap();
        assert!(narrowed.narrowed);
        let got = marking(&[narrowed], Modality::Audio, range(50000, 50019));
        assert_eq!(got.state, QosState::Partial);
        assert_eq!(
            got.policies,
            ["p: every port, to some destinations only -> DSCP 46"]
        );
    }
}
