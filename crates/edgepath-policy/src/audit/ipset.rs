//! Reads `ipset save` output (`create` and `add` lines): the sets iptables rules name
//! with `-m set --match-set NAME FLAGS`, whose members iptables-save does not list.
//! Admins often keep Microsoft's ranges in one. [`resolve`] then turns each such match
//! into a condition on the packet's fields, so the evaluator needs nothing new.
//!
//! A set's type says what each field of an entry is (`hash:net`: an address;
//! `hash:ip,port`: an address and a protocol with a port; `hash:net,iface`: an address
//! and an interface); the rule's flags say whether each is the packet's source or
//! destination. `nomatch` entries of a one-field address set are exceptions: the most
//! specific entry decides, as in the kernel. What is not modelled (marks, MAC
//! addresses, `list:set`, `nomatch` in several fields) makes the set's matches unknown,
//! named.

use std::collections::HashMap;

use edgepath_model::Family;

use super::iptables::words;
use super::ir::{
    cidr, ifname, protocol_number, service_port, Condition, Dim, Match, Ruleset, Values,
};
use super::AuditError;

/// What one field of a set's entries is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    /// An address, a prefix or a range (`ip`, `net`).
    Addr,
    /// A protocol and a port or range (`udp:3478-3481`; TCP when no protocol is given).
    Port,
    /// An interface name.
    Iface,
}

/// One set, as `ipset save` wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpSet {
    /// Its name.
    pub name: String,
    /// Where it was created (`file:line`).
    pub created_at: String,
    /// The family of its addresses.
    pub family: Family,
    fields: Vec<Field>,
    /// Each entry: per field, its values (a port field: the protocol, then the port).
    entries: Vec<Vec<Values>>,
    /// One-field address sets: the `nomatch` exceptions with their prefix lengths.
    exceptions: Vec<(u32, (u128, u128))>,
    /// Plain entries of one-field address sets, with their prefix lengths.
    prefixed: Vec<(u32, (u128, u128))>,
    /// Why its matches cannot be decided, when they cannot.
    unmodelled: Option<String>,
}

/// The sets of one or more `ipset save` files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpSets {
    /// By name.
    pub sets: HashMap<String, IpSet>,
    /// What was read and not modelled.
    pub warnings: Vec<String>,
}

/// Reads `ipset save` output from `file` into `into` (several files merge).
pub fn read(file: &str, text: &str, into: &mut IpSets) -> Result<(), AuditError> {
    let syntax = |line: usize, what: String| AuditError::Syntax {
        file: file.to_owned(),
        line,
        what,
    };
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        // Quoted as iptables-save quotes (`comment "..."`).
        let w = words(raw).map_err(|what| syntax(n, what))?;
        let Some(first) = w.first() else { continue };
        if first.starts_with('#') {
            continue;
        }
        match (first.as_str(), w.get(1)) {
            ("create" | "-N", Some(name)) => {
                let kind = w
                    .get(2)
                    .ok_or_else(|| syntax(n, format!("set {name} without a type")))?;
                let set = create(file, n, name, kind, &w[3..]);
                if let Some(why) = &set.unmodelled {
                    into.warnings
                        .push(format!("{file}:{n}: ipset {name}: {why}"));
                }
                into.sets.insert(name.clone(), set);
            }
            ("add" | "-A", Some(name)) => {
                let entry = w
                    .get(2)
                    .ok_or_else(|| syntax(n, format!("an add to {name} without an entry")))?;
                let set = into.sets.get_mut(name.as_str()).ok_or_else(|| {
                    syntax(
                        n,
                        format!("an add to set {name}, which is not created before"),
                    )
                })?;
                if set.unmodelled.is_none() {
                    let nomatch = w[3..].iter().any(|o| o == "nomatch");
                    add(set, entry, nomatch).map_err(|what| syntax(n, what))?;
                }
            }
            // What an `ipset restore` file may hold besides: nothing to evaluate.
            ("flush" | "destroy" | "-F" | "-X" | "swap" | "rename" | "COMMIT", _) => {}
            _ => {
                return Err(syntax(
                    n,
                    format!(
                        "expected `create NAME TYPE` or `add NAME ENTRY` (ipset save), found `{}`",
                        raw.trim()
                    ),
                ))
            }
        }
    }
    Ok(())
}

