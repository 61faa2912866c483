//! `caro-analyze report` against the truth: a simulated caro records
//! 20,000 requests, the analyzer ingests the ring, and every count of the
//! report must equal what the simulation did, every percentile the
//! simulated latencies within HdrHistogram's precision.

use std::collections::BTreeMap;

use caro_tests::DataDir;
use serde_json::Value;

const REQUESTS: u64 = 20_000;

/// The value HdrHistogram returns for quantile `q` of `values`: the one
/// of rank ⌈q·n⌉.
fn quantile(sorted: &[u64], q: f64) -> u64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).max(1);
    sorted[rank - 1]
}

/// Whether `reported_ms` is `truth_ns` as a 3-significant-digit histogram
/// of microseconds reports it: the microseconds, up to one part in 1024
/// above (the top of its bucket) plus the microsecond cut.
fn within_precision(reported_ms: f64, truth_ns: u64) -> bool {
    let truth_us = truth_ns as f64 / 1000.0;
    let reported_us = reported_ms * 1000.0;
    reported_us >= truth_us.floor() - 1e-6 && reported_us <= truth_us * (1.0 + 1.0 / 1024.0) + 1.0
}

fn check_latencies(what: &str, reported: &Value, truth: &[u64]) {
    let mut sorted = truth.to_vec();
    sorted.sort_unstable();
    assert_eq!(
        reported["count"].as_u64(),
        Some(sorted.len() as u64),
        "{what}: count"
    );
    for (key, q) in [
        ("p50_ms", 0.50),
        ("p95_ms", 0.95),
        ("p99_ms", 0.99),
        ("max_ms", 1.0),
    ] {
        let r = reported[key].as_f64().unwrap();
        let t = quantile(&sorted, q);
        assert!(
            within_precision(r, t),
            "{what} {key}: reported {r} ms, simulated {} ms",
            t as f64 / 1e6
        );
    }
}

fn counts(v: &Value) -> BTreeMap<String, u64> {
    v.as_object()
        .unwrap()
        .iter()
        .map(|(k, n)| (k.clone(), n.as_u64().unwrap()))
        .collect()
}

