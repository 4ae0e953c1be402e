//! The framing of TURN inside the relay's TCP 443 connections (TLS with MS-TURN frames or
//! RFC framing, pseudo-TLS, plain): arbitrary bytes in arbitrary pieces cut without a
//! panic and within bounds; well-formed messages cut back exactly.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    edgepath_probe::fuzzing::tls_framing(data);
});
