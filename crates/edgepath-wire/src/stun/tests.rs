use std::net::SocketAddr;

use super::*;
use crate::parse_hex;

fn hex(s: &str) -> Vec<u8> {
    parse_hex(s).unwrap()
}

// RFC 5769 section 2.1: Binding request, SOFTWARE, PRIORITY, ICE-CONTROLLED,
// USERNAME "evtj:h6vY", MESSAGE-INTEGRITY, FINGERPRINT. Short-term password
// "VOkJxbRl1RmTxUk/WvJxBt". The SOFTWARE value's padding is spaces, not zeros.
const RFC5769_REQUEST: &str = "000100582112a442b7e7a701bc34d686fa87dfae802200105354554e207465737420636c69656e74002400046e0001ff80290008932ff9b151263b36000600096576746a3a68367659202020000800149aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a280280004e57a3bcf";
// RFC 5769 section 2.2: Binding success, XOR-MAPPED-ADDRESS 192.0.2.1:32853.
const RFC5769_RESPONSE_V4: &str = "0101003c2112a442b7e7a701bc34d686fa87dfae8022000b7465737420766563746f7220002000080001a147e112a643000800142b91f599fd9e90c38c7489f92af9ba53f06be7d780280004c07d4c96";
// RFC 5769 section 2.3: Binding success, XOR-MAPPED-ADDRESS
// [2001:db8:1234:5678:11:2233:4455:6677]:32853.
const RFC5769_RESPONSE_V6: &str = "010100482112a442b7e7a701bc34d686fa87dfae8022000b7465737420766563746f7220002000140002a1470113a9faa5d3f179bc25f4b5bed2b9d900080014a382954e4be67bf11784c97c8292c275bfe3ed4180280004c8fb0b4c";
// RFC 5769 section 2.4: long-term credentials, USERNAME "マトリックス",
// NONCE, REALM "example.org", password "TheMatrIX".
const RFC5769_LONG_TERM: &str = "000100602112a44278ad3433c6ad72c029da412e00060012e3839ee38388e383aae38383e382afe382b900000015001c662f2f3439396b39353464364f4c33346f4c394653547679363473410014000b6578616d706c652e6f726700000800 14f67024656dd64a3e02b8e0712e85c9a28ca89666";

const PASSWORD: &str = "VOkJxbRl1RmTxUk/WvJxBt";

#[test]
fn rfc5769_request() {
    let b = hex(RFC5769_REQUEST);
    let m = Message::parse(&b).unwrap();
    assert_eq!(m.variant(), Variant::Stun);
    assert_eq!((m.method(), m.class()), (method::BINDING, Class::Request));
    assert_eq!(m.transaction_id(), &hex("b7e7a701bc34d686fa87dfae")[..]);
    let attrs: Vec<_> = m.decoded().collect();
    assert_eq!(attrs.len(), 6);
    assert_eq!(attrs[0].value, AttrValue::Text("STUN test client"));
    assert_eq!(attrs[1].value, AttrValue::U32(0x6e0001ff));
    assert_eq!(attrs[2].name, Some("ICE-CONTROLLED"));
    assert_eq!(attrs[2].value, AttrValue::U64(0x932ff9b151263b36));
    assert_eq!(attrs[3].value, AttrValue::Text("evtj:h6vY"));
    let creds = Credentials::ShortTerm { password: PASSWORD };
    assert_eq!(m.check_integrity(Some(&creds)), Check::Ok);
    assert_eq!(m.check_integrity(None), Check::Unchecked);
    assert_eq!(m.check_fingerprint(), Check::Ok);
    let wrong = Credentials::ShortTerm { password: "wrong" };
    assert_eq!(m.check_integrity(Some(&wrong)), Check::Bad);
}

