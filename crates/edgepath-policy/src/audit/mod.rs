//! `edgepath audit`: what an existing firewall configuration does to each modality and
//! service, in `check`'s words, with the rule that decides each flow.
//!
//! Readers (one per format: [`nft`] for `nft -j list ruleset`, [`iptables`] for
//! `iptables-save`, [`ipset`] for the sets its rules name, [`squid`] for a proxy, [`vpn`]
//! for WireGuard and OpenVPN, [`pac`] for a PAC file) turn
//! text into the rules of [`ir`] (or a proxy's decisions, or a tunnel's routes); [`eval`] holds the semantics;
//! [`predict`] asks it about the flows the model says a client needs. docs/audit-semantics.md
//! writes the semantics down.

pub mod eval;
pub mod ipset;
pub mod iptables;
pub mod ir;
pub mod json;
pub mod nft;
pub mod pac;
pub mod predict;
pub mod squid;
pub mod vpn;

pub use predict::{audit, AuditOptions, AuditReport, Fix};

/// Why a configuration cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// Malformed input, with where.
    #[error("{file}:{line}: {what}")]
    Syntax {
        /// The file.
        file: String,
        /// The line (1-based).
        line: usize,
        /// What is wrong.
        what: String,
    },
    /// A format the audit does not read (yet), or not recognised.
    #[error("{file}: {what}")]
    Format {
        /// The file.
        file: String,
        /// What it is or seems to be.
        what: String,
    },
}

/// The configuration formats `audit` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `nft -j list ruleset`.
    NftablesJson,
    /// `iptables-save` / `ip6tables-save`.
    IptablesSave,
    /// A Squid configuration.
    Squid,
    /// A WireGuard configuration (wg-quick or `wg setconf`).
    Wireguard,
    /// An OpenVPN configuration.
    Openvpn,
    /// A proxy auto-config (PAC) file.
    Pac,
    /// `ipset save` output: the sets iptables rules match with `-m set`.
    Ipset,
}

/// What a file holds: packet-filter rules, or a proxy's configuration.
#[derive(Debug, Clone)]
pub enum Config {
    /// A firewall.
    Firewall(ir::Ruleset),
    /// A Squid proxy.
    Proxy(squid::Squid),
    /// A VPN client: which destinations its tunnel carries.
    Tunnel(vpn::Tunnel),
    /// The clients' PAC file.
    Pac(pac::Pac),
    /// Sets the firewall's rules name.
    Sets(ipset::IpSets),
}

