//! The targets and the options that shape them, as types that cannot be invalid.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// A platform to generate configuration for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// An nftables `inet` table, loadable with `nft -f`.
    Nftables,
    /// IPv4 `iptables-save` text (filter and mangle), loadable with `iptables-restore`.
    Iptables,
    /// IPv6 `ip6tables-save` text, loadable with `ip6tables-restore`.
    Ip6tables,
    /// PowerShell: Windows Firewall rules and QoS policies.
    Windows,
    /// A proxy auto-config file.
    Pac,
    /// Squid ACLs for an explicit proxy.
    Squid,
    /// A WireGuard `AllowedIPs` line for a split tunnel.
    Wireguard,
    /// OpenVPN `route ... net_gateway` lines for a split tunnel.
    Openvpn,
    /// A Markdown table of every rule.
    Checklist,
    /// An Aerleon policy and its definitions, for Aerleon's vendor generators.
    Aerleon,
}

impl Target {
    /// Every target, in the order help text lists them.
    pub const ALL: [Target; 10] = [
        Target::Nftables,
        Target::Iptables,
        Target::Ip6tables,
        Target::Windows,
        Target::Pac,
        Target::Squid,
        Target::Wireguard,
        Target::Openvpn,
        Target::Checklist,
        Target::Aerleon,
    ];

    /// The name as `--target` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Target::Nftables => "nftables",
            Target::Iptables => "iptables",
            Target::Ip6tables => "ip6tables",
            Target::Windows => "windows",
            Target::Pac => "pac",
            Target::Squid => "squid",
            Target::Wireguard => "wireguard",
            Target::Openvpn => "openvpn",
            Target::Checklist => "checklist",
            Target::Aerleon => "aerleon",
        }
    }

    /// Whether the target is a packet filter (it allows flows by address and port).
    pub fn is_firewall(self) -> bool {
        matches!(
            self,
            Target::Nftables
                | Target::Iptables
                | Target::Ip6tables
                | Target::Windows
                | Target::Aerleon
        )
    }

    /// Whether the target can match destinations by name.
    pub fn matches_names(self) -> bool {
        matches!(self, Target::Pac | Target::Squid | Target::Checklist)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Target {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        by_name(s, &Target::ALL, Target::name)
            .map_err(|names| format!("unknown target `{s}`; one of: {names}"))
    }
}

/// A platform of Aerleon's that edgepath writes a header for (and tests with aclgen).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AerleonPlatform {
    /// Palo Alto PAN-OS.
    Paloalto,
    /// Fortinet FortiGate.
    Fortigate,
    /// Juniper SRX (security policies).
    Srx,
    /// Cisco ASA.
    Ciscoasa,
    /// Juniper (Junos firewall filters).
    Juniper,
    /// nftables.
    Nftables,
    /// iptables.
    Iptables,
    /// Windows Advanced Firewall (netsh).
    WindowsAdvfirewall,
}

impl AerleonPlatform {
    /// The default set: the firewalls admins run most.
    pub const ALL: [AerleonPlatform; 8] = [
        AerleonPlatform::Paloalto,
        AerleonPlatform::Fortigate,
        AerleonPlatform::Srx,
        AerleonPlatform::Ciscoasa,
        AerleonPlatform::Juniper,
        AerleonPlatform::Nftables,
        AerleonPlatform::Iptables,
        AerleonPlatform::WindowsAdvfirewall,
    ];

    /// Aerleon's name of the generator.
    pub fn name(self) -> &'static str {
        match self {
            AerleonPlatform::Paloalto => "paloalto",
            AerleonPlatform::Fortigate => "fortigate",
            AerleonPlatform::Srx => "srx",
            AerleonPlatform::Ciscoasa => "ciscoasa",
            AerleonPlatform::Juniper => "juniper",
            AerleonPlatform::Nftables => "nftables",
            AerleonPlatform::Iptables => "iptables",
            AerleonPlatform::WindowsAdvfirewall => "windows_advfirewall",
        }
    }

    /// Whether its header names a from-zone and a to-zone.
    pub fn needs_zones(self) -> bool {
        matches!(
            self,
            AerleonPlatform::Paloalto | AerleonPlatform::Fortigate | AerleonPlatform::Srx
        )
    }
}