#[test]
fn every_figure_of_the_report_matches_the_simulated_truth() {
    let mut home = DataDir::new();
    // Four threads write four lanes: 256 MiB holds every record.
    home.env.push(("CARO_RING_SIZE".into(), "256M".into()));
    let truth_path = home.path().join("truth.json");
    home.sim(&[
        "--queries",
        &REQUESTS.to_string(),
        "--threads",
        "4",
        "--seed",
        "11",
        "--time-scale",
        "0",
        "--panics",
        "--truth",
        truth_path.to_str().unwrap(),
    ]);
    let truth: Value = serde_json::from_slice(&std::fs::read(&truth_path).unwrap()).unwrap();

    let out = home.analyze(&["report", "--json"]);
    assert!(
        out.status.success(),
        "report failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();

    // The simulation covered what the report must get right.
    let per_backend = counts(&truth["requests_per_backend"]);
    let errors = counts(&truth["errors_per_category"]);
    let blocks = counts(&truth["safety_blocks_per_risk"]);
    assert_eq!(per_backend.len(), 5, "every backend: {per_backend:?}");
    assert_eq!(errors.len(), 9, "every error category: {errors:?}");
    assert_eq!(blocks.len(), 2, "both blocking risk levels: {blocks:?}");
    let panics = truth["panics"].as_u64().unwrap();
    assert!(panics > 0);

    // Counts, exactly.
    assert_eq!(report["window_days"], 7);
    assert_eq!(report["requests"].as_u64(), Some(REQUESTS));
    assert_eq!(per_backend.values().sum::<u64>(), REQUESTS);
    assert_eq!(counts(&report["errors"]), errors);
    assert_eq!(counts(&report["safety_blocks"]), blocks);
    assert_eq!(report["panics"].as_u64(), Some(panics));
    // Where they happened, in the program's source: one place, the sim's.
    let places = counts(&report["panic_locations"]);
    assert_eq!(places.values().sum::<u64>(), panics, "{places:?}");
    assert!(
        places
            .keys()
            .all(|p| p.starts_with("recorder/examples/caro_sim.rs:")),
        "{places:?}"
    );
    assert_eq!(report["slow_requests"], truth["slow_requests"]);
    let failed = errors.values().sum::<u64>() + blocks.values().sum::<u64>() + panics;
    let rate = report["success_rate"].as_f64().unwrap();
    assert!(
        (rate - (REQUESTS - failed) as f64 / REQUESTS as f64).abs() < 1e-12,
        "success rate {rate}"
    );
    let backends = report["backends"].as_object().unwrap();
    assert_eq!(backends.len(), per_backend.len());
    for (name, n) in &per_backend {
        let b = &backends[name];
        assert_eq!(b["count"].as_u64(), Some(*n), "{name}");
        let share = b["share"].as_f64().unwrap();
        assert!(
            (share - *n as f64 / REQUESTS as f64).abs() < 1e-12,
            "{name} share"
        );
    }
    // The metrics the simulation emitted as fields.
    let counters = &report["counters"];
    let generated = REQUESTS - failed;
    assert_eq!(
        counters["caro_commands_generated_total"].as_f64(),
        Some(generated as f64)
    );
    assert_eq!(
        counters["caro_commands_failed_total"].as_f64(),
        Some(errors.values().sum::<u64>() as f64)
    );
    assert_eq!(
        counters["caro_safety_blocks_total"].as_f64(),
        Some(blocks.values().sum::<u64>() as f64)
    );
    let latency = &report["histograms"]["caro_backend_latency_seconds"];
    assert_eq!(latency["count"].as_u64(), Some(generated));
    assert!(latency["p50"].as_f64().unwrap() < latency["max"].as_f64().unwrap());

    // Nothing was lost, so nothing is reported lost.
    let recorder = &report["recorder"];
    for key in ["lost", "abandoned", "dropped", "corrupt"] {
        assert_eq!(recorder[key], 0, "recorder {key}");
    }
    // Each request records its spans' creations and closes and its events.
    assert!(recorder["written"].as_u64().unwrap() > REQUESTS * 15);
    assert_eq!(report["processes"]["count"], 1);
    // The simulation is one process: one invocation, panicked (its panics
    // were caught), without an exit status (it ends by returning).
    let invocations = &report["invocations"];
    assert_eq!(invocations["count"], 1, "{invocations}");
    assert_eq!(invocations["outcomes"]["panicked"], 1, "{invocations}");
    assert_eq!(invocations["exit_statuses"], serde_json::json!({}));

    // Latencies, within the histograms' precision.
    for (name, ns) in truth["request_ns"].as_object().unwrap() {
        let ns: Vec<u64> = serde_json::from_value(ns.clone()).unwrap();
        check_latencies(&format!("backend {name}"), &backends[name], &ns);
    }
    let spans = report["spans"].as_object().unwrap();
    let truth_spans = truth["span_ns"].as_object().unwrap();
    assert_eq!(
        spans.keys().collect::<Vec<_>>(),
        truth_spans.keys().collect::<Vec<_>>(),
        "the span tree's names"
    );
    for (name, ns) in truth_spans {
        let ns: Vec<u64> = serde_json::from_value(ns.clone()).unwrap();
        check_latencies(&format!("span {name}"), &spans[name], &ns);
    }

    // By backend too: only the embedded backend loads a model, and every
    // backend's spans add up to the span's total.
    let by_backend = report["span_backends"].as_object().unwrap();
    let load_model = by_backend["load_model"].as_object().unwrap();
    assert_eq!(load_model.keys().collect::<Vec<_>>(), ["embedded"]);
    for (span, backends) in by_backend {
        let n: u64 = backends
            .as_object()
            .unwrap()
            .values()
            .map(|l| l["count"].as_u64().unwrap())
            .sum();
        assert_eq!(Some(n), spans[span]["count"].as_u64(), "{span}");
    }

    // The model load dominates the slowest requests, and the report says so.
    let b = &report["bottleneck"];
    assert_eq!(b["span"], "load_model", "{b}");
    assert_eq!(b["of"], "process_query");
    let share = b["share"].as_f64().unwrap();
    assert!(share > 0.5 && share < 1.0, "{share}");

    // The text form says the same to a person, without colour off a terminal.
    let out = home.analyze(&["report", "--no-ingest"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains('\x1b'), "colour off a terminal:\n{text}");
    assert!(text.contains("20,000 requests"), "{text}");
    assert!(
        text.contains(&format!(
            "load_model is {:.0} % of process_query at p95",
            share * 100.0
        )),
        "{text}"
    );
    for backend in per_backend.keys() {
        assert!(text.contains(backend.as_str()), "{backend} in\n{text}");
    }

    // The store in the status, and a panic's snapshot of the ring, which
    // the analyzer reads like the ring itself.
    let status = home.status_json();
    assert_eq!(status["store"]["requests"].as_u64(), Some(REQUESTS));
    let crashes: Vec<_> = std::fs::read_dir(home.path().join("caro/crashes"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(crashes.len(), 1, "one snapshot per ingest that saw panics");
    let out = home.analyze(&[
        "logs",
        "--format",
        "json",
        "--ring",
        crashes[0].to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let panics_in_snapshot = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| l.contains(r#""target":"panic""#))
        .count();
    assert_eq!(panics_in_snapshot as u64, panics);

    // A second ingest finds nothing new and changes no figure.
    let again = home.analyze(&["report", "--json"]);
    let again: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(again["requests"], report["requests"]);
    assert_eq!(again["backends"], report["backends"]);
    assert_eq!(again["recorder"]["written"], report["recorder"]["written"]);
}

#[test]
fn ingests_while_caro_runs_count_every_request_once() {
    let mut home = DataDir::new();
    home.env.push(("CARO_RING_SIZE".into(), "64M".into()));
    let truth_path = home.path().join("truth.json");
    // Two processes sleeping a little simulated time, so that ingests
    // land in the middle of requests, records being written and spans
    // open across ingests.
    let mut sims: Vec<_> = [("21", &truth_path), ("22", &home.path().join("t2.json"))]
        .iter()
        .map(|(seed, truth)| {
            home.spawn_sim(&[
                "--queries",
                "1500",
                "--threads",
                "2",
                "--seed",
                seed,
                "--time-scale",
                "0.004",
                "--truth",
                truth.to_str().unwrap(),
            ])
        })
        .collect();
    let mut ingests = 0;
    while sims.iter_mut().any(|s| s.try_wait().unwrap().is_none()) {
        if home.ring().exists() {
            let out = home.analyze(&["ingest"]);
            assert!(
                out.status.success(),
                "ingest during recording failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            ingests += 1;
        }
    }
    for s in &mut sims {
        assert!(s.wait().unwrap().success());
    }
    assert!(ingests >= 3, "only {ingests} ingests ran during recording");
    let out = home.analyze(&["report", "--json"]);
    assert!(out.status.success());
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();

    let mut per_backend = BTreeMap::new();
    let mut errors = BTreeMap::new();
    for path in [truth_path, home.path().join("t2.json")] {
        let truth: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        for (k, n) in counts(&truth["requests_per_backend"]) {
            *per_backend.entry(k).or_insert(0) += n;
        }
        for (k, n) in counts(&truth["errors_per_category"]) {
            *errors.entry(k).or_insert(0) += n;
        }
    }
    assert_eq!(report["requests"], 3000, "after {ingests} ingests");
    assert_eq!(counts(&report["errors"]), errors);
    for (name, n) in &per_backend {
        assert_eq!(
            report["backends"][name]["count"].as_u64(),
            Some(*n),
            "{name}"
        );
    }
    let recorder = &report["recorder"];
    for key in ["lost", "abandoned", "dropped", "unfinished", "corrupt"] {
        assert_eq!(recorder[key], 0, "recorder {key}");
    }
    assert_eq!(report["processes"]["count"], 2);
}

/// Runs `caro-analyze args` in `home` on a pseudo-terminal (`script`,
/// from util-linux), returning everything it wrote there.
fn on_terminal(home: &DataDir, args: &str, env: &[(&str, &str)]) -> String {
    let mut c = caro_tests::Tool::Script.command();
    c.args(["-qec"])
        .arg(format!("{} {args}", caro_tests::bins().analyze.display()))
        .arg("/dev/null")
        .env("XDG_CACHE_HOME", home.path())
        .env_remove("NO_COLOR")
        .env("TERM", "xterm");
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().expect("script (util-linux) runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn colour_and_progress_only_on_a_terminal() {
    if caro_tests::missing(caro_tests::Tool::Script) {
        return;
    }
    let mut home = DataDir::new();
    home.env.push(("CARO_RING_SIZE".into(), "64M".into()));
    home.sim(&["--queries", "6000", "--threads", "4", "--time-scale", "0"]);

    // A long ingest shows its progress on a terminal, and clears it.
    let ingest = on_terminal(&home, "ingest", &[]);
    assert!(ingest.contains("ingesting"), "{ingest:?}");
    assert!(ingest.contains("(6000 requests)"), "{ingest:?}");

    let coloured = on_terminal(&home, "report --no-ingest", &[]);
    assert!(
        coloured.contains("\x1b["),
        "colour on a terminal: {coloured:?}"
    );
    assert!(coloured.contains("6,000 requests"), "{coloured}");
    let plain = on_terminal(&home, "report --no-ingest", &[("NO_COLOR", "1")]);
    assert!(!plain.contains('\x1b'), "NO_COLOR is honoured: {plain:?}");
    assert!(plain.contains("6,000 requests"), "{plain}");

    // Off a terminal: no bar on stderr, no colour on stdout.
    let again = home.analyze(&["ingest"]);
    assert!(again.stderr.is_empty());
    let out = home.analyze(&["report", "--no-ingest"]);
    assert!(!String::from_utf8_lossy(&out.stdout).contains('\x1b'));
}

#[test]
fn records_lost_to_laps_before_an_ingest_are_counted_and_reported() {
    let mut home = DataDir::new();
    // A small ring: 2,000 requests lap it many times before the ingest.
    home.env.push(("CARO_RING_SIZE".into(), "1M".into()));
    home.sim(&["--queries", "2000", "--time-scale", "0"]);
    let status = home.status_json();
    let lost = status["lost_to_laps"].as_u64().unwrap();
    assert!(lost > 10_000, "the ring lapped: {status}");

    let out = home.analyze(&["ingest"]);
    assert!(out.status.success());
    let said = String::from_utf8(out.stdout).unwrap();
    assert!(
        said.contains(&format!("{lost} slots lost to laps")),
        "{said}"
    );
    let report: Value =
        serde_json::from_slice(&home.analyze(&["report", "--json"]).stdout).unwrap();
    assert_eq!(report["recorder"]["lost"].as_u64(), Some(lost));
    assert_eq!(report["recorder"]["written"], status["records"]);
    let requests = report["requests"].as_u64().unwrap();
    assert!(
        requests > 0 && requests < 2000,
        "only what survived: {requests}"
    );
    let text = String::from_utf8(home.analyze(&["report", "--no-ingest"]).stdout).unwrap();
    assert!(
        text.contains(&format!(
            "{} slots lost to laps",
            caro_analyze::report::thousands(lost)
        )),
        "{text}"
    );
}

#[test]
fn unreadable_slots_are_counted_not_skipped() {
    // The golden ring holds a damaged record and records of a kind from a
    // newer format.
    let golden = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../format-spec/golden/v1.2.ring"
    );
    let home = DataDir::new();
    let status = home.analyze(&["status", "--json", "--ring", golden]);
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    let unreadable =
        status["corrupt"].as_u64().unwrap() + status["unknown_kinds"].as_u64().unwrap();
    assert!(unreadable > 0, "{status}");

    let out = home.analyze(&["ingest", "--ring", golden]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = home.analyze(&["report", "--json", "--no-ingest"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["recorder"]["corrupt"].as_u64(),
        Some(unreadable),
        "{report}"
    );
}
