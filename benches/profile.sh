#!/usr/bin/env bash
# Where an event's time goes, in instructions (repeatable where timings on
# this shared machine are not): callgrind runs the `flood` example — the
# `event` benchmark's shape, caro-recorder as the global subscriber —
# twice, with N and 2N events, and the difference, divided by N, is the
# cost of one event, start-up and exit cancelled out.
#
#   benches/profile.sh [OUT.json]     # N=100000 by default
#   SHAPE=message benches/profile.sh  # the `message` benchmark's shape
#
# Prints one JSON object (and writes it to OUT.json when given): the
# instructions per event, and the functions they are spent in.
set -euo pipefail
cd "$(dirname "$0")/.."

n=${N:-100000}
cargo build --quiet --release -p caro-recorder --example flood
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for events in "$n" "$((2 * n))"; do
    XDG_CACHE_HOME="$work/home-$events" CARO_RING_SIZE=256M \
        valgrind --tool=callgrind --callgrind-out-file="$work/cg.$events" \
        target/release/examples/flood "$events" ${SHAPE:+--$SHAPE} 2>/dev/null
    callgrind_annotate --auto=no --inclusive=no --threshold=100 "$work/cg.$events" > "$work/annotated.$events"
done

python3 - "$work/annotated.$n" "$work/annotated.$((2 * n))" "$n" "${1:-}" <<'EOF'
import json, re, sys

once, twice, n, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]

def costs(path):
    """Self instructions per function, and the program's total."""
    per_function, total = {}, 0
    for line in open(path):
        m = re.match(r"\s*([\d,]+) \([^)]*\)\s+(.*)$", line)
        if not m:
            continue
        count, what = int(m.group(1).replace(",", "")), m.group(2).strip()
        if what.startswith("PROGRAM TOTALS"):
            total = count
        elif ":" in what and not what.startswith("=>"):
            # `file:function [binary]`: keep the function, without the binary.
            function = re.sub(r" \[[^\]]*\]$", "", what.split(":", 1)[1])
            per_function[function] = per_function.get(function, 0) + count
    return per_function, total

a, total_a = costs(once)
b, total_b = costs(twice)
per_event = {f: (b.get(f, 0) - a.get(f, 0)) / n for f in set(a) | set(b)}
top = sorted(((f, c) for f, c in per_event.items() if c >= 5), key=lambda x: -x[1])
result = {
    "events": n,
    "instructions_per_event": (total_b - total_a) / n,
    "functions": [[f, round(c, 1)] for f, c in top],
}
text = json.dumps(result, indent=2)
print(text)
if out:
    with open(out, "w") as f:
        f.write(text + "\n")
EOF
