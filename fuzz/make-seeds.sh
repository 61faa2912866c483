#!/usr/bin/env bash
# Regenerates the seed corpora under fuzz/corpus/ (they are checked in; run
# this only when the format or the store changes). Records three small rings
# with caro_sim, ingests two of them with caro-analyze, and cuts the seeds
# out of them with python3 (standard library only):
#
#   ring/       the golden rings, the golden cases and the caro_sim rings
#               (256 KiB each)
#   header/     the first 4 KiB of each, and a 4 KiB file that is valid
#   dictionary/ each ring's dictionary entry log, cut at its claimed tail
#               (what caro_format::decode::dictionary_log returns)
#   record/     each record of the golden ring, in the record target's
#               input form: 4 control bytes, then its slots
#   histogram/  the `hist` blobs of the store (metrics.db) the ingests wrote
#   (scrubber/, sentences with paths, e-mails, URLs and tokens, is written
#   by hand and left alone.)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
corpus="$root/fuzz/corpus"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cd "$root"
cargo build --release -p caro-recorder --example caro_sim
cargo build --release -p caro-analyze
rm -rf "$corpus"/{ring,header,dictionary,record,histogram}
mkdir -p "$corpus"/{ring,header,dictionary,record,histogram,scrubber}
cp format-spec/golden/v1.3.ring "$corpus/ring/golden-v1.3.ring"
cp format-spec/golden/v1.2.ring "$corpus/ring/golden-v1.2.ring"
cp format-spec/golden/v1.1.ring "$corpus/ring/golden-v1.1.ring"
for case in format-spec/golden/cases/*.ring; do
    cp "$case" "$corpus/ring/case-$(basename "$case")"
done
for seed in 1 2 3; do
    panics=()
    [ "$seed" = 3 ] && panics=(--panics)
    XDG_CACHE_HOME="$tmp/$seed" CARO_RING_SIZE=256K target/release/examples/caro_sim \
        --queries 20 --seed "$seed" --time-scale 0 "${panics[@]}" >/dev/null 2>&1
    cp "$tmp/$seed/caro/events.ring" "$corpus/ring/caro_sim-seed$seed.ring"
done
for seed in 1 3; do
    XDG_CACHE_HOME="$tmp/$seed" CARO_NOW=2026-11-30T07:00:00Z \
        target/release/caro-analyze ingest >/dev/null
done
python3 - "$corpus" "$tmp" <<'PY'
import hashlib, os, sqlite3, struct, sys

corpus, tmp = sys.argv[1], sys.argv[2]

def put(target, name, data):
    with open(os.path.join(corpus, target, name), "wb") as f:
        f.write(data)

rings = sorted(os.listdir(os.path.join(corpus, "ring")))
for name in rings:
    ring = open(os.path.join(corpus, "ring", name), "rb").read()
    stem = name.rsplit(".", 1)[0]
    put("header", stem + ".header", ring[:4096])
    # The dictionary's entry log: after the dedup index, cut at the tail.
    dict_offset, dict_size = struct.unpack_from("<QQ", ring, 40)
    tail, index_len = struct.unpack_from("<QI", ring, dict_offset)
    start = dict_offset + 16 + 8 * index_len
    end = dict_offset + dict_size
    put("dictionary", stem + ".log", ring[start:min(end, start + tail)])

# A header that passes every check in its 4 KiB: two lanes of 16 slots.
page = bytearray(open(os.path.join(corpus, "ring", "golden-v1.3.ring"), "rb").read()[:4096])
struct.pack_into("<I", page, 20, 2)  # lane_count
struct.pack_into("<QQQQ", page, 32, 4096, 256, 1024, 1280)  # file_size, dict, lanes
struct.pack_into("<QQ", page, 200, 0, 0)  # no identity table
page[256:4096] = bytes(4096 - 256)
for lane in range(2):
    struct.pack_into("<QIIQ", page, 1280 + 64 * lane, 0, lane, 4, 2048 + 1024 * lane)
put("header", "valid-4k.header", bytes(page))

# Records of the golden ring: control bytes (every slot restamped for its
# place and sealed, a head then continuations; lane; sequence; head just
# past the record), then its slots as they are in the file.
ring = open(os.path.join(corpus, "ring", "golden-v1.3.ring"), "rb").read()
lanes_offset = struct.unpack_from("<Q", ring, 56)[0]
lane_count = struct.unpack_from("<I", ring, 20)[0]
for lane in range(lane_count):
    head, cls, log2, slots_offset = struct.unpack_from("<QIIQ", ring, lanes_offset + 64 * lane)
    for s in range(max(0, head - (1 << log2)), head):
        at = slots_offset + 64 * (s % (1 << log2))
        stamp = struct.unpack_from("<I", ring, at)[0]
        if stamp & 3 != 2:
            continue
        cont = ring[at + 34]
        slots = b"".join(
            ring[slots_offset + 64 * ((s + i) % (1 << log2)):][:64] for i in range(1 + cont)
        )
        control = bytes([0xFF, lane, s & 0x3F, 1 + cont])
        put("record", "golden-%d-%d" % (lane, s), control + slots)

# Histograms as the store keeps them.
for seed in ("1", "3"):
    db = sqlite3.connect(os.path.join(tmp, seed, "caro", "metrics.db"))
    for (blob,) in db.execute("SELECT hist FROM histograms ORDER BY day, kind, name, backend LIMIT 8"):
        put("histogram", hashlib.sha1(blob).hexdigest()[:16], blob)
PY
echo "seeds: $(find "$corpus" -type f | wc -l) files, $(du -sh "$corpus" | cut -f1)"
