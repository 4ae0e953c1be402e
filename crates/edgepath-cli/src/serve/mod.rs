//! `edgepath serve`: a Prometheus exporter in the blackbox exporter's multi-target
//! pattern. `/probe?module=NAME` runs a check with the module's settings and answers
//! with its metrics ([`metrics`]); `/metrics` has the exporter's own. One thread, one
//! event loop (hyper's HTTP/1 server on tokio's current-thread runtime): a probe is
//! mostly waiting on the network.
//!
//! Overlapping scrapes of one module never run two probes at once: a scrape that
//! arrives while the module's probe runs waits for it and answers with its result (two
//! probes would measure each other's traffic). Different modules probe side by side.
//!
//! SIGHUP reloads the configuration and each module's endpoint data (after `edgepath
//! catalog update`, say), as Prometheus and its exporters do: a configuration that does
//! not load keeps the modules loaded before, and says why (a log line and
//! `edgepath_exporter_config_last_reload_successful 0`). A probe running across a
//! reload ends with the settings it started with.

mod bcrypt;
pub mod config;
pub mod metrics;
mod signals;
pub mod web_config;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::rc::Rc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use edgepath_model::{EndpointSource, MediaPath};
use edgepath_probe::check::{self, CheckConfig};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::args::ServeArgs;
use crate::output::Outcome;

/// OpenMetrics text, which Prometheus asks for and reads.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A finished probe's answer.
struct Done {
    finished: Instant,
    /// The scrape's `target`, if it named one.
    target: Option<String>,
    body: Rc<String>,
}

/// A module ready to probe.
struct ModuleState {
    config: Rc<CheckConfig>,
    target: config::TargetKind,
    source: EndpointSource,
    /// When the endpoint data's age was taken (it grows while the exporter runs).
    loaded: Instant,
    /// Held while the module's probe runs; the last answer.
    last: tokio::sync::Mutex<Option<Done>>,
}

type ModuleLabel = Vec<(String, String)>;

/// The exporter's own metrics.
struct Own {
    registry: Registry,
    probes: Family<ModuleLabel, Counter>,
    failures: Family<ModuleLabel, Counter>,
    durations: Family<ModuleLabel, Histogram>,
    requests: Family<ModuleLabel, Counter>,
    modules: Gauge<f64, AtomicU64>,
    reloads: Family<ModuleLabel, Counter>,
    reload_ok: Gauge<f64, AtomicU64>,
}

impl Own {
    /// Every module's series from the start, so rates work from the first scrape.
    fn know(&self, modules: &[String]) {
        self.modules.set(modules.len() as f64);
        for m in modules {
            let l = vec![("module".to_owned(), m.clone())];
            let _ = self.probes.get_or_create(&l);
            let _ = self.failures.get_or_create(&l);
        }
    }

    fn new(modules: &[String]) -> Self {
        let mut registry = Registry::with_prefix("edgepath_exporter");
        let probes = Family::<ModuleLabel, Counter>::default();
        let failures = Family::<ModuleLabel, Counter>::default();
        let durations = Family::<ModuleLabel, Histogram>::new_with_constructor(
            (|| Histogram::new([1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0]))
                as fn() -> Histogram,
        );
        let requests = Family::<ModuleLabel, Counter>::default();
        registry.register("probes", "Probes run, per module", probes.clone());
        registry.register(
            "probe_failures",
            "Probes whose edgepath_probe_success was 0, or that could not run, per module",
            failures.clone(),
        );
        registry.register_with_unit(
            "probe_duration",
            "How long probes took, per module",
            Unit::Seconds,
            durations.clone(),
        );
        registry.register(
            "requests",
            "HTTP requests answered, per path and status code",
            requests.clone(),
        );
        let up: Gauge<f64, AtomicU64> = Gauge::default();
        registry.register("modules", "Modules configured", up.clone());
        let reloads = Family::<ModuleLabel, Counter>::default();
        registry.register(
            "config_reloads",
            "Reloads of the configuration on SIGHUP, per result (success, failure)",
            reloads.clone(),
        );
        let reload_ok: Gauge<f64, AtomicU64> = Gauge::default();
        reload_ok.set(1.0);
        registry.register(
            "config_last_reload_successful",
            "1 when the last load of the configuration succeeded (the modules in use are its)",
            reload_ok.clone(),
        );
        for result in ["success", "failure"] {
            let _ = reloads.get_or_create(&vec![("result".to_owned(), result.to_owned())]);
        }
        let own = Own {
            registry,
            probes,
            failures,
            durations,
            requests,
            modules: up,
            reloads,
            reload_ok,
        };
        own.know(modules);
        own
    }
}

