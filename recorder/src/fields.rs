//! Turning `tracing` field values into the ring's value stream, without
//! allocating and without keeping anything personal.
//!
//! Strings that live in the program's read-only memory (literals, derived
//! `Debug` names of enum variants) are program text, not user data: they
//! go to the dictionary once and are referred to by id (short ones are
//! simply copied). A run-time `&str` is copied when it is one word (see
//! [`is_word`]). A message with arguments, free text, a `Debug` or
//! `Display` value, an error, and any value of a withheld field keep only
//! their length: nothing the user typed can reach the ring. Measuring a
//! `Debug` value's length runs its formatter into a counter; nothing
//! formatted is kept, unless the host opted the field in
//! ([`Config::keep_text_fields`](crate::Config::keep_text_fields)).

use std::fmt;

use caro_format::value::MAX_STR;
use caro_format::ValueWriter;
use tracing_core::field::{Field, Visit};

use crate::callsites::CallsiteInfo;
use crate::privacy::is_identifier;
use crate::sys::StaticMemory;
use crate::Recorder;

/// Strings up to this long are copied into the record rather than interned.
const SHORT_STR: usize = 12;

/// What formatting a value through `Debug` wrote: its length, and whether
/// it was a single write of one read-only string.
struct Probe<'m> {
    statics: &'m StaticMemory,
    len: usize,
    writes: usize,
    /// The first write, when it was of read-only program memory.
    single: Option<&'static str>,
}

impl fmt::Write for Probe<'_> {
    #[inline]
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.len += s.len();
        self.writes += 1;
        self.single = if self.writes == 1 {
            self.statics.as_static(s)
        } else {
            None
        };
        Ok(())
    }
}

/// A value's text formatted into a stack buffer, kept up to just past
/// [`MAX_STR`] bytes (whole characters) so the value writer can cut it there
/// and mark it cut; `len` counts all of it.
struct TextBuf {
    buf: [u8; MAX_STR + 4],
    kept: usize,
    /// A character did not fit: nothing after it may be kept.
    full: bool,
    len: usize,
}

impl TextBuf {
    fn new() -> TextBuf {
        TextBuf {
            buf: [0; MAX_STR + 4],
            kept: 0,
            full: false,
            len: 0,
        }
    }

    fn text(&self) -> &str {
        // Only whole characters of `str`s were copied in.
        std::str::from_utf8(&self.buf[..self.kept]).unwrap_or("")
    }
}

impl fmt::Write for TextBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.len += s.len();
        if self.full {
            return Ok(());
        }
        let mut n = s.len().min(self.buf.len() - self.kept);
        while !s.is_char_boundary(n) {
            n -= 1;
        }
        self.buf[self.kept..self.kept + n].copy_from_slice(&s.as_bytes()[..n]);
        self.kept += n;
        self.full = n < s.len();
        Ok(())
    }
}

/// An error and its sources, `outer: inner: innermost`, written to `out`
/// (at most 16 levels: a source chain may be a cycle).
fn write_chain(out: &mut impl fmt::Write, e: &(dyn std::error::Error + 'static)) {
    let _ = write!(out, "{e}");
    let mut source = e.source();
    for _ in 0..16 {
        let Some(s) = source else { break };
        let _ = write!(out, ": {s}");
        source = s.source();
    }
}

/// Visits an event's or span's fields into a [`ValueWriter`].
pub struct FieldEncoder<'a> {
    pub recorder: &'a Recorder,
    pub callsite: &'a CallsiteInfo,
    pub out: ValueWriter,
    /// The message literal seen, for a callsite not yet registered: it
    /// becomes part of the callsite's dictionary entry.
    pub literal: Option<&'static str>,
}

