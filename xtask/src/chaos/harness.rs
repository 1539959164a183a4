//! A whole platform for one chaos case: its own broker (in memory, or durable SQLite for the
//! broker-restart case), ingest and stream-stats as release binaries on free ports, and the
//! simulator as a process. Everything lives under `.data/chaos/<case>/` and stops when the
//! platform is dropped.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use platform::local_broker::{LocalBroker, Storage, free_port};
use serde_json::Value;

use crate::process::Running;
use crate::{data_dir, workspace_root};

pub(crate) const TOKEN: &str = "chaos-token";

#[derive(Debug)]
pub(crate) struct Platform {
    pub(crate) broker: LocalBroker,
    pub(crate) ingest: Running,
    pub(crate) ingest_port: u16,
    pub(crate) stats: Option<Running>,
    pub(crate) stats_port: u16,
    dir: PathBuf,
}

pub(crate) fn release(name: &str) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace_root().join("target"), PathBuf::from)
        .join("release")
        .join(name)
}

impl Platform {
    /// Starts broker, ingest and (if `with_stats`) stream-stats for the case `name`.
    pub(crate) async fn start(name: &str, durable: bool, with_stats: bool) -> Result<Platform> {
        let dir = data_dir().join("chaos").join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let storage = if durable {
            Storage::Sqlite(dir.join("broker.db"))
        } else {
            Storage::Memory
        };
        let broker = LocalBroker::start(free_port()?, storage, &dir).await?;
        let ingest_port = free_port()?;
        let mut command = Command::new(release("ingest"));
        command
            .env("INGEST_TOKEN", TOKEN)
            .env("KAFKA_BROKERS", broker.brokers())
            .env("INGEST_LISTEN", format!("127.0.0.1:{ingest_port}"))
            .env("INGEST_PRODUCE_TIMEOUT_MS", "3000");
        let mut ingest = Running::spawn("ingest", command, Some(&dir.join("ingest.log")))?;
        ingest.wait_for_port(
            ([127, 0, 0, 1], ingest_port).into(),
            Duration::from_secs(30),
        )?;
        let mut platform = Platform {
            broker,
            ingest,
            ingest_port,
            stats: None,
            stats_port: free_port()?,
            dir,
        };
        if with_stats {
            platform.start_stats().await?;
        }
        Ok(platform)
    }

    /// Starts (or restarts after a kill) stream-stats and waits until it is ready.
    pub(crate) async fn start_stats(&mut self) -> Result<()> {
        let mut command = Command::new(release("stream-stats"));
        command
            .env("KAFKA_BROKERS", self.broker.brokers())
            .env("STATS_LISTEN", format!("127.0.0.1:{}", self.stats_port))
            .env("STATS_SNAPSHOT_INTERVAL_MS", "300");
        self.stats = Some(Running::spawn(
            "stream-stats",
            command,
            Some(&self.dir.join("stream-stats.log")),
        )?);
        self.wait_ready(self.stats_port, Duration::from_secs(60))
            .await
    }

    /// SIGTERM to ingest, then a fresh ingest on the same port. True if it shut down cleanly.
    pub(crate) fn restart_ingest_gracefully(&mut self) -> Result<bool> {
        let clean = self.ingest.terminate(Duration::from_secs(20));
        let mut command = Command::new(release("ingest"));
        command
            .env("INGEST_TOKEN", TOKEN)
            .env("KAFKA_BROKERS", self.broker.brokers())
            .env("INGEST_LISTEN", format!("127.0.0.1:{}", self.ingest_port))
            .env("INGEST_PRODUCE_TIMEOUT_MS", "3000");
        self.ingest = Running::spawn("ingest", command, Some(&self.dir.join("ingest.log")))?;
        self.ingest.wait_for_port(
            ([127, 0, 0, 1], self.ingest_port).into(),
            Duration::from_secs(30),
        )?;
        Ok(clean)
    }

    /// SIGTERM to stream-stats (it checkpoints and leaves the group). True if clean.
    pub(crate) fn terminate_stats(&mut self) -> bool {
        self.stats
            .take()
            .is_some_and(|mut stats| stats.terminate(Duration::from_secs(30)))
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
        let deadline = Instant::now() + timeout;
        let http = reqwest::Client::new();
        loop {
            let mut wrong = Vec::new();
            for (id, expected) in want {
                let got = match http
                    .get(self.stats_url(&format!("/v1/matches/{id}/scorecard")))
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
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .context("no VmRSS")
}
