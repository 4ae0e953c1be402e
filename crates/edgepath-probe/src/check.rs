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

use crate::dns::{self, Resolution};
use crate::family::{self, FamilyReport};
use crate::nat::{self, Mapping, NatMapping};
use crate::proxy::Proxy;
use crate::quality::{self, Quality};
use crate::relay::{self, Framing, TcpProbe, UdpProbe};
use crate::route::{self, Query, RouteError};
use crate::tls::{self, TlsReport, Trust};
use crate::vpn::{self, RangeRoute, VpnReport, VpnState};

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
    /// The proxy, if any.
    pub proxy: Option<Proxy>,
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
}

/// How one service was reached, on one route.
#[derive(Debug, Clone, Serialize)]
pub struct Route {
    /// The address or proxy used.
    pub via: String,
    /// Whether TCP (or the tunnel) opened.
    pub connected: bool,
    /// The TLS handshake.
    pub tls: Option<TlsReport>,
    /// Why it failed.
    pub error: Option<String>,
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
    /// The relay probed.
    pub relay: Option<String>,
    /// Per address family: the relay address, how UDP and TCP were answered (or
    /// silently dropped), the best relay path and the services reachable.
    pub families: Vec<FamilyReport>,
    /// Every relay probe, for the record.
    pub probes: Probes,
    /// Wall time of the check, ms.
    pub elapsed_ms: u64,
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
            via: "direct".into(),
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
            via: dest.to_string(),
            connected: false,
            tls: None,
            error: Some(format!(
                "TCP connect to {dest} timed out after {} ms",
                t.tcp.as_millis()
            )),
        },
        Ok(Err(e)) => Route {
            via: dest.to_string(),
            connected: false,
            tls: None,
            error: Some(format!("TCP connect to {dest} failed: {e}")),
        },
        Ok(Ok(s)) => {
            let report = tls::handshake(s, name, trust, t.tls, false).await;
            let error = report.error.clone();
            Route {
                via: dest.to_string(),
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
            via: proxy.address(),
            connected: false,
            tls: None,
            error: Some(e.to_string()),
        },
        Ok(s) => {
            let report = tls::handshake(s, name, trust, t.tls, true).await;
            let error = report.error.clone();
            Route {
                via: proxy.address(),
                connected: true,
                tls: Some(report),
                error,
            }
        }
    }
}

fn ok_route(r: &Route) -> bool {
    r.tls.as_ref().is_some_and(|t| t.handshake)
}

