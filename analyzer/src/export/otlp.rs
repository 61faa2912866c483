//! OTLP/JSON: traces and metrics in the OpenTelemetry protocol's JSON
//! encoding, and their delivery to a collector's OTLP/HTTP endpoint.
//!
//! The encoding is the protobuf JSON mapping with OTLP's exceptions
//! (<https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding>):
//! lowerCamelCase keys, trace and span ids as hex, 64-bit integers as
//! decimal strings, enums as integers.
//!
//! Traces ([`traces_request`]), one `ExportTraceServiceRequest`:
//!
//! | caro | OTLP |
//! |---|---|
//! | a process (pid) | one `resourceSpans`: `service.name` = `caro`, `service.version` when known, `process.pid` |
//! | — | one `scopeSpans`, scope `caro-recorder` |
//! | [`Trace::id_hex`], [`Trace::span_id_hex`] | `traceId`, `spanId`, `parentSpanId` (none on the root) |
//! | span name, start, end | `name`, `kind` 1 (INTERNAL), `startTimeUnixNano`, `endTimeUnixNano` |
//! | an unfinished span | ends where it was last seen, `caro.unfinished` = true |
//! | spans and events left out of a long trace | `caro.left_out` = how many, on the root |
//! | span fields, thread | `attributes` (string, int, double, bool; a u64 past `i64::MAX` as a string), `thread.id` |
//! | an event | `events[]`: `name` = its message (or level), `timeUnixNano`, `attributes` = its other fields and `level` |
//! | an ERROR event in a span; a failed trace's root | `status.code` 2 (ERROR) |
//! | an invocation that served no request | a trace of one span, `invocation`, its attributes `outcome`, `status` (the exit status, when recorded) and `version` |
//!
//! Metrics ([`metrics_request`]), one `ExportMetricsServiceRequest` with one
//! resource (the store's, across processes) and scope `caro-recorder`:
//!
//! | [`Family`] | OTLP metric |
//! |---|---|
//! | name, help | `name` (as is: OTLP names carry no `_total`), `description` |
//! | unit `seconds`, `bytes`, none | `unit` `s`, `By`, `1` (UCUM) |
//! | [`Kind::Counter`] | `sum`: monotonic, cumulative (temporality 2) from the snapshot's start, `asDouble` |
//! | [`Kind::Gauge`] | `gauge`, `asDouble` |
//! | [`Kind::Histogram`] | `histogram`, cumulative: `explicitBounds`, `bucketCounts` per bucket plus the `+Inf` one, `count`, `sum` |
//! | labels | `attributes` (strings) |

use std::collections::BTreeMap;
use std::io::Read;
use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::assemble::trace::{text, Trace};
use crate::error::{Error, Result};
use crate::export::metrics::{self, Family, Kind, Point, Series, Snapshot};
use crate::scrub::event::{Field, FieldValue};

/// The instrumentation scope of everything exported: what recorded it.
const SCOPE: &str = "caro-recorder";
/// `Span.SpanKind.SPAN_KIND_INTERNAL`: caro's spans are all in-process.
const KIND_INTERNAL: u8 = 1;
/// `Status.StatusCode.STATUS_CODE_ERROR`.
const STATUS_ERROR: u8 = 2;
/// `AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE`.
const CUMULATIVE: u8 = 2;
/// How long a collector may take to connect, read and answer.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The longest piece of a collector's answer quoted in an error.
const WHY_MAX: usize = 200;

