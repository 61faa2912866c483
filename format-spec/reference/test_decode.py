"""Self-test of decode.py: builds small ring files per SPEC.md (v1.0 to
v1.3: templates, the identity table, the rules settled in v1.3) and checks
the canonical text, and that bad files are refused with a one-line error;
then checks the golden rings (golden/*.ring, golden/cases/*.ring) present.

Run from /work/main:  python3 -m unittest format-spec/reference/test_decode.py
"""

import glob
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


def identity(q, pid, tid, started, since, version=0, state=2, bad_check=False,
             seq=None):
    """A 48-byte identity entry (SPEC 10) for identity number q; seq, when
    given, is the sequence its stamp says instead of q."""
    stamp = ((q if seq is None else seq) % (1 << 30)) << 2 | state
    body = struct.pack("<IIQQQQ", pid, tid, started, since, version, 0)
    check = checksum(stamp, words_of(body)) if state in (2, 3) else 0
    return struct.pack("<II", stamp, check ^ bad_check) + body


def build_ring(lanes, dict_log, index_len=4, tail=None, dict_size=1024,
               major=1, minor=0, created=123456789, processes=2, dropped=(3, 1),
               values_left_out=0, ids=None):
    """lanes: list of (class, slots_log2, head, {seq: 64-byte slot});
    ids (v1.3): None, or (ids_size, tail, {q: 48-byte entry}), the table
    placed between the dictionary and the lane headers (SPEC 1)."""
    dict_offset = 4096
    ids_offset, ids_size, ids_region = 0, 0, b""
    if ids is not None:
        ids_size, ids_tail, entries = ids
        ids_offset = dict_offset + dict_size
        capacity = (ids_size - 16) // 48
        region_ids = bytearray(ids_size)
        struct.pack_into("<Q", region_ids, 0, ids_tail)
        for q, entry in entries.items():
            off = 16 + 48 * (q % capacity)
            region_ids[off:off + 48] = entry
        ids_region = bytes(region_ids) + b"\0" * (-ids_size % 64)
    lanes_offset = dict_offset + dict_size + len(ids_region)
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
    struct.pack_into("<Q", hdr, 192, values_left_out)  # v1.2; zero before
    struct.pack_into("<QQ", hdr, 200, ids_offset, ids_size)  # v1.3; zero before
    region = bytearray(dict_size)
    struct.pack_into("<QI", region, 0, len(dict_log) if tail is None else tail,
                     index_len)
    start = 16 + 8 * index_len
    region[start:start + len(dict_log)] = dict_log
    out = bytes(hdr) + bytes(region) + ids_region + lane_headers
    out += b"\0" * (-len(out) % 64)
    return out + b"".join(lane_slots)


def tag(vtype, skip=0):
    return bytes([vtype << 4 | skip])


def u64v(x, skip=0): return tag(0, skip) + struct.pack("<Q", x)
def i64v(x, skip=0): return tag(1, skip) + struct.pack("<q", x)
def strv(s, skip=0, cut=False):
    b = s.encode()
    return tag(6, skip) + bytes([len(b) | (0x80 if cut else 0)]) + b


# TEMPLATE values (EXT type 1, SPEC 6.2) and their parts.

def leb128(x):
    out = bytearray()
    while True:
        out.append(x & 0x7F | (0x80 if x >> 7 else 0))
        x >>= 7
        if not x:
            return bytes(out)


def t_text(s):
    b = s.encode() if isinstance(s, str) else s
    assert 1 <= len(b) <= 127
    return bytes([len(b)]) + b


def t_hole(n): return b"\x80" + leb128(n)
def t_string(ident): return b"\x81" + struct.pack("<Q", ident)
def t_cut(n): return b"\x82" + leb128(n)


def ext(body, ext_type=1, skip=0):
    return tag(15, skip) + bytes([ext_type, len(body)]) + body


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


# --- a v1.2 ring: templates, left_out, values_left_out ----------------------

def template_ring():
    X, cs_x = callsite(3, 0, 9, "templated", "app::t", "src/t.rs",
                       ["message", "detail", "n"])
    S, str_s = dict_entry(2, bytes(7), ["static text"])
    E, str_e = dict_entry(2, bytes(7), [""])
    assert 0x1234 not in (X, S, E)
    log = cs_x + str_s + str_e
    lane = {}
    lane.update(record(0, 100, X, 0, 1, 1,
                       ext(t_text("found in 1.2ms: ") + t_hole(23))))
    # A run of TEXT and found STRING parts is one quoted string; a missing
    # STRING is a placeholder between runs. 45 bytes: one continuation.
    lane.update(record(1, 200, X, 0, 1, 1,
                       ext(t_text('say "hi"\n') + t_string(S) + t_text(" \u00e9\u2713"))
                       + ext(t_text("x") + t_string(0x1234) + t_text("y\t"))))
    # Multi-byte LEB128 (2, 5 and 2 bytes), an empty template, then a U64.
    lane.update(record(3, 300, X, 0, 1, 1,
                       ext(t_hole(300) + t_hole(2**32 - 1) + t_cut(128))
                       + ext(b"") + u64v(7)))
    # An empty found STRING, a lone CUT, a 5-byte LEB128 of 0 (not minimal).
    lane.update(record(4, 400, X, 0, 1, 1,
                       ext(t_string(E)) + ext(t_cut(5))
                       + ext(b"\x80" + bytes([0x80] * 4 + [0]))))
    # A 127-byte TEXT (the longest lead) joined with a found STRING; SKIP
    # in the tag: the template is field 2. 140 bytes: two continuations.
    lane.update(record(5, 500, X, 0, 1, 1,
                       ext(t_text("a" * 127) + t_string(S), skip=2)))
    # Flags: bits 1-7 count the values left out, shown only with bit 0.
    lane.update(record(8, 600, X, 0, 1, 1, u64v(1), flags=1 | 3 << 1))
    lane.update(record(9, 700, X, 0, 1, 1, u64v(2), flags=1))
    lane.update(record(10, 800, X, 0, 1, 1, u64v(3), flags=6))
    lane.update(record(11, 900, X, 0, 1, 1, u64v(4), flags=0xFF))
    # Other EXT types keep only type and length, even with template bytes.
    lane.update(record(12, 1000, X, 0, 1, 1,
                       ext(b"\x00", ext_type=2) + ext(t_hole(1), ext_type=0)))
    # A template that cannot be read: the record is corrupt.
    lane.update(record(13, 1100, X, 0, 1, 1, ext(b"\x00") + u64v(1)))
    return build_ring([(0, 4, 14, lane)], log, minor=2, values_left_out=42)


