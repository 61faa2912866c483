//! The recorder never fails its host: whatever is wrong with the data
//! folder or the ring, the host runs to completion and one line on stderr
//! says why nothing was recorded. And the environment is honoured.

use std::os::unix::fs::PermissionsExt;

use caro_tests::DataDir;

fn stderr_lines(out: &std::process::Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn an_unusable_data_folder_disables_recording_with_one_line() {
    let home = DataDir::new();
    // The data folder's parent is a regular file: nothing can be created.
    std::fs::write(home.path().join("caro"), b"not a folder").unwrap();
    let out = home.sim(&["--queries", "20", "--seed", "1"]);
    let lines = stderr_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("caro-recorder: recording disabled: "),
        "{lines:?}"
    );
}

/// caro keeps its downloaded models in `~/.cache/caro` (mode 0755): the
/// recorder is a guest there, records into it and changes nothing of it.
#[test]
fn the_hosts_own_data_folder_is_used_and_left_as_it_was() {
    use std::os::unix::fs::MetadataExt;
    let home = DataDir::new();
    let dir = home.caro_dir();
    std::fs::create_dir_all(dir.join("models")).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = home.sim(&["--queries", "3", "--seed", "1"]);
    assert_eq!(stderr_lines(&out), Vec::<String>::new(), "nothing to say");
    assert_eq!(std::fs::metadata(&dir).unwrap().mode() & 0o777, 0o755);
    assert_eq!(
        std::fs::metadata(home.ring()).unwrap().mode() & 0o777,
        0o600,
        "the recorder's own file is private"
    );
    assert!(!home.logs_json().is_empty(), "it recorded");

    // Writable by others, it is not safe to record into: refused in one
    // line, and still not changed.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let mut home = home;
    let home_folder = home.path().to_str().unwrap().to_owned();
    home.set_env("HOME", &home_folder);
    let out = home.sim(&["--queries", "3", "--seed", "2"]);
    let lines = stderr_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("writable by other users"), "{lines:?}");
    // The folder named as caro prints paths: the home folder as `~`.
    assert!(lines[0].contains(" ~/caro: "), "{lines:?}");
    assert_eq!(std::fs::metadata(&dir).unwrap().mode() & 0o777, 0o777);
}

/// A host that ends with `std::process::exit`, as the real caro does,
/// through `Guard::exit` or the guard left alive (then the recorder's
/// exit hook records it, inside `exit`): its exit is recorded once, with
/// its status.
#[test]
fn a_host_that_calls_exit_records_its_exit_and_status() {
    for (how, status) in [("--status", "3"), ("--plain-exit", "4")] {
        let home = DataDir::new();
        let mut args = vec!["--status", status, "list", "all", "pdf", "files"];
        if how == "--plain-exit" {
            args.insert(0, how);
        }
        let out = home
            .command(&caro_tests::bins().example("caro_like"))
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(status.parse().unwrap()), "{out:?}");
        let ring = caro_format::decode(&std::fs::read(home.ring()).unwrap()).unwrap();
        let text = caro_format::text::canonical_text(&ring);
        let exits: Vec<&str> = text
            .lines()
            .filter(|l| l.contains(" PROCESS_EXIT "))
            .collect();
        assert_eq!(exits.len(), 1, "{how}: {text}");
        assert!(
            exits[0].ends_with(&format!(" status={status}")),
            "{how}: {exits:?}"
        );
    }
}

#[test]
fn a_ring_of_a_newer_major_version_is_left_alone() {
    let home = DataDir::new();
    home.sim(&["--queries", "5", "--seed", "1"]);
    let mut bytes = std::fs::read(home.ring()).unwrap();
    bytes[8] = 2; // version_major
    std::fs::write(home.ring(), &bytes).unwrap();
    let out = home.sim(&["--queries", "5", "--seed", "2"]);
    let lines = stderr_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let newer = format!("v2.{} is newer", caro_format::layout::VERSION_MINOR);
    assert!(lines[0].contains(&newer), "{lines:?}");
    assert_eq!(
        std::fs::read(home.ring()).unwrap(),
        bytes,
        "the newer ring is untouched"
    );
    let analyze = home.analyze(&["logs"]);
    assert_eq!(analyze.status.code(), Some(4), "a data error: a newer ring");
    assert_eq!(stderr_lines(&analyze).len(), 1);
}

#[test]
fn a_foreign_file_at_the_ring_path_is_not_overwritten() {
    let home = DataDir::new();
    let folder = home.ring().parent().unwrap().to_owned();
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::write(home.ring(), b"precious user data").unwrap();
    std::fs::set_permissions(home.ring(), std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = home.sim(&["--queries", "5", "--seed", "1"]);
    let lines = stderr_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("not a caro ring file"), "{lines:?}");
    assert_eq!(std::fs::read(home.ring()).unwrap(), b"precious user data");
    let mode = std::fs::metadata(home.ring()).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o644, "its mode is not touched either");
}

#[test]
fn caro_log_off_records_nothing() {
    let mut home = DataDir::new();
    home.env.push(("CARO_LOG".into(), "off".into()));
    let out = home.sim(&["--queries", "20", "--seed", "1"]);
    assert!(stderr_lines(&out).is_empty());
    assert!(!home.ring().exists());
}