/// An `ExportTraceServiceRequest` holding `traces`.
pub fn traces_request(traces: &[Trace], version: Option<&str>) -> Value {
    // A trace's spans may come from several processes (workers): each
    // span goes to its own process's resource.
    let mut by_pid: BTreeMap<u32, Vec<Value>> = BTreeMap::new();
    for t in traces {
        let trace_id = t.id_hex();
        for (i, s) in t.spans.iter().enumerate() {
            let mut attributes = s.fields.clone();
            attributes.push(("thread.id".to_owned(), FieldValue::U64(s.thread.into())));
            if s.end_ns.is_none() {
                attributes.push(("caro.unfinished".to_owned(), FieldValue::Bool(true)));
            }
            if i == 0 && t.left_out > 0 {
                attributes.push(("caro.left_out".to_owned(), FieldValue::U64(t.left_out)));
            }
            let mut span = Map::new();
            span.insert("traceId".into(), trace_id.clone().into());
            span.insert("spanId".into(), t.span_id_hex(s.id).into());
            if i > 0 && s.parent != 0 {
                span.insert("parentSpanId".into(), t.span_id_hex(s.parent).into());
            }
            span.insert("name".into(), s.name.clone().into());
            span.insert("kind".into(), KIND_INTERNAL.into());
            span.insert("startTimeUnixNano".into(), s.start_ns.to_string().into());
            let end = t.end_or_last_ns(i).max(s.start_ns);
            span.insert("endTimeUnixNano".into(), end.to_string().into());
            span.insert("attributes".into(), attributes_json(&attributes));
            if !s.events.is_empty() {
                let events = s
                    .events
                    .iter()
                    .map(|e| {
                        let mut attributes = e.other_fields().to_vec();
                        attributes.push(("level".to_owned(), FieldValue::Str(e.level.clone())));
                        json!({
                            "timeUnixNano": e.time_ns.to_string(),
                            "name": e.message().map_or_else(|| e.level.clone(), text),
                            "attributes": attributes_json(&attributes),
                        })
                    })
                    .collect::<Vec<_>>();
                span.insert("events".into(), events.into());
            }
            let first_error = s.events.iter().find(|e| e.is_error());
            if first_error.is_some() || (i == 0 && t.error) {
                let mut status = Map::new();
                status.insert("code".into(), STATUS_ERROR.into());
                if let Some(m) = first_error.and_then(|e| e.message()) {
                    status.insert("message".into(), text(m).into());
                }
                span.insert("status".into(), status.into());
            }
            by_pid.entry(s.pid).or_default().push(span.into());
        }
    }
    let resource_spans: Vec<Value> = by_pid
        .into_iter()
        .map(|(pid, spans)| {
            json!({
                "resource": {"attributes": resource_attributes(version, Some(pid))},
                "scopeSpans": [{"scope": {"name": SCOPE}, "spans": spans}],
            })
        })
        .collect();
    json!({ "resourceSpans": resource_spans })
}

/// An `ExportMetricsServiceRequest` holding the snapshot.
pub fn metrics_request(snapshot: &Snapshot, version: Option<&str>) -> Value {
    let metrics: Vec<Value> = snapshot
        .families
        .iter()
        .filter_map(|f| metric(f, snapshot))
        .collect();
    json!({
        "resourceMetrics": [{
            "resource": {"attributes": resource_attributes(version, None)},
            "scopeMetrics": [{"scope": {"name": SCOPE}, "metrics": metrics}],
        }]
    })
}

/// POSTs both to `endpoint` (`http://host:4318`): `/v1/traces`, `/v1/metrics`.
pub fn post(endpoint: &str, traces: &Value, metrics: &Value) -> Result<()> {
    let base = endpoint.trim_end_matches('/');
    // `localhost:4318` would parse as a URL of scheme `localhost`.
    let scheme = base.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    if !matches!(scheme.as_deref(), Some("http" | "https")) {
        return Err(Error::BadSetting {
            name: "--endpoint".to_owned(),
            value: endpoint.to_owned(),
            expected: "an http:// or https:// URL such as http://localhost:4318".to_owned(),
        });
    }
    // A redirect is reported rather than followed: ureq would turn the
    // POST into a GET on some of them.
    let agent = ureq::AgentBuilder::new()
        .timeout(TIMEOUT)
        .redirects(0)
        .build();
    for (path, body) in [("/v1/traces", traces), ("/v1/metrics", metrics)] {
        let url = format!("{base}{path}");
        let send = |why: String| Error::Send {
            url: url.clone(),
            why,
        };
        let body = serde_json::to_string(body).map_err(|e| send(e.to_string()))?;
        let answer = agent
            .post(&url)
            .set("Content-Type", "application/json")
            .send_string(&body);
        match answer {
            Ok(r) if (200..300).contains(&r.status()) => {}
            Ok(r) => return Err(send(status_why(r))),
            Err(ureq::Error::Status(_, r)) => return Err(send(status_why(r))),
            Err(ureq::Error::Transport(t)) => return Err(send(transport_why(&t))),
        }
    }
    Ok(())
}

