//! Small text helpers the targets share: port lists in each syntax, name forms, the
//! opening comment.

use edgepath_model::{PortRange, PortSet};

use crate::{Provenance, TargetOptions};

/// `443`, `3478-3481`: a range with a dash.
pub fn range_dash(r: PortRange) -> String {
    r.to_string()
}

/// `3478:3481`: a range as iptables writes it.
pub fn range_colon(r: PortRange) -> String {
    if r.first() == r.last() {
        r.first().to_string()
    } else {
        format!("{}:{}", r.first(), r.last())
    }
}

/// nftables: `443`, `3478-3481` or `{ 80, 443 }`.
pub fn ports_nft(ports: &PortSet) -> String {
    let parts: Vec<String> = ports.ranges().iter().map(|r| range_dash(*r)).collect();
    if parts.len() == 1 {
        parts[0].clone()
    } else {
        format!("{{ {} }}", parts.join(", "))
    }
}

/// `80, 443`, `3478-3481`: for people.
pub fn ports_text(ports: &PortSet) -> String {
    ports
        .ranges()
        .iter()
        .map(|r| range_dash(*r))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Letters, digits, `.`, `_` and `-`: safe bare for the shell and for nft.
pub fn plain(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// `s` as one POSIX shell word: bare when [`plain`], else in single quotes (a quote
/// inside written `'\''`). The one quoting helper for commands we print.
pub fn shell_word(s: &str) -> String {
    if plain(s) {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// `text` made safe for a one-line comment in any target: every character that
/// could end the line (or the comment) in nftables, iptables-restore, Squid,
/// PowerShell, WireGuard, OpenVPN or JavaScript (line and paragraph separators
/// included) is written as a visible escape, `\n`, `\r` or `\u{..}`. Paths and
/// values a user gives land in headers; this keeps them from starting a rule.
pub fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') => {
                out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out
}

/// The widest comment line we write, marker included. OpenVPN refuses any config line
/// of 256 characters or more, comments too; the other formats are easier to read so.
pub const COMMENT_WIDTH: usize = 120;

/// `text` as comment lines of at most [`COMMENT_WIDTH`] characters, each starting with
/// `prefix`, continuation lines indented by two spaces. Words longer than a line (a long
/// path) are cut. `text` must already be one line ([`one_line`]).
pub fn comment_lines(prefix: &str, text: &str) -> String {
    let room = COMMENT_WIDTH
        .saturating_sub(prefix.chars().count() + 2)
        .max(20);
    let mut lines: Vec<String> = Vec::new();
    let mut cur = String::new();
    for word in text.split(' ') {
        let mut word: Vec<char> = word.chars().collect();
        loop {
            let cur_len = cur.chars().count();
            let sep = usize::from(cur_len > 0);
            if cur_len + sep + word.len() <= room {
                if sep == 1 {
                    cur.push(' ');
                }
                cur.extend(word.iter());
                break;
            }
            if cur_len > 0 {
                lines.push(std::mem::take(&mut cur));
                continue;
            }
            // A word longer than a whole line: cut it.
            let rest = word.split_off(room);
            lines.push(word.iter().collect());
            word = rest;
        }
    }
    if !cur.is_empty() || lines.is_empty() {
        lines.push(cur);
    }
    let mut out = String::new();
    for (i, l) in lines.iter().enumerate() {
        if l.is_empty() {
            out.push_str(prefix.trim_end());
        } else {
            out.push_str(prefix);
            if i > 0 {
                out.push_str("  ");
            }
            out.push_str(l);
        }
        out.push('\n');
    }
    out
}

/// The opening comment: what it is, from which data, made by which command, and
/// the target's notes. `prefix` is the target's comment marker.
pub fn header(prefix: &str, what: &str, prov: &Provenance, notes: &[String]) -> String {
    let mut out = String::new();
    let mut line = |text: &str| out.push_str(&comment_lines(prefix, &one_line(text)));
    line(what);
    line(&format!("Endpoint data: {}", prov.endpoint_data));
    line(&format!("Made by: {}", prov.command));
    for n in notes {
        line(&format!("Note: {n}"));
    }
    out
}

/// The notes every target shares: names where it cannot match them, and names that
/// come without addresses.
pub fn common_notes(rules: &crate::RuleSet, opts: &TargetOptions) -> Vec<String> {
    let mut notes = Vec::new();
    let t = opts.target;
    if opts.by_name && !t.matches_names() {
        notes.push(format!(
            "--by-name: {t} cannot match destinations by name (it never sees the TLS server name), so these rules are by address; match names in the proxy (--target squid or pac) or a firewall that reads SNI"
        ));
    }
    if t.is_firewall() {
        let nameless: std::collections::BTreeSet<u32> = rules
            .flows
            .iter()
            .filter(|f| !f.has_addresses() && !f.names.is_empty())
            .map(|f| f.set_id)
            .collect();
        if !nameless.is_empty() {
            let ids: Vec<String> = nameless.iter().map(ToString::to_string).collect();
            notes.push(format!(
                "endpoint sets {} list names but no addresses; a packet filter cannot allow them: let them through the proxy, or see --target checklist",
                ids.join(", ")
            ));
        }
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_syntaxes() {
        let set = PortSet::parse_list("443,80,3478-3481").unwrap();
        assert_eq!(ports_nft(&set), "{ 80, 443, 3478-3481 }");
        assert_eq!(ports_text(&set), "80, 443, 3478-3481");
        assert_eq!(ports_nft(&PortSet::parse_list("443").unwrap()), "443");
        assert_eq!(
            range_colon(PortRange::new(3478, 3481).unwrap()),
            "3478:3481"
        );
        assert_eq!(range_colon(PortRange::single(443).unwrap()), "443");
    }

    #[test]
    fn header_lines_cannot_be_broken() {
        assert_eq!(
            one_line("a\nb\rc\u{2028}d\u{85}e\tf"),
            "a\\nb\\rc\\u{2028}d\\u{85}e\\u{9}f"
        );
        let prov = Provenance {
            endpoint_data: "endpoint data from x.json\nadd rule inet edgepath teams accept".into(),
            command: "edgepath rules --endpoints 'x.json\naccept'".into(),
        };
        let h = header("# ", "what", &prov, &["n\no".into()]);
        assert_eq!(h.lines().count(), 4, "{h}");
        assert!(h.lines().all(|l| l.starts_with("# ")), "{h}");
    }

    #[test]
    fn comments_wrap_below_the_width() {
        let long = format!("{} {}", "word ".repeat(60), "x".repeat(300));
        let text = comment_lines("# ", long.trim());
        assert!(
            text.lines()
                .all(|l| l.chars().count() <= COMMENT_WIDTH && l.starts_with("# ")),
            "{text}"
        );
        assert_eq!(
            text.replace("\n# ", "")
                .replace("  ", " ")
                .matches('x')
                .count(),
            300
        );
        assert_eq!(comment_lines("# ", ""), "#\n");
        assert_eq!(comment_lines("// ", "short"), "// short\n");
    }
}
