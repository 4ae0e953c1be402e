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
use crate::format::{common_notes, header};
use crate::{Provenance, Rendered, RuleSet, Target, TargetOptions};

/// One generator. The opening every output shares (what the file is, where the
/// endpoint data came from, the command that made it, the notes) is written once, by
/// [`Generator::render`], in the format's comments; the generator writes the rest.
pub(crate) trait Generator {
    /// The format's comment marker.
    const COMMENT: &'static str = "# ";
    /// What comes before the opening (a script's `#!` line, an HTML comment's start).
    const FIRST_LINE: &'static str = "";

    /// What the file is, in one line.
    fn title(&self, opts: &TargetOptions) -> String;

    /// The opening as the format needs it escaped (as written, unless overridden).
    fn escape_opening(&self, text: String) -> String {
        text
    }

    /// Everything after the opening.
    fn body(&self, rules: &RuleSet, opts: &TargetOptions, prov: &Provenance, out: &mut String);

    /// The whole file.
    fn render(
        &self,
        rules: &RuleSet,
        opts: &TargetOptions,
        prov: &Provenance,
        notes: &[String],
    ) -> String {
        let mut out = String::from(Self::FIRST_LINE);
        let opening = header(Self::COMMENT, &self.title(opts), prov, notes);
        out.push_str(&self.escape_opening(opening));
        self.body(rules, opts, prov, &mut out);
        out
    }
}

/// Renders for `opts.target`; options were checked by the caller.
pub fn render(rules: &RuleSet, opts: &TargetOptions, prov: &Provenance) -> Rendered {
    let notes = common_notes(rules, opts);
    if opts.target == Target::Aerleon {
        let (text, files) = aerleon::render(rules, opts, prov, &notes);
        return Rendered { text, notes, files };
    }
    let text = match opts.target {
        Target::Nftables => nftables::Nftables.render(rules, opts, prov, &notes),
        Target::Iptables => iptables::Family::V4.render(rules, opts, prov, &notes),
        Target::Ip6tables => iptables::Family::V6.render(rules, opts, prov, &notes),
        Target::Windows => windows::Windows.render(rules, opts, prov, &notes),
        Target::Pac => pac::PacFile.render(rules, opts, prov, &notes),
        Target::Squid => squid::Squid.render(rules, opts, prov, &notes),
        Target::Wireguard => vpn::Wireguard.render(rules, opts, prov, &notes),
        Target::Openvpn => vpn::Openvpn.render(rules, opts, prov, &notes),
        Target::Checklist => checklist::Checklist.render(rules, opts, prov, &notes),
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
    /// Destination ports.
    pub ports: PortRange,
    /// The interface it comes in on, when given.
    pub iface_in: Option<&'a str>,
    /// The interface it leaves by, when given.
    pub iface_out: Option<&'a str>,
}

impl<'a> Acceptance<'a> {
    /// The interfaces given, each after the word its tool uses for its side (`-i`,
    /// `iifname` for the way in; `-o`, `oifname` for the way out).
    pub fn interfaces<'k>(&self, inn: &'k str, out: &'k str) -> Vec<(&'k str, &'a str)> {
        [(inn, self.iface_in), (out, self.iface_out)]
            .into_iter()
            .filter_map(|(key, name)| Some((key, name?)))
            .collect()
    }

    /// The destination ports, `443` or first and last joined by `sep` (`3478:3481`).
    pub fn port_span(&self, sep: char) -> String {
        let (a, b) = (self.ports.first(), self.ports.last());
        if a == b {
            a.to_string()
        } else {
            format!("{a}{sep}{b}")
        }
    }
}
