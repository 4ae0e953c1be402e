//! `edgepath completions SHELL` and `edgepath man`: generated from the same command
//! definitions as `--help` (clap_complete, clap_mangen), so they cannot drift from it.
//! The Debian package ships both.

use std::path::Path;

use anyhow::{Context, Result};
use clap::CommandFactory;

use crate::args::{Cli, CompletionsArgs, ManArgs};
use crate::output::Outcome;

/// Prints the completion script for the shell.
pub fn completions(args: &CompletionsArgs) -> Result<Outcome> {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "edgepath", &mut out);
    crate::output::emit(&String::from_utf8_lossy(&out))?;
    Ok(Outcome::Clean)
}

/// Writes edgepath.1 and edgepath-COMMAND.1 for every command (and
/// edgepath-catalog-update.1 and the like for nested ones).
pub fn man(args: &ManArgs) -> Result<Outcome> {
    std::fs::create_dir_all(&args.out_dir)
        .with_context(|| format!("--out-dir {}", args.out_dir.display()))?;
    let cmd = Cli::command();
    let written = write_pages(&cmd, "edgepath", &args.out_dir)?;
    eprintln!(
        "edgepath man: {written} page(s) written to {}",
        args.out_dir.display()
    );
    Ok(Outcome::Clean)
}

fn write_pages(cmd: &clap::Command, name: &str, dir: &Path) -> Result<usize> {
    // The page's own name (edgepath-check), so that its NAME and SYNOPSIS say it.
    let cmd = cmd
        .clone()
        .name(name.to_owned())
        .bin_name(name.replace('-', " "));
    let path = dir.join(format!("{name}.1"));
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut page)
        .with_context(|| format!("rendering {name}.1"))?;
    std::fs::write(&path, page).with_context(|| format!("{}", path.display()))?;
    let mut written = 1;
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        written += write_pages(sub, &format!("{name}-{}", sub.get_name()), dir)?;
    }
    Ok(written)
}
