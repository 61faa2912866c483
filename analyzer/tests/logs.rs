//! `caro-analyze logs`, end to end: rings built with caro-format's
//! encoders, read by the real binary.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use caro_format::{CallsiteKind, Level, RecordKind, ValueWriter};
use common::*;
use serde_json::Value;

/// The ring behind the design document's example: two events inside a
/// `generate_command` span whose `backend` field is `embedded`.
fn design_ring() -> RingBuilder {
    let mut b = RingBuilder::new(T0 - 1_000_000_000);
    let span = b.callsite(
        Level::Info,
        CallsiteKind::Span,
        "generate_command",
        "caro::agent",
        &["backend"],
    );
    let generating = b.event_callsite(
        Level::Info,
        "caro::agent",
        "generating command",
        &["message", "backend", "query_length"],
    );
    let generated = b.event_callsite(
        Level::Info,
        "caro::agent",
        "command generated successfully",
        &["message", "backend", "command", "confidence", "latency_ms"],
    );
    // The thread says which process it is in (a ring older than the
    // identity table: `logs` learns the pid from this record).
    b.record(
        ALERT,
        RecordKind::ThreadStart,
        T0 - 2_000,
        0,
        0,
        7,
        &values(|w| w.u64(0, 4242)),
    );
    b.span_new(MAIN, T0 - 1_000, span, 3, |w| w.str(0, "embedded"));
    b.record(
        MAIN,
        RecordKind::SpanEnter,
        T0 - 500,
        span,
        3,
        7,
        &ValueWriter::new(),
    );
    b.event(
        MAIN,
        T0,
        generating,
        3,
        &values(|w| {
            w.message(0);
            w.str(1, "embedded");
            w.u64(2, 42);
        }),
    );
    b.event(
        MAIN,
        T0 + 333_000_000,
        generated,
        3,
        &values(|w| {
            w.message(0);
            w.str(1, "embedded");
            w.str(2, "find . -type f -mtime -1");
            w.f64(3, 0.92);
            w.u64(4, 333);
        }),
    );
    b.record(
        MAIN,
        RecordKind::SpanExit,
        T0 + 334_000_000,
        span,
        3,
        7,
        &ValueWriter::new(),
    );
    b.record(
        MAIN,
        RecordKind::SpanClose,
        T0 + 335_000_000,
        span,
        3,
        7,
        &ValueWriter::new(),
    );
    b
}

const DESIGN_JSON: [&str; 2] = [
    r#"{"timestamp":"2026-01-15T14:32:15.123Z","level":"INFO","target":"caro::agent","pid":4242,"thread":7,"span":{"name":"generate_command","backend":"embedded"},"fields":{"backend":"embedded","query_length":42,"message":"generating command"}}"#,
    r#"{"timestamp":"2026-01-15T14:32:15.456Z","level":"INFO","target":"caro::agent","pid":4242,"thread":7,"span":{"name":"generate_command","backend":"embedded"},"fields":{"backend":"embedded","command":"find . -type f -mtime -1","confidence":0.92,"latency_ms":333,"message":"command generated successfully"}}"#,
];

const DESIGN_PRETTY: &str = "\
2026-01-15 14:32:15.123Z [4242/7] INFO caro::agent: generating command
    backend: embedded
    query_length: 42

2026-01-15 14:32:15.456Z [4242/7] INFO caro::agent: command generated successfully
    backend: embedded
    command: find . -type f -mtime -1
    confidence: 0.92
    latency_ms: 333

";

fn keys(v: &Value) -> Vec<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

#[test]
fn json_lines_match_the_design_document() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.ring");
    design_ring().write_to(&path);
    let o = run(analyze(&["logs", "--format", "json", "--ring"]).arg(&path));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stderr(&o), "");
    let lines: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let expected: Vec<Value> = DESIGN_JSON
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines, expected);
    // Same values is not enough: the keys must come in the documented order.
    for (got, want) in lines.iter().zip(&expected) {
        assert_eq!(
            keys(got),
            [
                "timestamp",
                "level",
                "target",
                "pid",
                "thread",
                "span",
                "fields"
            ]
        );
        assert_eq!(keys(&got["span"]), keys(&want["span"]));
        assert_eq!(keys(&got["fields"]), keys(&want["fields"]));
        assert_eq!(keys(&got["fields"]).last(), Some(&"message"));
    }
}

#[test]
fn pretty_output_matches_the_design_document_and_is_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.ring");
    design_ring().write_to(&path);
    let o = run(analyze(&["logs", "--ring"]).arg(&path));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), DESIGN_PRETTY);
    let o = run(analyze(&["logs", "--format", "pretty", "--ring"])
        .arg(&path)
        .env("CARO_LOG_FORMAT", "json"));
    assert_eq!(
        stdout(&o),
        DESIGN_PRETTY,
        "--format wins over the environment"
    );
}

