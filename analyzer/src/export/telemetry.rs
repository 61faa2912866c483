//! `caro-analyze telemetry`: the user's choice about sharing anonymous
//! aggregates with caro's authors, and exactly what they would be.
//!
//! Nothing is ever sent by this project: there is no sender. The choice is
//! kept for the day caro has one, and `preview` shows the whole bundle that
//! would go — counts, success rate, backend shares and latencies, error
//! categories, recorder health, caro's version and the OS family — built
//! from an allow-list of figures, never from the events themselves.
//!
//! The choice is off unless something turns it on, and any "off" wins
//! over any "on": the `--no-telemetry` flag, `CARO_TELEMETRY=0` (also
//! `off`, `false`, `no`; a value not understood counts as off) and
//! `enabled: false` in `telemetry.json` beside the data each turn it off;
//! `CARO_TELEMETRY=1` or `enable` turn it on only when nothing says off.
//!
//! ```
//! use caro_analyze::export::telemetry::{effective, Choice};
//!
//! let s = effective(false, Some("0"), Choice::On);
//! assert!(!s.enabled);
//! assert_eq!(s.why, "CARO_TELEMETRY=0 turns it off (any \"off\" wins over telemetry.json's \"on\")");
//! ```

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::report::Report;
use crate::store::ingest::{self, DataPaths};
use crate::store::Store;

/// The environment variable that turns sharing on or off.
pub const ENV: &str = "CARO_TELEMETRY";
/// The file in the data folder that keeps the user's choice.
pub const CONFIG_FILE: &str = "telemetry.json";
/// The days the bundle covers.
pub const WINDOW_DAYS: u64 = 7;

/// What one source says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice {
    On,
    Off,
    /// Says nothing.
    Unset,
    /// Says something not understood: counts as off.
    Unclear,
}

/// The effective state, and why in one line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct State {
    pub enabled: bool,
    pub why: String,
}

/// What `CARO_TELEMETRY`'s value says.
pub fn env_choice(value: Option<&str>) -> Choice {
    match value.map(|v| v.trim().to_ascii_lowercase()) {
        None => Choice::Unset,
        Some(v) if v.is_empty() => Choice::Unset,
        Some(v) if ["0", "off", "false", "no"].contains(&v.as_str()) => Choice::Off,
        Some(v) if ["1", "on", "true", "yes"].contains(&v.as_str()) => Choice::On,
        Some(_) => Choice::Unclear,
    }
}

/// Combines the flag (`flag_off`), the environment variable's value and
/// the config file's choice: off unless one says on and none says off.
pub fn effective(flag_off: bool, env: Option<&str>, config: Choice) -> State {
    let env_text = format!("{ENV}={}", env.unwrap_or_default().trim());
    let mut offs = Vec::new();
    let mut ons = Vec::new();
    if flag_off {
        offs.push("--no-telemetry turns it off".to_owned());
    }
    match env_choice(env) {
        Choice::Off => offs.push(format!("{env_text} turns it off")),
        Choice::Unclear => offs.push(format!("{env_text} is not 0 or 1, so it counts as off")),
        Choice::On => ons.push(env_text),
        Choice::Unset => {}
    }
    match config {
        Choice::Off => offs.push(format!("{CONFIG_FILE} says off")),
        Choice::Unclear => offs.push(format!("{CONFIG_FILE} cannot be read, so it counts as off")),
        Choice::On => ons.push(format!("{CONFIG_FILE}'s \"on\"")),
        Choice::Unset => {}
    }
    let why = match (offs.is_empty(), ons.is_empty()) {
        (true, true) => "the default; nothing turns it on".to_owned(),
        (true, false) => format!("turned on by {}", ons.join(" and ")),
        (false, true) => offs.join("; "),
        (false, false) => format!(
            "{} (any \"off\" wins over {})",
            offs.join("; "),
            ons.join(" and ")
        ),
    };
    State {
        enabled: offs.is_empty() && !ons.is_empty(),
        why,
    }
}

/// The config file's contents.
#[derive(Debug, Serialize, Deserialize)]
struct Config {
    enabled: bool,
}

/// The config file in the data folder `paths`.
pub fn config_path(paths: &DataPaths) -> PathBuf {
    paths.dir.join(CONFIG_FILE)
}

