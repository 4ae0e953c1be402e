//! Ports, port ranges and normalised port sets.
//!
//! Parse, don't validate: a [`PortRange`] always has `first <= last` and never
//! contains port 0, and a [`PortSet`] is always sorted and merged, so generators
//! and comparisons never see a malformed list.

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

/// Why a port, range or port list could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PortError {
    /// The text is not a number from 1 to 65535.
    #[error("`{text}` is not a port number (1-65535)")]
    NotAPort {
        /// The offending text.
        text: String,
    },
    /// A range whose first port is above its last.
    #[error("range {first}-{last} runs backwards (first port above last)")]
    Backwards {
        /// First port as written.
        first: u16,
        /// Last port as written.
        last: u16,
    },
    /// An empty item in a comma list (`80,,443`) or an empty list.
    #[error("empty item at position {position} of the port list")]
    EmptyItem {
        /// 1-based position of the item in the comma list.
        position: usize,
    },
}

/// Parses one port number, 1 to 65535 (port 0 is not a destination or source).
pub fn parse_port(text: &str) -> Result<u16, PortError> {
    let t = text.trim();
    // u16::from_str accepts a leading '+'; a port list never has one.
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PortError::NotAPort { text: t.to_owned() });
    }
    match t.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(PortError::NotAPort { text: t.to_owned() }),
    }
}

/// An inclusive range of ports, `first..=last`, with `1 <= first <= last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortRange {
    first: u16,
    last: u16,
}

impl PortRange {
    /// Builds a range; fails when `first > last` or either is 0.
    pub fn new(first: u16, last: u16) -> Result<Self, PortError> {
        if first == 0 {
            return Err(PortError::NotAPort { text: "0".into() });
        }
        if last == 0 {
            return Err(PortError::NotAPort { text: "0".into() });
        }
        if first > last {
            return Err(PortError::Backwards { first, last });
        }
        Ok(Self { first, last })
    }

    /// A range holding one port. Port 0 is refused.
    pub fn single(port: u16) -> Result<Self, PortError> {
        Self::new(port, port)
    }

    /// Every unprivileged port, 1024-65535: where a client's TCP source port may be.
    pub const UNPRIVILEGED: PortRange = PortRange {
        first: 1024,
        last: 65535,
    };

    /// HTTPS, 443.
    pub const HTTPS: PortRange = PortRange {
        first: 443,
        last: 443,
    };

    /// HTTP, 80.
    pub const HTTP: PortRange = PortRange {
        first: 80,
        last: 80,
    };

    /// The smallest range holding both.
    pub fn hull(self, other: PortRange) -> PortRange {
        PortRange {
            first: self.first.min(other.first),
            last: self.last.max(other.last),
        }
    }

    /// The first port of the range.
    pub fn first(self) -> u16 {
        self.first
    }

    /// The last port of the range (inclusive).
    pub fn last(self) -> u16 {
        self.last
    }

    /// How many ports the range holds.
    pub fn len(self) -> u32 {
        u32::from(self.last) - u32::from(self.first) + 1
    }

    /// Always false: a range holds at least one port. Present for clippy's
    /// `len_without_is_empty` and for symmetry with [`PortSet::is_empty`].
    pub fn is_empty(self) -> bool {
        false
    }

    /// Whether `port` lies in the range.
    pub fn contains(self, port: u16) -> bool {
        self.first <= port && port <= self.last
    }

    /// Whether every port of `other` lies in this range.
    pub fn contains_range(self, other: PortRange) -> bool {
        self.first <= other.first && other.last <= self.last
    }

    /// Whether the two ranges share at least one port.
    pub fn overlaps(self, other: PortRange) -> bool {
        self.first <= other.last && other.first <= self.last
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}-{}", self.first, self.last)
        }
    }
}

impl FromStr for PortRange {
    type Err = PortError;

    /// Reads `443` or `50000-59999`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once('-') {
            Some((a, b)) => Self::new(parse_port(a)?, parse_port(b)?),
            None => Self::single(parse_port(s)?),
        }
    }
}

