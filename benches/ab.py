#!/usr/bin/env python3
"""Two caro-analyze binaries against each other, on the analyzer
benchmarks' fixtures (benches/benches/analyzer.rs), run alternately in one
window so that the machine's drift falls on both.

    benches/ab.py OLD_BINARY NEW_BINARY [ROUNDS]    # default 7 rounds

For a change that should not move `ingest` or `report` (a refactoring),
where two runs of benches/run.sh an hour apart differ by more than the
change could. Build the old binary from a worktree, for example:

    git worktree add /tmp/old REV
    CARGO_TARGET_DIR=/tmp/old-target cargo build --release -p caro-analyze \
        --manifest-path /tmp/old/Cargo.toml
    cargo build --release -p caro-analyze --example caro_sim -p caro-recorder
    benches/ab.py /tmp/old-target/release/caro-analyze target/release/caro-analyze

The fixtures are those of benches/benches/analyzer.rs (keep them in step),
made by the workspace's release caro_sim: a ring of about
1,000,000 records (54,000 requests, 4 threads, 256 MiB), and a store of 30
days of 2,000 requests each. Each round ingests the ring into a fresh
store with each binary, and runs `report --json` over the 30 days three
times with each. Prints the medians and new/old.
"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sim = os.path.join(root, "target", "release", "examples", "caro_sim")
old, new = (os.path.abspath(b) for b in sys.argv[1:3])
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 7
ring_now = "2026-11-02T12:00:00Z"
report_now = "2026-10-30T23:30:00Z"
# What a developer's shell may set that would change what is recorded or read.
env = {
    k: v
    for k, v in os.environ.items()
    if k not in ("RUST_LOG", "CARO_LOG", "CARO_LOG_FORMAT", "CARO_RING_SIZE", "CARO_NOW")
}


def run(args, home, **extra):
    subprocess.run(
        args,
        env=dict(env, XDG_CACHE_HOME=home, **extra),
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def timed(args, home, now):
    start = time.perf_counter()
    run(args, home, CARO_NOW=now)
    return time.perf_counter() - start


def fresh_store(home):
    """Deletes everything beside the ring in `home`'s data folder."""
    data = os.path.join(home, "caro")
    for name in os.listdir(data):
        if name != "events.ring":
            path = os.path.join(data, name)
            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)


with tempfile.TemporaryDirectory() as tmp:
    ring, store = os.path.join(tmp, "ring"), os.path.join(tmp, "store")
    run([sim, "--queries", "54000", "--threads", "4", "--time-scale", "0", "--seed", "1",
         "--start", "2026-11-01T00:00:00Z"], ring, CARO_RING_SIZE="256M")
    for day in range(1, 31):
        run([sim, "--start", f"2026-10-{day:02}T09:00:00Z", "--queries", "2000", "--threads", "2",
             "--time-scale", "0", "--seed", str(day)], store, CARO_RING_SIZE="64M")
        run([old, "ingest"], store, CARO_NOW=f"2026-10-{day:02}T23:00:00Z")

    times = {(what, b): [] for what in ("ingest", "report") for b in ("old", "new")}
    for r in range(rounds):
        order = [("old", old), ("new", new)]
        for name, binary in order if r % 2 == 0 else order[::-1]:
            fresh_store(ring)
            times[("ingest", name)].append(timed([binary, "ingest"], ring, ring_now))
            for _ in range(3):
                report = [binary, "report", "--json", "--no-ingest", "--days", "30"]
                times[("report", name)].append(timed(report, store, report_now))

for what in ("ingest", "report"):
    o, n = (statistics.median(times[(what, b)]) for b in ("old", "new"))
    runs = len(times[(what, "old")])
    print(f"{what}: old {o * 1000:.1f} ms, new {n * 1000:.1f} ms, new/old {n / o:.3f} (medians of {runs})")
