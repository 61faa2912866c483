//! The categories of a request and the template of a callsite: what
//! text they may hold, decided from the raw value while its provenance
//! is still known (program text scrubbed, identifiers, else [`OTHER`]).

use std::borrow::Cow;

use caro_format::text::{template_pieces, Piece};
use caro_format::{Dictionary, Record, Value};
use caro_recorder::privacy::is_identifier;

use crate::scrub;
use crate::scrub::event::MESSAGE_FIELD;

/// The fields whose values are a request's categories.
pub const CATEGORY_FIELDS: [&str; 4] = ["backend", "intent", "error", "risk_level"];

/// The one category of every value that is neither program text nor an
/// identifier.
pub const OTHER: &str = "other";

/// The category a raw value of record callsite `callsite` is kept as:
///
/// - program text — a dictionary string ([`Value::StaticStr`]), the
///   callsite's message literal, a template made only of program text —
///   scrubbed;
/// - a run-time string ([`Value::Str`]) as it is, when it passes
///   [`is_identifier`] and the scrubber finds nothing in it (the recorder
///   writes short program text this way too, only when it passes the
///   same rule);
/// - [`OTHER`] for any other text: a run-time string that is not an
///   identifier (a host opted the field in with `keep_text_fields`), a
///   withheld value, a template with a hole, a string cut short, a value
///   of a newer format, a dictionary string that is missing.
///
/// `None` for numbers and booleans, which name no category.
pub fn label(v: &Value, callsite: u64, dict: &Dictionary) -> Option<String> {
    let program = |s: &str| scrub::text(s).into_owned();
    Some(match v {
        Value::U64(_)
        | Value::I64(_)
        | Value::F64(_)
        | Value::Bool(_)
        | Value::U128(_)
        | Value::I128(_) => return None,
        Value::StaticStr(id) => dict
            .strings
            .get(id)
            .map_or_else(|| OTHER.to_owned(), |s| program(s)),
        Value::Message => dict
            .messages
            .get(&callsite)
            .map_or_else(|| OTHER.to_owned(), |s| program(s)),
        Value::Str {
            text,
            truncated: false,
        } if is_identifier(text) && matches!(scrub::text(text), Cow::Borrowed(_)) => text.clone(),
        // Program text only if every piece is: a hole, a cut or a missing
        // dictionary string is a placeholder.
        Value::Template(parts) => {
            let mut text = String::new();
            for piece in template_pieces(parts, dict) {
                match piece {
                    Piece::Text(t) => text.push_str(t),
                    Piece::Placeholder(_) => return Some(OTHER.to_owned()),
                }
            }
            program(&text)
        }
        _ => OTHER.to_owned(),
    })
}

/// How [`message_template`] shows an argument to the scrubber: one of its
/// own placeholders, which it reads as a word and leaves as it is (a
/// `{}` before a `/` would start a path). No hole is 0 bytes long.
const ARGUMENT: &str = "<redacted 0 bytes>";

/// The units a `Debug` duration ends with (`1.234ms`): part of its
/// argument, not of the message.
const DURATION_UNITS: [&str; 4] = ["ns", "µs", "ms", "s"];

/// The message of event `r` as program text, scrubbed, each run-time
/// argument shown as `{}`: a literal message as it is; a formatted one
/// as its template's program text, each hole, cut and kept number (`42`,
/// `0.62`, a `Debug` duration `1.234ms`) one `{}` — `Parse attempt {}/{}
/// failed` — so that every event of a callsite has the same text; a
/// run-time string or a withheld value `{}`. An event without a message
/// is its callsite's name (`event src/main.rs:42`).
pub fn message_template(r: &Record, dict: &Dictionary) -> String {
    let Some(c) = dict.callsites.get(&r.callsite) else {
        return String::new();
    };
    let message = c
        .fields
        .iter()
        .position(|f| f == MESSAGE_FIELD)
        .and_then(|i| r.values.iter().find(|fv| usize::from(fv.field) == i));
    let text: Cow<str> = match message.map(|fv| &fv.value) {
        None => Cow::Borrowed(&c.name),
        Some(Value::Message) => dict
            .messages
            .get(&r.callsite)
            .map_or(Cow::Borrowed(&c.name), |m| Cow::Borrowed(m)),
        Some(Value::StaticStr(id)) => dict
            .strings
            .get(id)
            .map_or(Cow::Borrowed(ARGUMENT), |s| Cow::Borrowed(s)),
        Some(Value::Template(parts)) => Cow::Owned(template_with_arguments(parts, dict)),
        Some(_) => Cow::Borrowed(ARGUMENT),
    };
    scrub::text(&text).replace(ARGUMENT, "{}")
}

/// A template's program text with each run-time argument as [`ARGUMENT`].
fn template_with_arguments(parts: &[caro_format::Part], dict: &Dictionary) -> String {
    // A number is written in pieces (`1`, `.`, `234`, then `ms`): the
    // pieces after an argument's first are folded into it.
    let mut pieces: Vec<Option<&str>> = Vec::new();
    for piece in template_pieces(parts, dict) {
        let text = match piece {
            Piece::Text(t) if !is_number(t) => Some(t),
            _ => None,
        };
        match (pieces.as_slice(), text) {
            ([.., None], None) => {}
            ([.., None], Some(unit)) if DURATION_UNITS.contains(&unit) => {}
            ([.., None, Some(".")], None) => {
                pieces.pop();
            }
            _ => pieces.push(text),
        }
    }
    pieces.into_iter().map(|p| p.unwrap_or(ARGUMENT)).collect()
}

/// Whether template text `t` is a number (`42`, `-1.5`, `0.`, `3e-5`): a
/// run-time piece the recorder kept, not program text.
fn is_number(t: &str) -> bool {
    t.trim_start_matches(['+', '-'])
        .starts_with(|c: char| c.is_ascii_digit())
        && t.bytes()
            .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
}

/// The categories record `r` gives: (field, [`label`]) for each of its
/// values whose field is one of [`CATEGORY_FIELDS`]. Allocates nothing
/// for a record without one.
pub(super) fn categories_of(r: &Record, dict: &Dictionary) -> Vec<(&'static str, Option<String>)> {
    let Some(c) = dict.callsites.get(&r.callsite) else {
        return Vec::new();
    };
    r.values
        .iter()
        .filter_map(|fv| {
            let name = c.fields.get(usize::from(fv.field))?;
            let field = CATEGORY_FIELDS.iter().find(|f| **f == name.as_str())?;
            Some((*field, label(&fv.value, r.callsite, dict)))
        })
        .collect()
}
