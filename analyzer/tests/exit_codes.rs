//! The exit codes `caro-analyze --help` documents, each shown by a real
//! run: 0 success, 1 I/O error, 2 usage, 3 no data, 4 data error. A
//! script tells "nothing recorded yet" from "damaged" from "try again"
//! by the code alone.

mod common;

use std::path::Path;

use common::*;

/// Runs `caro-analyze args` with its data folder in `home`; returns the
/// exit code and stderr.
fn exit_code(home: &Path, args: &[&str]) -> (Option<i32>, String) {
    let o = run(analyze(args).env("XDG_CACHE_HOME", home));
    (o.status.code(), stderr(&o))
}

/// Checks that `args` fails with `code` and one line naming `what`.
fn fails_with(home: &Path, args: &[&str], code: i32, what: &str) {
    let (got, err) = exit_code(home, args);
    assert_eq!(got, Some(code), "{args:?}: {err}");
    assert_eq!(err.lines().count(), 1, "{args:?}: one line, got {err:?}");
    assert!(err.starts_with("caro-analyze: error: "), "{err:?}");
    assert!(err.contains(what), "{args:?}: {err:?} should say {what:?}");
}

#[test]
fn help_lists_every_exit_code() {
    let o = run(&mut analyze(&["--help"]));
    assert_eq!(o.status.code(), Some(0));
    let help = stdout(&o);
    let table = help
        .split_once("Exit codes:\n")
        .map(|(_, t)| t)
        .unwrap_or_else(|| panic!("no exit codes in:\n{help}"));
    let codes: Vec<&str> = table
        .lines()
        .filter_map(|l| l.strip_prefix("  ")?.split_once("  "))
        .map(|(code, _)| code)
        // Continued lines start with spaces only.
        .filter(|code| !code.is_empty())
        .collect();
    assert_eq!(codes, ["0", "1", "2", "3", "4"], "{table}");
    for word in ["success", "I/O error", "usage", "no data", "data error"] {
        assert!(table.contains(word), "{word} in\n{table}");
    }
}

#[test]
fn zero_when_the_command_did_its_job() {
    let home = tempfile::tempdir().unwrap();
    let ring = home.path().join("events.ring");
    RingBuilder::new(T0).write_to(&ring);
    let (code, err) = exit_code(
        home.path(),
        &["status", "--json", "--ring", ring_str(&ring)],
    );
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn one_for_a_file_that_cannot_be_read() {
    let home = tempfile::tempdir().unwrap();
    let folder = home.path().join("events.ring");
    std::fs::create_dir(&folder).unwrap();
    fails_with(
        home.path(),
        &["logs", "--ring", ring_str(&folder)],
        1,
        "is a folder, not a regular file",
    );
}

#[test]
fn two_for_a_wrong_argument_or_setting() {
    let home = tempfile::tempdir().unwrap();
    // clap's own: a value out of range.
    let (code, err) = exit_code(home.path(), &["report", "--days", "0"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--days"), "{err}");
    // A value the command itself refuses.
    fails_with(
        home.path(),
        &["export", "--format", "jsonl", "--since", "last tuesday"],
        2,
        "--since",
    );
    fails_with(home.path(), &["traces", "not-an-id"], 2, "the trace id");
}

#[test]
fn three_when_there_is_nothing_to_read() {
    let home = tempfile::tempdir().unwrap();
    let missing = home.path().join("events.ring");
    fails_with(
        home.path(),
        &["logs", "--ring", ring_str(&missing)],
        3,
        "no ring at",
    );
    // An empty store holds no trace of that id.
    fails_with(
        home.path(),
        &["traces", "--no-ingest", "0123456789abcdef0123456789abcdef"],
        3,
        "no trace 0123456789abcdef0123456789abcdef",
    );
}

#[test]
fn four_for_a_damaged_or_foreign_file() {
    let home = tempfile::tempdir().unwrap();
    let ring = home.path().join("text.ring");
    std::fs::write(&ring, "hello, world\n").unwrap();
    fails_with(
        home.path(),
        &["logs", "--ring", ring_str(&ring)],
        4,
        "not a caro ring file",
    );
    // A store that is not SQLite at all.
    let caro = home.path().join("caro");
    std::fs::create_dir(&caro).unwrap();
    std::fs::write(caro.join("metrics.db"), "not a database, not ours").unwrap();
    fails_with(
        home.path(),
        &["report", "--no-ingest"],
        4,
        "is not a caro metrics store",
    );
}

fn ring_str(p: &Path) -> &str {
    p.to_str().unwrap()
}