impl Serialize for PortRange {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A normalised set of ports: sorted, non-overlapping, adjacent ranges merged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct PortSet {
    ranges: Vec<PortRange>,
}

impl PortSet {
    /// The empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a normalised set from any ranges.
    pub fn from_ranges(ranges: impl IntoIterator<Item = PortRange>) -> Self {
        let mut set = Self::new();
        for r in ranges {
            set.ranges.push(r);
        }
        set.normalise();
        set
    }

    /// Reads a comma list as Microsoft's endpoint data writes it:
    /// `80,443`, `3478,3479,3480,3481`, `50000-59999`. Blanks around items are
    /// allowed; empty items are not.
    pub fn parse_list(text: &str) -> Result<Self, PortError> {
        let mut ranges = Vec::new();
        for (i, item) in text.split(',').enumerate() {
            if item.trim().is_empty() {
                return Err(PortError::EmptyItem { position: i + 1 });
            }
            ranges.push(item.trim().parse::<PortRange>()?);
        }
        Ok(Self::from_ranges(ranges))
    }

    fn normalise(&mut self) {
        self.ranges.sort_unstable();
        let mut merged: Vec<PortRange> = Vec::with_capacity(self.ranges.len());
        for r in self.ranges.drain(..) {
            match merged.last_mut() {
                // Adjacent (last + 1 == first) or overlapping ranges merge.
                Some(prev) if u32::from(r.first) <= u32::from(prev.last) + 1 => {
                    prev.last = prev.last.max(r.last);
                }
                _ => merged.push(r),
            }
        }
        self.ranges = merged;
    }

    /// Adds the ports of `other` to this set.
    pub fn extend(&mut self, other: &PortSet) {
        self.ranges.extend_from_slice(&other.ranges);
        self.normalise();
    }

    /// Adds one range.
    pub fn insert(&mut self, range: PortRange) {
        self.ranges.push(range);
        self.normalise();
    }

    /// The ranges, sorted and merged.
    pub fn ranges(&self) -> &[PortRange] {
        &self.ranges
    }

    /// Whether the set holds no port.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Whether `port` is in the set.
    pub fn contains(&self, port: u16) -> bool {
        // Ranges are sorted and disjoint: binary search by first port.
        let idx = self.ranges.partition_point(|r| r.first <= port);
        idx > 0 && self.ranges[idx - 1].contains(port)
    }

    /// How many ports the set holds.
    pub fn count(&self) -> u32 {
        self.ranges.iter().map(|r| r.len()).sum()
    }

    /// The ports in this set and not in `other`.
    pub fn difference(&self, other: &PortSet) -> PortSet {
        let mut out = Vec::new();
        for r in &self.ranges {
            // Walk `other`'s sorted, disjoint ranges, cutting each out of `r`.
            let mut next = u32::from(r.first);
            let last = u32::from(r.last);
            for o in &other.ranges {
                let (of, ol) = (u32::from(o.first), u32::from(o.last));
                if ol < next || of > last {
                    continue;
                }
                if of > next {
                    out.push((next, of - 1));
                }
                next = ol + 1;
            }
            if next <= last {
                out.push((next, last));
            }
        }
        // Every bound lies inside a range of `self`, so it fits a port.
        PortSet::from_ranges(out.into_iter().map(|(a, b)| PortRange {
            first: a as u16,
            last: b as u16,
        }))
    }

    /// The set as range strings (`["443", "3478-3481"]`), the JSON form.
    pub fn to_strings(&self) -> Vec<String> {
        self.ranges.iter().map(ToString::to_string).collect()
    }
}

impl fmt::Display for PortSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.ranges.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

impl Serialize for PortSet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.ranges.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn differences() {
        let set = |t: &str| PortSet::parse_list(t).unwrap();
        assert_eq!(set("80,443").difference(&set("443")).to_string(), "80");
        assert_eq!(
            set("3478-3481").difference(&set("3479-3480")).to_string(),
            "3478,3481"
        );
        assert_eq!(
            set("1-65535").difference(&set("1,65535")).to_string(),
            "2-65534"
        );
        assert!(set("443").difference(&set("1-1000")).is_empty());
        assert_eq!(PortSet::new().difference(&set("443")), PortSet::new());
        assert_eq!(set("443,3478").difference(&PortSet::new()), set("443,3478"));
    }

