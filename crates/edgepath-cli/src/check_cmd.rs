//! `edgepath check`: the main job. Builds the configuration from flags, environment,
//! endpoint data and provisioning; runs the probe; renders the verdict.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use edgepath_model::sites::claims::SiteReport;
use edgepath_model::{EndpointSource, MediaPath, Status};
use edgepath_probe::check::{self, CheckConfig, Report, Timeouts};
use edgepath_probe::pac::PacReport;
use edgepath_probe::proxy::split_credentials;
use edgepath_probe::tls::Trust;

use crate::args::CheckArgs;
use crate::check_settings::CheckSettings;
use crate::model_input::{self, ModelInput};
use crate::output::{emit, emit_json, Outcome, Table, WithEndpoints};
use crate::proxy_choice::{self, Chosen};
use crate::watch::CheckWatch;

/// coturn's REST-style credentials (`use-auth-secret`): the username is the expiry time
/// (and a user id), the password base64(HMAC-SHA1(secret, username)).
fn rest_credentials(secret: &str, user: Option<&str>) -> (String, String) {
    let expiry = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        + 3600;
    let username = match user {
        Some(u) => format!("{expiry}:{u}"),
        None => expiry.to_string(),
    };
    let mac = edgepath_wire::stun::hmac(secret.as_bytes(), username.as_bytes(), false);
    (username, edgepath_probe::proxy::base64(&mac))
}

/// The probe's configuration and the endpoint data's source, from what the check is
/// asked (`check`'s and `monitor`'s flags, each module of `serve`).
pub fn config(args: &CheckSettings) -> Result<(CheckConfig, EndpointSource)> {
    let ModelInput {
        catalog,
        ranges,
        source,
    } = model_input::load(&args.endpoints, args.provisioning.as_deref(), args.profile)?;
    let trust = Trust::load(&args.ca).map_err(|e| anyhow!("--ca / EDGEPATH_CA: {e}"))?;
    let Chosen {
        mut proxy,
        pac,
        search: proxy_search,
    } = proxy_choice::choose(&args.proxy, &catalog)?;
    if let Some(creds) = &args.proxy_user {
        let p = proxy
            .as_mut()
            .ok_or_else(|| anyhow!("--proxy-user needs a proxy (--proxy URL or HTTPS_PROXY)"))?;
        p.credentials = Some(split_credentials(creds).map_err(|e| anyhow!("--proxy-user: {e}"))?);
    }
    let turn = match (&args.turn.user, &args.turn.password, &args.turn.secret) {
        (_, Some(_), Some(_)) => bail!("give --turn-password or --turn-secret, not both"),
        (Some(u), Some(p), None) => Some((u.clone(), p.clone())),
        (u, None, Some(s)) => Some(rest_credentials(s, u.as_deref())),
        (None, Some(_), None) => bail!("--turn-password needs --turn-user"),
        (Some(_), None, None) => bail!("--turn-user needs --turn-password or --turn-secret"),
        (None, None, None) => None,
    };
    if let Some(t) = &args.tenant {
        if t.is_empty()
            || !t
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
            || !t.contains('.')
        {
            bail!("--tenant `{t}` is not a domain name");
        }
    }
    Ok((
        CheckConfig {
            catalog,
            ranges,
            profile: args.profile,
            legacy_ports: args.legacy_ports.clone(),
            tenant: args.tenant.clone(),
            relay: None,
            proxy,
            pac,
            proxy_search,
            trust,
            turn,
            duration: Duration::from_secs(args.duration),
            timeouts: Timeouts::default(),
        },
        source,
    ))
}

/// The PAC's answer per name: the hop a client takes and the line that decided it.
fn render_pac(pac: &PacReport) -> String {
    let mut out = format!("PAC: {}\n", pac.source);
    let width = pac.answers.iter().map(|a| a.name.len()).max().unwrap_or(0);
    for a in &pac.answers {
        let why = match (&a.error, a.line) {
            (Some(e), _) => format!("no answer: {e}"),
            (None, Some(l)) => format!("line {l}: {}", a.answer),
            (None, None) => a.answer.clone(),
        };
        out.push_str(&format!("  {:width$}  {}  ({why})\n", a.name, a.hop));
    }
    for n in &pac.notes {
        out.push_str(&format!("  note: {n}\n"));
    }
    out
}

