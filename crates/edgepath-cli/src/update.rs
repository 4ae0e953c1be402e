//! `edgepath catalog update`: fetch Microsoft's endpoint list from the
//! "Microsoft 365 IP address and URL web service", as Microsoft asks callers
//! to: ask `/version/{instance}` first and fetch `/endpoints/{instance}` only
//! when the version changed, always with a per-machine ClientRequestId.
//! Proxies come from the usual environment (HTTPS_PROXY, NO_PROXY).

use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use edgepath_model::{Catalog, DataVersion, EndpointData, Profile};
use serde::Serialize;
use serde_json::Value;

use crate::catalog_cmd::Changes;
use crate::store::{now_rfc3339, Meta, Store};

/// What an update did.
#[derive(Debug, Serialize)]
pub struct UpdateReport {
    /// `updated` or `up_to_date`.
    pub status: &'static str,
    /// The service instance.
    pub instance: String,
    /// Microsoft's current version.
    pub version: String,
    /// The version kept before, if any.
    pub previous_version: Option<String>,
    /// How many endpoint sets the kept data has.
    pub endpoint_sets: usize,
    /// Where it is kept.
    pub path: String,
    /// What changed against the data in use before (absent when up to date).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes: Option<Changes>,
}

impl UpdateReport {
    /// The report for people.
    pub fn render(&self) -> String {
        let label = DataVersion::parse(&self.version)
            .map_or_else(|_| format!("version {}", self.version), |v| v.label());
        match self.status {
            "up_to_date" => format!(
                "Microsoft's {} endpoint list is still {label}; kept data unchanged ({}).\n",
                self.instance, self.path
            ),
            _ => {
                let mut text = format!(
                    "Fetched Microsoft's {} endpoint list, {label} ({} endpoint sets{}); kept in {}.\nLater runs use it; `edgepath catalog reset` goes back to the embedded snapshot.\n",
                    self.instance,
                    self.endpoint_sets,
                    self.previous_version
                        .as_deref()
                        .map(|p| format!(", was {p}"))
                        .unwrap_or_default(),
                    self.path
                );
                if let Some(c) = &self.changes {
                    text.push_str(&c.render());
                }
                text
            }
        }
    }
}

/// Largest response we accept; the worldwide list is well under 1 MiB.
const MAX_BODY: u64 = 16 * 1024 * 1024;

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .user_agent(concat!("edgepath/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

fn get(agent: &ureq::Agent, url: &str) -> Result<String> {
    let mut resp = agent.get(url).call().map_err(|e| anyhow!("{url}: {e}"))?;
    resp.body_mut()
        .with_config()
        .limit(MAX_BODY)
        .read_to_string()
        .map_err(|e| anyhow!("{url}: could not read the response: {e}"))
}

fn latest_version(body: &str, url: &str) -> Result<String> {
    let v: Value =
        serde_json::from_str(body).with_context(|| format!("{url}: the answer is not JSON"))?;
    match v.get("latest") {
        Some(Value::String(s)) if DataVersion::parse(s).is_ok() => Ok(s.clone()),
        _ => bail!(
            "{url}: the answer has no `latest` version string: {}",
            truncate(body, 200)
        ),
    }
}

fn truncate(s: &str, n: usize) -> String {
    let mut t: String = s.chars().take(n).collect();
    if t.len() < s.len() {
        t.push_str("...");
    }
    t
}

/// Runs the update against `service_url` for `instance`.
pub fn run(store: &Store, service_url: &str, instance: &str, force: bool) -> Result<UpdateReport> {
    if !instance.bytes().all(|b| b.is_ascii_alphanumeric()) || instance.is_empty() {
        bail!("--instance `{instance}` is not an instance name (Worldwide, USGovDoD, USGovGCCHigh, China)");
    }
    let base = service_url.trim_end_matches('/');
    if !(base.starts_with("https://") || base.starts_with("http://")) {
        bail!("--service-url `{service_url}` must start with https:// (or http:// for a local test server)");
    }
    let id = store.client_request_id()?;
    let agent = agent();
    let version_url = format!("{base}/version/{instance}?ClientRequestId={id}");
    let latest = latest_version(
        &get(&agent, &version_url).context("could not ask for the current version (is this machine online, or does it need HTTPS_PROXY?)")?,
        &version_url,
    )?;
    let previous = store.read().ok().flatten();
    let previous_version = previous
        .as_ref()
        .filter(|(_, m)| m.origin == "update" && m.instance.as_deref() == Some(instance))
        .and_then(|(_, m)| m.version.clone());
    let path = store.data_path().display().to_string();
    if !force && previous_version.as_deref() == Some(latest.as_str()) {
        let sets = previous.as_ref().map_or(0, |(d, _)| d.sets().len());
        return Ok(UpdateReport {
            status: "up_to_date",
            instance: instance.to_owned(),
            version: latest,
            previous_version,
            endpoint_sets: sets,
            path,
            changes: None,
        });
    }
    let data_url = format!("{base}/endpoints/{instance}?ClientRequestId={id}");
    let body = get(&agent, &data_url).context("could not fetch the endpoint list")?;
    let data = EndpointData::parse(&body).map_err(|e| anyhow!("{data_url}: {e}"))?;
    // Refuse to keep data the rest of edgepath cannot use.
    Catalog::build(data.clone(), Profile::Current).map_err(|e| anyhow!("{data_url}: {e}"))?;
    let value: Value =
        serde_json::from_str(&body).with_context(|| format!("{data_url}: not JSON"))?;
    let changes = Changes::against_kept(store, previous.as_ref(), &data);
    let kept = store.write(
        value,
        Meta {
            origin: "update".into(),
            from: format!("{base}/endpoints/{instance}"),
            version: Some(latest.clone()),
            instance: Some(instance.to_owned()),
            stored_at: now_rfc3339(),
        },
    )?;
    Ok(UpdateReport {
        status: "updated",
        instance: instance.to_owned(),
        version: latest,
        previous_version,
        endpoint_sets: data.sets().len(),
        path: kept.display().to_string(),
        changes: Some(changes),
    })
}
