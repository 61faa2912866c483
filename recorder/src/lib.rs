//! caro's flight recorder: a `tracing` subscriber that keeps every event
//! and span of the process as fixed-size binary records in a memory-mapped
//! ring file shared by all of the user's caro processes,
//! `$XDG_CACHE_HOME/caro/events.ring` (default `~/.cache/caro/events.ring`).
//!
//! Recording costs a timestamp, one atomic add and a few stores into the
//! ring: no lock, no system call, no allocation. Nothing is formatted but
//! what a host formats itself (a message with arguments, a `Debug` value),
//! whose formatter runs into a stack buffer that keeps only its program
//! text and small numbers. Everything else happens later, offline, in
//! `caro-analyze`.
//!
//! One line turns it on; it never fails the host:
//!
//! ```no_run
//! let _guard = caro_recorder::init();
//! tracing::info!(backend = "static", latency_ms = 3u64, "command generated");
//! // Dropping the guard records the process's exit and resource usage; a
//! // host that ends in `std::process::exit` with the guard alive has its
//! // exit and status recorded from inside `exit` (the status on glibc),
//! // or calls `guard.exit(status)`, which records them on every platform.
//! ```
//!
//! Hosts that compose their own `fmt` layer and filters use the layer,
//! which applies the recorder's filter to itself alone, in any stack. A
//! global filter in the stack limits what every layer sees, the
//! recorder's included: a quiet console gets a filter of its own.
//!
//! ```no_run
//! use tracing_subscriber::prelude::*;
//!
//! let (recorder, _guard) = caro_recorder::layer();
//! let quiet = tracing_subscriber::filter::LevelFilter::WARN;
//! tracing_subscriber::registry()
//!     .with(recorder)
//!     .with(tracing_subscriber::fmt::layer().with_filter(quiet))
//!     .init();
//! ```
//!
//! Environment: `CARO_LOG=off` records nothing (callsites are disabled at
//! `tracing`'s own cost); under `cargo test` (a test binary is the
//! process or its parent, or cargo-nextest runs it) nothing is written to
//! the user's ring unless the test sets `XDG_CACHE_HOME` or `CARO_LOG=on`;
//! `RUST_LOG` raises what is recorded above its floor, INFO
//! ([`Config::floor`]), and never lowers it, so a host that quiets its
//! console keeps its flight recorder; `XDG_CACHE_HOME` moves
//! the data folder (created 0700; an existing one is left as it is);
//! `CARO_RING_SIZE` sets the size of a new ring (`16M` by default; `K`,
//! `M`, `G` suffixes): the file is exactly that size, rounded down to
//! 4 KiB, and at least 256 KiB.
//!
//! Privacy (see [`privacy`]): what is kept follows where a value comes
//! from. Program text (literal messages, static strings, enum names) and
//! numbers are kept, and run-time strings that are identifiers
//! (`file_search`, `qwen2.5-coder:1.5b`). A message with arguments, a
//! `Debug` or `Display` value and an error chain keep their program-text
//! pieces and small numbers; what else they wrote at run time (a query, a
//! command, a path) keeps only its length:
//!
//! ```no_run
//! # let _guard = caro_recorder::init();
//! # let (cmd, elapsed) = (String::new(), std::time::Duration::ZERO);
//! tracing::info!("Static matcher found match in {:?}: {}", elapsed, cmd);
//! // `caro-analyze logs`: Static matcher found match in 1.2ms: <redacted 23 bytes>
//! ```
//!
//! Every value of a field named like user data (`query`, `path`,
//! `api_key`, `card_number`, …, see [`denied`]) keeps only its length.
//! Hosts tune this by field name:
//!
//! ```no_run
//! let _guard = caro_recorder::Config::from_env()
//!     .deny_fields(["tenant"])
//!     .keep_text_fields(["error"])
//!     .init();
//! ```
//!
//! Live output, as caro's design has it: `CARO_LOG_FORMAT=pretty`,
//! `compact` or `json` shows the host's events on stderr as they are
//! recorded, `CARO_LOG_FILE=PATH` appends them to a file (0600, seven
//! days kept) — rendered on a background thread from the ring, as
//! `caro-analyze logs` renders them ([`Config::live_output`]).
//!
//! A host's own tests assert what it logged with [`testing::capture`],
//! which records into a temporary ring, never the user's.
#![deny(unsafe_code)]

