//! What the end-to-end tests share: private topics on the test broker, stream-stats as a real
//! process (so it can be killed with SIGKILL), ingest in process, and the real matches with
//! their expected scorecards.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use cricket::Event;
use platform::kafka::{self, TopicSpec};
use platform::local_broker::free_port;
use serde_json::Value;
use tokio::sync::oneshot;

pub const TOKEN: &str = "e2e-token";

pub fn brokers() -> String {
    std::env::var("KAFKA_BROKERS")
        .expect("KAFKA_BROKERS is not set: run the tests with `cargo xtask test`")
}

pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

pub fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../data/cricsheet")
}

/// Every real match: (id, events).
pub fn real_matches() -> Vec<(String, Vec<Event>)> {
    expected()
        .keys()
        .map(|id| {
            let path = data_dir().join(format!("{id}.json"));
            let bytes = std::fs::read(&path).expect("match file");
            let events = cricket::cricsheet::import(id, &path.display().to_string(), &bytes)
                .expect("import");
            (id.clone(), events)
        })
        .collect()
}

/// expected.jsonl by match id.
pub fn expected() -> BTreeMap<String, Value> {
    let text = std::fs::read_to_string(data_dir().join("expected.jsonl")).expect("expected.jsonl");
    text.lines()
        .map(|line| {
            let value: Value = serde_json::from_str(line).expect("json");
            (value["match"].as_str().expect("id").to_owned(), value)
        })
        .collect()
}

/// A private set of topics and group names, so tests never see each other's data.
#[derive(Debug, Clone)]
pub struct Topics {
    pub events: String,
    pub snapshots: String,
    pub dlq: String,
    pub group: String,
}

impl Topics {
    pub async fn create() -> Topics {
        let id = unique("e2e");
        let topics = Topics {
            events: format!("{id}-events"),
            snapshots: format!("{id}-scoreboards"),
            dlq: format!("{id}-dlq"),
            group: format!("{id}-stats"),
        };
        let specs = [
            TopicSpec {
                name: topics.events.clone(),
                partitions: kafka::MATCH_PARTITIONS,
                configs: vec![],
            },
            TopicSpec {
                name: topics.snapshots.clone(),
                partitions: kafka::MATCH_PARTITIONS,
                configs: vec![("cleanup.policy", "compact")],
            },
            TopicSpec {
                name: topics.dlq.clone(),
                partitions: 1,
                configs: vec![],
            },
        ];
        kafka::wait_for_broker(&brokers(), Duration::from_secs(30))
            .await
            .expect("broker");
        kafka::create_topics(&brokers(), &specs)
            .await
            .expect("topics");
        topics
    }
}

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

/// Ingest in this process, producing to `topic`.
pub struct Ingest {
    pub url: String,
    stop: Option<oneshot::Sender<()>>,
}

impl Ingest {
    pub async fn start(topic: &str) -> Ingest {
        let config = ingest::Config::try_parse_from([
            "ingest",
            "--token",
            TOKEN,
            "--brokers",
            &brokers(),
            "--topic",
            topic,
        ])
        .expect("flags");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(ingest::run(config, listener, async move {
            let _ = stopped.await;
        }));
        Ingest {
            url,
            stop: Some(stop),
        }
    }

    /// Sends matches through ingest (NDJSON batches, retries) as the simulator does.
    pub async fn send(&self, matches: Vec<Vec<Event>>) {
        let sink = simulator::send::Sink::Ingest {
            url: self.url.clone(),
            token: TOKEN.to_owned(),
        };
        let options = simulator::send::SendOptions {
            pace: 1e9,
            lanes: 4,
            batch: 200,
            progress: false,
        };
        simulator::send::send(matches, sink, options)
            .await
            .expect("ingest accepts the matches");
    }
}

impl Drop for Ingest {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Splits each match's events into `parts` consecutive slices: part k of every match.
pub fn split(matches: &[(String, Vec<Event>)], parts: usize) -> Vec<Vec<Vec<Event>>> {
    (0..parts)
        .map(|k| {
            matches
                .iter()
                .map(|(_, events)| {
                    let size = events.len().div_ceil(parts);
                    events.iter().skip(k * size).take(size).cloned().collect()
                })
                .collect()
        })
        .collect()
}
