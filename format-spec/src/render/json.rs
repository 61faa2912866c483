//! The JSON form of a log event: one object per line, keys in the order
//! `timestamp`, `level`, `target`, `pid`, `thread`, `span`, `fields`, as
//! caro's structured logging design specifies (plus the writer's process
//! and thread).

use serde::ser::{Serialize, SerializeMap, Serializer};

use super::time;
use super::{Field, LogEvent, LogValue, SpanView};

/// Appends the event to `out` as one line of JSON. Streamed, not built as
/// a `serde_json::Value` first: ingest writes a line for every event.
pub fn write(out: &mut Vec<u8>, e: &LogEvent) {
    // Writing into a Vec cannot fail, and every key is a string.
    let _ = serde_json::to_writer(&mut *out, &Event(e));
    out.push(b'\n');
}

struct Event<'a>(&'a LogEvent);

impl Serialize for Event<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let e = self.0;
        let mut obj = s.serialize_map(None)?;
        obj.serialize_entry("timestamp", &time::rfc3339(e.time_ns))?;
        obj.serialize_entry("level", e.level)?;
        obj.serialize_entry("target", &e.target)?;
        obj.serialize_entry("pid", &e.pid)?;
        obj.serialize_entry("thread", &e.thread)?;
        match &e.span {
            Some(SpanView::Known { name, fields }) => {
                obj.serialize_entry("span", &Span { name, fields })?
            }
            Some(SpanView::Missing { id }) => obj.serialize_entry("span", &MissingSpan(*id))?,
            None => {}
        }
        obj.serialize_entry("fields", &Fields(&e.fields, None))?;
        obj.end()
    }
}

/// A span: its name, then its fields (a field called `name` is left out:
/// the span's own name wins).
struct Span<'a> {
    name: &'a str,
    fields: &'a [Field],
}

impl Serialize for Span<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Fields(self.fields, Some(self.name)).serialize(s)
    }
}

struct MissingSpan(u32);

impl Serialize for MissingSpan {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut obj = s.serialize_map(Some(1))?;
        obj.serialize_entry("id", &self.0)?;
        obj.end()
    }
}

/// Fields as an object, after a `name` entry when one is given.
struct Fields<'a>(&'a [Field], Option<&'a str>);

impl Serialize for Fields<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut obj = s.serialize_map(None)?;
        if let Some(name) = self.1 {
            obj.serialize_entry("name", name)?;
        }
        for (name, v) in self.0 {
            if self.1.is_none() || name != "name" {
                obj.serialize_entry(name, &Value(v))?;
            }
        }
        obj.end()
    }
}

/// A field value: numbers stay numbers.
struct Value<'a>(&'a LogValue);

impl Serialize for Value<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            LogValue::U64(x) => s.serialize_u64(*x),
            LogValue::I64(x) => s.serialize_i64(*x),
            LogValue::F64(x) if x.is_finite() => s.serialize_f64(*x),
            LogValue::F64(x) => s.collect_str(x),
            LogValue::Bool(x) => s.serialize_bool(*x),
            LogValue::Str(x) => s.serialize_str(x),
        }
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
            pid: Some(4242),
            thread: 4243,
            span: Some(SpanView::Known {
                name: "generate_command".into(),
                fields: vec![("backend".into(), LogValue::Str("embedded".into()))],
            }),
            fields: vec![
                ("confidence".into(), LogValue::F64(0.92)),
                (
                    "message".into(),
                    LogValue::Str("command generated successfully".into()),
                ),
            ],
        };
        let mut out = Vec::new();
        write(&mut out, &e);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            concat!(
                r#"{"timestamp":"2026-01-15T14:32:15.123Z","level":"INFO","target":"caro::agent","#,
                r#""pid":4242,"thread":4243,"#,
                r#""span":{"name":"generate_command","backend":"embedded"},"#,
                r#""fields":{"confidence":0.92,"message":"command generated successfully"}}"#,
                "\n"
            )
        );
        let outside = LogEvent {
            span: Some(SpanView::Known {
                name: "work".into(),
                fields: vec![("name".into(), LogValue::Str("shadow".into()))],
            }),
            fields: vec![],
            ..e
        };
        let mut out = Vec::new();
        write(&mut out, &outside);
        let line = String::from_utf8(out).unwrap();
        assert!(
            line.ends_with("\"span\":{\"name\":\"work\"},\"fields\":{}}\n"),
            "{line}"
        );
    }
}
