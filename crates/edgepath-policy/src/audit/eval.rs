//! The firewall's semantics, over regions of packets rather than single packets: a
//! region is a family and an interval per field (protocol, source and destination
//! address and port). A rule that holds for part of a region splits it at the rule's
//! own boundary, and each part goes on alone, so a `/14` of media addresses is one
//! question when the rules treat it alike and a few when they do not, never 2^18.
//!
//! netfilter's order: every base chain on the hook, lowest priority first, must accept
//! (an accept ends only its own chain); a drop or reject anywhere ends it. `jump`
//! returns, `goto` does not, `return` goes back to the caller (from a base chain: its
//! policy). The first packet of a new connection is what is followed (answers are
//! assumed to be established). What the audit does not model is unknown, with the rule
//! named, never taken as a match or a miss.

use std::collections::HashMap;

use edgepath_model::Family;

use super::ir::{Action, Chain, Condition, Dim, Hook, Match, Origin, Ruleset, Values, DIMS};

/// A set of packets: one family and protocol, an interval of each field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// IPv4 or IPv6.
    pub family: Family,
    /// Inclusive intervals, indexed by [`Dim`].
    pub range: [(u128, u128); DIMS],
}

impl Region {
    /// The interval of one field.
    pub fn get(&self, d: Dim) -> (u128, u128) {
        self.range[d as usize]
    }

    fn split(&self, d: Dim, at: u128) -> (Region, Region) {
        let (lo, hi) = self.get(d);
        let (mut a, mut b) = (*self, *self);
        a.range[d as usize] = (lo, at - 1);
        b.range[d as usize] = (at, hi);
        (a, b)
    }
}

/// How a firewall treats a region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every base chain on the hook accepts it.
    Accept,
    /// Dropped.
    Drop,
    /// Rejected.
    Reject,
    /// Not decided: a construct the audit does not model, named.
    Unknown(String),
}

/// A verdict and the rules that gave it (for an accept, each base chain's accepting
/// rule or policy; otherwise the one rule).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The verdict.
    pub verdict: Verdict,
    /// The deciding rules.
    pub by: Vec<Origin>,
}

/// The most pieces one question is split into before the rest is called unknown.
const MAX_REGIONS: usize = 4096;
/// The deepest chain of jumps followed (a loop is a configuration error).
const MAX_DEPTH: usize = 64;

/// Where a field's interval stands against a set of values.
enum Rel {
    Inside,
    Outside,
    /// Part in, part out: split before this value.
    Split(u128),
}

fn relate((lo, hi): (u128, u128), v: &Values) -> Rel {
    let i = v.0.partition_point(|&(_, b)| b < lo);
    match v.0.get(i) {
        None => Rel::Outside,
        Some(&(a, _)) if a > hi => Rel::Outside,
        Some(&(a, b)) if a <= lo && b >= hi => Rel::Inside,
        Some(&(a, _)) if a > lo => Rel::Split(a),
        Some(&(_, b)) => Rel::Split(b + 1),
    }
}

/// Whether a condition holds on a region.
enum Holds {
    Yes,
    No,
    Split(Dim, u128),
    Unknown(String),
}

fn condition(c: &Condition, r: &Region) -> Holds {
    // An interface the audit was not told (a region of every name): the rule's outcome
    // depends on where the packets come in or go out, so it is unknown, never split
    // into a case per interface name.
    for d in &c.dims {
        let (lo, hi) = r.get(*d);
        if d.is_interface() && lo != hi {
            let (what, option) = if *d == Dim::InIface {
                ("the interface the packets come in on", "--in")
            } else {
                ("the interface the packets leave by", "--out")
            };
            return Holds::Unknown(format!(
                "a match on {what}, which was not given ({option} NAME)"
            ));
        }
    }
    let mut split = None;
    let mut any_yes = false;
    for element in &c.elements {
        let mut all = true;
        let mut none = false;
        for (d, values) in c.dims.iter().zip(element) {
            match relate(r.get(*d), values) {
                Rel::Inside => {}
                Rel::Outside => {
                    none = true;
                    break;
                }
                Rel::Split(at) => {
                    all = false;
                    split.get_or_insert((*d, at));
                }
            }
        }
        if !none && all {
            any_yes = true;
            break;
        }
    }
    let holds = if any_yes {
        Holds::Yes
    } else if let Some((d, at)) = split {
        return Holds::Split(d, at);
    } else {
        Holds::No
    };
    match (holds, c.negated) {
        (Holds::Yes, true) => Holds::No,
        (Holds::No, true) => Holds::Yes,
        (h, _) => h,
    }
}