TEMPLATE_EXPECTED = """\
ring v1.2 lanes=1 slots=16 created=123456789 processes=2 dropped=dictionary_full:3,callsite_table_full:1 values_left_out=42
dictionary entries=3 unfinished=0 skipped_bytes=0
lane 0 main slots=16 head=14 records=10 lost_to_laps=0 abandoned=0 pending=0 corrupt=1 unknown_kinds=0
record 100 lane=0 seq=0 thread=1 EVENT span=0 INFO app::t "templated" src/t.rs:9 message="found in 1.2ms: "<redacted 23 bytes>
record 200 lane=0 seq=1 thread=1 EVENT span=0 INFO app::t "templated" src/t.rs:9 message="say \\"hi\\"\\u{0a}static text \u00e9\u2713" detail="x"<string 0000000000001234>"y\\u{09}"
record 300 lane=0 seq=3 thread=1 EVENT span=0 INFO app::t "templated" src/t.rs:9 message=<redacted 300 bytes><redacted 4294967295 bytes><cut 128 bytes> detail="" n=7
record 400 lane=0 seq=4 thread=1 EVENT span=0 INFO app::t "templated" src/t.rs:9 message="" detail=<cut 5 bytes> n=<redacted 0 bytes>
record 500 lane=0 seq=5 thread=1 EVENT span=0 INFO app::t "templated" src/t.rs:9 n="%sstatic text"
record 600 lane=0 seq=8 thread=1 EVENT span=0 INFO app::t "templated" src/t.rs:9 truncated left_out=3 message=1
record 700 lane=0 seq=9 thread=1 EVENT span=0 INFO app::t "templated" src/t.rs:9 truncated message=2
record 800 lane=0 seq=10 thread=1 EVENT span=0 INFO app::t "templated" src/t.rs:9 message=3
record 900 lane=0 seq=11 thread=1 EVENT span=0 INFO app::t "templated" src/t.rs:9 truncated left_out=127 message=4
record 1000 lane=0 seq=12 thread=1 EVENT span=0 INFO app::t "templated" src/t.rs:9 message=<ext 2 1 bytes> detail=<ext 0 2 bytes>
totals records=10 lost_to_laps=0 abandoned=0 pending=0 corrupt=1 unknown_kinds=0
""" % ("a" * 127)


def one_record(payload, minor=2, flags=0):
    """A ring whose only lane holds one EVENT with this payload."""
    return build_ring([(0, 4, 1, record(0, 100, 0xABCD, 0, 1, 1, payload,
                                        flags=flags))], b"", minor=minor)


