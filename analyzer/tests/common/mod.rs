//! Helpers of the end-to-end tests: a builder of small rings, written the
//! way the recorder writes them (caro-format's encoders), and a runner of
//! the real `caro-analyze` binary.
#![allow(dead_code)] // Each test file uses its own part of the helpers.

use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use caro_format::dictionary::{encode_callsite, encode_string, EncodedEntry};
use caro_format::{
    CallsiteKind, CallsiteRef, Geometry, Level, RecordHead, RecordKind, SlotImages, ValueWriter,
};

/// 2026-01-15T14:32:15.123Z, the first timestamp of the design document.
pub const T0: u64 = 1_768_487_535_123_000_000;
/// Main lane of the test geometry.
pub const MAIN: u32 = 0;
/// Alert lane of the test geometry.
pub const ALERT: u32 = 1;

/// A ring under construction, in memory.
pub struct RingBuilder {
    pub geometry: Geometry,
    pub bytes: Vec<u8>,
    next_line: u32,
}

impl RingBuilder {
    /// One main and one alert lane of 16 slots each.
    pub fn new(created_ns: u64) -> RingBuilder {
        RingBuilder::with_geometry(Geometry::uniform(1, 4, 4, 8192, 16), created_ns)
    }

    pub fn with_geometry(geometry: Geometry, created_ns: u64) -> RingBuilder {
        let mut bytes = geometry.initial_bytes(created_ns);
        bytes.resize(geometry.file_size() as usize, 0);
        RingBuilder {
            geometry,
            bytes,
            next_line: 1,
        }
    }

    pub fn u64_at(&self, off: u64) -> u64 {
        let o = off as usize;
        u64::from_le_bytes(self.bytes[o..o + 8].try_into().unwrap())
    }

    pub fn set_u64(&mut self, off: u64, v: u64) {
        let o = off as usize;
        self.bytes[o..o + 8].copy_from_slice(&v.to_le_bytes());
    }

    /// Appends a committed dictionary entry and moves the tail past it.
    pub fn entry(&mut self, e: &EncodedEntry) {
        let region = self.geometry.dict_offset();
        let tail = self.u64_at(region);
        let mut at = region + self.geometry.dict_log_offset() + tail;
        let mut words = e.words.clone();
        words[0] = e.committed_word();
        for w in &words {
            self.set_u64(at, *w);
            at += 8;
        }
        self.set_u64(region, tail + 8 * words.len() as u64);
    }

    /// Adds a callsite without a message literal; returns its id.
    pub fn callsite(
        &mut self,
        level: Level,
        kind: CallsiteKind,
        name: &str,
        target: &str,
        fields: &[&str],
    ) -> u64 {
        self.callsite_with_message(level, kind, name, target, fields, "")
    }

    fn callsite_with_message(
        &mut self,
        level: Level,
        kind: CallsiteKind,
        name: &str,
        target: &str,
        fields: &[&str],
        message: &str,
    ) -> u64 {
        let line = self.next_line;
        self.next_line += 1;
        let e = encode_callsite(&CallsiteRef {
            level,
            kind,
            name,
            target,
            file: "src/agent.rs",
            line,
            fields,
            message,
        });
        self.entry(&e);
        e.id
    }

    /// Adds an event callsite and its message literal; returns its id.
    pub fn event_callsite(
        &mut self,
        level: Level,
        target: &str,
        message: &str,
        fields: &[&str],
    ) -> u64 {
        let name = format!("event src/agent.rs:{}", self.next_line);
        self.callsite_with_message(level, CallsiteKind::Event, &name, target, fields, message)
    }

    /// Adds a string entry; returns the id STATIC_STR values use.
    pub fn string(&mut self, s: &str) -> u64 {
        let e = encode_string(s);
        self.entry(&e);
        e.id
    }

    fn lane_header(&self, lane: u32) -> u64 {
        self.geometry.lanes_offset() + 64 * u64::from(lane)
    }

    pub fn head(&self, lane: u32) -> u64 {
        self.u64_at(self.lane_header(lane))
    }

