//! The route a routing table gives a destination, decided from the table itself: the
//! longest matching prefix, then the lowest metric (the route's plus its interface's, as
//! Windows adds them), and the interface's kind of tunnel from its adapter type and
//! description. Windows' own `GetBestRoute2` decides the same way; this is its
//! stand-in where that call is missing (Wine 8 answers it with ERROR_NOT_SUPPORTED),
//! and it is pure, so it is tested here on any system.

use std::net::IpAddr;

use ipnet::IpNet;

use super::{Route, TunnelKind};

/// One row of the routing table (`MIB_IPFORWARD_ROW2`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRoute {
    /// The destination prefix.
    pub prefix: IpNet,
    /// The next hop; `None` on-link (Windows writes the unspecified address).
    pub next_hop: Option<IpAddr>,
    /// The interface's index.
    pub interface: u32,
    /// The route's own metric.
    pub metric: u32,
}

/// One network adapter (`IP_ADAPTER_ADDRESSES`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Adapter {
    /// Its IPv4 interface index (0: IPv4 not enabled).
    pub index_v4: u32,
    /// Its IPv6 interface index (0: IPv6 not enabled).
    pub index_v6: u32,
    /// The name people see ("Ethernet", "Wi-Fi", the tunnel's name).
    pub name: String,
    /// The driver's description ("WireGuard Tunnel", "TAP-Windows Adapter V9").
    pub description: String,
    /// The IANA interface type (1 other, 6 Ethernet, 23 PPP, 53 virtual, 71 Wi-Fi, 131
    /// tunnel).
    pub if_type: u32,
    /// Whether it has a link-layer (MAC) address: a layer-3 virtual link has none.
    pub link_address: bool,
    /// Its unicast addresses.
    pub addresses: Vec<IpAddr>,
    /// The interface metric per family, added to the route's.
    pub metric_v4: u32,
    /// See `metric_v4`.
    pub metric_v6: u32,
}

impl Adapter {
    /// Whether a route's interface index is this adapter's: Windows gives both
    /// families one index (Wine reports no IPv6 index at all), so either matches.
    fn has_index(&self, index: u32) -> bool {
        index != 0 && (self.index_v4 == index || self.index_v6 == index)
    }

    fn metric(&self, v6: bool) -> u32 {
        if v6 {
            self.metric_v6
        } else {
            self.metric_v4
        }
    }
}

/// IANA ifType values Windows reports (ipifcons.h).
const IF_TYPE_OTHER: u32 = 1;
const IF_TYPE_PPP: u32 = 23;
const IF_TYPE_PROP_VIRTUAL: u32 = 53;
const IF_TYPE_TUNNEL: u32 = 131;

/// Tunnel adapters by the description their drivers give, the most specific first:
/// WireGuard for Windows (wireguard-nt), Wintun (WireGuard's and others' layer-3
/// driver), OpenVPN's TAP-Windows and data-channel-offload drivers, and the corporate
/// clients' adapters as they show in `ipconfig /all` and `Get-NetAdapter`:
/// "Cisco AnyConnect Secure Mobility Client Virtual Miniport Adapter for Windows x64"
/// (renamed "Cisco Secure Client ..." in version 5), "PANGP Virtual Ethernet Adapter"
/// (GlobalProtect), "Fortinet SSL VPN Virtual Ethernet Adapter" and "Fortinet Virtual
/// Ethernet Adapter (NDIS 6.30)" (FortiClient), "Zscaler Network Adapter 1.0.2.0".
/// These have a MAC address and call themselves Ethernet, so only the name tells.
/// For Netskope's and Microsoft's Global Secure Access clients no public source names a
/// routing adapter: they are not recognised here (docs/windows.md).
const DESCRIPTIONS: &[(&str, TunnelKind)] = &[
    ("wireguard tunnel", TunnelKind::Wireguard),
    ("wintun", TunnelKind::Tun),
    ("openvpn data channel offload", TunnelKind::Tun),
    ("tap-windows", TunnelKind::Tap),
    ("tap-win32", TunnelKind::Tap),
    ("cisco anyconnect", TunnelKind::AnyConnect),
    (
        "cisco secure client virtual miniport",
        TunnelKind::AnyConnect,
    ),
    ("pangp virtual ethernet adapter", TunnelKind::GlobalProtect),
    (
        "fortinet ssl vpn virtual ethernet adapter",
        TunnelKind::FortiClient,
    ),
    ("fortinet virtual ethernet adapter", TunnelKind::FortiClient),
    ("zscaler network adapter", TunnelKind::Zscaler),
];

