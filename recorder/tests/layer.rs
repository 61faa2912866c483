//! The recorder as a layer beside a host's own `fmt` layer: both see the
//! events, the recorder applies only its own filter, span trees survive.

use caro_format::{decode, RecordKind};
use tracing_subscriber::prelude::*;

#[test]
fn layer_records_beside_fmt_with_its_own_filter() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.ring");
    let (recorder, guard) = caro_recorder::Config::default()
        .ring_path(&path)
        .ring_size(1 << 20)
        .filter("caro=debug,warn")
        .layer();
    assert!(guard.is_recording());
    let fmt_lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
    let sink = fmt_lines.clone();
    let subscriber = tracing_subscriber::registry().with(recorder).with(
        tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(move || SinkWriter(sink.clone())),
    );
    tracing::subscriber::with_default(subscriber, || {
        let outer = tracing::info_span!(target: "caro::agent", "process_query", intent = "git");
        let _o = outer.enter();
        let inner =
            tracing::info_span!(target: "caro::agent", "generate_command", backend = "static");
        let _i = inner.enter();
        tracing::debug!(target: "caro::agent", tokens = 12u64, "tokenized");
        // A panic names the span it happened in, so a reader can tell
        // which request it broke.
        let caught = std::panic::catch_unwind(|| panic!("simulated bug"));
        assert!(caught.is_err());
        tracing::debug!(target: "other::crate", "not for the recorder");
        // Its floor: `warn` does not lower what it records below INFO.
        tracing::info!(target: "other::crate", "kept at the floor");
        tracing::warn!(target: "other::crate", "but warnings are");
    });
    drop(guard);

    let fmt = String::from_utf8(fmt_lines.lock().unwrap().clone()).unwrap();
    assert!(
        fmt.contains("not for the recorder"),
        "the host's layer is not filtered by ours: {fmt}"
    );

    let d = decode(&std::fs::read(&path).unwrap()).unwrap();
    let text = caro_format::text::canonical_text(&d);
    assert!(!text.contains("not for the recorder"), "{text}");
    assert!(text.contains("\"but warnings are\""), "{text}");
    assert!(text.contains("\"kept at the floor\""), "{text}");
    let spans: Vec<_> = d
        .records
        .iter()
        .filter(|r| r.kind == RecordKind::SpanNew)
        .collect();
    assert_eq!(spans.len(), 2, "{text}");
    assert_eq!(
        spans[1].parent, spans[0].span,
        "the tree is rebuilt from parent ids"
    );
    let tokenized = d
        .records
        .iter()
        .find(|r| text_of(r, &d).contains("tokenized"))
        .unwrap();
    assert_eq!(tokenized.span, spans[1].span, "events name their span");
    let panic = d.records.iter().find(|r| r.kind == RecordKind::Panic);
    assert_eq!(panic.map(|p| p.span), Some(spans[1].span), "{text}");
    let closes = d
        .records
        .iter()
        .filter(|r| r.kind == RecordKind::SpanClose)
        .count();
    assert_eq!(closes, 2, "{text}");
}

#[test]
fn span_entries_and_exits_are_recorded_only_when_asked() {
    let kinds = |enter_exit: bool| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.ring");
        let (recorder, guard) = caro_recorder::Config::default()
            .ring_path(&path)
            .ring_size(1 << 20)
            .span_enter_exit(enter_exit)
            // The other test's panic must reach its own ring.
            .panic_hook(false)
            .layer();
        let subscriber = tracing_subscriber::registry().with(recorder);
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("work", n = 1u64);
            for _ in 0..3 {
                let _in = span.enter();
            }
        });
        drop(guard);
        let d = decode(&std::fs::read(&path).unwrap()).unwrap();
        let count = |k| d.records.iter().filter(|r| r.kind == k).count();
        [
            count(RecordKind::SpanNew),
            count(RecordKind::SpanEnter),
            count(RecordKind::SpanExit),
            count(RecordKind::SpanClose),
        ]
    };
    assert_eq!(kinds(false), [1, 0, 0, 1]);
    assert_eq!(kinds(true), [1, 3, 3, 1]);
}

fn text_of(r: &caro_format::Record, d: &caro_format::Decoded) -> String {
    caro_format::text::record_line(r, None, &d.dictionary)
}

struct SinkWriter(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for SinkWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