#[test]
fn rfc5769_responses() {
    let creds = Credentials::ShortTerm { password: PASSWORD };
    for (vector, expect) in [
        (RFC5769_RESPONSE_V4, "192.0.2.1:32853"),
        (
            RFC5769_RESPONSE_V6,
            "[2001:db8:1234:5678:11:2233:4455:6677]:32853",
        ),
    ] {
        let b = hex(vector);
        let m = Message::parse(&b).unwrap();
        assert_eq!(m.class(), Class::Success);
        let xma = m
            .decoded()
            .find(|a| a.raw.typ == attr_type::XOR_MAPPED_ADDRESS)
            .unwrap();
        assert_eq!(xma.value, AttrValue::Address(expect.parse().unwrap()));
        assert_eq!(m.check_integrity(Some(&creds)), Check::Ok);
        assert_eq!(m.check_fingerprint(), Check::Ok);
    }
}

#[test]
fn rfc5769_long_term() {
    let b = hex(RFC5769_LONG_TERM);
    let m = Message::parse(&b).unwrap();
    let attrs: Vec<_> = m.decoded().collect();
    assert_eq!(attrs[0].value, AttrValue::Text("マトリックス"));
    assert_eq!(attrs[1].name, Some("NONCE"));
    assert_eq!(
        attrs[1].value,
        AttrValue::Text("f//499k954d6OL34oL9FSTvy64sA")
    );
    assert_eq!(attrs[2].name, Some("REALM"));
    assert_eq!(attrs[2].value, AttrValue::Text("example.org"));
    let creds = Credentials::LongTerm {
        username: "マトリックス",
        realm: "example.org",
        password: "TheMatrIX",
    };
    assert_eq!(m.check_integrity(Some(&creds)), Check::Ok);
    assert_eq!(m.check_fingerprint(), Check::Absent);
}

// RFC 8489 Appendix B.1 as corrected by the verified Errata 6268: USERHASH,
// NONCE, REALM, PASSWORD-ALGORITHM SHA-256, MESSAGE-INTEGRITY-SHA256.
const RFC8489_SHA256: &str = "000100902112a44278ad3433c6ad72c029da412e001e00204a3cf38fef6992bda952c6780417da0f24819415569e60b205c46e41407f1704001500296f624d61744a6f733241414143662f2f3439396b39353464364f4c33346f4c394653547679363473410000000014000b6578616d706c652e6f726700001d000400020000001c0020b5c7bf005b6c52a21c51c5e892f81924136296cb927c43149309278cc6518e65";

#[test]
fn rfc8489_sha256_sample() {
    let b = hex(RFC8489_SHA256);
    let m = Message::parse(&b).unwrap();
    let a: Vec<_> = m.decoded().collect();
    let names: Vec<_> = a.iter().map(|x| x.name.unwrap()).collect();
    assert_eq!(
        names,
        [
            "USERHASH",
            "NONCE",
            "REALM",
            "PASSWORD-ALGORITHM",
            "MESSAGE-INTEGRITY-SHA256"
        ]
    );
    assert_eq!(
        a[1].value,
        AttrValue::Text("obMatJos2AAACf//499k954d6OL34oL9FSTvy64sA")
    );
    let creds = Credentials::LongTerm {
        username: "マトリックス",
        realm: "example.org",
        password: "TheMatrIX",
    };
    assert_eq!(m.check_integrity(Some(&creds)), Check::Ok);
    let wrong = Credentials::LongTerm {
        username: "マトリックス",
        realm: "example.org",
        password: "TheMatrix",
    };
    assert_eq!(m.check_integrity(Some(&wrong)), Check::Bad);
    // USERHASH is SHA-256(username ":" realm).
    use sha2::{Digest, Sha256};
    let userhash: [u8; 32] = Sha256::digest("マトリックス:example.org".as_bytes()).into();
    assert_eq!(a[0].raw.value, &userhash[..]);
}

