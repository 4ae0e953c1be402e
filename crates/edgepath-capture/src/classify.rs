//! Puts each flow into the model's terms: the service (from names, the endpoint data's
//! ranges and ports, and the protocol), the modality (from the client's media source
//! port) and the media path; then the findings an admin should see.

use std::net::IpAddr;

use edgepath_model::{Catalog, FlowService, MediaPath, MediaRanges, Modality, ServiceId};
use edgepath_wire::stun::Variant;

use crate::analyze::{kinds, FlowState};
use crate::packet::Transport;

/// What a flow is, in the model's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Class {
    /// `sip`, `web-services`, `data-edge`, `av-edge`, `ews`, `office-web-apps`,
    /// `p2p-media`, `microsoft-other`, `dns` or `other`.
    pub service: FlowService,
    /// The media modality, for media flows.
    pub modality: Option<Modality>,
    /// `p2p-udp`, `relay-udp`, `relay-tcp` or `relay-tcp-proxy`, for media flows.
    pub path: Option<MediaPath>,
    /// The name the flow's server goes by (SNI, certificate, DNS or CONNECT target).
    pub name: Option<String>,
    /// What the flow carried, as recognised: `tls`, `ms-pseudo-tls`, `turn-tcp`,
    /// `stun`, `ms-turn`, `rtp`, `sip`, `dns`, `http-connect`, or null.
    pub protocol: Option<&'static str>,
}

/// Whether `name` matches an endpoint pattern (`*.lync.com`, `teams.microsoft.com`,
/// `*cdn.onenote.net`).
pub fn name_matches(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((pre, post)) => {
            name.len() >= pre.len() + post.len() && name.starts_with(pre) && name.ends_with(post)
        }
    }
}

/// Suffixes of Microsoft's own names beyond the endpoint data (sign-in, telemetry,
/// CDNs), so that flows to them read `microsoft-other` rather than `other`.
const MICROSOFT_SUFFIXES: &[&str] = &[
    ".microsoft.com",
    ".microsoftonline.com",
    ".office.com",
    ".office.net",
    ".office365.com",
    ".skype.com",
    ".lync.com",
    ".live.com",
    ".msedge.net",
    ".windows.net",
    ".azureedge.net",
    ".trafficmanager.net",
    ".msauth.net",
    ".msftauth.net",
    ".sfx.ms",
    ".microsoftstream.com",
    ".skypeforbusiness.com",
    ".teams.cdn.office.net",
    ".hockeyapp.net",
    ".aka.ms",
];

/// Classification context built once from the catalog.
pub struct Classifier<'a> {
    catalog: &'a Catalog,
    ranges: MediaRanges,
    relay_suffixes: Vec<String>,
}

impl<'a> Classifier<'a> {
    /// From the catalog and the media ranges.
    pub fn new(catalog: &'a Catalog, ranges: MediaRanges) -> Self {
        // worldaz.tr.teams.microsoft.com -> .tr.teams.microsoft.com: any relay's name.
        let relay_suffixes = catalog
            .service(ServiceId::AvEdge)
            .probe_names
            .iter()
            .filter_map(|n| n.split_once('.').map(|(_, rest)| format!(".{rest}")))
            .collect();
        Classifier {
            catalog,
            ranges,
            relay_suffixes,
        }
    }

    fn in_relay_ranges(&self, ip: IpAddr) -> bool {
        self.catalog
            .service(ServiceId::AvEdge)
            .ips
            .iter()
            .any(|n| n.contains(&ip))
    }

    fn is_relay_name(&self, name: &str) -> bool {
        self.relay_suffixes
            .iter()
            .any(|s| name.ends_with(s.as_str()))
            || name
                .parse::<IpAddr>()
                .is_ok_and(|ip| self.in_relay_ranges(ip))
    }

    /// The service a server name belongs to, if any Microsoft one.
    fn service_by_name(&self, name: &str) -> Option<FlowService> {
        for s in self.catalog.services() {
            if s.probe_names.contains(&name) {
                return Some(s.id.into());
            }
        }
        let label = name.split('.').next().unwrap_or_default();
        for s in self.catalog.services() {
            if s.id == ServiceId::AvEdge || !s.names.iter().any(|p| name_matches(p, name)) {
                continue;
            }
            // The signalling set (12) serves SIP, web services and the data edge alike;
            // the host's first label tells them apart where Microsoft's naming does.
            if matches!(
                s.id,
                ServiceId::Sip | ServiceId::WebServices | ServiceId::DataEdge
            ) {
                return Some(if label.starts_with("sip") {
                    FlowService::Sip
                } else if label.contains("dataconf") || label.contains("psom") {
                    FlowService::DataEdge
                } else {
                    FlowService::WebServices
                });
            }
            return Some(s.id.into());
        }
        let listed = self
            .catalog
            .endpoint_data()
            .sets()
            .iter()
            .any(|set| set.urls.iter().any(|p| name_matches(p, name)));
        let dotted = format!(".{name}");
        (listed || MICROSOFT_SUFFIXES.iter().any(|s| dotted.ends_with(s)))
            .then_some(FlowService::MicrosoftOther)
    }

    /// The service several names agree on: one service when they all say it, else
    /// `microsoft-other` when any is Microsoft's (a shared front end), else none.
    fn service_by_names(&self, names: &[String]) -> Option<FlowService> {
        let services: Vec<Option<FlowService>> =
            names.iter().map(|n| self.service_by_name(n)).collect();
        match services.first() {
            Some(first) if services.iter().all(|s| s == first) => *first,
            _ => services
                .iter()
                .any(Option::is_some)
                .then_some(FlowService::MicrosoftOther),
        }
    }

