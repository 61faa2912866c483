//! `caro-analyze`: reads caro's flight-recorder ring. The work is done by
//! the `caro_analyze` library; this maps its outcome to an exit code
//! ([`caro_analyze::error::exit`]), and a refused allocation to the same
//! one-line error ([`oom`]).

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

mod oom;

#[global_allocator]
static ALLOCATOR: oom::OneLineOnFailure = oom::OneLineOnFailure;

fn main() -> ExitCode {
    let args = caro_analyze::cli::Args::parse();
    match caro_analyze::cli::run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of our output went away (`| head`): nothing is wrong.
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "caro-analyze: error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
