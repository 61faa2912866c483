//! Timestamps as people read them. Records carry Unix nanoseconds (UTC);
//! both forms here are UTC with milliseconds, cut rather than rounded so
//! that an event never appears to happen later than it did.

use chrono::DateTime;

use crate::error::{Error, Result};

/// Nanoseconds in a day.
pub const DAY_NS: u64 = 86_400 * 1_000_000_000;

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
    format_ns(day.max(0) as u64 * DAY_NS, "%Y-%m-%d")
}

/// `2026-01-15` back to its [`day`] number.
pub fn parse_day_name(s: &str) -> Option<i64> {
    let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    Some(
        d.signed_duration_since(chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?)
            .num_days(),
    )
}

/// RFC 3339 with milliseconds, `2026-01-15T14:32:15.123Z`: the JSON form.
pub fn rfc3339(time_ns: u64) -> String {
    // Not a strftime pattern: every telemetry.log line has one, and
    // chrono's own RFC 3339 writer skips parsing a pattern each time.
    match date_time(time_ns) {
        Some(t) => t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        None => time_ns.to_string(),
    }
}

/// `2026-01-15 14:32:15.123`: the pretty form.
pub fn human(time_ns: u64) -> String {
    format_ns(time_ns, "%Y-%m-%d %H:%M:%S%.3f")
}

fn format_ns(time_ns: u64, pattern: &str) -> String {
    match date_time(time_ns) {
        Some(t) => t.format(pattern).to_string(),
        None => time_ns.to_string(),
    }
}

/// `time_ns` as a UTC time; `None` is unreachable for a u64 of
/// nanoseconds (year 2554 at most).
fn date_time(time_ns: u64) -> Option<DateTime<chrono::Utc>> {
    let secs = (time_ns / 1_000_000_000) as i64;
    let nanos = (time_ns % 1_000_000_000) as u32;
    DateTime::from_timestamp(secs, nanos)
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

    #[test]
    fn milliseconds_are_cut_not_rounded() {
        // 2026-01-15T14:32:15.123999999Z
        let t = 1_768_487_535_123_999_999;
        assert_eq!(rfc3339(t), "2026-01-15T14:32:15.123Z");
        assert_eq!(human(t), "2026-01-15 14:32:15.123");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(u64::MAX), "2554-07-21T23:34:33.709Z");
    }
}