    pub fn set_head(&mut self, lane: u32, head: u64) {
        self.set_u64(self.lane_header(lane), head);
    }

    fn slot_offset(&self, lane: u32, seq: u64) -> u64 {
        let slots = 1u64 << self.geometry.lane(lane).1;
        self.geometry.lane_slots_offset(lane) + 64 * (seq % slots)
    }

    /// Writes a committed record at the lane's head and claims its slots;
    /// returns its sequence number.
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &mut self,
        lane: u32,
        kind: RecordKind,
        time_ns: u64,
        callsite: u64,
        span: u32,
        thread: u32,
        values: &ValueWriter,
    ) -> u64 {
        let seq = self.head(lane);
        let count = self.record_at(lane, seq, kind, time_ns, callsite, span, thread, values);
        self.set_head(lane, seq + count);
        seq
    }

    /// Writes a committed record at sequence `seq` of the lane, without
    /// claiming anything; returns the slots it takes.
    #[allow(clippy::too_many_arguments)]
    pub fn record_at(
        &mut self,
        lane: u32,
        seq: u64,
        kind: RecordKind,
        time_ns: u64,
        callsite: u64,
        span: u32,
        thread: u32,
        values: &ValueWriter,
    ) -> u64 {
        let head = RecordHead {
            time_ns,
            callsite,
            span,
            thread,
            kind: kind.code(),
            flags: u8::from(values.truncated()),
        };
        let images = SlotImages::new(&head, values.bytes(), seq);
        for (i, slot) in images.as_slice().iter().enumerate() {
            let off = self.slot_offset(lane, seq + i as u64);
            for (j, w) in slot.iter().enumerate() {
                self.set_u64(off + 8 * j as u64, *w);
            }
        }
        images.count as u64
    }

    /// Claims one slot and stamps it *writing* with `time_ns`, as a writer
    /// does before filling it in; returns its sequence number.
    pub fn claim(&mut self, lane: u32, time_ns: u64) -> u64 {
        let seq = self.head(lane);
        let off = self.slot_offset(lane, seq);
        self.set_u64(off, caro_format::slot::writing_word(seq, time_ns));
        self.set_head(lane, seq + 1);
        seq
    }

    /// An EVENT record.
    pub fn event(
        &mut self,
        lane: u32,
        time_ns: u64,
        callsite: u64,
        span: u32,
        values: &ValueWriter,
    ) -> u64 {
        self.record(lane, RecordKind::Event, time_ns, callsite, span, 7, values)
    }

    /// A SPAN_NEW record of a root span.
    pub fn span_new(
        &mut self,
        lane: u32,
        time_ns: u64,
        callsite: u64,
        span: u32,
        fields: impl FnOnce(&mut ValueWriter),
    ) {
        let mut w = ValueWriter::with_parent(0);
        fields(&mut w);
        self.record(lane, RecordKind::SpanNew, time_ns, callsite, span, 7, &w);
    }

    /// Writes the ring to a new file at `path` (replacing any file there).
    pub fn write_to(&self, path: &Path) {
        std::fs::write(path, &self.bytes).unwrap();
    }

    /// Rewrites the file at `path` in place, as writers do through their
    /// mapping: never truncated, so a reader never sees it shrink.
    pub fn update_in_place(&self, path: &Path) {
        let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
        f.seek(SeekFrom::Start(0)).unwrap();
        f.write_all(&self.bytes).unwrap();
        f.flush().unwrap();
    }
}

/// Values built with a closure, for brevity.
pub fn values(f: impl FnOnce(&mut ValueWriter)) -> ValueWriter {
    let mut w = ValueWriter::new();
    f(&mut w);
    w
}

/// The `caro-analyze` binary with a clean environment for the format.
pub fn analyze(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_caro-analyze"));
    cmd.args(args)
        .env_remove("CARO_LOG_FORMAT")
        .stdin(Stdio::null());
    cmd
}

/// Runs the binary to completion.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}
