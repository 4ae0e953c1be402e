//! `edgepath decode` on RFC 5769 vectors and real Teams bytes.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Output};

use serde_json::Value;

fn decode(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_edgepath"))
        .arg("decode")
        .args(args)
        .env_remove("EDGEPATH_STUN_PASSWORD")
        .output()
        .unwrap()
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap()
}

const RFC5769_RESPONSE_V4: &str = "0101003c2112a442b7e7a701bc34d686fa87dfae8022000b7465737420766563746f7220002000080001a147e112a643000800142b91f599fd9e90c38c7489f92af9ba53f06be7d780280004c07d4c96";
/// teams.pcap frame 1275: the unpadded Allocate success (length 133).
const TEAMS_ALLOCATE_OK: &str = "010300852112a442222fefc7f3924bd1b99727e4000f000472c64bc6000d00040000003c0001000800010d983472fa8d8008000400000006802000080001c1d571a76a0a805000189b713c623ac1bfbbf6d5237583afa6d318e146b40000000080220009322e302e312e3231310010000400002ee000080020affdc3c55c1f6d01a7ea3daf5997ead07e311ca91093584d7d833bfb5eb507a9";

#[test]
fn rfc_vector_verifies_and_reports_the_schema() {
    let o = decode(&[
        "--json",
        "--password",
        "VOkJxbRl1RmTxUk/WvJxBt",
        RFC5769_RESPONSE_V4,
    ]);
    assert_eq!(o.status.code(), Some(0));
    let v = json(&o);
    assert_eq!(v["protocol"], "stun");
    assert_eq!(v["method"], "binding");
    assert_eq!(v["class"], "success");
    assert_eq!(v["transaction_id"], "b7e7a701bc34d686fa87dfae");
    assert_eq!(v["integrity"], "ok");
    assert_eq!(v["fingerprint"], "ok");
    let xma = &v["attributes"][1];
    assert_eq!(xma["type"], 32);
    assert_eq!(xma["name"], "XOR-MAPPED-ADDRESS");
    assert_eq!(xma["length"], 8);
    assert_eq!(xma["address"], "192.0.2.1:32853");
}

#[test]
fn wrong_password_or_corruption_exits_1() {
    let o = decode(&["--password", "wrong", RFC5769_RESPONSE_V4]);
    assert_eq!(o.status.code(), Some(1));
    let mut corrupt = RFC5769_RESPONSE_V4.to_string();
    corrupt.replace_range(50..52, "ff");
    let o = decode(&["--json", &corrupt]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(json(&o)["fingerprint"], "bad");
}

#[test]
fn real_ms_turn_allocate_success() {
    // Wireshark's "Copy as Hex Stream" with colons and spaces mixed in.
    let spaced: String = TEAMS_ALLOCATE_OK
        .as_bytes()
        .chunks(2)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(":");
    let o = decode(&["--json", &spaced]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v = json(&o);
    assert_eq!(
        (
            v["protocol"].as_str(),
            v["method"].as_str(),
            v["class"].as_str()
        ),
        (Some("ms-turn"), Some("allocate"), Some("success"))
    );
    assert_eq!(v["length"], 133);
    assert_eq!(v["padded"], false);
    let find = |n: &str| {
        v["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == n)
            .unwrap()
            .clone()
    };
    assert_eq!(find("XOR-MAPPED-ADDRESS")["address"], "80.181.206.72:57543");
    assert_eq!(find("MAPPED-ADDRESS")["address"], "52.114.250.141:3480");
    assert_eq!(find("SOFTWARE")["value"], "2.0.1.211");
    assert_eq!(find("MAPPED-ADDRESS")["type"], 1);
    assert_eq!(v["integrity"], "unchecked");
}

#[test]
fn framings_and_file_input() {
    let o = decode(&["--json", "ff100060deaa296708f708fc010100442112a44281275a7e28b364d88f3d14f980700004000000070020000800012c851560584a8037000400000002803600040000000100080014998b53fec81f7d913f18f8cc4c645293987537ed802800043ea7ac36"]);
    let v = json(&o);
    assert_eq!(v["protocol"], "ms-multiplexed");
    assert_eq!(v["inner"]["protocol"], "stun");
    assert_eq!(v["inner"]["fingerprint"], "ok");
    let v = json(&decode(&["--json", "4000000568656c6c6f000000"]));
    assert_eq!(
        (v["protocol"].as_str(), v["channel"].as_u64()),
        (Some("channel-data"), Some(0x4000))
    );
    let v = json(&decode(&["--json", "80e0123400000a0000000001aabbccdd"]));
    assert_eq!(
        (
            v["protocol"].as_str(),
            v["sequence"].as_u64(),
            v["payload_type"].as_u64()
        ),
        (Some("rtp"), Some(0x1234), Some(96))
    );
    let dir = std::env::temp_dir().join(format!("edgepath-decode-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("pkt.bin");
    std::fs::write(&f, edgepath_hex(RFC5769_RESPONSE_V4)).unwrap();
    let v = json(&decode(&["--json", "--file", f.to_str().unwrap()]));
    assert_eq!(v["method"], "binding");
    std::fs::remove_dir_all(&dir).unwrap();
}

fn edgepath_hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn bad_input_exits_2_with_the_offset() {
    for (input, expect) in [
        ("zz", "`z` is not a hex digit"),
        ("abc", "odd number of hex digits"),
        (
            "0001000c2112a442b7e7a701bc34d686fa87dfae",
            "message length 12 runs past the end",
        ),
        ("28ff", "looks like DTLS"),
        ("1703030010", "runs past the end"),
        ("c0ffee", "starts no packet edgepath knows"),
    ] {
        let o = decode(&[input]);
        assert_eq!(o.status.code(), Some(2), "{input}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(expect), "{input}: {err}");
        assert!(err.contains("byte "), "{input}: the offset is named: {err}");
    }
    let o = decode(&["--file", "/nonexistent"]);
    assert_eq!(o.status.code(), Some(2));
    let o = decode(&[]);
    assert_eq!(o.status.code(), Some(2), "HEX or --file is required");
    let o = decode(&["--username", "u", "00"]);
    assert_eq!(o.status.code(), Some(2), "--username needs --realm");
}

#[test]
fn a_short_tls_record_header_is_an_error_not_an_overflow() {
    // Three bytes of a TLS record: once `5 + declared` overflowed (a panic in debug
    // builds, which these tests are).
    for input in ["160301", "16030100"] {
        let o = decode(&[input]);
        assert_eq!(o.status.code(), Some(2), "{input}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("a TLS record header is 5 bytes"),
            "{input}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}
