//! Field values: the payload's value stream, its encoder and its decoder.
//!
//! Each value is one tag byte, `type << 4 | skip`, then the type's bytes.
//! `skip` counts the callsite fields passed over since the previous value,
//! so the usual case, every field in order, costs no index byte at all.

use crate::layout::MAX_PAYLOAD;

/// Value types, the high nibble of a tag byte.
pub mod ty {
    pub const U64: u8 = 0;
    pub const I64: u8 = 1;
    pub const F64: u8 = 2;
    pub const FALSE: u8 = 3;
    pub const TRUE: u8 = 4;
    pub const STATIC_STR: u8 = 5;
    pub const STR: u8 = 6;
    pub const REDACTED: u8 = 7;
    pub const MESSAGE: u8 = 8;
    pub const U128: u8 = 9;
    pub const I128: u8 = 10;
    pub const SKIP: u8 = 11;
    pub const EXT: u8 = 15;
}

/// Types of EXT values (the byte after an EXT tag).
pub mod ext {
    /// Since v1.2: a value kept as a template of text pieces and holes.
    pub const TEMPLATE: u8 = 1;
}

/// The parts of a TEMPLATE value, each one lead byte: `1..=127` is that
/// many bytes of text, the others below.
pub mod part {
    /// A hole: LEB128 u32, the length of a piece the writer withheld.
    pub const HOLE: u8 = 0x80;
    /// u64: the id of a dictionary STRING holding the piece.
    pub const STRING: u8 = 0x81;
    /// LEB128 u32: the length of the rest of the value, which did not fit.
    pub const CUT: u8 = 0x82;
}

/// Longest string value kept; longer ones are cut at a character boundary
/// and flagged as truncated.
pub const MAX_STR: usize = 127;
/// Most fields one record can carry values for (tracing's own limit).
pub const MAX_FIELDS: usize = 32;

/// A decoded field value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    U64(u64),
    I64(i64),
    F64(f64),
    Bool(bool),
    /// A dictionary string, by id.
    StaticStr(u64),
    Str {
        text: String,
        truncated: bool,
    },
    /// A value withheld by the writer; only its length in bytes is kept.
    Redacted(u32),
    /// The callsite's message literal, kept in the dictionary.
    Message,
    U128(u128),
    I128(i128),
    /// A value kept as a template (since v1.2): its program-text pieces,
    /// and holes for what was withheld.
    Template(Vec<Part>),
    /// A value type from a newer minor version, skipped.
    Ext {
        ext_type: u8,
        len: u8,
    },
}

/// One piece of a [`Value::Template`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Part {
    /// Text kept as written.
    Text(String),
    /// A dictionary string, by id.
    Static(u64),
    /// A piece withheld; only its length in bytes is kept.
    Hole(u32),
    /// The rest of the value, this many bytes, did not fit in the record.
    Cut(u32),
}

/// A template being built, without allocating: pieces of text, dictionary
/// strings and holes, to be written as one TEMPLATE value. Pieces that no
/// longer fit in `room` bytes are counted into a final CUT part.
#[derive(Clone, Debug)]
pub struct TemplateWriter {
    buf: [u8; MAX_TEMPLATE],
    len: usize,
    room: usize,
    /// Bytes of the value not represented, once a piece did not fit.
    cut: u64,
}

/// Largest TEMPLATE payload: an EXT value's length is one byte.
pub const MAX_TEMPLATE: usize = 255;
/// Bytes kept free for the CUT part: its lead byte and a 5-byte LEB128.
const CUT_ROOM: usize = 6;

impl TemplateWriter {
    /// A template of at most `room` bytes (at most [`MAX_TEMPLATE`]).
    #[inline]
    pub fn new(room: usize) -> TemplateWriter {
        TemplateWriter {
            buf: [0; MAX_TEMPLATE],
            len: 0,
            room: room.min(MAX_TEMPLATE),
            cut: 0,
        }
    }

    /// The encoded parts so far, the CUT part included.
    pub fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Reserves `n` bytes for a part of a value `len` bytes long; false
    /// (and `len` counted as cut) when it does not fit.
    #[inline]
    fn reserve(&mut self, n: usize, len: usize) -> bool {
        if self.cut > 0 || self.len + n + CUT_ROOM > self.room {
            self.cut = self.cut.saturating_add(len as u64);
            return false;
        }
        true
    }

