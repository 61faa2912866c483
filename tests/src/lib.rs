//! Helpers for the end-to-end tests in `tests/`: the real binaries
//! (`caro_sim`, `privacy_probe`, `flood`, `caro-analyze`), built once, run
//! in temporary data folders.
//!
//! ```no_run
//! let home = caro_tests::DataDir::new();
//! home.sim(&["--queries", "10", "--seed", "1"]); // fails the test if the sim fails
//! let lines = home.logs_json();
//! assert!(!lines.is_empty());
//! ```

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Paths of the binaries under test.
#[derive(Debug)]
pub struct Bins {
    pub sim: PathBuf,
    /// `privacy_probe`: a host that logs personal data everywhere.
    pub probe: PathBuf,
    pub analyze: PathBuf,
    /// `flood`: records N events of one shape into a ring, then exits.
    pub flood: PathBuf,
    /// `stress_writer`: self-checking records until killed, or a flood of
    /// trace events after 100 errors.
    pub stress_writer: PathBuf,
    /// Where every example of `caro-recorder` was built.
    pub examples: PathBuf,
}

impl Bins {
    /// The recorder's example `name`, built.
    pub fn example(&self, name: &str) -> PathBuf {
        self.examples.join(name)
    }
}

/// Starts `stress_writer` on `ring` (made with `ring_size` bytes if new):
/// `threads` writers numbered from `id`, `count` records each (0: until
/// killed), its output discarded.
pub fn stress_writer(ring: &Path, ring_size: u64, id: u64, threads: u64, count: u64) -> Child {
    Command::new(&bins().stress_writer)
        .arg("--ring")
        .arg(ring)
        .args(["--ring-size", &ring_size.to_string()])
        .args(["--id", &id.to_string()])
        .args(["--threads", &threads.to_string()])
        .args(["--count", &count.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

/// The U64 value of field `name` of record `r` of `d`.
pub fn u64_field(d: &caro_format::Decoded, r: &caro_format::Record, name: &str) -> Option<u64> {
    r.values.iter().find_map(|v| match v.value {
        caro_format::Value::U64(x)
            if caro_format::text::field_name(r, &d.dictionary, v.field.into()) == name =>
        {
            Some(x)
        }
        _ => None,
    })
}

/// Builds every example of `caro-recorder` (`caro_sim`, `privacy_probe`,
/// `flood`, `stress_writer`, …) and `caro-analyze` with the profile the tests run under (once per test
/// binary) and returns their paths.
pub fn bins() -> &'static Bins {
    static BINS: OnceLock<Bins> = OnceLock::new();
    BINS.get_or_init(|| {
        // target/<profile>/deps/<test binary>
        let exe = std::env::current_exe().unwrap();
        let profile_dir = exe.parent().unwrap().parent().unwrap().to_owned();
        let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") => "dev",
            Some(other) => other,
            None => "dev",
        }
        .to_owned();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        // What cargo sets for this test, not for a build: a build script
        // (ring's) reruns when it changes, which would rebuild the
        // binaries' dependencies for every test binary.
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            if key.starts_with("CARGO_PKG_")
                || matches!(
                    &*key,
                    "CARGO_MANIFEST_DIR"
                        | "CARGO_MANIFEST_PATH"
                        | "CARGO_CRATE_NAME"
                        | "CARGO_PRIMARY_PACKAGE"
                        | "CARGO_TARGET_TMPDIR"
                )
            {
                build.env_remove(&*key);
            }
        }
        let status = build
            .args(["build", "--quiet", "--profile", &profile])
            .args(["-p", "caro-recorder", "--examples"])
            .args(["-p", "caro-analyze", "--bin", "caro-analyze"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the binaries under test failed");
        Bins {
            sim: profile_dir.join("examples/caro_sim"),
            probe: profile_dir.join("examples/privacy_probe"),
            analyze: profile_dir.join("caro-analyze"),
            flood: profile_dir.join("examples/flood"),
            stress_writer: profile_dir.join("examples/stress_writer"),
            examples: profile_dir.join("examples"),
        }
    })
}

/// A port on loopback that nothing listens on (for the moment).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A temporary `XDG_CACHE_HOME`: the ring lives at `caro/events.ring`.
#[derive(Debug)]
pub struct DataDir {
    dir: tempfile::TempDir,
    /// Extra environment for every command run here.
    pub env: Vec<(String, String)>,
}

impl Default for DataDir {
    fn default() -> Self {
        DataDir::new()
    }
}

impl DataDir {
    pub fn new() -> DataDir {
        DataDir {
            dir: tempfile::tempdir().unwrap(),
            env: Vec::new(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Sets `key` for every command run here from now on (replacing an
    /// earlier value); [`DataDir::unset_env`] takes it back.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.unset_env(key);
        self.env.push((key.to_owned(), value.to_owned()));
    }

    /// Forgets what [`DataDir::set_env`] set for `key`.
    pub fn unset_env(&mut self, key: &str) {
        self.env.retain(|(k, _)| k != key);
    }

    pub fn ring(&self) -> PathBuf {
        self.path().join("caro/events.ring")
    }

    /// `program` set to run here: this `XDG_CACHE_HOME`, none of the
    /// caller's recorder settings, [`DataDir::env`] on top.
    pub fn command(&self, program: &Path) -> Command {
        let mut c = Command::new(program);
        c.env("XDG_CACHE_HOME", self.path())
            .env_remove("RUST_LOG")
            .env_remove("CARO_LOG")
            .env_remove("CARO_LOG_FORMAT")
            .env_remove("CARO_LOG_FILE")
            .env_remove("CARO_RING_SIZE");
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    /// The data folder itself, `$XDG_CACHE_HOME/caro`: the ring, the store
    /// (`metrics.db`), `telemetry.log` and its archives, `crashes/`.
    pub fn caro_dir(&self) -> PathBuf {
        self.path().join("caro")
    }

    /// Starts `caro-analyze` with `args`, stdin closed, stdout and stderr
    /// piped (collect them with `wait_with_output`).
    pub fn spawn_analyze(&self, args: &[&str]) -> Child {
        self.command(&bins().analyze)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Starts `caro_sim` with `args`.
    pub fn spawn_sim(&self, args: &[&str]) -> Child {
        self.command(&bins().sim)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Runs `caro_sim` with `args` to completion.
    pub fn sim(&self, args: &[&str]) -> Output {
        let out = self.spawn_sim(args).wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "caro_sim failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Runs `caro_sim` with `args` and `--truth`; returns the truth it
    /// wrote.
    pub fn sim_truth(&self, args: &[&str]) -> serde_json::Value {
        let path = self.path().join("truth.json");
        let mut all = args.to_vec();
        all.extend(["--truth", path.to_str().unwrap()]);
        self.sim(&all);
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
    }

    /// Runs `privacy_probe` with `args` to completion (stdin closed,
    /// stdout and stderr collected); fails the test if it fails.
    pub fn probe(&self, args: &[&str]) -> Output {
        self.example("privacy_probe", args)
    }

    /// Runs the recorder's example `name` with `args` to completion (stdin
    /// closed, stdout and stderr collected); fails the test if it fails.
    pub fn example(&self, name: &str, args: &[&str]) -> Output {
        let out = self
            .command(&bins().example(name))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name} {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Runs `caro-analyze` with `args`.
    pub fn analyze(&self, args: &[&str]) -> Output {
        self.command(&bins().analyze).args(args).output().unwrap()
    }

    /// Runs `caro-analyze args` here; fails the test unless it succeeds.
    pub fn analyze_ok(&self, args: &[&str]) -> Output {
        let out = self.analyze(args);
        assert!(
            out.status.success(),
            "caro-analyze {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// `caro-analyze logs --format json`, each line parsed (a line that is
    /// not valid JSON fails the test).
    pub fn logs_json(&self) -> Vec<serde_json::Value> {
        let out = self.analyze(&["logs", "--format", "json"]);
        assert!(
            out.status.success(),
            "logs failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("invalid JSON line {l:?}: {e}"))
            })
            .collect()
    }

    /// `caro-analyze status --json`.
    pub fn status_json(&self) -> serde_json::Value {
        let out = self.analyze(&["status", "--json"]);
        assert!(
            out.status.success(),
            "status failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

/// A multiset: how many times each item occurs.
pub fn counts<T: Ord>(items: impl IntoIterator<Item = T>) -> BTreeMap<T, usize> {
    let mut m = BTreeMap::new();
    for i in items {
        *m.entry(i).or_insert(0) += 1;
    }
    m
}

/// The (request id, message) of every recorded event of a truth file at
/// the default level (INFO and above).
pub fn truth_events(truth: &serde_json::Value) -> Vec<(u64, String)> {
    truth["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["level"] != "DEBUG" && e["level"] != "TRACE")
        .map(|e| {
            (
                e["request_id"].as_u64().unwrap(),
                e["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The (request id, message) of every log line that has a request id.
pub fn logged_events(lines: &[serde_json::Value]) -> Vec<(u64, String)> {
    lines
        .iter()
        .filter_map(|l| {
            let id = l["fields"]["request_id"].as_u64()?;
            Some((id, l["fields"]["message"].as_str()?.to_owned()))
        })
        .collect()
}

/// The records and requests an ingest says it folded in.
pub fn ingested(out: &Output) -> (u64, u64) {
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("ingested "))
        .unwrap_or_else(|| panic!("ingest printed no \"ingested …\" line: {text:?}"));
    let mut numbers = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<u64>().unwrap());
    (numbers.next().unwrap(), numbers.next().unwrap())
}

/// `report --json` with `args`, parsed.
pub fn report(home: &DataDir, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["report", "--json"];
    all.extend_from_slice(args);
    let out = home.analyze_ok(&all);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "report --json printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// The requests a simulation served, by its truth file.
pub fn truth_requests(truth: &serde_json::Value) -> u64 {
    truth["requests_per_backend"]
        .as_object()
        .expect("truth has requests_per_backend")
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum()
}

/// Waits up to `limit` for `child` to exit.
pub fn wait_for(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if started.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The user `nobody`, whom permission bits stop.
pub const NOBODY: u32 = 65534;

/// Makes `c` run as [`NOBODY`] (only root can).
pub fn as_nobody(c: &mut Command) -> &mut Command {
    // SAFETY: between fork and exec the hook only makes three
    // async-signal-safe system calls, on values of its own.
    unsafe {
        c.pre_exec(|| {
            if libc::setgroups(0, std::ptr::null()) != 0
                || libc::setgid(NOBODY) != 0
                || libc::setuid(NOBODY) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    }
}

/// Reading `metrics.db` as the tests check it.
pub mod store {
    use std::path::Path;

    use rusqlite::types::Value;
    use rusqlite::{Connection, OpenFlags};

    /// The store at `db`, read-only.
    pub fn open_read_only(db: &Path) -> Connection {
        Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", db.display()))
    }

    /// The names of its tables, sorted.
    pub fn table_names(conn: &Connection) -> Vec<String> {
        conn.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    /// Every row of `table`, every column, ordered by all the columns.
    pub fn rows(conn: &Connection, table: &str) -> Vec<Vec<Value>> {
        let n = conn
            .prepare(&format!("SELECT * FROM {table}"))
            .unwrap()
            .column_count();
        let order: Vec<String> = (1..=n).map(|i| i.to_string()).collect();
        let mut q = conn
            .prepare(&format!(
                "SELECT * FROM {table} ORDER BY {}",
                order.join(", ")
            ))
            .unwrap();
        let rows = q
            .query_map([], |r| (0..n).map(|i| r.get::<_, Value>(i)).collect())
            .unwrap();
        rows.collect::<rusqlite::Result<_>>().unwrap()
    }
}

/// Runs `promtool check metrics` on `text`: it must succeed and say
/// nothing at all (a lint warning is a failure). Without promtool, skips
/// the check as [`missing`] says.
pub fn promtool_check(text: &str) {
    if missing(Tool::Promtool) {
        return;
    }
    let mut child = Tool::Promtool
        .command()
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run promtool ({e}): install Debian's prometheus package (.ci/run does)")
        });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.is_empty(),
        "promtool check metrics ({}): {said}\n--- exposition:\n{text}",
        out.status
    );
}

/// A program outside Rust that some tests hand what they made to.
/// `scripts/test` installs each where it can and says where it is in
/// [`Tool::var`]; without that variable the tests look the program up on
/// `PATH`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    /// `promtool` (Debian's `prometheus`): `CARO_TEST_PROMTOOL`.
    Promtool,
    /// A Prometheus server (Debian's `prometheus`): `CARO_TEST_PROMETHEUS`.
    Prometheus,
    /// A Python 3 that imports the OpenTelemetry project's protobuf
    /// definitions (PyPI's `opentelemetry-proto`): `CARO_TEST_OTLP_PYTHON`.
    OtlpPython,
    /// Node.js, with Chrome DevTools' trace model installed under
    /// `tests/consumers/node_modules` (`tests/consumers/install.sh`):
    /// `CARO_TEST_NODE`.
    Node,
    /// util-linux's `script`, a pseudo-terminal: `CARO_TEST_SCRIPT`.
    Script,
}

impl Tool {
    /// The variable that names the program.
    pub fn var(self) -> &'static str {
        match self {
            Tool::Promtool => "CARO_TEST_PROMTOOL",
            Tool::Prometheus => "CARO_TEST_PROMETHEUS",
            Tool::OtlpPython => "CARO_TEST_OTLP_PYTHON",
            Tool::Node => "CARO_TEST_NODE",
            Tool::Script => "CARO_TEST_SCRIPT",
        }
    }

    /// What a test that needs it checks with it.
    fn check_name(self) -> &'static str {
        match self {
            Tool::Promtool => "promtool check",
            Tool::Prometheus => "Prometheus server check",
            Tool::OtlpPython => "OpenTelemetry protobuf check",
            Tool::Node => "Chrome DevTools trace model check",
            Tool::Script => "pseudo-terminal check",
        }
    }

    /// The program to run: [`Tool::var`]'s value, else its usual name.
    pub fn program(self) -> PathBuf {
        let default = match self {
            Tool::Promtool => "promtool",
            Tool::Prometheus => "prometheus",
            Tool::OtlpPython => "python3",
            Tool::Node => "node",
            Tool::Script => "script",
        };
        std::env::var_os(self.var())
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(default))
    }

    /// A command that runs [`Tool::program`].
    pub fn command(self) -> Command {
        Command::new(self.program())
    }

    /// Why it cannot be used, if it cannot (looked at once per test
    /// binary).
    pub fn unavailable(self) -> Option<&'static str> {
        static WHY: [OnceLock<Option<String>>; 5] = [const { OnceLock::new() }; 5];
        WHY[self as usize]
            .get_or_init(|| self.find_problem())
            .as_deref()
    }

    fn find_problem(self) -> Option<String> {
        let program = self.program();
        let hint = match self {
            Tool::Promtool | Tool::Prometheus => "Debian's prometheus package",
            Tool::OtlpPython => "a python3 with PyPI's opentelemetry-proto",
            Tool::Node => "Node.js; tests/consumers/install.sh",
            Tool::Script => "Debian's bsdutils (util-linux)",
        };
        let found = if program.components().count() > 1 {
            Some(program.clone()).filter(|p| is_executable(p))
        } else {
            std::env::var_os("PATH").and_then(|path| {
                std::env::split_paths(&path)
                    .map(|dir| dir.join(&program))
                    .find(|p| is_executable(p))
            })
        };
        let Some(found) = found else {
            let set = match std::env::var_os(self.var()) {
                Some(_) => format!("{} is set to it", self.var()),
                None => format!("set {} or put it on PATH", self.var()),
            };
            return Some(format!(
                "{} not found ({set}; needs {hint}; scripts/test installs it where it can)",
                program.display()
            ));
        };
        match self {
            Tool::OtlpPython => {
                let ok = Command::new(&found)
                    .args([
                        "-c",
                        "import google.protobuf.json_format, \
                         opentelemetry.proto.collector.trace.v1.trace_service_pb2",
                    ])
                    .env("PYTHONDONTWRITEBYTECODE", "1")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success());
                (!ok).then(|| {
                    format!(
                        "{} cannot import opentelemetry.proto (pip install opentelemetry-proto \
                         in a virtual environment and set {}; scripts/test does)",
                        found.display(),
                        self.var()
                    )
                })
            }
            Tool::Node => {
                let model = Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("consumers/node_modules/@paulirish/trace_engine/package.json");
                (!model.is_file()).then(|| {
                    "Chrome DevTools' trace model is not installed in tests/consumers/node_modules \
                     (run tests/consumers/install.sh; scripts/test does)"
                        .to_owned()
                })
            }
            _ => None,
        }
    }
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Whether `tool` cannot be used: then the running test is to skip what
/// needs it. Says so in one line on stderr, past the test harness's
/// capture, so that a skip is never silent, and appends the line to the
/// file `CARO_TEST_SKIPS` names (`scripts/test` lists them at the end).
/// With `CARO_TEST_REQUIRE_ALL=1` (CI) a missing tool fails the test
/// instead.
///
/// ```no_run
/// use caro_tests::{missing, Tool};
/// if missing(Tool::Node) {
///     return;
/// }
/// let out = Tool::Node.command().arg("--version").output().unwrap();
/// ```
pub fn missing(tool: Tool) -> bool {
    let Some(why) = tool.unavailable() else {
        return false;
    };
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("?");
    let crate_name = std::env::current_exe()
        .ok()
        .and_then(|e| e.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .map(|s| s.rsplit_once('-').map_or(s.clone(), |(n, _)| n.to_owned()))
        .unwrap_or_default();
    let check = tool.check_name();
    if std::env::var_os("CARO_TEST_REQUIRE_ALL").is_some_and(|v| v == "1") {
        panic!(
            "the {check} in {crate_name}::{test} cannot run: {why}; \
             CARO_TEST_REQUIRE_ALL=1 forbids skipping it"
        );
    }
    let line = format!("caro-tests: skipped the {check} in {crate_name}::{test}: {why}");
    let _ = writeln!(std::io::stderr(), "{line}");
    if let Some(file) = std::env::var_os("CARO_TEST_SKIPS").filter(|f| !f.is_empty()) {
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(file)
        {
            let _ = f.write_all(format!("{line}\n").as_bytes());
        }
    }
    true
}
