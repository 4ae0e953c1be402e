//! Reports people can look at: one self-contained HTML file per report (inline CSS and
//! SVG, no script, nothing fetched from anywhere), for `check --html`, `capture --html`
//! and `monitor --summary --html`. Everything that comes from outside (names, issuers,
//! evidence, file names) is escaped for HTML; long lists are cut, and say so, so a
//! page stays a few hundred KB at most.

use std::fmt::Write as _;

use edgepath_capture::report::Report as CaptureReport;
use edgepath_model::{EndpointSource, FlowService, MediaPath, Severity, Status, Via};
use edgepath_probe::check::Report;

use crate::history::{Record, Summary};

/// The most rows a table or timeline shows.
const MAX_ROWS: usize = 300;

/// `s` escaped for HTML text and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

const CSS: &str = "
:root{--good:#1a7f37;--degraded:#b58100;--failing:#c62828;--ink:#1f2328;--muted:#636c76;--line:#d0d7de;--bg:#f6f8fa}
*{box-sizing:border-box}body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;color:var(--ink);margin:0;background:#fff}
header{background:#24292f;color:#fff;padding:16px 24px}header h1{margin:0;font-size:20px}header p{margin:4px 0 0;color:#d0d7de}
main{padding:16px 24px;max-width:1200px}h2{font-size:17px;margin:24px 0 8px;border-bottom:1px solid var(--line);padding-bottom:4px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(270px,1fr));gap:12px}
.card{border:1px solid var(--line);border-radius:8px;padding:12px;background:var(--bg)}
.card h3{margin:0 0 6px;font-size:15px;display:flex;justify-content:space-between;align-items:center}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;font-size:12px;font-weight:600}
.good{background:var(--good)}.degraded{background:var(--degraded)}.failing{background:var(--failing)}.muted{color:var(--muted)}
ul{margin:4px 0;padding-left:18px}li{margin:2px 0}.fix{border-left:3px solid var(--degraded);padding-left:8px;margin-top:6px}
table{border-collapse:collapse;width:100%;font-size:13px}th,td{border-bottom:1px solid var(--line);padding:4px 6px;text-align:left;vertical-align:top}
th{background:var(--bg)}td.num{text-align:right;font-variant-numeric:tabular-nums}
svg text{font:11px system-ui,sans-serif;fill:var(--ink)}.note{color:var(--muted);font-size:12px}
";

fn page(title: &str, subtitle: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>{t}</title><style>{CSS}</style></head>\n<body><header><h1>{t}</h1><p>{s}</p></header>\n<main>\n{body}</main>\n\
         <footer class=\"note\" style=\"padding:8px 24px\">Made by edgepath {v}. This page fetches nothing.</footer></body></html>\n",
        t = esc(title),
        s = esc(subtitle),
        v = env!("CARGO_PKG_VERSION"),
    )
}

fn badge(status: Status) -> String {
    format!(
        "<span class=\"badge {n}\" data-status=\"{n}\">{n}</span>",
        n = status.name()
    )
}

/// The colour of a status (the CSS variables' values, for SVG fills).
fn status_colour(status: Status) -> &'static str {
    match status {
        Status::Good => "#1a7f37",
        Status::Degraded => "#b58100",
        Status::Failing => "#c62828",
    }
}

/// The media path ladder, best first, the current rung filled.
fn ladder(current: MediaPath) -> String {
    let mut svg = String::from(
        "<svg class=\"ladder\" role=\"img\" aria-label=\"media path ladder\" width=\"250\" height=\"96\" viewBox=\"0 0 250 96\">",
    );
    for (i, r) in MediaPath::LADDER.iter().enumerate() {
        let y = 4 + i * 23;
        let on = *r == current;
        let fill = if on {
            status_colour(r.base_status())
        } else {
            "#fff"
        };
        let _ = write!(
            svg,
            "<rect x=\"2\" y=\"{y}\" width=\"150\" height=\"19\" rx=\"4\" fill=\"{fill}\" stroke=\"#8c959f\"/>\
             <text x=\"10\" y=\"{}\" {}>{}</text>",
            y + 14,
            if on { "style=\"fill:#fff;font-weight:600\"" } else { "" },
            r.name()
        );
        if on {
            let _ = write!(svg, "<text x=\"160\" y=\"{}\">\u{2190} now</text>", y + 14);
        }
    }
    svg.push_str("</svg>");
    svg
}

