//! `caro-analyze report` as a person reads it: on a terminal of 80
//! columns (a pseudo-terminal, util-linux's `script`), wider, and off a
//! terminal; its outcome rows adding up to its headline; its spans
//! ordered by where the time went, with totals and self times that match
//! what the simulation did.

use std::collections::BTreeMap;

use caro_tests::{bins, missing, DataDir, Tool};
use serde_json::Value;
use unicode_width::UnicodeWidthStr;

/// A session with every outcome: failures, safety blocks, panics.
fn session() -> (DataDir, Value) {
    let mut home = DataDir::new();
    home.set_env("CARO_RING_SIZE", "64M");
    let truth = home.sim_truth(&[
        "--queries",
        "3000",
        "--threads",
        "2",
        "--seed",
        "41",
        "--time-scale",
        "0",
        "--panics",
    ]);
    home.analyze_ok(&["ingest"]);
    (home, truth)
}

/// `text` without colours and carriage returns (a terminal's line ends).
fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => {
                // ESC [ … final byte.
                if chars.next() == Some('[') {
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                }
            }
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// Runs `caro-analyze args` on a pseudo-terminal `columns` wide; returns
/// what it drew, colours and carriage returns taken out.
fn on_terminal(home: &DataDir, columns: u16, args: &str) -> String {
    let mut c = Tool::Script.command();
    c.args(["-qec"])
        .arg(format!(
            "stty cols {columns} rows 50 && exec {} {args}",
            bins().analyze.display()
        ))
        .arg("/dev/null")
        .env("XDG_CACHE_HOME", home.path())
        .env("TERM", "xterm")
        .env_remove("COLUMNS")
        .env_remove("NO_COLOR");
    let out = c.output().expect("script (util-linux) runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    plain(&String::from_utf8_lossy(&out.stdout))
}

/// The lines of `text` wider than `columns`, as a terminal draws them.
fn too_wide(text: &str, columns: usize) -> Vec<String> {
    text.lines()
        .filter(|l| l.width() > columns)
        .map(|l| format!("{} columns: {l}", l.width()))
        .collect()
}

/// The header of each table in `text` (the line above its rule), as words.
fn headers(text: &str) -> Vec<Vec<String>> {
    let lines: Vec<&str> = text.lines().collect();
    lines
        .windows(2)
        .filter(|w| w[1].starts_with('─'))
        .map(|w| w[0].split_whitespace().map(str::to_owned).collect())
        .collect()
}

/// The rows of the table whose header starts with `first`.
fn rows<'a>(text: &'a str, first: &str) -> Vec<&'a str> {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines
        .windows(2)
        .position(|w| w[1].starts_with('─') && w[0].split_whitespace().next() == Some(first))
        .unwrap_or_else(|| panic!("no {first} table in\n{text}"));
    lines[start + 2..]
        .iter()
        // Rows start with the table's padding; a note under it does not.
        .take_while(|l| l.starts_with(' ') && !l.trim().is_empty())
        .copied()
        .collect()
}

/// `1,234` as a number.
fn count(s: &str) -> u64 {
    s.replace(',', "")
        .parse()
        .unwrap_or_else(|_| panic!("{s:?} is not a count"))
}

#[test]
fn the_report_fits_the_terminal_it_is_drawn_on() {
    if missing(Tool::Script) {
        return;
    }
    let (home, _) = session();
    let narrow = on_terminal(&home, 80, "report --no-ingest");
    assert!(narrow.contains("3,000 requests"), "{narrow}");
    let wide_lines = too_wide(&narrow, 80);
    assert!(
        wide_lines.is_empty(),
        "lines wider than the 80-column terminal:\n{}\n\n{narrow}",
        wide_lines.join("\n")
    );
    // Less important columns make room; what matters stays.
    let spans = &headers(&narrow)[1];
    for column in ["span", "count", "total", "self", "p95"] {
        assert!(spans.iter().any(|h| h == column), "{column}: {spans:?}");
    }
    // A wide terminal shows every column, and what the histogram's bars
    // count.
    let wide = on_terminal(&home, 200, "report --no-ingest");
    assert!(too_wide(&wide, 200).is_empty());
    let spans = &headers(&wide)[1];
    assert_eq!(
        spans,
        &[
            "span",
            "count",
            "total",
            "self",
            "p50",
            "p95",
            "p99",
            "max",
            "histogram"
        ],
        "{wide}"
    );
    assert!(
        wide.contains(
            "histogram bars: ≤ 10 ms, ≤ 50 ms, ≤ 100 ms, ≤ 500 ms, ≤ 1 s, ≤ 2 s, ≤ 5 s, > 5 s"
        ),
        "{wide}"
    );
}

