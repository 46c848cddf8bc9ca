//! JSON logs for every function. Lambda's runtime adds a span with the request id to each invocation;
//! handlers add the store hash with [`store_span`]. Tokens, secrets and full phone numbers never reach a log:
//! [`crate::Secret`] and [`crate::Phone`] print redacted.

use tracing_subscriber::EnvFilter;

/// Installs the JSON subscriber on standard output (where Lambda collects logs). Level from `RUST_LOG` (or
/// `AWS_LAMBDA_LOG_LEVEL`), default `info`.
pub fn init() {
    init_writing_to(std::io::stdout);
}

/// The same JSON logs, written elsewhere (the local demo sends them to a file so its output stays readable).
pub fn init_writing_to<W>(writer: W)
where
    W: for<'a> tracing_subscriber::fmt::MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .ok()
        .and_then(|level| EnvFilter::try_new(level.to_lowercase()).ok())
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_writer(writer)
        .with_env_filter(filter)
        .with_target(false)
        .with_current_span(true)
        .with_span_list(true)
        .flatten_event(true)
        .try_init();
}

/// The span every handler enters once it knows which store a request is for.
pub fn store_span(store_hash: &crate::StoreHash) -> tracing::Span {
    tracing::info_span!("store", store_hash = %store_hash)
}
