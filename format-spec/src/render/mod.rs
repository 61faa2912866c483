//! Log events as people read them: the one renderer that both
//! `caro-analyze logs` and the recorder's live output use, so that a line
//! printed live and the same record read back later are the same line.
//!
//! Pure and I/O-free: records (and the dictionary they name) go in,
//! [`LogEvent`]s and their text come out. Only EVENT and PANIC records
//! become log events; span records feed the [`Spans`] table, which gives
//! each event the name and fields of the span it happened in. Values are
//! resolved and scrubbed here, once, so that the [`pretty`] and [`json`]
//! forms only format.
//!
//! ```
//! use caro_format::render::{self, LogEvent, LogValue, Spans};
//!
//! let event = LogEvent {
//!     time_ns: 1_768_487_535_456_000_000,
//!     level: "INFO",
//!     target: "caro::agent".into(),
//!     pid: Some(4242),
//!     thread: 4243,
//!     span: None,
//!     fields: vec![("message".into(), LogValue::Str("command generated".into()))],
//! };
//! let mut line = String::new();
//! render::pretty::write(&mut line, &event, false);
//! assert_eq!(line, "2026-01-15 14:32:15.456Z [4242/4243] INFO caro::agent: command generated\n\n");
//! # let _ = Spans::new(render::unscrubbed);
//! ```

use std::borrow::Cow;
use std::collections::HashMap;

use crate::decode::Record;
use crate::dictionary::Dictionary;
use crate::slot::RecordKind;
use crate::text::{field_name, shown, template_pieces, Piece, Shown};
use crate::value::Value;

pub mod json;
pub mod pretty;
pub mod time;

/// What text values go through before they are shown: the analyzer's
/// scrubber, or [`unscrubbed`].
pub type Scrub = for<'a> fn(&'a str) -> Cow<'a, str>;

/// Text as it is: for readers that show only what the recorder's own
/// privacy rules let into the ring (live output, tests of the format).
pub fn unscrubbed(s: &str) -> Cow<'_, str> {
    Cow::Borrowed(s)
}

/// Level shown for an event whose callsite is not in the dictionary.
pub const UNKNOWN_LEVEL: &str = "UNKNOWN";
/// Target shown for an event whose callsite is not in the dictionary.
pub const UNKNOWN_TARGET: &str = "<unknown callsite>";
/// The field added to an event whose record had no room for all its
/// values: how many were left out.
pub const LEFT_OUT_FIELD: &str = "values_left_out";
/// The field that holds an event's message; it is always shown last.
pub const MESSAGE_FIELD: &str = "message";

/// A field value, resolved against the dictionary.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum LogValue {
    U64(u64),
    I64(i64),
    /// Always finite: NaN and infinities are kept as [`LogValue::Str`].
    F64(f64),
    Bool(bool),
    /// Text: strings, and values without a number form (`<redacted 5
    /// bytes>`, integers past 64 bits).
    Str(String),
}

impl LogValue {
    /// Resolves `v`, a value of a record of callsite `callsite`. Text goes
    /// through `scrub` (the analyzer's scrubber; [`unscrubbed`] for what
    /// only the recorder's rules have seen, as live output is).
    pub fn resolve(v: &Value, callsite: u64, dict: &Dictionary, scrub: Scrub) -> LogValue {
        match v {
            Value::U64(x) => LogValue::U64(*x),
            Value::I64(x) => LogValue::I64(*x),
            Value::U128(x) => match u64::try_from(*x) {
                Ok(x) => LogValue::U64(x),
                Err(_) => LogValue::Str(x.to_string()),
            },
            Value::I128(x) => match (i64::try_from(*x), u64::try_from(*x)) {
                (Ok(x), _) => LogValue::I64(x),
                (_, Ok(x)) => LogValue::U64(x),
                _ => LogValue::Str(x.to_string()),
            },
            Value::F64(x) if x.is_finite() => LogValue::F64(*x),
            Value::F64(x) => LogValue::Str(x.to_string()),
            Value::Bool(x) => LogValue::Bool(*x),
            Value::Template(parts) => {
                // Scrubbed whole: a datum may span pieces (`555`, `-`,
                // `0100`); placeholders are left as they are.
                let text: String = template_pieces(parts, dict)
                    .into_iter()
                    .map(|p| match p {
                        Piece::Text(t) => Cow::Borrowed(t),
                        Piece::Placeholder(p) => Cow::Owned(p),
                    })
                    .collect();
                LogValue::Str(scrub(&text).into_owned())
            }
            _ => LogValue::Str(match shown(v, callsite, dict) {
                Some(Shown::Text { text, cut }) => {
                    scrub(text).into_owned() + if cut { "…" } else { "" }
                }
                Some(Shown::Placeholder(p)) => p,
                None => String::new(),
            }),
        }
    }
}

