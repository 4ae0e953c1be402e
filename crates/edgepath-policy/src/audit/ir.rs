//! What every firewall reader produces: chains of rules whose matches are sets of
//! values on a few packet fields, and verdicts. The evaluator knows only this; a new
//! configuration format is one new reader (syntax) into it.

use std::fmt;
use std::net::IpAddr;

use edgepath_model::Family;

/// A netfilter hook a base chain is attached to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Hook {
    /// Packets routed through the host (a router).
    Forward,
    /// Packets the host itself sends (a host firewall).
    Output,
    /// Any other hook (prerouting, input, postrouting, ingress): not evaluated.
    Other,
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Hook::Forward => "forward",
            Hook::Output => "output",
            Hook::Other => "other",
        })
    }
}

/// A packet field a match looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dim {
    /// The layer-4 protocol number (6 TCP, 17 UDP).
    L4Proto = 0,
    /// Source address (IPv4 as its 32-bit value).
    SrcAddr = 1,
    /// Source port.
    SrcPort = 2,
    /// Destination address.
    DstAddr = 3,
    /// Destination port.
    DstPort = 4,
    /// The interface the packet came in on, its name as a number ([`ifname`]).
    InIface = 5,
    /// The interface the packet leaves by.
    OutIface = 6,
}

impl Dim {
    /// Whether the field is an interface name (its values are [`ifname`] numbers).
    pub fn is_interface(self) -> bool {
        matches!(self, Dim::InIface | Dim::OutIface)
    }
}

/// The number of [`Dim`]s.
pub const DIMS: usize = 7;

/// A layer-4 protocol by the name rulesets write (`tcp`, `udp`, `icmpv6`, ...).
pub fn protocol_number(name: &str) -> Option<u128> {
    Some(match name {
        "tcp" => 6,
        "udp" => 17,
        "icmp" => 1,
        "ipv6-icmp" | "icmpv6" => 58,
        "sctp" => 132,
        "udplite" => 136,
        _ => return None,
    })
}

/// A port by the service name rulesets write for the ports Teams needs (`https`).
pub fn service_port(name: &str) -> Option<u128> {
    Some(match name {
        "http" => 80,
        "https" => 443,
        "domain" => 53,
        _ => return None,
    })
}

/// The longest interface name Linux allows (IFNAMSIZ less the terminating zero).
pub const IFNAME_MAX: usize = 15;

/// An interface name as a number: its bytes, big-endian, zero-padded to 16, so that
/// names sort as strings and all the names starting with a prefix are one interval
/// (what `iifname "eth*"` and `-i eth+` match). `None` for a name no interface can
/// have (empty or longer than [`IFNAME_MAX`]).
pub fn ifname(name: &str) -> Option<u128> {
    ifname_range(name, false).map(|(lo, _)| lo)
}

/// The names matched by `name` (all the names starting with it when `prefix`), as an
/// interval of [`ifname`] numbers; `None` when no name can match.
pub fn ifname_range(name: &str, prefix: bool) -> Option<(u128, u128)> {
    let b = name.as_bytes();
    if b.len() > IFNAME_MAX || (b.is_empty() && !prefix) {
        return None;
    }
    let mut lo = [0u8; 16];
    lo[..b.len()].copy_from_slice(b);
    let mut hi = lo;
    if prefix {
        // The 16th byte stays zero in a real name; the upper end covers it anyway.
        hi[b.len()..].fill(0xff);
    }
    Some((u128::from_be_bytes(lo), u128::from_be_bytes(hi)))
}

/// A set of values of one field: sorted, disjoint, inclusive intervals.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Values(pub Vec<(u128, u128)>);

impl Values {
    /// From intervals in any order; overlapping and adjacent ones are joined.
    pub fn new(mut v: Vec<(u128, u128)>) -> Self {
        v.retain(|(a, b)| a <= b);
        Values(crate::complement::merge(v))
    }

    /// One value.
    pub fn one(v: u128) -> Self {
        Values(vec![(v, v)])
    }
}

/// A rule's condition: the packet's fields `dims` (one, or a concatenation) are one of
/// `elements` (each a set per field); `negated` inverts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// The fields.
    pub dims: Vec<Dim>,
    /// The accepted combinations: one `Values` per field each.
    pub elements: Vec<Vec<Values>>,
    /// `!=` instead of `==`.
    pub negated: bool,
}

impl Condition {
    /// `dim` in `values`.
    pub fn is(dim: Dim, values: Values) -> Self {
        Condition {
            dims: vec![dim],
            elements: vec![vec![values]],
            negated: false,
        }
    }

    /// `dim` not in `values`.
    pub fn is_not(dim: Dim, values: Values) -> Self {
        Condition {
            negated: true,
            ..Self::is(dim, values)
        }
    }
}