#[test]
fn caro_log_format_picks_the_default_format() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.ring");
    design_ring().write_to(&path);
    let o = run(analyze(&["logs", "--ring"])
        .arg(&path)
        .env("CARO_LOG_FORMAT", "json"));
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stdout(&o).lines().collect::<Vec<_>>(), DESIGN_JSON);
    let o = run(analyze(&["logs", "--ring"])
        .arg(&path)
        .env("CARO_LOG_FORMAT", "pretty"));
    assert_eq!(stdout(&o), DESIGN_PRETTY);
    let o = run(analyze(&["logs", "--ring"])
        .arg(&path)
        .env("CARO_LOG_FORMAT", "xml"));
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(stdout(&o), "");
    assert_eq!(
        stderr(&o),
        "caro-analyze: error: CARO_LOG_FORMAT is \"xml\", expected \"pretty\", \"compact\" or \"json\"\n"
    );
}

const DESIGN_COMPACT: &str = "\
2026-01-15 14:32:15.123Z [4242/7] INFO caro::agent: generating command backend=embedded query_length=42
2026-01-15 14:32:15.456Z [4242/7] INFO caro::agent: command generated successfully backend=embedded command=\"find . -type f -mtime -1\" confidence=0.92 latency_ms=333
";

#[test]
fn compact_is_the_pretty_form_on_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.ring");
    design_ring().write_to(&path);
    let o = run(analyze(&["logs", "--format", "compact", "--ring"]).arg(&path));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), DESIGN_COMPACT);
    let o = run(analyze(&["logs", "--ring"])
        .arg(&path)
        .env("CARO_LOG_FORMAT", "compact"));
    assert_eq!(stdout(&o), DESIGN_COMPACT, "CARO_LOG_FORMAT=compact");
}

/// `s` without its ANSI escapes (`ESC [ … m`).
fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(at) = rest.find('\u{1b}') {
        out.push_str(&rest[..at]);
        let end = rest[at..].find('m').expect("an escape ends with m");
        rest = &rest[at + end + 1..];
    }
    out + rest
}

#[test]
fn colour_is_added_when_asked_and_only_to_the_text_forms() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.ring");
    design_ring().write_to(&path);
    let logs = |args: &[&str], no_color: Option<&str>| {
        let mut cmd = analyze(&["logs", "--ring"]);
        cmd.arg(&path).args(args).env_remove("NO_COLOR");
        if let Some(v) = no_color {
            cmd.env("NO_COLOR", v);
        }
        let o = run(&mut cmd);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
        stdout(&o)
    };
    for (format, plain) in [("pretty", DESIGN_PRETTY), ("compact", DESIGN_COMPACT)] {
        let coloured = logs(&["--format", format, "--color", "always"], None);
        assert!(coloured.contains("\u{1b}["), "{format}: {coloured:?}");
        assert_eq!(strip_ansi(&coloured), plain, "{format}: escapes only");
        // A flag outranks NO_COLOR (https://no-color.org).
        let coloured = logs(&["--format", format, "--color", "always"], Some("1"));
        assert!(coloured.contains("\u{1b}["), "{format} with NO_COLOR=1");
        assert_eq!(logs(&["--format", format, "--color", "never"], None), plain);
        // A pipe is not a terminal: auto does not colour it.
        assert_eq!(logs(&["--format", format], None), plain);
        assert_eq!(
            logs(&["--format", format, "--color", "auto"], Some("1")),
            plain
        );
    }
    let json = logs(&["--format", "json", "--color", "always"], None);
    assert_eq!(
        json.lines().collect::<Vec<_>>(),
        DESIGN_JSON,
        "JSON is never coloured"
    );
}

