"""The OpenTelemetry project's own OTLP definitions (PyPI package
opentelemetry-proto), and the facts the tests hold caro's export to.

Parsing uses protobuf's json_format.Parse with its defaults: an unknown
field, a wrong type or a malformed value is an error.
"""

import base64
import math
import sys

try:
    from google.protobuf import json_format
    from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
except ImportError as e:
    sys.stderr.write(
        f"cannot import the OTLP definitions ({e}): pip install opentelemetry-proto\n"
    )
    sys.exit(3)

STATUS_ERROR = 2


def parse_traces(text):
    return json_format.Parse(text, trace_service_pb2.ExportTraceServiceRequest())


def parse_metrics(text):
    return json_format.Parse(text, metrics_service_pb2.ExportMetricsServiceRequest())


def hex_id(raw):
    """The id as the JSON spelled it.

    OTLP/JSON writes ids in hex where protobuf's JSON mapping expects
    base64; hex digits are base64 digits, so json_format decodes them as
    base64, and encoding its bytes back gives the text that was sent.
    """
    return base64.urlsafe_b64encode(raw).decode("ascii")


def is_hex(s, digits):
    return len(s) == digits and all(c in "0123456789abcdef" for c in s)


def trace_facts(req):
    """What the tests check of an ExportTraceServiceRequest."""
    problems = []
    spans = {}  # trace id -> {span id: span}
    roots = {}  # trace id -> [root span]
    n = 0
    resources = 0
    for rs in req.resource_spans:
        resources += 1
        attrs = {a.key: a.value for a in rs.resource.attributes}
        if attrs.get("service.name") is None or attrs["service.name"].string_value != "caro":
            problems.append("a resource without service.name=caro")
        if "process.pid" not in attrs or attrs["process.pid"].int_value <= 0:
            problems.append("a resource without process.pid")
        for ss in rs.scope_spans:
            if ss.scope.name != "caro-recorder":
                problems.append(f"scope {ss.scope.name!r}")
            for s in ss.spans:
                n += 1
                tid, sid = hex_id(s.trace_id), hex_id(s.span_id)
                if not is_hex(tid, 32):
                    problems.append(f"trace id {tid!r}")
                if not is_hex(sid, 16):
                    problems.append(f"span id {sid!r}")
                of_trace = spans.setdefault(tid, {})
                if sid in of_trace:
                    problems.append(f"span id {sid} twice in trace {tid}")
                of_trace[sid] = s
                if not s.parent_span_id:
                    roots.setdefault(tid, []).append(s)
                if s.start_time_unix_nano == 0 or s.start_time_unix_nano > s.end_time_unix_nano:
                    problems.append(f"span {sid}: start {s.start_time_unix_nano} end {s.end_time_unix_nano}")
                if s.kind != 1:
                    problems.append(f"span {sid}: kind {s.kind}")
                if not s.name:
                    problems.append(f"span {sid}: no name")
                keys = [a.key for a in s.attributes]
                if len(keys) != len(set(keys)):
                    problems.append(f"span {sid}: a key twice in {keys}")
                if "thread.id" not in keys:
                    problems.append(f"span {sid}: no thread.id")
                for e in s.events:
                    if e.time_unix_nano == 0 or not e.name:
                        problems.append(f"span {sid}: event {e}")
                    level = next((a.value.string_value for a in e.attributes if a.key == "level"), None)
                    if level is None:
                        problems.append(f"span {sid}: an event without level")
                    if level == "ERROR" and s.status.code != STATUS_ERROR:
                        problems.append(f"span {sid}: an ERROR event, status {s.status.code}")
    for tid, of_trace in spans.items():
        for sid, s in of_trace.items():
            if s.parent_span_id and hex_id(s.parent_span_id) not in of_trace:
                problems.append(f"span {sid}: parent {hex_id(s.parent_span_id)} not in trace {tid}")
        if len(roots.get(tid, [])) != 1:
            problems.append(f"trace {tid}: {len(roots.get(tid, []))} roots")
    return {
        "resources": resources,
        "spans": n,
        "trace_ids": sorted(spans),
        "error_roots": sorted(tid for tid, rs in roots.items() if any(r.status.code == STATUS_ERROR for r in rs)),
        "unfinished_spans": sum(
            1
            for of_trace in spans.values()
            for s in of_trace.values()
            if any(a.key == "caro.unfinished" and a.value.bool_value for a in s.attributes)
        ),
        "problems": problems,
    }


def metric_facts(req):
    """What the tests check of an ExportMetricsServiceRequest: per metric,
    its type, unit and the sum of its points' values (a histogram's count)."""
    problems = []
    metrics = {}
    for rm in req.resource_metrics:
        for sm in rm.scope_metrics:
            if sm.scope.name != "caro-recorder":
                problems.append(f"scope {sm.scope.name!r}")
            for m in sm.metrics:
                kind = m.WhichOneof("data")
                fact = {"type": kind, "unit": m.unit, "points": 0, "value": 0.0}
                if m.name in metrics:
                    problems.append(f"metric {m.name} twice")
                if m.name.endswith("_total"):
                    problems.append(f"metric {m.name}: OTLP names carry no _total")
                if kind == "sum":
                    if not m.sum.is_monotonic or m.sum.aggregation_temporality != 2:
                        problems.append(f"metric {m.name}: not a cumulative monotonic sum")
                    points = m.sum.data_points
                elif kind == "gauge":
                    points = m.gauge.data_points
                elif kind == "histogram":
                    if m.histogram.aggregation_temporality != 2:
                        problems.append(f"metric {m.name}: not cumulative")
                    points = m.histogram.data_points
                else:
                    problems.append(f"metric {m.name}: type {kind}")
                    points = []
                for p in points:
                    fact["points"] += 1
                    if p.time_unix_nano == 0:
                        problems.append(f"metric {m.name}: a point without time")
                    if kind == "histogram":
                        if len(p.bucket_counts) != len(p.explicit_bounds) + 1:
                            problems.append(f"metric {m.name}: {len(p.bucket_counts)} buckets for {len(p.explicit_bounds)} bounds")
                        if sum(p.bucket_counts) != p.count:
                            problems.append(f"metric {m.name}: buckets add up to {sum(p.bucket_counts)}, count {p.count}")
                        if list(p.explicit_bounds) != sorted(p.explicit_bounds):
                            problems.append(f"metric {m.name}: bounds not ascending")
                        fact["value"] += p.count
                    else:
                        fact["value"] += p.as_double if p.WhichOneof("value") == "as_double" else p.as_int
                if not math.isfinite(fact["value"]):
                    fact["value"] = str(fact["value"])  # JSON has no NaN
                metrics[m.name] = fact
    return {"metrics": metrics, "problems": problems}
