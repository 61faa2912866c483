//! Live output, as caro's design promises it: `CARO_LOG_FORMAT=json` or
//! `=pretty` shows the host's events on stderr as they happen, and
//! `CARO_LOG_FILE` appends them to a file (0600). The lines are those
//! `caro-analyze logs` prints for the same records, because one renderer
//! makes both — shown here on the caro-like host, which ends as caro does
//! (`std::process::exit`), so what it logged last is shown at its exit.

use std::os::unix::fs::PermissionsExt;

use caro_tests::DataDir;

/// Runs the caro-like host for two requests (the static matcher, then the
/// embedded model through Ollama's failure) with `RUST_LOG=debug` and
/// `env`; returns its stderr, each request's after the other's.
fn host(home: &mut DataDir, env: &[(&str, &str)], plain_exit: bool) -> String {
    home.set_env("RUST_LOG", "debug");
    for (k, v) in env {
        home.set_env(k, v);
    }
    let mut stderr = String::new();
    for args in [
        &["list all pdf files"][..],
        &["--offline", "show disk usage of this folder"][..],
    ] {
        let mut args = args.to_vec();
        if plain_exit {
            args.insert(0, "--plain-exit");
        }
        let out = home.example("caro_like", &args);
        stderr.push_str(&String::from_utf8(out.stderr).unwrap());
    }
    stderr
}

fn logs(home: &DataDir, format: &str) -> String {
    let out = home.analyze_ok(&["logs", "--format", format]);
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn json_lines_live_are_the_lines_logs_prints() {
    let mut home = DataDir::new();
    let live = host(&mut home, &[("CARO_LOG_FORMAT", "json")], false);
    let logged = logs(&home, "json");
    assert!(logged.lines().count() >= 10, "{logged}");
    assert_eq!(live, logged);
    // Every line is one JSON object, with the host's pid.
    for line in live.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(v["pid"].as_u64().is_some(), "{line}");
    }
    // DEBUG is shown: RUST_LOG raises what is recorded, and so shown.
    assert!(live.contains(r#""level":"DEBUG""#), "{live}");
}

#[test]
fn pretty_lines_live_are_the_lines_logs_prints_even_after_a_plain_exit() {
    let mut home = DataDir::new();
    let live = host(&mut home, &[("CARO_LOG_FORMAT", "pretty")], true);
    let logged = logs(&home, "pretty");
    assert!(logged.lines().count() >= 20, "{logged}");
    assert_eq!(live, logged);
    // The last lines of each request — logged just before `exit` — are
    // there: the exit hook showed them.
    assert_eq!(live.matches("Request served in").count(), 2, "{live}");
}

#[test]
fn a_log_file_holds_the_same_lines_and_is_private() {
    let mut home = DataDir::new();
    let file = home.path().join("logs/caro.log");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let live = host(
        &mut home,
        &[
            ("CARO_LOG_FILE", file.to_str().unwrap()),
            ("CARO_LOG_FORMAT", "json"),
        ],
        false,
    );
    assert_eq!(live, "", "nothing on stderr when a file is asked for");
    let written = std::fs::read_to_string(&file).unwrap();
    assert_eq!(written, logs(&home, "json"));
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn no_live_output_unless_asked_and_a_bad_format_is_one_line() {
    let mut home = DataDir::new();
    assert_eq!(host(&mut home, &[], false), "");
    let mut home = DataDir::new();
    let err = host(&mut home, &[("CARO_LOG_FORMAT", "xml")], false);
    // Said once per process (two requests), and recording goes on.
    assert_eq!(err.lines().count(), 2, "{err}");
    assert!(err.contains("CARO_LOG_FORMAT"), "{err}");
    assert!(!logs(&home, "json").is_empty());
}

/// The host never waits for its live output: a flood outruns the printer,
/// and a line says how many records were not shown.
#[test]
fn a_host_faster_than_its_live_output_is_told_how_many_lines_it_missed() {
    const EVENTS: u64 = 200_000;
    let mut home = DataDir::new();
    home.set_env("CARO_LOG_FORMAT", "json");
    // Room for every record: none lost to a lap.
    home.set_env("CARO_RING_SIZE", "64M");
    let out = home.example("flood", &[&EVENTS.to_string()]);
    let stderr = String::from_utf8(out.stderr).unwrap();
    let shown = stderr.lines().filter(|l| l.starts_with('{')).count() as u64;
    let missed: u64 = stderr
        .lines()
        .filter_map(|l| {
            l.strip_prefix("caro-recorder: ")?
                .strip_suffix(" records not shown live (recorded faster than shown)")?
                .parse::<u64>()
                .ok()
        })
        .sum();
    assert!(
        missed > 0,
        "{EVENTS} events flooded without one line saying some were not shown ({shown} shown)"
    );
    // Every event is shown or counted. The count is of records: it may
    // include the process's start, thread start and exit, which are
    // recorded but never lines, and never more than the ring holds.
    let status: serde_json::Value =
        serde_json::from_slice(&home.analyze_ok(&["status", "--json"]).stdout).unwrap();
    let recorded = status["records"].as_u64().unwrap();
    assert!(
        (EVENTS..=recorded).contains(&(shown + missed)),
        "{shown} lines shown and {missed} said not shown, of {EVENTS} events ({recorded} records)"
    );
}