impl LogValue {
    /// The value as a number, if it is one.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            LogValue::U64(x) => Some(x as f64),
            LogValue::I64(x) => Some(x as f64),
            LogValue::F64(x) => Some(x),
            LogValue::Bool(_) | LogValue::Str(_) => None,
        }
    }

    /// The value as text, if it is text.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            LogValue::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// A named field value.
pub type Field = (String, LogValue);

/// The span an event happened in.
#[derive(Clone, Debug, PartialEq)]
pub enum SpanView {
    /// The span's name and its fields as recorded when the event happened.
    Known { name: String, fields: Vec<Field> },
    /// The span's creation is no longer in the ring (or never was).
    Missing { id: u32 },
}

/// One log line: an EVENT or PANIC record, resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct LogEvent {
    /// Unix nanoseconds, UTC.
    pub time_ns: u64,
    /// `TRACE` to `ERROR`, or [`UNKNOWN_LEVEL`].
    pub level: &'static str,
    pub target: String,
    /// The writing process, when the ring says (its identity table, or
    /// the thread's THREAD_START record).
    pub pid: Option<u32>,
    /// The writing thread's operating-system id.
    pub thread: u32,
    /// `None` when the event happened outside any span.
    pub span: Option<SpanView>,
    /// The event's fields in callsite order, except `message`, which is
    /// moved last.
    pub fields: Vec<Field>,
}

impl LogEvent {
    /// The log event of `r`, or `None` when `r` is not an EVENT or PANIC
    /// record. `spans` should have seen every record before `r`; its
    /// scrubber scrubs the event's values too.
    pub fn from_record(r: &Record, dict: &Dictionary, spans: &Spans) -> Option<LogEvent> {
        let (level, target, mut fields) = match r.kind {
            RecordKind::Event => {
                let (level, target) = match dict.callsites.get(&r.callsite) {
                    Some(c) => (c.level.name(), c.target.clone()),
                    None => (UNKNOWN_LEVEL, UNKNOWN_TARGET.to_owned()),
                };
                (level, target, fields_of(r, dict, spans.scrub))
            }
            RecordKind::Panic => {
                let mut fields = fields_of(r, dict, spans.scrub);
                fields.push((MESSAGE_FIELD.to_owned(), LogValue::Str("panic".to_owned())));
                ("ERROR", "panic".to_owned(), fields)
            }
            _ => return None,
        };
        if r.truncated {
            // Never silently cut: how many values did not fit, when the
            // writer said (since format v1.2).
            let n = match r.left_out {
                0 => LogValue::Str("some".to_owned()),
                n => LogValue::U64(n.into()),
            };
            fields.push((LEFT_OUT_FIELD.to_owned(), n));
        }
        if let Some(i) = fields.iter().position(|(name, _)| name == MESSAGE_FIELD) {
            let message = fields.remove(i);
            fields.push(message);
        }
        Some(LogEvent {
            time_ns: r.time_ns,
            level,
            target,
            pid: None,
            thread: r.thread,
            span: spans.view(r.span),
            fields,
        })
    }

    /// The event's message, if it has one.
    pub fn message(&self) -> Option<&LogValue> {
        split_message(&self.fields).0
    }

    /// The fields other than the message.
    pub fn other_fields(&self) -> &[Field] {
        split_message(&self.fields).1
    }
}

