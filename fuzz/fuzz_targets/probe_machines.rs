//! The probe's own machines (the round-trip stream, the relay probe) on a simulated
//! clock under arbitrary answers and jumps in time: requests only to the relay, never
//! more or faster than asked, an end in bounded time, only our own answers believed.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    edgepath_probe::fuzzing::round_trips(data);
    edgepath_probe::fuzzing::first_answer(data);
});
