//! The reader and the link layers: pcap in both byte orders and both time
//! resolutions, pcapng with several sections (one big-endian) and interfaces, link
//! types Ethernet (with VLAN tags), Linux cooked v1/v2, raw IP; truncation and garbage.
//! The packets are a real MS-TURN Allocate from teams.pcap, re-wrapped.
#![allow(clippy::unwrap_used)]

use std::fs::File;
use std::io::Read;
use std::path::PathBuf;

use edgepath_capture::{packet, CaptureError, CaptureReader};
use edgepath_model::{snapshot, Catalog, FlowService, MediaRanges, Profile};

fn teams() -> Vec<u8> {
    let mut v = Vec::new();
    File::open(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/captures/teams.pcap"),
    )
    .unwrap()
    .read_to_end(&mut v)
    .unwrap();
    v
}

/// The IP packet of the first frame from 192.168.1.6:50016 to UDP 3478 in teams.pcap.
fn allocate_ip_packet() -> Vec<u8> {
    let data = teams();
    let mut r = CaptureReader::new(&data[..]).unwrap();
    while let Some(p) = r.next_packet().unwrap() {
        if let Ok(seg) = packet::decode(p.link, p.data) {
            if seg.sport == 50016 && seg.dport == 3478 {
                return p.data[14..].to_vec(); // Ethernet header off
            }
        }
    }
    panic!("no Allocate in teams.pcap");
}

fn pcap(big: bool, nanos: bool, link: u32, packets: &[(u32, u32, Vec<u8>)]) -> Vec<u8> {
    let w32 = |v: u32| {
        if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let w16 = |v: u16| {
        if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let mut out = Vec::new();
    out.extend_from_slice(&w32(if nanos { 0xA1B2_3C4D } else { 0xA1B2_C3D4 }));
    out.extend_from_slice(&w16(2));
    out.extend_from_slice(&w16(4));
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&w32(65535));
    out.extend_from_slice(&w32(link));
    for (s, frac, d) in packets {
        out.extend_from_slice(&w32(*s));
        out.extend_from_slice(&w32(*frac));
        out.extend_from_slice(&w32(d.len() as u32));
        out.extend_from_slice(&w32(d.len() as u32));
        out.extend_from_slice(d);
    }
    out
}

fn ethernet(ip: &[u8], vlans: usize) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
    for i in 0..vlans {
        f.extend_from_slice(&[0x81, 0x00, 0x00, 10 + i as u8]);
    }
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend_from_slice(ip);
    f
}

fn analyze(bytes: &[u8]) -> Result<edgepath_capture::Report, CaptureError> {
    let catalog = Catalog::build(snapshot::endpoint_data(), Profile::Current).unwrap();
    edgepath_capture::analyze(bytes, &catalog, MediaRanges::default())
}

fn one_allocate_flow(bytes: &[u8], what: &str) {
    let r = analyze(bytes).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(r.stats.packets, 2, "{what}");
    assert_eq!(r.flows.len(), 1, "{what}: {:?}", r.flows);
    let f = &r.flows[0];
    assert_eq!(
        (f.client.as_str(), f.service, f.packets[0]),
        ("192.168.1.6:50016", FlowService::AvEdge, 2),
        "{what}"
    );
    assert!(r.warnings.is_empty(), "{what}: {:?}", r.warnings);
}

#[test]
fn pcap_byte_orders_resolutions_and_link_types() {
    let ip = allocate_ip_packet();
    let mut sll = vec![0, 4, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00];
    sll.extend_from_slice(&ip);
    let mut sll2 = vec![
        0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 4, 6, 2, 0, 0, 0, 0, 1, 0, 0,
    ];
    sll2.extend_from_slice(&ip);
    for (link, frame, name) in [
        (1u32, ethernet(&ip, 0), "ethernet"),
        (1, ethernet(&ip, 2), "ethernet, two VLAN tags"),
        (113, sll, "linux cooked v1"),
        (276, sll2, "linux cooked v2"),
        (101, ip.clone(), "raw IP"),
        (228, ip.clone(), "raw IPv4"),
    ] {
        for big in [false, true] {
            for nanos in [false, true] {
                let file = pcap(
                    big,
                    nanos,
                    link,
                    &[
                        (1_587_041_672, 5, frame.clone()),
                        (1_587_041_673, 6, frame.clone()),
                    ],
                );
                one_allocate_flow(&file, &format!("{name}, big-endian {big}, ns {nanos}"));
                let r = analyze(&file).unwrap();
                assert_eq!(r.flows[0].duration_s, 1.0, "{name}");
            }
        }
    }
}