/// Fields that keep the message last, as events do: the message, if there
/// is one, and the fields before it.
pub fn split_message(fields: &[Field]) -> (Option<&LogValue>, &[Field]) {
    match fields.split_last() {
        Some(((name, message), others)) if name == MESSAGE_FIELD => (Some(message), others),
        _ => (None, fields),
    }
}

/// The named, resolved values of a record, in payload order.
pub fn fields_of(r: &Record, dict: &Dictionary, scrub: Scrub) -> Vec<Field> {
    r.values
        .iter()
        .map(|fv| {
            (
                field_name(r, dict, usize::from(fv.field)),
                LogValue::resolve(&fv.value, r.callsite, dict, scrub),
            )
        })
        .collect()
}

#[derive(Clone, Debug)]
struct SpanState {
    name: String,
    /// Field index, name and value, in field index order.
    fields: Vec<(u8, String, LogValue)>,
    /// When the span closed, if it did.
    closed_ns: Option<u64>,
}

/// The spans seen so far: feed it every record, oldest first, with
/// [`Spans::observe`], and it knows each span's name and fields as of the
/// last record seen.
#[derive(Clone, Debug)]
pub struct Spans {
    spans: HashMap<u32, SpanState>,
    scrub: Scrub,
}

impl Spans {
    /// No span known yet; values of spans and of the events read with
    /// them go through `scrub`.
    pub fn new(scrub: Scrub) -> Spans {
        Spans {
            spans: HashMap::new(),
            scrub,
        }
    }

    /// Takes in a record: SPAN_NEW creates a span, SPAN_RECORD adds or
    /// replaces its fields, SPAN_CLOSE marks it closed. Other records are
    /// ignored.
    pub fn observe(&mut self, r: &Record, dict: &Dictionary) {
        match r.kind {
            RecordKind::SpanNew => {
                let name = dict
                    .callsites
                    .get(&r.callsite)
                    .map_or_else(|| UNKNOWN_TARGET.to_owned(), |c| c.name.clone());
                let mut state = SpanState {
                    name,
                    fields: Vec::with_capacity(r.values.len()),
                    closed_ns: None,
                };
                set_fields(&mut state, r, dict, self.scrub);
                self.spans.insert(r.span, state);
            }
            RecordKind::SpanRecord => {
                if let Some(state) = self.spans.get_mut(&r.span) {
                    set_fields(state, r, dict, self.scrub);
                }
            }
            RecordKind::SpanClose => {
                if let Some(state) = self.spans.get_mut(&r.span) {
                    state.closed_ns = Some(r.time_ns);
                }
            }
            _ => {}
        }
    }

    /// The span `id` as an event in it shows it; `None` for id 0 (no span).
    pub fn view(&self, id: u32) -> Option<SpanView> {
        if id == 0 {
            return None;
        }
        Some(match self.spans.get(&id) {
            Some(s) => SpanView::Known {
                name: s.name.clone(),
                fields: s
                    .fields
                    .iter()
                    .map(|(_, name, v)| (name.clone(), v.clone()))
                    .collect(),
            },
            None => SpanView::Missing { id },
        })
    }

    /// Forgets spans that closed before `time_ns`, so that following a
    /// busy ring for days does not grow without bound.
    pub fn forget_closed_before(&mut self, time_ns: u64) {
        self.spans
            .retain(|_, s| s.closed_ns.is_none_or(|t| t >= time_ns));
    }

    /// Forgets every span (the ring was recreated).
    pub fn clear(&mut self) {
        self.spans.clear();
    }

    /// How many spans are known.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether no span is known.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
}