/// The modules in use, by name; a reload replaces the whole map (a probe keeps the
/// module it started with).
type Modules = Rc<BTreeMap<String, Rc<ModuleState>>>;

/// The web configuration in use (`--web-config`), and the digests of credentials that
/// passed.
struct Web {
    config: Rc<web_config::WebConfig>,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
}

fn load_web(args: &ServeArgs) -> Result<Web> {
    let config = match &args.web_config {
        Some(p) => web_config::load(p).context("--web-config")?,
        None => web_config::WebConfig {
            tls: None,
            users: BTreeMap::new(),
            summary: "plain HTTP, no authentication".to_owned(),
        },
    };
    Ok(Web {
        acceptor: config.tls.clone().map(tokio_rustls::TlsAcceptor::from),
        config: Rc::new(config),
    })
}

struct State {
    web: RefCell<Rc<Web>>,
    auth_cache: RefCell<Vec<[u8; 32]>>,
    modules: RefCell<Modules>,
    /// The site inventory (`--sites`), reloaded with the modules.
    sites: RefCell<Option<Rc<edgepath_model::Inventory>>>,
    own: RefCell<Own>,
}

impl State {
    fn modules(&self) -> Modules {
        Rc::clone(&self.modules.borrow())
    }
}

/// Every module of the configuration, checked and ready (its endpoint data read).
fn load_modules(args: &ServeArgs) -> Result<BTreeMap<String, Rc<ModuleState>>> {
    let mut states = BTreeMap::new();
    for m in config::load(args.config.as_deref())? {
        let (cfg, source) = crate::check_cmd::config(&m.settings)
            .with_context(|| format!("{}: module {}", m.place, m.name))?;
        states.insert(
            m.name.clone(),
            Rc::new(ModuleState {
                config: Rc::new(cfg),
                target: m.target,
                source,
                loaded: Instant::now(),
                last: tokio::sync::Mutex::new(None),
            }),
        );
    }
    Ok(states)
}

/// The site inventory of `--sites`, its problems said once on stderr (they are findings
/// of every probe, never a reason not to serve).
fn load_sites(args: &ServeArgs) -> Result<Option<Rc<edgepath_model::Inventory>>> {
    let Some(path) = &args.sites else {
        return Ok(None);
    };
    let inv = crate::sites_cmd::load(path).context("--sites")?;
    for line in inv.problem_lines() {
        eprintln!("edgepath serve: site inventory: {line}");
    }
    Ok(Some(Rc::new(inv)))
}

/// On SIGHUP: the configuration and endpoint data again, or, when they do not load,
/// the modules loaded before, with the reason logged.
fn reload(state: &State, args: &ServeArgs) {
    let result = load_modules(args).and_then(|m| Ok((m, load_sites(args)?, load_web(args)?)));
    let own = state.own.borrow();
    let outcome = match result {
        Ok((new, sites, web)) => {
            let names: Vec<String> = new.keys().cloned().collect();
            *state.modules.borrow_mut() = Rc::new(new);
            *state.sites.borrow_mut() = sites;
            *state.web.borrow_mut() = Rc::new(web);
            state.auth_cache.borrow_mut().clear();
            own.know(&names);
            own.reload_ok.set(1.0);
            eprintln!(
                "edgepath serve: configuration reloaded (modules: {})",
                names.join(", ")
            );
            "success"
        }
        Err(e) => {
            own.reload_ok.set(0.0);
            let kept: Vec<String> = state.modules().keys().cloned().collect();
            eprintln!(
                "edgepath serve: reload failed, the modules loaded before stay in use ({}): {e:#}",
                kept.join(", ")
            );
            "failure"
        }
    };
    own.reloads
        .get_or_create(&vec![("result".to_owned(), outcome.to_owned())])
        .inc();
}