#[test]
fn every_value_type_unknown_callsites_lost_spans_and_panics() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.ring");
    let mut b = RingBuilder::new(T0);
    let span = b.callsite(
        Level::Info,
        CallsiteKind::Span,
        "process_query",
        "caro",
        &["backend", "intent"],
    );
    let warn = b.event_callsite(
        Level::Warn,
        "caro::safety",
        "blocked",
        &[
            "message", "pattern", "text", "secret", "delta", "big", "blocked", "ratio", "limit",
            "other",
        ],
    );
    let static_id = b.string("destructive_delete");
    b.record(
        ALERT,
        RecordKind::ProcessStart,
        T0 + 1,
        0,
        0,
        7,
        &values(|w| w.u64(0, 4242)),
    );
    b.span_new(MAIN, T0 + 2, span, 5, |w| w.static_str(0, static_id));
    let mut recorded = ValueWriter::new();
    recorded.str(1, "file_search");
    b.record(MAIN, RecordKind::SpanRecord, T0 + 3, span, 5, 7, &recorded);
    let long = "x".repeat(200);
    b.event(
        ALERT,
        T0 + 4,
        warn,
        5,
        &values(|w| {
            w.message(0);
            w.static_str(1, static_id);
            w.str(2, &long);
            w.redacted(3, 12);
            w.i64(4, -5);
            w.bool(6, true);
            w.f64(7, f64::NAN);
        }),
    );
    // A payload holds 196 bytes: the wide integers go in a second event.
    b.event(
        ALERT,
        T0 + 4,
        warn,
        0,
        &values(|w| {
            w.u128(5, u128::MAX);
            w.u128(8, 3);
            w.i128(9, -7);
        }),
    );
    b.event(MAIN, T0 + 5, 0xdead_beef, 99, &values(|w| w.u64(0, 1)));
    b.record(
        ALERT,
        RecordKind::Panic,
        T0 + 6,
        0,
        0,
        7,
        &values(|w| {
            w.str(0, "src/main.rs");
            w.u64(1, 10);
            w.u64(2, 5);
        }),
    );
    b.write_to(&path);

    let o = run(analyze(&["logs", "--format", "json", "--ring"]).arg(&path));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let lines: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines.len(),
        4,
        "span and process records are not log lines: {lines:#?}"
    );

    let w = &lines[0];
    assert_eq!(w["timestamp"], "2026-01-15T14:32:15.123Z");
    assert_eq!(
        (w["level"].as_str(), w["target"].as_str()),
        (Some("WARN"), Some("caro::safety"))
    );
    assert_eq!(
        w["span"],
        serde_json::json!({"name": "process_query", "backend": "destructive_delete", "intent": "file_search"})
    );
    assert_eq!(
        keys(&w["fields"]),
        ["pattern", "text", "secret", "delta", "blocked", "ratio", "message"]
    );
    let f = &w["fields"];
    assert_eq!(f["pattern"], "destructive_delete");
    assert_eq!(f["text"], format!("{}…", "x".repeat(127)));
    assert_eq!(f["secret"], "<redacted 12 bytes>");
    assert_eq!(f["delta"], -5);
    assert_eq!(f["blocked"], true);
    assert_eq!(f["ratio"], "NaN");
    assert_eq!(f["message"], "blocked");

    let wide = &lines[1];
    assert!(wide.get("span").is_none());
    assert_eq!(
        wide["fields"],
        serde_json::json!({"big": u128::MAX.to_string(), "limit": 3, "other": -7})
    );

    let u = &lines[2];
    assert_eq!(
        (u["level"].as_str(), u["target"].as_str()),
        (Some("UNKNOWN"), Some("<unknown callsite>"))
    );
    assert_eq!(u["span"], serde_json::json!({"id": 99}));
    assert_eq!(u["fields"], serde_json::json!({"f0": 1}));

    let p = &lines[3];
    assert_eq!(
        (p["level"].as_str(), p["target"].as_str()),
        (Some("ERROR"), Some("panic"))
    );
    assert!(p.get("span").is_none());
    assert_eq!(
        p["fields"],
        serde_json::json!({"file": "src/main.rs", "line": 10, "column": 5, "message": "panic"})
    );
    assert_eq!(keys(&p["fields"]), ["file", "line", "column", "message"]);
}

#[test]
fn records_lost_to_laps_are_summarised_on_stderr_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.ring");
    let mut b = RingBuilder::new(T0);
    let cs = b.event_callsite(Level::Info, "caro", "tick", &["message", "n"]);
    // 20 one-slot records in a 16-slot lane: the first 4 were overwritten.
    for n in 0..20 {
        b.event(
            MAIN,
            T0 + n,
            cs,
            0,
            &values(|w| {
                w.message(0);
                w.u64(1, n);
            }),
        );
    }
    b.write_to(&path);
    let o = run(analyze(&["logs", "--format", "json", "--ring"]).arg(&path));
    assert_eq!(o.status.code(), Some(0));
    let lines: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ns: Vec<u64> = lines
        .iter()
        .map(|l| l["fields"]["n"].as_u64().unwrap())
        .collect();
    assert_eq!(
        ns,
        (4..20).collect::<Vec<_>>(),
        "oldest first, the survivors only"
    );
    assert_eq!(
        stderr(&o),
        "caro-analyze: 4 slots lost to laps, 0 abandoned by killed writers, 0 corrupt\n"
    );

    // A claimed slot nobody stamped, long before the newest record: abandoned.
    let mut b = RingBuilder::new(T0);
    let cs = b.event_callsite(Level::Info, "caro", "tick", &["message"]);
    b.set_head(MAIN, 1);
    b.event(MAIN, T0 + 5_000_000_000, cs, 0, &values(|w| w.message(0)));
    b.write_to(&path);
    let o = run(analyze(&["logs", "--ring"]).arg(&path));
    assert_eq!(
        stderr(&o),
        "caro-analyze: 0 slots lost to laps, 1 abandoned by killed writers, 0 corrupt\n"
    );
    assert_eq!(
        stdout(&o).lines().count(),
        2,
        "one event, then a blank line"
    );
}

