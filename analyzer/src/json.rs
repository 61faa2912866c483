//! The JSON form of a log event: one object per line, keys in the order
//! `timestamp`, `level`, `target`, `span`, `fields`, as caro's structured
//! logging design specifies.

use std::io::{self, Write};

use serde_json::{Map, Number, Value};

use crate::event::{Field, FieldValue, LogEvent, SpanView};
use crate::time;

/// The event as a JSON object.
pub fn to_value(e: &LogEvent) -> Value {
    let mut obj = Map::new();
    obj.insert("timestamp".into(), time::rfc3339(e.time_ns).into());
    obj.insert("level".into(), e.level.into());
    obj.insert("target".into(), e.target.clone().into());
    match &e.span {
        Some(SpanView::Known { name, fields }) => {
            let mut span = Map::new();
            span.insert("name".into(), name.clone().into());
            insert_fields(&mut span, fields);
            obj.insert("span".into(), span.into());
        }
        Some(SpanView::Missing { id }) => {
            let mut span = Map::new();
            span.insert("id".into(), (*id).into());
            obj.insert("span".into(), span.into());
        }
        None => {}
    }
    let mut fields = Map::new();
    insert_fields(&mut fields, &e.fields);
    obj.insert("fields".into(), fields.into());
    Value::Object(obj)
}

/// Writes the event as one line of JSON.
pub fn write_event(out: &mut dyn Write, e: &LogEvent) -> io::Result<()> {
    serde_json::to_writer(&mut *out, &to_value(e))?;
    out.write_all(b"\n")
}

fn insert_fields(obj: &mut Map<String, Value>, fields: &[Field]) {
    for (name, v) in fields {
        obj.insert(name.clone(), field_value(v));
    }
}

/// A field value as JSON: numbers stay numbers.
pub fn field_value(v: &FieldValue) -> Value {
    match v {
        FieldValue::U64(x) => (*x).into(),
        FieldValue::I64(x) => (*x).into(),
        FieldValue::F64(x) => {
            Number::from_f64(*x).map_or_else(|| x.to_string().into(), Value::Number)
        }
        FieldValue::Bool(x) => (*x).into(),
        FieldValue::Str(s) => s.clone().into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_in_the_documented_order() {
        let e = LogEvent {
            time_ns: 1_768_487_535_123_000_000,
            level: "INFO",
            target: "caro::agent".into(),
            span: Some(SpanView::Known {
                name: "generate_command".into(),
                fields: vec![("backend".into(), FieldValue::Str("embedded".into()))],
            }),
            fields: vec![
                ("confidence".into(), FieldValue::F64(0.92)),
                (
                    "message".into(),
                    FieldValue::Str("command generated successfully".into()),
                ),
            ],
        };
        let mut out = Vec::new();
        write_event(&mut out, &e).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            concat!(
                r#"{"timestamp":"2026-01-15T14:32:15.123Z","level":"INFO","target":"caro::agent","#,
                r#""span":{"name":"generate_command","backend":"embedded"},"#,
                r#""fields":{"confidence":0.92,"message":"command generated successfully"}}"#,
                "\n"
            )
        );
        let outside = LogEvent {
            span: None,
            fields: vec![],
            ..e
        };
        let v = to_value(&outside);
        assert!(v.get("span").is_none());
        assert_eq!(v["fields"], Value::Object(Map::new()));
    }
}
