//! `edgepath check`: every probe, run concurrently with bounded waits, and the verdict
//! per modality (the path a client ends on, its status, the evidence, what to change)
//! and per service (reachable, direct or through the proxy, TLS intercepted or not).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use edgepath_model::{
    Catalog, Family, MediaPath, MediaRanges, Modality, PortRange, Profile, ServiceId, Status, Via,
};
use serde::Serialize;
use tokio::net::TcpStream;

use crate::cloud_proxy;
use crate::dns::{self, Resolution};
use crate::family::{self, FamilyReport};
use crate::nat;
use crate::pac::PacReport;
use crate::proxy::Proxy;
use crate::quality::{self, Quality, Watch};
use crate::relay::{self, UdpProbe};
use crate::relay_tcp::{self, Framing, TcpProbe, TcpTarget};
use crate::roundtrip;
use crate::route::{self, Query, RouteError};
use crate::tls::{self, TlsReport, Trust};
use crate::verdict::{
    family_reports, modality_verdict, nat_verdict, service_verdict, tunnel_verdict,
};
use crate::vpn::{self, RangeRoute, VpnReport};

/// Every wait, bounded.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// A DNS lookup.
    pub dns: Duration,
    /// A UDP relay probe (retransmitting).
    pub udp: Duration,
    /// TCP connect plus the TURN exchange.
    pub tcp: Duration,
    /// TCP connect plus the TLS handshake.
    pub tls: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            dns: Duration::from_millis(2000),
            udp: Duration::from_millis(2500),
            tcp: Duration::from_millis(2500),
            tls: Duration::from_millis(3000),
        }
    }
}

/// What to check and how.
#[derive(Clone)]
pub struct CheckConfig {
    /// The model: services, names, ports.
    pub catalog: Catalog,
    /// The media source ranges (defaults or provisioning).
    pub ranges: MediaRanges,
    /// Port profile.
    pub profile: Profile,
    /// Legacy high ports to try under the legacy profile.
    pub legacy_ports: Vec<u16>,
    /// A tenant domain: its lyncdiscover and sip names are resolved too.
    pub tenant: Option<String>,
    /// The relay name to probe instead of the catalog's (`serve`'s `target`).
    pub relay: Option<String>,
    /// The proxy, if any.
    pub proxy: Option<Proxy>,
    /// The PAC the proxy was decided from, and its answer per name, when one was.
    pub pac: Option<PacReport>,
    /// Where the proxy was searched for, in order, and what each source said (empty
    /// when a flag named the proxy, or none).
    pub proxy_search: Vec<String>,
    /// The roots TLS chains are checked against (public, declared with --ca, the
    /// system store), which tell Microsoft's certificates from an inspecting proxy's.
    pub trust: Trust,
    /// TURN credentials (user, password) for the relayed quality stream.
    pub turn: Option<(String, String)>,
    /// How long the quality stream runs.
    pub duration: Duration,
    /// The bound on every wait (DNS, UDP, TCP, TLS).
    pub timeouts: Timeouts,
}

/// One modality's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct ModalityVerdict {
    /// The modality.
    pub modality: Modality,
    /// `relay-udp`, `relay-tcp`, `relay-tcp-proxy` or `none`.
    pub path: MediaPath,
    /// `good`, `degraded` or `failing`.
    pub status: Status,
    /// On a TCP path, the framing media takes: the first the client uses that answered
    /// (`tls`, `tls-rfc`, `pseudo-tls`, `standard`); `null` on UDP or no path.
    pub tcp_framing: Option<crate::relay_tcp::Framing>,
    /// The source ports it was probed from.
    pub source_ports: PortRange,
    /// Which probes answered, which timed out, which were refused, and where.
    pub evidence: Vec<String>,
    /// What to change.
    pub advice: Vec<String>,
    /// The media measurement, on the modality it was made for.
    pub quality: Option<Quality>,
    /// The best direct relay path per address family probed (`ipv4`, `ipv6`).
    pub family_paths: BTreeMap<Family, MediaPath>,
    /// Whether this machine's QoS policies mark the modality's media with Microsoft's
    /// DSCP value (Windows' policy-based QoS); `null` where the system has none to read.
    pub qos: Option<crate::qos::QosMarking>,
}

