//! Personal data, end to end. A host (`privacy_probe`) logs a corpus of it
//! — paths, user and host names, e-mail and IP addresses, tokens of several
//! providers, environment assignments, URLs, raw queries and commands —
//! everywhere a host can put a value: event and span fields, deny-listed
//! and not, dotted and upper-case; messages with and without arguments;
//! `Display` and `Debug` values; nested error chains; a panic. Then every
//! command that reads or keeps what was recorded runs, and no fragment of
//! the corpus may be found in anything they print or keep, while the
//! harmless identifiers beside it (`embedded`, `file_search`,
//! `BackendTimeout`) survive.
//!
//! By default the recorder (the first wall) keeps all of it out of the
//! ring. When the host opts fields in (`--keep-text`), the ring holds some
//! of it on purpose, and the analyzer's scrubber (the second wall) keeps it
//! out of `metrics.db`, `telemetry.log` and its archives, `crashes/`, and
//! every output.
//!
//! A failure lists every fragment found, where, with a few characters
//! around it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use caro_format::text::{canonical_text, field_name, value_text};
use caro_format::{decode, Decoded};
use caro_tests::store::{open_read_only, table_names};
use caro_tests::DataDir;
use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags};

/// The user the commands run as: `USER`, `LOGNAME` and `HOME`.
const USER: &str = "zanzibar";
const HOME: &str = "/home/zanzibar";

/// Identifiers that are not personal and must survive both walls: the
/// backend, a run-time intent, an error category.
const HARMLESS: [&str; 3] = ["embedded", "file_search", "BackendTimeout"];

/// The fields the probe's `--keep-text` opts in: the only ones (with
/// one-word values of `note`) whose values may hold the corpus in the ring.
const OPTED: [&str; 3] = ["detail", "error", "reason"];

/// Every command whose output is checked, in this order, after the probe
/// ran. When `export` lands, each of its formats is one more line here.
const COMMANDS: &[&[&str]] = &[
    &["ingest"],
    &["report"],
    &["report", "--json"],
    &["report", "--json", "--days", "30", "--no-ingest"],
    &["logs"],
    &["logs", "--format", "json"],
    &["status"],
    &["status", "--json"],
    &["telemetry", "preview"],
    &["telemetry", "status"],
    &["traces", "--last", "100000"],
    &["traces", "--json", "--last", "100000"],
    &["export", "--format", "chrome"],
    &["export", "--format", "folded"],
    &["export", "--format", "prometheus"],
    &["export", "--format", "otlp"],
    &["export", "--format", "jsonl"],
];

/// Commands run on each crash snapshot, its path appended.
const SNAPSHOT_COMMANDS: &[&[&str]] = &[
    &["logs", "--ring"],
    &["logs", "--format", "json", "--ring"],
    &["status", "--ring"],
];

/// A string that must never be kept, searched for ignoring ASCII case.
#[derive(Clone, Debug)]
struct Fragment {
    text: String,
    lower: String,
    /// Only as a whole word: a short host name (`box`) is found inside
    /// other words, and by chance in binary data, where it is not looked
    /// for.
    whole_word: bool,
}

impl Fragment {
    fn new(text: &str) -> Fragment {
        Fragment {
            text: text.to_owned(),
            lower: text.to_ascii_lowercase(),
            whole_word: false,
        }
    }
}

/// A corpus entry and the fragments of it that must never be kept.
#[derive(Debug)]
struct Entry {
    text: String,
    fragments: Vec<Fragment>,
    /// Whether the scrubber can recognise it (a path, an address, a
    /// token, …). Free text (a raw query) is recognisable by nobody: the
    /// probe never puts it in a field the host opted in.
    scrubbable: bool,
}

/// The machine's host name, which the analyzer's scrubber replaces.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default()
}

