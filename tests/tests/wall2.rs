//! The analyzer's second wall, end to end, with real processes
//! (`label_probe`, a killed writer, `caro-analyze`):
//!
//! - a category (backend, error) whose value is a run-time string that is
//!   not an identifier — an IBAN a host opted in with `keep_text_fields` —
//!   is `other` in the report (text and JSON), the events table and the
//!   histograms of metrics.db, `/metrics`, the Prometheus and OTLP metric
//!   exports and `telemetry preview`; identifiers and program text stay;
//! - program text that holds an e-mail address (a target, a span name, a
//!   field name, a message literal) is scrubbed wherever it is printed or
//!   stored: logs, traces, the report, every export, metrics.db;
//! - a crash snapshot, after a lap and a SIGKILLed writer, holds only the
//!   records that decoded, scrubbed: every other slot is zero, nothing of
//!   what lay in them is left, and the dictionary is scrubbed;
//! - `status`, `status --json`, `ingest` and errors show the home folder
//!   as `~`.

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use caro_format::decode::{lanes, slot_offset, Header, Lane};
use caro_format::layout::{LaneClass, LANE_HEADER_SIZE};
use caro_format::slot::{checksum, stamp, writing_word, SlotState};
use caro_tests::store::{open_read_only, table_names};
use caro_tests::{bins, wait_for, DataDir};
use rusqlite::types::Value;

/// An IBAN (with a valid check): one word the scrubber need not know.
const IBAN: &str = "NL91ABNA0417164300";
/// Another, German.
const IBAN_DE: &str = "DE89370400440532013000";
/// The address `label_probe` writes into its program text.
const EMAIL: &str = "ana.smith@example.org";