/// How one service was reached, on one route.
#[derive(Debug, Clone, Serialize)]
pub struct Route {
    /// The address or proxy used.
    pub via: RouteVia,
    /// Whether TCP (or the tunnel) opened.
    pub connected: bool,
    /// The TLS handshake.
    pub tls: Option<TlsReport>,
    /// Why it failed.
    pub error: Option<String>,
}

/// Where one service's route went. In the JSON a string, as it always was: `"direct"`
/// when the name had no address to try, the address (`"192.0.2.1:443"`) or the proxy
/// (`"proxy.example:3128"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteVia {
    /// The name did not resolve: nothing was tried.
    Unresolved,
    /// Straight to this address.
    Address(SocketAddr),
    /// Through this proxy, `host:port`.
    Proxy(String),
}

impl RouteVia {
    /// Whether the route went straight to an IPv4 address.
    pub fn is_ipv4_address(&self) -> bool {
        matches!(self, RouteVia::Address(a) if a.is_ipv4())
    }
}

impl std::fmt::Display for RouteVia {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RouteVia::Unresolved => f.write_str("direct"),
            RouteVia::Address(a) => write!(f, "{a}"),
            RouteVia::Proxy(p) => f.write_str(p),
        }
    }
}

impl Serialize for RouteVia {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One service's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceVerdict {
    /// The service.
    pub service: ServiceId,
    /// The name probed.
    pub name: String,
    /// Whether a TLS session could be had.
    pub reachable: bool,
    /// `direct`, `proxy` or `none`.
    pub via: Via,
    /// The TLS facts of the route used (or of the direct attempt).
    pub tls: Option<TlsSummary>,
    /// The direct attempt (over IPv4 when the name has an IPv4 address).
    pub direct: Route,
    /// The direct attempt over IPv6, when the name has an IPv6 address and this host
    /// an IPv6 route to it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direct_ipv6: Option<Route>,
    /// The attempt through the proxy.
    pub proxy: Option<Route>,
}

/// TLS facts for the verdict.
#[derive(Debug, Clone, Serialize)]
pub struct TlsSummary {
    /// Interception seen.
    pub intercepted: bool,
    /// Who issued the leaf certificate.
    pub issuer: Option<String>,
    /// Which roots vouched for it.
    pub verified_by: Option<tls::Anchor>,
}

/// NAT as the relay saw it.
#[derive(Debug, Clone, Serialize)]
pub struct Nat {
    /// Whether the relay saw another address than the local one (`None`: no answer).
    pub present: Option<bool>,
    /// The local address used.
    pub local: Option<IpAddr>,
    /// The public (server-reflexive) addresses seen.
    pub public: Vec<SocketAddr>,
    /// `endpoint-independent`, `address-port-dependent` or `unknown`.
    pub mapping: &'static str,
    /// A sentence for people.
    pub note: String,
}

/// The whole result.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Port profile used.
    pub profile: &'static str,
    /// Per modality.
    pub modalities: Vec<ModalityVerdict>,
    /// Per service.
    pub services: Vec<ServiceVerdict>,
    /// NAT.
    pub nat: Nat,
    /// Where Teams media goes when a VPN is up: per Optimize range and for the relay
    /// probed, the route (interface, tunnel or not), and one state.
    pub vpn: VpnReport,
    /// Every name resolved.
    pub dns: Vec<Resolution>,
    /// The proxy used (address and where it came from), if any.
    pub proxy: Option<String>,
    /// The PAC's answer per name, when the proxy came from a PAC.
    pub pac: Option<PacReport>,
    /// Where the proxy was searched for, as a client searches, and what each source
    /// said; the proxy used (`proxy`) came from the last (empty when a flag named it).
    pub proxy_search: Vec<String>,
    /// The cloud security service the proxy or the TLS interception belongs to, when
    /// a mark its vendor documents names it; `null` otherwise (never guessed).
    pub proxy_vendor: Option<crate::cloud_proxy::VendorReport>,
    /// The relay probed.
    pub relay: Option<String>,
    /// The address this host sends from towards the relay (the routing table's choice,
    /// known whether or not the relay answers; towards another name that resolved when
    /// the relay's does not): what a site inventory is asked about.
    pub local_address: Option<IpAddr>,
    /// Per address family: the relay address, how UDP and TCP were answered (or
    /// silently dropped), the best relay path and the services reachable.
    pub families: Vec<FamilyReport>,
    /// Every relay probe, for the record.
    pub probes: Probes,
    /// Wall time of the check, ms.
    pub elapsed_ms: u64,
}

