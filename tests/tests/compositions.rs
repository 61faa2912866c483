//! The recorder as a layer in every usual `tracing_subscriber` stack, each
//! in a process of its own (`recorder/examples/compose.rs`): none panics
//! its host, each records the process's exit, and each records what its
//! stack lets it see — everything at INFO and above, unless a global
//! filter in the stack hides it.

use caro_tests::DataDir;

/// Runs `compose STACK` and returns the messages recorded, with the
/// span each was in.
fn recorded(stack: &str, rust_log: Option<&str>) -> Vec<(String, String)> {
    let mut home = DataDir::new();
    if let Some(directives) = rust_log {
        home.set_env("RUST_LOG", directives);
    }
    let out = home.example("compose", &[stack]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stack}: {stderr}");
    assert!(
        !stderr.contains("caro-recorder:"),
        "{stack}: the recorder had something to say: {stderr}"
    );
    let ring = caro_format::decode(&std::fs::read(home.ring()).unwrap()).unwrap();
    let exits = caro_format::text::canonical_text(&ring)
        .lines()
        .filter(|l| l.contains(" PROCESS_EXIT "))
        .count();
    assert_eq!(exits, 1, "{stack}: one exit recorded");
    home.logs_json()
        .iter()
        .map(|l| {
            let message = l["fields"]["message"].as_str().unwrap_or_default();
            let span = l["span"]["name"].as_str().unwrap_or_default();
            (
                format!("{} {message}", l["level"].as_str().unwrap()),
                span.to_owned(),
            )
        })
        .collect()
}

fn owned(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(m, s)| (m.to_string(), s.to_string()))
        .collect()
}

/// What a stack that does not filter globally lets the recorder keep: its
/// floor, INFO, and above, the span included; DEBUG is not recorded.
const INFO_AND_UP: [(&str, &str); 3] = [
    ("INFO info event", ""),
    ("WARN warn event", ""),
    ("INFO info event in a span", "request"),
];

#[test]
fn every_stack_without_a_global_filter_records_info_and_up() {
    for stack in ["registry", "console-filter", "layered", "boxed"] {
        assert_eq!(recorded(stack, None), owned(&INFO_AND_UP), "{stack}");
    }
}

/// The stack logs twice, its console's filter reloaded in between: the
/// recorder, itself in a `reload::Layer`, keeps both rounds.
#[test]
fn a_reloaded_stack_records_both_rounds() {
    let twice: Vec<_> = INFO_AND_UP.iter().chain(&INFO_AND_UP).copied().collect();
    assert_eq!(recorded("reload", None), owned(&twice));
}

/// `fmt().with_env_filter(..).finish().with(recorder)` used to panic the
/// host at start-up; now it runs, and its global filter limits what the
/// recorder sees, as the README says.
#[test]
fn a_global_filter_limits_what_the_recorder_sees_and_panics_nothing() {
    for stack in ["fmt-finish", "env-filter"] {
        assert_eq!(
            recorded(stack, None),
            owned(&[("WARN warn event", "")]),
            "{stack}"
        );
    }
}

/// `RUST_LOG` raises what the layer records, as it does for the
/// subscriber, whatever the console shows.
#[test]
fn rust_log_raises_what_the_layer_records() {
    let mut expected = owned(&[("DEBUG debug event", "")]);
    expected.extend(owned(&INFO_AND_UP));
    assert_eq!(recorded("console-filter", Some("compose=debug")), expected);
}
