//! PAC files, run by a real JavaScript engine (QuickJS, compiled into the binary) with
//! the standard PAC functions. What a PAC would learn from the network is answered from
//! the endpoint data, so an audit is the same on every machine:
//!
//! - `dnsResolve(host)` (and `isResolvable`, `isInNet` on a name) answers the first
//!   address of the first endpoint set that lists the name (wildcards too), IPv4
//!   first; `null` for names the data does not list. An address is itself.
//! - `myIpAddress()` is `--client`, or 127.0.0.1 without it.
//! - `weekdayRange`, `dateRange` and `timeRange` make the answer unknown: an audit is
//!   not about one moment.
//!
//! Each `return` is noted with its line (the source is instrumented: `return X`
//! becomes `return __edgepath_at(LINE), X`), so an answer names the line that gave
//! it. A PAC runs at most [`CALL_LIMIT`] per call and in at most 64 MiB.

use std::cell::Cell;
use std::net::IpAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use rquickjs::context::EvalOptions;
use rquickjs::{CatchResultExt, CaughtError, Context, Ctx, Function, Runtime};

use super::ir::{addr, cidr};
use super::AuditError;
pub use edgepath_model::pac_answer::{parse_answer, PacChoice};

/// The longest one call of `FindProxyForURL` may run.
pub const CALL_LIMIT: Duration = Duration::from_secs(1);

/// A PAC file, read (and compiled once, for its syntax) but not yet run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pac {
    /// The file.
    pub file: String,
    /// Its text.
    pub source: String,
}

/// What `FindProxyForURL` answered for one URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacAnswer {
    /// The answer as returned (`PROXY p:8080; DIRECT`).
    pub text: String,
    /// The choices in order (a client tries the next when one fails).
    pub choices: Vec<PacChoice>,
    /// The line of the `return` that gave it.
    pub line: Option<usize>,
    /// Why there is no answer, when there is none.
    pub error: Option<String>,
}

impl PacAnswer {
    fn failed(error: String, line: Option<usize>) -> Self {
        PacAnswer {
            text: String::new(),
            choices: Vec::new(),
            line,
            error: Some(error),
        }
    }
}

/// Reads a PAC file: it must compile and define `FindProxyForURL`.
pub fn read(file: &str, text: &str) -> Result<Pac, AuditError> {
    let pac = Pac {
        file: file.to_owned(),
        source: text.to_owned(),
    };
    let engine =
        Engine::new(&pac, Box::new(|_| None), "127.0.0.1".into()).map_err(|(line, what)| {
            AuditError::Syntax {
                file: file.to_owned(),
                line: line.unwrap_or(1),
                what,
            }
        })?;
    drop(engine);
    Ok(pac)
}

/// The PAC functions written in JavaScript (after Netscape's definitions); the ones that
/// need the network or the clock are Rust functions defined before these run.
const PRELUDE: &str = r#"
var __edgepath_line = null;
function __edgepath_at(l) { __edgepath_line = l; return l; }
function isPlainHostName(h) { return String(h).indexOf(".") < 0; }
function dnsDomainIs(h, d) { h = String(h); d = String(d); return h.length >= d.length && h.substring(h.length - d.length) == d; }
function localHostOrDomainIs(h, hd) { h = String(h); hd = String(hd); return h == hd || (h.indexOf(".") < 0 && hd.indexOf(h + ".") == 0); }
function dnsResolve(h) { var a = __edgepath_resolve(String(h)); return a == null ? null : a; }
function isResolvable(h) { return dnsResolve(h) !== null; }
function convert_addr(ip) { var b = String(ip).split("."); return (((b[0] & 255) << 24) | ((b[1] & 255) << 16) | ((b[2] & 255) << 8) | (b[3] & 255)) >>> 0; }
function isInNet(h, pattern, mask) {
  var a = /^\d+\.\d+\.\d+\.\d+$/.test(h) ? h : dnsResolve(h);
  if (a == null || a.indexOf(":") >= 0) return false;
  var m = convert_addr(mask);
  return ((convert_addr(a) & m) >>> 0) == ((convert_addr(pattern) & m) >>> 0);
}
function dnsDomainLevels(h) { return String(h).split(".").length - 1; }
function shExpMatch(s, p) {
  var re = String(p).replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp("^" + re + "$").test(String(s));
}
function __edgepath_timed(name) { throw new Error(name + " makes the answer depend on the time: not audited"); }
function weekdayRange() { __edgepath_timed("weekdayRange"); }
function dateRange() { __edgepath_timed("dateRange"); }
function timeRange() { __edgepath_timed("timeRange"); }
function dnsResolveEx(h) { var a = dnsResolve(h); return a === null ? "" : a; }
function myIpAddressEx() { return myIpAddress(); }
function alert(m) {}
"#;

