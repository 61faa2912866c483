//! A host that logs personal data everywhere a host can put a value, for
//! the end-to-end privacy test (`tests/tests/privacy.rs`).
//!
//! ```text
//! cargo run -p caro-recorder --example privacy_probe -- --corpus corpus.json \
//!     [--free-text queries.json] [--keep-text] [--words] [--panic]
//! ```
//!
//! Every string of `--corpus` (a JSON list of strings: paths, user and host
//! names, addresses, tokens, environment assignments, URLs, commands) goes,
//! inside a `process_query` request span, through:
//!
//! - deny-listed event fields: every name of [`caro_recorder::DENY_LIST`],
//!   plain, dotted (`request.Query`) and upper-case, as `&str`, `%` and `?`
//!   values, at INFO, WARN and ERROR;
//! - span fields, deny-listed and not, set when the span is created and
//!   later with `Span::record`;
//! - messages with arguments (`"User query: {}"`, a message that is only
//!   the argument), beside a literal message;
//! - `Display` and `Debug` values (`%s`, `?s`, a `#[derive(Debug)]` struct
//!   holding it) and a three-level error chain (`error = &e as &dyn Error`,
//!   the string in every level) in fields of other names;
//! - free text as a run-time `&str` in fields that are not deny-listed
//!   (`detail`, `note`);
//! - a request span left open at exit, whose fields the analyzer keeps
//!   between ingests;
//! - outside any span, a message with arguments and a deny-listed field.
//!
//! Beside them, the harmless identifiers the analyzer must keep: requests
//! on `backend = "embedded"`, one whose `intent` is the run-time string
//! `file_search`, one failing with `error = "BackendTimeout"`.
//!
//! Options:
//!
//! - `--keep-text` opts `detail`, `error` and `reason` in with
//!   [`Config::keep_text_fields`](caro_recorder::Config::keep_text_fields):
//!   their text is then kept in the ring, for the analyzer's scrubber. The
//!   deny-listed `query` and `path` are opted in too, which must change
//!   nothing.
//! - `--free-text FILE`: sentences no scrubber can recognise (raw
//!   queries, prompts). They go everywhere the corpus goes, except into
//!   the fields `--keep-text` opts in: a host that opts a field in vouches
//!   that its text is fit for the scrubber.
//! - `--words`: run-time strings of one word go into `detail` and `note`
//!   too, which the recorder keeps as they are (for the scrubber).
//!   Without it, only free text goes there, which the recorder withholds:
//!   the ring then holds none of the corpus.
//! - `--panic`: at the end, a thread named `probe-worker` panics inside a
//!   request span, with every string in its panic message (the recorder
//!   keeps only the panic's location; ingest snapshots the ring into
//!   `crashes/`). The process still exits with 0.
//!
//! It records into the default ring, `$XDG_CACHE_HOME/caro/events.ring`,
//! configured from the environment ([`caro_recorder::Config::from_env`]).

use std::error::Error;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use caro_recorder::privacy::is_identifier as is_word;
use clap::Parser;
use tracing::field::{display, Empty};
use tracing::{error, info, info_span, warn};

#[derive(Parser, Debug)]
#[command(about = "Logs personal data everywhere a host can put a value")]
struct Args {
    /// JSON list of strings the analyzer's scrubber can recognise.
    #[arg(long, value_name = "FILE")]
    corpus: PathBuf,
    /// JSON list of free text no scrubber can recognise: never put in a
    /// field that --keep-text opts in.
    #[arg(long, value_name = "FILE")]
    free_text: Option<PathBuf>,
    /// Opt detail, error and reason (and the deny-listed query and path)
    /// in to keeping their text.
    #[arg(long)]
    keep_text: bool,
    /// Put one-word strings into detail and note as run-time `&str`s too.
    #[arg(long)]
    words: bool,
    /// End by panicking inside a span on a thread named probe-worker.
    #[arg(long)]
    panic: bool,
}

/// The fields `--keep-text` opts in. `query` and `path` are deny-listed:
/// opting them in must not un-deny them.
const KEPT: [&str; 5] = ["detail", "error", "reason", "query", "path"];

