//! The ring writer: opens or creates the shared ring file, claims and
//! commits slots, and appends dictionary entries. Lock-free: every
//! operation is a bounded number of atomic steps, and nothing here
//! allocates once the ring is open.
//!
//! The subscriber is built on it; it is public for tools that write rings
//! of their own (the golden-file generator, benchmarks).

use std::cell::Cell;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{fence, AtomicU64, Ordering};

use caro_format::decode::{check_regions, parse_lanes, Header};
use caro_format::dictionary::EncodedEntry;
use caro_format::geometry::TURNS_PER_LAP;
use caro_format::identity::capacity;
use caro_format::layout::{
    header_offset, DictHeader, DropReason, IdentityEntry, LaneClass, IDS_HEADER_SIZE,
    LANE_HEADER_SIZE, MAX_LANES, MAX_PAYLOAD,
};
use caro_format::slot::RecordHead;
use caro_format::ValueWriter;
use caro_format::{DecodeError, Geometry};

use crate::commit::{IdentityWords, LaneWords};
use crate::output::Place;
use crate::sys::{self, Mapping};

/// Why the ring could not be opened; the host keeps running without it.
#[derive(Debug)]
pub enum OpenError {
    /// No home folder and no `XDG_CACHE_HOME`.
    NoDataDir,
    Io {
        path: PathBuf,
        what: &'static str,
        err: io::Error,
    },
    /// The file is not a ring this recorder can write.
    Format { path: PathBuf, err: DecodeError },
    /// The file or its folder is not safely the user's own.
    Refused { path: PathBuf, why: String },
    /// The file's size disagrees with its header.
    SizeMismatch {
        path: PathBuf,
        header: u64,
        actual: u64,
    },
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::NoDataDir => write!(f, "no cache folder (set XDG_CACHE_HOME or HOME)"),
            OpenError::Io { path, what, err } => write!(f, "cannot {what} {}: {err}", crate::paths::shown(path)),
            OpenError::Format { path, err } => write!(f, "{}: {err}", crate::paths::shown(path)),
            OpenError::Refused { path, why } => write!(f, "{}: {why}", crate::paths::shown(path)),
            OpenError::SizeMismatch { path, header, actual } => write!(
                f,
                "{}: file is {actual} bytes but its header says {header}; remove it to start a new ring",
                crate::paths::shown(path)
            ),
        }
    }
}

impl std::error::Error for OpenError {}

/// A class's lanes and how long a thread's turn at each lasts.
#[derive(Debug)]
struct ClassLanes {
    lanes: [LaneWords; MAX_LANES as usize],
    /// Slots a turn at each lane lasts: 1/32 of the lane, so that every
    /// lane laps at the same pace (SPEC.md section 11).
    turn: [i32; MAX_LANES as usize],
    count: u32,
}

impl ClassLanes {
    fn new(lanes: &[LaneWords]) -> ClassLanes {
        let mut class = ClassLanes {
            lanes: [lanes[0]; MAX_LANES as usize],
            turn: [1; MAX_LANES as usize],
            count: lanes.len() as u32,
        };
        for (i, l) in lanes.iter().enumerate() {
            class.lanes[i] = *l;
            // At most 2^28 / 32 slots: an i32.
            class.turn[i] = ((l.mask + 1) / TURNS_PER_LAP).max(1) as i32;
        }
        class
    }
}

/// A thread's turn at one lane of a class: which lane, and how many
/// slots it may still write there before it moves on. A record that runs
/// past the turn's end is paid for by the next turn, so that every lane,
/// small or large, gets its share exactly.
#[derive(Clone, Copy, Debug)]
pub struct Turn {
    lane: u32,
    left: i32,
    /// The time of the thread's last record in this class.
    last_ns: u64,
}

impl Turn {
    /// Whether the turn is over: the next record may take another lane.
    #[inline(always)]
    pub fn is_over(&self) -> bool {
        self.left <= 0
    }

    /// No turn yet: the first record takes a lane.
    pub const NONE: Turn = Turn {
        lane: 0,
        left: 0,
        last_ns: 0,
    };
}

/// An open ring.
#[derive(Debug)]
pub struct Ring {
    map: Mapping,
    path: PathBuf,
    /// The file's device and inode when it was opened.
    identity: (u64, u64),
    main: ClassLanes,
    alert: ClassLanes,
    identities: Option<IdentityWords>,
    /// Word index of the dictionary's tail counter.
    dict_tail: usize,
    dict_index: usize,
    dict_index_len: usize,
    /// Word index where the entry log starts, and its length in words.
    dict_log: usize,
    dict_log_words: usize,
}

