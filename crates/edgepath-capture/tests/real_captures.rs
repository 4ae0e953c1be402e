//! The capture lens on the real captures in `../shared/captures/` (nDPI's test suite):
//! what each flow must come out as.
#![allow(clippy::unwrap_used)]

use std::fs::File;
use std::path::PathBuf;

use edgepath_capture::report::FlowReport;
use edgepath_capture::rtpstats::Direction;
use edgepath_capture::stunflow::AllocationResult;
use edgepath_capture::Report;
use edgepath_model::{
    snapshot, Catalog, FlowService, MediaPath, MediaRanges, Modality, Profile, Severity,
};
use edgepath_wire::stun::Variant;

fn capture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/captures")
        .join(name)
}

fn analyze(name: &str) -> Report {
    let catalog = Catalog::build(snapshot::endpoint_data(), Profile::Current).unwrap();
    edgepath_capture::analyze(
        File::open(capture(name)).unwrap(),
        &catalog,
        MediaRanges::default(),
    )
    .unwrap()
}

fn flow<'a>(r: &'a Report, client: &str, server: &str) -> &'a FlowReport {
    r.flows
        .iter()
        .find(|f| f.client == client && f.server == server)
        .unwrap_or_else(|| panic!("no flow {client} -> {server}"))
}

#[test]
fn teams_relay_allocations_are_av_edge_with_modality_and_relayed_address() {
    let r = analyze("teams.pcap");
    // Each client port's allocations (a relay pool answers from any of its addresses,
    // so the flow is the client port's flow to a relay on 3478 that got the success).
    let cases = [
        ("192.168.1.6:50016", Modality::Audio, "52.114.250.141:3480"),
        ("192.168.1.6:50017", Modality::Audio, "52.114.250.141:3480"),
        ("192.168.1.6:50036", Modality::Video, "52.114.250.137:3480"),
        ("192.168.1.6:50037", Modality::Video, "52.114.250.137:3480"),
    ];
    for (client, modality, relayed) in cases {
        let to_relays: Vec<&FlowReport> = r
            .flows
            .iter()
            .filter(|f| f.client == client && f.server.ends_with(":3478"))
            .collect();
        assert!(!to_relays.is_empty(), "{client}");
        for f in &to_relays {
            assert_eq!(f.service, FlowService::AvEdge, "{client} -> {}", f.server);
            assert_eq!(f.modality, Some(modality), "{client}");
            assert_eq!(f.path, Some(MediaPath::RelayUdp), "{client}");
            assert_eq!(f.stun.as_ref().unwrap().variant, Some(Variant::MsTurn));
        }
        let ok = to_relays
            .iter()
            .flat_map(|f| f.stun.as_ref().unwrap().allocations.iter())
            .find(|a| a.result == AllocationResult::Success)
            .unwrap_or_else(|| panic!("{client}: no successful allocation"));
        assert_eq!(ok.relayed.as_deref(), Some(relayed), "{client}");
        // Unauthenticated first, as DOMAIN.md says: 401 with realm, then success.
        assert!(
            to_relays
                .iter()
                .any(|f| f.stun.as_ref().unwrap().errors.contains(&401)),
            "{client}"
        );
        // Nothing reads as unanswered: answers from another pool address count.
        assert!(to_relays.iter().all(|f| f
            .stun
            .as_ref()
            .unwrap()
            .allocations
            .iter()
            .all(|a| a.result != AllocationResult::NoAnswer)));
    }
    // The relay's Allocate success of frame 1275 (unpadded MS-TURN): XOR-mapped
    // 80.181.206.72:57543, relayed 52.114.250.141:3480.
    let all: Vec<_> = r
        .flows
        .iter()
        .filter_map(|f| f.stun.as_ref())
        .flat_map(|s| s.allocations.iter())
        .collect();
    assert!(all
        .iter()
        .any(|a| a.reflexive.as_deref() == Some("80.181.206.72:57543")
            && a.relayed.as_deref() == Some("52.114.250.141:3480")));
}

