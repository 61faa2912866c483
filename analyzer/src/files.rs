//! Opening files as carefully as the recorder opens the ring.
//!
//! Every file the analyzer reads or writes is opened here: without
//! following a symbolic link (`O_NOFOLLOW`), without blocking on a named
//! pipe (`O_NONBLOCK`), and judged by the descriptor it opened, not by the
//! path, so that a file swapped between a check and the open is still
//! refused. Only regular files are read or written; what the analyzer
//! writes lies in a folder of the user's own that nobody else may write
//! in, and is created 0600.
//!
//! At the bottom of the crate: it uses only [`crate::error`].

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Flags of every open: no link followed, no pipe waited for.
const CAREFUL: i32 = libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC;

/// What a file that is not a regular one is, for the one-line error.
fn kind(file_type: fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if file_type.is_symlink() {
        "a symbolic link"
    } else if file_type.is_dir() {
        "a folder"
    } else if file_type.is_fifo() {
        "a named pipe"
    } else if file_type.is_socket() {
        "a socket"
    } else if file_type.is_block_device() || file_type.is_char_device() {
        "a device"
    } else {
        "an unknown kind of file"
    }
}

fn not_a_file(path: &Path, file_type: fs::FileType) -> Error {
    Error::NotAFile {
        path: path.to_owned(),
        kind: kind(file_type),
    }
}

/// The error of a failed open of `path`: a link or a pipe said as such
/// (the kernel says "too many levels of symbolic links" or "no such
/// device"), a missing file as [`Error::NotFound`] when `missing` says so.
fn open_error(path: &Path, e: io::Error, missing: bool) -> Error {
    if e.kind() == io::ErrorKind::NotFound && missing {
        return Error::NotFound {
            path: path.to_owned(),
        };
    }
    if let Ok(meta) = fs::symlink_metadata(path) {
        if !meta.is_file() {
            return not_a_file(path, meta.file_type());
        }
    }
    Error::Read {
        path: path.to_owned(),
        source: e,
    }
}

/// Opens `path` for reading: a regular file, not through a link.
pub fn open_read(path: &Path) -> Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(CAREFUL)
        .open(path)
        .map_err(|e| open_error(path, e, true))?;
    regular(path, &file)?;
    Ok(file)
}

/// Refuses `file`, opened at `path`, unless it is a regular file.
fn regular(path: &Path, file: &File) -> Result<fs::Metadata> {
    let meta = file.metadata().map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })?;
    if !meta.is_file() {
        return Err(not_a_file(path, meta.file_type()));
    }
    Ok(meta)
}

/// Refuses `meta` of `path` unless this user owns it.
fn owned(path: &Path, meta: &fs::Metadata) -> Result<()> {
    if meta.uid() == caro_recorder::paths::user_id() {
        return Ok(());
    }
    Err(Error::Foreign {
        path: path.to_owned(),
        uid: meta.uid(),
    })
}

/// Opens the existing file `path` to read and rewrite it, or `None` if
/// there is none: a regular file of this user's, not through a link.
pub fn open_write(path: &Path) -> Result<Option<File>> {
    let file = match OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(CAREFUL)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(write_error(path, e)),
    };
    owned(path, &regular(path, &file)?)?;
    Ok(Some(file))
}

/// Opens `path` for appending, creating it 0600: a regular file of this
/// user's, not through a link.
pub fn open_append(path: &Path) -> Result<File> {
    let file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(CAREFUL)
        .open(path)
        .map_err(|e| write_error(path, e))?;
    owned(path, &regular(path, &file)?)?;
    Ok(file)
}

fn write_error(path: &Path, e: io::Error) -> Error {
    match open_error(path, e, false) {
        Error::Read { path, source } => Error::Write { path, source },
        other => other,
    }
}

/// Creates `path` empty, 0600, unless something is there already (which
/// the caller then checks).
pub fn create_private(path: &Path) -> Result<()> {
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(CAREFUL)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(write_error(path, e)),
    }
}

/// Checks that `path` is absent, or a regular file of this user's (not a
/// link): for the files SQLite opens by name.
pub fn absent_or_own_file(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(Error::Read {
            path: path.to_owned(),
            source,
        }),
        Ok(meta) if !meta.is_file() => Err(not_a_file(path, meta.file_type())),
        Ok(meta) => owned(path, &meta),
    }
}