    #[test]
    fn parses_microsoft_lists() {
        let s = PortSet::parse_list("3478,3479,3480,3481").unwrap();
        assert_eq!(s.to_strings(), vec!["3478-3481"]);
        let s = PortSet::parse_list("443, 80").unwrap();
        assert_eq!(s.to_strings(), vec!["80", "443"]);
        let s = PortSet::parse_list("50000-59999,443,50010-60000").unwrap();
        assert_eq!(s.to_strings(), vec!["443", "50000-60000"]);
    }

    #[test]
    fn rejects_bad_lists() {
        assert!(matches!(
            PortSet::parse_list("80,,443"),
            Err(PortError::EmptyItem { position: 2 })
        ));
        assert!(matches!(
            PortSet::parse_list(""),
            Err(PortError::EmptyItem { position: 1 })
        ));
        assert!(PortSet::parse_list("0").is_err());
        assert!(PortSet::parse_list("65536").is_err());
        assert!(PortSet::parse_list("+80").is_err());
        assert!(PortSet::parse_list("80-").is_err());
        assert!(PortSet::parse_list("-80").is_err());
        assert!(PortSet::parse_list("1-2-3").is_err());
        assert!(matches!(
            PortSet::parse_list("443-80"),
            Err(PortError::Backwards {
                first: 443,
                last: 80
            })
        ));
    }

    #[test]
    fn range_relations() {
        let a = PortRange::new(50000, 50019).unwrap();
        let b = PortRange::new(50019, 50039).unwrap();
        let c = PortRange::new(50020, 50039).unwrap();
        assert!(a.overlaps(b) && !a.overlaps(c));
        assert_eq!(a.len(), 20);
        assert!(PortRange::new(50000, 50059).unwrap().contains_range(c));
    }

    fn arb_range() -> impl Strategy<Value = PortRange> {
        (1u16..=u16::MAX, 1u16..=u16::MAX)
            .prop_map(|(a, b)| PortRange::new(a.min(b), a.max(b)).unwrap())
    }

    proptest! {
        #[test]
        fn set_is_sorted_disjoint_and_membership_is_exact(
            ranges in proptest::collection::vec(arb_range(), 0..12),
            probes in proptest::collection::vec(1u16..=u16::MAX, 0..64),
        ) {
            let set = PortSet::from_ranges(ranges.clone());
            for w in set.ranges().windows(2) {
                // Sorted, disjoint and not adjacent (else they would have merged).
                prop_assert!(u32::from(w[0].last()) + 1 < u32::from(w[1].first()));
            }
            for p in probes {
                let expected = ranges.iter().any(|r| r.contains(p));
                prop_assert_eq!(set.contains(p), expected);
            }
        }

        #[test]
        fn display_parses_back_to_the_same_set(
            ranges in proptest::collection::vec(arb_range(), 1..12),
        ) {
            let set = PortSet::from_ranges(ranges);
            let text = set.to_string();
            prop_assert_eq!(PortSet::parse_list(&text).unwrap(), set);
        }

        #[test]
        fn parser_never_panics(text in ".{0,40}") {
            let _ = PortSet::parse_list(&text);
            let _ = text.parse::<PortRange>();
        }

        #[test]
        fn count_matches_membership(ranges in proptest::collection::vec(
            (1u16..2000, 0u16..50).prop_map(|(a, n)| PortRange::new(a, a + n).unwrap()), 0..8)) {
            let set = PortSet::from_ranges(ranges);
            let counted = (1u16..2100).filter(|p| set.contains(*p)).count() as u32;
            prop_assert_eq!(set.count(), counted);
        }
    }

    #[test]
    fn the_named_ranges_and_the_hull() {
        assert_eq!(PortRange::HTTPS.to_string(), "443");
        assert_eq!(PortRange::HTTP.to_string(), "80");
        assert_eq!(PortRange::UNPRIVILEGED.to_string(), "1024-65535");
        let a = PortRange::new(3478, 3479).unwrap();
        let b = PortRange::single(3481).unwrap();
        assert_eq!(a.hull(b).to_string(), "3478-3481");
        assert_eq!(b.hull(a), a.hull(b));
        assert_eq!(a.hull(a), a);
    }
}