impl Format {
    /// Recognised by content: JSON with an `nftables` array, or iptables-save's
    /// `*table` and `:CHAIN POLICY` lines.
    pub fn detect(text: &str) -> Option<Format> {
        let t = text.trim_start();
        if t.starts_with('{') && t.contains("\"nftables\"") {
            return Some(Format::NftablesJson);
        }
        let mut lines = t
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'));
        let first = lines.next();
        if first.is_some_and(|l| l.starts_with('*')) {
            return Some(Format::IptablesSave);
        }
        if first.is_some_and(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            w.len() >= 3
                && w[0] == "create"
                && ["hash:", "bitmap:", "list:"]
                    .iter()
                    .any(|t| w[2].starts_with(t))
        }) {
            return Some(Format::Ipset);
        }
        // A PAC defines the function; a squid.conf or VPN file may only name it in a
        // `#` comment.
        if t.lines()
            .any(|l| !l.trim_start().starts_with('#') && l.contains("FindProxyForURL"))
        {
            return Some(Format::Pac);
        }
        let squid_word = |l: &str| {
            [
                "http_port",
                "http_access",
                "acl ",
                "ssl_bump",
                "cache_peer",
                "visible_hostname",
            ]
            .iter()
            .any(|w| l.starts_with(w))
        };
        if first.is_some_and(squid_word)
            || t.lines()
                .map(str::trim)
                .any(|l| l.starts_with("http_access "))
        {
            return Some(Format::Squid);
        }
        let meaningful = || {
            t.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'))
        };
        if meaningful().any(|l| {
            let l = l.to_ascii_lowercase();
            l == "[interface]" || l == "[peer]" || l.starts_with("allowedips")
        }) {
            return Some(Format::Wireguard);
        }
        let openvpn_word = |l: &str| {
            let w = l.split_whitespace().next().unwrap_or("");
            [
                "client",
                "remote",
                "dev",
                "proto",
                "redirect-gateway",
                "route",
                "route-ipv6",
                "push",
                "ifconfig",
                "nobind",
            ]
            .contains(&w)
        };
        if meaningful().next().is_some_and(openvpn_word) {
            return Some(Format::Openvpn);
        }
        None
    }

    /// Its name in `--format`.
    pub fn name(self) -> &'static str {
        match self {
            Format::NftablesJson => "nftables-json",
            Format::IptablesSave => "iptables-save",
            Format::Squid => "squid",
            Format::Wireguard => "wireguard",
            Format::Openvpn => "openvpn",
            Format::Pac => "pac",
            Format::Ipset => "ipset",
        }
    }

    /// Every format, with the other names `--format` accepts for it besides
    /// [`Format::name`]: one table, so no message repeats the list.
    const ALIASES: [(Format, &'static [&'static str]); 7] = [
        (Format::NftablesJson, &["nft-json", "nftables"]),
        (Format::IptablesSave, &["iptables", "ip6tables-save"]),
        (Format::Ipset, &["ipset-save"]),
        (Format::Squid, &["squid.conf"]),
        (Format::Pac, &["wpad"]),
        (Format::Wireguard, &["wg"]),
        (Format::Openvpn, &["ovpn"]),
    ];

    /// From `--format`: a name or one of its aliases; the error lists the names.
    pub fn parse(s: &str) -> Result<Format, String> {
        Self::ALIASES
            .iter()
            .find(|(f, others)| f.name() == s || others.contains(&s))
            .map(|(f, _)| *f)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALIASES.iter().map(|(f, _)| f.name()).collect();
                format!("one of {}", names.join(", "))
            })
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Reads one configuration file.
pub fn read(file: &str, text: &str, format: Option<Format>) -> Result<Config, AuditError> {
    let format = format
        .or_else(|| Format::detect(text))
        .ok_or_else(|| AuditError::Format {
            file: file.to_owned(),
            what: "not a configuration audit reads: `nft -j list ruleset` JSON, iptables-save \
                   output, ipset save output, a squid.conf, a PAC file, a WireGuard or an OpenVPN \
                   configuration (give --format to say which)"
                .into(),
        })?;
    Ok(match format {
        Format::NftablesJson => Config::Firewall(nft::read(file, text)?),
        Format::IptablesSave => Config::Firewall(iptables::read(file, text)?),
        Format::Squid => Config::Proxy(squid::read(file, text)?),
        Format::Wireguard => Config::Tunnel(vpn::read_wireguard(file, text)?),
        Format::Openvpn => Config::Tunnel(vpn::read_openvpn(file, text)?),
        Format::Pac => Config::Pac(pac::read(file, text)?),
        Format::Ipset => {
            let mut sets = ipset::IpSets::default();
            ipset::read(file, text, &mut sets)?;
            Config::Sets(sets)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_names_and_aliases() {
        for (f, aliases) in Format::ALIASES {
            assert_eq!(Format::parse(f.name()), Ok(f));
            for a in aliases {
                assert_eq!(Format::parse(a), Ok(f), "{a}");
            }
        }
        let e = Format::parse("pf").unwrap_err();
        assert_eq!(
            e,
            "one of nftables-json, iptables-save, ipset, squid, pac, wireguard, openvpn"
        );
    }

    #[test]
    fn formats_by_content() {
        type Case<'a> = (&'a str, Option<Format>);
        let cases: &[Case<'_>] = &[
            ("{\"nftables\": []}", Some(Format::NftablesJson)),
            ("# Generated\n*filter\n:FORWARD DROP [0:0]\nCOMMIT\n", Some(Format::IptablesSave)),
            ("http_port 3128\nhttp_access deny all\n", Some(Format::Squid)),
            // A comment naming the PAC function does not make a squid.conf a PAC.
            ("# clients use FindProxyForURL from wpad.dat\nhttp_port 3128\nhttp_access allow all\n", Some(Format::Squid)),
            ("function FindProxyForURL(url, host) { return \"DIRECT\"; }", Some(Format::Pac)),
            ("[Interface]\nPrivateKey = x\n[Peer]\nAllowedIPs = 0.0.0.0/0\n", Some(Format::Wireguard)),
            ("client\nremote vpn.example.com 1194\n", Some(Format::Openvpn)),
            ("create m365 hash:net family inet\nadd m365 52.112.0.0/14\n", Some(Format::Ipset)),
            ("hello\n", None),
        ];
        for (text, want) in cases {
            assert_eq!(Format::detect(text), *want, "{text}");
        }
    }
}
