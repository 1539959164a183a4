//! The user-SQL replica: a child process of the warehouse (`warehouse sql-replica`, started
//! and restarted by [`super::supervisor`]) that keeps its own copy of the data and answers
//! `POST /v1/sql` on a loopback port.
//!
//! Why a process: DuckDB's `memory_limit` bounds its buffer pool, not every allocation a
//! query makes (`repeat('x', 1.5e9)` or `len(range(3e8))` build values outside it: measured
//! here at 3 GB and 19 GB with a 1 GB limit). The only ceiling that holds for any query is
//! the kernel's, per process: this process sets `RLIMIT_DATA` on itself before anything else,
//! so an allocation past it fails, which DuckDB reports as an out-of-memory error for that
//! query and carries on; the warehouse's loader and scorecards live in the parent and never
//! feel it. The copy is a second exactly-once sink of the same topic (the loader in
//! [`crate::loader::Role::Replica`]), seeded from the warehouse's file when it is missing,
//! so it holds the same history even past Kafka's retention.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use platform::telemetry::LogFormat;
use serde::Deserialize;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

use super::engine::{Engine, Head, Limits};
use super::{Format, SqlRequest};
use crate::db;
use crate::error::ApiError;
use crate::loader::{Loader, LoaderConfig, Progress, Role};

/// The first line the replica prints on stdout, followed by its address.
pub(crate) const READY_LINE: &str = "sql-replica listening on";
/// Response header naming the query's outcome (`ok` or the error code), for the parent's
/// metrics.
pub(crate) const OUTCOME_HEADER: &str = "x-sql-outcome";

/// How the supervisor starts a replica. Hidden: people run `warehouse serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReplicaArgs {
    #[arg(long)]
    pub db: PathBuf,
    #[arg(long)]
    pub brokers: String,
    #[arg(long)]
    pub topic: String,
    #[arg(long)]
    pub dlq_topic: String,
    #[arg(long)]
    pub group: String,
    #[arg(long)]
    pub memory_limit: String,
    /// Hard ceiling on the process's data memory (`RLIMIT_DATA`), in MiB; 0 for none.
    #[arg(long)]
    pub max_memory_mib: u64,
    #[arg(long)]
    pub threads: usize,
    /// Added to the process's nice value, so loading and live work win the CPU.
    #[arg(long, default_value_t = 10)]
    pub nice: i32,
    #[arg(long)]
    pub max_rows: usize,
    #[arg(long)]
    pub max_bytes: usize,
    #[arg(long)]
    pub timeout_ms: u64,
    #[arg(long)]
    pub max_concurrent: usize,
    #[arg(long)]
    pub flush_max_rows: usize,
    #[arg(long)]
    pub flush_interval_ms: u64,
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// Sets the process's limits. First thing in `main`, before DuckDB allocates anything.
pub fn limit_this_process(args: &ReplicaArgs) -> Result<()> {
    if args.max_memory_mib > 0 {
        let bytes = args.max_memory_mib.saturating_mul(1024 * 1024);
        rustix::process::setrlimit(
            rustix::process::Resource::Data,
            rustix::process::Rlimit {
                current: Some(bytes),
                maximum: Some(bytes),
            },
        )
        .context("cannot set the memory ceiling (RLIMIT_DATA)")?;
    }
    if args.nice != 0 {
        let current = rustix::process::getpriority_process(None).unwrap_or(0);
        if let Err(err) = rustix::process::setpriority_process(None, current + args.nice) {
            tracing::warn!(%err, "cannot lower the replica's CPU priority");
        }
    }
    Ok(())
}

#[derive(Clone)]
struct ReplicaState {
    engine: Arc<Engine>,
    progress: Arc<Progress>,
}

/// Loads and serves until stdin closes (the supervisor is gone or asks it to stop) or a
/// signal arrives.
pub async fn run(args: ReplicaArgs) -> Result<()> {
    let conn = db::open(&args.db, &args.memory_limit)?;
    let loader_conn = conn.try_clone()?;
    db::lock_down(&conn, args.threads)?;
    let engine = Arc::new(
        Engine::new(
            conn,
            Limits {
                max_rows: args.max_rows.max(1),
                max_bytes: args.max_bytes.max(1024),
                timeout: Duration::from_millis(args.timeout_ms),
                max_concurrent: args.max_concurrent.max(1),
            },
        )
        .map_err(|err| anyhow::anyhow!("{err}"))?,
    );
    let progress = Arc::new(Progress::default());
    let loader = Loader::new(
        loader_conn,
        LoaderConfig {
            role: Role::Replica,
            brokers: args.brokers.clone(),
            topic: args.topic.clone(),
            dlq_topic: args.dlq_topic.clone(),
            group: args.group.clone(),
            instance_id: None,
            flush_max_rows: args.flush_max_rows.max(1),
            flush_interval: Duration::from_millis(args.flush_interval_ms),
        },
        progress.clone(),
    )?;
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let addr = listener.local_addr()?;
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{READY_LINE} {addr}")?;
        stdout.flush()?;
    }
    tracing::info!(%addr, db = %args.db.display(), "SQL replica serving");

    let stop = Arc::new(AtomicBool::new(false));
    let server = {
        let stop = stop.clone();
        let app = router(ReplicaState { engine, progress });
        tokio::spawn(
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    tokio::select! {
                        () = parent_gone() => {}
                        () = platform::shutdown::signal() => {}
                    }
                    stop.store(true, Ordering::SeqCst);
                })
                .into_future(),
        )
    };
    let loading = {
        let stop = stop.clone();
        tokio::task::spawn_blocking(move || loader.run(&stop))
    };
    let loaded = loading.await.context("replica loader panicked")?;
    // The loader ends on a stop or on an error; either way the process ends, and the
    // supervisor starts a fresh one if the warehouse is still running.
    stop.store(true, Ordering::SeqCst);
    server.abort();
    loaded
}

