//! edgepath's policy lens: the flows a Skype for Business Online / Teams client needs,
//! derived once from the catalog, rendered for the platforms admins run (nftables,
//! iptables, Windows firewall and QoS, PAC, Squid, WireGuard, OpenVPN, a checklist).
#![forbid(unsafe_code)]

pub mod complement;
pub mod flows;

pub use flows::{build, Flow, Options, PolicyError, Proto, RuleSet};
