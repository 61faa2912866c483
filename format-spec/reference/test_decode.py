"""Self-test of decode.py: builds small ring files per SPEC.md and checks
the canonical text, and that bad files are refused with a one-line error.

Run from /work/main:  python3 -m unittest format-spec/reference/test_decode.py
"""

import os
import random
import struct
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
DECODER = os.path.join(HERE, "decode.py")
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # leave no __pycache__ beside the decoder
import decode  # noqa: E402  (used for in-process fuzzing and F64 checks)

M64 = (1 << 64) - 1
C = [0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB,
     0xD6E8FEB86659FD93, 0xA0761D6478BD642F, 0xE7037ED1A0B428DB,
     0x8EBC6AF09C88C6E3, 0x589965CC75374CC3]


# --- a small ring writer, written independently of decode.py --------------

def checksum(stamp, words):
    acc = (stamp + 1) * C[0] & M64
    for i, w in enumerate(words):
        acc = (acc + (w ^ i) * C[1 + i % 7]) & M64
    return (acc >> 32) ^ (acc & 0xFFFFFFFF)


def words_of(b):
    return list(struct.unpack("<%dQ" % (len(b) // 8), b))


def fnv1a(b):
    h = 0xcbf29ce484222325
    for x in b:
        h = ((h ^ x) * 0x100000001b3) & M64
    return h or 1


def dict_entry(kind, spec7, strings, ident=None, state=2, bad_check=False):
    body = bytes([kind]) + spec7
    for s in strings:
        s = s.encode()
        body += struct.pack("<H", len(s)) + s
    if ident is None:
        ident = fnv1a(body)
    rest = struct.pack("<Q", ident) + body
    rest += b"\0" * (-len(rest) % 8)
    words = 1 + len(rest) // 8
    stamp = 0xCA70 << 16 | words << 2 | state
    check = checksum(stamp, words_of(rest)) if state == 2 else 0
    return ident, struct.pack("<II", stamp, check ^ bad_check) + rest


def callsite(level, cs_kind, line, name, target, file, fields, message=""):
    spec7 = struct.pack("<BBBI", level, cs_kind, len(fields), line)
    return dict_entry(1, spec7, [name, target, file] + fields + [message])


def slot(seq, state, body56, bad_check=False):
    stamp = (seq % (1 << 30)) << 2 | state
    check = 0 if state == 1 else checksum(stamp, words_of(body56))
    return struct.pack("<II", stamp, check ^ bad_check) + body56


def record(seq, time, cs, span, thread, kind, payload, flags=0, bad_check=False):
    """{seq: slot bytes} of a committed record (head + continuations)."""
    n = len(payload)
    cont = 0 if n <= 28 else -(-(n - 28) // 56)
    padded = payload + b"\0" * (28 + 56 * cont - n)
    head = struct.pack("<QQIIBBBB", time, cs, span, thread, kind, flags, cont, n)
    out = {seq: slot(seq, 2, head + padded[:28], bad_check)}
    for i in range(cont):
        out[seq + 1 + i] = slot(seq + 1 + i, 3, padded[28 + 56 * i:84 + 56 * i])
    return out


def build_ring(lanes, dict_log, index_len=4, tail=None, dict_size=1024,
               major=1, minor=0, created=123456789, processes=2, dropped=(3, 1)):
    """lanes: list of (class, slots_log2, head, {seq: 64-byte slot})."""
    dict_offset = 4096
    lanes_offset = dict_offset + dict_size
    slots_offset = lanes_offset + 64 * len(lanes)
    slots_offset += -slots_offset % 64
    lane_headers, lane_slots = b"", []
    for cls, log2, head, slots in lanes:
        n = 1 << log2
        area = bytearray(64 * n)
        for seq, data in slots.items():
            area[64 * (seq % n):64 * (seq % n) + 64] = data
        lane_headers += struct.pack("<QIIQ40x", head, cls, log2, slots_offset)
        slots_offset += len(area)
        lane_slots.append(bytes(area))
    file_size = slots_offset
    hdr = bytearray(4096)
    struct.pack_into("<8sHHIIIIIQQQQQQQQ", hdr, 0, b"CARORING", major, minor, 4096,
                     64, len(lanes), 1, 0, file_size, dict_offset, dict_size,
                     lanes_offset, created, 1000, 7, processes)
    struct.pack_into("<8Q", hdr, 96, *(list(dropped) + [0] * (8 - len(dropped))))
    region = bytearray(dict_size)
    struct.pack_into("<QI", region, 0, len(dict_log) if tail is None else tail,
                     index_len)
    start = 16 + 8 * index_len
    region[start:start + len(dict_log)] = dict_log
    out = bytes(hdr) + bytes(region) + lane_headers
    out += b"\0" * (-len(out) % 64)
    return out + b"".join(lane_slots)


def tag(vtype, skip=0):
    return bytes([vtype << 4 | skip])


def u64v(x, skip=0): return tag(0, skip) + struct.pack("<Q", x)
def strv(s, skip=0, cut=False):
    b = s.encode()
    return tag(6, skip) + bytes([len(b) | (0x80 if cut else 0)]) + b


# --- the sample ring -------------------------------------------------------

def sample_ring():
    X, cs_x = callsite(3, 0, 42, "event main", "app", "src/main.rs",
                       ["message", "count"], 'hello "world"\n')
    Z, cs_z = callsite(2, 1, 7, "handle", "app::web", "src/web.rs", ["user"])
    _, future = dict_entry(3, bytes(7), ["an entry kind of a newer minor"])
    Y, str_y = dict_entry(2, bytes(7), ["static text"])
    _, unfinished = dict_entry(2, bytes(7), ["half"], state=1)
    _, bad = dict_entry(2, bytes(7), ["abc"], bad_check=True)
    log = cs_x + future + bytes(8) + str_y + unfinished + bad + cs_z
    tail = len(log) + 8  # 8 trailing bytes: fewer than 16, skipped

    lane0 = {}
    lane0.update(record(0, 1000, X, 0, 11, 1, tag(8) + u64v(5)))
    lane0.update(record(1, 2000, X, 5, 11, 1, tag(8) + strv("abcdefghij" * 4, cut=True)))
    lane0.update(record(3, 3000, Z, 5, 12, 2, struct.pack("<I", 0) + strv("alice")))
    lane0[4] = slot(4, 1, struct.pack("<Q", 3500) + bytes(48))      # writing
    lane0.update(record(5, 4500, X, 0, 11, 1, tag(8) + strv("x" * 30), bad_check=True))
    mixed = (tag(2) + struct.pack("<d", 0.1 + 0.2) + tag(1, 1) + struct.pack("<q", -3)
             + tag(11) + tag(5) + struct.pack("<Q", Y) + tag(5) + struct.pack("<Q", 0x1234)
             + tag(4) + tag(3) + tag(7) + struct.pack("<I", 1000)
             + tag(15) + bytes([3, 2, 9, 9])
             + tag(9) + (1 << 100).to_bytes(16, "little")
             + tag(10) + (-5).to_bytes(16, "little", signed=True)
             + tag(2) + struct.pack("<d", 1e-7) + tag(2) + struct.pack("<d", 1e16)
             + tag(2) + struct.pack("<d", -0.0) + tag(8))
    lane0.update(record(7, 4000, 0xDEADBEEF, 0, 13, 1, mixed, flags=1))
    # seq 10 stays zero: claimed, never stamped, in a lane written just now -> pending

    # 16 slots, head 26: sequences 10 to 25 are held, 0 to 9 lapped.
    lane1 = {}
    lane1.update({10: slot(10, 3, bytes(56))})            # continuation, head lapped
    lane1.update(record(11, 500, 0, 0, 1, 7, u64v(4242)))
    lane1.update(record(28, 99, 0, 0, 1, 7, u64v(1)))     # slot of seq 12: newer
    lane1.update(record(13, 4000, 0, 0, 2, 9, strv("src/x.rs") + u64v(10) + u64v(5)))
    for seq in range(14, 26):                             # all overwritten since
        lane1.update(record(seq + 16, 99, 0, 0, 1, 7, u64v(1)))

    # 16 slots, head 20: an unknown kind with one continuation at 18.
    lane2 = record(18, 100, 0, 0, 1, 200, bytes(40))
    for seq in range(4, 18):
        lane2.update(record(seq + 16, 99, 0, 0, 1, 7, u64v(1)))

    return build_ring([(0, 4, 11, lane0), (1, 4, 26, lane1), (0, 4, 20, lane2)],
                      log, tail=tail)


EXPECTED = """\
ring v1.0 lanes=3 slots=48 created=123456789 processes=2 dropped=dictionary_full:3,callsite_table_full:1
dictionary entries=4 unfinished=1 skipped_bytes=48
lane 0 main slots=16 head=11 records=4 lost_to_laps=0 abandoned=0 pending=2 corrupt=2 unknown_kinds=0
lane 1 alert slots=16 head=26 records=2 lost_to_laps=24 abandoned=0 pending=0 corrupt=0 unknown_kinds=0
lane 2 main slots=16 head=20 records=0 lost_to_laps=18 abandoned=0 pending=0 corrupt=0 unknown_kinds=1
record 500 lane=1 seq=11 thread=1 PROCESS_START span=0 pid=4242
record 1000 lane=0 seq=0 thread=11 EVENT span=0 INFO app "event main" src/main.rs:42 message="hello \\"world\\"\\u{0a}" count=5
record 2000 lane=0 seq=1 thread=11 EVENT span=5 INFO app "event main" src/main.rs:42 message="hello \\"world\\"\\u{0a}" count="abcdefghijabcdefghijabcdefghijabcdefghij"(truncated)
record 3000 lane=0 seq=3 thread=12 SPAN_NEW span=5 parent=0 DEBUG app::web "handle" src/web.rs:7 user="alice"
record 4000 lane=0 seq=7 thread=13 EVENT span=0 callsite=00000000deadbeef truncated f0=0.30000000000000004 f2=-3 f4="static text" f5=<string 0000000000001234> f6=true f7=false f8=<redacted 1000 bytes> f9=<ext 3 2 bytes> f10=1267650600228229401496703205376 f11=-5 f12=0.0000001 f13=10000000000000000 f14=-0 f15=<message missing>
record 4000 lane=1 seq=13 thread=2 PANIC span=0 file="src/x.rs" line=10 column=5
totals records=6 lost_to_laps=42 abandoned=0 pending=2 corrupt=2 unknown_kinds=1
"""


def run(data):
    with tempfile.NamedTemporaryFile(suffix=".ring", delete=False) as f:
        f.write(data)
    try:
        p = subprocess.run([sys.executable, DECODER, f.name], capture_output=True)
    finally:
        os.unlink(f.name)
    return p.returncode, p.stdout.decode("utf-8"), p.stderr.decode("utf-8")


class SampleRing(unittest.TestCase):
    def test_canonical_text(self):
        code, out, err = run(sample_ring())
        self.assertEqual((code, err), (0, ""))
        self.assertEqual(out.splitlines(), EXPECTED.splitlines())
        self.assertEqual(out, EXPECTED)

    def test_newer_minor_is_read(self):
        data = bytearray(sample_ring())
        struct.pack_into("<H", data, 10, 7)
        code, out, _ = run(bytes(data))
        self.assertEqual(code, 0)
        self.assertTrue(out.startswith("ring v1.7 lanes=3 "))

    def test_pending_becomes_abandoned_when_old(self):
        # A record 2 s newer than the writing slot's time makes it abandoned;
        # the slot after it, never stamped, takes the record's time: pending.
        lanes = [(0, 4, 3, {0: slot(0, 1, struct.pack("<Q", 1) + bytes(48)),
                            **record(1, 2 * 10**9 + 2, 0, 0, 1, 7, u64v(1))})]
        code, out, _ = run(build_ring(lanes, b""))
        self.assertEqual(code, 0)
        self.assertIn("lane 0 main slots=16 head=3 records=1 lost_to_laps=0 "
                      "abandoned=1 pending=1 corrupt=0", out)

    def test_empty_dictionary_when_index_too_big(self):
        code, out, _ = run(build_ring([(0, 4, 0, {})], b"", index_len=1000))
        self.assertEqual(code, 0)
        self.assertIn("dictionary entries=0 unfinished=0 skipped_bytes=0\n", out)


class F64AndQuoting(unittest.TestCase):
    def test_f64(self):
        cases = [(1.0, "1"), (100.0, "100"), (1e-7, "0.0000001"), (-0.0, "-0"),
                 (0.0, "0"), (1e16, "10000000000000000"), (0.92, "0.92"),
                 (-2.5, "-2.5"), (0.1 + 0.2, "0.30000000000000004"),
                 (float("nan"), "NaN"), (float("inf"), "inf"),
                 (float("-inf"), "-inf"), (5e-324, "0." + "0" * 323 + "5"),
                 (123456789012345680000.0, "123456789012345680000")]
        for x, text in cases:
            self.assertEqual(decode.format_f64(x), text, repr(x))

    def test_quote(self):
        self.assertEqual(decode.quote('a"b\\c\x00\x1f\x7f\u00e9'),
                         '"a\\"b\\\\c\\u{00}\\u{1f}\\u{7f}\u00e9"')


class BadFiles(unittest.TestCase):
    def refused(self, data, fragment):
        code, out, err = run(data)
        self.assertEqual(code, 1)
        self.assertEqual(out, "")
        self.assertTrue(err.startswith("error: "), err)
        self.assertEqual(err.count("\n"), 1, err)
        self.assertIn(fragment, err)
        self.assertNotIn("Traceback", err)

    def test_empty(self):
        self.refused(b"", "not a ring")

    def test_wrong_magic(self):
        self.refused(b"CARORINX" + bytes(4088), "not a ring")

    def test_short_header(self):
        self.refused(b"CARORING" + bytes(100), "truncated")

    def test_newer_major(self):
        data = bytearray(sample_ring())
        struct.pack_into("<H", data, 8, 2)
        self.refused(bytes(data), "newer major version 2")

    def test_major_zero(self):
        data = bytearray(sample_ring())
        struct.pack_into("<H", data, 8, 0)
        self.refused(bytes(data), "unsupported")

    def test_truncated(self):
        self.refused(sample_ring()[:-100], "truncated")

    def test_bad_lane_class(self):
        data = bytearray(sample_ring())
        struct.pack_into("<I", data, 4096 + 1024 + 8, 7)
        self.refused(bytes(data), "class")

    def test_missing_file(self):
        code, _, err = run(b"")  # sanity: the helper works on an empty file
        self.assertEqual(code, 1)
        p = subprocess.run([sys.executable, DECODER, "/nonexistent/ring"],
                           capture_output=True)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stderr.decode().count("\n"), 1)

    def test_fuzz_in_process(self):
        """Mutated rings give canonical text or a refusal, never a crash."""
        base = sample_ring()
        rng = random.Random(1)
        for _ in range(1500):
            data = bytearray(base)
            for _ in range(rng.randint(1, 8)):
                pos = rng.randrange(4096 + 1024 + 256) if rng.random() < 0.5 \
                    else rng.randrange(len(data))
                data[pos] = rng.randrange(256)
            if rng.random() < 0.1:
                data = data[:rng.randrange(len(data))]
            try:
                decode.canonical_text(bytes(data))
            except decode.RingError:
                pass

    def test_random_bytes(self):
        rng = random.Random(2)
        for n in (0, 7, 8, 300, 5000):
            data = b"CARORING" + bytes(rng.randrange(256) for _ in range(n))
            try:
                decode.canonical_text(data)
            except decode.RingError:
                pass


if __name__ == "__main__":
    unittest.main()
