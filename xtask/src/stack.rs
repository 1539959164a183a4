//! A whole platform of release binaries for one chaos case or benchmark: its own broker (in
//! memory, or durable SQLite), ingest and optionally stream-stats on free ports, and the
//! simulator as a process. Everything lives under `.data/<name>/` and stops when the stack is
//! dropped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use platform::local_broker::{LocalBroker, Storage, free_port};
use serde_json::Value;

use crate::process::{Profile, Running, binary, cargo_build};
use crate::{data_dir, workspace_root};

pub(crate) const TOKEN: &str = "stack-token";

/// What to run.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Options {
    /// SQLite broker storage that survives a broker restart.
    pub(crate) durable: bool,
    pub(crate) stream_stats: bool,
    /// Services log warnings only (benchmarks).
    pub(crate) quiet: bool,
    /// stream-stats checkpoint interval, when not its default.
    pub(crate) snapshot_interval_ms: Option<u64>,
    pub(crate) warehouse: bool,
    /// Extra environment for the warehouse (its caps, say).
    pub(crate) warehouse_env: &'static [(&'static str, &'static str)],
}

/// Builds release binaries of `packages`.
pub(crate) fn build_release(packages: &[&str]) -> Result<()> {
    cargo_build(packages, Profile::Release)
}

/// Services the chaos cases kill and restart.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Crashable {
    StreamStats,
    Warehouse,
}

#[derive(Debug)]
pub(crate) struct Stack {
    pub(crate) broker: LocalBroker,
    pub(crate) ingest: Running,
    pub(crate) ingest_port: u16,
    pub(crate) stats: Option<Running>,
    pub(crate) stats_port: u16,
    pub(crate) warehouse: Option<Running>,
    pub(crate) warehouse_port: u16,
    options: Options,
    dir: PathBuf,
}

pub(crate) fn release(name: &str) -> PathBuf {
    binary(name, Profile::Release)
}

impl Stack {
    /// Starts broker, ingest and (if asked) stream-stats, with files under `.data/<name>/`.
    pub(crate) async fn start(name: &str, options: Options) -> Result<Stack> {
        let dir = data_dir().join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let storage = if options.durable {
            Storage::Sqlite(dir.join("broker.db"))
        } else {
            Storage::Memory
        };
        let broker = LocalBroker::start(free_port()?, storage, &dir).await?;
        let ingest_port = free_port()?;
        let ingest = spawn_ingest(&broker, ingest_port, &dir, options)?;
        let mut stack = Stack {
            broker,
            ingest,
            ingest_port,
            stats: None,
            stats_port: free_port()?,
            warehouse: None,
            warehouse_port: free_port()?,
            options,
            dir,
        };
        if options.stream_stats {
            stack.start_stats().await?;
        }
        if options.warehouse {
            stack.start_warehouse().await?;
        }
        Ok(stack)
    }

    /// Starts (or restarts after a kill) stream-stats and waits until it is ready.
    pub(crate) async fn start_stats(&mut self) -> Result<()> {
        let mut command = Command::new(release("stream-stats"));
        command
            .env("KAFKA_BROKERS", self.broker.brokers())
            .env("STATS_LISTEN", format!("127.0.0.1:{}", self.stats_port));
        if let Some(interval) = self.options.snapshot_interval_ms {
            command.env("STATS_SNAPSHOT_INTERVAL_MS", interval.to_string());
        }
        if self.options.quiet {
            command.env("RUST_LOG", "warn");
        }
        self.stats = Some(Running::spawn(
            "stream-stats",
            command,
            Some(&self.dir.join("stream-stats.log")),
        )?);
        self.wait_ready(self.stats_port, Duration::from_secs(60))
            .await
    }

