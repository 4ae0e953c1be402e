//! `edgepath decode`: one packet, from hex or a file, dissected by edgepath-wire and
//! checked; this module only reads the input and writes the result.

use anyhow::{anyhow, bail, Context, Result};
use edgepath_wire::stun::Credentials;

use crate::args::DecodeArgs;
use crate::output::{emit, emit_json, Outcome};

/// Largest packet accepted: a STUN message is at most 64 KiB + header.
const MAX_PACKET: u64 = 70 * 1024;

/// Runs the command.
pub fn run(args: &DecodeArgs) -> Result<Outcome> {
    let bytes = match (&args.hex, &args.file) {
        (Some(h), None) => {
            edgepath_wire::parse_hex(h).map_err(|e| anyhow!("the hex input: {e}"))?
        }
        (None, Some(f)) => {
            let meta =
                std::fs::metadata(f).with_context(|| format!("cannot open {}", f.display()))?;
            if meta.len() > MAX_PACKET {
                bail!(
                    "{}: {} bytes is larger than any packet edgepath decodes",
                    f.display(),
                    meta.len()
                );
            }
            std::fs::read(f).with_context(|| format!("cannot read {}", f.display()))?
        }
        // clap enforces exactly one of them.
        _ => bail!("give the packet as HEX or with --file"),
    };
    let creds = match (&args.username, &args.realm, &args.password) {
        (None, None, Some(p)) => Some(Credentials::ShortTerm { password: p }),
        (Some(u), Some(r), Some(p)) => Some(Credentials::LongTerm {
            username: u,
            realm: r,
            password: p,
        }),
        (None, None, None) => None,
        _ => bail!("for long-term credentials give --username, --realm and --password together; for short-term only --password"),
    };
    let layer = edgepath_wire::dissect::dissect(&bytes, creds.as_ref())
        .map_err(|e| anyhow!("not a packet edgepath decodes: {e}"))?;
    let outcome = if layer.check_failed() {
        Outcome::Findings
    } else {
        Outcome::Clean
    };
    if args.output.json {
        emit_json(&layer)?;
    } else {
        emit(&layer.to_string())?;
    }
    Ok(outcome)
}