class Templates(unittest.TestCase):
    def test_canonical_text(self):
        code, out, err = run(template_ring())
        self.assertEqual((code, err), (0, ""))
        self.assertEqual(out.splitlines(), TEMPLATE_EXPECTED.splitlines())
        self.assertEqual(out, TEMPLATE_EXPECTED)

    def value_text(self, payload):
        code, out, err = run(one_record(payload))
        self.assertEqual((code, err), (0, ""))
        self.assertIn(" corrupt=0 ", out)
        line = [l for l in out.splitlines() if l.startswith("record ")]
        self.assertEqual(len(line), 1, out)
        prefix = "record 100 lane=0 seq=0 thread=1 EVENT span=0 callsite=000000000000abcd "
        self.assertTrue(line[0].startswith(prefix), line[0])
        return line[0][len(prefix):]

    def test_readable(self):
        cases = [
            (ext(b""), 'f0=""'),
            (ext(t_cut(5)), "f0=<cut 5 bytes>"),
            (ext(t_hole(0)), "f0=<redacted 0 bytes>"),
            (ext(t_hole(127)), "f0=<redacted 127 bytes>"),
            (ext(t_hole(128)), "f0=<redacted 128 bytes>"),
            (ext(t_hole(2**32 - 1)), "f0=<redacted 4294967295 bytes>"),
            (ext(b"\x80\xff\xff\xff\xff\x0f"), "f0=<redacted 4294967295 bytes>"),
            (ext(t_text("a") + t_text("b") + t_hole(1) + t_hole(2) + t_text("c")),
             'f0="ab"<redacted 1 bytes><redacted 2 bytes>"c"'),
            (ext(t_string(1) + t_string(2)),
             "f0=<string 0000000000000001><string 0000000000000002>"),
            (ext(t_text("\\") + t_text('"')), 'f0="\\\\\\""'),
            # a character split over two parts would be valid joined, but
            # each TEXT part is checked alone (see test_unreadable)
            (ext(t_text("\u00e9")), 'f0="\u00e9"'),
            (ext(t_text("x"), skip=3) + ext(t_cut(1)), 'f3="x" f4=<cut 1 bytes>'),
            # writers put CUT last, but a reader does not require it (6.2)
            (ext(t_cut(1) + t_text("x")), 'f0=<cut 1 bytes>"x"'),
            (ext(t_text("x")) + u64v(9, skip=1), 'f0="x" f2=9'),
        ]
        for payload, text in cases:
            with self.subTest(payload=payload.hex()):
                self.assertEqual(self.value_text(payload), text)

    def test_unreadable(self):
        cases = {
            "lead 0": ext(b"\x00"),
            "lead 0x83": ext(b"\x83\x00"),
            "lead 0xff": ext(t_text("ok") + b"\xff"),
            "LEB128 of 6 bytes": ext(b"\x80" + bytes([0x80] * 5 + [0])),
            "LEB128 of 6 bytes, value small": ext(b"\x82\x81\x80\x80\x80\x80\x00"),
            "LEB128 = 2^32": ext(b"\x80\x80\x80\x80\x80\x10"),
            "LEB128 >= 2^32": ext(b"\x82\xff\xff\xff\xff\x1f"),
            "LEB128 missing": ext(b"\x80") + u64v(1),
            "LEB128 past the end": ext(b"\x80\xff") + u64v(1),
            "TEXT not UTF-8": ext(t_text(b"\xff")),
            "TEXT splits a character": ext(t_text(b"\xc3") + t_text(b"\xa9")),
            "TEXT past the end": ext(b"\x05abc") + u64v(1),
            "STRING past the end": ext(b"\x81\x01\x02\x03\x04") + u64v(1),
            "template past the payload": tag(15) + bytes([1, 10]) + t_text("abc"),
            "field index 32": ext(t_text("x"), skip=15) + ext(b"", skip=15)
                              + ext(b"", skip=0),
        }
        for name, payload in cases.items():
            with self.subTest(name):
                code, out, err = run(one_record(payload))
                self.assertEqual((code, err), (0, ""))
                self.assertIn("lane 0 main slots=16 head=1 records=0 lost_to_laps=0 "
                              "abandoned=0 pending=0 corrupt=1 unknown_kinds=0", out)
                self.assertNotIn("\nrecord ", out)
                # The same bytes as another EXT type are kept as type and length.
                if payload.startswith(tag(15) + b"\x01") and "past the payload" not in name:
                    other = tag(15) + b"\x09" + payload[2:]
                    code, out, _ = run(one_record(other))
                    self.assertNotIn("corrupt=1", out, name)

    def test_left_out(self):
        for flags, text in [(0, ""), (1, " truncated"), (3, " truncated left_out=1"),
                            (1 | 100 << 1, " truncated left_out=100"),
                            (0xFF, " truncated left_out=127"), (0xFE, "")]:
            with self.subTest(flags=flags):
                code, out, _ = run(one_record(u64v(1), flags=flags))
                self.assertIn(" callsite=000000000000abcd%s f0=1\n" % text, out)


class ValuesLeftOut(unittest.TestCase):
    def first_line(self, minor, value):
        code, out, err = run(build_ring([(0, 4, 0, {})], b"", minor=minor,
                                         values_left_out=value))
        self.assertEqual((code, err), (0, ""))
        return out.splitlines()[0]

    def test_shown_since_v1_2(self):
        base = ("lanes=1 slots=16 created=123456789 processes=2 "
                "dropped=dictionary_full:3,callsite_table_full:1")
        self.assertEqual(self.first_line(2, 3), "ring v1.2 %s values_left_out=3" % base)
        self.assertEqual(self.first_line(2, 0), "ring v1.2 %s values_left_out=0" % base)
        self.assertEqual(self.first_line(2, M64),
                         "ring v1.2 %s values_left_out=%d" % (base, M64))
        self.assertEqual(self.first_line(9, 5), "ring v1.9 %s values_left_out=5" % base)

    def test_absent_before_v1_2(self):
        base = ("lanes=1 slots=16 created=123456789 processes=2 "
                "dropped=dictionary_full:3,callsite_table_full:1")
        # Reserved in v1.1 and older: ignored even when not zero.
        self.assertEqual(self.first_line(1, 3), "ring v1.1 %s" % base)
        self.assertEqual(self.first_line(0, 0), "ring v1.0 %s" % base)


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


# --- v1.3: the identity table (SPEC 10) -------------------------------------

IDS_SIZE = 16 + 48 * 14 + 40   # C = floor((ids_size - 16) / 48) = 14


