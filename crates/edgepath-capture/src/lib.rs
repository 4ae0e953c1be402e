//! edgepath's capture lens: a streaming analysis of pcap/pcapng files of Skype for
//! Business Online / Teams client traffic, in the model's terms: each flow's service,
//! modality and media path, TLS names and issuers, STUN/TURN/MS-TURN allocations, ICE
//! checks, RTP statistics, and findings. One pass; memory grows with the flows, not
//! with the file.
#![forbid(unsafe_code)]

pub mod analyze;
pub mod classify;
pub mod dns;
mod findings;
mod hash;
pub mod packet;
pub mod pcapng;
pub mod reader;
pub mod report;
pub mod rtpstats;
pub mod sites;
pub mod stunflow;
pub mod tls;

use std::io::Read;
use std::net::SocketAddr;

use edgepath_model::{Catalog, Dscp, FlowService, MediaPath, MediaRanges};

pub use reader::{CaptureError, CaptureReader};
pub use report::Report;

use crate::analyze::{Analyzer, FlowState, Shard};
use crate::classify::Classifier;
use crate::report::{DscpCount, FlowReport, ProxyReport, Skipped, Stats, TlsReport};

/// Reads a whole capture and reports on it. A file cut short or broken off mid-way
/// still gives the flows up to there, with a warning naming the byte offset; a file
/// that is not a capture at all is an error.
pub fn analyze<R: Read>(
    src: R,
    catalog: &Catalog,
    ranges: MediaRanges,
) -> Result<Report, CaptureError> {
    let (a, cut) = read_all(src, Analyzer::new(ranges))?;
    Ok(conclude(a, cut, catalog, ranges, 1))
}

