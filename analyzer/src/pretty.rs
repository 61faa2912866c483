//! The human-readable form of a log event, as caro's structured logging
//! design shows it:
//!
//! ```text
//! 2026-01-15 14:32:15.123 INFO caro::agent: generating command
//!     backend: embedded
//!     query_length: 42
//!
//! ```
//!
//! Strings are shown unquoted; control characters in them are escaped so
//! that a value can neither break the layout nor drive the terminal.

use std::fmt::Write as _;
use std::io::{self, Write};

use crate::event::{FieldValue, LogEvent};
use crate::time;

/// Writes the event: its line, one indented line per other field, then a
/// blank line.
pub fn write_event(out: &mut dyn Write, e: &LogEvent) -> io::Result<()> {
    // Which process and thread: `[pid/thread]`, `?` for a pid not known.
    let pid = e.pid.map_or_else(|| "?".to_owned(), |p| p.to_string());
    let mut s = format!(
        "{} [{pid}/{}] {} {}",
        time::human(e.time_ns),
        e.thread,
        e.level,
        escape(&e.target)
    );
    if let Some(m) = e.message() {
        let _ = write!(s, ": {}", field_text(m));
    }
    s.push('\n');
    for (name, v) in e.other_fields() {
        let _ = writeln!(s, "    {}: {}", escape(name), field_text(v));
    }
    s.push('\n');
    out.write_all(s.as_bytes())
}

/// A field value as the pretty form shows it.
pub fn field_text(v: &FieldValue) -> String {
    match v {
        FieldValue::U64(x) => x.to_string(),
        FieldValue::I64(x) => x.to_string(),
        FieldValue::F64(x) => x.to_string(),
        FieldValue::Bool(x) => x.to_string(),
        FieldValue::Str(s) => escape(s),
    }
}

/// `s` with newlines, tabs and other control characters escaped.
fn escape(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:02x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_design_document() {
        let e = LogEvent {
            time_ns: 1_768_487_535_456_000_000,
            level: "INFO",
            target: "caro::agent".into(),
            pid: Some(4242),
            thread: 4242,
            span: None,
            fields: vec![
                ("backend".into(), FieldValue::Str("embedded".into())),
                (
                    "command".into(),
                    FieldValue::Str("find . -type f -mtime -1".into()),
                ),
                ("confidence".into(), FieldValue::F64(0.92)),
                ("latency_ms".into(), FieldValue::U64(333)),
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
            "2026-01-15 14:32:15.456 [4242/4242] INFO caro::agent: command generated successfully\n    backend: embedded\n    command: find . -type f -mtime -1\n    confidence: 0.92\n    latency_ms: 333\n\n"
        );
    }

    #[test]
    fn control_characters_cannot_break_lines() {
        assert_eq!(escape("a\nb\u{1b}[31m"), "a\\nb\\u{1b}[31m");
        assert_eq!(escape("plain é"), "plain é");
    }
}