fn matches(m: &[Match], r: &Region) -> Holds {
    let mut unknown = None;
    for one in m {
        let h = match one {
            Match::Family(f) => {
                if *f == r.family {
                    Holds::Yes
                } else {
                    Holds::No
                }
            }
            Match::Fields(c) => condition(c, r),
            Match::NewConnection(b) => {
                if *b {
                    Holds::Yes
                } else {
                    Holds::No
                }
            }
            Match::Share(_) => Holds::No,
            Match::Unknown(what) => Holds::Unknown(what.clone()),
            Match::IpSet { name, .. } => Holds::Unknown(format!(
                "ipset {name}, whose members are not given (add the output of `ipset save`)"
            )),
        };
        match h {
            Holds::Yes => {}
            // A definite miss settles it, whatever else is unknown.
            Holds::No => return Holds::No,
            Holds::Split(d, at) => return Holds::Split(d, at),
            Holds::Unknown(w) => {
                unknown.get_or_insert(w);
            }
        }
    }
    unknown.map_or(Holds::Yes, Holds::Unknown)
}

/// Why a family no input describes is unknown, and what to give: only an iptables-save
/// (or ip6tables-save) describes one family alone.
pub fn undescribed(family: Family) -> String {
    let (tool, other) = match family {
        Family::Ipv4 => ("iptables-save", "ipv6"),
        Family::Ipv6 => ("ip6tables-save", "ipv4"),
    };
    format!(
        "no {family} rules were given (an iptables-save describes one family): give the {tool} \
         output too, or --family {other} if the clients have no {family}"
    )
}

/// The end of one base chain's walk.
enum ChainEnd {
    Accept(Origin),
    Final(Decision),
    /// Split the region; the frames point at the rule that split it.
    Split(Dim, u128, Vec<(usize, usize)>),
}

/// Where a split region's parts resume: every rule before the one that split it missed
/// the whole region, so it misses each part too, and the walk goes on from there
/// instead of from the first rule (a ruleset of many small matches would otherwise cost
/// rules x parts).
#[derive(Debug, Clone, Default)]
struct Resume {
    /// The index into the hook's base chains.
    base: usize,
    /// The chain frames in that base chain (empty: from its start).
    frames: Vec<(usize, usize)>,
    /// The accepting rules of the base chains before it.
    accepted: Vec<Origin>,
}

/// Evaluates regions against one hook of a ruleset.
pub struct Evaluator<'a> {
    rs: &'a Ruleset,
    by_name: HashMap<(&'a str, &'a str), usize>,
    bases: Vec<usize>,
}

impl<'a> Evaluator<'a> {
    /// For the base chains on `hook`.
    pub fn new(rs: &'a Ruleset, hook: Hook) -> Self {
        let by_name = rs
            .chains
            .iter()
            .enumerate()
            .map(|(i, c)| ((c.table.as_str(), c.name.as_str()), i))
            .collect();
        let mut bases: Vec<usize> = (0..rs.chains.len())
            .filter(|&i| rs.chains[i].base.as_ref().is_some_and(|b| b.hook == hook))
            .collect();
        bases.sort_by_key(|&i| rs.chains[i].base.as_ref().map_or(0, |b| b.priority));
        Evaluator { rs, by_name, bases }
    }

    /// Whether any base chain is on the hook.
    pub fn has_chains(&self) -> bool {
        !self.bases.is_empty()
    }