/// What the config file at `path` says.
pub fn read_choice(path: &Path) -> Choice {
    let read = || -> Result<Vec<u8>> {
        let mut bytes = Vec::new();
        // A choice is a few bytes: a larger file is not one.
        crate::files::open_read(path)?
            .take(4096)
            .read_to_end(&mut bytes)
            .map_err(|source| Error::Read {
                path: path.to_owned(),
                source,
            })?;
        Ok(bytes)
    };
    match read() {
        Err(Error::NotFound { .. }) => Choice::Unset,
        Err(_) => Choice::Unclear,
        Ok(bytes) => match serde_json::from_slice::<Config>(&bytes) {
            Ok(Config { enabled: true }) => Choice::On,
            Ok(Config { enabled: false }) => Choice::Off,
            Err(_) => Choice::Unclear,
        },
    }
}

/// Keeps the user's choice in the config file (mode 0600).
pub fn write_choice(paths: &DataPaths, enabled: bool) -> Result<()> {
    crate::files::data_folder(&paths.dir)?;
    let text = serde_json::to_string(&Config { enabled }).unwrap_or_default() + "\n";
    crate::files::write_atomically(&config_path(paths), text.as_bytes())
}

/// The effective state for this process: its flag, its environment and
/// the config file.
pub fn state(paths: &DataPaths, flag_off: bool) -> State {
    let env = std::env::var(ENV).ok();
    effective(flag_off, env.as_deref(), read_choice(&config_path(paths)))
}

/// A backend's share of requests and its latencies.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BackendFigures {
    pub share: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
}

/// The recorder's health over the window.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Health {
    pub written: u64,
    pub lost: u64,
    pub abandoned: u64,
    pub dropped: u64,
    pub corrupt: u64,
}

/// Everything that would be shared, and nothing else.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Bundle {
    pub caro_version: Option<String>,
    pub os_family: &'static str,
    pub window_days: u64,
    pub requests: u64,
    pub success_rate: Option<f64>,
    pub backends: BTreeMap<String, BackendFigures>,
    pub errors: BTreeMap<String, u64>,
    pub recorder: Health,
}

/// Whether `name` may be shared as it is; anything else is counted as
/// `other`. The store's categories already hold only program text or
/// identifiers ([`crate::assemble::label`]); the bundle is stricter still
/// (and so safe with a store an older analyzer wrote): a name starting
/// with a letter that passes the recorder's identifier rule, case aside —
/// `embedded`, `qwen2.5-coder:1.5b`, `BackendTimeout`, never a sentence,
/// a placeholder, an address, a long digit run (an IBAN, a phone number)
/// or anything random-looking.
fn shareable(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic())
        && caro_recorder::privacy::is_identifier(&name.to_ascii_lowercase())
}

/// Whether `v` reads like a version number (`0.1.0`, `1.2.0-beta.1`).
fn version_like(v: &str) -> bool {
    v.starts_with(|c: char| c.is_ascii_digit())
        && v.len() <= 32
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-+".contains(c))
}

impl Bundle {
    /// The bundle over the last [`WINDOW_DAYS`] days of `store`.
    pub fn build(store: &Store, now_ns: u64) -> Result<Bundle> {
        let r = Report::build(store, WINDOW_DAYS, now_ns)?;
        let mut backends = BTreeMap::new();
        for (name, l) in &r.backends {
            let name = if shareable(name) { name } else { "other" };
            // Two names lumped into `other` keep the larger's latencies.
            let figures = BackendFigures {
                share: l.count as f64 / r.requests.max(1) as f64,
                p50_ms: l.p50_ms,
                p95_ms: l.p95_ms,
                p99_ms: l.p99_ms,
            };
            backends
                .entry(name.to_owned())
                .and_modify(|f: &mut BackendFigures| {
                    let share = f.share + figures.share;
                    if figures.share > f.share {
                        *f = figures.clone();
                    }
                    f.share = share;
                })
                .or_insert(figures);
        }
        let mut errors = BTreeMap::new();
        for (name, n) in &r.errors {
            let name = if shareable(name) { name } else { "other" };
            *errors.entry(name.to_owned()).or_default() += n;
        }
        Ok(Bundle {
            caro_version: store
                .meta(ingest::CARO_VERSION)?
                .filter(|v| version_like(v)),
            os_family: std::env::consts::OS,
            window_days: r.window_days,
            requests: r.requests,
            success_rate: r.success_rate(),
            backends,
            errors,
            recorder: Health {
                written: r.recorder.written,
                lost: r.recorder.lost,
                abandoned: r.recorder.abandoned,
                dropped: r.recorder.dropped,
                corrupt: r.recorder.corrupt,
            },
        })
    }
}