/// A name resolver from the endpoint data: the address for a host, if listed.
pub type Resolver = Box<dyn Fn(&str) -> Option<IpAddr>>;

/// A PAC file loaded into its own JavaScript runtime, ready for questions.
pub struct Engine {
    // The context holds the runtime alive; kept for its limits and handler.
    _runtime: Runtime,
    context: Context,
    deadline: Rc<Cell<Instant>>,
    /// Which entry point the file defines.
    entry: &'static str,
}

impl Engine {
    /// Loads `pac`; an error is (line, what).
    pub fn new(
        pac: &Pac,
        resolve: Resolver,
        my_ip: String,
    ) -> Result<Engine, (Option<usize>, String)> {
        let fail = |e: rquickjs::Error| (None, format!("the JavaScript engine failed: {e}"));
        let runtime = Runtime::new().map_err(fail)?;
        runtime.set_memory_limit(64 << 20);
        runtime.set_max_stack_size(1 << 20);
        let deadline = Rc::new(Cell::new(Instant::now() + CALL_LIMIT));
        let d = Rc::clone(&deadline);
        runtime.set_interrupt_handler(Some(Box::new(move || Instant::now() > d.get())));
        let context = Context::full(&runtime).map_err(fail)?;
        let entry = context.with(|ctx| -> Result<&'static str, (Option<usize>, String)> {
            let g = ctx.globals();
            let r = resolve;
            define(
                &g,
                "__edgepath_resolve",
                Function::new(ctx.clone(), move |host: String| {
                    host.parse::<IpAddr>()
                        .ok()
                        .or_else(|| r(&host.to_ascii_lowercase()))
                        .map(|a| a.to_string())
                }),
            )?;
            define(
                &g,
                "myIpAddress",
                Function::new(ctx.clone(), move || my_ip.clone()),
            )?;
            define(
                &g,
                "isInNetEx",
                Function::new(ctx.clone(), move |ip: String, prefix: String| {
                    let Ok(a) = ip.parse::<IpAddr>() else {
                        return false;
                    };
                    match (cidr(&prefix), prefix.split_once('/')) {
                        (Some((lo, hi)), Some((p, _))) => {
                            p.parse::<IpAddr>()
                                .is_ok_and(|p| p.is_ipv4() == a.is_ipv4())
                                && (lo..=hi).contains(&addr(a))
                        }
                        _ => false,
                    }
                }),
            )?;
            run(&ctx, PRELUDE)
                .map_err(|(_, e)| (None, format!("the PAC functions failed: {e}")))?;
            run(&ctx, &instrument(&pac.source))
                .or_else(|_| run(&ctx, &pac.source))
                .map_err(|(line, e)| (line, format!("the PAC does not run: {e}")))?;
            let defined = |name: &str| {
                g.get::<_, rquickjs::Value>(name)
                    .is_ok_and(|v| v.is_function())
            };
            if defined("FindProxyForURL") {
                Ok("FindProxyForURL")
            } else if defined("FindProxyForURLEx") {
                Ok("FindProxyForURLEx")
            } else {
                Err((
                    None,
                    "no function FindProxyForURL(url, host) is defined".into(),
                ))
            }
        })?;
        deadline.set(Instant::now() + CALL_LIMIT);
        Ok(Engine {
            _runtime: runtime,
            context,
            deadline,
            entry,
        })
    }

    /// `FindProxyForURL(url, host)`.
    pub fn find(&self, url: &str, host: &str) -> PacAnswer {
        self.deadline.set(Instant::now() + CALL_LIMIT);
        self.context.with(|ctx| {
            let g = ctx.globals();
            let _ = g.set("__edgepath_line", rquickjs::Null);
            let line = || {
                g.get::<_, Option<f64>>("__edgepath_line")
                    .ok()
                    .flatten()
                    // A line number the instrumentation wrote: small and whole.
                    .filter(|l| *l >= 1.0 && *l < 1e9)
                    .map(|l| l as usize)
            };
            let f: Function<'_> = match g.get(self.entry) {
                Ok(f) => f,
                Err(e) => return PacAnswer::failed(e.to_string(), None),
            };
            let result: Result<rquickjs::Value<'_>, _> =
                f.call((url.to_owned(), host.to_owned())).catch(&ctx);
            match result {
                Ok(v) => match v.as_string().and_then(|s| s.to_string().ok()) {
                    Some(text) => PacAnswer {
                        choices: parse_answer(&text),
                        text,
                        line: line(),
                        error: None,
                    },
                    None => PacAnswer::failed(
                        format!("{} returned {}, not a string", self.entry, v.type_name()),
                        line(),
                    ),
                },
                Err(e) => PacAnswer::failed(caught(&e, &self.deadline), line()),
            }
        })
    }
}

