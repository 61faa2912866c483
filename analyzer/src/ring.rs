//! Loading a ring file: finding it, reading it whole and decoding it.
//!
//! The file is read with plain `read` calls, never mapped: writers keep
//! changing a live ring, and a mapping of a file that is truncated or
//! replaced under it raises SIGBUS instead of returning an error. A copy
//! may be torn between slots; the format's stamps and checksums make the
//! decoder reject a torn slot rather than misread it.

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, Read, Seek};
use std::mem::size_of;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use caro_format::decode::{parse_lanes, Header};
use caro_format::layout::{FileHeader, HEADER_SIZE, LANE_HEADER_SIZE, SLOT_SIZE};
use caro_format::{Decoded, Dictionary};

use crate::error::{Error, Result};
use crate::files;

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

/// Reads and decodes the ring at `path`, judging writes in progress by
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
    let mut decoded =
        caro_format::decode_at(&bytes, Some(now)).map_err(|source| Error::Decode {
            path: path.to_owned(),
            source,
        })?;
    scrub_dictionary(&mut decoded.dictionary);
    Ok(Ring {
        path: path.to_owned(),
        file_size: bytes.len() as u64,
        decoded,
    })
}

/// Scrubs the program text of a ring in place: every string of its
/// dictionary — callsite names (span names), targets, source files, field
/// names and message literals, and the STRING entries that values refer
/// to. Program text is the same for every user, but a host may still
/// write `target: "ana@example.org"` or name a span after a path.
///
/// Every ring the analyzer reads goes through this once, right after it
/// is decoded ([`load`], and the ingest's own read), so that each
/// dictionary string is scrubbed once per read however many records name
/// it, and every command that prints or stores program text (logs,
/// traces, the report, every export, metrics.db) gets it scrubbed.
pub fn scrub_dictionary(dict: &mut Dictionary) {
    fn clean(s: &mut String) {
        let scrubbed = match crate::scrub::text(s) {
            Cow::Owned(t) => Some(t),
            Cow::Borrowed(_) => None,
        };
        if let Some(t) = scrubbed {
            *s = t;
        }
    }
    for c in dict.callsites.values_mut() {
        clean(&mut c.name);
        clean(&mut c.target);
        clean(&mut c.file);
        c.fields.iter_mut().for_each(clean);
        clean(&mut c.message);
    }
    dict.strings.values_mut().for_each(clean);
    dict.messages.values_mut().for_each(clean);
}

/// The first bytes of a zstd frame: a crash snapshot (`crashes/*.ring.zst`).
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// Reads the ring file at `path` whole: its header is read and checked
/// first, and only then is memory taken, for the size the header gives
/// (at most [`MAX_RING_BYTES`]). A crash snapshot is decompressed the same
/// way: its header first, then exactly the ring it claims, no more.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    let (file, len) = open_regular(path)?;
    let mut prefix = [0u8; size_of::<FileHeader>()];
    let n = read_prefix(path, &mut (&file), &mut prefix)?;
    if prefix[..n].starts_with(&ZSTD_MAGIC) {
        (&file)
            .seek(io::SeekFrom::Start(0))
            .map_err(|e| read_failed(path, e))?;
        return read_snapshot(path, &file);
    }
    let header = Header::parse_prefix(&prefix[..n], len).map_err(|source| Error::Decode {
        path: path.to_owned(),
        source,
    })?;
    let mut bytes = read_rest(path, &file, &prefix[..n], header.raw.file_size)?;
    // The dictionary again, after the slots (see `read_from`), so that a
    // record written while the file was read finds its entries.
    let (start, end) = (
        header.raw.dict_offset,
        header.raw.dict_offset + header.raw.dict_size,
    );
    if let Some(region) = bytes.get_mut(start as usize..end as usize) {
        // A file cut meanwhile keeps the dictionary read first.
        let _ = file.read_exact_at(region, start);
    }
    Ok(bytes)
}