/// One match of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    /// Only packets of this family (`ip daddr` in an `inet` table, `meta nfproto`).
    Family(Family),
    /// A condition on the packet's fields.
    Fields(Condition),
    /// Connection tracking state: whether the first packet of a new connection (the
    /// one the audit follows; answers are assumed established) matches.
    NewConnection(bool),
    /// A match that holds for a random share of packets or above a rate (`numgen
    /// random`, `limit`, `-m statistic`, `-m limit`): loss or rate limiting, not a
    /// block, so it decides no path; the rules after it do. Named in the warnings.
    Share(String),
    /// `-m set --match-set NAME FLAGS`: a set kept outside the rules (an ipset), the
    /// flags saying for each of its fields whether it is the packet's source (`true`)
    /// or destination. [`super::ipset::resolve`] replaces it by what the set holds;
    /// left unresolved it is unknown.
    IpSet {
        /// The set's name.
        name: String,
        /// Per field: source (`src`) or destination (`dst`).
        src: Vec<bool>,
        /// `! --match-set`.
        negated: bool,
    },
    /// A match the audit does not model (a mark, a TCP flag): it makes the rule's
    /// outcome unknown, never a match or a miss.
    Unknown(String),
}

/// What a rule does when it matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// The packet passes this base chain.
    Accept,
    /// Dropped.
    Drop,
    /// Refused (an ICMP error or a TCP reset): blocked like a drop, but fails fast.
    Reject,
    /// Back to the calling chain.
    Return,
    /// Into a chain, and back.
    Jump(String),
    /// Into a chain, not back (its end returns to where the caller would).
    Goto(String),
    /// Nothing decided (a counter, a log): the next rule.
    Continue,
    /// A verdict map: the verdict of the entry the fields fall in; none: the next rule.
    Map {
        /// The fields and their entries.
        key: Vec<Dim>,
        /// (values per field, the action).
        entries: Vec<(Vec<Values>, Action)>,
    },
    /// A verdict the audit does not model (a queue to user space, a mark and accept).
    Unknown(String),
}

/// Where a rule comes from: named in the report, and the place a fix goes beside it.
/// Each kind carries what its own tool needs to put a rule there (iptables a rule
/// number, nftables a handle), so no reader's fields are guessed from another's.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Origin {
    /// No rule: the hook has no chain, so the packet passes.
    #[default]
    Implicit,
    /// A line of a configuration that is not a packet filter (a VPN's route).
    Line {
        /// The file.
        file: String,
        /// Its line, from 1.
        line: usize,
        /// The line as written.
        text: String,
    },
    /// A rule or chain policy of an `iptables-save` file.
    Iptables {
        /// The file.
        file: String,
        /// Its line, from 1.
        line: usize,
        /// The line as written.
        text: String,
        /// The table (`filter`) and chain.
        table: String,
        /// The chain.
        chain: String,
        /// A rule's place in its chain, or the chain's policy.
        slot: Slot,
    },
    /// A rule or base chain policy of `nft -j list ruleset`.
    Nftables {
        /// The file.
        file: String,
        /// The rule as rendered.
        text: String,
        /// Family and table, as nft names them (`inet lab`).
        table: String,
        /// The chain.
        chain: String,
        /// A rule's place in its chain, or the chain's policy.
        slot: Slot,
    },
}

/// Where in a chain a rule is: the chain's policy (after every rule), or a rule by its
/// number (iptables, from 1) or handle (nftables), when the input gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// The verdict at the chain's end.
    Policy,
    /// A rule.
    Rule(Option<u64>),
}

impl Origin {
    /// The line it is on, for line-based formats.
    pub fn line(&self) -> Option<usize> {
        match self {
            Origin::Line { line, .. } | Origin::Iptables { line, .. } => Some(*line),
            Origin::Implicit | Origin::Nftables { .. } => None,
        }
    }

    /// The file, when it is a rule of one.
    pub fn file(&self) -> Option<&str> {
        match self {
            Origin::Implicit => None,
            Origin::Line { file, .. }
            | Origin::Iptables { file, .. }
            | Origin::Nftables { file, .. } => Some(file),
        }
    }

    /// An nftables rule's handle.
    pub fn handle(&self) -> Option<u64> {
        match self {
            Origin::Nftables {
                slot: Slot::Rule(h),
                ..
            } => *h,
            _ => None,
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Implicit => Ok(()),
            Origin::Line { file, line, text }
            | Origin::Iptables {
                file, line, text, ..
            } => {
                write!(f, "{file}:{line}: {text}")
            }
            Origin::Nftables {
                file,
                text,
                table,
                chain,
                slot,
            } => {
                write!(f, "{file} table {table} chain {chain}")?;
                if let Slot::Rule(h) = slot {
                    // A rule without a handle (hand-written JSON) is shown as nft
                    // shows one that has none.
                    write!(f, " handle {}", h.unwrap_or(0))?;
                }
                write!(f, ": {text}")
            }
        }
    }
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// All must hold.
    pub matches: Vec<Match>,
    /// What it does then.
    pub action: Action,
    /// Where it is written.
    pub origin: Origin,
}

