//! End to end, with real processes: simulated caro sessions write one ring
//! at once; `caro-analyze` must read back exactly what they did.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use caro_tests::{counts, logged_events, truth_events, DataDir};

fn read_truth(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn four_processes_of_two_threads_each_lose_nothing() {
    let home = DataDir::new();
    let truths: Vec<_> = (1..=4)
        .map(|i| home.path().join(format!("truth{i}.json")))
        .collect();
    let children: Vec<_> = truths
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let seed = (i + 1).to_string();
            home.spawn_sim(&[
                "--queries",
                "150",
                "--seed",
                &seed,
                "--threads",
                "2",
                "--truth",
                t.to_str().unwrap(),
            ])
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let lines = home.logs_json();
    let truths: Vec<_> = truths.iter().map(|t| read_truth(t)).collect();
    let expected: Vec<_> = truths.iter().flat_map(truth_events).collect();
    assert!(
        expected.len() > 4 * 150,
        "each request logs at least two events"
    );
    assert_eq!(lines.len(), expected.len(), "no line the sims did not emit");
    assert_eq!(
        counts(logged_events(&lines)),
        counts(expected),
        "exactly the events the sims emitted"
    );
    // What the sims did, as the logs tell it.
    let sum = |key: &str| -> BTreeMap<String, u64> {
        let mut m = BTreeMap::new();
        for t in &truths {
            for (k, v) in t[key].as_object().unwrap() {
                *m.entry(k.clone()).or_default() += v.as_u64().unwrap();
            }
        }
        m
    };
    let tally = |message: &str, field: &str| -> BTreeMap<String, u64> {
        counts(
            lines
                .iter()
                .filter(|l| l["fields"]["message"] == message)
                .map(|l| l["fields"][field].as_str().unwrap().to_owned()),
        )
        .into_iter()
        .map(|(k, v)| (k, v as u64))
        .collect()
    };
    assert_eq!(
        tally("command generation failed", "error"),
        sum("errors_per_category")
    );
    assert_eq!(
        tally("unsafe command blocked", "risk_level"),
        sum("safety_blocks_per_risk")
    );
    // Backends are span fields: count the generate_command spans.
    let d = caro_format::decode(&std::fs::read(home.ring()).unwrap()).unwrap();
    let mut backends = BTreeMap::new();
    for r in d
        .records
        .iter()
        .filter(|r| r.kind == caro_format::RecordKind::SpanNew)
    {
        if d.dictionary.callsites[&r.callsite].name == "generate_command" {
            let backend =
                caro_format::text::value_text(&r.values[0].value, r.callsite, &d.dictionary);
            *backends
                .entry(backend.trim_matches('"').to_owned())
                .or_default() += 1;
        }
    }
    assert_eq!(backends, sum("requests_per_backend"));
    for l in &lines {
        assert!(
            l["timestamp"]
                .as_str()
                .is_some_and(|t| t.ends_with('Z') && t.len() == 24),
            "{l}"
        );
        assert!(
            ["INFO", "WARN", "ERROR"].contains(&l["level"].as_str().unwrap()),
            "{l}"
        );
    }
    // Events inside a request carry its span.
    let generated = lines
        .iter()
        .find(|l| l["fields"]["message"] == "command generated")
        .unwrap();
    assert_eq!(generated["span"]["name"], "process_query", "{generated}");
    assert_eq!(
        generated["span"]["request_id"],
        generated["fields"]["request_id"]
    );

    let status = home.status_json();
    for key in ["lost_to_laps", "abandoned", "corrupt", "pending"] {
        assert_eq!(status[key], 0, "{key}: {status}");
    }
    assert_eq!(status["writers"]["processes"], 4, "{status}");
    assert_eq!(status["writers"]["process_start_pids"], 4, "{status}");

    // The reference decoder reads the same real ring the same way.
    let bytes = std::fs::read(home.ring()).unwrap();
    let rust = caro_format::text::canonical_text(&caro_format::decode(&bytes).unwrap());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../format-spec/reference/decode.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(home.ring())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8(out.stdout).unwrap() == rust,
        "Python and Rust decoders disagree on a live ring"
    );
}

