//! A caro-like host: one request per process, logged the way the real
//! caro logs (`format!`-style messages, no structured fields, no spans),
//! for the test that `caro-analyze logs` on such a host is readable
//! (`tests/tests/caro_like.rs`).
//!
//! ```text
//! cargo run -p caro-recorder --example caro_like -- "list all pdf files in my documents"
//! RUST_LOG=debug cargo run -p caro-recorder --example caro_like -- \
//!     [--backend ollama|embedded] [--offline] QUERY...
//! ```
//!
//! Our own code, not caro's: its callsites are written in the shapes of
//! the crates.io `caro` crate's (`scripts/fetch-caro` downloads that
//! source into `target/caro-src/` to compare), with the same kinds of
//! arguments:
//!
//! - program text: backend names (`&'static str`, or an enum whose
//!   `Display` writes one), enum variants by `Debug` (`RiskLevel`) and by
//!   `Display` (`ConfidenceSource`), a model's name;
//! - numbers: counts, sizes, attempts, `{:.2}` scores, temperatures, and
//!   `Duration`s by `Debug` (`1.234ms`);
//! - personal data: the query, the generated command, paths built at run
//!   time from `$HOME` (the model file, the capability cache), and an
//!   error whose reason is a run-time string.
//!
//! Each module stands for one of caro's, so the targets are
//! `caro_like::agent`, `caro_like::cli`, `caro_like::model_loader`,
//! `caro_like::backends::remote::ollama`, … as caro's are `caro::agent`, ….
//!
//! The request: the backend is chosen (`--backend`, else auto-detected
//! Ollama), the capability profile cached, then the static matcher tries
//! the query (queries about pdf files match); otherwise the backend
//! generates a command (`--offline` makes Ollama fail and fall back to
//! the embedded model, whose first answer does not parse). The command
//! is validated, printed on stdout (as caro prints it) and the process
//! ends as caro's does, with `std::process::exit` — through the recorder's
//! [`Guard::exit`](caro_recorder::Guard::exit), which records the exit and
//! its status first (`--status N` picks it: caro exits non-zero when a
//! command is refused or fails), or, with `--plain-exit`, exactly as caro
//! does, the guard left alive: the recorder's exit hook records it then.
//! Nothing is read or written but the ring.
//!
//! The recorder is configured from the environment (`RUST_LOG=debug`
//! records the `debug!` callsites too, where most of caro's are).

use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};

#[derive(Parser, Debug)]
#[command(about = "Logs one request the way caro does, into the flight recorder")]
struct Args {
    /// The backend the user asks for [default: auto-detect].
    #[arg(long, value_enum)]
    backend: Option<Backend>,
    /// Ollama cannot be reached: fall back to the embedded model.
    #[arg(long)]
    offline: bool,
    /// The status the process ends with.
    #[arg(long, default_value_t = 0)]
    status: i32,
    /// End with `std::process::exit` itself, the guard left alive.
    #[arg(long)]
    plain_exit: bool,
    /// The request, in plain words.
    #[arg(required = true)]
    query: Vec<String>,
}

/// A backend, written by `Display` as its `&'static str` name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Backend {
    Ollama,
    Embedded,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Ollama => "ollama",
            Backend::Embedded => "embedded",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a command may do, logged by `Debug`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RiskLevel {
    Safe,
    Moderate,
}

/// Where a confidence score comes from, logged by `Display`.
#[derive(Clone, Copy, Debug)]
enum ConfidenceSource {
    Measured,
    Heuristic,
}

impl fmt::Display for ConfidenceSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConfidenceSource::Measured => "measured",
            ConfidenceSource::Heuristic => "heuristic",
        })
    }
}

/// A backend's failure; its reason is built at run time.
#[derive(Debug)]
enum GeneratorError {
    BackendUnavailable { reason: String },
}

impl fmt::Display for GeneratorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GeneratorError::BackendUnavailable { reason } => {
                write!(f, "Backend unavailable: {reason}")
            }
        }
    }
}

/// A generated command and how sure the backend is of it.
struct Generated {
    command: String,
    confidence: f64,
    source: ConfidenceSource,
}

/// The user's environment, as caro finds it.
struct Env {
    home: PathBuf,
}

impl Env {
    fn from_process() -> Env {
        Env {
            home: std::env::var_os("HOME").map_or_else(|| PathBuf::from("/"), PathBuf::from),
        }
    }
}

