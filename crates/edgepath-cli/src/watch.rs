//! Following `check`'s quality measurement while it runs: a progress bar and each 5 s
//! window as it ends on a terminal, every window into `--windows-out` (CSV per RFC 4180,
//! or JSON lines), and Ctrl-C to stop early with the report still printed.

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use edgepath_probe::quality::{Stats, Watch};

/// How `--windows-out` writes, by the file's extension.
enum Format {
    /// `.csv`: RFC 4180, CRLF line ends, `.` decimals whatever the locale.
    Csv,
    /// `.jsonl`, `.ndjson`, `.json`: one JSON object per line.
    JsonLines,
}

/// The columns of the CSV, as the JSON names them.
const COLUMNS: &str = "start_s,sent,received,loss_pct,burst_loss_pct,rtt_ms,rtt_p95_ms,rtt_max_ms,jitter_ms,reorder_pct";

/// The terminal and the windows file.
pub struct CheckWatch {
    terminal: bool,
    out: Option<(Format, BufWriter<File>)>,
    /// Set by Ctrl-C.
    pub stop: Arc<AtomicBool>,
    /// The first write error, reported when the check ends.
    pub error: Option<String>,
}

impl CheckWatch {
    /// Opens `windows_out` (created or truncated) and writes its header.
    pub fn new(windows_out: Option<&Path>) -> Result<Self> {
        let out = match windows_out {
            None => None,
            Some(path) => {
                let ext = path
                    .extension()
                    .and_then(|e| e.to_str())
                    .map(str::to_ascii_lowercase);
                let format = match ext.as_deref() {
                    Some("csv") => Format::Csv,
                    Some("jsonl" | "ndjson" | "json") => Format::JsonLines,
                    _ => bail!(
                        "--windows-out {}: say the format by the extension, .csv or .jsonl",
                        path.display()
                    ),
                };
                let file = File::create(path)
                    .with_context(|| format!("--windows-out: cannot create {}", path.display()))?;
                let mut w = BufWriter::new(file);
                if let Format::Csv = format {
                    write!(w, "{COLUMNS}\r\n")
                        .and_then(|()| w.flush())
                        .with_context(|| format!("cannot write {}", path.display()))?;
                }
                Some((format, w))
            }
        };
        Ok(CheckWatch {
            terminal: std::io::stderr().is_terminal(),
            out,
            stop: Arc::new(AtomicBool::new(false)),
            error: None,
        })
    }
}

/// One window as a CSV record (numbers only: nothing to quote).
fn csv(w: &Stats) -> String {
    format!(
        "{},{},{},{},{},{},{},{},{},{}\r\n",
        w.start_s,
        w.sent,
        w.received,
        w.loss_pct,
        w.burst_loss_pct,
        w.rtt_ms,
        w.rtt_p95_ms,
        w.rtt_max_ms,
        w.jitter_ms,
        w.reorder_pct
    )
}

impl Watch for CheckWatch {
    fn progress(&mut self, done: f64) {
        if !self.terminal {
            return;
        }
        let width = 30;
        let filled = (done * f64::from(width)).round() as usize;
        eprint!(
            "\rmeasuring the path to the relay [{}{}] {:>3.0}% (Ctrl-C stops and reports)",
            "#".repeat(filled.min(width as usize)),
            ".".repeat((width as usize).saturating_sub(filled)),
            done * 100.0
        );
        if done >= 1.0 {
            eprintln!();
        }
    }

    fn window(&mut self, w: &Stats) {
        if self.terminal {
            eprintln!(
                "\r{:>6.0} s: loss {:.1} %, worst 200 ms {:.0} %, RTT {:.1} ms (p95 {:.1}), jitter {:.1} ms, reorder {:.2} %{}",
                w.start_s,
                w.loss_pct,
                w.burst_loss_pct,
                w.rtt_ms,
                w.rtt_p95_ms,
                w.jitter_ms,
                w.reorder_pct,
                " ".repeat(20)
            );
        }
        if let Some((format, out)) = self.out.as_mut() {
            let line = match format {
                Format::Csv => csv(w),
                Format::JsonLines => match serde_json::to_string(w) {
                    Ok(j) => j + "\n",
                    Err(e) => {
                        self.error.get_or_insert(e.to_string());
                        return;
                    }
                },
            };
            // Each window reaches the disk as it ends: a long run can be followed.
            if let Err(e) = out.write_all(line.as_bytes()).and_then(|()| out.flush()) {
                self.error.get_or_insert(e.to_string());
            }
        }
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_records_use_dots_and_crlf() {
        let w = Stats {
            start_s: 5.0,
            sent: 125,
            received: 124,
            loss_pct: 0.8,
            burst_loss_pct: 20.0,
            rtt_ms: 12.25,
            rtt_p95_ms: 15.5,
            rtt_max_ms: 20.0,
            jitter_ms: 1.5,
            reorder_pct: 0.0,
        };
        assert_eq!(csv(&w), "5,125,124,0.8,20,12.25,15.5,20,1.5,0\r\n");
        assert_eq!(
            COLUMNS.split(',').count(),
            csv(&w).trim_end().split(',').count()
        );
    }
}
