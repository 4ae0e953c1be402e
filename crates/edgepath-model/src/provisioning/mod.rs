//! Provisioning: the port ranges a client is told at sign-in (DOMAIN.md
//! section 2), read from a pasted SIP message or bare `provisionGroupList`
//! XML, repaired where it is broken, and validated.

mod sip;
pub mod xml;

use serde::Serialize;

use crate::modality::{MediaRanges, Modality, QosRule};
use crate::ports::PortRange;

/// Why provisioning could not be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProvisioningError {
    /// Nothing but white space.
    #[error("the input is empty")]
    Empty,
    /// No `<` anywhere in the body.
    #[error("no XML found{0}")]
    NoXml(String),
    /// XML, but none of the `uc...Port` elements.
    #[error("no port range elements (ucMinMediaPort, ucMinAudioPort, ...) found in the XML: is this a provisionGroupList with the ServerConfiguration group?")]
    NoPortElements,
    /// An element's value is not what it must be.
    #[error("line {line}: <{element}> is `{value}`, expected {expected}")]
    BadValue {
        /// Element name.
        element: String,
        /// Line of the element.
        line: usize,
        /// The value as written.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
    /// A range whose minimum is above its maximum.
    #[error(
        "line {min_line}: <{min_element}> {min} is above <{max_element}> {max} (line {max_line})"
    )]
    Backwards {
        /// The min element.
        min_element: &'static str,
        /// Its value.
        min: u16,
        /// Its line.
        min_line: usize,
        /// The max element.
        max_element: &'static str,
        /// Its value.
        max: u16,
        /// Its line.
        max_line: usize,
    },
}

/// What provisioning says, with everything worth a look as warnings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Provisioning {
    /// `ucPortRangeEnabled`, or `None` when absent.
    pub port_range_enabled: Option<bool>,
    /// The ranges (defaults filled in where absent, with a warning).
    pub ranges: MediaRanges,
    /// The derived source-port QoS table.
    pub qos: Vec<QosRule>,
    /// Repairs made to the input and validation findings, for people.
    pub warnings: Vec<String>,
}

/// The element pairs we read: (key, min element, max element).
const PAIRS: [(&str, &str, &str); 6] = [
    ("media", "ucMinMediaPort", "ucMaxMediaPort"),
    ("audio", "ucMinAudioPort", "ucMaxAudioPort"),
    ("video", "ucMinVideoPort", "ucMaxVideoPort"),
    ("app_sharing", "ucMinAppSharingPort", "ucMaxAppSharingPort"),
    (
        "file_transfer",
        "ucMinFileTransferPort",
        "ucMaxFileTransferPort",
    ),
    ("sip_dynamic", "ucMinSipDynamicPort", "ucMaxSipDynamicPort"),
];

const ENABLED: &str = "ucPortRangeEnabled";

/// The fewest ports Microsoft's defaults give a modality.
const DEFAULT_WIDTH: u32 = 20;

