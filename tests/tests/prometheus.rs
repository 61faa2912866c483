//! caro's metrics as Prometheus's own tools read them, held to what a
//! simulated caro did (its `--truth`):
//!
//! - `export --format prometheus` passes `promtool check metrics` without
//!   a word, and its counts are the truth's;
//! - a real Prometheus server scrapes `serve` and its query API returns
//!   caro's counters and histogram with the truth's values;
//! - `serve` answers only GET /metrics and /healthz, refuses to listen
//!   beyond loopback unless told, survives a broken store, and stops
//!   cleanly on SIGTERM and SIGINT.
//!
//! promtool and prometheus are Debian's `prometheus` package (`.ci/run`
//! installs it): without them these tests fail, they never skip.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, ChildStderr, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use caro_tests::{free_port, missing, promtool_check, wait_for, DataDir, Tool};
use serde_json::Value;

/// The session starts 30 simulated seconds before a UTC midnight and
/// lasts longer: its requests fall on two days.
const START: &str = "2026-01-15T23:59:30Z";
/// The analyzer's clock: within the 7 days of both.
const NOW: &str = "2026-01-16T12:00:00Z";
const QUERIES: u64 = 400;
const DAY_NS: u64 = 86_400 * 1_000_000_000;
/// How long Prometheus has to start, scrape and answer.
const PROMETHEUS_PATIENCE: Duration = Duration::from_secs(60);

/// A recorded session and what the simulation says it did.
struct Session {
    home: DataDir,
    truth: Truth,
}

/// The truth's figures that the metrics must show.
#[derive(Debug)]
struct Truth {
    requests_per_backend: BTreeMap<String, u64>,
    generated: u64,
    errors_per_category: BTreeMap<String, u64>,
    blocks_per_risk: BTreeMap<String, u64>,
    panics: u64,
    /// Every request's duration, by backend.
    request_ns: BTreeMap<String, Vec<u64>>,
    /// How many times each span ran.
    spans: BTreeMap<String, u64>,
    /// UTC days with requests.
    active_days: u64,
}

fn counts(v: &Value) -> BTreeMap<String, u64> {
    v.as_object()
        .unwrap()
        .iter()
        .map(|(k, n)| (k.clone(), n.as_u64().unwrap()))
        .collect()
}

fn record_session(seed: u64) -> Session {
    let mut home = DataDir::new();
    home.set_env("CARO_NOW", NOW);
    let t = home.sim_truth(&[
        "--queries",
        &QUERIES.to_string(),
        "--seed",
        &seed.to_string(),
        "--time-scale",
        "0",
        "--start",
        START,
        "--panics",
    ]);
    let errors_per_category = counts(&t["errors_per_category"]);
    let blocks_per_risk = counts(&t["safety_blocks_per_risk"]);
    let panics = t["panics"].as_u64().unwrap();
    let failed = errors_per_category.values().sum::<u64>() + blocks_per_risk.values().sum::<u64>();
    // The first request ends before midnight (it takes seconds at most),
    // the last one after: two days, if the session crossed midnight.
    let (start, end) = (
        t["start_ns"].as_u64().unwrap(),
        t["end_ns"].as_u64().unwrap(),
    );
    assert_eq!(
        end / DAY_NS,
        start / DAY_NS + 1,
        "the session crosses a midnight"
    );
    let truth = Truth {
        requests_per_backend: counts(&t["requests_per_backend"]),
        generated: QUERIES - failed - panics,
        errors_per_category,
        blocks_per_risk,
        panics,
        request_ns: serde_json::from_value(t["request_ns"].clone()).unwrap(),
        spans: t["span_ns"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(name, ns)| (name.clone(), ns.as_array().unwrap().len() as u64))
            .collect(),
        active_days: 2,
    };
    assert!(truth.panics > 0 && !truth.blocks_per_risk.is_empty());
    Session { home, truth }
}

impl Truth {
    /// Requests on `backend` that took at most `le` seconds (`+Inf`: all).
    fn requests_at_most(&self, backend: &str, le: &str) -> u64 {
        let ns = &self.request_ns[backend];
        match le {
            "+Inf" => ns.len() as u64,
            le => {
                let bound_ns = (le.parse::<f64>().unwrap() * 1e9).round() as u64;
                ns.iter().filter(|&&d| d <= bound_ns).count() as u64
            }
        }
    }