mod callsites;
mod clock;
mod commit;
mod fields;
mod layer;
mod output;
pub mod paths;
pub mod privacy;
mod process;
mod recorder;
pub mod ring;
mod subscriber;
mod sync;
mod sys;
pub mod testing;
mod thread;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::Instant;

use tracing_subscriber::filter::{LevelFilter, Targets};

use privacy::FieldRules;

pub use layer::RingLayer;
pub use output::{LiveFormat, LiveOutput};
pub use privacy::{denied, is_identifier, DENIED_WORDS, DENY_LIST, SECRET_WORDS};
pub use recorder::Recorder;
pub use ring::OpenError;
pub use subscriber::RingSubscriber;

/// Size of a new ring unless `CARO_RING_SIZE` or [`Config::ring_size`]
/// says otherwise: weeks of caro's normal use at `info`.
pub const DEFAULT_RING_SIZE: u64 = 16 << 20;

/// How to record. [`Config::from_env`] reads the environment; the setters
/// override it.
#[derive(Clone, Debug)]
pub struct Config {
    ring_path: Option<PathBuf>,
    ring_size: u64,
    directives: String,
    /// The least the recorder records, whatever the directives say.
    floor: LevelFilter,
    enabled: bool,
    panic_hook: bool,
    clock: Option<fn() -> u64>,
    rules: FieldRules,
    version: &'static str,
    enter_exit: bool,
    live: Option<LiveOutput>,
    /// A test that did not ask for the user's ring: record only into a
    /// ring named with [`Config::ring_path`].
    spare_users_ring: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            ring_path: None,
            ring_size: DEFAULT_RING_SIZE,
            directives: "info".to_owned(),
            floor: LevelFilter::INFO,
            enabled: true,
            panic_hook: true,
            clock: None,
            rules: FieldRules::default(),
            version: "",
            enter_exit: false,
            live: None,
            spare_users_ring: false,
        }
    }
}

/// Parses a size such as `65536`, `512K`, `16M` or `1G`.
fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (digits, shift) = match s.as_bytes().last()? {
        b'k' | b'K' => (&s[..s.len() - 1], 10),
        b'm' | b'M' => (&s[..s.len() - 1], 20),
        b'g' | b'G' => (&s[..s.len() - 1], 30),
        _ => (s, 0),
    };
    digits.parse::<u64>().ok()?.checked_mul(1 << shift)
}

impl Config {
    /// The configuration the environment asks for.
    pub fn from_env() -> Config {
        let mut c = Config::default();
        let caro_log = std::env::var("CARO_LOG").unwrap_or_default();
        if caro_log.trim().eq_ignore_ascii_case("off") {
            c.enabled = false;
        }
        // A host's `cargo test` keeps out of the user's ring, unless the
        // test chose a data folder (XDG_CACHE_HOME) or CARO_LOG=on.
        c.spare_users_ring = !caro_log.trim().eq_ignore_ascii_case("on")
            && std::env::var_os("XDG_CACHE_HOME").is_none_or(|v| v.is_empty())
            && paths::under_test_harness();
        if let Ok(d) = std::env::var("RUST_LOG") {
            if !d.trim().is_empty() {
                c.directives = d;
            }
        }
        let var = |name| std::env::var(name).ok();
        match LiveOutput::from_env_values(
            var("CARO_LOG_FORMAT").as_deref(),
            var("CARO_LOG_FILE").as_deref(),
        ) {
            Ok(live) => c.live = live,
            Err(e) => warn(&e),
        }
        if let Ok(s) = std::env::var("CARO_RING_SIZE") {
            match parse_size(&s) {
                Some(n) => c.ring_size = n,
                None => warn(&format!(
                    "ignoring CARO_RING_SIZE={s:?}: not a size like 16M"
                )),
            }
        }
        c
    }

    /// Records into `path` instead of the per-user default.
    pub fn ring_path(mut self, path: impl Into<PathBuf>) -> Config {
        self.ring_path = Some(path.into());
        self
    }

    /// The size in bytes of a ring this process creates (an existing ring
    /// keeps its size).
    pub fn ring_size(mut self, bytes: u64) -> Config {
        self.ring_size = bytes;
        self
    }

    /// `RUST_LOG`-style directives choosing what is recorded, above the
    /// [floor](Config::floor): `caro::agent=debug` records that target's
    /// DEBUG events too; `warn` or `caro=off` change nothing below it.
    pub fn filter(mut self, directives: impl Into<String>) -> Config {
        self.directives = directives.into();
        self
    }

