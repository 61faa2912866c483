//! The assembly's tests: records folded in, what the batch and the
//! open state hold after.

use super::*;
use crate::assemble::trace::{Kept, MAX_EVENTS, MAX_SPANS};
use crate::scrub::event::MESSAGE_FIELD;
use caro_format::Part;

fn record(kind: RecordKind, time_ns: u64, span: u32, parent: u32) -> Record {
    Record {
        lane: 0,
        seq: 0,
        time_ns,
        thread: 7,
        kind,
        callsite: 0,
        span,
        parent,
        truncated: false,
        left_out: 0,
        values: Vec::new(),
        identity: None,
    }
}

fn text(s: &str) -> Value {
    Value::Str {
        text: s.to_owned(),
        truncated: false,
    }
}

#[test]
fn categories_hold_program_text_or_identifiers_and_else_other() {
    let mut dict = Dictionary::default();
    dict.strings.insert(1, "BackendTimeout".to_owned());
    dict.strings.insert(2, "mail ana@example.org".to_owned());
    dict.strings.insert(3, "timeout".to_owned());
    dict.messages.insert(9, "Backend timed out".to_owned());
    let label = |v: Value| label(&v, 9, &dict);
    let some = |s: &str| Some(s.to_owned());
    // Program text, scrubbed.
    assert_eq!(label(Value::StaticStr(1)), some("BackendTimeout"));
    assert_eq!(label(Value::StaticStr(2)), some("mail <email>"));
    assert_eq!(label(Value::Message), some("Backend timed out"));
    let template = Value::Template(vec![Part::Text("HTTP ".into()), Part::Static(3)]);
    assert_eq!(label(template), some("HTTP timeout"));
    // Run-time identifiers.
    for id in ["embedded", "file_search", "qwen2.5-coder:1.5b", "high"] {
        assert_eq!(label(text(id)), some(id));
    }
    // Anything else that is text.
    for other in [
        text("NL91ABNA0417164300"),
        text("DE89 3704 0044 0532 0130 00"),
        text("Backend timed out"),
        text("jürgen.weiß@example.org"),
        text("someones-macbook-air.local"),
        text("+4915112345678"),
        Value::Str {
            text: "embedded".into(),
            truncated: true,
        },
        Value::Redacted(18),
        Value::StaticStr(404),
        Value::Template(vec![Part::Text("for ".into()), Part::Hole(18)]),
        Value::Template(vec![Part::Static(404)]),
        Value::Ext {
            ext_type: 9,
            len: 2,
        },
    ] {
        assert_eq!(label(other.clone()), some(OTHER), "{other:?}");
    }
    // Numbers name no category.
    assert_eq!(label(Value::U64(3)), None);
    assert_eq!(label(Value::Bool(true)), None);
}

#[test]
fn a_request_keeps_its_categories_by_provenance() {
    use caro_format::{Callsite, CallsiteKind};
    let callsite = |kind, level, fields: &[&str]| Callsite {
        level,
        kind,
        name: "process_query".to_owned(),
        target: "caro::agent".to_owned(),
        file: "src/agent.rs".to_owned(),
        line: 1,
        fields: fields.iter().map(|f| f.to_string()).collect(),
        message: String::new(),
    };
    let mut dict = Dictionary::default();
    dict.callsites.insert(
        1,
        callsite(CallsiteKind::Span, Level::Info, &["backend", "intent"]),
    );
    dict.callsites.insert(
        2,
        callsite(CallsiteKind::Event, Level::Error, &["error", "risk_level"]),
    );
    dict.strings.insert(5, "embedded".to_owned());
    let iban = "NL91ABNA0417164300";
    let with = |r: Record, callsite: u64, values: Vec<Value>| {
        let thread = r.thread;
        on(thread, r, callsite, values)
    };
    let mut a = Assembly::default();
    let mut batch = Batch::default();
    let mut fold = |r: Record| a.fold(&r, &dict, &mut batch);
    // An IBAN as the backend and the error (a host opted them in),
    // program text as the intent.
    fold(with(
        record(RecordKind::SpanNew, 1, 1, 0),
        1,
        vec![text(iban), Value::StaticStr(5)],
    ));
    fold(with(
        record(RecordKind::Event, 2, 1, 0),
        2,
        vec![text(iban), text("low")],
    ));
    fold(with(record(RecordKind::SpanClose, 3, 1, 0), 1, vec![]));
    let row = &batch.requests[0];
    assert_eq!(row.outcome, Outcome::Failed);
    assert_eq!(row.backend.as_deref(), Some(OTHER));
    assert_eq!(row.error_category.as_deref(), Some(OTHER));
    assert_eq!(row.intent.as_deref(), Some("embedded"));
    assert_eq!(row.risk_level.as_deref(), Some("low"));
    assert!(batch.histograms.keys().all(|k| !k.backend.contains("NL91")));
    assert!(batch
        .histograms
        .keys()
        .any(|k| k.kind == HistKind::Request && k.backend == OTHER));
}