/// A set from its `create` line.
fn create(file: &str, line: usize, name: &str, kind: &str, options: &[String]) -> IpSet {
    let family = match options.iter().position(|o| o == "family") {
        Some(p) if options.get(p + 1).is_some_and(|f| f == "inet6") => Family::Ipv6,
        _ => Family::Ipv4,
    };
    let mut unmodelled = None;
    let mut fields = Vec::new();
    match kind.split_once(':') {
        Some(("hash" | "bitmap", parts)) => {
            for p in parts.split(',') {
                match p {
                    "ip" | "net" => fields.push(Field::Addr),
                    "port" => fields.push(Field::Port),
                    "iface" => fields.push(Field::Iface),
                    other => {
                        unmodelled = Some(format!(
                            "a set of type {kind} (its {other} field is not modelled)"
                        ));
                    }
                }
            }
        }
        _ => unmodelled = Some(format!("a set of type {kind} (not modelled)")),
    }
    if fields.is_empty() && unmodelled.is_none() {
        unmodelled = Some(format!("type {kind}"));
    }
    IpSet {
        name: name.to_owned(),
        created_at: format!("{file}:{line}"),
        family,
        fields,
        entries: Vec::new(),
        exceptions: Vec::new(),
        prefixed: Vec::new(),
        unmodelled,
    }
}

/// An address, a prefix or a range, with its prefix length (a range: the family's
/// full length, so that it is as specific as a single address).
fn address(s: &str) -> Result<(u32, (u128, u128)), String> {
    if let Some((a, b)) = s.split_once('-') {
        let (lo, _) = cidr(a).ok_or_else(|| format!("address `{a}`"))?;
        let (_, hi) = cidr(b).ok_or_else(|| format!("address `{b}`"))?;
        if lo > hi {
            return Err(format!("the range `{s}` ends before it starts"));
        }
        return Ok((128, (lo, hi)));
    }
    let len = s.split_once('/').map_or(Ok(128), |(_, l)| {
        l.parse::<u32>().map_err(|_| format!("prefix `{s}`"))
    })?;
    let r = cidr(s).ok_or_else(|| format!("address `{s}`"))?;
    Ok((len, r))
}

/// `[proto:]port[-port]` as (protocol, ports).
fn port(s: &str) -> Result<(Values, Values), String> {
    let (proto, ports) = s.split_once(':').unwrap_or(("tcp", s));
    let p = protocol_number(proto).ok_or_else(|| format!("protocol `{proto}` in `{s}`"))?;
    if p == 1 || p == 58 {
        // ICMP "ports" are types: no UDP or TCP packet is one.
        return Ok((Values::one(p), Values::new(vec![(0, 65535)])));
    }
    let one = |x: &str| -> Result<u128, String> {
        match service_port(x) {
            Some(n) => Ok(n),
            None => x
                .parse::<u16>()
                .map(u128::from)
                .map_err(|_| format!("port `{x}` in `{s}`")),
        }
    };
    let (a, b) = match ports.split_once('-') {
        Some((a, b)) => (one(a)?, one(b)?),
        None => {
            let v = one(ports)?;
            (v, v)
        }
    };
    Ok((Values::one(p), Values::new(vec![(a, b)])))
}

/// One `add` line's entry.
fn add(set: &mut IpSet, entry: &str, nomatch: bool) -> Result<(), String> {
    let parts: Vec<&str> = entry.split(',').collect();
    if parts.len() != set.fields.len() {
        return Err(format!(
            "entry `{entry}` has {} fields; set {} has {}",
            parts.len(),
            set.name,
            set.fields.len()
        ));
    }
    if set.fields == [Field::Addr] {
        let (len, r) = address(entry)?;
        if nomatch {
            set.exceptions.push((len, r));
        } else {
            set.prefixed.push((len, r));
        }
        return Ok(());
    }
    if nomatch {
        set.unmodelled = Some(format!(
            "a nomatch entry ({entry}) in a set of several fields (not modelled)"
        ));
        return Ok(());
    }
    let mut values = Vec::new();
    for (field, text) in set.fields.iter().zip(parts) {
        match field {
            Field::Addr => values.push(Values::new(vec![address(text)?.1])),
            Field::Port => {
                let (proto, ports) = port(text)?;
                values.push(proto);
                values.push(ports);
            }
            Field::Iface => {
                // `physdev:NAME` is a bridge port, not the packet's interface.
                let n = ifname(text).ok_or_else(|| format!("interface `{text}`"))?;
                values.push(Values::one(n));
            }
        }
    }
    set.entries.push(values);
    Ok(())
}

/// The addresses of a one-field address set: its entries from the least specific to
/// the most, each adding (or, a `nomatch`, taking away) its own addresses, so the most
/// specific entry decides.
///
/// One prefix length at a time (an entry and an exception of the same length cannot
/// overlap: they would be the same entry), so a set of 100,000 entries is a few sorts,
/// not 100,000 merges.
fn addresses(set: &IpSet) -> Values {
    let mut lengths: Vec<u32> = set
        .prefixed
        .iter()
        .chain(&set.exceptions)
        .map(|&(l, _)| l)
        .collect();
    lengths.sort_unstable();
    lengths.dedup();
    let at = |list: &[(u32, (u128, u128))], len: u32| -> Vec<(u128, u128)> {
        list.iter()
            .filter(|&&(l, _)| l == len)
            .map(|&(_, r)| r)
            .collect()
    };
    let mut v: Vec<(u128, u128)> = Vec::new();
    for len in lengths {
        v.extend(at(&set.prefixed, len));
        v = Values::new(v).0;
        let cut = Values::new(at(&set.exceptions, len)).0;
        if !cut.is_empty() {
            v = minus(&v, &cut);
        }
    }
    Values(v)
}