#[test]
fn a_flipped_bit_fails_both_checks() {
    let mut b = hex(RFC5769_REQUEST);
    b[30] ^= 0x01;
    let m = Message::parse(&b).unwrap();
    let creds = Credentials::ShortTerm { password: PASSWORD };
    assert_eq!(m.check_integrity(Some(&creds)), Check::Bad);
    assert_eq!(m.check_fingerprint(), Check::Bad);
}

// Real Microsoft bytes from ../shared/captures/teams.pcap (nDPI's test suite).
/// Frame 1238: a Teams client's first Allocate, 192.168.1.6:50016 -> 52.114.250.123:3478.
const TEAMS_ALLOCATE: &str = "000300302112a442b2343f6e67f41d58acba639f000f000472c64bc68037000400000002800800040000000680060004000000010010000400002ee08055000400020002";
/// Frame 1245: the relay's 401 with realm "rtcmedia"; ERROR-CODE unpadded.
const TEAMS_401: &str = "011300a72112a442b2343f6e67f41d58acba639f000f000472c64bc680080004000000060009003d00000401546865207265717565737420646964206e6f7420636f6e7461696e2061204d6573736167652d496e7465677269747920617474726962757465000e000800010d963472fa8d00140014024ecbf8827a60d65306debfa77d87d14402dd5d0015000a227274636d65646961220001000800010d983472fa8d809500087f20c4dd4f848dfa802000080001c1d571a76a0a";
/// Frame 1275: Allocate success, message length 133, SOFTWARE (9 bytes) unpadded.
const TEAMS_ALLOCATE_OK: &str = "010300852112a442222fefc7f3924bd1b99727e4000f000472c64bc6000d00040000003c0001000800010d983472fa8d8008000400000006802000080001c1d571a76a0a805000189b713c623ac1bfbbf6d5237583afa6d318e146b40000000080220009322e302e312e3231310010000400002ee000080020affdc3c55c1f6d01a7ea3daf5997ead07e311ca91093584d7d833bfb5eb507a9";
/// Frame 1404: an ICE connectivity check to a host candidate 192.168.0.4:50005.
const TEAMS_ICE_CHECK: &str = "0001005c2112a442c6429a8034aea2ac958d0a81000600096f352f493a46593332000000802a000800007f8a5286580080700004000000078036000400000001002400046efffeff80370004000000020008001435a47bc3a5e01cb9ad459c69056295906bb086ad80280004fb75b895";

#[test]
fn teams_allocate_request() {
    let b = hex(TEAMS_ALLOCATE);
    let m = Message::parse(&b).unwrap();
    assert_eq!(m.variant(), Variant::MsTurn);
    assert_eq!(m.method_name(), Some("allocate"));
    assert_eq!(m.class(), Class::Request);
    let a: Vec<_> = m.decoded().collect();
    assert_eq!(a[0].value, AttrValue::MsCookie(MS_MAGIC_COOKIE));
    assert_eq!(
        (a[1].name, &a[1].value),
        (Some("MS-APP-ID"), &AttrValue::U32(2))
    );
    assert_eq!(
        (a[2].name, &a[2].value),
        (Some("MS-VERSION"), &AttrValue::U32(6))
    );
    // 0x8006 is not in Microsoft's published lists: kept as bytes, unnamed.
    assert_eq!((a[3].raw.typ, a[3].name), (0x8006, None));
    assert_eq!(
        (a[4].name, &a[4].value),
        (Some("BANDWIDTH"), &AttrValue::U32(12000))
    );
    assert_eq!(
        a[5].value,
        AttrValue::MsServiceQuality {
            stream_type: 2,
            quality: 2
        }
    );
    assert!(m.attribute(attr_type::USERNAME).is_none());
    assert_eq!(m.check_integrity(None), Check::Absent);
}