#[test]
fn a_closed_stdout_ends_quietly_with_success() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.ring");
    design_ring().write_to(&path);
    for args in [&["logs", "--ring"][..], &["status", "--ring"][..]] {
        let mut child = analyze(args)
            .arg(&path)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take()); // closed before the first write
        let o = child.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{args:?}");
        assert_eq!(stderr(&o), "", "{args:?}");
    }
}

/// Reads lines of a child's stdout on a thread, so a test can wait for one
/// with a timeout.
fn line_reader(stdout: std::process::ChildStdout) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn next_json(rx: &mpsc::Receiver<String>) -> Value {
    let line = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("a line within 10 s");
    serde_json::from_str(&line).unwrap()
}

/// `logs --follow --format json ARGS --ring PATH`, started, and its
/// stdout's lines.
fn follow(args: &[&str], path: &Path) -> (Child, mpsc::Receiver<String>) {
    let mut child =
        analyze(&[&["logs", "--follow", "--format", "json"], args, &["--ring"]].concat())
            .arg(path)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
    let rx = line_reader(child.stdout.take().unwrap());
    (child, rx)
}

/// Stops a follower; returns what it said on stderr.
fn stop(mut child: Child) -> String {
    child.kill().unwrap();
    stderr(&child.wait_with_output().unwrap())
}

/// The values of a `step` event: its message and `n`.
fn step(n: u64) -> ValueWriter {
    values(move |w| {
        w.message(0);
        w.u64(1, n);
    })
}

#[test]
fn follow_prints_records_appended_after_it_started() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.ring");
    let mut b = RingBuilder::new(T0);
    let cs = b.event_callsite(Level::Info, "caro::agent", "step", &["message", "n"]);
    b.event(MAIN, T0, cs, 0, &step(1));
    b.write_to(&path);

    // `-n 1`: the one record already there is printed, and says that the
    // follower has read the ring.
    let (child, rx) = follow(&["-n", "1"], &path);
    assert_eq!(next_json(&rx)["fields"]["n"], 1);

    // A record committed after the follower started, written in place.
    b.event(MAIN, T0 + 1_000, cs, 0, &step(2));
    b.update_in_place(&path);
    let line = next_json(&rx);
    assert_eq!(
        line["fields"],
        serde_json::json!({"n": 2, "message": "step"})
    );

    // A new callsite and two records at once, one of them in the alert lane.
    let warn = b.event_callsite(Level::Warn, "caro::safety", "careful", &["message"]);
    b.event(ALERT, T0 + 2_000, warn, 0, &values(|w| w.message(0)));
    b.event(MAIN, T0 + 3_000, cs, 0, &step(3));
    b.update_in_place(&path);
    assert_eq!(next_json(&rx)["level"], "WARN");
    assert_eq!(next_json(&rx)["fields"]["n"], 3);

    // A writer claims a slot and is still writing it when a later record
    // in the same lane is committed: the later one is printed at once,
    // the pending one when it is committed, and each once only.
    let slow = b.claim(MAIN, T0 + 4_000);
    b.event(MAIN, T0 + 5_000, cs, 0, &step(5));
    b.update_in_place(&path);
    assert_eq!(next_json(&rx)["fields"]["n"], 5);
    b.record_at(
        MAIN,
        slow,
        RecordKind::Event,
        T0 + 4_000,
        cs,
        0,
        7,
        &step(4),
    );
    b.update_in_place(&path);
    assert_eq!(next_json(&rx)["fields"]["n"], 4);

    // The ring is recreated: everything in the new one is printed.
    let mut fresh = RingBuilder::new(T0 + 10_000);
    let cs = fresh.event_callsite(Level::Info, "caro::agent", "again", &["message"]);
    fresh.event(MAIN, T0 + 20_000, cs, 0, &values(|w| w.message(0)));
    let tmp = dir.path().join("events.ring.tmp");
    fresh.write_to(&tmp);
    std::fs::rename(&tmp, &path).unwrap();
    assert_eq!(next_json(&rx)["fields"]["message"], "again");

    // Nothing is printed twice.
    assert!(rx.recv_timeout(Duration::from_millis(1500)).is_err());
    assert_eq!(
        stop(child),
        "caro-analyze: the ring was recreated; following the new one\n"
    );
}

