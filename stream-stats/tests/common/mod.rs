//! What the end-to-end tests share: private topics on the test broker, stream-stats as a real
//! process (so it can be killed with SIGKILL), ingest in process, and the real matches with
//! their expected scorecards.

#![allow(dead_code, unreachable_pub)]

pub use testkit::*;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use platform::local_broker::free_port;
use serde_json::Value;

/// stream-stats as a child process.
pub struct Stats {
    child: Option<Child>,
    pub port: u16,
    topics: Topics,
    log: PathBuf,
}

impl Stats {
    pub async fn start(topics: &Topics) -> Stats {
        let port = free_port().expect("port");
        let log = std::env::temp_dir().join(format!("{}-stats-{port}.log", topics.group));
        let mut stats = Stats {
            child: None,
            port,
            topics: topics.clone(),
            log,
        };
        stats.launch().await;
        stats
    }

    async fn launch(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log");
        let child = Command::new(env!("CARGO_BIN_EXE_stream-stats"))
            .env("STATS_LISTEN", format!("127.0.0.1:{}", self.port))
            .env("KAFKA_BROKERS", brokers())
            .env("STATS_EVENTS_TOPIC", &self.topics.events)
            .env("STATS_SNAPSHOT_TOPIC", &self.topics.snapshots)
            .env("STATS_DLQ_TOPIC", &self.topics.dlq)
            .env("STATS_GROUP", &self.topics.group)
            .env("STATS_SNAPSHOT_INTERVAL_MS", "200")
            .env("STATS_WS_BUFFER", "16")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("stream-stats starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(response) = reqwest::get(self.url("/readyz")).await
                && response.status() == 200
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "stream-stats not ready; log: {}",
                self.log.display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// kill -9.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("kill");
            child.wait().expect("reaped");
        }
    }

    pub async fn restart(&mut self) {
        self.kill();
        self.launch().await;
    }

    pub async fn scorecard(&self, id: &str) -> Option<Value> {
        let response = reqwest::get(self.url(&format!("/v1/matches/{id}/scorecard")))
            .await
            .ok()?;
        if response.status() != 200 {
            return None;
        }
        response.json().await.ok()
    }

    /// Waits until every expected scorecard is served exactly; panics with the differences.
    pub async fn assert_scorecards(&self, want: &BTreeMap<String, Value>, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let mut wrong = Vec::new();
            for (id, expected) in want {
                let got = self.scorecard(id).await;
                if got.as_ref() != Some(expected) {
                    wrong.push(format!(
                        "{id}: got {}",
                        got.map_or("nothing".to_owned(), |g| g.to_string())
                    ));
                }
            }
            if wrong.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} scorecards differ (log {}):\n{}",
                wrong.len(),
                self.log.display(),
                wrong.join("\n")
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    pub async fn metric(&self, name: &str) -> f64 {
        let text = reqwest::get(self.url("/metrics"))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        text.lines()
            .filter(|line| line.starts_with(name) && !line.starts_with('#'))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

impl Drop for Stats {
    fn drop(&mut self) {
        self.kill();
    }
}