fn block(big: bool, typ: u32, body: &[u8]) -> Vec<u8> {
    let w32 = |v: u32| {
        if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let mut body = body.to_vec();
    while body.len() % 4 != 0 {
        body.push(0);
    }
    let total = 12 + body.len() as u32;
    let mut out = Vec::new();
    out.extend_from_slice(&w32(typ));
    out.extend_from_slice(&w32(total));
    out.extend_from_slice(&body);
    out.extend_from_slice(&w32(total));
    out
}

fn section(big: bool, link: u16, tsresol: Option<u8>, frame: &[u8], ts: u64) -> Vec<u8> {
    let w32 = |v: u32| {
        if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let w16 = |v: u16| {
        if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let mut shb = Vec::new();
    shb.extend_from_slice(&w32(0x1A2B_3C4D));
    shb.extend_from_slice(&w16(1));
    shb.extend_from_slice(&w16(0));
    shb.extend_from_slice(&[0xFF; 8]);
    let mut out = block(big, 0x0A0D_0D0A, &shb);
    // Two interfaces: 0 is something else, 1 carries the packets.
    let mut idb0 = Vec::new();
    idb0.extend_from_slice(&w16(147));
    idb0.extend_from_slice(&[0, 0]);
    idb0.extend_from_slice(&w32(65535));
    out.extend(block(big, 1, &idb0));
    let mut idb = Vec::new();
    idb.extend_from_slice(&w16(link));
    idb.extend_from_slice(&[0, 0]);
    idb.extend_from_slice(&w32(65535));
    if let Some(r) = tsresol {
        idb.extend_from_slice(&w16(9));
        idb.extend_from_slice(&w16(1));
        idb.extend_from_slice(&[r, 0, 0, 0]);
        idb.extend_from_slice(&[0, 0, 0, 0]);
    }
    out.extend(block(big, 1, &idb));
    let mut epb = Vec::new();
    epb.extend_from_slice(&w32(1));
    epb.extend_from_slice(&w32((ts >> 32) as u32));
    epb.extend_from_slice(&w32(ts as u32));
    epb.extend_from_slice(&w32(frame.len() as u32));
    epb.extend_from_slice(&w32(frame.len() as u32));
    epb.extend_from_slice(frame);
    out.extend(block(big, 6, &epb));
    out
}

#[test]
fn pcapng_sections_byte_orders_interfaces_and_resolution() {
    let ip = allocate_ip_packet();
    let frame = ethernet(&ip, 1);
    // Section 1 little-endian, microseconds; section 2 big-endian, nanoseconds (tsresol 9).
    let t_us = 1_587_041_672_000_000u64;
    let mut file = section(false, 1, None, &frame, t_us);
    file.extend(section(true, 1, Some(9), &frame, (t_us + 500_000) * 1000));
    let r = analyze(&file).unwrap();
    assert_eq!(r.flows.len(), 1);
    assert_eq!(r.flows[0].packets[0], 2);
    assert_eq!(r.flows[0].duration_s, 0.5);
    assert_eq!(r.stats.start.as_deref(), Some("2020-04-16T12:54:32Z"));
}

#[test]
fn truncation_keeps_what_was_read_and_says_where() {
    let data = teams();
    let full = analyze(&data).unwrap();
    let cut = &data[..data.len() / 2 + 7];
    let r = analyze(cut).unwrap();
    assert!(r.stats.truncated);
    assert!(
        r.warnings[0].contains("cut short at byte"),
        "{:?}",
        r.warnings
    );
    assert!(r.stats.packets > 100 && r.stats.packets < full.stats.packets);
    // A damaged record length in the middle: the flows before it, and the offset.
    let mut bad = data.clone();
    let second_record =
        24 + 16 + u32::from_le_bytes([data[32], data[33], data[34], data[35]]) as usize;
    bad[second_record + 8..second_record + 12].copy_from_slice(&0x7FFF_FFFFu32.to_le_bytes());
    let r = analyze(&bad).unwrap();
    assert_eq!(r.stats.packets, 1);
    assert!(
        r.warnings[0].contains(&format!("malformed capture at byte {second_record}")),
        "{:?}",
        r.warnings
    );
}

#[test]
fn garbage_and_empty_input_are_errors() {
    assert!(matches!(analyze(b""), Err(CaptureError::Empty)));
    let e = analyze(b"GIF89a this is not a capture").unwrap_err();
    assert_eq!(
        e.to_string(),
        "not a pcap or pcapng file (first bytes 47 49 46 38)"
    );
    assert!(matches!(
        analyze(&[0xD4, 0xC3, 0xB2, 0xA1, 2, 0]),
        Err(CaptureError::Truncated { .. })
    ));
    // Every prefix of a real file reads without a panic.
    let data = teams();
    for n in (0..4096).chain((4096..data.len()).step_by(997)) {
        let _ = analyze(&data[..n]);
    }
    // Random bytes after a valid header: an error or a warning, never a panic or a hang.
    let mut x = 0x1234_5678u32;
    let mut junk = data[..24].to_vec();
    for _ in 0..65536 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        junk.push(x as u8);
    }
    let _ = analyze(&junk);
}