    /// Whether to record a panic's location and thread (default on).
    pub fn panic_hook(mut self, on: bool) -> Config {
        self.panic_hook = on;
        self
    }

    /// Takes record times (Unix nanoseconds) from `now` instead of the
    /// system's clock: for simulations that play hours of time in seconds,
    /// and tests that need exact durations. `now` runs on the hot path of
    /// every record, so it must be cheap and must not record anything.
    pub fn clock(mut self, now: fn() -> u64) -> Config {
        self.clock = Some(now);
        self
    }

    /// Withholds the values of fields with these names too (beyond the
    /// default rules, [`denied`]): only their length is written. Names
    /// compare whole or by their last dotted segment, ignoring case.
    pub fn deny_fields<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Config {
        self.rules.deny.extend(names.into_iter().map(Into::into));
        self
    }

    /// Records the values of these [`denied`] fields after all — an
    /// explicit choice, for a `key` that is a cache key or a `file` that is
    /// always a built-in name. Their text still goes through the analyzer's
    /// scrubber.
    pub fn allow_fields<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Config {
        self.rules.allow.extend(names.into_iter().map(Into::into));
        self
    }

    /// Keeps the text of these fields' `Debug` and `Display` values, error
    /// chains and free text (cut to 127 bytes), which are otherwise only
    /// measured. The text is formatted on the hot path, and kept for the
    /// analyzer's scrubber: opt in fields whose text is worth it, such as
    /// an error. A withheld field, or the message, is never kept.
    pub fn keep_text_fields<S: Into<String>>(
        mut self,
        names: impl IntoIterator<Item = S>,
    ) -> Config {
        self.rules
            .keep_text
            .extend(names.into_iter().map(Into::into));
        self
    }

    /// Shows the host's events live as they are recorded — on stderr, or
    /// appended to a file — rendered as `caro-analyze logs` renders them,
    /// on a background thread (the host's threads only record). `None`
    /// shows nothing (the default unless `CARO_LOG_FORMAT` or
    /// `CARO_LOG_FILE` is set).
    pub fn live_output(mut self, live: Option<LiveOutput>) -> Config {
        self.live = live;
        self
    }

    /// Also records each time a span is entered and exited (default off).
    /// A span's creation and close are always recorded, with their times
    /// and its place in the tree, which is all the analyzer uses; entries
    /// and exits matter to hosts whose spans are entered many times (async
    /// tasks), and double the cost of a span.
    pub fn span_enter_exit(mut self, on: bool) -> Config {
        self.enter_exit = on;
        self
    }

    /// The host program's version (`env!("CARGO_PKG_VERSION")`), kept in
    /// the record of each process's start.
    pub fn version(mut self, version: &'static str) -> Config {
        self.version = version;
        self
    }

    /// The least the recorder records (default INFO): the directives
    /// (`RUST_LOG`) can raise what is recorded, never lower it, so that a
    /// host that quiets its console (`RUST_LOG=warn`, caro's `caro=warn`)
    /// does not silence its flight recorder. `LevelFilter::OFF` lets the
    /// directives decide alone.
    pub fn floor(mut self, level: LevelFilter) -> Config {
        self.floor = level;
        self
    }

    fn targets(&self) -> Targets {
        // Directive by directive, so one the recorder cannot use (span or
        // field filters) costs only itself: what is recorded then is
        // still the floor, never nothing.
        let floor = self.floor;
        let mut targets = Targets::new().with_default(floor);
        for d in self.directives.split(',').filter(|d| !d.trim().is_empty()) {
            // Span and field filters (`[span]`, `{field}`) are not target
            // names, though `Targets` would take some for one.
            let parsed = match d.contains(['[', ']', '{', '}']) {
                true => Err(()),
                false => d.trim().parse::<Targets>().map_err(|_| ()),
            };
            match parsed {
                Ok(t) => {
                    if let Some(level) = t.default_level() {
                        targets = targets.with_default(level.max(floor));
                    }
                    for (target, level) in t.iter() {
                        targets = targets.with_target(target, level.max(floor));
                    }
                }
                Err(_) => warn(&format!(
                    "ignoring RUST_LOG directive {d:?}: only target=level directives are recorded \
                     (recording {} and above)",
                    floor.to_string().to_ascii_uppercase()
                )),
            }
        }
        targets
    }

