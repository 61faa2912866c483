//! `caro-analyze export`, each format read by a tool someone else wrote,
//! against what the store kept and what the simulation did: the `chrome`
//! trace as Chrome DevTools' own trace model lays it out, the `folded`
//! stacks as inferno draws them, the `jsonl` lines as a JSON parser and
//! the simulation's truth see them; and `-o FILE` as a private copy of
//! what stdout gets.
//!
//! The chrome test needs Node.js and `tests/consumers/install.sh` run
//! once (it installs DevTools' trace model from npm).

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use caro_tests::{counts, logged_events, missing, truth_events, DataDir, Tool};
use serde_json::Value;

/// Plays one simulated caro per seed, all at once into one ring (two
/// threads each, some requests panicking), and returns their truths.
fn session(home: &DataDir, queries: u64, seeds: &[u64]) -> Vec<Value> {
    let queries = queries.to_string();
    let children: Vec<_> = seeds
        .iter()
        .map(|seed| {
            let truth = home.path().join(format!("truth{seed}.json"));
            let child = home.spawn_sim(&[
                "--queries",
                &queries,
                "--seed",
                &seed.to_string(),
                "--threads",
                "2",
                "--panics",
                "--truth",
                truth.to_str().unwrap(),
            ]);
            (truth, child)
        })
        .collect();
    children
        .into_iter()
        .map(|(truth, child)| {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "caro_sim failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            serde_json::from_slice(&std::fs::read(truth).unwrap()).unwrap()
        })
        .collect()
}

/// `export` with `args` as a user runs it (ingesting first); its stdout.
fn export(home: &DataDir, args: &[&str]) -> Vec<u8> {
    let mut all = vec!["export"];
    all.extend(args);
    home.analyze_ok(&all).stdout
}

/// The traces the store kept, as `traces --json` shows them. Still-open
/// requests (no `kept`) are not exported, so they are left out.
fn stored_traces(home: &DataDir) -> Vec<Value> {
    let out = home.analyze_ok(&["traces", "--json", "--last", "100000", "--no-ingest"]);
    let traces: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|t: &Value| t.get("kept").is_some())
        .collect();
    assert!(!traces.is_empty(), "the store kept no trace");
    traces
}

/// Every span of a `traces --json` tree, each with the names on its path
/// from the root (itself last).
fn spans_with_paths(root: &Value) -> Vec<(&Value, Vec<&str>)> {
    fn walk<'a>(s: &'a Value, path: &mut Vec<&'a str>, out: &mut Vec<(&'a Value, Vec<&'a str>)>) {
        path.push(s["name"].as_str().unwrap());
        out.push((s, path.clone()));
        for c in s["children"].as_array().unwrap() {
            walk(c, path, out);
        }
        path.pop();
    }
    let mut out = Vec::new();
    walk(root, &mut Vec::new(), &mut out);
    out
}

/// A (pid, thread) track.
type Track = (u64, u64);

fn track_of(span: &Value) -> Track {
    (
        span["pid"].as_u64().unwrap(),
        span["thread"].as_u64().unwrap(),
    )
}

/// A slice tree as one comparable string: `name(child,child)`, children
/// sorted, so that two trees are equal when their nesting is.
fn canonical(name: &str, mut children: Vec<String>) -> String {
    children.sort();
    format!("{name}({})", children.join(","))
}

