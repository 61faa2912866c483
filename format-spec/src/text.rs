//! The canonical text form of a decoded ring (SPEC.md, "Canonical text"):
//! one line per fact, byte-for-byte what the reference decoder prints too.

use std::fmt::Write;

use crate::decode::{Decoded, Record};
use crate::dictionary::Dictionary;
use crate::layout::DropReason;
use crate::slot::RecordKind;
use crate::value::{Part, Value};

/// Renders `d` in the canonical text form.
pub fn canonical_text(d: &Decoded) -> String {
    let mut out = String::new();
    let h = &d.header;
    let dropped: Vec<String> = DropReason::ALL
        .iter()
        .map(|r| format!("{}:{}", r.name(), h.dropped[*r as usize]))
        .collect();
    let _ = write!(
        out,
        "ring v{}.{} lanes={} slots={} created={} processes={} dropped={}",
        h.version_major,
        h.version_minor,
        d.lanes.len(),
        d.capacity(),
        h.created_ns,
        h.processes,
        dropped.join(",")
    );
    if h.version_minor >= 2 {
        let _ = write!(out, " values_left_out={}", h.values_left_out);
    }
    out.push('\n');
    let dict = &d.dictionary;
    let _ = writeln!(
        out,
        "dictionary entries={} unfinished={} skipped_bytes={}",
        dict.entries, dict.unfinished, dict.skipped_bytes
    );
    let ids = &d.identities;
    if ids.present {
        let _ = writeln!(
            out,
            "identities capacity={} claimed={} held={} lost_to_laps={} unfinished={} corrupt={}",
            ids.capacity,
            ids.claimed,
            ids.held.len(),
            ids.lost_to_laps,
            ids.unfinished,
            ids.corrupt
        );
        for id in &ids.held {
            let _ = write!(
                out,
                "identity seq={} pid={} tid={} started={} since={}",
                id.seq, id.pid, id.tid, id.started_ns, id.since_ns
            );
            if id.version != 0 {
                let version = match dict.strings.get(&id.version) {
                    Some(v) => quote(v),
                    None => format!("<string {:016x}>", id.version),
                };
                let _ = write!(out, " version={version}");
            }
            out.push('\n');
        }
    }
    for (lane, s) in &d.lanes {
        let _ = writeln!(
            out,
            "lane {} {} slots={} head={} records={} lost_to_laps={} abandoned={} pending={} corrupt={} unknown_kinds={}",
            lane.index,
            lane.class.name(),
            lane.slots(),
            lane.head,
            s.records,
            s.lost_to_laps,
            s.abandoned,
            s.pending,
            s.corrupt,
            s.unknown_kinds
        );
    }
    for r in &d.records {
        let pid = ids.present.then(|| d.pid(r));
        out.push_str(&record_line(r, pid, dict));
        out.push('\n');
    }
    let t = d.totals();
    let _ = writeln!(
        out,
        "totals records={} lost_to_laps={} abandoned={} pending={} corrupt={} unknown_kinds={}",
        t.records, t.lost_to_laps, t.abandoned, t.pending, t.corrupt, t.unknown_kinds
    );
    out
}

/// One record in the canonical text form. `pid` is `None` in a file with
/// no identity table, `Some(None)` when the record resolves to none.
pub fn record_line(r: &Record, pid: Option<Option<u32>>, dict: &Dictionary) -> String {
    let mut line = format!(
        "record {} lane={} seq={} thread={}",
        r.time_ns, r.lane, r.seq, r.thread
    );
    match pid {
        Some(Some(pid)) => {
            let _ = write!(line, " pid={pid}");
        }
        Some(None) => line.push_str(" pid=?"),
        None => {}
    }
    let _ = write!(line, " {} span={}", r.kind.name(), r.span);
    if r.kind == RecordKind::SpanNew {
        let _ = write!(line, " parent={}", r.parent);
    }
    let callsite = dict.callsites.get(&r.callsite);
    if r.callsite != 0 {
        match callsite {
            Some(c) => {
                let _ = write!(
                    line,
                    " {} {} {} {}:{}",
                    r.kind.own_level().unwrap_or(c.level).name(),
                    bare(&c.target),
                    quote(&c.name),
                    bare(&c.file),
                    c.line
                );
            }
            None => {
                let _ = write!(line, " callsite={:016x}", r.callsite);
            }
        }
    }
    if r.truncated {
        line.push_str(" truncated");
        if r.left_out > 0 {
            let _ = write!(line, " left_out={}", r.left_out);
        }
    }
    for fv in &r.values {
        let name = field_name(r, dict, usize::from(fv.field));
        let _ = write!(
            line,
            " {}={}",
            bare(&name),
            value_text(&fv.value, r.callsite, dict)
        );
    }
    line
}