/// [`analyze`] on several threads: each source must give the same capture (the same
/// file opened once per thread); each thread reads all of it and follows its own share
/// of the flows, so nothing is shared or locked while reading, and the shares are
/// merged at the end. The report is the one [`analyze`] gives, in the same order.
pub fn analyze_parallel<R: Read + Send>(
    sources: Vec<R>,
    catalog: &Catalog,
    ranges: MediaRanges,
) -> Result<Report, CaptureError> {
    let count = u32::try_from(sources.len()).unwrap_or(u32::MAX);
    let results: Vec<_> = std::thread::scope(|s| {
        let workers: Vec<_> = (0u32..)
            .zip(sources)
            .map(|(index, src)| {
                s.spawn(move || read_all(src, Analyzer::sharded(ranges, Shard { index, count })))
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    let mut shards = Vec::with_capacity(results.len());
    let mut cut = None;
    for r in results {
        let (a, c) = r?;
        shards.push(a);
        // Every thread read the same bytes, so every one stopped at the same place.
        cut = cut.or(c);
    }
    let a = Analyzer::merge(shards).ok_or(CaptureError::Empty)?;
    Ok(conclude(a, cut, catalog, ranges, count as usize))
}

/// Feeds every packet of `src` to `a`; a capture cut short or broken off ends the
/// reading with the error beside what was read.
fn read_all<R: Read>(
    src: R,
    mut a: Analyzer,
) -> Result<(Analyzer, Option<CaptureError>), CaptureError> {
    let mut reader = CaptureReader::new(src)?;
    loop {
        match reader.next_packet() {
            Ok(Some(p)) => a.packet(&p),
            Ok(None) => return Ok((a, None)),
            Err(e @ (CaptureError::Truncated { .. } | CaptureError::Malformed { .. })) => {
                return Ok((a, Some(e)))
            }
            Err(e) => return Err(e),
        }
    }
}

/// The report of an analysis whose packets have all been given; `cut` is why the
/// capture ended early, if it did. The flows are classified and reported on
/// `threads` threads (the report is the same for any number).
pub fn conclude(
    mut a: Analyzer,
    cut: Option<CaptureError>,
    catalog: &Catalog,
    ranges: MediaRanges,
    threads: usize,
) -> Report {
    let warnings = cut
        .map(|e| {
            format!(
                "{e}; the report covers the {} packets before it",
                a.counters.packets
            )
        })
        .into_iter()
        .collect();
    a.finish();
    report(a, catalog, ranges, warnings, threads)
}

/// `f` over `items` in order, on up to `threads` threads, each taking one contiguous
/// run of them: the result is in the items' order whatever the number.
fn par_map<T: Send, U: Send>(
    mut items: Vec<T>,
    threads: usize,
    f: impl Fn(T) -> U + Sync,
) -> Vec<U> {
    // Below this, a thread costs more than it saves.
    const PER_THREAD: usize = 4096;
    let threads = threads.min(items.len() / PER_THREAD).max(1);
    if threads == 1 {
        return items.into_iter().map(f).collect();
    }
    let per = items.len().div_ceil(threads);
    let mut runs = Vec::with_capacity(threads);
    while items.len() > per {
        let rest = items.split_off(per);
        runs.push(std::mem::replace(&mut items, rest));
    }
    runs.push(items);
    let f = &f;
    std::thread::scope(|s| {
        let workers: Vec<_> = runs
            .into_iter()
            .map(|run| s.spawn(move || run.into_iter().map(f).collect::<Vec<U>>()))
            .collect();
        workers
            .into_iter()
            .flat_map(|w| {
                w.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

fn endpoint((ip, port): (std::net::IpAddr, u16)) -> String {
    SocketAddr::new(ip, port).to_string()
}

/// The flow's report; the state is consumed, so nothing is held twice at the end.
fn flow_report(f: FlowState, class: &classify::Class, t0: u64) -> FlowReport {
    let tls = (f.client_hello.is_some() || f.server_hello.is_some()).then(|| {
        let version = f
            .server_hello
            .as_ref()
            .map(|s| if s.tls13 { "1.3" } else { "1.2 or earlier" });
        let chain = f.server_hello.map(|s| s.chain).unwrap_or_default();
        let leaf = chain.first();
        let (sni, alpn) = f.client_hello.map(|h| (h.sni, h.alpn)).unwrap_or_default();
        TlsReport {
            sni,
            alpn,
            version,
            server_names: leaf.map(|c| c.names.clone()).unwrap_or_default(),
            issuer: leaf.map(|c| c.issuer_cn.clone().unwrap_or_else(|| c.issuer.clone())),
            chain,
        }
    });
    let secs = |ns: u64| (ns as f64 / 1e6).round() / 1e3;
    FlowReport {
        client: endpoint(f.client),
        server: endpoint(f.server),
        transport: f.transport.name(),
        service: class.service,
        modality: class.modality,
        path: class.path,
        name: class.name.clone(),
        protocol: class.protocol,
        packets: f.packets,
        bytes: f.bytes,
        dscp: f.dscp.map(|marks| {
            let mut v: Vec<DscpCount> = marks
                .into_iter()
                .filter_map(|(value, packets)| {
                    Dscp::new(value).map(|value| DscpCount { value, packets })
                })
                .collect();
            v.sort_by_key(|c| c.value.value());
            v
        }),
        start_s: secs(f.first_ns.saturating_sub(t0)),
        duration_s: secs(f.last_ns.saturating_sub(f.first_ns)),
        tls,
        stun: f.stun,
        rtp: f.rtp,
        rtcp_packets: f.rtcp,
        rtcp_reports: f.rtcp_reports,
        proxy: f.connect.map(|c| ProxyReport {
            target: c.target,
            status: c.status,
        }),
    }
}

fn report(
    a: Analyzer,
    catalog: &Catalog,
    ranges: MediaRanges,
    warnings: Vec<String>,
    threads: usize,
) -> Report {
    let classifier = Classifier::new(catalog, ranges);
    let t0 = a.counters.first_ns.unwrap_or(0);
    let names = &a.names;
    let classes: Vec<classify::Class> = par_map(a.flows.iter().collect(), threads, |f| {
        classifier.classify(f, names.get(&f.server.0).map_or(&[], Vec::as_slice))
    });
    // Which clients are Teams clients (they talk to Microsoft's relays, or their ICE
    // checks carry Microsoft's attributes, relay or not), and which of them got UDP to a
    // relay working: their TCP relay flows are ICE candidates gathered in parallel, not
    // a fallback.
    let mut ctx = findings::Context::default();
    for (f, c) in a.flows.iter().zip(&classes) {
        if f.stun.as_ref().is_some_and(|s| s.microsoft_ice > 0) {
            ctx.teams_clients.insert(f.client.0);
        }
        if c.service == FlowService::AvEdge {
            ctx.teams_clients.insert(f.client.0);
            if c.path == Some(MediaPath::RelayUdp) && f.packets[1] > 0 {
                ctx.udp_relay_works.insert(f.client.0);
            }
        }
    }
    let counters = a.counters;
    let reported = par_map(
        a.flows.into_iter().zip(&classes).collect(),
        threads,
        |(f, class)| {
            let (client, server) = (f.client, f.server);
            let fr = flow_report(f, class, t0);
            let mut found = Vec::new();
            findings::for_flow(&fr, client, server, class, &ranges, &ctx, &mut found);
            (fr, found)
        },
    );
    let mut flows = Vec::with_capacity(reported.len());
    let mut found = Vec::new();
    let mut services = std::collections::BTreeMap::new();
    for ((fr, flow_found), class) in reported.into_iter().zip(&classes) {
        // Keyed by name: the report lists services alphabetically.
        *services.entry(class.service.name()).or_insert(0u64) += 1;
        found.extend(flow_found);
        flows.push(fr);
    }
    // Most severe first; a stable sort keeps the order found within each severity.
    found.sort_by_key(|f| std::cmp::Reverse(f.severity));
    let c = &counters;
    Report {
        stats: Stats {
            packets: c.packets,
            bytes: c.bytes,
            flows: flows.len() as u64,
            services,
            skipped: Skipped {
                not_ip: c.not_ip,
                other_protocol: c.other_protocol,
                fragments: c.fragments,
                malformed: c.malformed,
            },
            start: c
                .first_ns
                .map(|ns| edgepath_model::time::rfc3339(ns / 1_000_000_000)),
            duration_s: (c.last_ns.saturating_sub(t0) as f64 / 1e6).round() / 1e3,
            truncated: !warnings.is_empty(),
        },
        flows,
        findings: found,
        warnings,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn par_map_keeps_the_order_for_any_number_of_threads() {
        let items: Vec<u32> = (0..20_000).collect();
        let want: Vec<u64> = items.iter().map(|&i| u64::from(i) * 3).collect();
        for threads in [1, 2, 3, 7] {
            let got = super::par_map(items.clone(), threads, |i| u64::from(i) * 3);
            assert_eq!(got, want, "{threads} threads");
        }
    }
}
