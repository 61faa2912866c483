//! Bad input, end to end: every case is one line on stderr naming what is
//! wrong and where, the exit code `--help` gives for it (1 I/O, 3 no data,
//! 4 damaged data), nothing on stdout, never a panic.

mod common;

use std::path::Path;

use common::*;

/// The exit codes of `caro-analyze --help`.
const IO: i32 = 1;
const NO_DATA: i32 = 3;
const DATA: i32 = 4;

/// Runs `logs` and `status` on `path` and checks both fail cleanly with
/// exit code `code` and a message containing `what`; returns the message
/// of `logs`.
fn fails(path: &Path, code: i32, what: &str) -> String {
    let mut first = None;
    for args in [&["logs", "--ring"][..], &["status", "--json", "--ring"][..]] {
        let o = run(analyze(args).arg(path));
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(code), "{args:?} {path:?}: {err}");
        assert_eq!(stdout(&o), "", "{args:?} {path:?}");
        assert_eq!(
            err.lines().count(),
            1,
            "{args:?} {path:?}: one line, got {err:?}"
        );
        assert!(err.ends_with('\n'));
        assert!(err.starts_with("caro-analyze: error: "), "{err:?}");
        assert!(err.contains(what), "{args:?}: {err:?} should say {what:?}");
        assert!(
            !err.contains("panicked") && !err.contains("backtrace"),
            "{err:?}"
        );
        first.get_or_insert(err);
    }
    first.unwrap()
}

#[test]
fn a_missing_ring() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.ring");
    let err = fails(&path, NO_DATA, "no ring at");
    assert!(err.contains(&path.display().to_string()), "{err}");
    // The commands that ingest first: a ring named with --ring must exist
    // (their default ring may not, and the store is read as it is).
    let home = tempfile::tempdir().unwrap();
    for args in [
        &["report", "--ring"][..],
        &["traces", "--ring"][..],
        &["export", "--format", "jsonl", "--ring"][..],
    ] {
        let o = run(analyze(args).arg(&path).env("XDG_CACHE_HOME", home.path()));
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(NO_DATA), "{args:?}: {err}");
        assert_eq!(stdout(&o), "", "{args:?}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err:?}");
        assert!(err.contains("no ring at"), "{args:?}: {err:?}");
    }
    // Without --ring, a missing default ring is nothing recorded yet.
    let o = run(analyze(&["report", "--json"]).env("XDG_CACHE_HOME", home.path()));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn a_file_that_is_not_a_ring() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in [
        ("text.ring", &b"hello, world\n"[..]),
        ("empty.ring", &b""[..]),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let err = fails(&path, DATA, "not a caro ring file");
        assert!(err.contains(&path.display().to_string()), "{err}");
    }
}

#[test]
fn a_truncated_ring() {
    let dir = tempfile::tempdir().unwrap();
    let b = RingBuilder::new(T0);
    let path = dir.path().join("events.ring");
    std::fs::write(&path, &b.bytes[..b.bytes.len() / 2]).unwrap();
    fails(&path, DATA, "truncated");
    // Cut inside the header itself.
    std::fs::write(&path, &b.bytes[..100]).unwrap();
    fails(&path, DATA, "truncated");
}

#[test]
fn a_newer_major_version() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = RingBuilder::new(T0);
    b.bytes[8..10].copy_from_slice(&2u16.to_le_bytes());
    b.bytes[10..12].copy_from_slice(&0u16.to_le_bytes());
    let path = dir.path().join("events.ring");
    b.write_to(&path);
    let err = fails(&path, DATA, "v2.0 is newer than this reader");
    assert!(err.contains("upgrade caro-analyze"), "{err}");
}

#[test]
fn a_corrupt_header() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = RingBuilder::new(T0);
    b.bytes[20..24].copy_from_slice(&0u32.to_le_bytes()); // no lanes
    let path = dir.path().join("events.ring");
    b.write_to(&path);
    fails(&path, DATA, "corrupt ring header: lane count");
}

#[test]
fn paths_that_cannot_be_read() {
    let dir = tempfile::tempdir().unwrap();
    fails(dir.path(), IO, "is a folder, not a regular file");
    let target = dir.path().join("target");
    std::fs::write(&target, "x").unwrap();
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    fails(&link, IO, "is a symbolic link, not a regular file");
    let file = dir.path().join("file");
    std::fs::write(&file, "x").unwrap();
    fails(&file.join("events.ring"), IO, "cannot read");
}

#[test]
fn a_file_larger_than_any_ring_is_refused_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.ring");
    // Sparse: no disk space is used, and reading it would take 8 GiB.
    let f = std::fs::File::create(&path).unwrap();
    f.set_len((8 << 30) + 1).unwrap();
    drop(f);
    let started = std::time::Instant::now();
    fails(&path, DATA, "larger than a ring can be");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

#[test]
fn follow_fails_the_same_way_before_it_starts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.ring");
    let o = run(analyze(&["logs", "--follow", "--ring"]).arg(&path));
    assert_eq!(o.status.code(), Some(NO_DATA));
    assert_eq!(stderr(&o).lines().count(), 1);
}