/// `HTTP 400 Bad Request: <the first line of the body>`, in one line.
fn status_why(r: ureq::Response) -> String {
    let mut why = format!("HTTP {} {}", r.status(), r.status_text());
    let mut head = Vec::new();
    // Only the start of the answer is shown: no need to read it all.
    let _ = r.into_reader().take(4096).read_to_end(&mut head);
    let body = String::from_utf8_lossy(&head);
    let line = body.lines().map(str::trim).find(|l| !l.is_empty());
    if let Some(line) = line {
        why += ": ";
        why += line;
    }
    one_line(&why)
}

/// The transport error without its URL, which [`Error::Send`] names.
fn transport_why(t: &ureq::Transport) -> String {
    let mut why = t.kind().to_string();
    if let Some(m) = t.message() {
        why += ": ";
        why += m;
    }
    if let Some(source) = std::error::Error::source(t) {
        why += &format!(": {source}");
    }
    one_line(&why)
}

/// `s` without control characters, cut to [`WHY_MAX`] characters.
fn one_line(s: &str) -> String {
    let clean: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    match clean.char_indices().nth(WHY_MAX) {
        Some((cut, _)) => format!("{}…", &clean[..cut]),
        None => clean,
    }
}

fn resource_attributes(version: Option<&str>, pid: Option<u32>) -> Value {
    let mut attributes = vec![("service.name".to_owned(), FieldValue::Str("caro".into()))];
    if let Some(v) = version {
        attributes.push(("service.version".to_owned(), FieldValue::Str(v.to_owned())));
    }
    if let Some(pid) = pid {
        attributes.push(("process.pid".to_owned(), FieldValue::U64(pid.into())));
    }
    attributes_json(&attributes)
}

/// `KeyValue`s, each key once: a field recorded again keeps its last value
/// (OTLP requires unique keys).
fn attributes_json(fields: &[Field]) -> Value {
    let mut last: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, (k, _)) in fields.iter().enumerate() {
        last.insert(k, i);
    }
    fields
        .iter()
        .enumerate()
        .filter(|(i, (k, _))| last.get(k.as_str()) == Some(i))
        .map(|(_, (k, v))| json!({"key": k, "value": any_value(v)}))
        .collect::<Vec<_>>()
        .into()
}

/// An `AnyValue`: OTLP's `intValue` is an int64, so larger u64s are text.
fn any_value(v: &FieldValue) -> Value {
    match v {
        FieldValue::U64(x) => match i64::try_from(*x) {
            Ok(x) => json!({"intValue": x.to_string()}),
            Err(_) => json!({"stringValue": x.to_string()}),
        },
        FieldValue::I64(x) => json!({"intValue": x.to_string()}),
        FieldValue::F64(x) => json!({"doubleValue": double(*x)}),
        FieldValue::Bool(x) => json!({"boolValue": x}),
        FieldValue::Str(s) => json!({"stringValue": s}),
    }
}

/// A double in the protobuf JSON mapping, which spells the non-finite ones
/// as strings (serde_json would write `null`, which is no double).
fn double(x: f64) -> Value {
    if x.is_finite() {
        json!(x)
    } else if x.is_nan() {
        "NaN".into()
    } else if x > 0.0 {
        "Infinity".into()
    } else {
        "-Infinity".into()
    }
}

