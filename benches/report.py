#!/usr/bin/env python3
"""Writes BENCHMARKS.md from what benches/run.sh measured: criterion's
estimates under target/criterion, size.json and overhead.json. No figure
is typed by hand; benches/FINDINGS.md (prose: why a target is missed, and
the plan) is appended as it is.

    python3 benches/report.py TARGET_CRITERION_DIR SECONDS_TAKEN [LTO_CRITERION_DIR] > BENCHMARKS.md

LTO_CRITERION_DIR holds the `event` group measured again in a fat-LTO
build (benches/run.sh), beside the workspace's benchmark profile.
"""
import datetime
import json
import os
import platform
import subprocess
import sys

CRITERION = sys.argv[1]
SECONDS = float(sys.argv[2]) if len(sys.argv) > 2 else None
LTO = sys.argv[3] if len(sys.argv) > 3 else None

# The contenders of each group, in the order shown, and what each is.
GROUPS = {
    "event": ("`info!` with three fields (u64, static str, f64)", "floor", [
        ("caro_subscriber", "caro-recorder as its own subscriber"),
        ("caro_layer", "caro-recorder as a Layer on a Registry"),
        ("caro_subscriber_message", "caro-recorder, the same event with a literal message"),
        ("floor", "a subscriber that only visits the fields into a stack buffer"),
        ("floor_message", "the floor, the same event with a literal message"),
        ("fmt_json_non_blocking", "fmt().json() into tracing_appender::non_blocking over a file"),
        ("fmt_text_non_blocking", "fmt() text into tracing_appender::non_blocking over a file"),
        ("caro_subscriber_live_json", "caro-recorder with live output as JSON lines into a file (CARO_LOG_FORMAT=json CARO_LOG_FILE): the host's thread records and queues the record's place; a background thread renders it"),
    ]),
    "message": ("`info!(\"Static matcher found match in {:?}: {}\", elapsed, command)`: the real caro's shape, a message with arguments and no fields", "floor_formatting", [
        ("caro_subscriber", "caro-recorder as its own subscriber: the template (literal pieces and the duration kept, the command's length)"),
        ("caro_layer", "caro-recorder as a Layer on a Registry"),
        ("floor", "a subscriber that visits the fields into a stack buffer, formatting nothing"),
        ("floor_formatting", "the floor, formatting the message into a stack buffer: the least a subscriber that keeps text does"),
        ("fmt_json_non_blocking", "fmt().json() into tracing_appender::non_blocking over a file"),
    ]),
    "span": ("new + enter + exit + close of a span with two fields", "registry", [
        ("caro_subscriber", "caro-recorder as its own subscriber, every span recorded durably"),
        ("caro_layer", "caro-recorder as a Layer on a Registry"),
        ("noop", "a subscriber that records nothing"),
        ("registry", "tracing_subscriber::registry() alone, recording nothing"),
        ("fastrace", "fastrace's LocalSpan, every span reported"),
        ("registry_fmt_json", "registry + fmt JSON layer into non_blocking"),
    ]),
    "disabled": ("an event below the recorded level, or with recording off", "noop_below_level", [
        ("caro_below_level", "caro-recorder recording INFO, a DEBUG event"),
        ("caro_log_off", "CARO_LOG=off: no subscriber installed"),
        ("noop_below_level", "a no-op subscriber at INFO, a DEBUG event: tracing's cached-interest check"),
    ]),
    "decode": ("reading a 1,000,000-record ring file", "read_and_sum_floor", [
        ("caro_format", "read the file and decode every record"),
        ("read_and_sum_floor", "read the file and sum its bytes"),
    ]),
    "ingest": ("`caro-analyze ingest` of a 1,000,000-record ring into a fresh store (whole process)", None, [
        ("1M_records", "caro-analyze ingest"),
    ]),
    "report": ("`caro-analyze report --json` over 30 days of data (whole process)", None, [
        ("json_30_days", "caro-analyze report --json --days 30"),
    ]),
}
THREADS = [
    ("threads_1", "1 thread"),
    ("threads_2", "2 threads, one ring"),
    ("stores_1", "the floor: 1 thread writing 64-byte slots into its own buffer, no recorder"),
    ("stores_2", "the floor: 2 threads, each its own buffer"),
    ("processes_1", "1 process"),
    ("processes_2", "2 processes, one ring"),
]