#[test]
fn teams_401_with_unpadded_error_code() {
    let b = hex(TEAMS_401);
    let m = Message::parse(&b).unwrap();
    assert_eq!((m.variant(), m.padded()), (Variant::MsTurn, false));
    assert_eq!(m.class(), Class::Error);
    let a: Vec<_> = m.decoded().collect();
    let names: Vec<_> = a.iter().map(|x| x.name.unwrap_or("?")).collect();
    assert_eq!(
        names,
        [
            "MAGIC-COOKIE",
            "MS-VERSION",
            "ERROR-CODE",
            "ALTERNATE-SERVER",
            "NONCE",
            "REALM",
            "MAPPED-ADDRESS",
            "MULTIPLEXED-TURN-SESSION-ID",
            "XOR-MAPPED-ADDRESS"
        ]
    );
    assert_eq!(
        a[2].value,
        AttrValue::Error {
            code: 401,
            reason: "The request did not contain a Message-Integrity attribute"
        }
    );
    assert_eq!(
        a[3].value,
        AttrValue::Address("52.114.250.141:3478".parse().unwrap())
    );
    assert_eq!(a[5].value, AttrValue::Text("\"rtcmedia\""));
    assert_eq!(
        a[8].value,
        AttrValue::Address("80.181.206.72:57543".parse().unwrap())
    );
}

#[test]
fn teams_allocate_success_unpadded_length_133() {
    let b = hex(TEAMS_ALLOCATE_OK);
    assert_eq!(b.len(), 20 + 133);
    let m = Message::parse(&b).unwrap();
    assert_eq!(
        (m.variant(), m.padded(), m.class()),
        (Variant::MsTurn, false, Class::Success)
    );
    let a: Vec<_> = m.decoded().collect();
    let get = |name: &str| {
        a.iter()
            .find(|x| x.name == Some(name))
            .map(|x| x.value.clone())
    };
    assert_eq!(get("LIFETIME"), Some(AttrValue::U32(60)));
    // MS-TURN names the relayed address MAPPED-ADDRESS.
    let relayed: SocketAddr = "52.114.250.141:3480".parse().unwrap();
    assert_eq!(get("MAPPED-ADDRESS"), Some(AttrValue::Address(relayed)));
    let reflexive: SocketAddr = "80.181.206.72:57543".parse().unwrap();
    assert_eq!(
        get("XOR-MAPPED-ADDRESS"),
        Some(AttrValue::Address(reflexive))
    );
    assert_eq!(get("SOFTWARE"), Some(AttrValue::Text("2.0.1.211")));
    assert_eq!(get("BANDWIDTH"), Some(AttrValue::U32(12000)));
    assert!(matches!(
        get("MS-SEQUENCE-NUMBER"),
        Some(AttrValue::MsSequence { sequence: 0, .. })
    ));
    // A 32-byte MESSAGE-INTEGRITY: HMAC-SHA256 (MS-VERSION >= 3).
    assert!(matches!(get("MESSAGE-INTEGRITY"), Some(AttrValue::Integrity(v)) if v.len() == 32));
    assert_eq!(m.check_integrity(None), Check::Unchecked);
}

#[test]
fn teams_ice_check() {
    let b = hex(TEAMS_ICE_CHECK);
    let m = Message::parse(&b).unwrap();
    assert_eq!(
        (m.variant(), m.padded(), m.class()),
        (Variant::Stun, true, Class::Request)
    );
    let a: Vec<_> = m.decoded().collect();
    assert_eq!(a[0].value, AttrValue::Text("o5/I:FY32"));
    assert_eq!(a[1].name, Some("ICE-CONTROLLING"));
    assert_eq!(
        (a[2].name, &a[2].value),
        (Some("IMPLEMENTATION-VERSION"), &AttrValue::U32(7))
    );
    assert_eq!(
        (a[4].name, &a[4].value),
        (Some("PRIORITY"), &AttrValue::U32(0x6efffeff))
    );
    assert_eq!(m.check_fingerprint(), Check::Ok);
}

