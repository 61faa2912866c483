//! A host that logs personal data everywhere a host can put a value, for
//! the end-to-end privacy test (`tests/tests/privacy.rs`).
//!
//! ```text
//! cargo run -p caro-recorder --example privacy_probe -- --corpus corpus.json \
//!     [--free-text queries.json] [--numbers numbers.json] [--keep-text] [--words] \
//!     [--layer] [--repeat N] [--panic] [--hang]
//! ```
//!
//! Every string of `--corpus` (a JSON list of strings: paths, user and host
//! names, addresses, tokens, account and card numbers, environment
//! assignments, URLs, commands) goes, inside a `process_query` request
//! span, through:
//!
//! - deny-listed event fields: every name of [`caro_recorder::DENY_LIST`],
//!   plain, dotted (`request.Query`) and upper-case, and compound names
//!   (`api_key`, `db_password`, `user.name`, `host.name`, `card_number`,
//!   `phone`, `iban`, `holder`, `creditCardNumber`, …), as `&str`, `%` and
//!   `?` values, at INFO, WARN and ERROR;
//! - span fields, deny-listed and not, set when the span is created and
//!   later with `Span::record`;
//! - the arguments of `#[tracing::instrument]` functions (`pay(iban,
//!   holder)`, `lookup(contact)`), their `ret` and their `err`;
//! - messages with arguments (`"User query: {}"`, `"{:?}"`, inline
//!   `{s}`, padded, several arguments mixing program text and run-time
//!   text, a message that is only the argument), beside literal messages;
//! - `Display` and `Debug` values (`%s`, `?s`, `Option`, a `Vec`, a
//!   `#[derive(Debug)]` struct holding it, `Path::display`,
//!   `format_args!`) and error chains (three levels of our own, an
//!   `io::Error`, a boxed `String` error) in fields of other names;
//! - free text as a run-time `&str` in fields that are not deny-listed
//!   (`detail`, `note`);
//! - a request span left open at exit, whose fields the analyzer keeps
//!   between ingests;
//! - outside any span, a message with arguments and a deny-listed field.
//!
//! Every number of `--numbers` (card, phone, account numbers, coordinates:
//! personal numbers) goes into deny-listed fields (`card_number`, `phone`,
//! `account_id`, `lat`, …, events, spans and `#[instrument]` arguments),
//! into messages with arguments and into a `Debug` value: never into a
//! plain field, where a number is kept by design.
//!
//! Program text that is itself personal (a `target:` and a span name
//! holding an e-mail address, literal messages holding a path, a static
//! field value holding a secret, a field *name* holding an address): the
//! recorder keeps program text by design, so these are in the ring; the
//! analyzer must scrub them. The test knows them as
//! `PERSONAL_PROGRAM_TEXT`; they are here as `personal_program_text`.
//!
//! Beside them, harmless values the analyzer must keep (see
//! [`harmless`]): requests on `backend = "embedded"`, one whose `intent`
//! is the run-time string `file_search`, one failing with
//! `error = "BackendTimeout"`; a run-time model tag `qwen2.5-coder:1.5b`
//! and version `1.4.2`; program text `/api/generate`,
//! `http://localhost:11434`, `src/main.rs`, the target `caro::agent`; a
//! `Debug` duration and a program-text argument in messages; a UUID in a
//! field `--keep-text` opts in.
//!
//! Options:
//!
//! - `--keep-text` opts `detail`, `error` and `reason` in with
//!   [`Config::keep_text_fields`](caro_recorder::Config::keep_text_fields):
//!   their text is then kept in the ring, for the analyzer's scrubber. The
//!   deny-listed `query`, `path`, `iban` and `card_number` are opted in
//!   too, which must change nothing.
//! - `--free-text FILE`: sentences no scrubber can recognise (raw
//!   queries, prompts). They go everywhere the corpus goes, except into
//!   the fields `--keep-text` opts in: a host that opts a field in vouches
//!   that its text is fit for the scrubber.
//! - `--numbers FILE`: a JSON list of personal numbers (integers are
//!   logged as `u64`, others as `f64`).
//! - `--words`: run-time strings that are identifier-shaped
//!   ([`caro_recorder::privacy::is_identifier`]) go into plain fields
//!   (`note`, `contact`) too, which the recorder keeps as they are (for
//!   the scrubber). Without it, only other strings go there, which the
//!   recorder withholds: the ring then holds none of the corpus.
//! - `--layer`: install the recorder as a layer
//!   ([`Config::layer`](caro_recorder::Config::layer)) beside a
//!   `tracing_subscriber::fmt` layer writing to nowhere, instead of as the
//!   global subscriber ([`Config::init`](caro_recorder::Config::init)).
//! - `--repeat N`: log the corpus N times (default 1; 0 logs only the
//!   harmless values), to lap a small ring.
//! - `--panic`: after the corpus, a thread named `probe-worker` panics
//!   inside a request span, with every string in its panic message (the
//!   recorder keeps only the panic's location; ingest snapshots the ring
//!   into `crashes/`). The process still exits with 0.
//! - `--hang`: at the end, three threads log the corpus at INFO (in the
//!   fields `--keep-text` opts in, and the other places) in a loop until
//!   the process is killed; `writing` on stdout says they all have gone
//!   round once. The test SIGKILLs it in the middle of a record.
//!
//! The host's version ([`Config::version`](caro_recorder::Config::version))
//! is `1.4.2`, which the telemetry preview shows.
//!
//! It records into the default ring, `$XDG_CACHE_HOME/caro/events.ring`,
//! configured from the environment ([`caro_recorder::Config::from_env`]).