/// A line chart of `series` (name, points (x, y)), x and y scaled to the data.
fn line_chart(
    title: &str,
    x_label: &str,
    y_unit: &str,
    series: &[(String, Vec<(f64, f64)>)],
) -> String {
    let points: Vec<(f64, f64)> = series.iter().flat_map(|(_, p)| p.iter().copied()).collect();
    if points.is_empty() {
        return format!("<p class=\"note\">{}: nothing measured.</p>", esc(title));
    }
    let (w, h, left, bottom) = (560.0, 180.0, 56.0, 24.0);
    let x_max = points.iter().map(|p| p.0).fold(0.0f64, f64::max).max(1e-9);
    let x_min = points
        .iter()
        .map(|p| p.0)
        .fold(f64::INFINITY, f64::min)
        .min(x_max);
    // The axis' top: the largest value (1 when everything is 0), with a tenth of room.
    let top = points.iter().map(|p| p.1).fold(0.0f64, f64::max);
    let top = if top > 0.0 { top } else { 1.0 };
    let y_max = top * 1.1;
    let span = (x_max - x_min).max(1e-9);
    let sx = |x: f64| left + (x - x_min) / span * (w - left - 10.0);
    let sy = |y: f64| (h - bottom) - y / y_max * (h - bottom - 10.0);
    let colours = ["#0969da", "#bf3989", "#1a7f37", "#b58100", "#8250df"];
    let mut svg = format!(
        "<figure><figcaption>{}</figcaption><svg class=\"chart\" role=\"img\" aria-label=\"{}\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\">\
         <line x1=\"{left}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\" stroke=\"#8c959f\"/><line x1=\"{left}\" y1=\"10\" x2=\"{left}\" y2=\"{b}\" stroke=\"#8c959f\"/>\
         <text x=\"4\" y=\"14\">{ym} {u}</text><text x=\"4\" y=\"{b}\">0</text><text x=\"{left}\" y=\"{h2}\">{x0:.0}</text>\
         <text x=\"{xr}\" y=\"{h2}\" text-anchor=\"end\">{x1:.0} {xl}</text>",
        esc(title),
        esc(title),
        b = h - bottom,
        r = w - 10.0,
        ym = short(top),
        u = esc(y_unit),
        h2 = h - 6.0,
        x0 = x_min,
        x1 = x_max,
        xr = w - 10.0,
        xl = esc(x_label),
    );
    for (i, (name, pts)) in series.iter().enumerate() {
        let c = colours[i % colours.len()];
        let path: Vec<String> = pts
            .iter()
            .map(|(x, y)| format!("{:.1},{:.1}", sx(*x), sy(*y)))
            .collect();
        let _ = write!(
            svg,
            "<polyline fill=\"none\" stroke=\"{c}\" stroke-width=\"1.6\" points=\"{}\"/>",
            path.join(" ")
        );
        if pts.len() == 1 {
            let _ = write!(
                svg,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{c}\"/>",
                sx(pts[0].0),
                sy(pts[0].1)
            );
        }
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{}\" style=\"fill:{c}\">{}</text>",
            left + 8.0 + 110.0 * i as f64,
            22,
            esc(name)
        );
    }
    svg.push_str("</svg></figure>");
    svg
}

