//! Turning `tracing` field values into the ring's value stream, without
//! allocating and without keeping anything personal.
//!
//! What is kept follows a value's provenance (see [`crate::privacy`]).
//! Strings that live in the program's read-only memory (literals, derived
//! `Debug` names of enum variants) are program text, not user data: they
//! go to the dictionary once and are referred to by id (short identifiers
//! are simply copied). A run-time `&str` is copied when it is
//! identifier-shaped ([`is_identifier`]). A message with arguments, a
//! `Debug` or `Display` value and an error chain are formatted into a
//! [`Template`]: each piece the formatter writes from program memory is
//! kept, and so is a run-time piece that is a small number (`42`, `1.25`)
//! or only punctuation; any other run-time piece — the user's query, a
//! path, a name — keeps only its length, as a hole. So
//! `info!("found in {:?}: {}", elapsed, cmd)` keeps
//! `found in 1.234ms: <redacted 23 bytes>`. Deny-listed fields keep only
//! the length of any value; fields the host opted in
//! ([`Config::keep_text_fields`](crate::Config::keep_text_fields)) keep
//! their text, for the analyzer's scrubber.

use std::cell::Cell;
use std::fmt;

use caro_format::value::MAX_STR;
use caro_format::{TemplateWriter, ValueWriter};
use tracing_core::field::{Field, Visit};

use crate::callsites::CallsiteInfo;
use crate::privacy::is_identifier;
use crate::Recorder;

/// Program text up to this long is copied into the record rather than
/// interned, when it is an identifier (so that a reader can tell any
/// copied string that is not one from program text).
const SHORT_STR: usize = 12;
/// A run-time piece of a template longer than this is never kept.
const MAX_KEPT_PIECE: usize = 24;
/// Most digits in a row a kept number may have: a count or a duration,
/// not a phone, card or account number.
const MAX_NUMBER_DIGITS: usize = 6;

/// Whether a run-time piece of formatted output may be kept: a plain
/// number with runs of at most [`MAX_NUMBER_DIGITS`] digits (`-7`,
/// `1.25`, `3e-5`), or ASCII punctuation and spaces only (quotes and
/// padding written around program text). Either way, ASCII.
fn keeps_piece(b: &[u8]) -> bool {
    if b.iter().all(|c| c.is_ascii_punctuation() || *c == b' ') {
        return b.len() <= 8;
    }
    // `[+-]digits[.digits][e[+-]digits]`: one number, not an address or
    // a version (`192.168.1.7`, `1.4.2` are not numbers).
    let digits = |b: &[u8]| -> usize { b.iter().take_while(|c| c.is_ascii_digit()).count() };
    let sign = |b: &[u8]| usize::from(matches!(b.first(), Some(b'+' | b'-')));
    let mut at = sign(b);
    let whole = digits(&b[at..]);
    if whole == 0 || whole > MAX_NUMBER_DIGITS {
        return false;
    }
    at += whole;
    if b.get(at) == Some(&b'.') {
        let fraction = digits(&b[at + 1..]);
        if fraction == 0 || fraction > MAX_NUMBER_DIGITS {
            return false;
        }
        at += 1 + fraction;
    }
    if matches!(b.get(at), Some(b'e' | b'E')) {
        at += 1;
        at += sign(&b[at..]);
        let exponent = digits(&b[at..]);
        if exponent == 0 || exponent > 3 {
            return false;
        }
        at += exponent;
    }
    at == b.len()
}

/// A value formatted into a [`TemplateWriter`], piece by piece as its
/// formatter writes them. A value that is one write of program text (a
/// literal message, an enum's name) is only noted: it needs no template.
struct Template<'r> {
    recorder: &'r Recorder,
    room: usize,
    /// Made at the second write, or the first of run-time text.
    out: Option<TemplateWriter>,
    /// The first write, when it was of program text.
    first: Option<&'static str>,
    /// The run-time piece being written (consecutive run-time writes are
    /// one piece): its first bytes, and its length.
    piece: [u8; MAX_KEPT_PIECE],
    piece_len: usize,
    /// Bytes written so far: the length a hole for the whole value says.
    len: usize,
}