    /// Starts (or restarts after a kill) the warehouse on its DuckDB file and waits until ready.
    pub(crate) async fn start_warehouse(&mut self) -> Result<()> {
        let mut command = Command::new(release("warehouse"));
        command
            .env("KAFKA_BROKERS", self.broker.brokers())
            .env(
                "WAREHOUSE_LISTEN",
                format!("127.0.0.1:{}", self.warehouse_port),
            )
            .env("WAREHOUSE_DB", self.dir.join("warehouse.duckdb"))
            // Static membership: a restarted loader takes its partitions back at once instead
            // of waiting for the killed member's session to expire.
            .env("WAREHOUSE_INSTANCE_ID", "chaos-warehouse")
            .envs(self.options.warehouse_env.iter().copied());
        if self.options.quiet {
            command.env("RUST_LOG", "warn");
        }
        self.warehouse = Some(Running::spawn(
            "warehouse",
            command,
            Some(&self.dir.join("warehouse.log")),
        )?);
        self.wait_ready(self.warehouse_port, Duration::from_secs(60))
            .await
    }

    pub(crate) fn kill_warehouse(&mut self) {
        if let Some(mut warehouse) = self.warehouse.take() {
            warehouse.kill();
        }
    }

    pub(crate) fn warehouse_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.warehouse_port)
    }

    /// Runs `sql` on the warehouse's SQL endpoint: (HTTP status, JSON body).
    pub(crate) async fn sql(&self, sql: &str) -> Result<(u16, Value)> {
        let response = reqwest::Client::new()
            .post(self.warehouse_url("/v1/sql"))
            .json(&serde_json::json!({ "sql": sql }))
            .send()
            .await?;
        let status = response.status().as_u16();
        Ok((status, response.json().await.unwrap_or(Value::Null)))
    }

    /// Sends `body` to the warehouse's SQL endpoint with `query` (e.g. `format=csv`):
    /// (HTTP status, the body's bytes).
    pub(crate) async fn sql_raw(&self, body: &Value, query: &str) -> Result<(u16, Vec<u8>)> {
        let response = reqwest::Client::new()
            .post(self.warehouse_url(&format!("/v1/sql?{query}")))
            .json(body)
            .send()
            .await?;
        let status = response.status().as_u16();
        Ok((
            status,
            response
                .bytes()
                .await
                .map(|b| b.to_vec())
                .unwrap_or_default(),
        ))
    }

    /// The folder holding this stack's files (logs, databases).
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The single number a `SELECT count(*) ...` returns.
    pub(crate) async fn sql_count(&self, sql: &str) -> Result<i64> {
        let (status, body) = self.sql(sql).await?;
        ensure!(status == 200, "{sql}: {status} {body}");
        body["rows"][0][0]
            .as_i64()
            .with_context(|| format!("{sql}: no number in {body}"))
    }

    /// SIGTERM to ingest, then a fresh ingest on the same port. True if it shut down cleanly.
    pub(crate) fn restart_ingest_gracefully(&mut self) -> Result<bool> {
        let clean = self.ingest.terminate(Duration::from_secs(20));
        self.ingest = spawn_ingest(&self.broker, self.ingest_port, &self.dir, self.options)?;
        Ok(clean)
    }

    /// SIGTERM to stream-stats (it checkpoints and leaves the group). True if clean.
    pub(crate) fn terminate_stats(&mut self) -> bool {
        self.stats
            .take()
            .is_some_and(|mut stats| stats.terminate(Duration::from_secs(30)))
    }

    /// kill -9 `service` and start it again, waiting until it is ready.
    pub(crate) async fn crash_and_restart(&mut self, service: Crashable) -> Result<()> {
        match service {
            Crashable::StreamStats => {
                self.kill_stats();
                self.start_stats().await
            }
            Crashable::Warehouse => {
                self.kill_warehouse();
                self.start_warehouse().await
            }
        }
    }

    pub(crate) fn kill_stats(&mut self) {
        if let Some(mut stats) = self.stats.take() {
            stats.kill();
        }
    }

    async fn wait_ready(&self, port: u16, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if reqwest::get(format!("http://127.0.0.1:{port}/readyz"))
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("service on port {port} not ready after {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub(crate) fn ingest_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.ingest_port)
    }

    pub(crate) fn stats_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.stats_port)
    }

    /// Starts the simulator with `args` against this platform's ingest.
    pub(crate) fn simulator(&self, args: &[&str]) -> Result<Running> {
        let mut command = Command::new(release("simulator"));
        command
            .args(args)
            .args(["--ingest-url", &self.ingest_url(), "--token", TOKEN])
            .env("RUST_LOG", "warn");
        Running::spawn("simulator", command, Some(&self.dir.join("simulator.log")))
    }

    /// Waits until stream-stats serves every expected scorecard exactly.
    pub(crate) async fn expect_scorecards(
        &self,
        want: &BTreeMap<String, Value>,
        timeout: Duration,
    ) -> Result<()> {
        self.expect_scorecards_at(&self.stats_url(""), want, timeout)
            .await
    }

    /// Waits until the service at `base` serves every expected scorecard exactly.
    pub(crate) async fn expect_scorecards_at(
        &self,
        base: &str,
        want: &BTreeMap<String, Value>,
        timeout: Duration,
    ) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let http = reqwest::Client::new();
        loop {
            let mut wrong = Vec::new();
            for (id, expected) in want {
                let got = match http
                    .get(format!("{base}/v1/matches/{id}/scorecard"))
                    .send()
                    .await
                {
                    Ok(response) if response.status().is_success() => {
                        response.json::<Value>().await.ok()
                    }
                    _ => None,
                };
                if got.as_ref() != Some(expected) {
                    wrong.push(id.clone());
                }
            }
            if wrong.is_empty() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "{} scorecards not exact after {timeout:?}: {}",
                    wrong.len(),
                    wrong.join(", ")
                );
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}

