//! The route this system would use towards a destination: interface, gateway,
//! source address, and whether the interface is a tunnel. Teams picks its route per
//! destination from the routing table, so this is what decides whether media goes
//! through a VPN.
//!
//! On Linux the kernel is asked over rtnetlink (`RTM_GETROUTE` with the destination,
//! protocol and ports, so policy routing such as wg-quick's applies as it does for the
//! client's own packets; then `RTM_GETLINK` for the interface). On Windows the IP
//! Helper API is asked (`windows.rs`; the routing table is decided by `table.rs` where
//! `GetBestRoute2` is missing, as under Wine). Elsewhere the lookup says it is not
//! supported here: it never guesses.

use std::net::IpAddr;

use serde::Serialize;

/// What kind of tunnel an interface is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TunnelKind {
    /// WireGuard: the kernel's, or wireguard-go's tun with its UAPI socket.
    Wireguard,
    /// A tun device (OpenVPN, other userspace VPNs).
    Tun,
    /// A tap device (bridged VPNs).
    Tap,
    /// PPP (PPTP, L2TP, mobile links).
    Ppp,
    /// An IP-in-IP, GRE, SIT or IPv6 tunnel.
    Ip,
    /// An IPsec interface (vti, xfrm).
    Ipsec,
    /// Cisco AnyConnect / Cisco Secure Client's virtual adapter (Windows).
    #[serde(rename = "anyconnect")]
    AnyConnect,
    /// Palo Alto Networks GlobalProtect's virtual adapter (Windows: "PANGP").
    #[serde(rename = "globalprotect")]
    GlobalProtect,
    /// Fortinet FortiClient's virtual adapters (Windows: SSL VPN, IPsec).
    #[serde(rename = "forticlient")]
    FortiClient,
    /// Zscaler Client Connector's adapter (Windows): traffic to Zscaler's cloud.
    Zscaler,
}

impl TunnelKind {
    /// For people: `WireGuard`, `tun`, ...
    pub fn label(self) -> &'static str {
        match self {
            TunnelKind::Wireguard => "WireGuard",
            TunnelKind::Tun => "tun",
            TunnelKind::Tap => "tap",
            TunnelKind::Ppp => "PPP",
            TunnelKind::Ip => "IP tunnel",
            TunnelKind::Ipsec => "IPsec",
            TunnelKind::AnyConnect => "Cisco AnyConnect",
            TunnelKind::GlobalProtect => "GlobalProtect",
            TunnelKind::FortiClient => "FortiClient",
            TunnelKind::Zscaler => "Zscaler",
        }
    }

    /// The cloud security service whose client made the adapter, where only one
    /// vendor's does (GlobalProtect's adapter serves firewalls and Prisma Access alike).
    pub fn vendor(self) -> Option<edgepath_model::ProxyVendor> {
        match self {
            TunnelKind::Zscaler => Some(edgepath_model::ProxyVendor::Zscaler),
            _ => None,
        }
    }
}

/// The route towards one destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Route {
    /// The destination looked up.
    pub destination: IpAddr,
    /// The outgoing interface's name.
    pub interface: Option<String>,
    /// The next hop, when not on-link.
    pub gateway: Option<IpAddr>,
    /// The source address the kernel would choose.
    pub source: Option<IpAddr>,
    /// The tunnel kind, when the interface is one.
    pub tunnel: Option<TunnelKind>,
}

/// Why a route could not be looked up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RouteError {
    /// No route lookup on this platform.
    #[error("route lookup not supported on this system")]
    Unsupported,
    /// The kernel has no route (unreachable, prohibited).
    #[error("no route to {0}: {1}")]
    NoRoute(IpAddr, String),
    /// Talking to the kernel failed.
    #[error("route lookup failed: {0}")]
    System(String),
}

/// What is asked: the destination and, for policy routing, the transport and ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Query {
    /// Where to.
    pub destination: IpAddr,
    /// IP protocol number (17 UDP, 6 TCP).
    pub protocol: u8,
    /// Source port, when known.
    pub source_port: Option<u16>,
    /// Destination port.
    pub destination_port: Option<u16>,
}

/// Looks up every query; one answer per query, in order.
pub fn lookup(queries: &[Query]) -> Vec<Result<Route, RouteError>> {
    #[cfg(target_os = "linux")]
    {
        // The kernel answers at once; a thread and a bounded wait keep a wedged netlink
        // socket from hanging the check all the same.
        let owned = queries.to_vec();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(linux::lookup(&owned));
        });
        rx.recv_timeout(std::time::Duration::from_secs(2))
            .unwrap_or_else(|_| {
                queries
                    .iter()
                    .map(|_| {
                        Err(RouteError::System(
                            "the kernel did not answer within 2 s".into(),
                        ))
                    })
                    .collect()
            })
    }
    #[cfg(windows)]
    {
        windows::lookup(queries)
    }
    #[cfg(not(any(target_os = "linux", windows)))]
    {
        queries
            .iter()
            .map(|_| Err(RouteError::Unsupported))
            .collect()
    }
}

