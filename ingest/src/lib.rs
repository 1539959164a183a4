//! The ingest API: the platform's front door.
//!
//! `POST /v1/events` takes NDJSON or JSON events from authenticated producers, validates every
//! one ([`decode`], reading JSON as the published schema describes it: [`strict`]), produces
//! them to `match-events` keyed by match id and answers 202 only once the broker acknowledged
//! them all ([`publish`]). Refusals are JSON with a stable code
//! ([`error`]); overload and broker outages are 429/503 with `Retry-After`, never a silent drop.
//!
//! [`run`] is the whole service; `main.rs` only parses flags and sets up logging.

pub mod config;
pub mod decode;
pub mod error;
pub mod http;
mod metrics;
pub mod openapi;
pub mod publish;
pub mod serve;
pub mod strict;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

pub use config::Config;

/// Builds the application state (creating the producer) for `config`.
pub fn state(config: &Config) -> Result<http::AppState> {
    Ok(http::AppState {
        publisher: publish::Publisher::new(config)?,
        token: Arc::from(config.token.as_str()),
        max_body_bytes: config.max_body_bytes,
        max_batch_events: config.max_batch_events,
        in_flight: Arc::new(Semaphore::new(config.max_in_flight)),
        queue_timeout: Duration::from_millis(config.queue_timeout_ms),
        body_timeout: Duration::from_millis(config.body_timeout_ms),
        metrics: metrics::handle(),
    })
}

/// Serves on `listener` until `shutdown` resolves, then finishes in-flight requests and
/// flushes the producer.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    anyhow::ensure!(
        !config.token.is_empty(),
        "an ingest token is required (--token or INGEST_TOKEN)"
    );
    tracing::info!(config = %config.redacted(), addr = %listener.local_addr()?, "ingest starting");
    let state = state(&config)?;
    let publisher = state.publisher.clone();

    let (stop_tx, mut stop_rx) = watch::channel(false);
    let watcher = tokio::spawn(publisher.clone().watch_broker(
        Duration::from_secs(1),
        async move {
            let _ = stop_rx.wait_for(|stopped| *stopped).await;
        },
    ));

    serve::serve(
        listener,
        http::router(state),
        config.connection_limits(),
        shutdown,
    )
    .await;

    let _ = stop_tx.send(true);
    let _ = watcher.await;
    tracing::info!(queued = publisher.queue_depth(), "draining the producer");
    publisher.flush(Duration::from_secs(10));
    tracing::info!("ingest stopped");
    Ok(())
}
