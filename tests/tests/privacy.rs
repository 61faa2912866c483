//! Personal data, end to end. A host (`privacy_probe`) logs a corpus of it
//! everywhere a host can put a value, then every command that reads or
//! keeps what was recorded runs, and no fragment of the corpus may be
//! found in anything they print or keep, while a list of harmless values
//! beside it survives where it belongs.
//!
//! The corpus ([`corpus`], [`NUMBERS`], [`PERSONAL_PROGRAM_TEXT`]): paths
//! (Unix, Windows, UNC, Cyrillic, percent-encoded, with fullwidth or
//! division-slash separators, file names holding the user's name), user
//! and host names (this machine's, `*.local`, `DESKTOP-…`), e-mail
//! addresses (ASCII and internationalised), IPv4 and IPv6 addresses, MAC
//! addresses, phone numbers (E.164 with and without spaces, `tel:`), IBANs
//! (valid mod 97, with and without spaces), card numbers (Luhn-valid,
//! plain, dashed, spaced), tokens of many providers (OpenAI, Anthropic,
//! GitHub, GitLab, AWS, Google API keys and `ya29.` tokens, Slack tokens
//! and webhooks, Discord and Telegram bot tokens, Stripe, Hugging Face,
//! npm), JWTs (one longer than the recorder's 127-byte cut), PEM private
//! keys, `Authorization: Bearer/Basic`, base64 `user:password`, cookies,
//! `NAME=value` and `NAME:value` secrets, an AWS ARN with its account id,
//! URLs with credentials, queries or fragments, shell commands; raw queries
//! that only the recorder can withhold; personal numbers (card, phone,
//! account numbers, a social security number, coordinates) as `u64` and
//! `f64`; and program text that is itself personal (a `target:`, span
//! names, literal messages, a static value and a field name holding an
//! address, a path, a secret).
//!
//! The places (see `recorder/examples/privacy_probe.rs`): event fields,
//! deny-listed by word, suffix, qualifier, glued and camel-cased names;
//! span fields at creation and by `Span::record`; `#[instrument]`
//! arguments, `ret` and `err`; messages with arguments (`{}`, `{:?}`,
//! inline, padded, mixed with program text); `Display` and `Debug` values;
//! error chains (our own, `io::Error`, boxed); free text; a panic message;
//! a span left open; values outside any span; numbers in deny-listed
//! fields, messages and `Debug` values.
//!
//! The modes: the recorder installed by `Config::init` and as a layer
//! beside a `fmt` layer, each by default (wall 1 alone must keep the ring
//! free of the corpus, but for the program text) and with `--keep-text`
//! (fields opted in: the ring holds some of the corpus on purpose, and
//! wall 2, the analyzer, must keep it out of everything it keeps or
//! prints); and a lapped ring with a SIGKILLed writer (crash snapshots
//! must not copy the orphaned and half-written slots).
//!
//! The scans: the ring (bytes and decoded), every file of the data folder
//! (metrics.db and its WAL byte for byte, every text and blob of every
//! table, telemetry.log and its zstd archives decompressed, crash
//! snapshots decompressed and decoded), and the stdout and stderr of every
//! command (`ingest`, `report`, `logs`, `status`, `traces`, every
//! `export`, `serve`'s `/metrics` and `/healthz`, `telemetry`, `gc`,
//! `clear`, and the commands that read a crash snapshot; not `logs
//! --follow`, which does not end, nor `export --endpoint`, which needs a
//! collector and sends what `export --format otlp` prints). JSON and
//! Prometheus outputs are scanned as printed and with their escapes
//! undone.
//!
//! The data folder is `~/.cache/caro` of a home whose path holds the
//! user's name: a command that prints it in full leaks the name (paths are
//! shown with the home as `~`).
//!
//! A failure lists every leak by fragment with where it was found (and a
//! few characters around it), every harmless value lost, and every command
//! that failed.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Output, Stdio};
use std::time::Duration;

use caro_format::text::{canonical_text, field_name, value_text};
use caro_format::{decode, Decoded};
use caro_tests::store::{open_read_only, table_names};
use caro_tests::{bins, free_port, wait_for, DataDir};
use rusqlite::types::Value;

/// The user the commands run as: `USER`, `LOGNAME`, and the last part of
/// `HOME`.
const USER: &str = "zanzibar";

/// Ring size of the runs that must not lap: the probe's run (with its
/// thousands of WARN and ERROR records) fits in its alert lanes.
const RING: &str = "8M";
/// Ring size of the run that must lap: the smallest lanes.
const SMALL_RING: &str = "256K";

/// The fields the probe's `--keep-text` opts in (and does not deny): the
/// only ones whose values may hold the corpus in the ring, with the plain
/// fields below.
const OPTED: [&str; 3] = ["detail", "error", "reason"];
/// Plain fields the probe fills with run-time strings: the recorder keeps
/// those that are identifier-shaped (with `--words`).
const PLAIN: [&str; 2] = ["note", "contact"];

/// Fragments of the probe's program text that are personal on purpose (a
/// `target:` and span names holding an e-mail address, literal messages
/// holding paths and an IP address, a static value holding a secret, a
/// field named by an address; see `personal_program_text` in the probe).
/// Program text is kept by the recorder by design, so they are not looked
/// for in the ring; the analyzer must scrub them from all it keeps and
/// prints.
const PERSONAL_PROGRAM_TEXT: [&str; 7] = [
    "jdoe@corp.example",
    "corp.example",
    "/home/jdoe",
    "Private/ledger.ods",
    "caro/credentials.toml",
    "10.77.0.12",
    "Zk4Lq9Wm2Xv7Bn3Hc8Jd",
];

/// The probe's forms of personal program text: a `target:`, a span name,
/// an `#[instrument]` name, two literal messages, a static value, a field
/// name.
const PROGRAM_TEXT_FORMS: usize = 7;

/// Personal numbers the probe logs as numbers (`u64`, or `f64` for the
/// coordinates), as JSON and as text: into deny-listed fields, messages
/// with arguments and `Debug` values, never into plain fields (where a
/// number is kept by design).
const NUMBERS: [&str; 8] = [
    // Card numbers (Visa, Mastercard), Luhn-valid.
    "4532017488263511",
    "5520049328716359",
    // Phones: +49 151 27183945, +1 650 555 0147.
    "4915127183945",
    "16505550147",
    // An account number, a social security number.
    "739164582",
    "536904172",
    // A home's latitude and longitude.
    "52.5200081",
    "13.4049543",
];