pub mod table;
#[cfg(windows)]
mod windows;

#[cfg(target_os = "linux")]
mod linux {
    use std::collections::HashMap;
    use std::net::IpAddr;

    use netlink_packet_core::{
        NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_REQUEST,
    };
    use netlink_packet_route::link::{
        InfoKind, LinkAttribute, LinkInfo, LinkLayerType, LinkMessage,
    };
    use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteMessage};
    use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
    use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

    use super::{Query, Route, RouteError, TunnelKind};

    /// One request, its one answer (an error is a NetlinkPayload::Error).
    fn request(
        socket: &Socket,
        seq: u32,
        msg: RouteNetlinkMessage,
    ) -> Result<RouteNetlinkMessage, RouteError> {
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_ACK;
        header.sequence_number = seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(msg));
        packet.finalize();
        let mut buf = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut buf[..]);
        socket
            .send(&buf, 0)
            .map_err(|e| RouteError::System(e.to_string()))?;
        let mut answer = None;
        // Read until the kernel's ACK (or error) for this sequence number.
        for _ in 0..16 {
            let mut rx = vec![0u8; 16 * 1024];
            let n = socket
                .recv(&mut &mut rx[..], 0)
                .map_err(|e| RouteError::System(e.to_string()))?;
            let mut offset = 0;
            while offset < n {
                let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&rx[offset..n])
                    .map_err(|e| RouteError::System(format!("bad netlink answer: {e}")))?;
                let len = msg.header.length as usize;
                if msg.header.sequence_number == seq {
                    match msg.payload {
                        NetlinkPayload::InnerMessage(m) => answer = Some(m),
                        NetlinkPayload::Error(e) => {
                            return match (e.code, answer) {
                                // An ACK (error 0) after the answer.
                                (None, Some(a)) => Ok(a),
                                (None, None) => {
                                    Err(RouteError::System("the kernel sent no answer".into()))
                                }
                                (Some(_), _) => Err(RouteError::NoRoute(
                                    IpAddr::from([0, 0, 0, 0]),
                                    e.to_io().to_string(),
                                )),
                            };
                        }
                        NetlinkPayload::Done(_) => {
                            return answer.ok_or_else(|| {
                                RouteError::System("the kernel sent no answer".into())
                            })
                        }
                        _ => {}
                    }
                }
                if len == 0 {
                    break;
                }
                offset += len;
            }
        }
        answer.ok_or_else(|| RouteError::System("no answer from the kernel".into()))
    }

    fn route_query(q: &Query) -> RouteNetlinkMessage {
        let mut m = RouteMessage::default();
        m.header.address_family = if q.destination.is_ipv4() {
            AddressFamily::Inet
        } else {
            AddressFamily::Inet6
        };
        m.header.destination_prefix_length = if q.destination.is_ipv4() { 32 } else { 128 };
        m.attributes
            .push(RouteAttribute::Destination(RouteAddress::from(
                q.destination,
            )));
        m.attributes.push(RouteAttribute::IpProto(q.protocol));
        if let Some(p) = q.source_port {
            m.attributes.push(RouteAttribute::Sport(p));
        }
        if let Some(p) = q.destination_port {
            m.attributes.push(RouteAttribute::Dport(p));
        }
        RouteNetlinkMessage::GetRoute(m)
    }

    fn addr(a: &RouteAddress) -> Option<IpAddr> {
        match a {
            RouteAddress::Inet(v) => Some(IpAddr::V4(*v)),
            RouteAddress::Inet6(v) => Some(IpAddr::V6(*v)),
            _ => None,
        }
    }

    /// Name and tunnel kind of interface `index`.
    fn link(
        socket: &Socket,
        seq: u32,
        index: u32,
    ) -> Result<(String, Option<TunnelKind>), RouteError> {
        let mut m = LinkMessage::default();
        m.header.index = index;
        let answer = request(socket, seq, RouteNetlinkMessage::GetLink(m))?;
        let RouteNetlinkMessage::NewLink(link) = answer else {
            return Err(RouteError::System(
                "unexpected answer to a link query".into(),
            ));
        };
        let mut name = format!("if{index}");
        let mut kind = None;
        for a in &link.attributes {
            match a {
                LinkAttribute::IfName(n) => name.clone_from(n),
                LinkAttribute::LinkInfo(infos) => {
                    for i in infos {
                        if let LinkInfo::Kind(k) = i {
                            kind = Some(k.clone());
                        }
                    }
                }
                _ => {}
            }
        }
        let tunnel = tunnel_kind(kind.as_ref(), link.header.link_layer_type, &name);
        Ok((name, tunnel))
    }

    /// The tunnel kind from what the kernel says about the link. wireguard-go's
    /// interfaces are tun devices; its UAPI socket names them as WireGuard.
    fn tunnel_kind(
        kind: Option<&InfoKind>,
        layer: LinkLayerType,
        name: &str,
    ) -> Option<TunnelKind> {
        let wireguard_go = || {
            !name.contains('/')
                && std::path::Path::new(&format!("/var/run/wireguard/{name}.sock")).exists()
        };
        match kind {
            Some(InfoKind::Wireguard) => Some(TunnelKind::Wireguard),
            Some(InfoKind::Tun) if wireguard_go() => Some(TunnelKind::Wireguard),
            Some(InfoKind::Tun) if layer == LinkLayerType::Ether => Some(TunnelKind::Tap),
            Some(InfoKind::Tun) => Some(TunnelKind::Tun),
            Some(
                InfoKind::IpIp
                | InfoKind::Ip6Tnl
                | InfoKind::SitTun
                | InfoKind::GreTun
                | InfoKind::GreTun6
                | InfoKind::GreTap
                | InfoKind::GreTap6,
            ) => Some(TunnelKind::Ip),
            Some(InfoKind::Vti | InfoKind::Vti6 | InfoKind::Xfrm) => Some(TunnelKind::Ipsec),
            _ if layer == LinkLayerType::Ppp => Some(TunnelKind::Ppp),
            _ if layer == LinkLayerType::None && wireguard_go() => Some(TunnelKind::Wireguard),
            _ => None,
        }
    }

    pub fn lookup(queries: &[Query]) -> Vec<Result<Route, RouteError>> {
        let socket = match open() {
            Ok(s) => s,
            Err(e) => return queries.iter().map(|_| Err(e.clone())).collect(),
        };
        let mut links: HashMap<u32, (String, Option<TunnelKind>)> = HashMap::new();
        let mut seq = 1u32;
        queries
            .iter()
            .map(|q| {
                seq += 1;
                let answer = request(&socket, seq, route_query(q)).map_err(|e| match e {
                    RouteError::NoRoute(_, why) => RouteError::NoRoute(q.destination, why),
                    other => other,
                })?;
                let RouteNetlinkMessage::NewRoute(r) = answer else {
                    return Err(RouteError::System(
                        "unexpected answer to a route query".into(),
                    ));
                };
                let mut route = Route {
                    destination: q.destination,
                    interface: None,
                    gateway: None,
                    source: None,
                    tunnel: None,
                };
                let mut oif = None;
                for a in &r.attributes {
                    match a {
                        RouteAttribute::Oif(i) => oif = Some(*i),
                        RouteAttribute::Gateway(g) => route.gateway = addr(g),
                        RouteAttribute::PrefSource(s) => route.source = addr(s),
                        _ => {}
                    }
                }
                if let Some(i) = oif {
                    if let std::collections::hash_map::Entry::Vacant(e) = links.entry(i) {
                        seq += 1;
                        e.insert(link(&socket, seq, i)?);
                    }
                    let (name, tunnel) = links[&i].clone();
                    route.interface = Some(name);
                    route.tunnel = tunnel;
                }
                Ok(route)
            })
            .collect()
    }

    fn open() -> Result<Socket, RouteError> {
        let mut socket =
            Socket::new(NETLINK_ROUTE).map_err(|e| RouteError::System(e.to_string()))?;
        socket
            .bind_auto()
            .map_err(|e| RouteError::System(e.to_string()))?;
        socket
            .connect(&SocketAddr::new(0, 0))
            .map_err(|e| RouteError::System(e.to_string()))?;
        Ok(socket)
    }
}

// The kernel's answers; Windows' are tested in windows.rs, the table's in table.rs.
#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_unreachable() {
        let q = |d: &str| Query {
            destination: d.parse().unwrap(),
            protocol: 17,
            source_port: Some(50000),
            destination_port: Some(3478),
        };
        let got = lookup(&[q("127.0.0.1"), q("::1")]);
        let lo = got[0].as_ref().unwrap();
        assert_eq!(lo.interface.as_deref(), Some("lo"));
        assert_eq!(lo.tunnel, None);
        assert!(got[1]
            .as_ref()
            .map_or(true, |r| r.interface.as_deref() == Some("lo")));
    }
}
