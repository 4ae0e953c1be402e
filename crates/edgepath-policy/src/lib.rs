//! edgepath's policy lens: the flows a Skype for Business Online / Teams client needs,
//! derived once from the catalog, rendered for the platforms admins run (nftables,
//! iptables, Windows firewall and QoS, PAC, Squid, WireGuard, OpenVPN, a checklist).
//!
//! Every target renders the same [`RuleSet`], so a firewall, a PAC file and a checklist
//! never disagree. Targets take only checked types ([`ProxyAddr`], [`PortRange`](edgepath_model::PortRange),
//! `IpNet`), so nothing from outside reaches the generated text unchecked.
#![forbid(unsafe_code)]

pub mod audit;
pub mod complement;
pub mod flows;
mod format;
mod options;
mod targets;

pub use flows::{build, Flow, OptimizeSet, Options, PolicyError, Proto, RuleSet};
pub use options::{
    AerleonPlatform, ChainPolicy, OptionError, PacType, ProxyAddr, SplitTunnel, Target,
    TargetOptions, Zone,
};

/// Where a generated configuration came from, for its opening comment.
#[derive(Debug, Clone)]
pub struct Provenance {
    /// The endpoint data, in a sentence (with Microsoft's version where known).
    pub endpoint_data: String,
    /// The command that made it, as a person would type it.
    pub command: String,
}

/// A generated configuration.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The configuration text, starting with a comment saying what it is.
    pub text: String,
    /// Remarks for the admin (also written into the text as comments).
    pub notes: Vec<String>,
    /// Files to write (path relative to the output directory, content), for targets
    /// whose output is several files (aerleon); empty otherwise.
    pub files: Vec<(String, String)>,
}

/// Renders `rules` for `opts.target`, after checking that the options fit the target.
pub fn render(
    rules: &RuleSet,
    opts: &TargetOptions,
    prov: &Provenance,
) -> Result<Rendered, OptionError> {
    opts.check()?;
    Ok(targets::render(rules, opts, prov))
}