#[test]
fn a_lapped_ring_shows_the_newest_events_and_counts_the_rest() {
    let mut home = DataDir::new();
    // 2048 main slots: two floods of 5000 events lap it many times.
    home.env.push(("CARO_RING_SIZE".into(), "256K".into()));
    let flood = 5_000u64;
    let children: Vec<_> = ["1", "2"]
        .iter()
        .map(|seed| {
            home.spawn_sim(&[
                "--queries",
                "0",
                "--seed",
                seed,
                "--flood",
                &flood.to_string(),
            ])
        })
        .collect();
    for c in children {
        assert!(c.wait_with_output().unwrap().status.success());
    }
    let lines = home.logs_json();
    let mut shown: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for l in &lines {
        if l["fields"]["message"] == "flood" {
            let seed = l["fields"]["seed"].as_u64().unwrap();
            shown
                .entry(seed)
                .or_default()
                .push(l["fields"]["flood"].as_u64().unwrap());
        }
    }
    let status = home.status_json();
    let lost = status["lost_to_laps"].as_u64().unwrap();
    let kept: u64 = shown.values().map(|v| v.len() as u64).sum();
    assert!(lost > 0, "{status}");
    // Flood events take one slot each and are the only main-class records.
    assert_eq!(kept + lost, 2 * flood, "shown + lost = written; {status}");
    for (seed, mut values) in shown {
        values.sort_unstable();
        let first = values[0];
        assert_eq!(
            values,
            (first..flood).collect::<Vec<_>>(),
            "seed {seed}: the newest events, none missing"
        );
    }
}

#[test]
fn a_flood_never_evicts_warnings_and_errors() {
    let mut home = DataDir::new();
    home.env.push(("CARO_RING_SIZE".into(), "256K".into()));
    let truth = home.path().join("truth.json");
    home.sim(&[
        "--queries",
        "120",
        "--seed",
        "5",
        "--flood",
        "20000",
        "--truth",
        truth.to_str().unwrap(),
    ]);
    let truth = read_truth(&truth);
    let alerts: Vec<_> = truth["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["level"] == "WARN" || e["level"] == "ERROR")
        .map(|e| {
            (
                e["request_id"].as_u64().unwrap(),
                e["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(!alerts.is_empty());
    let lines = home.logs_json();
    let logged = counts(logged_events(&lines));
    for a in &alerts {
        assert!(logged.contains_key(a), "{a:?} was evicted by the flood");
    }
    assert!(home.status_json()["lost_to_laps"].as_u64().unwrap() > 0);
}

#[test]
fn a_writer_killed_mid_run_leaves_no_garbage() {
    let home = DataDir::new();
    // Kill busy writers until one dies mid-record (it usually takes one or
    // two kills: two threads spend most of their time writing).
    let mut unfinished = 0;
    let mut kills = 0;
    while unfinished == 0 && kills < 20 {
        let seed = (10 + kills).to_string();
        let mut child = home.spawn_sim(&[
            "--queries",
            "1000000",
            "--seed",
            &seed,
            "--threads",
            "2",
            "--time-scale",
            "0",
        ]);
        std::thread::sleep(Duration::from_millis(200 + 37 * kills));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        kills += 1;
        let t = caro_format::decode(&std::fs::read(home.ring()).unwrap())
            .unwrap()
            .totals();
        unfinished = t.abandoned + t.pending;
    }
    assert!(unfinished > 0, "{kills} kills and none landed mid-record");
    eprintln!("a kill landed mid-record after {kills} kills ({unfinished} slots unfinished)");
    let bytes = std::fs::read(home.ring()).unwrap();
    let decoded = caro_format::decode(&bytes).unwrap();
    let totals = decoded.totals();
    assert_eq!(totals.corrupt, 0, "{totals:?}");
    assert!(totals.records > 1000, "{totals:?}");

    let lines = home.logs_json();
    let messages = [
        "processing query",
        "command generated",
        "command generation failed",
        "unsafe command blocked",
        "slow request",
    ];
    for l in &lines {
        let id = l["fields"]["request_id"]
            .as_u64()
            .unwrap_or_else(|| panic!("no request id: {l}"));
        assert!((10_000_000..30_000_000).contains(&id), "{l}");
        assert!(
            messages.contains(&l["fields"]["message"].as_str().unwrap()),
            "{l}"
        );
        assert_ne!(l["target"], "<unknown callsite>", "{l}");
    }
    let status = home.status_json();
    assert_eq!(status["corrupt"], 0, "{status}");
}