/// Lines that arrive within `quiet` of each other, until none does.
fn lines_until_quiet(rx: &mpsc::Receiver<String>, quiet: Duration) -> Vec<Value> {
    std::iter::from_fn(|| rx.recv_timeout(quiet).ok())
        .map(|l| serde_json::from_str(&l).unwrap())
        .collect()
}

#[test]
fn follow_starts_from_now() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.ring");
    // Lanes of 1024 slots: room for every record this test may write.
    let geometry = caro_format::Geometry::uniform(1, 10, 10, 8192, 16);
    let mut b = RingBuilder::with_geometry(geometry, T0);
    let cs = b.event_callsite(Level::Info, "caro::agent", "step", &["message", "n"]);
    for n in 1..=3 {
        b.event(MAIN, T0 + n, cs, 0, &step(n));
    }
    b.write_to(&path);

    let (child, rx) = follow(&[], &path);
    // Nothing says when the follower has read the ring: new records are
    // written, one every half second, until one is printed. Those written
    // before its first read are history, and not printed either.
    let mut n = 100;
    let first = loop {
        n += 1;
        assert!(n < 160, "no new record printed within 30 s");
        b.event(MAIN, T0 + n, cs, 0, &step(n));
        b.update_in_place(&path);
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(500)) {
            break serde_json::from_str::<Value>(&line).unwrap();
        }
    };
    let mut printed = vec![first];
    printed.extend(lines_until_quiet(&rx, Duration::from_millis(1500)));
    let ns: Vec<u64> = printed
        .iter()
        .map(|l| l["fields"]["n"].as_u64().unwrap())
        .collect();
    let from = ns[0];
    assert!(from > 100, "the old records are not printed: {ns:?}");
    assert_eq!(
        ns,
        (from..=n).collect::<Vec<_>>(),
        "each new one, once, in order"
    );

    // Once following, every new record is printed.
    b.event(MAIN, T0 + n + 1, cs, 0, &step(n + 1));
    b.update_in_place(&path);
    assert_eq!(next_json(&rx)["fields"]["n"], n + 1);
    assert!(rx.recv_timeout(Duration::from_millis(1500)).is_err());
    assert_eq!(stop(child), "");
}

#[test]
fn follow_with_n_prints_that_many_old_events_first() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.ring");
    let mut b = RingBuilder::new(T0);
    let cs = b.event_callsite(Level::Info, "caro::agent", "step", &["message", "n"]);
    let warn = b.event_callsite(Level::Warn, "caro::safety", "careful", &["message", "n"]);
    for n in 1..=5 {
        b.event(MAIN, T0 + n, cs, 0, &step(n));
    }
    b.write_to(&path);

    let (child, rx) = follow(&["-n", "2"], &path);
    assert_eq!(next_json(&rx)["fields"]["n"], 4);
    assert_eq!(next_json(&rx)["fields"]["n"], 5);
    // The history is printed once the ring is read: what comes now is new.
    assert!(rx.recv_timeout(Duration::from_millis(1500)).is_err());
    b.event(MAIN, T0 + 6, cs, 0, &step(6));
    b.event(ALERT, T0 + 7, warn, 0, &step(7));
    b.update_in_place(&path);
    assert_eq!(next_json(&rx)["fields"]["n"], 6);
    assert_eq!(next_json(&rx)["fields"]["n"], 7);
    assert!(rx.recv_timeout(Duration::from_millis(1500)).is_err());
    assert_eq!(stop(child), "");

    // Filters apply to the history and to what follows.
    let (child, rx) = follow(&["-n", "5", "--level", "warn"], &path);
    assert_eq!(next_json(&rx)["fields"]["n"], 7);
    assert!(rx.recv_timeout(Duration::from_millis(1500)).is_err());
    b.event(MAIN, T0 + 8, cs, 0, &step(8));
    b.event(ALERT, T0 + 9, warn, 0, &step(9));
    b.update_in_place(&path);
    assert_eq!(next_json(&rx)["fields"]["n"], 9);
    assert!(rx.recv_timeout(Duration::from_millis(1500)).is_err());
    assert_eq!(stop(child), "");
}