#[test]
fn builder_round_trip_with_integrity_and_fingerprint() {
    let txid = [7u8; 12];
    let mut b = MessageBuilder::new(method::ALLOCATE, Class::Success, txid);
    let v6: SocketAddr = "[2001:db8::1]:50000".parse().unwrap();
    b.add_address(attr_type::XOR_RELAYED_ADDRESS, v6, true)
        .add_address(
            attr_type::XOR_MAPPED_ADDRESS,
            "198.51.100.7:40000".parse().unwrap(),
            true,
        )
        .add_u32(attr_type::LIFETIME, 600)
        .add(attr_type::SOFTWARE, b"edgepath")
        .add_error(438, "Stale Nonce");
    let key = long_term_key("user", "lab", "secret");
    b.add_integrity(&key)
        .add_integrity_sha256(&key)
        .add_fingerprint();
    let bytes = b.build();
    let m = Message::parse(&bytes).unwrap();
    assert_eq!(m.method_name(), Some("allocate"));
    let a: Vec<_> = m.decoded().collect();
    assert_eq!(a[0].value, AttrValue::Address(v6));
    assert_eq!(
        a[4].value,
        AttrValue::Error {
            code: 438,
            reason: "Stale Nonce"
        }
    );
    let creds = Credentials::LongTerm {
        username: "user",
        realm: "lab",
        password: "secret",
    };
    assert_eq!(m.check_integrity(Some(&creds)), Check::Ok);
    assert_eq!(m.check_fingerprint(), Check::Ok);
}

#[test]
fn rfc5780_and_8489_list_attributes() {
    let mut b = MessageBuilder::new(method::BINDING, Class::Error, [1; 12]);
    b.add(0x0027, &[0xC3, 0x50, 0, 0]) // RESPONSE-PORT 50000
        .add(0x8002, &[0, 1, 0, 0, 0, 2, 0, 3, 9, 9, 9, 0]) // MD5; SHA-256 with 3 parameter bytes
        .add(0x001D, &[0, 2, 0, 0, 0, 1, 0, 0]); // two in a single PASSWORD-ALGORITHM
    let bytes = b.build();
    let m = Message::parse(&bytes).unwrap();
    let a: Vec<_> = m.decoded().collect();
    assert_eq!(a[0].value, AttrValue::Port(50000));
    assert_eq!(
        a[1].value,
        AttrValue::PasswordAlgorithms(vec![(1, &[][..]), (2, &[9, 9, 9][..])])
    );
    assert!(matches!(a[2].value, AttrValue::Malformed(_)));
}

#[test]
fn type_encoding_round_trips() {
    for t in 0u16..0x4000 {
        let (m, c) = split_type(t);
        assert_eq!(join_type(m, c), t);
    }
}

#[test]
fn bad_input_names_the_offset() {
    let e = Message::parse(&[0; 10]).unwrap_err();
    assert_eq!(e.offset, 0);
    assert!(e.reason.contains("too short"));
    let mut b = hex(RFC5769_REQUEST);
    b[0] = 0x80;
    assert!(Message::parse(&b)
        .unwrap_err()
        .reason
        .contains("two zero bits"));
    let mut b = hex(RFC5769_REQUEST);
    b[3] = 0x5c; // longer than the bytes
    assert_eq!(Message::parse(&b).unwrap_err().offset, 2);
    let mut b = hex(RFC5769_REQUEST);
    b[22] = 0x01; // SOFTWARE claims 272 bytes of the 88 left
    let e = Message::parse(&b).unwrap_err();
    assert_eq!(e.offset, 22);
    assert!(
        e.reason.contains("claims 272 bytes but only 84 remain"),
        "{e}"
    );
    let mut b = hex(RFC5769_REQUEST);
    b[3] = 0x57; // not a multiple of 4
    b.pop();
    assert!(Message::parse(&b)
        .unwrap_err()
        .reason
        .contains("multiple of 4"));
}