    fn leb128(&mut self, mut v: u32) {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                self.buf[self.len] = byte;
                self.len += 1;
                return;
            }
            self.buf[self.len] = byte | 0x80;
            self.len += 1;
        }
    }

    /// Text kept as written, in parts of at most 127 bytes cut at
    /// character boundaries.
    #[inline]
    pub fn text(&mut self, s: &str) {
        if s.len() <= 127 {
            return self.short_text(s.as_bytes());
        }
        self.long_text(s);
    }

    /// ASCII text kept as written (no character to cut: a number, say).
    #[inline]
    pub fn ascii(&mut self, b: &[u8]) {
        debug_assert!(b.is_ascii());
        if b.len() <= 127 {
            return self.short_text(b);
        }
        self.long_text(std::str::from_utf8(b).unwrap_or(""));
    }

    /// One TEXT part: `b` is whole characters, 1 to 127 bytes.
    #[inline]
    fn short_text(&mut self, b: &[u8]) {
        let n = b.len();
        if n == 0 || !self.reserve(1 + n, n) {
            return;
        }
        self.buf[self.len] = n as u8;
        self.buf[self.len + 1..self.len + 1 + n].copy_from_slice(b);
        self.len += 1 + n;
    }

    #[cold]
    fn long_text(&mut self, mut s: &str) {
        while !s.is_empty() {
            let mut n = s.len().min(127);
            while !s.is_char_boundary(n) {
                n -= 1;
            }
            if !self.reserve(1 + n, s.len()) {
                return;
            }
            self.buf[self.len] = n as u8;
            self.buf[self.len + 1..self.len + 1 + n].copy_from_slice(&s.as_bytes()[..n]);
            self.len += 1 + n;
            s = &s[n..];
        }
    }

    /// A dictionary string `len` bytes long.
    pub fn string(&mut self, id: u64, len: usize) {
        if self.reserve(9, len) {
            self.buf[self.len] = part::STRING;
            self.buf[self.len + 1..self.len + 9].copy_from_slice(&id.to_le_bytes());
            self.len += 9;
        }
    }

    /// A withheld piece of `len` bytes.
    pub fn hole(&mut self, len: usize) {
        if self.reserve(CUT_ROOM, len) {
            self.buf[self.len] = part::HOLE;
            self.len += 1;
            self.leb128(u32::try_from(len).unwrap_or(u32::MAX));
        }
    }

    /// Closes the template with its CUT part, if something did not fit.
    pub fn finish(&mut self) {
        if self.cut > 0 && self.len + CUT_ROOM <= MAX_TEMPLATE {
            self.buf[self.len] = part::CUT;
            self.len += 1;
            self.leb128(u32::try_from(self.cut).unwrap_or(u32::MAX));
            self.cut = 0;
        }
    }
}

/// Decodes the parts of a TEMPLATE value.
pub fn decode_template(mut bytes: &[u8]) -> Result<Vec<Part>, ValueError> {
    fn leb128(bytes: &mut &[u8]) -> Result<u32, ValueError> {
        let mut v = 0u64;
        for i in 0..5 {
            let (&b, rest) = bytes.split_first().ok_or(ValueError::Truncated)?;
            *bytes = rest;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return u32::try_from(v).map_err(|_| ValueError::BadTemplate);
            }
        }
        Err(ValueError::BadTemplate)
    }
    let mut parts = Vec::new();
    while let Some((&lead, rest)) = bytes.split_first() {
        bytes = rest;
        parts.push(match lead {
            1..=127 => {
                let n = usize::from(lead);
                if bytes.len() < n {
                    return Err(ValueError::Truncated);
                }
                let (text, rest) = bytes.split_at(n);
                bytes = rest;
                Part::Text(
                    std::str::from_utf8(text)
                        .map_err(|_| ValueError::BadUtf8)?
                        .to_owned(),
                )
            }
            part::HOLE => Part::Hole(leb128(&mut bytes)?),
            part::STRING => {
                if bytes.len() < 8 {
                    return Err(ValueError::Truncated);
                }
                let (id, rest) = bytes.split_at(8);
                bytes = rest;
                Part::Static(u64::from_le_bytes(id.try_into().unwrap()))
            }
            part::CUT => Part::Cut(leb128(&mut bytes)?),
            _ => return Err(ValueError::BadTemplate),
        });
    }
    Ok(parts)
}