/// `r` of callsite `callsite` on thread `thread`, its values fields
/// 0, 1, … in order.
fn on(thread: u32, mut r: Record, callsite: u64, values: Vec<Value>) -> Record {
    r.thread = thread;
    r.callsite = callsite;
    r.values = values
        .into_iter()
        .enumerate()
        .map(|(i, value)| caro_format::FieldValue {
            field: i as u8,
            value,
        })
        .collect();
    r
}

/// PROCESS_START of pid `pid`, on its main thread, version 0.4.2.
fn start(pid: u32, time_ns: u64) -> Record {
    let r = record(RecordKind::ProcessStart, time_ns, 0, 0);
    on(pid, r, 0, vec![Value::U64(pid.into()), text("0.4.2")])
}

/// PROCESS_EXIT of pid `pid`, with `status` if given.
fn exit(pid: u32, time_ns: u64, status: Option<i64>) -> Record {
    let r = record(RecordKind::ProcessExit, time_ns, 0, 0);
    let mut values = vec![Value::U64(pid.into())];
    values.extend([0, 0, 0, 0, 0].map(Value::U64));
    values.extend(status.map(Value::I64));
    on(pid, r, 0, values)
}

/// A dictionary of one message callsite: 1 WARN, 2 ERROR, 3 INFO.
fn log_dictionary() -> Dictionary {
    use caro_format::{Callsite, CallsiteKind};
    let mut dict = Dictionary::default();
    for (id, level) in [(1, Level::Warn), (2, Level::Error), (3, Level::Info)] {
        let callsite = Callsite {
            level,
            kind: CallsiteKind::Event,
            name: format!("event src/main.rs:{id}"),
            target: "host::agent".to_owned(),
            file: "src/main.rs".to_owned(),
            line: id as u32,
            fields: vec![MESSAGE_FIELD.to_owned()],
            message: String::new(),
        };
        dict.callsites.insert(id, callsite);
    }
    dict.strings
        .insert(10, " failed, retrying with correction prompt".to_owned());
    dict
}

/// `warn!("Parse attempt {}/{} failed, …", attempt, of)`, as the
/// recorder writes it: the numbers kept.
fn parse_attempt(thread: u32, time_ns: u64, attempt: u64) -> Record {
    let parts = vec![
        Part::Text("Parse attempt ".into()),
        Part::Text(attempt.to_string()),
        Part::Text("/".into()),
        Part::Text("3".into()),
        Part::Static(10),
    ];
    let r = record(RecordKind::Event, time_ns, 0, 0);
    on(thread, r, 1, vec![Value::Template(parts)])
}

/// The store's copy of `a`, as the next ingest reads it.
fn stored(a: &Assembly) -> Assembly {
    serde_json::from_str(&serde_json::to_string(a).unwrap()).unwrap()
}

