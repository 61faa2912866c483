//! A host that records no span — the real caro: one request per process,
//! `format!` messages, `std::process::exit` at the end — is measured by
//! its invocations, one per process run.
//!
//! `caro_like` (written as caro writes its logs, ending with
//! `guard.exit(status)`) runs four times, ending with statuses 0, 0, 3
//! and 1, then once more, killed (SIGKILL) while it waits to print its
//! command. Then, as a user would check:
//!
//! - `report --json` counts the four that ended, by outcome and exit
//!   status, their durations' percentiles, their version, and their
//!   warnings by callsite, each as its program text with `{}` for the
//!   run-time arguments and no run-time value;
//! - the text report opens with them instead of "No requests recorded";
//! - `traces` shows each as a trace whose root is `invocation`, with its
//!   log lines, the killed one unfinished;
//! - the Prometheus export passes promtool and counts them; the OTLP
//!   export is what OpenTelemetry's definitions read;
//! - once something records a day later, the killed one is given up as
//!   unfinished; `--request-span` picks which root spans are requests.

use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use caro_tests::{bins, missing, promtool_check, report, DataDir, Tool};
use serde_json::{json, Value};

/// The runs that end: their options and query, and the status each ends with.
const RUNS: [(&[&str], &str, i32); 4] = [
    // Ollama's command has a pipe: a warning that it needs confirmation.
    (&[], "show disk usage of the quarterly invoices folder", 0),
    // The embedded model's first answer does not parse: a warning.
    (
        &["--backend", "embedded"],
        "find photos of Anneliese from the Zanzibar trip",
        0,
    ),
    // Ollama fails over to the embedded model: two warnings.
    (
        &["--offline"],
        "compress the tax return folder for Gwendolyn",
        3,
    ),
    // The static matcher: no warning.
    (&[], "list all pdf files in my documents", 1),
];

/// The run that is killed: as the first, so it warns too.
const KILLED: &str = "show disk usage of the photo archive";

/// The host's version, as `caro_like` gives it (the workspace's).
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Words of the queries and of `HOME` that no stored or printed text may hold.
const PERSONAL: [&str; 7] = [
    "quarterly",
    "Anneliese",
    "Zanzibar",
    "Gwendolyn",
    "archive",
    "invoices",
    "okonkwo",
];

/// `caro_like` set to run in `data`, its `HOME` in `home`.
fn caro_like(data: &DataDir, home: &Path, options: &[&str], query: &str) -> Command {
    let mut c = data.command(&bins().example("caro_like"));
    c.env("HOME", home)
        .args(options)
        .arg(query)
        .stdin(Stdio::null());
    c
}

/// A pipe whose buffer is full: a process that writes to it waits for
/// ever, as caro does when whatever reads its output stops reading. The
/// reader must stay open (a closed one would fail the write instead).
fn full_pipe() -> (std::io::PipeReader, std::io::PipeWriter) {
    let (reader, mut writer) = std::io::pipe().unwrap();
    let fd = writer.as_raw_fd();
    let set_blocking = |blocking: bool| {
        // SAFETY: fcntl(2) reads and sets the flags of a descriptor this
        // function owns; it touches no memory of ours.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        assert!(flags >= 0);
        let flags = match blocking {
            true => flags & !libc::O_NONBLOCK,
            false => flags | libc::O_NONBLOCK,
        };
        // SAFETY: as above.
        assert_eq!(unsafe { libc::fcntl(fd, libc::F_SETFL, flags) }, 0);
    };
    set_blocking(false);
    loop {
        match writer.write(&[0; 4096]) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("filling a pipe: {e}"),
        }
    }
    set_blocking(true);
    (reader, writer)
}

