//! Where `check`'s proxy comes from: the flags, else a search in the order a client
//! makes it (the environment, the operating system's settings, WPAD), each step written
//! down, so the report says which source won and what the others said.

use anyhow::{anyhow, Result};
use edgepath_model::Catalog;
use edgepath_probe::pac::PacReport;
use edgepath_probe::proxy::Proxy;
use edgepath_probe::system_proxy::{self, SystemProxy};

use crate::check_settings::ProxySetting;
use crate::pac_source::{self, PacSource};

/// The proxy `check` probes (none: direct), the PAC it came from, and the search.
#[derive(Debug, Default)]
pub struct Chosen {
    /// The proxy.
    pub proxy: Option<Proxy>,
    /// The PAC that decided it, when one did.
    pub pac: Option<PacReport>,
    /// Each source tried, in order, and what it said (empty when a flag named the
    /// proxy or none).
    pub search: Vec<String>,
}

impl Chosen {
    fn from(proxy: Option<Proxy>, pac: Option<PacReport>, search: Vec<String>) -> Chosen {
        Chosen { proxy, pac, search }
    }
}

/// The proxy for `setting`.
pub fn choose(setting: &ProxySetting, catalog: &Catalog) -> Result<Chosen> {
    let mut search = Vec::new();
    let (proxy, pac) = match setting {
        ProxySetting::Url(url) => (
            Some(Proxy::parse(url, "--proxy").map_err(|e| anyhow!(e))?),
            None,
        ),
        ProxySetting::Direct => (None, None),
        ProxySetting::Pac(location) => {
            let source = PacSource {
                location: location.clone(),
                named_by: "--pac (EDGEPATH_PAC)".into(),
            };
            let text = pac_source::fetch(&source);
            from_pac(&source, text, catalog, None)?
        }
        ProxySetting::Wpad => wpad(catalog, &mut search, true)?.unwrap_or_default(),
        ProxySetting::Env => match environment(&mut search)? {
            Some(p) => (Some(p), None),
            None => (None, None),
        },
        ProxySetting::System => match system(&mut search) {
            Some(found) => from_system(found, catalog, &mut search)?,
            None => (None, None),
        },
        ProxySetting::Auto => auto(catalog, &mut search)?,
    };
    Ok(Chosen::from(proxy, pac, search))
}

type Found = (Option<Proxy>, Option<PacReport>);

/// As a client finds its proxy: HTTPS_PROXY, then the system's settings (which may
/// say WPAD, a PAC, a static proxy, or direct), then, with no settings to read, WPAD.
fn auto(catalog: &Catalog, search: &mut Vec<String>) -> Result<Found> {
    if let Some(p) = environment(search)? {
        return Ok((Some(p), None));
    }
    match system(search) {
        Some(found) => from_system(found, catalog, search),
        None => Ok(wpad(catalog, search, false)?.unwrap_or_default()),
    }
}

/// HTTPS_PROXY (and NO_PROXY), when set.
fn environment(search: &mut Vec<String>) -> Result<Option<Proxy>> {
    match Proxy::from_env() {
        Some(p) => {
            let p = p.map_err(|e| anyhow!("HTTPS_PROXY: {e}"))?;
            search.push(format!("HTTPS_PROXY: {}", p.address()));
            Ok(Some(p))
        }
        None => {
            search.push("HTTPS_PROXY: not set".into());
            Ok(None)
        }
    }
}

/// The operating system's settings; `None` when there are none to read, or when they
/// cannot be read (said as a warning: `check` goes on as a client without them).
fn system(search: &mut Vec<String>) -> Option<SystemProxy> {
    match system_proxy::read() {
        Some(Ok(found)) => {
            for w in &found.warnings {
                eprintln!("edgepath: warning: {w}");
            }
            search.push(format!("{}: {}", found.source, summary(&found)));
            Some(found)
        }
        Some(Err(e)) => {
            eprintln!("edgepath: warning: the system's proxy settings: {e}; trying WPAD");
            search.push(format!("the system's proxy settings: {e}"));
            None
        }
        None => {
            search.push(
                "the system's proxy settings: none to read here (not Windows, macOS or a GNOME desktop)"
                    .into(),
            );
            None
        }
    }
}