impl fmt::Display for AerleonPlatform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for AerleonPlatform {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        by_name(s, &AerleonPlatform::ALL, AerleonPlatform::name).map_err(|names| {
            format!(
                "`{s}` is not an Aerleon platform edgepath writes for; one of: {names} (add others to the policy's header by hand)"
            )
        })
    }
}

/// The value of `all` whose `name` is `s`, or every name, comma-separated, for the
/// error message.
fn by_name<T: Copy>(s: &str, all: &[T], name: fn(T) -> &'static str) -> Result<T, String> {
    all.iter()
        .copied()
        .find(|&v| name(v) == s)
        .ok_or_else(|| all.iter().map(|&v| name(v)).collect::<Vec<_>>().join(", "))
}

/// A firewall zone name for Aerleon headers: letters, digits, `-`, `_` and `.`, at most
/// 31 characters, so it is one word in every vendor's syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone(String);

impl Zone {
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Zone {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let ok = !s.is_empty()
            && s.len() <= 31
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if ok {
            Ok(Zone(s.to_owned()))
        } else {
            Err(format!(
                "`{s}` is not a zone name (1-31 letters, digits, `-`, `_`, `.`)"
            ))
        }
    }
}

/// Which endpoints a PAC file sends around the proxy (Microsoft's PAC types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PacType {
    /// Type 1: only Optimize endpoints go direct.
    OptimizeOnly,
    /// Type 2: Optimize and Allow endpoints go direct.
    #[default]
    OptimizeAndAllow,
}

/// Which ranges a VPN split tunnel leaves outside the tunnel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SplitTunnel {
    /// Every Optimize endpoint set (Exchange 1, SharePoint 31, Teams media 11):
    /// Microsoft's VPN split-tunnel guidance.
    #[default]
    Optimize,
    /// Only the Teams media set (11): a Teams-only choice.
    TeamsMedia,
}

impl SplitTunnel {
    /// `optimize` or `teams-media`.
    pub fn name(self) -> &'static str {
        match self {
            SplitTunnel::Optimize => "optimize",
            SplitTunnel::TeamsMedia => "teams-media",
        }
    }
}

impl FromStr for SplitTunnel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "optimize" => Ok(SplitTunnel::Optimize),
            "teams-media" => Ok(SplitTunnel::TeamsMedia),
            _ => Err(format!(
                "unknown split `{s}`; optimize (every Optimize set, Microsoft's advice) or teams-media"
            )),
        }
    }
}

/// What a firewall does with what the rules do not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChainPolicy {
    /// Drop it: the rules are the whole outbound policy (an allow-list).
    #[default]
    Drop,
    /// Accept it: the rules only count, to be merged into an existing policy.
    Accept,
}

impl ChainPolicy {
    /// `drop` or `accept`.
    pub fn name(self) -> &'static str {
        match self {
            ChainPolicy::Drop => "drop",
            ChainPolicy::Accept => "accept",
        }
    }
}

impl FromStr for ChainPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "drop" => Ok(ChainPolicy::Drop),
            "accept" => Ok(ChainPolicy::Accept),
            _ => Err(format!("unknown policy `{s}`; drop or accept")),
        }
    }
}

/// An HTTP proxy as `HOST:PORT`: a host name, an IPv4 address or a bracketed IPv6
/// address, and a port 1-65535. Checked, so it can be written into a PAC file as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyAddr {
    host: String,
    port: u16,
}

