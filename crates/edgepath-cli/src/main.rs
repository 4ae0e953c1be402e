//! The `edgepath` binary: argument parsing and rendering only; the work is in
//! the library crates.
#![forbid(unsafe_code)]

mod args;
mod audit_cmd;
mod capture_cmd;
mod catalog_cmd;
mod check_cmd;
mod check_settings;
mod decode_cmd;
mod docs_cmd;
mod history;
#[cfg(feature = "live")]
mod live;
mod model_input;
mod monitor;
mod output;
mod pac_source;
mod provisioning_cmd;
mod proxy_choice;
mod report;
mod rules_cmd;
mod serve;
mod sites_cmd;
mod store;
mod update;
mod watch;

use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command};
use output::Outcome;

fn main() -> ExitCode {
    // clap exits 2 on usage errors and 0 for --help/--version.
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Catalog(a) => catalog_cmd::run(a),
        Command::Provisioning(a) => provisioning_cmd::run(a),
        Command::Sites(a) => sites_cmd::run(a),
        Command::Decode(a) => decode_cmd::run(a),
        Command::Check(a) => check_cmd::run(a),
        Command::Rules(a) => rules_cmd::run(a),
        Command::Capture(a) => capture_cmd::run(a),
        Command::Audit(a) => audit_cmd::run(a),
        Command::Serve(a) => serve::run(a),
        Command::Monitor(a) => monitor::run(a),
        Command::Completions(a) => docs_cmd::completions(a),
        Command::Man(a) => docs_cmd::man(a),
    };
    match result {
        Ok(Outcome::Clean) => ExitCode::SUCCESS,
        Ok(Outcome::Findings) => ExitCode::from(1),
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("edgepath: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// A reader that closed the pipe (`edgepath ... | head`) is not an error.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
