//! The human-readable form of a log event, as caro's structured logging
//! design shows it:
//!
//! ```text
//! 2026-01-15 14:32:15.123Z [4242/4243] INFO caro::agent: generating command
//!     backend: embedded
//!     query_length: 42
//!
//! ```
//!
//! `[pid/thread]` says which process and thread wrote it (`?` for a pid
//! the ring does not know). Strings are shown unquoted; control
//! characters in them are escaped so that a value can neither break the
//! layout nor drive the terminal.
//!
//! The compact form ([`write_line`]) puts the same on one line, fields as
//! `name=value` before the message, for `grep` and `tail`:
//!
//! ```text
//! 2026-01-15 14:32:15.123Z [4242/4243] INFO caro::agent: generating command backend=embedded query_length=42
//! ```
//!
//! With `colour`, the level is coloured and the time and place are dim
//! (ANSI escapes, for terminals).

use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};

use super::time;
use super::{LogEvent, LogValue};

/// Appends the event to `s`: its line, one indented line per other field,
/// then a blank line.
pub fn write(s: &mut String, e: &LogEvent, colour: bool) {
    write_head(s, e, colour);
    if let Some(m) = e.message() {
        let _ = write!(s, ": {}", field_text(m));
    }
    s.push('\n');
    for (name, v) in e.other_fields() {
        let _ = writeln!(s, "    {}: {}", escape(name), field_text(v));
    }
    s.push('\n');
}

/// Appends the event to `s` on one line: the compact form.
pub fn write_line(s: &mut String, e: &LogEvent, colour: bool) {
    write_head(s, e, colour);
    let mut sep = ": ";
    if let Some(m) = e.message() {
        let _ = write!(s, "{sep}{}", field_text(m));
        sep = " ";
    }
    for (name, v) in e.other_fields() {
        let text = field_text(v);
        // Quoted when it would not read as one value.
        let text = match text.is_empty() || text.contains([' ', '"', '=']) {
            true => crate::text::quote(&text),
            false => text,
        };
        let _ = write!(s, "{sep}{}={text}", escape(name));
        sep = " ";
    }
    s.push('\n');
}

/// `time [pid/thread] LEVEL target`.
fn write_head(s: &mut String, e: &LogEvent, colour: bool) {
    let pid = e.pid.map_or_else(|| "?".to_owned(), |p| p.to_string());
    let (dim, level) = match colour {
        true => (Style::new().dimmed(), level_style(e.level)),
        false => (Style::new(), Style::new()),
    };
    let _ = write!(
        s,
        "{dim}{} [{pid}/{}]{dim:#} {level}{}{level:#} {dim}{}{dim:#}",
        time::human(e.time_ns),
        e.thread,
        e.level,
        escape(&e.target)
    );
}

/// The colour of a level's name, as terminals' loggers usually give it.
fn level_style(level: &str) -> Style {
    let colour = match level {
        "ERROR" => AnsiColor::Red,
        "WARN" => AnsiColor::Yellow,
        "INFO" => AnsiColor::Green,
        "DEBUG" => AnsiColor::Blue,
        _ => AnsiColor::Magenta,
    };
    colour.on_default().bold()
}

/// A field value as the pretty form shows it.
pub fn field_text(v: &LogValue) -> String {
    match v {
        LogValue::U64(x) => x.to_string(),
        LogValue::I64(x) => x.to_string(),
        LogValue::F64(x) => x.to_string(),
        LogValue::Bool(x) => x.to_string(),
        LogValue::Str(s) => escape(s),
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
                ("backend".into(), LogValue::Str("embedded".into())),
                (
                    "command".into(),
                    LogValue::Str("find . -type f -mtime -1".into()),
                ),
                ("confidence".into(), LogValue::F64(0.92)),
                ("latency_ms".into(), LogValue::U64(333)),
                (
                    "message".into(),
                    LogValue::Str("command generated successfully".into()),
                ),
            ],
        };
        let mut out = String::new();
        write(&mut out, &e, false);
        assert_eq!(
            out,
            "2026-01-15 14:32:15.456Z [4242/4242] INFO caro::agent: command generated successfully\n    backend: embedded\n    command: find . -type f -mtime -1\n    confidence: 0.92\n    latency_ms: 333\n\n"
        );
    }

    #[test]
    fn the_compact_form_is_one_line_and_colour_only_adds_escapes() {
        let e = LogEvent {
            time_ns: 1_768_487_535_456_000_000,
            level: "WARN",
            target: "caro::agent".into(),
            pid: None,
            thread: 7,
            span: None,
            fields: vec![
                ("backend".into(), LogValue::Str("embedded".into())),
                ("error".into(), LogValue::Str("timed out\nafter 5 s".into())),
                ("message".into(), LogValue::Str("retrying".into())),
            ],
        };
        let mut plain = String::new();
        write_line(&mut plain, &e, false);
        assert_eq!(
            plain,
            "2026-01-15 14:32:15.456Z [?/7] WARN caro::agent: retrying backend=embedded error=\"timed out\\\\nafter 5 s\"\n"
        );
        let mut coloured = String::new();
        write_line(&mut coloured, &e, true);
        assert!(coloured.contains("\u{1b}[1m\u{1b}[33mWARN"), "{coloured:?}");
        let stripped: String = {
            let mut out = String::new();
            let mut rest = coloured.as_str();
            while let Some(at) = rest.find('\u{1b}') {
                out.push_str(&rest[..at]);
                rest = &rest[at + rest[at..].find('m').unwrap() + 1..];
            }
            out + rest
        };
        assert_eq!(stripped, plain);
    }

    #[test]
    fn control_characters_cannot_break_lines() {
        assert_eq!(escape("a\nb\u{1b}[31m"), "a\\nb\\u{1b}[31m");
        assert_eq!(escape("plain é"), "plain é");
    }
}
