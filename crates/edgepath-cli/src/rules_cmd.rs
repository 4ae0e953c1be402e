//! `edgepath rules --target T`: the configuration that gives every modality its best
//! path, from the same catalog the probe uses.

use anyhow::{anyhow, bail, Context, Result};
use edgepath_model::EndpointSource;
use edgepath_model::PortSet;
use edgepath_policy::{Options, PacType, Provenance, Rendered, RuleSet, Target, TargetOptions};
use serde::Serialize;

use crate::args::RulesArgs;
use crate::model_input;
use crate::output::{emit, emit_json, Outcome};

/// One flow in the JSON document.
#[derive(Serialize)]
struct FlowDoc<'a> {
    endpoint_set: u32,
    service_area: &'a str,
    category: edgepath_model::Category,
    required: bool,
    services: &'a [edgepath_model::ServiceId],
    protocol: &'static str,
    ports: &'a PortSet,
    source_ports: Option<String>,
    names: &'a [String],
    addresses: Vec<String>,
    media: bool,
}

/// A file a target wrote.
#[derive(Serialize)]
struct FileDoc<'a> {
    path: &'a str,
    content: &'a str,
}

/// Writes each file under `dir` (creating directories), atomically per file.
fn write_files(dir: &std::path::Path, files: &[(String, String)]) -> Result<()> {
    for (rel, content) in files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, content).with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, &path)
            .with_context(|| format!("cannot replace {}", path.display()))?;
    }
    Ok(())
}

/// An Optimize set a VPN split leaves outside (or inside) the tunnel.
#[derive(Serialize)]
struct SplitSetDoc<'a> {
    endpoint_set: u32,
    service_area: &'a str,
    addresses: Vec<String>,
}

/// What a VPN target leaves outside the tunnel.
#[derive(Serialize)]
struct SplitDoc<'a> {
    mode: &'static str,
    outside_tunnel: Vec<SplitSetDoc<'a>>,
    inside_tunnel: Vec<SplitSetDoc<'a>>,
}

/// The JSON document of `edgepath rules --json`.
#[derive(Serialize)]
struct RulesDoc<'a> {
    target: &'static str,
    endpoints: &'a EndpointSource,
    endpoint_data: &'a str,
    command: &'a str,
    notes: &'a [String],
    flows: Vec<FlowDoc<'a>>,
    qos: &'a [edgepath_model::QosRule],
    /// aerleon: the files written, path (under --out-dir) and content.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    files: Vec<FileDoc<'a>>,
    /// wireguard and openvpn: the split.
    #[serde(skip_serializing_if = "Option::is_none")]
    split: Option<SplitDoc<'a>>,
    warnings: &'a [String],
    config: &'a str,
}

/// The command line that made the output, with what was given, as a person types it.
fn command_line(args: &RulesArgs) -> String {
    let mut c = format!("edgepath rules --target {}", args.target);
    if let Some(p) = &args.endpoints.endpoints {
        c.push_str(&format!(" --endpoints {}", p.display()));
    }
    if let Some(v) = &args.endpoints.endpoints_version {
        c.push_str(&format!(" --endpoints-version {v}"));
    }
    if let Some(p) = &args.provisioning {
        c.push_str(&format!(" --provisioning {}", p.display()));
    }
    if args.profile != edgepath_model::Profile::Current {
        c.push_str(&format!(" --profile {}", args.profile.name()));
    }
    if args.restrict_source_ports {
        c.push_str(" --restrict-source-ports");
    }
    if args.by_name {
        c.push_str(" --by-name");
    }
    if let Some(p) = &args.proxy {
        c.push_str(&format!(" --proxy {p}"));
    }
    if let Some(t) = args.pac_type {
        c.push_str(match t {
            PacType::OptimizeOnly => " --pac-type 1",
            PacType::OptimizeAndAllow => " --pac-type 2",
        });
    }
    if let Some(a) = &args.app {
        c.push_str(&format!(" --app \"{a}\""));
    }
    for d in &args.dns {
        c.push_str(&format!(" --dns {d}"));
    }
    if let Some(p) = args.policy {
        c.push_str(&format!(" --policy {}", p.name()));
    }
    if let Some(s) = args.split {
        c.push_str(&format!(" --split {}", s.name()));
    }
    if !args.aerleon_platform.is_empty() {
        let p: Vec<&str> = args.aerleon_platform.iter().map(|p| p.name()).collect();
        c.push_str(&format!(" --aerleon-platform {}", p.join(",")));
    }
    if let (Some(a), Some(b)) = (&args.from_zone, &args.to_zone) {
        c.push_str(&format!(" --from-zone {a} --to-zone {b}"));
    }
    if let Some(d) = &args.out_dir {
        c.push_str(&format!(" --out-dir {}", d.display()));
    }
    c
}