/// A number in three significant digits or fewer (`0.288`, `12.5`, `1`).
fn short(v: f64) -> String {
    let digits = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else if v >= 1.0 {
        2
    } else {
        3
    };
    let s = format!("{v:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

fn table(head: &[&str], rows: &[Vec<String>], id: &str) -> String {
    let mut t = format!("<table id=\"{id}\"><thead><tr>");
    for h in head {
        let _ = write!(t, "<th>{}</th>", esc(h));
    }
    t.push_str("</tr></thead><tbody>");
    for r in rows.iter().take(MAX_ROWS) {
        t.push_str("<tr>");
        for c in r {
            // Cells are escaped by their callers (some hold markup: badges).
            let _ = write!(t, "<td>{c}</td>");
        }
        t.push_str("</tr>");
    }
    t.push_str("</tbody></table>");
    if rows.len() > MAX_ROWS {
        let _ = write!(
            t,
            "<p class=\"note\">{} more rows not shown (the JSON report has them all).</p>",
            rows.len() - MAX_ROWS
        );
    }
    t
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        return String::new();
    }
    let mut s = String::from("<ul>");
    for i in items {
        let _ = write!(s, "<li>{}</li>", esc(i));
    }
    s.push_str("</ul>");
    s
}

/// `check --html`.
pub fn check_page(r: &Report, source: &EndpointSource) -> String {
    let mut b = String::new();
    b.push_str("<h2>Media, per modality</h2><div class=\"cards\" id=\"modalities\">");
    for m in &r.modalities {
        let _ = write!(
            b,
            "<section class=\"card\" data-modality=\"{id}\" data-path=\"{p}\"><h3>{id} {badge}</h3>{ladder}\
             <p class=\"muted\">source ports {ports}</p>{ev}",
            id = m.modality.id(),
            p = m.path.name(),
            badge = badge(m.status),
            ladder = ladder(m.path),
            ports = m.source_ports,
            ev = list(&m.evidence),
        );
        if !m.advice.is_empty() {
            let _ = write!(
                b,
                "<div class=\"fix\"><strong>Fix</strong>{}</div>",
                list(&m.advice)
            );
        }
        b.push_str("</section>");
    }
    b.push_str("</div>");
    if let Some(q) = r.modalities.iter().find_map(|m| m.quality.as_ref()) {
        b.push_str("<h2>Quality over time</h2>");
        let _ = write!(
            b,
            "<p class=\"note\">{} to {}, {} packets per second; each point a 5 s window.</p>",
            esc(serde_json::to_value(q.method)
                .ok()
                .as_ref()
                .and_then(|v| v.as_str())
                .unwrap_or("?")),
            esc(&q.relay.to_string()),
            q.rate_per_s
        );
        let pts = |f: fn(&edgepath_probe::quality::Stats) -> f64| -> Vec<(f64, f64)> {
            q.windows.iter().map(|w| (w.start_s, f(w))).collect()
        };
        b.push_str(&line_chart(
            "Loss per window",
            "s",
            "%",
            &[("loss".into(), pts(|w| w.loss_pct))],
        ));
        b.push_str(&line_chart(
            "Round trip and jitter per window",
            "s",
            "ms",
            &[
                ("round trip".into(), pts(|w| w.rtt_ms)),
                ("jitter".into(), pts(|w| w.jitter_ms)),
            ],
        ));
    }
    b.push_str("<h2>Services</h2>");
    let rows: Vec<Vec<String>> = r
        .services
        .iter()
        .map(|s| {
            let tls = s.tls.as_ref();
            vec![
                esc(s.service.id()),
                esc(&s.name),
                if s.reachable {
                    "yes".into()
                } else {
                    "<strong>no</strong>".into()
                },
                esc(s.via.name()),
                esc(tls.and_then(|t| t.issuer.as_deref()).unwrap_or("-")),
                if tls.is_some_and(|t| t.intercepted) {
                    "<span class=\"badge failing\">intercepted</span>".into()
                } else {
                    "no".into()
                },
            ]
        })
        .collect();
    b.push_str(&table(
        &[
            "service",
            "name",
            "reachable",
            "via",
            "TLS issuer",
            "interception",
        ],
        &rows,
        "services",
    ));
    b.push_str("<h2>Network</h2>");
    let mut facts = vec![
        format!("NAT: {}", r.nat.note),
        format!("VPN: {} ({})", r.vpn.state, r.vpn.note),
    ];
    match &r.proxy {
        Some(p) => facts.push(format!("Proxy: {p}")),
        None if !r.proxy_search.is_empty() => {
            facts.push(format!("Proxy: none ({})", r.proxy_search.join("; ")))
        }
        None => {}
    }
    if let Some(v) = &r.proxy_vendor {
        facts.push(format!(
            "Cloud security service: {} (named by {}); its vendor's advice for Teams: {} ({})",
            v.product, v.by, v.advice, v.reference
        ));
    }
    if let Some(relay) = &r.relay {
        facts.push(format!("Relay: {relay}"));
    }
    facts.push(format!("Endpoint data: {}", source.description));
    b.push_str(&list(&facts));
    page(
        "edgepath check",
        &format!(
            "Skype for Business Online / Teams from this network, profile {}, {} ms",
            r.profile, r.elapsed_ms
        ),
        &b,
    )
}

/// `capture --html`.
pub fn capture_page(r: &CaptureReport, title: &str, source: &EndpointSource) -> String {
    let mut b = String::new();
    let _ = write!(
        b,
        "<p>{} packets, {} flows. Endpoint data: {}.</p>",
        r.stats.packets,
        r.flows.len(),
        esc(&source.description)
    );
    // The timeline: Microsoft's flows (and every media flow), each a bar from its first
    // packet to its last; relay allocations marked.
    let shown: Vec<&edgepath_capture::report::FlowReport> = r
        .flows
        .iter()
        .filter(|f| f.service != FlowService::Other || f.path.is_some())
        .collect();
    b.push_str("<h2>Timeline</h2>");
    if shown.is_empty() {
        b.push_str("<p class=\"note\">No flow to Microsoft 365 in this capture.</p>");
    } else {
        let rows = shown.len().min(120);
        let end = shown
            .iter()
            .map(|f| f.start_s + f.duration_s)
            .fold(0.0f64, f64::max)
            .max(1e-3);
        let (w, row_h, left) = (1000.0, 16.0, 330.0);
        let height = row_h * rows as f64 + 24.0;
        let _ = write!(
            b,
            "<svg id=\"timeline\" role=\"img\" aria-label=\"flow timeline\" width=\"{w}\" height=\"{height}\" viewBox=\"0 0 {w} {height}\">\
             <text x=\"{left}\" y=\"{}\">0 s</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{end:.1} s</text>",
            height - 4.0,
            w - 4.0,
            height - 4.0
        );
        for (i, f) in shown.iter().take(rows).enumerate() {
            let y = i as f64 * row_h + 2.0;
            let x = left + f.start_s / end * (w - left - 6.0);
            let bw = (f.duration_s / end * (w - left - 6.0)).max(2.0);
            let colour = match f.path {
                Some(MediaPath::RelayUdp | MediaPath::P2pUdp) => "#1a7f37",
                Some(MediaPath::RelayTcp | MediaPath::RelayTcpProxy) => "#b58100",
                _ => "#0969da",
            };
            let allocs = f.stun.as_ref().map_or(0, |s| s.allocations.len());
            let label = format!(
                "{} {} {}{}",
                f.service.name(),
                f.modality.map(|m| m.id()).unwrap_or(""),
                f.name.as_deref().unwrap_or(&f.server),
                if allocs > 0 {
                    format!(
                        " ({allocs} allocation{})",
                        if allocs == 1 { "" } else { "s" }
                    )
                } else {
                    String::new()
                }
            );
            let label: String = label.chars().take(52).collect();
            let _ = write!(
                b,
                "<text x=\"2\" y=\"{}\">{}</text><rect class=\"flow\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bw:.1}\" height=\"{}\" fill=\"{colour}\"/>",
                y + 11.0,
                esc(&label),
                row_h - 4.0
            );
            if allocs > 0 {
                let _ = write!(
                    b,
                    "<circle class=\"allocation\" cx=\"{x:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"#bf3989\"/>",
                    y + (row_h - 4.0) / 2.0
                );
            }
        }
        b.push_str("</svg>");
        if shown.len() > rows {
            let _ = write!(
                b,
                "<p class=\"note\">{} more flows in the table.</p>",
                shown.len() - rows
            );
        }
        b.push_str("<p class=\"note\">Green: media over UDP; amber: media over TCP; blue: signalling and web; pink dot: a relay allocation.</p>");
    }
    b.push_str("<h2>Findings</h2>");
    if r.findings.is_empty() {
        b.push_str("<p>None.</p>");
    } else {
        let rows: Vec<Vec<String>> = r
            .findings
            .iter()
            .map(|f| {
                let class = match f.severity {
                    Severity::Error => "failing",
                    Severity::Warn => "degraded",
                    Severity::Info => "good",
                };
                vec![
                    format!("<span class=\"badge {class}\">{}</span>", f.severity.name()),
                    esc(f.kind),
                    esc(&f
                        .flow
                        .as_ref()
                        .map(|x| format!("{} \u{2192} {}", x.client, x.server))
                        .unwrap_or_default()),
                    esc(&f.message),
                ]
            })
            .collect();
        b.push_str(&table(
            &["severity", "kind", "flow", "what"],
            &rows,
            "findings",
        ));
    }
    b.push_str("<h2>Flows</h2>");
    let rows: Vec<Vec<String>> = r
        .flows
        .iter()
        .map(|f| {
            vec![
                esc(&f.client),
                esc(&f.server),
                esc(f.transport),
                esc(f.service.name()),
                esc(f.modality.map(|m| m.id()).unwrap_or("")),
                esc(f.path.map(|p| p.name()).unwrap_or("")),
                esc(f.name.as_deref().unwrap_or("")),
                esc(f.protocol.unwrap_or("")),
                format!("{}/{}", f.packets[0], f.packets[1]),
                format!("{:.1}", f.start_s),
                format!("{:.1}", f.duration_s),
                esc(f
                    .tls
                    .as_ref()
                    .and_then(|t| t.issuer.as_deref())
                    .unwrap_or("")),
            ]
        })
        .collect();
    b.push_str(&table(
        &[
            "client",
            "server",
            "transport",
            "service",
            "modality",
            "path",
            "name",
            "protocol",
            "packets",
            "start s",
            "seconds",
            "TLS issuer",
        ],
        &rows,
        "flows",
    ));
    page("edgepath capture", title, &b)
}

/// `monitor --summary FILE --html OUT`.
pub fn monitor_page(s: &Summary, records: &[Record], file: &str) -> String {
    let mut b = String::new();
    b.push_str("<h2>Paths over the history</h2><div class=\"cards\" id=\"modalities\">");
    for m in &s.modalities {
        let total: usize = m.paths.values().sum::<usize>().max(1);
        let _ = write!(
            b,
            "<section class=\"card\" data-modality=\"{}\"><h3>{}</h3>",
            m.modality.id(),
            m.modality.id()
        );
        let mut svg = String::from("<svg width=\"250\" height=\"96\" viewBox=\"0 0 250 96\" role=\"img\" aria-label=\"share of runs per path\">");
        for (i, p) in MediaPath::LADDER.iter().enumerate() {
            let n = m.paths.get(p).copied().unwrap_or(0);
            let share = n as f64 / total as f64;
            let y = 4 + i * 23;
            let colour = status_colour(p.base_status());
            let _ = write!(
                svg,
                "<text x=\"2\" y=\"{}\">{p}</text><rect x=\"110\" y=\"{y}\" width=\"{:.1}\" height=\"17\" fill=\"{colour}\"/><text x=\"{:.1}\" y=\"{}\">{:.0} %</text>",
                y + 13,
                100.0 * share,
                114.0 + 100.0 * share,
                y + 13,
                100.0 * share
            );
        }
        svg.push_str("</svg>");
        b.push_str(&svg);
        b.push_str("</section>");
    }
    b.push_str("</div><h2>Quality over time</h2>");
    // x: runs in order (the times are in the table below).
    let series = |f: fn(&crate::history::ModalityRecord) -> Option<f64>, scale: f64| {
        let mut out: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
        for m in &s.modalities {
            let pts: Vec<(f64, f64)> = records
                .iter()
                .enumerate()
                .filter_map(|(i, r)| {
                    r.modalities
                        .iter()
                        .find(|x| x.modality == m.modality)
                        .and_then(f)
                        .map(|v| (i as f64 + 1.0, v * scale))
                })
                .collect();
            if !pts.is_empty() {
                out.push((m.modality.id().to_owned(), pts));
            }
        }
        out
    };
    b.push_str(&line_chart(
        "Loss per run",
        "run",
        "%",
        &series(|m| m.loss_ratio, 100.0),
    ));
    b.push_str(&line_chart(
        "Round trip per run",
        "run",
        "ms",
        &series(|m| m.rtt_ms, 1.0),
    ));
    b.push_str(&line_chart(
        "Jitter per run",
        "run",
        "ms",
        &series(|m| m.jitter_ms, 1.0),
    ));
    b.push_str("<h2>Services</h2>");
    let rows: Vec<Vec<String>> = s
        .services
        .iter()
        .map(|sv| {
            let mut row = vec![sv.service.id().to_owned()];
            row.extend(
                Via::ALL
                    .iter()
                    .map(|v| sv.via.get(v).copied().unwrap_or(0).to_string()),
            );
            row.push(sv.intercepted.to_string());
            row
        })
        .collect();
    let mut head = vec!["service"];
    head.extend(Via::ALL.iter().map(|v| v.name()));
    head.push("intercepted");
    b.push_str(&table(&head, &rows, "services"));
    b.push_str("<h2>Runs</h2>");
    let rows: Vec<Vec<String>> = records
        .iter()
        .rev()
        .map(|r| {
            let mut row = vec![esc(&r.time)];
            for m in &r.modalities {
                row.push(format!(
                    "<span class=\"badge {}\">{}</span>",
                    m.path.base_status().name(),
                    m.path.name()
                ));
            }
            row
        })
        .collect();
    let mut head = vec!["time (newest first)"];
    head.extend(s.modalities.iter().map(|m| m.modality.id()));
    b.push_str(&table(&head, &rows, "runs"));
    page(
        "edgepath monitor",
        &format!("{} runs from {} to {} ({file})", s.runs, s.from, s.to),
        &b,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(
            esc("<script>alert('x') & \"y\"</script>"),
            "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;"
        );
        assert_eq!(esc("a\u{0}b"), "a\u{fffd}b");
    }

    #[test]
    fn a_chart_without_points_says_so() {
        assert!(line_chart("Loss", "s", "%", &[]).contains("nothing measured"));
        assert_eq!(
            (short(0.28812), short(12.53), short(1.0), short(250.4)),
            ("0.288".into(), "12.5".into(), "1".into(), "250".into())
        );
        let zero = line_chart(
            "Loss",
            "s",
            "%",
            &[("a".into(), vec![(0.0, 0.0), (5.0, 0.0)])],
        );
        assert!(zero.contains(">1 %<"), "{zero}");
        let svg = line_chart(
            "Loss",
            "s",
            "%",
            &[("a<b".into(), vec![(0.0, 1.0), (5.0, 2.0)])],
        );
        assert!(svg.contains("<polyline") && svg.contains("a&lt;b"), "{svg}");
    }
}
