//! Processes that die mid-record: four `stress_writer` processes of two
//! threads each write self-checking records into one small ring while the
//! test SIGKILLs one of them at a random moment and starts another, many
//! times over, and a reader thread decodes the live file again and again.
//!
//! During and after: no record is accepted whose derived values do not
//! match; each writer's records, in each lane's order, have strictly
//! increasing sequence numbers; every slot of a lane is either part of a
//! record or counted lost, abandoned, pending or corrupt, so a gap between
//! two of a writer's records is never silent. Afterwards the analyzer
//! reads the ring, and a new writer's 1,000 records all decode.
//!
//! The kill schedule is random; the test prints its seed, and
//! `CARO_KILLS_SEED=<seed>` replays it (the writers' own timing is the
//! operating system's). A ring that fails a check is kept in the temporary
//! folder, its path in the failure message.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use caro_format::decode::Lane;
use caro_format::text::field_name;
use caro_format::{decode, decode_at, Decoded, Value};
use caro_tests::{bins, stress_writer};

const RING_SIZE: u64 = 2 << 20;
const PROCESSES: usize = 4;
const THREADS: u64 = 2;
const ROUNDS: usize = 40;
/// Longest wait between two kills.
const MAX_PAUSE_MS: u64 = 300;
/// Records the writer started after the last kill writes.
const AFTERWARDS: u64 = 1_000;

// The derived values of `recorder/examples/stress_writer.rs`, computed again.
const PADS: [&str; 5] = [
    "a",
    "bb",
    "a_static_pad_long_enough_for_the_dictionary",
    "ccc",
    "another_static_pad_that_the_dictionary_keeps",
];

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn check(writer: u64, seq: u64) -> u64 {
    mix(mix(writer.wrapping_add(0x9E37_79B9_7F4A_7C15)) ^ seq)
}

fn extra(check: u64, i: u64) -> u64 {
    mix(check ^ (i + 1).wrapping_mul(0xD6E8_FEB8_6659_FD93))
}

/// Xorshift64*: the kill schedule, replayable from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn seed() -> u64 {
    match std::env::var("CARO_KILLS_SEED") {
        Ok(s) => s.parse().expect("CARO_KILLS_SEED is a number"),
        Err(_) => {
            let ns = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
            (ns.as_nanos() as u64 ^ u64::from(std::process::id())) | 1
        }
    }
}

/// One record of a stress writer, as found in the ring.
#[derive(Clone, Copy, Debug)]
struct Written {
    lane: usize,
    /// The slot sequence of its head.
    slot: u64,
    seq: u64,
}

/// What one reading of the ring found.
#[derive(Clone, Copy, Debug, Default)]
struct Reading {
    /// Stress records whose values all matched.
    checked: u64,
    /// Stress records that could not be checked: their callsite or string
    /// was not yet in the dictionary the reader copied before their slot.
    unchecked: u64,
    /// Records missing between two records of one writer.
    missing: u64,
    /// Writers seen.
    writers: u64,
    lost_to_laps: u64,
    abandoned: u64,
    pending: u64,
    corrupt: u64,
    /// The slots in no record, by their stamp: of another sequence, then of
    /// theirs in state empty, writing, head (a head that failed its checks)
    /// and continuation.
    by_stamp: [u64; 5],
}

/// The head slot's continuation count, from the bytes decoded.
fn cont_of(bytes: &[u8], lane: &Lane, seq: u64) -> u64 {
    let off = caro_format::decode::slot_offset(lane, seq);
    u64::from(bytes[off + 34])
}

/// The stamp of slot `seq` of `lane`: 0 when it holds another sequence,
/// else 1 + its state (empty, writing, head, continuation).
fn stamp_of(bytes: &[u8], lane: &Lane, seq: u64) -> usize {
    let off = caro_format::decode::slot_offset(lane, seq);
    let stamp = u32::from_le_bytes(bytes[off..off + 4].try_into().unwrap());
    if u64::from(stamp >> 2) != seq & ((1 << 30) - 1) {
        0
    } else {
        1 + (stamp & 3) as usize
    }
}