    fn latency_sum_s(&self, backend: &str) -> f64 {
        self.request_ns[backend].iter().sum::<u64>() as f64 / 1e9
    }

    /// Commands generated, by backend: their total is the truth's, and no
    /// backend generated more than it served. (The truth does not say how
    /// many requests of each backend succeeded.)
    fn check_generated(&self, by_backend: &BTreeMap<String, f64>) {
        assert_eq!(
            by_backend.values().sum::<f64>(),
            self.generated as f64,
            "commands generated: {by_backend:?}"
        );
        for (backend, n) in by_backend {
            let served = self.requests_per_backend.get(backend).copied();
            assert!(
                served.is_some_and(|s| *n <= s as f64),
                "{backend} generated {n} of {served:?} requests"
            );
        }
    }
}

/// One sample of an exposition: its name, labels and value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// The samples of a text exposition (label values hold no escapes here).
fn samples(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').unwrap();
            let (name, labels) = match series.split_once('{') {
                None => (series, BTreeMap::new()),
                Some((name, rest)) => {
                    let labels = rest
                        .strip_suffix('}')
                        .unwrap()
                        .split("\",")
                        .map(|pair| {
                            let (k, v) = pair.split_once("=\"").unwrap();
                            (k.to_owned(), v.trim_end_matches('"').to_owned())
                        })
                        .collect();
                    (name, labels)
                }
            };
            Sample {
                name: name.to_owned(),
                labels,
                value: value.parse().unwrap_or_else(|e| panic!("{line:?}: {e}")),
            }
        })
        .collect()
}

/// The values of metric `name`, summed by the value of label `by`.
fn sum_by(samples: &[Sample], name: &str, by: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for s in samples.iter().filter(|s| s.name == name) {
        *out.entry(s.labels.get(by).cloned().unwrap_or_default())
            .or_insert(0.0) += s.value;
    }
    out
}

fn as_counts(m: &BTreeMap<String, f64>) -> BTreeMap<String, u64> {
    m.iter().map(|(k, v)| (k.clone(), *v as u64)).collect()
}

/// An HTTP answer.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.0 request to `addr`; `Err` when nothing answers.
fn http(
    addr: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<Reply> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    let mut request = format!("{method} {target} HTTP/1.0\r\nHost: {addr}\r\n");
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("Content-Length: 0\r\n\r\n");
    stream.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let raw = String::from_utf8(raw).map_err(std::io::Error::other)?;
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other(format!("no HTTP head in {raw:?}")))?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status in {head:?}")))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Ok(Reply {
        status,
        headers,
        body: body.to_owned(),
    })
}

fn get(addr: &str, target: &str) -> Reply {
    http(addr, "GET", target, &[]).unwrap()
}

/// `caro-analyze serve` on a free loopback port, killed when dropped.
struct Serve {
    child: Child,
    addr: String,
    /// Kept open: the server's stderr stays writable.
    _stderr: BufReader<ChildStderr>,
}

impl Serve {
    /// Starts it and waits for the line that says where it listens.
    fn start(home: &DataDir, extra: &[&str]) -> Serve {
        let addr = format!("127.0.0.1:{}", free_port());
        let mut args = vec!["serve", "--listen", &addr];
        args.extend_from_slice(extra);
        let mut child = home.spawn_analyze(&args);
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        stderr.read_line(&mut line).unwrap();
        let serve = Serve {
            child,
            addr,
            _stderr: stderr,
        };
        assert_eq!(line, format!("serving http://{}/metrics\n", serve.addr));
        serve
    }