/// What formatting a value into a [`Template`] gave.
enum Formatted {
    /// Nothing was written.
    Empty,
    /// One write, of program text.
    Program(&'static str),
    /// Pieces, in the template's writer.
    Pieces,
}

impl<'r> Template<'r> {
    #[inline]
    fn new(recorder: &'r Recorder, room: usize) -> Template<'r> {
        Template {
            recorder,
            room,
            out: None,
            first: None,
            piece: [0; MAX_KEPT_PIECE],
            piece_len: 0,
            len: 0,
        }
    }

    /// The template writer, made now if need be (with the held-back first
    /// write in it).
    fn out(&mut self) -> &mut TemplateWriter {
        if self.out.is_none() {
            let mut out = TemplateWriter::new(self.room);
            if let Some(first) = self.first {
                program_text(self.recorder, &mut out, first);
            }
            self.out = Some(out);
        }
        self.out.as_mut().expect("made above")
    }

    /// Ends the run-time piece being written: kept, or a hole. (Its
    /// template writer was made at its first write.)
    #[inline]
    fn end_piece(&mut self) {
        let n = std::mem::take(&mut self.piece_len);
        if let (Some(out), true) = (self.out.as_mut(), n > 0) {
            match self.piece.get(..n).filter(|b| keeps_piece(b)) {
                Some(kept) => out.ascii(kept),
                None => out.hole(n),
            }
        }
    }

    fn finish(&mut self) -> Formatted {
        self.end_piece();
        match (&self.out, self.first) {
            (Some(_), _) => Formatted::Pieces,
            (None, Some(text)) => Formatted::Program(text),
            (None, None) => Formatted::Empty,
        }
    }
}

/// Program text into a template: copied when short, else a dictionary
/// string (copied after all when the dictionary is full).
fn program_text(recorder: &Recorder, out: &mut TemplateWriter, s: &'static str) {
    if s.len() > SHORT_STR {
        if let Some(id) = recorder.string_id(s) {
            return out.string(id, s.len());
        }
    }
    out.text(s);
}

impl fmt::Write for Template<'_> {
    #[inline]
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if s.is_empty() {
            return Ok(());
        }
        // The first write is the only one before anything is held.
        let first = self.len == 0;
        self.len += s.len();
        match self.recorder.statics.as_static(s) {
            Some(text) if first => self.first = Some(text),
            Some(text) => {
                self.end_piece();
                program_text(self.recorder, self.out(), text);
            }
            None => {
                self.out();
                let at = self.piece_len.min(MAX_KEPT_PIECE);
                let n = s.len().min(MAX_KEPT_PIECE - at);
                self.piece[at..at + n].copy_from_slice(&s.as_bytes()[..n]);
                self.piece_len += s.len();
            }
        }
        Ok(())
    }
}

thread_local! {
    /// [`is_identifier`] of program text, by address (and length, shifted
    /// left, with the answer in bit 0): the same few strings come back on
    /// every record, and a thread asks this without any lock.
    static PROGRAM_IDENTIFIERS: [Cell<(usize, usize)>; 16] =
        const { [const { Cell::new((0, 0)) }; 16] };
}

/// Whether program text `s` is an identifier, remembered by address.
#[inline]
fn program_identifier(s: &'static str) -> bool {
    let (addr, len) = (s.as_ptr() as usize, s.len());
    PROGRAM_IDENTIFIERS
        .try_with(|cache| {
            let slot = &cache[(addr >> 3 ^ len) % cache.len()];
            let (a, v) = slot.get();
            if a == addr && v >> 1 == len {
                return v & 1 == 1;
            }
            let yes = is_identifier(s);
            slot.set((addr, len << 1 | usize::from(yes)));
            yes
        })
        .unwrap_or_else(|_| is_identifier(s))
}