/// What a timeline must show of the stored traces: on each track, the
/// trees of slices, each slice nested under its nearest ancestor span on
/// the same track (a span on another thread than its parent starts a tree
/// of its own on its thread's track), labelled with their trace id.
fn expected_tracks(traces: &[Value]) -> BTreeMap<Track, Vec<String>> {
    /// A span's name, track, and nearest ancestor on its track.
    type Flat<'a> = Vec<(&'a str, Track, Option<usize>)>;
    fn flatten<'a>(s: &'a Value, ancestors: &mut Vec<usize>, spans: &mut Flat<'a>) {
        let track = track_of(s);
        let parent = ancestors
            .iter()
            .rev()
            .copied()
            .find(|&a| spans[a].1 == track);
        spans.push((s["name"].as_str().unwrap(), track, parent));
        ancestors.push(spans.len() - 1);
        for c in s["children"].as_array().unwrap() {
            flatten(c, ancestors, spans);
        }
        ancestors.pop();
    }
    fn tree(i: usize, spans: &Flat) -> String {
        let children = (0..spans.len())
            .filter(|&j| spans[j].2 == Some(i))
            .map(|j| tree(j, spans))
            .collect();
        canonical(spans[i].0, children)
    }
    let mut trees: BTreeMap<Track, Vec<String>> = BTreeMap::new();
    for t in traces {
        let mut spans = Vec::new();
        flatten(&t["root"], &mut Vec::new(), &mut spans);
        for (i, &(_, track, parent)) in spans.iter().enumerate() {
            if parent.is_none() {
                let id = t["trace_id"].as_str().unwrap();
                trees
                    .entry(track)
                    .or_default()
                    .push(format!("{id}:{}", tree(i, &spans)));
            }
        }
    }
    for v in trees.values_mut() {
        v.sort();
    }
    trees
}