/// Runs the command.
pub fn run(args: &CheckArgs) -> Result<Outcome> {
    let (cfg, source) = config(&CheckSettings::from_args(args)?)?;
    // Read before probing: a file that cannot be opened is a mistake in the command.
    let inventory = args
        .sites
        .as_deref()
        .map(crate::sites_cmd::load)
        .transpose()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let mut watch = CheckWatch::new(args.windows_out.as_deref())?;
    let stop = std::sync::Arc::clone(&watch.stop);
    let report = runtime.block_on(async {
        // Ctrl-C stops the quality measurement early; the report is still printed.
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                stop.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        });
        check::run(&cfg, &mut watch).await
    });
    if let (Some(e), Some(p)) = (&watch.error, &args.windows_out) {
        eprintln!(
            "edgepath: warning: {}: windows not all written: {e}",
            p.display()
        );
    }
    // A DNS lookup given up on still occupies a blocking thread until the resolver
    // gives up too (10 s and more): do not wait for it.
    runtime.shutdown_background();
    let site = inventory
        .as_ref()
        .map(|inv| SiteReport::new(inv, &report.site_facts()));
    let outcome = if report.modalities.iter().all(|m| m.status == Status::Good)
        && !site.as_ref().is_some_and(SiteReport::has_warnings)
    {
        Outcome::Clean
    } else {
        Outcome::Findings
    };
    if let Some(html) = &args.html {
        std::fs::write(html, crate::report::check_page(&report, &source))
            .with_context(|| format!("--html {}", html.display()))?;
    }
    if args.output.json {
        emit_json(&CheckDocument {
            with: WithEndpoints {
                endpoints: &source,
                report: &report,
            },
            site: site.as_ref(),
        })?;
    } else {
        let mut text = render(&report, &source);
        if let Some(site) = &site {
            text.push_str(&site_text(site));
        }
        emit(&text)?;
    }
    Ok(outcome)
}

/// The check's JSON: the report, and with `--sites` the client's site.
#[derive(serde::Serialize)]
struct CheckDocument<'a> {
    #[serde(flatten)]
    with: WithEndpoints<'a, Report>,
    #[serde(skip_serializing_if = "Option::is_none")]
    site: Option<&'a SiteReport>,
}

/// The site section of the text report.
pub fn site_text(site: &SiteReport) -> String {
    let mut out = match &site.site {
        Some(m) => format!(
            "\nSite: {} ({}, {} line {})\n",
            m.site, m.subnet, site.file, m.line
        ),
        None => format!("\nSite: none in {}\n", site.file),
    };
    for f in &site.findings {
        out.push_str(&format!("  {}: {}\n", f.severity, f.text));
    }
    out
}

struct Paint(bool);

