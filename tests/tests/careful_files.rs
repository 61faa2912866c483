//! The analyzer as careful with files as the recorder (issue 14), end to
//! end with the real binaries and real files:
//!
//! - a named pipe, a socket, a folder or a device at the ring path, be it
//!   `--ring FILE` or `$XDG_CACHE_HOME/caro/events.ring`, fails every
//!   command within seconds, in one line that says "not a regular file";
//!   a symbolic link there fails them too ("symbolic link"); `serve` goes
//!   on answering /healthz and answers /metrics with a one-line 500; `logs
//!   --follow` goes on following once a pipe is renamed over its ring and
//!   a ring is renamed back;
//! - the data folder must be the user's own and writable by nobody else:
//!   another user's folder ("belongs to another user") or one the group or
//!   others may write in ("writable by other users") is refused by every
//!   command that keeps data there, and nothing in it changes;
//! - everything the analyzer creates is private, files 0600 and folders
//!   0700, even under umask 0;
//! - a symbolic link, a pipe or a folder planted where the analyzer writes
//!   (the store and its `-wal`, `-shm` and `-journal`, telemetry.log and
//!   its archives, `crashes/`, telemetry.json, `export -o FILE`) is
//!   refused; what a link points at is left as it was, and the target of a
//!   dangling link is never created;
//! - leftover temporaries are removed at the next ingest or gc, never
//!   followed;
//! - what must not change: a ring that is a regular file is read from any
//!   folder, and `status --ring` needs no data folder.
//!
//! Every refusal is checked to be exactly one line `caro-analyze: error: …`
//! on stderr with exit code 1 (I/O): never a panic (101), never a signal,
//! never a hang (a command still running after [`HANG`] is killed and
//! fails the test).

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::CString;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use caro_tests::{as_nobody, bins, DataDir, NOBODY};

/// Rings small enough to copy around.
const RING_SIZE: &str = "256K";

/// Far longer than any command here needs: one still running then is
/// hung (blocked on a pipe, most likely), is killed, and fails the test.
const HANG: Duration = Duration::from_secs(10);

/// The two days of the archive scenario: sessions played in the morning,
/// ingested late the same day.
const DAY1_START: &str = "2026-03-01T06:00:00Z";
const DAY1_NOW: &str = "2026-03-01T23:00:00Z";
const DAY2_START: &str = "2026-03-02T06:00:00Z";
const DAY2_NOW: &str = "2026-03-02T23:00:00Z";
/// Where day 1's telemetry.log is archived once day 2 is ingested.
const DAY1_ARCHIVE: &str = "telemetry.log.2026-03-01.zst";

/// What a planted link points at: a file of the user's that nothing may
/// write.
const PRECIOUS: &[u8] = b"precious";

// ---------------------------------------------------------------------------
// Files.

fn cstring(path: &Path) -> CString {
    CString::new(path.as_os_str().as_bytes()).unwrap()
}

/// Makes a named pipe (FIFO) at `path`.
fn mkfifo(path: &Path) {
    let c = cstring(path);
    // SAFETY: `c` is a NUL-terminated path that lives through the call.
    let r = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
    assert_eq!(
        r,
        0,
        "mkfifo {}: {}",
        path.display(),
        std::io::Error::last_os_error()
    );
}

/// Makes a character device like /dev/zero at `path` (root only).
fn mknod_zero(path: &Path) {
    let c = cstring(path);
    // SAFETY: `c` is a NUL-terminated path that lives through the call.
    let r = unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o600, libc::makedev(1, 5)) };
    assert_eq!(
        r,
        0,
        "mknod {}: {}",
        path.display(),
        std::io::Error::last_os_error()
    );
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// A folder of our own, mode 0700 (its parents made as needed).
fn private_dir(path: &Path) {
    fs::create_dir_all(path).unwrap();
    set_mode(path, 0o700);
}

fn exists(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok()
}

fn symlink(target: &Path, link: &Path) {
    std::os::unix::fs::symlink(target, link).unwrap();
}

/// `path` with `suffix` added to its name (`metrics.db` → `metrics.db-wal`).
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    s.into()
}

/// Writes "precious" to `path`, mode 0600.
fn precious(path: &Path) -> PathBuf {
    fs::write(path, PRECIOUS).unwrap();
    set_mode(path, 0o600);
    path.to_owned()
}

/// Whether `path` is still the "precious" file: a regular file, its bytes
/// and mode as [`precious`] left them, no journal of SQLite's beside it.
fn untouched(path: &Path) -> Result<(), String> {
    let meta =
        fs::symlink_metadata(path).map_err(|e| format!("{} is gone: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{} is no longer a regular file", path.display()));
    }
    let bytes = fs::read(path).unwrap();
    if bytes != PRECIOUS {
        return Err(format!(
            "{} was written: it holds {} bytes, {:?}…",
            path.display(),
            bytes.len(),
            String::from_utf8_lossy(&bytes[..bytes.len().min(40)])
        ));
    }
    if meta.mode() & 0o7777 != 0o600 {
        return Err(format!(
            "{}'s mode changed to {:o}",
            path.display(),
            meta.mode() & 0o7777
        ));
    }
    for suffix in ["-wal", "-shm", "-journal"] {
        let beside = with_suffix(path, suffix);
        if exists(&beside) {
            return Err(format!("{} appeared beside it", beside.display()));
        }
    }
    Ok(())
}

/// Whether nothing was made at `path`, the target of a dangling link, or
/// beside it.
fn never_made(path: &Path) -> Result<(), String> {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let p = with_suffix(path, suffix);
        if exists(&p) {
            return Err(format!("{} was created through the link", p.display()));
        }
    }
    Ok(())
}

/// Plants at `link` a link to a "precious" file in `home`, or a dangling
/// one (to `home`'s `gone`), runs `ingest`, and says what went wrong: not
/// refused for the link, or the target written or made.
fn ingest_refuses_link(
    home: &DataDir,
    link: &Path,
    dangling: bool,
    gone: &str,
    what: &str,
) -> Vec<String> {
    let target = if dangling {
        home.path().join(gone)
    } else {
        precious(&home.path().join("precious"))
    };
    symlink(&target, link);
    let out = finish(what, home.spawn_analyze(&["ingest"]));
    let kept = if dangling {
        never_made(&target)
    } else {
        untouched(&target)
    };
    said(&out, what, "symbolic link")
        .into_iter()
        .chain(kept.err().map(|e| format!("{what}: {e}")))
        .collect()
}