/// Where a harmless value must be found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    /// The ring, decoded.
    Ring,
    /// `logs` and `logs --format json`.
    Logs,
    /// telemetry.log (and its archives).
    TelemetryLog,
    /// `report` and `report --json`.
    Report,
    /// `telemetry preview`.
    Preview,
    /// `export --format prometheus` and `serve`'s `/metrics`.
    Metrics,
    /// metrics.db's `events` table, in this column.
    Stored(&'static str),
}

/// A value that is not personal, and where it must survive.
#[derive(Debug)]
struct Harmless {
    text: &'static str,
    /// Only when the probe opts fields in (`--keep-text`).
    keep_text_only: bool,
    places: &'static [Place],
}

/// The harmless values the probe logs (see `harmless` in the probe), and
/// where each must survive, by the rules of the two walls:
///
/// - program text (`embedded`, `BackendTimeout`, `/api/generate`,
///   `http://localhost:11434`, `src/main.rs`, the target `caro::agent`,
///   a program-text message argument) is kept by the recorder, and is no
///   datum for the scrubber: it reaches the ring, `logs` and
///   telemetry.log; backend and error names reach the report, the
///   telemetry preview, the metrics and the store's columns too;
/// - identifier-shaped run-time strings (the intent `file_search`, the
///   model tag `qwen2.5-coder:1.5b`, the version `1.4.2`) are kept by the
///   recorder and not scrubbed; the host's version (`Config::version`)
///   is in the telemetry preview;
/// - a `Debug` duration in a message is program text and small numbers:
///   `model loaded in 1.4s` is shown as such;
/// - a message with a run-time argument keeps its literal text and shows
///   a hole: `Sending to <redacted N bytes>`;
/// - a UUID in a field the host opted in is kept by the recorder (only
///   then: otherwise it is a run-time `Display` value) and is no datum for
///   the scrubber.
const HARMLESS: &[Harmless] = &[
    Harmless {
        text: "embedded",
        keep_text_only: false,
        places: &[
            Place::Ring,
            Place::Logs,
            Place::TelemetryLog,
            Place::Report,
            Place::Preview,
            Place::Metrics,
            Place::Stored("backend"),
        ],
    },
    Harmless {
        text: "file_search",
        keep_text_only: false,
        places: &[
            Place::Ring,
            Place::Logs,
            Place::TelemetryLog,
            Place::Stored("intent"),
        ],
    },
    Harmless {
        text: "BackendTimeout",
        keep_text_only: false,
        places: &[
            Place::Ring,
            Place::Logs,
            Place::TelemetryLog,
            Place::Report,
            Place::Preview,
            Place::Stored("error_category"),
        ],
    },
    Harmless {
        text: "qwen2.5-coder:1.5b",
        keep_text_only: false,
        places: &[Place::Ring, Place::Logs, Place::TelemetryLog],
    },
    Harmless {
        text: "1.4.2",
        keep_text_only: false,
        places: &[
            Place::Ring,
            Place::Logs,
            Place::TelemetryLog,
            Place::Preview,
        ],
    },
    Harmless {
        text: "/api/generate",
        keep_text_only: false,
        places: &[Place::Ring, Place::Logs, Place::TelemetryLog],
    },
    Harmless {
        text: "http://localhost:11434",
        keep_text_only: false,
        places: &[Place::Ring, Place::Logs, Place::TelemetryLog],
    },
    Harmless {
        text: "src/main.rs",
        keep_text_only: false,
        places: &[Place::Ring, Place::Logs, Place::TelemetryLog],
    },
    Harmless {
        text: "caro::agent",
        keep_text_only: false,
        places: &[Place::Ring, Place::Logs, Place::TelemetryLog],
    },
    Harmless {
        text: "Using backend embedded",
        keep_text_only: false,
        places: &[Place::Logs, Place::TelemetryLog],
    },
    Harmless {
        text: "model loaded in 1.4s",
        keep_text_only: false,
        places: &[Place::Logs, Place::TelemetryLog],
    },
    Harmless {
        text: "Sending to <redacted ",
        keep_text_only: false,
        places: &[Place::Logs, Place::TelemetryLog],
    },
    Harmless {
        text: "3f6b2c1e-8d4a-4e7b-9c2d-5a1f0e9b7c34",
        keep_text_only: true,
        places: &[Place::Ring, Place::Logs, Place::TelemetryLog],
    },
];

/// Every command whose output is checked, in this order, after the probe
/// ran.
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
    &["telemetry", "enable"],
    &["telemetry", "preview", "--no-ingest"],
    &["telemetry", "disable"],
    &["traces", "--last", "100000"],
    &["traces", "--json", "--last", "100000"],
    &["traces", "--errors", "--last", "100000", "--no-ingest"],
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
    &["status", "--json", "--ring"],
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

/// A JWT of 379 bytes (RS256; its payload holds an issuer, a subject, an
/// e-mail address and a name): longer than the 127 bytes the recorder
/// keeps of a string, so the scrubber sees it cut.
const LONG_JWT: &str = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6Ims3UXoyIn0.\
eyJpc3MiOiJodHRwczovL2F1dGguZXhhbXBsZS5uZXQvIiwic3ViIjoidXNlci01NTIxOTczIiwiZW1haWwiOiJ6YW56aWJh\
ci5xdXV4QGV4YW1wbGUubmV0IiwibmFtZSI6IlphbnppYmFyIFF1dXgiLCJvcmciOiJIYWdlbmJlY2sgTG9naXN0aWNzIiwi\
aWF0IjoxNzY3MjI1NjAwLCJleHAiOjE3NjcyMjkyMDB9.\
BYYfBmVn7mphCt_qMpZk4RNAj_VO_KfHXK14w-lh54AFhh8GZWfuamEK3-oylmThE0CP9U78p8dcrXjD6WHngA";