/// Runs `label_probe` with `args` here; fails the test if it fails.
fn label_probe(home: &DataDir, args: &[&str]) -> Output {
    home.example("label_probe", args)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The stdout of `caro-analyze args`, which must succeed.
fn analyze(home: &DataDir, args: &[&str]) -> String {
    stdout(&home.analyze_ok(args))
}

/// `GET /metrics` of `caro-analyze serve` on a free loopback port.
fn scrape(home: &DataDir) -> String {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = home.spawn_analyze(&["serve", "--listen", &addr]);
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert_eq!(line, format!("serving http://{addr}/metrics\n"));
    let mut stream = TcpStream::connect(&addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    let _ = child.kill();
    wait_for(&mut child, Duration::from_secs(10)).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    reply
}

/// Every text value of every table of `db`, and every blob decompressed
/// (the stored traces), as (place, text).
fn stored_texts(db: &Path) -> Vec<(String, String)> {
    let conn = open_read_only(db);
    let mut out = Vec::new();
    for table in table_names(&conn) {
        let mut q = conn.prepare(&format!("SELECT * FROM \"{table}\"")).unwrap();
        let columns: Vec<String> = q.column_names().iter().map(|c| c.to_string()).collect();
        let rows: Vec<Vec<Value>> = q
            .query_map([], |r| {
                (0..columns.len())
                    .map(|i| r.get::<_, Value>(i))
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        for row in rows {
            for (column, value) in columns.iter().zip(row) {
                let place = format!("metrics.db {table}.{column}");
                match value {
                    Value::Text(t) => out.push((place, t)),
                    Value::Blob(b) => {
                        let raw = zstd::stream::decode_all(&b[..]).unwrap_or(b);
                        out.push((place, String::from_utf8_lossy(&raw).into_owned()));
                    }
                    _ => {}
                }
            }
        }
    }
    out
}

/// The distinct values of `column` in the events table.
fn event_column(db: &Path, column: &str) -> Vec<Option<String>> {
    let conn = open_read_only(db);
    let mut q = conn
        .prepare(&format!("SELECT DISTINCT {column} FROM events ORDER BY 1"))
        .unwrap();
    q.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

/// Fails, naming the places, if `needle` is in any of `places`.
fn assert_absent(needle: &str, places: &[(String, String)]) {
    let found: Vec<&str> = places
        .iter()
        .filter(|(_, text)| text.contains(needle))
        .map(|(place, _)| place.as_str())
        .collect();
    assert!(found.is_empty(), "{needle:?} found in {found:?}");
}

#[test]
fn a_category_that_is_not_an_identifier_is_other_everywhere() {
    let home = DataDir::new();
    label_probe(
        &home,
        &["--value", IBAN, "--value", IBAN_DE, "--value", "llamacpp"],
    );
    home.analyze_ok(&["ingest"]);

    let report = caro_tests::report(&home, &["--no-ingest"]);
    let backends = report["backends"].as_object().unwrap();
    let names: Vec<&str> = backends.keys().map(String::as_str).collect();
    for kept in ["embedded", "ollama", "llamacpp", "<email>", "other"] {
        assert!(names.contains(&kept), "{kept} missing from {names:?}");
    }
    assert_eq!(backends["other"]["count"], 2, "{report}");
    let errors = &report["errors"];
    assert_eq!(errors["other"], 2, "{report}");
    assert_eq!(errors["BackendTimeout"], 1, "{report}");
    assert_eq!(errors["llamacpp"], 1, "{report}");

    let db = home.caro_dir().join("metrics.db");
    let otlp = analyze(&home, &["export", "--format", "otlp", "--no-ingest"]);
    let otlp_metrics = otlp.lines().nth(1).unwrap_or_default().to_owned();
    assert!(
        otlp_metrics.contains(r#"{"stringValue":"other"}"#),
        "{otlp_metrics}"
    );
    let prometheus = analyze(&home, &["export", "--format", "prometheus", "--no-ingest"]);
    assert!(
        prometheus.contains(r#"caro_commands_failed_total{backend="other",category="other"} 2"#),
        "{prometheus}"
    );
    let metrics = scrape(&home);
    assert!(metrics.contains(r#"backend="other""#), "{metrics}");
    let preview = analyze(&home, &["telemetry", "preview", "--no-ingest"]);
    let bundle: serde_json::Value = serde_json::from_str(&preview).unwrap();
    assert_eq!(bundle["errors"]["other"], 2, "{preview}");
    assert!(bundle["backends"]["other"].is_object(), "{preview}");

    let mut places = vec![
        (
            "report".to_owned(),
            analyze(&home, &["report", "--no-ingest"]),
        ),
        ("report --json".to_owned(), report.to_string()),
        ("export otlp (metrics)".to_owned(), otlp_metrics),
        ("export prometheus".to_owned(), prometheus),
        ("serve /metrics".to_owned(), metrics),
        ("telemetry preview".to_owned(), preview),
    ];
    // The store's categories: the events table and the histograms' keys.
    let conn = open_read_only(&db);
    for sql in [
        "SELECT coalesce(backend, '') || ' ' || coalesce(intent, '') || ' ' || coalesce(error_category, '') || ' ' || coalesce(risk_level, '') FROM events",
        "SELECT name || ' ' || backend FROM histograms",
    ] {
        let mut q = conn.prepare(sql).unwrap();
        let rows = q.query_map([], |r| r.get::<_, String>(0)).unwrap();
        for row in rows {
            places.push((format!("metrics.db: {sql}"), row.unwrap()));
        }
    }
    for needle in [IBAN, IBAN_DE, "NL91", "DE89"] {
        assert_absent(needle, &places);
    }
    assert_eq!(
        event_column(&db, "error_category"),
        [
            None,
            Some("BackendTimeout".to_owned()),
            Some("llamacpp".to_owned()),
            Some("other".to_owned())
        ]
    );
}

#[test]
fn program_text_with_an_address_is_scrubbed_wherever_it_goes() {
    let home = DataDir::new();
    label_probe(&home, &[]);
    // The ring keeps program text as it is: the analyzer scrubs it.
    let ring = std::fs::read(home.ring()).unwrap();
    assert!(ring.windows(EMAIL.len()).any(|w| w == EMAIL.as_bytes()));

    let logs = analyze(&home, &["logs", "--format", "pretty"]);
    let logs_json = analyze(&home, &["logs", "--format", "json"]);
    for shown in [&logs, &logs_json] {
        assert!(shown.contains("<email>"), "{shown}");
    }
    // The target, the field name and the message literal are each shown.
    let lines = home.logs_json();
    assert!(lines
        .iter()
        .any(|l| l["target"].as_str().unwrap().starts_with("<email>")));
    assert!(lines
        .iter()
        .any(|l| l["fields"].as_object().unwrap().contains_key("<email>")));
    assert!(lines
        .iter()
        .any(|l| l["fields"]["message"] == "sent to <email>"));

    home.analyze_ok(&["ingest"]);
    let traces = analyze(&home, &["traces", "--no-ingest"]);
    assert!(traces.contains("mail <email>"), "{traces}");
    let mut places = vec![
        ("logs".to_owned(), logs),
        ("logs --format json".to_owned(), logs_json),
        ("traces".to_owned(), traces),
        (
            "traces --json".to_owned(),
            analyze(&home, &["traces", "--json", "--no-ingest"]),
        ),
        (
            "report".to_owned(),
            analyze(&home, &["report", "--no-ingest"]),
        ),
        (
            "report --json".to_owned(),
            analyze(&home, &["report", "--json", "--no-ingest"]),
        ),
    ];
    for format in ["chrome", "folded", "otlp", "jsonl", "prometheus"] {
        let out = analyze(&home, &["export", "--format", format, "--no-ingest"]);
        // Folded stacks write a name's spaces as `_`.
        let span = match format {
            "folded" => "mail_<email>",
            _ => "mail <email>",
        };
        assert!(out.contains(span), "export {format}: {out}");
        places.push((format!("export {format}"), out));
    }
    let telemetry_log = std::fs::read(home.caro_dir().join("telemetry.log")).unwrap();
    places.push((
        "telemetry.log".to_owned(),
        String::from_utf8_lossy(&telemetry_log).into_owned(),
    ));
    places.extend(stored_texts(&home.caro_dir().join("metrics.db")));
    for needle in [EMAIL, "ana.smith", "example.org"] {
        assert_absent(needle, &places);
    }
}

/// A lane's slots as `(sequence, bytes)`, for planting.
struct Planter {
    ring: PathBuf,
    lanes: Vec<Lane>,
    lanes_offset: u64,
}

impl Planter {
    fn new(ring: &Path) -> Planter {
        let bytes = std::fs::read(ring).unwrap();
        let header = Header::parse(&bytes).unwrap();
        Planter {
            ring: ring.to_owned(),
            lanes: lanes(&header, &bytes).unwrap(),
            lanes_offset: header.raw.lanes_offset,
        }
    }

    fn write(&self, at: u64, bytes: &[u8]) {
        let f = OpenOptions::new().write(true).open(&self.ring).unwrap();
        f.write_all_at(bytes, at).unwrap();
    }

    fn slot(&self, lane: &Lane, seq: u64, words: [u64; 8]) {
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        self.write(slot_offset(lane, seq) as u64, &bytes);
    }

    /// What a writer killed mid-record leaves in `lane`: three claimed
    /// slots, the first opened (`writing`) and the last a committed
    /// continuation, each holding `secret`.
    fn killed_writer(&mut self, lane: usize, secret: [u64; 7], now_ns: u64) {
        let l = self.lanes[lane];
        let s = l.head;
        let new_head = s + 3;
        self.write(
            self.lanes_offset + lane as u64 * u64::from(LANE_HEADER_SIZE),
            &new_head.to_le_bytes(),
        );
        self.lanes[lane].head = new_head;
        let mut w = [0u64; 8];
        w[1..].copy_from_slice(&secret);
        w[0] = writing_word(s, now_ns);
        self.slot(&l, s, w);
        w[0] = 0;
        self.slot(&l, s + 1, w);
        w[0] = u64::from(stamp(s + 2, SlotState::Cont));
        w[0] |= u64::from(checksum(w[0] as u32, &w[1..])) << 32;
        self.slot(&l, s + 2, w);
    }

    /// A committed continuation whose head a lap overwrote, holding
    /// `secret`, in the oldest slot `lane` still holds.
    fn orphan(&self, lane: usize, secret: [u64; 7]) {
        let l = &self.lanes[lane];
        assert!(l.head > l.slots(), "lane {lane} has not lapped");
        let s = l.head - l.slots();
        let mut w = [0u64; 8];
        w[1..].copy_from_slice(&secret);
        w[0] = u64::from(stamp(s, SlotState::Cont));
        w[0] |= u64::from(checksum(w[0] as u32, &w[1..])) << 32;
        self.slot(l, s, w);
    }
}

/// Checks that every slot of the ring image `bytes` that holds no record
/// its decoder reads is zero.
fn assert_only_records(bytes: &[u8]) {
    let d = caro_format::decode(bytes).unwrap();
    let mut kept = std::collections::HashSet::new();
    for r in &d.records {
        let lane = &d.lanes[r.lane].0;
        let cont = bytes[slot_offset(lane, r.seq) + 34];
        for i in 0..=u64::from(cont) {
            kept.insert(slot_offset(lane, r.seq + i));
        }
    }
    let mut stray = Vec::new();
    for (lane, _) in &d.lanes {
        for seq in 0..lane.slots() {
            let at = slot_offset(lane, seq);
            if !kept.contains(&at) && bytes[at..at + 64].iter().any(|&b| b != 0) {
                stray.push((lane.index, seq));
            }
        }
    }
    assert!(stray.is_empty(), "slots not zeroed (lane, slot): {stray:?}");
}

#[test]
fn a_crash_snapshot_holds_only_what_decoded_scrubbed() {
    let mut home = DataDir::new();
    // Small: the lap events lap every main lane.
    home.set_env("CARO_RING_SIZE", "1M");
    label_probe(&home, &["--value", IBAN, "--lap", "4000", "--panic"]);
    // A writer killed while it floods the ring.
    let mut flood = home
        .command(&bins().example("label_probe"))
        .arg("--flood")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    flood.kill().unwrap();
    flood.wait().unwrap();
    // And, for certain, the slots such writers and laps leave.
    let secret = [u64::from_le_bytes(*b"zanzibar"); 7];
    let mut planter = Planter::new(&home.ring());
    let lapped = planter
        .lanes
        .iter()
        .find(|l| l.class == LaneClass::Main && l.head > l.slots())
        .expect("a main lane lapped")
        .index;
    let other = (lapped + 1) % planter.lanes.len();
    let now_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    planter.orphan(lapped, secret);
    planter.killed_writer(other, secret, now_ns - 60_000_000_000);
    let before = caro_format::decode(&std::fs::read(home.ring()).unwrap()).unwrap();
    let t = before.totals();
    assert!(t.abandoned + t.pending >= 3 && t.lost_to_laps > 0, "{t:?}");

    let out = analyze(&home, &["ingest"]);
    assert!(
        out.contains("a panic was recorded: ring saved to "),
        "{out}"
    );
    let crashes: Vec<PathBuf> = std::fs::read_dir(home.caro_dir().join("crashes"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(crashes.len(), 1, "{crashes:?}");
    let snapshot = zstd::stream::decode_all(&std::fs::read(&crashes[0]).unwrap()[..]).unwrap();

    // Nothing of what lay in undecoded slots, nor of the program text.
    for needle in [&b"zanzibar"[..], EMAIL.as_bytes(), b"ana.smith"] {
        assert!(
            !snapshot.windows(needle.len()).any(|w| w == needle),
            "the snapshot holds {:?}",
            String::from_utf8_lossy(needle)
        );
    }
    assert_only_records(&snapshot);

    // It reads: every record the ring held, nothing unreadable, the
    // dictionary scrubbed at the same lengths.
    let d = caro_format::decode(&snapshot).unwrap();
    let t = d.totals();
    assert_eq!((t.corrupt, t.unknown_kinds), (0, 0), "{t:?}");
    assert!(t.abandoned + t.pending >= 3, "{t:?}");
    assert_eq!(d.records.len(), before.records.len());
    assert!(d.dictionary.entries > 0);
    let targets: Vec<&str> = d
        .dictionary
        .callsites
        .values()
        .map(|c| c.target.as_str())
        .collect();
    assert!(
        targets.contains(&format!("<email>{}", " ".repeat(EMAIL.len() - 7)).as_str()),
        "{targets:?}"
    );
    let path = crashes[0].to_str().unwrap();
    let logs = analyze(&home, &["logs", "--ring", path, "--format", "json"]);
    // The main lanes lapped: the alert lanes keep the errors and the
    // panic.
    assert!(logs.contains("\"target\":\"panic\""), "{logs}");
    let status = analyze(&home, &["status", "--json", "--ring", path]);
    assert!(status.contains("\"corrupt\":0"), "{status}");
}

#[test]
fn paths_under_the_home_folder_are_shown_with_a_tilde() {
    let mut home = DataDir::new();
    let dir = home.path().to_str().unwrap().to_owned();
    home.set_env("HOME", &dir);
    label_probe(&home, &["--panic"]);
    let ingest = analyze(&home, &["ingest"]);
    assert!(
        ingest.contains("a panic was recorded: ring saved to ~/caro/crashes/"),
        "{ingest}"
    );

    let status = analyze(&home, &["status"]);
    assert!(status.contains("~/caro/events.ring\n"), "{status}");
    assert!(status.contains("~/caro/metrics.db\n"), "{status}");
    let json: serde_json::Value =
        serde_json::from_str(&analyze(&home, &["status", "--json"])).unwrap();
    assert_eq!(json["path"], "~/caro/events.ring");
    assert_eq!(json["store"]["path"], "~/caro/metrics.db");

    let missing = home.caro_dir().join("missing.ring");
    let out = home.analyze(&["logs", "--ring", missing.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        err,
        "caro-analyze: error: no ring at ~/caro/missing.ring: nothing has been recorded yet (or pass --ring FILE)\n"
    );
    let out = home.analyze(&["telemetry", "status"]);
    let telemetry = stdout(&out);
    assert!(
        telemetry.contains("choice file: ~/caro/telemetry.json"),
        "{telemetry}"
    );
    let clear = analyze(&home, &["clear", "--yes"]);
    assert!(clear.contains("~/caro/metrics.db"), "{clear}");
    for (what, text) in [
        ("ingest", ingest),
        ("status", status),
        ("logs", err),
        ("telemetry status", telemetry),
        ("clear", clear),
    ] {
        assert!(!text.contains(&dir), "{what} shows {dir}: {text}");
    }
}