#[test]
fn message_templates_keep_program_text_and_show_arguments_as_braces() {
    let mut dict = log_dictionary();
    dict.messages.insert(3, "Model unloaded".to_owned());
    let template = |parts: Vec<Part>| {
        let r = record(RecordKind::Event, 1, 0, 0);
        message_template(&on(7, r, 1, vec![Value::Template(parts)]), &dict)
    };
    let t = |s: &str| Part::Text(s.into());
    assert_eq!(
        message_template(&parse_attempt(7, 1, 2), &dict),
        "Parse attempt {}/{} failed, retrying with correction prompt"
    );
    // A Debug duration, a {:.2} score, a withheld path, a cut.
    assert_eq!(
        template(vec![
            t("found in "),
            t("1"),
            t("."),
            t("234"),
            t("ms"),
            t(": "),
            Part::Hole(23)
        ]),
        "found in {}: {}"
    );
    assert_eq!(
        template(vec![t("Low confidence ("), t("0."), t("62"), t(")")]),
        "Low confidence ({})"
    );
    assert_eq!(template(vec![t("at "), Part::Cut(40)]), "at {}");
    // Program text is scrubbed; a path written as program text too.
    assert_eq!(
        template(vec![t("mail ana@example.org at "), t("/home/ana/x")]),
        "mail <email> at <path>"
    );
    let literal = on(
        7,
        record(RecordKind::Event, 1, 0, 0),
        3,
        vec![Value::Message],
    );
    assert_eq!(message_template(&literal, &dict), "Model unloaded");
    let runtime = on(7, record(RecordKind::Event, 1, 0, 0), 1, vec![text("ana")]);
    assert_eq!(message_template(&runtime, &dict), "{}");
    let none = on(7, record(RecordKind::Event, 1, 0, 0), 1, vec![]);
    assert_eq!(message_template(&none, &dict), "event src/main.rs:1");
}

#[test]
fn an_invocation_spans_ingests_and_a_silent_one_is_given_up() {
    let dict = log_dictionary();
    let ms = 1_000_000;
    let t0 = 20_000 * time::DAY_NS;
    let mut a = Assembly::default();
    let mut first = Batch::default();
    for r in [
        start(100, t0),
        parse_attempt(100, t0 + ms, 1),
        start(200, t0 + 2 * ms),
        on(200, record(RecordKind::Event, t0 + 3 * ms, 0, 0), 2, vec![]),
    ] {
        a.fold(&r, &dict, &mut first);
    }
    a.give_up_stale(&mut first);
    assert!(first.invocations.is_empty(), "both still open");
    let key = CallsiteKey {
        day: 20_000,
        level: "WARN".into(),
        target: "host::agent".into(),
        message: "Parse attempt {}/{} failed, retrying with correction prompt".into(),
    };
    let once = CallsiteCount {
        events: 1,
        invocations: 1,
    };
    assert_eq!(first.callsites[&key], once);
    let open = a.open_traces();
    assert_eq!(open.len(), 2);
    assert!(open
        .iter()
        .all(|t| t.unfinished() && t.root().name == INVOCATION_SPAN));

    // The next ingest: the same warning again in the same invocation,
    // then its exit with status 3.
    let mut a = stored(&a);
    let mut second = Batch::default();
    for r in [
        parse_attempt(100, t0 + 4 * ms, 2),
        exit(100, t0 + 10 * ms, Some(3)),
    ] {
        a.fold(&r, &dict, &mut second);
    }
    a.give_up_stale(&mut second);
    assert_eq!(
        second.callsites[&key],
        CallsiteCount {
            events: 1,
            invocations: 0
        },
        "the invocation was counted for that callsite and day already"
    );
    assert_eq!(
        second.invocations,
        [InvocationRow {
            start_ns: t0,
            end_ns: t0 + 10 * ms,
            outcome: InvocationOutcome::Failed,
            status: Some(3),
            warnings: 2,
            errors: 0,
            version: Some("0.4.2".into()),
        }]
    );
    let (trace, kept) = &second.traces[0];
    assert_eq!(*kept, Kept::Error);
    assert_eq!(trace.duration_ns(), Some(10 * ms));
    assert_eq!(trace.root().events.len(), 2, "its events of both ingests");
    assert!(trace
        .root()
        .fields
        .contains(&("status".into(), FieldValue::I64(3))));
    let h = &second.histograms[&HistKey {
        day: 20_000,
        kind: HistKind::Invocation,
        name: String::new(),
        backend: String::new(),
    }];
    assert!(
        h.len() == 1 && h.equivalent(h.max(), 10_000),
        "10 ms, in µs"
    );

    // A day later something else records: pid 200, silent since its
    // ERROR event, never exited: killed.
    let mut third = Batch::default();
    let later = on(
        300,
        record(RecordKind::ThreadStart, t0 + 3 * ms + GIVE_UP_NS + 1, 0, 0),
        0,
        vec![Value::U64(300)],
    );
    a.fold(&later, &dict, &mut third);
    a.give_up_stale(&mut third);
    let row = &third.invocations[0];
    assert_eq!(
        (
            row.outcome,
            row.status,
            row.errors,
            row.end_ns - row.start_ns
        ),
        (InvocationOutcome::Unfinished, None, 1, ms),
        "given up at its last record"
    );
    let (trace, kept) = &third.traces[0];
    assert_eq!((*kept, trace.root().pid), (Kept::Error, 200));
    assert!(trace.unfinished());
    assert!(a.open_traces().is_empty());
}