/// Sorted disjoint intervals `v` without the sorted disjoint intervals `cut`, in one
/// sweep over both.
fn minus(v: &[(u128, u128)], cut: &[(u128, u128)]) -> Vec<(u128, u128)> {
    let mut out = Vec::new();
    let mut j = 0;
    for &(a, b) in v {
        let mut lo = a;
        // Cuts wholly before this interval cannot touch the later ones either.
        while j < cut.len() && cut[j].1 < a {
            j += 1;
        }
        let mut k = j;
        let mut open = true;
        while k < cut.len() && cut[k].0 <= b {
            let (c, d) = cut[k];
            if c > lo {
                out.push((lo, c - 1));
            }
            match d.checked_add(1) {
                Some(next) if next <= b => lo = lo.max(next),
                _ => {
                    open = false;
                    break;
                }
            }
            k += 1;
        }
        if open {
            out.push((lo, b));
        }
    }
    out
}

/// The matches `-m set [!] --match-set NAME FLAGS` stands for, given the set: the
/// family of its addresses and a condition on the fields the flags name.
fn matches_of(set: &IpSet, src: &[bool], negated: bool) -> Result<Vec<Match>, String> {
    if let Some(why) = &set.unmodelled {
        return Err(format!("ipset {} ({}): {why}", set.name, set.created_at));
    }
    if src.len() < set.fields.len() {
        return Err(format!(
            "ipset {} has {} fields and the rule gives {} src/dst flags (not modelled)",
            set.name,
            set.fields.len(),
            src.len()
        ));
    }
    let mut dims = Vec::new();
    for (field, &s) in set.fields.iter().zip(src) {
        match (field, s) {
            (Field::Addr, true) => dims.push(Dim::SrcAddr),
            (Field::Addr, false) => dims.push(Dim::DstAddr),
            (Field::Port, s) => {
                dims.push(Dim::L4Proto);
                dims.push(if s { Dim::SrcPort } else { Dim::DstPort });
            }
            (Field::Iface, true) => dims.push(Dim::InIface),
            (Field::Iface, false) => dims.push(Dim::OutIface),
        }
    }
    let elements = if set.fields == [Field::Addr] {
        vec![vec![addresses(set)]]
    } else {
        set.entries.clone()
    };
    let mut out = Vec::new();
    // The set holds one family's addresses: a packet of the other is not in it.
    if set.fields.contains(&Field::Addr) && !negated {
        out.push(Match::Family(set.family));
    }
    out.push(Match::Fields(Condition {
        dims,
        elements,
        negated,
    }));
    Ok(out)
}

