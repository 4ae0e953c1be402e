//! The dissection `edgepath decode` prints, on arbitrary bytes: no panic, no hang; its
//! text and JSON forms render; a check failure is only ever reported for STUN inside.
#![no_main]

use edgepath_wire::dissect::{dissect, Layer};
use edgepath_wire::stun::Credentials;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let creds = Credentials::ShortTerm { password: "p" };
    for c in [None, Some(&creds)] {
        match dissect(data, c) {
            Ok(layer) => {
                let text = layer.to_string();
                assert!(!text.is_empty());
                let json = serde_json::to_string(&layer).expect("a dissection serialises");
                assert!(json.starts_with('{') && json.contains("\"protocol\""));
                if layer.check_failed() {
                    assert!(!matches!(layer, Layer::Rtp(_) | Layer::Rtcp(_) | Layer::Tls(_)));
                }
            }
            Err(e) => assert!(e.to_string().starts_with("byte ") || !e.to_string().is_empty()),
        }
    }
});