/// Resolves when stdin reaches its end: the supervisor holds the other end, so this is how
/// a replica learns that its warehouse exited, even by kill -9.
async fn parent_gone() {
    let mut stdin = tokio::io::stdin();
    let mut buf = [0u8; 64];
    loop {
        match stdin.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

fn router(state: ReplicaState) -> Router {
    Router::new()
        .route("/v1/sql", post(post_sql))
        .route("/readyz", get(readyz))
        .with_state(state)
}

async fn readyz(State(state): State<ReplicaState>) -> Response {
    if state.progress.running.load(Ordering::Relaxed) {
        Json(serde_json::json!({"status": "ready"})).into_response()
    } else {
        StatusCode::SERVICE_UNAVAILABLE.into_response()
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct SqlParams {
    format: Option<String>,
}

/// `?format=` first, then the `Accept` header; JSON by default.
pub(crate) fn wanted_format(params: &SqlParams, headers: &HeaderMap) -> Result<Format, ApiError> {
    if let Some(format) = &params.format {
        return match format.as_str() {
            "json" => Ok(Format::Json),
            "csv" => Ok(Format::Csv),
            "parquet" => Ok(Format::Parquet),
            other => Err(ApiError::BadRequest(format!(
                "unknown format {other:?}: use json, csv or parquet"
            ))),
        };
    }
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    Ok(if accept.contains("text/csv") {
        Format::Csv
    } else if accept.contains("parquet") {
        Format::Parquet
    } else {
        Format::Json
    })
}

async fn post_sql(
    State(state): State<ReplicaState>,
    params: Result<Query<SqlParams>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let answer = async {
        // A query string axum cannot read (a repeated `format`, say) is a JSON 400 like
        // every other refusal, not the framework's plain text.
        let Query(params) = params.map_err(|err| {
            ApiError::BadRequest(format!("cannot read the query string: {}", err.body_text()))
        })?;
        let format = wanted_format(&params, &headers)?;
        let request: SqlRequest = serde_json::from_slice(&body).map_err(|err| {
            ApiError::BadRequest(format!(
                "expected {{\"sql\": \"...\", \"limit\"?: n, \"explain\"?: \"plan\"|\"analyze\"}}: {err}"
            ))
        })?;
        Ok::<_, ApiError>(state.engine.query(request, format).await?)
    }
    .await;
    match answer {
        Ok(head) => stream(head),
        Err(err) => {
            let code = err.code();
            let mut response = err.into_response();
            response
                .headers_mut()
                .insert(OUTCOME_HEADER, HeaderValue::from_static(code));
            response
        }
    }
}

/// The answer as an HTTP response: whole when it fit in the first piece (with `x-rows` and
/// `x-truncated`), streamed otherwise.
fn stream(head: Head) -> Response {
    let Head {
        format,
        body,
        complete,
        rest,
    } = head;
    let mut response = match complete {
        Some(_) => Body::from(body).into_response(),
        None => {
            let first =
                futures_util::stream::once(
                    async move { Ok::<_, std::io::Error>(Bytes::from(body)) },
                );
            let more = futures_util::stream::unfold((rest, false), |(mut rest, done)| async move {
                if done {
                    return None;
                }
                match rest.recv().await {
                    Some(Ok(piece)) => {
                        let last = piece.last;
                        Some((Ok(Bytes::from(piece.bytes)), (rest, last)))
                    }
                    Some(Err(err)) => {
                        Some((Err(std::io::Error::other(err.to_string())), (rest, true)))
                    }
                    None => Some((
                        Err(std::io::Error::other("the answer was cut off")),
                        (rest, true),
                    )),
                }
            });
            Body::from_stream(futures_util::StreamExt::chain(first, more)).into_response()
        }
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    headers.insert(OUTCOME_HEADER, HeaderValue::from_static("ok"));
    if let Some((rows, cut)) = complete {
        headers.insert(
            "x-truncated",
            HeaderValue::from_static(if cut.is_some() { "true" } else { "false" }),
        );
        if let Some(cut) = cut {
            headers.insert("x-truncated-by", HeaderValue::from_static(cut.as_str()));
        }
        if let Ok(rows) = HeaderValue::from_str(&rows.to_string()) {
            headers.insert("x-rows", rows);
        }
    }
    if format == Format::Parquet {
        headers.insert(
            header::CONTENT_DISPOSITION,
            HeaderValue::from_static("attachment; filename=\"result.parquet\""),
        );
    }
    response
}