def identity_ring():
    X, cs_x = callsite(3, 0, 4, "served", "app", "src/main.rs", ["message", "n"])
    V, str_v = dict_entry(2, bytes(7), ["1.5.0"])
    assert 0x1234 not in (X, V)
    # tail 20, C 14: identities 6 to 19 are held (in entries q mod 14),
    # 0 to 5 lost to laps.
    entries = {
        6: identity(6, 1, 7, 1, 1, seq=20),          # newer by C: lapped
        7: identity(7, 1, 7, 1, 1, seq=10),          # newer by 3: see below
        8: identity(8, 1, 7, 1, 1, state=1),         # writing: unfinished
        # 9: all zero: empty, unfinished
        10: identity(10, 1, 7, 1, 1, state=3),       # state 3: corrupt
        11: identity(11, 66, 10, 1, 0, bad_check=True),  # bad check: corrupt
        12: identity(12, 100, 7, 50, 1000, version=V),
        13: identity(13, 200, 7, 60, 5000, version=0x1234),
        14: identity(14, 300, 7, 70, 5000),          # ties q 13: larger q wins
        15: identity(15, 1, 7, 1, 1, seq=1),         # older (last lap): unfinished
        16: identity(16, 400, 8, 80, 3000),
        17: identity(17, 500, 8, 90, 3000),          # ties q 16
        18: identity(18, 700, 7, 95, 2000),          # larger q, smaller since
        19: identity(19, 900, 9, 99, 100),
    }
    lane0 = {}
    for seq, (time, thread) in enumerate([
            (500, 7),    # every identity of tid 7 is after: smallest since (q 12)
            (1000, 7),   # since equal to the time is not after it (q 12)
            (1500, 7),   # q 12
            (4999, 7),   # q 18 (since 2000), though q 13 and 14 are newer
            (5000, 7),   # q 13 and 14 tie: the larger q
            (9000, 7),   # q 14
            (2000, 8),   # every one after, q 16 and 17 tie: the larger q
            (3000, 8),   # q 16 and 17 tie: q 17
            (50, 9),     # q 19, after the record but the only one
            (6000, 10),  # only a corrupt identity has tid 10: none
            (6000, 11)]):  # no identity: none
        lane0.update(record(seq, time, X, 0, thread, 1, u64v(seq, skip=1)))
    lane1 = record(0, 100, 0, 0, 9, 7, u64v(900) + tag(5) + struct.pack("<Q", V))
    return build_ring([(0, 4, 11, lane0), (1, 4, 1, lane1)], cs_x + str_v,
                      minor=3, ids=(IDS_SIZE, 20, entries))


IDENTITY_EXPECTED = """\
ring v1.3 lanes=2 slots=32 created=123456789 processes=2 dropped=dictionary_full:3,callsite_table_full:1 values_left_out=0
dictionary entries=2 unfinished=0 skipped_bytes=0
identities capacity=14 claimed=20 held=7 lost_to_laps=8 unfinished=3 corrupt=2
identity seq=12 pid=100 tid=7 started=50 since=1000 version="1.5.0"
identity seq=13 pid=200 tid=7 started=60 since=5000 version=<string 0000000000001234>
identity seq=14 pid=300 tid=7 started=70 since=5000
identity seq=16 pid=400 tid=8 started=80 since=3000
identity seq=17 pid=500 tid=8 started=90 since=3000
identity seq=18 pid=700 tid=7 started=95 since=2000
identity seq=19 pid=900 tid=9 started=99 since=100
lane 0 main slots=16 head=11 records=11 lost_to_laps=0 abandoned=0 pending=0 corrupt=0 unknown_kinds=0
lane 1 alert slots=16 head=1 records=1 lost_to_laps=0 abandoned=0 pending=0 corrupt=0 unknown_kinds=0
record 50 lane=0 seq=8 thread=9 pid=900 EVENT span=0 INFO app "served" src/main.rs:4 n=8
record 100 lane=1 seq=0 thread=9 pid=900 PROCESS_START span=0 pid=900 version="1.5.0"
record 500 lane=0 seq=0 thread=7 pid=100 EVENT span=0 INFO app "served" src/main.rs:4 n=0
record 1000 lane=0 seq=1 thread=7 pid=100 EVENT span=0 INFO app "served" src/main.rs:4 n=1
record 1500 lane=0 seq=2 thread=7 pid=100 EVENT span=0 INFO app "served" src/main.rs:4 n=2
record 2000 lane=0 seq=6 thread=8 pid=500 EVENT span=0 INFO app "served" src/main.rs:4 n=6
record 3000 lane=0 seq=7 thread=8 pid=500 EVENT span=0 INFO app "served" src/main.rs:4 n=7
record 4999 lane=0 seq=3 thread=7 pid=700 EVENT span=0 INFO app "served" src/main.rs:4 n=3
record 5000 lane=0 seq=4 thread=7 pid=300 EVENT span=0 INFO app "served" src/main.rs:4 n=4
record 6000 lane=0 seq=9 thread=10 pid=? EVENT span=0 INFO app "served" src/main.rs:4 n=9
record 6000 lane=0 seq=10 thread=11 pid=? EVENT span=0 INFO app "served" src/main.rs:4 n=10
record 9000 lane=0 seq=5 thread=7 pid=300 EVENT span=0 INFO app "served" src/main.rs:4 n=5
totals records=12 lost_to_laps=0 abandoned=0 pending=0 corrupt=0 unknown_kinds=0
"""


def records_of(out):
    return [l for l in out.splitlines() if l.startswith("record ")]


