//! The Prometheus exposition of a metrics [`Snapshot`], in the two text
//! formats scrapers read, both written by the `prometheus-client` crate:
//!
//! - [`Format::OpenMetrics`], OpenMetrics 1.0: what a Prometheus server
//!   asks `serve` for.
//! - [`Format::Text`], the Prometheus text format 0.0.4: what
//!   `export --format prometheus` writes, what `serve` answers anyone who
//!   does not ask for OpenMetrics (`curl`), and the only format
//!   `promtool check metrics` reads.
//!
//! The two differ where the formats do. OpenMetrics names a counter's
//! family without `_total` and its samples with it (`# TYPE
//! caro_commands_generated counter`, then `caro_commands_generated_total`),
//! and adds `# UNIT` and `# EOF` lines. The text format names a counter's
//! family as its samples: promtool 2.42, given OpenMetrics, takes
//! `caro_commands_generated_total` for a metric of its own, untyped and
//! without help, and says so. `prometheus-client` writes only OpenMetrics,
//! so for the text format a counter's samples go through `encode_gauge`,
//! which adds no suffix, under a counter descriptor whose name has it.
//!
//! Every value comes precomputed from the store, so each family is one
//! `Precomputed` metric registered in a [`Registry`]; label values are
//! escaped here, as the crate writes them verbatim.

use std::fmt::Write as _;

use prometheus_client::encoding::text;
use prometheus_client::encoding::{
    EncodeLabel, EncodeLabelSet, EncodeLabelValue, EncodeMetric, LabelSetEncoder,
    LabelValueEncoder, MetricEncoder, NoLabelSet,
};
use prometheus_client::metrics::exemplar::Exemplar;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use crate::export::metrics::{self, Family, Kind, Point, Series, Snapshot};

/// A text exposition format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// The Prometheus text format, version 0.0.4.
    Text,
    /// OpenMetrics 1.0.
    OpenMetrics,
}

impl Format {
    /// The `Content-Type` of an exposition in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// The snapshot in the Prometheus text format (what `promtool check
/// metrics` reads).
pub fn render(snapshot: &Snapshot) -> String {
    render_as(snapshot, Format::Text)
}

/// The snapshot in `format`.
pub fn render_as(snapshot: &Snapshot, format: Format) -> String {
    let mut registry = Registry::default();
    for family in &snapshot.families {
        register(&mut registry, family, format);
    }
    let mut out = String::new();
    let encoded = match format {
        Format::Text => text::encode_registry(&mut out, &registry),
        Format::OpenMetrics => text::encode(&mut out, &registry),
    };
    // Writing into a String cannot fail, and no Precomputed fails on its
    // own: an error here would be a bug in this module.
    encoded.expect("an exposition is written into a String");
    out
}

/// Registers `family` under the name `format` gives it.
fn register(registry: &mut Registry, family: &Family, format: Format) {
    let metric = Precomputed {
        kind: family.kind,
        format,
        series: family.series.clone(),
    };
    // The crate appends the unit to the name (and writes `# UNIT`), and
    // `_total` to counters' samples.
    let unit_suffix = family.unit.map(|u| format!("_{u}"));
    let stem = unit_suffix
        .as_deref()
        .and_then(|suffix| family.name.strip_suffix(suffix));
    match (format, family.unit, stem) {
        (Format::OpenMetrics, Some(unit), Some(stem)) => {
            registry.register_with_unit(stem, &family.help, unit_of(unit), metric)
        }
        (Format::OpenMetrics, _, _) => registry.register(&family.name, &family.help, metric),
        (Format::Text, _, _) if family.kind == Kind::Counter => {
            registry.register(format!("{}_total", family.name), &family.help, metric)
        }
        (Format::Text, _, _) => registry.register(&family.name, &family.help, metric),
    }
}

fn unit_of(unit: &str) -> Unit {
    match unit {
        "seconds" => Unit::Seconds,
        "bytes" => Unit::Bytes,
        other => Unit::Other(other.to_owned()),
    }
}

/// A family's values, as the store computed them.
#[derive(Debug)]
struct Precomputed {
    kind: Kind,
    format: Format,
    series: Vec<Series>,
}

impl EncodeMetric for Precomputed {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        for series in &self.series {
            if series.labels.is_empty() {
                // Not through encode_family: it would write empty braces.
                self.encode_point(&series.value, &mut encoder)?;
            } else {
                let labels = Labels(&series.labels);
                let mut labelled = encoder.encode_family(&labels)?;
                self.encode_point(&series.value, &mut labelled)?;
            }
        }
        Ok(())
    }

    fn metric_type(&self) -> MetricType {
        match self.kind {
            Kind::Counter => MetricType::Counter,
            Kind::Gauge => MetricType::Gauge,
            Kind::Histogram => MetricType::Histogram,
        }
    }
}

impl Precomputed {
    fn encode_point(&self, point: &Point, encoder: &mut MetricEncoder) -> std::fmt::Result {
        match (self.kind, point) {
            (Kind::Counter, Point::Number(v)) if self.format == Format::OpenMetrics => {
                let none = None::<&Exemplar<NoLabelSet, f64>>;
                match whole(*v) {
                    Some(n) if n >= 0 => encoder.encode_counter(&(n as u64), none),
                    _ => encoder.encode_counter(v, none),
                }
            }
            // The text format's counters: see the module's documentation.
            (Kind::Counter | Kind::Gauge, Point::Number(v)) => match whole(*v) {
                Some(n) => encoder.encode_gauge(&n),
                None => encoder.encode_gauge(v),
            },
            (
                Kind::Histogram,
                Point::Histogram {
                    count,
                    sum,
                    buckets,
                },
            ) => encoder.encode_histogram::<NoLabelSet>(
                *sum,
                *count,
                &per_bucket(buckets, *count),
                None,
            ),
            // A value of another kind than its family's would be written
            // as what it is not: left out.
            _ => Ok(()),
        }
    }
}