use std::error::Error;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use caro_recorder::privacy::is_identifier as is_word;
use clap::Parser;
use tracing::field::{debug, display, Empty};
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
    /// JSON list of personal numbers: into deny-listed fields, messages
    /// and Debug values only.
    #[arg(long, value_name = "FILE")]
    numbers: Option<PathBuf>,
    /// Opt detail, error and reason (and the deny-listed query, path,
    /// iban and card_number) in to keeping their text.
    #[arg(long)]
    keep_text: bool,
    /// Put identifier-shaped strings into plain fields as run-time `&str`s
    /// too.
    #[arg(long)]
    words: bool,
    /// Install the recorder as a layer beside a fmt layer, not with init.
    #[arg(long)]
    layer: bool,
    /// Log the corpus this many times.
    #[arg(long, value_name = "N", default_value_t = 1)]
    repeat: u64,
    /// Panic inside a span on a thread named probe-worker, after the corpus.
    #[arg(long)]
    panic: bool,
    /// Keep logging the corpus at INFO from three threads until killed.
    #[arg(long)]
    hang: bool,
}

/// The fields `--keep-text` opts in. `query`, `path`, `iban` and
/// `card_number` are deny-listed: opting them in must not un-deny them.
const KEPT: [&str; 7] = [
    "detail",
    "error",
    "reason",
    "query",
    "path",
    "iban",
    "card_number",
];

/// The backend, as program text that `Display` writes.
const BACKEND: &str = "embedded";

/// Where a string may go.
#[derive(Clone, Copy, Debug)]
struct Places {
    /// Into the fields `--keep-text` opts in.
    opted: bool,
    /// As a run-time `&str` into fields that are not deny-listed (kept as
    /// it is when it is identifier-shaped).
    plain: bool,
}

/// A request as a host might keep it, logged with `?`.
#[derive(Debug)]
#[allow(dead_code)] // Read only through Debug.
struct Request {
    id: u64,
    text: String,
}