class Identities(unittest.TestCase):
    def test_canonical_text(self):
        code, out, err = run(identity_ring())
        self.assertEqual((code, err), (0, ""))
        self.assertEqual(out.splitlines(), IDENTITY_EXPECTED.splitlines())
        self.assertEqual(out, IDENTITY_EXPECTED)

    def table_lines(self, ids, lanes=None):
        lanes = lanes or [(0, 4, 0, {})]
        code, out, err = run(build_ring(lanes, b"", minor=3, ids=ids))
        self.assertEqual((code, err), (0, ""))
        return [l for l in out.splitlines() if l.startswith("identit")]

    def test_newer_by_a_non_multiple_is_lost(self):
        # Section 10 says "newer ... counts one lost to laps", with no
        # multiple-of-C rule as section 8 has for lanes (C need not divide
        # 2^30): the most literal reading, reported as an ambiguity.
        self.assertEqual(self.table_lines((IDS_SIZE, 2, {
            0: identity(0, 1, 1, 1, 1, seq=1), 1: identity(1, 1, 1, 1, 1, seq=15)})),
            ["identities capacity=14 claimed=2 held=0 lost_to_laps=2 "
             "unfinished=0 corrupt=0"])

    def test_unlapped_and_empty(self):
        # tail below C: only 0 to tail - 1 are looked at, nothing lost.
        self.assertEqual(self.table_lines((IDS_SIZE, 1, {
            0: identity(0, 5, 6, 7, 8), 1: identity(1, 9, 9, 9, 9)})),
            ["identities capacity=14 claimed=1 held=1 lost_to_laps=0 "
             "unfinished=0 corrupt=0",
             "identity seq=0 pid=5 tid=6 started=7 since=8"])
        self.assertEqual(self.table_lines((64, 0, {})),
                         ["identities capacity=1 claimed=0 held=0 lost_to_laps=0 "
                          "unfinished=0 corrupt=0"])

    def test_smallest_table_and_huge_tail(self):
        # ids_size 64: C = 1. tail 2^64 - 1: q = 2^64 - 2, its stamp q mod 2^30.
        q = M64 - 1
        self.assertEqual(self.table_lines((64, M64, {0: identity(q, 1, 2, 3, 4)})),
                         ["identities capacity=1 claimed=%d held=1 lost_to_laps=%d "
                          "unfinished=0 corrupt=0" % (M64, M64 - 1),
                          "identity seq=%d pid=1 tid=2 started=3 since=4" % q])

    def test_check_covers_every_word(self):
        # The check covers the five words after the stamp word, the
        # reserved one included.
        for byte in range(8, 48):
            entry = bytearray(identity(0, 1, 2, 3, 4, version=5))
            entry[byte] ^= 1
            with self.subTest(byte=byte):
                self.assertEqual(self.table_lines((64, 1, {0: bytes(entry)}))[0],
                                 "identities capacity=1 claimed=1 held=0 "
                                 "lost_to_laps=0 unfinished=0 corrupt=1")

    def test_record_pid_only_from_held(self):
        # A thread whose only identity is unfinished resolves to none.
        lane = record(0, 10, 0, 7, 6, 3, b"")
        self.assertEqual(records_of(run(build_ring(
            [(1, 4, 1, lane)], b"", minor=3,
            ids=(64, 1, {0: identity(0, 5, 6, 0, 0, state=1)})))[1]),
            ["record 10 lane=0 seq=0 thread=6 pid=? SPAN_ENTER span=7"])

    def test_lifecycle_records_name_their_pid(self):
        # Section 10: kinds 7, 8 and 10 name their pid in value 0, whatever
        # their thread resolves to; a value 0 that is not a U64 names none.
        for ids, kind, payload, pid in (
                ({0: identity(0, 5, 6, 0, 0)}, 10, u64v(1), "1"),
                ({0: identity(0, 5, 6, 0, 0, state=1)}, 8, u64v(1), "1"),
                ({}, 7, u64v(1), "1"),
                ({0: identity(0, 5, 6, 0, 0)}, 10, i64v(1), "5")):
            with self.subTest(kind=kind, pid=pid):
                lane = record(0, 10, 0, 0, 6, kind, payload)
                line = records_of(run(build_ring(
                    [(1, 4, 1, lane)], b"", minor=3, ids=(64, 1, ids)))[1])[0]
                self.assertIn(" pid=%s " % pid, line)

    def test_without_table_no_identity_lines(self):
        # ids_size 0 (every older file; a v1.3 file may have none too):
        # no identities lines and no pid= on records, whatever ids_offset.
        for minor in (1, 2, 3):
            with self.subTest(minor=minor):
                data = bytearray(build_ring(
                    [(0, 4, 1, record(0, 10, 0, 0, 6, 10, u64v(1)))], b"", minor=minor))
                struct.pack_into("<Q", data, 200, 12345)   # ignored with size 0
                code, out, err = run(bytes(data))
                self.assertEqual((code, err), (0, ""))
                self.assertNotIn("identit", out)
                self.assertEqual(records_of(out),
                                 ["record 10 lane=0 seq=0 thread=6 THREAD_START span=0 pid=1"])

    def test_table_read_whatever_the_minor(self):
        # Section 9 ties the lines to ids_size != 0, not to version_minor.
        lane = record(0, 10, 0, 7, 6, 3, b"")
        code, out, _ = run(build_ring([(0, 4, 1, lane)], b"", minor=2,
                                      ids=(64, 1, {0: identity(0, 5, 6, 0, 0)})))
        self.assertEqual(code, 0)
        self.assertIn("\nidentity seq=0 pid=5 tid=6 started=0 since=0\n", out)
        self.assertIn("\nrecord 10 lane=0 seq=0 thread=6 pid=5 SPAN_ENTER", out)