def estimate(group, bench, criterion=None):
    """(median ns per iteration, elements per iteration or None)."""
    base = os.path.join(criterion or CRITERION, group, bench, "new")
    try:
        with open(os.path.join(base, "estimates.json")) as f:
            median = json.load(f)["median"]["point_estimate"]
        with open(os.path.join(base, "benchmark.json")) as f:
            throughput = json.load(f).get("throughput") or {}
    except FileNotFoundError:
        return None, None
    return median, throughput.get("Elements")


def load(name):
    try:
        with open(os.path.join(CRITERION, name)) as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def duration(ns):
    if ns is None:
        return "not measured"
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"


def rate(per_s):
    return f"{per_s / 1e6:.3g} M/s"


def ratio(x):
    return "—" if x is None else f"{x:.3g} ×"


def verdict(ok):
    return "not measured" if ok is None else ("met" if ok else "**missed**")


def median(group, bench, criterion=None):
    return estimate(group, bench, criterion)[0]


def over(a, b):
    return None if a is None or b is None else a / b


def targets():
    """(target, measured, met) rows, in the issue's order."""
    rows = []

    def at_most(text, value, limit, shown=ratio):
        rows.append((text, shown(value), verdict(None if value is None else value <= limit)))

    def at_least(text, value, limit, shown=ratio):
        rows.append((text, shown(value), verdict(None if value is None else value >= limit)))

    ev = lambda b: median("event", b)
    sp = lambda b: median("span", b)
    msg = lambda b: median("message", b)
    at_most("event: caro subscriber ≤ 1.5 × floor", over(ev("caro_subscriber"), ev("floor")), 1.5)
    at_most("event with a literal message: caro subscriber ≤ 1.5 × floor",
            over(ev("caro_subscriber_message"), ev("floor_message")), 1.5)
    lto = lambda b: median("event", b, LTO) if LTO else None
    at_most("event, fat-LTO build: caro subscriber ≤ 1.5 × floor",
            over(lto("caro_subscriber"), lto("floor")), 1.5)
    at_most("event with a literal message, fat-LTO build: caro subscriber ≤ 1.5 × floor",
            over(lto("caro_subscriber_message"), lto("floor_message")), 1.5)
    at_most("event: caro layer ≤ 3 × floor", over(ev("caro_layer"), ev("floor")), 3.0)
    at_least("event: fmt JSON via non_blocking ≥ 20 × caro subscriber",
             over(ev("fmt_json_non_blocking"), ev("caro_subscriber")), 20.0)
    rows.append(("event with live output (JSON lines into a file): fmt JSON via non_blocking × caro",
                 ratio(over(ev("fmt_json_non_blocking"), ev("caro_subscriber_live_json"))), "reference"))
    rows.append(("message with arguments: caro subscriber × the formatting floor",
                 ratio(over(msg("caro_subscriber"), msg("floor_formatting"))), "reference"))
    rows.append(("message with arguments: fmt JSON via non_blocking × caro subscriber",
                 ratio(over(msg("fmt_json_non_blocking"), msg("caro_subscriber"))), "reference"))
    at_most("span: caro subscriber ≤ 1 × registry alone", over(sp("caro_subscriber"), sp("registry")), 1.0)
    at_least("span: fastrace ≥ 3 × caro subscriber", over(sp("fastrace"), sp("caro_subscriber")), 3.0)
    at_least("span: registry + fmt JSON ≥ 10 × caro subscriber",
             over(sp("registry_fmt_json"), sp("caro_subscriber")), 10.0)
    at_most("disabled: below the level ≤ 2 ns", median("disabled", "caro_below_level"), 2.0, duration)
    at_most("disabled: CARO_LOG=off ≤ 2 ns", median("disabled", "caro_log_off"), 2.0, duration)
    tp = {b: throughput("threads", b) for b, _ in THREADS}
    at_least("threads: 2 threads ≥ 1.7 × 1 thread", over(tp["threads_2"], tp["threads_1"]), 1.7)
    at_least("threads: 2 processes ≥ 1.7 × 1 process", over(tp["processes_2"], tp["processes_1"]), 1.7)
    rows.append(("(the machine: 2 threads of plain stores, no recorder, × 1 thread)",
                 ratio(over(tp["stores_2"], tp["stores_1"])), "reference"))
    dec = over(throughput("decode", "caro_format"), throughput("decode", "read_and_sum_floor"))
    at_least("decode: ≥ 0.3 × the read-and-sum floor's records/s", dec, 0.3)
    at_most("ingest: 1,000,000 records ≤ 2 s", median("ingest", "1M_records"), 2e9, duration)
    at_most("report --json over 30 days ≤ 100 ms", median("report", "json_30_days"), 100e6, duration)
    size = load("size.json")
    mix = lambda name: None if size is None or name not in size else \
        size[name]["ring_bytes_per_event"] / size[name]["json_bytes_per_event"]
    at_most("size: the real caro's event mix ≤ 1/3 of JSON lines", mix("caro"), 1 / 3)
    rows.append(("size: the benchmarks' event shapes × JSON lines", ratio(mix("bench")), "reference"))
    cost = load("overhead.json")
    at_most("end to end: caro_sim CPU recording at debug ≤ 1.01 × CARO_LOG=off",
            None if cost is None else cost["ratio"], 1.01)
    return rows