/// A payment as a host might keep it, logged with `?`: a personal number
/// in a struct.
#[derive(Debug)]
#[allow(dead_code)] // Read only through Debug.
struct Payment {
    amount_cents: u64,
    card: u64,
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

/// The harmless values the analyzer must keep (the test's `HARMLESS`
/// says where each must be found): requests generated on `embedded` with
/// the run-time intent `file_search`, the run-time model tag
/// `qwen2.5-coder:1.5b` and version `1.4.2`, program text `/api/generate`,
/// `http://localhost:11434` and `src/main.rs`, a duration; one failed with
/// `BackendTimeout`; the target `caro::agent`; with `--keep-text`, a UUID
/// in `detail`.
fn harmless(keep_text: bool) {
    // Run-time strings, identifier-shaped.
    let intent = std::hint::black_box(String::from("file_search"));
    let model = std::hint::black_box(String::from("qwen2.5-coder:1.5b"));
    let version = std::hint::black_box(String::from("1.4.2"));
    {
        let request = info_span!(
            "process_query",
            request_id = 1u64,
            backend = "embedded",
            intent = intent.as_str()
        );
        let _in = request.enter();
        let generate = info_span!(
            "generate_command",
            backend = "embedded",
            model = model.as_str()
        );
        let _g = generate.enter();
        info!(
            backend = "embedded",
            intent = intent.as_str(),
            model = model.as_str(),
            caro_version = version.as_str(),
            route = "/api/generate",
            endpoint = "http://localhost:11434",
            source = "src/main.rs",
            duration_ms = 1400u64,
            "command generated"
        );
        // A program-text argument, and a Debug duration (program text and
        // small numbers only).
        info!("Using backend {}", BACKEND);
        info!("model loaded in {:?}", Duration::from_millis(1400));
        info!(target: "caro::agent", backend = "embedded", "agent ready");
        if keep_text {
            // A UUID in a field the host opted in: harmless, kept.
            let correlation =
                std::hint::black_box(String::from("3f6b2c1e-8d4a-4e7b-9c2d-5a1f0e9b7c34"));
            info!(detail = %correlation, "request correlated");
        }
    }
    let request = info_span!("process_query", request_id = 2u64, backend = "embedded");
    let _in = request.enter();
    error!(
        error = "BackendTimeout",
        backend = "embedded",
        "backend timed out"
    );
}

/// Program text that holds personal data: kept in the ring by design (it
/// is the same in every copy of the program), scrubbed by the analyzer.
/// The test's `PERSONAL_PROGRAM_TEXT` lists their fragments.
#[tracing::instrument(name = "notify jdoe@corp.example", fields(backend = "embedded"))]
fn personal_program_text() {
    info!(target: "jdoe@corp.example", backend = "embedded", "mailbox synced");
    let upload = info_span!("upload /home/jdoe/Private/ledger.ods", backend = "embedded");
    let _u = upload.enter();
    info!("reading /home/jdoe/.config/caro/credentials.toml");
    warn!("relay 10.77.0.12 refused mail for jdoe@corp.example");
    info!(
        config_line = "AWS_SECRET_ACCESS_KEY=Zk4Lq9Wm2Xv7Bn3Hc8Jd",
        "config read"
    );
    info!(
        { "jdoe@corp.example" } = 1u64,
        "a field named by an address"
    );
}

/// `#[instrument]` arguments with deny-listed names: their values keep
/// only their length.
#[tracing::instrument(fields(backend = "embedded"))]
fn pay(iban: &str, holder: &str) {
    info!("payment prepared");
}

/// A personal number as `#[instrument]` arguments with deny-listed names.
#[tracing::instrument(fields(backend = "embedded"))]
fn charge(card_number: u64, phone: u64) {
    info!("charge prepared");
}

/// An argument with a plain name: a run-time string, kept only when
/// identifier-shaped (so only called with `--words` for those).
#[tracing::instrument(fields(backend = "embedded"))]
fn lookup(contact: &str) {
    info!("lookup done");
}

/// `ret` records the return value by `Debug`, in a plain field.
#[tracing::instrument(ret, skip(s), fields(backend = "embedded"))]
fn echo(s: &str) -> String {
    s.to_owned()
}

/// `err` records the error by `Display` in `error` (opted in by
/// `--keep-text`: only called for strings fit for the scrubber then).
#[tracing::instrument(err, skip(s), fields(backend = "embedded"))]
fn transfer(s: &str) -> Result<(), RequestFailed> {
    Err(RequestFailed::new(s))
}

/// Logs `s` everywhere `places` allows, as request `id`.
fn everywhere(s: &str, id: u64, places: Places) {
    let e = RequestFailed::new(s);
    let io = std::io::Error::new(std::io::ErrorKind::NotFound, s.to_owned());
    let boxed: Box<dyn Error + Send + Sync> = s.to_owned().into();
    let request = info_span!(
        "process_query",
        request_id = id,
        backend = "embedded",
        query = s,
        cwd = %s,
        request.Path = ?s,
        user.name = s,
        iban = Empty,
        detail = Empty,
        note = Empty,
    );
    request.record("iban", s);
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
    // Compound names: by word, by suffix, qualified, glued, camel case.
    info!(
        api_key = s,
        db_password = s,
        user.name = s,
        host.name = s,
        card_number = s,
        phone = s,
        iban = s,
        holder = %s,
        "compound names"
    );
    warn!(
        access_token = s,
        client_secret = %s,
        session_id = s,
        cookie = s,
        authorization = ?s,
        account_number = s,
        ssn = s,
        mobile = s,
        "compound secrets"
    );
    error!(
        first_name = s,
        server.address = s,
        home.lat = s,
        creditCardNumber = s,
        dbPassword = s,
        apiKey = %s,
        DB_PASS = s,
        passwd = s,
        "compound names at error"
    );
    // Errors in deny-listed fields keep their length, opted in or not.
    info!(
        path = &e as &dyn Error,
        request.query = &e as &dyn Error,
        iban = &e as &dyn Error,
        "deny-listed errors"
    );
    // `#[instrument]` arguments.
    pay(s, s);
    let _ = echo(s);

    // Span fields, deny-listed and not, at creation and recorded later.
    let generate = info_span!(
        "generate_command",
        backend = "embedded",
        prompt = s,
        url = %s,
        shown = %s,
        api_key = ?s,
        detail = Empty,
        reason = Empty,
        error = Empty,
        note = Empty,
        user = Empty,
        holder = Empty,
        card_number = Empty,
        debugged = Empty,
    );
    generate.record("user", s);
    generate.record("holder", display(s));
    generate.record("card_number", s);
    generate.record("debugged", debug(s));
    let _g = generate.enter();

    // Messages with arguments keep a template: the literal pieces, holes
    // for the run-time ones; a literal is kept.
    info!("User query: {}", s);
    info!("Sending to {}", s);
    info!("{}", s);
    info!("{:?}", s);
    warn!("cannot open {s}");
    error!("request failed for {s:?}");
    info!("{:>60}|{:<3}", s, s);
    info!("backend {} answered {} for {}", BACKEND, 200u32, s);
    info!(target: "caro::agent", "Static matcher found match in {:?}: {}", Duration::from_micros(1234), s);
    info!(backend = "embedded", "a literal message");

    // Display and Debug values and errors in fields nobody opted in.
    info!(
        shown = %s,
        debugged = ?s,
        request = ?Request { id, text: s.to_owned() },
        maybe = ?Some(s),
        several = ?vec![s, BACKEND],
        file_shown = %Path::new(s).display(),
        args_shown = format_args!("to {}", s),
        "values"
    );
    warn!(cause = &e as &dyn Error, "error in a plain field");
    warn!(
        io_error = &io as &dyn Error,
        boxed = &*boxed as &dyn Error,
        "io and boxed errors"
    );

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
        error!(error = &io as &dyn Error, "io error");
        request.record("detail", display(s));
        generate.record("detail", display(s));
        generate.record("reason", display(s));
        generate.record("error", &e as &dyn Error);
        let _ = transfer(s);
    }

