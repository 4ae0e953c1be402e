use super::*;

fn fixture() -> String {
    let p = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/fixtures/provisioning-excerpt.txt"
    );
    std::fs::read_to_string(p).expect("shared fixture present beside the project")
}

#[test]
fn reads_the_real_pasted_excerpt() {
    let p = Provisioning::parse(&fixture()).unwrap();
    assert_eq!(p.port_range_enabled, Some(true));
    let r = p.ranges;
    assert_eq!(r.media.to_string(), "50000-50059");
    assert_eq!(r.audio.to_string(), "50000-50019");
    assert_eq!(r.video.to_string(), "50020-50039");
    assert_eq!(r.app_sharing.to_string(), "50040-50059");
    assert_eq!(r.file_transfer.to_string(), "50040-50059");
    assert_eq!(r.sip_dynamic.unwrap().to_string(), "7100-7102");
    let qos: Vec<(String, u8)> = p
        .qos
        .iter()
        .map(|q| (q.ports.to_string(), q.dscp.value()))
        .collect();
    assert_eq!(
        qos,
        [
            ("50000-50019".to_string(), 46),
            ("50020-50039".to_string(), 34),
            ("50040-50059".to_string(), 18),
            ("50040-50059".to_string(), 18)
        ]
    );
    // Exactly the three things wrong with the paste, each with its line.
    assert_eq!(p.warnings.len(), 3, "{:#?}", p.warnings);
    assert!(p.warnings[0].starts_with("line 4: the body has"));
    assert!(p.warnings[0].contains("Content-Length says 54108"));
    assert!(p.warnings[1].starts_with("line 10: attribute `xmlns` of <provisionGroupList>"));
    assert!(p.warnings[1].contains("lacks its closing quote"));
    assert!(p.warnings[2].contains("ends inside <provisionGroupList> (line 10)"));
}

#[test]
fn bare_well_formed_xml_has_no_warnings() {
    let xml = r#"<?xml version="1.0" encoding="utf-8"?>
<provisionGroupList xmlns="http://schemas.microsoft.com/2006/09/sip/provisiongrouplist-notification">
  <provisionGroup name="ServerConfiguration">
    <ucPortRangeEnabled>true</ucPortRangeEnabled>
    <ucMinMediaPort>50000</ucMinMediaPort><ucMaxMediaPort>50059</ucMaxMediaPort>
    <ucMinAudioPort>50000</ucMinAudioPort><ucMaxAudioPort>50019</ucMaxAudioPort>
    <ucMinVideoPort>50020</ucMinVideoPort><ucMaxVideoPort>50039</ucMaxVideoPort>
    <ucMinAppSharingPort>50040</ucMinAppSharingPort><ucMaxAppSharingPort>50059</ucMaxAppSharingPort>
    <ucMinFileTransferPort>50040</ucMinFileTransferPort><ucMaxFileTransferPort>50059</ucMaxFileTransferPort>
  </provisionGroup>
</provisionGroupList>"#;
    let p = Provisioning::parse(xml).unwrap();
    assert!(p.warnings.is_empty(), "{:#?}", p.warnings);
    assert_eq!(p.ranges.sip_dynamic, None);
}

fn with(elements: &str) -> Result<Provisioning, ProvisioningError> {
    Provisioning::parse(&format!(
        "<provisionGroupList><provisionGroup name=\"ServerConfiguration\">\n<ucPortRangeEnabled>true</ucPortRangeEnabled>\n{elements}\n</provisionGroup></provisionGroupList>"
    ))
}

#[test]
fn validation_findings() {
    let p = with(
        "<ucMinMediaPort>50000</ucMinMediaPort><ucMaxMediaPort>50059</ucMaxMediaPort>
         <ucMinAudioPort>50000</ucMinAudioPort><ucMaxAudioPort>50025</ucMaxAudioPort>
         <ucMinVideoPort>50020</ucMinVideoPort><ucMaxVideoPort>50039</ucMaxVideoPort>
         <ucMinAppSharingPort>50040</ucMinAppSharingPort><ucMaxAppSharingPort>50049</ucMaxAppSharingPort>
         <ucMinFileTransferPort>60000</ucMinFileTransferPort><ucMaxFileTransferPort>60019</ucMaxFileTransferPort>",
    )
    .unwrap();
    let w = p.warnings.join("\n");
    assert!(
        w.contains("the audio range 50000-50025 overlaps the video range 50020-50039"),
        "{w}"
    );
    assert!(
        w.contains("the app_sharing range 50040-50049 has 10 ports"),
        "{w}"
    );
    assert!(
        w.contains("the file_transfer range 60000-60019 is not inside the media range"),
        "{w}"
    );
    assert_eq!(p.warnings.len(), 3, "{w}");
}

