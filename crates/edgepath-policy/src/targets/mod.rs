//! One module per platform; each renders the same [`RuleSet`](crate::RuleSet).

pub mod aerleon;
mod checklist;
mod iptables;
mod nftables;
mod pac;
mod squid;
mod vpn;
mod windows;

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
