//! `caro-analyze serve`: `/metrics` for a Prometheus server to scrape.
//!
//! It listens on 127.0.0.1:9464 unless `--listen HOST:PORT` says otherwise
//! (a host name is resolved, `localhost:9999`): a port of its own, the one
//! OpenTelemetry's Prometheus exporter uses, since Prometheus' own 9090 is
//! often taken by Prometheus itself on the same machine. Only loopback
//! addresses, unless `--allow-remote`.
//!
//! One thread answers one request at a time (scrapes are rare and cheap):
//!
//! - `GET /metrics`: ingests what the ring recorded since the last ingest
//!   (or, with an interval, lets the loop do it), then answers caro's
//!   metrics in OpenMetrics to a scraper that accepts it (Prometheus
//!   does), else in the Prometheus text format (`curl … | promtool check
//!   metrics`). A failed ingest or store answers 500 with the error's one
//!   line; the server goes on.
//! - `GET /healthz`: `ok`.
//! - Any other method on those: 405 with `Allow: GET`; any other path: 404.
//!
//! SIGINT and SIGTERM only raise a flag (signal-hook), which the loop
//! reads between requests: the request in hand is answered, the listener
//! closed, and the command returns success.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGINT, SIGTERM};
use tiny_http::{Header, Method, Request, Response, Server};

use crate::error::{Error, Result};
use crate::export::metrics::Snapshot;
use crate::export::prometheus::{self, Format};
use crate::store::ingest::DataPaths;
use crate::time;

/// What `serve` is asked to do.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// The address as it was given (`localhost:9464`), for messages.
    pub listen: String,
    /// What it resolved to, tried in turn until one can be bound (a name
    /// may give `::1` on a machine without IPv6, then `127.0.0.1`).
    pub addrs: Vec<SocketAddr>,
    /// Ingest on this interval instead of on every scrape.
    pub interval: Option<Duration>,
}

/// How long the loop waits for a request before it looks at the signal
/// flag and the ingest interval again: how long a stop can take.
const POLL: Duration = Duration::from_millis(100);

/// Serves until SIGINT or SIGTERM; says where it listens on `out`.
pub fn run(paths: &DataPaths, opts: &ServeOptions, out: &mut dyn Write) -> Result<()> {
    let listen_error = |why: String| Error::Listen {
        addr: opts.listen.clone(),
        why,
    };
    // Before the socket opens: a signal sent once the address is printed
    // stops the server rather than killing it.
    let stop = Arc::new(AtomicBool::new(false));
    let mut handlers = Vec::new();
    for signal in [SIGINT, SIGTERM] {
        let id = signal_hook::flag::register(signal, Arc::clone(&stop))
            .map_err(|e| listen_error(format!("cannot handle SIGINT and SIGTERM: {e}")))?;
        handlers.push(id);
    }
    let served = serve(paths, opts, out, &stop, &listen_error);
    for id in handlers {
        signal_hook::low_level::unregister(id);
    }
    served
}

fn serve(
    paths: &DataPaths,
    opts: &ServeOptions,
    out: &mut dyn Write,
    stop: &AtomicBool,
    listen_error: &dyn Fn(String) -> Error,
) -> Result<()> {
    let server = Server::http(opts.addrs.as_slice()).map_err(|e| listen_error(e.to_string()))?;
    // The address bound, and the port the system chose when asked for 0.
    let addr = match server.server_addr().to_ip() {
        Some(addr) => addr.to_string(),
        None => opts.listen.clone(),
    };
    writeln!(out, "serving http://{addr}/metrics")?;
    out.flush()?;

    let mut scraper = Scraper {
        paths,
        per_scrape: opts.interval.is_none(),
        ingest_error: None,
    };
    // With an interval: now, then every interval (never again past what
    // an Instant can hold).
    let mut next_ingest = opts.interval.map(|_| Instant::now());
    while !stop.load(Ordering::SeqCst) {
        if let (Some(at), Some(interval)) = (next_ingest, opts.interval) {
            if Instant::now() >= at {
                scraper.ingest_error = scraper.ingest().err().map(|e| e.to_string());
                next_ingest = Instant::now().checked_add(interval);
            }
        }
        match server.recv_timeout(POLL) {
            Ok(Some(request)) => scraper.answer(request),
            Ok(None) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(listen_error(e.to_string())),
        }
    }
    Ok(())
}

/// What answers the requests.
struct Scraper<'a> {
    paths: &'a DataPaths,
    /// Ingest before each scrape (no interval was given).
    per_scrape: bool,
    /// Why the last interval ingest failed: scrapes fail with it until
    /// one succeeds, so that the scraper sees the store is stale.
    ingest_error: Option<String>,
}

impl Scraper<'_> {
    fn answer(&mut self, request: Request) {
        let path = request.url().split('?').next().unwrap_or_default();
        let response = match (path, request.method()) {
            ("/metrics", Method::Get) => {
                let format = negotiate(&request);
                match self.exposition(format) {
                    Ok(text) => text_response(200, text, format.content_type()),
                    Err(why) => text_response(500, format!("{why}\n"), PLAIN),
                }
            }
            ("/healthz", Method::Get) => text_response(200, "ok\n".to_owned(), PLAIN),
            ("/metrics" | "/healthz", _) => {
                let response = text_response(405, "method not allowed\n".to_owned(), PLAIN);
                match Header::from_bytes("Allow", "GET") {
                    Ok(allow) => response.with_header(allow),
                    Err(()) => response,
                }
            }
            _ => text_response(404, "not found\n".to_owned(), PLAIN),
        };
        // A scraper that went away needs no answer.
        let _ = request.respond(response);
    }

    /// The metrics in `format`, or the one line saying why not.
    fn exposition(&mut self, format: Format) -> std::result::Result<String, String> {
        if let Some(why) = &self.ingest_error {
            return Err(why.clone());
        }
        let build = || -> Result<String> {
            let store = if self.per_scrape {
                self.ingest()?
            } else {
                self.paths.read_store()?
            };
            let snapshot = Snapshot::build(&store, time::now_ns()?)?;
            Ok(prometheus::render_as(&snapshot, format))
        };
        build().map_err(|e| e.to_string())
    }

    /// Folds what is new in the ring into the store; returns the store.
    /// The store is opened each time: `caro-analyze clear` may have
    /// deleted it since.
    /// Its warnings have no one to read them: a scrape answers metrics.
    fn ingest(&self) -> Result<crate::store::Store> {
        Ok(self.paths.ingested_store(time::now_ns()?, false)?.0)
    }
}

const PLAIN: &str = "text/plain; charset=utf-8";

fn text_response(
    status: u16,
    body: String,
    content_type: &str,
) -> Response<std::io::Cursor<Vec<u8>>> {
    let response = Response::from_string(body).with_status_code(status);
    match Header::from_bytes("Content-Type", content_type) {
        Ok(header) => response.with_header(header),
        Err(()) => response,
    }
}

/// OpenMetrics for a scraper whose `Accept` lists it (without `q=0`), the
/// text format otherwise.
fn negotiate(request: &Request) -> Format {
    let accepts_openmetrics = request
        .headers()
        .iter()
        .filter(|h| h.field.equiv("Accept"))
        .flat_map(|h| h.value.as_str().split(','))
        .any(|entry| {
            let mut parts = entry.split(';').map(str::trim);
            let media = parts.next().unwrap_or_default();
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f64>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            media.eq_ignore_ascii_case("application/openmetrics-text") && !refused
        });
    if accepts_openmetrics {
        Format::OpenMetrics
    } else {
        Format::Text
    }
}