impl Provisioning {
    /// Reads provisioning from pasted text.
    pub fn parse(input: &str) -> Result<Self, ProvisioningError> {
        if input.trim().is_empty() {
            return Err(ProvisioningError::Empty);
        }
        let split = sip::split(input);
        let mut warnings: Vec<String> = Vec::new();
        let note = |r: &xml::Repair| format!("line {}: {}", r.line, r.message);
        warnings.extend(split.notes.iter().map(note));
        let Some(xml_at) = split.body.find('<') else {
            let whence = if split.start_line.is_some() {
                " after the SIP headers"
            } else {
                ""
            };
            return Err(ProvisioningError::NoXml(whence.into()));
        };
        let skipped = &split.body[..xml_at];
        let first_line = split.body_line + skipped.matches('\n').count();
        if !skipped.trim().is_empty() {
            warnings.push(format!(
                "line {}: text before the XML ignored",
                split.body_line + skipped.len() - skipped.trim_start().len()
            ));
        }
        let doc = xml::read(&split.body[xml_at..], first_line);
        warnings.extend(doc.repairs.iter().map(note));
        let values = Values::collect(&doc.elements, &mut warnings);
        if !values.any_port_element {
            return Err(ProvisioningError::NoPortElements);
        }
        let port_range_enabled = values.enabled()?;
        let mut read = |key: &str| values.range(key, &mut warnings);
        let media = read("media")?;
        let audio = read("audio")?;
        let video = read("video")?;
        let app_sharing = read("app_sharing")?;
        let file_transfer = read("file_transfer")?;
        let sip_dynamic = read("sip_dynamic")?;
        let defaults = MediaRanges::default();
        let mut fill = |key: &str, got: Option<PortRange>, default: PortRange| {
            got.unwrap_or_else(|| {
                warnings.push(format!(
                    "no <{}>/<{}>: assumed Microsoft's default {key} range {default}",
                    pair(key).1,
                    pair(key).2
                ));
                default
            })
        };
        let ranges = MediaRanges {
            media: fill("media", media, defaults.media),
            audio: fill("audio", audio, defaults.audio),
            video: fill("video", video, defaults.video),
            app_sharing: fill("app_sharing", app_sharing, defaults.app_sharing),
            file_transfer: fill("file_transfer", file_transfer, defaults.file_transfer),
            sip_dynamic,
        };
        match port_range_enabled {
            Some(true) => {}
            Some(false) => warnings.push(
                "ucPortRangeEnabled is false: clients use any ephemeral port, so source-port QoS and filtering cannot classify their media".into(),
            ),
            None => warnings.push(
                "no <ucPortRangeEnabled>: the ranges are in force only where it is true".into(),
            ),
        }
        validate(&ranges, &mut warnings);
        Ok(Provisioning {
            port_range_enabled,
            qos: ranges.qos(),
            ranges,
            warnings,
        })
    }
}

fn pair(key: &str) -> (&'static str, &'static str, &'static str) {
    PAIRS
        .into_iter()
        .find(|p| p.0 == key)
        .expect("keys are taken from PAIRS")
}

/// Element values by name, preferring those inside the ServerConfiguration
/// group.
struct Values<'a> {
    elements: Vec<&'a xml::Element>,
    any_port_element: bool,
}

impl<'a> Values<'a> {
    fn collect(all: &'a [xml::Element], warnings: &mut Vec<String>) -> Self {
        let wanted = |n: &str| n == ENABLED || PAIRS.iter().any(|p| p.1 == n || p.2 == n);
        let in_server_config = all
            .iter()
            .any(|e| wanted(&e.name) && e.group.as_deref() == Some("ServerConfiguration"));
        let mut elements: Vec<&xml::Element> = Vec::new();
        for e in all.iter().filter(|e| wanted(&e.name)) {
            if in_server_config && e.group.as_deref() != Some("ServerConfiguration") {
                warnings.push(format!(
                    "line {}: <{}> outside the ServerConfiguration group ignored",
                    e.line, e.name
                ));
                continue;
            }
            if e.truncated {
                warnings.push(format!(
                    "line {}: <{}> is cut off by the end of the input; its value `{}` was not used",
                    e.line, e.name, e.text
                ));
                continue;
            }
            if let Some(prev) = elements.iter().find(|p| p.name == e.name) {
                if prev.text != e.text {
                    warnings.push(format!(
                        "line {}: <{}> appears again with `{}`; kept `{}` from line {}",
                        e.line, e.name, e.text, prev.text, prev.line
                    ));
                }
                continue;
            }
            elements.push(e);
        }
        let any_port_element = !elements.is_empty();
        Values {
            elements,
            any_port_element,
        }
    }