mod cli {
    use tracing::{debug, info};

    use super::Backend;

    /// Picks the backend: the user's, else the auto-detected one.
    pub fn select_backend(requested: Option<Backend>) -> Backend {
        let (backend, source) = match requested {
            Some(b) => (b, "command line"),
            None => (Backend::Ollama, "auto-detect"),
        };
        debug!("Backend preference: {} (source: {})", backend, source);
        match requested {
            Some(b) => {
                info!("User requested backend: {}", b);
                match b {
                    Backend::Embedded => info!("Using embedded backend (user preference)"),
                    Backend::Ollama => info!("Using {} backend (user preference)", display_name(b)),
                }
            }
            None => info!("Using Ollama backend (auto-detected)"),
        }
        backend
    }

    fn display_name(b: Backend) -> &'static str {
        match b {
            Backend::Ollama => "Ollama",
            Backend::Embedded => "Embedded",
        }
    }
}

mod prompts {
    pub mod capability_profile {
        use tracing::{debug, trace};

        use crate::Env;

        /// Runs the capability detection and "caches" its profile.
        pub fn load(env: &Env) -> usize {
            let cache_path = env.home.join(".cache/caro/capability_profile.json");
            trace!("No capability cache file at {:?}", cache_path);
            debug!("No valid cache found, running full capability detection");
            let tools = ["find", "grep", "du", "sort", "head", "tar", "xargs"];
            debug!("Saved capability profile to cache at {:?}", cache_path);
            tools.len()
        }
    }
}

mod model_loader {
    use std::path::PathBuf;

    use tracing::debug;

    use crate::Env;

    pub const MODEL_FILE: &str = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf";
    const MODEL_SIZE_MB: u64 = 1100;

    /// The cached model's path, checked.
    pub fn model_path(env: &Env) -> PathBuf {
        let cached_path = env.home.join(".cache/caro/models").join(MODEL_FILE);
        debug!("Using cached model at: {}", cached_path.display());
        debug!("Model file validated: {}MB", MODEL_SIZE_MB);
        cached_path
    }
}

mod backends {
    pub mod remote {
        pub mod ollama {
            use tracing::{debug, warn};

            use crate::{Env, Generated, GeneratorError};

            pub const MODEL_NAME: &str = "qwen2.5-coder:1.5b";
            const ENDPOINT: &str = "http://localhost:11434";

            pub fn generate(
                env: &Env,
                prompt: &str,
                offline: bool,
            ) -> Result<Generated, GeneratorError> {
                debug!(
                    "Ollama ({}): could not determine served context length via /api/show",
                    MODEL_NAME
                );
                if offline {
                    let err = GeneratorError::BackendUnavailable {
                        reason: format!("connection refused by {ENDPOINT}"),
                    };
                    warn!("Ollama backend failed: {}", err);
                    return Err(err);
                }
                let keyword = crate::keyword(prompt);
                Ok(Generated {
                    command: format!(
                        "find {} -iname '*{keyword}*' | head -n 20",
                        env.home.display()
                    ),
                    confidence: 0.91,
                    source: crate::ConfidenceSource::Measured,
                })
            }
        }
    }

    pub mod embedded {
        use tracing::{debug, info, warn};

        use crate::{model_loader, ConfidenceSource, Env, Generated};

        const MAX_TOKENS: u32 = 512;
        const TEMPERATURE: f32 = 0.1;
        const MAX_RETRIES: u32 = 2;

        pub fn generate(env: &Env, prompt: &str) -> Generated {
            let model_path = model_loader::model_path(env);
            info!("CPU model loaded from {}", model_path.display());
            let full_prompt = format!("You turn requests into POSIX commands.\n{prompt}");
            debug!(
                "CPU inference completed for prompt length {} chars, max_tokens: {}, temperature: {}",
                full_prompt.len(),
                MAX_TOKENS,
                TEMPERATURE
            );
            // The first answer is not the JSON asked for; the retry is.
            let attempt = 0;
            warn!(
                "Parse attempt {}/{} failed, retrying with correction prompt",
                attempt + 1,
                MAX_RETRIES + 1
            );
            let attempt = 1;
            info!(
                "Parse succeeded on attempt {}/{} after retry",
                attempt + 1,
                MAX_RETRIES + 1
            );
            let keyword = crate::keyword(prompt);
            let command = format!("grep -rli '{keyword}' {}/Documents", env.home.display());
            info!("CPU model unloaded");
            Generated {
                command,
                confidence: 0.62,
                source: ConfidenceSource::Heuristic,
            }
        }
    }
}

