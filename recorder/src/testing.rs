//! What a host logged, for the host's own tests: [`capture`] records the
//! calling thread's events into a temporary ring of their own for as long
//! as the capture lives, and reads them back as `caro-analyze logs` would
//! show them — with the recorder's privacy rules applied, so a test sees
//! what the flight recorder keeps (a query argument is a hole).
//!
//! Safe under `cargo test`'s threads: a capture is the calling thread's
//! default subscriber only, so tests running side by side each see their
//! own events. Nothing is written to the user's data folder.
//!
//! ```
//! let logs = caro_recorder::testing::capture();
//! tracing::info!(backend = "embedded", latency_ms = 42u64, "command generated");
//! let query = String::from("list my files");
//! tracing::debug!("Processing query: {}", query);
//!
//! logs.assert_logged(tracing::Level::INFO, "command generated")
//!     .assert_field("backend", "embedded")
//!     .assert_field("latency_ms", 42);
//! assert!(logs.contains("Processing query: <redacted 13 bytes>"));
//! assert!(!logs.contains("list my files"));
//! ```
//!
//! Events of other threads (spawned tasks) go to their own subscriber, as
//! with any scoped `tracing` subscriber.

use std::fmt::{self, Display};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use caro_format::render::{self, pretty, LogEvent, Spans};
use tracing_core::dispatcher::{self, DefaultGuard};
use tracing_core::{Dispatch, Level};
use tracing_subscriber::filter::LevelFilter;

use crate::{Config, Guard};

/// The size of a capture's ring: room for thousands of events.
const RING_SIZE: u64 = 1 << 20;

static NEXT: AtomicU64 = AtomicU64::new(0);

/// Records the calling thread's events, at every level, until dropped.
/// See the [module](self) for an example.
#[must_use = "the capture records only while it lives"]
pub fn capture() -> Capture {
    let dir = loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("caro-capture-{}-{n}", std::process::id()));
        use std::os::unix::fs::DirBuilderExt;
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => break dir,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => panic!(
                "caro_recorder::testing: cannot create {}: {e}",
                dir.display()
            ),
        }
    };
    let ring = dir.join("events.ring");
    let (subscriber, guard) = Config::default()
        .ring_path(&ring)
        .ring_size(RING_SIZE)
        .filter("trace")
        .floor(LevelFilter::TRACE)
        // The process's panic hook is not one test's to take.
        .panic_hook(false)
        .live_output(None)
        .subscriber();
    let subscriber = subscriber.unwrap_or_else(|| {
        panic!(
            "caro_recorder::testing: cannot record into {}",
            ring.display()
        )
    });
    let default = dispatcher::set_default(&Dispatch::new(subscriber));
    Capture {
        dir,
        ring,
        default: Some(default),
        guard: Some(guard),
    }
}

/// A thread's events, recorded since [`capture`].
#[derive(Debug)]
pub struct Capture {
    dir: PathBuf,
    ring: PathBuf,
    default: Option<DefaultGuard>,
    guard: Option<Guard>,
}

impl Capture {
    /// Every event recorded so far, oldest first.
    pub fn events(&self) -> Vec<Event> {
        let bytes = std::fs::read(&self.ring).unwrap_or_else(|e| {
            panic!(
                "caro_recorder::testing: cannot read {}: {e}",
                self.ring.display()
            )
        });
        let decoded = caro_format::decode(&bytes).unwrap_or_else(|e| {
            panic!("caro_recorder::testing: the capture's ring does not decode: {e}")
        });
        let mut spans = Spans::new(render::unscrubbed);
        let mut events = Vec::new();
        for r in &decoded.records {
            spans.observe(r, &decoded.dictionary);
            if let Some(mut e) = LogEvent::from_record(r, &decoded.dictionary, &spans) {
                e.pid = decoded.pid(r);
                events.push(Event(e));
            }
        }
        events
    }

    /// Whether an event's line (`caro-analyze logs --format compact`: its
    /// level, target, message and `name=value` fields) contains `text`.
    pub fn contains(&self, text: &str) -> bool {
        self.events().iter().any(|e| e.to_string().contains(text))
    }

    /// The first event at `level` whose message contains `message`; fails
    /// the test, listing what was logged, when there is none.
    #[track_caller]
    pub fn assert_logged(&self, level: Level, message: &str) -> Event {
        let events = self.events();
        match events
            .iter()
            .find(|e| e.level() == level.as_str() && e.message().contains(message))
        {
            Some(e) => e.clone(),
            None => panic!(
                "no {level} event with {message:?} in its message; logged:\n{}",
                listing(&events)
            ),
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        // The thread's previous subscriber back first, then the exit.
        drop(self.default.take());
        drop(self.guard.take());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn listing(events: &[Event]) -> String {
    match events.is_empty() {
        true => "  (nothing)".to_owned(),
        false => events.iter().map(|e| format!("  {e}")).collect(),
    }
}

/// One logged event, as `caro-analyze logs` shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct Event(LogEvent);

impl Event {
    /// `ERROR`, `WARN`, `INFO`, `DEBUG` or `TRACE`.
    pub fn level(&self) -> &str {
        self.0.level
    }

    pub fn target(&self) -> &str {
        &self.0.target
    }

    /// The message as recorded: literal text and program-text arguments,
    /// `<redacted N bytes>` for what the recorder withheld; empty when
    /// the event has none.
    pub fn message(&self) -> String {
        self.0.message().map(pretty::field_text).unwrap_or_default()
    }

    /// A field's value as `logs` shows it, if the event has that field.
    pub fn field(&self, name: &str) -> Option<String> {
        self.0
            .other_fields()
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| pretty::field_text(v))
    }

    /// Fails the test unless field `name` shows as `value`.
    #[track_caller]
    pub fn assert_field(&self, name: &str, value: impl Display) -> &Event {
        let want = value.to_string();
        match self.field(name) {
            Some(got) if got == want => self,
            got => panic!("field {name:?} is {got:?}, expected {want:?}, in:\n  {self}"),
        }
    }
}

impl Display for Event {
    /// The compact line, without its time and place.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut line = String::new();
        pretty::write_line(&mut line, &self.0, false);
        // `time [pid/thread] ` first: the same in every line.
        let rest = line.splitn(4, ' ').nth(3).unwrap_or(&line);
        f.write_str(rest)
    }
}