/// UCUM, as OTLP's `unit` wants it.
fn unit(family: &Family) -> &'static str {
    match family.unit {
        Some("seconds") => "s",
        Some("bytes") => "By",
        Some(other) => other,
        None => "1",
    }
}

/// The family as an OTLP `Metric`, `None` when it has no point to show.
fn metric(f: &Family, snapshot: &Snapshot) -> Option<Value> {
    let start = snapshot.start_ns.to_string();
    let time = snapshot.time_ns.to_string();
    let labels = |s: &Series| {
        let fields: Vec<Field> = s
            .labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), FieldValue::Str(v.clone())))
            .collect();
        attributes_json(&fields)
    };
    // A point of the wrong shape for its kind cannot be encoded: left out.
    let points: Vec<Value> = f
        .series
        .iter()
        .filter_map(|s| match (&s.value, f.kind) {
            (Point::Number(x), Kind::Counter) => Some(json!({
                "attributes": labels(s),
                "startTimeUnixNano": start,
                "timeUnixNano": time,
                "asDouble": double(*x),
            })),
            (Point::Number(x), Kind::Gauge) => Some(json!({
                "attributes": labels(s),
                "timeUnixNano": time,
                "asDouble": double(*x),
            })),
            (
                Point::Histogram {
                    count,
                    sum,
                    buckets,
                },
                Kind::Histogram,
            ) => {
                let (bounds, counts) = per_bucket(*count, buckets);
                let mut p = Map::new();
                p.insert("attributes".into(), labels(s));
                p.insert("startTimeUnixNano".into(), start.clone().into());
                p.insert("timeUnixNano".into(), time.clone().into());
                p.insert("count".into(), count.to_string().into());
                // `sum` is optional, and meaningless once not finite.
                if sum.is_finite() {
                    p.insert("sum".into(), json!(sum));
                }
                p.insert(
                    "bucketCounts".into(),
                    counts.iter().map(u64::to_string).collect::<Vec<_>>().into(),
                );
                p.insert("explicitBounds".into(), bounds.into());
                Some(p.into())
            }
            _ => None,
        })
        .collect();
    if points.is_empty() {
        return None;
    }
    let data = match f.kind {
        Kind::Counter => json!({
            "dataPoints": points,
            "aggregationTemporality": CUMULATIVE,
            "isMonotonic": true,
        }),
        Kind::Gauge => json!({ "dataPoints": points }),
        Kind::Histogram => json!({
            "dataPoints": points,
            "aggregationTemporality": CUMULATIVE,
        }),
    };
    let key = match f.kind {
        Kind::Counter => "sum",
        Kind::Gauge => "gauge",
        Kind::Histogram => "histogram",
    };
    let mut m = Map::new();
    m.insert("name".into(), f.name.clone().into());
    m.insert("description".into(), f.help.clone().into());
    m.insert("unit".into(), unit(f).into());
    m.insert(key.into(), data);
    Some(m.into())
}

