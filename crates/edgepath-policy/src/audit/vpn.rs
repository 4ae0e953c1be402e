//! VPN client configurations: which destinations the tunnel carries, and how the
//! tunnel itself reaches its server. Two readers into one [`Tunnel`]:
//!
//! - WireGuard (`wg-quick` or `wg setconf` files): every `AllowedIPs` entry of every
//!   peer is a route into the tunnel, as wg-quick installs them (a `/0` through its
//!   policy table, which wins for everything but the tunnel's own packets; the longest
//!   prefix decides otherwise). `Table = off` installs no routes.
//! - OpenVPN client configurations (and the `push "..."` lines of a server's):
//!   `redirect-gateway` sends everything through the tunnel (IPv6 with its `ipv6`
//!   flag, IPv4 unless `!ipv4`), `route NET [MASK] [GATEWAY]` and `route-ipv6
//!   NET/LEN [GATEWAY]` add routes, into the tunnel unless the gateway is
//!   `net_gateway` (the pre-VPN default gateway: outside the tunnel).
//!
//! A destination no route of the tunnel covers leaves by the system's own default
//! route: direct. Routes a server pushes are not in a client's file; the report says so.

use std::net::IpAddr;

use edgepath_model::Family;
use serde::Serialize;

use super::ir::{addr, cidr, prefix, Origin};
use super::AuditError;
use crate::flows::Proto;

/// Which VPN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TunnelKind {
    /// WireGuard.
    Wireguard,
    /// OpenVPN.
    Openvpn,
}

impl TunnelKind {
    /// As people write it.
    pub fn label(self) -> &'static str {
        match self {
            TunnelKind::Wireguard => "WireGuard",
            TunnelKind::Openvpn => "OpenVPN",
        }
    }
}

/// One route a VPN configuration installs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelRoute {
    /// The destination's family.
    pub family: Family,
    /// Its addresses.
    pub range: (u128, u128),
    /// Its prefix length (the longest match wins).
    pub len: u32,
    /// Into the tunnel (`false`: outside it, OpenVPN's `net_gateway`).
    pub tunnel: bool,
    /// The line that installs it.
    pub origin: Origin,
}

/// How the tunnel reaches its server: the packets the local firewall must pass for
/// the tunnel to carry anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Carrier {
    /// The server as written (`vpn.example.com`, `198.51.100.7`).
    pub host: String,
    /// Its address, when written as one (a name is not resolved here).
    pub address: Option<IpAddr>,
    /// UDP or TCP.
    pub proto: Proto,
    /// The server's port.
    pub port: u16,
    /// The line naming it.
    pub origin: Origin,
}

/// What a VPN configuration says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tunnel {
    /// Which VPN.
    pub kind: TunnelKind,
    /// The file.
    pub file: String,
    /// Every route it installs.
    pub routes: Vec<TunnelRoute>,
    /// Its servers (WireGuard peers' endpoints, OpenVPN's `remote` lines).
    pub carriers: Vec<Carrier>,
    /// Constructs read but not modelled, named.
    pub warnings: Vec<String>,
    /// What the reader assumed, in a sentence each.
    pub notes: Vec<String>,
}

/// Part of an address range and the route it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece<'a> {
    /// The addresses.
    pub range: (u128, u128),
    /// The tunnel's route that decides it; `None`: no route of the tunnel covers it
    /// (the system's default route: direct).
    pub route: Option<&'a TunnelRoute>,
}

impl Piece<'_> {
    /// Whether it goes through the tunnel.
    pub fn tunnelled(&self) -> bool {
        self.route.is_some_and(|r| r.tunnel)
    }
}

impl Tunnel {
    /// `range` of `family` cut where the tunnel's routes begin and end, each piece with
    /// its longest-prefix route.
    pub fn split(&self, family: Family, range: (u128, u128)) -> Vec<Piece<'_>> {
        let mine: Vec<&TunnelRoute> = self.routes.iter().filter(|r| r.family == family).collect();
        let mut cuts = vec![range.0];
        for r in &mine {
            for c in [Some(r.range.0), r.range.1.checked_add(1)]
                .into_iter()
                .flatten()
            {
                if c > range.0 && c <= range.1 {
                    cuts.push(c);
                }
            }
        }
        cuts.sort_unstable();
        cuts.dedup();
        let mut out: Vec<Piece<'_>> = Vec::with_capacity(cuts.len());
        for (i, &lo) in cuts.iter().enumerate() {
            let hi = cuts.get(i + 1).map_or(range.1, |next| next - 1);
            // No route boundary falls inside the piece: its first address decides.
            let route = mine
                .iter()
                .filter(|r| r.range.0 <= lo && lo <= r.range.1)
                .max_by_key(|r| r.len)
                .copied();
            match out.last_mut() {
                Some(last) if last.route == route => last.range.1 = hi,
                _ => out.push(Piece {
                    range: (lo, hi),
                    route,
                }),
            }
        }
        out
    }

    /// "wg0.conf (WireGuard)".
    pub fn label(&self) -> String {
        format!("{} ({})", self.file, self.kind.label())
    }
}

