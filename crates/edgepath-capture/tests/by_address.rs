//! Flows seen without their STUN or TLS names are classified by address alone: with
//! Microsoft's 2025013000 list, UDP to 52.122.0.0/15 and 2603:1063::/38 from a media
//! port is Teams media through a relay; the old list did not know the IPv6 range.
#![allow(clippy::unwrap_used)]

use std::net::IpAddr;

use edgepath_capture::analyze;
use edgepath_model::{
    snapshot, Catalog, EndpointData, FlowService, MediaPath, MediaRanges, Profile,
};

/// A UDP datagram in IPv4 or IPv6 (checksums zero: the analyser does not check them).
fn udp_packet(src: IpAddr, sport: u16, dst: IpAddr, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut udp = Vec::new();
    udp.extend_from_slice(&sport.to_be_bytes());
    udp.extend_from_slice(&dport.to_be_bytes());
    udp.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(payload);
    let mut ip = Vec::new();
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            ip.extend_from_slice(&[0x45, 0]);
            ip.extend_from_slice(&((20 + udp.len()) as u16).to_be_bytes());
            ip.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0]);
            ip.extend_from_slice(&s.octets());
            ip.extend_from_slice(&d.octets());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            ip.extend_from_slice(&[0x60, 0, 0, 0]);
            ip.extend_from_slice(&(udp.len() as u16).to_be_bytes());
            ip.extend_from_slice(&[17, 64]);
            ip.extend_from_slice(&s.octets());
            ip.extend_from_slice(&d.octets());
        }
        _ => panic!("mixed families"),
    }
    ip.extend_from_slice(&udp);
    ip
}

/// A pcap of raw IP packets (link type 101), one per second.
fn pcap(packets: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xA1B2_C3D4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&101u32.to_le_bytes());
    for (i, p) in packets.iter().enumerate() {
        out.extend_from_slice(&(1_700_000_000 + i as u32).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(p.len() as u32).to_le_bytes());
        out.extend_from_slice(&(p.len() as u32).to_le_bytes());
        out.extend_from_slice(p);
    }
    out
}

/// Encrypted-looking media (no STUN, no RTP version bits) both ways.
fn capture() -> Vec<u8> {
    let payload = [0x17u8; 64];
    let flows: [(&str, u16, &str, u16); 3] = [
        ("192.168.1.6", 50_010, "52.122.7.1", 3478),
        ("2001:db8:1::6", 50_025, "2603:1063:2:3::9", 3480),
        ("192.168.1.6", 50_011, "198.51.100.1", 3478),
    ];
    let mut packets = Vec::new();
    for (c, cp, s, sp) in flows {
        let (c, s): (IpAddr, IpAddr) = (c.parse().unwrap(), s.parse().unwrap());
        for _ in 0..3 {
            packets.push(udp_packet(c, cp, s, sp, &payload));
            packets.push(udp_packet(s, sp, c, cp, &payload));
        }
    }
    pcap(&packets)
}

fn classify(catalog: &Catalog) -> Vec<(String, FlowService, Option<MediaPath>, String)> {
    let report = analyze(&capture()[..], catalog, MediaRanges::default()).unwrap();
    report
        .flows
        .iter()
        .map(|f| {
            (
                f.server.clone(),
                f.service,
                f.path,
                f.modality.map(|m| m.to_string()).unwrap_or_default(),
            )
        })
        .collect()
}

#[test]
fn the_current_media_ranges_are_teams_media_by_address() {
    let catalog = Catalog::build(snapshot::endpoint_data(), Profile::Current).unwrap();
    let flows = classify(&catalog);
    let find = |server: &str| flows.iter().find(|f| f.0 == server).unwrap().clone();
    let v4 = find("52.122.7.1:3478");
    assert_eq!(
        (v4.1, v4.2, v4.3.as_str()),
        (FlowService::AvEdge, Some(MediaPath::RelayUdp), "audio")
    );
    let v6 = find("[2603:1063:2:3::9]:3480");
    assert_eq!(
        (v6.1, v6.2, v6.3.as_str()),
        (FlowService::AvEdge, Some(MediaPath::RelayUdp), "video")
    );
    let other = find("198.51.100.1:3478");
    assert_eq!(other.1, FlowService::Other);
}

#[test]
fn the_old_list_did_not_know_the_ipv6_media_range() {
    let old = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/fixtures/o365-endpoints-worldwide.json"
    ))
    .unwrap();
    let catalog = Catalog::build(EndpointData::parse(&old).unwrap(), Profile::Current).unwrap();
    let flows = classify(&catalog);
    let find = |server: &str| flows.iter().find(|f| f.0 == server).unwrap().clone();
    // 52.122.0.0/15 lay inside the old 52.120.0.0/14; IPv6 media was not listed at all.
    assert_eq!(find("52.122.7.1:3478").1, FlowService::AvEdge);
    assert_eq!(find("[2603:1063:2:3::9]:3480").1, FlowService::Other);
}