/// Decompresses the crash snapshot in `file`: the ring's header first,
/// then exactly the file it describes. A frame that says it holds another
/// size, or holds more, is not a snapshot the analyzer wrote.
fn read_snapshot(path: &Path, file: &File) -> Result<Vec<u8>> {
    let not_one_ring = |size: u64| {
        read_failed(
            path,
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "not a crash snapshot: it holds more than the {size}-byte ring it starts with"
                ),
            ),
        )
    };
    let mut frame_header = [0u8; 18];
    let n = file
        .read_at(&mut frame_header, 0)
        .map_err(|e| read_failed(path, e))?;
    let declared = zstd::zstd_safe::get_frame_content_size(&frame_header[..n])
        .ok()
        .flatten();
    let mut decoder = zstd::stream::read::Decoder::new(file).map_err(|e| read_failed(path, e))?;
    let mut prefix = [0u8; size_of::<FileHeader>()];
    let n = read_prefix(path, &mut decoder, &mut prefix)?;
    let header =
        Header::parse_prefix(&prefix[..n], MAX_RING_BYTES).map_err(|source| Error::Decode {
            path: path.to_owned(),
            source,
        })?;
    let size = header.raw.file_size;
    if declared.is_some_and(|d| d > size) {
        return Err(not_one_ring(size));
    }
    // A first pass counts what the frame holds without keeping it, so
    // that a frame holding more than its ring (a bomb) costs a little
    // time and never the ring's memory.
    let held = n as u64
        + io::copy(
            &mut (&mut decoder).take(size + 1 - n as u64),
            &mut io::sink(),
        )
        .map_err(|e| read_failed(path, e))?;
    if held > size {
        return Err(not_one_ring(size));
    }
    (&*file)
        .seek(io::SeekFrom::Start(0))
        .map_err(|e| read_failed(path, e))?;
    let decoder = zstd::stream::read::Decoder::new(file).map_err(|e| read_failed(path, e))?;
    read_rest(path, decoder, &[], size)
}

/// The `size` bytes of a ring whose first bytes, `prefix`, were read
/// from `rest` already. Memory is taken for `size` bytes at most, and
/// touched only as far as `rest` really holds: a frame that promises more
/// than it has costs what it has.
fn read_rest(path: &Path, rest: impl Read, prefix: &[u8], size: u64) -> Result<Vec<u8>> {
    let oom = || Error::OutOfMemory {
        path: path.to_owned(),
        size,
    };
    let mut bytes = Vec::new();
    bytes
        .try_reserve_exact(usize::try_from(size).map_err(|_| oom())?)
        .map_err(|_| oom())?;
    bytes.extend_from_slice(prefix);
    rest.take(size.saturating_sub(prefix.len() as u64))
        .read_to_end(&mut bytes)
        .map_err(|e| read_failed(path, e))?;
    if (bytes.len() as u64) < size {
        return Err(Error::Decode {
            path: path.to_owned(),
            source: caro_format::DecodeError::Truncated {
                needed: size,
                len: bytes.len() as u64,
            },
        });
    }
    Ok(bytes)
}

/// Reads as much of `prefix` as `from` holds; returns how much.
fn read_prefix(path: &Path, from: &mut impl Read, prefix: &mut [u8]) -> Result<usize> {
    let mut n = 0;
    while n < prefix.len() {
        match from.read(&mut prefix[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(read_failed(path, e)),
        }
    }
    Ok(n)
}

fn read_failed(path: &Path, source: io::Error) -> Error {
    Error::Read {
        path: path.to_owned(),
        source,
    }
}

/// Reads of the ring at `path` what a decoder needs to decode lane `i`
/// from sequence `from[i]` on: the header page, the lane headers, those
/// slots and, last, the dictionary. The rest of the returned buffer, as long as
/// the file, stays zero and costs no memory until touched: an ingest of a
/// few new records reads a few pages, not the whole ring.
pub fn read_from(path: &Path, from: &[u64]) -> Result<Vec<u8>> {
    let read_error = |e| read_failed(path, e);
    let (file, len) = open_regular(path)?;
    let mut prefix = [0u8; size_of::<FileHeader>()];
    file.read_exact_at(&mut prefix, 0)
        .map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => Error::Decode {
                path: path.to_owned(),
                source: caro_format::DecodeError::NotARing,
            },
            _ => read_error(e),
        })?;
    if prefix.starts_with(&ZSTD_MAGIC) {
        return read(path);
    }
    let decode_err = |source| Error::Decode {
        path: path.to_owned(),
        source,
    };
    let header = Header::parse_prefix(&prefix, len).map_err(decode_err)?;
    let h = header.raw;
    // Zeroed pages come from the kernel untouched: only what is read in
    // below is ever faulted in.
    let mut bytes = vec![0u8; h.file_size as usize];
    let read_at = |start: u64, end: u64, bytes: &mut [u8]| -> Result<()> {
        file.read_exact_at(&mut bytes[start as usize..end as usize], start)
            .map_err(read_error)
    };
    read_at(0, u64::from(HEADER_SIZE).min(h.file_size), &mut bytes)?;
    let lanes_end = h.lanes_offset + u64::from(h.lane_count) * u64::from(LANE_HEADER_SIZE);
    read_at(h.lanes_offset, lanes_end, &mut bytes)?;
    let lanes = parse_lanes(&header, &bytes[h.lanes_offset as usize..lanes_end as usize])
        .map_err(decode_err)?;
    for lane in &lanes {
        let oldest = lane.head.saturating_sub(lane.slots());
        let first = oldest.max(from.get(lane.index).copied().unwrap_or(0));
        if first >= lane.head {
            continue;
        }
        // The slots of [first, head), in one piece or two where they wrap.
        let index = |seq: u64| seq & (lane.slots() - 1);
        let slot_at = |i: u64| lane.slots_offset + i * u64::from(SLOT_SIZE);
        let (a, b) = (index(first), index(lane.head - 1) + 1);
        if a < b {
            read_at(slot_at(a), slot_at(b), &mut bytes)?;
        } else {
            read_at(slot_at(a), slot_at(lane.slots()), &mut bytes)?;
            read_at(slot_at(0), slot_at(b), &mut bytes)?;
        }
    }
    // The dictionary last: a writer registers a callsite or string before
    // the first record that uses it, so every record read above finds its
    // entries in a dictionary read after it.
    read_at(h.dict_offset, h.dict_offset + h.dict_size, &mut bytes)?;
    Ok(bytes)
}