/// Runs Chrome DevTools' trace model (tests/consumers/chrome_devtools.mjs)
/// on `file` and returns what it read.
fn devtools(file: &Path) -> Value {
    let consumers = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("consumers");
    assert!(
        consumers
            .join("node_modules/@paulirish/trace_engine")
            .is_dir(),
        "Chrome DevTools' trace model is not installed: run tests/consumers/install.sh"
    );
    let out = Tool::Node
        .command()
        .arg(consumers.join("chrome_devtools.mjs"))
        .arg(file)
        .output()
        .expect("node runs (tests/consumers/install.sh installs Node.js where it is missing)");
    assert!(
        out.status.success(),
        "DevTools' trace model failed on the export: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The trace tree of each track as DevTools nested it, in the form of
/// [`expected_tracks`].
fn drawn_tracks(seen: &Value) -> BTreeMap<Track, Vec<String>> {
    fn tree(n: &Value) -> String {
        let children = n["children"].as_array().unwrap().iter().map(tree).collect();
        canonical(n["name"].as_str().unwrap(), children)
    }
    let mut tracks = BTreeMap::new();
    for t in seen["tracks"].as_array().unwrap() {
        let mut roots: Vec<String> = t["roots"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| format!("{}:{}", r["trace_id"].as_str().unwrap_or("-"), tree(r)))
            .collect();
        roots.sort();
        let track = (t["pid"].as_u64().unwrap(), t["tid"].as_u64().unwrap());
        tracks.insert(track, roots);
    }
    tracks
}

#[test]
fn chrome_devtools_draws_every_kept_span_nested_under_its_parent_on_its_thread() {
    if missing(Tool::Node) {
        return;
    }
    let home = DataDir::new();
    // Two processes of two threads each: four tracks.
    session(&home, 250, &[3, 4]);
    let file = home.path().join("caro-trace.json");
    export(&home, &["--format", "chrome", "-o", file.to_str().unwrap()]);
    let traces = stored_traces(&home);
    let spans: Vec<_> = traces
        .iter()
        .flat_map(|t| spans_with_paths(&t["root"]))
        .collect();

    let seen = devtools(&file);
    assert_eq!(
        seen["errors"],
        serde_json::json!([]),
        "DevTools reported errors loading the export"
    );

    // One track per process and thread, each named by the export's
    // metadata (DevTools falls back to the bare thread id), every process
    // too.
    let stored_tracks = counts(spans.iter().map(|(s, _)| track_of(s)));
    let tracks = seen["tracks"].as_array().unwrap();
    let seen_tracks = counts(
        tracks
            .iter()
            .map(|t| (t["pid"].as_u64().unwrap(), t["tid"].as_u64().unwrap())),
    );
    assert_eq!(
        seen_tracks.keys().collect::<Vec<_>>(),
        stored_tracks.keys().collect::<Vec<_>>(),
        "one DevTools track per (process, thread) of the stored spans"
    );
    assert!(
        seen_tracks.values().all(|&n| n == 1),
        "a track appears twice: {seen_tracks:?}"
    );
    assert!(
        stored_tracks.len() >= 4,
        "two processes of two threads each: {stored_tracks:?}"
    );
    for t in tracks {
        let name = t["name"].as_str().unwrap_or("");
        assert!(
            !name.is_empty() && name.parse::<u64>().ok() != t["tid"].as_u64(),
            "track {t:?} has no thread name"
        );
        let pid = t["pid"].to_string();
        assert!(
            seen["processes"][&pid]
                .as_str()
                .is_some_and(|n| !n.is_empty()),
            "process {pid} has no name"
        );
    }

    // Every stored span is drawn: DevTools leaves out of its tree any
    // slice that is not nested in, nor disjoint from, its neighbours.
    let drawn: u64 = tracks.iter().map(|t| t["slices"].as_u64().unwrap()).sum();
    assert_eq!(
        drawn,
        spans.len() as u64,
        "DevTools drew {drawn} of the {} stored spans as slices",
        spans.len()
    );

    // And each is nested under its parent's slice on the same track.
    let expected = expected_tracks(&traces);
    let got = drawn_tracks(&seen);
    for (track, want) in &expected {
        let have = &got[track];
        if have != want {
            let missing: Vec<_> = want.iter().filter(|w| !have.contains(w)).take(3).collect();
            let instead: Vec<_> = have.iter().filter(|h| !want.contains(h)).take(3).collect();
            panic!(
                "track {track:?}: DevTools nests the slices otherwise than the stored traces\n\
                 stored: {missing:#?}\nDevTools: {instead:#?}"
            );
        }
    }
}

/// The folded lines `stack weight`, parsed.
fn folded_stacks(text: &str) -> BTreeMap<String, u64> {
    let mut stacks = BTreeMap::new();
    for line in text.lines() {
        let (stack, weight) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("a folded line without a weight: {line:?}"));
        let weight = weight
            .parse()
            .unwrap_or_else(|_| panic!("a folded line whose weight is no count: {line:?}"));
        assert!(
            stacks.insert(stack.to_owned(), weight).is_none(),
            "stack {stack} twice"
        );
    }
    stacks
}

/// Each frame of an inferno SVG: (function, samples), from its tooltips
/// `<title>load_model (1,234 samples, 2.00%)</title>`.
fn svg_frames(svg: &str) -> Vec<(String, u64)> {
    svg.split("<title>")
        .skip(1)
        .filter_map(|s| s.split_once("</title>"))
        .filter_map(|(title, _)| {
            let (name, rest) = title.rsplit_once(" (")?;
            let samples = rest.split_once(' ')?.0.replace(',', "");
            Some((name.to_owned(), samples.parse().ok()?))
        })
        .collect()
}

#[test]
fn inferno_draws_the_folded_stacks_weighted_by_the_stored_self_times() {
    let home = DataDir::new();
    session(&home, 300, &[3]);
    let folded = String::from_utf8(export(&home, &["--format", "folded"])).unwrap();
    let traces = stored_traces(&home);
    let stacks = folded_stacks(&folded);

    let mut svg = Vec::new();
    let mut options = inferno::flamegraph::Options::default();
    // Every frame, however thin (inferno leaves out those under 0.1 px).
    options.min_width = 0.0;
    inferno::flamegraph::from_lines(&mut options, folded.lines(), &mut svg)
        .expect("inferno reads the folded export");
    let svg = String::from_utf8(svg).unwrap();

    // inferno counted every line: it skips, with only a log warning,
    // those it cannot read.
    let total: u64 = stacks.values().sum();
    assert!(
        svg.contains(&format!("total_samples=\"{total}\"")),
        "inferno's total is not the {total} µs of the folded lines"
    );
    let frames = svg_frames(&svg);
    let names = counts(frames.iter().map(|(n, _)| n.as_str()));
    assert!(
        frames.contains(&("process_query".to_owned(), total)),
        "process_query is the one root frame, of all the samples: {frames:?}"
    );
    for name in [
        "select_backend",
        "generate_command",
        "load_model",
        "inference",
        "validate_safety",
    ] {
        assert!(
            names.contains_key(name),
            "no {name} frame in the flame graph: {names:?}"
        );
    }

    // Each stack weighs the self time, in µs, of the stored spans at its
    // path: the sum of their `self_ms`, less at most 1 µs per span that
    // the export rounds down.
    let mut self_us: BTreeMap<String, (f64, u64)> = BTreeMap::new();
    for t in &traces {
        for (s, path) in spans_with_paths(&t["root"]) {
            let e = self_us.entry(path.join(";")).or_default();
            e.0 += s["self_ms"].as_f64().unwrap() * 1000.0;
            e.1 += 1;
        }
    }
    for (path, &(us, n)) in &self_us {
        match stacks.get(path) {
            Some(&w) => assert!(
                w as f64 <= us + 1e-3 && w as f64 >= us - n as f64 - 1e-3,
                "{path}: weight {w}, stored self time {us} µs over {n} spans"
            ),
            // Only a stack without self time is left out.
            None => assert!(
                us < n as f64,
                "{path}: {us} µs of self time, no folded line"
            ),
        }
    }
    for path in stacks.keys() {
        assert!(
            self_us.contains_key(path),
            "{path}: folded, but no stored span has that path"
        );
    }

    // And the flame graph's width of each frame that occurs once is the
    // time the stored traces spent in it and below it.
    for (name, samples) in &frames {
        if names[name.as_str()] != 1 || name == "all" {
            continue;
        }
        let (us, n) = self_us
            .iter()
            .filter(|(path, _)| path.split(';').any(|f| f == name))
            .fold((0.0, 0), |(us, n), (_, &(u, m))| (us + u, n + m));
        assert!(
            *samples as f64 <= us + 1e-3 && *samples as f64 >= us - n as f64 - 1e-3,
            "{name}: {samples} samples wide, stored time {us} µs over {n} spans"
        );
    }
}

#[test]
fn jsonl_holds_every_logged_event_and_since_filters_them() {
    let home = DataDir::new();
    let truths = session(&home, 300, &[3]);
    let text = String::from_utf8(export(&home, &["--format", "jsonl"])).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("invalid JSON line {l:?}: {e}")))
        .collect();

    // The INFO-and-above events the simulation emitted, each once, and one
    // line per panic.
    let expected: Vec<_> = truths.iter().flat_map(truth_events).collect();
    let panics: u64 = truths.iter().map(|t| t["panics"].as_u64().unwrap()).sum();
    assert!(panics > 0, "the seed plays a panic");
    assert_eq!(
        counts(logged_events(&lines)),
        counts(expected.clone()),
        "the events the sim emitted"
    );
    assert_eq!(
        lines.iter().filter(|l| l["target"] == "panic").count() as u64,
        panics,
        "one line per panic"
    );
    assert_eq!(
        lines.len() as u64,
        expected.len() as u64 + panics,
        "no other line"
    );

    // The session ended before now and started within the hour.
    let future = export(
        &home,
        &["--format", "jsonl", "--since", "2100-01-01T00:00:00Z"],
    );
    assert!(
        future.is_empty(),
        "lines from the future: {}",
        String::from_utf8_lossy(&future)
    );
    assert_eq!(
        export(&home, &["--format", "jsonl", "--since", "1h"]),
        text.as_bytes()
    );
    // A day alone is its start, UTC.
    assert!(export(&home, &["--format", "jsonl", "--since", "2100-01-01"]).is_empty());
    assert_eq!(
        export(&home, &["--format", "jsonl", "--since", "2000-01-01"]),
        text.as_bytes()
    );
}

#[test]
fn output_file_gets_exactly_what_stdout_gets_readable_only_by_its_owner() {
    let home = DataDir::new();
    session(&home, 100, &[5]);
    home.analyze_ok(&["ingest"]);
    for format in ["chrome", "folded", "jsonl"] {
        let stdout = export(&home, &["--format", format, "--no-ingest"]);
        assert!(!stdout.is_empty(), "{format}: an empty export");
        // An older export, readable by all, is replaced by a private one.
        let file = home.path().join(format!("export.{format}"));
        std::fs::write(&file, "an older export").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let out = export(
            &home,
            &[
                "--format",
                format,
                "--no-ingest",
                "-o",
                file.to_str().unwrap(),
            ],
        );
        assert!(out.is_empty(), "{format}: -o also wrote to stdout");
        assert!(
            std::fs::read(&file).unwrap() == stdout,
            "{format}: the file differs from stdout"
        );
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{format}: mode {mode:o}");
    }
}
