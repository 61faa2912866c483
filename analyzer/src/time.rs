//! Timestamps as people read them. Records carry Unix nanoseconds (UTC);
//! both forms here are UTC with milliseconds, cut rather than rounded so
//! that an event never appears to happen later than it did.
//!
//! At the bottom of the crate: it uses only [`crate::error`].

use chrono::DateTime;

use crate::error::{Error, Result};

pub use caro_format::render::time::DAY_NS;

/// The variable that sets the analyzer's clock, for tests that play weeks.
pub const NOW_ENV: &str = "CARO_NOW";

/// Now, in Unix nanoseconds: `CARO_NOW` (RFC 3339) when set, else the
/// system's clock.
pub fn now_ns() -> Result<u64> {
    match std::env::var(NOW_ENV) {
        Ok(v) if !v.trim().is_empty() => parse_rfc3339(v.trim()).ok_or(Error::BadNow { value: v }),
        _ => Ok(std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)),
    }
}

/// Unix nanoseconds of an RFC 3339 time, if it is one after 1970.
pub fn parse_rfc3339(s: &str) -> Option<u64> {
    let t = DateTime::parse_from_rfc3339(s).ok()?;
    u64::try_from(t.timestamp_nanos_opt()?).ok()
}

/// The UTC day of `time_ns`, counted from 1970-01-01.
pub fn day(time_ns: u64) -> i64 {
    (time_ns / DAY_NS) as i64
}

/// `2026-01-15`: a day as [`day`] counts it.
pub fn day_name(day: i64) -> String {
    caro_format::render::time::format_ns(day.max(0) as u64 * DAY_NS, "%Y-%m-%d")
}

/// `2026-01-15` back to its [`day`] number.
pub fn parse_day_name(s: &str) -> Option<i64> {
    let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    Some(
        d.signed_duration_since(chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?)
            .num_days(),
    )
}

pub use caro_format::render::time::{human, rfc3339};

/// `--since`: an RFC 3339 time, a day (`2026-01-15`, from its start, UTC),
/// or a duration back from now (`2d`, `12h`).
pub fn parse_since(s: &str, now_ns: u64) -> Result<u64> {
    if let Some(t) = parse_rfc3339(s) {
        return Ok(t);
    }
    // A day alone (`2026-01-15`) is its start, UTC, as the report's days are.
    if let Some(day) = parse_day_name(s) {
        return Ok(u64::try_from(day).unwrap_or(0) * DAY_NS);
    }
    humantime::parse_duration(s)
        .map(|d| now_ns.saturating_sub(d.as_nanos().min(u128::from(u64::MAX)) as u64))
        .map_err(|_| Error::BadSetting {
            name: "--since".to_owned(),
            value: s.to_owned(),
            expected: "an RFC 3339 time, a day (2026-01-15) or a duration such as 2d or 12h"
                .to_owned(),
        })
}

/// `0.42 ms`, `12.3 ms`, `1.40 s`.
pub fn duration(ms: f64) -> String {
    match ms {
        m if m < 10.0 => format!("{m:.2} ms"),
        m if m < 1000.0 => format!("{m:.1} ms"),
        m => format!("{:.2} s", m / 1000.0),
    }
}

/// A duration that may add up to hours: `12.3 ms`, `41.20 s`,
/// `12.5 min`, `3.2 h`.
pub fn long_duration(ms: f64) -> String {
    match ms {
        m if m < 60_000.0 => duration(m),
        m if m < 3_600_000.0 => format!("{:.1} min", m / 60_000.0),
        m => format!("{:.1} h", m / 3_600_000.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_utc_and_round_trip_through_their_names() {
        let t = parse_rfc3339("2026-01-15T23:59:59.999+00:00").unwrap();
        assert_eq!(day_name(day(t)), "2026-01-15");
        assert_eq!(
            day(t) + 1,
            day(parse_rfc3339("2026-01-16T01:00:00+01:00").unwrap() + 1)
        );
        assert_eq!(parse_day_name("2026-01-15"), Some(day(t)));
        assert_eq!(parse_day_name("yesterday"), None);
        assert_eq!(parse_rfc3339("1969-12-31T00:00:00Z"), None);
    }
}