/// `RUST_LOG` raises what is recorded, never lowers it below INFO: a host
/// that quiets its console (caro's `caro=warn`) keeps its flight recorder.
#[test]
fn rust_log_raises_what_is_recorded_and_never_silences_it() {
    let levels_of = |lines: &[serde_json::Value], target: &str| {
        lines
            .iter()
            .filter(|l| l["target"].as_str().is_some_and(|t| t.starts_with(target)))
            .map(|l| l["level"].as_str().unwrap().to_owned())
            .collect::<std::collections::BTreeSet<_>>()
    };
    let mut home = DataDir::new();
    home.env
        .push(("RUST_LOG".into(), "caro::agent=debug,warn".into()));
    home.sim(&["--queries", "40", "--seed", "3"]);
    let lines = home.logs_json();
    assert!(levels_of(&lines, "caro::agent").contains("DEBUG"));
    // Not raised for other targets: caro::backends' TRACE events stay out.
    assert!(levels_of(&lines, "caro::backends").is_empty());
    assert!(levels_of(&lines, "caro::agent").contains("INFO"));

    for quiet in ["warn", "caro=off", "[process_query]=debug"] {
        let mut home = DataDir::new();
        home.env.push(("RUST_LOG".into(), quiet.into()));
        let out = home.sim(&["--queries", "10", "--seed", "3"]);
        let lines = home.logs_json();
        assert!(
            levels_of(&lines, "caro").contains("INFO"),
            "RUST_LOG={quiet} silenced the recorder"
        );
        // A directive it cannot use is said once, never silently dropped.
        let said = stderr_lines(&out);
        if quiet.starts_with('[') {
            assert_eq!(said.len(), 1, "{said:?}");
            assert!(said[0].contains("recording INFO and above"), "{said:?}");
        } else {
            assert!(said.is_empty(), "{said:?}");
        }
    }
}

#[test]
fn panics_are_recorded_without_their_message() {
    let home = DataDir::new();
    let truth = home.path().join("truth.json");
    home.sim(&[
        "--queries",
        "3000",
        "--seed",
        "4",
        "--panics",
        "--truth",
        truth.to_str().unwrap(),
    ]);
    let truth: serde_json::Value = serde_json::from_slice(&std::fs::read(&truth).unwrap()).unwrap();
    let panics = truth["panics"].as_u64().unwrap();
    assert!(panics > 0, "the seed gives some panics");
    let lines = home.logs_json();
    let recorded: Vec<_> = lines.iter().filter(|l| l["target"] == "panic").collect();
    assert_eq!(recorded.len() as u64, panics);
    assert!(
        recorded[0]["fields"]["line"].as_u64().is_some(),
        "{}",
        recorded[0]
    );
    let ring = std::fs::read(home.ring()).unwrap();
    assert!(
        !ring.windows(13).any(|w| w == b"simulated bug"),
        "a panic message reached the ring"
    );
}

#[test]
fn records_written_before_an_abort_survive_it() {
    let home = DataDir::new();
    let truth = home.path().join("truth.json");
    let out = home
        .spawn_sim(&[
            "--queries",
            "100",
            "--seed",
            "6",
            "--threads",
            "2",
            "--abort",
            "--truth",
            truth.to_str().unwrap(),
        ])
        .wait_with_output()
        .unwrap();
    assert!(!out.status.success(), "the sim aborted");
    let truth: serde_json::Value = serde_json::from_slice(&std::fs::read(&truth).unwrap()).unwrap();
    let lines = home.logs_json();
    assert_eq!(
        caro_tests::counts(caro_tests::logged_events(&lines)),
        caro_tests::counts(caro_tests::truth_events(&truth))
    );
    let status = home.status_json();
    assert_eq!(status["corrupt"], 0, "{status}");
}

#[test]
fn the_data_folder_and_ring_are_private_to_the_user() {
    use std::os::unix::fs::PermissionsExt;
    let home = DataDir::new();
    home.sim(&["--queries", "2", "--seed", "1"]);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(home.ring().parent().unwrap()), 0o700);
    assert_eq!(mode(&home.ring()), 0o600);
}

/// A host run by a test (this test binary is its parent) keeps out of the
/// user's ring — `~/.cache/caro`, no `XDG_CACHE_HOME` — silently, unless
/// the test asks with `CARO_LOG=on` or names a data folder.
#[test]
fn a_host_run_by_a_test_spares_the_users_ring_unless_asked() {
    let home = DataDir::new();
    let users_ring = home.path().join(".cache/caro/events.ring");
    let run = |caro_log: Option<&str>| {
        let mut c = home.command(&caro_tests::bins().sim);
        c.env_remove("XDG_CACHE_HOME")
            .env("HOME", home.path())
            .args(["--queries", "3", "--seed", "1"]);
        if let Some(v) = caro_log {
            c.env("CARO_LOG", v);
        }
        let out = c.output().unwrap();
        assert!(out.status.success());
        stderr_lines(&out)
    };
    assert_eq!(run(None), Vec::<String>::new(), "silently");
    assert!(!users_ring.exists());
    assert_eq!(run(Some("on")), Vec::<String>::new());
    assert!(users_ring.exists(), "CARO_LOG=on asks for it");
    // With XDG_CACHE_HOME, as every other test here, it records there.
    let named = DataDir::new();
    named.sim(&["--queries", "3", "--seed", "1"]);
    assert!(named.ring().exists());
}
