//! Where Teams media really goes when a VPN is up: per Optimize range of the endpoint
//! data (Teams media first) and for the relay actually probed, the route the system
//! would use, and from those one state. Pure: the routes are looked up elsewhere
//! ([`crate::route`]); this module only decides, and is tested table by table.
//!
//! - `none`: no route of any kind goes through a tunnel;
//! - `split`: media goes direct while other traffic takes a tunnel (Microsoft's advice);
//! - `forced`: media goes through the tunnel (a hairpin through the company);
//! - `partial`: some media ranges go through the tunnel, others direct: the split list
//!   is out of date;
//! - `unknown`: routes could not be looked up here.

use serde::Serialize;

pub use edgepath_model::VpnState;

use crate::route::{Route, RouteError, TunnelKind};

/// The route of one address range (or of the relay address).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RangeRoute {
    /// The range (`52.112.0.0/14`) or the relay address (`/32`).
    pub net: String,
    /// Microsoft's endpoint set, when the range comes from the data.
    pub endpoint_set: Option<u32>,
    /// Whether it carries Teams media (set 11, or the relay probed).
    pub media: bool,
    /// The outgoing interface.
    pub interface: Option<String>,
    /// The next hop.
    pub gateway: Option<String>,
    /// Whether the interface is a tunnel.
    pub tunnel: bool,
    /// Which kind of tunnel.
    pub tunnel_kind: Option<TunnelKind>,
    /// Why there is no route, when there is none.
    pub error: Option<String>,
}

impl RangeRoute {
    /// The route of `net` from its lookups (first and last address of the range): a
    /// range whose two ends leave by different interfaces is split inside itself and
    /// counts as through the tunnel if either end is.
    pub fn of(
        net: String,
        endpoint_set: Option<u32>,
        media: bool,
        lookups: &[&Result<Route, RouteError>],
    ) -> Self {
        let ok: Vec<&Route> = lookups.iter().filter_map(|r| r.as_ref().ok()).collect();
        let through = ok.iter().find(|r| r.tunnel.is_some()).or(ok.first());
        RangeRoute {
            net,
            endpoint_set,
            media,
            interface: through.and_then(|r| r.interface.clone()),
            gateway: through.and_then(|r| r.gateway.map(|g| g.to_string())),
            tunnel: through.is_some_and(|r| r.tunnel.is_some()),
            tunnel_kind: through.and_then(|r| r.tunnel),
            error: ok
                .is_empty()
                .then(|| {
                    lookups
                        .iter()
                        .find_map(|r| r.as_ref().err().map(ToString::to_string))
                })
                .flatten(),
        }
    }

    /// Whether a route was found.
    pub fn routed(&self) -> bool {
        self.error.is_none() && self.interface.is_some()
    }

    /// `wg0 (WireGuard)` or `eth0`.
    pub fn via(&self) -> String {
        let name = self.interface.as_deref().unwrap_or("?");
        match self.tunnel_kind {
            Some(k) => format!("{name} ({})", k.label()),
            None => match &self.gateway {
                Some(g) => format!("{name}, gateway {g}"),
                None => name.to_owned(),
            },
        }
    }
}

/// The VPN part of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VpnReport {
    /// The state.
    pub state: VpnState,
    /// The route of the relay address probed, when one was.
    pub relay: Option<RangeRoute>,
    /// Every Optimize range of the endpoint data, Teams media first.
    pub ranges: Vec<RangeRoute>,
    /// What it means, in a sentence.
    pub note: String,
    /// What to change.
    pub advice: Vec<String>,
}

impl VpnReport {
    /// Whether Teams media (some or all) goes through a tunnel.
    pub fn media_tunnelled(&self) -> bool {
        matches!(self.state, VpnState::Forced | VpnState::Partial)
    }

    /// The media routes that go through a tunnel (the relay first).
    pub fn tunnelled_media(&self) -> Vec<&RangeRoute> {
        self.relay
            .iter()
            .chain(self.ranges.iter())
            .filter(|r| r.media && r.tunnel)
            .collect()
    }
}