    /// The region's decisions, split where the rules treat its parts differently; unknown
    /// as a whole when no input describes its family.
    pub fn evaluate(&self, region: Region) -> Vec<(Region, Decision)> {
        if !self.rs.describes(region.family) {
            let verdict = Verdict::Unknown(undescribed(region.family));
            return vec![(
                region,
                Decision {
                    verdict,
                    by: Vec::new(),
                },
            )];
        }
        let mut todo = vec![(region, Resume::default())];
        let mut out = Vec::new();
        while let Some((r, resume)) = todo.pop() {
            if out.len() + todo.len() >= MAX_REGIONS {
                out.push((
                    r,
                    Decision {
                        verdict: Verdict::Unknown(format!(
                            "the rules split this question into more than {MAX_REGIONS} cases"
                        )),
                        by: Vec::new(),
                    },
                ));
                continue;
            }
            match self.walk(&r, resume) {
                Ok(d) => out.push((r, d)),
                Err((d, at, resume)) => {
                    let (a, b) = r.split(d, at);
                    // Lower part first out.
                    todo.push((b, resume.clone()));
                    todo.push((a, resume));
                }
            }
        }
        out
    }

    fn walk(&self, r: &Region, resume: Resume) -> Result<Decision, (Dim, u128, Resume)> {
        let Resume {
            base: start,
            frames,
            mut accepted,
        } = resume;
        let mut frames = Some(frames).filter(|f| !f.is_empty());
        for (k, &b) in self.bases.iter().enumerate().skip(start) {
            let chain = &self.rs.chains[b];
            if chain.family.is_some_and(|f| f != r.family) {
                continue;
            }
            let from = frames.take().unwrap_or_else(|| vec![(b, 0)]);
            match self.run(b, r, from) {
                ChainEnd::Accept(o) => accepted.push(o),
                ChainEnd::Final(d) => return Ok(d),
                ChainEnd::Split(d, at, frames) => {
                    return Err((
                        d,
                        at,
                        Resume {
                            base: k,
                            frames,
                            accepted,
                        },
                    ))
                }
            }
        }
        Ok(Decision {
            verdict: Verdict::Accept,
            by: accepted,
        })
    }

    fn chain(&self, from: &Chain, name: &str) -> Option<usize> {
        self.by_name.get(&(from.table.as_str(), name)).copied()
    }

    /// One base chain, with its jumps, from `frames` ((chain, next rule); the bottom
    /// frame is the base chain).
    fn run(&self, base: usize, r: &Region, mut frames: Vec<(usize, usize)>) -> ChainEnd {
        loop {
            let Some(&(c, i)) = frames.last() else {
                return self.policy(base);
            };
            let chain = &self.rs.chains[c];
            let Some(rule) = chain.rules.get(i) else {
                // The end of a chain: back to the caller, or the base chain's policy.
                frames.pop();
                continue;
            };
            if let Some(top) = frames.last_mut() {
                top.1 += 1;
            }
            match matches(&rule.matches, r) {
                Holds::No => continue,
                Holds::Split(d, at) => return split_at(d, at, frames),
                Holds::Unknown(what) => {
                    if rule.action == Action::Continue {
                        continue;
                    }
                    return unknown(&rule.origin, &what);
                }
                Holds::Yes => {}
            }
            let mut action = &rule.action;
            // A verdict map picks its entry's action (no entry: the next rule).
            if let Action::Map { key, entries } = action {
                let mut picked = None;
                for (values, a) in entries {
                    let c = Condition {
                        dims: key.clone(),
                        elements: vec![values.clone()],
                        negated: false,
                    };
                    match condition(&c, r) {
                        Holds::Yes => {
                            picked = Some(a);
                            break;
                        }
                        Holds::Split(d, at) => return split_at(d, at, frames),
                        Holds::Unknown(what) => return unknown(&rule.origin, &what),
                        Holds::No => {}
                    }
                }
                match picked {
                    Some(a) => action = a,
                    None => continue,
                }
            }
            match action {
                Action::Accept => return ChainEnd::Accept(rule.origin.clone()),
                Action::Drop => return decided(Verdict::Drop, &rule.origin),
                Action::Reject => return decided(Verdict::Reject, &rule.origin),
                Action::Continue => {}
                Action::Return => {
                    frames.pop();
                }
                Action::Jump(name) | Action::Goto(name) => {
                    let Some(target) = self.chain(chain, name) else {
                        return unknown(
                            &rule.origin,
                            &format!("a jump to chain {name}, which is not defined"),
                        );
                    };
                    if frames.len() >= MAX_DEPTH {
                        return unknown(&rule.origin, "jumps more than 64 deep (a loop?)");
                    }
                    if matches!(action, Action::Goto(_)) {
                        frames.pop();
                        // A goto from the base chain: its end is the base chain's end.
                        if frames.is_empty() {
                            frames.push((base, usize::MAX));
                        }
                    }
                    frames.push((target, 0));
                }
                Action::Map { .. } => return unknown(&rule.origin, "a verdict map inside a map"),
                Action::Unknown(what) => return unknown(&rule.origin, what),
            }
        }
    }

