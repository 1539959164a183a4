//! What the warehouse's end-to-end tests share: private topics on the test broker, the
//! warehouse as a real process on a real DuckDB file in a temporary folder (so it can be
//! killed with SIGKILL and its file opened by other tools), ingest in process, and the real
//! matches with their expected scorecards.

#![allow(dead_code, unreachable_pub)]

pub use testkit::*;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use platform::local_broker::free_port;
use serde_json::{Value, json};

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
