//! What the end-to-end tests of the services share: private topics on the test broker, ingest
//! running in the test's process, the real matches of `data/cricsheet` with their expected
//! scorecards, services as child processes, the schemathesis contract run ([`schemathesis`]),
//! and small helpers. Test-only: no service depends on it.
//!
//! Tests using it need `KAFKA_BROKERS`: `cargo xtask test` starts a broker and sets it.

#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

pub mod schemathesis;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use cricket::Event;
use platform::kafka::{self, TopicSpec};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
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

/// A private folder, removed when dropped.
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        let dir = std::env::temp_dir().join(unique(prefix));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A private set of topics and a group name, so tests never see each other's data.
#[derive(Debug, Clone)]
pub struct Topics {
    pub events: String,
    /// Compacted, for stream-stats' snapshots.
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
            group: format!("{id}-group"),
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

    /// Records in the events topic: the sum of the partitions' high watermarks.
    pub fn records(&self) -> i64 {
        let consumer: BaseConsumer = kafka::consumer_config(&brokers(), &unique("counter"))
            .create()
            .expect("consumer");
        (0..kafka::MATCH_PARTITIONS)
            .map(|partition| {
                let (low, high) = consumer
                    .fetch_watermarks(&self.events, partition, Duration::from_secs(10))
                    .expect("watermarks");
                high - low
            })
            .sum()
    }

    /// Produces one record straight to the events topic (no ingest, no validation).
    pub async fn produce(&self, producer: &FutureProducer, key: &[u8], payload: &[u8]) {
        let now = kafka::now_ms().to_string();
        let headers = rdkafka::message::OwnedHeaders::new().insert(rdkafka::message::Header {
            key: kafka::header::INGEST_TIME_MS,
            value: Some(now.as_str()),
        });
        producer
            .send(
                FutureRecord::to(&self.events)
                    .key(key)
                    .payload(payload)
                    .headers(headers),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(err, _)| err)
            .expect("produced");
    }

    /// Sends whole matches straight to Kafka, as the simulator's benchmark sink does.
    pub async fn send(&self, matches: Vec<Vec<Event>>) {
        let sink = simulator::send::Sink::Kafka {
            brokers: brokers(),
            topic: self.events.clone(),
        };
        let options = simulator::send::SendOptions {
            pace: 1e9,
            lanes: 4,
            batch: 500,
            progress: false,
        };
        simulator::send::send(matches, sink, options)
            .await
            .expect("the broker accepts the matches");
    }
}

pub fn producer() -> FutureProducer {
    kafka::producer_config(&brokers())
        .create()
        .expect("producer")
}

/// Ingest in this process, producing to `topic`.
#[derive(Debug)]
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

/// A service binary run as a child of the test (so it can be killed with SIGKILL), on a free
/// port, with its output in a log file.
#[derive(Debug)]
pub struct Service {
    name: String,
    binary: PathBuf,
    env: Vec<(String, String)>,
    child: Option<std::process::Child>,
    pub port: u16,
    pub log: PathBuf,
}

impl Service {
    /// Starts `binary` with `env`, telling it its address in the variable `listen_var`, and
    /// waits until `/readyz` answers 200.
    pub async fn start(
        name: &str,
        binary: &str,
        listen_var: &str,
        env: &[(&str, String)],
        log: PathBuf,
    ) -> Service {
        let port = platform::local_broker::free_port().expect("port");
        let mut env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        env.push((listen_var.to_owned(), format!("127.0.0.1:{port}")));
        let mut service = Service {
            name: name.to_owned(),
            binary: PathBuf::from(binary),
            env,
            child: None,
            port,
            log,
        };
        service.launch().await;
        service
    }

    async fn launch(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log");
        let child = std::process::Command::new(&self.binary)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|err| panic!("{} does not start: {err}", self.name));
        self.child = Some(child);
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            if reqwest::get(self.url("/readyz"))
                .await
                .is_ok_and(|r| r.status() == 200)
            {
                return;
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("{} exited ({status}): {}", self.name, self.log_text());
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{} is not ready: {}",
                self.name,
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(std::process::Child::id)
    }

    /// Resident memory of the process, in KiB (Linux).
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    }

    /// File descriptors the process holds open (Linux): sockets, files, pipes.
    pub fn open_files(&self) -> Option<usize> {
        let dir = std::fs::read_dir(format!("/proc/{}/fd", self.pid()?)).ok()?;
        Some(dir.count())
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// kill -9: no flush, no commit, no goodbye to the group.
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

    /// SIGTERM, and the process must exit cleanly within 30 s.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                assert!(
                    status.success(),
                    "{} exited uncleanly ({status}): {}",
                    self.name,
                    self.log_text()
                );
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{} did not stop",
                self.name
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `GET /v1/matches/{id}/scorecard`, if it answers 200.
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
        let deadline = std::time::Instant::now() + timeout;
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
                std::time::Instant::now() < deadline,
                "{} scorecards differ (log {}):\n{}",
                wrong.len(),
                self.log.display(),
                wrong.join("\n")
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The sum of a Prometheus metric's samples (all label sets).
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

impl Drop for Service {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Another workspace binary built next to `anchor` (a test's `env!("CARGO_BIN_EXE_...")`),
/// which `cargo xtask test` builds along with every other.
pub fn sibling_binary(anchor: &str, name: &str) -> String {
    let path = std::path::Path::new(anchor).with_file_name(name);
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo xtask test` (it builds every binary)",
        path.display()
    );
    path.display().to_string()
}