    /// Opens the ring and builds the recorder, or says why not.
    pub fn open(&self) -> Result<Arc<Recorder>, OpenError> {
        let path = match &self.ring_path {
            Some(p) => p.clone(),
            None => {
                let dir = paths::data_dir().ok_or(OpenError::NoDataDir)?;
                ring::secure_folder(&dir)?;
                dir.join(paths::RING_FILE)
            }
        };
        let now = clock::wall_ns();
        let ring = ring::Ring::open_or_create(&path, self.ring_size, now)?;
        // Live output never keeps the recorder from starting.
        let output = self.live.as_ref().and_then(|live| {
            output::Output::open(live, self.rules.clone(), now)
                .map_err(|e| warn(&format!("no live output: {e}")))
                .ok()
        });
        Ok(Arc::new(Recorder::new(
            ring,
            self.targets(),
            self.rules.clone(),
            self.clock,
            self.enter_exit,
            output,
        )))
    }

    fn start(&self) -> Option<Arc<Recorder>> {
        if !self.enabled || self.spare_users_ring && self.ring_path.is_none() {
            return None;
        }
        match self.open() {
            Ok(rec) => Some(rec),
            Err(e) => {
                warn(&format!("recording disabled: {e}"));
                None
            }
        }
    }

    /// Installs the recorder as the global subscriber. Never fails the
    /// host: when it cannot record, one line on stderr says why and the
    /// returned guard does nothing.
    pub fn init(self) -> Guard {
        let Some(rec) = self.start() else {
            return Guard::inert();
        };
        let dispatch = tracing_core::Dispatch::new(RingSubscriber::new(Arc::clone(&rec)));
        if tracing_core::dispatcher::set_global_default(dispatch).is_err() {
            warn("recording disabled: another global tracing subscriber is already installed");
            return Guard::inert();
        }
        self.started(rec)
    }

    /// The recorder as a subscriber, not installed: for hosts (and
    /// benchmarks) that install it themselves, globally or in a scope. It
    /// is `None` when the ring cannot be opened (one line on stderr says
    /// why).
    pub fn subscriber(self) -> (Option<RingSubscriber>, Guard) {
        let Some(rec) = self.start() else {
            return (None, Guard::inert());
        };
        let subscriber = RingSubscriber::new(Arc::clone(&rec));
        (Some(subscriber), self.started(rec))
    }

    /// The recorder as a layer, filtered by this configuration alone, and
    /// the guard that records the process's exit. The layer is `None` when
    /// the ring cannot be opened (one line on stderr says why). It fits
    /// any stack, and sees what the stack's global filters let through
    /// (see [`RingLayer`]).
    pub fn layer(self) -> (Option<RingLayer>, Guard) {
        let Some(rec) = self.start() else {
            return (None, Guard::inert());
        };
        let layer = RingLayer::new(Arc::clone(&rec));
        (Some(layer), self.started(rec))
    }

    fn started(&self, rec: Arc<Recorder>) -> Guard {
        process::start(&rec, self.version);
        if rec.output.is_some() {
            output::spawn(&rec);
        }
        if self.panic_hook {
            process::install_panic_hook(&rec);
        }
        let started = Instant::now();
        let token = NEXT_GUARD.fetch_add(1, Ordering::Relaxed);
        lock_live().push(Live {
            token,
            rec: Arc::clone(&rec),
            started,
        });
        sys::on_exit(finish_live);
        Guard {
            rec: Some(rec),
            token,
        }
    }
}

/// Installs the recorder as the global subscriber, configured from the
/// environment. See [`Config::init`].
pub fn init() -> Guard {
    Config::from_env().init()
}

/// The recorder as a layer, configured from the environment. See
/// [`Config::layer`].
pub fn layer() -> (Option<RingLayer>, Guard) {
    Config::from_env().layer()
}

/// Records the process's exit when dropped, or with its status by
/// [`Guard::exit`]; a host that ends in `std::process::exit` with the
/// guard alive has its exit recorded from inside `exit` (with the status
/// on glibc).
#[derive(Debug)]
#[must_use = "dropping the guard records the process's exit at once"]
pub struct Guard {
    rec: Option<Arc<Recorder>>,
    /// Its entry in [`LIVE`].
    token: u64,
}

/// A recording whose exit is not recorded yet: its guard is alive.
struct Live {
    token: u64,
    rec: Arc<Recorder>,
    started: Instant,
}

/// The recordings of this process whose guards are alive, which the exit
/// hook finishes when the host exits without dropping them (`exit` runs
/// no destructor).
static LIVE: Mutex<Vec<Live>> = Mutex::new(Vec::new());

static NEXT_GUARD: AtomicU64 = AtomicU64::new(1);