#[test]
fn an_invocation_that_serves_requests_is_traced_by_them_and_ends_by_its_panic() {
    let dict = log_dictionary();
    let mut a = Assembly::default();
    let mut batch = Batch::default();
    for r in [
        start(7, 1),
        record(RecordKind::SpanNew, 2, 1, 0),
        on(7, record(RecordKind::Panic, 3, 1, 0), 0, vec![]),
        record(RecordKind::SpanClose, 4, 1, 0),
        // Exit status 0: the panic was caught, and still counts.
        exit(7, 5, Some(0)),
    ] {
        a.fold(&r, &dict, &mut batch);
    }
    assert_eq!(batch.invocations[0].outcome, InvocationOutcome::Panicked);
    assert_eq!(batch.requests.len(), 1);
    assert_eq!(
        batch.traces.len(),
        1,
        "the request's trace, not a second one"
    );
    assert_eq!(batch.traces[0].0.root().name, "<unknown callsite>");
    // Without a status, an ERROR event fails an invocation; without
    // either, it is ok.
    for (events, outcome) in [
        (vec![2], InvocationOutcome::Failed),
        (vec![1, 3], InvocationOutcome::Ok),
    ] {
        let mut batch = Batch::default();
        a.fold(&start(8, 10), &dict, &mut batch);
        for callsite in events {
            let r = record(RecordKind::Event, 11, 0, 0);
            a.fold(&on(8, r, callsite, vec![Value::Message]), &dict, &mut batch);
        }
        a.fold(&exit(8, 12, None), &dict, &mut batch);
        assert_eq!(batch.invocations[0].outcome, outcome);
    }
}

#[test]
fn a_request_that_loops_keeps_a_bounded_trace_and_counts_the_rest() {
    let dict = Dictionary::default();
    let mut a = Assembly::default();
    let mut batch = Batch::default();
    let mut fold = |r: Record| a.fold(&r, &dict, &mut batch);
    fold(record(RecordKind::SpanNew, 1, 1, 0));
    for i in 0..MAX_EVENTS as u32 + 10 {
        fold(record(RecordKind::Event, 2, 1, 0));
        fold(record(RecordKind::SpanNew, 3, 100 + i, 1));
        fold(record(RecordKind::SpanClose, 4, 100 + i, 0));
    }
    // A child of a span left out is left out too.
    fold(record(RecordKind::SpanNew, 5, 60_000, 1));
    fold(record(RecordKind::SpanNew, 5, 50_000, 60_000));
    fold(record(RecordKind::SpanClose, 6, 50_000, 0));
    fold(record(RecordKind::SpanClose, 6, 60_000, 0));
    fold(record(RecordKind::SpanClose, 6, 1, 0));
    assert_eq!(batch.requests.len(), 1, "the request is counted whole");
    let (trace, kept) = &batch.traces[0];
    assert_eq!(*kept, Kept::FirstOfDay);
    assert_eq!(trace.spans.len(), MAX_SPANS);
    assert_eq!(trace.spans[0].events.len(), MAX_EVENTS);
    assert_eq!(trace.left_out, 10 + 11 + 2);
    assert!(!trace.unfinished());
}