/// `v` as an integer, when it is one that a double holds exactly: counts
/// read better as `42` than `42.0`.
fn whole(v: f64) -> Option<i64> {
    const EXACT: f64 = (1u64 << 53) as f64;
    (v.fract() == 0.0 && v.abs() <= EXACT).then_some(v as i64)
}

/// The buckets as the crate takes them: each bucket's own count, the
/// `+Inf` bucket last as `f64::MAX` (which the crate writes as `+Inf`).
fn per_bucket(cumulative: &[(f64, u64)], count: u64) -> Vec<(f64, u64)> {
    let (mut buckets, above) = metrics::per_bucket(count, cumulative);
    buckets.push((f64::MAX, above));
    buckets
}

/// A series' labels.
#[derive(Debug)]
struct Labels<'a>(&'a [(&'static str, String)]);

impl EncodeLabelSet for Labels<'_> {
    fn encode(&self, mut encoder: LabelSetEncoder) -> std::fmt::Result {
        for (key, value) in self.0 {
            (*key, Escaped(value)).encode(encoder.encode_label())?;
        }
        Ok(())
    }
}

/// A label value with `\`, `"` and line feeds escaped, as both formats
/// require.
#[derive(Debug)]
struct Escaped<'a>(&'a str);

impl EncodeLabelValue for Escaped<'_> {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> std::fmt::Result {
        for c in self.0.chars() {
            match c {
                '\\' => encoder.write_str("\\\\")?,
                '"' => encoder.write_str("\\\"")?,
                '\n' => encoder.write_str("\\n")?,
                c => encoder.write_char(c)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> Snapshot {
        Snapshot {
            start_ns: 0,
            time_ns: 0,
            families: vec![
                Family {
                    name: "caro_commands_generated".into(),
                    help: "Commands caro generated, by backend".into(),
                    unit: None,
                    kind: Kind::Counter,
                    series: vec![Series {
                        labels: vec![("backend", "a\"b\\c\nd".into())],
                        value: Point::Number(3.0),
                    }],
                },
                Family {
                    name: "caro_backend_latency_seconds".into(),
                    help: "Latency".into(),
                    unit: Some("seconds"),
                    kind: Kind::Histogram,
                    series: vec![Series {
                        labels: vec![("backend", "static".into())],
                        value: Point::Histogram {
                            count: 5,
                            sum: 1.25,
                            buckets: vec![(0.01, 1), (0.05, 1), (1.0, 4)],
                        },
                    }],
                },
                Family {
                    name: "caro_active_users".into(),
                    help: "Days".into(),
                    unit: None,
                    kind: Kind::Gauge,
                    series: vec![Series {
                        labels: Vec::new(),
                        value: Point::Number(2.0),
                    }],
                },
            ],
        }
    }

    #[test]
    fn the_text_format_names_counter_families_as_their_samples() {
        let text = render_as(&snapshot(), Format::Text);
        assert_eq!(
            text,
            "# HELP caro_commands_generated_total Commands caro generated, by backend.\n\
             # TYPE caro_commands_generated_total counter\n\
             caro_commands_generated_total{backend=\"a\\\"b\\\\c\\nd\"} 3\n\
             # HELP caro_backend_latency_seconds Latency.\n\
             # TYPE caro_backend_latency_seconds histogram\n\
             caro_backend_latency_seconds_sum{backend=\"static\"} 1.25\n\
             caro_backend_latency_seconds_count{backend=\"static\"} 5\n\
             caro_backend_latency_seconds_bucket{le=\"0.01\",backend=\"static\"} 1\n\
             caro_backend_latency_seconds_bucket{le=\"0.05\",backend=\"static\"} 1\n\
             caro_backend_latency_seconds_bucket{le=\"1.0\",backend=\"static\"} 4\n\
             caro_backend_latency_seconds_bucket{le=\"+Inf\",backend=\"static\"} 5\n\
             # HELP caro_active_users Days.\n\
             # TYPE caro_active_users gauge\n\
             caro_active_users 2\n"
        );
    }

    #[test]
    fn openmetrics_has_units_suffixed_counters_and_an_end() {
        let om = render_as(&snapshot(), Format::OpenMetrics);
        assert!(
            om.contains("# TYPE caro_commands_generated counter\n"),
            "{om}"
        );
        assert!(
            om.contains("\ncaro_commands_generated_total{backend="),
            "{om}"
        );
        assert!(
            om.contains("# UNIT caro_backend_latency_seconds seconds\n"),
            "{om}"
        );
        assert!(om.ends_with("caro_active_users 2\n# EOF\n"), "{om}");
    }

    #[test]
    fn cumulative_buckets_become_per_bucket_counts() {
        assert_eq!(
            per_bucket(&[(0.1, 2), (1.0, 2), (5.0, 7)], 9),
            [(0.1, 2), (1.0, 0), (5.0, 5), (f64::MAX, 2)]
        );
    }
}
