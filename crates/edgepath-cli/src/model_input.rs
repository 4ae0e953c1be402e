//! What a run works from: the endpoint data (file, kept data or snapshot), the client's
//! provisioned media ranges and the port profile, joined into one catalog. `check` and
//! `rules` read the model the same way, so their answers cannot drift apart.

use std::path::Path;

use anyhow::{anyhow, Result};
use edgepath_model::{Catalog, EndpointSource, MediaRanges, Profile, Provisioning};

use crate::args::EndpointArgs;
use crate::output::read_text;
use crate::store;

/// The catalog for a run, with the ranges and the data's source.
pub struct ModelInput {
    /// The catalog under the run's profile and media range.
    pub catalog: Catalog,
    /// The media source ranges (provisioned, or Microsoft's defaults).
    pub ranges: MediaRanges,
    /// Where the endpoint data came from.
    pub source: EndpointSource,
}

/// The media source ranges from a provisioning file, or Microsoft's defaults without
/// one. Errors name the file.
pub fn media_ranges(path: Option<&Path>) -> Result<MediaRanges> {
    let Some(p) = path else {
        return Ok(MediaRanges::default());
    };
    let (text, _) = read_text(p)?;
    Ok(Provisioning::parse(&text)
        .map_err(|e| anyhow!("{}: {e}", p.display()))?
        .ranges)
}

/// Loads the endpoint data and provisioning and builds the catalog; errors name the
/// file (or the embedded snapshot) at fault.
pub fn load(
    endpoints: &EndpointArgs,
    provisioning: Option<&Path>,
    profile: Profile,
) -> Result<ModelInput> {
    let loaded = store::load(endpoints)?;
    let where_ = loaded
        .source
        .path
        .clone()
        .unwrap_or_else(|| "the embedded snapshot".into());
    let ranges = media_ranges(provisioning)?;
    let catalog = Catalog::build_with_media_range(loaded.data, profile, ranges.media)
        .map_err(|e| anyhow!("{where_}: {e}"))?;
    Ok(ModelInput {
        catalog,
        ranges,
        source: loaded.source,
    })
}