/// A value and the index of the field it belongs to.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldValue {
    pub field: u8,
    pub value: Value,
}

/// Writes a value stream into a fixed buffer, without allocating.
///
/// A value that does not fit is left out and the stream is marked
/// truncated; values already written stay.
#[derive(Clone, Debug)]
pub struct ValueWriter {
    buf: [u8; MAX_PAYLOAD],
    len: usize,
    next_field: usize,
    /// Values left out because they did not fit.
    left_out: u8,
}

impl Default for ValueWriter {
    fn default() -> Self {
        ValueWriter::new()
    }
}

impl ValueWriter {
    #[inline(always)]
    pub const fn new() -> ValueWriter {
        ValueWriter {
            buf: [0; MAX_PAYLOAD],
            len: 0,
            next_field: 0,
            left_out: 0,
        }
    }

    /// A writer whose stream starts with a span's parent id.
    #[inline(always)]
    pub fn with_parent(parent: u32) -> ValueWriter {
        let mut w = ValueWriter::new();
        w.buf[..4].copy_from_slice(&parent.to_le_bytes());
        w.len = 4;
        w
    }

    /// The bytes written so far.
    #[inline(always)]
    pub fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// The whole buffer: the bytes written, then zeros.
    #[inline(always)]
    pub fn padded(&self) -> &crate::slot::PaddedPayload {
        &self.buf
    }

    /// Whether some value did not fit and was left out.
    pub fn truncated(&self) -> bool {
        self.left_out > 0
    }

    /// How many values were left out, up to 255.
    pub fn left_out(&self) -> u8 {
        self.left_out
    }

    /// Payload bytes still free for a value of field `field`, after its
    /// tag and the 2 bytes of an EXT value's type and length.
    #[inline]
    pub fn room_for_ext(&self, field: usize) -> usize {
        let tag = if field >= self.next_field + 16 { 2 } else { 1 };
        MAX_PAYLOAD.saturating_sub(self.len + tag + 2)
    }

    /// Starts a value of type `t` for field `field` needing `size` bytes
    /// after its tag; returns where those bytes go.
    #[inline(always)]
    fn begin(&mut self, field: usize, t: u8, size: usize) -> Option<usize> {
        let mut skip = field.wrapping_sub(self.next_field);
        let skip_bytes = if skip > 15 { 1 } else { 0 };
        if field < self.next_field
            || field >= MAX_FIELDS
            || self.len + skip_bytes + 1 + size > MAX_PAYLOAD
        {
            self.left_out = self.left_out.saturating_add(1);
            return None;
        }
        if skip > 15 {
            // A SKIP tag passes over up to 16 fields without a value.
            self.buf[self.len] = ty::SKIP << 4 | 15;
            self.len += 1;
            skip -= 16;
        }
        self.buf[self.len] = t << 4 | skip as u8;
        self.len += 1;
        self.next_field = field + 1;
        let at = self.len;
        self.len += size;
        Some(at)
    }

    #[inline(always)]
    fn put(&mut self, field: usize, t: u8, bytes: &[u8]) {
        if let Some(at) = self.begin(field, t, bytes.len()) {
            self.buf[at..at + bytes.len()].copy_from_slice(bytes);
        }
    }

    #[inline(always)]
    pub fn u64(&mut self, field: usize, v: u64) {
        self.put(field, ty::U64, &v.to_le_bytes());
    }
    #[inline(always)]
    pub fn i64(&mut self, field: usize, v: i64) {
        self.put(field, ty::I64, &v.to_le_bytes());
    }
    #[inline(always)]
    pub fn f64(&mut self, field: usize, v: f64) {
        self.put(field, ty::F64, &v.to_bits().to_le_bytes());
    }
    #[inline(always)]
    pub fn bool(&mut self, field: usize, v: bool) {
        self.put(field, if v { ty::TRUE } else { ty::FALSE }, &[]);
    }
    #[inline(always)]
    pub fn u128(&mut self, field: usize, v: u128) {
        self.put(field, ty::U128, &v.to_le_bytes());
    }
    #[inline(always)]
    pub fn i128(&mut self, field: usize, v: i128) {
        self.put(field, ty::I128, &v.to_le_bytes());
    }
    #[inline(always)]
    pub fn static_str(&mut self, field: usize, id: u64) {
        self.put(field, ty::STATIC_STR, &id.to_le_bytes());
    }
    #[inline(always)]
    pub fn message(&mut self, field: usize) {
        self.put(field, ty::MESSAGE, &[]);
    }
    #[inline(always)]
    pub fn redacted(&mut self, field: usize, len: usize) {
        let len = u32::try_from(len).unwrap_or(u32::MAX);
        self.put(field, ty::REDACTED, &len.to_le_bytes());
    }

