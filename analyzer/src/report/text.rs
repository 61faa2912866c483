//! The report for a person: its sections as lines and tables that fit the
//! terminal ([`super::layout`]), coloured on a terminal, and the small
//! formats they use (`1,234`, `11.4 MiB`, `▁▃█`).

use std::io::Write;

use anstyle::{AnsiColor, Style};

use super::layout::{wrap, Column, FittedTable};

use super::{Invocations, Latency, Report, BUCKETS_MS, HISTOGRAM};
use crate::assemble::InvocationOutcome;
use crate::time::{self, duration, long_duration};

impl Report {
    /// The report for a person: a few lines and tables, coloured when
    /// `color` (see [`color_wanted`]), laid out in `width` columns (see
    /// [`crate::report::layout::output_width`]): a narrower width leaves out the
    /// least important columns.
    pub fn write_text(
        &self,
        out: &mut dyn Write,
        color: bool,
        width: usize,
    ) -> std::io::Result<()> {
        let style = |s: Style| if color { s } else { Style::new() };
        let bold = style(Style::new().bold());
        let warn = style(Style::new().fg_color(Some(AnsiColor::Yellow.into())));
        let bad = style(Style::new().fg_color(Some(AnsiColor::Red.into())));
        let good = style(Style::new().fg_color(Some(AnsiColor::Green.into())));
        let line = |out: &mut dyn Write, text: &str| writeln!(out, "{}", wrap(text, width));
        let last_day = self.first_day + self.window_days as i64 - 1;
        line(
            out,
            &format!(
                "{bold}caro, last {} days{bold:#} ({} to {}, UTC)",
                self.window_days,
                time::day_name(self.first_day),
                time::day_name(last_day)
            ),
        )?;
        writeln!(out)?;
        if !self.request_spans.is_empty() {
            line(
                out,
                &format!(
                    "Requests: the root spans named {}",
                    self.request_spans.join(", ")
                ),
            )?;
            writeln!(out)?;
        }
        let invocations = self.invocations.count > 0;
        if self.requests == 0 && invocations {
            self.invocations.write_text(out, [warn, bad, good], width)?;
        } else if self.requests == 0 {
            line(out, "No requests recorded in this window.")?;
        } else {
            let rate = self.success_rate().unwrap_or(0.0);
            let rate_style = match rate {
                r if r >= 0.95 => good,
                r if r >= 0.8 => warn,
                _ => bad,
            };
            line(
                out,
                &format!(
                    "{} requests, {rate_style}{:.1} % succeeded{rate_style:#}, {} slower than 1 s, {} panics",
                    thousands(self.requests),
                    rate * 100.0,
                    thousands(self.slow_requests),
                    thousands(self.panics),
                ),
            )?;
            if !self.panic_locations.is_empty() {
                let at: Vec<String> = self
                    .panic_locations
                    .iter()
                    .map(|(place, n)| format!("{place} ({})", thousands(*n)))
                    .collect();
                line(out, &format!("Panics at: {bad}{}{bad:#}", at.join(", ")))?;
            }
            if let Some(b) = &self.bottleneck {
                line(out, &format!("Bottleneck: {warn}{}{warn:#}", b.text()))?;
            }
            writeln!(out)?;
            let mut t = FittedTable::new(vec![
                Column::text("backend"),
                Column::number("requests"),
                Column::number("share").droppable(4),
                Column::number("p50"),
                Column::number("p95"),
                Column::number("p99").droppable(1),
                Column::number("max").droppable(2),
                Column::text(HISTOGRAM).droppable(3),
            ]);
            for (name, l) in &self.backends {
                let mut row = vec![
                    shown_name(name),
                    thousands(l.count),
                    percent(l.count, self.requests),
                ];
                row.extend(percentile_cells(l));
                row.push(sparkline(&l.buckets));
                t.add_row(row);
            }
            writeln!(out, "{}", t.render(width))?;
            if t.shown_headers(width).contains(&HISTOGRAM) {
                line(out, &histogram_legend())?;
            }
            writeln!(out)?;
            // Where the time went first: by total time, then by name.
            let mut spans: Vec<&(String, Latency)> = self.spans.iter().collect();
            spans.sort_by(|a, b| b.1.total_ms.total_cmp(&a.1.total_ms).then(a.0.cmp(&b.0)));
            let mut t = FittedTable::new(vec![
                Column::text("span"),
                Column::number("count"),
                Column::number("total"),
                Column::number("self"),
                Column::number("p50").droppable(4),
                Column::number("p95"),
                Column::number("p99").droppable(1),
                Column::number("max").droppable(2),
                Column::text(HISTOGRAM).droppable(3),
            ]);
            for (name, l) in spans {
                let mut row = vec![
                    name.clone(),
                    thousands(l.count),
                    long_duration(l.total_ms),
                    long_duration(self.self_ms(name)),
                ];
                row.extend(percentile_cells(l));
                row.push(sparkline(&l.buckets));
                t.add_row(row);
            }
            writeln!(out, "{}", t.render(width))?;
            line(
                out,
                "total: the time in all of them; self: that time less their direct children's.",
            )?;
            writeln!(out)?;
            // Every request once, so that the rows add up to the count above.
            let mut t = FittedTable::new(vec![
                Column::text("outcome"),
                Column::text("category"),
                Column::number("requests"),
                Column::number("share").droppable(1),
            ]);
            let mut row = |outcome: &str, category: &str, n: u64| {
                t.add_row(vec![
                    outcome.to_owned(),
                    category.to_owned(),
                    thousands(n),
                    percent(n, self.requests),
                ]);
            };
            row("succeeded", "", self.succeeded);
            for (c, n) in &self.errors {
                row("failed", &shown_name(c), *n);
            }
            for (c, n) in &self.safety_blocks {
                row("blocked", &shown_name(c), *n);
            }
            if self.panicked_requests > 0 {
                row("panicked", "", self.panicked_requests);
            }
            writeln!(out, "{}\n", t.render(width))?;
            if invocations {
                self.invocations.write_text(out, [warn, bad, good], width)?;
            }
        }
        let p = &self.processes;
        if p.count > 0 {
            line(
                out,
                &format!(
                    "Processes: {} exited, CPU {:.2} s user + {:.2} s system ({:.3} s each), peak memory up to {}, up to {} open files",
                    thousands(p.count),
                    p.cpu_user_us as f64 / 1e6,
                    p.cpu_system_us as f64 / 1e6,
                    (p.cpu_user_us + p.cpu_system_us) as f64 / 1e6 / p.count as f64,
                    bytes(p.peak_rss_max_kib.saturating_mul(1024)),
                    p.open_fds_max
                ),
            )?;
        }
        let h = &self.recorder;
        let losses = h.lost + h.abandoned + h.dropped + h.corrupt;
        let style = if losses > 0 { warn } else { Style::new() };
        line(
            out,
            &format!(
                "Recorder: {} records, {style}{} slots lost to laps, {} abandoned, {} dropped, {} unreadable{style:#}, {} spans never closed{}",
                thousands(h.written),
                thousands(h.lost),
                thousands(h.abandoned),
                thousands(h.dropped),
                thousands(h.corrupt),
                thousands(h.unfinished),
                self.recorder_cpu_share
                    .map(|s| format!(", about {:.2} % of the CPU time", s * 100.0))
                    .unwrap_or_default()
            ),
        )
    }
}

