#!/usr/bin/env python3
"""Second decoder for the caro ring file, format v1.3 (reads v1.0 to v1.2 too).

Written from format-spec/SPEC.md alone (no Rust source was read), using the
Python standard library only. Function names follow the spec's sections.

v1.3: the identity table (header `ids_offset`/`ids_size`, checks 11 and 12 of
section 2, section 10), printed as the `identities`/`identity` lines and a
` pid=` on each record line when the file has one (`ids_size` != 0; older
files have none and print as before). Rules settled in v1.3 and followed
here: a file shorter than `file_size` is refused; kinds 7 to 10 print their
own level even with a callsite; an unknown kind is checked like any record
(corrupt if unsound) and its time is never a record time; a "newer" stamp
whose distance is not a multiple of the lane's size (and whose state is not
empty) is corrupt; a
continuation after an unstamped slot with no time takes its lane's T;
target, file and field names are bare unless they need quoting.

Usage: python3 decode.py RING_FILE
Prints the ring's canonical text (SPEC.md section 9) to stdout. A file the
reader must refuse (section 2) gives one line `error: <reason>` on stderr
and exit status 1.
"""

import decimal
import math
import struct
import sys

MASK64 = (1 << 64) - 1
SEQ_MOD = 1 << 30  # stamps keep the sequence number modulo 2^30
C = [0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB,
     0xD6E8FEB86659FD93, 0xA0761D6478BD642F, 0xE7037ED1A0B428DB,
     0x8EBC6AF09C88C6E3, 0x589965CC75374CC3]

EMPTY, WRITING, HEAD, CONT = 0, 1, 2, 3
KIND_NAMES = {1: "EVENT", 2: "SPAN_NEW", 3: "SPAN_ENTER", 4: "SPAN_EXIT",
              5: "SPAN_CLOSE", 6: "SPAN_RECORD", 7: "PROCESS_START",
              8: "PROCESS_EXIT", 9: "PANIC", 10: "THREAD_START"}
POSITIONAL_FIELDS = {7: ["pid", "version"],
                     8: ["pid", "cpu_user_us", "cpu_system_us", "peak_rss_kib",
                         "open_fds", "wall_us", "status"],
                     9: ["file", "line", "column"], 10: ["pid"]}
LEVELS = {1: "TRACE", 2: "DEBUG", 3: "INFO", 4: "WARN", 5: "ERROR"}
# Section 5: kinds 7 to 10 keep their own level, callsite or not.
KIND_LEVELS = {7: 3, 8: 3, 9: 5, 10: 3}
DICT_CALLSITE, DICT_STRING = 1, 2
EXT_TEMPLATE = 1  # section 6.2, since v1.2


class RingError(Exception):
    """The file is refused (section 2); the message is the reason."""


class Corrupt(Exception):
    """A record or dictionary entry fails a check."""


def u16(b, off): return struct.unpack_from("<H", b, off)[0]
def u32(b, off): return struct.unpack_from("<I", b, off)[0]
def u64(b, off): return struct.unpack_from("<Q", b, off)[0]


# --- Section 2: header --------------------------------------------------------

