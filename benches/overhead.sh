#!/usr/bin/env bash
# What recording costs a busy host, end to end: the whole-process CPU time
# (user + system) of caro_sim recording at `debug`, against the same run
# with CARO_LOG=off, the median of RUNS runs of each, interleaved so that
# a noisy neighbour hurts both alike.
#
# caro_sim spends a hundredth of each simulated latency computing
# (`--busy --time-scale 0.01`: a 1.4 s model load is 14 ms of CPU), as a
# model's inference would, and records every span and event of its
# requests through the recorder.
#
#   benches/overhead.sh [OUT.json]     # RUNS=5 QUERIES=1000 by default
#
# Prints one JSON object (and writes it to OUT.json when given).
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${RUNS:-5}
queries=${QUERIES:-1000}
cargo build --quiet --release -p caro-recorder --example caro_sim
sim=target/release/examples/caro_sim

python3 - "$sim" "$runs" "$queries" "${1:-}" <<'EOF'
import json, os, resource, statistics, subprocess, sys, tempfile

sim, runs, queries, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
args = [sim, "--queries", queries, "--threads", "2", "--seed", "7",
        "--time-scale", "0.01", "--busy"]

def cpu_seconds(env_extra):
    """CPU time of one caro_sim run, in a fresh data folder."""
    with tempfile.TemporaryDirectory() as home:
        env = {k: v for k, v in os.environ.items()
               if k not in ("RUST_LOG", "CARO_LOG", "CARO_RING_SIZE")}
        env.update(XDG_CACHE_HOME=home, **env_extra)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(args, env=env, check=True, stdout=subprocess.DEVNULL)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)

recording, off = [], []
for _ in range(runs):
    recording.append(cpu_seconds({"RUST_LOG": "debug", "CARO_RING_SIZE": "64M"}))
    off.append(cpu_seconds({"CARO_LOG": "off"}))
result = {
    "runs": runs,
    "queries": int(queries),
    "recording_cpu_s": statistics.median(recording),
    "off_cpu_s": statistics.median(off),
}
result["ratio"] = result["recording_cpu_s"] / result["off_cpu_s"]
text = json.dumps(result, indent=2)
print(text)
if out:
    with open(out, "w") as f:
        f.write(text + "\n")
EOF