/// Whether to colour text on stdout: only on a terminal, never when
/// `NO_COLOR` is set to anything but the empty string, or `TERM` is dumb.
pub fn color_wanted() -> bool {
    use std::io::IsTerminal;
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
    !no_color && !dumb && std::io::stdout().is_terminal()
}

fn shown_name(name: &str) -> String {
    if name.is_empty() {
        "(none)".to_owned()
    } else {
        name.to_owned()
    }
}

fn percentile_cells(l: &Latency) -> Vec<String> {
    [l.p50_ms, l.p95_ms, l.p99_ms, l.max_ms]
        .into_iter()
        .map(duration)
        .collect()
}

/// `n` as a share of `of`: `80.7 %`.
fn percent(n: u64, of: u64) -> String {
    format!("{:.1} %", n as f64 / of.max(1) as f64 * 100.0)
}

/// A size for a person: `512 B`, `4.0 KiB`, `11.4 MiB`, `2.1 GiB`.
pub fn bytes(n: u64) -> String {
    const KIB: f64 = 1024.0;
    match n as f64 {
        b if b < KIB => format!("{n} B"),
        b if b < KIB * KIB => format!("{:.1} KiB", b / KIB),
        b if b < KIB * KIB * KIB => format!("{:.1} MiB", b / (KIB * KIB)),
        b => format!("{:.1} GiB", b / (KIB * KIB * KIB)),
    }
}

/// What the bars of the report's `histogram` column count: `≤ 10 ms`, …,
/// `> 5 s`.
pub fn bucket_labels() -> Vec<String> {
    let edge = |ms: u64| match ms {
        ms if ms < 1000 => format!("{ms} ms"),
        ms => format!("{} s", ms / 1000),
    };
    let mut labels: Vec<String> = BUCKETS_MS
        .iter()
        .map(|&b| format!("≤ {}", edge(b)))
        .collect();
    if let Some(&top) = BUCKETS_MS.last() {
        labels.push(format!("> {}", edge(top)));
    }
    labels
}