impl ProxyAddr {
    /// The host as written (IPv6 with brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl fmt::Display for ProxyAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

impl FromStr for ProxyAddr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("`{s}` is not HOST:PORT ({why})");
        let s_trim = s.trim();
        let (host, port) = s_trim.rsplit_once(':').ok_or_else(|| bad("no port"))?;
        let port: u16 = port
            .parse()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| bad("the port must be a number from 1 to 65535"))?;
        let ok = if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            inner.parse::<std::net::Ipv6Addr>().is_ok()
        } else {
            !host.is_empty()
                && host.len() <= 253
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
                && !host.starts_with(['-', '.'])
        };
        if !ok {
            return Err(bad(
                "the host must be a name, an IPv4 address or an IPv6 address in brackets",
            ));
        }
        Ok(ProxyAddr {
            host: host.to_ascii_lowercase(),
            port,
        })
    }
}

/// Everything that shapes one target's output besides the flows.
#[derive(Debug, Clone)]
pub struct TargetOptions {
    /// The platform.
    pub target: Target,
    /// Match destinations by name only, where the target can.
    pub by_name: bool,
    /// The proxy everything else goes to (PAC).
    pub proxy: Option<ProxyAddr>,
    /// Which endpoints bypass the proxy (PAC); `None` means the default.
    pub pac_type: Option<PacType>,
    /// The client program to tie rules and QoS to (Windows).
    pub app: Option<String>,
    /// DNS resolvers the clients may reach (firewalls): names must resolve.
    pub dns: Vec<IpAddr>,
    /// What the firewall does with the rest; `None` means the default.
    pub policy: Option<ChainPolicy>,
    /// Whether media flows are filtered by source range (not for proxies and VPNs).
    pub restrict_source_ports: bool,
    /// Which ranges bypass a VPN tunnel (WireGuard, OpenVPN); `None` means the default.
    pub split: Option<SplitTunnel>,
    /// Aerleon: the platforms to write headers for; empty means every default one.
    pub aerleon_platforms: Vec<AerleonPlatform>,
    /// Aerleon: the zone clients are in (paloalto, fortigate, srx).
    pub from_zone: Option<Zone>,
    /// Aerleon: the zone towards the internet.
    pub to_zone: Option<Zone>,
}

impl TargetOptions {
    /// The Aerleon platforms asked for, or every default one.
    pub fn platforms(&self) -> Vec<AerleonPlatform> {
        if self.aerleon_platforms.is_empty() {
            AerleonPlatform::ALL.to_vec()
        } else {
            let mut p = self.aerleon_platforms.clone();
            p.sort();
            p.dedup();
            p
        }
    }
}

impl TargetOptions {
    /// Options for `target` with every default.
    pub fn new(target: Target) -> Self {
        TargetOptions {
            target,
            by_name: false,
            proxy: None,
            pac_type: None,
            app: None,
            dns: Vec::new(),
            policy: None,
            restrict_source_ports: false,
            split: None,
            aerleon_platforms: Vec::new(),
            from_zone: None,
            to_zone: None,
        }
    }

