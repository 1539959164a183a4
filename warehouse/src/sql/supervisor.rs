//! The warehouse's side of the user-SQL replica: seeds its file from the warehouse's own
//! when it is missing, starts it as a child process, restarts it when it exits (with a
//! doubling back-off, and a fresh seed if it keeps failing at start), stops it with the
//! warehouse, and relays `POST /v1/sql` to it, streaming the answer through.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use duckdb::Connection;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;

use super::SqlError;
use super::replica::{OUTCOME_HEADER, READY_LINE};
use crate::config::Config;
use crate::error::ApiError;
use crate::metrics;

/// A replica that exits this soon after starting counts as failing to start.
const EARLY_EXIT: Duration = Duration::from_secs(30);
/// Failed starts in a row after which the replica's file is thrown away and seeded again.
const RESEED_AFTER: u32 = 3;
/// How long a replica may take to open its file and listen.
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// Where user SQL goes. Cheap to share.
#[derive(Debug)]
pub(crate) struct Supervisor {
    addr: RwLock<Option<SocketAddr>>,
    pid: AtomicU32,
    http: reqwest::Client,
    /// Longest wait for the replica's first byte of an answer.
    answer_timeout: Duration,
}

impl Supervisor {
    /// Starts supervising; the returned task ends once `stop` turns true and the replica has
    /// exited.
    pub(crate) fn start(
        config: Config,
        seed_from: Connection,
        stop: watch::Receiver<bool>,
    ) -> (Arc<Supervisor>, tokio::task::JoinHandle<()>) {
        let supervisor = Arc::new(Supervisor {
            addr: RwLock::new(None),
            pid: AtomicU32::new(0),
            http: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(1))
                .build()
                .unwrap_or_default(),
            answer_timeout: config.sql_timeout() + Duration::from_secs(5),
        });
        let task = tokio::spawn(supervisor.clone().supervise(config, seed_from, stop));
        (supervisor, task)
    }

    /// Whether the replica is listening.
    pub(crate) fn is_up(&self) -> bool {
        self.addr
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    fn set_addr(&self, addr: Option<SocketAddr>) {
        *self.addr.write().unwrap_or_else(PoisonError::into_inner) = addr;
        metrics::sql_replica_up(addr.is_some());
    }

    async fn supervise(
        self: Arc<Self>,
        config: Config,
        seed_from: Connection,
        mut stop: watch::Receiver<bool>,
    ) {
        let path = config.sql_replica_db();
        let seed_from = Arc::new(std::sync::Mutex::new(seed_from));
        let mut backoff = Duration::from_millis(500);
        let mut failed_starts = 0u32;
        let memory = tokio::spawn(self.clone().watch_memory());
        loop {
            if stopped(&stop) {
                break;
            }
            if failed_starts >= RESEED_AFTER {
                tracing::warn!(path = %path.display(), "the SQL replica keeps failing: seeding it again");
                remove_database(&path);
                failed_starts = 0;
            }
            if !path.exists() {
                let (from, to) = (seed_from.clone(), path.clone());
                let seeded = tokio::task::spawn_blocking(move || {
                    seed(&from.lock().unwrap_or_else(PoisonError::into_inner), &to)
                })
                .await;
                match seeded {
                    Ok(Ok(elapsed)) => tracing::info!(
                        path = %path.display(),
                        ms = elapsed.as_millis() as u64,
                        "SQL replica seeded from the warehouse"
                    ),
                    Ok(Err(err)) => {
                        tracing::error!(error = %format!("{err:#}"), "cannot seed the SQL replica")
                    }
                    Err(err) => tracing::error!(%err, "seeding panicked"),
                }
            }
            let started = Instant::now();
            match self.run_once(&config, &path, &mut stop).await {
                Ok(()) => {}
                Err(err) => tracing::warn!(error = %format!("{err:#}"), "SQL replica stopped"),
            }
            self.set_addr(None);
            self.pid.store(0, Ordering::Relaxed);
            if stopped(&stop) {
                break;
            }
            metrics::sql_replica_restart();
            if started.elapsed() < EARLY_EXIT {
                failed_starts += 1;
            } else {
                failed_starts = 0;
                backoff = Duration::from_millis(500);
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = until_stopped(&mut stop) => break,
            }
            backoff = (backoff * 2).min(Duration::from_secs(10));
        }
        memory.abort();
    }

    /// One life of the replica: start, serve until it exits or `stop`.
    async fn run_once(
        &self,
        config: &Config,
        path: &Path,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<()> {
        let mut child = spawn(config, path)?;
        self.pid.store(child.id().unwrap_or(0), Ordering::Relaxed);
        // Held apart from the child: tokio's `Child::wait` closes a stdin it still holds,
        // and a closed stdin is how the replica is told to stop.
        let stdin = child.stdin.take().context("no stdin")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(START_TIMEOUT, async {
            while let Some(line) = lines.next_line().await? {
                if let Some(addr) = line.strip_prefix(READY_LINE) {
                    return addr
                        .trim()
                        .parse::<SocketAddr>()
                        .map_err(anyhow::Error::from);
                }
            }
            anyhow::bail!("the SQL replica exited before listening")
        });
        let addr = tokio::select! {
            addr = ready => match addr {
                Ok(Ok(addr)) => addr,
                Ok(Err(err)) => { let _ = child.kill().await; return Err(err); }
                Err(_) => { let _ = child.kill().await; anyhow::bail!("the SQL replica did not start in time"); }
            },
            () = until_stopped(stop) => {
                return end(child, stdin).await;
            }
        };
        // Nothing more is expected on stdout; keep reading so the pipe never fills.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        self.set_addr(Some(addr));
        tracing::info!(%addr, "SQL replica ready");
        tokio::select! {
            status = child.wait() => {
                let status = status.context("cannot wait for the SQL replica")?;
                anyhow::bail!("the SQL replica exited ({status})");
            }
            () = until_stopped(stop) => end(child, stdin).await,
        }
    }

    /// Samples the replica's memory each second for the metrics.
    async fn watch_memory(self: Arc<Self>) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            let pid = self.pid.load(Ordering::Relaxed);
            if pid == 0 {
                continue;
            }
            if let Some((rss, peak)) = memory_of(pid) {
                metrics::sql_replica_memory(rss, peak);
            }
        }
    }

    /// Relays a `POST /v1/sql` to the replica and streams its answer back.
    pub(crate) async fn relay(
        &self,
        query: Option<&str>,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Response {
        let started = Instant::now();
        let addr = *self.addr.read().unwrap_or_else(PoisonError::into_inner);
        let Some(addr) = addr else {
            return unavailable(
                started,
                "the SQL replica is starting; retry in a moment".to_owned(),
            );
        };
        let url = match query {
            Some(query) => format!("http://{addr}/v1/sql?{query}"),
            None => format!("http://{addr}/v1/sql"),
        };
        let mut request = self
            .http
            .post(url)
            .header(header::CONTENT_TYPE, "application/json")
            .body(body);
        if let Some(accept) = headers.get(header::ACCEPT) {
            request = request.header(header::ACCEPT, accept);
        }
        let response = match tokio::time::timeout(self.answer_timeout, request.send()).await {
            Ok(Ok(response)) => response,
            Ok(Err(err)) => {
                return unavailable(started, format!("the SQL replica did not answer: {err}"));
            }
            Err(_) => {
                return unavailable(started, "the SQL replica did not answer in time".to_owned());
            }
        };
        let outcome = response
            .headers()
            .get(OUTCOME_HEADER)
            .and_then(|v| v.to_str().ok())
            .map_or("internal", outcome_label);
        metrics::query(outcome, started.elapsed());
        let status = response.status();
        let mut out = Response::builder().status(status.as_u16());
        for name in [
            header::CONTENT_TYPE,
            header::CONTENT_DISPOSITION,
            header::RETRY_AFTER,
        ] {
            if let Some(value) = response.headers().get(&name) {
                out = out.header(name, value);
            }
        }
        for name in ["x-truncated", "x-truncated-by", "x-rows"] {
            if let Some(value) = response.headers().get(name) {
                out = out.header(name, value);
            }
        }
        out.body(Body::from_stream(response.bytes_stream()))
            .unwrap_or_else(|err| {
                ApiError::Sql(SqlError::Internal(format!("cannot relay: {err}"))).into_response()
            })
    }
}

