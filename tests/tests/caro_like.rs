//! A host that logs the way the real caro does is readable in `logs`.
//!
//! The real caro (the crates.io `caro` crate; `scripts/fetch-caro`
//! downloads it into `target/caro-src/`) logs with `format!`-style
//! messages and no structured fields: `info!("Static matcher found match
//! in {:?}: {}", elapsed, cmd)`, `debug!("Using cached model at: {}",
//! path.display())`. The `caro_like` example is a host written in those
//! shapes (one request per process, `std::process::exit` at the end). It
//! runs here for four requests, through the static matcher, Ollama, the
//! embedded model and Ollama failing over to the embedded model, with
//! `RUST_LOG=trace` and a `HOME` whose name is personal. Then:
//!
//! - every message keeps its literal text, its program-text arguments
//!   (backend names, enum variants by `Display` and `Debug`) and its
//!   numbers (counts, sizes, `{:.2}` scores, `Debug` durations such as
//!   `1.234ms`);
//! - every personal argument (the query, the command, paths under `HOME`)
//!   is a hole `<redacted N bytes>`, N the length of what the host
//!   formatted (`{:?}` of a path counts its quotes);
//! - no log line is a hole alone;
//! - no fragment of the queries, commands or paths is found in `logs`
//!   (text or JSON) nor in the ring's bytes.

use std::path::{Path, PathBuf};
use std::process::Output;

use caro_tests::{bins, DataDir};

/// The example's source: a word found there may be printed as program
/// text, so only the other words of a personal value are looked for.
const EXAMPLE_SOURCE: &str = include_str!("../../recorder/examples/caro_like.rs");

/// The folder of the home directory, under the data folder: a name, with
/// a byte that is not ASCII.
const HOME_NAME: &str = "zoë-okonkwo";

/// Where the example keeps its model and capability cache, under `HOME`.
const MODEL_FILE: &str = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf";

/// One request: its command-line options and its query.
#[derive(Debug, Clone, Copy)]
struct Request {
    options: &'static [&'static str],
    query: &'static str,
}

/// The static matcher (pdf), Ollama (auto-detected), the embedded model
/// (asked for), and Ollama failing over to the embedded model.
const REQUESTS: [Request; 4] = [
    Request {
        options: &[],
        query: "list all pdf files in my documents",
    },
    Request {
        options: &[],
        query: "show disk usage of the quarterly invoices folder",
    },
    Request {
        options: &["--backend", "embedded"],
        query: "find photos of Anneliese from the Zanzibar trip",
    },
    Request {
        options: &["--offline"],
        query: "compress the tax return folder for my accountant Gwendolyn",
    },
];

/// Words of the requests that must be among those looked for (none of
/// them may be program text of the example).
const DISTINCTIVE: [&str; 7] = [
    "quarterly",
    "invoices",
    "Anneliese",
    "Zanzibar",
    "accountant",
    "Gwendolyn",
    "okonkwo",
];

/// A request served: what it asked and the command it printed.
#[derive(Debug)]
struct Served {
    request: Request,
    command: String,
}

/// The recorded session: the data folder, the home folder, the requests.
#[derive(Debug)]
struct Session {
    data: DataDir,
    home: PathBuf,
    served: Vec<Served>,
}

