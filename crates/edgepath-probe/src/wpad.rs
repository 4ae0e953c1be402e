//! Web Proxy Auto-Discovery by DNS: the names a client tries for its PAC file, from this
//! host's DNS search domains, most specific first, as WinHTTP and browsers devolve them
//! (`wpad.a.corp.example`, then `wpad.corp.example`; never a top-level domain's
//! `wpad.example`, which anyone could register). The PAC is `http://NAME/wpad.dat`.
//! Fetching is the caller's; this module only names the candidates, so it is tested
//! without a network.
//!
//! WPAD by DHCP (option 252), which clients try first, is read from the DHCP client's
//! lease files: `dhcp_lease.rs`.

/// The PAC URLs to try, in order, for `domains` (search domains, most preferred first).
pub fn candidates(domains: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for d in domains {
        let d = d.trim().trim_end_matches('.').to_ascii_lowercase();
        let labels: Vec<&str> = d.split('.').filter(|l| !l.is_empty()).collect();
        // A name that is not a domain (a label with a space, a slash): skipped.
        if labels
            .iter()
            .any(|l| !l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        {
            continue;
        }
        for start in 0..labels.len().saturating_sub(1) {
            let url = format!("http://wpad.{}/wpad.dat", labels[start..].join("."));
            if !out.contains(&url) {
                out.push(url);
            }
        }
    }
    out
}

/// The search domains of a resolv.conf: its last `search` or `domain` line wins, as the
/// resolver reads it.
pub fn resolv_conf_domains(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("search") => out = words.map(str::to_owned).collect(),
            Some("domain") => out = words.take(1).map(str::to_owned).collect(),
            _ => {}
        }
    }
    out
}

/// This host's DNS search domains: the resolver's configuration on Unix, the TCP/IP
/// parameters on Windows. Empty where none are set (or they cannot be read).
pub fn search_domains() -> Vec<String> {
    #[cfg(windows)]
    {
        crate::registry::dns_search_domains().unwrap_or_default()
    }
    #[cfg(not(windows))]
    {
        std::fs::read_to_string("/etc/resolv.conf")
            .map(|t| resolv_conf_domains(&t))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_devolve_to_two_labels_most_specific_first() {
        let cases: &[(&[&str], &[&str])] = &[
            (
                &["a.corp.example"],
                &[
                    "http://wpad.a.corp.example/wpad.dat",
                    "http://wpad.corp.example/wpad.dat",
                ],
            ),
            (&["corp.example."], &["http://wpad.corp.example/wpad.dat"]),
            (&["example"], &[]),
            (&[], &[]),
            // Two domains sharing a parent: the parent once.
            (
                &["x.corp.example", "Y.Corp.Example"],
                &[
                    "http://wpad.x.corp.example/wpad.dat",
                    "http://wpad.corp.example/wpad.dat",
                    "http://wpad.y.corp.example/wpad.dat",
                ],
            ),
            (&["bad domain/x.example"], &[]),
        ];
        for (domains, want) in cases {
            let domains: Vec<String> = domains.iter().map(|d| (*d).to_owned()).collect();
            assert_eq!(candidates(&domains), *want, "{domains:?}");
        }
    }

    #[test]
    fn the_last_search_or_domain_line_wins() {
        let cases: &[(&str, &[&str])] = &[
            ("nameserver 10.0.0.53\n", &[]),
            (
                "search corp.example lab.example\n",
                &["corp.example", "lab.example"],
            ),
            ("domain corp.example\nsearch a.example\n", &["a.example"]),
            (
                "search a.example\ndomain corp.example extra\n",
                &["corp.example"],
            ),
            ("# search commented.example\n", &[]),
        ];
        for (text, want) in cases {
            assert_eq!(resolv_conf_domains(text), *want, "{text:?}");
        }
    }
}
