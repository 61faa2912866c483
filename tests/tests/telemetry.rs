//! `caro-analyze telemetry`: off unless turned on, any "off" wins, the
//! status says why, and the preview holds exactly the documented figures.

use caro_tests::DataDir;

fn telemetry(home: &DataDir, args: &[&str]) -> String {
    let out = home.analyze(&[&["telemetry"], args].concat());
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

fn state(status: &str) -> (&str, &str) {
    let line = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_else(|| panic!("no {key:?} line in {status}"))
    };
    (line("telemetry: "), line("why: "))
}

#[test]
fn sharing_is_off_unless_turned_on_and_any_off_wins() {
    let mut home = DataDir::new();
    let status = telemetry(&home, &["status"]);
    assert_eq!(
        state(&status),
        ("off", "the default; nothing turns it on"),
        "{status}"
    );
    assert!(status.contains("Nothing is sent"), "{status}");

    let enabled = telemetry(&home, &["enable"]);
    assert_eq!(state(&enabled).0, "on", "{enabled}");
    let choice = std::fs::read_to_string(home.caro_dir().join("telemetry.json")).unwrap();
    assert_eq!(choice.trim(), r#"{"enabled":true}"#);

    // The flag and the environment each win over the config's "on".
    let flagged = telemetry(&home, &["status", "--no-telemetry"]);
    assert_eq!(state(&flagged).0, "off", "{flagged}");
    assert!(state(&flagged).1.contains("--no-telemetry"), "{flagged}");
    home.set_env("CARO_TELEMETRY", "0");
    let env_off = telemetry(&home, &["status"]);
    assert_eq!(
        state(&env_off),
        (
            "off",
            r#"CARO_TELEMETRY=0 turns it off (any "off" wins over telemetry.json's "on")"#
        ),
        "{env_off}"
    );
    // Something not understood is off too.
    home.set_env("CARO_TELEMETRY", "perhaps");
    assert_eq!(state(&telemetry(&home, &["status"])).0, "off");

    // The environment alone can turn it on, but not over a "disable".
    home.set_env("CARO_TELEMETRY", "1");
    telemetry(&home, &["disable"]);
    let disabled = telemetry(&home, &["status"]);
    assert_eq!(state(&disabled).0, "off", "{disabled}");
    std::fs::remove_file(home.caro_dir().join("telemetry.json")).unwrap();
    assert_eq!(state(&telemetry(&home, &["status"])).0, "on");

    // A damaged choice file counts as off.
    std::fs::write(home.caro_dir().join("telemetry.json"), "{enabled").unwrap();
    let damaged = telemetry(&home, &["status"]);
    assert_eq!(state(&damaged).0, "off", "{damaged}");
    assert!(state(&damaged).1.contains("cannot be read"), "{damaged}");
}

#[test]
fn the_preview_holds_exactly_the_documented_figures() {
    let home = DataDir::new();
    home.sim(&["--queries", "200", "--seed", "4"]);
    let preview: serde_json::Value = serde_json::from_str(&telemetry(&home, &["preview"])).unwrap();
    let keys: Vec<&str> = preview
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "caro_version",
            "os_family",
            "window_days",
            "requests",
            "success_rate",
            "backends",
            "errors",
            "recorder"
        ]
    );
    assert_eq!(preview["caro_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(preview["os_family"], std::env::consts::OS);
    assert_eq!(preview["requests"], 200);
    let shares: f64 = preview["backends"]
        .as_object()
        .unwrap()
        .values()
        .map(|b| {
            let figures: Vec<&str> = b.as_object().unwrap().keys().map(String::as_str).collect();
            assert_eq!(figures, ["share", "p50_ms", "p95_ms", "p99_ms"]);
            b["share"].as_f64().unwrap()
        })
        .sum();
    assert!((shares - 1.0).abs() < 1e-9, "{preview}");
    let health: Vec<&str> = preview["recorder"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        health,
        ["written", "lost", "abandoned", "dropped", "corrupt"]
    );
    // The same figures the report gives.
    let out = home.analyze(&["report", "--json", "--no-ingest"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(preview["success_rate"], report["success_rate"]);
    assert_eq!(preview["errors"], report["errors"]);
}