/// Starts ingest on `port` and waits until it listens.
fn spawn_ingest(broker: &LocalBroker, port: u16, dir: &Path, options: Options) -> Result<Running> {
    let mut command = Command::new(release("ingest"));
    command
        .env("INGEST_TOKEN", TOKEN)
        .env("KAFKA_BROKERS", broker.brokers())
        .env("INGEST_LISTEN", format!("127.0.0.1:{port}"))
        .env("INGEST_PRODUCE_TIMEOUT_MS", "3000");
    if options.quiet {
        command.env("RUST_LOG", "warn");
    }
    let mut ingest = Running::spawn("ingest", command, Some(&dir.join("ingest.log")))?;
    ingest.wait_for_port(([127, 0, 0, 1], port).into(), Duration::from_secs(30))?;
    Ok(ingest)
}

/// The real matches' expected scorecards by match id.
pub(crate) fn expected() -> Result<BTreeMap<String, Value>> {
    let text = std::fs::read_to_string(workspace_root().join("data/cricsheet/expected.jsonl"))?;
    text.lines()
        .map(|line| {
            let value: Value = serde_json::from_str(line)?;
            let id = value["match"].as_str().context("match id")?.to_owned();
            Ok((id, value))
        })
        .collect()
}

/// Paths of the real match files, in expected.jsonl order.
pub(crate) fn real_match_files(ids: &[&String]) -> Vec<String> {
    ids.iter()
        .map(|id| {
            workspace_root()
                .join(format!("data/cricsheet/{id}.json"))
                .display()
                .to_string()
        })
        .collect()
}

/// Resident set of a process, in KiB.
pub(crate) fn rss_kib(pid: u32) -> Result<u64> {
    status_kib(pid, "VmRSS:")
}

/// Peak resident set of a process so far, in KiB.
pub(crate) fn peak_rss_kib(pid: u32) -> Result<u64> {
    status_kib(pid, "VmHWM:")
}

fn status_kib(pid: u32, field: &str) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .with_context(|| format!("no {field} for process {pid}"))
}