/// The corpus of strings, for the host `host`.
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
        e(
            "/Users/zanzibar/Library/Keychains/login.keychain-db",
            &[USER, "Keychains/login"],
        ),
        e(
            r"\\fileserver\zanzibar$\payroll.xlsx",
            &[USER, "payroll.xlsx", "fileserver"],
        ),
        // Percent-encoded paths, and paths with separators of other
        // scripts (fullwidth solidus and reverse solidus, division slash).
        e(
            "%2Fhome%2Fzanzibar%2FDocuments%2Fbank.pdf",
            &[USER, "%2FDocuments%2F", "bank.pdf"],
        ),
        e(
            "C%3A%5CUsers%5CZanzibar%5Cpayslip.pdf",
            &[USER, "payslip.pdf"],
        ),
        e(
            "／home／zanzibar／Private／diary.txt",
            &[USER, "diary.txt", "／Private"],
        ),
        e(
            "C：＼Users＼Zanzibar＼tax-return.pdf",
            &[USER, "tax-return.pdf"],
        ),
        e("∕srv∕backup∕medical-records.tar", &["medical-records"]),
        // File names that hold the user's name.
        e("zanzibar_cv.pdf", &[USER]),
        e("Lebenslauf_Zanzibar_2025.docx", &[USER]),
        // The user's name.
        e(USER, &[USER]),
        // E-mail addresses, ASCII and internationalised.
        e("zanzibar.quux@example.org", &[USER, "quux@example"]),
        e(
            "z.quux+caro@mail.example.co.uk",
            &["z.quux+caro", "mail.example.co.uk"],
        ),
        e("jürgen.weiß@beispiel.de", &["jürgen.weiß", "weiß@beispiel"]),
        e("zoë.quux@exämple.org", &["zoë.quux", "exämple.org"]),
        e("用户@例子.广告", &["用户@例子"]),
        e(
            "caro-ci@zanzibar-prod-31337.iam.gserviceaccount.com",
            &[USER, "caro-ci@", "31337.iam"],
        ),
        // Machines' names.
        e("someones-macbook-air.local", &["someones-macbook"]),
        e("DESKTOP-4F2K9QX", &["4F2K9QX"]),
        e("zanzibars-iphone.lan", &[USER, "s-iphone"]),
        // IP and MAC addresses.
        e("192.168.13.37", &["192.168.13.37"]),
        e("2001:db8::1337", &["2001:db8::1337"]),
        e("fe80::1ff:fe23:4567:890a", &["fe23:4567:890a"]),
        e("no route to 2001:db8::1337.", &["2001:db8::1337"]),
        e("10.20.30.0/24", &["10.20.30.0"]),
        e("::ffff:192.0.2.45", &["192.0.2.45"]),
        e("fe80::3e22:fbff:fe7a:19e4%en0", &["fbff:fe7a:19e4"]),
        e("3c:22:fb:7a:19:e4", &["fb:7a:19:e4"]),
        e("3C-22-FB-7A-19-E5", &["FB-7A-19-E5"]),
        e("a4c3.f04d.9e21", &["a4c3.f04d"]),
        // Phone numbers.
        e("+49 151 27183945", &["151 27183945", "27183945"]),
        e("+14155550123", &["4155550123"]),
        e("tel:+1-555-0100", &["555-0100"]),
        e("+44 20 7946 0958", &["7946 0958"]),
        e("+33 6 12 34 56 78", &["6 12 34 56 78"]),
        // IBANs (valid mod 97), plain and in groups.
        e("DE12500105170648489890", &["500105170648489890"]),
        e(
            "DE31 7603 0080 0492 3716 41",
            &["7603 0080 0492", "0492 3716 41"],
        ),
        e("GB90MIDL40051522334455", &["40051522334455"]),
        e("NL09 RABO 0318 6427 59", &["0318 6427 59"]),
        e("CH940076242718281828X", &["0076242718281828"]),
        // Card numbers (Luhn-valid), plain, dashed, spaced.
        e("4917628319405728", &["4917628319405728", "628319405728"]),
        e("5520-0493-2871-6359", &["0493-2871-6359"]),
        e("3782 819301 74628", &["819301 74628"]),
        e("6011 0085 7342 8171", &["0085 7342 8171"]),
        // Tokens of several providers.
        e(
            "sk-proj-Zq7Xb2Lm9Pw4Rt8Vn1KcA3sD5fG7hJ9kL2mN4pQ6",
            &["Zq7Xb2Lm9Pw4Rt8Vn1Kc"],
        ),
        e(
            "sk-ant-api03-Xb3Zq6Yt5Hn3JwQmTzLk8Pw2Rt4Vn9Kc1-AbCdEf",
            &["Xb3Zq6Yt5Hn3JwQmTzLk8"],
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
            "ya29.a0AfB_byC7kQ2mN9pL4xR8tV1wZ5sJ3hG6fD0eY2uI7oP",
            &["a0AfB_byC7kQ2mN9pL4xR8"],
        ),
        e(
            "https://hooks.slack.com/services/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",
            &["T0ZQ3K8LM", "qW3eRt5yU7iO9pA1sD3fG5hJ"],
        ),
        e(
            "MTA5NjQ3ODU2NzEyMzQ1Njc4OQ.GhXk2P.aB3cD4eF5gH6iJ7kL8mN9oP0qR1sT2uV3wX4yZ",
            &["MTA5NjQ3ODU2NzEyMzQ1Njc4OQ", "aB3cD4eF5gH6iJ7kL8mN9oP0"],
        ),
        e(
            "6172839405:AAH3kLm9Pq2Rs8Tv4Wx7Yz1Ab5Cd6Ef0GhI",
            &["6172839405", "AAH3kLm9Pq2Rs8Tv4Wx7"],
        ),
        e(
            "sk_live_51HqLm2Pw9Rt4Vn8Kc1Xb3Zq6Yt5Hn3Jw",
            &["51HqLm2Pw9Rt4Vn8Kc1Xb3"],
        ),
        e(
            "hf_QmTzLk8Pw2Rt4Vn9Kc1Xb3Zq6Yt5Hn3Jw",
            &["QmTzLk8Pw2Rt4Vn9Kc1X"],
        ),
        e(
            "npm_Lk8Pw2Rt4Vn9Kc1Xb3Zq6Yt5Hn3JwQmTz",
            &["Lk8Pw2Rt4Vn9Kc1Xb3Zq"],
        ),
        e(
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ6YW56aWJhciIsIm5hbWUiOiJaYW56aWJhciBRdXV4In0.Jm9v8Yb3kQz2Lx7Wc4Rt6Np1Vs5Hd0Fg9Mj3Ke8Ua2",
            &["eyJzdWIiOiJ6YW56aWJhciIs", "Jm9v8Yb3kQz2Lx7Wc4Rt6Np1"],
        ),
        e(
            LONG_JWT,
            &[
                "eyJpc3MiOiJodHRwczovL2F1dGg",
                "ZW1haWwiOiJ6YW56aWJh",
                "BYYfBmVn7mphCt_qMpZk4RNAj",
            ],
        ),
        e(
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            &["884c7d659a2feaa0c55ad015"],
        ),
        e(
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAq7Xk2Lm9Pw4Rt8Vn1KcA3sD5fG7hJ9kL2mN4pQ6Yt5Hn3Jw8Kd2Ls6",
            &["q7Xk2Lm9Pw4Rt8Vn1KcA3sD5"],
        ),
        // Credentials in headers, cookies, base64.
        e(
            "Authorization: Bearer dGhpcyBpcyBhIHZlcnkgc2VjcmV0IGJlYXJlciB0b2tlbg==",
            &["dGhpcyBpcyBhIHZlcnkgc2VjcmV0"],
        ),
        e(
            "Authorization: Basic ZGVwbG95LWJvdDpXcTkhdkwyI3BYN3M=",
            &["ZGVwbG95LWJvdDpXcTkhdkwyI3BYN3M"],
        ),
        e("emFuemliYXI6VHIwdWI0ZG9yJjM=", &["emFuemliYXI6VHIwdWI0ZG9yJjM"]),
        e(
            "Cookie: sessionid=k8Qz3Lm7Wx2Pv9Rt4Yb6Nc1D; csrftoken=Xy7Qw2Er9Ty4Ui6Op1As3Df",
            &["k8Qz3Lm7Wx2Pv9Rt4Yb6Nc1D", "Xy7Qw2Er9Ty4Ui6Op1As3Df"],
        ),
        e(
            "Set-Cookie: SID=g.a000kQjT8Lm2Pw9Rt4Vn8Kc1Xb3Zq6; Path=/; Secure",
            &["kQjT8Lm2Pw9Rt4Vn8Kc1"],
        ),
        e(
            "{\"api_key\": \"Qx7Lm2Pw9Rt4Vn8Kc1Xb\"}",
            &["Qx7Lm2Pw9Rt4Vn8Kc1Xb"],
        ),
        e(
            "arn:aws:iam::418273645091:user/zanzibar",
            &["418273645091", USER],
        ),
        // Environment assignments and NAME:value secrets.
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
        e("PGPASSWORD:s3cr3t-Pg-pw", &["s3cr3t-Pg-pw"]),
        e("db_pass=Qu4ntum-Leap", &["Qu4ntum-Leap"]),
        // URLs with credentials, a query string or a fragment.
        e(
            "https://zanzibar:hunter3@git.example.com/private/repo.git",
            &[USER, "hunter3"],
        ),
        e(
            "https://api.example.com/v1/search?q=divorce+lawyer&key=Tz8Qw4Er6Ty2",
            &["divorce+lawyer", "Tz8Qw4Er6Ty2"],
        ),
        e("http://10.1.2.3:8080/admin", &["10.1.2.3"]),
        e(
            "https://app.example.com/callback#access_token=Tk9Lm2Pw4Rt8Vn1Kc",
            &["Tk9Lm2Pw4Rt8Vn1Kc"],
        ),
        e(
            "redis://:Rd5Pw9Lm2Qx7@cache.internal:6379/0",
            &["Rd5Pw9Lm2Qx7", "cache.internal"],
        ),
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
        free(
            "email my landlord that rent for flat 4b is late again",
            &["my landlord", "flat 4b"],
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
fn fragments<'a>(all: impl IntoIterator<Item = &'a Fragment>) -> Vec<Fragment> {
    let mut out: BTreeMap<String, Fragment> = BTreeMap::new();
    for f in all {
        out.entry(f.lower.clone()).or_insert_with(|| f.clone());
    }
    out.into_values().collect()
}