/// Sets a global function.
fn define<'js>(
    g: &rquickjs::Object<'js>,
    name: &str,
    f: rquickjs::Result<Function<'js>>,
) -> Result<(), (Option<usize>, String)> {
    f.and_then(|f| g.set(name, f))
        .map_err(|e| (None, format!("the JavaScript engine failed: {e}")))
}

fn caught(e: &CaughtError<'_>, deadline: &Cell<Instant>) -> String {
    if Instant::now() > deadline.get() {
        return format!("did not return within {} s", CALL_LIMIT.as_secs());
    }
    match e {
        CaughtError::Exception(x) => x.message().unwrap_or_else(|| x.to_string()),
        other => other.to_string(),
    }
}

/// Runs a script; on failure its line (from the error's stack) and message.
fn run(ctx: &Ctx<'_>, src: &str) -> Result<(), (Option<usize>, String)> {
    let mut opts = EvalOptions::default();
    // PAC files are sloppy-mode scripts.
    opts.strict = false;
    ctx.eval_with_options::<(), _>(src, opts)
        .catch(ctx)
        .map_err(|e| {
            let line = match &e {
                CaughtError::Exception(x) => x.stack().as_deref().and_then(stack_line),
                _ => None,
            };
            let what = match &e {
                CaughtError::Exception(x) => x.message().unwrap_or_else(|| x.to_string()),
                other => other.to_string(),
            };
            (line, what)
        })
}

