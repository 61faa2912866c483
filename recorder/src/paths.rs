//! Where caro keeps its data: `$XDG_CACHE_HOME/caro`, else `~/.cache/caro`.

use std::path::PathBuf;

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