fn io_err(path: &Path, what: &'static str) -> impl FnOnce(io::Error) -> OpenError {
    let path = path.to_owned();
    move |err| OpenError::Io { path, what, err }
}

impl Ring {
    /// Opens the ring at `path`, creating it (and its folder, mode 0700)
    /// with about `size` bytes if it does not exist. Safe to race with
    /// other processes doing the same: exactly one file wins.
    ///
    /// The ring must be the user's own: a symbolic link at `path`,
    /// something other than a file, or a file owned by another user is
    /// refused; a mode open to others is tightened to 0600, with a one-line
    /// warning. (The folder is the caller's: see [`secure_folder`].)
    pub fn open_or_create(path: &Path, size: u64, now_ns: u64) -> Result<Ring, OpenError> {
        if let Some(dir) = path.parent() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(io_err(dir, "create folder"))?;
        }
        let file = match open_existing(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => create(path, size, now_ns)?,
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                return Err(refused(path, "is a symbolic link; not following it".into()))
            }
            Err(e) => return Err(io_err(path, "open")(e)),
        };
        let meta = file.metadata().map_err(io_err(path, "inspect"))?;
        if !meta.is_file() {
            return Err(refused(path, "is not a regular file".into()));
        }
        owned(path, &meta)?;
        let ring = Ring::from_file(path, &file)?;
        // Only once it is known to be a ring: a foreign file is left as is.
        tighten(path, &meta, 0o600, |mode| {
            file.set_permissions(fs::Permissions::from_mode(mode))
        })?;
        Ok(ring)
    }

    fn from_file(path: &Path, file: &File) -> Result<Ring, OpenError> {
        let actual = file.metadata().map_err(io_err(path, "inspect"))?.len();
        let mut prefix = vec![0u8; 4096.min(actual as usize)];
        file.read_exact_at(&mut prefix, 0)
            .map_err(io_err(path, "read"))?;
        let format_err = |err| OpenError::Format {
            path: path.to_owned(),
            err,
        };
        // Check the header against the real length, then read the lane
        // headers it points at.
        let header = Header::parse_prefix(&prefix, actual).map_err(format_err)?;
        let h = header.raw;
        if h.file_size != actual {
            return Err(OpenError::SizeMismatch {
                path: path.to_owned(),
                header: h.file_size,
                actual,
            });
        }
        // Read only the lane headers and the dictionary header, wherever
        // the header puts them (it was checked to lie inside the file).
        let mut lane_bytes = vec![0u8; h.lane_count as usize * LANE_HEADER_SIZE as usize];
        file.read_exact_at(&mut lane_bytes, h.lanes_offset)
            .map_err(io_err(path, "read"))?;
        let lanes = parse_lanes(&header, &lane_bytes).map_err(format_err)?;
        // A writer must never write one region over another.
        check_regions(&header, &lanes).map_err(format_err)?;
        let mut dict_bytes = [0u8; 16];
        file.read_exact_at(&mut dict_bytes, h.dict_offset)
            .map_err(io_err(path, "read"))?;
        let dh: DictHeader = bytemuck::pod_read_unaligned(&dict_bytes);

        let map = Mapping::new(file).map_err(io_err(path, "map"))?;
        if map.words().len() as u64 * 8 != h.file_size {
            // Truncated between the check and the mapping.
            return Err(OpenError::SizeMismatch {
                path: path.to_owned(),
                header: h.file_size,
                actual: map.words().len() as u64 * 8,
            });
        }
        let words_of = |class| -> Vec<LaneWords> {
            lanes
                .iter()
                .filter(|l| l.class == class)
                .map(|l| LaneWords {
                    head: (h.lanes_offset as usize + l.index * LANE_HEADER_SIZE as usize) / 8,
                    slots: l.slots_offset as usize / 8,
                    mask: l.slots() - 1,
                })
                .collect()
        };
        let (main, alert) = (words_of(LaneClass::Main), words_of(LaneClass::Alert));
        if main.is_empty() || alert.is_empty() {
            return Err(format_err(DecodeError::BadGeometry(
                "a lane class has no lanes",
            )));
        }
        let identities = (h.ids_size != 0).then(|| IdentityWords {
            tail: h.ids_offset as usize / 8,
            entries: (h.ids_offset + IDS_HEADER_SIZE) as usize / 8,
            capacity: capacity(h.ids_size),
        });
        let dict_words = h.dict_size as usize / 8;
        let index_len = dh.index_len as usize;
        if !index_len.is_power_of_two() || 2 + index_len > dict_words {
            return Err(format_err(DecodeError::BadGeometry("dictionary index")));
        }
        let dict_index = h.dict_offset as usize / 8 + 2;
        let identity = file
            .metadata()
            .map(|m| (m.dev(), m.ino()))
            .map_err(io_err(path, "inspect"))?;
        let ring = Ring {
            map,
            path: path.to_owned(),
            identity,
            main: ClassLanes::new(&main),
            alert: ClassLanes::new(&alert),
            identities: identities.filter(|ids| ids.capacity > 0),
            dict_tail: h.dict_offset as usize / 8,
            dict_index,
            dict_index_len: index_len,
            dict_log: dict_index + index_len,
            dict_log_words: dict_words - 2 - index_len,
        };
        Ok(ring)
    }

    /// Whether another process cut the file short under this one, which
    /// has been writing into memory of its own since (see `sys::guard`).
    pub fn lost(&self) -> bool {
        self.map.lost()
    }

    /// Whether the ring's path now names another file, or none: another
    /// process replaced or removed it, and this one has been writing to
    /// a file no reader will find.
    pub fn replaced(&self) -> bool {
        fs::metadata(&self.path).map_or(true, |m| (m.dev(), m.ino()) != self.identity)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    #[inline(always)]
    fn word(&self, i: usize) -> &AtomicU64 {
        &self.map.words()[i]
    }

    /// The next lane's number, round robin across every thread of every
    /// process, so that concurrent writers rarely share one and every lane
    /// gets its turn.
    fn next_lane(&self) -> u32 {
        self.word(header_offset::NEXT_LANE / 8)
            .fetch_add(1, Ordering::Relaxed) as u32
    }

    /// Writes identity `entry` (its stamp ignored) into the identity table;
    /// returns its number, or `None` when the file has no table.
    pub fn write_identity(&self, entry: &IdentityEntry) -> Option<u64> {
        let table = self.identities?;
        Some(crate::commit::write_identity(
            self.map.words(),
            table,
            entry,
        ))
    }

    /// Whether identity `seq` is old enough to write again: at least half
    /// the table has been claimed since (SPEC.md section 10).
    #[inline(always)]
    pub fn identity_aging(&self, seq: u64) -> bool {
        self.identities.is_some_and(|ids| {
            self.word(ids.tail)
                .load(Ordering::Relaxed)
                .wrapping_sub(seq)
                >= ids.capacity / 2
        })
    }

    /// Reserves `n` span ids; returns the first. Ids wrap within u32, and
    /// 0 is never handed out.
    pub fn reserve_span_ids(&self, n: u32) -> u32 {
        loop {
            let first = self
                .word(header_offset::NEXT_SPAN_ID / 8)
                .fetch_add(u64::from(n), Ordering::Relaxed) as u32;
            if first != 0 && first.checked_add(n).is_some() {
                return first;
            }
        }
    }

    /// The clock anchor kept in the header's writer-private words.
    pub(crate) fn clock_anchor(&self) -> crate::clock::ClockAnchor<'_> {
        let at = header_offset::WRITER_PRIVATE / 8;
        crate::clock::ClockAnchor {
            words: &self.map.words()[at..at + 4],
        }
    }

    /// Counts a writer process.
    pub fn count_process(&self) {
        self.word(header_offset::PROCESSES / 8)
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a record dropped unwritten.
    pub fn count_drop(&self, why: DropReason) {
        self.word(header_offset::DROPPED / 8 + why as usize)
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Counts values left out of a record that had no room for them.
    #[cold]
    pub fn count_left_out(&self, n: u8) {
        self.word(header_offset::VALUES_LEFT_OUT / 8)
            .fetch_add(u64::from(n), Ordering::Relaxed);
    }

    fn class(&self, class: LaneClass) -> &ClassLanes {
        match class {
            LaneClass::Main => &self.main,
            LaneClass::Alert => &self.alert,
        }
    }

    /// Writes one record into `class`, at the lane of the writer's `turn`,
    /// moving on to the next lane when the turn is over; returns where.
    /// Never blocks, never fails: a record a lap overtakes while it is
    /// written is caught by readers' checksums.
    #[inline]
    pub(crate) fn write_values(
        &self,
        class: LaneClass,
        turn: &Cell<Turn>,
        head: &RecordHead,
        values: &ValueWriter,
    ) -> Place {
        let lanes = self.class(class);
        let mut t = turn.get();
        // Readers order records by time, then lane: records of one time
        // stay in one lane, in the order they were claimed (a host's clock
        // may be coarse, or simulated).
        if t.is_over() && head.time_ns != t.last_ns {
            t.lane = self.next_lane() % lanes.count;
            t.left += lanes.turn[t.lane as usize];
        }
        let lane = lanes.lanes[t.lane as usize];
        let (seq, taken) = crate::commit::write_record(
            self.map.words(),
            lane,
            head,
            values.padded(),
            values.bytes().len(),
        );
        t.left -= taken as i32;
        t.last_ns = head.time_ns;
        turn.set(t);
        Place { lane, seq }
    }

    /// The words of slot `seq` of `lane`, as a reader loads them (the
    /// stamp first): how live output reads its records back.
    pub(crate) fn slot(&self, lane: LaneWords, seq: u64) -> [u64; 8] {
        let base = lane.slots + ((seq & lane.mask) as usize) * 8;
        let words = &self.map.words()[base..base + 8];
        let mut w = [0u64; 8];
        w[0] = words[0].load(Ordering::Acquire);
        for (i, word) in words.iter().enumerate().skip(1) {
            w[i] = word.load(Ordering::Relaxed);
        }
        w
    }

    /// The dictionary's claimed tail, in bytes of its entry log.
    pub(crate) fn dictionary_tail(&self) -> u64 {
        self.word(self.dict_tail).load(Ordering::Acquire)
    }

    /// Copies the dictionary's entry log, up to its claimed tail, into
    /// `out` (as the file holds it: little-endian words).
    pub(crate) fn copy_dictionary_log(&self, out: &mut Vec<u8>) {
        let words = (self.dictionary_tail() as usize / 8).min(self.dict_log_words);
        out.clear();
        for w in &self.map.words()[self.dict_log..self.dict_log + words] {
            out.extend_from_slice(&w.load(Ordering::Acquire).to_le_bytes());
        }
    }

    /// Writes one record into lane `lane` of `class` (modulo the class's
    /// lanes), whose payload is `payload` (at most [`MAX_PAYLOAD`] bytes;
    /// more is cut): for tools that place records themselves.
    pub fn write(&self, class: LaneClass, lane: u32, head: &RecordHead, payload: &[u8]) {
        let len = payload.len().min(MAX_PAYLOAD);
        let mut padded = [0u8; MAX_PAYLOAD];
        padded[..len].copy_from_slice(&payload[..len]);
        let lanes = self.class(class);
        let lane = lanes.lanes[(lane % lanes.count) as usize];
        crate::commit::write_record(self.map.words(), lane, head, &padded, len);
    }

    /// Adds `entry` to the dictionary unless it is there already.
    /// Slow path: called once per callsite or string per process.
    pub fn register(&self, entry: &EncodedEntry) -> Result<(), DictionaryFull> {
        let key = entry.index_key();
        let mask = self.dict_index_len - 1;
        let probe = |i: usize| self.word(self.dict_index + ((key as usize).wrapping_add(i) & mask));
        for i in 0..self.dict_index_len {
            match probe(i).load(Ordering::Acquire) {
                k if k == key => return Ok(()),
                0 => break,
                _ => {}
            }
        }
        let len = entry.words.len();
        let off = self
            .word(self.dict_tail)
            .fetch_add(len as u64 * 8, Ordering::Relaxed) as usize
            / 8;
        if off + len > self.dict_log_words {
            return Err(DictionaryFull);
        }
        let base = self.dict_log + off;
        self.word(base)
            .store(entry.writing_word(), Ordering::Relaxed);
        fence(Ordering::Release);
        for (i, &w) in entry.words.iter().enumerate().skip(1) {
            self.word(base + i).store(w, Ordering::Relaxed);
        }
        self.word(base)
            .store(entry.committed_word(), Ordering::Release);
        for i in 0..self.dict_index_len {
            match probe(i).compare_exchange(0, key, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => break,
                Err(k) if k == key => break,
                Err(_) => {}
            }
        }
        Ok(())
    }
}

/// The dictionary has no room for another entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DictionaryFull;

/// Creates the per-user data folder `dir` if needed (mode 0700). A folder
/// that exists is left as it is — it may be the host's own (caro keeps its
/// downloaded models in `~/.cache/caro`), and a guest does not change its
/// host's modes — but it must be this user's and writable by no one else
/// (the ring in it is 0600 either way), or recording is refused. Only for
/// caro's own folder: a folder a host chose for its ring (`/tmp`) is not
/// checked.
pub fn secure_folder(dir: &Path) -> Result<(), OpenError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io_err(dir, "create folder"))?;
    let meta = fs::metadata(dir).map_err(io_err(dir, "inspect"))?;
    owned(dir, &meta)?;
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(refused(
            dir,
            format!("is writable by other users (mode {mode:04o}); not recording"),
        ));
    }
    Ok(())
}