/// Runs the whole check. `progress` hears about the quality stream (fraction done).
pub async fn run(cfg: &CheckConfig, progress: &mut dyn FnMut(f64)) -> Report {
    let started = Instant::now();
    let t = cfg.timeouts;
    // 1. Names, all at once.
    let av = cfg.catalog.service(ServiceId::AvEdge);
    let relay_names: Vec<String> = av.probe_names.iter().map(|s| (*s).to_owned()).collect();
    let service_ids = [
        ServiceId::Sip,
        ServiceId::WebServices,
        ServiceId::DataEdge,
        ServiceId::Ews,
        ServiceId::OfficeWebApps,
    ];
    let service_names: Vec<(ServiceId, String)> = service_ids
        .iter()
        .filter_map(|id| {
            cfg.catalog
                .service(*id)
                .probe_names
                .first()
                .map(|n| (*id, (*n).to_owned()))
        })
        .collect();
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
    let tcp_fut = async {
        let mut jobs: Vec<
            std::pin::Pin<Box<dyn std::future::Future<Output = Vec<TcpProbe>> + '_>>,
        > = Vec::new();
        for ip in &targets {
            for port in &tcp_ports {
                let dest = SocketAddr::new(*ip, *port);
                if *port == 443 {
                    jobs.push(Box::pin(async move {
                        relay::tcp_pair(dest, None, t.tcp).await.to_vec()
                    }));
                } else {
                    jobs.push(Box::pin(async move {
                        vec![relay::tcp_probe(dest, Framing::Standard, t.tcp).await]
                    }));
                }
            }
        }
        if let (Some(p), Some(ip)) = (proxy, relay_ip) {
            // Through the proxy by address: the client resolved it.
            let dest = SocketAddr::new(ip, 443);
            jobs.push(Box::pin(async move {
                relay::tcp_pair(dest, Some(p), t.tcp + t.tcp).await.to_vec()
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
            quality::measure(
                dest,
                u,
                pw,
                cfg.ranges.range(Modality::Audio),
                cfg.duration,
                progress,
            )
            .await,
        ),
        _ => None,
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
    let modalities = Modality::ALL
        .into_iter()
        .map(|m| {
            let mut v =
                modality_verdict(m, cfg, &udp, &tcp, relay_ip, &dns, quality_result.as_ref());
            v.advice.extend(dual_stack.iter().cloned());
            tunnel_verdict(&mut v, &vpn);
            v
        })
        .collect();
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
    let unsupported = answers
        .iter()
        .all(|a| matches!(a, Err(RouteError::Unsupported)))
        .then(|| RouteError::Unsupported.to_string());
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

/// Media through a tunnel is degraded, whatever the relay answered: the evidence names
/// the interface, the advice the fix.
fn tunnel_verdict(v: &mut ModalityVerdict, vpn: &VpnReport) {
    if !vpn.media_tunnelled() || v.path == MediaPath::None {
        return;
    }
    let through = vpn.tunnelled_media();
    let nets: Vec<&str> = through.iter().map(|r| r.net.as_str()).collect();
    let via = through.first().map(|r| r.via()).unwrap_or_default();
    v.evidence.push(match vpn.state {
        VpnState::Forced => format!(
            "media to the relay goes through the VPN tunnel {via} ({})",
            nets.join(", ")
        ),
        _ => format!(
            "part of the media goes through the VPN tunnel {via}: {}",
            nets.join(", ")
        ),
    });
    if v.status == Status::Good {
        v.status = Status::Degraded;
    }
    v.advice.extend(vpn.advice.iter().cloned());
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

fn nat_verdict(udp: &[(Modality, UdpProbe)], probe: Option<NatMapping>) -> Nat {
    let mapping = probe.as_ref().map_or(Mapping::Unknown, NatMapping::mapping);
    // NAT is an IPv4 matter (IPv6 is routed): judge by the IPv4 probes when there are
    // any, so an IPv6 answer never reads as "no NAT".
    let any_v4 = udp.iter().any(|(_, p)| p.destination.is_ipv4());
    let answered: Vec<&UdpProbe> = udp
        .iter()
        .map(|(_, p)| p)
        .filter(|p| p.answer.is_some() && (!any_v4 || p.destination.is_ipv4()))
        .collect();
    let mut public: Vec<SocketAddr> = answered
        .iter()
        .filter_map(|p| p.answer.as_ref().and_then(|a| a.mapped))
        .collect();
    public.sort();
    public.dedup();
    let local = answered.iter().find_map(|p| p.local_ip);
    let present = match (local, public.first()) {
        (Some(l), Some(p)) => Some(l != p.ip()),
        _ => None,
    };
    let (mapping_kind, note) = match mapping {
        Mapping::EndpointIndependent(_) => ("endpoint-independent", "the same public address and port towards two relay ports: peer-to-peer media can work through this NAT"),
        Mapping::Dependent(..) => ("address-port-dependent", "a new public port per destination (symmetric NAT): peer-to-peer media will likely fail; calls go through the relay"),
        Mapping::Unknown => ("unknown", "the relay gave no two answers to compare"),
    };
    Nat {
        present,
        local,
        public: public.into_iter().take(8).collect(),
        mapping: mapping_kind,
        note: match present {
            Some(true) => format!("present; {note}."),
            Some(false) => "none: the relay sees the local address.".into(),
            None => format!("unknown; {note}."),
        },
    }
}

fn service_verdict(
    service: ServiceId,
    name: String,
    direct: Route,
    direct_ipv6: Option<Route>,
    via_proxy: Option<Route>,
) -> ServiceVerdict {
    let (reachable, via, used) = if ok_route(&direct) {
        (true, Via::Direct, Some(&direct))
    } else if let Some(r6) = direct_ipv6.as_ref().filter(|r| ok_route(r)) {
        (true, Via::Direct, Some(r6))
    } else if let Some(p) = via_proxy.as_ref().filter(|p| ok_route(p)) {
        (true, Via::Proxy, Some(p))
    } else {
        // Report the TLS facts of whatever handshake got furthest (an untrusted chain
        // through the proxy is interception too).
        (
            false,
            Via::None,
            via_proxy
                .as_ref()
                .filter(|p| p.tls.is_some())
                .or(direct.tls.as_ref().map(|_| &direct)),
        )
    };
    let tls = used.and_then(|r| r.tls.as_ref()).map(|t| TlsSummary {
        intercepted: t.intercepted,
        issuer: t.issuer.clone(),
        verified_by: t.verified_by,
    });
    ServiceVerdict {
        service,
        name,
        reachable,
        via,
        tls,
        direct,
        direct_ipv6,
        proxy: via_proxy,
    }
}

/// The per-family evidence: what the relay probes showed over IPv4 and over IPv6,
/// and which services answered directly over each.
fn family_reports(
    relay_v4: Option<IpAddr>,
    relay_v6: Option<IpAddr>,
    relay_v6_listed: Option<IpAddr>,
    v6_source: Option<IpAddr>,
    udp: &[(Modality, UdpProbe)],
    tcp: &[TcpProbe],
    services: &[ServiceVerdict],
) -> Vec<FamilyReport> {
    let udp: Vec<&UdpProbe> = udp.iter().map(|(_, p)| p).collect();
    let tcp: Vec<&TcpProbe> = tcp.iter().collect();
    let reachable = |v6: bool| -> Vec<ServiceId> {
        services
            .iter()
            .filter(|s| {
                let route = if v6 {
                    s.direct_ipv6.as_ref()
                } else {
                    Some(&s.direct)
                        .filter(|r| r.via.parse::<SocketAddr>().is_ok_and(|a| a.is_ipv4()))
                };
                route.is_some_and(ok_route)
            })
            .map(|s| s.service)
            .collect()
    };
    let v4 = family::report(
        Family::Ipv4,
        relay_v4,
        None,
        &udp,
        &tcp,
        reachable(false),
        relay_v4
            .is_none()
            .then(|| "the relay name has no IPv4 address".to_owned()),
    );
    let why_not_v6 = match (relay_v6_listed, v6_source, relay_v6) {
        (_, _, Some(_)) => None,
        (None, _, None) => Some("the relay name has no IPv6 (AAAA) address".to_owned()),
        (Some(_), None, None) => {
            Some("this host has no IPv6 address and route towards the relay".to_owned())
        }
        (Some(_), Some(_), None) => None,
    };
    let v6 = family::report(
        Family::Ipv6,
        relay_v6,
        v6_source,
        &udp,
        &tcp,
        reachable(true),
        why_not_v6,
    );
    vec![v4, v6]
}

fn describe_udp(p: &UdpProbe) -> String {
    let from = p
        .source_port
        .map_or_else(|| "no local port".to_owned(), |s| format!("from {s}"));
    match (&p.answer, &p.error) {
        (Some(a), _) => format!(
            "UDP {} {from}: answered ({} {} {}{}, {} ms)",
            p.destination,
            a.protocol,
            a.method,
            a.class,
            a.code.map(|c| format!(" {c}")).unwrap_or_default(),
            a.rtt_ms
        ),
        (None, Some(e)) => format!("UDP {} {from}: {e}", p.destination),
        (None, None) => format!("UDP {} {from}: no answer", p.destination),
    }
}

fn describe_tcp(p: &TcpProbe) -> String {
    let how = match (p.framing, &p.proxy) {
        (Framing::Standard, None) => "TURN over TCP".to_owned(),
        (Framing::PseudoTls, None) => "TURN over TCP (MS pseudo-TLS)".to_owned(),
        (Framing::Standard, Some(px)) => format!("TURN over TCP through the proxy {px}"),
        (Framing::PseudoTls, Some(px)) => {
            format!("TURN over TCP (MS pseudo-TLS) through the proxy {px}")
        }
    };
    match (&p.answer, &p.error) {
        (Some(a), _) => format!(
            "{how} to {}: answered ({} {} {}{})",
            p.destination,
            a.protocol,
            a.method,
            a.class,
            a.code.map(|c| format!(" {c}")).unwrap_or_default()
        ),
        (None, Some(e)) => format!("{how} to {}: {e}", p.destination),
        (None, None) => format!("{how} to {}: no answer", p.destination),
    }
}

fn modality_verdict(
    m: Modality,
    cfg: &CheckConfig,
    udp: &[(Modality, UdpProbe)],
    tcp: &[TcpProbe],
    relay_ip: Option<IpAddr>,
    dns: &[Resolution],
    quality: Option<&Result<Quality, String>>,
) -> ModalityVerdict {
    let mine: Vec<&UdpProbe> = udp
        .iter()
        .filter(|(x, _)| *x == m)
        .map(|(_, p)| p)
        .collect();
    // Name the family on every line when both were probed.
    let both = udp.iter().any(|(_, p)| p.destination.is_ipv4())
        && udp.iter().any(|(_, p)| p.destination.is_ipv6());
    let tag = |ip: IpAddr, line: String| {
        if both {
            format!("{}: {line}", Family::of(ip).label())
        } else {
            line
        }
    };
    let mut evidence: Vec<String> = mine
        .iter()
        .map(|p| tag(p.destination.ip(), describe_udp(p)))
        .collect();
    evidence.extend(tcp.iter().map(|p| tag(p.destination.ip(), describe_tcp(p))));
    let mut family_paths = BTreeMap::new();
    for ip in mine.iter().map(|p| p.destination.ip()) {
        let f = Family::of(ip);
        let udp_ok = mine
            .iter()
            .any(|p| Family::of(p.destination.ip()) == f && p.answer.is_some());
        let tcp_ok = tcp.iter().any(|p| {
            p.proxy.is_none() && Family::of(p.destination.ip()) == f && p.answer.is_some()
        });
        family_paths.insert(
            f,
            if udp_ok {
                MediaPath::RelayUdp
            } else if tcp_ok {
                MediaPath::RelayTcp
            } else {
                MediaPath::None
            },
        );
    }
    let mut advice = Vec::new();
    if relay_ip.is_none() {
        let why = dns
            .iter()
            .filter(|r| {
                cfg.catalog
                    .service(ServiceId::AvEdge)
                    .probe_names
                    .contains(&r.name.as_str())
            })
            .map(|r| format!("{}: {}", r.name, r.error.as_deref().unwrap_or("no address")))
            .collect::<Vec<_>>()
            .join("; ");
        evidence.insert(
            0,
            format!("the relay names do not resolve ({why}): no relay could be probed"),
        );
        advice.push("let clients resolve the relay names (worldaz.tr.teams.microsoft.com): check DNS and the resolver's forwarding".into());
    }
    let udp_ok = mine.iter().any(|p| p.answer.is_some());
    let tcp_ok = tcp.iter().any(|p| p.proxy.is_none() && p.answer.is_some());
    let proxy_ok = tcp.iter().any(|p| p.proxy.is_some() && p.answer.is_some());
    let proxy_tunnel_opened = tcp.iter().any(|p| p.proxy.is_some() && p.connected);
    // Ports no family answered on (one family's silence is the dual-stack advice's).
    let mut silent: Vec<u16> = mine
        .iter()
        .filter(|p| p.answer.is_none())
        .map(|p| p.destination.port())
        .filter(|port| {
            !mine
                .iter()
                .any(|q| q.destination.port() == *port && q.answer.is_some())
        })
        .collect();
    silent.dedup();
    let path = if udp_ok {
        MediaPath::RelayUdp
    } else if tcp_ok {
        MediaPath::RelayTcp
    } else if proxy_ok {
        MediaPath::RelayTcpProxy
    } else {
        MediaPath::None
    };
    let mut status = path.base_status();
    let range = cfg.ranges.range(m);
    match path {
        MediaPath::RelayUdp if !silent.is_empty() && silent.iter().any(|p| (3479..=3481).contains(p)) => advice.push(format!(
            "UDP {} to the relay does not answer: Microsoft asks for UDP 3478-3481 open from the media ports ({range}) to the relay ranges (`edgepath rules`)",
            silent.iter().map(u16::to_string).collect::<Vec<_>>().join(", ")
        )),
        MediaPath::RelayTcp => advice.push(format!("media falls back to TCP 443: allow UDP 3478-3481 from {range} to the relay ranges, directly (`edgepath rules`)")),
        MediaPath::RelayTcpProxy => advice.push("media goes through the proxy: let UDP 3478-3481 and TCP 443 to the Optimize ranges out directly, bypassing the proxy (`edgepath rules --target pac`, `--target nftables`)".into()),
        MediaPath::None if proxy_tunnel_opened => advice.push("the proxy opens the tunnel but TURN dies inside it (TLS inspection?): exempt the relay ranges from inspection, and let UDP 3478-3481 out directly".into()),
        MediaPath::None => advice.push("no path to the relay: allow UDP 3478-3481 and TCP 443 to the Optimize ranges (`edgepath rules`); calls have no media now".into()),
        _ => {}
    }
    let mut q = None;
    if cfg.turn.is_some() && quality.is_none() {
        evidence.push("media stream not measured: no UDP path to the relay to allocate on (quality over TCP is not measured yet)".into());
    }
    if let Some(result) = quality {
        match result {
            Ok(quality) if path == MediaPath::RelayUdp => {
                evidence.push(format!(
                    "media stream through the relay ({} s, audio range): loss {:.1} %, worst 200 ms {:.0} %, RTT {:.0} ms, jitter {:.1} ms, reorder {:.2} %",
                    cfg.duration.as_secs(),
                    quality.overall.loss_pct,
                    quality.overall.burst_loss_pct,
                    quality.overall.rtt_ms,
                    quality.overall.jitter_ms,
                    quality.overall.reorder_pct
                ));
                if quality.status != Status::Good {
                    status = quality.status;
                    for g in quality.grades.iter().filter(|g| !g.ok) {
                        advice.push(format!("{} {:.2} misses Microsoft's target (below {}): look for congestion or loss on the way to the relay", g.metric, g.value, g.target));
                    }
                }
                if quality.integrity_failures > 0 {
                    evidence.push(format!(
                        "{} answer(s) from the relay failed MESSAGE-INTEGRITY and were ignored: something else answers for the relay",
                        quality.integrity_failures
                    ));
                }
                if m == Modality::Audio {
                    q = Some(quality.clone());
                }
            }
            Err(e) => evidence.push(format!("media stream not measured: {e}")),
            _ => {}
        }
    }
    ModalityVerdict {
        modality: m,
        path,
        status,
        source_ports: range,
        evidence,
        advice,
        quality: q,
        family_paths,
    }
}
