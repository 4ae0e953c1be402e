//! `edgepath capture --interface IF`: the capture lens on live traffic, through
//! libpcap. The packets go through the same analysis as a file's (and, with
//! `--write`, into a pcapng file with the same timestamps and bytes), so the report at
//! the end is the one `edgepath capture` gives for the written file. On a terminal a
//! summary line and each new finding are shown while it runs.

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use edgepath_capture::analyze::Analyzer;
use edgepath_capture::pcapng;
use edgepath_capture::reader::{LinkType, Packet};
use edgepath_capture::Report;
use edgepath_model::{Catalog, MediaRanges, Severity};
use serde::Serialize;

/// What the model needs: all UDP (DNS, STUN/TURN, media on any port, peer to peer
/// included) and the TCP ports of web, TURN over TCP, proxies and SIP. Bulk TCP on
/// other ports is left to the kernel to drop.
pub const DEFAULT_FILTER: &str =
    "udp or (tcp and (port 80 or port 443 or port 3128 or port 8080 or port 5060 or port 5061))";

/// Bytes kept per packet: whole packets (a TLS certificate chain spans several).
const SNAPLEN: i32 = 262_144;

/// libpcap's read timeout: on Linux the TPACKET_V3 block timeout, so packets reach
/// the analysis at most this late when traffic is light (a full block comes at once).
///
/// Not immediate mode: on Linux it makes libpcap use TPACKET_V2, one ring slot per
/// packet sized for the snapshot length (256 KiB here), so a 16 MiB ring held 64
/// packets and 82 % were dropped at 1 Gbit/s (docs/benchmarks.md); TPACKET_V3 packs the
/// packets into the buffer as they come, as dumpcap does.
const READ_TIMEOUT_MS: i32 = 100;

/// How long the loop sleeps when nothing is waiting. The handle is non-blocking:
/// libpcap's timeout does not end a read on Linux while no packet arrives at all
/// (pcap(3PCAP) says so), which would leave Ctrl-C and --duration unseen; the
/// kernel's buffer holds what arrives meanwhile.
const IDLE_SLEEP: Duration = Duration::from_millis(5);

/// How the live capture went, beside the report.
#[derive(Debug, Serialize)]
pub struct LiveInfo {
    /// The interface.
    pub interface: String,
    /// The BPF filter applied ("" for none).
    pub filter: String,
    /// Seconds captured.
    pub seconds: f64,
    /// Packets libpcap says it received (after the filter).
    pub received: u64,
    /// Packets the kernel dropped because edgepath did not read fast enough.
    pub dropped: u64,
    /// Packets the interface or its driver dropped.
    pub dropped_by_interface: u64,
    /// The pcapng file written, if any.
    pub written: Option<PathBuf>,
}

/// What a live capture gives.
pub struct Live {
    /// The report, as for a file.
    pub report: Report,
    /// How the capture went.
    pub info: LiveInfo,
}

/// The pcapng link type of a libpcap DLT: the same number but for raw IP, which
/// libpcap calls DLT_RAW (12, or 14 on OpenBSD) and files call LINKTYPE_RAW (101).
fn link_type(dlt: i32) -> LinkType {
    match dlt {
        12 | 14 => 101,
        other => u16::try_from(other).unwrap_or(u16::MAX),
    }
}

/// Sets the flag on Ctrl-C (SIGINT), instead of ending the process.
fn stop_on_ctrl_c() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        if rt.block_on(tokio::signal::ctrl_c()).is_ok() {
            flag.store(true, Ordering::SeqCst);
        }
    });
    stop
}