/// What the run-time corpus is, all of it: strings and numbers.
fn runtime_fragments(entries: &[Entry]) -> Vec<Fragment> {
    let numbers: Vec<Fragment> = NUMBERS.iter().map(|n| Fragment::new(n)).collect();
    fragments(entries.iter().flat_map(|e| &e.fragments).chain(&numbers))
}

/// Everything that must never leave the analyzer: the run-time corpus
/// and the personal program text.
fn analyzer_fragments(entries: &[Entry]) -> Vec<Fragment> {
    let program: Vec<Fragment> = PERSONAL_PROGRAM_TEXT
        .iter()
        .map(|f| Fragment::new(f))
        .collect();
    fragments(runtime_fragments(entries).iter().chain(&program))
}

/// The numbers as the ring would hold them if one were kept (`u64` or
/// `f64`, little-endian), for the ring's and the snapshots' bytes. Numbers
/// below 2^40 are left out: their bytes (with five zeros) are found by
/// chance.
fn number_bytes() -> Vec<(String, Vec<u8>)> {
    NUMBERS
        .iter()
        .filter_map(|n| {
            let bytes = match n.parse::<u64>() {
                Ok(v) if v >= 1 << 40 => v.to_le_bytes(),
                Ok(_) => return None,
                Err(_) => n.parse::<f64>().unwrap().to_le_bytes(),
            };
            Some((n.to_string(), bytes.to_vec()))
        })
        .collect()
}

/// How the probe records.
#[derive(Clone, Copy, Debug)]
struct Mode {
    /// As a layer beside a fmt layer (`--layer`), else by `init`.
    layer: bool,
    /// Fields opted in with `keep_text_fields` (`--keep-text --words`).
    keep_text: bool,
}

impl Mode {
    fn args(self) -> Vec<&'static str> {
        let mut a = Vec::new();
        if self.layer {
            a.push("--layer");
        }
        if self.keep_text {
            a.extend(["--keep-text", "--words"]);
        }
        a
    }
}

/// A home for the user [`USER`] (`<tmp>/home/zanzibar`), whose
/// `~/.cache` is the data folder's parent, and the environment the probe
/// and the commands run in.
struct Home {
    dir: DataDir,
    home: PathBuf,
}

impl Home {
    fn new(ring_size: &str) -> Home {
        let mut dir = DataDir::new();
        let home = dir.path().join("home").join(USER);
        std::fs::create_dir_all(home.join(".cache")).unwrap();
        for (k, v) in [
            ("USER", USER),
            ("LOGNAME", USER),
            ("HOME", home.to_str().unwrap()),
            ("XDG_CACHE_HOME", home.join(".cache").to_str().unwrap()),
            ("CARO_RING_SIZE", ring_size),
            ("NO_COLOR", "1"),
        ] {
            dir.set_env(k, v);
        }
        Home { dir, home }
    }

    fn caro_dir(&self) -> PathBuf {
        self.home.join(".cache/caro")
    }

    fn ring(&self) -> PathBuf {
        self.caro_dir().join("events.ring")
    }

