//! A host's own tests, as a host writes them with `caro_recorder::testing`:
//! each test asserts a message and a field of what it logged, side by side
//! on `cargo test`'s threads, and none of them writes into the user's data
//! folder.

use std::path::PathBuf;
use std::time::SystemTime;

use caro_recorder::testing::capture;
use tracing::Level;

/// The user's ring as it was: its size and modification time, if any.
fn users_ring() -> Option<(u64, SystemTime)> {
    let path: PathBuf = caro_recorder::paths::data_dir()?.join(caro_recorder::paths::RING_FILE);
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.len(), meta.modified().ok()?))
}

/// A host function that logs the way caro does.
fn generate(backend: &'static str, query: &str) -> usize {
    tracing::info!(backend, "generating command");
    tracing::debug!("Processing query: {}", query);
    if backend == "ollama" {
        tracing::warn!(attempt = 2u64, "Ollama unavailable, falling back");
    }
    query.len()
}

#[test]
fn each_test_sees_its_own_events() {
    let threads: Vec<_> = ["embedded", "ollama", "static", "mlx"]
        .into_iter()
        .map(|backend| {
            std::thread::spawn(move || {
                let logs = capture();
                for _ in 0..50 {
                    generate(backend, "find my tax returns");
                }
                let events = logs.events();
                // Only this thread's: 50 requests, 2 or 3 events each.
                let per_request = if backend == "ollama" { 3 } else { 2 };
                assert_eq!(events.len(), 50 * per_request, "{backend}");
                logs.assert_logged(Level::INFO, "generating command")
                    .assert_field("backend", backend);
                assert!(events
                    .iter()
                    .all(|e| e.field("backend").is_none_or(|b| b == backend)));
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn a_message_with_arguments_is_asserted_as_recorded() {
    let logs = capture();
    // Run-time text, as a user's query is (a literal would be program
    // text, and kept).
    let query = String::from("show my private photos");
    generate("ollama", &query);
    let e = logs.assert_logged(Level::DEBUG, "Processing query: ");
    assert_eq!(e.message(), "Processing query: <redacted 22 bytes>");
    assert_eq!(e.target(), "testing");
    logs.assert_logged(Level::WARN, "falling back")
        .assert_field("attempt", 2);
    assert!(!logs.contains("private"));
}

#[test]
fn a_missing_event_fails_with_what_was_logged() {
    let logs = capture();
    generate("embedded", "q");
    let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        logs.assert_logged(Level::ERROR, "generating command");
    }));
    let message = *failed.unwrap_err().downcast::<String>().unwrap();
    assert!(message.starts_with("no ERROR event"), "{message}");
    assert!(
        message.contains("INFO testing: generating command backend=embedded"),
        "{message}"
    );
}

#[test]
fn captures_leave_the_users_data_folder_untouched() {
    let before = users_ring();
    for _ in 0..4 {
        let logs = capture();
        generate("embedded", "q");
        assert!(logs.contains("generating command"));
    }
    assert_eq!(users_ring(), before);
}