/// How many `Command generation complete` lines the ring holds: one per
/// run that got as far as printing its command.
fn commands_generated(data: &DataDir) -> usize {
    data.logs_json()
        .iter()
        .filter(|l| {
            l["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("Command generation complete"))
        })
        .count()
}

/// The recorded session: the data folder and `HOME`.
struct Session {
    data: DataDir,
    home: PathBuf,
}

impl Session {
    /// Runs [`RUNS`] one after the other, then [`KILLED`], killed.
    fn record() -> Session {
        let data = DataDir::new();
        let home = data.path().join("home").join("zoë-okonkwo");
        std::fs::create_dir_all(&home).unwrap();
        for (options, query, status) in RUNS {
            let out = caro_like(&data, &home, options, query)
                .arg("--status")
                .arg(status.to_string())
                .output()
                .unwrap();
            assert_eq!(
                out.status.code(),
                Some(status),
                "caro_like {options:?} {query:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let (reader, writer) = full_pipe();
        let mut killed: Child = caro_like(&data, &home, &[], KILLED)
            .stdout(writer)
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while commands_generated(&data) < RUNS.len() + 1 {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the killed run never generated its command"
            );
            assert!(killed.try_wait().unwrap().is_none(), "it ended on its own");
            std::thread::sleep(Duration::from_millis(20));
        }
        killed.kill().unwrap();
        assert_eq!(killed.wait().unwrap().signal(), Some(libc::SIGKILL));
        drop(reader);
        Session { data, home }
    }

    /// Fails the test if `text` holds a word of the queries or of `HOME`.
    fn assert_nothing_personal(&self, text: &str, what: &str) {
        let home = self.home.display().to_string();
        for word in PERSONAL.iter().copied().chain([home.as_str()]) {
            assert!(!text.contains(word), "{what} holds {word:?}:\n{text}");
        }
    }
}

/// The counts of a JSON object of counts.
fn counts(v: &Value) -> Vec<(String, u64)> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .iter()
        .map(|(k, n)| (k.clone(), n.as_u64().unwrap()))
        .collect()
}

/// `caro-analyze args` in `data`, its stdout.
fn stdout(data: &DataDir, args: &[&str]) -> String {
    String::from_utf8(data.analyze_ok(args).stdout).unwrap()
}

/// `traces --json` with `args`, one object per trace.
fn traces(data: &DataDir, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["traces", "--json", "--last", "100"];
    all.extend_from_slice(args);
    stdout(data, &all)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The value of the sample `series` (name and labels, as written) in a
/// Prometheus text exposition.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.parse().unwrap())
}

/// `tests/otlp/check.py` on `export`: the facts it found (it needs a
/// python3 with opentelemetry-proto, [`Tool::OtlpPython`]).
fn otlp_facts(dir: &Path, export: &str) -> Value {
    let file = dir.join("export.otlp.jsonl");
    std::fs::write(&file, export).unwrap();
    let out = Tool::OtlpPython
        .command()
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("otlp/check.py"))
        .arg(&file)
        .output()
        .expect("python3 runs (with opentelemetry-proto)");
    assert!(
        out.status.success(),
        "otlp/check.py rejected the export: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn every_run_of_a_host_without_spans_is_an_invocation() {
    let mut s = Session::record();
    let data = &s.data;

    // The report: the four that ended; the killed one is still open.
    let r = report(data, &[]);
    s.assert_nothing_personal(&r.to_string(), "report --json");
    assert_eq!(r["requests"], 0, "no span, no request");
    let inv = &r["invocations"];
    assert_eq!(inv["count"], 4, "{inv}");
    assert_eq!(
        inv["outcomes"],
        json!({"ok": 2, "failed": 2, "panicked": 0, "unfinished": 0})
    );
    assert_eq!(inv["exit_statuses"], json!({"0": 2, "1": 1, "3": 1}));
    assert_eq!(counts(&inv["versions"]), [(VERSION.to_owned(), 4)]);
    let p: Vec<f64> = ["p50_ms", "p95_ms", "p99_ms", "max_ms"]
        .iter()
        .map(|k| inv[k].as_f64().unwrap())
        .collect();
    assert!(p[0] > 0.0 && p.windows(2).all(|w| w[0] <= w[1]), "{p:?}");
    let slowest = inv["slowest"].as_array().unwrap();
    assert_eq!(slowest.len(), 4);
    let durations: Vec<f64> = slowest
        .iter()
        .map(|i| i["duration_ms"].as_f64().unwrap())
        .collect();
    assert!(durations.windows(2).all(|w| w[0] >= w[1]), "{durations:?}");
    let mut statuses: Vec<i64> = slowest
        .iter()
        .map(|i| i["status"].as_i64().unwrap())
        .collect();
    statuses.sort();
    assert_eq!(statuses, [0, 0, 1, 3]);
    assert!(slowest.iter().all(|i| i["version"] == VERSION));
    // The warnings by callsite, program text with `{}` for the arguments.
    let by_callsite: Vec<(String, String, String, u64, u64)> = inv["by_callsite"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let text = |k: &str| c[k].as_str().unwrap().to_owned();
            let n = |k: &str| c[k].as_u64().unwrap();
            (
                text("level"),
                text("target"),
                text("message"),
                n("count"),
                n("invocations"),
            )
        })
        .collect();
    let warn = |target: &str, message: &str, n: u64| {
        let target = format!("caro_like::{target}");
        ("WARN".to_owned(), target, message.to_owned(), n, n)
    };
    let mut expected = vec![
        // The first run and the killed one.
        warn("agent", "Command needs confirmation: Moderate risk", 2),
        warn(
            "backends::embedded",
            "Parse attempt {}/{} failed, retrying with correction prompt",
            2,
        ),
        warn(
            "backends::remote::ollama",
            "Ollama backend failed: Backend unavailable: {}",
            1,
        ),
    ];
    let mut got = by_callsite.clone();
    got.sort();
    expected.sort();
    assert_eq!(got, expected);
    assert!(
        by_callsite.iter().all(
            |(_, _, m, _, _)| !m.chars().any(|c| c.is_ascii_digit()) && !m.contains("redacted")
        ),
        "no run-time value in a template: {by_callsite:?}"
    );

    // The text report opens with them.
    let text = stdout(data, &["report", "--no-ingest"]);
    s.assert_nothing_personal(&text, "report");
    assert!(!text.contains("No requests recorded"), "{text}");
    assert!(
        text.contains("Invocations: 4 ended: 2 ok, 2 failed, 0 panicked, 0 unfinished"),
        "{text}"
    );
    assert!(text.contains("Parse attempt {}/{} failed"), "{text}");
    assert!(
        text.find("Invocations:") < text.find("Processes:"),
        "{text}"
    );

    // Each a trace rooted at `invocation`, with its log lines; the killed
    // one open, unfinished so far.
    let all = traces(data, &["--no-ingest"]);
    s.assert_nothing_personal(&format!("{all:?}"), "traces --json");
    assert_eq!(all.len(), 5, "{all:#?}");
    for t in &all {
        assert_eq!(t["root"]["name"], "invocation", "{t}");
        assert!(t["root"]["pid"].as_u64().unwrap() > 0);
        assert!(!t["root"]["events"].as_array().unwrap().is_empty(), "{t}");
    }
    let failed: Vec<&Value> = all.iter().filter(|t| t["error"] == true).collect();
    assert_eq!(failed.len(), 2);
    let open: Vec<&Value> = all.iter().filter(|t| t.get("kept").is_none()).collect();
    assert_eq!(open.len(), 1);
    assert_eq!(
        (
            open[0]["unfinished"].clone(),
            open[0]["duration_ms"].clone()
        ),
        (json!(true), Value::Null)
    );
    let text = stdout(data, &["traces", "--no-ingest", "--last", "100"]);
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("  invocation ["))
            .count(),
        5,
        "{text}"
    );
    assert!(text.contains("  invocation [unfinished, ≥ "), "{text}");
    assert!(text.contains("outcome=failed status=3"), "{text}");

    // The metrics.
    let metrics = stdout(data, &["export", "--format", "prometheus", "--no-ingest"]);
    promtool_check(&metrics);
    for (outcome, n) in [
        ("ok", 2.0),
        ("failed", 2.0),
        ("panicked", 0.0),
        ("unfinished", 0.0),
    ] {
        let series = format!("caro_invocations_total{{outcome=\"{outcome}\"}}");
        assert_eq!(sample(&metrics, &series), Some(n), "{series}\n{metrics}");
    }
    assert_eq!(
        sample(&metrics, "caro_invocation_duration_seconds_count"),
        Some(4.0)
    );
    assert_eq!(
        sample(
            &metrics,
            "caro_invocation_duration_seconds_bucket{le=\"+Inf\"}"
        ),
        Some(4.0)
    );
    // Every warning, the killed run's too.
    assert_eq!(
        sample(&metrics, "caro_log_events_total{level=\"WARN\"}"),
        Some(5.0)
    );

    // The OTLP export: the stored traces, one process each.
    let otlp = stdout(data, &["export", "--format", "otlp", "--no-ingest"]);
    if !missing(Tool::OtlpPython) {
        let facts = &otlp_facts(data.path(), &otlp)["traces"];
        assert_eq!(facts["problems"], json!([]), "{facts}");
        assert_eq!(facts["trace_ids"].as_array().unwrap().len(), 4, "{facts}");
        assert_eq!(facts["error_roots"].as_array().unwrap().len(), 2, "{facts}");
        assert_eq!(facts["resources"], 4, "{facts}");
    }

    // Two days later a simulated caro (it records spans: three requests)
    // records: the killed run, silent for more than a day, is given up.
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let at = |s: i64| {
        chrono::DateTime::from_timestamp(s, 0)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    let (start, now) = (at(now_s + 2 * 86_400), at(now_s + 2 * 86_400 + 3600));
    s.data.set_env("CARO_NOW", &now);
    let data = &s.data;
    data.sim(&["--queries", "3", "--time-scale", "0", "--start", &start]);
    let r = report(data, &[]);
    assert_eq!(r["requests"], 3);
    let inv = &r["invocations"];
    assert_eq!(
        inv["count"], 6,
        "the killed run and the simulation's: {inv}"
    );
    assert_eq!(inv["outcomes"]["unfinished"], 1, "{inv}");
    let killed: Vec<Value> = traces(data, &["--no-ingest"])
        .into_iter()
        .filter(|t| t["root"]["name"] == "invocation" && t["unfinished"] == true)
        .collect();
    assert_eq!(killed.len(), 1);
    assert_eq!(killed[0]["kept"], "unfinished", "stored: {}", killed[0]);
    // The simulation's requests keep their own traces: no invocation
    // trace of its process.
    let roots: Vec<Value> = traces(data, &["--no-ingest"])
        .iter()
        .map(|t| t["root"]["name"].clone())
        .collect();
    assert_eq!(
        roots.iter().filter(|n| *n == "invocation").count(),
        5,
        "{roots:?}"
    );

    // Which root spans are requests.
    let named = report(data, &["--no-ingest", "--request-span", "process_query"]);
    assert_eq!(named["requests"], 3);
    let none = report(data, &["--no-ingest", "--request-span", "no_such_span"]);
    assert_eq!(
        (
            none["requests"].clone(),
            none["invocations"]["count"].clone()
        ),
        (json!(0), json!(6))
    );
    let text = stdout(
        data,
        &["report", "--no-ingest", "--request-span", "no_such_span"],
    );
    assert!(!text.contains("No requests recorded"), "{text}");
    assert!(
        text.contains("Requests: the root spans named no_such_span"),
        "{text}"
    );
}
