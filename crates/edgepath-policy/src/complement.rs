//! The complement of a set of ranges as the fewest CIDRs: what a split tunnel sends
//! into the VPN when the Optimize ranges must stay outside it.

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};

/// Inclusive integer intervals, sorted and merged (overlapping and adjacent ones
/// joined); the audit's value sets use it too.
pub(crate) fn merge(mut v: Vec<(u128, u128)>) -> Vec<(u128, u128)> {
    v.sort_unstable();
    let mut out: Vec<(u128, u128)> = Vec::with_capacity(v.len());
    for (a, b) in v {
        match out.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// The gaps between `covered` intervals inside `0..=max`.
fn gaps(covered: &[(u128, u128)], max: u128) -> Vec<(u128, u128)> {
    let mut out = Vec::new();
    let mut next = 0u128;
    let mut done = false;
    for &(a, b) in covered {
        if a > next {
            out.push((next, a - 1));
        }
        if b == max {
            done = true;
            break;
        }
        next = b + 1;
    }
    if !done {
        out.push((next, max));
    }
    out
}

/// The fewest CIDR blocks covering `a..=b` in a `bits`-bit space.
fn to_cidrs(mut a: u128, b: u128, bits: u32) -> Vec<(u128, u8)> {
    let mut out = Vec::new();
    if bits == 128 && a == 0 && b == u128::MAX {
        // The whole IPv6 space: its block size does not fit in a u128.
        out.push((0, 0));
        return out;
    }
    loop {
        // The largest block aligned at `a` that does not pass `b`.
        let align = if a == 0 {
            bits
        } else {
            a.trailing_zeros().min(bits)
        };
        let mut size = align.min(127);
        while size > 0 && a + ((1u128 << size) - 1) > b {
            size -= 1;
        }
        out.push((a, (bits - size) as u8));
        let end = a + ((1u128 << size) - 1);
        if end >= b {
            return out;
        }
        a = end + 1;
    }
}

/// `from` minus `minus` (both intervals in a `bits`-bit space), as the fewest CIDRs:
/// what a split list must still send into a tunnel when some ranges leave it.
pub(crate) fn subtract(
    from: Vec<(u128, u128)>,
    minus: Vec<(u128, u128)>,
    bits: u32,
) -> Vec<(u128, u8)> {
    let minus = merge(minus);
    let mut out = Vec::new();
    for (mut a, b) in merge(from) {
        let mut open = true;
        for &(c, d) in &minus {
            if d < a || c > b {
                continue;
            }
            if c > a {
                out.extend(to_cidrs(a, c - 1, bits));
            }
            match d.checked_add(1) {
                Some(next) if next <= b => a = next,
                _ => {
                    open = false;
                    break;
                }
            }
        }
        if open {
            out.extend(to_cidrs(a, b, bits));
        }
    }
    out
}

/// A range as an inclusive integer interval.
fn span_v4(n: &Ipv4Net) -> (u128, u128) {
    (
        u128::from(u32::from(n.network())),
        u128::from(u32::from(n.broadcast())),
    )
}

/// IPv4 space minus `excluded`, as the fewest CIDRs.
pub fn complement_v4(excluded: &[Ipv4Net]) -> Vec<Ipv4Net> {
    let iv = merge(excluded.iter().map(span_v4).collect());
    gaps(&iv, u128::from(u32::MAX))
        .into_iter()
        .flat_map(|(a, b)| to_cidrs(a, b, 32))
        .map(|(a, p)| Ipv4Net::new(Ipv4Addr::from(a as u32), p).expect("prefix within 0..=32"))
        .collect()
}

/// IPv6 space minus `excluded`, as the fewest CIDRs.
pub fn complement_v6(excluded: &[Ipv6Net]) -> Vec<Ipv6Net> {
    let iv = merge(
        excluded
            .iter()
            .map(|n| (u128::from(n.network()), u128::from(n.broadcast())))
            .collect(),
    );
    gaps(&iv, u128::MAX)
        .into_iter()
        .flat_map(|(a, b)| to_cidrs(a, b, 128))
        .map(|(a, p)| Ipv6Net::new(Ipv6Addr::from(a), p).expect("prefix within 0..=128"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn subtract_cuts_holes() {
        let all = vec![(0, u128::from(u32::MAX))];
        // 0.0.0.0/0 minus 128.0.0.0/1 is 0.0.0.0/1.
        assert_eq!(
            subtract(all.clone(), vec![(1 << 31, u128::from(u32::MAX))], 32),
            vec![(0, 1)]
        );
        // Minus nothing: itself; minus everything: nothing.
        assert_eq!(subtract(all.clone(), vec![], 32), vec![(0, 0)]);
        assert!(subtract(all.clone(), all, 32).is_empty());
        // A hole in the middle of 10.0.0.0/8: 10.0.0.0/9 and 10.192.0.0/10 remain.
        let ten = (10u128 << 24, (11u128 << 24) - 1);
        let hole = (10u128 << 24 | 128 << 16, (10u128 << 24 | 192 << 16) - 1);
        assert_eq!(
            subtract(vec![ten], vec![hole], 32),
            vec![(10 << 24, 9), (10 << 24 | 192 << 16, 10)]
        );
    }

    fn v4(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    /// Exactness: complement plus excluded covers every address once.
    fn check_v4(excluded: &[Ipv4Net]) {
        let comp = complement_v4(excluded);
        let mut all: Vec<(u128, u128, bool)> = comp
            .iter()
            .map(|n| (span_v4(n).0, span_v4(n).1, true))
            .chain(
                merge(excluded.iter().map(span_v4).collect())
                    .into_iter()
                    .map(|(a, b)| (a, b, false)),
            )
            .collect();
        all.sort();
        let mut next = 0u128;
        for (a, b, _) in &all {
            assert_eq!(*a, next, "gap or overlap at {next}: {all:?}");
            next = b + 1;
        }
        assert_eq!(next, 1u128 << 32, "the whole space is covered");
        // Minimal: no two complement blocks could be one (siblings of the same parent).
        for w in comp.windows(2) {
            let (x, y) = (w[0], w[1]);
            if x.prefix_len() == y.prefix_len() && x.prefix_len() > 0 {
                assert!(
                    x.supernet() != y.supernet(),
                    "{x} and {y} should have been one block"
                );
            }
        }
    }

    #[test]
    fn relay_ranges() {
        let ex = [
            v4("13.107.64.0/18"),
            v4("52.112.0.0/14"),
            v4("52.120.0.0/14"),
        ];
        check_v4(&ex);
        let c = complement_v4(&ex);
        assert!(c.contains(&v4("0.0.0.0/5")));
        assert!(!c
            .iter()
            .any(|n| n.contains(&"52.113.1.1".parse::<Ipv4Addr>().unwrap())));
    }

    #[test]
    fn edges() {
        assert_eq!(complement_v4(&[]), vec![v4("0.0.0.0/0")]);
        assert_eq!(complement_v4(&[v4("0.0.0.0/0")]), vec![]);
        assert_eq!(complement_v4(&[v4("0.0.0.0/1")]), vec![v4("128.0.0.0/1")]);
        assert_eq!(complement_v4(&[v4("255.255.255.255/32")]).len(), 32);
        check_v4(&[v4("255.255.255.255/32"), v4("0.0.0.0/32")]);
        let v6: Ipv6Net = "2603:1063::/38".parse().unwrap();
        let c = complement_v6(&[v6]);
        assert!(!c
            .iter()
            .any(|n| n.contains(&"2603:1063::1".parse::<Ipv6Addr>().unwrap())));
        assert!(c
            .iter()
            .any(|n| n.contains(&"::1".parse::<Ipv6Addr>().unwrap())));
        assert_eq!(complement_v6(&[]), vec!["::/0".parse::<Ipv6Net>().unwrap()]);
    }

    proptest! {
        #[test]
        fn complement_is_exact_and_minimal(nets in proptest::collection::vec((any::<u32>(), 0u8..=32), 0..12)) {
            let ex: Vec<Ipv4Net> = nets.into_iter().map(|(a, p)| Ipv4Net::new(Ipv4Addr::from(a), p).unwrap().trunc()).collect();
            check_v4(&ex);
        }
    }
}
