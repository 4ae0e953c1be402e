//! The one flag table (clap derive). Every reporting command takes `--json`.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};
use edgepath_model::Family;
use edgepath_model::{DataVersion, Profile};
use edgepath_policy::audit::ir::Hook;
use edgepath_policy::audit::Format as AuditFormat;
use edgepath_policy::{
    AerleonPlatform, ChainPolicy, PacType, ProxyAddr, SplitTunnel, Target, Zone,
};

/// edgepath: can Skype for Business Online / Teams clients reach the
/// Microsoft 365 edge from here, by which path, why not, and which firewall,
/// proxy, QoS and VPN settings fix it?
#[derive(Debug, Parser)]
#[command(name = "edgepath", version, about, long_about = None)]
#[command(
    after_help = "Exit codes: 0 ok, 1 findings worth attention, 2 usage, input or operational error.\nEnvironment: EDGEPATH_ENDPOINTS (endpoint JSON file), EDGEPATH_CACHE_DIR (where updated or imported endpoint data is kept)."
)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the services a client needs, with ports, names and address ranges
    /// from Microsoft's endpoint data; import or update that data.
    Catalog(CatalogArgs),
    /// Read the port ranges a client was provisioned with from a pasted SIP
    /// message or provisionGroupList XML, validate them, and derive QoS.
    Provisioning(ProvisioningArgs),
    /// Read the site inventory (Microsoft's CQD building data file, or the Teams network
    /// topology as CSV), check it as CQD or Teams check an upload (columns, ranges,
    /// duplicates, overlaps, VPN subnets) with file and line, and list the sites; with
    /// --lookup, say which site an address belongs to.
    Sites(SitesArgs),
    /// Test this network's paths to the Microsoft 365 edge: DNS, signalling and web
    /// services (TLS, interception), the proxy, the relays over UDP 3478-3481 and TCP 443
    /// from each modality's source ports, NAT, and media quality with TURN credentials.
    Check(CheckArgs),
    /// Decode one STUN / TURN / MS-TURN packet given as hex (Wireshark's "Copy
    /// as Hex Stream") or a file of raw bytes, and check its integrity.
    Decode(DecodeArgs),
    /// Generate the firewall, QoS, proxy and VPN configuration that gives every
    /// modality its best path: nftables, iptables, ip6tables, windows, pac, squid,
    /// wireguard, openvpn or a checklist, printed to stdout; or an Aerleon policy for
    /// vendor firewalls (PAN-OS, FortiOS, Junos, SRX, ASA, ...), written to --out-dir.
    Rules(RulesArgs),
    /// Analyse a packet capture (pcap or pcapng) of client traffic: each connection's
    /// service, modality and media path, TLS names and issuers, relay allocations, ICE
    /// checks, RTP quality, and what is wrong.
    Capture(CaptureArgs),
    /// Read existing configurations (`nft -j list ruleset` JSON, iptables-save,
    /// ip6tables-save, squid.conf, a PAC file, WireGuard or OpenVPN) and predict, in
    /// `check`'s words, each modality's media path and each service's reachability, with
    /// the rule that decides each flow and the smallest change that gives the best path.
    Audit(AuditArgs),
    /// Run as a Prometheus exporter: `/probe?module=NAME` runs a check with the module's
    /// settings and answers with its metrics; `/metrics` has the exporter's own.
    Serve(ServeArgs),
    /// Run the check on a schedule and append each run to a history (JSON lines), or
    /// summarise a history: how often each modality was on each path, quality
    /// percentiles.
    Monitor(MonitorArgs),
    /// Print a shell completion script: bash, zsh, fish, elvish or powershell
    /// (`edgepath completions bash > /etc/bash_completion.d/edgepath`).
    Completions(CompletionsArgs),
    /// Write the manual pages, edgepath(1) and one per command (edgepath-check(1), ...),
    /// into a directory.
    Man(ManArgs),
}

/// `edgepath completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `edgepath man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Where to write the pages (created if missing).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub out_dir: PathBuf,
}

