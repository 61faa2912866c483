//! Loading a ring file: finding it, reading it whole and decoding it.
//!
//! The file is read with plain `read` calls, never mapped: writers keep
//! changing a live ring, and a mapping of a file that is truncated or
//! replaced under it raises SIGBUS instead of returning an error. A copy
//! may be torn between slots; the format's stamps and checksums make the
//! decoder reject a torn slot rather than misread it.
//!
//! The first stage of the pipeline: it uses only [`crate::files`] (the
//! file is opened as every file is) and [`crate::error`]. What it returns
//! is unscrubbed; every command takes rings from [`crate::scrub::ring`].
//!
//! - this module: the [`Ring`], where it is, and [`load`];
//! - [`file`](mod@file): the file's bytes, whole or after a cursor;
//! - [`probe`]: the heads alone, for `logs --follow`.

pub mod file;
pub mod probe;

use std::path::{Path, PathBuf};

use caro_format::Decoded;

pub use file::{read, read_from};
pub use probe::Probe;

use crate::error::{Error, Result};

/// The largest file the analyzer reads: no ring the recorder creates comes
/// near it, and anything larger is refused before a byte is read.
pub const MAX_RING_BYTES: u64 = 8 << 30;

/// A decoded ring and where it came from.
#[derive(Clone, Debug)]
pub struct Ring {
    /// The file it was read from.
    pub path: PathBuf,
    /// The file's size in bytes when it was read.
    pub file_size: u64,
    /// What the decoder found in it.
    pub decoded: Decoded,
}

/// The ring's default path, `$XDG_CACHE_HOME/caro/events.ring`.
pub fn default_path() -> Result<PathBuf> {
    caro_recorder::paths::ring_path().ok_or(Error::NoDefaultPath)
}

/// `path` if given, else [`default_path`].
pub fn path_or_default(path: Option<&Path>) -> Result<PathBuf> {
    match path {
        Some(p) => Ok(p.to_owned()),
        None => default_path(),
    }
}

/// Reads and decodes the ring at `path` as the file holds it, unscrubbed
/// (the commands read rings through [`crate::scrub::ring::load`]), judging
/// writes in progress by
/// this machine's clock. A read that catches a writer mid-record (a slot
/// pending, or torn so that its checksum fails) is taken again a moment
/// later, a few times, so a live ring's counts are not a copy's accidents.
pub fn load(path: &Path) -> Result<Ring> {
    let mut ring = load_once(path)?;
    for _ in 0..3 {
        let t = ring.decoded.totals();
        if t.pending == 0 && t.corrupt == 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        ring = load_once(path)?;
    }
    Ok(ring)
}

fn load_once(path: &Path) -> Result<Ring> {
    let bytes = read(path)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let decoded = caro_format::decode_at(&bytes, Some(now)).map_err(|source| Error::Decode {
        path: path.to_owned(),
        source,
    })?;
    Ok(Ring {
        path: path.to_owned(),
        file_size: bytes.len() as u64,
        decoded,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_probe_read_from_disk_equals_the_probe_of_the_decoded_ring() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.ring");
        let geometry = caro_format::Geometry::for_size(1 << 20);
        let mut bytes = geometry.initial_bytes(42);
        bytes.resize(geometry.file_size() as usize, 0);
        std::fs::write(&path, &bytes).unwrap();
        let ring = load(&path).unwrap();
        let probe = Probe::read(&path).unwrap();
        assert_eq!(probe, Probe::of(&ring));
        assert_eq!(probe.created_ns, 42);
        assert_eq!(probe.heads.len(), geometry.lane_count() as usize);
    }

    #[test]
    fn a_missing_file_is_not_found_and_a_folder_is_not_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.ring");
        assert!(matches!(load(&missing), Err(Error::NotFound { .. })));
        assert!(matches!(load(dir.path()), Err(Error::NotAFile { .. })));
        assert!(Probe::read(&missing).is_none());
    }
}