impl Paint {
    /// `text` in ANSI colour `code` when painting.
    fn colour(&self, code: &str, text: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    /// A status: green good, yellow degraded, red failing.
    fn status(&self, s: Status) -> String {
        let code = match s {
            Status::Good => "32",
            Status::Degraded => "33",
            Status::Failing => "31",
        };
        self.colour(code, s.name())
    }

    /// `yes` in green or `no` in red.
    fn yes_no(&self, yes: bool) -> String {
        if yes {
            self.colour("32", "yes")
        } else {
            self.colour("31", "no")
        }
    }
}

fn headline(r: &Report) -> Option<String> {
    let all_dns_failed = !r.dns.is_empty() && r.dns.iter().all(|d| !d.ok());
    let nothing = r.services.iter().all(|s| !s.reachable)
        && r.modalities.iter().all(|m| m.path == MediaPath::None);
    if all_dns_failed {
        let why = r
            .dns
            .first()
            .and_then(|d| d.error.clone())
            .unwrap_or_default();
        Some(format!("Nothing is reachable: no Microsoft 365 name resolves ({why}). This network has no working DNS to the internet, or no internet."))
    } else if nothing {
        Some("Nothing is reachable: names resolve, but every connection to Microsoft's edge is refused or times out.".into())
    } else {
        None
    }
}

/// The QoS policies' marking per modality, where the system has them (Windows).
fn qos_text(r: &Report) -> String {
    let lines: Vec<String> = r
        .modalities
        .iter()
        .filter_map(|m| {
            let q = m.qos.as_ref()?;
            let by = if q.policies.is_empty() {
                String::new()
            } else {
                format!(" ({})", q.policies.join("; "))
            };
            Some(format!(
                "  {:<14} {} (Microsoft: DSCP {}){by}\n",
                m.modality.id(),
                q.state,
                q.expected_dscp
            ))
        })
        .collect();
    if lines.is_empty() {
        return String::new();
    }
    let mut out = "QoS (this machine's policies, by source port):\n".to_owned();
    lines.iter().for_each(|l| out.push_str(l));
    if r.modalities.iter().any(|m| {
        m.qos
            .as_ref()
            .is_some_and(|q| q.state != edgepath_model::QosState::Marked)
    }) {
        out.push_str("  => mark each media range with Microsoft's DSCP: `edgepath rules --target windows` (QoS policies), applied by Group Policy\n");
    }
    out
}

fn render(r: &Report, source: &EndpointSource) -> String {
    let paint = Paint(
        std::io::stdout().is_terminal()
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
    );
    let mut out = format!(
        "edgepath check: Skype for Business Online / Teams from this network (profile {}, {} ms)\n",
        r.profile, r.elapsed_ms
    );
    out.push_str(&format!("Endpoint data: {}\n", source.description));
    match (&r.proxy, &r.pac) {
        (Some(p), _) => out.push_str(&format!("Proxy: {p}\n")),
        (None, Some(_)) => out.push_str("Proxy: none, as the PAC below decides\n"),
        (None, None) if !r.proxy_search.is_empty() => out.push_str("Proxy: none found\n"),
        (None, None) => {}
    }
    if !r.proxy_search.is_empty() {
        out.push_str("  searched as a client does:\n");
        for step in &r.proxy_search {
            out.push_str(&format!("  - {step}\n"));
        }
    }
    if let Some(pac) = &r.pac {
        out.push_str(&render_pac(pac));
    }
    if let Some(v) = &r.proxy_vendor {
        out.push_str(&format!(
            "Cloud security service: {} (named by {})\n  Its vendor's advice for Teams: {}\n  See {}\n",
            v.product, v.by, v.advice, v.reference
        ));
    }
    if let Some(relay) = &r.relay {
        out.push_str(&format!("Relay: {relay}\n"));
    }
    if let Some(h) = headline(r) {
        out.push_str(&format!("\n{h}\n"));
    }
    out.push('\n');
    let mut t = Table::new(&["MODALITY", "SOURCE PORTS", "PATH", "STATUS"]);
    for m in &r.modalities {
        t.row(vec![
            m.modality.to_string(),
            m.source_ports.to_string(),
            match m.tcp_framing {
                Some(f) => format!("{} ({f})", m.path),
                None => m.path.to_string(),
            },
            paint.status(m.status),
        ]);
    }
    t.render(&mut out);
    out.push('\n');
    let mut t = Table::new(&["SERVICE", "NAME", "REACHABLE", "VIA", "TLS"]);
    for s in &r.services {
        let tls = match &s.tls {
            Some(t) if t.intercepted => format!(
                "INTERCEPTED by {}",
                t.issuer.as_deref().unwrap_or("an unknown issuer")
            ),
            Some(t) => format!(
                "issuer {}{}",
                t.issuer.as_deref().unwrap_or("?"),
                t.verified_by
                    .map(|a| format!(
                        " (trusted by {} roots)",
                        serde_json::to_value(a)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_owned))
                            .unwrap_or_default()
                    ))
                    .unwrap_or_default()
            ),
            None => "-".into(),
        };
        t.row(vec![
            s.service.to_string(),
            s.name.clone(),
            paint.yes_no(s.reachable),
            s.via.to_string(),
            tls,
        ]);
    }
    t.render(&mut out);
    out.push_str(&format!("\nNAT: {}\n", r.nat.note));
    if !r.nat.public.is_empty() {
        let p: Vec<String> = r.nat.public.iter().map(ToString::to_string).collect();
        out.push_str(&format!(
            "  public address(es) seen by the relay: {}\n",
            p.join(", ")
        ));
    }
    out.push_str(&families_text(r));
    out.push_str(&format!("VPN: {}\n", r.vpn.note));
    for a in r.vpn.advice.iter().filter(|_| !r.vpn.media_tunnelled()) {
        // Advice for tunnelled media is told with the modalities.
        out.push_str(&format!("  => {a}\n"));
    }
    out.push_str(&qos_text(r));
    // Modalities with the same verdict, evidence and advice are told once.
    let mut groups: Vec<(Vec<String>, &edgepath_probe::check::ModalityVerdict)> = Vec::new();
    for m in r
        .modalities
        .iter()
        .filter(|m| m.status != Status::Good || !m.advice.is_empty())
    {
        // The UDP lines name each modality's own source port; compare without them.
        let key = |x: &edgepath_probe::check::ModalityVerdict| {
            (
                x.path,
                x.status,
                x.evidence
                    .iter()
                    .filter(|e| {
                        let line = e
                            .strip_prefix("IPv4: ")
                            .or_else(|| e.strip_prefix("IPv6: "))
                            .unwrap_or(e);
                        !line.starts_with("UDP ")
                    })
                    .cloned()
                    .collect::<Vec<_>>(),
                x.advice.clone(),
            )
        };
        match groups.iter_mut().find(|(_, g)| key(g) == key(m)) {
            Some((names, _)) => names.push(m.modality.to_string()),
            None => groups.push((vec![m.modality.to_string()], m)),
        }
    }
    for (names, m) in groups {
        out.push_str(&format!(
            "\n{} ({} {}):\n",
            names.join(", "),
            m.path,
            m.status
        ));
        for e in &m.evidence {
            out.push_str(&format!("  - {e}\n"));
        }
        for a in &m.advice {
            out.push_str(&format!("  => {a}\n"));
        }
    }
    for s in r
        .services
        .iter()
        .filter(|s| !s.reachable || s.tls.as_ref().is_some_and(|t| t.intercepted))
    {
        out.push_str(&format!("\n{} ({}):\n", s.service, s.name));
        if let Some(e) = &s.direct.error {
            out.push_str(&format!("  - direct: {e}\n"));
        }
        if let Some(p) = &s.proxy {
            out.push_str(&format!(
                "  - through the proxy {}: {}\n",
                p.via,
                p.error
                    .as_deref()
                    .unwrap_or(if p.connected { "tunnel open" } else { "failed" })
            ));
        }
        if s.tls.as_ref().is_some_and(|t| t.intercepted) {
            out.push_str("  => TLS is intercepted: exempt Microsoft 365's Optimize and Allow endpoints from inspection (`edgepath rules --target squid`)\n");
        }
    }
    let good = r
        .modalities
        .iter()
        .filter(|m| m.status == Status::Good)
        .count();
    if good == r.modalities.len() {
        out.push_str("\nAll modalities have their best path: UDP to the relay, within Microsoft's targets where measured.\n");
        // Shown even then: the credentials given did not work.
        let fallback = r
            .modalities
            .iter()
            .find_map(|m| m.quality.as_ref().and_then(|q| q.fallback.as_ref()));
        if let Some(f) = fallback {
            out.push_str(&format!("Quality: {f}.\n"));
        }
    }
    out
}

/// One line per address family: the relay address, UDP and TCP, the services.
fn families_text(r: &Report) -> String {
    let mut out = String::new();
    for f in &r.families {
        let name = f.family.label();
        match f.relay {
            Some(relay) => out.push_str(&format!(
                "{name}: relay {relay}: UDP {}, TCP {} (best: {}); {} of {} services answer directly{}\n",
                f.udp.name(),
                f.tcp.name(),
                f.path,
                f.services_reachable.len(),
                r.services.len(),
                f.source
                    .map(|s| format!("; from {s}"))
                    .unwrap_or_default()
            )),
            None => out.push_str(&format!(
                "{name}: not probed: {}\n",
                f.note.as_deref().unwrap_or("no address")
            )),
        }
    }
    out
}