/// `edgepath monitor`.
#[derive(Debug, Args)]
pub struct MonitorArgs {
    /// Time between runs: `30s`, `5m`, `1h` (10 s to 24 h).
    #[arg(long, default_value = "5m", value_parser = crate::monitor::parse_interval)]
    pub interval: std::time::Duration,
    /// Append each run to this file (one JSON object per line).
    #[arg(long, value_name = "FILE", conflicts_with = "summary")]
    pub history: Option<PathBuf>,
    /// Stop after this many runs (default: until Ctrl-C).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// Start each run (the first too) at a random moment within this much after its
    /// slot, so that many sites on the same interval do not probe the same second:
    /// `30s`, `2m`, `0` for none (default: a tenth of the interval, at most 5 minutes).
    #[arg(long, value_name = "DURATION", value_parser = crate::monitor::parse_spread)]
    pub spread: Option<std::time::Duration>,
    /// Summarise this history instead of running checks.
    #[arg(long, value_name = "FILE")]
    pub summary: Option<PathBuf>,
    #[command(flatten)]
    pub check: CheckArgs,
}

/// `edgepath serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The address to listen on (localhost by default: the probe's results describe
    /// this network; expose them deliberately).
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:9788")]
    pub listen: std::net::SocketAddr,
    /// Modules as TOML (`[modules.NAME]` tables with check's settings: profile,
    /// endpoints, provisioning, proxy, tenant, ca, duration, legacy_ports, and the names
    /// of environment variables holding credentials: turn_user_env, turn_password_env,
    /// turn_secret_env, proxy_user_env). Without it: one module `default` with check's
    /// defaults and a 5 s quality measurement.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The site inventory (see `edgepath sites`): every probe's metrics carry a `site`
    /// label, the site of the address the probe left from (`unknown` when it is in no
    /// subnet), and `edgepath_site_findings` counts what the file claims that the probe
    /// did not find. Reloaded on SIGHUP with the modules.
    #[arg(long, value_name = "FILE")]
    pub sites: Option<PathBuf>,
    /// TLS and basic auth in the Prometheus ecosystem's web configuration format
    /// (exporter-toolkit's web-config.yml: tls_server_config with cert_file, key_file,
    /// client_auth_type, client_ca_file, min_version, max_version; basic_auth_users
    /// with bcrypt hashes). Reloaded on SIGHUP.
    #[arg(long, value_name = "FILE")]
    pub web_config: Option<PathBuf>,
}

/// The address families the clients have (`--family`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFamilies(pub Vec<Family>);