    /// Refuses options that do not apply to the target, or contradict each other.
    pub fn check(&self) -> Result<(), OptionError> {
        let t = self.target;
        let not_for = |option: &'static str, applies_to: &'static str| {
            Err(OptionError::NotForTarget {
                option,
                target: t,
                applies_to,
            })
        };
        if self.proxy.is_some() && t != Target::Pac {
            return not_for("--proxy", "pac");
        }
        if self.pac_type.is_some() && t != Target::Pac {
            return not_for("--pac-type", "pac");
        }
        if self.app.is_some() && t != Target::Windows {
            return not_for("--app", "windows");
        }
        if !self.aerleon_platforms.is_empty() && t != Target::Aerleon {
            return not_for("--aerleon-platform", "aerleon");
        }
        if (self.from_zone.is_some() || self.to_zone.is_some()) && t != Target::Aerleon {
            return not_for("--from-zone/--to-zone", "aerleon");
        }
        if t == Target::Aerleon {
            if self.from_zone.is_some() != self.to_zone.is_some() {
                return Err(OptionError::Missing {
                    option: "--from-zone and --to-zone together",
                    target: t,
                });
            }
            let zoned: Vec<&'static str> = self
                .platforms()
                .into_iter()
                .filter(|p| p.needs_zones())
                .map(AerleonPlatform::name)
                .collect();
            if self.from_zone.is_none() && !zoned.is_empty() {
                return Err(OptionError::NeedsZones(zoned.join(", ")));
            }
            if self.by_name {
                return not_for("--by-name", "squid, pac, checklist");
            }
        }
        if self.split.is_some() && !matches!(t, Target::Wireguard | Target::Openvpn) {
            return not_for("--split", "wireguard, openvpn");
        }
        if self.policy.is_some()
            && !matches!(t, Target::Nftables | Target::Iptables | Target::Ip6tables)
        {
            return not_for("--policy", "nftables, iptables, ip6tables");
        }
        let lists_rules = t.is_firewall() || t == Target::Checklist;
        if !self.dns.is_empty() && !lists_rules {
            return not_for("--dns", "nftables, iptables, ip6tables, windows, checklist");
        }
        if self.restrict_source_ports && !lists_rules {
            return not_for(
                "--restrict-source-ports",
                "nftables, iptables, ip6tables, windows, checklist",
            );
        }
        if t == Target::Pac && self.proxy.is_none() {
            return Err(OptionError::Missing {
                option: "--proxy HOST:PORT",
                target: t,
            });
        }
        if let Some(app) = &self.app {
            if app.trim().is_empty() || app.chars().any(|c| c.is_control() || c == '"') {
                return Err(OptionError::BadApp(app.clone()));
            }
        }
        Ok(())
    }
}

/// Options that do not fit the target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OptionError {
    /// An option given for a target it does not apply to.
    #[error("{option} does not apply to --target {target} (only to {applies_to})")]
    NotForTarget {
        /// The option.
        option: &'static str,
        /// The target asked for.
        target: Target,
        /// The targets it applies to.
        applies_to: &'static str,
    },
    /// A target that needs an option it was not given.
    #[error("--target {target} needs {option}")]
    Missing {
        /// The option.
        option: &'static str,
        /// The target.
        target: Target,
    },
    /// Aerleon platforms whose headers name zones, without zones given.
    #[error("--target aerleon: {0} need --from-zone and --to-zone (the zones your firewall calls the clients' side and the internet side, e.g. --from-zone trust --to-zone untrust), or leave them out with --aerleon-platform")]
    NeedsZones(String),
    /// An application path that cannot be written into a script safely.
    #[error("--app `{0}` is not a usable program path (empty, or with control characters or double quotes)")]
    BadApp(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_addresses() {
        let p: ProxyAddr = "Proxy.corp.example:3128"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.to_string(), "proxy.corp.example:3128");
        assert!("[2001:db8::1]:8080".parse::<ProxyAddr>().is_ok());
        for bad in [
            "proxy",
            "proxy:0",
            "proxy:99999",
            ":3128",
            "pro\"xy:1",
            "[::g]:1",
            "a b:1",
            "-x:1",
        ] {
            assert!(bad.parse::<ProxyAddr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn options_that_do_not_fit_are_refused() {
        let mut o = TargetOptions::new(Target::Nftables);
        assert!(o.check().is_ok());
        o.pac_type = Some(PacType::OptimizeOnly);
        let e = o.check().unwrap_err().to_string();
        assert_eq!(
            e,
            "--pac-type does not apply to --target nftables (only to pac)"
        );
        let o = TargetOptions::new(Target::Pac);
        assert_eq!(
            o.check().unwrap_err().to_string(),
            "--target pac needs --proxy HOST:PORT"
        );
        let mut o = TargetOptions::new(Target::Wireguard);
        o.restrict_source_ports = true;
        assert!(o.check().is_err());
        assert!("nope"
            .parse::<Target>()
            .unwrap_err()
            .contains("one of: nftables"));
    }
}