fn refused(path: &Path, why: String) -> OpenError {
    OpenError::Refused {
        path: path.to_owned(),
        why,
    }
}

/// Refuses `path` (described by `meta`) unless this user owns it.
fn owned(path: &Path, meta: &fs::Metadata) -> Result<(), OpenError> {
    if meta.uid() == sys::euid() {
        return Ok(());
    }
    Err(refused(
        path,
        format!(
            "belongs to another user (uid {}); not recording",
            meta.uid()
        ),
    ))
}

/// Narrows `path`'s mode to `private`, with a warning, if others may use it.
fn tighten(
    path: &Path,
    meta: &fs::Metadata,
    private: u32,
    set_mode: impl FnOnce(u32) -> io::Result<()>,
) -> Result<(), OpenError> {
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        set_mode(private).map_err(io_err(path, "tighten the permissions of"))?;
        crate::warn(&format!(
            "{} was open to other users (mode {mode:04o}); tightened to {private:04o}",
            crate::paths::shown(path)
        ));
    }
    Ok(())
}

fn open_existing(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

/// Creates a complete ring beside `path`, then links it into place, so
/// that no process ever sees a half-made file.
fn create(path: &Path, size: u64, now_ns: u64) -> Result<File, OpenError> {
    static ATTEMPT: AtomicU64 = AtomicU64::new(0);
    let geometry = Geometry::for_size(size);
    remove_stale_temporaries(path);
    // Unique across processes, threads and PID namespaces sharing a folder.
    let tmp = temporary(
        path,
        &format!(
            "{}-{}-{}",
            std::process::id(),
            now_ns,
            ATTEMPT.fetch_add(1, Ordering::Relaxed)
        ),
    );
    let made = (|| -> io::Result<()> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)?;
        match sys::reserve(&file, geometry.file_size()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => {
                file.set_len(geometry.file_size())?;
                let zeros = vec![0u8; 1 << 20];
                let mut off = 0;
                while off < geometry.file_size() {
                    let n = zeros.len().min((geometry.file_size() - off) as usize);
                    file.write_all_at(&zeros[..n], off)?;
                    off += n as u64;
                }
            }
            Err(e) => return Err(e),
        }
        file.write_all_at(&geometry.initial_bytes(now_ns), 0)?;
        file.sync_data()?;
        fs::hard_link(&tmp, path).or_else(|e| {
            // Another process created it first: use theirs.
            if e.kind() == io::ErrorKind::AlreadyExists {
                Ok(())
            } else {
                Err(e)
            }
        })
    })();
    let _ = fs::remove_file(&tmp);
    made.map_err(io_err(path, "create"))?;
    open_existing(path).map_err(io_err(path, "open"))
}

/// `path`'s temporary sibling named by `tag`: `.events.ring.<tag>.tmp`.
fn temporary(path: &Path, tag: &str) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "ring".into(), |n| n.to_string_lossy());
    path.with_file_name(format!(".{name}.{tag}.tmp"))
}

/// Removes temporaries that creators killed mid-way left behind (older
/// than ten minutes: a live creator takes milliseconds).
fn remove_stale_temporaries(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let prefix = format!(".{}.", name.to_string_lossy());
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let file_name = file_name.to_string_lossy();
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().is_ok_and(|age| age.as_secs() > 600));
        if file_name.starts_with(&prefix) && file_name.ends_with(".tmp") && old {
            let _ = fs::remove_file(entry.path());
        }
    }
}