    /// Writes the corpus as the probe's three lists; returns its
    /// arguments.
    fn corpus_args(&self, entries: &[Entry]) -> Vec<String> {
        let list = |scrubbable: bool, name: &str| -> String {
            let texts: Vec<&str> = entries
                .iter()
                .filter(|e| e.scrubbable == scrubbable)
                .map(|e| e.text.as_str())
                .collect();
            let path = self.dir.path().join(name);
            std::fs::write(&path, serde_json::to_vec(&texts).unwrap()).unwrap();
            path.display().to_string()
        };
        let numbers = self.dir.path().join("numbers.json");
        std::fs::write(&numbers, format!("[{}]", NUMBERS.join(", "))).unwrap();
        vec![
            "--corpus".into(),
            list(true, "corpus.json"),
            "--free-text".into(),
            list(false, "free-text.json"),
            "--numbers".into(),
            numbers.display().to_string(),
        ]
    }

    /// Runs the probe with the corpus and `extra`; fails the test if the
    /// recorder complained.
    fn probe(&self, corpus: &[String], extra: &[&str]) {
        let mut args: Vec<&str> = corpus.iter().map(String::as_str).collect();
        args.extend_from_slice(extra);
        let out = self.dir.probe(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !err.contains("caro-recorder:"),
            "privacy_probe {}: the recorder complained: {err}",
            extra.join(" ")
        );
    }