async fn until_stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}

fn stopped(stop: &watch::Receiver<bool>) -> bool {
    *stop.borrow()
}

fn unavailable(started: Instant, message: String) -> Response {
    metrics::query("sql_unavailable", started.elapsed());
    let mut response = ApiError::Sql(SqlError::Unavailable(message)).into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    debug_assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    response
}

/// The replica's outcome header as a metric label (a fixed set, whatever it sent).
fn outcome_label(value: &str) -> &'static str {
    const KNOWN: &[&str] = &[
        "ok",
        "empty",
        "sql_too_long",
        "not_a_query",
        "multiple_statements",
        "function_not_allowed",
        "table_not_allowed",
        "forbidden",
        "syntax_error",
        "invalid_query",
        "query_timeout",
        "too_many_queries",
        "query_too_big",
        "cannot_encode",
        "query_failed",
        "bad_request",
        "sql_unavailable",
    ];
    KNOWN
        .iter()
        .find(|known| **known == value)
        .copied()
        .unwrap_or("internal")
}

/// Starts `warehouse sql-replica` (this same binary) with the warehouse's settings.
fn spawn(config: &Config, path: &Path) -> Result<Child> {
    let exe = std::env::current_exe().context("cannot find the warehouse binary")?;
    let mut command = Command::new(exe);
    command
        .arg("sql-replica")
        .arg("--db")
        .arg(path)
        .args(["--brokers", &config.brokers])
        .args(["--topic", &config.topic])
        .args(["--dlq-topic", &config.dlq_topic])
        .args(["--group", &config.group])
        .args(["--memory-limit", &config.sql_memory_limit])
        .args(["--max-memory-mib", &config.sql_max_memory_mib.to_string()])
        .args(["--threads", &config.sql_threads.to_string()])
        .args(["--max-rows", &config.sql_max_rows.to_string()])
        .args(["--max-bytes", &config.sql_max_bytes.to_string()])
        .args(["--timeout-ms", &config.sql_timeout_ms.to_string()])
        .args(["--max-concurrent", &config.sql_max_concurrent.to_string()])
        .args(["--flush-max-rows", &config.flush_max_rows.to_string()])
        .args(["--flush-interval-ms", &config.flush_interval_ms.to_string()])
        .args([
            "--log-format",
            match config.log_format {
                platform::telemetry::LogFormat::Text => "text",
                platform::telemetry::LogFormat::Json => "json",
            },
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    command.spawn().context("cannot start the SQL replica")
}

/// Asks the replica to stop (its stdin closes), then kills it if it takes too long.
async fn end(mut child: Child, stdin: tokio::process::ChildStdin) -> Result<()> {
    drop(stdin);
    if tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .is_err()
    {
        child.kill().await.context("cannot kill the SQL replica")?;
    }
    Ok(())
}

/// Copies the warehouse's database into a new file at `target` (through a temporary name,
/// so a crash mid-copy leaves nothing that looks like a replica).
fn seed(conn: &Connection, target: &Path) -> Result<Duration> {
    let started = Instant::now();
    let partial = target.with_extension("seeding");
    remove_database(&partial);
    let name: String = conn.query_row("SELECT current_database()", [], |row| row.get(0))?;
    let quoted_path = partial.display().to_string().replace('\'', "''");
    let quoted_name = name.replace('"', "\"\"");
    conn.execute_batch(&format!(
        "ATTACH '{quoted_path}' AS sql_replica_seed;
         COPY FROM DATABASE \"{quoted_name}\" TO sql_replica_seed;
         DETACH sql_replica_seed;"
    ))
    .context("cannot copy the warehouse into the replica")?;
    std::fs::rename(&partial, target)
        .with_context(|| format!("cannot move the seed to {}", target.display()))?;
    Ok(started.elapsed())
}

/// Removes a database file and its write-ahead log.
fn remove_database(path: &Path) {
    let mut wal = path.as_os_str().to_owned();
    wal.push(".wal");
    for file in [path.to_path_buf(), PathBuf::from(wal)] {
        if let Err(err) = std::fs::remove_file(&file)
            && err.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(%err, file = %file.display(), "cannot remove");
        }
    }
}

/// Resident and peak resident bytes of process `pid`.
fn memory_of(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .map(|kib| kib * 1024)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}
