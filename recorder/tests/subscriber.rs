//! The recorder as the global subscriber, read back with the decoder.

use caro_format::{decode, RecordKind, Value};

#[derive(Debug)]
enum Backend {
    Embedded,
}

#[test]
fn events_and_spans_come_back_decoded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("caro/events.ring");
    let guard = caro_recorder::Config::default()
        .ring_path(&path)
        .ring_size(1 << 20)
        .filter("debug")
        .init();
    assert!(guard.is_recording());
    let query = String::from("find my bank statements");
    {
        let span = tracing::info_span!("generate_command", backend = "embedded");
        let _e = span.enter();
        tracing::info!(query_length = query.len() as u64, confidence = 0.92, backend = ?Backend::Embedded, "generating command");
        tracing::info!(query = %query, "got it");
        tracing::info!("User query: {}", query);
        tracing::warn!(error = "backend_timeout", "slow");
        tracing::trace!("not recorded");
    }
    // Two callsites on one line differ only by their literal.
    for ok in [true, false, true] {
        connect(ok);
    }
    // A message that is a runtime string keeps only its length; so does
    // any string field built at run time, deny-listed or not.
    tracing::info!(message = query.as_str());
    tracing::info!(note = query.as_str(), "runtime field");
    // Many spans alive at once are all tracked: current span, close.
    let spans: Vec<_> = (0..300u64)
        .map(|i| tracing::info_span!("worker", i))
        .collect();
    for s in &spans {
        let _e = s.enter();
        assert_eq!(
            tracing::Span::current().metadata().map(|m| m.name()),
            Some("worker")
        );
    }
    drop(spans);
    drop(guard);

    let bytes = std::fs::read(&path).unwrap();
    let d = decode(&bytes).unwrap();
    let text = caro_format::text::canonical_text(&d);
    println!("{text}");
    assert!(!text.contains("bank"), "{text}");
    let events: Vec<_> = d
        .records
        .iter()
        .filter(|r| r.kind == RecordKind::Event)
        .collect();
    assert_eq!(events.len(), 9, "{text}");
    assert!(text.contains("note=<redacted 23 bytes>"), "{text}");
    assert_eq!(
        text.matches("message=\"connected to backend\"").count(),
        2,
        "{text}"
    );
    assert_eq!(
        text.matches("message=\"FAILED to connect\"").count(),
        1,
        "{text}"
    );
    assert_eq!(
        text.matches("message=<redacted 23 bytes>").count(),
        1,
        "{text}"
    );
    let closes = d
        .records
        .iter()
        .filter(|r| r.kind == RecordKind::SpanClose)
        .count();
    assert_eq!(closes, 301, "every span's close is recorded");
    let first = events[0];
    let span_new = d
        .records
        .iter()
        .find(|r| r.kind == RecordKind::SpanNew)
        .unwrap();
    assert_eq!(first.span, span_new.span);
    assert!(first.values.iter().any(|v| v.value == Value::U64(23)));
    assert!(text.contains("message=\"generating command\""), "{text}");
    assert!(text.contains("backend=\"Embedded\""), "{text}");
    assert!(text.contains("query=<redacted 23 bytes>"), "{text}");
    // A message with arguments keeps its literal pieces, not its argument.
    assert!(
        text.contains("message=\"User query: \"<redacted 23 bytes>"),
        "{text}"
    );
    assert!(d.records.iter().any(|r| r.kind == RecordKind::ProcessExit));
    assert!(d.records.iter().any(|r| r.kind == RecordKind::SpanClose));
}

#[rustfmt::skip]
fn connect(ok: bool) {
    if ok { tracing::info!("connected to backend") } else { tracing::info!("FAILED to connect") }
}