/// `edgepath audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// The configuration files, any mix (`-` reads stdin); the format is recognised by
    /// content.
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
    /// The format of every file: nftables-json, iptables-save, ipset, squid, pac,
    /// wireguard or openvpn (default: recognised by content).
    #[arg(long, value_name = "FORMAT", value_parser = parse_audit_format)]
    pub format: Option<AuditFormat>,
    #[command(flatten)]
    pub endpoints: EndpointArgs,
    /// Provisioning (pasted SIP/XML) with the clients' media source ranges; Microsoft's
    /// defaults otherwise.
    #[arg(long, value_name = "FILE")]
    pub provisioning: Option<PathBuf>,
    /// Port profile: `current` or `legacy`.
    #[arg(long, default_value = "current", value_parser = parse_profile)]
    pub profile: Profile,
    /// Which packets the rules see: `forward` (the configuration is a router's or a
    /// firewall's between clients and the internet) or `output` (a client's own host
    /// firewall).
    #[arg(
        long,
        default_value = "forward",
        value_parser = PossibleValuesParser::new(["forward", "output"]).map(|h| match h.as_str() {
            "output" => Hook::Output,
            _ => Hook::Forward,
        })
    )]
    pub hook: Hook,
    /// The address families the clients have: `ipv4`, `ipv6` or `both`.
    #[arg(
        long,
        default_value = "both",
        value_parser = PossibleValuesParser::new(["ipv4", "ipv6", "both"]).map(|f| ClientFamilies(match f.as_str() {
            "ipv4" => vec![Family::Ipv4],
            "ipv6" => vec![Family::Ipv6],
            _ => vec![Family::Ipv4, Family::Ipv6],
        }))
    )]
    pub family: ClientFamilies,
    /// A client's address, for rules that match on the source address (default: any
    /// address, and rules that depend on it split the answer).
    #[arg(long, value_name = "ADDR")]
    pub client: Option<IpAddr>,
    /// The explicit proxy the clients use (ADDR:PORT): services and media may go
    /// through it where direct paths are blocked.
    #[arg(long, value_name = "ADDR:PORT")]
    pub proxy: Option<std::net::SocketAddr>,
    /// With a VPN configuration among the files: the firewall where tunnelled traffic
    /// leaves the company (`nft -j list ruleset` or iptables-save; repeatable).
    /// Without it, what the tunnel carries is taken to pass.
    #[arg(long, value_name = "FILE")]
    pub egress: Vec<PathBuf>,
    /// The interface the clients' packets come in on (a router's LAN side), for rules
    /// that match `iifname`/`-i`. Not given: such rules are unknown, named.
    #[arg(long = "in", value_name = "NAME", value_parser = parse_ifname)]
    pub in_iface: Option<String>,
    /// The interface the packets leave by towards Microsoft (the WAN side), for rules
    /// that match `oifname`/`-o`.
    #[arg(long = "out", value_name = "NAME", value_parser = parse_ifname)]
    pub out_iface: Option<String>,
    /// The interface on the proxy's side (its DMZ): its own packets come in there, and
    /// the clients' packets to it leave there. Default: the same as --in.
    #[arg(long = "proxy-in", value_name = "NAME", value_parser = parse_ifname)]
    pub proxy_in: Option<String>,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// An interface name as Linux allows it: 1 to 15 bytes, no `/`, no white space.
fn parse_ifname(s: &str) -> Result<String, String> {
    if s.is_empty() || s.len() > 15 || s.contains('/') || s.contains(char::is_whitespace) {
        return Err(format!(
            "{s:?} is not an interface name (1 to 15 characters, no '/' or spaces)"
        ));
    }
    Ok(s.to_owned())
}

/// Options every command that uses endpoint data accepts.
#[derive(Debug, Args, Clone)]
pub struct EndpointArgs {
    /// Use this endpoint JSON file (Microsoft's web service format) for this run,
    /// instead of the imported/updated data or the embedded snapshot.
    #[arg(long, value_name = "FILE", env = "EDGEPATH_ENDPOINTS", global = true)]
    pub endpoints: Option<PathBuf>,
    /// Microsoft's version of the --endpoints file or of the file `catalog import`
    /// keeps (YYYYMMDDNN, as https://endpoints.office.com/version answers): the JSON
    /// does not carry it, and reports name it and warn when it is over 35 days old.
    #[arg(
        long,
        value_name = "VERSION",
        env = "EDGEPATH_ENDPOINTS_VERSION",
        value_parser = parse_data_version,
        global = true
    )]
    pub endpoints_version: Option<DataVersion>,
}

fn parse_data_version(s: &str) -> Result<DataVersion, String> {
    DataVersion::parse(s).map_err(|e| e.to_string())
}

/// Output options.
#[derive(Debug, Args, Clone, Copy)]
pub struct OutputArgs {
    /// Write one JSON document to stdout instead of the text report.
    #[arg(long, global = true)]
    pub json: bool,
}

/// `edgepath catalog`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct CatalogArgs {
    /// What to do with the endpoint data; without one, show the service table.
    #[command(subcommand)]
    pub action: Option<CatalogAction>,
    /// Port profile: `current` (TCP 443, UDP 3478-3481) or `legacy` (adds the
    /// A/V edge's UDP and TCP 50000-59999).
    #[arg(long, default_value = "current", value_parser = parse_profile, global = true)]
    pub profile: Profile,
    #[command(flatten)]
    pub endpoints: EndpointArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// What `edgepath catalog` can do besides showing the table.