impl Report {
    /// What the check measured that a site inventory makes claims about: the client's
    /// address, its public addresses, whether media goes through a tunnel, whether a
    /// proxy is configured.
    pub fn site_facts(&self) -> edgepath_model::sites::claims::Measured {
        let mut public: Vec<IpAddr> = self.nat.public.iter().map(SocketAddr::ip).collect();
        public.dedup();
        edgepath_model::sites::claims::Measured {
            local: self.local_address.or(self.nat.local),
            public,
            // The route the local address was chosen by: the relay's. With a stale split
            // some Optimize ranges may go through the tunnel while the relay probed goes
            // direct from the LAN address; the subnet is right about that address.
            media_tunnelled: match &self.vpn.relay {
                Some(r) if r.error.is_none() => Some(r.tunnel),
                _ => (self.vpn.state != edgepath_model::VpnState::Unknown)
                    .then(|| self.vpn.media_tunnelled()),
            },
            proxy: self.proxy.is_some(),
        }
    }
}

/// One UDP probe, with the modality whose source ports it used.
#[derive(Debug, Clone, Serialize)]
pub struct UdpRecord {
    /// The modality.
    pub modality: Modality,
    /// The probe.
    #[serde(flatten)]
    pub probe: UdpProbe,
}

/// The raw probe results.
#[derive(Debug, Clone, Serialize)]
pub struct Probes {
    /// UDP, per modality and port.
    pub udp: Vec<UdpRecord>,
    /// TCP, direct and via the proxy.
    pub tcp: Vec<TcpProbe>,
}

fn first_v4(r: &Resolution) -> Option<IpAddr> {
    r.addresses
        .iter()
        .copied()
        .find(IpAddr::is_ipv4)
        .or_else(|| r.addresses.first().copied())
}

async fn service_route_direct(
    name: &str,
    addr: Option<IpAddr>,
    dns_error: Option<&str>,
    trust: &Trust,
    t: Timeouts,
) -> Route {
    let Some(ip) = addr else {
        return Route {
            via: RouteVia::Unresolved,
            connected: false,
            tls: None,
            error: Some(format!(
                "{name} does not resolve: {}",
                dns_error.unwrap_or("no address")
            )),
        };
    };
    let dest = SocketAddr::new(ip, 443);
    match tokio::time::timeout(t.tcp, TcpStream::connect(dest)).await {
        Err(_) => Route {
            via: RouteVia::Address(dest),
            connected: false,
            tls: None,
            error: Some(format!(
                "TCP connect to {dest} timed out after {} ms",
                t.tcp.as_millis()
            )),
        },
        Ok(Err(e)) => Route {
            via: RouteVia::Address(dest),
            connected: false,
            tls: None,
            error: Some(format!("TCP connect to {dest} failed: {e}")),
        },
        Ok(Ok(s)) => {
            let report = tls::handshake(s, name, trust, t.tls, false).await;
            let error = report.error.clone();
            Route {
                via: RouteVia::Address(dest),
                connected: true,
                tls: Some(report),
                error,
            }
        }
    }
}

async fn service_route_proxy(name: &str, proxy: &Proxy, trust: &Trust, t: Timeouts) -> Route {
    match crate::proxy::connect(proxy, name, 443, t.tcp).await {
        Err(e) => Route {
            via: RouteVia::Proxy(proxy.address()),
            connected: false,
            tls: None,
            error: Some(e.to_string()),
        },
        Ok(s) => {
            let report = tls::handshake(s, name, trust, t.tls, true).await;
            let error = report.error.clone();
            Route {
                via: RouteVia::Proxy(proxy.address()),
                connected: true,
                tls: Some(report),
                error,
            }
        }
    }
}