fn syntax(file: &str, line: usize, what: impl Into<String>) -> AuditError {
    AuditError::Syntax {
        file: file.to_owned(),
        line,
        what: what.into(),
    }
}

fn origin(file: &str, line: usize, text: &str) -> Origin {
    Origin::Line {
        file: file.to_owned(),
        line,
        text: text.trim().to_owned(),
    }
}

fn route(
    file: &str,
    line: usize,
    text: &str,
    net: &str,
    tunnel: bool,
) -> Result<TunnelRoute, AuditError> {
    let (ip, len) = net
        .split_once('/')
        .map_or((net, None), |(a, l)| (a, Some(l)));
    let ip: IpAddr = ip
        .trim()
        .parse()
        .map_err(|_| syntax(file, line, format!("`{net}` is not an address or prefix")))?;
    let bits = if ip.is_ipv4() { 32 } else { 128 };
    let len = match len {
        None => bits,
        Some(l) => l
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|l| *l <= bits)
            .ok_or_else(|| syntax(file, line, format!("`{net}`: bad prefix length")))?,
    };
    let range =
        prefix(ip, len).ok_or_else(|| syntax(file, line, format!("`{net}`: bad prefix")))?;
    Ok(TunnelRoute {
        family: Family::of(ip),
        range,
        len,
        tunnel,
        origin: origin(file, line, text),
    })
}

/// `HOST:PORT`, `[V6]:PORT`.
fn endpoint(text: &str) -> Option<(String, u16)> {
    let (host, port) = text.trim().rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Some((host.to_owned(), port.parse().ok()?))
}

/// Reads a WireGuard configuration.
pub fn read_wireguard(file: &str, text: &str) -> Result<Tunnel, AuditError> {
    let mut t = Tunnel {
        kind: TunnelKind::Wireguard,
        file: file.to_owned(),
        routes: Vec::new(),
        carriers: Vec::new(),
        warnings: Vec::new(),
        notes: Vec::new(),
    };
    let mut section = String::new();
    let mut table_off = None;
    // A tunnel is its peers (or, in a fragment, its AllowedIPs): without either the
    // file is not a WireGuard configuration, and nothing would be audited.
    let mut peer_seen = false;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        if line.starts_with('[') {
            if !line.ends_with(']') {
                return Err(syntax(
                    file,
                    n,
                    format!("`{line}`: a section needs its `]`"),
                ));
            }
            section = line[1..line.len() - 1].trim().to_ascii_lowercase();
            peer_seen |= section == "peer";
            if section != "interface" && section != "peer" {
                t.warnings.push(format!(
                    "{file}:{n}: section `{line}` is not WireGuard's; its keys are ignored"
                ));
            }
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(syntax(
                file,
                n,
                format!("`{line}`: expected `Key = value` or a [section]"),
            ));
        };
        let key = key.trim().to_ascii_lowercase();
        let value = value.trim();
        match (section.as_str(), key.as_str()) {
            ("peer" | "", "allowedips") => {
                peer_seen = true;
                for net in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    t.routes.push(route(file, n, raw, net, true)?);
                }
            }
            ("peer", "endpoint") => {
                let (host, port) = endpoint(value).ok_or_else(|| {
                    syntax(file, n, format!("`{value}`: an endpoint is HOST:PORT"))
                })?;
                t.carriers.push(Carrier {
                    address: host.parse().ok(),
                    host,
                    proto: Proto::Udp,
                    port,
                    origin: origin(file, n, raw),
                });
            }
            ("interface", "table") => {
                if value.eq_ignore_ascii_case("off") {
                    table_off = Some(n);
                } else if !value.eq_ignore_ascii_case("auto") && value != "main" {
                    t.warnings.push(format!(
                        "{file}:{n}: `Table = {value}`: routes go to a table of their own; read as if in the main table"
                    ));
                }
            }
            ("interface", "postup" | "preup") => t.warnings.push(format!(
                "{file}:{n}: `{}`: commands wg-quick runs are not followed (they may add routes or rules)",
                raw.trim()
            )),
            _ => {}
        }
    }
    if let Some(n) = table_off {
        t.notes.push(format!(
            "{file}:{n}: `Table = off`: wg-quick installs no routes, so the tunnel carries nothing the audit asks about"
        ));
        t.routes.clear();
    }
    if !peer_seen {
        return Err(syntax(
            file,
            text.lines().count().max(1),
            "no [Peer] section and no AllowedIPs: not a WireGuard configuration",
        ));
    }
    Ok(t)
}

