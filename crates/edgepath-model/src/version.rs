//! Microsoft's version of endpoint data and how old it is.
//!
//! The web service numbers its lists `YYYYMMDDNN`: the publication date and a
//! counter for that day. Microsoft publishes monthly, 30 days before new addresses
//! go live, so data whose version date is more than [`STALE_AFTER_DAYS`] old may
//! already miss addresses clients use today.

use std::fmt;

use serde::Serialize;

use crate::time::{days_from_civil, is_valid_date, ymd};

/// Age in days past which endpoint data counts as stale: a monthly publication
/// plus a few days' grace.
pub const STALE_AFTER_DAYS: i64 = 35;

/// A checked Microsoft endpoint data version (`2025013000`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DataVersion {
    text: String,
    day: i64,
}

/// Why a version string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VersionError {
    /// Not ten digits.
    #[error(
        "`{0}` is not a Microsoft endpoint data version (ten digits, YYYYMMDDNN, e.g. 2025013000)"
    )]
    Shape(String),
    /// Ten digits, but the first eight are no date.
    #[error("`{0}` is not a Microsoft endpoint data version: {1} is not a date")]
    Date(String, String),
}

impl DataVersion {
    /// Reads `YYYYMMDDNN`.
    pub fn parse(text: &str) -> Result<Self, VersionError> {
        let t = text.trim();
        if t.len() != 10 || !t.bytes().all(|b| b.is_ascii_digit()) {
            return Err(VersionError::Shape(text.to_owned()));
        }
        // Ten ASCII digits: every slice below parses.
        let num = |r: std::ops::Range<usize>| t[r].parse::<u32>().unwrap_or(0);
        let (y, m, d) = (num(0..4), num(4..6), num(6..8));
        if !is_valid_date(i64::from(y), m, d) {
            return Err(VersionError::Date(
                text.to_owned(),
                format!("{y:04}-{m:02}-{d:02}"),
            ));
        }
        Ok(DataVersion {
            text: t.to_owned(),
            day: days_from_civil(i64::from(y), m, d),
        })
    }

    /// The version as Microsoft writes it.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Its publication date, `YYYY-MM-DD`.
    pub fn date(&self) -> String {
        ymd(self.day)
    }

    /// Whole days from its publication to `today` (days since 1970-01-01); negative
    /// when the version is dated in the future (a wrong clock, or a made-up number).
    pub fn age_days(&self, today: i64) -> i64 {
        today - self.day
    }

    /// "Microsoft version 2025013000 (2025-01-30)": how every report names it.
    pub fn label(&self) -> String {
        format!("Microsoft version {} ({})", self.text, self.date())
    }
}

impl fmt::Display for DataVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for DataVersion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

/// How old data is against today, and whether that is too old.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Freshness {
    /// Days since the version's date.
    pub age_days: i64,
    /// Older than [`STALE_AFTER_DAYS`].
    pub stale: bool,
}

impl Freshness {
    /// The freshness of `version` on day `today`.
    pub fn of(version: &DataVersion, today: i64) -> Self {
        let age_days = version.age_days(today);
        Freshness {
            age_days,
            stale: age_days > STALE_AFTER_DAYS,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        let v = DataVersion::parse("2025013000").unwrap();
        assert_eq!(v.date(), "2025-01-30");
        assert_eq!(v.label(), "Microsoft version 2025013000 (2025-01-30)");
        let today = days_from_civil(2026, 11, 26);
        assert_eq!(
            Freshness::of(&v, today),
            Freshness {
                age_days: 665,
                stale: true
            }
        );
        let feb = days_from_civil(2025, 3, 6);
        assert!(!Freshness::of(&v, feb).stale, "35 days is not stale yet");
        assert!(Freshness::of(&v, feb + 1).stale);
        for bad in [
            "",
            "2025",
            "20250130001",
            "2025-01-30",
            "abcdefghij",
            "2025023000",
            "2025130100",
        ] {
            assert!(DataVersion::parse(bad).is_err(), "{bad}");
        }
        assert!(DataVersion::parse("2024022900").is_ok());
        assert!(
            DataVersion::parse("2025013000").unwrap() < DataVersion::parse("2025022800").unwrap()
        );
    }
}
