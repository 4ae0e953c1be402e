//! The capture lens on arbitrary files: the reader (pcap and pcapng headers, records,
//! blocks), link/IP/TCP/UDP decoding and every dissector behind it (TLS, DNS, STUN,
//! RTP, CONNECT): no panic, no hang, and an error or a report for every input.
#![no_main]

use std::sync::OnceLock;

use edgepath_model::{snapshot, Catalog, MediaRanges, Profile};
use libfuzzer_sys::fuzz_target;

static CATALOG: OnceLock<Catalog> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let catalog = CATALOG
        .get_or_init(|| Catalog::build(snapshot::endpoint_data(), Profile::Current).expect("snapshot builds"));
    let one = edgepath_capture::analyze(data, catalog, MediaRanges::default());
    if let Ok(r) = &one {
        assert!(r.stats.packets as usize <= data.len() / 16 + 1);
        assert_eq!(r.flows.len() as u64, r.stats.flows);
    }
    // Two threads sharing the flows report exactly what one does.
    let two = edgepath_capture::analyze_parallel(vec![data, data], catalog, MediaRanges::default());
    assert_eq!(format!("{one:?}"), format!("{two:?}"));
    // The dissectors alone, on the raw bytes as a payload.
    let _ = edgepath_capture::tls::client_hello(data);
    let _ = edgepath_capture::tls::server_hello(data, &mut Default::default());
    let _ = edgepath_capture::dns::answers(data);
    for link in [1u16, 113, 276, 101, 0] {
        let _ = edgepath_capture::packet::decode(link, data);
    }
});