    /// Starts the probe with `--hang`, waits until it writes in a loop,
    /// lets it write a little longer and SIGKILLs it.
    fn probe_killed(&self, corpus: &[String], extra: &[&str], after: Duration) {
        let mut child = self
            .dir
            .command(&bins().probe)
            .args(corpus)
            .args(extra)
            .arg("--hang")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(
            line, "writing\n",
            "privacy_probe --hang did not start writing"
        );
        std::thread::sleep(after);
        // Child::kill is SIGKILL on Unix: the writer stops mid-record.
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert!(!status.success(), "privacy_probe --hang ended by itself");
    }
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

/// `text` with JSON's and Prometheus' escapes undone (`\uXXXX` with
/// surrogate pairs, `\\`, `\"`, `\/`, `\n`, `\t`), when it has any: a
/// fragment escaped on its way out is still found.
fn unescaped(text: &str) -> Option<String> {
    if !text.contains('\\') {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let hex4 = |chars: &mut std::iter::Peekable<std::str::Chars>| -> Option<u32> {
        let s: String = (0..4).filter_map(|_| chars.next()).collect();
        u32::from_str_radix(&s, 16).ok().filter(|_| s.len() == 4)
    };
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('u') => {
                let Some(hi) = hex4(&mut chars) else {
                    out.push('?');
                    continue;
                };
                let code = if (0xD800..0xDC00).contains(&hi) && chars.peek() == Some(&'\\') {
                    let mut ahead = chars.clone();
                    ahead.next();
                    match (ahead.next(), hex4(&mut ahead)) {
                        (Some('u'), Some(lo)) if (0xDC00..0xE000).contains(&lo) => {
                            chars = ahead;
                            0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                        }
                        _ => hi,
                    }
                } else {
                    hi
                };
                out.push(char::from_u32(code).unwrap_or('?'));
            }
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    Some(out)
}

/// What the test found wrong, said all at once at the end.
#[derive(Debug, Default)]
struct Problems {
    /// Fragment → place → an excerpt around its first sighting there.
    leaks: BTreeMap<String, BTreeMap<String, String>>,
    /// Harmless values lost: value → places.
    lost: BTreeMap<String, BTreeSet<String>>,
    /// Commands that failed, files that do not read, …
    other: Vec<String>,
}

impl Problems {
    fn leak(&mut self, fragment: &str, place: &str, excerpt: String) {
        self.leaks
            .entry(fragment.to_owned())
            .or_default()
            .entry(place.to_owned())
            .or_insert(excerpt);
    }

    fn lost(&mut self, value: &str, place: &str) {
        self.lost
            .entry(value.to_owned())
            .or_default()
            .insert(place.to_owned());
    }

    fn other(&mut self, p: String) {
        if !self.other.contains(&p) {
            self.other.push(p);
        }
    }

    /// Reports each fragment of `fragments` found in `text`, which is
    /// `place` (as printed, and with its escapes undone).
    fn scan_text(&mut self, place: &str, text: &str, fragments: &[Fragment]) {
        let plain = unescaped(text);
        for t in std::iter::once(text).chain(plain.as_deref()) {
            let lower = t.to_ascii_lowercase();
            for f in fragments {
                if let Some(at) = find(&lower, f) {
                    self.leak(&f.text, place, excerpt(t, at, f.lower.len()));
                }
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

    /// Reports each of `needles` (a name and its bytes) found in `bytes`.
    fn scan_raw(&mut self, place: &str, bytes: &[u8], needles: &[(String, Vec<u8>)]) {
        for (name, needle) in needles {
            if let Some(at) = bytes.windows(needle.len()).position(|w| w == &needle[..]) {
                self.leak(name, place, format!("as binary, at byte {at}"));
            }
        }
    }

    /// Fails the test with every problem, if there is any.
    fn check(self, what: &str) {
        const SHOWN: usize = 6;
        if self.leaks.is_empty() && self.lost.is_empty() && self.other.is_empty() {
            return;
        }
        let places: usize = self.leaks.values().map(BTreeMap::len).sum();
        let mut msg = format!(
            "{what}: {} fragments leaked ({places} fragment-places), {} harmless values lost, \
             {} other problems\n",
            self.leaks.len(),
            self.lost.len(),
            self.other.len()
        );
        for (fragment, at) in &self.leaks {
            msg.push_str(&format!("LEAK {fragment:?} in {} places:\n", at.len()));
            for (place, excerpt) in at.iter().take(SHOWN) {
                msg.push_str(&format!("    {place}: {excerpt}\n"));
            }
            if at.len() > SHOWN {
                let rest: Vec<&str> = at.keys().skip(SHOWN).map(String::as_str).collect();
                msg.push_str(&format!("    and {}\n", rest.join("; ")));
            }
        }
        for (value, places) in &self.lost {
            let places: Vec<&str> = places.iter().map(String::as_str).collect();
            msg.push_str(&format!("LOST {value:?} from {}\n", places.join(", ")));
        }
        for p in &self.other {
            msg.push_str(&format!("OTHER {p}\n"));
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

/// The first wall with the default configuration: no fragment of the
/// run-time corpus reaches the ring, in its bytes or decoded, panic
/// included; the personal program text is there by design, and not
/// looked for.
fn check_default_ring(decoded: &Decoded, bytes: &[u8], entries: &[Entry], problems: &mut Problems) {
    let all = runtime_fragments(entries);
    problems.scan_bytes("the ring's bytes", bytes, &all);
    problems.scan_raw("the ring's bytes", bytes, &number_bytes());
    problems.scan_text("the ring, decoded", &canonical_text(decoded), &all);
}

/// The first wall with fields opted in (`--keep-text --words`): what the
/// host opted in, and identifier-shaped strings in plain fields, are
/// there for the analyzer to scrub; deny-listed fields, messages, `Debug`
/// values, free text and numbers never are. Returns how many corpus
/// fragments the ring holds where allowed.
fn check_opted_in_ring(
    decoded: &Decoded,
    bytes: &[u8],
    entries: &[Entry],
    problems: &mut Problems,
) -> usize {
    let all = runtime_fragments(entries);
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
            let allowed = OPTED.contains(&last.as_str())
                || (PLAIN.contains(&last.as_str()) && !text.contains(char::is_whitespace));
            for f in &all {
                if let Some(at) = find(&lower, f) {
                    if allowed {
                        kept += 1;
                    } else {
                        problems.leak(
                            &f.text,
                            &format!("the ring, field {name} of a {} record", r.kind.name()),
                            excerpt(&text, at, f.lower.len()),
                        );
                    }
                }
            }
        }
    }
    let never: Vec<Fragment> = fragments(
        entries
            .iter()
            .filter(|e| !e.scrubbable)
            .flat_map(|e| &e.fragments)
            .chain(&NUMBERS.iter().map(|n| Fragment::new(n)).collect::<Vec<_>>()),
    );
    problems.scan_bytes("the ring's bytes (free text, numbers)", bytes, &never);
    problems.scan_raw("the ring's bytes", bytes, &number_bytes());
    problems.scan_text(
        "the ring, decoded (free text, numbers)",
        &canonical_text(decoded),
        &never,
    );
    kept
}

/// The outputs of the commands run, by command line.
type Outputs = BTreeMap<String, Output>;

/// Runs `caro-analyze args`, keeps its output, and reports a failure, or
/// stderr that says something went wrong unless `warnings` are expected
/// (a lapped ring, a killed writer).
fn run_analyze(
    home: &Home,
    args: &[&str],
    warnings: bool,
    outputs: &mut Outputs,
    problems: &mut Problems,
) {
    let line = args.join(" ");
    let out = home.dir.analyze(args);
    let err = String::from_utf8_lossy(&out.stderr);
    let words: &[&str] = if warnings {
        &["error", "panick"]
    } else {
        &["error", "panick", "warn"]
    };
    if !out.status.success() {
        problems.other(format!(
            "`caro-analyze {line}` failed ({}): {}",
            out.status,
            err.chars().take(300).collect::<String>()
        ));
    } else if words.iter().any(|w| err.to_ascii_lowercase().contains(w)) {
        problems.other(format!("`caro-analyze {line}` said on stderr: {err:?}"));
    }
    outputs.insert(line, out);
}

/// `GET target` from `addr`: the whole response, head and body.
fn http_get(addr: &str, target: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    write!(
        stream,
        "GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    Ok(String::from_utf8_lossy(&raw).into_owned())
}

/// `caro-analyze serve` on a free port: its `/metrics` and `/healthz`,
/// and what it printed, as outputs `serve GET /metrics`, ….
fn run_serve(home: &Home, outputs: &mut Outputs, problems: &mut Problems) {
    let addr = format!("127.0.0.1:{}", free_port());
    let mut child = home.dir.spawn_analyze(&["serve", "--listen", &addr]);
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    let _ = stderr.read_line(&mut first);
    let mut bodies = Vec::new();
    for target in ["/metrics", "/healthz"] {
        match http_get(&addr, target) {
            Ok(reply) => bodies.push((target, reply)),
            Err(e) => problems.other(format!(
                "`caro-analyze serve` did not answer GET {target} ({e}; it said {first:?})"
            )),
        }
    }
    let _ = child.kill();
    let mut rest = String::new();
    let _ = stderr.read_to_string(&mut rest);
    wait_for(&mut child, Duration::from_secs(10)).expect("serve exits when killed");
    for (target, reply) in bodies {
        let ok = reply.starts_with("HTTP/1.1 200");
        if !ok {
            problems.other(format!(
                "`caro-analyze serve` answered GET {target} with {:?}",
                reply.lines().next()
            ));
        }
        outputs.insert(
            format!("serve GET {target}"),
            Output {
                // The server was killed: the answer's status stands for
                // its own.
                status: ExitStatus::from_raw(if ok { 0 } else { 1 << 8 }),
                stdout: reply.into_bytes(),
                stderr: format!("{first}{rest}").into_bytes(),
            },
        );
    }
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
/// too. Returns telemetry.log's days, decompressed.
fn scan_files(home: &Home, fragments: &[Fragment], problems: &mut Problems) -> Vec<String> {
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
                    problems.other(format!("{name} does not decompress: {e}"));
                    continue;
                }
            }
        } else {
            raw
        };
        let shown = if name.starts_with("crashes/") {
            "crashes/<snapshot>".to_owned()
        } else if name.starts_with("telemetry.log.") {
            "telemetry.log.<day>.zst".to_owned()
        } else {
            name.clone()
        };
        if name.starts_with("metrics.db") {
            problems.scan_bytes(&format!("{shown} (raw bytes)"), &bytes, fragments);
        } else if name.starts_with("crashes/") {
            problems.scan_bytes(&format!("{shown} (decompressed)"), &bytes, fragments);
            problems.scan_raw(&format!("{shown} (decompressed)"), &bytes, &number_bytes());
            match decode(&bytes) {
                Ok(d) => problems.scan_text(
                    &format!("{shown} (decoded)"),
                    &canonical_text(&d),
                    fragments,
                ),
                Err(e) => problems.other(format!("{name} is not a readable ring: {e:?}")),
            }
        } else {
            let text = String::from_utf8_lossy(&bytes);
            problems.scan_text(&shown, &text, fragments);
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
        for row in rows {
            for (column, value) in columns.iter().zip(row.unwrap()) {
                let place = format!("metrics.db, table {table}, column {column}");
                match value {
                    Value::Text(t) => problems.scan_text(&place, &t, fragments),
                    Value::Blob(b) => {
                        problems.scan_bytes(&place, &b, fragments);
                        // Blobs may be compressed: scan what they hold.
                        if let Ok(d) = zstd::stream::decode_all(&b[..]) {
                            problems.scan_bytes(&format!("{place} (decompressed)"), &d, fragments);
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}

/// Whether a request row of `metrics.db` has `value` in `column`.
fn stored(db: &Path, column: &str, value: &str) -> bool {
    let conn = open_read_only(db);
    conn.query_row(
        &format!("SELECT count(*) FROM events WHERE {column} = ?1"),
        [value],
        |r| r.get::<_, u64>(0),
    )
    .unwrap_or(0)
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

/// The second wall, whatever the ring holds: every command, then an
/// ingest of the next day's records (which archives telemetry.log: its
/// day follows the records) and retention, `serve`, every command on each
/// crash snapshot; then every output, every file of the data folder and
/// every row of the store are scanned. Finally `clear --yes`, whose
/// output is scanned too. Returns the outputs, telemetry.log's days, and
/// whether the store had a request with each harmless value its
/// [`Place::Stored`] column says.
fn check_analyzer(
    home: &mut Home,
    entries: &[Entry],
    warnings: bool,
    problems: &mut Problems,
) -> (Outputs, Vec<String>, StoredValues) {
    let all = analyzer_fragments(entries);
    let mut outputs = Outputs::new();
    for args in COMMANDS {
        run_analyze(home, args, warnings, &mut outputs, problems);
    }
    run_serve(home, &mut outputs, problems);
    scan_files(home, &all, problems);
    let db = home.caro_dir().join("metrics.db");
    scan_store(&db, &all, problems);

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    home.dir.sim(&[
        "--queries",
        "3",
        "--seed",
        "1",
        "--time-scale",
        "0",
        "--start",
        &rfc3339(now + 86_400),
    ]);
    home.dir.set_env("CARO_NOW", &rfc3339(now + 86_400 + 3_600));
    run_analyze(home, &["ingest"], warnings, &mut outputs, problems);
    run_analyze(home, &["gc"], warnings, &mut outputs, problems);
    home.dir.unset_env("CARO_NOW");
    let logs = scan_files(home, &all, problems);
    scan_store(&db, &all, problems);
    let names: Vec<String> = files(&home.caro_dir()).into_iter().map(|f| f.0).collect();
    if !names
        .iter()
        .any(|n| n.starts_with("telemetry.log.") && n.ends_with(".zst"))
    {
        problems.other(format!(
            "the next day's ingest archived no telemetry.log day: {names:?}"
        ));
    }
    let snapshots: Vec<PathBuf> = files(&home.caro_dir())
        .into_iter()
        .filter(|(n, _)| n.starts_with("crashes/") && n.ends_with(".zst"))
        .map(|f| f.1)
        .collect();
    if snapshots.is_empty() {
        problems.other("ingest wrote no crash snapshot for the probe's panic".to_owned());
    }
    for snapshot in &snapshots {
        for args in SNAPSHOT_COMMANDS {
            let mut args = args.to_vec();
            args.push(snapshot.to_str().unwrap());
            run_analyze(home, &args, true, &mut outputs, problems);
        }
    }
    let mut db_rows = StoredValues::new();
    for h in HARMLESS {
        for &p in h.places {
            if let Place::Stored(column) = p {
                db_rows.insert((column, h.text), stored(&db, column, h.text));
            }
        }
    }
    run_analyze(home, &["clear", "--yes"], warnings, &mut outputs, problems);
    for (line, out) in &outputs {
        // Snapshot paths differ by file name only.
        let line = match snapshots.iter().find_map(|s| {
            let s = s.to_str().unwrap();
            line.contains(s).then(|| line.replace(s, "<snapshot>"))
        }) {
            Some(l) => l,
            None => line.clone(),
        };
        problems.scan_bytes(&format!("stdout of `{line}`"), &out.stdout, &all);
        problems.scan_bytes(&format!("stderr of `{line}`"), &out.stderr, &all);
    }
    (outputs, logs, db_rows)
}

/// Whether the store has a request with (column, value).
type StoredValues = BTreeMap<(&'static str, &'static str), bool>;

/// The harmless values of `mode` survive where they belong.
fn check_harmless(
    mode: Mode,
    ring_text: &str,
    outputs: &Outputs,
    logs: &[String],
    db_rows: &StoredValues,
    problems: &mut Problems,
) {
    let stdout = |line: &str| -> String {
        outputs
            .get(line)
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    };
    let telemetry_log = logs.concat();
    for h in HARMLESS {
        if h.keep_text_only && !mode.keep_text {
            continue;
        }
        for &place in h.places {
            let texts: Vec<(String, String)> = match place {
                Place::Ring => vec![("the ring".into(), ring_text.to_owned())],
                Place::Logs => vec![
                    ("logs".into(), stdout("logs")),
                    ("logs --format json".into(), stdout("logs --format json")),
                ],
                Place::TelemetryLog => vec![("telemetry.log".into(), telemetry_log.clone())],
                Place::Report => vec![
                    ("report".into(), stdout("report")),
                    ("report --json".into(), stdout("report --json")),
                ],
                Place::Preview => {
                    vec![("telemetry preview".into(), stdout("telemetry preview"))]
                }
                Place::Metrics => vec![
                    (
                        "export --format prometheus".into(),
                        stdout("export --format prometheus"),
                    ),
                    ("serve GET /metrics".into(), stdout("serve GET /metrics")),
                ],
                Place::Stored(column) => {
                    if !db_rows.get(&(column, h.text)).copied().unwrap_or(false) {
                        problems.lost(h.text, &format!("metrics.db events.{column}"));
                    }
                    continue;
                }
            };
            for (name, text) in texts {
                let found =
                    text.contains(h.text) || unescaped(&text).is_some_and(|u| u.contains(h.text));
                if !found {
                    problems.lost(h.text, &name);
                }
            }
        }
    }
}

/// The probe runs once in `mode` (the corpus, then a panic), into a ring
/// that does not lap; the ring is checked by the first wall's rules for
/// `mode`, then everything the analyzer keeps and prints, and the
/// harmless values.
fn run_mode(mode: Mode) {
    let mut home = Home::new(RING);
    let entries = corpus(&host_name());
    let args = home.corpus_args(&entries);
    let mut extra = mode.args();
    extra.push("--panic");
    home.probe(&args, &extra);
    let mut problems = Problems::default();

    let (bytes, decoded) = read_ring(&home.ring());
    assert_nothing_lost(&decoded);
    let ring_text = canonical_text(&decoded);
    if mode.keep_text {
        let kept = check_opted_in_ring(&decoded, &bytes, &entries, &mut problems);
        if kept == 0 {
            problems.other(
                "the ring holds none of the corpus although the host opted fields in: \
                 the analyzer's wall would not be tested"
                    .to_owned(),
            );
        }
    } else {
        check_default_ring(&decoded, &bytes, &entries, &mut problems);
        // Not vacuous: the probe's records are there, placeholders stand
        // for what was withheld, the personal program text is there.
        for kept in [
            "message=\"a literal message\"",
            "query=<redacted",
            "error=<redacted",
            "detail=<redacted",
            "request.Query=<redacted",
            "card_number=<redacted",
            "iban=<redacted",
            "jdoe@corp.example",
            " PANIC ",
        ] {
            if !ring_text.contains(kept) {
                problems.other(format!("the ring lacks {kept:?}"));
            }
        }
    }

    let (outputs, logs, db_rows) = check_analyzer(&mut home, &entries, false, &mut problems);
    check_harmless(mode, &ring_text, &outputs, &logs, &db_rows, &mut problems);
    // Paths are shown with the home folder as `~`.
    let status = outputs
        .get("status")
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    if !status.contains("~/.cache/caro/events.ring") {
        problems.lost("~/.cache/caro/events.ring", "status (the ring's path)");
    }
    problems.check(&format!("{mode:?}"));
}

/// The corpus is what the tests take it for: at least 60 forms of
/// personal data (strings, numbers, program text), each fragment part of
/// its form (so that finding it means the form leaked), no number and no
/// personal program text inside a run-time string (they are looked for in
/// places where those may be), and no harmless value holding a fragment.
#[test]
fn the_corpus_is_sound() {
    let host = host_name();
    let entries = corpus(&host);
    // Only this machine's host name, when too short to be looked for, may
    // have no fragment.
    let looked_for = entries.iter().filter(|e| !e.fragments.is_empty()).count();
    let forms = looked_for + NUMBERS.len() + PROGRAM_TEXT_FORMS;
    assert!(forms >= 60, "only {forms} forms");
    for e in &entries {
        assert!(
            !e.fragments.is_empty() || e.text.contains(&host),
            "{:?} has no fragment",
            e.text
        );
        for f in &e.fragments {
            assert!(
                find(&e.text.to_ascii_lowercase(), f).is_some(),
                "{:?} is not in {:?}",
                f.text,
                e.text
            );
        }
    }
    for e in &entries {
        for n in NUMBERS.iter().chain(&PERSONAL_PROGRAM_TEXT) {
            assert!(
                !e.text
                    .to_ascii_lowercase()
                    .contains(&n.to_ascii_lowercase()),
                "{n:?} is in the run-time string {:?}",
                e.text
            );
        }
    }
    for h in HARMLESS {
        for f in analyzer_fragments(&entries) {
            assert!(
                find(&h.text.to_ascii_lowercase(), &f).is_none(),
                "the harmless {:?} holds {:?}",
                h.text,
                f.text
            );
        }
    }
}

/// Wall 1 alone, `Config::init`: no fragment of the run-time corpus
/// reaches the ring; wall 2 scrubs the personal program text; the
/// harmless values survive.
#[test]
fn init_keeps_nothing_personal() {
    run_mode(Mode {
        layer: false,
        keep_text: false,
    });
}

/// As [`init_keeps_nothing_personal`], the recorder installed as a layer
/// beside a `fmt` layer.
#[test]
fn layer_keeps_nothing_personal() {
    run_mode(Mode {
        layer: true,
        keep_text: false,
    });
}

/// Wall 2: the host opts fields in, so the ring holds some of the corpus;
/// nothing the analyzer prints or keeps holds any of it, and the harmless
/// values survive.
#[test]
fn init_keep_text_is_scrubbed() {
    run_mode(Mode {
        layer: false,
        keep_text: true,
    });
}

/// As [`init_keep_text_is_scrubbed`], the recorder installed as a layer.
#[test]
fn layer_keep_text_is_scrubbed() {
    run_mode(Mode {
        layer: true,
        keep_text: true,
    });
}

/// A ring that laps (orphaned continuation slots whose heads were
/// overwritten) and writers SIGKILLed in the middle of a record (slots
/// left `writing`), with fields opted in so that those slots hold corpus
/// text: the crash snapshot an ingest makes of the panic, and everything
/// else the analyzer keeps and prints, holds none of it.
#[test]
fn a_lapped_ring_and_a_killed_writer_leave_nothing_behind() {
    const TRIES: usize = 6;
    let mut home = Home::new(SMALL_RING);
    let entries = corpus(&host_name());
    let args = home.corpus_args(&entries);
    let mode = Mode {
        layer: false,
        keep_text: true,
    };
    let mut extra = mode.args();
    // Laps: the corpus twice into the smallest ring.
    extra.extend(["--repeat", "2"]);
    home.probe(&args, &extra);
    // The panic, then a loop of INFO records (which lap the main lanes
    // again and leave the alert lanes, and the panic, alone), killed.
    let mut extra = mode.args();
    extra.push("--panic");
    home.probe_killed(&args, &extra, Duration::from_millis(30));
    let mut extra = mode.args();
    extra.extend(["--repeat", "0"]);
    let mut tries = 1;
    loop {
        let (_, decoded) = read_ring(&home.ring());
        let t = decoded.totals();
        if t.abandoned + t.pending > 0 || tries == TRIES {
            break;
        }
        home.probe_killed(&args, &extra, Duration::from_millis(20 + 10 * tries as u64));
        tries += 1;
    }

    let mut problems = Problems::default();
    let (bytes, decoded) = read_ring(&home.ring());
    let t = decoded.totals();
    if t.lost_to_laps == 0 {
        problems.other(format!("the ring did not lap: {t:?}"));
    }
    if t.abandoned + t.pending == 0 {
        problems.other(format!(
            "no writer was killed in the middle of a record in {TRIES} tries: {t:?}"
        ));
    }
    if !canonical_text(&decoded).contains(" PANIC ") {
        problems.other("the panic was lapped out of the ring".to_owned());
    }
    let kept = check_opted_in_ring(&decoded, &bytes, &entries, &mut problems);
    if kept == 0 {
        problems.other("the ring holds none of the corpus: nothing to scrub".to_owned());
    }
    check_analyzer(&mut home, &entries, true, &mut problems);
    problems.check("a lapped ring and a killed writer");
}