/// Where a string may go.
#[derive(Clone, Copy, Debug)]
struct Places {
    /// Into the fields `--keep-text` opts in.
    opted: bool,
    /// As a run-time `&str` into fields that are not deny-listed (kept as
    /// it is when it is one word).
    plain: bool,
}

/// A request as a host might keep it, logged with `?`.
#[derive(Debug)]
#[allow(dead_code)] // Read only through Debug.
struct Request {
    id: u64,
    text: String,
}

/// The innermost error of a chain.
#[derive(Debug)]
struct Unreadable(String);

impl fmt::Display for Unreadable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot read {}", self.0)
    }
}

impl Error for Unreadable {}

/// The middle of a chain.
#[derive(Debug)]
struct BackendFailed {
    text: String,
    source: Unreadable,
}

impl fmt::Display for BackendFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "backend failed on {}", self.text)
    }
}

impl Error for BackendFailed {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.source)
    }
}

/// The outer error: `{s}: backend failed on {s}: cannot read {s}`.
#[derive(Debug)]
struct RequestFailed {
    text: String,
    source: BackendFailed,
}

impl RequestFailed {
    fn new(s: &str) -> RequestFailed {
        RequestFailed {
            text: s.to_owned(),
            source: BackendFailed {
                text: s.to_owned(),
                source: Unreadable(s.to_owned()),
            },
        }
    }
}

impl fmt::Display for RequestFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Error for RequestFailed {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.source)
    }
}

/// The requests whose identifiers the analyzer must keep: one generated
/// on `embedded` with the run-time intent `file_search`, one failed with
/// `BackendTimeout`.
fn harmless() {
    let intent = std::hint::black_box(String::from("file_search"));
    {
        let request = info_span!(
            "process_query",
            request_id = 1u64,
            backend = "embedded",
            intent = intent.as_str()
        );
        let _in = request.enter();
        let generate = info_span!("generate_command", backend = "embedded");
        let _g = generate.enter();
        info!(
            backend = "embedded",
            intent = intent.as_str(),
            "command generated"
        );
    }
    let request = info_span!("process_query", request_id = 2u64, backend = "embedded");
    let _in = request.enter();
    error!(
        error = "BackendTimeout",
        backend = "embedded",
        "backend timed out"
    );
}

/// Logs `s` everywhere `places` allows, as request `id`.
fn everywhere(s: &str, id: u64, places: Places) {
    let e = RequestFailed::new(s);
    let request = info_span!(
        "process_query",
        request_id = id,
        backend = "embedded",
        query = s,
        cwd = %s,
        request.Path = ?s,
        detail = Empty,
        note = Empty,
    );
    let _in = request.enter();

    // Deny-listed fields: every name, any kind of value, dotted and in
    // any case.
    info!(
        query = s,
        prompt = %s,
        input = ?s,
        command = s,
        cmd = s,
        request.Query = s,
        QUERY = s,
        "deny-listed fields"
    );
    info!(
        path = s,
        file = %s,
        filename = s,
        dir = s,
        cwd = ?s,
        home = s,
        HOME = s,
        "deny-listed places"
    );
    warn!(
        user = s,
        username = s,
        USER = %s,
        host = s,
        hostname = s,
        email = s,
        user.Email = s,
        ip = s,
        addr = s,
        url = s,
        "deny-listed names"
    );
    error!(
        env = s,
        token = s,
        api.KEY = s,
        secret = ?s,
        password = s,
        auth.Token = s,
        "deny-listed secrets"
    );
    // Errors in deny-listed fields keep their length, opted in or not.
    info!(
        path = &e as &dyn Error,
        request.query = &e as &dyn Error,
        "deny-listed errors"
    );

    // Span fields, deny-listed and not, at creation and recorded later.
    let generate = info_span!(
        "generate_command",
        backend = "embedded",
        prompt = s,
        url = %s,
        shown = %s,
        detail = Empty,
        reason = Empty,
        error = Empty,
        note = Empty,
        user = Empty,
    );
    generate.record("user", s);
    let _g = generate.enter();

    // Messages with arguments keep only their length; a literal is kept.
    info!("User query: {}", s);
    info!("{}", s);
    warn!("cannot open {s}");
    error!("request failed for {s:?}");
    info!(backend = "embedded", "a literal message");

    // Display and Debug values and errors in fields nobody opted in.
    info!(
        shown = %s,
        debugged = ?s,
        request = ?Request { id, text: s.to_owned() },
        "values"
    );
    warn!(cause = &e as &dyn Error, "error in a plain field");

    // The fields --keep-text opts in: their text is kept only then.
    if places.opted {
        info!(detail = %s, reason = ?s, "display and debug");
        info!(error = &e as &dyn Error, "error at info");
        warn!(
            error = &e as &dyn Error,
            reason = ?Request { id, text: s.to_owned() },
            "error at warn"
        );
        error!(error = &e as &dyn Error, "error at error");
        request.record("detail", display(s));
        generate.record("detail", display(s));
        generate.record("reason", display(s));
        generate.record("error", &e as &dyn Error);
    }

    // Run-time strings in fields that are not deny-listed: kept when one
    // word, withheld when free text, whatever the name.
    if places.plain {
        info!(note = s, request.note = s, "run-time string");
        request.record("note", s);
        generate.record("note", s);
        if places.opted {
            info!(detail = s, request.detail = s, "run-time string, opted in");
        }
    }
}