/// The names `check` asks about: the relay's (the first that resolves is probed) and
/// each service's asked over TCP 443.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeNames {
    /// The relay names, in the catalog's order.
    pub relay: Vec<String>,
    /// One name per service asked.
    pub services: Vec<(ServiceId, String)>,
}

/// The names probed, from the catalog (also what a PAC is asked about).
pub fn probe_names(catalog: &Catalog) -> ProbeNames {
    let relay = catalog
        .service(ServiceId::AvEdge)
        .probe_names
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let services = edgepath_model::rulebook::SERVICES_OVER_TCP_443
        .iter()
        .filter_map(|id| {
            catalog
                .service(*id)
                .probe_names
                .first()
                .map(|n| (*id, (*n).to_owned()))
        })
        .collect();
    ProbeNames { relay, services }
}

/// Runs the whole check. `watch` follows the quality measurement (progress, windows,
/// an early stop).
pub async fn run(cfg: &CheckConfig, watch: &mut dyn Watch) -> Report {
    let started = Instant::now();
    let t = cfg.timeouts;
    // 1. Names, all at once.
    let ProbeNames {
        relay: mut relay_names,
        services: service_names,
    } = probe_names(&cfg.catalog);
    if let Some(relay) = &cfg.relay {
        relay_names = vec![relay.clone()];
    }
    let av = cfg.catalog.service(ServiceId::AvEdge);
    let mut names: Vec<String> = relay_names.clone();
    names.extend(service_names.iter().map(|(_, n)| n.clone()));
    if let Some(d) = &cfg.tenant {
        names.push(format!("lyncdiscover.{d}"));
        names.push(format!("sip.{d}"));
    }
    names.dedup();
    let dns: Vec<Resolution> = futures_join(names.iter().map(|n| dns::resolve(n, t.dns))).await;
    let lookup = |n: &str| dns.iter().find(|r| r.name == n);
    let relay_resolution = relay_names
        .iter()
        .filter_map(|n| lookup(n))
        .find(|r| r.ok());
    // IPv4 first (the NAT and proxy probes use it); IPv6 too when the name has an
    // AAAA record and this host a usable IPv6 source towards it.
    let relay_v4 = relay_resolution.and_then(|r| r.addresses.iter().copied().find(IpAddr::is_ipv4));
    let relay_v6_listed =
        relay_resolution.and_then(|r| r.addresses.iter().copied().find(IpAddr::is_ipv6));
    let v6_source = match relay_v6_listed {
        Some(ip) => family::local_source(ip).await,
        None => None,
    };
    let relay_v6 = relay_v6_listed.filter(|_| v6_source.is_some() || relay_v4.is_none());
    let targets: Vec<IpAddr> = [relay_v4, relay_v6].into_iter().flatten().collect();
    let relay_ip = targets.first().copied();
    let relay_name = relay_resolution
        .map(|r| r.name.clone())
        .or_else(|| relay_names.first().cloned());

    let vpn = vpn_routes(cfg, relay_ip, &service_names, &lookup);
    // Towards the relay; when it does not resolve, towards any name that did.
    let towards = relay_ip.or_else(|| dns.iter().find_map(|r| r.addresses.first().copied()));
    let local_address = match towards {
        Some(ip) => family::local_source(ip).await,
        None => None,
    };

    // 2. Every probe at once.
    let mut udp_ports: Vec<u16> = av
        .udp_ports
        .ranges()
        .iter()
        .filter(|r| r.last() < 50000)
        .flat_map(|r| r.first()..=r.last())
        .collect();
    let mut tcp_ports: Vec<u16> = vec![443];
    if cfg.profile == Profile::Legacy {
        udp_ports.extend(&cfg.legacy_ports);
        tcp_ports.extend(&cfg.legacy_ports);
    }
    let proxy = cfg
        .proxy
        .as_ref()
        .filter(|p| relay_name.as_deref().is_none_or(|n| !p.bypasses(n)));
    let udp_fut = async {
        let mut jobs = Vec::new();
        for (fi, ip) in targets.iter().enumerate() {
            for (mi, m) in Modality::ALL.into_iter().enumerate() {
                for (pi, port) in udp_ports.iter().enumerate() {
                    // Each family's probes start on their own ports of the range.
                    let offset = ((fi + mi) * udp_ports.len() + pi) as u16;
                    let range = cfg.ranges.range(m);
                    let dest = SocketAddr::new(*ip, *port);
                    jobs.push(
                        async move { (m, relay::udp_probe(dest, range, offset, t.udp).await) },
                    );
                }
            }
        }
        futures_join(jobs).await
    };
    let relay_sni = relay_name.clone().unwrap_or_default();
    let audio_range = cfg.ranges.range(Modality::Audio);
    let tcp_fut = async {
        let mut jobs: Vec<
            std::pin::Pin<Box<dyn std::future::Future<Output = Vec<TcpProbe>> + '_>>,
        > = Vec::new();
        for (fi, ip) in targets.iter().enumerate() {
            for (pi, port) in tcp_ports.iter().enumerate() {
                let target = TcpTarget {
                    dest: SocketAddr::new(*ip, *port),
                    proxy: None,
                    source: Some(audio_range),
                    relay_name: &relay_sni,
                    trust: &cfg.trust,
                    timeout: t.tcp.max(t.tls),
                };
                // Each family's and port's attempts from their own ports of the range.
                let offset = ((fi * tcp_ports.len() + pi) * 5) as u16;
                if *port == 443 {
                    jobs.push(Box::pin(async move {
                        relay_tcp::all_framings(&target, offset).await
                    }));
                } else {
                    jobs.push(Box::pin(async move {
                        vec![relay_tcp::attempt(&target, Framing::Standard, true, offset).await]
                    }));
                }
            }
        }
        if let (Some(p), Some(ip)) = (proxy, relay_ip) {
            // Through the proxy by address: the client resolved it.
            let target = TcpTarget {
                dest: SocketAddr::new(ip, 443),
                proxy: Some(p),
                source: None,
                relay_name: &relay_sni,
                trust: &cfg.trust,
                timeout: t.tcp + t.tls,
            };
            jobs.push(Box::pin(async move {
                relay_tcp::all_framings(&target, 0).await
            }));
        }
        futures_join(jobs)
            .await
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
    };
    let svc_fut = futures_join(service_names.iter().map(|(id, name)| {
        let r = lookup(name);
        let addr = r.and_then(first_v4);
        let addr6 = r
            .and_then(|r| r.addresses.iter().copied().find(IpAddr::is_ipv6))
            .filter(|a| Some(*a) != addr);
        let err = r.and_then(|r| r.error.clone());
        let proxy = cfg.proxy.as_ref().filter(|p| !p.bypasses(name));
        async move {
            let v6 = async {
                match addr6 {
                    Some(a) if family::local_source(a).await.is_some() => {
                        Some(service_route_direct(name, Some(a), None, &cfg.trust, t).await)
                    }
                    _ => None,
                }
            };
            let (direct, direct_v6, via_proxy) = tokio::join!(
                service_route_direct(name, addr, err.as_deref(), &cfg.trust, t),
                v6,
                async {
                    match proxy {
                        Some(p) => Some(service_route_proxy(name, p, &cfg.trust, t).await),
                        None => None,
                    }
                }
            );
            (*id, name.clone(), direct, direct_v6, via_proxy)
        }
    }));
    // NAT is judged over IPv4 (IPv6 is routed), from the audio range.
    let nat_fut = async {
        match relay_v4.or(relay_ip) {
            Some(ip) => nat::run(ip, cfg.ranges.range(Modality::Audio), t.udp).await,
            None => None,
        }
    };
    let (udp, tcp, svcs, mapping) = tokio::join!(udp_fut, tcp_fut, svc_fut, nat_fut);

    // 3. Media quality, when credentials allow an allocation, on the best UDP port.
    let best_udp = udp
        .iter()
        .find(|(m, p)| *m == Modality::Audio && p.answer.is_some())
        .map(|(_, p)| p.destination);
    let quality_result = match (&cfg.turn, best_udp) {
        (Some((u, pw)), Some(dest)) => Some(
            relayed_or_round_trips(
                dest,
                (u, pw),
                cfg.ranges.range(Modality::Audio),
                cfg.duration,
                watch,
            )
            .await,
        ),
        // Without credentials, round trips of STUN Bindings, which every relay answers.
        (None, Some(dest)) => Some(
            roundtrip::measure(dest, cfg.ranges.range(Modality::Audio), cfg.duration, watch).await,
        ),
        _ => None,
    };
    // No UDP: measure over the TCP path media falls back to: direct first, in the
    // framing the client would use first.
    let tcp_path = tcp
        .iter()
        .filter(|p| p.answer.is_some() && p.sni.is_some() == p.framing.is_tls())
        .min_by_key(|p| (p.proxy.is_some(), p.framing.rank()));
    let quality_result = match (quality_result, tcp_path) {
        (None, Some(p)) => {
            let target = TcpTarget {
                dest: p.destination,
                proxy: if p.proxy.is_some() { proxy } else { None },
                source: p.proxy.is_none().then_some(audio_range),
                relay_name: &relay_sni,
                trust: &cfg.trust,
                timeout: t.tcp + t.tls,
            };
            // With credentials the relayed stream, as over UDP; without, round trips.
            Some(match &cfg.turn {
                Some((u, pw)) => {
                    quality::measure_tcp(&target, p.framing, (u, pw), cfg.duration, watch).await
                }
                None => roundtrip::measure_tcp(&target, p.framing, cfg.duration, watch).await,
            })
        }
        (q, _) => q,
    };

    // 4. Verdicts.
    let services: Vec<ServiceVerdict> = svcs
        .into_iter()
        .map(|(id, name, direct, direct_v6, via_proxy)| {
            service_verdict(id, name, direct, direct_v6, via_proxy)
        })
        .collect();
    let nat = nat_verdict(&udp, mapping);
    let families = family_reports(
        relay_v4,
        relay_v6,
        relay_v6_listed,
        v6_source,
        &udp,
        &tcp,
        &services,
    );
    let dual_stack = family::dual_stack_advice(&families);
    // This machine's QoS policies, where the system has them (Windows).
    let qos_policies = crate::qos::read();
    let modalities = Modality::ALL
        .into_iter()
        .map(|m| {
            let mut v =
                modality_verdict(m, cfg, &udp, &tcp, relay_ip, &dns, quality_result.as_ref());
            v.advice.extend(dual_stack.iter().cloned());
            tunnel_verdict(&mut v, &vpn);
            match &qos_policies {
                Some(Ok(policies)) => {
                    v.qos = Some(crate::qos::marking(policies, m, v.source_ports));
                }
                Some(Err(e)) => v
                    .evidence
                    .push(format!("QoS policies could not be read: {e}")),
                None => {}
            }
            v
        })
        .collect();
    let proxy_vendor = cloud_proxy::named(
        &services,
        &vpn.tunnelled_media(),
        cfg.proxy.as_ref(),
        cfg.pac.as_ref(),
    );
    Report {
        profile: cfg.profile.name(),
        modalities,
        services,
        nat,
        vpn,
        dns,
        proxy: cfg
            .proxy
            .as_ref()
            .map(|p| format!("{} (from {})", p.address(), p.source)),
        pac: cfg.pac.clone(),
        proxy_search: cfg.proxy_search.clone(),
        proxy_vendor,
        local_address,
        relay: relay_name.map(|n| {
            if targets.is_empty() {
                n
            } else {
                let ips: Vec<String> = targets.iter().map(ToString::to_string).collect();
                format!("{n} ({})", ips.join(", "))
            }
        }),
        families,
        probes: Probes {
            udp: udp
                .into_iter()
                .map(|(modality, probe)| UdpRecord { modality, probe })
                .collect(),
            tcp,
        },
        elapsed_ms: started.elapsed().as_millis() as u64,
    }
}