/// What a system's settings say, in one phrase.
fn summary(s: &SystemProxy) -> String {
    let mut parts = Vec::new();
    if s.auto_detect {
        parts.push("detect (WPAD)".to_owned());
    }
    if let Some(url) = &s.pac_url {
        parts.push(format!("the PAC {url}"));
    }
    if let Some(p) = &s.proxy {
        parts.push(format!("the proxy {}", p.address()));
    }
    if parts.is_empty() {
        "direct".into()
    } else {
        parts.join(", then ")
    }
}

/// A system's settings in the order its clients take them: WPAD when detection is on,
/// then the PAC (falling back to the static proxy when it cannot be had), then the
/// static proxy.
fn from_system(found: SystemProxy, catalog: &Catalog, search: &mut Vec<String>) -> Result<Found> {
    if found.auto_detect {
        if let Some(by_wpad) = wpad(catalog, search, false)? {
            return Ok(by_wpad);
        }
    }
    match &found.pac_url {
        Some(url) => {
            let source = PacSource {
                location: url.clone(),
                named_by: format!("{} in {}", found.pac_setting, found.source),
            };
            let text = pac_source::fetch(&source);
            from_pac(&source, text, catalog, found.proxy)
        }
        None => Ok((found.proxy, None)),
    }
}

/// WPAD as clients do it: the PAC URL of the DHCP lease (option 252) first, then by
/// DNS under this host's search domains. `None` when it finds no PAC (said as a warning
/// when `asked`: `--wpad`).
fn wpad(catalog: &Catalog, search: &mut Vec<String>, asked: bool) -> Result<Option<Found>> {
    let mut candidates: Vec<(String, String)> = edgepath_probe::dhcp_lease::wpad_urls()
        .into_iter()
        .map(|l| (l.url, format!("WPAD (DHCP option 252 in {})", l.file)))
        .collect();
    for url in edgepath_probe::wpad::candidates(&edgepath_probe::wpad::search_domains()) {
        let host = url
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap_or_default();
        let named_by = format!("WPAD ({host} from the DNS search domains)");
        candidates.push((url, named_by));
    }
    match pac_source::discover(&candidates) {
        Ok((source, text)) => {
            search.push(format!("WPAD: {}", source.location));
            from_pac(&source, Ok(text), catalog, None).map(Some)
        }
        Err(tried) => {
            let why = if tried.is_empty() {
                "no DHCP lease names one, and this host has no DNS search domain to look under"
                    .to_owned()
            } else {
                tried.join("; ")
            };
            search.push(format!("WPAD: no PAC file ({why})"));
            if asked {
                eprintln!(
                    "edgepath: warning: WPAD found no PAC file ({why}): clients go DIRECT, and so does check"
                );
            }
            Ok(None)
        }
    }
}

/// The proxy a PAC gives; when the PAC cannot be had or does not run, what clients
/// fall back to (`fallback`, the system's static proxy, else direct), said as a warning.
fn from_pac(
    source: &PacSource,
    text: Result<String>,
    catalog: &Catalog,
    fallback: Option<Proxy>,
) -> Result<Found> {
    let decided = text.and_then(|text| pac_source::evaluate(source, &text, catalog));
    match decided {
        Ok(d) => Ok((d.proxy, Some(d.report))),
        Err(e) => {
            let what = match &fallback {
                Some(p) => format!("the static proxy {}", p.address()),
                None => "DIRECT".to_owned(),
            };
            let note = format!("{e}: clients fall back to {what}, and so does check");
            eprintln!("edgepath: warning: {note}");
            Ok((
                fallback,
                Some(PacReport {
                    source: source.label(),
                    answers: Vec::new(),
                    notes: vec![note],
                }),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_system_setting_is_summed_up_in_the_order_clients_take_it() {
        let proxy = Proxy::parse("10.0.0.2:3128", "x").unwrap();
        let cases = [
            (SystemProxy::default(), "direct"),
            (
                SystemProxy {
                    auto_detect: true,
                    pac_url: Some("http://pac/p.pac".into()),
                    proxy: Some(proxy.clone()),
                    ..SystemProxy::default()
                },
                "detect (WPAD), then the PAC http://pac/p.pac, then the proxy 10.0.0.2:3128",
            ),
            (
                SystemProxy {
                    proxy: Some(proxy),
                    ..SystemProxy::default()
                },
                "the proxy 10.0.0.2:3128",
            ),
        ];
        for (s, want) in cases {
            assert_eq!(summary(&s), want);
        }
    }
}
