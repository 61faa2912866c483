//! Live output: the host's events shown as they happen, on stderr or in a
//! file, in caro's pretty, compact or JSON form — caro's design's
//! `CARO_LOG_FORMAT` and `CARO_LOG_FILE`.
//!
//! The host's thread only records, as always, then hands the record's
//! place in the ring to a bounded lock-free queue ([`Feed`]). A background
//! thread reads those records back from the ring and renders them with
//! the renderer `caro-analyze logs` uses ([`caro_format::render`]), so a
//! line shown live is the line `logs` shows later for the same record.
//! What is shown is what the ring holds: the recorder's privacy rules
//! apply to it as to the ring — and more: the text of fields a host opted
//! in with `keep_text_fields`, which the ring keeps for the analyzer's
//! scrubber, is shown only when it is identifier-shaped, else as its
//! length. When the background thread falls behind,
//! the queue drops places (never waits) and a line says how many records
//! were not shown; at exit, what was recorded is shown before the process
//! ends ([`Output::flush`]).

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, IsTerminal, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, TryLockError};
use std::time::{Duration, Instant};

use caro_format::render::time::DAY_NS;
use caro_format::render::{self, Field, LogEvent, LogValue, SpanView, Spans};
use caro_format::Dictionary;
use crossbeam_queue::ArrayQueue;

use crate::commit::LaneWords;
use crate::privacy::{is_identifier, FieldRules};
use crate::recorder::Recorder;

/// How often the background thread shows what was recorded.
const INTERVAL: Duration = Duration::from_millis(20);
/// Records recorded but not yet shown: beyond that, places are dropped
/// (and counted) rather than the host kept waiting.
const QUEUE: usize = 8192;
/// Days a `CARO_LOG_FILE` keeps, as caro's design keeps `telemetry.log`.
pub const FILE_DAYS: i64 = 7;
/// How long the exit waits for the background thread's turn to end.
const EXIT_WAIT: Duration = Duration::from_millis(200);

/// The form of live lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LiveFormat {
    /// A line per event and an indented line per field (caro's design).
    Pretty,
    /// One line per event.
    Compact,
    /// One JSON object per line.
    Json,
}

/// Where and how to show the host's events live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveOutput {
    pub format: LiveFormat,
    /// A file to append to (mode 0600), else stderr.
    pub file: Option<PathBuf>,
}

impl LiveOutput {
    /// What `CARO_LOG_FORMAT` and `CARO_LOG_FILE` ask for: nothing unless
    /// one of them is set; pretty unless the format says otherwise.
    pub fn from_env_values(
        format: Option<&str>,
        file: Option<&str>,
    ) -> Result<Option<LiveOutput>, String> {
        let format = match format.map(str::trim) {
            None | Some("") => None,
            Some("pretty") => Some(LiveFormat::Pretty),
            Some("compact") => Some(LiveFormat::Compact),
            Some("json") => Some(LiveFormat::Json),
            Some(other) => {
                return Err(format!(
                    "ignoring CARO_LOG_FORMAT={other:?}: expected pretty, compact or json"
                ))
            }
        };
        let file = file
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(PathBuf::from);
        Ok((format.is_some() || file.is_some()).then(|| LiveOutput {
            format: format.unwrap_or(LiveFormat::Pretty),
            file,
        }))
    }
}

/// The place of a record this process wrote.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Place {
    pub lane: LaneWords,
    pub seq: u64,
}

/// The places of records not yet shown. The host's threads push, the
/// background thread pops; neither ever waits.
#[derive(Debug)]
pub(crate) struct Feed {
    queue: ArrayQueue<Place>,
    /// Places dropped because the queue was full.
    dropped: AtomicU64,
}

impl Feed {
    /// Off the path of hosts without live output.
    #[cold]
    #[inline(never)]
    pub fn push(&self, place: Place) {
        if self.queue.push(place).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A recorder's live output: its feed, and the printer that empties it.
pub(crate) struct Output {
    pub feed: Feed,
    printer: Mutex<Printer>,
}

impl fmt::Debug for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Output").field("feed", &self.feed).finish()
    }
}

impl Output {
    /// Opens the output `live` asks for, or says why it cannot; `rules`
    /// are the recorder's.
    pub fn open(live: &LiveOutput, rules: FieldRules, now_ns: u64) -> Result<Output, String> {
        let (out, colour): (Box<dyn Write + Send>, bool) = match &live.file {
            Some(path) => (Box::new(open_log_file(path, now_ns)?), false),
            None => {
                let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
                (
                    Box::new(io::stderr()),
                    io::stderr().is_terminal() && !no_color,
                )
            }
        };
        Ok(Output {
            feed: Feed {
                queue: ArrayQueue::new(QUEUE),
                dropped: AtomicU64::new(0),
            },
            printer: Mutex::new(Printer {
                format: live.format,
                colour,
                out,
                dictionary: Dictionary::default(),
                dictionary_tail: 0,
                log: Vec::new(),
                spans: Spans::new(render::unscrubbed),
                pid: std::process::id(),
                rules,
                text: String::new(),
                bytes: Vec::new(),
                failed: false,
            }),
        })
    }

