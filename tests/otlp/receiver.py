#!/usr/bin/env python3
"""A minimal OTLP/HTTP receiver on 127.0.0.1: accepts POST /v1/traces and
/v1/metrics with Content-Type application/json, parses each body with the
OpenTelemetry project's definitions and answers 200 `{}`, or 400 if it
does not parse. Every request is appended to LOG as one JSON line (path,
status, and the facts of otlp_proto) before it is answered.

    receiver.py LOG [--refuse]

Prints the port it listens on as its first line of stdout. With --refuse,
answers every request 400, as a collector refusing the data would."""

import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

import otlp_proto

PARSERS = {
    "/v1/traces": (otlp_proto.parse_traces, otlp_proto.trace_facts),
    "/v1/metrics": (otlp_proto.parse_metrics, otlp_proto.metric_facts),
}


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace")
        entry = {"path": self.path, "content_type": self.headers.get("Content-Type")}
        if self.path not in PARSERS:
            status, answer = 404, {"code": 5, "message": f"no {self.path} here"}
        elif (self.headers.get("Content-Type") or "").split(";")[0].strip() != "application/json":
            status, answer = 415, {"code": 3, "message": "expected application/json"}
        else:
            parse, facts = PARSERS[self.path]
            try:
                entry["facts"] = facts(parse(body))
                status, answer = 200, {}
            except otlp_proto.json_format.ParseError as e:
                status, answer = 400, {"code": 3, "message": f"invalid request: {e}"}
        if self.server.refuse:
            status, answer = 400, {"code": 3, "message": "refused by the test"}
        entry["status"] = status
        with open(self.server.log, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass  # the log file says what came


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: receiver.py LOG [--refuse]")
    server = HTTPServer(("127.0.0.1", 0), Handler)
    server.log = sys.argv[1]
    server.refuse = "--refuse" in sys.argv[2:]
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