impl Session {
    /// Runs the example once per request, one process after another.
    fn record() -> Session {
        let data = DataDir::new();
        let home = data.path().join("home").join(HOME_NAME);
        std::fs::create_dir_all(&home).unwrap();
        let served = REQUESTS
            .iter()
            .map(|&request| {
                let out: Output = data
                    .command(&bins().example("caro_like"))
                    .env("HOME", &home)
                    .env("RUST_LOG", "trace")
                    .args(request.options)
                    .arg(request.query)
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "caro_like {request:?} failed ({}): {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                );
                assert!(
                    out.stderr.is_empty(),
                    "caro_like {request:?} wrote on stderr: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                let command = String::from_utf8(out.stdout).unwrap();
                let command = command.trim_end_matches('\n').to_owned();
                assert!(
                    !command.is_empty(),
                    "caro_like {request:?} printed no command"
                );
                Served { request, command }
            })
            .collect();
        Session { data, home, served }
    }

    fn model_path(&self) -> PathBuf {
        self.home.join(".cache/caro/models").join(MODEL_FILE)
    }

    fn cache_path(&self) -> PathBuf {
        self.home.join(".cache/caro/capability_profile.json")
    }

    /// Every personal value the host formatted: queries, commands, paths.
    fn personal(&self) -> Vec<String> {
        let mut all = vec![
            self.home.display().to_string(),
            self.model_path().display().to_string(),
            self.cache_path().display().to_string(),
        ];
        for s in &self.served {
            all.push(s.request.query.to_owned());
            all.push(s.command.clone());
        }
        all
    }

    /// `logs` in both formats: the text, and (level, target, message) of
    /// every JSON line.
    fn logs(&self) -> (String, Vec<Line>) {
        let text = String::from_utf8(self.data.analyze_ok(&["logs"]).stdout).unwrap();
        let lines = self
            .data
            .logs_json()
            .into_iter()
            .map(|l| {
                let fields = l["fields"].as_object().expect("a line has fields");
                assert_eq!(
                    fields.keys().collect::<Vec<_>>(),
                    ["message"],
                    "caro logs messages, no fields: {l}"
                );
                Line {
                    level: l["level"].as_str().unwrap().to_owned(),
                    target: l["target"].as_str().unwrap().to_owned(),
                    message: fields["message"].as_str().unwrap().to_owned(),
                }
            })
            .collect();
        (text, lines)
    }

    /// The log lines each request must have produced, in any order.
    fn expected(&self) -> Vec<Expected> {
        let cache = format!("{:?}", self.cache_path());
        let model = self.model_path().display().to_string();
        let mut all = Vec::new();
        for s in &self.served {
            let (query, command) = (s.request.query, s.command.as_str());
            let backend = s.request.options.get(1).copied();
            let offline = s.request.options.contains(&"--offline");
            let mut e = Lines(&mut all);
            // cli
            match backend {
                Some(b) => {
                    e.add(
                        "DEBUG",
                        "cli",
                        &format!("Backend preference: {b} (source: command line)"),
                    );
                    e.add("INFO", "cli", &format!("User requested backend: {b}"));
                    e.add(
                        "INFO",
                        "cli",
                        &format!("Using {b} backend (user preference)"),
                    );
                }
                None => {
                    e.add(
                        "DEBUG",
                        "cli",
                        "Backend preference: ollama (source: auto-detect)",
                    );
                    e.add("INFO", "cli", "Using Ollama backend (auto-detected)");
                }
            }
            // capability profile
            let profile = "prompts::capability_profile";
            e.add(
                "TRACE",
                profile,
                &format!("No capability cache file at {}", hole(&cache)),
            );
            e.add(
                "DEBUG",
                profile,
                "No valid cache found, running full capability detection",
            );
            e.add(
                "DEBUG",
                profile,
                &format!("Saved capability profile to cache at {}", hole(&cache)),
            );
            e.add("DEBUG", "", "Capability profile lists 7 tools");
            // agent
            e.add(
                "INFO",
                "agent",
                &format!("Starting agent loop for: {}", hole(query)),
            );
            e.add("DEBUG", "agent", "Trying static pattern matcher");
            let risk = if command.contains('|') {
                "Moderate"
            } else {
                "Safe"
            };
            if query.split(' ').any(|w| w == "pdf") {
                e.add(
                    "INFO",
                    "agent",
                    &format!("Static matcher found match in {DUR}: {}", hole(command)),
                );
            } else {
                e.add(
                    "DEBUG",
                    "agent",
                    "Static matcher: no match, falling back to LLM",
                );
                e.add(
                    "DEBUG",
                    "agent",
                    "Found 1 similar commands in knowledge index",
                );
                e.add("DEBUG", "agent", "Iteration 1: Generating initial command");
                let embedded = backend == Some("embedded") || offline;
                if backend != Some("embedded") {
                    e.add(
                        "DEBUG",
                        "backends::remote::ollama",
                        "Ollama (qwen2.5-coder:1.5b): could not determine served context length via /api/show",
                    );
                }
                if offline {
                    // The error's reason is a run-time string: whatever
                    // of it is kept, no fragment of the request is.
                    e.add(
                        "WARN",
                        "backends::remote::ollama",
                        &format!("Ollama backend failed: {ANY}"),
                    );
                    e.add("INFO", "agent", "Falling back to embedded backend");
                }
                if embedded {
                    let embedded = "backends::embedded";
                    e.add(
                        "DEBUG",
                        "model_loader",
                        &format!("Using cached model at: {}", hole(&model)),
                    );
                    e.add("DEBUG", "model_loader", "Model file validated: 1100MB");
                    e.add(
                        "INFO",
                        embedded,
                        &format!("CPU model loaded from {}", hole(&model)),
                    );
                    e.add(
                        "DEBUG",
                        embedded,
                        &format!("CPU inference completed for prompt length {NUM} chars, max_tokens: 512, temperature: 0.1"),
                    );
                    e.add(
                        "WARN",
                        embedded,
                        "Parse attempt 1/3 failed, retrying with correction prompt",
                    );
                    e.add(
                        "INFO",
                        embedded,
                        "Parse succeeded on attempt 2/3 after retry",
                    );
                    e.add("INFO", embedded, "CPU model unloaded");
                }
                e.add(
                    "DEBUG",
                    "agent",
                    &format!("Initial command: {}", hole(command)),
                );
                if embedded {
                    e.add(
                        "INFO",
                        "agent",
                        "Low confidence (0.62), triggering refinement",
                    );
                    e.add(
                        "DEBUG",
                        "agent",
                        "Iteration 2: Refining due to low confidence (0.62)",
                    );
                } else {
                    e.add(
                        "INFO",
                        "agent",
                        "Refinement not needed (confidence: 0.91 [measured], no platform issues)",
                    );
                }
            }
            e.add(
                "DEBUG",
                "agent",
                &format!("Safety validation checked 52 patterns in {DUR}: {risk}"),
            );
            if risk == "Moderate" {
                e.add("WARN", "agent", "Command needs confirmation: Moderate risk");
            }
            e.add(
                "INFO",
                "agent",
                &format!("Command generation complete in {DUR}"),
            );
            if !query.contains("pdf") {
                e.add(
                    "DEBUG",
                    "agent",
                    "Recorded successful command to knowledge index",
                );
            }
            e.add("DEBUG", "", &format!("Request served in {DUR}"));
        }
        all
    }
}

/// In an expected message: a `Debug` duration (`105ns`, `12.345µs`,
/// `1.5ms`, `2s`).
const DUR: &str = "\u{1}DUR\u{1}";
/// In an expected message: a number (digits).
const NUM: &str = "\u{1}NUM\u{1}";
/// In an expected message: any text, at least one character.
const ANY: &str = "\u{1}ANY\u{1}";

/// A line of `logs --format json`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Line {
    level: String,
    target: String,
    message: String,
}