/// The corpus, for the host `host`.
fn corpus(host: &str) -> Vec<Entry> {
    fn entry(text: &str, fragments: &[&str], scrubbable: bool) -> Entry {
        Entry {
            text: text.to_owned(),
            fragments: fragments.iter().map(|f| Fragment::new(f)).collect(),
            scrubbable,
        }
    }
    let e = |text: &str, fragments: &[&str]| entry(text, fragments, true);
    let free = |text: &str, fragments: &[&str]| entry(text, fragments, false);
    let mut c = vec![
        // Paths: their folders and names.
        e(
            "/home/zanzibar/Documents/taxes 2025.pdf",
            &[USER, "Documents", "taxes"],
        ),
        e("~/.ssh/id_ed25519", &["id_ed25519"]),
        e(r"C:\Users\Zanzibar\secrets.txt", &[USER, "secrets.txt"]),
        e(
            r"D:\Projekte\Kunde-Hagenbeck\vertrag.docx",
            &["Kunde-Hagenbeck", "vertrag.docx"],
        ),
        e(
            "/home/zanzibar/Документы/отчёт.pdf",
            &[USER, "Документы", "отчёт"],
        ),
        e(
            "/srv/clients/acme-divorce/notes.md",
            &["clients/acme", "acme-divorce"],
        ),
        // The user's name.
        e(USER, &[USER]),
        // E-mail and IP addresses.
        e("zanzibar.quux@example.org", &[USER, "quux@example"]),
        e(
            "z.quux+caro@mail.example.co.uk",
            &["z.quux+caro", "mail.example.co.uk"],
        ),
        e("192.168.13.37", &["192.168.13.37"]),
        e("2001:db8::1337", &["2001:db8::1337"]),
        e("fe80::1ff:fe23:4567:890a", &["fe23:4567:890a"]),
        e("no route to 2001:db8::1337.", &["2001:db8::1337"]),
        // Tokens of several providers.
        e(
            "sk-proj-Zq7Xb2Lm9Pw4Rt8Vn1KcA3sD5fG7hJ9kL2mN4pQ6",
            &["Zq7Xb2Lm9Pw4Rt8Vn1Kc"],
        ),
        e(
            "ghp_R4nd0mT0k3nV4lu3F0rC4r0T3st1ngXyZ1A",
            &["R4nd0mT0k3nV4lu3F0r"],
        ),
        e("AKIA4HJ2KQ7WXYZ3MB5N", &["4HJ2KQ7WXYZ3MB5N"]),
        e(
            "xoxb-2718281828-3141592653-QmUxZ3RlbnN0ZWluQm9i",
            &["2718281828", "QmUxZ3RlbnN0ZWluQm9i"],
        ),
        e("glpat-Yt5Hn3Jw8Kd2Ls6Qp9Rv", &["Yt5Hn3Jw8Kd2Ls6Qp9Rv"]),
        e(
            "AIzaSyD4Gk8Lm2Np6Qr0St4Uv8Wx2Yz6Ab0Cd4E",
            &["D4Gk8Lm2Np6Qr0St4Uv8"],
        ),
        e(
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ6YW56aWJhciIsIm5hbWUiOiJaYW56aWJhciBRdXV4In0.Jm9v8Yb3kQz2Lx7Wc4Rt6Np1Vs5Hd0Fg9Mj3Ke8Ua2",
            &["eyJzdWIiOiJ6YW56aWJhciIs", "Jm9v8Yb3kQz2Lx7Wc4Rt6Np1"],
        ),
        e(
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            &["884c7d659a2feaa0c55ad015"],
        ),
        e(
            "Authorization: Bearer dGhpcyBpcyBhIHZlcnkgc2VjcmV0IGJlYXJlciB0b2tlbg==",
            &["dGhpcyBpcyBhIHZlcnkgc2VjcmV0"],
        ),
        // Environment assignments.
        e(
            "OPENAI_API_KEY=sk-Qm3Wn8Rt2Yx6Vb9Kp4Lz7Hc1",
            &["Qm3Wn8Rt2Yx6Vb9Kp4Lz7Hc1"],
        ),
        e(
            "DATABASE_URL=postgres://zanzibar:hunter2@db.internal:5432/ledger",
            &[USER, "hunter2", "db.internal"],
        ),
        e(
            "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYzq8Xk2",
            &["wJalrXUtnFEMI", "bPxRfiCYzq8Xk2"],
        ),
        e(
            "MY_PASSWORD=correct-horse-battery-staple",
            &["correct-horse-battery-staple"],
        ),
        e(
            "export GITHUB_TOKEN=ghp_Wq3Er5Ty7Ui9Op1As3Df5Gh7Jk9Lz2Xc4Vb6",
            &["Wq3Er5Ty7Ui9Op1As3Df5Gh7"],
        ),
        // URLs with credentials or a query string.
        e(
            "https://zanzibar:hunter3@git.example.com/private/repo.git",
            &[USER, "hunter3"],
        ),
        e(
            "https://api.example.com/v1/search?q=divorce+lawyer&key=Tz8Qw4Er6Ty2",
            &["divorce+lawyer", "Tz8Qw4Er6Ty2"],
        ),
        e("http://10.1.2.3:8080/admin", &["10.1.2.3"]),
        // Commands, made of the above.
        e(
            "rm -rf ~/Documents/old && curl http://10.1.2.3/x",
            &[
                "rm -rf ~/Documents/old && curl http://10.1.2.3/x",
                "Documents/old",
                "10.1.2.3",
            ],
        ),
        e(
            "scp /home/zanzibar/notes.txt zanzibar@192.168.13.37:/backup",
            &[USER, "notes.txt", "192.168.13.37"],
        ),
        e(
            "cat /home/zanzibar/.aws/credentials | grep aws_secret_access_key",
            &[USER, ".aws/credentials"],
        ),
        // Raw queries: nothing but the recorder can recognise them.
        free(
            "find all photos of my daughter emma",
            &["find all photos of my daughter emma", "daughter emma"],
        ),
        free(
            "delete the emails from dr morales about my biopsy results",
            &["biopsy results", "dr morales"],
        ),
        free(
            "how do i hide files from my wife",
            &["how do i hide files from my wife"],
        ),
        free(
            "compress the folder with my bank statements from 2024",
            &["bank statements from 2024"],
        ),
    ];
    // The machine's host name, in the corpus whatever it is. A name of
    // one or two characters (`vm`) cannot be told from a part of a word,
    // so the scrubber does not look for it (see `caro_analyze::scrub`),
    // nor does this test.
    if !host.is_empty() {
        let looked_for = (host.chars().count() >= 3).then(|| Fragment {
            whole_word: host.chars().count() < 6,
            ..Fragment::new(host)
        });
        for text in [
            host.to_owned(),
            format!("{USER}@{host}"),
            format!("ssh {host}.local as {USER}"),
        ] {
            let users: &[&str] = if text.contains(USER) { &[USER] } else { &[] };
            let mut x = e(&text, users);
            x.fragments.extend(looked_for.clone());
            c.push(x);
        }
    }
    c
}