/// Captures on `interface` until Ctrl-C or `duration`, and reports.
pub fn capture(
    interface: &str,
    filter: Option<&str>,
    duration: Option<Duration>,
    write: Option<&Path>,
    buffer_mib: u32,
    catalog: &Catalog,
    ranges: MediaRanges,
) -> Result<Live> {
    let filter = filter.unwrap_or(DEFAULT_FILTER);
    let cannot = |e: pcap::Error| {
        anyhow!(
            "cannot capture on {interface}: {e} (live capture needs root, or CAP_NET_RAW and \
             CAP_NET_ADMIN; `ip link` lists the interfaces)"
        )
    };
    let mut cap = pcap::Capture::from_device(interface)
        .map_err(cannot)?
        .promisc(false)
        .snaplen(SNAPLEN)
        .timeout(READ_TIMEOUT_MS)
        .precision(pcap::Precision::Nano)
        .buffer_size(i32::try_from(u64::from(buffer_mib) << 20).unwrap_or(i32::MAX))
        .open()
        .and_then(pcap::Capture::setnonblock)
        .map_err(cannot)?;
    if !filter.is_empty() {
        cap.filter(filter, true)
            .map_err(|e| anyhow!("--filter {filter:?}: {e}"))?;
    }
    let link = link_type(cap.get_datalink().0);
    let mut writer = match write {
        Some(path) => {
            let file =
                File::create(path).with_context(|| format!("{}: cannot create", path.display()))?;
            let w = pcapng::Writer::new(BufWriter::new(file), link, SNAPLEN as u32, interface)
                .with_context(|| format!("{}: cannot write", path.display()))?;
            Some(w)
        }
        None => None,
    };
    let mut write_failed = None;
    let stop = stop_on_ctrl_c();
    let mut summary = std::io::stderr()
        .is_terminal()
        .then(|| Summary::new(interface, catalog, ranges));
    let mut analyzer = Analyzer::new(ranges);
    let started = Instant::now();
    let deadline = duration.map(|d| started + d);
    let mut take = |p: pcap::Packet<'_>, analyzer: &mut Analyzer| {
        // With nanosecond precision libpcap puts nanoseconds in tv_usec.
        let secs = u64::try_from(p.header.ts.tv_sec).unwrap_or(0);
        let nanos = u64::try_from(p.header.ts.tv_usec).unwrap_or(0);
        let packet = Packet {
            ts_ns: secs * 1_000_000_000 + nanos,
            link,
            data: p.data,
            orig_len: p.header.len,
        };
        analyzer.packet(&packet);
        if let Some(w) = writer.as_mut() {
            if let Err(e) = w.packet(packet.ts_ns, packet.data, packet.orig_len) {
                write_failed = Some(e);
                writer = None;
            }
        }
    };
    while !stop.load(Ordering::SeqCst) && deadline.is_none_or(|d| Instant::now() < d) {
        match cap.next_packet() {
            Ok(p) => take(p, &mut analyzer),
            Err(pcap::Error::TimeoutExpired) => std::thread::sleep(IDLE_SLEEP),
            Err(e) => return Err(anyhow!("capture on {interface} failed: {e}")),
        }
        if let Some(s) = summary.as_mut() {
            s.tick(&analyzer, started);
        }
    }
    // The packets of the last block: libpcap hands a block over when it is full or its
    // timeout passes, so read until one timeout after the end.
    let drained = Instant::now() + Duration::from_millis(READ_TIMEOUT_MS as u64 + 50);
    loop {
        match cap.next_packet() {
            Ok(p) => take(p, &mut analyzer),
            Err(pcap::Error::TimeoutExpired) if Instant::now() < drained => {
                std::thread::sleep(IDLE_SLEEP)
            }
            Err(_) => break,
        }
    }
    if let Some(s) = summary.as_mut() {
        s.clear();
    }
    let seconds = started.elapsed().as_secs_f64();
    let stats = cap.stats().ok();
    if let Some(w) = writer {
        if let Err(e) = w.finish() {
            write_failed = Some(e);
        }
    }
    if let (Some(e), Some(path)) = (write_failed, write) {
        // The analysis has every packet; the file does not. Say so, and fail.
        return Err(anyhow!(
            "{}: writing the capture failed: {e}; the file is incomplete",
            path.display()
        ));
    }
    let report = edgepath_capture::conclude(analyzer, None, catalog, ranges, 1);
    Ok(Live {
        report,
        info: LiveInfo {
            interface: interface.to_owned(),
            filter: filter.to_owned(),
            seconds: (seconds * 1000.0).round() / 1000.0,
            received: stats.map_or(0, |s| u64::from(s.received)),
            dropped: stats.map_or(0, |s| u64::from(s.dropped)),
            dropped_by_interface: stats.map_or(0, |s| u64::from(s.if_dropped)),
            written: write.map(Path::to_path_buf),
        },
    })
}

/// The running summary on a terminal: one status line, redrawn, and each finding
/// printed above it as it first appears.
struct Summary<'a> {
    interface: String,
    catalog: &'a Catalog,
    ranges: MediaRanges,
    next: Instant,
    /// How long the last snapshot took: snapshots are spaced to cost at most 5 %.
    cost: Duration,
    shown: std::collections::HashSet<String>,
}

impl<'a> Summary<'a> {
    fn new(interface: &str, catalog: &'a Catalog, ranges: MediaRanges) -> Self {
        Summary {
            interface: interface.to_owned(),
            catalog,
            ranges,
            next: Instant::now(),
            cost: Duration::ZERO,
            shown: Default::default(),
        }
    }

    fn tick(&mut self, a: &Analyzer, started: Instant) {
        let now = Instant::now();
        if now < self.next {
            return;
        }
        let r = edgepath_capture::conclude(a.snapshot(), None, self.catalog, self.ranges, 1);
        self.cost = now.elapsed();
        self.next = Instant::now() + (self.cost * 20).max(Duration::from_secs(1));
        let mut err = std::io::stderr().lock();
        // Warnings and errors as they first appear (once per kind and flow: their
        // counts still change); the many info findings wait for the report.
        for f in r.findings.iter().filter(|f| f.severity != Severity::Info) {
            let at = f
                .flow
                .as_ref()
                .map(|x| format!(" {} -> {}", x.client, x.server))
                .unwrap_or_default();
            if self.shown.insert(format!("{}{at}", f.kind)) {
                let _ = writeln!(
                    err,
                    "\r\x1b[K[{}] {}{at}: {}",
                    f.severity, f.kind, f.message
                );
            }
        }
        let services: Vec<String> = r
            .stats
            .services
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let mut paths = std::collections::BTreeMap::new();
        for f in &r.flows {
            if let Some(p) = f.path {
                *paths.entry(p.to_string()).or_insert(0u32) += 1;
            }
        }
        let paths: Vec<String> = paths.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let _ = write!(
            err,
            "\r\x1b[K{} {:.0} s: {} packets, {} flows ({}){}; {} finding(s); Ctrl-C ends",
            self.interface,
            started.elapsed().as_secs_f64(),
            r.stats.packets,
            r.stats.flows,
            services.join(", "),
            if paths.is_empty() {
                String::new()
            } else {
                format!("; media paths: {}", paths.join(", "))
            },
            r.findings.len()
        );
        let _ = err.flush();
    }

    fn clear(&mut self) {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[K");
        let _ = err.flush();
    }
}
