//! The audit's readers (nftables JSON, iptables-save, ipset save, squid.conf, WireGuard,
//! OpenVPN, PAC) and the evaluator on arbitrary text: no panic, no hang; what reads is
//! evaluated on a question from every source address to every destination, whose parts
//! must lie inside it; a tunnel's pieces of every address cover it exactly once; a PAC is
//! asked one URL.
#![no_main]

use edgepath_model::Family;
use edgepath_policy::audit::eval::{Evaluator, Region};
use edgepath_policy::audit::ir::{self, Hook, DIMS};
use edgepath_policy::audit::squid::{self, Connect};
use edgepath_policy::audit::{ipset, iptables, nft, pac, vpn};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(sq) = squid::read("s", text) {
        for client in [None, Some("192.168.1.10".parse().unwrap())] {
            let d = sq.decide(&Connect { client, name: Some("worldaz.tr.teams.microsoft.com"), addresses: &[(0, 5)], port: 443 });
            assert!(!d.by.is_empty() || d.unknown.is_some() || d.allowed.is_some());
        }
    }
    for t in [vpn::read_wireguard("w", text), vpn::read_openvpn("o", text)].into_iter().flatten() {
        for (family, hi) in [(Family::Ipv4, u128::from(u32::MAX)), (Family::Ipv6, u128::MAX)] {
            let pieces = t.split(family, (0, hi));
            assert_eq!(pieces.first().map(|p| p.range.0), Some(0));
            assert_eq!(pieces.last().map(|p| p.range.1), Some(hi));
            for w in pieces.windows(2) {
                assert_eq!(w[0].range.1.checked_add(1), Some(w[1].range.0));
            }
        }
    }
    // QuickJS per input is slow: only inputs that look like a PAC.
    if text.contains("FindProxyForURL") {
        if let Ok(p) = pac::read("p", text) {
            if let Ok(e) = pac::Engine::new(&p, Box::new(|_| None), "192.168.1.10".into()) {
                let a = e.find("https://teams.microsoft.com/", "teams.microsoft.com");
                assert!(a.error.is_some() || a.line.is_none() || a.line.is_some_and(|l| l >= 1));
            }
        }
    }
    // ipset save output, and its sets resolved into an iptables ruleset's -m set matches
    // (the same text read as both: a fuzzer finds inputs that are a little of each).
    let mut sets = ipset::IpSets::default();
    let _ = ipset::read("i", text, &mut sets);
    let mut rulesets: Vec<_> = [nft::read("f", text), iptables::read("f", text)].into_iter().flatten().collect();
    for rs in &mut rulesets {
        ipset::resolve(rs, &sets);
    }
    for rs in rulesets {
        for hook in [Hook::Forward, Hook::Output] {
            let ev = Evaluator::new(&rs, hook);
            for (family, hi) in [(Family::Ipv4, u128::from(u32::MAX)), (Family::Ipv6, u128::MAX)] {
                let mut range = [(0u128, 0u128); DIMS];
                range[0] = (17, 17);
                range[1] = (0, hi);
                range[2] = (50000, 50019);
                range[3] = (0, hi);
                range[4] = (3478, 3481);
                // Any input interface (its matches unknown), one output interface.
                range[5] = (0, u128::MAX);
                let wan = ir::ifname("wan0").unwrap();
                range[6] = (wan, wan);
                let region = Region { family, range };
                let parts = ev.evaluate(region);
                assert!(!parts.is_empty());
                // Every part lies inside the question and is a real interval.
                for (p, _) in &parts {
                    for d in 0..DIMS {
                        assert!(p.range[d].0 >= region.range[d].0 && p.range[d].1 <= region.range[d].1);
                        assert!(p.range[d].0 <= p.range[d].1);
                    }
                }
            }
        }
    }
});
