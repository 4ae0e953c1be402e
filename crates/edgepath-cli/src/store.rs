//! Where endpoint data comes from, and the cache that keeps imported or
//! updated data for later runs.
//!
//! Order of precedence: `--endpoints FILE` / `EDGEPATH_ENDPOINTS`, then the
//! cached data (`catalog update` or `catalog import`), then the embedded
//! snapshot. The cache is one JSON envelope (metadata plus Microsoft's array)
//! written to a temporary file and renamed, so a crash never leaves data and
//! metadata disagreeing.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use edgepath_model::{snapshot, DataVersion, EndpointData, EndpointSource};

use crate::args::EndpointArgs;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::output::read_text;

/// Endpoint data and where it came from.
pub struct Loaded {
    /// The data.
    pub data: EndpointData,
    /// Its origin, for reports.
    pub source: EndpointSource,
}

/// What the cache records about its data.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Meta {
    /// `update` or `import`.
    pub origin: String,
    /// The URL fetched or the file imported.
    pub from: String,
    /// Microsoft's version (`update`, or `import --endpoints-version`).
    pub version: Option<String>,
    /// The service instance (`Worldwide`, ...), when known.
    pub instance: Option<String>,
    /// When it was stored, RFC 3339 UTC.
    pub stored_at: String,
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    edgepath_endpoint_cache: u32,
    meta: Meta,
    endpoints: Value,
}

const ENVELOPE_VERSION: u32 = 1;
const DATA_FILE: &str = "endpoints.json";
const ID_FILE: &str = "client-request-id";

/// The cache directory.
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// Finds the cache directory: `EDGEPATH_CACHE_DIR`, else the platform's
    /// user cache directory plus `edgepath`.
    pub fn locate() -> Result<Store> {
        let env = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let dir = if let Some(d) = env("EDGEPATH_CACHE_DIR") {
            d
        } else if cfg!(windows) {
            env("LOCALAPPDATA")
                .map(|d| d.join("edgepath").join("cache"))
                .ok_or_else(|| anyhow!("LOCALAPPDATA is not set; set EDGEPATH_CACHE_DIR"))?
        } else if cfg!(target_os = "macos") {
            env("HOME")
                .map(|h| h.join("Library/Caches/edgepath"))
                .ok_or_else(|| anyhow!("HOME is not set; set EDGEPATH_CACHE_DIR"))?
        } else {
            env("XDG_CACHE_HOME")
                .or_else(|| env("HOME").map(|h| h.join(".cache")))
                .map(|d| d.join("edgepath"))
                .ok_or_else(|| {
                    anyhow!("neither XDG_CACHE_HOME nor HOME is set; set EDGEPATH_CACHE_DIR")
                })?
        };
        Ok(Store { dir })
    }

    /// The file holding the cached data.
    pub fn data_path(&self) -> PathBuf {
        self.dir.join(DATA_FILE)
    }

    /// The cached data and its metadata, if any.
    pub fn read(&self) -> Result<Option<(EndpointData, Meta)>> {
        let path = self.data_path();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let broken = || {
            format!(
                "the cached endpoint data {} is damaged; run `edgepath catalog reset` or `edgepath catalog update`",
                path.display()
            )
        };
        let env: Envelope = serde_json::from_str(&text).with_context(broken)?;
        if env.edgepath_endpoint_cache != ENVELOPE_VERSION {
            bail!(
                "{} (format {} unknown)",
                broken(),
                env.edgepath_endpoint_cache
            );
        }
        let data = EndpointData::from_value(&env.endpoints)
            .map_err(|e| anyhow!("{e}"))
            .with_context(broken)?;
        Ok(Some((data, env.meta)))
    }

    /// Keeps `endpoints` (Microsoft's array, already checked) with `meta`.
    pub fn write(&self, endpoints: Value, meta: Meta) -> Result<PathBuf> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("cannot create {}", self.dir.display()))?;
        let env = Envelope {
            edgepath_endpoint_cache: ENVELOPE_VERSION,
            meta,
            endpoints,
        };
        let text = serde_json::to_string_pretty(&env).context("could not render the cache")?;
        let path = self.data_path();
        write_atomic(&path, text.as_bytes())?;
        Ok(path)
    }

    /// Removes the cached data. Returns whether there was any.
    pub fn reset(&self) -> Result<bool> {
        let path = self.data_path();
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e).with_context(|| format!("cannot remove {}", path.display())),
        }
    }

    /// The client request id Microsoft asks callers to send: one random GUID
    /// per machine, made on first use and kept.
    pub fn client_request_id(&self) -> Result<String> {
        let path = self.dir.join(ID_FILE);
        if let Ok(id) = std::fs::read_to_string(&path) {
            let id = id.trim();
            if is_guid(id) {
                return Ok(id.to_owned());
            }
        }
        let id = random_guid();
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("cannot create {}", self.dir.display()))?;
        write_atomic(&path, id.as_bytes())?;
        Ok(id)
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| {
        let _ = std::fs::remove_file(&tmp);
        format!("cannot replace {}", path.display())
    })
}