/// Checks `path` as [`absent_or_own_file`] does, then narrows it to 0600
/// if others may read it (a store an older version made): SQLite gives
/// its journal files the store's mode.
pub fn make_private(path: &Path) -> Result<()> {
    absent_or_own_file(path)?;
    let Some(file) = open_write(path)? else {
        return Ok(());
    };
    let err = |source| Error::Write {
        path: path.to_owned(),
        source,
    };
    let mode = file.metadata().map_err(err)?.permissions().mode();
    if mode & 0o077 != 0 {
        file.set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(err)?;
    }
    Ok(())
}

/// Creates the data folder `path` (mode 0700) if it is missing; then
/// requires it to be a folder that this user owns and nobody else may
/// write in, as the recorder requires of its own. The folder itself may
/// be a link (to another disk, say) into such a folder, as for the
/// recorder: only its owner could have made it.
pub fn data_folder(path: &Path) -> Result<()> {
    checked_dir(path, |p| fs::metadata(p))
}

/// Like [`data_folder`], for a folder inside it (`crashes/`), which must
/// not be a link.
pub fn private_dir(path: &Path) -> Result<()> {
    checked_dir(path, |p| fs::symlink_metadata(p))
}

fn checked_dir(path: &Path, stat: fn(&Path) -> io::Result<fs::Metadata>) -> Result<()> {
    let err = |source| Error::Write {
        path: path.to_owned(),
        source,
    };
    let meta = match stat(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(path)
                .map_err(err)?;
            stat(path).map_err(err)?
        }
        Err(e) => return Err(err(e)),
    };
    if !meta.is_dir() {
        return Err(match meta.file_type().is_symlink() {
            true => not_a_file(path, meta.file_type()),
            false => Error::NotAFolder {
                path: path.to_owned(),
            },
        });
    }
    owned(path, &meta)?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(Error::OpenToOthers {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

/// Writes `bytes` to `path` through a temporary file and a rename, so the
/// file is either whole or absent; mode 0600. Whatever is at `path` must
/// be a regular file of this user's: a link there is refused, not
/// replaced.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    absent_or_own_file(path)?;
    let err = |source| Error::Write {
        path: path.to_owned(),
        source,
    };
    let tmp = temporary(path);
    let written = (|| -> io::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(CAREFUL)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written.map_err(err)
}

/// `path`'s temporary sibling, unique to this process:
/// `.<name>.<pid>.tmp`.
fn temporary(path: &Path) -> PathBuf {
    let mut name = OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(format!(".{}.tmp", std::process::id()));
    path.with_file_name(name)
}

/// Removes the temporaries in `dir` that `ours` recognises by name (a
/// write killed before its rename leaves one), links included; never
/// what a link points to.
pub fn remove_temporaries(dir: &Path, ours: impl Fn(&str) -> bool) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if name
            .to_str()
            .is_some_and(|n| n.ends_with(".tmp") && ours(n))
        {
            // `remove_file` unlinks a link itself.
            let _ = fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_pipes_and_folders_are_refused_by_what_they_are() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        fs::write(&target, b"precious").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        for result in [
            open_read(&link).map(drop),
            open_append(&link).map(drop),
            open_write(&link).map(drop),
            write_atomically(&link, b"x"),
        ] {
            let e = result.unwrap_err().to_string();
            assert!(e.contains("is a symbolic link, not a regular file"), "{e}");
        }
        assert_eq!(fs::read(&target).unwrap(), b"precious");
        let e = open_read(dir.path()).unwrap_err().to_string();
        assert!(e.contains("is a folder, not a regular file"), "{e}");
        assert!(matches!(
            open_read(&dir.path().join("missing")),
            Err(Error::NotFound { .. })
        ));
    }

    #[test]
    fn an_atomic_write_is_private_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.json");
        write_atomically(&path, b"one").unwrap();
        write_atomically(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_folder_others_may_write_in_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("caro");
        data_folder(&data).unwrap();
        assert_eq!(fs::metadata(&data).unwrap().mode() & 0o777, 0o700);
        fs::set_permissions(&data, fs::Permissions::from_mode(0o777)).unwrap();
        let e = data_folder(&data).unwrap_err().to_string();
        assert!(e.contains("writable by other users"), "{e}");
        let file = dir.path().join("file");
        fs::write(&file, b"").unwrap();
        let e = data_folder(&file).unwrap_err().to_string();
        assert!(e.contains("not a folder"), "{e}");
        // A link to a private folder is the folder; inside it, a link is
        // refused.
        fs::set_permissions(&data, fs::Permissions::from_mode(0o700)).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&data, &link).unwrap();
        data_folder(&link).unwrap();
        let e = private_dir(&link).unwrap_err().to_string();
        assert!(e.contains("symbolic link"), "{e}");
    }
}