/// Splits an OpenVPN line into words; double quotes group, `\` escapes.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut any = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(e) = chars.next() {
                    cur.push(e);
                    any = true;
                }
            }
            '"' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(cur);
    }
    out
}

fn openvpn_proto(p: &str) -> Option<Proto> {
    if p.starts_with("udp") {
        Some(Proto::Udp)
    } else if p.starts_with("tcp") {
        Some(Proto::Tcp)
    } else {
        None
    }
}

/// Reads an OpenVPN configuration.
pub fn read_openvpn(file: &str, text: &str) -> Result<Tunnel, AuditError> {
    let mut t = Tunnel {
        kind: TunnelKind::Openvpn,
        file: file.to_owned(),
        routes: Vec::new(),
        carriers: Vec::new(),
        warnings: Vec::new(),
        notes: Vec::new(),
    };
    let mut proto = Proto::Udp;
    let mut port = 1194u16;
    // remote lines without their own port or protocol take the file's.
    let mut remotes: Vec<(String, Option<u16>, Option<Proto>, Origin)> = Vec::new();
    let mut inline: Option<String> = None;
    let mut pulls = false;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if let Some(tag) = &inline {
            if line.eq_ignore_ascii_case(&format!("</{tag}>")) {
                inline = None;
            }
            continue;
        }
        if line.starts_with('<') {
            if let Some(tag) = line.strip_prefix('<').and_then(|s| s.strip_suffix('>')) {
                if !tag.starts_with('/') {
                    inline = Some(tag.to_owned());
                    continue;
                }
            }
            return Err(syntax(
                file,
                n,
                format!("`{line}`: not an inline block's tag"),
            ));
        }
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let mut w = words(line);
        // A server's `push "route ..."` is the client's `route ...`.
        if w.first().is_some_and(|d| d == "push") {
            let inner = w.get(1).cloned().unwrap_or_default();
            w = words(&inner);
        }
        let Some(directive) = w.first().map(|d| d.trim_start_matches("--").to_owned()) else {
            continue;
        };
        let arg = |k: usize| w.get(k).map(String::as_str);
        match directive.as_str() {
            "client" | "pull" => pulls = true,
            "proto" => {
                proto = arg(1).and_then(openvpn_proto).ok_or_else(|| {
                    syntax(file, n, format!("`{line}`: proto is udp or tcp(-client)"))
                })?;
            }
            "port" | "rport" => {
                port = arg(1)
                    .and_then(|p| p.parse().ok())
                    .ok_or_else(|| syntax(file, n, format!("`{line}`: bad port")))?;
            }
            "remote" => {
                let host = arg(1)
                    .ok_or_else(|| syntax(file, n, "`remote` needs a host"))?
                    .to_owned();
                let p = match arg(2) {
                    Some(p) => Some(
                        p.parse()
                            .map_err(|_| syntax(file, n, format!("`{line}`: bad port")))?,
                    ),
                    None => None,
                };
                let pr = match arg(3) {
                    Some(p) => Some(openvpn_proto(p).ok_or_else(|| {
                        syntax(file, n, format!("`{line}`: proto is udp or tcp"))
                    })?),
                    None => None,
                };
                remotes.push((host, p, pr, origin(file, n, raw)));
            }
            "redirect-gateway" | "redirect-private" => {
                let flags: Vec<&str> = w[1..].iter().map(String::as_str).collect();
                if directive == "redirect-private" {
                    t.warnings.push(format!(
                        "{file}:{n}: `redirect-private` changes no default route; read as nothing"
                    ));
                    continue;
                }
                if !flags.contains(&"!ipv4") {
                    t.routes.push(route(file, n, raw, "0.0.0.0/0", true)?);
                }
                if flags.contains(&"ipv6") {
                    t.routes.push(route(file, n, raw, "::/0", true)?);
                }
            }
            "route" => {
                let net = arg(1).ok_or_else(|| syntax(file, n, "`route` needs a network"))?;
                if net.parse::<IpAddr>().is_err() {
                    t.warnings.push(format!(
                        "{file}:{n}: `{line}`: a route to a name (or to {net}) is not resolved here; ignored"
                    ));
                    continue;
                }
                let mask = arg(2)
                    .filter(|m| *m != "default")
                    .unwrap_or("255.255.255.255");
                let Some((lo, hi)) = cidr(&format!("{net}/{mask}")) else {
                    return Err(syntax(file, n, format!("`{line}`: bad network or mask")));
                };
                let len = 32 - (hi - lo + 1).trailing_zeros().min(32);
                let tunnel = gateway_is_tunnel(arg(3), file, n, line, &mut t.warnings);
                t.routes.push(TunnelRoute {
                    family: Family::Ipv4,
                    range: (lo, hi),
                    len,
                    tunnel,
                    origin: origin(file, n, raw),
                });
            }
            "route-ipv6" => {
                let net = arg(1).ok_or_else(|| syntax(file, n, "`route-ipv6` needs a network"))?;
                let tunnel = gateway_is_tunnel(arg(2), file, n, line, &mut t.warnings);
                t.routes.push(route(file, n, raw, net, tunnel)?);
            }
            "route-nopull" => t.notes.push(format!(
                "{file}:{n}: route-nopull: routes the server pushes are ignored, as here"
            )),
            _ => {}
        }
    }
    if let Some(tag) = inline {
        return Err(syntax(
            file,
            text.lines().count(),
            format!("inline block <{tag}> is not closed"),
        ));
    }
    for (host, p, pr, o) in remotes {
        t.carriers.push(Carrier {
            address: host.parse().ok(),
            host,
            proto: pr.unwrap_or(proto),
            port: p.unwrap_or(port),
            origin: o,
        });
    }
    if pulls && !t.notes.iter().any(|n| n.contains("route-nopull")) {
        t.notes.push(format!(
            "{file}: the client pulls its options from the server: routes the server pushes are not in this file and not audited"
        ));
    }
    Ok(t)
}

