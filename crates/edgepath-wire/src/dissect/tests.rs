use super::*;
use crate::parse_hex;

fn d(h: &str) -> Result<Layer, DissectError> {
    dissect(&parse_hex(h).unwrap(), None)
}

#[test]
fn tls_record_lengths_cannot_overflow() {
    // Three bytes: no length field at all (once `5 + usize::MAX`).
    let e = d("160301").unwrap_err().to_string();
    assert!(
        e.starts_with("byte 3: a TLS record header is 5 bytes"),
        "{e}"
    );
    let e = d("1603010005aa").unwrap_err().to_string();
    assert!(e.contains("runs past the end"), "{e}");
    let e = d("16030100").unwrap_err().to_string();
    assert!(e.contains("5 bytes, 4 given"), "{e}");
    assert!(d("17030100020000").is_ok());
}

#[test]
fn rfc5769_response_and_its_text() {
    let layer = dissect(
        &parse_hex("0101003c2112a442b7e7a701bc34d686fa87dfae8022000b7465737420766563746f7220002000080001a147e112a643000800142b91f599fd9e90c38c7489f92af9ba53f06be7d780280004c07d4c96").unwrap(),
        Some(&Credentials::ShortTerm { password: "VOkJxbRl1RmTxUk/WvJxBt" }),
    )
    .unwrap();
    let Layer::Stun(s) = &layer else {
        panic!("not STUN: {layer:?}")
    };
    assert_eq!((s.integrity, s.fingerprint), (Check::Ok, Check::Ok));
    assert_eq!(
        s.attributes[1].value,
        AttrFields::Address {
            address: "192.0.2.1:32853".into()
        }
    );
    let text = layer.to_string();
    assert!(
        text.starts_with(
            "stun binding success, transaction b7e7a701bc34d686fa87dfae, 60 bytes of attributes\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("  0x0020 XOR-MAPPED-ADDRESS             8  address=192.0.2.1:32853\n"),
        "{text}"
    );
    assert!(!layer.check_failed());
}

#[test]
fn framings_nest_and_unknown_bytes_are_data() {
    // ChannelData 0x4000 around 4 bytes that are no packet.
    let l = d("4000000401020304").unwrap();
    let Layer::ChannelData(c) = &l else {
        panic!("{l:?}")
    };
    assert!(matches!(&*c.inner, Layer::Data(x) if x.hex == "01020304"));
    assert!(l.to_string().contains("\n  data hex=01020304\n"));
    // RTP and RTCP.
    assert!(matches!(
        d("80000001000000020000000300").unwrap(),
        Layer::Rtp(_)
    ));
    let rr = d("81c9000700000001000000020000000000000000000000000000000000000000").unwrap();
    assert!(
        rr.to_string()
            .contains("receiver-report ssrc=1 report_blocks=1"),
        "{rr}"
    );
    // Nothing known.
    assert!(d("ff")
        .unwrap_err()
        .to_string()
        .starts_with("byte 0: first byte 0xFF"));
    assert!(dissect(&[], None).is_err());
}