    /// Shows what was recorded and not yet shown. At exit, waits at most
    /// [`EXIT_WAIT`] for the background thread's turn to end.
    pub fn flush(&self, rec: &Recorder) {
        let deadline = Instant::now() + EXIT_WAIT;
        loop {
            match self.printer.try_lock() {
                Ok(mut p) => return p.show(&self.feed, rec),
                Err(TryLockError::Poisoned(p)) => return p.into_inner().show(&self.feed, rec),
                Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(TryLockError::WouldBlock) => return,
            }
        }
    }
}

/// Starts the background thread that shows `rec`'s records. Never fails
/// the host: without a thread, there is no live output, and one line says
/// so.
pub(crate) fn spawn(rec: &Arc<Recorder>) {
    let rec = Arc::clone(rec);
    let started = std::thread::Builder::new()
        .name("caro-live-output".to_owned())
        .spawn(move || loop {
            std::thread::sleep(INTERVAL);
            if let Some(output) = &rec.output {
                output.flush(&rec);
            }
        });
    if let Err(e) = started {
        crate::warn(&format!("no live output: cannot start its thread: {e}"));
    }
}

struct Printer {
    format: LiveFormat,
    colour: bool,
    out: Box<dyn Write + Send>,
    /// The ring's dictionary as of `dictionary_tail`.
    dictionary: Dictionary,
    dictionary_tail: u64,
    /// The dictionary's entry log, copied out of the ring.
    log: Vec<u8>,
    spans: Spans,
    pid: u32,
    rules: FieldRules,
    text: String,
    bytes: Vec<u8>,
    /// Writing failed (a closed stderr, a full disk): stop trying.
    failed: bool,
}

impl Printer {
    fn show(&mut self, feed: &Feed, rec: &Recorder) {
        if self.failed || feed.queue.is_empty() && feed.dropped.load(Ordering::Relaxed) == 0 {
            return;
        }
        // Every record popped below named its callsite before it was
        // written: a dictionary read after the first pop holds them.
        let mut places = Vec::with_capacity(feed.queue.len());
        while let Some(p) = feed.queue.pop() {
            places.push(p);
        }
        let tail = rec.ring.dictionary_tail();
        if tail != self.dictionary_tail {
            rec.ring.copy_dictionary_log(&mut self.log);
            self.dictionary = Dictionary::parse(&self.log);
            self.dictionary_tail = tail;
        }
        let mut unread = feed.dropped.swap(0, Ordering::Relaxed);
        for p in places {
            let Some(r) = caro_format::read_record_at(0, p.seq, |s| rec.ring.slot(p.lane, s))
            else {
                // A lap overtook it before it was shown.
                unread += 1;
                continue;
            };
            self.spans.observe(&r, &self.dictionary);
            if let Some(mut e) = LogEvent::from_record(&r, &self.dictionary, &self.spans) {
                e.pid = Some(self.pid);
                withhold_kept_text(&self.rules, &mut e);
                self.render(&e);
            }
        }
        if unread > 0 {
            // Into a Vec: it cannot fail.
            let _ = writeln!(
                self.bytes,
                "caro-recorder: {unread} records not shown live (recorded faster than shown)"
            );
        }
        let written = self
            .out
            .write_all(&self.bytes)
            .and_then(|()| self.out.flush());
        self.bytes.clear();
        if written.is_err() {
            self.failed = true;
        }
    }

    /// Appends `e`'s lines to what is about to be written.
    fn render(&mut self, e: &LogEvent) {
        let text = &mut self.text;
        text.clear();
        match self.format {
            LiveFormat::Pretty => render::pretty::write(text, e, self.colour),
            LiveFormat::Compact => render::pretty::write_line(text, e, self.colour),
            LiveFormat::Json => return render::json::write(&mut self.bytes, e),
        }
        self.bytes.extend_from_slice(text.as_bytes());
    }
}

/// The text of fields opted in with `keep_text_fields` (kept in the ring
/// for the analyzer's scrubber), as the ring's rule for run-time strings
/// keeps text: identifier-shaped, else its length. No scrubber runs here.
fn withhold_kept_text(rules: &FieldRules, e: &mut LogEvent) {
    let withhold = |fields: &mut [Field]| {
        for (name, value) in fields {
            if let LogValue::Str(text) = value {
                if rules.keeps_text(name) && !is_identifier(text) {
                    *value = LogValue::Str(format!("<redacted {} bytes>", text.len()));
                }
            }
        }
    };
    withhold(&mut e.fields);
    if let Some(SpanView::Known { fields, .. }) = &mut e.span {
        withhold(fields);
    }
}