/// A request span that is never closed: the analyzer keeps it, with its
/// fields, between ingests.
fn left_open(s: &str, id: u64, places: Places) {
    let span = info_span!(
        "process_query",
        request_id = id,
        backend = "embedded",
        query = s,
        detail = Empty,
        note = Empty,
    );
    if places.opted {
        span.record("detail", display(s));
    }
    if places.plain {
        span.record("note", s);
    }
    std::mem::forget(span);
}

/// Outside any span.
fn outside(s: &str) {
    warn!("outside any span: {}", s);
    info!(user.Path = s, "outside any span");
}

fn read_list(path: &Path) -> Result<Vec<String>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| format!("{}: not a JSON list of strings: {e}", path.display()))
}

fn main() -> ExitCode {
    let args = Args::parse();
    let lists = read_list(&args.corpus).and_then(|corpus| {
        let free = match &args.free_text {
            Some(p) => read_list(p)?,
            None => Vec::new(),
        };
        Ok((corpus, free))
    });
    let (corpus, free) = match lists {
        Ok(l) => l,
        Err(e) => {
            eprintln!("privacy_probe: error: {e}");
            return ExitCode::from(2);
        }
    };
    if args.panic {
        // The panic is expected, and its message is all personal data:
        // keep stderr quiet. The recorder's hook, chained by init() below,
        // still records where it happened.
        std::panic::set_hook(Box::new(|_| {}));
    }
    let mut config = caro_recorder::Config::from_env().version(env!("CARGO_PKG_VERSION"));
    if args.keep_text {
        config = config.keep_text_fields(KEPT);
    }
    let guard = config.init();
    if !guard.is_recording() {
        eprintln!("privacy_probe: error: the recorder is not recording");
        return ExitCode::from(2);
    }

    harmless();
    let strings = corpus
        .iter()
        .map(|s| (s, true))
        .chain(free.iter().map(|s| (s, false)));
    for (i, (s, scrubbable)) in strings.enumerate() {
        // Run-time strings, as a host's are.
        let s = std::hint::black_box(s.as_str());
        let places = Places {
            opted: scrubbable || !args.keep_text,
            plain: args.words || !is_word(s),
        };
        let id = 100 + i as u64;
        everywhere(s, id, places);
        left_open(s, 10_000 + id, places);
        outside(s);
    }

    if args.panic {
        let all: Vec<String> = corpus.iter().chain(&free).cloned().collect();
        let worker = std::thread::Builder::new()
            .name("probe-worker".to_owned())
            .spawn(move || {
                let all = all.join(" | ");
                let request = info_span!(
                    "process_query",
                    request_id = 99_999u64,
                    backend = "embedded",
                    query = all.as_str()
                );
                let _in = request.enter();
                let generate = info_span!("generate_command", backend = "embedded");
                let _g = generate.enter();
                info!(backend = "embedded", "about to fail");
                panic!("cannot go on with {all}");
            })
            .expect("a thread can be spawned");
        // The panic was recorded; the process itself ends normally.
        let _ = worker.join();
    }
    drop(guard);
    ExitCode::SUCCESS
}