def throughput(group, bench):
    ns, elements = estimate(group, bench)
    return None if ns is None or not elements else elements / (ns / 1e9)


def machine():
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    return f"{cpu}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.release()}, {rustc}"


def main():
    out = []
    w = out.append
    today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    w("# Benchmarks\n")
    w("Generated by `benches/run.sh` (criterion, every contender in the same run); "
      "do not edit by hand. Ratios compare medians measured side by side; absolute "
      "figures on this shared machine are noisy.\n")
    took = f", in {SECONDS / 60:.1f} minutes" if SECONDS else ""
    w(f"- Run: {today}{took}\n- Machine: {machine()}\n")
    w("## Targets\n")
    w("| target | measured | |\n|---|---|---|")
    for text, measured, met in targets():
        w(f"| {text} | {measured} | {met} |")
    w("")
    for group, (shape, reference, benches) in GROUPS.items():
        w(f"## {group}\n\n{shape}.\n")
        head = "| contender | | median |" + (f" × {reference} |" if reference else "")
        w(head)
        w("|---|---|---|" + ("---|" if reference else ""))
        ref = median(group, reference) if reference else None
        for bench, what in benches:
            ns = median(group, bench)
            row = f"| `{bench}` | {what} | {duration(ns)} |"
            if reference:
                row += f" {ratio(over(ns, ref))} |"
            w(row)
        w("")
    if LTO:
        w("## event, fat-LTO build\n\nThe `event` group again, built with "
          "`CARGO_PROFILE_BENCH_LTO=fat CARGO_PROFILE_BENCH_CODEGEN_UNITS=1` (the tables "
          "above use the workspace's benchmark profile: `[profile.release]` with `debug = 1`, "
          "no LTO, 16 codegen units, as a host's plain `cargo build --release` makes it).\n")
        w("| contender | median | × floor |\n|---|---|---|")
        ref = median("event", "floor", LTO)
        for bench, _ in GROUPS["event"][2]:
            ns = median("event", bench, LTO)
            w(f"| `{bench}` | {duration(ns)} | {ratio(over(ns, ref))} |")
        w("")
    w("## threads\n\nEvents per second into one ring.\n")
    w("| contender | | events/s |\n|---|---|---|")
    for bench, what in THREADS:
        per_s = throughput("threads", bench)
        w(f"| `{bench}` | {what} | {'not measured' if per_s is None else rate(per_s)} |")
    w("")
    size = load("size.json")
    w("## size\n\nBytes on disk per event (counted, not timed).\n")
    if size:
        w(f"{size['events']:,} events of each mix (`benches/benches/size.rs`): `caro`, the real "
          "caro's `format!`-style messages at DEBUG, and `bench`, the benchmarks' event with "
          "three fields, with and without a literal message, at INFO.\n")
        w("| form | caro mix, bytes/event | × ring | bench mix, bytes/event | × ring |")
        w("|---|---|---|---|---|")
        for key, what in (("ring_bytes_per_event", "caro ring"),
                          ("json_bytes_per_event", "JSON lines (fmt().json())"),
                          ("json_zstd_bytes_per_event", "JSON lines, zstd level 3")):
            cells = "".join(
                f" {size[m][key]:.3g} | {ratio(size[m][key] / size[m]['ring_bytes_per_event'])} |"
                for m in ("caro", "bench"))
            w(f"| {what} |{cells}")
    else:
        w("not measured")
    w("")
    cost = load("overhead.json")
    w("## end to end\n\n`benches/overhead.sh`: whole-process CPU time of `caro_sim` "
      "(`--busy --time-scale 0.01`), median of its runs.\n")
    if cost:
        w("| run | CPU |\n|---|---|")
        w(f"| recording at `debug` | {cost['recording_cpu_s']:.3f} s |")
        w(f"| `CARO_LOG=off` | {cost['off_cpu_s']:.3f} s |")
        w(f"| ratio | {ratio(cost['ratio'])} |")
        w(f"\n{cost['runs']} runs of each, {cost['queries']:,} requests a run.")
    else:
        w("not measured")
    w("")
    profile = load("profile.json")
    w("## profile\n\n`benches/profile.sh`: instructions per event of caro-recorder as its "
      "own subscriber (the `event` shape; callgrind, the difference of two runs), by the "
      "function they are spent in (inlined code counts in its caller).\n")
    # The same profile of the format 1.2 writer (main at 0c773de, before
    # issue 17's turns and identity table), kept beside this script.
    before_path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "profile-v1.2.json")
    with open(before_path) as f:
        before = json.load(f)
    if profile:
        w(f"{profile['instructions_per_event']:.0f} instructions per event; the format 1.2 "
          f"writer (`benches/profile-v1.2.json`, before lanes were taken in turns and the "
          f"identity table was kept) took {before['instructions_per_event']:.0f}.\n")
        w("| function | instructions/event | format 1.2 writer |\n|---|---|---|")
        was = dict(before["functions"])
        for function, count in profile["functions"][:15]:
            shown = function.replace("|", "\\|")
            w(f"| `{shown}` | {count:.0f} | {was.get(function, 0):.0f} |")
    else:
        w("not measured")
    w("")
    # The real caro's section is scripts/real-caro's own run (it builds
    # caro, minutes): its latest output, as it wrote it.
    real = os.path.join(os.path.dirname(os.path.abspath(__file__)), "REAL-CARO.md")
    if os.path.exists(real):
        with open(real) as f:
            text = f.read().rstrip()
        w("## real caro\n")
        body = text.split("\n", 1)[1].strip() if text.startswith("# ") else text
        w(body.replace("\n## ", "\n### "))
        w("")
    findings = os.path.join(os.path.dirname(os.path.abspath(__file__)), "FINDINGS.md")
    if os.path.exists(findings):
        with open(findings) as f:
            w(f.read().rstrip())
    print("\n".join(out))


main()