/// The kind of tunnel an adapter is: by its driver's description, else by its type:
/// PPP links, IP tunnels, and an "other" or virtual adapter with no link-layer address
/// (a layer-3 device: what Wine reports for a Unix tun, what VPN drivers without a
/// known description are). An adapter that neither names nor types as a tunnel (an
/// Ethernet, Wi-Fi or mobile broadband link, the loopback) is none.
pub fn tunnel_kind(if_type: u32, link_address: bool, description: &str) -> Option<TunnelKind> {
    let d = description.to_ascii_lowercase();
    DESCRIPTIONS
        .iter()
        .find(|(name, _)| d.contains(name))
        .map(|(_, kind)| *kind)
        .or(match if_type {
            IF_TYPE_PPP => Some(TunnelKind::Ppp),
            IF_TYPE_TUNNEL => Some(TunnelKind::Ip),
            IF_TYPE_OTHER | IF_TYPE_PROP_VIRTUAL if !link_address => Some(TunnelKind::Tun),
            _ => None,
        })
}

/// The route for `destination`: the longest prefix, then the lowest metric (route plus
/// interface), then the first in the table; `None` when no row matches.
pub fn best(routes: &[TableRoute], adapters: &[Adapter], destination: IpAddr) -> Option<Route> {
    let v6 = destination.is_ipv6();
    let adapter = |index: u32| adapters.iter().find(|a| a.has_index(index));
    let chosen = routes
        .iter()
        .filter(|r| r.prefix.contains(&destination))
        .min_by_key(|r| {
            let metric =
                u64::from(r.metric) + u64::from(adapter(r.interface).map_or(0, |a| a.metric(v6)));
            (std::cmp::Reverse(r.prefix.prefix_len()), metric)
        })?;
    let a = adapter(chosen.interface);
    Some(Route {
        destination,
        interface: a.map(|a| a.name.clone()),
        gateway: chosen.next_hop.filter(|h| !h.is_unspecified()),
        source: a.and_then(|a| source_address(&a.addresses, destination)),
        tunnel: a.and_then(|a| tunnel_kind(a.if_type, a.link_address, &a.description)),
    })
}