# --- v1.3: rules settled in this version ------------------------------------

T0 = 5 << 30   # a record time; its coarse time (T0 >> 20) is 5120


def lane_line(out, i):
    return [l for l in out.splitlines() if l.startswith("lane %d " % i)][0]


class SettledRules(unittest.TestCase):
    def decode(self, data):
        code, out, err = run(data)
        self.assertEqual((code, err), (0, ""))
        return out

    def test_kinds_keep_their_level(self):
        # Kinds 7 to 10 print their own level (INFO, INFO, ERROR, INFO) even
        # with a callsite; kinds 1 to 6 print the callsite's.
        D, cs_d = callsite(2, 0, 3, "k", "app", "src/k.rs", ["a"])
        W, cs_w = callsite(4, 1, 8, "w", "app", "src/w.rs", [])
        E, cs_e = callsite(5, 0, 9, "e", "app", "src/e.rs", [])
        lane = {}
        for seq, (cs, kind, payload) in enumerate([
                (D, 1, u64v(1)), (D, 7, u64v(2)), (D, 8, u64v(3)),
                (D, 9, strv("f.rs")), (D, 10, u64v(4)), (W, 9, b""),
                (E, 7, b""), (E, 10, b""), (W, 6, b""), (W, 3, b"")]):
            lane.update(record(seq, 100 + seq, cs, 0, 1, kind, payload))
        out = self.decode(build_ring([(0, 4, 10, lane)], cs_d + cs_w + cs_e, minor=3))
        self.assertEqual(records_of(out), [
            'record 100 lane=0 seq=0 thread=1 EVENT span=0 DEBUG app "k" src/k.rs:3 a=1',
            'record 101 lane=0 seq=1 thread=1 PROCESS_START span=0 INFO app "k" src/k.rs:3 pid=2',
            'record 102 lane=0 seq=2 thread=1 PROCESS_EXIT span=0 INFO app "k" src/k.rs:3 pid=3',
            'record 103 lane=0 seq=3 thread=1 PANIC span=0 ERROR app "k" src/k.rs:3 file="f.rs"',
            'record 104 lane=0 seq=4 thread=1 THREAD_START span=0 INFO app "k" src/k.rs:3 pid=4',
            'record 105 lane=0 seq=5 thread=1 PANIC span=0 ERROR app "w" src/w.rs:8',
            'record 106 lane=0 seq=6 thread=1 PROCESS_START span=0 INFO app "e" src/e.rs:9',
            'record 107 lane=0 seq=7 thread=1 THREAD_START span=0 INFO app "e" src/e.rs:9',
            'record 108 lane=0 seq=8 thread=1 SPAN_RECORD span=0 WARN app "w" src/w.rs:8',
            'record 109 lane=0 seq=9 thread=1 SPAN_ENTER span=0 WARN app "w" src/w.rs:8'])

    def test_unknown_kind_checked_and_timeless(self):
        lane0 = {}
        lane0.update(record(0, T0, 0, 0, 1, 10, u64v(1)))
        # Sound unknown kinds, 10 s newer than every record: skipped whole,
        # payload not decoded (a reserved value type would be corrupt).
        lane0.update(record(1, T0 + 10 * 10**9, 0, 0, 1, 200, tag(12)))
        lane0.update(record(2, T0 + 10 * 10**9, 0, 0, 1, 0, bytes(40)))  # + cont 3
        # Unsound unknown kinds are corrupt: a bad head check ...
        lane0.update(record(4, T0, 0, 0, 1, 99, b"", bad_check=True))
        # ... cont disagreeing with len (40 bytes need one) ...
        bad = record(5, T0, 0, 0, 1, 99, bytes(40))
        lane0[5] = slot(5, 2, bad[5][8:34] + b"\0" + bad[5][35:])
        # ... and a bad continuation (the continuation then has no head: corrupt).
        lane0.update(record(6, T0, 0, 0, 1, 99, bytes(40)))
        lane0[7] = slot(7, 3, bytes(56), bad_check=True)
        # A writing slot at T0: pending only if R is T0, not the unknowns' time.
        lane0[8] = slot(8, 1, bytes(56))
        lane0[8] = lane0[8][:4] + struct.pack("<I", T0 >> 20) + lane0[8][8:]
        # Lane 1 holds only an unknown kind at T0: its T is none, so the
        # slot claimed after it has no time and is abandoned.
        lane1 = record(0, T0, 0, 0, 1, 50, u64v(1))
        out = self.decode(build_ring([(0, 4, 9, lane0), (0, 4, 2, lane1)], b"", minor=3))
        self.assertEqual(lane_line(out, 0), "lane 0 main slots=16 head=9 records=1 "
                         "lost_to_laps=0 abandoned=0 pending=1 corrupt=4 unknown_kinds=2")
        self.assertEqual(lane_line(out, 1), "lane 1 main slots=16 head=2 records=0 "
                         "lost_to_laps=0 abandoned=1 pending=0 corrupt=0 unknown_kinds=1")
        self.assertEqual(records_of(out), ["record %d lane=0 seq=0 thread=1 "
                                           "THREAD_START span=0 pid=1" % T0])

    def test_unknown_kind_past_head_is_corrupt(self):
        # Checked like any head: s + cont >= h is corrupt.
        lane = record(0, 10, 0, 0, 1, 77, bytes(40))
        out = self.decode(build_ring([(0, 4, 1, lane)], b"", minor=3))
        self.assertIn(" corrupt=1 unknown_kinds=0\n", out)

    def test_newer_not_by_a_lap_is_corrupt(self):
        # A ring that never lapped (head 6 < 16 slots).
        lane = {}
        lane.update(record(0, 1000, 0, 0, 1, 10, u64v(1)))
        lane[1] = record(3, 1000, 0, 0, 1, 10, u64v(1))[3]    # bit 1 flipped: d = 2
        lane[2] = record(18, 1000, 0, 0, 1, 10, u64v(1))[18]  # bit 4: d = 16 = N
        lane[3] = record(3 + (1 << 20), 1000, 0, 0, 1, 10, u64v(1))[3 + (1 << 20)]
        lane[4] = record(4 + (1 << 29), 1000, 0, 0, 1, 10, u64v(1))[4 + (1 << 29)]  # older
        lane.update(record(5, 2000, 0, 0, 1, 10, u64v(2)))
        out = self.decode(build_ring([(0, 4, 6, lane)], b"", minor=3))
        self.assertEqual(lane_line(out, 0), "lane 0 main slots=16 head=6 records=2 "
                         "lost_to_laps=2 abandoned=0 pending=1 corrupt=1 unknown_kinds=0")

    def test_newer_by_other_lane_sizes(self):
        # d a multiple of N is a lap whatever N; 8 is one for 2^3 only.
        for log2, lost in ((4, 0), (5, 0)):
            lane = {**record(0, 1000, 0, 0, 1, 10, u64v(1)),
                    1: record(1 + 8, 1000, 0, 0, 1, 10, u64v(1))[9]}
            out = self.decode(build_ring([(0, log2, 2, lane)], b"", minor=3))
            self.assertIn(" records=1 lost_to_laps=%d abandoned=0 pending=0 "
                          "corrupt=%d " % (lost, 1 - lost), lane_line(out, 0))
        lane = {**record(0, 1000, 0, 0, 1, 10, u64v(1)),
                1: record(1 + 32, 1000, 0, 0, 1, 10, u64v(1))[33]}
        out = self.decode(build_ring([(0, 4, 2, lane)], b"", minor=3))
        self.assertIn(" lost_to_laps=1 abandoned=0 pending=0 corrupt=0 ", lane_line(out, 0))

    def test_continuation_after_timeless_unstamped(self):
        # Lane 0: a record at T0 = R, a slot claimed never stamped, then two
        # continuations of a record whose head was never committed: all three
        # take the lane's T (T0) and are pending.
        lane0 = {**record(0, T0, 0, 0, 1, 10, u64v(1)),
                 2: slot(2, 3, bytes(56)), 3: slot(3, 3, bytes(56))}
        # Lane 1: the same with T 3 s before R: abandoned.
        lane1 = {**record(0, T0 - 3 * 10**9, 0, 0, 1, 10, u64v(1)),
                 2: slot(2, 3, bytes(56))}
        # Lane 2: no record, so no T: abandoned.
        lane2 = {1: slot(1, 3, bytes(56))}
        # Lane 3: a writing slot at T0 >> 20, its continuation has that time.
        w = slot(0, 1, bytes(56))
        lane3 = {0: w[:4] + struct.pack("<I", T0 >> 20) + w[8:], 1: slot(1, 3, bytes(56))}
        # Lane 4: a writing slot 3 s old: it and its continuation abandoned,
        # although the lane's T is R.
        w = slot(1, 1, bytes(56))
        lane4 = {**record(0, T0, 0, 0, 1, 10, u64v(1)),
                 1: w[:4] + struct.pack("<I", (T0 - 3 * 10**9) >> 20) + w[8:],
                 2: slot(2, 3, bytes(56))}
        out = self.decode(build_ring([(0, 4, 4, lane0), (0, 4, 3, lane1),
                                      (0, 4, 2, lane2), (0, 4, 2, lane3),
                                      (0, 4, 3, lane4)], b"", minor=3))
        for i, (records, abandoned, pending) in enumerate(
                [(1, 0, 3), (1, 2, 0), (0, 2, 0), (0, 0, 2), (1, 2, 0)]):
            self.assertIn(" records=%d lost_to_laps=0 abandoned=%d pending=%d corrupt=0 "
                          % (records, abandoned, pending), lane_line(out, i))

    def test_bare_and_quoted_names(self):
        N, cs_n = callsite(3, 0, 5, "n", "my app", "src/a\nb.rs",
                           ["a=b", "", 'q"', "back\\slash", "tab\t", "del\x7f",
                            "caf\u00e9", "plain_name::x"])
        E, cs_e = callsite(4, 0, 0, "e x", "", "x.rs", ["ok"])
        lane = {}
        lane.update(record(0, 100, N, 0, 1, 1, b"".join(u64v(i) for i in range(9))))
        lane.update(record(3, 200, E, 0, 1, 1, u64v(1)))
        out = self.decode(build_ring([(0, 4, 4, lane)], cs_n + cs_e, minor=3))
        self.assertEqual(records_of(out), [
            'record 100 lane=0 seq=0 thread=1 EVENT span=0 INFO "my app" "n" '
            '"src/a\\u{0a}b.rs":5 "a=b"=0 ""=1 "q\\""=2 "back\\\\slash"=3 '
            '"tab\\u{09}"=4 "del\\u{7f}"=5 caf\u00e9=6 plain_name::x=7 f8=8',
            'record 200 lane=0 seq=3 thread=1 EVENT span=0 WARN "" "e x" x.rs:0 ok=1'])

    def test_bare(self):
        for text, out in [("a", "a"), ("", '""'), (" ", '" "'), ("a b", '"a b"'),
                          ("=", '"="'), ("\\", '"\\\\"'), ('"', '"\\""'),
                          ("\x00", '"\\u{00}"'), ("\x1f", '"\\u{1f}"'),
                          ("\x7f", '"\\u{7f}"'), ("\x80", "\x80"),
                          ("a/b.rs", "a/b.rs"), ("x:y-z", "x:y-z"),
                          ("\u00e9\u2713", "\u00e9\u2713")]:
            self.assertEqual(decode.bare(text), out, repr(text))


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

    def test_short_by_one_byte(self):
        # v1.3: a file shorter than file_size is refused whole, even by one
        # byte; the message says how many bytes it has and the header needs.
        data = identity_ring()
        self.refused(data[:-1], "truncated")
        code, _, err = run(data[:-1])
        self.assertIn(str(len(data) - 1), err)
        self.assertIn(str(len(data)), err)
        self.assertEqual(run(data + b"\0" * 100)[0], 0)  # longer is read

    def with_ids(self, offset, size, data=None):
        data = bytearray(identity_ring() if data is None else data)
        struct.pack_into("<QQ", data, 200, offset, size)
        return bytes(data)

    def test_identity_table_region(self):
        # Rule 11: ids_size >= 64, ids_offset a multiple of 8, inside file_size.
        good = identity_ring()
        ids_offset = struct.unpack_from("<Q", good, 200)[0]
        file_size = len(good)
        for offset, size in [(ids_offset, 63), (ids_offset, 8), (ids_offset + 4, 64),
                             (file_size - 56, 64), (file_size - 64, 72),
                             (M64 - 7, 64), (ids_offset, M64 - 7)]:
            with self.subTest(offset=offset, size=size):
                self.refused(self.with_ids(offset, size), "identity")
        self.assertEqual(run(self.with_ids(ids_offset, 64))[0], 0)
        # ids_size 0: no table, ids_offset is not checked.
        self.assertEqual(run(self.with_ids(3, 0))[0], 0)
        self.assertEqual(run(self.with_ids(M64, 0))[0], 0)

    def test_identity_table_overlaps(self):
        # Rule 12: the table overlaps no other region.
        good = identity_ring()
        lanes_offset = struct.unpack_from("<Q", good, 56)[0]
        slots0 = struct.unpack_from("<Q", good, lanes_offset + 16)[0]
        for offset, size, what in [(0, 64, "header"), (4088, 64, "header"),
                                   (4096, 64, "dictionary"), (4096 + 1016, 64, "dictionary"),
                                   (lanes_offset - 8, 64, "lane headers"),
                                   (lanes_offset + 64, 64, "lane headers"),
                                   (slots0 + 1000, 64, "slots")]:
            with self.subTest(what, offset=offset):
                self.refused(self.with_ids(offset, size), "overlap")
        # Touching is not overlapping.
        self.assertEqual(run(self.with_ids(lanes_offset - 64, 64))[0], 0)
        self.assertEqual(run(self.with_ids(4096 + 1024, 64))[0], 0)

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
        rng = random.Random(1)
        for i in range(3000):
            base = (sample_ring, template_ring, identity_ring)[i % 3]()
            data = bytearray(base)
            for _ in range(rng.randint(1, 8)):
                pos = rng.randrange(4096 + 1024 + IDS_SIZE + 256) if rng.random() < 0.5 \
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