/// The relayed stream with the credentials; when it cannot run (the allocation, its
/// permission or channel refused or unanswered), once more from the next port of the
/// range (a relay keeps a released 5-tuple for a moment: 437), then STUN round trips,
/// which need no account, with the stream's error said in `quality.fallback`: a report
/// with figures and the reason, never one that measured nothing.
async fn relayed_or_round_trips(
    dest: SocketAddr,
    (user, password): (&str, &str),
    range: edgepath_model::PortRange,
    duration: std::time::Duration,
    watch: &mut dyn Watch,
) -> Result<quality::Quality, crate::error::ProbeError> {
    let first = match quality::measure(dest, user, password, range, duration, watch).await {
        Ok(q) => return Ok(q),
        Err(e) => e,
    };
    if watch.stopped() {
        return Err(first);
    }
    let why = match quality::measure(dest, user, password, range, duration, watch).await {
        Ok(q) => return Ok(q),
        Err(again) => format!("{first}; from the next port: {again}"),
    };
    let mut q = roundtrip::measure(dest, range, duration, watch).await?;
    q.fallback = Some(format!(
        "the relayed stream could not run ({why}): measured by STUN round trips instead"
    ));
    Ok(q)
}

/// The first and the last address of `net` (the network address itself for a single
/// host), without walking the range.
fn range_ends(net: &ipnet::IpNet) -> [IpAddr; 2] {
    match net {
        ipnet::IpNet::V4(n) => {
            let (a, b) = (u32::from(n.network()), u32::from(n.broadcast()));
            let (a, b) = if b > a + 1 { (a + 1, b - 1) } else { (a, b) };
            [
                IpAddr::from(std::net::Ipv4Addr::from(a)),
                IpAddr::from(std::net::Ipv4Addr::from(b)),
            ]
        }
        ipnet::IpNet::V6(n) => {
            let (a, b) = (u128::from(n.network()), u128::from(n.broadcast()));
            let (a, b) = if b > a + 1 { (a + 1, b - 1) } else { (a, b) };
            [
                IpAddr::from(std::net::Ipv6Addr::from(a)),
                IpAddr::from(std::net::Ipv6Addr::from(b)),
            ]
        }
    }
}

