//! Log events as the analyzer reads them: caro-format's [renderer]
//! (the one `logs` and the recorder's live output share) with every text
//! value through the [scrubber](crate::scrub), so that every reader of
//! records sees only scrubbed values.
//!
//! [renderer]: caro_format::render

use caro_format::{Dictionary, Record, Value};

use crate::scrub;

pub use caro_format::render::{
    split_message, Field, LogEvent, LogValue as FieldValue, SpanView, Spans, LEFT_OUT_FIELD,
    MESSAGE_FIELD, UNKNOWN_LEVEL, UNKNOWN_TARGET,
};

/// `v`, a value of a record of callsite `callsite`, resolved and
/// scrubbed.
pub fn resolve(v: &Value, callsite: u64, dict: &Dictionary) -> FieldValue {
    FieldValue::resolve(v, callsite, dict, scrub::text)
}

/// The named, resolved and scrubbed values of a record, in payload order.
pub fn fields_of(r: &Record, dict: &Dictionary) -> Vec<Field> {
    caro_format::render::fields_of(r, dict, scrub::text)
}

/// No span known yet; what spans and the events read with them hold is
/// scrubbed.
pub fn spans() -> Spans {
    Spans::new(scrub::text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use caro_format::Part;

    #[test]
    fn templates_are_scrubbed_whole() {
        let mut dict = Dictionary::default();
        dict.strings
            .insert(9, "Static matcher found match in ".to_owned());
        let parts = vec![
            Part::Static(9),
            Part::Text("1.2ms: ".to_owned()),
            Part::Hole(23),
            Part::Text(" from /home/".to_owned()),
            Part::Text("ana/notes.txt".to_owned()),
        ];
        assert_eq!(
            resolve(&Value::Template(parts), 0, &dict),
            FieldValue::Str(
                "Static matcher found match in 1.2ms: <redacted 23 bytes> from <path>".to_owned()
            )
        );
    }
}
