//! `caro-analyze completions SHELL` and `caro-analyze man`, as a user
//! installs them: scripts the shells read, naming every command, and a
//! manual page `man` renders, describing every command.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::*;

/// The commands a user can run (clap's `help` aside).
const COMMANDS: [&str; 12] = [
    "logs",
    "status",
    "ingest",
    "report",
    "gc",
    "clear",
    "traces",
    "export",
    "serve",
    "telemetry",
    "completions",
    "man",
];

/// Whether `program` can be run here.
fn installed(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

fn output_of(args: &[&str]) -> String {
    let o = run(&mut analyze(args));
    assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
    assert_eq!(stderr(&o), "", "{args:?}");
    stdout(&o)
}

#[test]
fn completion_scripts_name_every_command() {
    for shell in ["bash", "zsh", "fish"] {
        let script = output_of(&["completions", shell]);
        assert!(script.lines().count() > 20, "{shell}: {script}");
        for command in COMMANDS {
            assert!(
                script.contains(command),
                "{shell}: no {command} in\n{script}"
            );
        }
        // Options of the commands too, such as traces' new ones.
        assert!(script.contains("slowest"), "{shell}");
    }
    // bash reads its script without a syntax error, and it registers the
    // completion for the command.
    if installed("bash") {
        let script = output_of(&["completions", "bash"]);
        let o = Command::new("bash")
            .args(["--norc", "--noprofile", "-c"])
            .arg(format!("{script}\ncomplete -p caro-analyze"))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("caro-analyze"),
            "{o:?}"
        );
    }
}

#[test]
fn an_unknown_shell_is_a_usage_error() {
    let o = run(&mut analyze(&["completions", "tcsh"]));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn the_manual_page_describes_every_command_and_the_exit_codes() {
    let page = output_of(&["man"]);
    assert!(page.contains(".TH caro-analyze 1"), "{page}");
    for command in COMMANDS {
        assert!(
            page.contains(&format!(".SS \"caro\\-analyze {command}")),
            "no section for {command}"
        );
    }
    assert!(page.contains(".SH \"EXIT STATUS\""));
    if !installed("man") {
        eprintln!("man is not installed: the page is checked as roff text only");
        return;
    }
    let mut man = Command::new("man")
        // Neither hyphenated nor justified: words as they were written.
        .args(["--nh", "--nj", "--warnings", "-l", "-"])
        .env("MANWIDTH", "80")
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    man.stdin
        .take()
        .unwrap()
        .write_all(page.as_bytes())
        .unwrap();
    let o = man.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    // Lines as a person reads them, wherever the page broke them.
    let words = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let warnings = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{warnings}");
    assert_eq!(warnings, "", "groff's warnings on the page");
    for heading in ["NAME", "SYNOPSIS", "COMMANDS", "EXIT STATUS"] {
        assert!(text.lines().any(|l| l == heading), "{heading} in\n{text}");
    }
    for command in COMMANDS {
        assert!(
            words.contains(&format!("caro-analyze {command}")),
            "{command} in\n{text}"
        );
    }
    // Taken literally: options keep their two hyphens.
    assert!(words.contains("[--slowest N]"), "{text}");
    assert!(words.contains("Default: 127.0.0.1:9464."), "{text}");
}

#[test]
fn telemetry_flags_show_only_under_telemetry() {
    for command in COMMANDS.iter().filter(|c| **c != "telemetry") {
        let help = output_of(&[command, "--help"]);
        assert!(
            !help.contains("--no-telemetry"),
            "{command} --help:\n{help}"
        );
    }
    let help = output_of(&["telemetry", "status", "--help"]);
    assert!(help.contains("--no-telemetry"), "{help}");
}