/// Every fragment once (by its lower-case text).
fn fragments(entries: &[Entry]) -> Vec<Fragment> {
    let mut all: BTreeMap<String, Fragment> = BTreeMap::new();
    for f in entries.iter().flat_map(|e| &e.fragments) {
        all.entry(f.lower.clone()).or_insert_with(|| f.clone());
    }
    all.into_values().collect()
}

/// Writes the corpus as the probe's two lists; returns its arguments.
fn corpus_args(home: &DataDir, entries: &[Entry]) -> Vec<String> {
    let list = |scrubbable: bool, name: &str| -> String {
        let texts: Vec<&str> = entries
            .iter()
            .filter(|e| e.scrubbable == scrubbable)
            .map(|e| e.text.as_str())
            .collect();
        let path = home.path().join(name);
        std::fs::write(&path, serde_json::to_vec(&texts).unwrap()).unwrap();
        path.display().to_string()
    };
    vec![
        "--corpus".into(),
        list(true, "corpus.json"),
        "--free-text".into(),
        list(false, "free-text.json"),
    ]
}

/// A data folder whose commands run as [`USER`], with a small ring: 2M,
/// as 1M's alert lanes (512 slots each) are lapped by one probe run.
fn privacy_home() -> DataDir {
    let mut home = DataDir::new();
    for (k, v) in [
        ("USER", USER),
        ("LOGNAME", USER),
        ("HOME", HOME),
        ("CARO_RING_SIZE", "2M"),
    ] {
        home.set_env(k, v);
    }
    home
}