#[derive(Debug, Subcommand)]
pub enum CatalogAction {
    /// Check FILE (Microsoft's endpoint JSON) and keep it as the endpoint data
    /// later runs use, then show the catalog built from it and what changed against
    /// the data in use before. Give its version with --endpoints-version.
    Import {
        /// The JSON file, as https://endpoints.office.com/endpoints/worldwide returns it.
        file: PathBuf,
        /// Only check and show; keep nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Fetch Microsoft's current endpoint list (only when its version changed)
    /// and keep it for later runs; list what changed against the data in use before.
    Update {
        /// Fetch the list even when the version is unchanged.
        #[arg(long)]
        force: bool,
        /// The service instance: Worldwide, USGovDoD, USGovGCCHigh, China.
        #[arg(long, default_value = "Worldwide")]
        instance: String,
        /// The web service's base address.
        #[arg(
            long,
            value_name = "URL",
            default_value = "https://endpoints.office.com"
        )]
        service_url: String,
    },
    /// Forget imported or updated endpoint data; go back to the embedded snapshot.
    Reset,
    /// List what changed from OLD to NEW (two files in Microsoft's endpoint JSON):
    /// endpoint sets added and removed, and per set the addresses, names and ports.
    /// Exits 0 when they agree, 1 when something changed.
    Diff {
        /// The earlier list.
        old: PathBuf,
        /// The later list.
        new: PathBuf,
    },
}