/// Checks a stress record's values; returns its writer and sequence, and
/// whether all of it could be checked (a static string registered after
/// the copy read the dictionary cannot be); `Ok(None)` when not even its
/// callsite is known.
fn checked_record(
    d: &Decoded,
    r: &caro_format::Record,
) -> Result<Option<(u64, u64, bool)>, String> {
    let Some(callsite) = d.dictionary.callsites.get(&r.callsite) else {
        return Ok(None);
    };
    if !callsite.fields.iter().any(|f| f == "writer") {
        return Err(format!("not a stress record: {r:?}"));
    }
    let mut named = BTreeMap::new();
    for v in &r.values {
        named.insert(field_name(r, &d.dictionary, v.field.into()), &v.value);
    }
    let u64_of = |name: &str| match named.get(name) {
        Some(Value::U64(x)) => Ok(*x),
        other => Err(format!("field {name} is {other:?} in {r:?}")),
    };
    let (w, s, c) = (u64_of("writer")?, u64_of("seq")?, u64_of("check")?);
    if c != check(w, s) || r.truncated {
        return Err(format!("check fails: {r:?}"));
    }
    let expected_values = [3, 5, 11, 17][(s % 4) as usize];
    if r.values.len() != expected_values {
        return Err(format!(
            "{} values, not {expected_values}: {r:?}",
            r.values.len()
        ));
    }
    for (name, value) in &named {
        if let Some(i) = name.strip_prefix('x') {
            let i: u64 = i.parse().map_err(|_| format!("field {name} in {r:?}"))?;
            if **value != Value::U64(extra(c, i)) {
                return Err(format!("{name} fails its check: {r:?}"));
            }
        }
    }
    if s % 4 == 1 {
        let pad = PADS[(s % 5) as usize];
        match named.get("pad") {
            Some(Value::Str { text, truncated }) if text == pad && !truncated => {}
            Some(Value::StaticStr(id)) => match d.dictionary.strings.get(id) {
                Some(text) if text == pad => {}
                Some(text) => return Err(format!("pad {text:?}, not {pad:?}: {r:?}")),
                // Its writer and sequence are checked (`check`): the
                // record is there, only its pad cannot be read.
                None => return Ok(Some((w, s, false))),
            },
            other => return Err(format!("pad {other:?}, not {pad:?}: {r:?}")),
        }
        if named.get("message") != Some(&&Value::Message) || callsite.message != "stress" {
            return Err(format!("message missing: {r:?}"));
        }
    }
    Ok(Some((w, s, true)))
}

/// Checks everything the design promises of one reading of `bytes`.
fn verify(bytes: &[u8], d: &Decoded) -> Result<Reading, String> {
    let mut reading = Reading::default();
    // Which slots of each lane belong to a record read.
    let mut covered: Vec<Vec<bool>> = d
        .lanes
        .iter()
        .map(|(l, _)| vec![false; (l.head - l.head.saturating_sub(l.slots())) as usize])
        .collect();
    let mut writers: BTreeMap<u64, Vec<Written>> = BTreeMap::new();
    for r in &d.records {
        let lane = &d.lanes[r.lane].0;
        let oldest = lane.head.saturating_sub(lane.slots());
        let cont = cont_of(bytes, lane, r.seq);
        for s in r.seq..=r.seq + cont {
            let slot = &mut covered[r.lane][(s - oldest) as usize];
            if *slot {
                return Err(format!("slot {s} of lane {} read twice", r.lane));
            }
            *slot = true;
        }
        if r.kind != caro_format::RecordKind::Event {
            continue;
        }
        match checked_record(d, r)? {
            Some((w, seq, whole)) => {
                if whole {
                    reading.checked += 1;
                } else {
                    reading.unchecked += 1;
                }
                writers.entry(w).or_default().push(Written {
                    lane: r.lane,
                    slot: r.seq,
                    seq,
                });
            }
            None => reading.unchecked += 1,
        }
    }
    // Every slot is in a record or counted.
    for ((lane, stats), covered) in d.lanes.iter().zip(&covered) {
        let oldest = lane.head.saturating_sub(lane.slots());
        let uncovered = covered.iter().filter(|c| !**c).count() as u64;
        for (i, _) in covered.iter().enumerate().filter(|(_, c)| !**c) {
            reading.by_stamp[stamp_of(bytes, lane, oldest + i as u64)] += 1;
        }
        let counted = stats.lost_to_laps - oldest + stats.abandoned + stats.pending + stats.corrupt;
        if uncovered != counted || stats.unknown_kinds != 0 {
            return Err(format!(
                "lane {}: {uncovered} slots hold no record, but {counted} are counted: {stats:?}",
                lane.index
            ));
        }
        reading.lost_to_laps += stats.lost_to_laps;
        reading.abandoned += stats.abandoned;
        reading.pending += stats.pending;
        reading.corrupt += stats.corrupt;
    }
    // Each writer: in each lane, sequences rising with the slots, and no
    // sequence read twice. A writer takes turns at the lanes (SPEC.md §11),
    // so the records missing between two of its own may have been in any
    // lane; that none is lost silently is the slot count above (every slot
    // is in a record or counted), and the gaps are only counted here.
    reading.writers = writers.len() as u64;
    for (w, mut records) in writers {
        records.sort_by_key(|r| (r.lane, r.slot));
        for pair in records.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            if a.lane == b.lane && b.seq <= a.seq {
                return Err(format!(
                    "writer {w}: record {} at slot {} after record {} at slot {} (lane {})",
                    b.seq, b.slot, a.seq, a.slot, a.lane
                ));
            }
        }
        records.sort_by_key(|r| r.seq);
        for pair in records.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            if a.seq == b.seq {
                return Err(format!(
                    "writer {w}: record {} read twice, in lanes {} and {}",
                    a.seq, a.lane, b.lane
                ));
            }
            reading.missing += b.seq - a.seq - 1;
        }
    }
    Ok(reading)
}