#[test]
fn low_ports_and_missing_ranges() {
    let p = with("<ucMinAudioPort>80</ucMinAudioPort><ucMaxAudioPort>99</ucMaxAudioPort>").unwrap();
    let w = p.warnings.join("\n");
    assert!(w.contains("below 1024"), "{w}");
    assert!(
        w.contains("assumed Microsoft's default media range 50000-50059"),
        "{w}"
    );
    assert!(w.contains("not inside the media range"), "{w}");
}

#[test]
fn errors_name_element_and_line() {
    let e = with("<ucMinAudioPort>fifty</ucMinAudioPort><ucMaxAudioPort>50019</ucMaxAudioPort>")
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "line 3: <ucMinAudioPort> is `fifty`, expected a port number from 1 to 65535"
    );
    let e = with("<ucMinAudioPort>50019</ucMinAudioPort>\n<ucMaxAudioPort>50000</ucMaxAudioPort>")
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "line 3: <ucMinAudioPort> 50019 is above <ucMaxAudioPort> 50000 (line 4)"
    );
    let e = with("<ucMinAudioPort>70000</ucMinAudioPort><ucMaxAudioPort>50019</ucMaxAudioPort>")
        .unwrap_err();
    assert!(e.to_string().contains("`70000`"));
    let e = Provisioning::parse(
        "<provisionGroupList><provisionGroup name=\"ServerConfiguration\"><ucPortRangeEnabled>maybe</ucPortRangeEnabled><ucMinAudioPort>1</ucMinAudioPort></provisionGroup></provisionGroupList>",
    )
    .unwrap_err();
    assert!(e.to_string().contains("expected true or false"));
}

#[test]
fn inputs_that_are_not_provisioning() {
    assert_eq!(Provisioning::parse(""), Err(ProvisioningError::Empty));
    assert_eq!(Provisioning::parse(" \n\t"), Err(ProvisioningError::Empty));
    assert_eq!(
        Provisioning::parse("hello world"),
        Err(ProvisioningError::NoXml(String::new()))
    );
    assert_eq!(
        Provisioning::parse("SIP/2.0 200 OK\nCSeq: 1 SUBSCRIBE\n\n"),
        Err(ProvisioningError::NoXml(" after the SIP headers".into()))
    );
    assert_eq!(
        Provisioning::parse("<html><body>no</body></html>"),
        Err(ProvisioningError::NoPortElements)
    );
    assert_eq!(
        Provisioning::parse("{\"ucMinAudioPort\": 1}"),
        Err(ProvisioningError::NoXml(String::new()))
    );
}

#[test]
fn truncated_value_is_not_used() {
    let p = Provisioning::parse(
        "<provisionGroupList><provisionGroup name=\"ServerConfiguration\">\n<ucMinAudioPort>50000</ucMinAudioPort>\n<ucMaxAudioPort>500",
    )
    .unwrap();
    let w = p.warnings.join("\n");
    assert!(
        w.contains(
            "<ucMaxAudioPort> is cut off by the end of the input; its value `500` was not used"
        ),
        "{w}"
    );
    assert!(
        w.contains("<ucMinAudioPort> without <ucMaxAudioPort>"),
        "{w}"
    );
    assert_eq!(p.ranges.audio, Modality::Audio.default_range());
}

#[test]
fn other_groups_do_not_override_server_configuration() {
    let p = Provisioning::parse(
        "<provisionGroupList>
<provisionGroup name=\"ServerConfiguration\"><ucMinAudioPort>50000</ucMinAudioPort><ucMaxAudioPort>50019</ucMaxAudioPort></provisionGroup>
<provisionGroup name=\"Other\"><ucMinAudioPort>1</ucMinAudioPort><ucMaxAudioPort>2</ucMaxAudioPort></provisionGroup>
</provisionGroupList>",
    )
    .unwrap();
    assert_eq!(p.ranges.audio.to_string(), "50000-50019");
    assert!(p
        .warnings
        .iter()
        .any(|w| w.contains("outside the ServerConfiguration group ignored")));
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn never_panics_on_any_text(s in "(?s).{0,300}") {
            let _ = Provisioning::parse(&s);
        }

        #[test]
        fn never_panics_on_mangled_fixture(cut in 0usize..1200, junk in "[<>\"'/=&;a-z ]{0,8}") {
            let f = fixture();
            let mut cut = cut.min(f.len());
            while !f.is_char_boundary(cut) { cut -= 1; }
            let mangled = format!("{}{}{}", &f[..cut], junk, &f[cut..]);
            let _ = Provisioning::parse(&mangled);
            let _ = Provisioning::parse(&f[..cut]);
        }
    }
}