/// `edgepath sites`.
#[derive(Debug, Args)]
pub struct SitesArgs {
    /// The inventory: a CQD building file (.csv or .tsv, no header) or a Teams topology
    /// CSV (header row with MaskBits); `-` reads standard input.
    #[arg(value_name = "FILE|-")]
    pub input: PathBuf,
    /// Also say which site (and subnet, and line) each of these addresses belongs to.
    #[arg(long, value_name = "ADDRESS", num_args = 1..)]
    pub lookup: Vec<std::net::IpAddr>,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `edgepath provisioning`.
#[derive(Debug, Args)]
pub struct ProvisioningArgs {
    /// The pasted SIP message or XML; `-` reads standard input.
    #[arg(value_name = "FILE|-")]
    pub input: PathBuf,
    #[command(flatten)]
    pub output: OutputArgs,
}

fn parse_audit_format(s: &str) -> Result<AuditFormat, String> {
    AuditFormat::parse(s)
}

fn parse_profile(s: &str) -> Result<Profile, String> {
    s.parse()
}

/// `edgepath decode`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["hex", "file"])))]
pub struct DecodeArgs {
    /// The packet as hex; spaces, colons and a 0x prefix are allowed.
    #[arg(value_name = "HEX")]
    pub hex: Option<String>,
    /// Read the packet's raw bytes from this file instead.
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Password to verify MESSAGE-INTEGRITY: short-term alone, long-term with
    /// --username and --realm.
    #[arg(long, env = "EDGEPATH_STUN_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// Username for long-term credentials.
    #[arg(long, requires = "realm")]
    pub username: Option<String>,
    /// Realm for long-term credentials.
    #[arg(long, requires = "username")]
    pub realm: Option<String>,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `edgepath check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Port profile: `current` or `legacy` (also tries the relay's high ports).
    #[arg(long, default_value = "current", value_parser = parse_profile)]
    pub profile: Profile,
    #[command(flatten)]
    pub endpoints: EndpointArgs,
    /// Provisioning (pasted SIP/XML) whose media port ranges the probes use.
    #[arg(long, value_name = "FILE")]
    pub provisioning: Option<PathBuf>,
    /// Extra trusted root CA file(s), PEM: a private edge. Interception is a chain only
    /// the system store trusts. EDGEPATH_CA takes a colon-separated list.
    #[arg(
        long = "ca",
        value_name = "FILE",
        env = "EDGEPATH_CA",
        value_delimiter = ':'
    )]
    pub ca: Vec<PathBuf>,
    /// An explicit HTTP proxy (http://host:port); otherwise --pac, --wpad, HTTPS_PROXY /
    /// NO_PROXY, then the system's settings (Windows: Internet Settings, WPAD and their
    /// PAC file first), and WPAD where there are none to read.
    #[arg(long, value_name = "URL")]
    pub proxy: Option<String>,
    /// A PAC file (a path, or an http(s) URL fetched directly): each name is probed
    /// through the proxy the PAC gives it, failing over as browsers do.
    #[arg(
        long,
        value_name = "FILE|URL",
        env = "EDGEPATH_PAC",
        conflicts_with = "proxy"
    )]
    pub pac: Option<String>,
    /// Find the PAC file by WPAD (http://wpad.DOMAIN/wpad.dat for this host's DNS search
    /// domains, most specific first), as a client set to detect its proxy does. Without
    /// other proxy settings check tries it anyway.
    #[arg(long, conflicts_with_all = ["proxy", "pac"])]
    pub wpad: bool,
    /// Proxy credentials, user:password.
    #[arg(
        long,
        value_name = "USER:PASSWORD",
        env = "EDGEPATH_PROXY_USER",
        hide_env_values = true
    )]
    pub proxy_user: Option<String>,
    /// Ignore HTTPS_PROXY, PAC files, WPAD and the system's proxy setting: test direct
    /// paths only.
    #[arg(long, conflicts_with_all = ["pac", "wpad"])]
    pub no_proxy: bool,
    /// Where to look for the proxy when no flag names one: `auto` searches as a client
    /// does (HTTPS_PROXY, then the system's settings: Windows' Internet Settings, macOS'
    /// scutil, a GNOME desktop's; WPAD where there are none) and says which source won;
    /// `env`, `system` or `wpad` look there only.
    #[arg(
        long,
        value_name = "SOURCE",
        default_value = "auto",
        conflicts_with_all = ["proxy", "pac", "wpad", "no_proxy"]
    )]
    pub proxy_source: crate::check_settings::ProxySource,
    /// The tenant's SIP domain: its lyncdiscover and sip names are resolved too.
    #[arg(long, value_name = "DOMAIN")]
    pub tenant: Option<String>,
    /// TURN username, for the media quality stream.
    #[arg(long, env = "EDGEPATH_TURN_USER")]
    pub turn_user: Option<String>,
    /// TURN password.
    #[arg(long, env = "EDGEPATH_TURN_PASSWORD", hide_env_values = true)]
    pub turn_password: Option<String>,
    /// coturn's REST-API shared secret, instead of a password.
    #[arg(long, env = "EDGEPATH_TURN_SECRET", hide_env_values = true)]
    pub turn_secret: Option<String>,
    /// Seconds of quality measurement on the best UDP path: a media stream through the
    /// relay (50 packets/s) with TURN credentials, else STUN round trips (25/s).
    /// Up to a day, like a long quality run of Microsoft's assessment tool; Ctrl-C stops
    /// early and still reports.
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub duration: u64,
    /// Write each 5 s window of the quality measurement to FILE as it ends: CSV (RFC
    /// 4180) for `.csv`, JSON lines for `.jsonl`.
    #[arg(long, value_name = "FILE")]
    pub windows_out: Option<PathBuf>,
    /// Legacy high port(s) to try under --profile legacy.
    #[arg(long = "legacy-port", value_name = "PORT", default_values_t = [50000u16], value_parser = clap::value_parser!(u16).range(50000..=59999))]
    pub legacy_ports: Vec<u16>,
    /// Also write the report as one self-contained HTML file (verdict cards with the
    /// path ladder and the fix, quality over time, services and their TLS issuers).
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// The site inventory (CQD building file or Teams topology CSV, see `edgepath
    /// sites`): say which site this client is in and what the file claims of it that
    /// the check did not find (a VPN subnet whose media goes direct, ...).
    #[arg(long, value_name = "FILE")]
    pub sites: Option<PathBuf>,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `edgepath rules`.
#[derive(Debug, Args)]
#[command(
    after_help = "Targets: nftables (inet table, `nft -f`), iptables / ip6tables (`iptables-restore`), windows (PowerShell firewall rules and QoS policies), pac (proxy auto-config; needs --proxy), squid (ACLs to include), wireguard (AllowedIPs for a split tunnel), openvpn (route ... net_gateway), checklist (Markdown)."
)]
pub struct RulesArgs {
    /// The platform to write configuration for.
    #[arg(long, value_name = "TARGET", value_parser = parse_target)]
    pub target: Target,
    #[command(flatten)]
    pub endpoints: EndpointArgs,
    /// Provisioning (pasted SIP/XML) whose media source ranges the QoS and source-port
    /// rules use; Microsoft's defaults otherwise.
    #[arg(long, value_name = "FILE")]
    pub provisioning: Option<PathBuf>,
    /// Port profile: `current` (TCP 443, UDP 3478-3481) or `legacy` (adds the relays'
    /// UDP and TCP 50000-59999).
    #[arg(long, default_value = "current", value_parser = parse_profile)]
    pub profile: Profile,
    /// Allow media to the relays only from the provisioned media source range (off by
    /// default: source ports of SIP and other traffic cannot be controlled, so filtering
    /// by source port is not generally recommended).
    #[arg(long)]
    pub restrict_source_ports: bool,
    /// Match destinations by name only where the target can (squid, pac, checklist);
    /// other targets say in a note that they cannot.
    #[arg(long)]
    pub by_name: bool,
    /// pac: the proxy everything else goes to, HOST:PORT.
    #[arg(long, value_name = "HOST:PORT", value_parser = parse_proxy_addr)]
    pub proxy: Option<ProxyAddr>,
    /// pac: 1 sends only the Optimize endpoints direct, 2 (default) also the Allow ones.
    #[arg(long, value_name = "1|2", value_parser = parse_pac_type)]
    pub pac_type: Option<PacType>,
    /// windows: the client program the rules and QoS policies apply to (e.g. the full
    /// path of ms-teams.exe).
    #[arg(long, value_name = "PATH")]
    pub app: Option<String>,
    /// Firewalls: a DNS resolver the clients may reach on port 53 (repeatable); without
    /// it, add your own DNS rule.
    #[arg(long, value_name = "ADDRESS")]
    pub dns: Vec<IpAddr>,
    /// nftables, iptables: what happens to traffic the rules do not allow: `drop`
    /// (default: the rules are the whole outbound policy) or `accept` (they only count).
    #[arg(long, value_name = "drop|accept", value_parser = parse_policy)]
    pub policy: Option<ChainPolicy>,
    /// wireguard, openvpn: what stays outside the tunnel: `optimize` (default: every
    /// Optimize set, Exchange, SharePoint and Teams media, as Microsoft advises) or
    /// `teams-media` (the Teams media set only).
    #[arg(long, value_name = "optimize|teams-media", value_parser = parse_split)]
    pub split: Option<SplitTunnel>,
    /// aerleon: the platforms to write headers for, comma-separated (default: paloalto,
    /// fortigate, srx, ciscoasa, juniper, nftables, iptables, windows_advfirewall).
    #[arg(long, value_name = "P,...", value_delimiter = ',', value_parser = parse_platform)]
    pub aerleon_platform: Vec<AerleonPlatform>,
    /// aerleon: the zone the clients are in (paloalto, fortigate and srx need it).
    #[arg(long, value_name = "ZONE", value_parser = parse_zone)]
    pub from_zone: Option<Zone>,
    /// aerleon: the zone towards the internet.
    #[arg(long, value_name = "ZONE", value_parser = parse_zone)]
    pub to_zone: Option<Zone>,
    /// aerleon: the directory to write the policy, the definitions and aerleon.yml into
    /// (created if missing; existing edgepath files there are replaced).
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    #[command(flatten)]
    pub output: OutputArgs,
}