/// Prometheus-style cumulative buckets as OTLP's: the finite bounds, and
/// the count in each bucket, with a last one for `+Inf` (what `count`
/// holds beyond the last bound).
fn per_bucket(count: u64, cumulative: &[(f64, u64)]) -> (Vec<f64>, Vec<u64>) {
    let (buckets, above) = metrics::per_bucket(count, cumulative);
    let counts = buckets.iter().map(|&(_, n)| n).chain([above]).collect();
    (
        buckets.into_iter().map(|(bound, _)| bound).collect(),
        counts,
    )
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::net::TcpListener;

    use super::*;
    use crate::assemble::trace::{TraceEvent, TraceSpan};

    fn span(id: u32, parent: u32, pid: u32, start: u64, end: Option<u64>) -> TraceSpan {
        TraceSpan {
            id,
            parent,
            name: format!("span{id}"),
            target: "caro".into(),
            pid,
            thread: pid + 1,
            start_ns: start,
            end_ns: end,
            fields: vec![],
            events: vec![],
        }
    }

    fn trace() -> Trace {
        let mut root = span(1, 0, 7, 1_000, Some(9_000));
        root.fields = vec![
            ("backend".into(), FieldValue::Str("embedded".into())),
            ("big".into(), FieldValue::U64(u64::MAX)),
            ("n".into(), FieldValue::U64(3)),
            ("delta".into(), FieldValue::I64(-4)),
            ("ratio".into(), FieldValue::F64(0.5)),
            ("cached".into(), FieldValue::Bool(false)),
            ("n".into(), FieldValue::U64(4)),
        ];
        let mut child = span(2, 1, 7, 2_000, None);
        child.events = vec![
            TraceEvent {
                time_ns: 3_000,
                level: "INFO".into(),
                target: "caro".into(),
                thread: 8,
                fields: vec![("step".into(), FieldValue::U64(1))],
            },
            TraceEvent {
                time_ns: 4_000,
                level: "ERROR".into(),
                target: "caro".into(),
                thread: 8,
                fields: vec![
                    ("category".into(), FieldValue::Str("timeout".into())),
                    ("message".into(), FieldValue::Str("backend failed".into())),
                ],
            },
        ];
        let worker = span(3, 2, 9, 2_500, Some(3_500));
        Trace {
            id: Trace::id_for(1, 1_000, 7),
            request_id: Some(1),
            error: true,
            left_out: 5,
            spans: vec![root, child, worker],
        }
    }

    fn attr<'a>(attrs: &'a Value, key: &str) -> &'a Value {
        attrs
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["key"] == key)
            .map_or(&Value::Null, |a| &a["value"])
    }

    #[test]
    fn spans_map_to_otlp() {
        let t = trace();
        let r = traces_request(std::slice::from_ref(&t), Some("1.2.3"));
        let rs = r["resourceSpans"].as_array().unwrap();
        assert_eq!(rs.len(), 2, "one resource per process");
        let res = &rs[0]["resource"]["attributes"];
        assert_eq!(attr(res, "service.name"), &json!({"stringValue": "caro"}));
        assert_eq!(
            attr(res, "service.version"),
            &json!({"stringValue": "1.2.3"})
        );
        assert_eq!(attr(res, "process.pid"), &json!({"intValue": "7"}));
        let scope = &rs[0]["scopeSpans"][0];
        assert_eq!(scope["scope"]["name"], "caro-recorder");
        let spans = scope["spans"].as_array().unwrap();
        assert_eq!(spans.len(), 2);

        let root = &spans[0];
        assert_eq!(root["traceId"], t.id_hex());
        assert_eq!(root["traceId"].as_str().unwrap().len(), 32);
        assert_eq!(root["spanId"], t.span_id_hex(1));
        assert!(root.get("parentSpanId").is_none());
        assert_eq!(root["kind"], 1);
        assert_eq!(root["startTimeUnixNano"], "1000");
        assert_eq!(root["endTimeUnixNano"], "9000");
        assert_eq!(root["status"]["code"], 2, "the failed trace's root");
        let a = &root["attributes"];
        assert_eq!(attr(a, "backend"), &json!({"stringValue": "embedded"}));
        assert_eq!(
            attr(a, "big"),
            &json!({"stringValue": u64::MAX.to_string()})
        );
        assert_eq!(attr(a, "n"), &json!({"intValue": "4"}), "the last value");
        assert_eq!(a.as_array().unwrap().len(), 8, "each key once");
        assert_eq!(attr(a, "delta"), &json!({"intValue": "-4"}));
        assert_eq!(attr(a, "ratio"), &json!({"doubleValue": 0.5}));
        assert_eq!(attr(a, "cached"), &json!({"boolValue": false}));
        assert_eq!(attr(a, "thread.id"), &json!({"intValue": "8"}));
        assert_eq!(attr(a, "caro.left_out"), &json!({"intValue": "5"}));
        assert_eq!(attr(a, "caro.unfinished"), &Value::Null);

        let child = &spans[1];
        assert_eq!(child["parentSpanId"], t.span_id_hex(1));
        assert_eq!(
            child["endTimeUnixNano"], "9000",
            "unfinished: ends where last seen"
        );
        assert_eq!(
            attr(&child["attributes"], "caro.unfinished"),
            &json!({"boolValue": true})
        );
        assert_eq!(
            child["status"],
            json!({"code": 2, "message": "backend failed"})
        );
        let events = child["events"].as_array().unwrap();
        assert_eq!(events[0]["name"], "INFO", "no message: the level");
        assert_eq!(events[0]["timeUnixNano"], "3000");
        assert_eq!(
            attr(&events[0]["attributes"], "step"),
            &json!({"intValue": "1"})
        );
        assert_eq!(events[1]["name"], "backend failed");
        assert_eq!(
            attr(&events[1]["attributes"], "level"),
            &json!({"stringValue": "ERROR"})
        );
        assert_eq!(attr(&events[1]["attributes"], "message"), &Value::Null);

        let worker = &rs[1]["scopeSpans"][0]["spans"][0];
        assert_eq!(
            attr(&rs[1]["resource"]["attributes"], "process.pid"),
            &json!({"intValue": "9"})
        );
        assert_eq!(worker["parentSpanId"], t.span_id_hex(2));
        assert!(worker.get("status").is_none(), "no error in it");
        assert!(worker.get("events").is_none());
    }

    #[test]
    fn no_version_no_traces() {
        let r = traces_request(&[], None);
        assert_eq!(r, json!({"resourceSpans": []}));
        let mut t = trace();
        t.error = false;
        t.spans[1].events.clear();
        let r = traces_request(&[t], None);
        let res = &r["resourceSpans"][0]["resource"]["attributes"];
        assert_eq!(attr(res, "service.version"), &Value::Null);
        assert!(r["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
            .get("status")
            .is_none());
    }

    fn snapshot() -> Snapshot {
        Snapshot {
            start_ns: 100,
            time_ns: 200,
            families: vec![
                Family {
                    name: "caro_commands_generated".into(),
                    help: "Commands generated.".into(),
                    unit: None,
                    kind: Kind::Counter,
                    series: vec![Series {
                        labels: vec![("backend", "embedded".into())],
                        value: Point::Number(42.0),
                    }],
                },
                Family {
                    name: "caro_model_size_bytes".into(),
                    help: "Model size.".into(),
                    unit: Some("bytes"),
                    kind: Kind::Gauge,
                    series: vec![Series {
                        labels: vec![],
                        value: Point::Number(f64::NAN),
                    }],
                },
                Family {
                    name: "caro_backend_latency_seconds".into(),
                    help: "Backend latency.".into(),
                    unit: Some("seconds"),
                    kind: Kind::Histogram,
                    series: vec![Series {
                        labels: vec![("backend", "ollama".into())],
                        value: Point::Histogram {
                            count: 10,
                            sum: 12.5,
                            buckets: vec![(0.5, 2), (1.0, 2), (2.5, 7)],
                        },
                    }],
                },
                Family {
                    name: "caro_empty".into(),
                    help: "Nothing yet.".into(),
                    unit: None,
                    kind: Kind::Counter,
                    series: vec![],
                },
            ],
        }
    }

    #[test]
    fn families_map_to_otlp() {
        let r = metrics_request(&snapshot(), Some("1.2.3"));
        let rm = &r["resourceMetrics"][0];
        let res = &rm["resource"]["attributes"];
        assert_eq!(attr(res, "service.name"), &json!({"stringValue": "caro"}));
        assert_eq!(attr(res, "process.pid"), &Value::Null);
        let sm = &rm["scopeMetrics"][0];
        assert_eq!(sm["scope"]["name"], "caro-recorder");
        let metrics = sm["metrics"].as_array().unwrap();
        assert_eq!(metrics.len(), 3, "a family without points is left out");

        let counter = &metrics[0];
        assert_eq!(counter["name"], "caro_commands_generated");
        assert_eq!(counter["description"], "Commands generated.");
        assert_eq!(counter["unit"], "1");
        assert_eq!(
            counter["sum"],
            json!({
                "dataPoints": [{
                    "attributes": [{"key": "backend", "value": {"stringValue": "embedded"}}],
                    "startTimeUnixNano": "100",
                    "timeUnixNano": "200",
                    "asDouble": 42.0,
                }],
                "aggregationTemporality": 2,
                "isMonotonic": true,
            })
        );

        let gauge = &metrics[1];
        assert_eq!(gauge["unit"], "By");
        assert_eq!(gauge["gauge"]["dataPoints"][0]["asDouble"], "NaN");
        assert!(gauge["gauge"]["dataPoints"][0]
            .get("startTimeUnixNano")
            .is_none());

        let h = &metrics[2];
        assert_eq!(h["unit"], "s");
        assert_eq!(h["histogram"]["aggregationTemporality"], 2);
        let p = &h["histogram"]["dataPoints"][0];
        assert_eq!(p["count"], "10");
        assert_eq!(p["sum"], 12.5);
        assert_eq!(p["explicitBounds"], json!([0.5, 1.0, 2.5]));
        assert_eq!(p["bucketCounts"], json!(["2", "0", "5", "3"]));
        assert_eq!(p["startTimeUnixNano"], "100");
    }

    #[test]
    fn cumulative_buckets_become_per_bucket() {
        assert_eq!(per_bucket(0, &[]), (vec![], vec![0]));
        assert_eq!(
            per_bucket(5, &[(1.0, 1), (2.0, 4), (f64::INFINITY, 5)]),
            (vec![1.0, 2.0], vec![1, 3, 1]),
            "an explicit +Inf bound is the final bucket"
        );
        assert_eq!(
            per_bucket(3, &[(1.0, 4), (2.0, 2)]),
            (vec![1.0, 2.0], vec![4, 0, 0]),
            "inconsistent counts never underflow"
        );
    }

    #[test]
    fn nobody_listening_is_one_line() {
        // A port just freed: nobody listens there.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let endpoint = format!("http://127.0.0.1:{port}/");
        let err = post(&endpoint, &json!({}), &json!({})).unwrap_err();
        let Error::Send { url, why } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(url, &format!("http://127.0.0.1:{port}/v1/traces"));
        assert!(!why.contains('\n') && !why.is_empty(), "{why:?}");
        assert!(err.to_string().starts_with("cannot send to "), "{err}");
    }

    #[test]
    fn an_endpoint_is_an_http_url() {
        let err = post("localhost:4318", &json!({}), &json!({})).unwrap_err();
        assert!(
            matches!(&err, Error::BadSetting { name, .. } if name == "--endpoint"),
            "{err:?}"
        );
    }

    #[test]
    fn a_refusal_names_its_status() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            // Read the request's head before answering, so the client is
            // not cut off while it writes.
            let mut seen = Vec::new();
            let mut buf = [0; 4096];
            while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = conn.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                seen.extend_from_slice(&buf[..n]);
            }
            let body = format!("{}\nsecond line", "x".repeat(300));
            write!(
                conn,
                "HTTP/1.1 400 Bad Request\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .unwrap();
            String::from_utf8_lossy(&seen).into_owned()
        });
        let err = post(&format!("http://127.0.0.1:{port}"), &json!({}), &json!({})).unwrap_err();
        let head = server.join().unwrap();
        assert!(head.starts_with("POST /v1/traces HTTP/1.1"), "{head}");
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: application/json"),
            "{head}"
        );
        let Error::Send { url, why } = err else {
            panic!("{err:?}")
        };
        assert!(url.ends_with("/v1/traces"), "{url}");
        assert!(why.starts_with("HTTP 400 Bad Request: xxx"), "{why}");
        assert!(!why.contains("second line"), "{why}");
        assert!(why.chars().count() <= WHY_MAX + 1, "{why}");
    }
}