class Goldens(unittest.TestCase):
    """golden/*.ring and golden/cases/*.ring, when present: the canonical
    text is X.txt exactly, or, when X.txt starts with `error`, the file is
    refused (exit 1, one line on stderr; only the refusal is normative)."""

    def test_goldens(self):
        golden = os.path.join(os.path.dirname(HERE), "golden")
        rings = sorted(glob.glob(os.path.join(golden, "*.ring"))
                       + glob.glob(os.path.join(golden, "cases", "*.ring")))
        if not rings:
            self.skipTest("no golden rings")
        for ring in rings:
            txt = ring[:-len(".ring")] + ".txt"
            if not os.path.exists(txt):
                continue
            with self.subTest(os.path.relpath(ring, golden)):
                with open(txt, "rb") as f:
                    expected = f.read().decode("utf-8")
                p = subprocess.run([sys.executable, DECODER, ring], capture_output=True)
                err = p.stderr.decode("utf-8", "replace")
                # Canonical text starts with "ring v"; a refusal case's .txt
                # starts with "error" ("error: ..." or a bare "error").
                if expected.startswith("error"):
                    self.assertEqual(p.returncode, 1, err)
                    self.assertEqual(p.stdout, b"")
                    self.assertTrue(err.startswith("error: "), err)
                    self.assertEqual(err.count("\n"), 1, err)
                    self.assertNotIn("internal", err)
                else:
                    self.assertEqual((p.returncode, err), (0, ""))
                    self.assertEqual(p.stdout.decode("utf-8"), expected)


if __name__ == "__main__":
    unittest.main()
