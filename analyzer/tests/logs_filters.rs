//! `caro-analyze logs`' filters (`--level`, `--since`, `--until`,
//! `--target`, `-n`), end to end on a ring of known events.

mod common;

use caro_format::{Level, RecordKind};
use common::*;
use serde_json::Value;

const SECOND: u64 = 1_000_000_000;
const DAY: u64 = 86_400 * SECOND;

/// A ring of seven events, one a second from T0 (2026-01-15
/// 14:32:15.123Z) but the first, a day earlier; each event's message
/// names it.
fn known_ring(path: &std::path::Path) {
    let mut b = RingBuilder::new(T0 - 2 * DAY);
    let mut event = |lane, time, level, target: &str, message: &str| {
        let cs = b.event_callsite(level, target, message, &["message"]);
        b.event(lane, time, cs, 0, &values(|w| w.message(0)));
    };
    event(MAIN, T0 - DAY, Level::Info, "caro", "yesterday");
    event(MAIN, T0, Level::Trace, "caro::agent", "trace");
    event(
        MAIN,
        T0 + SECOND,
        Level::Debug,
        "caro::agent::backend",
        "debug",
    );
    event(MAIN, T0 + 2 * SECOND, Level::Info, "caro_extra", "info");
    event(ALERT, T0 + 3 * SECOND, Level::Warn, "caro::safety", "warn");
    event(ALERT, T0 + 4 * SECOND, Level::Error, "other", "error");
    b.record(
        ALERT,
        RecordKind::Panic,
        T0 + 5 * SECOND,
        0,
        0,
        7,
        &values(|w| {
            w.str(0, "src/main.rs");
            w.u64(1, 10);
            w.u64(2, 5);
        }),
    );
    b.write_to(path);
}

const ALL: [&str; 7] = [
    "yesterday",
    "trace",
    "debug",
    "info",
    "warn",
    "error",
    "panic",
];

/// 2026-01-15 14:32:20.123Z: the time of the panic, the last event.
const NOW: &str = "2026-01-15T14:32:20.123Z";