mod agent {
    use std::time::Instant;

    use tracing::{debug, info, warn};

    use crate::backends::{embedded, remote::ollama};
    use crate::{Backend, Env, RiskLevel};

    /// Past commands the knowledge index remembers, by keyword.
    const KNOWN: [&str; 5] = ["pdf", "disk", "photos", "compress", "log"];

    /// Runs the request; the command to print.
    pub fn run(env: &Env, backend: Backend, offline: bool, prompt: &str) -> String {
        let start = Instant::now();
        info!("Starting agent loop for: {}", prompt);
        debug!("Trying static pattern matcher");
        if let Some(command) = static_match(env, prompt) {
            info!(
                "Static matcher found match in {:?}: {}",
                start.elapsed(),
                command
            );
            validate(&command);
            info!("Command generation complete in {:?}", start.elapsed());
            return command;
        }
        debug!("Static matcher: no match, falling back to LLM");
        let similar = KNOWN
            .iter()
            .filter(|k| prompt.split_whitespace().any(|w| w == **k))
            .count();
        if similar == 0 {
            debug!("No similar commands found in knowledge index");
        } else {
            debug!("Found {} similar commands in knowledge index", similar);
        }
        debug!("Iteration 1: Generating initial command");
        let initial = match backend {
            Backend::Ollama => match ollama::generate(env, prompt, offline) {
                Ok(g) => g,
                Err(_) => {
                    info!("Falling back to embedded backend");
                    embedded::generate(env, prompt)
                }
            },
            Backend::Embedded => embedded::generate(env, prompt),
        };
        debug!("Initial command: {}", initial.command);
        if initial.confidence < 0.7 {
            info!(
                "Low confidence ({:.2}), triggering refinement",
                initial.confidence
            );
            debug!(
                "Iteration 2: Refining due to low confidence ({:.2})",
                initial.confidence
            );
        } else {
            info!(
                "Refinement not needed (confidence: {:.2} [{}], no platform issues)",
                initial.confidence, initial.source
            );
        }
        if validate(&initial.command) == RiskLevel::Moderate {
            warn!("Command needs confirmation: {:?} risk", RiskLevel::Moderate);
        }
        info!("Command generation complete in {:?}", start.elapsed());
        debug!("Recorded successful command to knowledge index");
        initial.command
    }

    /// The static matcher: commands for requests it knows.
    fn static_match(env: &Env, prompt: &str) -> Option<String> {
        let words: Vec<&str> = prompt.split_whitespace().collect();
        if words.contains(&"pdf") {
            return Some(format!(
                "find {}/Documents -name '*.pdf'",
                env.home.display()
            ));
        }
        None
    }

    /// Safety validation: a pipe makes a command moderately risky.
    fn validate(command: &str) -> RiskLevel {
        let started = Instant::now();
        let risk = if command.contains('|') {
            RiskLevel::Moderate
        } else {
            RiskLevel::Safe
        };
        let patterns = 52;
        debug!(
            "Safety validation checked {} patterns in {:?}: {:?}",
            patterns,
            started.elapsed(),
            risk
        );
        risk
    }
}

/// The longest word of the request: what the stand-in models search for.
fn keyword(prompt: &str) -> &str {
    prompt
        .split_whitespace()
        .rev()
        .max_by_key(|w| w.len())
        .unwrap_or("")
}

fn main() {
    let args = Args::parse();
    let guard = caro_recorder::Config::from_env()
        .version(env!("CARGO_PKG_VERSION"))
        .init();
    let started = Instant::now();
    let env = Env::from_process();
    let query = args.query.join(" ");
    let backend = cli::select_backend(args.backend);
    let tools = prompts::capability_profile::load(&env);
    tracing::debug!("Capability profile lists {} tools", tools);
    let command = agent::run(&env, backend, args.offline, &query);
    println!("{command}");
    let elapsed: Duration = started.elapsed();
    tracing::debug!("Request served in {:?}", elapsed);
    // As caro does, the process ends with exit(), which runs no
    // destructor: the guard records the exit and its status, then exits.
    if args.plain_exit {
        std::process::exit(args.status);
    }
    guard.exit(args.status);
}