/// The adapter's address Windows would send from: one of the destination's family,
/// link-local only when it has no other.
fn source_address(addresses: &[IpAddr], destination: IpAddr) -> Option<IpAddr> {
    let same: Vec<IpAddr> = addresses
        .iter()
        .copied()
        .filter(|a| a.is_ipv6() == destination.is_ipv6())
        .collect();
    let link_local = |a: &IpAddr| match a {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => v6.segments()[0] & 0xffc0 == 0xfe80,
    };
    same.iter()
        .copied()
        .find(|a| !link_local(a))
        .or_else(|| same.first().copied())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(prefix: &str, hop: Option<&str>, interface: u32, metric: u32) -> TableRoute {
        TableRoute {
            prefix: prefix.parse().unwrap(),
            next_hop: hop.map(|h| h.parse().unwrap()),
            interface,
            metric,
        }
    }

    fn adapter(index: u32, name: &str, description: &str, if_type: u32, addrs: &[&str]) -> Adapter {
        Adapter {
            index_v4: index,
            index_v6: index,
            name: name.into(),
            description: description.into(),
            if_type,
            link_address: if_type == 6,
            addresses: addrs.iter().map(|a| a.parse().unwrap()).collect(),
            metric_v4: 25,
            metric_v6: 25,
        }
    }

    #[test]
    fn tunnel_kinds_by_description_then_type() {
        let cases: &[(u32, bool, &str, Option<TunnelKind>)] = &[
            (53, false, "WireGuard Tunnel", Some(TunnelKind::Wireguard)),
            (53, false, "Wintun Userspace Tunnel", Some(TunnelKind::Tun)),
            (6, true, "TAP-Windows Adapter V9", Some(TunnelKind::Tap)),
            (
                53,
                false,
                "OpenVPN Data Channel Offload",
                Some(TunnelKind::Tun),
            ),
            (23, false, "WAN Miniport (PPTP)", Some(TunnelKind::Ppp)),
            (
                131,
                false,
                "Teredo Tunneling Pseudo-Interface",
                Some(TunnelKind::Ip),
            ),
            // Wine 8: a Unix tun device (wireguard-go's, OpenVPN's) is "other" with no
            // link-layer address, described by its Unix name.
            (1, false, "ep12wg", Some(TunnelKind::Tun)),
            (
                53,
                false,
                "Some VPN Virtual Miniport",
                Some(TunnelKind::Tun),
            ),
            (
                6,
                true,
                "Cisco AnyConnect Secure Mobility Client Virtual Miniport Adapter for Windows x64",
                Some(TunnelKind::AnyConnect),
            ),
            (
                6,
                true,
                "Cisco Secure Client Virtual Miniport Adapter for Windows x64",
                Some(TunnelKind::AnyConnect),
            ),
            (
                6,
                true,
                "PANGP Virtual Ethernet Adapter Secure",
                Some(TunnelKind::GlobalProtect),
            ),
            (
                6,
                true,
                "Fortinet SSL VPN Virtual Ethernet Adapter",
                Some(TunnelKind::FortiClient),
            ),
            (
                6,
                true,
                "Fortinet Virtual Ethernet Adapter (NDIS 6.30)",
                Some(TunnelKind::FortiClient),
            ),
            (
                6,
                true,
                "Zscaler Network Adapter 1.0.2.0",
                Some(TunnelKind::Zscaler),
            ),
            (53, true, "Hyper-V Virtual Ethernet Adapter", None),
            (6, true, "Cisco Systems VIC Ethernet NIC", None),
            (6, true, "Intel(R) Ethernet Connection I219-LM", None),
            (71, true, "Intel(R) Wi-Fi 6 AX201 160MHz", None),
            (243, false, "Generic Mobile Broadband Adapter", None),
            (24, false, "Software Loopback Interface 1", None),
        ];
        for (if_type, link, description, want) in cases {
            assert_eq!(
                tunnel_kind(*if_type, *link, description),
                *want,
                "{description}"
            );
        }
    }

    #[test]
    fn longest_prefix_then_metric() {
        let adapters = [
            adapter(
                3,
                "Ethernet",
                "Intel(R) Ethernet",
                6,
                &["fe80::1", "192.168.1.10", "2001:db8:1::10"],
            ),
            adapter(9, "wg0", "WireGuard Tunnel", 53, &["10.8.0.2"]),
        ];
        let routes = [
            route("0.0.0.0/0", Some("192.168.1.1"), 3, 0),
            // A forced tunnel's two halves beat the default route by length.
            route("0.0.0.0/1", None, 9, 0),
            route("128.0.0.0/1", None, 9, 0),
            // Split: the media range stays out of the tunnel.
            route("52.112.0.0/14", Some("192.168.1.1"), 3, 0),
            route("192.168.1.0/24", Some("0.0.0.0"), 3, 256),
            route("::/0", Some("fe80::1"), 3, 0),
            // Same prefix twice: the lower metric (route + interface) wins.
            route("203.0.113.0/24", None, 9, 50),
            route("203.0.113.0/24", Some("192.168.1.1"), 3, 10),
        ];
        let got = |d: &str| best(&routes, &adapters, d.parse().unwrap()).unwrap();
        let media = got("52.113.1.1");
        assert_eq!(media.interface.as_deref(), Some("Ethernet"));
        assert_eq!(media.tunnel, None);
        assert_eq!(media.gateway, Some("192.168.1.1".parse().unwrap()));
        assert_eq!(media.source, Some("192.168.1.10".parse().unwrap()));
        let other = got("13.107.6.152");
        assert_eq!(other.interface.as_deref(), Some("wg0"));
        assert_eq!(other.tunnel, Some(TunnelKind::Wireguard));
        assert_eq!(other.gateway, None);
        assert_eq!(got("198.51.100.1").interface.as_deref(), Some("wg0"));
        // On-link: the unspecified next hop is no gateway.
        assert_eq!(got("192.168.1.77").gateway, None);
        assert_eq!(got("203.0.113.5").interface.as_deref(), Some("Ethernet"));
        // IPv6 from the global address, not the link-local one.
        let six = got("2001:db8:113::10");
        assert_eq!(six.source, Some("2001:db8:1::10".parse().unwrap()));
        assert_eq!(six.gateway, Some("fe80::1".parse().unwrap()));
        // No route at all.
        assert_eq!(
            best(&routes[..1], &adapters, "2001:db8::1".parse().unwrap()),
            None
        );
    }
}