/// Opens `path` to append live lines: created 0600, never through a
/// symbolic link, never anything but a regular file. A file last written
/// on an earlier day (UTC) is first archived as `PATH.YYYY-MM-DD`, and
/// archives older than [`FILE_DAYS`] are deleted.
fn open_log_file(path: &Path, now_ns: u64) -> Result<File, String> {
    let shown = || crate::paths::shown(path);
    let today = (now_ns / DAY_NS) as i64;
    if let Ok(meta) = fs::symlink_metadata(path) {
        let day = meta.mtime().div_euclid(86_400);
        if meta.file_type().is_file() && day < today {
            let archive = archive_path(path, day);
            fs::rename(path, &archive).map_err(|e| format!("cannot archive {}: {e}", shown()))?;
        }
    }
    delete_old_archives(path, today);
    let file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| format!("cannot open {}: {e}", shown()))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot open {}: {e}", shown()))?;
    if !meta.file_type().is_file() {
        return Err(format!("{} is not a regular file", shown()));
    }
    Ok(file)
}

/// `PATH.YYYY-MM-DD`: the archive of `path`'s day `day` (days since 1970).
fn archive_path(path: &Path, day: i64) -> PathBuf {
    let name = render::time::format_ns(day.max(0) as u64 * DAY_NS, "%Y-%m-%d");
    let mut p = path.as_os_str().to_owned();
    p.push(".");
    p.push(name);
    PathBuf::from(p)
}

/// Deletes the archives of `path` from days more than [`FILE_DAYS`]
/// before `today`.
fn delete_old_archives(path: &Path, today: i64) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
        return;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(day) = file_name
            .to_str()
            .and_then(|n| n.strip_prefix(name))
            .and_then(|n| n.strip_prefix('.'))
            .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        else {
            continue;
        };
        let day = day
            .signed_duration_since(chrono::NaiveDate::default())
            .num_days();
        if day < today - FILE_DAYS {
            let _ = fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_asks_for_live_output() {
        let f = LiveOutput::from_env_values;
        assert_eq!(f(None, None), Ok(None));
        assert_eq!(f(Some(""), Some(" ")), Ok(None));
        assert_eq!(
            f(Some("json"), None),
            Ok(Some(LiveOutput {
                format: LiveFormat::Json,
                file: None
            }))
        );
        assert_eq!(
            f(None, Some("/tmp/caro.log")),
            Ok(Some(LiveOutput {
                format: LiveFormat::Pretty,
                file: Some("/tmp/caro.log".into())
            }))
        );
        assert_eq!(
            f(Some("compact"), None).unwrap().unwrap().format,
            LiveFormat::Compact
        );
        assert!(f(Some("xml"), None)
            .unwrap_err()
            .contains("CARO_LOG_FORMAT"));
    }

    #[test]
    fn opted_in_text_is_shown_only_when_an_identifier() {
        let rules = crate::Config::default()
            .keep_text_fields(["error"])
            .rules
            .clone();
        let text = |s: &str| LogValue::Str(s.to_owned());
        let mut e = LogEvent {
            time_ns: 0,
            level: "WARN",
            target: "caro".into(),
            pid: None,
            thread: 1,
            span: Some(SpanView::Known {
                name: "request".into(),
                fields: vec![("error".into(), text("timeout"))],
            }),
            fields: vec![
                ("error".into(), text("cannot open /home/ana/notes.txt")),
                ("backend".into(), text("embedded")),
                ("message".into(), text("failed")),
            ],
        };
        withhold_kept_text(&rules, &mut e);
        assert_eq!(e.fields[0].1, text("<redacted 31 bytes>"));
        assert_eq!(e.fields[1].1, text("embedded"));
        assert_eq!(e.fields[2].1, text("failed"));
        let Some(SpanView::Known { fields, .. }) = &e.span else {
            unreachable!()
        };
        assert_eq!(fields[0].1, text("timeout"));
    }

    #[test]
    fn a_log_file_keeps_seven_days() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("caro.log");
        let day = |d: i64| d as u64 * DAY_NS;
        let today = 20_000;
        for d in [today - 9, today - 8, today - 7, today - 1] {
            fs::write(archive_path(&path, d), "old\n").unwrap();
        }
        // Last written yesterday: archived before today's lines.
        fs::write(&path, "yesterday\n").unwrap();
        let yesterday =
            std::time::UNIX_EPOCH + Duration::from_secs((today as u64 - 1) * 86_400 + 5);
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(yesterday)
            .unwrap();
        let mut f = open_log_file(&path, day(today) + 1).unwrap();
        writeln!(f, "today").unwrap();
        let mut names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        let archive = |d| {
            archive_path(&path, d)
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned()
        };
        assert_eq!(
            names,
            [
                "caro.log".to_owned(),
                archive(today - 7),
                archive(today - 1)
            ]
        );
        assert_eq!(fs::read_to_string(&path).unwrap(), "today\n");
        assert_eq!(
            fs::read_to_string(archive_path(&path, today - 1)).unwrap(),
            "yesterday\n"
        );
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn a_log_file_is_never_a_link_or_a_fifo() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("elsewhere");
        fs::write(&target, "").unwrap();
        let link = dir.path().join("caro.log");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(open_log_file(&link, 0).is_err());
        // A FIFO never blocks the open (no reader: refused at once) and
        // is never written to.
        let fifo = dir.path().join("fifo.log");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|s| s.success()) {
            assert!(open_log_file(&fifo, 0).is_err());
        }
    }
}
