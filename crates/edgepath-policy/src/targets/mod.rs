//! One module per platform; each renders the same [`RuleSet`](crate::RuleSet).

pub mod aerleon;
mod checklist;
pub(crate) mod iptables;
pub(crate) mod nftables;
mod pac;
mod squid;
mod vpn;
mod windows;

use edgepath_model::{Family, PortRange};

use crate::flows::Proto;
use crate::format::common_notes;
use crate::{Provenance, Rendered, RuleSet, Target, TargetOptions};

/// Renders for `opts.target`; options were checked by the caller.
pub fn render(rules: &RuleSet, opts: &TargetOptions, prov: &Provenance) -> Rendered {
    let notes = common_notes(rules, opts);
    if opts.target == Target::Aerleon {
        let (text, files) = aerleon::render(rules, opts, prov, &notes);
        return Rendered { text, notes, files };
    }
    let text = match opts.target {
        Target::Nftables => nftables::render(rules, opts, prov, &notes),
        Target::Iptables => iptables::render(rules, opts, prov, &notes, iptables::Family::V4),
        Target::Ip6tables => iptables::render(rules, opts, prov, &notes, iptables::Family::V6),
        Target::Windows => windows::render(rules, opts, prov, &notes),
        Target::Pac => pac::render(rules, opts, prov, &notes),
        Target::Squid => squid::render(rules, opts, prov, &notes),
        Target::Wireguard => vpn::wireguard(rules, opts, prov, &notes),
        Target::Openvpn => vpn::openvpn(rules, opts, prov, &notes),
        Target::Checklist => checklist::render(rules, opts, prov, &notes),
        // Rendered above: it writes files.
        Target::Aerleon => String::new(),
    };
    Rendered {
        text,
        notes,
        files: Vec::new(),
    }
}

/// One flow to accept, as a fix to an existing firewall names it: what
/// [`nftables::accept_command`] and [`iptables::accept_command`] write in their syntax.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Acceptance<'a> {
    /// Its family.
    pub family: Family,
    /// Its protocol.
    pub proto: Proto,
    /// Its destinations (networks as text); `None`: any address of the family.
    pub destinations: Option<&'a [String]>,
    /// The client's source ports, when they matter (media).
    pub source_ports: Option<PortRange>,
    /// Destination ports, first and last.
    pub ports: (u16, u16),
    /// The interface it comes in on, when given.
    pub iface_in: Option<&'a str>,
    /// The interface it leaves by, when given.
    pub iface_out: Option<&'a str>,
}