/// A base chain's attachment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Base {
    /// The hook.
    pub hook: Hook,
    /// Lower runs first.
    pub priority: i32,
    /// The verdict at its end: accept or drop.
    pub policy: Action,
    /// Where the policy is written.
    pub policy_origin: Origin,
}

/// A chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    /// The table it belongs to (jumps stay inside it).
    pub table: String,
    /// Which packets the table sees: `None` both families (`inet`), else one.
    pub family: Option<Family>,
    /// Its name.
    pub name: String,
    /// Set for base chains.
    pub base: Option<Base>,
    /// Its rules in order.
    pub rules: Vec<Rule>,
}

/// A whole firewall configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ruleset {
    /// Every chain of every table.
    pub chains: Vec<Chain>,
    /// What the reader did not understand (the constructs are named), counted in the
    /// report; rules holding them evaluate as unknown.
    pub warnings: Vec<String>,
    /// The families the input describes whole: `nft -j list ruleset` both (it lists the
    /// tables of every family, so a family without a chain on a hook is open), an
    /// `iptables-save` IPv4 only, an `ip6tables-save` IPv6 only. The evaluator answers
    /// unknown for a family no input describes: a missing file says nothing about it.
    pub described: Vec<Family>,
}

impl Ruleset {
    /// A ruleset that describes `families` and has no chain yet.
    pub fn describing(families: &[Family]) -> Self {
        Ruleset {
            described: families.to_vec(),
            ..Ruleset::default()
        }
    }

    /// Whether some input describes `family` (see [`Ruleset::described`]).
    pub fn describes(&self, family: Family) -> bool {
        self.described.contains(&family)
    }

    /// Adds another file's rules: its chains, warnings and the families it describes.
    pub fn merge(&mut self, other: Ruleset) {
        self.chains.extend(other.chains);
        self.warnings.extend(other.warnings);
        for f in other.described {
            if !self.describes(f) {
                self.described.push(f);
            }
        }
    }
}

/// The loopback addresses of both families (127.0.0.0/8, ::1), as a set of values: a
/// match on the loopback interface is a match on them, since the flows an audit asks
/// about go to Microsoft's addresses, never out of `lo`.
pub fn loopback() -> Values {
    Values::new(vec![(127 << 24, (128 << 24) - 1), (1, 1)])
}

/// An address as a number (IPv4 in the low 32 bits).
pub fn addr(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// The addresses of `ip/len` as an interval; `None` when `len` is longer than the
/// family's addresses. `/0` is every address of the family.
pub fn prefix(ip: IpAddr, len: u32) -> Option<(u128, u128)> {
    let bits: u32 = if ip.is_ipv4() { 32 } else { 128 };
    let host_bits = bits.checked_sub(len)?;
    // Shifting the all-ones value right never overflows, even for all 128 bits.
    let host = if host_bits == 0 {
        0
    } else {
        u128::MAX >> (128 - host_bits)
    };
    let lo = addr(ip) & !host;
    Some((lo, lo | host))
}

/// `ADDR`, `ADDR/LEN` or `ADDR/DOTTED-MASK` (iptables and Squid write all three).
pub fn cidr(text: &str) -> Option<(u128, u128)> {
    let (a, len) = text
        .split_once('/')
        .map_or((text, None), |(a, l)| (a, Some(l)));
    let ip: IpAddr = a.parse().ok()?;
    let len = match len {
        None => {
            if ip.is_ipv4() {
                32
            } else {
                128
            }
        }
        Some(l) => match l.parse::<u32>() {
            Ok(n) => n,
            Err(_) => match l.parse::<IpAddr>().ok()? {
                IpAddr::V4(m) if ip.is_ipv4() => u32::from(m).count_ones(),
                _ => return None,
            },
        },
    };
    prefix(ip, len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names_are_numbers_and_prefixes_are_intervals() {
        let n = |s: &str| ifname(s).unwrap();
        // Sorted as strings: a prefix's interval holds its names and no others.
        let (lo, hi) = ifname_range("wan", true).unwrap();
        for inside in ["wan", "wan0", "wan6", "wan.100", "wan-very-long-1"] {
            assert!((lo..=hi).contains(&n(inside)), "{inside}");
        }
        for outside in ["wa", "wam9", "wao", "lan0", "eth0", "Wan0"] {
            assert!(!(lo..=hi).contains(&n(outside)), "{outside}");
        }
        assert_eq!(ifname_range("eth0", false), Some((n("eth0"), n("eth0"))));
        // What no interface can be called.
        assert_eq!(ifname(""), None);
        assert_eq!(ifname("sixteen-letters!"), None);
        assert!(ifname("fifteen-letters").is_some());
        // `*` alone (nft) and `+` alone (iptables): every name.
        assert_eq!(ifname_range("", true), Some((0, u128::MAX)));
    }
}