    /// A TEMPLATE value: the parts `t` holds, closed with its CUT part.
    #[inline]
    pub fn template(&mut self, field: usize, t: &mut TemplateWriter) {
        t.finish();
        let parts = t.bytes();
        if let Some(at) = self.begin(field, ty::EXT, 2 + parts.len()) {
            self.buf[at] = ext::TEMPLATE;
            self.buf[at + 1] = parts.len() as u8;
            self.buf[at + 2..at + 2 + parts.len()].copy_from_slice(parts);
        }
    }

    /// A string, cut to [`MAX_STR`] bytes at a character boundary.
    #[inline(always)]
    pub fn str(&mut self, field: usize, s: &str) {
        self.text(field, s, false);
    }

    /// Any value [`decode_values`] returns, as it was written; `false` (and
    /// nothing written) for [`Value::Ext`], whose bytes are not kept.
    pub fn value(&mut self, field: usize, v: &Value) -> bool {
        match v {
            Value::U64(x) => self.u64(field, *x),
            Value::I64(x) => self.i64(field, *x),
            Value::F64(x) => self.f64(field, *x),
            Value::Bool(x) => self.bool(field, *x),
            Value::StaticStr(id) => self.static_str(field, *id),
            Value::Str { text, truncated } => self.text(field, text, *truncated),
            Value::Redacted(n) => self.redacted(field, *n as usize),
            Value::Message => self.message(field),
            Value::U128(x) => self.u128(field, *x),
            Value::I128(x) => self.i128(field, *x),
            Value::Template(parts) => {
                let mut t = TemplateWriter::new(MAX_TEMPLATE);
                for p in parts {
                    match p {
                        Part::Text(text) => t.text(text),
                        Part::Static(id) => t.string(*id, 0),
                        Part::Hole(n) => t.hole(*n as usize),
                        Part::Cut(n) => t.cut = t.cut.saturating_add(u64::from(*n)),
                    }
                }
                self.template(field, &mut t)
            }
            Value::Ext { .. } => return false,
        }
        true
    }

    /// A string flagged as cut when it was (`cut`) or is cut here.
    #[inline(always)]
    fn text(&mut self, field: usize, s: &str, cut: bool) {
        let mut n = s.len().min(MAX_STR);
        while !s.is_char_boundary(n) {
            n -= 1;
        }
        let truncated = cut || n < s.len();
        if let Some(at) = self.begin(field, ty::STR, 1 + n) {
            self.buf[at] = n as u8 | if truncated { 0x80 } else { 0 };
            self.buf[at + 1..at + 1 + n].copy_from_slice(&s.as_bytes()[..n]);
        }
    }
}

/// Why a value stream could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueError {
    /// A value's bytes run past the end of the payload.
    Truncated,
    /// A field index past tracing's 32 fields.
    FieldOutOfRange,
    /// A string that is not UTF-8.
    BadUtf8,
    /// A type reserved for future minor versions without an EXT wrapper.
    ReservedType(u8),
    /// A TEMPLATE part with an unknown lead byte, or a length past u32.
    BadTemplate,
}

