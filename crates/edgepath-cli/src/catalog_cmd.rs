//! `edgepath catalog`: the service table, and managing the endpoint data.

use anyhow::{anyhow, Result};
use edgepath_model::{
    snapshot, Catalog, EndpointData, EndpointDiff, EndpointSet, EndpointSource, MediaRanges,
    Profile, QosRule,
};
use serde::Serialize;

use crate::args::{CatalogAction, CatalogArgs};
use crate::output::{emit, emit_json, Outcome, Table};
use crate::store::{self, now_rfc3339, Meta, Store};
use crate::update;

/// The JSON document of `edgepath catalog`.
#[derive(Serialize)]
struct CatalogDoc<'a> {
    profile: Profile,
    endpoints: &'a EndpointSource,
    services: &'a [edgepath_model::CatalogService],
    modalities: Vec<QosRule>,
    warnings: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    endpoint_sets: Option<&'a [EndpointSet]>,
    /// Every address range with the highest category any set gives it.
    #[serde(skip_serializing_if = "Option::is_none")]
    addresses: Option<Vec<edgepath_model::endpoints::AddressEntry>>,
    /// What `import` changes against the data in use before.
    #[serde(skip_serializing_if = "Option::is_none")]
    changes: Option<&'a Changes>,
}

/// What changed against the data in use before, for `import` and `update`.
#[derive(Debug, Serialize)]
pub struct Changes {
    /// The data compared against, in words (with its version).
    pub against: String,
    /// The change list.
    #[serde(flatten)]
    pub diff: EndpointDiff,
}

impl Changes {
    /// The data in use before this command (kept data, else the embedded snapshot)
    /// compared with `new`. Unreadable kept data is compared as absent: the command
    /// is about to replace it.
    pub fn against_current(store: &Store, new: &EndpointData) -> Changes {
        Changes::against_kept(store, store.read().ok().flatten().as_ref(), new)
    }

    /// As [`Changes::against_current`], for a caller that has already read the
    /// kept data (`catalog update` reads it once to compare versions).
    pub fn against_kept(
        store: &Store,
        kept: Option<&(EndpointData, Meta)>,
        new: &EndpointData,
    ) -> Changes {
        let today = store::today();
        let (against, diff) = match kept {
            Some((old, meta)) => (
                meta.source(&store.data_path(), today),
                edgepath_model::diff_endpoints(old, new),
            ),
            None => (
                snapshot::source(today),
                edgepath_model::diff_endpoints(&snapshot::endpoint_data(), new),
            ),
        };
        Changes {
            against: against.description,
            diff,
        }
    }

    /// "Changes against ...:" and the list.
    pub fn render(&self) -> String {
        format!(
            "\nChanges against {}:\n{}",
            self.against,
            self.diff.render()
        )
    }
}

/// The JSON document of `edgepath catalog diff`.
#[derive(Serialize)]
struct DiffDoc<'a> {
    old: String,
    new: String,
    #[serde(flatten)]
    diff: &'a EndpointDiff,
}