/// What `telemetry status` prints.
pub fn status_text(paths: &DataPaths, state: &State) -> String {
    let file = match read_choice(&config_path(paths)) {
        Choice::On => "enabled",
        Choice::Off => "disabled",
        Choice::Unset => "no choice made",
        Choice::Unclear => "unreadable",
    };
    format!(
        "telemetry: {}\nwhy: {}\nchoice file: {} ({file})\n\
         Nothing is sent: this version of caro has no sender. \
         `caro-analyze telemetry preview` prints what would be shared.\n",
        if state.enabled { "on" } else { "off" },
        state.why,
        caro_recorder::paths::shown(&config_path(paths)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_unless_something_says_on() {
        assert!(!effective(false, None, Choice::Unset).enabled);
        assert!(effective(false, None, Choice::On).enabled);
        assert!(effective(false, Some("1"), Choice::Unset).enabled);
        assert!(effective(false, Some(" yes "), Choice::Unset).enabled);
    }

    #[test]
    fn any_off_wins_over_any_on() {
        for (flag, env, config) in [
            (true, Some("1"), Choice::On),
            (false, Some("0"), Choice::On),
            (false, Some("1"), Choice::Off),
            (false, Some("maybe"), Choice::On),
            (false, Some("1"), Choice::Unclear),
            (true, None, Choice::Unset),
        ] {
            let s = effective(flag, env, config);
            assert!(!s.enabled, "{flag} {env:?} {config:?}");
            assert!(s.why.contains("off"), "{}", s.why);
        }
    }

    #[test]
    fn the_reason_names_every_source_that_decided() {
        assert_eq!(
            effective(true, Some("off"), Choice::On).why,
            "--no-telemetry turns it off; CARO_TELEMETRY=off turns it off \
             (any \"off\" wins over telemetry.json's \"on\")"
        );
        assert_eq!(
            effective(false, Some("1"), Choice::On).why,
            "turned on by CARO_TELEMETRY=1 and telemetry.json's \"on\""
        );
        assert_eq!(
            effective(false, Some("maybe"), Choice::Unset).why,
            "CARO_TELEMETRY=maybe is not 0 or 1, so it counts as off"
        );
    }

    #[test]
    fn the_choice_file_round_trips_and_damage_counts_as_off() {
        let dir = tempfile::tempdir().unwrap();
        let paths = DataPaths::in_dir(&dir.path().join("caro"));
        assert_eq!(read_choice(&config_path(&paths)), Choice::Unset);
        write_choice(&paths, true).unwrap();
        assert_eq!(read_choice(&config_path(&paths)), Choice::On);
        write_choice(&paths, false).unwrap();
        assert_eq!(read_choice(&config_path(&paths)), Choice::Off);
        std::fs::write(config_path(&paths), "{enabled: yes").unwrap();
        assert_eq!(read_choice(&config_path(&paths)), Choice::Unclear);
    }

    #[test]
    fn only_identifiers_and_versions_are_shared() {
        for s in [
            "embedded",
            "BackendTimeout",
            "file_search",
            "qwen2.5-coder:1.5b",
            "other",
        ] {
            assert!(shareable(s), "{s}");
        }
        for s in [
            "",
            "<path>",
            "a b",
            "x@y.z",
            "9lives",
            &"a".repeat(41),
            "NL91ABNA0417164300",
            "DE89370400440532013000",
            "someones-macbook-air.local",
            "+4915112345678",
            "Backend timed out",
        ] {
            assert!(!shareable(s), "{s}");
        }
        assert!(version_like("0.1.0") && version_like("1.2.0-beta.1"));
        assert!(!version_like("<secret>") && !version_like("v1 2"));
    }
}
