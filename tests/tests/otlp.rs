//! `caro-analyze export --format otlp` against the OpenTelemetry project's
//! own definitions: the PyPI package `opentelemetry-proto`, whose
//! `ExportTraceServiceRequest` and `ExportMetricsServiceRequest` protobuf's
//! `json_format.Parse` fills from our JSON, rejecting any unknown field
//! (`otlp/check.py`), and an OTLP/HTTP receiver built on them that the
//! tests start on loopback (`otlp/receiver.py`).
//!
//! Needs a python3 with `opentelemetry-proto` (`CARO_TEST_OTLP_PYTHON`,
//! which scripts/test sets up); without it the tests skip, saying so.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use caro_analyze::export::metrics::{Family, Kind, Point, Series, Snapshot};
use caro_tests::{missing, DataDir, Tool};
use serde_json::Value;

const QUERIES: u64 = 300;

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("otlp")
        .join(name)
}

const NEEDS: &str = "python3 runs (the OTLP tests need python3 with opentelemetry-proto)";

fn python() -> Command {
    let mut c = Tool::OtlpPython.command();
    // No __pycache__ left in the source tree.
    c.env("PYTHONDONTWRITEBYTECODE", "1");
    c
}

/// `otlp/check.py FILE`: the facts it prints about the two requests in
/// FILE; fails the test if either is not valid OTLP.
fn check(file: &Path) -> Value {
    let out = python()
        .arg(script("check.py"))
        .arg(file)
        .output()
        .expect(NEEDS);
    assert!(
        out.status.success(),
        "otlp/check.py rejected the export ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `otlp/receiver.py` on a free loopback port, killed when dropped.
struct Receiver {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Receiver {
    fn start(dir: &Path, refuse: bool) -> Receiver {
        let log = dir.join(if refuse {
            "refused.jsonl"
        } else {
            "received.jsonl"
        });
        let mut child = python()
            .arg(script("receiver.py"))
            .arg(&log)
            .args(refuse.then_some("--refuse"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect(NEEDS);
        // It binds port 0 and says which port it got: no race for a port.
        let mut line = String::new();
        let _ = BufReader::new(child.stdout.take().unwrap()).read_line(&mut line);
        match line.trim().parse() {
            Ok(port) => Receiver { child, port, log },
            Err(_) => {
                let out = child.wait_with_output().unwrap();
                panic!(
                    "otlp/receiver.py did not start ({}): {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// What it received, one object per request, in order.
    fn requests(&self) -> Vec<Value> {
        match std::fs::read_to_string(&self.log) {
            Ok(text) => text
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect(),
            Err(_) => Vec::new(),
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A simulated session with panics, ingested: the data folder and the
/// simulation's truth.
fn recorded(seed: u64) -> (DataDir, Value) {
    let home = DataDir::new();
    let truth = home.sim_truth(&[
        "--queries",
        &QUERIES.to_string(),
        "--seed",
        &seed.to_string(),
        "--time-scale",
        "0",
        "--panics",
    ]);
    home.analyze_ok(&["ingest"]);
    (home, truth)
}

/// The traces the store kept: their ids, and those of the failed ones.
fn stored_traces(home: &DataDir) -> (BTreeSet<String>, BTreeSet<String>) {
    let db = rusqlite::Connection::open_with_flags(
        home.caro_dir().join("metrics.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let mut all = BTreeSet::new();
    let mut failed = BTreeSet::new();
    let mut stmt = db.prepare("SELECT trace_id, error FROM traces").unwrap();
    let mut rows = stmt.query([]).unwrap();
    while let Some(row) = rows.next().unwrap() {
        let id: String = row.get(0).unwrap();
        if row.get::<_, bool>(1).unwrap() {
            failed.insert(id.clone());
        }
        all.insert(id);
    }
    (all, failed)
}

fn strings(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

fn sum(v: &Value) -> u64 {
    v.as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap())
        .sum()
}

/// The trace facts every export of a recorded session must show.
fn check_traces(facts: &Value, home: &DataDir) {
    assert_eq!(facts["problems"], serde_json::json!([]), "{facts}");
    let (kept, failed) = stored_traces(home);
    assert!(
        !kept.is_empty() && !failed.is_empty(),
        "{kept:?} {failed:?}"
    );
    assert_eq!(strings(&facts["trace_ids"]), kept, "every trace kept, once");
    assert_eq!(
        strings(&facts["error_roots"]),
        failed,
        "failed traces, and only they, have an ERROR root"
    );
    assert!(facts["spans"].as_u64().unwrap() > kept.len() as u64 * 3);
    assert_eq!(facts["resources"], 1, "one process");
}

#[test]
fn the_file_export_is_what_opentelemetry_reads() {
    if missing(Tool::OtlpPython) {
        return;
    }
    let (home, truth) = recorded(21);
    let out = home.analyze_ok(&["export", "--format", "otlp", "--no-ingest"]);
    let file = home.path().join("export.otlp.jsonl");
    std::fs::write(&file, &out.stdout).unwrap();
    let facts = check(&file);
    check_traces(&facts["traces"], &home);
    // Every request is a trace, and the first 1,000 of a day are all kept.
    assert_eq!(
        facts["traces"]["trace_ids"].as_array().unwrap().len() as u64,
        QUERIES
    );

    let m = &facts["metrics"];
    assert_eq!(m["problems"], serde_json::json!([]), "{m}");
    let failed = sum(&truth["errors_per_category"])
        + sum(&truth["safety_blocks_per_risk"])
        + truth["panics"].as_u64().unwrap();
    let generated = m["metrics"]["caro_commands_generated"].clone();
    assert_eq!(generated["type"], "sum", "{m}");
    assert_eq!(generated["unit"], "1");
    assert_eq!(generated["value"].as_f64(), Some((QUERIES - failed) as f64));
    let latency = &m["metrics"]["caro_backend_latency_seconds"];
    assert_eq!(latency["type"], "histogram", "{m}");
    assert_eq!(latency["unit"], "s");
    // Every request's latency, whatever its outcome.
    assert_eq!(sum(&truth["requests_per_backend"]), QUERIES);
    assert_eq!(latency["value"].as_f64(), Some(QUERIES as f64));
}

#[test]
fn the_endpoint_receives_what_the_file_holds() {
    if missing(Tool::OtlpPython) {
        return;
    }
    let (home, _) = recorded(22);
    let receiver = Receiver::start(home.path(), false);
    let out = home.analyze_ok(&[
        "export",
        "--format",
        "otlp",
        "--no-ingest",
        "--endpoint",
        &(receiver.endpoint() + "/"),
    ]);
    assert!(out.stdout.is_empty(), "sent, not written");
    let got = receiver.requests();
    let paths: Vec<&str> = got.iter().map(|r| r["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["/v1/traces", "/v1/metrics"], "{got:?}");
    for r in &got {
        assert_eq!(r["status"], 200, "{r}");
        assert_eq!(r["content_type"], "application/json");
    }
    check_traces(&got[0]["facts"], &home);
    assert_eq!(got[1]["facts"]["problems"], serde_json::json!([]));

    let file_export = home.analyze_ok(&["export", "--format", "otlp", "--no-ingest"]);
    let file = home.path().join("export.otlp.jsonl");
    std::fs::write(&file, &file_export.stdout).unwrap();
    let facts = check(&file);
    assert_eq!(got[0]["facts"]["spans"], facts["traces"]["spans"]);
    assert_eq!(got[0]["facts"]["trace_ids"], facts["traces"]["trace_ids"]);
    assert_eq!(got[1]["facts"]["metrics"], facts["metrics"]["metrics"]);
}

/// `caro-analyze export --endpoint URL` expected to fail to send (exit
/// code 1, a run-time failure): its stderr.
fn export_fails(home: &DataDir, endpoint: &str) -> String {
    let out = home.analyze(&[
        "export",
        "--format",
        "otlp",
        "--no-ingest",
        "--endpoint",
        endpoint,
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "one line: {err:?}");
    err
}

#[test]
fn a_collector_that_is_not_there_or_refuses_is_one_line() {
    let (home, _) = recorded(23);
    // A port just freed: nobody listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = export_fails(&home, &format!("http://127.0.0.1:{port}"));
    assert!(
        err.starts_with(&format!(
            "caro-analyze: error: cannot send to http://127.0.0.1:{port}/v1/traces: "
        )),
        "{err}"
    );

    if missing(Tool::OtlpPython) {
        return;
    }
    let receiver = Receiver::start(home.path(), true);
    let err = export_fails(&home, &receiver.endpoint());
    assert!(
        err.contains("/v1/traces: HTTP 400 Bad Request: "),
        "names the status: {err}"
    );
    assert!(err.contains("refused by the test"), "and the answer: {err}");
    assert_eq!(receiver.requests().len(), 1, "stops at the first refusal");
}

/// The encoding alone, whatever the store's metrics are: a real session's
/// traces, and a snapshot with every kind of point, including what JSON
/// cannot spell as a number.
#[test]
fn every_shape_of_the_encoding_is_what_opentelemetry_reads() {
    if missing(Tool::OtlpPython) {
        return;
    }
    let (home, _) = recorded(24);
    let paths = caro_analyze::store::ingest::DataPaths::in_dir(&home.caro_dir());
    let store = paths.open_store().unwrap();
    let traces: Vec<_> =
        caro_analyze::store::read_traces(&store, &caro_analyze::store::TraceQuery::default())
            .unwrap()
            .into_iter()
            .map(|(t, _)| t)
            .collect();
    let histogram = |count, buckets| Point::Histogram {
        count,
        sum: 12.5,
        buckets,
    };
    let snapshot = Snapshot {
        start_ns: 1_700_000_000_000_000_000,
        time_ns: 1_700_000_600_000_000_000,
        families: vec![
            Family {
                name: "caro_commands_generated".into(),
                help: "Commands generated.".into(),
                unit: None,
                kind: Kind::Counter,
                series: vec![
                    Series {
                        labels: vec![("backend", "embedded".into())],
                        value: Point::Number(40.0),
                    },
                    Series {
                        labels: vec![("backend", "ollama".into())],
                        value: Point::Number(2.0),
                    },
                ],
            },
            Family {
                name: "caro_model_size_bytes".into(),
                help: "Model size.".into(),
                unit: Some("bytes"),
                kind: Kind::Gauge,
                series: vec![Series {
                    labels: vec![],
                    value: Point::Number(f64::NAN),
                }],
            },
            Family {
                name: "caro_backend_latency_seconds".into(),
                help: "Backend latency.".into(),
                unit: Some("seconds"),
                kind: Kind::Histogram,
                series: vec![
                    Series {
                        labels: vec![("backend", "embedded".into())],
                        value: histogram(10, vec![(0.5, 2), (1.0, 2), (2.5, 7)]),
                    },
                    Series {
                        labels: vec![("backend", "ollama".into())],
                        value: histogram(0, vec![]),
                    },
                ],
            },
        ],
    };
    let t = caro_analyze::export::otlp::traces_request(&traces, Some("0.0.0-test"));
    let m_request = caro_analyze::export::otlp::metrics_request(&snapshot, Some("0.0.0-test"));
    let file = home.path().join("encoded.otlp.jsonl");
    let mut f = std::fs::File::create(&file).unwrap();
    for request in [&t, &m_request] {
        serde_json::to_writer(&mut f, request).unwrap();
        writeln!(f).unwrap();
    }
    drop(f);
    let facts = check(&file);
    check_traces(&facts["traces"], &home);
    let m = &facts["metrics"];
    assert_eq!(m["problems"], serde_json::json!([]), "{m}");
    assert_eq!(m["metrics"]["caro_commands_generated"]["value"], 42.0);
    assert_eq!(m["metrics"]["caro_commands_generated"]["points"], 2);
    assert_eq!(m["metrics"]["caro_model_size_bytes"]["value"], "nan");
    assert_eq!(m["metrics"]["caro_model_size_bytes"]["unit"], "By");
    assert_eq!(m["metrics"]["caro_backend_latency_seconds"]["value"], 10.0);

    // And posted as they are, a receiver takes both.
    let receiver = Receiver::start(home.path(), false);
    caro_analyze::export::otlp::post(&receiver.endpoint(), &t, &m_request).unwrap();
    let got = receiver.requests();
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got.iter().all(|r| r["status"] == 200), "{got:?}");
    assert_eq!(got[0]["facts"]["spans"], facts["traces"]["spans"]);
    assert_eq!(got[1]["facts"]["metrics"], facts["metrics"]["metrics"]);
}