/// Runs the probe with the corpus and `extra`; fails the test if the
/// recorder complained.
fn run_probe(home: &DataDir, corpus: &[String], extra: &[&str]) {
    let mut args: Vec<&str> = corpus.iter().map(String::as_str).collect();
    args.extend_from_slice(extra);
    let out = home.probe(&args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("caro-recorder:"),
        "privacy_probe {}: the recorder complained: {err}",
        extra.join(" ")
    );
}

/// `s[at..at + len]` with up to 40 bytes either side, on character
/// boundaries, for a failure message.
fn excerpt(s: &str, at: usize, len: usize) -> String {
    let mut start = at.saturating_sub(40);
    while !s.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = (at + len + 40).min(s.len());
    while !s.is_char_boundary(end) {
        end += 1;
    }
    format!("{:?}", &s[start..end])
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

/// Where `f` is in `s` (whose ASCII lower-case form is `lower`), if it is.
fn find(lower: &str, f: &Fragment) -> Option<usize> {
    let bytes = lower.as_bytes();
    lower.match_indices(&f.lower).map(|(i, _)| i).find(|&i| {
        let end = i + f.lower.len();
        !f.whole_word
            || ((i == 0 || !is_word_byte(bytes[i - 1]))
                && (end == bytes.len() || !is_word_byte(bytes[end])))
    })
}

/// What the test found wrong, said all at once at the end.
#[derive(Debug, Default)]
struct Problems(Vec<String>);

impl Problems {
    /// Adds `p`, unless it was said already (files are scanned twice).
    fn add(&mut self, p: String) {
        if !self.0.contains(&p) {
            self.0.push(p);
        }
    }

    /// Reports each fragment of `fragments` found in `text`, which is
    /// `place`.
    fn scan_text(&mut self, place: &str, text: &str, fragments: &[Fragment]) {
        let lower = text.to_ascii_lowercase();
        for f in fragments {
            if let Some(at) = find(&lower, f) {
                self.add(format!(
                    "{:?} is in {place}: {}",
                    f.text,
                    excerpt(text, at, f.lower.len())
                ));
            }
        }
    }

    /// As [`Problems::scan_text`], in bytes that need not be text (whole
    /// words are not looked for there).
    fn scan_bytes(&mut self, place: &str, bytes: &[u8], fragments: &[Fragment]) {
        let long: Vec<Fragment> = fragments
            .iter()
            .filter(|f| !f.whole_word)
            .cloned()
            .collect();
        self.scan_text(place, &String::from_utf8_lossy(bytes), &long);
    }

    /// Fails the test with every problem, if there is any.
    fn check(self, what: &str) {
        const SHOWN: usize = 80;
        if self.0.is_empty() {
            return;
        }
        let mut msg = format!("{what}: {} problems\n", self.0.len());
        for p in self.0.iter().take(SHOWN) {
            msg.push_str("- ");
            msg.push_str(p);
            msg.push('\n');
        }
        if self.0.len() > SHOWN {
            msg.push_str(&format!("… and {} more\n", self.0.len() - SHOWN));
        }
        panic!("{msg}");
    }
}

fn read_ring(path: &Path) -> (Vec<u8>, Decoded) {
    let bytes = std::fs::read(path).unwrap();
    let decoded =
        decode(&bytes).unwrap_or_else(|e| panic!("{} does not decode: {e:?}", path.display()));
    (bytes, decoded)
}

/// Fails the test unless every record the probe wrote is in the ring:
/// a lapped ring would hide what it lost.
fn assert_nothing_lost(d: &Decoded) {
    let t = d.totals();
    assert_eq!(
        (t.lost_to_laps, t.abandoned, t.corrupt),
        (0, 0, 0),
        "the ring lost slots (lapped, abandoned, corrupt): make it larger\n{}",
        canonical_text(d)
            .lines()
            .filter(|l| l.starts_with("lane "))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// The first wall alone: with the default configuration, no fragment of
/// the corpus reaches the ring, in its bytes or decoded, panic included.
#[test]
fn the_recorder_keeps_none_of_it_by_default() {
    let home = privacy_home();
    let entries = corpus(&host_name());
    let args = corpus_args(&home, &entries);
    run_probe(&home, &args, &[]);
    run_probe(&home, &args, &["--panic"]);

    let (bytes, decoded) = read_ring(&home.ring());
    assert_nothing_lost(&decoded);
    let text = canonical_text(&decoded);
    let all = fragments(&entries);
    let mut problems = Problems::default();
    problems.scan_bytes("the ring's bytes", &bytes, &all);
    problems.scan_text("the ring, decoded", &text, &all);
    problems.check("the recorder kept personal data");

    // Not vacuous: the probe's records are there, placeholders stand for
    // what was withheld, and the harmless identifiers are kept.
    for kept in HARMLESS.iter().chain(&[
        "message=\"a literal message\"",
        "query=<redacted",
        "message=<redacted",
        "error=<redacted",
        "detail=<redacted",
        "request.Query=<redacted",
        " PANIC ",
    ]) {
        assert!(text.contains(kept), "the ring lacks {kept:?}");
    }
}

/// The outputs of the commands run, by command line.
type Outputs = BTreeMap<String, Output>;

/// Runs `caro-analyze args`, keeps its output, and reports a failure or
/// stderr that says something went wrong.
fn run_analyze(home: &DataDir, args: &[&str], outputs: &mut Outputs, problems: &mut Problems) {
    let line = args.join(" ");
    let out = home.analyze(args);
    let err = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        problems.add(format!(
            "`caro-analyze {line}` failed ({}): {}",
            out.status,
            err.chars().take(300).collect::<String>()
        ));
    } else if ["error", "panick", "warn"]
        .iter()
        .any(|w| err.to_ascii_lowercase().contains(w))
    {
        problems.add(format!("`caro-analyze {line}` said on stderr: {err:?}"));
    }
    outputs.insert(line, out);
}

/// Every file under `dir`, by path relative to it.
fn files(dir: &Path) -> Vec<(String, PathBuf)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) {
        for e in std::fs::read_dir(dir).into_iter().flatten() {
            let path = e.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let name = path.strip_prefix(root).unwrap().display().to_string();
                out.push((name, path));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Scans every file of the data folder but the ring: the store's files
/// byte for byte, compressed files decompressed, crash snapshots decoded
/// too. Returns telemetry.log's days, decompressed, by file name.
fn scan_files(home: &DataDir, fragments: &[Fragment], problems: &mut Problems) -> Vec<String> {
    let mut logs = Vec::new();
    for (name, path) in files(&home.caro_dir()) {
        if name == "events.ring" {
            continue;
        }
        let raw = std::fs::read(&path).unwrap();
        let bytes = if name.ends_with(".zst") {
            match zstd::stream::decode_all(&raw[..]) {
                Ok(b) => b,
                Err(e) => {
                    problems.add(format!("{name} does not decompress: {e}"));
                    continue;
                }
            }
        } else {
            raw
        };
        if name.starts_with("metrics.db") {
            problems.scan_bytes(&format!("{name} (raw bytes)"), &bytes, fragments);
        } else if name.starts_with("crashes/") {
            problems.scan_bytes(&format!("{name} (decompressed)"), &bytes, fragments);
            match decode(&bytes) {
                Ok(d) => {
                    problems.scan_text(&format!("{name} (decoded)"), &canonical_text(&d), fragments)
                }
                Err(e) => problems.add(format!("{name} is not a readable ring: {e:?}")),
            }
        } else {
            let text = String::from_utf8_lossy(&bytes);
            problems.scan_text(&name, &text, fragments);
            if name.starts_with("telemetry.log") {
                logs.push(text.into_owned());
            }
        }
    }
    logs
}

/// Every text and blob value of every table of `metrics.db`.
fn scan_store(db: &Path, fragments: &[Fragment], problems: &mut Problems) {
    let conn = open_read_only(db);
    for table in table_names(&conn) {
        let mut q = conn.prepare(&format!("SELECT * FROM \"{table}\"")).unwrap();
        let columns: Vec<String> = q.column_names().iter().map(|c| c.to_string()).collect();
        let rows = q
            .query_map([], |r| {
                (0..columns.len())
                    .map(|i| r.get::<_, Value>(i))
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .unwrap();
        for (i, row) in rows.enumerate() {
            for (column, value) in columns.iter().zip(row.unwrap()) {
                let place = format!("metrics.db, table {table}, row {i}, column {column}");
                match value {
                    Value::Text(t) => problems.scan_text(&place, &t, fragments),
                    Value::Blob(b) => problems.scan_bytes(&place, &b, fragments),
                    _ => {}
                }
            }
        }
    }
}

/// Whether a request row of `metrics.db` has `value` in `column`.
fn stored(db: &Path, column: &str, value: &str) -> bool {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    conn.query_row(
        &format!("SELECT count(*) FROM events WHERE {column} = ?1"),
        [value],
        |r| r.get::<_, u64>(0),
    )
    .unwrap()
        > 0
}

/// RFC 3339 for Unix seconds `s` (UTC).
fn rfc3339(s: u64) -> String {
    // Howard Hinnant's civil_from_days.
    let z = (s / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let t = s % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        t / 3600,
        t / 60 % 60,
        t % 60
    )
}

/// Checks the ring of a probe run with `--keep-text --words`: what the
/// host opted in is there, for the analyzer to scrub; deny-listed fields,
/// messages and free text never are.
fn check_opted_in_ring(
    decoded: &Decoded,
    bytes: &[u8],
    entries: &[Entry],
    problems: &mut Problems,
) -> usize {
    let all = fragments(entries);
    let dict = &decoded.dictionary;
    let mut kept = 0;
    for r in &decoded.records {
        for fv in &r.values {
            let name = field_name(r, dict, usize::from(fv.field));
            let text = value_text(&fv.value, r.callsite, dict);
            let lower = text.to_ascii_lowercase();
            let last = name
                .rsplit('.')
                .next()
                .unwrap_or(&name)
                .to_ascii_lowercase();
            let allowed = OPTED.contains(&last.as_str()) || (last == "note" && !text.contains(' '));
            for f in &all {
                if let Some(at) = find(&lower, f) {
                    if allowed {
                        kept += 1;
                    } else {
                        problems.add(format!(
                            "{:?} is in the ring, in field {name} of a {} record: {}",
                            f.text,
                            r.kind.name(),
                            excerpt(&text, at, f.lower.len())
                        ));
                    }
                }
            }
        }
    }
    let free: Vec<Fragment> = entries
        .iter()
        .filter(|e| !e.scrubbable)
        .flat_map(|e| e.fragments.clone())
        .collect();
    problems.scan_bytes("the ring's bytes (free text)", bytes, &free);
    problems.scan_text(
        "the ring, decoded (free text)",
        &canonical_text(decoded),
        &free,
    );
    kept
}

/// The second wall: the host opts fields in and logs one-word strings,
/// so the ring holds some of the corpus; nothing the analyzer prints or
/// keeps — every command's output, metrics.db, telemetry.log and its
/// archive, crash snapshots — holds any of it, and the harmless
/// identifiers survive.
#[test]
fn the_analyzer_scrubs_what_the_host_opted_in() {
    let mut home = privacy_home();
    let entries = corpus(&host_name());
    let args = corpus_args(&home, &entries);
    run_probe(&home, &args, &["--keep-text", "--words"]);
    run_probe(&home, &args, &["--keep-text", "--words", "--panic"]);
    let all = fragments(&entries);
    let mut problems = Problems::default();

    // The ring: the first wall still holds, and the second has work.
    let (bytes, decoded) = read_ring(&home.ring());
    assert_nothing_lost(&decoded);
    let kept = check_opted_in_ring(&decoded, &bytes, &entries, &mut problems);
    assert!(
        kept > 0,
        "the ring holds none of the corpus although the host opted fields in: \
         the analyzer's wall would not be tested"
    );

    // Every command, then an ingest of the next day's records, which
    // archives telemetry.log (its day follows the records, not the clock
    // alone), and retention; then every command on each crash snapshot.
    let mut outputs = Outputs::new();
    for args in COMMANDS {
        run_analyze(&home, args, &mut outputs, &mut problems);
    }
    scan_files(&home, &all, &mut problems);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    home.sim(&[
        "--queries",
        "3",
        "--seed",
        "1",
        "--time-scale",
        "0",
        "--start",
        &rfc3339(now + 86_400),
    ]);
    home.set_env("CARO_NOW", &rfc3339(now + 86_400 + 3_600));
    run_analyze(&home, &["ingest"], &mut outputs, &mut problems);
    run_analyze(&home, &["gc"], &mut outputs, &mut problems);
    home.unset_env("CARO_NOW");
    let logs = scan_files(&home, &all, &mut problems);
    let names: Vec<String> = files(&home.caro_dir()).into_iter().map(|f| f.0).collect();
    if !names
        .iter()
        .any(|n| n.starts_with("telemetry.log.") && n.ends_with(".zst"))
    {
        problems.add(format!(
            "the next day's ingest archived no telemetry.log day: {names:?}"
        ));
    }
    let snapshots: Vec<PathBuf> = files(&home.caro_dir())
        .into_iter()
        .filter(|(n, _)| n.starts_with("crashes/") && n.ends_with(".zst"))
        .map(|f| f.1)
        .collect();
    if snapshots.is_empty() {
        problems.add("ingest wrote no crash snapshot for the probe's panic".to_owned());
    }
    for snapshot in &snapshots {
        for args in SNAPSHOT_COMMANDS {
            let mut args = args.to_vec();
            args.push(snapshot.to_str().unwrap());
            run_analyze(&home, &args, &mut outputs, &mut problems);
        }
    }
    for (line, out) in &outputs {
        problems.scan_bytes(
            &format!("the stdout of `caro-analyze {line}`"),
            &out.stdout,
            &all,
        );
        problems.scan_bytes(
            &format!("the stderr of `caro-analyze {line}`"),
            &out.stderr,
            &all,
        );
    }
    let db = home.caro_dir().join("metrics.db");
    scan_store(&db, &all, &mut problems);

    // The harmless identifiers survive wherever they belong.
    let stdout = |line: &str| {
        outputs
            .get(line)
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
    };
    let mut must_hold = |place: &str, text: Option<String>, words: &[&str]| {
        let Some(text) = text else { return };
        for w in words {
            if !text.contains(w) {
                problems.add(format!("{w:?} did not survive into {place}"));
            }
        }
    };
    must_hold(
        "logs --format json",
        stdout("logs --format json"),
        &HARMLESS,
    );
    must_hold("telemetry.log", Some(logs.concat()), &HARMLESS);
    must_hold("report", stdout("report"), &["embedded", "BackendTimeout"]);
    must_hold(
        "telemetry preview",
        stdout("telemetry preview"),
        &["embedded", "BackendTimeout"],
    );
    if let Some(r) = stdout("report --json") {
        match serde_json::from_str::<serde_json::Value>(&r) {
            Ok(r) => {
                if r["backends"].get("embedded").is_none() {
                    problems.add(format!(
                        "report --json has no backend embedded: {}",
                        r["backends"]
                    ));
                }
                if r["errors"].get("BackendTimeout").is_none() {
                    problems.add(format!(
                        "report --json has no error BackendTimeout: {}",
                        r["errors"]
                    ));
                }
            }
            Err(e) => problems.add(format!("report --json printed no JSON: {e}")),
        }
    }
    for (column, value) in [
        ("backend", "embedded"),
        ("intent", "file_search"),
        ("error_category", "BackendTimeout"),
    ] {
        if !stored(&db, column, value) {
            problems.add(format!("metrics.db has no request with {column} {value:?}"));
        }
    }
    problems.check("personal data got past the analyzer");
}