    /// Sends `signal`; returns how the server exited, if it did in time.
    fn signal(&mut self, signal: libc::c_int) -> Option<ExitStatus> {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: kill(2) takes plain integers; the pid is our child's,
        // not yet waited for, so it names no other process.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
        wait_for(&mut self.child, Duration::from_secs(5))
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Prometheus server on a free loopback port, scraping one target
/// every second, its data in `dir`; killed when dropped (a failed
/// assertion included).
struct Prometheus {
    child: Child,
    addr: String,
    stderr_path: std::path::PathBuf,
}

impl Prometheus {
    fn start(dir: &Path, target: &str) -> Prometheus {
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
                 scrape_configs:\n  - job_name: caro\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        let addr = format!("127.0.0.1:{}", free_port());
        let stderr_path = dir.join("prometheus.stderr");
        let child = Tool::Prometheus
            .command()
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("tsdb").display()))
            .arg(format!("--web.listen-address={addr}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr_path).unwrap())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run prometheus ({e}): install Debian's prometheus package (.ci/run does)")
            });
        Prometheus {
            child,
            addr,
            stderr_path,
        }
    }

    /// The instant vector `query` evaluates to, as (labels, value); `None`
    /// while the server does not answer yet.
    fn query(&self, query: &str) -> Option<Vec<(BTreeMap<String, String>, f64)>> {
        let reply = http(
            &self.addr,
            "GET",
            &format!("/api/v1/query?query={}", url_encode(query)),
            &[],
        )
        .ok()?;
        if reply.status != 200 {
            return None;
        }
        let v: Value = serde_json::from_str(&reply.body).ok()?;
        let result = v["data"]["result"].as_array()?;
        Some(
            result
                .iter()
                .map(|r| {
                    let labels = serde_json::from_value(r["metric"].clone()).unwrap();
                    let value = r["value"][1].as_str().unwrap().parse().unwrap();
                    (labels, value)
                })
                .collect(),
        )
    }

    /// What the server knows of each metric family: type, help, unit.
    fn metadata(&self) -> Value {
        let reply = http(&self.addr, "GET", "/api/v1/metadata", &[]).unwrap();
        assert_eq!(reply.status, 200, "{}", reply.body);
        let v: Value = serde_json::from_str(&reply.body).unwrap();
        v["data"].clone()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// (label `by` → value) of a query's result.
fn by_label(result: &[(BTreeMap<String, String>, f64)], by: &str) -> BTreeMap<String, f64> {
    result
        .iter()
        .map(|(labels, v)| (labels.get(by).cloned().unwrap_or_default(), *v))
        .collect()
}

#[test]
fn the_export_passes_promtool_and_counts_what_caro_did() {
    let s = record_session(21);
    let out = s.home.analyze_ok(&["export", "--format", "prometheus"]);
    let text = String::from_utf8(out.stdout).unwrap();
    promtool_check(&text);

    let all = samples(&text);
    let t = &s.truth;
    t.check_generated(&sum_by(&all, "caro_commands_generated_total", "backend"));
    assert_eq!(
        as_counts(&sum_by(&all, "caro_commands_failed_total", "category")),
        t.errors_per_category
    );
    assert_eq!(
        as_counts(&sum_by(&all, "caro_safety_blocks_total", "risk_level")),
        t.blocks_per_risk
    );
    assert_eq!(sum_by(&all, "caro_panics_total", "")[""], t.panics as f64);
    // The session is one process, whose panics were caught: one
    // invocation, panicked.
    assert_eq!(
        as_counts(&sum_by(&all, "caro_invocations_total", "outcome")),
        [("failed", 0), ("ok", 0), ("panicked", 1), ("unfinished", 0)]
            .map(|(o, n)| (o.to_owned(), n))
            .into()
    );
    assert_eq!(
        sum_by(&all, "caro_invocation_duration_seconds_count", "")[""],
        1.0
    );

    // Every request's latency, bucket by bucket, exactly.
    assert_eq!(
        as_counts(&sum_by(
            &all,
            "caro_backend_latency_seconds_count",
            "backend"
        )),
        t.requests_per_backend
    );
    let buckets: Vec<_> = all
        .iter()
        .filter(|s| s.name == "caro_backend_latency_seconds_bucket")
        .collect();
    assert_eq!(
        buckets.len(),
        t.requests_per_backend.len() * 8,
        "7 bounds and +Inf"
    );
    for b in buckets {
        let (backend, le) = (&b.labels["backend"], &b.labels["le"]);
        assert_eq!(
            b.value,
            t.requests_at_most(backend, le) as f64,
            "{backend} requests ≤ {le} s"
        );
    }
    for (backend, sum) in sum_by(&all, "caro_backend_latency_seconds_sum", "backend") {
        let truth = t.latency_sum_s(&backend);
        assert!(
            (sum - truth).abs() <= truth * 1e-9,
            "{backend}: {sum} s, simulated {truth} s"
        );
    }
    assert_eq!(
        as_counts(&sum_by(&all, "caro_span_duration_seconds_count", "span")),
        t.spans
    );

    let gauge = |name: &str| sum_by(&all, name, "").get("").copied();
    assert_eq!(gauge("caro_active_users"), Some(t.active_days as f64));
    let rss = gauge("caro_memory_usage_bytes").unwrap();
    assert!(rss > 1e6 && rss % 1024.0 == 0.0, "peak RSS {rss} bytes");
    assert!(gauge("caro_open_file_descriptors").unwrap() >= 1.0);
    // The recorder wrote every record of the session and lost none.
    assert!(gauge("caro_recorder_records_total").unwrap() > (QUERIES * 10) as f64);
    for lost in [
        "caro_recorder_lost_records_total",
        "caro_recorder_abandoned_slots_total",
        "caro_recorder_dropped_records_total",
    ] {
        assert_eq!(gauge(lost), Some(0.0), "{lost}");
    }
}

#[test]
fn a_prometheus_server_scrapes_serve_and_answers_with_the_truth() {
    if missing(Tool::Prometheus) {
        return;
    }
    let s = record_session(22);
    let serve = Serve::start(&s.home, &[]);
    let prometheus = Prometheus::start(s.home.path(), &serve.addr);
    let t = &s.truth;

    let queries = [
        "up{job=\"caro\"}",
        "caro_commands_generated_total",
        "caro_backend_latency_seconds_count",
        "caro_backend_latency_seconds_bucket",
    ];
    let started = Instant::now();
    let results = loop {
        let results: Vec<_> = queries.iter().map(|q| prometheus.query(q)).collect();
        let scraped = results
            .iter()
            .all(|r| r.as_ref().is_some_and(|r| !r.is_empty()));
        if scraped {
            break results
                .into_iter()
                .map(Option::unwrap_or_default)
                .collect::<Vec<_>>();
        }
        assert!(
            started.elapsed() < PROMETHEUS_PATIENCE,
            "Prometheus returned no scraped caro metrics within {PROMETHEUS_PATIENCE:?}: {results:?}\n\
             --- prometheus stderr:\n{}",
            prometheus.stderr()
        );
        std::thread::sleep(Duration::from_millis(250));
    };

    let [up, generated, latency_count, latency_buckets] = &results[..] else {
        unreachable!()
    };
    assert_eq!(up.len(), 1);
    assert_eq!(up[0].1, 1.0, "up: {up:?}\n{}", prometheus.stderr());
    t.check_generated(&by_label(generated, "backend"));
    assert_eq!(
        as_counts(&by_label(latency_count, "backend")),
        t.requests_per_backend
    );
    assert_eq!(latency_buckets.len(), t.requests_per_backend.len() * 8);
    for (labels, v) in latency_buckets {
        let (backend, le) = (&labels["backend"], &labels["le"]);
        assert_eq!(
            *v,
            t.requests_at_most(backend, le) as f64,
            "{backend} ≤ {le} s"
        );
    }

    // Prometheus asked for OpenMetrics and read it as such: families named
    // without `_total`, units from `# UNIT`.
    let metadata = prometheus.metadata();
    assert_eq!(
        metadata["caro_commands_generated"][0]["type"], "counter",
        "{metadata}"
    );
    let latency = &metadata["caro_backend_latency_seconds"][0];
    assert_eq!(latency["type"], "histogram", "{metadata}");
    assert_eq!(latency["unit"], "seconds", "{metadata}");
}

#[test]
fn serve_answers_get_only_survives_a_broken_store_and_stops_on_signals() {
    let s = record_session(23);
    let mut serve = Serve::start(&s.home, &[]);
    let addr = serve.addr.clone();

    let health = get(&addr, "/healthz");
    assert_eq!((health.status, health.body.as_str()), (200, "ok\n"));
    assert_eq!(get(&addr, "/nothing").status, 404);
    assert_eq!(get(&addr, "/metrics/").status, 404);
    for method in ["POST", "PUT", "DELETE"] {
        for path in ["/metrics", "/healthz"] {
            let r = http(&addr, method, path, &[]).unwrap();
            assert_eq!(r.status, 405, "{method} {path}");
            assert_eq!(r.header("Allow"), Some("GET"), "{method} {path}");
        }
    }

    // A client that does not ask for OpenMetrics (curl) gets the text
    // format, which promtool reads; Prometheus asks for OpenMetrics.
    let text = get(&addr, "/metrics");
    assert_eq!(text.status, 200, "{}", text.body);
    assert_eq!(
        text.header("Content-Type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    promtool_check(&text.body);
    let om = http(
        &addr,
        "GET",
        "/metrics",
        &[(
            "Accept",
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        )],
    )
    .unwrap();
    assert_eq!(om.status, 200);
    assert_eq!(
        om.header("Content-Type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    assert!(om
        .body
        .contains("\n# TYPE caro_commands_generated counter\n"));
    assert!(om.body.ends_with("\n# EOF\n"));
    let generated = sum_by(
        &samples(&om.body),
        "caro_commands_generated_total",
        "backend",
    );
    s.truth.check_generated(&generated);

    // A store that cannot be read fails the scrape, with its reason, and
    // the server goes on: it serves again once the store is gone.
    let db = s.home.caro_dir().join("metrics.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    std::fs::write(&db, vec![b'x'; 4096]).unwrap();
    let broken = get(&addr, "/metrics");
    assert_eq!(broken.status, 500);
    assert_eq!(broken.body.lines().count(), 1, "{:?}", broken.body);
    assert!(broken.body.contains("metrics.db"), "{:?}", broken.body);
    assert_eq!(get(&addr, "/healthz").status, 200);
    std::fs::remove_file(&db).unwrap();
    let again = get(&addr, "/metrics");
    assert_eq!(again.status, 200, "{}", again.body);
    s.truth.check_generated(&sum_by(
        &samples(&again.body),
        "caro_commands_generated_total",
        "backend",
    ));

    let status = serve.signal(libc::SIGTERM);
    assert_eq!(
        status.map(|s| s.code()),
        Some(Some(0)),
        "SIGTERM: {status:?}"
    );

    // With an interval, the ingest is the loop's: done once at the start.
    let mut serve = Serve::start(&s.home, &["--interval", "1h"]);
    let scraped = get(&serve.addr, "/metrics");
    assert_eq!(scraped.status, 200, "{}", scraped.body);
    s.truth.check_generated(&sum_by(
        &samples(&scraped.body),
        "caro_commands_generated_total",
        "backend",
    ));
    let status = serve.signal(libc::SIGINT);
    assert_eq!(
        status.map(|s| s.code()),
        Some(Some(0)),
        "SIGINT: {status:?}"
    );
}

#[test]
fn serve_refuses_other_machines_and_taken_ports_in_one_line() {
    let home = DataDir::new();
    let port = free_port();
    let out = home.analyze(&["serve", "--listen", &format!("0.0.0.0:{port}")]);
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "a usage error: {err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("--allow-remote"), "{err}");

    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = home.analyze(&["serve", "--listen", &addr]);
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "a run-time failure: {err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(&format!("cannot listen on {addr}")), "{err}");
}

#[test]
fn serve_listens_on_a_host_name_and_by_default_on_a_port_of_its_own() {
    let home = DataDir::new();
    // Loopback, and not Prometheus' own 9090: a scraper and caro's
    // exporter on one machine do not collide.
    let help = String::from_utf8(home.analyze_ok(&["serve", "--help"]).stdout).unwrap();
    assert!(help.contains("[default: 127.0.0.1:9464]"), "{help}");

    let port = free_port();
    let mut child = home.spawn_analyze(&["serve", "--listen", &format!("localhost:{port}")]);
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let addr = line
        .strip_prefix("serving http://")
        .and_then(|l| l.strip_suffix("/metrics\n"))
        .unwrap_or_else(|| panic!("{line:?}"))
        .to_owned();
    let mut serve = Serve {
        child,
        addr,
        _stderr: stderr,
    };
    // The name's address, 127.0.0.1 or ::1 as the system resolves it.
    let bound: std::net::SocketAddr = serve.addr.parse().unwrap();
    assert!(bound.ip().is_loopback(), "{bound}");
    assert_eq!(bound.port(), port);
    assert_eq!(get(&serve.addr, "/healthz").status, 200);
    let status = serve.signal(libc::SIGTERM);
    assert_eq!(status.map(|s| s.code()), Some(Some(0)), "{status:?}");
}
