#!/usr/bin/env bash
# Runs every benchmark — the recorder against its peers (the event group
# twice: the workspace's benchmark profile, and fat LTO), the ring's size,
# decoding, ingest and report, the end-to-end overhead, and an
# instruction profile of one event — then writes
# BENCHMARKS.md from their output (benches/report.py).
#
#   benches/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
criterion=target/criterion
mkdir -p "$criterion"
cargo bench -p caro-benches --bench recorder
# The event group again as the developers' optimised build makes it (the
# workspace's benchmark profile is a host's plain release build).
CARGO_PROFILE_BENCH_LTO=fat CARGO_PROFILE_BENCH_CODEGEN_UNITS=1 CARGO_TARGET_DIR="$PWD/target/lto" \
    cargo bench -p caro-benches --bench recorder -- '^event/'
cargo bench -p caro-benches --bench size
cargo bench -p caro-benches --bench analyzer
benches/overhead.sh "$criterion/overhead.json"
benches/profile.sh "$criterion/profile.json"
python3 benches/report.py "$criterion" "$(( $(date +%s) - start ))" target/lto/criterion > BENCHMARKS.md
echo "BENCHMARKS.md written in $(( ($(date +%s) - start) / 60 )) minutes"
