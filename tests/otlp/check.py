#!/usr/bin/env python3
"""Parses `caro-analyze export --format otlp` output (FILE, or stdin) with
the OpenTelemetry project's definitions: line 1 as an
ExportTraceServiceRequest, line 2 as an ExportMetricsServiceRequest.
Prints what it found as one JSON object; exits 1 if either does not
parse, 3 if opentelemetry-proto is not installed."""

import json
import sys

import otlp_proto


def main():
    text = open(sys.argv[1], encoding="utf-8").read() if len(sys.argv) > 1 else sys.stdin.read()
    lines = text.splitlines()
    if len(lines) != 2:
        sys.exit(f"expected 2 lines (traces, metrics), got {len(lines)}")
    try:
        traces = otlp_proto.parse_traces(lines[0])
    except otlp_proto.json_format.ParseError as e:
        sys.exit(f"line 1 is no ExportTraceServiceRequest: {e}")
    try:
        metrics = otlp_proto.parse_metrics(lines[1])
    except otlp_proto.json_format.ParseError as e:
        sys.exit(f"line 2 is no ExportMetricsServiceRequest: {e}")
    facts = {"traces": otlp_proto.trace_facts(traces), "metrics": otlp_proto.metric_facts(metrics)}
    json.dump(facts, sys.stdout)
    print()


if __name__ == "__main__":
    main()