/// Saves a ring that failed a check, for replaying the decoder on it.
fn keep(bytes: &[u8], seed: u64) -> PathBuf {
    let path = std::env::temp_dir().join(format!("caro-kills-{seed}.ring"));
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Runs `caro-analyze` on `ring`; fails the test unless it succeeds.
fn analyze(home: &Path, ring: &Path, args: &[&str]) -> String {
    let out = Command::new(&bins().analyze)
        .args(args)
        .arg("--ring")
        .arg(ring)
        .env("XDG_CACHE_HOME", home)
        .env_remove("CARO_LOG_FORMAT")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "caro-analyze {} failed ({}): {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `caro-analyze logs --format json`: every stress line's check holds;
/// returns how many there were.
fn analyzer_logs(home: &Path, ring: &Path) -> usize {
    let logs = analyze(home, ring, &["logs", "--format", "json"]);
    let mut stress = 0;
    for line in logs.lines() {
        let l: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("invalid JSON {line:?}: {e}"));
        let f = &l["fields"];
        if let (Some(w), Some(s), Some(c)) =
            (f["writer"].as_u64(), f["seq"].as_u64(), f["check"].as_u64())
        {
            assert_eq!(
                c,
                check(w, s),
                "the analyzer shows a damaged record: {line}"
            );
            stress += 1;
        }
    }
    stress
}

#[test]
fn writers_killed_mid_record_leave_a_ring_that_reads_true() {
    let seed = seed();
    println!("seed {seed} (CARO_KILLS_SEED={seed} replays the schedule)");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let ring = dir.path().join("kills.ring");
    let bins = bins();
    assert!(bins.stress_writer.exists() && bins.analyze.exists());
    let started = Instant::now();

    let mut next_id = 0;
    let mut writers: Vec<Child> = (0..PROCESSES)
        .map(|_| {
            next_id += THREADS;
            stress_writer(&ring, RING_SIZE, next_id - THREADS, THREADS, 0)
        })
        .collect();

    // The reader: decodes the live file again and again.
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (ring, stop) = (ring.clone(), Arc::clone(&stop));
        std::thread::spawn(move || -> Result<(u64, Reading, u64), String> {
            let (mut reads, mut total, mut max_abandoned) = (0, Reading::default(), 0);
            while !stop.load(Ordering::Relaxed) {
                let Ok(bytes) = std::fs::read(&ring) else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                let d = decode(&bytes).map_err(|e| format!("live ring: {e}"))?;
                let r = verify(&bytes, &d).map_err(|e| {
                    format!(
                        "live read {reads}: {e}; ring kept at {:?}",
                        keep(&bytes, seed)
                    )
                })?;
                reads += 1;
                total.checked += r.checked;
                total.unchecked += r.unchecked;
                total.missing += r.missing;
                total.corrupt += r.corrupt;
                total.abandoned += r.abandoned;
                total.pending += r.pending;
                max_abandoned = max_abandoned.max(r.abandoned);
            }
            Ok((reads, total, max_abandoned))
        })
    };

    // The supervisor: kill one writer at a random moment, start another.
    for round in 0..ROUNDS {
        std::thread::sleep(Duration::from_millis(1 + rng.below(MAX_PAUSE_MS)));
        let victim = rng.below(PROCESSES as u64) as usize;
        writers[victim].kill().unwrap();
        writers[victim].wait().unwrap();
        writers[victim] = stress_writer(&ring, RING_SIZE, next_id, THREADS, 0);
        next_id += THREADS;
        if round % 20 == 10 {
            // The analyzer reads the ring while it is written.
            analyze(dir.path(), &ring, &["status", "--json"]);
        }
        if round == ROUNDS / 2 {
            analyzer_logs(dir.path(), &ring);
        }
    }
    for w in &mut writers {
        w.kill().unwrap();
        w.wait().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    let (reads, live, max_abandoned) = reader.join().unwrap().unwrap_or_else(|e| panic!("{e}"));
    println!(
        "{ROUNDS} kills, {} writer ids, in {:.1} s; {reads} live reads: {} records checked, \
         {} unchecked, {} missing between a writer's records; summed over the reads: \
         {} abandoned, {} pending, {} corrupt slots (most abandoned in one read: {max_abandoned})",
        next_id,
        started.elapsed().as_secs_f64(),
        live.checked,
        live.unchecked,
        live.missing,
        live.abandoned,
        live.pending,
        live.corrupt,
    );
    assert!(
        reads >= 5,
        "the reader read the live ring only {reads} times"
    );

    // Afterwards, once every writer is a second gone: all claimed but
    // unwritten slots are abandoned.
    std::thread::sleep(Duration::from_millis(1200));
    let bytes = std::fs::read(&ring).unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let d = decode_at(&bytes, Some(now)).unwrap();
    let after = verify(&bytes, &d).unwrap_or_else(|e| {
        panic!(
            "after the kills: {e}; ring kept at {:?}",
            keep(&bytes, seed)
        )
    });
    let [other, empty, writing, head, cont] = after.by_stamp;
    println!(
        "after the kills: {} records checked from {} writers; {} abandoned, {} corrupt; \
         slots in no record by stamp: {other} of another sequence, {empty} empty, \
         {writing} writing, {head} committed heads, {cont} committed continuations \
         (of a head lapped at the lane's start, or of a writer that died between \
         committing a continuation and its head, which SPEC.md counts corrupt)",
        after.checked, after.writers, after.abandoned, after.corrupt
    );
    assert_eq!(
        after.unchecked, 0,
        "every callsite is in the dictionary by now"
    );
    assert_eq!(after.pending, 0, "no writer is left to finish a slot");
    assert!(
        max_abandoned > 0 || after.abandoned > 0,
        "no kill ever landed mid-record: the test did not test what it says"
    );

    let status: serde_json::Value =
        serde_json::from_str(&analyze(dir.path(), &ring, &["status", "--json"])).unwrap();
    println!("status: {status}");
    let shown = analyzer_logs(dir.path(), &ring);
    assert_eq!(
        shown as u64, after.checked,
        "the analyzer shows every record read"
    );

    // The ring is still usable: a new writer's records all decode.
    let fresh = next_id;
    let out = stress_writer(&ring, RING_SIZE, fresh, 1, AFTERWARDS)
        .wait_with_output()
        .unwrap();
    assert!(out.status.success(), "the writer started afterwards failed");
    let bytes = std::fs::read(&ring).unwrap();
    let d = decode(&bytes).unwrap();
    let last = verify(&bytes, &d).unwrap_or_else(|e| {
        panic!(
            "after a new writer: {e}; ring kept at {:?}",
            keep(&bytes, seed)
        )
    });
    let mut seqs: Vec<u64> = d
        .records
        .iter()
        .filter_map(|r| checked_record(&d, r).ok().flatten())
        .filter(|&(w, _, whole)| whole && w == fresh)
        .map(|(_, s, _)| s)
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (0..AFTERWARDS).collect::<Vec<_>>(), "{last:?}");
    analyze(dir.path(), &ring, &["status", "--json"]);
    analyzer_logs(dir.path(), &ring);
    println!("total {:.1} s", started.elapsed().as_secs_f64());
}