/// Runs the exporter until Ctrl-C or SIGTERM; SIGHUP reloads.
pub fn run(args: &ServeArgs) -> Result<Outcome> {
    let states = load_modules(args)?;
    let sites = load_sites(args)?;
    let web = load_web(args)?;
    let names: Vec<String> = states.keys().cloned().collect();
    let state = Rc::new(State {
        web: RefCell::new(Rc::new(web)),
        auth_cache: RefCell::new(Vec::new()),
        modules: RefCell::new(Rc::new(states)),
        sites: RefCell::new(sites),
        own: RefCell::new(Own::new(&names)),
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let local = tokio::task::LocalSet::new();
    let listen = args.listen;
    local.block_on(&runtime, async move {
        let mut signals = signals::Signals::watch()?;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("--listen {listen}"))?;
        let addr = listener.local_addr().unwrap_or(listen);
        {
            let web = state.web.borrow();
            eprintln!(
                "edgepath serve: listening on {}://{addr}/ ({}; modules: {}); /probe?module=NAME, /metrics",
                if web.acceptor.is_some() { "https" } else { "http" },
                web.config.summary,
                names.join(", ")
            );
        }
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let (stream, peer) = match accepted {
                        Ok(x) => x,
                        Err(e) => {
                            // Out of file descriptors and the like: say so, go on.
                            eprintln!("edgepath serve: accept: {e}");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    };
                    let state = Rc::clone(&state);
                    // The configuration of the moment the connection came: a reload
                    // applies to the next one.
                    let web = Rc::clone(&state.web.borrow());
                    tokio::task::spawn_local(async move {
                        match &web.acceptor {
                            None => serve_connection(state, stream, peer).await,
                            Some(acceptor) => {
                                let handshake = tokio::time::timeout(
                                    TLS_HANDSHAKE_TIMEOUT,
                                    acceptor.accept(stream),
                                );
                                match handshake.await {
                                    Ok(Ok(tls)) => serve_connection(state, tls, peer).await,
                                    Ok(Err(e)) => eprintln!("edgepath serve: {peer}: TLS: {e}"),
                                    Err(_) => eprintln!(
                                        "edgepath serve: {peer}: TLS: no handshake within {} s",
                                        TLS_HANDSHAKE_TIMEOUT.as_secs()
                                    ),
                                }
                            }
                        }
                    });
                }
                request = signals.next() => match request {
                    signals::Request::Stop => break,
                    signals::Request::Reload => reload(&state, args),
                },
            }
        }
        eprintln!("edgepath serve: stopped");
        Ok::<_, anyhow::Error>(())
    })?;
    // A DNS lookup given up on may still hold a blocking thread: do not wait for it.
    runtime.shutdown_background();
    Ok(Outcome::Clean)
}

/// How long a client has to finish its TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// One HTTP/1.1 connection, plain or inside TLS.
async fn serve_connection<S>(state: Rc<State>, stream: S, peer: std::net::SocketAddr)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + 'static,
{
    let service = hyper::service::service_fn(move |req| {
        let state = Rc::clone(&state);
        async move { Ok::<_, Infallible>(answer(&state, req).await) }
    });
    if let Err(e) = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await
    {
        if !e.is_incomplete_message() {
            eprintln!("edgepath serve: {peer}: {e}");
        }
    }
}

