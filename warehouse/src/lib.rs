//! The warehouse: the analytical side. Every event of `match-events` lands in a DuckDB file
//! exactly once, modelled into tables and views for SQL over history; anyone's SQL is
//! answered by a sandboxed replica process, so it can never disturb loading.
//!
//! - [`loader`] is a consumer-group member that writes batches with the Kafka offsets in the
//!   same DuckDB transaction ([`store`]), so a crash at any moment loses and duplicates
//!   nothing; [`model`] sorts records and keeps one modelled row per `(match_id, seq)`.
//! - [`schema`] holds the tables and views; [`scorecard`] computes the canonical scorecard
//!   by SQL.
//! - [`sql`] answers untrusted queries in a supervised child process with its own copy of
//!   the data and a hard memory ceiling (one statement, checked by DuckDB's parser,
//!   allowlisted functions and tables, fresh read-only connection, no file or network
//!   access, timeout, row, byte and concurrency caps); [`internal`] runs the warehouse's own
//!   queries on its database; [`http`] serves it all, described by [`openapi`].
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
mod internal;
pub mod loader;
mod metrics;
mod model;
pub mod openapi;
mod schema;
mod scorecard;
pub mod sql;
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
    let seed_conn = conn.try_clone()?;
    let internal = Arc::new(internal::Internal::new(conn, 4, config.sql_timeout()));
    let progress = Arc::new(loader::Progress::default());
    let loader = loader::Loader::new(
        loader_conn,
        loader::LoaderConfig {
            role: loader::Role::Primary,
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

    let (stop_tx, mut stop_rx) = watch::channel(false);
    let (sql, replica) = sql::supervisor::Supervisor::start(config, seed_conn, stop_tx.subscribe());
    let state = http::AppState {
        internal,
        sql,
        progress,
        metrics: metrics::handle(),
    };
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
    if let Err(err) = replica.await {
        tracing::warn!(%err, "SQL replica supervisor panicked");
    }
    server
        .await
        .context("server panicked")?
        .context("HTTP server failed")?;
    tracing::info!("warehouse stopped");
    loaded
}