impl<'a> FieldEncoder<'a> {
    pub fn new(
        recorder: &'a Recorder,
        callsite: &'a CallsiteInfo,
        out: ValueWriter,
    ) -> FieldEncoder<'a> {
        FieldEncoder {
            recorder,
            callsite,
            out,
            literal: None,
        }
    }

    /// Whether `text` can be written as the callsite's message literal:
    /// it is the one registered, or the callsite is not registered yet and
    /// will be with this one.
    #[inline]
    fn is_message(&mut self, text: &'static str) -> bool {
        if self.callsite.id != 0 {
            return self.recorder.tables.is_message(self.callsite, text);
        }
        match self.literal {
            None => {
                self.literal = Some(text);
                true
            }
            Some(l) => std::ptr::eq(l, text),
        }
    }

    #[inline(always)]
    fn redacted(&self, field: &Field) -> bool {
        field.index() < 32 && self.callsite.redact & (1 << field.index()) != 0
    }

    /// Whether the host opted `field` in to keeping its text.
    #[inline(always)]
    fn keeps_text(&self, field: &Field) -> bool {
        field.index() < 32 && self.callsite.keep_text & (1 << field.index()) != 0
    }

    /// Writes `value`, formatted, when the host opted `field` in; its
    /// length otherwise.
    #[cold]
    fn text_or_length(&mut self, field: &Field, format: impl FnOnce(&mut TextBuf)) {
        let mut text = TextBuf::new();
        format(&mut text);
        if self.keeps_text(field) {
            self.out.str(field.index(), text.text());
        } else {
            self.out.redacted(field.index(), text.len);
        }
    }

    #[inline]
    fn static_str(&mut self, field: &Field, s: &str) {
        match self.recorder.string_id(s) {
            Some(id) => self.out.static_str(field.index(), id),
            None => self.out.redacted(field.index(), s.len()),
        }
    }
}

impl Visit for FieldEncoder<'_> {
    #[inline]
    fn record_u64(&mut self, field: &Field, value: u64) {
        if self.redacted(field) {
            return self.out.redacted(
                field.index(),
                value.checked_ilog10().unwrap_or(0) as usize + 1,
            );
        }
        self.out.u64(field.index(), value);
    }

    #[inline]
    fn record_i64(&mut self, field: &Field, value: i64) {
        if self.redacted(field) {
            return self.out.redacted(field.index(), 8);
        }
        self.out.i64(field.index(), value);
    }

    #[inline]
    fn record_f64(&mut self, field: &Field, value: f64) {
        if self.redacted(field) {
            return self.out.redacted(field.index(), 8);
        }
        self.out.f64(field.index(), value);
    }

    #[inline]
    fn record_bool(&mut self, field: &Field, value: bool) {
        if self.redacted(field) {
            return self.out.redacted(field.index(), 1);
        }
        self.out.bool(field.index(), value);
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        if self.redacted(field) {
            return self.out.redacted(field.index(), 16);
        }
        self.out.u128(field.index(), value);
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        if self.redacted(field) {
            return self.out.redacted(field.index(), 16);
        }
        self.out.i128(field.index(), value);
    }

    #[inline]
    fn record_str(&mut self, field: &Field, value: &str) {
        // Program text is kept (a short one costs less copied than looked
        // up); a string built at run time is kept when it is one word, or
        // the host opted its field in, and is never the message.
        match self.recorder.statics.as_static(value) {
            _ if self.redacted(field) => self.out.redacted(field.index(), value.len()),
            Some(s) if s.len() > SHORT_STR => self.static_str(field, s),
            Some(s) => self.out.str(field.index(), s),
            None if field.name() != "message"
                && (is_identifier(value) || self.keeps_text(field)) =>
            {
                self.out.str(field.index(), value)
            }
            None => self.out.redacted(field.index(), value.len()),
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.text_or_length(field, |out| write_chain(out, value));
    }

    #[inline]
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.keeps_text(field) {
            return self.text_or_length(field, |out| {
                let _ = fmt::write(out, format_args!("{value:?}"));
            });
        }
        let mut probe = Probe {
            statics: &self.recorder.statics,
            len: 0,
            writes: 0,
            single: None,
        };
        let _ = fmt::write(&mut probe, format_args!("{value:?}"));
        match probe.single {
            _ if self.redacted(field) => self.out.redacted(field.index(), probe.len),
            Some(text) if probe.writes == 1 => {
                if field.name() == "message" && self.is_message(text) {
                    self.out.message(field.index());
                } else {
                    self.static_str(field, text);
                }
            }
            _ if probe.writes == 0 => self.out.str(field.index(), ""),
            _ => self.out.redacted(field.index(), probe.len),
        }
    }
}