fn text(status: StatusCode, body: String, content_type: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    if let Ok(v) = content_type.parse() {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

/// `module` from a query string (`module=office&...`), percent-decoded.
fn query_param(query: Option<&str>, key: &str) -> Option<String> {
    query?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == key).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let hex = |c: u8| (c as char).to_digit(16);
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match (
            b[i],
            b.get(i + 1).copied().and_then(hex),
            b.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                // Two hex digits: at most 0xff.
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
            (b'+', _, _) => out.push(b' '),
            (c, _, _) => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn answer(state: &State, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    let web = Rc::clone(&state.web.borrow());
    let credentials = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let allowed = web
        .config
        .authorized(credentials, &mut state.auth_cache.borrow_mut());
    let resp = if !allowed {
        let mut r = text(
            StatusCode::UNAUTHORIZED,
            "Unauthorized\n".into(),
            "text/plain; charset=utf-8",
        );
        r.headers_mut().insert(
            hyper::header::WWW_AUTHENTICATE,
            hyper::header::HeaderValue::from_static("Basic realm=\"edgepath\""),
        );
        r
    } else if req.method() != Method::GET && req.method() != Method::HEAD {
        text(
            StatusCode::METHOD_NOT_ALLOWED,
            "GET only\n".into(),
            "text/plain; charset=utf-8",
        )
    } else {
        match path.as_str() {
            "/probe" => probe(state, req.uri().query(), scrape_timeout(&req)).await,
            "/metrics" => {
                let mut out = String::new();
                let _ = prometheus_client::encoding::text::encode(
                    &mut out,
                    &state.own.borrow().registry,
                );
                text(StatusCode::OK, out, OPENMETRICS)
            }
            "/" => text(StatusCode::OK, index(state), "text/html; charset=utf-8"),
            _ => text(
                StatusCode::NOT_FOUND,
                "not found: /probe?module=NAME or /metrics\n".into(),
                "text/plain; charset=utf-8",
            ),
        }
    };
    let known = matches!(path.as_str(), "/probe" | "/metrics" | "/");
    let l = vec![
        ("path".to_owned(), if known { path } else { "other".into() }),
        ("code".to_owned(), resp.status().as_u16().to_string()),
    ];
    state.own.borrow().requests.get_or_create(&l).inc();
    resp
}

/// A small page listing the modules (names are ours: letters, digits, `_`, `-`).
fn index(state: &State) -> String {
    let links: String = state
        .modules()
        .keys()
        .map(|m| format!("<li><a href=\"/probe?module={m}\">/probe?module={m}</a></li>"))
        .collect();
    format!(
        "<!doctype html><title>edgepath exporter</title><h1>edgepath exporter</h1><ul>{links}<li><a href=\"/metrics\">/metrics</a></li></ul>\n"
    )
}

/// Stops the quality measurement at a deadline (the scrape's timeout).
struct Deadline(Instant);

impl edgepath_probe::quality::Watch for Deadline {
    fn stopped(&self) -> bool {
        Instant::now() >= self.0
    }
}

/// Prometheus' `X-Prometheus-Scrape-Timeout-Seconds`, when the scraper sent it.
fn scrape_timeout(req: &Request<Incoming>) -> Option<Duration> {
    req.headers()
        .get("x-prometheus-scrape-timeout-seconds")?
        .to_str()
        .ok()?
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(|s| Duration::from_secs_f64(s.min(86_400.0)))
}

/// A DNS name (letters, digits, `-`, `.`, at most 253) or an IP address: what a target
/// may be before it reaches a resolver or a report.
fn is_host_name(t: &str) -> bool {
    t.parse::<std::net::IpAddr>().is_ok()
        || (t.len() <= 253
            && t.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            }))
}

async fn probe(
    state: &State,
    query: Option<&str>,
    timeout: Option<Duration>,
) -> Response<Full<Bytes>> {
    let plain = "text/plain; charset=utf-8";
    let modules = state.modules();
    let name = match query_param(query, "module") {
        Some(n) => n,
        None if modules.len() == 1 => modules.keys().next().cloned().unwrap_or_default(),
        None if modules.contains_key("default") => "default".into(),
        None => {
            return text(
                StatusCode::BAD_REQUEST,
                format!(
                    "say which module: /probe?module=NAME (one of: {})\n",
                    modules.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
                plain,
            )
        }
    };
    let Some(m) = modules.get(&name).map(Rc::clone) else {
        // The name is echoed back only as far as it is a module name could be.
        let shown: String = name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
            .take(64)
            .collect();
        return text(
            StatusCode::BAD_REQUEST,
            format!(
                "unknown module `{shown}`; modules: {}\n",
                modules.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
            plain,
        );
    };
    let target = query_param(query, "target").filter(|t| !t.is_empty());
    if let Some(t) = &target {
        if !is_host_name(t) {
            return text(
                StatusCode::BAD_REQUEST,
                "target: a DNS name or an IP address\n".into(),
                plain,
            );
        }
    }
    let asked = Instant::now();
    let mut last = m.last.lock().await;
    if let Some(done) = last
        .as_ref()
        .filter(|d| d.finished >= asked && d.target == target)
    {
        // This scrape came while the module's probe of the same target ran: its answer
        // is ours too.
        return text(StatusCode::OK, String::clone(&done.body), OPENMETRICS);
    }
    let started = Instant::now();
    let mut cfg = CheckConfig::clone(&m.config);
    match (&target, m.target) {
        (Some(t), config::TargetKind::Relay) => cfg.relay = Some(t.clone()),
        (Some(t), config::TargetKind::Tenant) => cfg.tenant = Some(t.clone()),
        (None, _) => {}
    }
    // Prometheus says how long it waits; the quality measurement stops sending well
    // before, so the answer is in time with what was measured: after the stop the last
    // answers are still waited for (up to a second), then the answer travels. A quarter
    // of the timeout, at least 3 s, is kept for that (a 10 s timeout measures until 7 s).
    let mut watch = match timeout {
        Some(t) => {
            let budget = t.saturating_sub((t / 4).max(Duration::from_secs(3)));
            cfg.duration = cfg.duration.min(budget.saturating_sub(started.elapsed()));
            Deadline(started + budget)
        }
        None => Deadline(started + Duration::from_secs(86_400 * 2)),
    };
    let run = tokio::task::spawn_local(async move { check::run(&cfg, &mut watch).await });
    let report = run.await;
    let seconds = started.elapsed().as_secs_f64();
    let mut source = m.source.clone();
    if let Some(days) = source.age_days.as_mut() {
        *days += (m.loaded.elapsed().as_secs() / 86_400) as i64;
    }
    let sites = state.sites.borrow().clone();
    let site = sites.as_deref().map(|inv| {
        let facts = report.as_ref().map(|r| r.site_facts()).unwrap_or_default();
        edgepath_model::sites::claims::SiteReport::new(inv, &facts)
    });
    let body = match &report {
        Ok(r) => metrics::probe_metrics(Some(r), seconds, Some(&source), site.as_ref()),
        Err(e) => {
            eprintln!("edgepath serve: module {name}: the probe failed: {e}");
            metrics::probe_metrics(None, seconds, Some(&source), site.as_ref())
        }
    };
    let success = report
        .as_ref()
        .is_ok_and(|r| r.modalities.iter().all(|m| m.path != MediaPath::None));
    let paths: String = report
        .as_ref()
        .map(|r| {
            r.modalities
                .iter()
                .map(|m| format!("{} {}", m.modality, m.path))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    eprintln!(
        "edgepath serve: module {name}: probe took {seconds:.1} s: {} ({paths})",
        if success { "success" } else { "FAILED" }
    );
    {
        let own = state.own.borrow();
        let l = vec![("module".to_owned(), name.clone())];
        own.probes.get_or_create(&l).inc();
        if !success {
            own.failures.get_or_create(&l).inc();
        }
        own.durations.get_or_create(&l).observe(seconds);
    }
    let body = Rc::new(body);
    *last = Some(Done {
        finished: Instant::now(),
        target,
        body: Rc::clone(&body),
    });
    text(StatusCode::OK, String::clone(&body), OPENMETRICS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters() {
        assert_eq!(
            query_param(Some("module=office"), "module").as_deref(),
            Some("office")
        );
        assert_eq!(
            query_param(Some("a=1&module=a%2Db"), "module").as_deref(),
            Some("a-b")
        );
        assert_eq!(query_param(Some("a=1"), "module"), None);
        assert_eq!(query_param(None, "module"), None);
        assert_eq!(percent_decode("%"), "%");
        assert_eq!(percent_decode("%4"), "%4");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("%41%42"), "AB");
        assert_eq!(percent_decode("%é1"), "%é1");
    }

    #[test]
    fn targets_are_host_names_or_addresses() {
        for good in [
            "worldaz.tr.teams.microsoft.com",
            "contoso.com",
            "relay",
            "52.112.0.1",
            "2603:1063::1",
        ] {
            assert!(is_host_name(good), "{good}");
        }
        let long = "a".repeat(64);
        for bad in [
            "",
            "a..b",
            "a b",
            "x/../y",
            "<script>",
            long.as_str(),
            "a.b.",
        ] {
            assert!(!is_host_name(bad), "{bad}");
        }
    }
}