def read_header(data):
    if len(data) < 8 or data[:8] != b"CARORING":
        raise RingError("not a ring (bad magic)")
    if len(data) < 224:
        raise RingError("truncated: %d bytes, the header needs 224" % len(data))
    h = dict(major=u16(data, 8), minor=u16(data, 10), header_size=u32(data, 12),
             slot_size=u32(data, 16), lane_count=u32(data, 20),
             clock=u32(data, 24), file_size=u64(data, 32),
             dict_offset=u64(data, 40), dict_size=u64(data, 48),
             lanes_offset=u64(data, 56), created_ns=u64(data, 64),
             processes=u64(data, 88),
             dropped=struct.unpack_from("<8Q", data, 96),
             values_left_out=u64(data, 192),
             ids_offset=u64(data, 200), ids_size=u64(data, 208))  # since v1.3
    if h["major"] > 1:
        raise RingError("newer major version %d (this decoder reads 1): "
                        "upgrade the decoder" % h["major"])
    if h["major"] != 1:
        raise RingError("unsupported major version %d" % h["major"])
    if h["clock"] != 1:
        raise RingError("unsupported clock %d" % h["clock"])
    if h["header_size"] != 4096 or h["slot_size"] != 64:
        raise RingError("unsupported header_size %d / slot_size %d"
                        % (h["header_size"], h["slot_size"]))
    if h["file_size"] > len(data):
        raise RingError("truncated: file_size is %d but only %d bytes are present"
                        % (h["file_size"], len(data)))
    if not 1 <= h["lane_count"] <= 64:
        raise RingError("lane_count %d is not 1 to 64" % h["lane_count"])
    if (h["dict_offset"] + h["dict_size"] > h["file_size"] or h["dict_size"] < 16
            or h["dict_offset"] % 8):
        raise RingError("bad dictionary region")
    if (h["lanes_offset"] + 64 * h["lane_count"] > h["file_size"]
            or h["lanes_offset"] % 64):
        raise RingError("bad lane headers region")
    return h


# --- Section 3: lane headers --------------------------------------------------

def read_lane_headers(data, hdr):
    lanes = []
    for i in range(hdr["lane_count"]):
        off = hdr["lanes_offset"] + 64 * i
        lane = dict(head=u64(data, off), cls=u32(data, off + 8),
                    slots_log2=u32(data, off + 12), slots_offset=u64(data, off + 16))
        if lane["cls"] not in (0, 1):
            raise RingError("lane %d: unknown class %d" % (i, lane["cls"]))
        if not 4 <= lane["slots_log2"] <= 28:
            raise RingError("lane %d: slots_log2 %d not in 4..28" % (i, lane["slots_log2"]))
        lane["n"] = 1 << lane["slots_log2"]
        if (lane["slots_offset"] % 64
                or lane["slots_offset"] + 64 * lane["n"] > hdr["file_size"]):
            raise RingError("lane %d: slots outside the file" % i)
        lanes.append(lane)
    # Check 11 (since v1.3): the identity table, when there is one.
    if hdr["ids_size"]:
        if (hdr["ids_size"] < 64 or hdr["ids_offset"] % 8
                or hdr["ids_offset"] + hdr["ids_size"] > hdr["file_size"]):
            raise RingError("bad identity table region")
    # Check 12: no two regions overlap.
    regions = sorted([(0, 4096),
                      (hdr["dict_offset"], hdr["dict_offset"] + hdr["dict_size"]),
                      (hdr["lanes_offset"], hdr["lanes_offset"] + 64 * hdr["lane_count"])]
                     + ([(hdr["ids_offset"], hdr["ids_offset"] + hdr["ids_size"])]
                        if hdr["ids_size"] else [])
                     + [(l["slots_offset"], l["slots_offset"] + 64 * l["n"]) for l in lanes])
    if any(a[1] > b[0] for a, b in zip(regions, regions[1:])):
        raise RingError("regions overlap")
    return lanes


# --- Section 4: slots and the checksum ---------------------------------------

def checksum(stamp, words):
    acc = ((stamp + 1) * C[0]) & MASK64
    for i, w in enumerate(words):
        acc = (acc + (w ^ i) * C[1 + i % 7]) & MASK64
    return (acc >> 32) ^ (acc & 0xFFFFFFFF)


def read_slot(data, lane, s):
    """Stamp, check, the 7 words and the 56 raw bytes of sequence s's slot."""
    off = lane["slots_offset"] + 64 * (s % lane["n"])
    return (u32(data, off), u32(data, off + 4),
            struct.unpack_from("<7Q", data, off + 8), data[off + 8:off + 64])