/// A line that must be there; its message may hold [`DUR`], [`NUM`] and
/// [`ANY`].
#[derive(Debug)]
struct Expected {
    level: &'static str,
    target: String,
    message: String,
}

impl Expected {
    fn matches(&self, l: &Line) -> bool {
        l.level == self.level
            && l.target == self.target
            && pattern_matches(&self.message, &l.message)
    }
}

/// Collects expected lines; targets are given relative to `caro_like`.
struct Lines<'a>(&'a mut Vec<Expected>);

impl Lines<'_> {
    fn add(&mut self, level: &'static str, module: &str, message: &str) {
        let target = if module.is_empty() {
            "caro_like".to_owned()
        } else {
            format!("caro_like::{module}")
        };
        self.0.push(Expected {
            level,
            target,
            message: message.to_owned(),
        });
    }
}

/// What the recorder keeps of a personal argument whose formatted text is
/// `formatted`: its length in bytes.
fn hole(formatted: &str) -> String {
    format!("<redacted {} bytes>", formatted.len())
}

/// Whether `text` is `pattern`, its [`DUR`], [`NUM`] and [`ANY`] standing
/// for a duration, a number and any text.
fn pattern_matches(pattern: &str, text: &str) -> bool {
    let Some(start) = pattern.find('\u{1}') else {
        return pattern == text;
    };
    let Some(rest) = text.strip_prefix(&pattern[..start]) else {
        return false;
    };
    let (hole, after) = if let Some(after) = pattern[start..].strip_prefix(DUR) {
        (DUR, after)
    } else if let Some(after) = pattern[start..].strip_prefix(NUM) {
        (NUM, after)
    } else if let Some(after) = pattern[start..].strip_prefix(ANY) {
        (ANY, after)
    } else {
        panic!("bad pattern {pattern:?}");
    };
    // Every split of `rest` into the placeholder's text and the remainder.
    (1..=rest.len())
        .filter(|&i| rest.is_char_boundary(i))
        .any(|i| {
            let taken = &rest[..i];
            let fits = match hole {
                DUR => is_debug_duration(taken),
                NUM => taken.bytes().all(|b| b.is_ascii_digit()),
                _ => true,
            };
            fits && pattern_matches(after, &rest[i..])
        })
}