const FIX: &str = "route the Optimize ranges outside the tunnel, as Microsoft's VPN split-tunnel guidance says: `edgepath rules --target wireguard` (AllowedIPs) or `--target openvpn` (route ... net_gateway)";

/// Decides the state. `others` are routes of destinations that are not media (the
/// services, other Optimize sets): a tunnel there shows a VPN is up. `unsupported` is
/// the lookup's own error when no route could be looked up at all.
pub fn assess(
    relay: Option<RangeRoute>,
    ranges: Vec<RangeRoute>,
    others_tunnelled: Option<String>,
    unsupported: Option<String>,
) -> VpnReport {
    if let Some(why) = unsupported {
        return VpnReport {
            state: VpnState::Unknown,
            relay,
            ranges,
            note: format!("{why}: whether media goes through a VPN is not known"),
            advice: Vec::new(),
        };
    }
    let media: Vec<&RangeRoute> = relay
        .iter()
        .chain(ranges.iter())
        .filter(|r| r.media && r.routed())
        .collect();
    let tunnelled: Vec<&RangeRoute> = media.iter().copied().filter(|r| r.tunnel).collect();
    let direct: Vec<&RangeRoute> = media.iter().copied().filter(|r| !r.tunnel).collect();
    let other_tunnel = ranges
        .iter()
        .find(|r| !r.media && r.tunnel)
        .map(RangeRoute::via)
        .or(others_tunnelled);
    let names = |rs: &[&RangeRoute]| {
        let mut v: Vec<String> = rs.iter().map(|r| r.net.clone()).collect();
        v.dedup();
        v.join(", ")
    };
    let (state, note, mut advice) = if media.is_empty() {
        (
            VpnState::Unknown,
            "no route to the media ranges could be looked up".to_owned(),
            Vec::new(),
        )
    } else if direct.is_empty() {
        (
            VpnState::Forced,
            format!(
                "forced tunnel: Teams media goes through {} to the company and back out (a hairpin: extra delay, load on the VPN concentrator, and often a proxy that cannot carry UDP)",
                tunnelled[0].via()
            ),
            vec![FIX.to_owned()],
        )
    } else if !tunnelled.is_empty() {
        (
            VpnState::Partial,
            format!(
                "partial split tunnel: {} {} through {}, the other media ranges direct via {}: the split-tunnel list is out of date",
                names(&tunnelled),
                if tunnelled.len() == 1 { "goes" } else { "go" },
                tunnelled[0].via(),
                direct[0].via()
            ),
            vec![format!(
                "regenerate the split list from current endpoint data (`edgepath catalog update`, then `edgepath rules --target wireguard` or `--target openvpn`); {}",
                "Microsoft publishes new media ranges 30 days before they go live"
            )],
        )
    } else if let Some(t) = &other_tunnel {
        (
            VpnState::Split,
            format!(
                "split tunnel: Teams media goes direct via {}, other traffic through {t}",
                direct[0].via()
            ),
            Vec::new(),
        )
    } else {
        (
            VpnState::None,
            format!("no VPN: Teams media goes direct via {}", direct[0].via()),
            Vec::new(),
        )
    };
    // Exchange and SharePoint Optimize ranges belong outside the tunnel too.
    if matches!(state, VpnState::Split) {
        let inside: Vec<&RangeRoute> = ranges.iter().filter(|r| !r.media && r.tunnel).collect();
        if !inside.is_empty() {
            advice.push(format!(
                "the Optimize ranges {} (Exchange, SharePoint) go through the tunnel; Microsoft advises them outside too (`edgepath rules --target wireguard`, default --split optimize)",
                names(&inside)
            ));
        }
    }
    VpnReport {
        state,
        relay,
        ranges,
        note,
        advice,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rr(
        net: &str,
        set: Option<u32>,
        media: bool,
        via: Option<(&str, Option<TunnelKind>)>,
    ) -> RangeRoute {
        RangeRoute {
            net: net.into(),
            endpoint_set: set,
            media,
            interface: via.map(|v| v.0.to_owned()),
            gateway: None,
            tunnel: via.is_some_and(|v| v.1.is_some()),
            tunnel_kind: via.and_then(|v| v.1),
            error: via.is_none().then(|| "no route".to_owned()),
        }
    }

    const WG: Option<TunnelKind> = Some(TunnelKind::Wireguard);

    #[test]
    fn states_table() {
        let eth = Some(("eth0", None));
        let wg = Some(("wg0", WG));
        // (relay, media ranges, other Optimize range, services tunnelled) -> state
        let cases: &[(_, &[_], _, Option<&str>, VpnState)] = &[
            (eth, &[eth, eth], eth, None, VpnState::None),
            (eth, &[eth, eth], wg, None, VpnState::Split),
            (
                eth,
                &[eth, eth],
                eth,
                Some("wg0 (WireGuard)"),
                VpnState::Split,
            ),
            (wg, &[wg, wg], wg, None, VpnState::Forced),
            (eth, &[eth, wg], eth, Some("wg0"), VpnState::Partial),
            (wg, &[eth, eth], eth, None, VpnState::Partial),
            // Unroutable ranges (no IPv6 here) do not count either way.
            (eth, &[eth, None], wg, None, VpnState::Split),
            (None, &[None, None], eth, None, VpnState::Unknown),
        ];
        for (i, (relay, media, other, services, want)) in cases.iter().enumerate() {
            let mut ranges: Vec<RangeRoute> = media
                .iter()
                .enumerate()
                .map(|(j, v)| rr(&format!("198.51.100.{j}/32"), Some(11), true, *v))
                .collect();
            ranges.push(rr("192.0.2.0/24", Some(1), false, *other));
            let r = assess(
                Some(rr("203.0.113.10/32", None, true, *relay)),
                ranges,
                services.map(str::to_owned),
                None,
            );
            assert_eq!(r.state, *want, "case {i}: {}", r.note);
        }
    }

    #[test]
    fn notes_name_ranges_interfaces_and_the_fix() {
        let wg = Some(("wg0", WG));
        let eth = Some(("eth0", None));
        let r = assess(
            Some(rr("203.0.113.10/32", None, true, eth)),
            vec![
                rr("52.112.0.0/14", Some(11), true, eth),
                rr("52.122.0.0/15", Some(11), true, wg),
            ],
            None,
            None,
        );
        assert_eq!(
            r.note,
            "partial split tunnel: 52.122.0.0/15 goes through wg0 (WireGuard), the other media ranges direct via eth0: the split-tunnel list is out of date"
        );
        assert!(r.advice[0].contains("edgepath rules --target wireguard"));
        assert_eq!(r.tunnelled_media().len(), 1);
        let forced = assess(
            Some(rr("203.0.113.10/32", None, true, wg)),
            vec![rr("52.112.0.0/14", Some(11), true, wg)],
            None,
            None,
        );
        assert!(forced
            .note
            .starts_with("forced tunnel: Teams media goes through wg0 (WireGuard)"));
        assert!(forced.media_tunnelled());
        let split = assess(
            Some(rr("203.0.113.10/32", None, true, eth)),
            vec![
                rr("52.112.0.0/14", Some(11), true, eth),
                rr("13.107.6.152/31", Some(1), false, wg),
            ],
            None,
            None,
        );
        assert_eq!(split.state, VpnState::Split);
        assert!(
            split.advice[0].contains("13.107.6.152/31"),
            "{:?}",
            split.advice
        );
        let unknown = assess(
            None,
            vec![],
            None,
            Some("route lookup not supported on this system".into()),
        );
        assert_eq!(unknown.state, VpnState::Unknown);
        assert!(unknown
            .note
            .starts_with("route lookup not supported on this system"));
    }
}
