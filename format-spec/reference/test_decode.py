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
               major=1, minor=0, created=123456789, processes=2, dropped=(3, 1),
               values_left_out=0):
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
    struct.pack_into("<Q", hdr, 192, values_left_out)  # v1.2; zero before
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
        rng = random.Random(1)
        for i in range(3000):
            base = (sample_ring, template_ring)[i % 2]()
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