/// Decodes a value stream.
pub fn decode_values(mut bytes: &[u8]) -> Result<Vec<FieldValue>, ValueError> {
    let mut out = Vec::new();
    let mut next_field = 0usize;
    while let Some((&tag, rest)) = bytes.split_first() {
        bytes = rest;
        let (t, skip) = (tag >> 4, usize::from(tag & 15));
        let field = next_field + skip;
        if field >= MAX_FIELDS {
            return Err(ValueError::FieldOutOfRange);
        }
        if t == ty::SKIP {
            next_field = field + 1;
            continue;
        }
        let mut take = |n: usize| -> Result<&[u8], ValueError> {
            if bytes.len() < n {
                return Err(ValueError::Truncated);
            }
            let (head, tail) = bytes.split_at(n);
            bytes = tail;
            Ok(head)
        };
        let value = match t {
            ty::U64 => Value::U64(u64::from_le_bytes(take(8)?.try_into().unwrap())),
            ty::I64 => Value::I64(i64::from_le_bytes(take(8)?.try_into().unwrap())),
            ty::F64 => Value::F64(f64::from_bits(u64::from_le_bytes(
                take(8)?.try_into().unwrap(),
            ))),
            ty::FALSE => Value::Bool(false),
            ty::TRUE => Value::Bool(true),
            ty::STATIC_STR => Value::StaticStr(u64::from_le_bytes(take(8)?.try_into().unwrap())),
            ty::STR => {
                let n = take(1)?[0];
                let text = std::str::from_utf8(take(usize::from(n & 0x7f))?)
                    .map_err(|_| ValueError::BadUtf8)?;
                Value::Str {
                    text: text.to_owned(),
                    truncated: n & 0x80 != 0,
                }
            }
            ty::REDACTED => Value::Redacted(u32::from_le_bytes(take(4)?.try_into().unwrap())),
            ty::MESSAGE => Value::Message,
            ty::U128 => Value::U128(u128::from_le_bytes(take(16)?.try_into().unwrap())),
            ty::I128 => Value::I128(i128::from_le_bytes(take(16)?.try_into().unwrap())),
            ty::EXT => {
                let head = take(2)?;
                let (ext_type, len) = (head[0], head[1]);
                let body = take(usize::from(len))?;
                match ext_type {
                    ext::TEMPLATE => Value::Template(decode_template(body)?),
                    _ => Value::Ext { ext_type, len },
                }
            }
            other => return Err(ValueError::ReservedType(other)),
        };
        out.push(FieldValue {
            field: field as u8,
            value,
        });
        next_field = field + 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_in_order_need_no_index_bytes() {
        let mut w = ValueWriter::new();
        w.u64(0, 42);
        w.str(1, "static");
        w.f64(2, 0.5);
        assert_eq!(w.bytes().len(), 9 + 8 + 9);
        let v = decode_values(w.bytes()).unwrap();
        assert_eq!(
            v[1].value,
            Value::Str {
                text: "static".into(),
                truncated: false
            }
        );
        assert_eq!(v[2].field, 2);
    }

    #[test]
    fn skipped_fields_keep_their_indexes() {
        let mut w = ValueWriter::new();
        w.bool(3, true);
        w.u64(31, 7);
        let v = decode_values(w.bytes()).unwrap();
        assert_eq!((v[0].field, v[1].field), (3, 31));
    }

    #[test]
    fn long_strings_are_cut_at_a_char_boundary() {
        let s = "é".repeat(100);
        let mut w = ValueWriter::new();
        w.str(0, &s);
        match &decode_values(w.bytes()).unwrap()[0].value {
            Value::Str { text, truncated } => {
                assert!(*truncated);
                assert_eq!(text.len(), 126);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn decoded_values_write_back_to_the_same_bytes() {
        let mut w = ValueWriter::new();
        w.u64(0, 1);
        w.str(2, &"x".repeat(200));
        w.redacted(3, 9);
        w.message(20);
        let mut t = TemplateWriter::new(MAX_TEMPLATE);
        t.text("found in ");
        t.ascii(b"12");
        t.hole(300);
        t.string(7, 30);
        w.template(21, &mut t);
        w.i128(31, -5);
        assert_eq!(
            decode_values(w.bytes()).unwrap()[4].value,
            Value::Template(vec![
                Part::Text("found in ".into()),
                Part::Text("12".into()),
                Part::Hole(300),
                Part::Static(7),
            ])
        );
        let mut again = ValueWriter::new();
        for fv in decode_values(w.bytes()).unwrap() {
            assert!(again.value(usize::from(fv.field), &fv.value));
        }
        assert_eq!(again.bytes(), w.bytes());
        let ext = Value::Ext {
            ext_type: 1,
            len: 0,
        };
        assert!(!ValueWriter::new().value(0, &ext));
    }

    #[test]
    fn overflowing_values_are_dropped_and_flagged() {
        let mut w = ValueWriter::new();
        for f in 0..30 {
            w.u64(f, f as u64);
        }
        assert!(w.truncated());
        assert_eq!(decode_values(w.bytes()).unwrap().len(), MAX_PAYLOAD / 9);
    }
}