#[test]
fn teams_ice_checks_to_peers_are_p2p_media() {
    let r = analyze("teams.pcap");
    for (client, server, modality) in [
        ("192.168.1.6:50016", "192.168.0.4:50005", Modality::Audio),
        ("192.168.1.6:50036", "192.168.0.4:50020", Modality::Video),
        ("192.168.1.6:50016", "93.71.110.205:16332", Modality::Audio),
        ("192.168.1.6:50036", "93.71.110.205:16333", Modality::Video),
    ] {
        let f = flow(&r, client, server);
        assert_eq!(f.service, FlowService::P2pMedia, "{server}");
        assert_eq!(f.path, Some(MediaPath::P2pUdp));
        assert_eq!(f.modality, Some(modality));
        assert!(f.stun.as_ref().unwrap().ice_checks > 0, "{server}");
    }
    // Media flowed peer to peer: a SILK stream from the peer.
    let f = flow(&r, "192.168.1.6:50016", "93.71.110.205:16332");
    let s = &f.rtp[0];
    assert_eq!(s.payload_types, vec![104]);
    assert_eq!(s.direction, Direction::ServerToClient);
    assert!(s.jitter_ms.is_some());
}

#[test]
fn teams_tls_names_and_issuers() {
    let r = analyze("teams.pcap");
    let f = r
        .flows
        .iter()
        .find(|f| f.tls.as_ref().and_then(|t| t.sni.as_deref()) == Some("teams.microsoft.com"))
        .unwrap();
    assert_eq!(f.service, FlowService::DataEdge);
    let tls = f.tls.as_ref().unwrap();
    assert_eq!(tls.issuer.as_deref(), Some("Microsoft IT TLS CA 4"));
    assert!(
        tls.server_names.iter().any(|n| n == "teams.microsoft.com"),
        "{:?}",
        tls.server_names
    );
    assert!(tls.chain.len() >= 2);
    // TURN over TLS to a relay by address: av-edge over TCP, a candidate beside UDP.
    let relay = flow(&r, "192.168.1.6:50014", "52.114.250.152:443");
    assert_eq!(
        (relay.service, relay.path),
        (FlowService::AvEdge, Some(MediaPath::RelayTcp))
    );
    assert!(r
        .findings
        .iter()
        .any(|x| x.kind == "tcp-relay-candidate" && x.severity == Severity::Info));
    // No interception in a clean capture; the port-range finding is real (51681).
    assert!(!r.findings.iter().any(|x| x.kind == "tls-interception"));
    let odd = r
        .findings
        .iter()
        .find(|x| x.kind == "media-source-port-outside-range")
        .unwrap();
    assert_eq!(odd.flow.as_ref().unwrap().client, "192.168.1.6:51681");
}

#[test]
fn stun_capture_ipv6_and_other_relays() {
    let r = analyze("stun.pcap");
    let v6 = r
        .flows
        .iter()
        .find(|f| f.client.starts_with("[3516:bf0b") && f.server.ends_with("]:3478"))
        .unwrap();
    assert_eq!(v6.transport, "udp");
    assert!(v6.stun.as_ref().unwrap().messages > 0);
    // TURN to a non-Microsoft relay is not the A/V edge.
    assert!(
        r.flows.iter().all(|f| f.service != FlowService::AvEdge),
        "{:?}",
        r.flows
            .iter()
            .map(|f| (&f.server, f.service))
            .collect::<Vec<_>>()
    );
    assert!(r.flows.iter().any(|f| f.protocol == Some("turn-tcp")));
}

#[test]
fn rtp_capture_stream_statistics() {
    let r = analyze("rtp.pcapng");
    let f = flow(&r, "10.140.67.167:55402", "148.153.85.97:6008");
    let s = &f.rtp[0];
    assert_eq!(s.ssrc, "b80974d8");
    assert_eq!(s.packets, 29);
    assert_eq!(s.lost, 0);
    assert!(s.jitter_ms.is_some());
    assert!(r.flows.iter().map(|f| f.rtp.len()).sum::<usize>() >= 5);
}

#[test]
fn sip_capture_sip_and_its_media() {
    let r = analyze("sip.pcap");
    let sip = flow(&r, "192.168.1.2:5060", "212.242.33.35:5060");
    assert_eq!(sip.protocol, Some("sip"));
    let media = flow(&r, "192.168.1.2:30000", "212.242.33.36:40392");
    assert_eq!(media.protocol, Some("rtp"));
    assert_eq!(media.rtp[0].payload_types, vec![8], "PCMA");
    // Not a Teams client: no Teams port-range findings for a SIP phone.
    assert!(r.findings.is_empty(), "{:?}", r.findings);
}