fn parse_split(s: &str) -> Result<SplitTunnel, String> {
    s.parse()
}

fn parse_platform(s: &str) -> Result<AerleonPlatform, String> {
    s.parse()
}

fn parse_zone(s: &str) -> Result<Zone, String> {
    s.parse()
}

fn parse_target(s: &str) -> Result<Target, String> {
    s.parse()
}

fn parse_proxy_addr(s: &str) -> Result<ProxyAddr, String> {
    s.parse()
}

fn parse_policy(s: &str) -> Result<ChainPolicy, String> {
    s.parse()
}

fn parse_pac_type(s: &str) -> Result<PacType, String> {
    match s {
        "1" => Ok(PacType::OptimizeOnly),
        "2" => Ok(PacType::OptimizeAndAllow),
        _ => Err(format!(
            "`{s}` is not a PAC type; 1 (Optimize direct) or 2 (Optimize and Allow direct)"
        )),
    }
}

/// `edgepath capture`.
#[derive(Debug, Args)]
pub struct CaptureArgs {
    /// The capture: pcap or pcapng (Ethernet, Linux cooked, raw IP; IPv4 and IPv6).
    #[arg(
        value_name = "FILE",
        required_unless_present = "interface",
        conflicts_with = "interface"
    )]
    pub file: Option<PathBuf>,
    /// Capture live from this interface instead (libpcap; root or CAP_NET_RAW; a build
    /// with `--features live`). Ctrl-C or --duration ends it with the same report as
    /// for a file; on a terminal a summary runs meanwhile.
    #[arg(long, short = 'i', value_name = "IF")]
    pub interface: Option<String>,
    /// With --interface: stop after this many seconds (default: at Ctrl-C).
    #[arg(long, value_name = "SECONDS", requires = "interface",
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub duration: Option<u64>,
    /// With --interface: a BPF filter (pcap-filter(7)) instead of the default, which
    /// keeps what the model needs: all UDP (DNS, STUN/TURN, media on any port), and TCP
    /// on 80, 443 (web, TURN over TCP), 3128 and 8080 (proxies), 5060 and 5061 (SIP).
    /// An empty filter keeps every packet.
    #[arg(long, value_name = "BPF", requires = "interface")]
    pub filter: Option<String>,
    /// With --interface: also keep the packets in this pcapng file (nanosecond
    /// timestamps), which `edgepath capture FILE` reports on exactly as it did live.
    #[arg(long, value_name = "FILE", requires = "interface")]
    pub write: Option<PathBuf>,
    /// With --interface: the kernel's capture buffer in MiB (as dumpcap's -B), which
    /// holds the packets arriving while edgepath analyses; raise it if the report says
    /// packets were dropped.
    #[arg(long, value_name = "MIB", requires = "interface", default_value_t = 32,
          value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub buffer_size: u32,
    #[command(flatten)]
    pub endpoints: EndpointArgs,
    /// Provisioning (pasted SIP/XML) with the client's media source ranges; Microsoft's
    /// defaults otherwise.
    #[arg(long, value_name = "FILE")]
    pub provisioning: Option<PathBuf>,
    /// In the text report, list every flow, not only the Microsoft 365 and media ones.
    #[arg(long)]
    pub all: bool,
    /// Threads reading a capture file (each reads all of it and follows its own share
    /// of the flows); the default is one per core. A pipe is read by one.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=64))]
    pub threads: Option<u32>,
    /// Also write the report as one self-contained HTML file (flow table, timeline of
    /// flows and relay allocations, findings).
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// The site inventory (see `edgepath sites`): each flow's client is placed in its
    /// site, and the report ends with flows and findings per site.
    #[arg(long, value_name = "FILE")]
    pub sites: Option<PathBuf>,
    #[command(flatten)]
    pub output: OutputArgs,
}
