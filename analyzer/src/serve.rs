//! `caro-analyze serve`: `/metrics` for a Prometheus server to scrape.

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use crate::error::Result;
use crate::ingest::DataPaths;

/// What `serve` is asked to do.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    pub listen: SocketAddr,
    /// Ingest on this interval instead of on every scrape.
    pub interval: Option<Duration>,
}

/// Serves until SIGINT or SIGTERM; says where it listens on `out`.
pub fn run(paths: &DataPaths, opts: &ServeOptions, out: &mut dyn Write) -> Result<()> {
    let _ = (paths, opts, out);
    todo!("helper")
}