/// The name of field `i` of record `r`, or `f{i}` when it is unknown.
pub fn field_name(r: &Record, dict: &Dictionary, i: usize) -> String {
    let builtin = r.kind.builtin_fields();
    let name = if builtin.is_empty() {
        dict.callsites
            .get(&r.callsite)
            .and_then(|c| c.fields.get(i))
            .map(String::as_str)
    } else {
        builtin.get(i).copied()
    };
    name.map_or_else(|| format!("f{i}"), str::to_owned)
}

/// A value that is not a number or a bool, as text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Shown<'a> {
    /// A string the ring holds: a STR, a dictionary string, a message
    /// literal. `cut` when the writer cut it.
    Text { text: &'a str, cut: bool },
    /// What stands in for a value the ring does not hold, or cannot show.
    Placeholder(String),
}

/// `v`, a value of a record of callsite `callsite`, as text; `None` for
/// numbers and bools. Every reader shows strings and placeholders this way.
pub fn shown<'a>(v: &'a Value, callsite: u64, dict: &'a Dictionary) -> Option<Shown<'a>> {
    let text = |text: &'a str| Shown::Text { text, cut: false };
    Some(match v {
        Value::StaticStr(id) => match dict.strings.get(id) {
            Some(s) => text(s),
            None => Shown::Placeholder(format!("<string {id:016x}>")),
        },
        Value::Str { text, truncated } => Shown::Text {
            text,
            cut: *truncated,
        },
        Value::Redacted(len) => Shown::Placeholder(format!("<redacted {len} bytes>")),
        Value::Message => match dict.messages.get(&callsite) {
            Some(m) => text(m),
            None => Shown::Placeholder("<message missing>".to_owned()),
        },
        Value::Ext { ext_type, len } => Shown::Placeholder(format!("<ext {ext_type} {len} bytes>")),
        _ => return None,
    })
}

/// A piece of a [`Value::Template`] as text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    /// Text the ring holds (a kept piece or a dictionary string).
    Text(&'a str),
    /// What stands in for a withheld piece, a missing dictionary string or
    /// the part that did not fit.
    Placeholder(String),
}

/// The pieces of a template, resolved against the dictionary, with
/// neighbouring text joined. Every reader shows templates this way.
pub fn template_pieces<'a>(parts: &'a [Part], dict: &'a Dictionary) -> Vec<Piece<'a>> {
    let mut pieces: Vec<Piece<'a>> = Vec::with_capacity(parts.len());
    for p in parts {
        let piece = match p {
            Part::Text(t) => Piece::Text(t),
            Part::Static(id) => match dict.strings.get(id) {
                Some(s) => Piece::Text(s),
                None => Piece::Placeholder(format!("<string {id:016x}>")),
            },
            Part::Hole(n) => Piece::Placeholder(format!("<redacted {n} bytes>")),
            Part::Cut(n) => Piece::Placeholder(format!("<cut {n} bytes>")),
        };
        pieces.push(piece);
    }
    pieces
}

/// A template in the canonical text form: each run of text pieces quoted
/// as one string, each placeholder as it is, with nothing between them.
pub fn template_text(parts: &[Part], dict: &Dictionary) -> String {
    let (mut out, mut run) = (String::new(), None::<String>);
    for piece in template_pieces(parts, dict) {
        match piece {
            Piece::Text(t) => run.get_or_insert_with(String::new).push_str(t),
            Piece::Placeholder(p) => {
                if let Some(text) = run.take() {
                    out.push_str(&quote(&text));
                }
                out.push_str(&p);
            }
        }
    }
    match run {
        Some(text) => out.push_str(&quote(&text)),
        None if parts.is_empty() => out.push_str("\"\""),
        None => {}
    }
    out
}

/// A value in the canonical text form.
pub fn value_text(v: &Value, callsite: u64, dict: &Dictionary) -> String {
    match v {
        Value::U64(x) => x.to_string(),
        Value::I64(x) => x.to_string(),
        Value::U128(x) => x.to_string(),
        Value::I128(x) => x.to_string(),
        Value::F64(x) => x.to_string(),
        Value::Bool(x) => x.to_string(),
        Value::Template(parts) => template_text(parts, dict),
        _ => match shown(v, callsite, dict) {
            Some(Shown::Text { text, cut }) => quote(text) + if cut { "(truncated)" } else { "" },
            Some(Shown::Placeholder(p)) => p,
            None => String::new(),
        },
    }
}

/// A name as the canonical text writes it: as it is when that cannot be
/// misread (not empty, no space, quote, backslash, `=` or control
/// character), else quoted.
pub fn bare(s: &str) -> std::borrow::Cow<'_, str> {
    let plain = !s.is_empty()
        && !s
            .chars()
            .any(|c| matches!(c, ' ' | '"' | '\\' | '=') || (c as u32) < 0x20 || c as u32 == 0x7f);
    if plain {
        s.into()
    } else {
        quote(s).into()
    }
}

/// Quotes a string: `\` and `"` escaped, control characters as `\u{xx}`.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\u{{{:02x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
