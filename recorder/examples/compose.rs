//! The recorder as a layer in each of the usual `tracing_subscriber`
//! stacks, one stack per run (`compose STACK`), so that a test can check
//! that none panics the host and what each records.
//!
//! Every stack logs the same: a DEBUG, an INFO and a WARN event, then an
//! INFO event inside a `request` span; its console writes to stderr.
//!
//! | stack | how the recorder is composed | what it records |
//! |---|---|---|
//! | `registry` | `registry().with(recorder).with(fmt::layer())` | INFO and WARN |
//! | `fmt-finish` | `fmt().with_env_filter("warn").finish().with(recorder)` | WARN: the global filter hides INFO |
//! | `env-filter` | `registry().with(EnvFilter("warn")).with(recorder).with(fmt)` | WARN: the same |
//! | `console-filter` | `registry().with(fmt::layer().with_filter(EnvFilter("warn"))).with(recorder)` | INFO and WARN: the console's filter is its own |
//! | `reload` | the recorder in a `reload::Layer`, the console's per-layer filter reloaded to `error` half-way | INFO and WARN |
//! | `layered` | `fmt::layer().and_then(recorder).with_subscriber(Registry::default())` | INFO and WARN |
//! | `boxed` | `registry().with(vec![recorder.boxed(), fmt::layer().boxed()])` | INFO and WARN |
//!
//! ```text
//! cargo run -p caro-recorder --example compose -- console-filter
//! ```

use tracing::{debug, info, info_span, warn, Subscriber};
use tracing_subscriber::filter::EnvFilter;
use tracing_subscriber::layer::{Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, reload, Registry};

/// The host's console: a `fmt` layer on stderr.
fn console<S>() -> impl Layer<S> + Send + Sync + 'static
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fmt::layer().with_writer(std::io::stderr)
}

fn log_the_same() {
    debug!("debug event");
    info!("info event");
    warn!("warn event");
    let span = info_span!("request");
    let _in = span.enter();
    info!("info event in a span");
}

fn main() {
    let stack = std::env::args().nth(1).unwrap_or_default();
    let (recorder, guard) = caro_recorder::layer();
    match stack.as_str() {
        "registry" => tracing_subscriber::registry()
            .with(recorder)
            .with(console())
            .init(),
        "fmt-finish" => fmt()
            .with_env_filter(EnvFilter::new("warn"))
            .with_writer(std::io::stderr)
            .finish()
            .with(recorder)
            .init(),
        "env-filter" => tracing_subscriber::registry()
            .with(EnvFilter::new("warn"))
            .with(recorder)
            .with(console())
            .init(),
        "console-filter" => tracing_subscriber::registry()
            .with(console().with_filter(EnvFilter::new("warn")))
            .with(recorder)
            .init(),
        "reload" => {
            let (recorder, _recorder_handle) = reload::Layer::new(recorder);
            let (filter, filter_handle) = reload::Layer::new(EnvFilter::new("warn"));
            tracing_subscriber::registry()
                .with(recorder)
                .with(console().with_filter(filter))
                .init();
            log_the_same();
            filter_handle
                .reload(EnvFilter::new("error"))
                .expect("the console's filter reloads");
        }
        "layered" => console()
            .and_then(recorder)
            .with_subscriber(Registry::default())
            .init(),
        "boxed" => tracing_subscriber::registry()
            .with(vec![recorder.boxed(), console().boxed()])
            .init(),
        other => {
            eprintln!("compose: unknown stack {other:?}");
            std::process::exit(2);
        }
    }
    log_the_same();
    guard.exit(0);
}
