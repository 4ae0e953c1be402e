//! Writing results: one JSON document or a text report to stdout, plain
//! aligned tables, and input files read with clear limits.

use std::io::{self, Read, Write};
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::Serialize;

/// What a command found, for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing worth attention: exit 0.
    Clean,
    /// Findings worth attention: exit 1.
    Findings,
}

impl Outcome {
    /// `Findings` when `warnings` is not empty.
    pub fn from_warnings<T>(warnings: &[T]) -> Self {
        if warnings.is_empty() {
            Outcome::Clean
        } else {
            Outcome::Findings
        }
    }
}

/// Writes `text` to stdout in one go. A closed pipe (`| head`) is reported as
/// `BrokenPipe` for `main` to end quietly.
pub fn emit(text: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// Writes `value` as pretty JSON plus a newline.
pub fn emit_json<T: Serialize>(value: &T) -> Result<()> {
    let mut s = serde_json::to_string_pretty(value).context("could not render JSON")?;
    s.push('\n');
    emit(&s)?;
    Ok(())
}

/// A lens's report with the endpoint data it used (`endpoints`: kind, version,
/// date, age_days, stale, path, description) beside its own fields.
#[derive(Serialize)]
pub struct WithEndpoints<'a, T: Serialize> {
    /// Where the endpoint data came from and how old it is.
    pub endpoints: &'a edgepath_model::EndpointSource,
    /// The report's own fields.
    #[serde(flatten)]
    pub report: &'a T,
}

/// A left-aligned text table.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headings.
    pub fn new(header: &[&str]) -> Self {
        Table {
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row (cells beyond the header are dropped, missing ones blank).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Renders with two spaces between columns, no trailing blanks.
    pub fn render(&self, out: &mut String) {
        let cols = self.header.len();
        let mut width = vec![0usize; cols];
        for r in std::iter::once(&self.header).chain(&self.rows) {
            for (i, c) in r.iter().take(cols).enumerate() {
                width[i] = width[i].max(c.chars().count());
            }
        }
        for r in std::iter::once(&self.header).chain(&self.rows) {
            let mut line = String::new();
            for (i, w) in width.iter().enumerate() {
                let cell = r.get(i).map_or("", String::as_str);
                line.push_str(cell);
                if i + 1 < cols {
                    line.extend(std::iter::repeat_n(' ', w - cell.chars().count() + 2));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
}

/// Inputs larger than this are refused rather than read partly.
pub const MAX_INPUT: u64 = 64 * 1024 * 1024;

/// Reads a whole input file, or stdin for `-`, as text. Invalid UTF-8 is
/// replaced and reported in the returned note; a file over [`MAX_INPUT`] is
/// refused.
pub fn read_text(path: &Path) -> Result<(String, Option<String>)> {
    let mut bytes = Vec::new();
    let shown = path.display();
    if path.as_os_str() == "-" {
        io::stdin()
            .lock()
            .take(MAX_INPUT + 1)
            .read_to_end(&mut bytes)
            .context("could not read standard input")?;
    } else {
        let f = std::fs::File::open(path).with_context(|| format!("cannot open {shown}"))?;
        f.take(MAX_INPUT + 1)
            .read_to_end(&mut bytes)
            .with_context(|| format!("cannot read {shown}"))?;
    }
    if bytes.len() as u64 > MAX_INPUT {
        bail!(
            "{shown}: larger than {} MiB; refusing to read part of it",
            MAX_INPUT >> 20
        );
    }
    match String::from_utf8(bytes) {
        Ok(s) => Ok((s, None)),
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let s = String::from_utf8_lossy(e.as_bytes()).into_owned();
            Ok((
                s,
                Some(format!(
                    "invalid UTF-8 from byte {at} on was replaced with U+FFFD"
                )),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns() {
        let mut t = Table::new(&["A", "LONGER"]);
        t.row(vec!["wide cell".into(), "x".into()]);
        let mut s = String::new();
        t.render(&mut s);
        assert_eq!(s, "A          LONGER\nwide cell  x\n");
    }
}