/// Whether `s` is what `Debug` prints for a `Duration`: digits, maybe a
/// fraction, a unit.
fn is_debug_duration(s: &str) -> bool {
    let Some(number) = ["ns", "µs", "ms", "s"]
        .iter()
        .find_map(|unit| s.strip_suffix(unit))
    else {
        return false;
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, "0"));
    let digits = |d: &str| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit());
    digits(whole) && digits(fraction)
}

/// The message of a line without its holes: what is left to read.
fn without_holes(message: &str) -> String {
    let mut out = String::new();
    let mut rest = message;
    while let Some(at) = rest.find("<redacted ") {
        out.push_str(&rest[..at]);
        let tail = &rest[at + "<redacted ".len()..];
        match tail
            .split_once(" bytes>")
            .filter(|(n, _)| n.parse::<u64>().is_ok())
        {
            Some((_, after)) => rest = after,
            None => {
                out.push_str("<redacted ");
                rest = tail;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The fragments of personal values to look for: their words of four
/// bytes or more that are not in the example's own text, and the whole
/// values.
fn fragments(personal: &[String]) -> Vec<String> {
    let mut out: Vec<String> = personal.to_vec();
    for value in personal {
        for word in value.split(|c: char| !c.is_alphanumeric()) {
            if word.len() >= 4 && !EXAMPLE_SOURCE.contains(word) {
                out.push(word.to_owned());
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Every fragment found in `haystack`, with where.
fn leaks(fragments: &[String], haystack: &[u8], place: &str) -> Vec<String> {
    fragments
        .iter()
        .filter_map(|f| {
            let at = haystack.windows(f.len()).position(|w| w == f.as_bytes())?;
            let from = at.saturating_sub(40);
            let to = (at + f.len() + 40).min(haystack.len());
            Some(format!(
                "{f:?} in {place}: …{}…",
                String::from_utf8_lossy(&haystack[from..to])
            ))
        })
        .collect()
}

#[test]
fn no_fragment_of_a_personal_argument_reaches_the_ring_or_the_logs() {
    let s = Session::record();
    let fragments = fragments(&s.personal());
    for word in DISTINCTIVE {
        assert!(
            fragments.iter().any(|f| f == word),
            "{word:?} is not looked for: is it in the example's source?"
        );
    }
    let (text, _) = s.logs();
    let json = s.data.analyze_ok(&["logs", "--format", "json"]).stdout;
    let ring = std::fs::read(s.data.ring()).unwrap();
    let mut found = leaks(&fragments, text.as_bytes(), "logs");
    found.extend(leaks(&fragments, &json, "logs --format json"));
    found.extend(leaks(&fragments, &ring, "the ring"));
    assert!(
        found.is_empty(),
        "personal data leaked:\n{}",
        found.join("\n")
    );
}

#[test]
fn each_line_keeps_its_text_program_text_and_numbers_with_personal_arguments_as_holes() {
    let s = Session::record();
    let (_, lines) = s.logs();
    let expected = s.expected();
    let mut unmatched: Vec<Option<&Line>> = lines.iter().map(Some).collect();
    let mut missing = Vec::new();
    for e in &expected {
        match unmatched
            .iter_mut()
            .find(|l| l.is_some_and(|l| e.matches(l)))
        {
            Some(slot) => *slot = None,
            None => missing.push(e),
        }
    }
    let extra: Vec<&Line> = unmatched.into_iter().flatten().collect();
    let show = |l: &Line| format!("  {} {}: {}", l.level, l.target, l.message);
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{} of {} expected lines missing:\n{}\n{} lines not expected:\n{}\n(DUR: a Debug duration, NUM: a number, ANY: any text)",
        missing.len(),
        expected.len(),
        missing
            .iter()
            .map(|e| format!("  {} {}: {}", e.level, e.target, e.message.replace('\u{1}', "")))
            .collect::<Vec<_>>()
            .join("\n"),
        extra.len(),
        extra.iter().map(|l| show(l)).collect::<Vec<_>>().join("\n"),
    );
}

#[test]
fn no_line_is_a_hole_alone() {
    let s = Session::record();
    let (text, lines) = s.logs();
    assert!(
        lines.len() >= 4 * 12,
        "too few lines ({}) for four requests:\n{text}",
        lines.len()
    );
    let unreadable: Vec<&Line> = lines
        .iter()
        .filter(|l| !without_holes(&l.message).chars().any(char::is_alphanumeric))
        .collect();
    assert!(
        unreadable.is_empty(),
        "{} of {} lines are nothing but holes:\n{}",
        unreadable.len(),
        lines.len(),
        unreadable
            .iter()
            .map(|l| format!("  {} {}: {}", l.level, l.target, l.message))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn the_text_format_reads_like_caro() {
    let s = Session::record();
    let (text, _) = s.logs();
    let query = REQUESTS[0].query;
    let pdf_command = &s.served[0].command;
    let wanted = [
        // literal text, with a Debug duration and a hole
        "INFO caro_like::agent: Static matcher found match in ".to_owned(),
        format!(": {}", hole(pdf_command)),
        // program text: a backend's &'static str, enums by Display and Debug
        "Backend preference: ollama (source: auto-detect)".to_owned(),
        "User requested backend: embedded".to_owned(),
        "(confidence: 0.91 [measured], no platform issues)".to_owned(),
        "WARN caro_like::agent: Command needs confirmation: Moderate risk".to_owned(),
        ": Safe\n".to_owned(),
        // numbers
        "Found 1 similar commands in knowledge index".to_owned(),
        "Model file validated: 1100MB".to_owned(),
        "Low confidence (0.62), triggering refinement".to_owned(),
        "Parse attempt 1/3 failed".to_owned(),
        "max_tokens: 512, temperature: 0.1".to_owned(),
        // personal arguments: holes of their length
        format!("Starting agent loop for: {}", hole(query)),
        format!(
            "Saved capability profile to cache at {}",
            hole(&format!("{:?}", s.cache_path()))
        ),
        format!(
            "CPU model loaded from {}",
            hole(&s.model_path().display().to_string())
        ),
    ];
    let missing: Vec<&String> = wanted
        .iter()
        .filter(|w| !text.contains(w.as_str()))
        .collect();
    assert!(missing.is_empty(), "`logs` lacks {missing:#?}\nin:\n{text}");
    // Each duration of the static matcher's line is one, as Debug prints it.
    let line = text
        .lines()
        .find(|l| l.contains("Static matcher found match in "))
        .unwrap();
    let after = line.split_once("found match in ").unwrap().1;
    let duration = after.split_once(": ").unwrap().0;
    assert!(
        is_debug_duration(duration),
        "not a duration: {duration:?} in {line:?}"
    );
}

#[test]
fn the_patterns_of_this_test_match_what_they_should() {
    assert!(is_debug_duration("1.234ms"));
    assert!(is_debug_duration("105ns"));
    assert!(is_debug_duration("12.345µs"));
    assert!(is_debug_duration("2s"));
    assert!(!is_debug_duration("<redacted 7 bytes>"));
    assert!(!is_debug_duration("ms"));
    assert!(pattern_matches(
        &format!("found match in {DUR}: <redacted 9 bytes>"),
        "found match in 1.5µs: <redacted 9 bytes>"
    ));
    assert!(!pattern_matches(
        &format!("found match in {DUR}: <redacted 9 bytes>"),
        "found match in <redacted 5 bytes>: <redacted 9 bytes>"
    ));
    assert!(pattern_matches(
        &format!("length {NUM} chars"),
        "length 87 chars"
    ));
    assert!(!pattern_matches(
        &format!("length {NUM} chars"),
        "length  chars"
    ));
    assert!(pattern_matches(
        &format!("failed: {ANY}"),
        "failed: x: <redacted 3 bytes>"
    ));
    assert!(!pattern_matches(&format!("failed: {ANY}"), "failed: "));
    assert_eq!(without_holes("<redacted 12 bytes>"), "");
    assert_eq!(
        without_holes("Using cached model at: <redacted 80 bytes>"),
        "Using cached model at: "
    );
    assert_eq!(
        hole(&format!("{:?}", Path::new("/home/zoë"))),
        "<redacted 12 bytes>"
    );
}
