//! What the end-to-end tests of the services share: private topics on the test broker, ingest
//! running in the test's process, the real matches of `data/cricsheet` with their expected
//! scorecards, and small helpers. Test-only: no service depends on it.
//!
//! Tests using it need `KAFKA_BROKERS`: `cargo xtask test` starts a broker and sets it.

#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

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