/// The names in `dir`, not recursing.
fn listing(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// One entry of a folder tree, as `lstat` and a read see it.
#[derive(Debug, PartialEq, Eq)]
enum Node {
    Folder {
        mode: u32,
        uid: u32,
        gid: u32,
    },
    File {
        mode: u32,
        uid: u32,
        gid: u32,
        bytes: Vec<u8>,
    },
    Link(PathBuf),
    Other {
        mode: u32,
        uid: u32,
        kind: String,
    },
}

impl Node {
    fn describe(&self) -> String {
        match self {
            Node::Folder { mode, uid, gid } => format!("folder {mode:o} {uid}:{gid}"),
            Node::File {
                mode,
                uid,
                gid,
                bytes,
            } => format!("file {mode:o} {uid}:{gid}, {} bytes", bytes.len()),
            Node::Link(t) => format!("link to {}", t.display()),
            Node::Other { mode, uid, kind } => format!("{kind} {mode:o} {uid}"),
        }
    }
}

/// Every entry under `root` (`root` itself as ""), links not followed.
fn tree(root: &Path) -> BTreeMap<PathBuf, Node> {
    let mut out = BTreeMap::new();
    let mut todo = vec![root.to_owned()];
    while let Some(p) = todo.pop() {
        let Ok(m) = fs::symlink_metadata(&p) else {
            continue;
        };
        let (mode, uid, gid) = (m.mode() & 0o7777, m.uid(), m.gid());
        let t = m.file_type();
        let node = if t.is_dir() {
            if let Ok(entries) = fs::read_dir(&p) {
                todo.extend(entries.map(|e| e.unwrap().path()));
            }
            Node::Folder { mode, uid, gid }
        } else if t.is_file() {
            Node::File {
                mode,
                uid,
                gid,
                bytes: fs::read(&p).unwrap_or_default(),
            }
        } else if t.is_symlink() {
            Node::Link(fs::read_link(&p).unwrap())
        } else {
            let kind = if t.is_fifo() {
                "pipe"
            } else if t.is_socket() {
                "socket"
            } else {
                "device"
            };
            Node::Other {
                mode,
                uid,
                kind: kind.to_owned(),
            }
        };
        out.insert(p.strip_prefix(root).unwrap().to_owned(), node);
    }
    out
}

type Tree = BTreeMap<PathBuf, Node>;

/// What differs between two [`tree`]s, one line per entry.
fn changes(before: &Tree, after: &Tree) -> Vec<String> {
    let names: BTreeSet<&PathBuf> = before.keys().chain(after.keys()).collect();
    names
        .into_iter()
        .filter_map(|name| {
            let shown = if name.as_os_str().is_empty() {
                "the data folder".to_owned()
            } else {
                name.display().to_string()
            };
            match (before.get(name), after.get(name)) {
                (Some(b), None) => Some(format!("{shown} ({}) removed", b.describe())),
                (None, Some(a)) => Some(format!("{shown} ({}) appeared", a.describe())),
                (Some(b), Some(a)) if a != b => {
                    let (b, a) = (b.describe(), a.describe());
                    Some(if a == b {
                        format!("{shown}: its bytes changed")
                    } else {
                        format!("{shown}: {b} → {a}")
                    })
                }
                _ => None,
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Rings and data folders.

/// A data folder whose recorder makes small rings.
fn small_home() -> DataDir {
    let mut home = DataDir::new();
    home.set_env("CARO_RING_SIZE", RING_SIZE);
    home
}

/// Plays 20 requests of `seed` into `home`'s ring, in simulated time only.
fn sim(home: &DataDir, seed: u64, start: Option<&str>) {
    let seed = seed.to_string();
    let mut args = vec!["--queries", "20", "--seed", &seed, "--time-scale", "0"];
    if let Some(s) = start {
        args.extend(["--start", s]);
    }
    home.sim(&args);
}

/// Plays a session with at least one panic into `home`'s ring: its ingest
/// writes a crash snapshot.
fn sim_panics(home: &DataDir, start: Option<&str>) {
    let mut args = vec![
        "--queries",
        "40",
        "--seed",
        "3",
        "--panics",
        "--time-scale",
        "0",
    ];
    if let Some(s) = start {
        args.extend(["--start", s]);
    }
    let truth = home.sim_truth(&args);
    assert!(
        truth["panics"].as_u64().unwrap() > 0,
        "the seed plays a panic"
    );
}

/// The bytes of a ring of 20 requests of `seed`.
fn ring_bytes(seed: u64) -> Vec<u8> {
    let home = small_home();
    sim(&home, seed, None);
    fs::read(home.ring()).unwrap()
}

/// Puts a ring with `bytes` at `home`'s ring path, in a data folder of
/// our own.
fn put_ring(home: &DataDir, bytes: &[u8]) {
    private_dir(&home.caro_dir());
    fs::write(home.ring(), bytes).unwrap();
    set_mode(&home.ring(), 0o600);
}

/// A data folder as a user's is after some use: a store, telemetry.log, a
/// crash snapshot, telemetry.json, and records in the ring not yet
/// ingested.
fn lived_in_home() -> DataDir {
    let home = small_home();
    sim_panics(&home, None);
    home.analyze_ok(&["ingest"]);
    home.analyze_ok(&["telemetry", "disable"]);
    sim(&home, 4, None);
    let t = tree(&home.caro_dir());
    for name in [
        "events.ring",
        "metrics.db",
        "telemetry.log",
        "telemetry.json",
        "crashes",
    ] {
        assert!(
            t.contains_key(Path::new(name)),
            "setup: no {name} in {:?}",
            t.keys()
        );
    }
    home
}

/// The day-2 stage of the archive scenario: day 1 played and ingested
/// (telemetry.log holds it), day 2 played into the same ring, not yet
/// ingested.
fn day2_home() -> DataDir {
    let mut home = small_home();
    sim(&home, 1, Some(DAY1_START));
    home.set_env("CARO_NOW", DAY1_NOW);
    home.analyze_ok(&["ingest"]);
    let log = fs::metadata(home.caro_dir().join("telemetry.log")).map_or(0, |m| m.len());
    assert!(log > 0, "setup: day 1 left telemetry.log empty");
    sim(&home, 2, Some(DAY2_START));
    home.set_env("CARO_NOW", DAY2_NOW);
    home
}

// ---------------------------------------------------------------------------
// Commands.

/// `caro-analyze args` run in `home` as its own commands are, stdin
/// closed, stdout and stderr piped.
fn analyzer(home: &DataDir, args: &[&str]) -> Command {
    let mut c = home.command(&bins().analyze);
    c.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// Makes `c` run with umask 0: only the modes the analyzer asks for.
fn umask_0(c: &mut Command) {
    // SAFETY: between fork and exec the hook makes one async-signal-safe
    // system call.
    unsafe {
        c.pre_exec(|| {
            libc::umask(0);
            Ok(())
        });
    }
}

/// `args` with `--ring path` after them.
fn with_ring<'a>(args: &[&'a str], path: &'a Path) -> Vec<&'a str> {
    let mut all = args.to_vec();
    all.extend(["--ring", path.to_str().unwrap()]);
    all
}

/// A command running, its output collected by threads so that a full pipe
/// never stalls it.
struct Running {
    what: String,
    child: Child,
    stdout: JoinHandle<Vec<u8>>,
    stderr: JoinHandle<Vec<u8>>,
}

fn drain(mut pipe: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

impl Running {
    fn new(what: impl Into<String>, mut child: Child) -> Running {
        let stdout = drain(child.stdout.take().expect("stdout piped"));
        let stderr = drain(child.stderr.take().expect("stderr piped"));
        Running {
            what: what.into(),
            child,
            stdout,
            stderr,
        }
    }
}

/// Waits for every run, [`HANG`] at most from now, and kills those still
/// running then. Returns each run's name with its output, `None` if it
/// hung.
fn finish_all(runs: Vec<Running>) -> Vec<(String, Option<Output>)> {
    let deadline = Instant::now() + HANG;
    let mut runs: Vec<(Running, Option<ExitStatus>)> =
        runs.into_iter().map(|r| (r, None)).collect();
    loop {
        let mut pending = false;
        for (r, status) in &mut runs {
            if status.is_none() {
                *status = r.child.try_wait().unwrap();
                pending |= status.is_none();
            }
        }
        if !pending || Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    runs.into_iter()
        .map(|(mut r, status)| {
            let hung = status.is_none();
            if hung {
                let _ = r.child.kill();
            }
            let status = r.child.wait().unwrap();
            let out = Output {
                status,
                stdout: r.stdout.join().unwrap(),
                stderr: r.stderr.join().unwrap(),
            };
            (r.what, (!hung).then_some(out))
        })
        .collect()
}

/// Runs one command to its end, or fails the test if it hangs.
fn finish(what: &str, child: Child) -> Output {
    let (_, out) = finish_all(vec![Running::new(what, child)]).pop().unwrap();
    out.unwrap_or_else(|| panic!("{what}: still running after {HANG:?}: hung"))
}

fn shorten(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    match text.char_indices().nth(300) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.into_owned(),
    }
}

/// Whether `out` is a clean refusal that says `needle`: exit code 1 (a
/// file that cannot be used is an I/O error), never a signal or a panic, exactly one line on stderr, `caro-analyze: error:
/// …`, holding `needle`. Returns the line, or what is wrong.
fn refusal(out: &Output, needle: &str) -> Result<String, String> {
    let err = String::from_utf8_lossy(&out.stderr);
    if let Some(signal) = out.status.signal() {
        return Err(format!("killed by signal {signal}; stderr: {err:?}"));
    }
    if err.contains("panicked") || err.contains("RUST_BACKTRACE") {
        return Err(format!("panicked: {err:?}"));
    }
    match out.status.code() {
        Some(1) => {}
        Some(0) => {
            return Err(format!(
                "succeeded (expected a refusal saying {needle:?}); stdout: {:?}; stderr: {err:?}",
                shorten(&out.stdout)
            ))
        }
        code => return Err(format!("exit code {code:?}; stderr: {err:?}")),
    }
    let lines: Vec<&str> = err.lines().collect();
    if lines.len() != 1 || !err.ends_with('\n') {
        return Err(format!("not exactly one line on stderr: {err:?}"));
    }
    let line = lines[0];
    if !line.starts_with("caro-analyze: error: ") {
        return Err(format!("{line:?} is not an error line"));
    }
    if !line.contains(needle) {
        return Err(format!("{line:?} does not say {needle:?}"));
    }
    Ok(line.to_owned())
}

/// What is wrong with `out` as a refusal saying `needle`, if anything
/// (the line is shown when it is one).
fn said(out: &Output, what: &str, needle: &str) -> Option<String> {
    match refusal(out, needle) {
        Ok(line) => {
            eprintln!("{what}: {line}");
            None
        }
        Err(e) => Some(format!("{what}: {e}")),
    }
}

/// Checks that every run was refused, saying `needle`; returns what went
/// wrong, one line per run.
fn all_refused(results: Vec<(String, Option<Output>)>, needle: &str) -> Vec<String> {
    results
        .into_iter()
        .filter_map(|(what, out)| match out {
            None => Some(format!("{what}: still running after {HANG:?}: hung")),
            Some(out) => said(&out, &what, needle),
        })
        .collect()
}

fn assert_no_problems(problems: &[String], what: &str) {
    assert!(
        problems.is_empty(),
        "{what}: {} problems:\n  {}",
        problems.len(),
        problems.join("\n  ")
    );
}

/// Kills and reaps its child when dropped: a failing test leaves no
/// server or follower running.
struct Reaper(Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits up to [`HANG`] for `done`.
fn wait_until(mut done: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < HANG {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    done()
}

// ---------------------------------------------------------------------------
// The ring path.

/// The commands that read the ring.
const RING_READERS: &[&[&str]] = &[
    &["status"],
    &["status", "--json"],
    &["logs"],
    &["logs", "--format", "json"],
    &["logs", "--follow"],
    &["ingest"],
    &["report"],
    &["report", "--json"],
    &["traces"],
    &["export", "--format", "jsonl"],
    &["export", "--format", "prometheus"],
    &["telemetry", "preview"],
];

#[test]
fn a_pipe_at_the_ring_path_fails_every_command_promptly_in_one_line() {
    let mut homes = Vec::new();
    let mut runs = Vec::new();
    for &args in RING_READERS {
        // At the default path, in a data folder of our own.
        let home = DataDir::new();
        private_dir(&home.caro_dir());
        mkfifo(&home.ring());
        runs.push(Running::new(
            format!("{} (a pipe at the default ring path)", args.join(" ")),
            home.spawn_analyze(args),
        ));
        homes.push(home);
        // Through --ring (which `telemetry preview` does not take), with
        // no data folder yet.
        if args[0] != "telemetry" {
            let home = DataDir::new();
            let pipe = home.path().join("pipe.ring");
            mkfifo(&pipe);
            runs.push(Running::new(
                format!("{} --ring PIPE", args.join(" ")),
                home.spawn_analyze(&with_ring(args, &pipe)),
            ));
            homes.push(home);
        }
    }
    let mut problems = all_refused(finish_all(runs), "not a regular file");
    for home in &homes {
        let ring = home.ring();
        if exists(&ring) && !fs::symlink_metadata(&ring).unwrap().file_type().is_fifo() {
            problems.push(format!("{} was replaced", ring.display()));
        }
    }
    assert_no_problems(&problems, "a pipe at the ring path");
}

#[test]
fn a_socket_folder_or_device_at_the_ring_path_is_not_a_regular_file() {
    let commands: &[&[&str]] = &[
        &["status", "--json"],
        &["logs", "--format", "json"],
        &["ingest"],
        &["report", "--json"],
    ];
    type Plant = Box<dyn Fn(&Path)>;
    let mut kinds: Vec<(&str, Plant)> = vec![
        (
            "a socket",
            Box::new(|p: &Path| drop(UnixListener::bind(p).unwrap())),
        ),
        ("a folder", Box::new(private_dir)),
    ];
    if is_root() {
        kinds.push(("a device", Box::new(mknod_zero)));
    } else {
        eprintln!("a device at the default ring path skipped: mknod needs root");
    }
    let mut homes = Vec::new();
    let mut runs = Vec::new();
    for (kind, plant) in &kinds {
        for &args in commands {
            let home = DataDir::new();
            private_dir(&home.caro_dir());
            plant(&home.ring());
            runs.push(Running::new(
                format!("{} with {kind} at the default ring path", args.join(" ")),
                home.spawn_analyze(args),
            ));
            homes.push(home);
            let home = DataDir::new();
            let path = home.path().join("odd.ring");
            plant(&path);
            runs.push(Running::new(
                format!("{} --ring ({kind})", args.join(" ")),
                home.spawn_analyze(&with_ring(args, &path)),
            ));
            homes.push(home);
        }
    }
    // A device any user can name: endless zeros, if read.
    for &args in commands {
        let home = DataDir::new();
        runs.push(Running::new(
            format!("{} --ring /dev/zero", args.join(" ")),
            home.spawn_analyze(&with_ring(args, Path::new("/dev/zero"))),
        ));
        homes.push(home);
    }
    let problems = all_refused(finish_all(runs), "not a regular file");
    assert_no_problems(&problems, "a socket, folder or device at the ring path");
}

#[test]
fn a_symbolic_link_at_the_ring_path_is_refused() {
    let bytes = ring_bytes(5);
    let commands: &[&[&str]] = &[
        &["status", "--json"],
        &["logs", "--format", "json"],
        &["ingest"],
        &["report", "--json"],
        &["export", "--format", "jsonl"],
    ];
    let mut homes = Vec::new();
    let mut runs = Vec::new();
    for &args in commands {
        // The default path, a link to a real ring beside the data folder.
        let home = DataDir::new();
        private_dir(&home.caro_dir());
        let real = home.path().join("real.ring");
        fs::write(&real, &bytes).unwrap();
        symlink(&real, &home.ring());
        runs.push(Running::new(
            format!("{} (a link at the default ring path)", args.join(" ")),
            home.spawn_analyze(args),
        ));
        homes.push((home, real.clone()));
        // --ring LINK.
        let home = DataDir::new();
        let real = home.path().join("real.ring");
        fs::write(&real, &bytes).unwrap();
        let link = home.path().join("link.ring");
        symlink(&real, &link);
        runs.push(Running::new(
            format!("{} --ring LINK", args.join(" ")),
            home.spawn_analyze(&with_ring(args, &link)),
        ));
        homes.push((home, real));
    }
    let mut problems = all_refused(finish_all(runs), "symbolic link");
    for (_, real) in &homes {
        if fs::read(real).unwrap() != bytes {
            problems.push(format!("{} was written through the link", real.display()));
        }
    }
    // The ring the links point at is one the analyzer reads: it was the
    // link that was refused.
    let (home, real) = &homes[0];
    home.analyze_ok(&["status", "--ring", real.to_str().unwrap()]);
    assert_no_problems(&problems, "a symbolic link at the ring path");
}

/// `GET path` over HTTP/1.0; the status code and the body, or why none
/// came within [`HANG`].
fn get(addr: SocketAddr, path: &str) -> Result<(u16, String), String> {
    let started = Instant::now();
    let fail = |e: std::io::Error| {
        format!(
            "GET {path}: no answer ({e}) after {:.1} s",
            started.elapsed().as_secs_f64()
        )
    };
    let mut s = TcpStream::connect_timeout(&addr, HANG).map_err(fail)?;
    s.set_read_timeout(Some(HANG)).unwrap();
    s.set_write_timeout(Some(HANG)).unwrap();
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .map_err(fail)?;
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).map_err(fail)?;
    if started.elapsed() > HANG {
        return Err(format!("GET {path}: answered only after {HANG:?}"));
    }
    let text = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("GET {path}: not an HTTP answer: {text:?}"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("GET {path}: no status in {head:?}"))?;
    Ok((status, body.to_owned()))
}

/// Runs `serve` in `home` with `ring_args`, a pipe at its ring path: it
/// must answer /healthz with 200 and /metrics with a one-line 500, twice
/// over, then stop on SIGTERM with exit code 0.
fn serve_on_a_pipe(home: &DataDir, ring_args: &[&str], what: &str) {
    let mut args = vec!["serve", "--listen", "127.0.0.1:0"];
    args.extend(ring_args);
    let mut child = home.spawn_analyze(&args);
    let stderr = child.stderr.take().unwrap();
    let stdout = drain(child.stdout.take().unwrap());
    let mut server = Reaper(child);
    let (tx, rx) = mpsc::channel();
    let lines = std::thread::spawn(move || {
        let mut all = Vec::new();
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line.clone());
            all.push(line);
        }
        all
    });
    let first = rx
        .recv_timeout(HANG)
        .unwrap_or_else(|e| panic!("{what}: serve said nowhere it listens ({e})"));
    let addr: SocketAddr = first
        .strip_prefix("serving http://")
        .and_then(|rest| rest.strip_suffix("/metrics"))
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("{what}: serve's first line: {first:?}"));

    for round in 1..=2 {
        let at = format!("{what}, round {round}");
        let (status, body) = get(addr, "/healthz").unwrap_or_else(|e| panic!("{at}: {e}"));
        assert_eq!(status, 200, "{at}: /healthz: {body:?}");
        let (status, body) = get(addr, "/metrics").unwrap_or_else(|e| panic!("{at}: {e}"));
        assert_eq!(status, 500, "{at}: /metrics: {body:?}");
        assert!(
            body.ends_with('\n') && body.lines().count() == 1,
            "{at}: /metrics answered 500 with other than one line: {body:?}"
        );
        assert!(
            body.contains("not a regular file"),
            "{at}: /metrics: {body:?}"
        );
        eprintln!("{at}: /metrics: 500 {}", body.trim_end());
    }
    let (status, _) = get(addr, "/healthz").unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(status, 200, "{what}: /healthz after the scrapes");

    // SAFETY: kill(2) on the pid of our own child, not yet waited for, so
    // the pid cannot have been reused.
    let r = unsafe { libc::kill(server.0.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(r, 0, "SIGTERM: {}", std::io::Error::last_os_error());
    let stopped = wait_until(|| server.0.try_wait().unwrap().is_some());
    assert!(
        stopped,
        "{what}: serve still running {HANG:?} after SIGTERM"
    );
    let status = server.0.wait().unwrap();
    let said = lines.join().unwrap();
    let _ = stdout.join();
    assert_eq!(
        status.code(),
        Some(0),
        "{what}: serve stopped by SIGTERM ({status}); stderr: {said:?}"
    );
}

#[test]
fn serve_answers_health_and_a_one_line_500_while_the_ring_is_a_pipe() {
    let home = DataDir::new();
    private_dir(&home.caro_dir());
    mkfifo(&home.ring());
    serve_on_a_pipe(&home, &[], "a pipe at the default ring path");

    let home = DataDir::new();
    let pipe = home.path().join("pipe.ring");
    mkfifo(&pipe);
    serve_on_a_pipe(&home, &with_ring(&[], &pipe), "--ring PIPE");
}

/// The request ids of the JSON log lines in `lines` (lines that do not
/// parse, such as one cut short, are left out).
fn request_ids(lines: &[String]) -> BTreeSet<u64> {
    lines
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["fields"]["request_id"].as_u64())
        .collect()
}

#[test]
fn a_follower_survives_a_pipe_renamed_over_its_ring() {
    let home = small_home();
    sim(&home, 1, None);
    // Request ids are seed × 1 000 000 + a count.
    let first = 1_000_000..2_000_000;
    let second = 2_000_000..3_000_000;
    let next_ring = ring_bytes(2);

    // `-n`: the ring's history first (a follower starts from now).
    let mut child = home.spawn_analyze(&["logs", "--follow", "-n", "1000000", "--format", "json"]);
    let stdout = child.stdout.take().unwrap();
    let stderr = drain(child.stderr.take().unwrap());
    let mut follower = Reaper(child);
    let printed = Arc::new(Mutex::new(Vec::<String>::new()));
    let reader = {
        let printed = Arc::clone(&printed);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                printed.lock().unwrap().push(line);
            }
        })
    };
    let saw = |ids: &std::ops::Range<u64>| {
        request_ids(&printed.lock().unwrap())
            .iter()
            .any(|id| ids.contains(id))
    };
    assert!(
        wait_until(|| saw(&first)),
        "the follower printed nothing of the first ring"
    );

    // A pipe renamed over the ring, for a second.
    let pipe = home.caro_dir().join("swap.pipe");
    mkfifo(&pipe);
    fs::rename(&pipe, home.ring()).unwrap();
    std::thread::sleep(Duration::from_secs(1));
    if let Some(status) = follower.0.try_wait().unwrap() {
        panic!("logs --follow ended ({status}) once a pipe replaced its ring");
    }
    // Then a real ring, with other records, renamed back.
    let next = home.caro_dir().join("next.ring");
    fs::write(&next, &next_ring).unwrap();
    set_mode(&next, 0o600);
    fs::rename(&next, home.ring()).unwrap();
    let followed = wait_until(|| saw(&second));
    let ended = follower.0.try_wait().unwrap();
    let _ = follower.0.kill();
    let status = follower.0.wait().unwrap();
    reader.join().unwrap();
    let err = String::from_utf8_lossy(&stderr.join().unwrap()).into_owned();
    assert!(
        ended.is_none(),
        "logs --follow ended ({status}) after the ring came back; stderr: {err:?}"
    );
    assert!(
        followed,
        "logs --follow printed none of the ring renamed over the pipe within {HANG:?}: \
         it hung on the pipe; stderr: {err:?}"
    );
    for line in err.lines() {
        assert!(
            line.starts_with("caro-analyze: "),
            "the follower said {line:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// The data folder.

/// The commands that keep data in the data folder, or read the store.
const FOLDER_USERS: &[&[&str]] = &[
    &["ingest"],
    &["report"],
    &["traces"],
    &["export", "--format", "jsonl"],
    &["gc"],
    &["clear", "--yes"],
    &["telemetry", "enable"],
    &["telemetry", "preview"],
];

/// Runs each of [`FOLDER_USERS`] in `home` through `start`; checks each is
/// refused in one line saying `needle` and that nothing under the data
/// folder changed (every entry's bytes, mode and owner, and the listing).
/// Returns what went wrong.
fn refused_leaving_no_trace(
    home: &DataDir,
    needle: &str,
    start: &dyn Fn(&[&str]) -> Child,
) -> Vec<String> {
    let mut problems = Vec::new();
    let before = tree(&home.caro_dir());
    for &args in FOLDER_USERS {
        let what = args.join(" ");
        let result = finish_all(vec![Running::new(what.clone(), start(args))]);
        problems.extend(all_refused(result, needle));
        let changed = changes(&before, &tree(&home.caro_dir()));
        if !changed.is_empty() {
            problems.push(format!(
                "{what} changed the data folder: {}",
                changed.join("; ")
            ));
            // What follows would run in another folder than the one set up.
            break;
        }
    }
    problems
}

#[test]
fn another_users_data_folder_is_refused_and_left_as_it_was() {
    if !is_root() {
        eprintln!(
            "skipped: giving the data folder to another user needs root \
             (a folder open to others is tested without it)"
        );
        return;
    }
    let home = lived_in_home();
    let dir = home.caro_dir();
    std::os::unix::fs::chown(&dir, Some(NOBODY), Some(NOBODY)).unwrap();
    let problems = refused_leaving_no_trace(&home, "belongs to another user", &|args| {
        home.spawn_analyze(args)
    });
    // Ours again, the same folder is used: it was its owner that was
    // refused.
    std::os::unix::fs::chown(&dir, Some(0), Some(0)).unwrap();
    let ok = home.analyze(&["ingest"]);
    assert_no_problems(&problems, "another user's data folder");
    assert!(
        ok.status.success(),
        "ingest in the folder given back: {}",
        String::from_utf8_lossy(&ok.stderr)
    );
}

#[test]
fn roots_data_folder_is_refused_to_nobody() {
    if !is_root() {
        eprintln!("skipped: running the analyzer as another user needs root");
        return;
    }
    let home = lived_in_home();
    // Readable and searchable by nobody, writable by root alone: only its
    // owner is wrong.
    set_mode(home.path(), 0o755);
    set_mode(&home.caro_dir(), 0o755);
    let problems = refused_leaving_no_trace(&home, "belongs to another user", &|args| {
        let mut c = analyzer(&home, args);
        as_nobody(&mut c);
        c.spawn().unwrap()
    });
    assert_no_problems(&problems, "root's data folder, as nobody");
}

#[test]
fn a_data_folder_writable_by_others_is_refused_and_left_as_it_was() {
    let home = lived_in_home();
    let dir = home.caro_dir();
    let mut problems = Vec::new();
    for mode in [0o777, 0o770, 0o720, 0o702] {
        set_mode(&dir, mode);
        let found = refused_leaving_no_trace(&home, "writable by other users", &|args| {
            home.spawn_analyze(args)
        });
        problems.extend(found.into_iter().map(|p| format!("mode {mode:o}: {p}")));
    }
    // Private again, the same folder is used.
    set_mode(&dir, 0o700);
    let ok = home.analyze(&["ingest"]);
    assert_no_problems(&problems, "a data folder writable by others");
    assert!(
        ok.status.success(),
        "ingest once the folder is 0700 again: {}",
        String::from_utf8_lossy(&ok.stderr)
    );
}

/// Runs `c` (which must succeed) again and again, up to 20 times, until
/// the store's `-wal` and `-shm` were seen while it ran; returns the
/// modes they had, and whether each was a regular file.
fn watch_journal(home: &DataDir, mut c: impl FnMut() -> Command) -> BTreeMap<String, (u32, bool)> {
    let db = home.caro_dir().join("metrics.db");
    let mut seen = BTreeMap::new();
    for _ in 0..20 {
        let mut child = c().spawn().unwrap();
        let stdout = drain(child.stdout.take().unwrap());
        let stderr = drain(child.stderr.take().unwrap());
        let started = Instant::now();
        let status = loop {
            for suffix in ["-wal", "-shm"] {
                if let Ok(m) = fs::symlink_metadata(with_suffix(&db, suffix)) {
                    seen.entry(suffix.to_owned())
                        .or_insert((m.mode() & 0o7777, m.file_type().is_file()));
                }
            }
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            assert!(started.elapsed() < HANG, "hung");
            std::thread::sleep(Duration::from_micros(200));
        };
        let _ = stdout.join();
        let err = stderr.join().unwrap();
        assert!(
            status.success(),
            "failed ({status}): {}",
            String::from_utf8_lossy(&err)
        );
        if seen.len() == 2 {
            break;
        }
    }
    seen
}

#[test]
fn everything_the_analyzer_creates_is_private_even_under_umask_0() {
    // The ring lives elsewhere: the analyzer makes the data folder.
    let source = small_home();
    sim_panics(&source, Some(DAY1_START));
    let ring = source.ring();
    let home = DataDir::new();
    let run = |args: &[&str], now: &str| {
        let mut c = analyzer(&home, args);
        c.env("CARO_NOW", now);
        umask_0(&mut c);
        let out = finish(&args.join(" "), c.spawn().unwrap());
        assert!(
            out.status.success(),
            "{} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&with_ring(&["ingest"], &ring), DAY1_NOW);
    // Day 2: day 1's telemetry.log is archived; the store's journal files
    // are looked at while it runs.
    sim(&source, 4, Some(DAY2_START));
    let journal = watch_journal(&home, || {
        let mut c = analyzer(&home, &with_ring(&["ingest"], &ring));
        c.env("CARO_NOW", DAY2_NOW);
        umask_0(&mut c);
        c
    });
    run(&["telemetry", "enable"], DAY2_NOW);
    let exported = home.path().join("export.jsonl");
    run(
        &with_ring(
            &[
                "export",
                "--format",
                "jsonl",
                "-o",
                exported.to_str().unwrap(),
            ],
            &ring,
        ),
        DAY2_NOW,
    );

    let mut problems = Vec::new();
    let t = tree(&home.caro_dir());
    for (name, node) in &t {
        let shown = if name.as_os_str().is_empty() {
            "the data folder".to_owned()
        } else {
            name.display().to_string()
        };
        match node {
            Node::Folder { mode, uid, .. } | Node::File { mode, uid, .. } => {
                let want = if matches!(node, Node::Folder { .. }) {
                    0o700
                } else {
                    0o600
                };
                if *mode != want {
                    problems.push(format!("{shown} has mode {mode:o}, not {want:o}"));
                }
                if *uid != euid() {
                    problems.push(format!("{shown} belongs to uid {uid}"));
                }
            }
            other => problems.push(format!("{shown} is a {}", other.describe())),
        }
    }
    for name in [
        "metrics.db",
        "telemetry.log",
        DAY1_ARCHIVE,
        "telemetry.json",
        "crashes",
    ] {
        if !t.contains_key(Path::new(name)) {
            problems.push(format!("no {name} was made"));
        }
    }
    let snapshots: Vec<_> = t
        .iter()
        .filter(|(n, node)| {
            n.starts_with("crashes")
                && n.to_string_lossy().ends_with(".ring.zst")
                && matches!(node, Node::File { .. })
        })
        .collect();
    if snapshots.is_empty() {
        problems.push(format!(
            "no crash snapshot (a regular *.ring.zst) in crashes/: {:?}",
            t.keys().collect::<Vec<_>>()
        ));
    }
    for suffix in ["-wal", "-shm"] {
        match journal.get(suffix) {
            None => problems.push(format!(
                "metrics.db{suffix} was never seen during 20 ingests"
            )),
            Some((mode, regular)) => {
                if *mode != 0o600 || !regular {
                    problems.push(format!(
                        "metrics.db{suffix} had mode {mode:o} (regular file: {regular})"
                    ));
                }
            }
        }
    }
    let m = fs::symlink_metadata(&exported).unwrap();
    if !m.is_file() || m.mode() & 0o7777 != 0o600 || m.len() == 0 {
        problems.push(format!(
            "export -o made a file of mode {:o}, {} bytes",
            m.mode() & 0o7777,
            m.len()
        ));
    }
    eprintln!(
        "made: {}",
        t.iter()
            .map(|(n, node)| format!("{} ({})", n.display(), node.describe()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    assert_no_problems(&problems, "what the analyzer made under umask 0");
}

// ---------------------------------------------------------------------------
// Links and pipes where the analyzer writes.

#[test]
fn a_symbolic_link_at_the_store_is_refused_and_its_target_untouched() {
    let bytes = ring_bytes(6);
    let mut problems = Vec::new();
    for args in [&["ingest"][..], &["report", "--json"], &["gc"]] {
        let what = args.join(" ");
        // A link to a file of the user's.
        let home = DataDir::new();
        put_ring(&home, &bytes);
        let target = precious(&home.path().join("precious"));
        symlink(&target, &home.caro_dir().join("metrics.db"));
        let out = finish(&what, home.spawn_analyze(args));
        problems.extend(said(
            &out,
            &format!("{what} (link to a file)"),
            "symbolic link",
        ));
        problems.extend(untouched(&target).err().map(|e| format!("{what}: {e}")));

        // A dangling link, into a folder that exists.
        let home = DataDir::new();
        put_ring(&home, &bytes);
        let target = home.path().join("new.db");
        symlink(&target, &home.caro_dir().join("metrics.db"));
        let before = listing(home.path());
        let out = finish(&what, home.spawn_analyze(args));
        problems.extend(said(
            &out,
            &format!("{what} (dangling link)"),
            "symbolic link",
        ));
        problems.extend(never_made(&target).err().map(|e| format!("{what}: {e}")));
        let after = listing(home.path());
        if after != before {
            problems.push(format!(
                "{what}: beside the link's target, {before:?} became {after:?}"
            ));
        }
    }
    assert_no_problems(&problems, "a symbolic link at metrics.db");
}

#[test]
fn symbolic_links_at_the_store_journal_files_are_refused() {
    let mut problems = Vec::new();
    for suffix in ["-wal", "-shm", "-journal"] {
        for dangling in [false, true] {
            let what = format!(
                "ingest with metrics.db{suffix} a {}link",
                if dangling { "dangling " } else { "" }
            );
            // An existing store, and new records to fold into it.
            let home = small_home();
            sim(&home, 7, None);
            home.analyze_ok(&["ingest"]);
            sim(&home, 8, None);
            let link = with_suffix(&home.caro_dir().join("metrics.db"), suffix);
            if exists(&link) {
                fs::remove_file(&link).unwrap();
            }
            let gone = format!("gone{suffix}");
            problems.extend(ingest_refuses_link(&home, &link, dangling, &gone, &what));
        }
    }
    assert_no_problems(&problems, "links at the store's journal files");
}

#[test]
fn a_symbolic_link_at_telemetry_log_is_refused() {
    let mut problems = Vec::new();
    let cases = [
        ("before the first ingest, to a file", false, false),
        ("after an ingest, to a file", true, false),
        ("before the first ingest, dangling", false, true),
    ];
    for (when, ingested, dangling) in cases {
        let what = format!("ingest with telemetry.log a link {when}");
        let home = small_home();
        sim(&home, 9, None);
        let log = home.caro_dir().join("telemetry.log");
        if ingested {
            home.analyze_ok(&["ingest"]);
            sim(&home, 10, None);
            fs::remove_file(&log).unwrap();
        }
        problems.extend(ingest_refuses_link(
            &home, &log, dangling, "gone.log", &what,
        ));
    }
    assert_no_problems(&problems, "a symbolic link at telemetry.log");
}

#[test]
fn a_symbolic_link_at_crashes_is_refused_and_nothing_lands_there() {
    // Nothing planted, the same session writes a snapshot: the ring holds
    // a panic.
    let control = small_home();
    sim_panics(&control, None);
    control.analyze_ok(&["ingest"]);
    let made = listing(&control.caro_dir().join("crashes"));
    assert!(
        made.iter().any(|n| n.ends_with(".ring.zst")),
        "a panic ingested wrote no snapshot: {made:?}"
    );

    let mut problems = Vec::new();
    // A link to a folder of the user's.
    let home = small_home();
    sim_panics(&home, None);
    let elsewhere = home.path().join("elsewhere");
    private_dir(&elsewhere);
    symlink(&elsewhere, &home.caro_dir().join("crashes"));
    let out = finish("ingest", home.spawn_analyze(&["ingest"]));
    problems.extend(said(
        &out,
        "ingest (crashes a link to a folder)",
        "symbolic link",
    ));
    let landed = listing(&elsewhere);
    if !landed.is_empty() {
        problems.push(format!("the snapshot went through the link: {landed:?}"));
    }

    // A dangling link.
    let home = small_home();
    sim_panics(&home, None);
    let gone = home.path().join("gone");
    symlink(&gone, &home.caro_dir().join("crashes"));
    let out = finish("ingest", home.spawn_analyze(&["ingest"]));
    problems.extend(said(
        &out,
        "ingest (crashes a dangling link)",
        "symbolic link",
    ));
    if exists(&gone) {
        problems.push(format!("{} was created through the link", gone.display()));
    }
    assert_no_problems(&problems, "a symbolic link at crashes/");
}

#[test]
fn after_a_panic_ingest_the_snapshot_is_a_private_regular_file() {
    let home = small_home();
    sim_panics(&home, None);
    home.analyze_ok(&["ingest"]);
    let crashes = home.caro_dir().join("crashes");
    let m = fs::symlink_metadata(&crashes).unwrap();
    assert!(m.is_dir(), "crashes/ is not a folder");
    let mode = m.mode() & 0o7777;
    assert_eq!(mode, 0o700, "crashes/'s mode is {mode:o}");
    let names = listing(&crashes);
    let snapshots: Vec<_> = names.iter().filter(|n| n.ends_with(".ring.zst")).collect();
    assert!(!snapshots.is_empty(), "no snapshot in crashes/: {names:?}");
    for name in snapshots {
        let p = crashes.join(name);
        let m = fs::symlink_metadata(&p).unwrap();
        assert!(m.is_file(), "{name} is not a regular file");
        let mode = m.mode() & 0o7777;
        assert_eq!(mode, 0o600, "{name}'s mode is {mode:o}");
        assert_eq!(m.uid(), euid(), "{name}'s owner");
        let ring = zstd::decode_all(fs::File::open(&p).unwrap()).unwrap();
        assert!(ring.len() > 4096, "{name} holds no ring");
    }
}

#[test]
fn a_symbolic_link_or_pipe_at_the_day_archive_is_refused() {
    type Plant = Box<dyn Fn(&DataDir, &Path) -> Option<PathBuf>>;
    let cases: Vec<(&str, &str, Plant)> = vec![
        (
            "a link to a file",
            "symbolic link",
            Box::new(|home: &DataDir, at: &Path| {
                let target = precious(&home.path().join("precious"));
                symlink(&target, at);
                Some(target)
            }),
        ),
        (
            "a dangling link",
            "symbolic link",
            Box::new(|home: &DataDir, at: &Path| {
                let target = home.path().join("gone.zst");
                symlink(&target, at);
                Some(target)
            }),
        ),
        (
            "a pipe",
            "not a regular file",
            Box::new(|_: &DataDir, at: &Path| {
                mkfifo(at);
                None
            }),
        ),
    ];
    let mut runs = Vec::new();
    let mut homes = Vec::new();
    for (kind, _, plant) in &cases {
        let home = day2_home();
        let archive = home.caro_dir().join(DAY1_ARCHIVE);
        let target = plant(&home, &archive);
        let log = fs::read(home.caro_dir().join("telemetry.log")).unwrap();
        runs.push(Running::new(
            format!("the day-2 ingest with {kind} at {DAY1_ARCHIVE}"),
            home.spawn_analyze(&["ingest"]),
        ));
        homes.push((home, target, log));
    }
    // Nothing planted: the same ingest archives day 1 there.
    let control = day2_home();
    runs.push(Running::new(
        "the day-2 ingest with nothing planted",
        control.spawn_analyze(&["ingest"]),
    ));

    let mut results = finish_all(runs);
    let (what, out) = results.pop().unwrap();
    let out = out.unwrap_or_else(|| panic!("{what}: hung"));
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let archived = fs::symlink_metadata(control.caro_dir().join(DAY1_ARCHIVE));
    assert!(
        archived.is_ok_and(|m| m.is_file()),
        "{what}: day 1 was not archived at {DAY1_ARCHIVE}"
    );

    let mut problems = Vec::new();
    for (((what, out), (kind, needle, _)), (home, target, log)) in
        results.into_iter().zip(&cases).zip(&homes)
    {
        let found = all_refused(vec![(what.clone(), out)], needle);
        let was_refused = found.is_empty();
        problems.extend(found);
        let kept = match target {
            Some(t) if *kind == "a dangling link" => never_made(t),
            Some(t) => untouched(t),
            None => {
                let m = fs::symlink_metadata(home.caro_dir().join(DAY1_ARCHIVE));
                if m.is_ok_and(|m| m.file_type().is_fifo()) {
                    Ok(())
                } else {
                    Err("the pipe was replaced".to_owned())
                }
            }
        };
        problems.extend(kept.err().map(|e| format!("{what}: {e}")));
        // Refused, day 1's lines are not archived: they are not lost either.
        let now = fs::read(home.caro_dir().join("telemetry.log")).unwrap_or_default();
        if was_refused && &now != log {
            problems.push(format!(
                "{what}: refused, yet telemetry.log went from {} to {} bytes: day 1's lines lost",
                log.len(),
                now.len()
            ));
        }
    }
    assert_no_problems(&problems, "a link or pipe at the day's archive");
}

#[test]
fn a_symbolic_link_or_pipe_at_telemetry_json_is_refused() {
    let mut runs = Vec::new();
    type Check = Box<dyn Fn() -> Result<(), String>>;
    let mut checks: Vec<(String, Check)> = Vec::new();
    let mut homes = Vec::new();
    for args in [&["telemetry", "enable"][..], &["telemetry", "disable"]] {
        let what = args.join(" ");
        // A link to a file.
        let home = DataDir::new();
        private_dir(&home.caro_dir());
        let target = precious(&home.path().join("precious"));
        symlink(&target, &home.caro_dir().join("telemetry.json"));
        runs.push((
            "symbolic link",
            Running::new(
                format!("{what} (a link to a file)"),
                home.spawn_analyze(args),
            ),
        ));
        let t = target.clone();
        checks.push((
            format!("{what} (a link to a file)"),
            Box::new(move || untouched(&t)),
        ));
        homes.push(home);
        // A dangling link.
        let home = DataDir::new();
        private_dir(&home.caro_dir());
        let target = home.path().join("gone.json");
        symlink(&target, &home.caro_dir().join("telemetry.json"));
        runs.push((
            "symbolic link",
            Running::new(
                format!("{what} (a dangling link)"),
                home.spawn_analyze(args),
            ),
        ));
        checks.push((
            format!("{what} (a dangling link)"),
            Box::new(move || never_made(&target)),
        ));
        homes.push(home);
        // A pipe.
        let home = DataDir::new();
        private_dir(&home.caro_dir());
        let pipe = home.caro_dir().join("telemetry.json");
        mkfifo(&pipe);
        runs.push((
            "not a regular file",
            Running::new(format!("{what} (a pipe)"), home.spawn_analyze(args)),
        ));
        checks.push((
            format!("{what} (a pipe)"),
            Box::new(move || {
                if fs::symlink_metadata(&pipe).is_ok_and(|m| m.file_type().is_fifo()) {
                    Ok(())
                } else {
                    Err("the pipe was replaced".to_owned())
                }
            }),
        ));
        homes.push(home);
    }
    // `telemetry status` reads the choice: it must not wait on a pipe
    // (it may say the choice is unclear, or refuse).
    let home = DataDir::new();
    private_dir(&home.caro_dir());
    mkfifo(&home.caro_dir().join("telemetry.json"));
    let status = Running::new(
        "telemetry status (a pipe at telemetry.json)",
        home.spawn_analyze(&["telemetry", "status"]),
    );
    homes.push(home);

    let needles: Vec<&str> = runs.iter().map(|(n, _)| *n).collect();
    let mut all: Vec<Running> = runs.into_iter().map(|(_, r)| r).collect();
    all.push(status);
    let mut results = finish_all(all);
    let mut problems = Vec::new();
    let (what, out) = results.pop().unwrap();
    match out {
        None => problems.push(format!("{what}: still running after {HANG:?}: hung")),
        Some(out) if out.status.success() => {}
        Some(out) => problems.extend(said(&out, &what, "not a regular file")),
    }
    for ((result, needle), (what, check)) in results.into_iter().zip(needles).zip(&checks) {
        problems.extend(all_refused(vec![result], needle));
        problems.extend(check().err().map(|e| format!("{what}: {e}")));
    }
    assert_no_problems(&problems, "a link or pipe at telemetry.json");
}

#[test]
fn export_output_through_a_link_or_into_a_pipe_is_refused() {
    let home = small_home();
    sim(&home, 11, None);
    home.analyze_ok(&["ingest"]);
    let export = |to: &Path| {
        let out = ["export", "--format", "jsonl", "--no-ingest", "-o"];
        let mut args = out.to_vec();
        args.push(to.to_str().unwrap());
        finish(
            &format!("export -o {}", to.display()),
            home.spawn_analyze(&args),
        )
    };
    let mut problems = Vec::new();

    let target = precious(&home.path().join("precious"));
    let link = home.path().join("link.jsonl");
    symlink(&target, &link);
    problems.extend(said(&export(&link), "export -o LINK", "symbolic link"));
    problems.extend(
        untouched(&target)
            .err()
            .map(|e| format!("export -o LINK: {e}")),
    );

    let gone = home.path().join("gone.jsonl");
    let dangling = home.path().join("dangling.jsonl");
    symlink(&gone, &dangling);
    problems.extend(said(
        &export(&dangling),
        "export -o DANGLING",
        "symbolic link",
    ));
    problems.extend(
        never_made(&gone)
            .err()
            .map(|e| format!("export -o DANGLING: {e}")),
    );

    let pipe = home.path().join("pipe.jsonl");
    mkfifo(&pipe);
    problems.extend(said(&export(&pipe), "export -o PIPE", "not a regular file"));
    if !fs::symlink_metadata(&pipe).is_ok_and(|m| m.file_type().is_fifo()) {
        problems.push("export -o PIPE: the pipe was replaced".to_owned());
    }

    // A plain new file is written, private.
    let plain = home.path().join("plain.jsonl");
    let out = export(&plain);
    assert!(
        out.status.success(),
        "export -o a new file: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m = fs::symlink_metadata(&plain).unwrap();
    assert!(m.is_file() && m.len() > 0, "export -o wrote nothing");
    let mode = m.mode() & 0o7777;
    assert_eq!(mode, 0o600, "export -o made a file of mode {mode:o}");
    assert_no_problems(&problems, "export -o");
}

#[test]
fn pipes_and_folders_where_the_store_or_the_log_should_be_are_refused_promptly() {
    let bytes = ring_bytes(12);
    type Plant = fn(&Path);
    let cases: Vec<(&str, bool, Plant, &[&str])> = vec![
        ("metrics.db", false, mkfifo, &["ingest"]),
        ("metrics.db", false, mkfifo, &["report", "--json"]),
        ("metrics.db", false, mkfifo, &["gc"]),
        ("metrics.db", false, private_dir, &["ingest"]),
        ("metrics.db-wal", true, mkfifo, &["ingest"]),
        ("metrics.db-shm", true, mkfifo, &["ingest"]),
        ("metrics.db-journal", true, mkfifo, &["ingest"]),
        ("telemetry.log", false, mkfifo, &["ingest"]),
        ("telemetry.log", true, mkfifo, &["ingest"]),
    ];
    let mut homes = Vec::new();
    let mut runs = Vec::new();
    for (name, with_store, plant, args) in cases {
        let home = DataDir::new();
        put_ring(&home, &bytes);
        if with_store {
            home.analyze_ok(&["ingest"]);
            // New records for the next ingest.
            sim(&home, 13, None);
        }
        let at = home.caro_dir().join(name);
        if exists(&at) {
            fs::remove_file(&at).unwrap();
        }
        plant(&at);
        let kind = if at.is_dir() { "a folder" } else { "a pipe" };
        let store = if with_store { ", a store made" } else { "" };
        runs.push(Running::new(
            format!("{} with {kind} at {name}{store}", args.join(" ")),
            home.spawn_analyze(args),
        ));
        homes.push(home);
    }
    let problems = all_refused(finish_all(runs), "not a regular file");
    assert_no_problems(&problems, "pipes and folders where files should be");
}

// ---------------------------------------------------------------------------
// Leftover temporaries.

/// Links to precious files at the names of temporaries a killed ingest
/// could leave; returns each link with its target.
fn plant_temporaries(home: &DataDir) -> Vec<(PathBuf, PathBuf)> {
    private_dir(&home.caro_dir().join("crashes"));
    [
        "telemetry.log.2026-03-01.tmp",
        ".telemetry.log.2026-03-01.zst.123.tmp",
        "crashes/x.tmp",
        "crashes/.x.ring.zst.123.tmp",
    ]
    .iter()
    .enumerate()
    .map(|(i, name)| {
        let target = precious(&home.path().join(format!("precious{i}")));
        let link = home.caro_dir().join(name);
        symlink(&target, &link);
        (link, target)
    })
    .collect()
}

/// What is wrong with the planted temporaries now: a link left, a target
/// touched.
fn temporaries_left(planted: &[(PathBuf, PathBuf)]) -> Vec<String> {
    let mut problems = Vec::new();
    for (link, target) in planted {
        if exists(link) {
            problems.push(format!("{} was left", link.display()));
        }
        problems.extend(untouched(target).err());
    }
    problems
}

#[test]
fn leftover_temporaries_are_removed_by_ingest_never_followed() {
    let home = small_home();
    sim_panics(&home, None);
    let planted = plant_temporaries(&home);
    let out = home.analyze_ok(&["ingest"]);
    eprintln!("{}", String::from_utf8_lossy(&out.stdout).trim_end());
    let mut problems = temporaries_left(&planted);
    let crashes = home.caro_dir().join("crashes");
    let snapshots: Vec<_> = listing(&crashes)
        .into_iter()
        .filter(|n| n.ends_with(".ring.zst"))
        .collect();
    if snapshots.is_empty() {
        problems.push(format!(
            "the panic's snapshot was not written: crashes/ holds {:?}",
            listing(&crashes)
        ));
    }
    for name in &snapshots {
        let m = fs::symlink_metadata(crashes.join(name)).unwrap();
        if !m.is_file() || m.mode() & 0o7777 != 0o600 {
            problems.push(format!(
                "{name} has mode {:o} (regular file: {})",
                m.mode() & 0o7777,
                m.is_file()
            ));
        }
    }
    assert_no_problems(&problems, "leftover temporaries at ingest");
}

#[test]
fn leftover_temporaries_are_removed_by_gc_never_followed() {
    let home = small_home();
    sim(&home, 14, None);
    home.analyze_ok(&["ingest"]);
    let planted = plant_temporaries(&home);
    home.analyze_ok(&["gc"]);
    assert_no_problems(&temporaries_left(&planted), "leftover temporaries at gc");
}

// ---------------------------------------------------------------------------
// What must not change.

#[test]
fn a_ring_in_any_folder_is_still_read_and_status_needs_no_data_folder() {
    let bytes = ring_bytes(15);
    // A folder like /tmp: anyone may write in it.
    let open = tempfile::tempdir().unwrap();
    set_mode(open.path(), 0o1777);
    let ring = open.path().join("events.ring");
    fs::write(&ring, &bytes).unwrap();
    set_mode(&ring, 0o644);
    let home = DataDir::new();

    let out = home.analyze_ok(&with_ring(&["status", "--json"], &ring));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(status.is_object(), "{status}");
    let out = home.analyze_ok(&with_ring(&["logs", "--format", "json"], &ring));
    assert!(
        String::from_utf8_lossy(&out.stdout).lines().count() > 10,
        "logs --ring printed too little"
    );
    assert!(
        !exists(&home.caro_dir()),
        "status and logs made a data folder"
    );
    // No home to find a data folder in at all.
    let out = Command::new(&bins().analyze)
        .args(with_ring(&["status"], &ring))
        .env_remove("XDG_CACHE_HOME")
        .env_remove("HOME")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "status --ring without a home: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    home.analyze_ok(&with_ring(&["ingest"], &ring));
    let out = home.analyze_ok(&with_ring(&["report", "--json", "--no-ingest"], &ring));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        report["requests"].as_u64().unwrap_or(0) > 0,
        "the ring's requests were not ingested: {report}"
    );
    assert_eq!(fs::read(&ring).unwrap(), bytes, "the ring was written");
}
