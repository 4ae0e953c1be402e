//! `edgepath provisioning FILE|-`.

use anyhow::{anyhow, Result};
use edgepath_model::Provisioning;

use crate::args::ProvisioningArgs;
use crate::output::{emit, emit_json, read_text, Outcome, Table};

/// Runs the command.
pub fn run(args: &ProvisioningArgs) -> Result<Outcome> {
    let shown = if args.input.as_os_str() == "-" {
        "standard input".to_owned()
    } else {
        args.input.display().to_string()
    };
    let (text, bad_utf8) = read_text(&args.input)?;
    let mut p = Provisioning::parse(&text).map_err(|e| anyhow!("{shown}: {e}"))?;
    if let Some(note) = bad_utf8 {
        p.warnings.insert(0, note);
    }
    let outcome = Outcome::from_warnings(&p.warnings);
    if args.output.json {
        emit_json(&p)?;
        return Ok(outcome);
    }
    let mut out = format!("Provisioning read from {shown}\n");
    out.push_str(&format!(
        "Port ranges enabled (ucPortRangeEnabled): {}\n\n",
        match p.port_range_enabled {
            Some(true) => "yes",
            Some(false) => "no",
            None => "not stated",
        }
    ));
    let mut t = Table::new(&["RANGE", "PORTS", "COUNT"]);
    let r = &p.ranges;
    let rows = [
        ("media", Some(r.media)),
        ("audio", Some(r.audio)),
        ("video", Some(r.video)),
        ("app_sharing", Some(r.app_sharing)),
        ("file_transfer", Some(r.file_transfer)),
        ("sip_dynamic", r.sip_dynamic),
    ];
    for (name, range) in rows {
        match range {
            Some(range) => t.row(vec![
                name.into(),
                range.to_string(),
                range.len().to_string(),
            ]),
            None => t.row(vec![name.into(), "-".into(), "-".into()]),
        }
    }
    t.render(&mut out);
    out.push_str("\nQoS by client source port (Microsoft's recommended DSCP):\n");
    let mut q = Table::new(&["MODALITY", "SOURCE PORTS", "DSCP"]);
    for rule in &p.qos {
        q.row(vec![
            rule.modality.to_string(),
            rule.ports.to_string(),
            rule.dscp.to_string(),
        ]);
    }
    q.render(&mut out);
    if !p.warnings.is_empty() {
        out.push_str(&format!("\n{} warning(s):\n", p.warnings.len()));
        for w in &p.warnings {
            out.push_str(&format!("  - {w}\n"));
        }
    }
    emit(&out)?;
    Ok(outcome)
}