/// OpenVPN's gateway word: `net_gateway` is outside the tunnel, `vpn_gateway` and no
/// gateway inside it; an explicit address is read as inside, with a warning.
fn gateway_is_tunnel(
    gw: Option<&str>,
    file: &str,
    n: usize,
    line: &str,
    warnings: &mut Vec<String>,
) -> bool {
    match gw {
        None | Some("vpn_gateway") | Some("default") => true,
        Some("net_gateway") | Some("net_gateway_ipv6") => false,
        Some(other) => {
            warnings.push(format!(
                "{file}:{n}: `{line}`: gateway {other} is read as inside the tunnel"
            ));
            true
        }
    }
}

/// Whether `ip` is `family`'s and its number, for callers that ask about one address.
pub fn address(ip: IpAddr) -> (Family, u128) {
    (Family::of(ip), addr(ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> u128 {
        addr(s.parse().expect("address"))
    }

    fn tunnelled(t: &Tunnel, ip: &str) -> Option<bool> {
        let (family, a) = address(ip.parse().expect("address"));
        let pieces = t.split(family, (a, a));
        assert_eq!(pieces.len(), 1);
        pieces[0].route.map(|r| r.tunnel)
    }

    #[test]
    fn wireguard_allowed_ips_and_endpoint() {
        let t = read_wireguard(
            "wg0.conf",
            "[Interface]\nPrivateKey = x\nAddress = 10.8.0.2/24\n\n[Peer]\nPublicKey = y\nEndpoint = 198.51.100.7:51820\nAllowedIPs = 0.0.0.0/1, 128.0.0.0/1\nAllowedIPs = ::/0 # v6 too\n",
        )
        .expect("reads");
        assert_eq!(t.routes.len(), 3);
        assert_eq!(
            t.carriers[0].address,
            Some("198.51.100.7".parse().expect("ip"))
        );
        assert_eq!(t.carriers[0].port, 51820);
        assert_eq!(tunnelled(&t, "52.112.0.1"), Some(true));
        assert_eq!(tunnelled(&t, "2603:1063::1"), Some(true));
        assert_eq!(t.routes[0].origin.line(), Some(8));
    }

    #[test]
    fn longest_prefix_splits_a_range() {
        let t = read_openvpn(
            "client.ovpn",
            "client\nremote vpn.example.com 443 tcp\nredirect-gateway def1\nroute 52.112.0.0 255.252.0.0 net_gateway\n",
        )
        .expect("reads");
        assert_eq!(t.carriers[0].proto, Proto::Tcp);
        assert_eq!(t.carriers[0].port, 443);
        assert_eq!(t.carriers[0].address, None);
        let pieces = t.split(Family::Ipv4, (v4("52.0.0.0"), v4("52.255.255.255")));
        let shape: Vec<(u128, bool)> = pieces.iter().map(|p| (p.range.0, p.tunnelled())).collect();
        assert_eq!(
            shape,
            vec![
                (v4("52.0.0.0"), true),
                (v4("52.112.0.0"), false),
                (v4("52.116.0.0"), true)
            ]
        );
        assert_eq!(pieces[1].route.and_then(|r| r.origin.line()), Some(4));
        assert!(t
            .notes
            .iter()
            .any(|n| n.contains("pushed") || n.contains("push")));
    }

    #[test]
    fn openvpn_details() {
        type Case<'a> = (&'a str, &'a str, Option<bool>);
        let cases: &[Case<'_>] = &[
            (
                "redirect-gateway def1 bypass-dhcp\n",
                "52.112.0.1",
                Some(true),
            ),
            ("redirect-gateway def1\n", "2603:1063::1", None),
            ("redirect-gateway def1 ipv6\n", "2603:1063::1", Some(true)),
            ("redirect-gateway !ipv4 ipv6\n", "52.112.0.1", None),
            ("route 10.0.0.0 255.0.0.0\n", "10.1.2.3", Some(true)),
            ("route 10.0.0.0 255.0.0.0 vpn_gateway\n", "11.1.2.3", None),
            (
                "push \"route 10.0.0.0 255.0.0.0\"\n",
                "10.1.2.3",
                Some(true),
            ),
            (
                "route-ipv6 2603:1063::/38 net_gateway\n",
                "2603:1063::1",
                Some(false),
            ),
            ("<ca>\nroute 10.0.0.0 255.0.0.0\n</ca>\n", "10.1.2.3", None),
            ("; route 10.0.0.0 255.0.0.0\n", "10.1.2.3", None),
        ];
        for (text, ip, want) in cases {
            let t = read_openvpn("c.ovpn", text).expect(text);
            assert_eq!(tunnelled(&t, ip), *want, "{text} {ip}");
        }
    }

    #[test]
    fn bad_input_is_named() {
        type Reader = fn(&str, &str) -> Result<Tunnel, AuditError>;
        type Case<'a> = (Reader, &'a str, &'a str, usize);
        let (wg, ovpn): (Reader, Reader) = (read_wireguard, read_openvpn);
        let cases: &[Case<'_>] = &[
            (wg, "[Peer]\nAllowedIPs = 10.0.0.0/33\n", "prefix length", 2),
            (wg, "[Peer]\nAllowedIPs = nonsense\n", "not an address", 2),
            (wg, "[Peer\n", "`]`", 1),
            (wg, "[Peer]\njust words\n", "Key = value", 2),
            (wg, "[Peer]\nEndpoint = 1.2.3.4\n", "HOST:PORT", 2),
            (wg, "", "no [Peer]", 1),
            (
                wg,
                "[Interface]\nPrivateKey = x\nAddress = 10.9.0.2/32\n",
                "no [Peer]",
                3,
            ),
            (ovpn, "remote\n", "needs a host", 1),
            (ovpn, "remote a.b 99999\n", "bad port", 1),
            (ovpn, "proto sctp\n", "proto", 1),
            (ovpn, "\nroute 10.0.0.0 255.0.0\n", "mask", 2),
            (ovpn, "route-ipv6 2603::/200\n", "prefix length", 1),
            (ovpn, "<key>\nabc\n", "not closed", 2),
        ];
        for (read, text, what, line) in cases {
            match read("f.conf", text) {
                Err(AuditError::Syntax {
                    line: l, what: w, ..
                }) => {
                    assert_eq!(l, *line, "{text}");
                    assert!(w.contains(what), "{text}: {w}");
                }
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn table_off_installs_nothing() {
        let t = read_wireguard(
            "wg0.conf",
            "[Interface]\nTable = off\n[Peer]\nAllowedIPs = 0.0.0.0/0\n",
        )
        .expect("reads");
        assert!(t.routes.is_empty());
        assert_eq!(tunnelled(&t, "52.112.0.1"), None);
    }
}
