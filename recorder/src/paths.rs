//! Where caro keeps its data: `$XDG_CACHE_HOME/caro`, else `~/.cache/caro`.

use std::path::{Path, PathBuf};

use etcetera::base_strategy::{BaseStrategy, Xdg};

/// File name of the ring inside [`data_dir`].
pub const RING_FILE: &str = "events.ring";

/// The per-user data folder, or `None` when no home folder is known.
pub fn data_dir() -> Option<PathBuf> {
    // XDG on every platform: the folder layout is part of caro's design.
    Some(Xdg::new().ok()?.cache_dir().join("caro"))
}

/// The ring's default path, `data_dir()/events.ring`.
pub fn ring_path() -> Option<PathBuf> {
    Some(data_dir()?.join(RING_FILE))
}

/// Whether this process is a test, or was started by one: a `cargo test`
/// (or `cargo bench`) binary — `target/…/deps/NAME-HASH` — is this
/// process or its parent, or it runs under cargo-nextest. A host's tests
/// do not write into the user's ring unless they ask to
/// ([`Config::from_env`](crate::Config::from_env)).
pub fn under_test_harness() -> bool {
    if std::env::var_os("NEXTEST_RUN_ID").is_some() {
        return true;
    }
    let parent = || {
        // Field 4 of /proc/self/stat, after the command's parenthesis.
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let ppid = stat.rsplit_once(')')?.1.split_whitespace().nth(1)?;
        std::fs::read_link(format!("/proc/{ppid}/exe")).ok()
    };
    std::env::current_exe().is_ok_and(|exe| is_test_binary(&exe))
        || parent().is_some_and(|exe| is_test_binary(&exe))
}

/// `…/deps/NAME-0123456789abcdef`: where cargo puts the binaries of
/// tests and benchmarks.
fn is_test_binary(exe: &Path) -> bool {
    let in_deps = exe
        .parent()
        .and_then(Path::file_name)
        .is_some_and(|d| d == "deps");
    let hashed = exe
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.rsplit_once('-'))
        .is_some_and(|(_, h)| h.len() == 16 && h.bytes().all(|b| b.is_ascii_hexdigit()));
    in_deps && hashed
}

/// The user this process acts as (its effective user id): the owner the
/// recorder and the analyzer require of the data folder and its files.
pub fn user_id() -> u32 {
    crate::sys::euid()
}

/// `path` as caro prints it, in every message (the recorder's warnings,
/// the analyzer's errors and status): the home folder (`$HOME`, whose name
/// is often the user's) as `~`, and control characters escaped so that a
/// message stays one line. `/home/ana/.cache/caro/events.ring` is shown
/// `~/.cache/caro/events.ring`.
pub fn shown(path: &Path) -> String {
    let home = std::env::var_os("HOME");
    shown_from(path, home.as_deref().map(Path::new))
}

/// [`shown`] with the home folder `home`. A home that is not absolute, or
/// is the root, hides nothing.
fn shown_from(path: &Path, home: Option<&Path>) -> String {
    let home = home.filter(|h| h.is_absolute() && h.parent().is_some());
    // Whole components: `/home/ana` is not a prefix of `/home/anabel`.
    match home.and_then(|h| path.strip_prefix(h).ok()) {
        Some(rest) if rest.as_os_str().is_empty() => "~".to_owned(),
        Some(rest) => format!("~/{}", one_line(rest)),
        None => one_line(path),
    }
}

/// `path` with control characters (a newline in a folder name) escaped.
fn one_line(path: &Path) -> String {
    let mut out = String::new();
    for c in path.display().to_string().chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_binaries_are_known_by_their_place_and_hash() {
        assert!(is_test_binary(Path::new(
            "/w/target/debug/deps/caro-0123456789abcdef"
        )));
        assert!(is_test_binary(Path::new(
            "/w/target/release/deps/recorder-fedcba9876543210"
        )));
        assert!(!is_test_binary(Path::new("/w/target/debug/caro")));
        assert!(!is_test_binary(Path::new("/usr/bin/caro")));
        assert!(!is_test_binary(Path::new(
            "/w/target/debug/deps/libfoo-0123.so"
        )));
        // This very process is one.
        assert!(under_test_harness());
    }

    #[test]
    fn shown_paths_stay_on_one_line() {
        let none = None;
        assert_eq!(
            shown_from(Path::new("/tmp/a\nb/events.ring"), none),
            "/tmp/a\\nb/events.ring"
        );
        assert_eq!(shown_from(Path::new("/tmp/é/x"), none), "/tmp/é/x");
    }

    #[test]
    fn the_home_folder_is_shown_as_a_tilde() {
        let home = Some(Path::new("/home/zanzibar"));
        let cases = [
            (
                "/home/zanzibar/.cache/caro/metrics.db",
                "~/.cache/caro/metrics.db",
            ),
            ("/home/zanzibar", "~"),
            ("/home/zanzibar/", "~"),
            // Whole components only.
            ("/home/zanzibarx/events.ring", "/home/zanzibarx/events.ring"),
            ("/tmp/caro/events.ring", "/tmp/caro/events.ring"),
            ("events.ring", "events.ring"),
            ("/home/zanzibar/a\nb", "~/a\\nb"),
        ];
        for (path, want) in cases {
            assert_eq!(shown_from(Path::new(path), home), want, "{path}");
        }
        // A trailing slash on $HOME changes nothing.
        let slash = Some(Path::new("/home/zanzibar/"));
        assert_eq!(shown_from(Path::new("/home/zanzibar/x"), slash), "~/x");
        // No home, a relative one or the root: nothing is hidden.
        for home in [
            None,
            Some(Path::new("")),
            Some(Path::new("rel")),
            Some(Path::new("/")),
        ] {
            assert_eq!(shown_from(Path::new("/home/x/y"), home), "/home/x/y");
        }
    }
}
