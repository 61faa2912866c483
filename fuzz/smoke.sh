#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (default 30 s each) on the
# stable toolchain, without a sanitizer, starting from the checked-in seed
# corpus; fails if any target crashes, panics, hangs or runs out of memory.
#
#   fuzz/smoke.sh [SECONDS] [TARGET…]
#
# FUZZ_SKIP="a b" leaves targets out (for a known crash being fixed; say
# why where you set it).
# New inputs go to a temporary corpus, never into fuzz/corpus/; a failing
# input is saved under fuzz/artifacts/TARGET/ and named in the summary.
set -euo pipefail
seconds="${1:-30}"
shift || true
cd "$(dirname "$0")"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo fuzz list)
fi
for skip in ${FUZZ_SKIP:-}; do
    for i in "${!targets[@]}"; do
        if [ "${targets[$i]}" = "$skip" ]; then
            echo "fuzz ${skip}: skipped (FUZZ_SKIP)"
            unset 'targets[i]'
        fi
    done
done
cargo fuzz build --sanitizer none
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failed=()
for target in "${targets[@]}"; do
    mkdir -p "$work/$target" "artifacts/$target"
    log="$work/$target.log"
    if cargo fuzz run --sanitizer none "$target" "$work/$target" "corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        >"$log" 2>&1; then
        done_line="$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1 || true)"
        runs="$(sed -nE 's/^stat::number_of_executed_units:[[:space:]]*//p' "$log" | tail -1)"
        speed="$(sed -nE 's/^stat::average_exec_per_sec:[[:space:]]*//p' "$log" | tail -1)"
        cov="$(sed -nE 's/.* cov: ([0-9]+) ft: ([0-9]+) corp: ([0-9]+).*/cov \1, features \2, corpus \3/p' <<<"$done_line")"
        printf 'fuzz %-10s ok    %ss, %s runs, %s/s, %s\n' "$target" "$seconds" "$runs" "$speed" "$cov"
    else
        artifact="$(sed -nE 's/.*Test unit written to (.*)$/\1/p' "$log" | tail -1)"
        why="$(grep -m1 -E 'panicked at|ERROR: libFuzzer|SUMMARY' "$log" || true)"
        printf 'fuzz %-10s FAIL  %s; input: %s\n' "$target" "${why:-see log}" "${artifact:-none}"
        grep -E -A3 'panicked at|ERROR: libFuzzer' "$log" | head -n 12 | sed 's/^/    /'
        failed+=("$target")
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: ${#failed[@]} target(s) failed: ${failed[*]}"
    exit 1
fi
