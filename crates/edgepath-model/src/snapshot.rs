//! The endpoint data compiled into the binary, used when no other is given.
//!
//! It is a real, trimmed copy of Microsoft's worldwide endpoint sets (the
//! Skype/Teams area in full, plus the Exchange, SharePoint and Common sets the
//! services refer to). Microsoft's version number was not recorded with it, so
//! we date it by when it was compiled in and say so; `edgepath catalog update`
//! replaces it with Microsoft's current list on a machine that is online.

use crate::catalog::EndpointSource;
use crate::endpoints::EndpointData;

/// The embedded JSON, in the web service's format.
pub const SNAPSHOT_JSON: &str = include_str!("../data/endpoints-worldwide-snapshot.json");

/// When the snapshot was compiled in.
pub const SNAPSHOT_DATE: &str = "2026-11-25";

/// The instance the snapshot describes.
pub const SNAPSHOT_INSTANCE: &str = "Worldwide";

/// The embedded endpoint data.
pub fn endpoint_data() -> EndpointData {
    // A unit test parses the constant, so this cannot fail at run time.
    EndpointData::parse(SNAPSHOT_JSON).expect("embedded snapshot is valid endpoint data")
}

/// A description of the embedded snapshot as a data source.
pub fn source() -> EndpointSource {
    EndpointSource {
        kind: "embedded",
        version: None,
        date: Some(SNAPSHOT_DATE.to_owned()),
        path: None,
        description: format!(
            "embedded snapshot of Microsoft's {SNAPSHOT_INSTANCE} endpoint sets, compiled in {SNAPSHOT_DATE} (trimmed to the sets edgepath uses; run `edgepath catalog update` for the current list)"
        ),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn snapshot_parses_cleanly() {
        let data = super::endpoint_data();
        assert!(data.warnings().is_empty());
        assert!(data.has_skype_area());
        assert!(data.set(11).is_some() && data.set(12).is_some());
    }
}