/// Opens `path` as [`files::open_read`] does, refusing a file larger
/// than [`MAX_RING_BYTES`]; returns it with its length.
fn open_regular(path: &Path) -> Result<(File, u64)> {
    let file = files::open_read(path)?;
    let len = file.metadata().map_err(|e| read_failed(path, e))?.len();
    if len > MAX_RING_BYTES {
        return Err(Error::TooLarge {
            path: path.to_owned(),
            size: len,
        });
    }
    Ok((file, len))
}

/// The parts of a ring that change whenever a record is claimed: reading
/// them costs a few hundred bytes, so a follower re-reads the whole file
/// only when they differ from the last read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    /// The file's size.
    pub file_size: u64,
    /// The header's `created_ns`: it changes when the ring is recreated.
    pub created_ns: u64,
    /// Every lane's head, in lane order.
    pub heads: Vec<u64>,
}

impl Probe {
    /// The probe of a ring already read.
    pub fn of(ring: &Ring) -> Probe {
        Probe {
            file_size: ring.file_size,
            created_ns: ring.decoded.header.created_ns,
            heads: ring.decoded.lanes.iter().map(|(l, _)| l.head).collect(),
        }
    }

    /// Reads the probe of the file at `path`: its header and lane headers
    /// only, checked as the decoder checks them. `None` when they cannot
    /// be read; a full read says why.
    pub fn read(path: &Path) -> Option<Probe> {
        let file = files::open_read(path).ok()?;
        let file_size = file.metadata().ok()?.len();
        let mut prefix = [0u8; size_of::<FileHeader>()];
        file.read_exact_at(&mut prefix, 0).ok()?;
        let header = Header::parse_prefix(&prefix, file_size).ok()?;
        let h = header.raw;
        let mut region = vec![0u8; h.lane_count as usize * LANE_HEADER_SIZE as usize];
        file.read_exact_at(&mut region, h.lanes_offset).ok()?;
        let heads = parse_lanes(&header, &region)
            .ok()?
            .iter()
            .map(|l| l.head)
            .collect();
        Some(Probe {
            file_size,
            created_ns: h.created_ns,
            heads,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_text_is_scrubbed_once_where_the_ring_is_read() {
        use caro_format::{Callsite, CallsiteKind, Level};
        let mail = "ana.smith@example.org";
        let mut dict = Dictionary::default();
        dict.callsites.insert(
            1,
            Callsite {
                level: Level::Info,
                kind: CallsiteKind::Span,
                name: format!("mail {mail}"),
                target: mail.to_owned(),
                file: format!("src/{mail}.rs"),
                line: 3,
                fields: vec!["backend".to_owned(), mail.to_owned()],
                message: format!("sent to {mail}"),
            },
        );
        dict.messages.insert(1, format!("sent to {mail}"));
        dict.strings.insert(2, format!("owner {mail}"));
        dict.strings.insert(3, "embedded".to_owned());
        scrub_dictionary(&mut dict);
        let c = &dict.callsites[&1];
        assert_eq!(
            (c.name.as_str(), c.target.as_str(), c.file.as_str()),
            ("mail <email>", "<email>", "src/<email>")
        );
        assert_eq!(c.fields, ["backend", "<email>"]);
        assert_eq!(c.message, "sent to <email>");
        assert_eq!(dict.messages[&1], "sent to <email>");
        assert_eq!(dict.strings[&2], "owner <email>");
        assert_eq!(dict.strings[&3], "embedded");
    }

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