    // Run-time strings in fields that are not deny-listed: kept when
    // identifier-shaped, withheld otherwise, whatever the name.
    if places.plain {
        info!(note = s, request.note = s, "run-time string");
        request.record("note", s);
        generate.record("note", s);
        lookup(s);
        if places.opted {
            info!(detail = s, request.detail = s, "run-time string, opted in");
        }
    }
}

/// A personal number, as the value it is.
#[derive(Clone, Copy, Debug)]
enum Number {
    U64(u64),
    F64(f64),
}

/// Logs `n` into deny-listed fields, messages and a `Debug` value: never
/// into a plain field.
fn numbers(n: Number, id: u64) {
    let request = info_span!(
        "process_query",
        request_id = id,
        backend = "embedded",
        card_number = Empty,
        phone = Empty,
        lat = Empty,
    );
    let _in = request.enter();
    match n {
        Number::U64(v) => {
            request.record("card_number", v);
            request.record("phone", v);
            info!(
                card_number = v,
                phone = v,
                msisdn = v,
                account_id = v,
                ssn = v,
                user.id = v,
                creditCardNumber = v,
                "numbers in deny-listed fields"
            );
            warn!(card_number = v, iban = v, "number at warn");
            error!(phone = v, holder = v, "number at error");
            info!(card_number = v as i64, phone = ?v, "signed and debugged");
            charge(v, v);
            info!("charging card {}", v);
            info!("calling {:?} now", v);
            info!(
                payment = ?Payment { amount_cents: 1999, card: v },
                "payment"
            );
        }
        Number::F64(v) => {
            request.record("lat", v);
            info!(lat = v, lon = v, home.lat = v, geo = v, "coordinates");
            warn!(latitude = v, longitude = v, "coordinates at warn");
            info!("position {}", v);
            info!("position {:?}", v);
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

/// What `--hang` logs over and over: INFO only, so that the alert lanes
/// (and the panic in them) stay.
fn hang_once(s: &str, id: u64, places: Places) {
    let request = info_span!(
        "process_query",
        request_id = id,
        backend = "embedded",
        query = s,
        detail = Empty,
    );
    let _in = request.enter();
    if places.opted {
        request.record("detail", display(s));
        info!(detail = %s, reason = %s, error = %s, "still writing");
    }
    if places.plain {
        info!(note = s, "still writing");
    }
    info!(query = s, shown = %s, "Still writing {}", s);
}

fn read_list(path: &Path) -> Result<Vec<serde_json::Value>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{}: not a JSON list: {e}", path.display()))
}

fn read_strings(path: &Path) -> Result<Vec<String>, String> {
    read_list(path)?
        .into_iter()
        .map(|v| match v {
            serde_json::Value::String(s) => Ok(s),
            other => Err(format!("{}: not a string: {other}", path.display())),
        })
        .collect()
}

/// The probe's inputs: scrubbable strings, free text, numbers.
type Lists = (Vec<String>, Vec<String>, Vec<Number>);

fn read_lists(args: &Args) -> Result<Lists, String> {
    let corpus = read_strings(&args.corpus)?;
    let free = match &args.free_text {
        Some(p) => read_strings(p)?,
        None => Vec::new(),
    };
    let numbers = match &args.numbers {
        Some(p) => read_list(p)?
            .into_iter()
            .map(|v| match (v.as_u64(), v.as_f64()) {
                (Some(u), _) => Ok(Number::U64(u)),
                (None, Some(f)) => Ok(Number::F64(f)),
                _ => Err(format!("{}: not a number: {v}", p.display())),
            })
            .collect::<Result<_, _>>()?,
        None => Vec::new(),
    };
    Ok((corpus, free, numbers))
}

fn main() -> ExitCode {
    let args = Args::parse();
    let (corpus, free, personal_numbers) = match read_lists(&args) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("privacy_probe: error: {e}");
            return ExitCode::from(2);
        }
    };
    if args.panic {
        // The panic is expected, and its message is all personal data:
        // keep stderr quiet. The recorder's hook, chained below, still
        // records where it happened.
        std::panic::set_hook(Box::new(|_| {}));
    }
    let mut config = caro_recorder::Config::from_env().version("1.4.2");
    if args.keep_text {
        config = config.keep_text_fields(KEPT);
    }
    let guard = if args.layer {
        use tracing_subscriber::prelude::*;
        let (recorder, guard) = config.layer();
        let installed = tracing_subscriber::registry()
            .with(recorder)
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::sink))
            .try_init();
        if let Err(e) = installed {
            eprintln!("privacy_probe: error: cannot install the layers: {e}");
            return ExitCode::from(2);
        }
        guard
    } else {
        config.init()
    };
    if !guard.is_recording() {
        eprintln!("privacy_probe: error: the recorder is not recording");
        return ExitCode::from(2);
    }

    harmless(args.keep_text);
    personal_program_text();
    // Run-time strings, as a host's are, with where each may go.
    let strings: Vec<(String, Places)> = corpus
        .iter()
        .map(|s| (s, true))
        .chain(free.iter().map(|s| (s, false)))
        .map(|(s, scrubbable)| {
            let places = Places {
                opted: scrubbable || !args.keep_text,
                plain: args.words || !is_word(s),
            };
            (s.clone(), places)
        })
        .collect();
    let mut id = 100u64;
    for _ in 0..args.repeat {
        for (s, places) in &strings {
            let s = std::hint::black_box(s.as_str());
            everywhere(s, id, *places);
            left_open(s, 1_000_000 + id, *places);
            outside(s);
            id += 1;
        }
        for n in &personal_numbers {
            numbers(std::hint::black_box(*n), id);
            id += 1;
        }
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

    if args.hang {
        const THREADS: usize = 3;
        let strings = Arc::new(strings);
        let rounds = Arc::new(AtomicUsize::new(0));
        for t in 0..THREADS {
            let strings = Arc::clone(&strings);
            let rounds = Arc::clone(&rounds);
            std::thread::Builder::new()
                .name(format!("probe-hang-{t}"))
                .spawn(move || {
                    let mut id = 2_000_000 + t as u64 * 1_000_000;
                    loop {
                        for (s, places) in strings.iter() {
                            hang_once(std::hint::black_box(s.as_str()), id, *places);
                            id += 1;
                        }
                        rounds.fetch_add(1, Ordering::Release);
                    }
                })
                .expect("a thread can be spawned");
        }
        while rounds.load(Ordering::Acquire) < THREADS {
            std::thread::sleep(Duration::from_millis(1));
        }
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "writing");
        let _ = out.flush();
        drop(out);
        loop {
            std::thread::park();
        }
    }
    drop(guard);
    ExitCode::SUCCESS
}