    fn policy(&self, base: usize) -> ChainEnd {
        let Some(b) = &self.rs.chains[base].base else {
            return ChainEnd::Accept(Origin::Implicit);
        };
        match b.policy {
            Action::Drop => decided(Verdict::Drop, &b.policy_origin),
            Action::Reject => decided(Verdict::Reject, &b.policy_origin),
            _ => ChainEnd::Accept(b.policy_origin.clone()),
        }
    }
}

/// A split at the rule just taken: its parts resume at that rule.
fn split_at(d: Dim, at: u128, mut frames: Vec<(usize, usize)>) -> ChainEnd {
    if let Some(top) = frames.last_mut() {
        top.1 -= 1;
    }
    ChainEnd::Split(d, at, frames)
}

fn decided(verdict: Verdict, by: &Origin) -> ChainEnd {
    ChainEnd::Final(Decision {
        verdict,
        by: vec![by.clone()],
    })
}

fn unknown(by: &Origin, what: &str) -> ChainEnd {
    decided(Verdict::Unknown(what.to_owned()), by)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::iptables;
    use crate::audit::ir::addr;

    fn ip(s: &str) -> u128 {
        addr(s.parse().unwrap())
    }

    /// UDP from 192.168.1.10, source port `sport`, to `dst`/`bits` on `dport`, between
    /// interfaces not given.
    fn udp(sport: u16, dst: &str, bits: u32, dport: u16) -> Region {
        let lo = ip(dst);
        Region {
            family: Family::Ipv4,
            range: [
                (17, 17),
                (ip("192.168.1.10"), ip("192.168.1.10")),
                (u128::from(sport), u128::from(sport)),
                (lo, lo + (1u128 << (32 - bits)) - 1),
                (u128::from(dport), u128::from(dport)),
                ANY,
                ANY,
            ],
        }
    }

    const ANY: (u128, u128) = (0, u128::MAX);

    /// `r` coming in on `inn` and leaving by `out`.
    fn via(mut r: Region, inn: &str, out: &str) -> Region {
        for (d, name) in [(Dim::InIface, inn), (Dim::OutIface, out)] {
            let n = crate::audit::ir::ifname(name).unwrap();
            r.range[d as usize] = (n, n);
        }
        r
    }

    fn verdicts(rules: &str, r: Region) -> Vec<(Verdict, Option<usize>)> {
        let text = format!("*filter\n:FORWARD DROP [0:0]\n:TEAMS - [0:0]\n{rules}\nCOMMIT\n");
        let rs = iptables::read("t", &text).unwrap();
        Evaluator::new(&rs, Hook::Forward)
            .evaluate(r)
            .into_iter()
            .map(|(_, d)| (d.verdict, d.by.first().and_then(Origin::line)))
            .collect()
    }

    #[test]
    fn netfilter_semantics_over_regions() {
        use Verdict::*;
        let to_relay = udp(50000, "52.112.0.0", 14, 3478);
        // (rules, question, the verdicts and deciding lines of its parts, in order)
        type Case<'a> = (&'a str, Region, &'a [(Verdict, Option<usize>)]);
        let cases: &[Case] = &[
            // The policy, named by its line.
            ("", to_relay, &[(Drop, Some(2))]),
            ("-A FORWARD -p udp --dport 3478:3481 -j ACCEPT", to_relay, &[(Accept, Some(4))]),
            ("-A FORWARD -p tcp --dport 3478:3481 -j ACCEPT", to_relay, &[(Drop, Some(2))]),
            ("-A FORWARD ! -p udp -j ACCEPT", to_relay, &[(Drop, Some(2))]),
            ("-A FORWARD -p udp -m multiport --dports 53,3478 -j REJECT", to_relay, &[(Reject, Some(4))]),
            // A jump returns; a RETURN goes back; the accept after it decides.
            (
                "-A FORWARD -j TEAMS\n-A FORWARD -j ACCEPT\n-A TEAMS -p udp -j RETURN\n-A TEAMS -j DROP",
                to_relay,
                &[(Accept, Some(5))],
            ),
            // A goto from the base chain: the end of the target is the base chain's end.
            ("-A FORWARD -g TEAMS\n-A FORWARD -j ACCEPT", to_relay, &[(Drop, Some(2))]),
            // Source ports: the audio range passes, video's does not.
            ("-A FORWARD -p udp --sport 50000:50019 -j ACCEPT", udp(50025, "52.112.0.0", 14, 3478), &[(Drop, Some(2))]),
            // Half of a /24 accepted: two answers, split at the rule's boundary.
            (
                "-A FORWARD -d 10.1.1.0/25 -j ACCEPT",
                udp(50000, "10.1.1.0", 24, 3478),
                &[(Accept, Some(4)), (Drop, Some(2))],
            ),
            ("-A FORWARD -m iprange --dst-range 52.112.0.0-52.115.255.255 -j ACCEPT", to_relay, &[(Accept, Some(4))]),
            // The first packet of a connection is NEW, not ESTABLISHED.
            ("-A FORWARD -m conntrack --ctstate ESTABLISHED -j ACCEPT", to_relay, &[(Drop, Some(2))]),
            ("-A FORWARD -m state --state NEW -j ACCEPT", to_relay, &[(Accept, Some(4))]),
            // An interface not given is unknown, with the rule named; a sure miss is not.
            ("-A FORWARD -o eth1 -j ACCEPT", to_relay, &[(Unknown(NO_OUT.into()), Some(4))]),
            ("-A FORWARD -p tcp -o eth1 -j ACCEPT", to_relay, &[(Drop, Some(2))]),
            // Interfaces given: names, `+` for every name with the prefix, negation.
            ("-A FORWARD -i lan0 -o wan0 -j ACCEPT", via(to_relay, "lan0", "wan0"), &[(Accept, Some(4))]),
            ("-A FORWARD -i lan0 -o wan0 -j ACCEPT", via(to_relay, "lan1", "wan0"), &[(Drop, Some(2))]),
            ("-A FORWARD -i lan+ -o wan0 -j ACCEPT", via(to_relay, "lan1", "wan0"), &[(Accept, Some(4))]),
            ("-A FORWARD -i lan+ -j ACCEPT", via(to_relay, "lan", "wan0"), &[(Accept, Some(4))]),
            ("-A FORWARD -i lan+ -j ACCEPT", via(to_relay, "la", "wan0"), &[(Drop, Some(2))]),
            ("-A FORWARD ! -o wan0 -j DROP\n-A FORWARD -j ACCEPT", via(to_relay, "lan0", "wan0"), &[(Accept, Some(5))]),
            ("-A FORWARD ! -o wan0 -j DROP\n-A FORWARD -j ACCEPT", via(to_relay, "lan0", "dmz0"), &[(Drop, Some(4))]),
            // Only the side asked about needs a name.
            ("-A FORWARD -i lan0 -j ACCEPT", via(to_relay, "lan0", "wan0"), &[(Accept, Some(4))]),
            // A random share dropped is loss, not a block: the next rules decide.
            (
                "-A FORWARD -p udp -m statistic --mode random --probability 0.03 -j DROP\n-A FORWARD -j ACCEPT",
                to_relay,
                &[(Accept, Some(5))],
            ),
            // A /0 is every address (no overflow at the family's width).
            ("-A FORWARD -d 0.0.0.0/0 -j ACCEPT", to_relay, &[(Accept, Some(4))]),
            ("-A FORWARD -d 0.0.0.0/0.0.0.0 -j REJECT", to_relay, &[(Reject, Some(4))]),
            // A counter-like target decides nothing, even when its match is unknown.
            ("-A FORWARD -o eth1 -j LOG", to_relay, &[(Drop, Some(2))]),
        ];
        for (rules, region, want) in cases {
            assert_eq!(&verdicts(rules, *region), want, "rules:\n{rules}");
        }
    }

    /// Interfaces in nftables, as `nft -j list ruleset` (1.0.6) wrote them: a named
    /// set of type ifname, a verdict map keyed on iifname, a wildcard, and an escaped
    /// star that is no wildcard.
    #[test]
    fn nftables_interface_sets_maps_and_wildcards() {
        let json = r#"{"nftables": [
          {"set": {"family": "inet", "name": "lans", "table": "t", "type": "ifname", "handle": 3, "elem": ["lan0", "lan1"]}},
          {"chain": {"family": "inet", "table": "t", "name": "zone_lan", "handle": 1}},
          {"chain": {"family": "inet", "table": "t", "name": "forward", "handle": 2, "type": "filter", "hook": "forward", "prio": 0, "policy": "drop"}},
          {"rule": {"family": "inet", "table": "t", "chain": "zone_lan", "handle": 4, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": "wan\\*"}}, {"drop": null}]}},
          {"rule": {"family": "inet", "table": "t", "chain": "zone_lan", "handle": 5, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": "wan*"}}, {"accept": null}]}},
          {"rule": {"family": "inet", "table": "t", "chain": "forward", "handle": 7, "expr": [{"vmap": {"key": {"meta": {"key": "iifname"}}, "data": {"set": [["lan9", {"jump": {"target": "zone_lan"}}], ["guest0", {"drop": null}]]}}}]}},
          {"rule": {"family": "inet", "table": "t", "chain": "forward", "handle": 8, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "@lans"}}, {"jump": {"target": "zone_lan"}}]}}
        ]}"#;
        let rs = crate::audit::nft::read("zones.json", json).unwrap();
        assert!(rs.warnings.is_empty(), "{:?}", rs.warnings);
        let ev = Evaluator::new(&rs, Hook::Forward);
        let to_relay = udp(50000, "52.112.0.0", 14, 3478);
        let decide = |r: Region| -> Vec<(Verdict, Option<u64>)> {
            ev.evaluate(r)
                .into_iter()
                .map(|(_, d)| (d.verdict, d.by.first().and_then(Origin::handle)))
                .collect()
        };
        use Verdict::*;
        let cases: &[(Region, (Verdict, Option<u64>))] = &[
            // The named set, then the wildcard.
            (via(to_relay, "lan0", "wan0"), (Accept, Some(5))),
            (via(to_relay, "lan1", "wan"), (Accept, Some(5))),
            // The map's jump, and its drop.
            (via(to_relay, "lan9", "wan0"), (Accept, Some(5))),
            (via(to_relay, "guest0", "wan0"), (Drop, Some(7))),
            // `wan\*` is the name with a star, not a wildcard.
            (via(to_relay, "lan0", "wan*"), (Drop, Some(4))),
            // In no set, no entry: the policy.
            (via(to_relay, "lan2", "wan0"), (Drop, None)),
            (via(to_relay, "lan0", "eth0"), (Drop, None)),
        ];
        for (r, want) in cases {
            assert_eq!(decide(*r), std::slice::from_ref(want), "{r:?}");
        }
        // No interfaces given: the map decides nothing it can be sure of.
        assert!(matches!(decide(to_relay)[0].0, Unknown(_)));
    }

    const NO_OUT: &str =
        "a match on the interface the packets leave by, which was not given (--out NAME)";

    #[test]
    fn nftables_json_sets_maps_and_priorities() {
        let json = r#"{"nftables": [
          {"table": {"family": "inet", "name": "a", "handle": 1}},
          {"set": {"family": "inet", "table": "a", "name": "relays", "type": ["ipv4_addr", "inet_service"],
                   "flags": ["interval"], "elem": [{"concat": [{"prefix": {"addr": "52.112.0.0", "len": 14}}, {"range": [3478, 3481]}]}]}},
          {"chain": {"family": "inet", "table": "a", "name": "fwd", "handle": 1, "type": "filter", "hook": "forward", "prio": 0, "policy": "accept"}},
          {"chain": {"family": "inet", "table": "a", "name": "late", "handle": 2, "type": "filter", "hook": "forward", "prio": 10, "policy": "drop"}},
          {"rule": {"family": "inet", "table": "a", "chain": "fwd", "handle": 3, "expr": [
             {"match": {"op": "==", "left": {"concat": [{"payload": {"protocol": "ip", "field": "daddr"}}, {"payload": {"protocol": "udp", "field": "dport"}}]}, "right": "@relays"}},
             {"accept": null}]}},
          {"rule": {"family": "inet", "table": "a", "chain": "late", "handle": 4, "expr": [
             {"vmap": {"key": {"payload": {"protocol": "udp", "field": "dport"}}, "data": {"set": [[3478, {"accept": null}], [{"range": [3479, 3481]}, {"drop": null}]]}}}]}}
        ]}"#;
        let rs = crate::audit::nft::read("n.json", json).unwrap();
        let ev = Evaluator::new(&rs, Hook::Forward);
        let v = |r: Region| -> Vec<Verdict> {
            ev.evaluate(r).into_iter().map(|(_, d)| d.verdict).collect()
        };
        // The first chain accepts (the set holds), the later one must accept too: its
        // verdict map does for 3478 only.
        assert_eq!(v(udp(50000, "52.112.0.0", 14, 3478)), [Verdict::Accept]);
        assert_eq!(v(udp(50000, "52.112.0.0", 14, 3479)), [Verdict::Drop]);
        // Outside the set, and no entry of the map for port 53: the later policy drops.
        // (An IPv6 /0 and an empty concatenation are read, or refused, without a panic.)
        let odd = r#"{"nftables": [{"chain": {"family": "ip6", "table": "t", "name": "c", "hook": "forward", "type": "filter", "prio": 0, "policy": "drop"}},
          {"rule": {"family": "ip6", "table": "t", "chain": "c", "handle": 2, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "ip6", "field": "daddr"}}, "right": {"prefix": {"addr": "::", "len": 0}}}}, {"accept": null}]}},
          {"rule": {"family": "ip6", "table": "t", "chain": "c", "handle": 3, "expr": [{"match": {"op": "==", "left": {"concat": []}, "right": {"concat": []}}}, {"drop": null}]}}]}"#;
        let odd = crate::audit::nft::read("odd.json", odd).unwrap();
        let all6 = Region {
            family: Family::Ipv6,
            range: [
                (17, 17),
                (0, u128::MAX),
                (50000, 50000),
                (0, u128::MAX),
                (3478, 3478),
                ANY,
                ANY,
            ],
        };
        let got: Vec<Verdict> = Evaluator::new(&odd, Hook::Forward)
            .evaluate(all6)
            .into_iter()
            .map(|(_, d)| d.verdict)
            .collect();
        assert_eq!(got, [Verdict::Accept]);
        assert_eq!(v(udp(50000, "8.8.8.0", 24, 53)), [Verdict::Drop]);
    }
}