/// Counts the bytes a formatter writes.
struct Length(usize);

impl fmt::Write for Length {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0 += s.len();
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
fn write_chain(out: &mut dyn fmt::Write, e: &(dyn std::error::Error + 'static)) {
    let _ = out.write_fmt(format_args!("{e}"));
    let mut source = e.source();
    for _ in 0..16 {
        let Some(s) = source else { break };
        let _ = out.write_fmt(format_args!(": {s}"));
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
    fn text_or_length(&mut self, field: &Field, format: impl FnOnce(&mut dyn fmt::Write)) {
        let mut text = TextBuf::new();
        format(&mut text);
        if self.keeps_text(field) {
            self.out.str(field.index(), text.text());
        } else {
            self.out.redacted(field.index(), text.len);
        }
    }

    /// A formatted value (`Debug`, `Display`, an error chain, a message
    /// with arguments): its text when the host opted `field` in, its
    /// length when the field is withheld, else its template.
    #[inline]
    fn formatted(&mut self, field: &Field, format: impl Fn(&mut dyn fmt::Write)) {
        let i = field.index();
        if self.keeps_text(field) {
            return self.text_or_length(field, |out| format(out));
        }
        if self.redacted(field) {
            let mut n = Length(0);
            format(&mut n);
            return self.out.redacted(i, n.0);
        }
        let mut t = Template::new(self.recorder, self.out.room_for_ext(i));
        format(&mut t);
        match t.finish() {
            Formatted::Empty => self.out.str(i, ""),
            Formatted::Program(text) if field.name() == "message" && self.is_message(text) => {
                self.out.message(i)
            }
            Formatted::Program(text) => self.program_str(field, text),
            Formatted::Pieces => match t.out.as_mut() {
                Some(out) if !out.bytes().is_empty() => self.out.template(i, out),
                // Not even one part fitted.
                _ => self.out.redacted(i, t.len),
            },
        }
    }

    /// Program text as a value: copied when it is a short identifier, else
    /// a dictionary string.
    #[inline]
    fn program_str(&mut self, field: &Field, s: &'static str) {
        if s.len() <= SHORT_STR && program_identifier(s) {
            return self.out.str(field.index(), s);
        }
        self.static_str(field, s)
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
        // Program text is kept; a string built at run time is kept when it
        // is an identifier, or the host opted its field in, and is never
        // the message.
        match self.recorder.statics.as_static(value) {
            _ if self.redacted(field) => self.out.redacted(field.index(), value.len()),
            Some(s) => self.program_str(field, s),
            None if field.name() != "message"
                && (is_identifier(value) || self.keeps_text(field)) =>
            {
                self.out.str(field.index(), value)
            }
            None => self.out.redacted(field.index(), value.len()),
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.formatted(field, |out| write_chain(out, value));
    }

    #[inline]
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.formatted(field, |out| {
            let _ = fmt::write(out, format_args!("{value:?}"));
        });
    }
}

#[cfg(test)]
mod tests {
    use super::keeps_piece;

    #[test]
    fn only_small_numbers_and_punctuation_are_kept() {
        for kept in [
            "42", "-7", "+3", "1.25", "3e-5", "1.5E+10", "\"", "  ", "\", ",
        ] {
            assert!(keeps_piece(kept.as_bytes()), "{kept:?}");
        }
        for withheld in [
            "192.168.13.37",
            "1.4.2",
            "5551234567",
            "4111111111111111",
            "1234567",
            "0.1234567",
            "12-34",
            "1e",
            "e5",
            "ana",
            "\"ana\"",
            "1.5ms",
            "!!!!!!!!!",
        ] {
            assert!(!keeps_piece(withheld.as_bytes()), "{withheld:?}");
        }
    }
}