def conts_needed(length):
    return 0 if length <= 28 else -(-(length - 28) // 56)


# --- Section 6: values --------------------------------------------------------

FIXED = {0: 8, 1: 8, 2: 8, 3: 0, 4: 0, 5: 8, 7: 4, 8: 0, 9: 16, 10: 16}
TEXT, HOLE, STRING, CUT = "text", "hole", "string", "cut"
LEADS = {0x80: HOLE, 0x81: STRING, 0x82: CUT}


def decode_template(body):
    """Section 6.2: the parts of a TEMPLATE's n bytes, as a list of
    (TEXT, str), (HOLE, len), (STRING, id), (CUT, len); raises Corrupt
    when the template is unreadable."""
    parts, pos = [], 0

    def take(n):
        nonlocal pos
        if pos + n > len(body):
            raise Corrupt("template part runs past its bytes")
        pos += n
        return body[pos - n:pos]

    def leb128():
        value = 0
        for i in range(5):
            byte = take(1)[0]
            value |= (byte & 0x7F) << (7 * i)
            if not byte & 0x80:
                if value >= 1 << 32:
                    raise Corrupt("template LEB128 of 2^32 or more")
                return value
        raise Corrupt("template LEB128 longer than 5 bytes")

    while pos < len(body):
        lead = take(1)[0]
        if 1 <= lead <= 127:
            try:
                parts.append((TEXT, take(lead).decode("utf-8")))
            except UnicodeDecodeError:
                raise Corrupt("template TEXT is not UTF-8")
        elif lead in (0x80, 0x82):
            parts.append((LEADS[lead], leb128()))
        elif lead == 0x81:
            parts.append((STRING, u64(take(8), 0)))
        else:
            raise Corrupt("template lead byte 0x%02x" % lead)
    return parts


def decode_values(payload):
    """List of (field index, type, value); SKIP is consumed, not returned."""
    values, pos, index = [], 0, None

    def take(n):
        nonlocal pos
        if pos + n > len(payload):
            raise Corrupt("value runs past the payload")
        pos += n
        return payload[pos - n:pos]

    while pos < len(payload):
        tag = take(1)[0]
        vtype, skip = tag >> 4, tag & 0x0F
        index = skip if index is None else index + 1 + skip
        if index >= 32:
            raise Corrupt("field index %d" % index)
        if vtype in FIXED:
            raw = take(FIXED[vtype])
            signed = vtype in (1, 10)
            value = int.from_bytes(raw, "little", signed=signed) if raw else None
            if vtype == 2:
                value = struct.unpack("<d", raw)[0]
        elif vtype == 6:
            n = take(1)[0]
            try:
                value = (take(n & 0x7F).decode("utf-8"), bool(n & 0x80))
            except UnicodeDecodeError:
                raise Corrupt("STR is not UTF-8")
        elif vtype == 11:
            continue
        elif vtype == 15:
            ext_type, n = take(2)
            body = take(n)
            if ext_type == EXT_TEMPLATE:
                vtype, value = "template", decode_template(body)
            else:
                value = (ext_type, n)
        else:
            raise Corrupt("reserved value type %d" % vtype)
        values.append((index, vtype, value))
    return values


# --- Section 7: dictionary ----------------------------------------------------

def read_strings(entry, count):
    strings, pos = [], 24
    for _ in range(count):
        if pos + 2 > len(entry):
            raise Corrupt("strings run past the entry")
        n = u16(entry, pos)
        if pos + 2 + n > len(entry):
            raise Corrupt("strings run past the entry")
        try:
            strings.append(entry[pos + 2:pos + 2 + n].decode("utf-8"))
        except UnicodeDecodeError:
            raise Corrupt("string is not UTF-8")
        pos += 2 + n
    return strings


def parse_entry(entry):
    """(kind, id, content) of a committed entry whose check passed."""
    ident, kind = u64(entry, 8), entry[16]
    if kind == DICT_CALLSITE:
        level, cs_kind, nfields, line = entry[17], entry[18], entry[19], u32(entry, 20)
        if level not in LEVELS or cs_kind not in (0, 1) or nfields > 32:
            raise Corrupt("bad callsite")
        s = read_strings(entry, 4 + nfields)
        return kind, ident, dict(level=level, name=s[0], target=s[1], file=s[2],
                                 line=line, fields=s[3:-1], message=s[-1])
    if kind == DICT_STRING:
        return kind, ident, read_strings(entry, 1)[0]
    return kind, ident, None  # newer minor version: skipped


def read_dictionary(data, hdr):
    base, size = hdr["dict_offset"], hdr["dict_size"]
    tail, index_len = u64(data, base), u32(data, base + 8)
    log_start = 16 + 8 * index_len
    log = b"" if log_start > size else data[base + log_start:base + log_start
                                           + min(tail, size - log_start)]
    d = dict(entries=0, unfinished=0, skipped=0, table={})
    p = 0
    while len(log) - p >= 16:
        stamp = u32(log, p)
        words, state = (stamp >> 2) & 0x3FFF, stamp & 3
        if stamp >> 16 != 0xCA70 or words < 3 or p + 8 * words > len(log):
            d["skipped"] += 8
            p += 8
            continue
        if state != 2:
            d["unfinished"] += 1
            p += 8 * words
            continue
        entry = log[p:p + 8 * words]
        try:
            body = struct.unpack_from("<%dQ" % (words - 1), entry, 8)
            if checksum(stamp, body) != u32(entry, 4):
                raise Corrupt("check")
            kind, ident, content = parse_entry(entry)
        except Corrupt:
            d["skipped"] += 8
            p += 8
            continue
        d["entries"] += 1
        if content is not None:
            d["table"][(kind, ident)] = content
        p += 8 * words
    d["skipped"] += len(log) - p
    return d


# --- Section 8: reading lanes -------------------------------------------------

def read_record(data, lane, s, h, stamp, check, words, raw):
    """A record dict, or the string "unknown"; raises Corrupt."""
    if checksum(stamp, words) != check:
        raise Corrupt("check")
    callsite = words[1]
    span, thread = u32(raw, 16), u32(raw, 20)
    kind, flags, cont, length = raw[24], raw[25], raw[26], raw[27]
    if cont > 3 or cont != conts_needed(length) or s + cont >= h:
        raise Corrupt("cont/len")
    payload = raw[28:]
    for i in range(1, cont + 1):
        c_stamp, c_check, c_words, c_raw = read_slot(data, lane, s + i)
        if (c_stamp != ((s + i) % SEQ_MOD) << 2 | CONT
                or checksum(c_stamp, c_words) != c_check):
            raise Corrupt("continuation")
        payload += c_raw
    payload = payload[:length]
    if kind not in KIND_NAMES:
        return "unknown"
    parent = None
    if kind == 2:
        if len(payload) < 4:
            raise Corrupt("SPAN_NEW without parent")
        parent, payload = u32(payload, 0), payload[4:]
    return dict(time=words[0], seq=s, thread=thread, kind=kind, span=span,
                parent=parent, callsite=callsite, flags=flags,
                values=decode_values(payload))


def walk_lane(data, lane_index, lane):
    h, n = lane["head"], lane["n"]
    start = max(0, h - n)
    st = dict(records=[], lost=start, corrupt=0, unknown=0, unstamped=[])
    head_seen = False
    unfinished = None   # (time,) of the unstamped slot just walked
    s = start
    while s < h:
        stamp, check, words, raw = read_slot(data, lane, s)
        state = stamp & 3
        d = ((stamp >> 2) - s) % SEQ_MOD
        step = 1
        previous, unfinished = unfinished, None
        if 0 < d < SEQ_MOD // 2:
            # A lap writes s + k * N here, and an empty stamp holds nothing;
            # any other newer sequence is damage.
            st["lost" if d % n == 0 or state == EMPTY else "corrupt"] += 1
        elif d != 0 or state == EMPTY:
            st["unstamped"].append((s, None))
            unfinished = (None,)
        elif state == WRITING:
            st["unstamped"].append((s, check))   # coarse time: time_ns >> 20
            unfinished = (check,)
        elif state == CONT and previous is not None:
            # That slot's time, or none (then the lane's T, in classify).
            st["unstamped"].append((s, previous[0]))
            unfinished = previous
        elif state == CONT:
            st["corrupt" if head_seen else "lost"] += 1
        else:
            head_seen = True
            try:
                rec = read_record(data, lane, s, h, stamp, check, words, raw)
            except Corrupt:
                st["corrupt"] += 1
            else:
                step = 1 + raw[26]
                if rec == "unknown":
                    st["unknown"] += 1
                else:
                    rec["lane"] = lane_index
                    st["records"].append(rec)
        s += step
    return st


def is_recent(t, reference):
    """Section 8: a coarse time t within about a second of reference."""
    d = ((reference >> 20) - t) % 2**32
    return d <= 954 or d >= 2**32 - 954


def classify_unstamped(stats, lanes):
    # Record times: records read only (not unknown kinds, not corrupt slots).
    newest = max((r["time"] for st in stats for r in st["records"]), default=0)
    for st, lane in zip(stats, lanes):
        # A slot never stamped takes the time of its lane's newest record.
        lane_newest = max((r["time"] for r in st["records"]), default=None)
        lane_t = None if lane_newest is None else (lane_newest >> 20) % 2**32
        st["pending"] = 0
        for s, t in st["unstamped"]:
            t = lane_t if t is None else t
            if s + 16 >= lane["head"] and t is not None and is_recent(t, newest):
                st["pending"] += 1
        st["abandoned"] = len(st["unstamped"]) - st["pending"]


# --- Section 10: identity table (since v1.3) ---------------------------------

def read_identities(data, hdr):
    """The table's counts and held identities (in sequence order), or None
    when the file has no identity table (ids_size 0)."""
    if not hdr["ids_size"]:
        return None
    base = hdr["ids_offset"]
    capacity = (hdr["ids_size"] - 16) // 48
    tail = u64(data, base)
    first = max(0, tail - capacity)
    ids = dict(capacity=capacity, tail=tail, held=[], lost=first,
               unfinished=0, corrupt=0)
    for q in range(first, tail):   # at most `capacity` identities
        off = base + 16 + 48 * (q % capacity)
        stamp, check = u32(data, off), u32(data, off + 4)
        words = struct.unpack_from("<5Q", data, off + 8)
        state = stamp & 3
        d = ((stamp >> 2) - q) % SEQ_MOD
        if 0 < d < SEQ_MOD // 2:
            ids["lost"] += 1           # the table lapped since tail was read
        elif d != 0 or state in (EMPTY, WRITING):
            ids["unfinished"] += 1
        elif state == HEAD and checksum(stamp, words) == check:
            ids["held"].append(dict(q=q, pid=u32(data, off + 8),
                                    tid=u32(data, off + 12), started=words[1],
                                    since=words[2], version=words[3]))
        else:
            ids["corrupt"] += 1
    return ids


def identities_by_tid(ids):
    by_tid = {}
    for ident in ids["held"]:
        by_tid.setdefault(ident["tid"], []).append(ident)
    return by_tid


def resolve_identity(rec, by_tid):
    """The held identity a record resolves to, or None: among those with its
    thread as tid, the largest since_ns not after its time_ns; if every one
    is after it, the smallest since_ns; ties to the larger q."""
    candidates = by_tid.get(rec["thread"])
    if not candidates:
        return None
    before = [i for i in candidates if i["since"] <= rec["time"]]
    if before:
        return max(before, key=lambda i: (i["since"], i["q"]))
    return min(candidates, key=lambda i: (i["since"], -i["q"]))


# --- Section 9: canonical text ------------------------------------------------

def format_f64(x):
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    text = format(decimal.Decimal(repr(x)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def quote(s):
    out = ['"']
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append("\\u{%02x}" % ord(ch))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def bare(s):
    """Target, file and field names: as stored unless empty or holding a
    space, `"`, `\\`, `=` or a control character; then quoted."""
    if s and not any(ch in ' "\\=' or ord(ch) < 0x20 or ord(ch) == 0x7F
                     for ch in s):
        return s
    return quote(s)


def format_string_id(ident, table):
    """A dictionary STRING by id: quoted, or a placeholder when absent."""
    s = table.get((DICT_STRING, ident))
    return quote(s) if s is not None else "<string %016x>" % ident


def format_value(vtype, value, rec, table):
    if vtype in (0, 1, 9, 10):
        return str(value)
    if vtype == 2:
        return format_f64(value)
    if vtype in (3, 4):
        return "true" if vtype == 4 else "false"
    if vtype == 5:
        return format_string_id(value, table)
    if vtype == 6:
        return quote(value[0]) + ("(truncated)" if value[1] else "")
    if vtype == 7:
        return "<redacted %d bytes>" % value
    if vtype == 8:
        cs = table.get((DICT_CALLSITE, rec["callsite"]))
        return quote(cs["message"]) if cs and cs["message"] else "<message missing>"
    if vtype == "template":
        return format_template(value, table)
    return "<ext %d %d bytes>" % value


def format_template(parts, table):
    """Section 9: each maximal run of TEXT and found STRING parts is one
    quoted string; every other part a placeholder; no part at all is ""."""
    if not parts:
        return '""'
    out, run = [], None   # run: the texts of the current run, or None

    def end_run():
        nonlocal run
        if run is not None:
            out.append(quote("".join(run)))
            run = None

    for kind, value in parts:
        text = value if kind == TEXT else \
            table.get((DICT_STRING, value)) if kind == STRING else None
        if text is not None:
            run = [text] if run is None else run + [text]
            continue
        end_run()
        if kind == HOLE:
            out.append("<redacted %d bytes>" % value)
        elif kind == CUT:
            out.append("<cut %d bytes>" % value)
        else:
            out.append("<string %016x>" % value)
    end_run()
    return "".join(out)


def format_identity(ident, table):
    line = "identity seq=%d pid=%d tid=%d started=%d since=%d" % (
        ident["q"], ident["pid"], ident["tid"], ident["started"], ident["since"])
    if ident["version"]:
        line += " version=" + format_string_id(ident["version"], table)
    return line


def named_pid(rec):
    """Section 10: PROCESS_START, PROCESS_EXIT and THREAD_START name their
    own pid in value 0, when it is a U64 that fits in a u32."""
    if rec["kind"] not in (7, 8, 10):
        return None
    for index, vtype, value in rec["values"]:
        if index == 0:
            return value if vtype == 0 and value < 1 << 32 else None
    return None


def format_record(rec, table, by_tid=None):
    """A record line; by_tid (section 10) is None when the file has no
    identity table, and then no ` pid=` is written."""
    cs = table.get((DICT_CALLSITE, rec["callsite"]))
    parts = ["record %d lane=%d seq=%d thread=%d" % (
        rec["time"], rec["lane"], rec["seq"], rec["thread"])]
    if by_tid is not None:
        pid = named_pid(rec)
        if pid is None:
            ident = resolve_identity(rec, by_tid)
            pid = "?" if ident is None else ident["pid"]
        parts.append("pid=%s" % pid)
    parts.append("%s span=%d" % (KIND_NAMES[rec["kind"]], rec["span"]))
    if rec["parent"] is not None:
        parts.append("parent=%d" % rec["parent"])
    if rec["callsite"]:
        if cs is not None:
            level = KIND_LEVELS.get(rec["kind"], cs["level"])
            parts.append("%s %s %s %s:%d" % (LEVELS[level], bare(cs["target"]),
                                             quote(cs["name"]), bare(cs["file"]),
                                             cs["line"]))
        else:
            parts.append("callsite=%016x" % rec["callsite"])
    if rec["flags"] & 1:
        parts.append("truncated")
        if rec["flags"] >> 1:   # since v1.2: how many values were left out
            parts.append("left_out=%d" % (rec["flags"] >> 1))
    names = POSITIONAL_FIELDS.get(rec["kind"]) or (cs["fields"] if cs else [])
    for index, vtype, value in rec["values"]:
        name = names[index] if index < len(names) else "f%d" % index
        parts.append("%s=%s" % (bare(name), format_value(vtype, value, rec, table)))
    return " ".join(parts)


def canonical_text(data):
    hdr = read_header(data)
    lanes = read_lane_headers(data, hdr)
    dictionary = read_dictionary(data, hdr)
    ids = read_identities(data, hdr)
    stats = [walk_lane(data, i, lane) for i, lane in enumerate(lanes)]
    classify_unstamped(stats, lanes)
    dr = hdr["dropped"]
    lines = ["ring v%d.%d lanes=%d slots=%d created=%d processes=%d "
             "dropped=dictionary_full:%d,callsite_table_full:%d" % (
                 hdr["major"], hdr["minor"], hdr["lane_count"],
                 sum(l["n"] for l in lanes), hdr["created_ns"], hdr["processes"],
                 dr[0], dr[1])
             + (" values_left_out=%d" % hdr["values_left_out"]
                if hdr["minor"] >= 2 else ""),
             "dictionary entries=%d unfinished=%d skipped_bytes=%d" % (
                 dictionary["entries"], dictionary["unfinished"],
                 dictionary["skipped"])]
    if ids is not None:
        lines.append("identities capacity=%d claimed=%d held=%d lost_to_laps=%d "
                     "unfinished=%d corrupt=%d" % (
                         ids["capacity"], ids["tail"], len(ids["held"]),
                         ids["lost"], ids["unfinished"], ids["corrupt"]))
        lines.extend(format_identity(i, dictionary["table"]) for i in ids["held"])
    keys = ("records", "lost", "abandoned", "pending", "corrupt", "unknown")
    totals = dict.fromkeys(keys, 0)
    for i, (lane, st) in enumerate(zip(lanes, stats)):
        # Section 8: counts saturate at 2^64 - 1.
        counts = {k: min(v, MASK64) for k, v in dict(st, records=len(st["records"])).items()
                  if k in keys}
        for k in keys:
            totals[k] = min(totals[k] + counts[k], MASK64)
        lines.append("lane %d %s slots=%d head=%d records=%d lost_to_laps=%d "
                     "abandoned=%d pending=%d corrupt=%d unknown_kinds=%d" % (
                         i, "alert" if lane["cls"] else "main", lane["n"],
                         lane["head"], *(counts[k] for k in keys)))
    records = sorted((r for st in stats for r in st["records"]),
                     key=lambda r: (r["time"], r["lane"], r["seq"]))
    by_tid = None if ids is None else identities_by_tid(ids)
    lines.extend(format_record(r, dictionary["table"], by_tid) for r in records)
    lines.append("totals records=%d lost_to_laps=%d abandoned=%d pending=%d "
                 "corrupt=%d unknown_kinds=%d" % tuple(totals[k] for k in keys))
    return "".join(line + "\n" for line in lines)


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: decode.py RING_FILE\n")
        return 2
    try:
        with open(argv[1], "rb") as f:
            data = f.read()
        text = canonical_text(data)
    except RingError as e:
        sys.stderr.write("error: %s\n" % e)
        return 1
    except OSError as e:
        sys.stderr.write("error: cannot read %s: %s\n" % (argv[1], e.strerror))
        return 1
    except Exception as e:  # never a traceback for bad input
        sys.stderr.write("error: internal: %s: %s\n"
                         % (type(e).__name__, str(e).replace("\n", " ")))
        return 1
    sys.stdout.buffer.write(text.encode("utf-8"))
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