#[test]
fn classic_stun_is_recognised() {
    // An RFC 3489 Binding request: no cookie, 16-byte transaction id,
    // CHANGE-REQUEST (change IP and port).
    let mut b = vec![0x00, 0x01, 0x00, 0x08];
    b.extend_from_slice(&[0x11; 16]);
    b.extend_from_slice(&[0x00, 0x03, 0x00, 0x04, 0, 0, 0, 0x06]);
    let m = Message::parse(&b).unwrap();
    assert_eq!(m.variant(), Variant::Classic);
    assert_eq!(m.transaction_id().len(), 16);
    assert_eq!(
        m.decoded().next().unwrap().value,
        AttrValue::ChangeRequest {
            ip: true,
            port: true
        }
    );
    // Without a cookie, a TURN method is not classic STUN.
    b[1] = 0x03;
    assert!(Message::parse(&b).is_err());
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(m) = Message::parse(&bytes) {
                for a in m.decoded() { let _ = a; }
                let _ = m.check_fingerprint();
                let _ = m.check_integrity(Some(&Credentials::ShortTerm { password: "x" }));
                let _ = m.unknown_required();
            }
        }

        #[test]
        fn mutated_real_messages_never_panic(idx in 0usize..4, pos in 0usize..260, byte in any::<u8>()) {
            let v = [TEAMS_401, TEAMS_ALLOCATE_OK, RFC5769_REQUEST, RFC5769_LONG_TERM][idx];
            let mut b = hex(v);
            let p = pos % b.len();
            b[p] = byte;
            if let Ok(m) = Message::parse(&b) {
                for a in m.decoded() { let _ = a; }
            }
        }
    }
}

#[test]
fn accessors_read_each_dialect() {
    // MS-TURN 401: REALM is 0x0015, NONCE 0x0014; the reflexive address is 0x8020;
    // MAPPED-ADDRESS here is not the relayed address (this is no success).
    let b = hex(TEAMS_401);
    let m = Message::parse(&b).unwrap();
    assert_eq!(m.error_code().map(|(c, _)| c), Some(401));
    assert_eq!(m.realm(), Some(&b"\"rtcmedia\""[..]));
    assert_eq!(m.nonce().map(<[u8]>::len), Some(20));
    assert_eq!(
        m.reflexive_address(),
        Some("80.181.206.72:57543".parse().unwrap())
    );
    assert_eq!(m.relayed_address(), None);
    assert_eq!(
        m.alternate_server(),
        Some("52.114.250.141:3478".parse().unwrap())
    );
    // MS-TURN Allocate success: MAPPED-ADDRESS is the relayed address.
    let b = hex(TEAMS_ALLOCATE_OK);
    let m = Message::parse(&b).unwrap();
    assert_eq!(
        m.relayed_address(),
        Some("52.114.250.141:3480".parse().unwrap())
    );
    assert_eq!(
        m.reflexive_address(),
        Some("80.181.206.72:57543".parse().unwrap())
    );
    assert_eq!(m.lifetime(), Some(60));
    assert_eq!(m.error_code(), None);
    // RFC 5769: XOR-MAPPED-ADDRESS in RFC numbering.
    let b = hex(RFC5769_RESPONSE_V4);
    let m = Message::parse(&b).unwrap();
    assert_eq!(
        m.reflexive_address(),
        Some("192.0.2.1:32853".parse().unwrap())
    );
    assert_eq!((m.realm(), m.nonce(), m.lifetime()), (None, None, None));
    // RFC numbering of REALM and NONCE.
    let mut bld = MessageBuilder::new(method::ALLOCATE, Class::Error, [7; 12]);
    bld.add(attr_type::REALM, b"lab")
        .add(attr_type::NONCE, b"n1");
    let bytes = bld.build();
    let m = Message::parse(&bytes).unwrap();
    assert_eq!(
        (m.realm(), m.nonce()),
        (Some(&b"lab"[..]), Some(&b"n1"[..]))
    );
}