/// Runs `edgepath catalog ...`.
pub fn run(args: &CatalogArgs) -> Result<Outcome> {
    match &args.action {
        None => {
            let loaded = store::load(&args.endpoints)?;
            show(loaded.data, &loaded.source, args, None)
        }
        Some(CatalogAction::Import { file, dry_run }) => import(args, file, *dry_run),
        Some(CatalogAction::Update {
            force,
            instance,
            service_url,
        }) => {
            let report = update::run(&Store::locate()?, service_url, instance, *force)?;
            if args.output.json {
                emit_json(&report)?;
            } else {
                emit(&report.render())?;
            }
            Ok(Outcome::Clean)
        }
        Some(CatalogAction::Reset) => {
            let store = Store::locate()?;
            let had = store.reset()?;
            let path = store.data_path().display().to_string();
            if args.output.json {
                emit_json(&serde_json::json!({ "removed": had, "path": path }))?;
            } else if had {
                emit(&format!(
                    "Removed {path}; later runs use the embedded snapshot.\n"
                ))?;
            } else {
                emit(&format!(
                    "No kept endpoint data ({path}); the embedded snapshot is in use.\n"
                ))?;
            }
            Ok(Outcome::Clean)
        }
        Some(CatalogAction::Diff { old, new }) => {
            let (old_data, _) = store::read_endpoint_file(old)?;
            let (new_data, _) = store::read_endpoint_file(new)?;
            let diff = edgepath_model::diff_endpoints(&old_data, &new_data);
            if args.output.json {
                emit_json(&DiffDoc {
                    old: old.display().to_string(),
                    new: new.display().to_string(),
                    diff: &diff,
                })?;
            } else {
                emit(&format!(
                    "Changes from {} to {}:\n{}",
                    old.display(),
                    new.display(),
                    diff.render()
                ))?;
            }
            Ok(if diff.is_empty() {
                Outcome::Clean
            } else {
                Outcome::Findings
            })
        }
    }
}

/// `catalog import FILE`: check it, compare it with the data in use, keep it.
fn import(args: &CatalogArgs, file: &std::path::Path, dry_run: bool) -> Result<Outcome> {
    let (data, value) = store::read_endpoint_file(file)?;
    // Build first: data without a Skype area is refused before it is kept.
    Catalog::build(data.clone(), args.profile).map_err(|e| anyhow!("{}: {e}", file.display()))?;
    let store = Store::locate()?;
    let changes = Changes::against_current(&store, &data);
    let version = args.endpoints.endpoints_version.clone();
    let today = store::today();
    let source = if dry_run {
        EndpointSource::new(
            "file",
            &format!(
                "endpoint data from {} (not kept: --dry-run)",
                file.display()
            ),
            version,
            Some(file.display().to_string()),
            today,
        )
    } else {
        let meta = Meta {
            origin: "import".into(),
            from: std::fs::canonicalize(file)
                .unwrap_or_else(|_| file.to_path_buf())
                .display()
                .to_string(),
            version: version.map(|v| v.to_string()),
            instance: None,
            stored_at: now_rfc3339(),
        };
        let kept = store.write(value, meta.clone())?;
        let mut source = meta.source(&kept, today);
        source
            .description
            .push_str("; later runs use it (`edgepath catalog reset` forgets it)");
        source
    };
    store::warn_if_stale(&source);
    show(data, &source, args, Some(&changes))
}

fn show(
    data: EndpointData,
    source: &EndpointSource,
    args: &CatalogArgs,
    changes: Option<&Changes>,
) -> Result<Outcome> {
    let with_sets = changes.is_some();
    let where_ = source.path.as_deref().unwrap_or("the embedded snapshot");
    let data_warnings: Vec<String> = data
        .warnings()
        .iter()
        .map(|w| format!("{where_}: at {}: {}", w.path, w.message))
        .collect();
    let catalog = Catalog::build(data, args.profile).map_err(|e| anyhow!("{where_}: {e}"))?;
    let mut warnings = data_warnings;
    warnings.extend(catalog.warnings().iter().cloned());
    // Stale data is a finding of `catalog` (exit 1); other commands only warn.
    warnings.extend(source.staleness_warning());
    let outcome = Outcome::from_warnings(&warnings);
    if args.output.json {
        emit_json(&CatalogDoc {
            profile: catalog.profile(),
            endpoints: source,
            services: catalog.services(),
            modalities: MediaRanges::default().qos(),
            warnings,
            endpoint_sets: with_sets.then(|| catalog.endpoint_data().sets()),
            addresses: with_sets.then(|| catalog.endpoint_data().address_table()),
            changes,
        })?;
    } else {
        let mut text = render(&catalog, source, &warnings, with_sets);
        if let Some(c) = changes {
            text.push_str(&c.render());
        }
        emit(&text)?;
    }
    Ok(outcome)
}

