//! `edgepath audit`: what an existing firewall configuration does to each modality and
//! service, in `check`'s words, with the rule that decides each flow.
//!
//! Readers (one per format: [`nft`] for `nft -j list ruleset`, [`iptables`] for
//! `iptables-save`) turn text into the rules of [`ir`]; [`eval`] holds the semantics;
//! [`predict`] asks it about the flows the model says a client needs. docs/audit.md
//! writes the semantics down.

pub mod eval;
pub mod iptables;
pub mod ir;
pub mod nft;
pub mod predict;

pub use predict::{audit, AuditOptions, AuditReport, Fix};

/// Why a configuration cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// Malformed input, with where.
    #[error("{file}:{line}: {what}")]
    Syntax {
        /// The file.
        file: String,
        /// The line (1-based).
        line: usize,
        /// What is wrong.
        what: String,
    },
    /// A format the audit does not read (yet), or not recognised.
    #[error("{file}: {what}")]
    Format {
        /// The file.
        file: String,
        /// What it is or seems to be.
        what: String,
    },
}

/// The configuration formats `audit` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `nft -j list ruleset`.
    NftablesJson,
    /// `iptables-save` / `ip6tables-save`.
    IptablesSave,
}

impl Format {
    /// Recognised by content: JSON with an `nftables` array, or iptables-save's
    /// `*table` and `:CHAIN POLICY` lines.
    pub fn detect(text: &str) -> Option<Format> {
        let t = text.trim_start();
        if t.starts_with('{') && t.contains("\"nftables\"") {
            return Some(Format::NftablesJson);
        }
        let mut lines = t
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'));
        if lines.next().is_some_and(|l| l.starts_with('*')) {
            return Some(Format::IptablesSave);
        }
        None
    }

    /// Its name in `--format`.
    pub fn name(self) -> &'static str {
        match self {
            Format::NftablesJson => "nftables-json",
            Format::IptablesSave => "iptables-save",
        }
    }

    /// From `--format`.
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "nftables-json" | "nft-json" | "nftables" => Some(Format::NftablesJson),
            "iptables-save" | "iptables" | "ip6tables-save" => Some(Format::IptablesSave),
            _ => None,
        }
    }
}

/// Reads one configuration file into rules.
pub fn read(file: &str, text: &str, format: Option<Format>) -> Result<ir::Ruleset, AuditError> {
    let format = format
        .or_else(|| Format::detect(text))
        .ok_or_else(|| AuditError::Format {
            file: file.to_owned(),
            what: "not a configuration audit reads: `nft -j list ruleset` JSON or iptables-save \
               output (give --format to say which)"
                .into(),
        })?;
    match format {
        Format::NftablesJson => nft::read(file, text),
        Format::IptablesSave => iptables::read(file, text),
    }
}