/// Adds `r`'s values to `state`, replacing values of the same field.
fn set_fields(state: &mut SpanState, r: &Record, dict: &Dictionary, scrub: Scrub) {
    for fv in &r.values {
        let value = LogValue::resolve(&fv.value, r.callsite, dict, scrub);
        match state.fields.binary_search_by_key(&fv.field, |(i, _, _)| *i) {
            Ok(at) => state.fields[at].2 = value,
            Err(at) => {
                let name = field_name(r, dict, usize::from(fv.field));
                state.fields.insert(at, (fv.field, name, value));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dictionary::{Callsite, CallsiteKind, Level};
    use crate::value::FieldValue as Raw;

    fn callsite(kind: CallsiteKind, name: &str, fields: &[&str]) -> Callsite {
        Callsite {
            level: Level::Info,
            kind,
            name: name.to_owned(),
            target: "caro::agent".to_owned(),
            file: "src/agent.rs".to_owned(),
            line: 10,
            fields: fields.iter().map(|f| f.to_string()).collect(),
            message: String::new(),
        }
    }

    fn record(kind: RecordKind, callsite: u64, span: u32, values: Vec<Value>) -> Record {
        Record {
            lane: 0,
            seq: 0,
            time_ns: 1,
            thread: 7,
            kind,
            callsite,
            span,
            parent: 0,
            truncated: false,
            left_out: 0,
            identity: None,
            values: values
                .into_iter()
                .enumerate()
                .map(|(i, value)| Raw {
                    field: i as u8,
                    value,
                })
                .collect(),
        }
    }

    #[test]
    fn values_map_to_numbers_when_they_fit_and_text_otherwise() {
        let mut dict = Dictionary::default();
        dict.strings.insert(5, "embedded".to_owned());
        dict.messages.insert(9, "hello".to_owned());
        let r = |v: Value| LogValue::resolve(&v, 9, &dict, unscrubbed);
        assert_eq!(r(Value::U128(7)), LogValue::U64(7));
        assert_eq!(
            r(Value::U128(u128::MAX)),
            LogValue::Str(u128::MAX.to_string())
        );
        assert_eq!(r(Value::I128(-3)), LogValue::I64(-3));
        assert_eq!(
            r(Value::I128(i128::from(u64::MAX))),
            LogValue::U64(u64::MAX)
        );
        assert_eq!(
            r(Value::I128(i128::MIN)),
            LogValue::Str(i128::MIN.to_string())
        );
        assert_eq!(r(Value::F64(f64::NAN)), LogValue::Str("NaN".to_owned()));
        assert_eq!(
            r(Value::F64(f64::NEG_INFINITY)),
            LogValue::Str("-inf".to_owned())
        );
        let cut = Value::Str {
            text: "abc".to_owned(),
            truncated: true,
        };
        assert_eq!(r(cut), LogValue::Str("abc…".to_owned()));
        assert_eq!(r(Value::StaticStr(5)), LogValue::Str("embedded".to_owned()));
        assert_eq!(r(Value::Message), LogValue::Str("hello".to_owned()));
        assert_eq!(
            r(Value::Redacted(12)),
            LogValue::Str("<redacted 12 bytes>".to_owned())
        );
        assert_eq!(
            r(Value::Ext {
                ext_type: 1,
                len: 3
            }),
            LogValue::Str("<ext 1 3 bytes>".to_owned())
        );
    }

    #[test]
    fn message_moves_last_and_span_fields_follow_span_records() {
        let mut dict = Dictionary::default();
        dict.callsites.insert(
            1,
            callsite(
                CallsiteKind::Span,
                "generate_command",
                &["backend", "model"],
            ),
        );
        dict.callsites.insert(
            2,
            callsite(CallsiteKind::Event, "event", &["message", "query_length"]),
        );
        dict.messages.insert(2, "generating command".to_owned());
        let mut spans = Spans::new(unscrubbed);
        let span_new = record(
            RecordKind::SpanNew,
            1,
            4,
            vec![Value::Str {
                text: "embedded".to_owned(),
                truncated: false,
            }],
        );
        spans.observe(&span_new, &dict);
        let mut recorded = record(RecordKind::SpanRecord, 1, 4, vec![Value::U64(3)]);
        recorded.values[0].field = 1;
        spans.observe(&recorded, &dict);
        let event = record(
            RecordKind::Event,
            2,
            4,
            vec![Value::Message, Value::U64(42)],
        );
        let e = LogEvent::from_record(&event, &dict, &spans).unwrap();
        assert_eq!((e.level, e.target.as_str()), ("INFO", "caro::agent"));
        let names: Vec<_> = e.fields.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["query_length", "message"]);
        assert_eq!(
            e.message(),
            Some(&LogValue::Str("generating command".to_owned()))
        );
        assert_eq!(
            e.span,
            Some(SpanView::Known {
                name: "generate_command".to_owned(),
                fields: vec![
                    ("backend".to_owned(), LogValue::Str("embedded".to_owned())),
                    ("model".to_owned(), LogValue::U64(3)),
                ],
            })
        );
        let elsewhere = record(RecordKind::Event, 2, 99, vec![]);
        let e = LogEvent::from_record(&elsewhere, &dict, &spans).unwrap();
        assert_eq!(e.span, Some(SpanView::Missing { id: 99 }));
        assert!(LogEvent::from_record(&span_new, &dict, &spans).is_none());
    }

    #[test]
    fn templates_read_as_text_with_holes() {
        use crate::value::Part;
        let mut dict = Dictionary::default();
        dict.strings
            .insert(9, "Static matcher found match in ".to_owned());
        let parts = vec![
            Part::Static(9),
            Part::Text("1.2ms: ".to_owned()),
            Part::Hole(23),
            Part::Text(" from /home/".to_owned()),
            Part::Text("ana/notes.txt".to_owned()),
            Part::Static(10),
            Part::Cut(4),
        ];
        let template = Value::Template(parts);
        assert_eq!(
            LogValue::resolve(&template, 0, &dict, unscrubbed),
            LogValue::Str(
                "Static matcher found match in 1.2ms: <redacted 23 bytes> from /home/ana/notes.txt\
                 <string 000000000000000a><cut 4 bytes>"
                    .to_owned()
            )
        );
    }

    #[test]
    fn a_record_cut_short_says_how_many_values_it_left_out() {
        let mut dict = Dictionary::default();
        dict.callsites.insert(
            2,
            callsite(CallsiteKind::Event, "event", &["message", "query_length"]),
        );
        dict.messages.insert(2, "generating command".to_owned());
        let mut event = record(RecordKind::Event, 2, 0, vec![Value::Message]);
        event.truncated = true;
        event.left_out = 3;
        let spans = Spans::new(unscrubbed);
        let e = LogEvent::from_record(&event, &dict, &spans).unwrap();
        assert_eq!(
            e.other_fields(),
            [(LEFT_OUT_FIELD.to_owned(), LogValue::U64(3))]
        );
        // A writer older than format v1.2 only said that some were.
        event.left_out = 0;
        let e = LogEvent::from_record(&event, &dict, &spans).unwrap();
        assert_eq!(
            e.other_fields(),
            [(LEFT_OUT_FIELD.to_owned(), LogValue::Str("some".to_owned()))]
        );
    }

    #[test]
    fn closed_spans_are_forgotten_only_when_asked() {
        let dict = Dictionary::default();
        let mut spans = Spans::new(unscrubbed);
        spans.observe(&record(RecordKind::SpanNew, 1, 4, vec![]), &dict);
        spans.observe(&record(RecordKind::SpanNew, 1, 5, vec![]), &dict);
        let mut close = record(RecordKind::SpanClose, 1, 4, vec![]);
        close.time_ns = 10;
        spans.observe(&close, &dict);
        spans.forget_closed_before(10);
        assert_eq!(spans.len(), 2);
        spans.forget_closed_before(11);
        assert_eq!(spans.len(), 1);
        assert!(matches!(spans.view(5), Some(SpanView::Known { .. })));
    }

    #[test]
    fn panics_are_errors_with_their_location() {
        let dict = Dictionary::default();
        let r = record(
            RecordKind::Panic,
            0,
            0,
            vec![
                Value::Str {
                    text: "src/main.rs".to_owned(),
                    truncated: false,
                },
                Value::U64(3),
                Value::U64(9),
            ],
        );
        let e = LogEvent::from_record(&r, &dict, &Spans::new(unscrubbed)).unwrap();
        assert_eq!(
            (e.level, e.target.as_str(), e.span.as_ref()),
            ("ERROR", "panic", None)
        );
        let names: Vec<_> = e.fields.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["file", "line", "column", "message"]);
    }
}