fn lock_live() -> MutexGuard<'static, Vec<Live>> {
    LIVE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The exit hook: records the exit of every recording still alive. A
/// guard being dropped on another thread at this moment records its own.
fn finish_live(status: Option<i32>) {
    let live = match LIVE.try_lock() {
        Ok(mut live) => std::mem::take(&mut *live),
        Err(TryLockError::Poisoned(p)) => std::mem::take(&mut *p.into_inner()),
        Err(TryLockError::WouldBlock) => return,
    };
    for l in live {
        finish(l, status);
    }
}

/// Records `live`'s exit and says if its ring was lost meanwhile.
fn finish(live: Live, status: Option<i32>) {
    let rec = &live.rec;
    process::exit(rec, live.started, status);
    if let Some(output) = &rec.output {
        output.flush(rec);
    }
    let lost = if rec.ring.lost() {
        Some("was cut short by another process")
    } else if rec.ring.replaced() {
        Some("was replaced or removed by another process")
    } else {
        None
    };
    if let Some(what) = lost {
        warn(&format!(
            "{} {what} while this one recorded; what it recorded since is lost",
            paths::shown(rec.ring.path())
        ));
    }
}

impl Guard {
    fn inert() -> Guard {
        Guard {
            rec: None,
            token: 0,
        }
    }

    /// Whether this process is recording.
    pub fn is_recording(&self) -> bool {
        self.rec.is_some()
    }

    /// The ring being written, if recording.
    pub fn ring_path(&self) -> Option<&Path> {
        self.rec.as_ref().map(|r| r.ring.path())
    }

    /// Records the process's exit with `status`, then ends the process
    /// with it: what a host that ends with [`std::process::exit`] calls
    /// instead, on every platform (`exit` runs no destructor; on glibc the
    /// recorder's own exit hook would record the status too).
    ///
    /// ```no_run
    /// let guard = caro_recorder::init();
    /// // … the host's work …
    /// guard.exit(2); // in place of std::process::exit(2)
    /// ```
    pub fn exit(mut self, status: i32) -> ! {
        self.finish(Some(status));
        std::process::exit(status)
    }

    /// Records the exit, unless the exit hook already did.
    fn finish(&mut self, status: Option<i32>) {
        if self.rec.take().is_none() {
            return;
        }
        let live = {
            let mut live = lock_live();
            let i = live.iter().position(|l| l.token == self.token);
            i.map(|i| live.swap_remove(i))
        };
        if let Some(live) = live {
            finish(live, status);
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.finish(None);
    }
}

pub(crate) fn warn(msg: &str) {
    eprintln!("caro-recorder: {msg}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_suffixes() {
        assert_eq!(parse_size("65536"), Some(65536));
        assert_eq!(parse_size("512K"), Some(512 << 10));
        assert_eq!(parse_size("16m"), Some(16 << 20));
        assert_eq!(parse_size("1G"), Some(1 << 30));
        assert_eq!(parse_size("lots"), None);
        assert_eq!(parse_size(""), None);
    }

    #[test]
    fn unusable_directives_are_skipped_not_fatal() {
        let t = Config::default()
            .filter("caro=debug,foo[span]=trace,warn")
            .targets();
        assert!(t.would_enable("caro::agent", &tracing_core::Level::DEBUG));
        assert!(!t.would_enable("other", &tracing_core::Level::DEBUG));
        assert!(t.would_enable("other", &tracing_core::Level::INFO));
        // Only directives it cannot use: the floor, not nothing.
        let t = Config::default().filter("[process_query]=debug").targets();
        assert!(t.would_enable("caro", &tracing_core::Level::INFO));
        assert!(!t.would_enable("caro", &tracing_core::Level::DEBUG));
    }

    #[test]
    fn directives_raise_what_is_recorded_never_below_the_floor() {
        let info = &tracing_core::Level::INFO;
        let t = Config::default().filter("warn,caro=off").targets();
        assert!(t.would_enable("caro::agent", info));
        assert!(t.would_enable("other", info));
        let t = Config::default().filter("caro=trace").targets();
        assert!(t.would_enable("caro::agent", &tracing_core::Level::TRACE));
        assert!(!t.would_enable("other", &tracing_core::Level::DEBUG));
        // A host may lower the floor, and let the directives decide.
        let t = Config::default()
            .floor(LevelFilter::OFF)
            .filter("warn")
            .targets();
        assert!(!t.would_enable("other", info));
        assert!(t.would_enable("other", &tracing_core::Level::WARN));
    }
}