    fn get(&self, name: &str) -> Option<&'a xml::Element> {
        self.elements.iter().copied().find(|e| e.name == name)
    }

    fn enabled(&self) -> Result<Option<bool>, ProvisioningError> {
        let Some(e) = self.get(ENABLED) else {
            return Ok(None);
        };
        match e.text.to_ascii_lowercase().as_str() {
            "true" | "1" => Ok(Some(true)),
            "false" | "0" => Ok(Some(false)),
            _ => Err(ProvisioningError::BadValue {
                element: e.name.clone(),
                line: e.line,
                value: e.text.clone(),
                expected: "true or false",
            }),
        }
    }

    fn port(&self, name: &str) -> Result<Option<(u16, usize)>, ProvisioningError> {
        let Some(e) = self.get(name) else {
            return Ok(None);
        };
        crate::ports::parse_port(&e.text)
            .map(|p| Some((p, e.line)))
            .map_err(|_| ProvisioningError::BadValue {
                element: e.name.clone(),
                line: e.line,
                value: e.text.clone(),
                expected: "a port number from 1 to 65535",
            })
    }

    fn range(
        &self,
        key: &str,
        warnings: &mut Vec<String>,
    ) -> Result<Option<PortRange>, ProvisioningError> {
        let (_, min_el, max_el) = pair(key);
        match (self.port(min_el)?, self.port(max_el)?) {
            (Some((min, min_line)), Some((max, max_line))) => PortRange::new(min, max)
                .map(Some)
                .map_err(|_| ProvisioningError::Backwards {
                    min_element: min_el,
                    min,
                    min_line,
                    max_element: max_el,
                    max,
                    max_line,
                }),
            (None, None) => Ok(None),
            (Some((_, line)), None) | (None, Some((_, line))) => {
                let (have, lack) = if self.get(min_el).is_some() {
                    (min_el, max_el)
                } else {
                    (max_el, min_el)
                };
                warnings.push(format!(
                    "line {line}: <{have}> without <{lack}>: the {key} range cannot be read from it"
                ));
                Ok(None)
            }
        }
    }
}

fn validate(r: &MediaRanges, warnings: &mut Vec<String>) {
    let mut named: Vec<(&str, PortRange)> = Modality::ALL
        .into_iter()
        .map(|m| (m.id(), r.range(m)))
        .collect();
    named.insert(0, ("media", r.media));
    if let Some(s) = r.sip_dynamic {
        named.push(("sip_dynamic", s));
    }
    for (name, range) in &named {
        if range.first() < 1024 {
            warnings.push(format!(
                "the {name} range {range} includes ports below 1024: clients accept only 1024-65535"
            ));
        }
    }
    // Audio, video and app sharing must not overlap; file transfer may share
    // app sharing's range but no other.
    let distinct = [
        (Modality::Audio, Modality::Video),
        (Modality::Audio, Modality::AppSharing),
        (Modality::Video, Modality::AppSharing),
        (Modality::FileTransfer, Modality::Audio),
        (Modality::FileTransfer, Modality::Video),
    ];
    for (a, b) in distinct {
        if r.range(a).overlaps(r.range(b)) {
            warnings.push(format!(
                "the {a} range {} overlaps the {b} range {}: QoS cannot tell them apart",
                r.range(a),
                r.range(b)
            ));
        }
    }
    for m in Modality::ALL {
        let range = r.range(m);
        if !r.media.contains_range(range) {
            warnings.push(format!(
                "the {m} range {range} is not inside the media range {}",
                r.media
            ));
        }
        if range.len() < DEFAULT_WIDTH {
            warnings.push(format!(
                "the {m} range {range} has {} ports, fewer than the default {DEFAULT_WIDTH}: concurrent sessions may run out of ports",
                range.len()
            ));
        }
    }
    if let Some(s) = r.sip_dynamic {
        if s.overlaps(r.media) {
            warnings.push(format!(
                "the SIP dynamic range {s} overlaps the media range {}",
                r.media
            ));
        }
    }
}

#[cfg(test)]
mod tests;