fn is_guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A version-4 GUID from the operating system's random generator.
fn random_guid() -> String {
    let mut b: [u8; 16] = edgepath_probe::ids::random_bytes();
    b[6] = (b[6] & 0x0f) | 0x40; // version 4
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// Reads and checks an endpoint JSON file, returning the data and the raw
/// value (to be kept by `import`). Errors name the file and the place in it.
pub fn read_endpoint_file(path: &Path) -> Result<(EndpointData, Value)> {
    let (text, bad_utf8) = read_text(path)?;
    let shown = path.display();
    if let Some(note) = bad_utf8 {
        bail!("{shown}: {note}; endpoint data must be UTF-8 JSON");
    }
    let data = EndpointData::parse(&text).map_err(|e| anyhow!("{shown}: {e}"))?;
    // Parsed once already, so this cannot fail; keep the error path anyway.
    let value = serde_json::from_str(&text).with_context(|| format!("{shown}: not JSON"))?;
    Ok((data, value))
}

/// The endpoint data this run uses: `--endpoints FILE` (with `--endpoints-version`
/// when given), else the kept data, else the embedded snapshot. Warns once on stderr
/// when it is stale.
pub fn load(args: &EndpointArgs) -> Result<Loaded> {
    let today = today();
    let loaded = if let Some(path) = args.endpoints.as_deref() {
        let (data, _) = read_endpoint_file(path)?;
        let shown = path.display().to_string();
        Loaded {
            data,
            source: EndpointSource::new(
                "file",
                &format!("endpoint data from {shown}"),
                args.endpoints_version.clone(),
                Some(shown),
                today,
            ),
        }
    } else {
        let store = Store::locate()?;
        match store.read()? {
            Some((data, meta)) => Loaded {
                data,
                source: meta.source(&store.data_path(), today),
            },
            None => Loaded {
                data: snapshot::endpoint_data(),
                source: snapshot::source(today),
            },
        }
    };
    warn_if_stale(&loaded.source);
    Ok(loaded)
}

/// Says on stderr, once per run, that the data in use is stale. It does not change
/// the exit code of the command (README: exit codes); `catalog` counts it as a
/// finding, and JSON reports carry `endpoints.stale`.
pub fn warn_if_stale(source: &EndpointSource) {
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if let Some(w) = source.staleness_warning() {
        if !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
            eprintln!("edgepath: warning: {w}");
        }
    }
}

impl Meta {
    /// The kept data as a source: its origin in words, its version and age.
    pub fn source(&self, kept: &Path, today: i64) -> EndpointSource {
        let path = kept.display().to_string();
        let origin = match self.origin.as_str() {
            "update" => format!(
                "Microsoft's {} endpoint list fetched {} (kept in {path})",
                self.instance.as_deref().unwrap_or("?"),
                self.stored_at
            ),
            _ => format!(
                "endpoint data imported from {} on {} (kept in {path})",
                self.from, self.stored_at
            ),
        };
        // A version the cache cannot parse is reported as unknown, not trusted.
        let version = self
            .version
            .as_deref()
            .and_then(|v| DataVersion::parse(v).ok());
        let mut source = EndpointSource::new("cache", &origin, version, Some(path), today);
        source.stored_at = Some(self.stored_at.clone());
        source
    }
}

/// Today as days since 1970-01-01, UTC.
pub fn today() -> i64 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    (secs / 86_400) as i64
}

/// Now as RFC 3339 UTC (`2026-11-25T17:02:00Z`), without a date crate.
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    edgepath_model::time::rfc3339(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids() {
        let a = random_guid();
        assert!(is_guid(&a), "{a}");
        assert_eq!(&a[14..15], "4");
        assert_ne!(a, random_guid());
        assert!(!is_guid("not-a-guid"));
    }
}
