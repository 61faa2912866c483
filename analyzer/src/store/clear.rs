//! `caro-analyze clear`: deletes everything the recorder and the analyzer
//! keep for this user, after saying what.

use std::fs;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::store::ingest::{log_archives, DataPaths};
use crate::store::Store;

/// The files `clear` deletes, with their sizes in bytes; `crashes/` counts
/// as one entry.
pub fn targets(paths: &DataPaths) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    let mut db_files = vec![paths.ring.clone(), paths.db.clone()];
    for suffix in ["-wal", "-shm"] {
        let mut p = paths.db.as_os_str().to_owned();
        p.push(suffix);
        db_files.push(p.into());
    }
    db_files.push(paths.log.clone());
    db_files.extend(log_archives(paths).into_iter().map(|(_, p)| p));
    for p in db_files {
        if let Ok(m) = fs::symlink_metadata(&p) {
            out.push((p, m.len()));
        }
    }
    // A link there is listed as itself, and deleted as itself.
    let crashes = fs::symlink_metadata(&paths.crashes);
    if crashes.as_ref().is_ok_and(|m| !m.is_dir()) {
        out.push((paths.crashes.clone(), 0));
    } else if let Ok(entries) = fs::read_dir(&paths.crashes) {
        let size = entries
            .flatten()
            .filter_map(|e| e.metadata().ok())
            .map(|m| m.len())
            .sum();
        out.push((paths.crashes.clone(), size));
    }
    out
}

/// Runs `clear`: lists what it deletes on `out`, asks on a terminal unless
/// `yes`, refuses elsewhere unless `yes`, then deletes.
pub fn run(paths: &DataPaths, yes: bool, out: &mut dyn Write) -> Result<()> {
    // Only in a folder of this user's own.
    if fs::symlink_metadata(&paths.dir).is_ok() {
        crate::files::data_folder(&paths.dir)?;
    }
    let targets = targets(paths);
    if targets.is_empty() {
        writeln!(
            out,
            "Nothing to delete in {}.",
            caro_recorder::paths::shown(&paths.dir)
        )?;
        return Ok(());
    }
    writeln!(out, "This deletes everything caro recorded for you:")?;
    for (p, size) in &targets {
        writeln!(out, "  {}  ({size} bytes)", caro_recorder::paths::shown(p))?;
    }
    out.flush()?;
    if !yes {
        if !std::io::stdin().is_terminal() {
            return Err(Error::ClearNeedsYes);
        }
        write!(out, "Delete them? [y/N] ")?;
        out.flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            writeln!(out, "Nothing deleted.")?;
            return Ok(());
        }
    }
    // Wait for a running ingest to finish, and keep others out while
    // deleting. A store that cannot even be opened is deleted all the same.
    let mut store = paths
        .db
        .exists()
        .then(|| Store::open(&paths.db))
        .and_then(Result::ok);
    let _lock = match store.as_mut() {
        Some(s) => Some(s.write()?),
        None => None,
    };
    // Listed again: opening the store made its journal files.
    for (p, _) in &self::targets(paths) {
        let is_dir = fs::symlink_metadata(p).is_ok_and(|m| m.is_dir());
        let removed = if is_dir {
            fs::remove_dir_all(p)
        } else {
            fs::remove_file(p)
        };
        match removed {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(Error::Write {
                    path: p.clone(),
                    source,
                })
            }
        }
    }
    writeln!(out, "Deleted.")?;
    Ok(())
}
