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

/// The user this process acts as (its effective user id): the owner the
/// recorder and the analyzer require of the data folder and its files.
pub fn user_id() -> u32 {
    crate::sys::euid()
}

/// `path` for a one-line message: control characters (a newline in a
/// folder name) are escaped so the message stays one line.
pub fn shown(path: &Path) -> String {
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
    fn shown_paths_stay_on_one_line() {
        assert_eq!(
            shown(Path::new("/tmp/a\nb/events.ring")),
            "/tmp/a\\nb/events.ring"
        );
        assert_eq!(shown(Path::new("/tmp/é/x")), "/tmp/é/x");
    }
}