/// Runs the command.
pub fn run(args: &RulesArgs) -> Result<Outcome> {
    let opts = TargetOptions {
        target: args.target,
        by_name: args.by_name,
        proxy: args.proxy.clone(),
        pac_type: args.pac_type,
        app: args.app.clone(),
        dns: args.dns.clone(),
        policy: args.policy,
        restrict_source_ports: args.restrict_source_ports,
        split: args.split,
        aerleon_platforms: args.aerleon_platform.clone(),
        from_zone: args.from_zone.clone(),
        to_zone: args.to_zone.clone(),
    };
    // Options first: a contradiction is reported before any file is read.
    opts.check()?;
    match (args.target, &args.out_dir) {
        (Target::Aerleon, None) => bail!(
            "--target aerleon writes a policy, its definitions and aerleon.yml: give --out-dir DIR"
        ),
        (t, Some(_)) if t != Target::Aerleon => {
            bail!("--out-dir applies to --target aerleon only; other targets print to stdout")
        }
        _ => {}
    }
    let input = model_input::load(&args.endpoints, args.provisioning.as_deref(), args.profile)?;
    let (catalog, ranges, source) = (&input.catalog, &input.ranges, &input.source);
    let where_ = source.path.as_deref().unwrap_or("the embedded snapshot");
    let rules = edgepath_policy::build(
        catalog,
        ranges,
        &Options {
            restrict_source_ports: args.restrict_source_ports,
        },
    )
    .map_err(|e| anyhow!("{where_}: {e}"))?;
    // The description names Microsoft's version and date (or says it is unknown).
    let endpoint_data = source.description.clone();
    let command = command_line(args);
    let prov = Provenance {
        endpoint_data,
        command,
    };
    let rendered = edgepath_policy::render(&rules, &opts, &prov)?;
    let warnings = catalog.warnings();
    for w in warnings {
        eprintln!("edgepath: warning: {w}");
    }
    if let Some(dir) = &args.out_dir {
        write_files(dir, &rendered.files)?;
    }
    if args.output.json {
        emit_json(&document(&rules, &rendered, &prov, args, source, warnings))?;
    } else if let Some(dir) = &args.out_dir {
        emit(&format!("Wrote into {}:\n{}", dir.display(), rendered.text))?;
    } else {
        emit(&rendered.text)?;
    }
    Ok(Outcome::from_warnings(warnings))
}

fn document<'a>(
    rules: &'a RuleSet,
    rendered: &'a Rendered,
    prov: &'a Provenance,
    args: &RulesArgs,
    source: &'a EndpointSource,
    warnings: &'a [String],
) -> RulesDoc<'a> {
    let split = matches!(args.target, Target::Wireguard | Target::Openvpn).then(|| {
        let mode = args.split.unwrap_or_default();
        let (outside, inside) = rules.split_tunnel(mode);
        let doc = |sets: Vec<&'a edgepath_policy::OptimizeSet>| {
            sets.into_iter()
                .map(|s| SplitSetDoc {
                    endpoint_set: s.set_id,
                    service_area: &s.area,
                    addresses: s
                        .v4
                        .iter()
                        .map(ToString::to_string)
                        .chain(s.v6.iter().map(ToString::to_string))
                        .collect(),
                })
                .collect()
        };
        SplitDoc {
            mode: mode.name(),
            outside_tunnel: doc(outside),
            inside_tunnel: doc(inside),
        }
    });
    RulesDoc {
        target: args.target.name(),
        endpoints: source,
        files: rendered
            .files
            .iter()
            .map(|(p, c)| FileDoc {
                path: p,
                content: c,
            })
            .collect(),
        split,
        endpoint_data: &prov.endpoint_data,
        command: &prov.command,
        notes: &rendered.notes,
        flows: rules
            .flows
            .iter()
            .map(|f| FlowDoc {
                endpoint_set: f.set_id,
                service_area: &f.area,
                category: f.category,
                required: f.required,
                services: &f.services,
                protocol: f.proto.name(),
                ports: &f.ports,
                source_ports: f.source.map(|r| r.to_string()),
                names: &f.names,
                addresses: f
                    .v4
                    .iter()
                    .map(ToString::to_string)
                    .chain(f.v6.iter().map(ToString::to_string))
                    .collect(),
                media: f.media,
            })
            .collect(),
        qos: &rules.qos,
        warnings,
        config: &rendered.text,
    }
}
