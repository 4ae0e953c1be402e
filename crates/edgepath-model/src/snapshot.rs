//! The endpoint data compiled into the binary, used when no other is given.
//!
//! It is Microsoft's complete Worldwide list, version 2025063000 (published
//! 2025-06-30), kept whole: PAC type 2 and the checklist need every set, not only
//! the ones the services name. Every report names that version and its age, and
//! warns when it is stale; `edgepath catalog update` replaces it with Microsoft's
//! current list on a machine that is online. To move the embedded data on, replace
//! the file and [`SNAPSHOT_VERSION`] together (a test checks the pair).

use crate::catalog::EndpointSource;
use crate::endpoints::EndpointData;
use crate::version::DataVersion;

/// The embedded JSON, in the web service's format, byte for byte as published.
pub const SNAPSHOT_JSON: &str = include_str!("../data/endpoints-worldwide-2025063000.json");

/// Microsoft's version of the embedded list.
pub const SNAPSHOT_VERSION: &str = "2025063000";

/// The instance the snapshot describes.
pub const SNAPSHOT_INSTANCE: &str = "Worldwide";

/// The embedded endpoint data.
pub fn endpoint_data() -> EndpointData {
    // A unit test parses the constant, so this cannot fail at run time.
    EndpointData::parse(SNAPSHOT_JSON).expect("embedded snapshot is valid endpoint data")
}

/// The embedded list's version.
pub fn version() -> DataVersion {
    // A unit test parses the constant, so this cannot fail at run time.
    DataVersion::parse(SNAPSHOT_VERSION).expect("embedded version is valid")
}

/// A description of the embedded snapshot as a data source, aged against `today`
/// (days since 1970-01-01).
pub fn source(today: i64) -> EndpointSource {
    EndpointSource::new(
        "embedded",
        &format!("embedded copy of Microsoft's {SNAPSHOT_INSTANCE} endpoint list"),
        Some(version()),
        None,
        today,
    )
}

#[cfg(test)]
mod tests {
    use crate::time::days_from_civil;

    #[test]
    fn snapshot_parses_cleanly() {
        let data = super::endpoint_data();
        assert!(data.warnings().is_empty(), "{:?}", data.warnings());
        assert!(data.has_skype_area());
        assert!(data.set(11).is_some() && data.set(12).is_some());
    }

    #[test]
    fn snapshot_is_microsofts_2025063000_list() {
        let data = super::endpoint_data();
        assert_eq!(data.sets().len(), 65);
        let ips = |id: u32| -> Vec<String> {
            data.set(id)
                .unwrap()
                .ips
                .iter()
                .map(ToString::to_string)
                .collect()
        };
        assert_eq!(
            ips(11),
            ["52.112.0.0/14", "52.122.0.0/15", "2603:1063::/38"]
        );
        // Set 12 gained UDP 443 (in 2025043000) and lost two /32s.
        let signalling = data.set(12).unwrap();
        assert_eq!(signalling.udp_ports.to_strings(), ["443"]);
        assert!(signalling
            .urls
            .contains(&"*.teams.cloud.microsoft".to_owned()));
        for gone in ["52.238.119.141/32", "52.244.160.207/32"] {
            assert!(!ips(12).contains(&gone.to_owned()), "{gone}");
        }
        for gone in [13, 15, 18, 22, 26, 29, 68] {
            assert!(data.set(gone).is_none(), "set {gone}");
        }
        let src = super::source(days_from_civil(2025, 7, 2));
        assert_eq!(src.version.as_ref().map(|v| v.as_str()), Some("2025063000"));
        assert_eq!(src.date.as_deref(), Some("2025-06-30"));
        assert_eq!((src.age_days, src.stale), (Some(2), Some(false)));
        assert!(src
            .description
            .contains("Microsoft version 2025063000 (2025-06-30)"));
        assert!(src.staleness_warning().is_none());
        let old = super::source(days_from_civil(2026, 11, 26));
        assert_eq!((old.age_days, old.stale), (Some(514), Some(true)));
        let w = old.staleness_warning().unwrap();
        assert!(
            w.contains("514 days old") && w.contains("edgepath catalog update"),
            "{w}"
        );
    }
}