#[test]
fn off_a_terminal_the_report_is_80_columns_unless_columns_says() {
    let (home, _) = session();
    let out = home.analyze_ok(&["report", "--no-ingest"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(too_wide(&text, 80).is_empty(), "{text}");
    let mut home = home;
    home.set_env("COLUMNS", "200");
    let out = home.analyze_ok(&["report", "--no-ingest"]);
    let wide = String::from_utf8(out.stdout).unwrap();
    assert!(headers(&wide)[1].iter().any(|h| h == "p99"), "{wide}");
    assert!(too_wide(&wide, 200).is_empty());
}

#[test]
fn outcomes_add_up_and_spans_are_ordered_by_their_total_time() {
    let (home, truth) = session();
    let text = String::from_utf8(home.analyze_ok(&["report", "--no-ingest"]).stdout).unwrap();
    let report: Value =
        serde_json::from_slice(&home.analyze_ok(&["report", "--json", "--no-ingest"]).stdout)
            .unwrap();

    // The headline's count, and the outcome rows under it.
    let headline = text
        .lines()
        .find(|l| l.contains(" requests, "))
        .unwrap_or_else(|| panic!("no headline in\n{text}"));
    let requests = count(headline.split_whitespace().next().unwrap());
    assert_eq!(requests, 3000, "{headline}");
    let mut by_outcome: BTreeMap<String, u64> = BTreeMap::new();
    for row in rows(&text, "outcome") {
        // outcome [category] requests share %
        let words: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(words.last(), Some(&"%"), "{row}");
        *by_outcome.entry(words[0].to_owned()).or_default() += count(words[words.len() - 3]);
    }
    assert_eq!(
        by_outcome.values().sum::<u64>(),
        requests,
        "the outcome rows add up to the headline: {by_outcome:?}\n{text}"
    );
    let panics = truth["panics"].as_u64().unwrap();
    assert!(panics > 0);
    assert_eq!(by_outcome.get("panicked"), Some(&panics), "{by_outcome:?}");
    assert_eq!(
        report["panicked_requests"].as_u64(),
        Some(panics),
        "{report}"
    );

    // Spans: by total time, the longest first, as --json counts it.
    let spans = report["spans"].as_object().unwrap();
    let total = |name: &str| spans[name]["total_ms"].as_f64().unwrap();
    let shown: Vec<&str> = rows(&text, "span")
        .iter()
        .map(|r| r.split_whitespace().next().unwrap())
        .collect();
    let mut by_total: Vec<&str> = spans.keys().map(String::as_str).collect();
    by_total.sort_by(|a, b| total(b).total_cmp(&total(a)).then(a.cmp(b)));
    assert_eq!(shown, by_total, "{text}");
    assert_eq!(shown[0], "process_query", "the request holds all the time");

    // The totals are the simulation's, within the histograms' precision;
    // a span without children spends all of it in itself; and the self
    // times of every span of a request add up to the request's time.
    let truth_ns = |name: &str| -> Vec<u64> {
        serde_json::from_value(truth["span_ns"][name].clone()).unwrap()
    };
    let truth_ms = |name: &str| truth_ns(name).iter().sum::<u64>() as f64 / 1e6;
    // Whether `ms` is `truth` ms as the store keeps it: within the
    // histograms' 3 digits, and under it by up to `cuts` microseconds
    // (the store keeps whole ones: a latency each, a self time per span
    // name and request).
    let kept = |ms: f64, truth: f64, cuts: usize| {
        let room = truth * 2e-3 + 1e-3;
        ms <= truth + room && ms + cuts as f64 / 1000.0 + room >= truth
    };
    for name in spans.keys() {
        assert!(
            kept(total(name), truth_ms(name), truth_ns(name).len()),
            "{name}: total {} ms, simulated {} ms",
            total(name),
            truth_ms(name)
        );
    }
    let self_ms = |name: &str| spans[name]["self_ms"].as_f64().unwrap();
    let requests = requests as usize;
    for leaf in [
        "load_model",
        "tokenize",
        "inference",
        "decode",
        "select_backend",
    ] {
        assert!(
            kept(self_ms(leaf), truth_ms(leaf), requests),
            "{leaf}: self {} ms, simulated total {} ms",
            self_ms(leaf),
            truth_ms(leaf)
        );
    }
    let all_self: f64 = spans.keys().map(|n| self_ms(n)).sum();
    assert!(
        kept(all_self, truth_ms("process_query"), requests * spans.len()),
        "self times add up to {all_self} ms, the requests took {} ms",
        truth_ms("process_query")
    );
}