/// The line under a table with a [`HISTOGRAM`] column.
fn histogram_legend() -> String {
    format!("{HISTOGRAM} bars: {}", bucket_labels().join(", "))
}

/// `1,234,567`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// One bar per bucket, as tall as its share of the largest.
pub fn sparkline(counts: &[u64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let max = counts.iter().copied().max().unwrap_or(0);
    counts
        .iter()
        .map(|&c| match c {
            0 => ' ',
            c => BARS[((c * 7).div_ceil(max.max(1)) as usize).min(7)],
        })
        .collect()
}

impl Invocations {
    /// The invocations for a person: one line of counts, one of
    /// durations, the slowest and the callsites with the most warnings
    /// and errors. `[warn, bad, good]` colour the outcomes; `width` is
    /// the report's.
    fn write_text(
        &self,
        out: &mut dyn Write,
        [warn, bad, good]: [Style; 3],
        width: usize,
    ) -> std::io::Result<()> {
        let outcomes: Vec<String> = InvocationOutcome::ALL
            .iter()
            .map(|o| {
                let (name, n) = (o.name(), self.outcomes.get(o.name()).copied().unwrap_or(0));
                let style = match name {
                    _ if n == 0 => Style::new(),
                    "ok" => good,
                    "unfinished" => warn,
                    _ => bad,
                };
                format!("{style}{} {name}{style:#}", thousands(n))
            })
            .collect();
        let listed = |m: &mut dyn Iterator<Item = (String, u64)>| {
            m.map(|(k, n)| format!("{k} ({})", thousands(n)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut line = format!(
            "Invocations: {} ended: {}",
            thousands(self.count),
            outcomes.join(", ")
        );
        if !self.exit_statuses.is_empty() {
            line += "; exit status ";
            line += &listed(&mut self.exit_statuses.iter().map(|(s, n)| (s.to_string(), *n)));
        }
        if !self.versions.is_empty() {
            line += "; version ";
            line += &listed(&mut self.versions.iter().map(|(v, n)| (v.clone(), *n)));
        }
        writeln!(out, "{}", wrap(&line, width))?;
        if let Some(l) = &self.latency {
            let [p50, p95, p99, max] = [l.p50_ms, l.p95_ms, l.p99_ms, l.max_ms].map(duration);
            let line = format!("Duration: p50 {p50}, p95 {p95}, p99 {p99}, max {max}");
            writeln!(out, "{}", wrap(&line, width))?;
        }
        writeln!(out)?;
        let mut t = FittedTable::new(vec![
            Column::text("slowest invocations"),
            Column::text("outcome"),
            Column::text("version").droppable(2),
            Column::number("duration"),
            Column::number("status").droppable(1),
            Column::number("warnings"),
            Column::number("errors"),
        ]);
        for i in &self.slowest {
            t.add_row(vec![
                time::human(i.start_ns),
                i.outcome.clone(),
                i.version.clone().unwrap_or_else(|| "-".to_owned()),
                duration(i.duration_ms),
                i.status.map_or_else(|| "-".to_owned(), |s| s.to_string()),
                thousands(i.warnings),
                thousands(i.errors),
            ]);
        }
        writeln!(out, "{}\n", t.render(width))?;
        if !self.by_callsite.is_empty() {
            let mut t = FittedTable::new(vec![
                Column::text("level"),
                Column::text("target").wrapping(),
                Column::text("message").wrapping(),
                Column::number("events"),
                Column::number("invocations").droppable(1),
            ]);
            for c in &self.by_callsite {
                t.add_row(vec![
                    c.level.clone(),
                    c.target.clone(),
                    c.message.clone(),
                    thousands(c.events),
                    thousands(c.invocations),
                ]);
            }
            writeln!(out, "{}\n", t.render(width))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::duration;

    #[test]
    fn small_formats_read_at_a_glance() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(100), "100");
        assert_eq!(duration(0.4234), "0.42 ms");
        assert_eq!(duration(123.45), "123.5 ms");
        assert_eq!(duration(1400.0), "1.40 s");
        assert_eq!(sparkline(&[0, 1, 8, 4]), " ▂█▅");
        assert_eq!(long_duration(90_000.0), "1.5 min");
        assert_eq!(long_duration(7_200_000.0), "2.0 h");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(11_954_790), "11.4 MiB");
        let labels = bucket_labels();
        assert_eq!(labels.len(), BUCKETS_MS.len() + 1, "a label per bar");
        assert_eq!(
            (labels[0].as_str(), labels[4].as_str(), labels[7].as_str()),
            ("≤ 10 ms", "≤ 1 s", "> 5 s")
        );
    }
}