    /// Classifies one flow; `dns_names` are what DNS answers called its server.
    pub fn classify(&self, f: &FlowState, dns_names: &[String]) -> Class {
        let sni = f.client_hello.as_ref().and_then(|h| h.sni.clone());
        let cert = f
            .server_hello
            .as_ref()
            .and_then(|s| s.chain.first())
            .and_then(|c| c.names.first().cloned());
        let connect_host = f.connect.as_ref().map(|c| {
            let t = c.target.as_str();
            let host = t.rsplit_once(':').map_or(t, |(h, _)| h);
            host.trim_start_matches('[')
                .trim_end_matches(']')
                .to_ascii_lowercase()
        });
        // What the flow itself says wins; DNS may give one address several names.
        let names: Vec<String> = match sni.or(connect_host.clone()).or(cert) {
            Some(n) => vec![n],
            None => dns_names.to_vec(),
        };
        let name = (!names.is_empty()).then(|| names.join(" | "));
        let client_port = f.client.1;
        let media_modality = self.ranges.modality_of(client_port);
        let mut c = Class {
            service: FlowService::Other,
            modality: None,
            path: None,
            name: name.clone(),
            protocol: protocol(f),
        };
        if f.kinds & kinds::DNS != 0 {
            c.service = FlowService::Dns;
            return c;
        }
        let turn = f.stun.as_ref().is_some_and(|s| s.is_turn());
        let via_proxy = f.connect.is_some();
        let relay_target = connect_host
            .as_deref()
            .and_then(|h| h.parse::<IpAddr>().ok())
            .is_some_and(|ip| self.in_relay_ranges(ip));
        match f.transport {
            Transport::Tcp => {
                // By name, or by the certificate's names when the client sent none
                // (connections to a relay's bare address, teams.pcap frame 1322).
                let cert_names = f
                    .server_hello
                    .as_ref()
                    .and_then(|s| s.chain.first())
                    .map(|c| c.names.as_slice())
                    .unwrap_or_default();
                let relay_tls = names
                    .iter()
                    .chain(cert_names)
                    .any(|n| self.is_relay_name(n));
                // A ClientHello without extensions is MS-TURN's pseudo-TLS (real TLS
                // clients always send some): to a relay address, a relay attempt even
                // when the relay did not answer it.
                let pseudo_hello = f.client_hello.as_ref().is_some_and(|h| !h.extensions)
                    && self.in_relay_ranges(f.server.0);
                let microsoft_relay = self.in_relay_ranges(f.server.0)
                    || relay_target
                    || relay_tls
                    || f.stun
                        .as_ref()
                        .is_some_and(|s| s.variant == Some(Variant::MsTurn));
                let tunnel_to_relay = via_proxy
                    && relay_target
                    && f.client_hello.as_ref().is_none_or(|h| !h.extensions);
                if f.pseudo_tls
                    || pseudo_hello
                    || (turn && microsoft_relay)
                    || relay_tls
                    || tunnel_to_relay
                {
                    c.service = FlowService::AvEdge;
                    c.path = Some(if via_proxy {
                        MediaPath::RelayTcpProxy
                    } else {
                        MediaPath::RelayTcp
                    });
                    c.modality = media_modality;
                    return c;
                }
            }
            Transport::Udp => {
                let server_port = f.server.1;
                let relay_port =
                    (3478..=3481).contains(&server_port) || (50000..=59999).contains(&server_port);
                let stun = f.kinds & kinds::STUN != 0;
                let ice = f.stun.as_ref().is_some_and(|s| s.ice_checks > 0);
                // A Microsoft relay: by address, by the name it was resolved from, or
                // because it speaks MS-TURN. STUN to other servers stays `other`.
                let microsoft = self.in_relay_ranges(f.server.0)
                    || names.iter().any(|n| self.is_relay_name(n))
                    || f.stun
                        .as_ref()
                        .is_some_and(|s| s.variant == Some(Variant::MsTurn));
                if microsoft && (turn || (stun && !ice) || relay_port) {
                    c.service = FlowService::AvEdge;
                    c.path = Some(MediaPath::RelayUdp);
                    c.modality = media_modality;
                    return c;
                }
                // TURN to someone else's relay is not peer-to-peer media.
                if !turn && (ice || f.kinds & (kinds::RTP | kinds::RTCP) != 0) {
                    c.service = FlowService::P2pMedia;
                    c.path = Some(MediaPath::P2pUdp);
                    c.modality = media_modality;
                    return c;
                }
            }
        }
        if let Some(s) = self.service_by_names(&names) {
            c.service = s;
        } else if self
            .catalog
            .endpoint_data()
            .category_of(f.server.0)
            .is_some()
        {
            c.service = FlowService::MicrosoftOther;
        }
        c
    }
}

/// The application protocol a flow was seen to carry.
fn protocol(f: &FlowState) -> Option<&'static str> {
    let stun_variant = f
        .stun
        .as_ref()
        .filter(|s| s.messages > 0)
        .and_then(|s| s.variant);
    Some(if f.kinds & kinds::DNS != 0 {
        "dns"
    } else if f.pseudo_tls {
        "ms-pseudo-tls"
    } else if f.connect.is_some() {
        "http-connect"
    } else if f.client_hello.is_some() || f.server_hello.is_some() {
        "tls"
    } else if f.transport == Transport::Tcp && stun_variant.is_some() {
        "turn-tcp"
    } else if let Some(v) = stun_variant {
        if v == Variant::MsTurn {
            "ms-turn"
        } else {
            "stun"
        }
    } else if f.kinds & (kinds::RTP | kinds::RTCP) != 0 {
        "rtp"
    } else if f.sip {
        "sip"
    } else if f.kinds & kinds::DTLS != 0 {
        "dtls"
    } else {
        return None;
    })
}