#[test]
fn teams_media_was_sent_unmarked_and_is_told_so() {
    // This Windows client had no QoS policy: every packet left with DSCP 0.
    let r = analyze("teams.pcap");
    let f = flow(&r, "192.168.1.6:50016", "52.114.250.141:3478");
    assert!(
        f.dscp[0].iter().all(|c| c.value.value() == 0),
        "{:?}",
        f.dscp
    );
    assert_eq!(
        f.dscp[0].iter().map(|c| c.packets).sum::<u64>(),
        f.packets[0],
        "every packet counted once"
    );
    let unmarked: Vec<_> = r
        .findings
        .iter()
        .filter(|x| x.kind == "qos-unmarked")
        .collect();
    let media_flows = r
        .flows
        .iter()
        .filter(|f| f.modality.is_some() && f.packets[0] > 0 && f.service == FlowService::AvEdge)
        .count();
    assert!(
        unmarked.len() >= media_flows,
        "{} < {media_flows}",
        unmarked.len()
    );
    assert!(unmarked.iter().all(|x| x.severity == Severity::Info));
    assert!(unmarked[0].message.contains("46 (EF)") || unmarked[0].message.contains("34 (AF41)"));
    assert!(!r.findings.iter().any(|x| x.kind == "qos-wrong-mark"));
}

/// teams.pcap with only the packets to or from `peers` (classic little-endian pcap,
/// Ethernet, IPv4 addresses at bytes 26-33 of the frame).
fn teams_with_only(peers: &[[u8; 4]]) -> Vec<u8> {
    let all = std::fs::read(capture("teams.pcap")).unwrap();
    let mut out = all[..24].to_vec();
    let mut at = 24;
    while at + 16 <= all.len() {
        let caplen = u32::from_le_bytes(all[at + 8..at + 12].try_into().unwrap()) as usize;
        let frame = &all[at + 16..(at + 16 + caplen).min(all.len())];
        let ipv4 = frame.len() >= 34 && frame[12..14] == [0x08, 0x00];
        if ipv4
            && peers
                .iter()
                .any(|p| frame[26..30] == p[..] || frame[30..34] == p[..])
        {
            out.extend_from_slice(&all[at..at + 16 + frame.len()]);
        }
        at += 16 + caplen;
    }
    out
}

#[test]
fn a_teams_client_is_known_by_its_ice_checks_without_any_relay() {
    // Only the peer-to-peer calls: no relay, no Microsoft name in the capture.
    let pcap = teams_with_only(&[[192, 168, 0, 4], [93, 71, 110, 205]]);
    let catalog = Catalog::build(snapshot::endpoint_data(), Profile::Current).unwrap();
    let r = edgepath_capture::analyze(&pcap[..], &catalog, MediaRanges::default()).unwrap();
    assert!(r.flows.iter().all(|f| f.service != FlowService::AvEdge));
    let p2p = flow(&r, "192.168.1.6:50016", "93.71.110.205:16332");
    assert_eq!(p2p.service, FlowService::P2pMedia);
    let stun = p2p.stun.as_ref().unwrap();
    assert!(
        stun.microsoft_ice > 0,
        "MS-ICE2 attributes on its checks: {stun:?}"
    );
    // Known as a Teams client, its media is held to Teams' ranges and marks.
    assert!(
        r.findings.iter().any(|x| x.kind == "qos-unmarked"
            && x.flow
                .as_ref()
                .is_some_and(|f| f.server == "93.71.110.205:16332")),
        "{:?}",
        r.findings
    );
}

/// Threads each follow a share of the flows and merge; the report must be the one a
/// single pass gives, flow for flow and finding for finding, for any number of shares.
#[test]
fn the_threaded_analysis_reports_what_one_thread_does() {
    let catalog = Catalog::build(snapshot::endpoint_data(), Profile::Current).unwrap();
    for name in ["teams.pcap", "sip.pcap", "stun.pcap", "rtp.pcapng"] {
        let one = format!("{:?}", analyze(name));
        for threads in [2, 3, 5] {
            let sources = (0..threads)
                .map(|_| File::open(capture(name)).unwrap())
                .collect();
            let many =
                edgepath_capture::analyze_parallel(sources, &catalog, MediaRanges::default())
                    .unwrap();
            assert!(
                format!("{many:?}") == one,
                "{name}: {threads} threads report otherwise than one"
            );
        }
    }
}
