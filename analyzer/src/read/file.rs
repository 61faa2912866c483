//! A ring file's bytes, read carefully: whole (a ring or a crash snapshot,
//! its header checked before memory is taken), or only what an ingest
//! needs after its cursor.

use std::fs::File;
use std::io::{self, Read, Seek};
use std::mem::size_of;
use std::os::unix::fs::FileExt;
use std::path::Path;

use caro_format::decode::{parse_lanes, Header};
use caro_format::layout::{FileHeader, HEADER_SIZE, LANE_HEADER_SIZE, SLOT_SIZE};

use super::MAX_RING_BYTES;
use crate::error::{Error, Result};
use crate::files;

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
/// then exactly the file it describes. The analyzer writes a snapshot as
/// one zstd frame that says how large it unpacks, the ring's size; any
/// other frame (one that does not say, or says another size: a bomb) is
/// refused before it is unpacked, and so is anything after the ring.
fn read_snapshot(path: &Path, file: &File) -> Result<Vec<u8>> {
    let not_a_snapshot = |why: String| {
        read_failed(
            path,
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("not a crash snapshot: {why}"),
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
    if declared != Some(size) {
        return Err(not_a_snapshot(format!(
            "its frame does not say it holds exactly the {size}-byte ring it starts with"
        )));
    }
    let bytes = read_rest(path, &mut decoder, &prefix[..n], size)?;
    if read_prefix(path, &mut decoder, &mut [0u8; 1])? > 0 {
        return Err(not_a_snapshot(format!(
            "it holds more than the {size}-byte ring it starts with"
        )));
    }
    Ok(bytes)
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
            max: MAX_RING_BYTES,
        });
    }
    Ok((file, len))
}