/// The routes that decide where media goes: the relay probed, every Optimize range of
/// the endpoint data (Teams media first) as UDP from the audio range to 3478, and the
/// services' addresses (TCP 443) to see whether a tunnel carries anything at all.
fn vpn_routes<'a>(
    cfg: &CheckConfig,
    relay_ip: Option<IpAddr>,
    service_names: &[(ServiceId, String)],
    lookup: &dyn Fn(&str) -> Option<&'a Resolution>,
) -> VpnReport {
    let audio = cfg.ranges.range(Modality::Audio).first();
    let media_sets = &cfg.catalog.service(ServiceId::AvEdge).endpoint_set_ids;
    let udp = |d: IpAddr| Query {
        destination: d,
        protocol: 17,
        source_port: Some(audio),
        destination_port: Some(3478),
    };
    let mut optimize: Vec<(ipnet::IpNet, u32, bool)> = cfg
        .catalog
        .endpoint_data()
        .sets()
        .iter()
        .filter(|s| s.category == edgepath_model::Category::Optimize)
        .flat_map(|s| {
            s.ips
                .iter()
                .map(move |n| (*n, s.id, media_sets.contains(&s.id)))
        })
        .collect();
    // Teams media first, then the others in data order.
    optimize.sort_by_key(|(_, _, media)| !media);
    let mut queries: Vec<Query> = Vec::new();
    if let Some(ip) = relay_ip {
        queries.push(udp(ip));
    }
    for (net, _, _) in &optimize {
        queries.extend(range_ends(net).map(udp));
    }
    // Beside the services' own addresses, the ranges of the sets that may stay in the
    // tunnel (signalling, Allow): a split tunnel carries them, so they show it is up.
    let mut service_addrs: Vec<IpAddr> = service_names
        .iter()
        .filter_map(|(_, n)| lookup(n).and_then(|r| r.addresses.first().copied()))
        .collect();
    service_addrs.extend(
        cfg.catalog
            .endpoint_data()
            .sets()
            .iter()
            .filter(|s| {
                s.category != edgepath_model::Category::Optimize
                    && cfg
                        .catalog
                        .services()
                        .iter()
                        .any(|c| c.endpoint_set_ids.contains(&s.id))
            })
            .flat_map(|s| s.ips.iter())
            .take(32)
            .flat_map(range_ends),
    );
    queries.extend(service_addrs.iter().map(|a| Query {
        destination: *a,
        protocol: 6,
        source_port: None,
        destination_port: Some(443),
    }));
    let answers = route::lookup(&queries);
    let unsupported = lookup_failure(&answers);
    let mut at = 0;
    let relay = relay_ip.map(|ip| {
        at += 1;
        RangeRoute::of(ip.to_string(), None, true, &[&answers[0]])
    });
    let ranges: Vec<RangeRoute> = optimize
        .iter()
        .map(|(net, set, media)| {
            let r = RangeRoute::of(
                net.to_string(),
                Some(*set),
                *media,
                &[&answers[at], &answers[at + 1]],
            );
            at += 2;
            r
        })
        .collect();
    let others = answers[at..]
        .iter()
        .filter_map(|a| a.as_ref().ok())
        .find(|r| r.tunnel.is_some())
        .map(|r| {
            format!(
                "{} ({})",
                r.interface.as_deref().unwrap_or("?"),
                r.tunnel.map_or("tunnel", |k| k.label())
            )
        });
    vpn::assess(relay, ranges, others, unsupported)
}