/// How many address ranges to list per service before summarising.
const SHOW_RANGES: usize = 6;

fn render(
    catalog: &Catalog,
    source: &EndpointSource,
    warnings: &[String],
    with_sets: bool,
) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "Skype for Business Online / Teams: what a client needs (profile {})\nEndpoint data: {}\n\n",
        catalog.profile().name(),
        source.description
    ));
    let mut t = Table::new(&["SERVICE", "DESTINATION", "SOURCE PORTS", "CATEGORY", "SETS"]);
    for s in catalog.services() {
        let mut dest = Vec::new();
        if !s.udp_ports.is_empty() {
            dest.push(format!("UDP {}", s.udp_ports));
        }
        if !s.tcp_ports.is_empty() {
            dest.push(format!("TCP {}", s.tcp_ports));
        }
        let src = match s.source_ports.range {
            Some(r) => format!("media {r}"),
            None => "ephemeral".to_owned(),
        };
        let sets: Vec<String> = s.endpoint_set_ids.iter().map(u32::to_string).collect();
        t.row(vec![
            s.id.to_string(),
            dest.join(", "),
            src,
            s.category.map_or("-".into(), |c| c.to_string()),
            if sets.is_empty() {
                "-".into()
            } else {
                sets.join(",")
            },
        ]);
    }
    t.render(&mut out);
    for s in catalog.services() {
        out.push_str(&format!("\n{} - {}: {}\n", s.id, s.name, s.purpose));
        if !s.names.is_empty() {
            out.push_str(&format!("  names:     {}\n", s.names.join(", ")));
        }
        if !s.ips.is_empty() {
            let shown: Vec<String> = s
                .ips
                .iter()
                .take(SHOW_RANGES)
                .map(ToString::to_string)
                .collect();
            let more = s.ips.len().saturating_sub(SHOW_RANGES);
            out.push_str(&format!(
                "  addresses: {}{}\n",
                shown.join(", "),
                if more > 0 {
                    format!(" and {more} more (--json lists all)")
                } else {
                    String::new()
                }
            ));
        }
        out.push_str(&format!("  probe:     {}\n", s.probe_names.join(", ")));
        for n in &s.notes {
            out.push_str(&format!("  note:      {n}\n"));
        }
    }
    out.push_str("\nMedia source ports and QoS (Microsoft's defaults; `edgepath provisioning` reads a client's own):\n");
    let mut q = Table::new(&["MODALITY", "SOURCE PORTS", "DSCP"]);
    for r in MediaRanges::default().qos() {
        q.row(vec![
            r.modality.to_string(),
            r.ports.to_string(),
            r.dscp.to_string(),
        ]);
    }
    q.render(&mut out);
    if with_sets {
        out.push_str("\nEndpoint sets:\n");
        let mut t = Table::new(&[
            "ID", "AREA", "CATEGORY", "REQUIRED", "TCP", "UDP", "URLS", "IPS",
        ]);
        for s in catalog.endpoint_data().sets() {
            t.row(vec![
                s.id.to_string(),
                // Microsoft's display name says what the area is today ("Skype" is
                // "Microsoft Teams" in the current lists).
                match &s.service_area_display_name {
                    Some(d) if d != &s.service_area => format!("{} ({d})", s.service_area),
                    _ => s.service_area.clone(),
                },
                s.category.to_string(),
                if s.required { "yes" } else { "no" }.into(),
                s.tcp_ports.to_string(),
                s.udp_ports.to_string(),
                s.urls.len().to_string(),
                s.ips.len().to_string(),
            ]);
        }
        t.render(&mut out);
    }
    if !warnings.is_empty() {
        out.push_str(&format!("\n{} warning(s):\n", warnings.len()));
        for w in warnings {
            out.push_str(&format!("  - {w}\n"));
        }
    }
    out
}
