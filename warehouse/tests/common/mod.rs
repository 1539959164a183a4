//! What the warehouse's end-to-end tests share: private topics on the test broker, the
//! warehouse as a real process on a real DuckDB file in a temporary folder (so it can be
//! killed with SIGKILL and its file opened by other tools), ingest in process, and the real
//! matches with their expected scorecards.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use cricket::Event;
use platform::kafka::{self, TopicSpec};
use platform::local_broker::free_port;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{Value, json};
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

/// A private events topic, dead-letter topic and group, so tests never see each other's data.
#[derive(Debug, Clone)]
pub struct Topics {
    pub events: String,
    pub dlq: String,
    pub group: String,
}

impl Topics {
    pub async fn create() -> Topics {
        let id = unique("wh");
        let topics = Topics {
            events: format!("{id}-events"),
            dlq: format!("{id}-dlq"),
            group: format!("{id}-warehouse"),
        };
        let specs = [
            TopicSpec {
                name: topics.events.clone(),
                partitions: kafka::MATCH_PARTITIONS,
                configs: vec![],
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

/// The warehouse as a child process.
pub struct Warehouse {
    child: Option<Child>,
    pub port: u16,
    pub db: PathBuf,
    topics: Topics,
    env: Vec<(String, String)>,
    pub log: PathBuf,
    _dir: TempDir,
}

impl Warehouse {
    pub async fn start(topics: &Topics) -> Warehouse {
        Warehouse::start_with(topics, &[]).await
    }

    /// Starts with extra environment variables (e.g. `WAREHOUSE_SQL_TIMEOUT_MS`).
    pub async fn start_with(topics: &Topics, env: &[(&str, &str)]) -> Warehouse {
        let dir = TempDir::new("warehouse");
        let port = free_port().expect("port");
        let mut warehouse = Warehouse {
            child: None,
            port,
            db: dir.0.join("warehouse.duckdb"),
            topics: topics.clone(),
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            log: dir.0.join("warehouse.log"),
            _dir: dir,
        };
        warehouse.launch().await;
        warehouse
    }

    async fn launch(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log");
        let child = Command::new(env!("CARGO_BIN_EXE_warehouse"))
            .env("WAREHOUSE_LISTEN", format!("127.0.0.1:{}", self.port))
            .env("KAFKA_BROKERS", brokers())
            .env("WAREHOUSE_TOPIC", &self.topics.events)
            .env("WAREHOUSE_DLQ_TOPIC", &self.topics.dlq)
            .env("WAREHOUSE_GROUP", &self.topics.group)
            .env("WAREHOUSE_DB", &self.db)
            .env("WAREHOUSE_FLUSH_INTERVAL_MS", "100")
            .env("WAREHOUSE_MEMORY_LIMIT", "1GB")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("the warehouse starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(response) = reqwest::get(self.url("/readyz")).await
                && response.status() == 200
            {
                return;
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("the warehouse exited ({status}): {}", self.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "the warehouse is not ready: {}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
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

    /// SIGTERM and wait for a clean exit.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                assert!(
                    status.success(),
                    "unclean exit {status}: {}",
                    self.log_text()
                );
                return;
            }
            assert!(Instant::now() < deadline, "the warehouse did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `POST /v1/sql`: (status, body).
    pub async fn sql_response(&self, body: Value) -> (u16, Value) {
        let response = reqwest::Client::new()
            .post(self.url("/v1/sql"))
            .json(&body)
            .send()
            .await
            .expect("answer");
        let status = response.status().as_u16();
        (status, response.json().await.expect("JSON body"))
    }

    /// Runs a query that must succeed; returns its rows.
    pub async fn sql(&self, sql: &str) -> Vec<Vec<Value>> {
        let (status, body) = self.sql_response(json!({ "sql": sql })).await;
        assert_eq!(status, 200, "{sql}: {body}");
        serde_json::from_value(body["rows"].clone()).expect("rows")
    }

    /// A query returning one integer.
    pub async fn count(&self, sql: &str) -> i64 {
        self.sql(sql).await[0][0].as_i64().expect("an integer")
    }

    /// Waits until `sql` returns `want`.
    pub async fn wait_for_count(&self, sql: &str, want: i64, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.count(sql).await;
            if got == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{sql}: {got}, want {want}; log: {}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
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
                        "{id}: got {}\n     want {expected}",
                        got.map_or("nothing".to_owned(), |g| g.to_string())
                    ));
                }
            }
            if wrong.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} scorecards differ:\n{}",
                wrong.len(),
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

    pub fn db_path(&self) -> &Path {
        &self.db
    }
}

impl Drop for Warehouse {
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

/// The interpreter of a venv with the official `duckdb` package, installing it if needed
/// (`cargo xtask setup --test` normally has).
pub fn python_with_duckdb() -> PathBuf {
    let tools = std::env::var_os("CRICKET_TOOLS_DIR").map_or_else(
        || {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()))
                .join(".cache/cricket-platform")
        },
        PathBuf::from,
    );
    let venv = tools.join("python");
    let python = venv.join("bin/python");
    let works = |python: &Path| {
        Command::new(python)
            .args(["-c", "import duckdb"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if !works(&python) {
        if !python.exists() {
            let status = Command::new("python3")
                .args(["-m", "venv"])
                .arg(&venv)
                .status()
                .expect("python3 runs");
            assert!(
                status.success(),
                "cannot create a venv at {}",
                venv.display()
            );
        }
        let status = Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "duckdb==1.5.6"])
            .status()
            .expect("pip runs");
        assert!(status.success(), "cannot install the Python duckdb package");
    }
    python
}
