//! The warehouse: the analytical side. Every event of `match-events` lands in a DuckDB file
//! exactly once, modelled into tables and views for SQL over history, served read-only and
//! sandboxed over HTTP.
//!
//! - [`loader`] is a consumer-group member that writes batches with the Kafka offsets in the
//!   same DuckDB transaction ([`store`]), so a crash at any moment loses and duplicates
//!   nothing; [`model`] sorts records and keeps one modelled row per `(match_id, seq)`.
//! - [`schema`] holds the tables and views; [`scorecard`] computes the canonical scorecard
//!   by SQL.
//! - [`sandbox`] runs untrusted queries (one statement, queries only, read-only transaction,
//!   no file or network access, timeout, row and concurrency caps); [`http`] serves it all.
//! - [`cli`] is `warehouse query` and `warehouse export` on the file while the server is
//!   stopped; [`bench`] is the benchmark's baseline.
//!
//! [`run`] is the whole service; `main.rs` only parses the command line.

pub mod bench;
pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod http;
pub mod loader;
mod metrics;
mod model;
pub mod sandbox;
mod schema;
mod scorecard;
mod store;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use config::{Cli, Command, Config};

/// Loads and serves until `shutdown` resolves; then stops reading, commits what it holds,
/// leaves the group and finishes the requests in flight. Fails if the loader fails (for
/// example when the disk is full): a restart resumes from the stored offsets.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    tracing::info!(?config, addr = %listener.local_addr()?, "warehouse starting");
    let conn = db::open(&config.db, &config.memory_limit)?;
    let loader_conn = conn.try_clone()?;
    db::lock_down(&conn)?;
    let sandbox = Arc::new(sandbox::Sandbox::new(
        conn,
        config.sql_max_rows,
        config.sql_timeout(),
        config.sql_max_concurrent,
    ));
    let progress = Arc::new(loader::Progress::default());
    let loader = loader::Loader::new(
        loader_conn,
        loader::LoaderConfig {
            brokers: config.brokers.clone(),
            topic: config.topic.clone(),
            dlq_topic: config.dlq_topic.clone(),
            group: config.group.clone(),
            instance_id: config.instance_id.clone(),
            flush_max_rows: config.flush_max_rows.max(1),
            flush_interval: config.flush_interval(),
        },
        progress.clone(),
    )?;

    let state = http::AppState {
        sandbox,
        progress,
        metrics: metrics::handle(),
    };
    let (stop_tx, mut stop_rx) = watch::channel(false);
    let server = tokio::spawn(
        axum::serve(listener, http::router(state))
            .with_graceful_shutdown(async move {
                let _ = stop_rx.wait_for(|stopped| *stopped).await;
            })
            .into_future(),
    );
    let stop_loading = Arc::new(AtomicBool::new(false));
    let signal = {
        let stop_loading = stop_loading.clone();
        tokio::spawn(async move {
            shutdown.await;
            stop_loading.store(true, Ordering::SeqCst);
        })
    };
    let loading = tokio::task::spawn_blocking(move || loader.run(&stop_loading));
    let loaded = loading.await.context("loader panicked")?;
    if let Err(err) = &loaded {
        tracing::error!(error = %format!("{err:#}"), "loader failed; stopping");
    }
    let _ = stop_tx.send(true);
    signal.abort();
    server
        .await
        .context("server panicked")?
        .context("HTTP server failed")?;
    tracing::info!("warehouse stopped");
    loaded
}
