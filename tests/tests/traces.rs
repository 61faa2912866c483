//! `caro-analyze traces` and the store's tail-based sampling, against the
//! truth of a simulated session: the tree of each slow request as caro_sim
//! played it (names, nesting, durations), the policy's choices, and a
//! request cut short by a killed process shown as unfinished.

use std::collections::BTreeMap;
use std::time::Duration;

use caro_tests::DataDir;
use serde_json::Value;

fn traces_json(home: &DataDir, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["traces", "--json"];
    all.extend(args);
    let out = home.analyze_ok(&all);
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A trace's spans depth first: (name, depth, start offset ns, duration ns).
fn flatten(span: &Value, depth: u64, out: &mut Vec<(String, u64, f64, f64)>) {
    out.push((
        span["name"].as_str().unwrap().to_owned(),
        depth,
        span["offset_ms"].as_f64().unwrap() * 1e6,
        span["duration_ms"].as_f64().unwrap() * 1e6,
    ));
    for c in span["children"].as_array().unwrap() {
        flatten(c, depth + 1, out);
    }
}

#[test]
fn the_tree_of_every_slow_request_is_the_one_caro_played() {
    let mut home = DataDir::new();
    home.set_env("CARO_RING_SIZE", "64M");
    let truth = home.sim_truth(&["--queries", "300", "--seed", "21", "--threads", "2"]);
    let slow = truth["slow_trees"].as_object().unwrap();
    assert!(slow.len() >= 10, "the workload has slow requests");
    assert_eq!(slow.len() as u64, truth["slow_requests"].as_u64().unwrap());

    let traces = traces_json(&home, &["--slow", "1s", "--last", "100000"]);
    let by_request: BTreeMap<String, &Value> = traces
        .iter()
        .map(|t| (t["request_id"].to_string(), t))
        .collect();
    assert_eq!(
        by_request.keys().collect::<Vec<_>>(),
        slow.keys().collect::<Vec<_>>(),
        "`traces --slow 1s` shows exactly the requests that took more than a second"
    );
    for (id, spans) in slow {
        let t = by_request[id];
        let why = t["kept"].as_str().unwrap();
        assert!(
            why == "slow" || (why == "error" && t["error"] == true),
            "{id}: {why}"
        );
        assert_eq!(t["unfinished"], false);
        let mut got = Vec::new();
        flatten(&t["root"], 0, &mut got);
        // caro_sim serves requests on threads it spawned: each says which
        // process it is in.
        let mut stack = vec![&t["root"]];
        while let Some(span) = stack.pop() {
            assert_eq!(span["pid"], truth["pid"], "request {id}: {span}");
            stack.extend(span["children"].as_array().unwrap());
        }
        let spans = spans.as_array().unwrap();
        let start = spans[0]["start_ns"].as_u64().unwrap();
        assert_eq!(got.len(), spans.len(), "request {id}: {got:?}");
        for (g, s) in got.iter().zip(spans) {
            let want = (
                s["name"].as_str().unwrap(),
                s["depth"].as_u64().unwrap(),
                (s["start_ns"].as_u64().unwrap() - start) as f64,
                s["duration_ns"].as_u64().unwrap() as f64,
            );
            assert_eq!((g.0.as_str(), g.1), (want.0, want.1), "request {id}");
            // Milliseconds as a double: exact to well under a microsecond.
            assert!(
                (g.2 - want.2).abs() < 1.0,
                "{id} {}: start {g:?} {want:?}",
                g.0
            );
            assert!((g.3 - want.3).abs() < 1.0, "{id} {}: {g:?} {want:?}", g.0);
        }
        // The bottleneck is the span with the most self time.
        let self_ms = |v: &Value| v["self_ms"].as_f64().unwrap();
        let mut best = (String::new(), -1.0);
        let mut stack = vec![&t["root"]];
        while let Some(s) = stack.pop() {
            if s["name"] != "process_query" && self_ms(s) > best.1 {
                best = (s["name"].as_str().unwrap().to_owned(), self_ms(s));
            }
            stack.extend(s["children"].as_array().unwrap());
        }
        assert_eq!(t["bottleneck"]["span"], best.0.as_str(), "request {id}");
    }

    // The text draws the same tree, the bottleneck pointed at with its
    // share of the request.
    let text = home.analyze_ok(&["traces", "--slow", "1s", "--last", "1", "--no-ingest"]);
    let text = String::from_utf8(text.stdout).unwrap();
    let last = &traces[traces.len() - 1];
    let bottleneck = last["bottleneck"]["span"].as_str().unwrap();
    let share = last["bottleneck"]["share"].as_f64().unwrap();
    assert!(text.contains("  process_query ["), "{text}");
    assert!(
        text.lines()
            .any(|l| l.contains(&format!("─ {bottleneck} ["))
                && l.contains(&format!("{:.0} % of the request", share * 100.0))),
        "{text}"
    );
    assert!(text.contains("─ validate_safety ["), "{text}");
}

#[test]
fn sampling_keeps_every_error_and_slow_trace_and_a_tenth_of_the_rest() {
    let mut home = DataDir::new();
    home.set_env("CARO_RING_SIZE", "64M");
    home.set_env("CARO_TRACE_FIRST_PER_DAY", "100");
    home.set_env("CARO_TRACE_SAMPLE_RATE", "0.1");
    home.set_env("CARO_TRACE_SLOW_MS", "1000");
    // A session inside one UTC day (yesterday's), so one day's first 100.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let yesterday = chrono::DateTime::from_timestamp(now.as_secs() as i64 - 86_400, 0)
        .unwrap()
        .date_naive();
    let start = format!("{yesterday}T01:00:00Z");
    let truth = home.sim_truth(&[
        "--queries",
        "3000",
        "--seed",
        "22",
        "--time-scale",
        "0",
        "--panics",
        "--start",
        &start,
    ]);
    let report: Value =
        serde_json::from_slice(&home.analyze_ok(&["report", "--json", "--days", "3"]).stdout)
            .unwrap();
    assert_eq!(report["requests"], 3000, "aggregates count every request");

    let db = rusqlite::Connection::open(home.caro_dir().join("metrics.db")).unwrap();
    let kept: BTreeMap<String, u64> = db
        .prepare("SELECT kept, count(*) FROM traces GROUP BY kept")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let failed: u64 = truth["errors_per_category"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum::<u64>()
        + truth["panics"].as_u64().unwrap();
    let errors_in_store: u64 = db
        .query_row(
            "SELECT count(*) FROM events WHERE event_type IN ('command_failed', 'panic')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(errors_in_store, failed);
    assert_eq!(kept["error"], failed, "every error trace: {kept:?}");
    let slow_ok: u64 = db
        .query_row(
            "SELECT count(*) FROM events WHERE latency_ms > 1000 AND event_type NOT IN ('command_failed', 'panic')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(slow_ok > 50);
    assert_eq!(kept["slow"], slow_ok, "every slow trace: {kept:?}");
    let first = kept["first_of_day"];
    assert!(
        (80..=100).contains(&first),
        "the first 100 of the day: {kept:?}"
    );
    let rest = 3000 - failed - slow_ok - first;
    let sampled = kept["sampled"] as f64 / rest as f64;
    assert!(
        (0.07..0.13).contains(&sampled),
        "{sampled:.3} of the other {rest} kept, 0.1 asked: {kept:?}"
    );
    let sampled_after_first: u64 = db
        .query_row(
            "SELECT count(*) FROM traces s WHERE kept = 'sampled' AND start_ns <
               (SELECT max(start_ns) FROM traces WHERE kept = 'first_of_day')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(sampled_after_first, 0, "the first of the day come first");

    // The choice is the trace id's, not chance: a store built again from
    // the same ring keeps the same traces.
    let ids = |db: &rusqlite::Connection| -> Vec<String> {
        db.prepare("SELECT trace_id FROM traces ORDER BY trace_id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let before = ids(&db);
    drop(db);
    std::fs::remove_file(home.caro_dir().join("metrics.db")).unwrap();
    home.analyze_ok(&["ingest"]);
    let db = rusqlite::Connection::open(home.caro_dir().join("metrics.db")).unwrap();
    assert_eq!(ids(&db), before);

    let stored = home.status_json()["store"]["traces"].as_u64();
    assert_eq!(stored, Some(before.len() as u64), "`status` counts them");

    // `--errors` shows only the failed ones.
    let errors = traces_json(&home, &["--errors", "--last", "100000", "--no-ingest"]);
    assert_eq!(errors.len() as u64, failed);
    assert!(errors.iter().all(|t| t["error"] == true));
}

#[test]
fn a_request_cut_short_by_a_killed_caro_is_shown_unfinished() {
    let mut home = DataDir::new();
    home.set_env("CARO_RING_SIZE", "16M");
    // Slow enough (a model load sleeps 70 ms) to be killed inside a request.
    let mut sim = home.spawn_sim(&["--queries", "100000", "--time-scale", "0.05"]);
    std::thread::sleep(Duration::from_millis(1500));
    sim.kill().unwrap();
    sim.wait().unwrap();

    let traces = traces_json(&home, &["--last", "3"]);
    let last = traces.last().expect("traces were recorded");
    assert_eq!(last["unfinished"], true, "{last}");
    assert!(
        last.get("kept").is_none(),
        "still open, not yet kept: {last}"
    );
    assert_eq!(last["root"]["name"], "process_query");
    assert_eq!(last["root"]["unfinished"], true);
    assert!(last["duration_ms"].is_null());
    let text = home.analyze_ok(&["traces", "--last", "1", "--no-ingest"]);
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("process_query [unfinished, ≥ "), "{text}");
    assert!(
        text.lines().next().unwrap().contains("unfinished"),
        "{text}"
    );
}

/// The trace ids the Chrome export holds.
fn exported_ids(home: &DataDir) -> std::collections::BTreeSet<String> {
    let out = home.analyze_ok(&["export", "--format", "chrome", "--no-ingest"]);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    doc["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["args"]["trace_id"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn the_slowest_first_and_any_one_by_the_id_the_exports_use() {
    let mut home = DataDir::new();
    home.set_env("CARO_RING_SIZE", "64M");
    home.sim(&["--queries", "400", "--seed", "23", "--time-scale", "0"]);
    let all = traces_json(&home, &["--last", "100000"]);
    let mut durations: Vec<f64> = all
        .iter()
        .filter_map(|t| t["duration_ms"].as_f64())
        .collect();
    durations.sort_by(|a, b| b.total_cmp(a));

    // --slowest N: the N longest, slowest first.
    let slowest = traces_json(&home, &["--slowest", "5", "--no-ingest"]);
    let got: Vec<f64> = slowest
        .iter()
        .map(|t| t["duration_ms"].as_f64().unwrap())
        .collect();
    assert_eq!(got, durations[..5], "the five slowest, slowest first");
    // With a filter, among those it matches.
    let failed = traces_json(&home, &["--slowest", "3", "--errors", "--no-ingest"]);
    assert!(!failed.is_empty() && failed.len() <= 3);
    assert!(failed.iter().all(|t| t["error"] == true));

    // The text names a trace by the id the exports give it, whole.
    let text = home.analyze_ok(&["traces", "--slowest", "1", "--no-ingest"]);
    let text = String::from_utf8(text.stdout).unwrap();
    let id = slowest[0]["trace_id"].as_str().unwrap();
    assert_eq!(id.len(), 32);
    assert!(
        text.starts_with(&format!("trace {id} at ")),
        "{id}:\n{text}"
    );
    assert!(
        exported_ids(&home).contains(id),
        "{id} in the Chrome export"
    );

    // Looked up by that id, or by its first 16 digits, or in capitals.
    for asked in [id.to_owned(), id[..16].to_owned(), id.to_uppercase()] {
        let one = traces_json(&home, &[&asked, "--no-ingest"]);
        assert_eq!(one.len(), 1, "{asked}");
        assert_eq!(one[0]["trace_id"], id, "{asked}");
        let again = home.analyze_ok(&["traces", &asked, "--no-ingest"]);
        assert_eq!(String::from_utf8(again.stdout).unwrap(), text, "{asked}");
    }
    // An id no trace has: nothing to show, exit code 3.
    let out = home.analyze(&["traces", "0123456789abcdef", "--no-ingest"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("no trace 0123456789abcdef"), "{err}");
}

#[test]
fn events_are_drawn_among_child_spans_in_the_order_they_happened() {
    let mut home = DataDir::new();
    home.set_env("CARO_RING_SIZE", "64M");
    home.sim(&["--queries", "200", "--seed", "24", "--time-scale", "0"]);
    let text = home.analyze_ok(&["traces", "--slowest", "3"]);
    let text = String::from_utf8(text.stdout).unwrap();
    for trace in text.split("\n\n") {
        let lines: Vec<&str> = trace.lines().collect();
        let at = |what: &str| {
            lines
                .iter()
                .position(|l| l.contains(what))
                .unwrap_or_else(|| panic!("no {what:?} in\n{trace}"))
        };
        // caro_sim's request: "processing query" as it starts, the spans
        // of its work, then "command generated" (or its failure) at the
        // end, each an item of the request's span.
        let first = at("INFO processing query");
        let select = at("─ select_backend [");
        let end = lines
            .iter()
            .rposition(|l| l.starts_with("  ├─ · ") || l.starts_with("  └─ · "))
            .unwrap();
        let last_span = lines
            .iter()
            .rposition(|l| l.starts_with("  ├─ ") && !l.starts_with("  ├─ · "))
            .unwrap();
        assert!(
            first < select,
            "the first event above the first span:\n{trace}"
        );
        assert!(
            lines[first].starts_with("  ├─ · "),
            "an item of the root:\n{trace}"
        );
        assert!(
            end > last_span,
            "the last event below the last span:\n{trace}"
        );
        assert!(lines[end].starts_with("  └─ · "), "last of all:\n{trace}");
    }
}