/// Replaces every ipset match of `rs` by what it stands for, or by an unknown match
/// saying why it cannot be decided (no such set given, a type not modelled).
pub fn resolve(rs: &mut Ruleset, sets: &IpSets) {
    for chain in &mut rs.chains {
        for rule in &mut chain.rules {
            let mut out = Vec::with_capacity(rule.matches.len());
            for m in std::mem::take(&mut rule.matches) {
                let Match::IpSet { name, src, negated } = &m else {
                    out.push(m);
                    continue;
                };
                let resolved = match sets.sets.get(name) {
                    None => Err(format!(
                        "ipset {name}, which is not in the ipset save output given"
                    )),
                    Some(set) => matches_of(set, src, *negated),
                };
                match resolved {
                    Ok(ms) => out.extend(ms),
                    Err(why) => out.push(Match::Unknown(why)),
                }
            }
            rule.matches = out;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::ir::addr;

    fn ip(s: &str) -> u128 {
        addr(s.parse().unwrap())
    }

    /// What `ipset save` 7.17 wrote for these sets (see the test in tests/audit.rs that
    /// makes them with the real tool).
    const SAVED: &str = "create m365 hash:net family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0xea841f2f
add m365 52.112.1.0/24 nomatch
add m365 52.122.0.0/15
add m365 52.112.0.0/14
add m365 52.112.1.128/25
create relays hash:ip,port family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x57761237
add relays 52.112.0.10,udp:3479
add relays 52.112.0.11,tcp:443
create zones hash:net,iface family inet hashsize 1024 maxelem 65536
add zones 10.0.0.0/8,br-lan
create macs hash:mac hashsize 1024 maxelem 65536
add macs 00:11:22:33:44:55
";

    #[test]
    fn sets_are_read_with_their_fields_and_exceptions() {
        let mut s = IpSets::default();
        read("sets.save", SAVED, &mut s).unwrap();
        assert_eq!(s.sets.len(), 4);
        // The most specific entry decides: the /24 is out, the /25 inside it back in.
        let m365 = addresses(&s.sets["m365"]);
        assert_eq!(
            m365.0,
            vec![
                (ip("52.112.0.0"), ip("52.112.0.255")),
                (ip("52.112.1.128"), ip("52.115.255.255")),
                (ip("52.122.0.0"), ip("52.123.255.255")),
            ]
        );
        let ms = matches_of(&s.sets["relays"], &[false, false], true).unwrap();
        let [Match::Fields(c)] = ms.as_slice() else {
            panic!("{ms:?}")
        };
        assert_eq!(c.dims, [Dim::DstAddr, Dim::L4Proto, Dim::DstPort]);
        assert_eq!(c.elements[0][1], Values::one(17));
        assert!(c.negated);
        let ms = matches_of(&s.sets["zones"], &[true, true], false).unwrap();
        let Match::Fields(c) = &ms[1] else {
            panic!("{ms:?}")
        };
        assert_eq!(c.dims, [Dim::SrcAddr, Dim::InIface]);
        // Not modelled: said, and a warning.
        assert!(matches_of(&s.sets["macs"], &[true], false).is_err());
        assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
        // Too few flags for the set's fields.
        assert!(matches_of(&s.sets["relays"], &[false], false).is_err());
    }

    #[test]
    fn minus_cuts_in_one_sweep() {
        type Case<'a> = (&'a [(u128, u128)], &'a [(u128, u128)], &'a [(u128, u128)]);
        let cases: &[Case] = &[
            (&[(0, 9)], &[(3, 4)], &[(0, 2), (5, 9)]),
            (&[(0, 9)], &[(0, 9)], &[]),
            (&[(0, 9), (20, 29)], &[(5, 24)], &[(0, 4), (25, 29)]),
            (&[(0, 9), (20, 29)], &[(10, 19)], &[(0, 9), (20, 29)]),
            (&[(5, 9)], &[(0, 1), (2, 6), (8, 8)], &[(7, 7), (9, 9)]),
            (
                &[(0, u128::MAX)],
                &[(u128::MAX, u128::MAX)],
                &[(0, u128::MAX - 1)],
            ),
            (&[(0, 9)], &[], &[(0, 9)]),
        ];
        for (v, cut, want) in cases {
            assert_eq!(minus(v, cut), *want, "{v:?} - {cut:?}");
        }
    }

    #[test]
    fn the_most_specific_entry_decides_at_every_level() {
        // /8 in, /16 out, /24 in again, /32 out again.
        let text = "create s hash:net\nadd s 10.0.0.0/8\nadd s 10.1.0.0/16 nomatch\nadd s 10.1.2.0/24\nadd s 10.1.2.3 nomatch\n";
        let mut sets = IpSets::default();
        read("n.save", text, &mut sets).unwrap();
        let v = addresses(&sets.sets["s"]);
        let inside = |a: &str| v.0.iter().any(|&(lo, hi)| (lo..=hi).contains(&ip(a)));
        for (a, want) in [
            ("10.0.0.1", true),
            ("10.1.0.1", false),
            ("10.1.2.1", true),
            ("10.1.2.3", false),
            ("10.1.3.1", false),
            ("10.2.0.0", true),
            ("11.0.0.0", false),
        ] {
            assert_eq!(inside(a), want, "{a}");
        }
    }

    #[test]
    fn bad_lines_name_their_line() {
        type Case<'a> = (&'a str, usize, &'a str);
        let cases: &[Case] = &[
            ("add nowhere 1.2.3.4\n", 1, "not created before"),
            ("create a hash:net\nadd a 1.2.3.4/33\n", 2, "1.2.3.4/33"),
            ("create a hash:ip,port\nadd a 1.2.3.4\n", 2, "has 1 fields"),
            (
                "create a hash:ip,port\nadd a 1.2.3.4,gre:5\n",
                2,
                "protocol `gre`",
            ),
            (
                "create a hash:ip\nadd a 1.2.3.9-1.2.3.4\n",
                2,
                "ends before",
            ),
            ("create a hash:ip\nhello world\n", 2, "expected `create"),
            ("create a\n", 1, "without a type"),
        ];
        for (text, line, what) in cases {
            let err = read("b.save", text, &mut IpSets::default()).unwrap_err();
            let AuditError::Syntax {
                line: l, what: w, ..
            } = &err
            else {
                panic!("{err:?}")
            };
            assert_eq!(l, line, "{text}");
            assert!(w.contains(what), "{text}: {w}");
        }
    }
}