/// The messages `logs --format json ARGS` prints, in order.
fn messages(args: &[&str]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.ring");
    known_ring(&path);
    let o = run(analyze(&["logs", "--format", "json", "--ring"])
        .arg(&path)
        .args(args)
        .env("CARO_NOW", NOW));
    assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
    assert_eq!(stderr(&o), "", "{args:?}");
    stdout(&o)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            v["fields"]["message"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[test]
fn without_filters_every_event_is_printed() {
    assert_eq!(messages(&[]), ALL);
}

#[test]
fn level_keeps_that_level_and_the_more_severe() {
    assert_eq!(messages(&["--level", "error"]), ["error", "panic"]);
    assert_eq!(messages(&["--level", "warn"]), ["warn", "error", "panic"]);
    assert_eq!(messages(&["--level", "WARN"]), ["warn", "error", "panic"]);
    assert_eq!(
        messages(&["--level", "info"]),
        ["yesterday", "info", "warn", "error", "panic"]
    );
    assert_eq!(
        messages(&["--level", "debug"]),
        ["yesterday", "debug", "info", "warn", "error", "panic"]
    );
    assert_eq!(messages(&["--level", "trace"]), ALL);
}

#[test]
fn since_takes_a_time_a_day_or_a_duration_back_from_now() {
    assert_eq!(messages(&["--since", "2026-01-15"]), &ALL[1..]);
    // At or after: the event at exactly that time is in.
    assert_eq!(
        messages(&["--since", "2026-01-15T14:32:17.123Z"]),
        ["info", "warn", "error", "panic"]
    );
    assert_eq!(
        messages(&["--since", "2026-01-15T15:32:17.123+01:00"]),
        ["info", "warn", "error", "panic"],
        "an offset is honoured"
    );
    // CARO_NOW is the panic's time: 2 s back is the warning's.
    assert_eq!(messages(&["--since", "2s"]), ["warn", "error", "panic"]);
    assert_eq!(messages(&["--since", "2d"]), ALL);
    assert!(messages(&["--since", "2026-01-16"]).is_empty());
}

#[test]
fn until_takes_the_same_forms_and_combines_with_since() {
    assert_eq!(messages(&["--until", "2026-01-15"]), ["yesterday"]);
    // At or before: the event at exactly that time is in.
    assert_eq!(
        messages(&["--until", "2026-01-15T14:32:16.123Z"]),
        ["yesterday", "trace", "debug"]
    );
    assert_eq!(
        messages(&["--until", "4s"]),
        ["yesterday", "trace", "debug"]
    );
    assert_eq!(
        messages(&[
            "--since",
            "2026-01-15T14:32:16Z",
            "--until",
            "2026-01-15T14:32:18Z"
        ]),
        ["debug", "info"]
    );
}

#[test]
fn target_takes_a_target_and_those_nested_in_it() {
    assert_eq!(messages(&["--target", "caro::agent"]), ["trace", "debug"]);
    assert_eq!(
        messages(&["--target", "caro"]),
        ["yesterday", "trace", "debug", "warn"],
        "caro_extra is not inside caro"
    );
    assert!(messages(&["--target", "caro::age"]).is_empty());
    assert_eq!(
        messages(&["--target", "other", "--target", "panic"]),
        ["error", "panic"]
    );
}

#[test]
fn n_keeps_the_last_matching_events() {
    assert_eq!(messages(&["-n", "2"]), ["error", "panic"]);
    assert_eq!(messages(&["--lines", "2"]), ["error", "panic"]);
    assert_eq!(messages(&["-n", "100"]), ALL);
    assert!(messages(&["-n", "0"]).is_empty());
    assert_eq!(
        messages(&["--level", "info", "--target", "caro", "-n", "1"]),
        ["warn"],
        "the last of those that match, not the last of the ring"
    );
    assert_eq!(
        messages(&["--until", "2026-01-15T14:32:17.123Z", "-n", "2"]),
        ["debug", "info"]
    );
}

#[test]
fn compact_is_one_line_per_event() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.ring");
    known_ring(&path);
    let o = run(analyze(&["logs", "--format", "compact", "--ring"]).arg(&path));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), ALL.len(), "{text}");
    for (line, message) in lines.iter().zip(ALL) {
        assert!(line.starts_with("2026-01-1"), "{line}");
        assert!(line.contains(&format!(": {message}")), "{line}");
    }
    // What `| tail -n 1` shows is a whole record.
    assert_eq!(
        lines[6],
        "2026-01-15 14:32:20.123Z [?/7] ERROR panic: panic file=src/main.rs line=10 column=5"
    );
}

#[test]
fn bad_values_are_usage_errors_of_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.ring");
    known_ring(&path);
    let expected = "an RFC 3339 time, a day (2026-01-15) or a duration such as 2d or 12h";
    for (flag, value) in [("--since", "yesterday"), ("--until", "soon")] {
        let o = run(analyze(&["logs", "--ring"]).arg(&path).args([flag, value]));
        assert_eq!(o.status.code(), Some(2), "{flag}");
        assert_eq!(stdout(&o), "");
        assert_eq!(
            stderr(&o),
            format!("caro-analyze: error: {flag} is \"{value}\", expected {expected}\n")
        );
    }
    for args in [
        &["--level", "loud"][..],
        &["-n", "-1"],
        &["--color", "sometimes"],
        &["--until", "1h", "--follow"],
    ] {
        let o = run(analyze(&["logs", "--ring"]).arg(&path).args(args));
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert_eq!(stdout(&o), "", "{args:?}");
        assert!(
            stderr(&o).starts_with("error: "),
            "{args:?}: {}",
            stderr(&o)
        );
    }
}

#[test]
fn help_says_times_are_utc() {
    let o = run(&mut analyze(&["logs", "--help"]));
    assert_eq!(o.status.code(), Some(0));
    let help = stdout(&o);
    assert!(help.contains("Times are UTC"), "{help}");
    for flag in [
        "--level", "--since", "--until", "--target", "--lines", "--follow", "--color",
    ] {
        assert!(help.contains(flag), "{flag} in {help}");
    }
}