/// Why no route at all could be looked up, when none could for want of the system's
/// help (no lookup on this system, or its own error, as when Windows' network
/// information service does not answer): that, not "no route", is what the report says.
fn lookup_failure(answers: &[Result<route::Route, RouteError>]) -> Option<String> {
    let first = answers.first()?.as_ref().err()?;
    answers
        .iter()
        .all(|a| matches!(a, Err(RouteError::Unsupported | RouteError::System(_))))
        .then(|| first.to_string())
}

/// Awaits all futures concurrently, keeping their order.
async fn futures_join<F: std::future::Future>(futs: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let futs: Vec<_> = futs.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = (0..futs.len()).map(|_| None).collect();
    let mut pending: Vec<_> = futs.into_iter().enumerate().collect();
    std::future::poll_fn(|cx| {
        pending.retain_mut(|(i, f)| match f.as_mut().poll(cx) {
            std::task::Poll::Ready(v) => {
                out[*i] = Some(v);
                false
            }
            std::task::Poll::Pending => true,
        });
        if pending.is_empty() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One route lookup's answer.
    type Answer = Result<route::Route, RouteError>;

    fn routed() -> Answer {
        Ok(route::Route {
            destination: "203.0.113.10".parse().unwrap(),
            interface: Some("eth0".into()),
            gateway: None,
            source: None,
            tunnel: None,
        })
    }

    fn no_route() -> Answer {
        Err(RouteError::NoRoute(
            "203.0.113.10".parse().unwrap(),
            "unreachable".into(),
        ))
    }

    fn system() -> Answer {
        Err(RouteError::System("GetAdaptersAddresses: error 1".into()))
    }

    #[test]
    fn a_lookup_failure_is_said_only_when_the_system_answered_nothing() {
        let cases: Vec<(Vec<Answer>, Option<&str>)> = vec![
            (vec![], None),
            (vec![routed(), system()], None),
            (vec![no_route(), no_route()], None),
            (vec![system(), no_route()], None),
            (
                vec![system(), system()],
                Some("route lookup failed: GetAdaptersAddresses: error 1"),
            ),
            (
                vec![Err(RouteError::Unsupported)],
                Some("route lookup not supported on this system"),
            ),
        ];
        for (answers, want) in cases {
            assert_eq!(lookup_failure(&answers).as_deref(), want, "{answers:?}");
        }
    }

    #[test]
    fn a_route_says_where_it_went_in_the_strings_the_json_always_had() {
        let cases = [
            (RouteVia::Unresolved, "\"direct\"", false),
            (
                RouteVia::Address("192.0.2.1:443".parse().unwrap()),
                "\"192.0.2.1:443\"",
                true,
            ),
            (
                RouteVia::Address("[2001:db8::1]:443".parse().unwrap()),
                "\"[2001:db8::1]:443\"",
                false,
            ),
            (
                RouteVia::Proxy("proxy.example:3128".into()),
                "\"proxy.example:3128\"",
                false,
            ),
        ];
        for (via, json, v4) in cases {
            assert_eq!(serde_json::to_string(&via).unwrap(), json);
            assert_eq!(via.is_ipv4_address(), v4, "{via}");
        }
    }
}
