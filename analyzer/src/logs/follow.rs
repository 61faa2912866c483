//! `logs --follow`: printing records as writers commit them, like `tail -f`.
//!
//! Following starts from now: the first read takes in what the ring holds
//! (learning its spans) and prints only the history `-n` asks for
//! ([`Follower::ingest_with`]); every later read prints what is new.
//!
//! Every poll re-reads and decodes the whole file, then prints the records
//! it has not printed before. Per lane, the follower remembers a *resume*
//! sequence and which records at or after it were printed; everything
//! before it was printed already or is gone. The resume point trails the
//! lane's head by [`WINDOW`] slots and never passes the first slot a
//! writer may still be on ([`caro_format::LaneStats::first_open`]), so a
//! record a writer is still writing, or has claimed but not yet stamped,
//! is printed once it is committed, and printed once only.
//!
//! Between polls, a cheap [`Probe`] of the header and lane heads says
//! whether anything was claimed; the file is re-read when it was, while
//! any slot is pending, and at least every [`FULL_READ_EVERY`].

use std::collections::BTreeSet;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use caro_format::{Decoded, Record};

use crate::error::Result;
use crate::logs::{slots, LogPrinter};
use crate::read::{Probe, Ring};
use crate::scrub;

/// Time between polls.
pub const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// The longest the follower goes without re-reading the whole file.
pub const FULL_READ_EVERY: Duration = Duration::from_secs(1);
/// Slots before a lane's head that every poll looks at again.
pub const WINDOW: u64 = 1024;
/// How long a closed span is remembered, for events committed late.
const CLOSED_SPAN_MEMORY_NS: u64 = 60_000_000_000;

#[derive(Clone, Debug, Default)]
struct LaneCursor {
    /// Sequences before this one are printed or gone.
    resume: u64,
    /// The lane's head at the last read.
    head: u64,
    /// Head sequences at or after `resume` already printed.
    printed: BTreeSet<u64>,
}

/// What one read of the ring brought.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ingested {
    /// Log lines printed.
    pub printed: u64,
    /// The ring was recreated since the last read: everything in it is new.
    pub recreated: bool,
    /// Slots claimed and overwritten between two reads: never seen.
    pub lost_to_laps: u64,
}

/// Follows one ring file.
#[derive(Debug)]
pub struct Follower {
    path: PathBuf,
    created_ns: Option<u64>,
    lanes: Vec<LaneCursor>,
    probe: Option<Probe>,
    pending: bool,
    last_read: Option<Instant>,
    /// The last read error reported, so that it is reported once.
    last_error: Option<String>,
}

impl Follower {
    /// A follower of the ring at `path` that has printed nothing yet.
    pub fn new(path: &Path) -> Follower {
        Follower {
            path: path.to_owned(),
            created_ns: None,
            lanes: Vec::new(),
            probe: None,
            pending: false,
            last_read: None,
            last_error: None,
        }
    }

    /// Prints the records of `ring` not printed before, oldest first.
    pub fn ingest<W: Write>(
        &mut self,
        ring: &Ring,
        printer: &mut LogPrinter<W>,
    ) -> io::Result<Ingested> {
        self.ingest_with(ring, printer, |p, r, d| p.record(r, d))
    }

    /// As [`Follower::ingest`], but hands each record not taken before to
    /// `each`, which says whether it printed a line: how `logs` takes in
    /// the ring as it is when following starts, printing only the last
    /// events `-n` asks for.
    pub fn ingest_with<W, F>(
        &mut self,
        ring: &Ring,
        printer: &mut LogPrinter<W>,
        mut each: F,
    ) -> io::Result<Ingested>
    where
        W: Write,
        F: FnMut(&mut LogPrinter<W>, &Record, &Decoded) -> io::Result<bool>,
    {
        let d = &ring.decoded;
        let mut result = Ingested::default();
        let same_ring = self.created_ns == Some(d.header.created_ns)
            && self.lanes.len() == d.lanes.len()
            && d.lanes
                .iter()
                .zip(&self.lanes)
                .all(|((l, _), c)| l.head >= c.head);
        if !same_ring {
            result.recreated = self.created_ns.is_some();
            self.created_ns = Some(d.header.created_ns);
            self.lanes = vec![LaneCursor::default(); d.lanes.len()];
            printer.spans_mut().clear();
        } else {
            for ((lane, _), c) in d.lanes.iter().zip(&self.lanes) {
                let oldest_held = lane.head.saturating_sub(lane.slots());
                result.lost_to_laps += oldest_held.saturating_sub(c.head);
            }
        }
        for r in &d.records {
            let c = &mut self.lanes[r.lane];
            if r.seq < c.resume || !c.printed.insert(r.seq) {
                continue;
            }
            if each(printer, r, d)? {
                result.printed += 1;
            }
        }
        for ((lane, stats), c) in d.lanes.iter().zip(&mut self.lanes) {
            let mut resume = lane.head.saturating_sub(WINDOW);
            if let Some(p) = stats.first_open {
                resume = resume.min(p);
            }
            c.resume = c.resume.max(resume);
            c.printed = c.printed.split_off(&c.resume);
            c.head = lane.head;
        }
        if let Some(newest) = d.records.last() {
            let cutoff = newest.time_ns.saturating_sub(CLOSED_SPAN_MEMORY_NS);
            printer.spans_mut().forget_closed_before(cutoff);
        }
        self.pending = d.totals().pending > 0;
        self.probe = Some(Probe::of(ring));
        self.last_read = Some(Instant::now());
        Ok(result)
    }

    /// One poll: re-reads the ring if it may have changed, prints what is
    /// new and reports on `err` what was lost. A ring that cannot be read
    /// (being recreated, or gone for now) is reported once and retried.
    pub fn poll<W: Write>(
        &mut self,
        printer: &mut LogPrinter<W>,
        err: &mut dyn Write,
    ) -> Result<()> {
        let fresh = self
            .last_read
            .is_some_and(|t| t.elapsed() < FULL_READ_EVERY);
        if fresh && !self.pending && self.probe.is_some() && Probe::read(&self.path) == self.probe {
            return Ok(());
        }
        let ring = match scrub::ring::load(&self.path) {
            Ok(ring) => ring,
            Err(e) => {
                let e = e.to_string();
                if self.last_error.as_ref() != Some(&e) {
                    let _ = writeln!(err, "caro-analyze: {e} (still following)");
                    self.last_error = Some(e);
                }
                self.probe = None;
                return Ok(());
            }
        };
        self.last_error = None;
        let got = self.ingest(&ring, printer)?;
        if got.printed > 0 {
            printer.flush()?;
        }
        if got.recreated {
            let _ = writeln!(
                err,
                "caro-analyze: the ring was recreated; following the new one"
            );
        }
        if got.lost_to_laps > 0 {
            let n = slots(got.lost_to_laps);
            let _ = writeln!(err, "caro-analyze: {n} lost to laps while following");
        }
        Ok(())
    }

    /// Polls every [`POLL_INTERVAL`] until writing the output fails.
    pub fn run<W: Write>(
        &mut self,
        printer: &mut LogPrinter<W>,
        err: &mut dyn Write,
    ) -> Result<()> {
        loop {
            std::thread::sleep(POLL_INTERVAL);
            self.poll(printer, err)?;
        }
    }
}