/// The line of the first frame of the evaluated script (`at eval_script:LINE:COL`).
fn stack_line(stack: &str) -> Option<usize> {
    let at = stack.find("eval_script:")? + "eval_script:".len();
    let digits: String = stack[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// `return X` as `return __edgepath_at(LINE), X`, outside strings, comments and
/// regular expressions; a bare `return;` is left alone.
fn instrument(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len() + src.len() / 8);
    let mut line = 1usize;
    let mut i = 0;
    let mut last = 0; // copied up to here
                      // The last significant character, to tell a regular expression from a division.
    let mut prev: u8 = b'(';
    let mut prev_word_return = false;
    while i < b.len() {
        let c = b[i];
        match c {
            b'\n' => {
                line += 1;
                i += 1;
            }
            b'"' | b'\'' | b'`' => {
                i += 1;
                while i < b.len() && b[i] != c {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    if i < b.len() && b[i] == b'\n' {
                        line += 1;
                    }
                    i += 1;
                }
                i += 1;
                prev = c;
                prev_word_return = false;
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    if b[i] == b'\n' {
                        line += 1;
                    }
                    i += 1;
                }
                i += 2;
            }
            b'/' if prev_word_return || b"(,=:[!&|?{};+-*%<>~^".contains(&prev) => {
                // A regular expression literal.
                i += 1;
                let mut class = false;
                while i < b.len() && b[i] != b'\n' {
                    match b[i] {
                        b'\\' => i += 1,
                        b'[' => class = true,
                        b']' => class = false,
                        b'/' if !class => break,
                        _ => {}
                    }
                    i += 1;
                }
                i += 1;
                prev = b'/';
                prev_word_return = false;
            }
            c if c.is_ascii_alphabetic() || c == b'_' || c == b'$' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'$')
                {
                    i += 1;
                }
                let word = &src[start..i];
                prev = b'a';
                prev_word_return = word == "return";
                if prev_word_return {
                    // Only when a value follows on the same line.
                    let rest = &src[i..];
                    let next = rest.trim_start_matches([' ', '\t']).chars().next();
                    if !matches!(next, None | Some(';' | '}' | '\n' | '\r')) {
                        out.push_str(&src[last..i]);
                        out.push_str(&format!(" __edgepath_at({line}),"));
                        last = i;
                    }
                }
            }
            c if c.is_ascii_whitespace() => i += 1,
            c => {
                prev = c;
                prev_word_return = false;
                i += 1;
            }
        }
    }
    out.push_str(&src[last.min(src.len())..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine(src: &str) -> Engine {
        let pac = read("t.pac", src).expect("reads");
        Engine::new(
            &pac,
            Box::new(|h| {
                (h == "teams.microsoft.com").then(|| "52.113.194.132".parse().expect("ip"))
            }),
            "10.0.0.5".into(),
        )
        .expect("loads")
    }

    #[test]
    fn answers_and_their_lines() {
        let e = engine(
            "function FindProxyForURL(url, host) {\n  if (shExpMatch(host, \"*.teams.microsoft.com\") || host == \"teams.microsoft.com\")\n    return \"DIRECT\";\n  // return \"nothing\";\n  if (/^\\d+\\.\\d+\\.\\d+\\.\\d+$/.test(host) && isInNet(host, \"52.112.0.0\", \"255.252.0.0\")) return 'DIRECT';\n  return \"PROXY proxy.example.com:3128; DIRECT\";\n}\n",
        );
        let a = e.find("https://teams.microsoft.com/", "teams.microsoft.com");
        assert_eq!(
            (a.choices.clone(), a.line),
            (vec![PacChoice::Direct], Some(3))
        );
        let a = e.find("https://52.112.1.1/", "52.112.1.1");
        assert_eq!(
            (a.choices.clone(), a.line),
            (vec![PacChoice::Direct], Some(5))
        );
        let a = e.find("https://example.com/", "example.com");
        assert_eq!(a.line, Some(6));
        assert_eq!(
            a.choices,
            vec![
                PacChoice::Proxy {
                    host: "proxy.example.com".into(),
                    port: 3128
                },
                PacChoice::Direct
            ]
        );
    }

    #[test]
    fn pac_functions() {
        type Case<'a> = (&'a str, &'a str);
        let cases: &[Case<'_>] = &[
            ("isPlainHostName('intranet')", "true"),
            ("isPlainHostName('a.b')", "false"),
            ("dnsDomainIs('www.lync.com', '.lync.com')", "true"),
            ("dnsDomainIs('lync.com', '.lync.com')", "false"),
            ("localHostOrDomainIs('www', 'www.example.com')", "true"),
            ("isResolvable('teams.microsoft.com')", "true"),
            ("isResolvable('nowhere.example')", "false"),
            ("dnsResolve('teams.microsoft.com')", "52.113.194.132"),
            ("dnsResolve('nowhere.example')", "null"),
            (
                "isInNet('teams.microsoft.com', '52.112.0.0', '255.252.0.0')",
                "true",
            ),
            (
                "isInNet('52.120.0.1', '52.112.0.0', '255.252.0.0')",
                "false",
            ),
            ("myIpAddress()", "10.0.0.5"),
            ("dnsDomainLevels('a.b.c')", "2"),
            (
                "shExpMatch('x.teams.microsoft.com', '*.teams.microsoft.com')",
                "true",
            ),
            (
                "shExpMatch('teams.microsoft.com', '*.teams.microsoft.com')",
                "false",
            ),
            ("shExpMatch('a.b', 'a?b')", "true"),
            ("isInNetEx('2603:1063::1', '2603:1063::/38')", "true"),
            ("isInNetEx('52.112.0.1', '2603:1063::/38')", "false"),
        ];
        for (expr, want) in cases {
            let e = engine(&format!(
                "function FindProxyForURL(url, host) {{ return String({expr}); }}"
            ));
            let a = e.find("https://x/", "x");
            assert_eq!(a.text, *want, "{expr}: {a:?}");
        }
    }

    #[test]
    fn failures_are_answers_not_crashes() {
        type Case<'a> = (&'a str, &'a str);
        let cases: &[Case<'_>] = &[
            ("function FindProxyForURL(u, h) { while (true) {} }", "within"),
            ("function FindProxyForURL(u, h) { return undefinedThing; }", "not defined"),
            ("function FindProxyForURL(u, h) { return 42; }", "not a string"),
            ("function FindProxyForURL(u, h) { return timeRange(9, 17) ? 'DIRECT' : 'PROXY p:1'; }", "time"),
            ("function FindProxyForURL(u, h) { var a = []; while (true) a.push(new Array(1e6)); }", ""),
            ("function FindProxyForURL(u, h) { return FindProxyForURL(u, h); }", ""),
        ];
        for (src, what) in cases {
            let e = engine(src);
            let a = e.find("https://x/", "x");
            let err = a.error.unwrap_or_default();
            assert!(!err.is_empty() && err.contains(what), "{src}: {err}");
        }
    }

    #[test]
    fn bad_files_are_named_by_line() {
        type Case<'a> = (&'a str, Option<usize>, &'a str);
        let cases: &[Case<'_>] = &[
            (
                "function FindProxyForURL(u, h) {\n  return 'DIRECT'\n  if (\n}\n",
                Some(4),
                "does not run",
            ),
            ("var x = 1;\n", None, "FindProxyForURL"),
            ("\n\nthrow new Error('boom');\n", Some(3), "boom"),
        ];
        for (src, line, what) in cases {
            match read("bad.pac", src) {
                Err(AuditError::Syntax {
                    line: l, what: w, ..
                }) => {
                    if let Some(line) = line {
                        assert_eq!(l, *line, "{src}: {w}");
                    }
                    assert!(w.contains(what), "{src}: {w}");
                }
                other => panic!("{src}: {other:?}"),
            }
        }
    }

    #[test]
    fn instrumentation_keeps_lines_and_strings() {
        let src = "var s = \"return x\"; // return y\nfunction f() {\n  return;\n}\nfunction g() { return /re/.test('a') ? 1 : 2 }\n";
        let out = instrument(src);
        assert_eq!(out.lines().count(), src.lines().count());
        assert!(out.contains("\"return x\""));
        assert!(out.contains("  return;\n"));
        assert!(out.contains("return __edgepath_at(5), /re/"));
    }
}
