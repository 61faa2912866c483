//! `export --format jsonl`: the scrubbed log lines telemetry.log keeps,
//! its archived days first, for jq.

use std::io::{self, BufRead, BufReader, Read, Write};

use serde_json::Value;

use crate::error::{Error, Result};
use crate::store::ingest::{log_archives, DataPaths};
use crate::time;

const MAX_LINE: u64 = 1 << 20;

/// The scrubbed log lines from `since_ns` on, oldest first: the archived
/// days of telemetry.log, then the current one. Returns how many.
pub fn write_jsonl(paths: &DataPaths, since_ns: Option<u64>, out: &mut dyn Write) -> Result<u64> {
    let since = since_ns.unwrap_or(0);
    let mut sources: Vec<(std::path::PathBuf, Box<dyn Read>)> = Vec::new();
    for (day, path) in log_archives(paths) {
        if (day + 1) * time::DAY_NS as i64 <= since as i64 {
            continue;
        }
        let f = crate::files::open_read(&path)?;
        let decoder = zstd::stream::Decoder::new(f).map_err(|source| Error::Read {
            path: path.clone(),
            source,
        })?;
        sources.push((path, Box::new(decoder)));
    }
    match crate::files::open_read(&paths.log) {
        Ok(f) => sources.push((paths.log.clone(), Box::new(f))),
        Err(Error::NotFound { .. }) => {}
        Err(e) => return Err(e),
    }
    let mut n = 0;
    let mut buf = Vec::new();
    for (path, source) in sources {
        let read_error = |source| Error::Read {
            path: path.clone(),
            source,
        };
        let mut reader = BufReader::new(source);
        loop {
            // Lines are read to a bound: an archive is decompressed as it
            // is read, and one without line ends must not fill memory.
            buf.clear();
            let got = (&mut reader)
                .take(MAX_LINE + 1)
                .read_until(b'\n', &mut buf)
                .map_err(read_error)?;
            if got == 0 {
                break;
            }
            if buf.len() as u64 > MAX_LINE {
                return Err(read_error(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "a line longer than 1 MiB: not a telemetry log",
                )));
            }
            let Ok(line) = std::str::from_utf8(&buf) else {
                continue;
            };
            let line = line.trim_end_matches('\n');
            let time = serde_json::from_str::<Value>(line)
                .ok()
                .and_then(|v| v["timestamp"].as_str().and_then(time::parse_rfc3339));
            if time.is_some_and(|t| t >= since) {
                writeln!(out, "{line}")?;
                n += 1;
            }
        }
    }
    Ok(n)
}
