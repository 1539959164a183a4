//! What the warehouse's end-to-end tests share: private topics on the test broker, the
//! warehouse as a real process on a real DuckDB file in a temporary folder (so it can be
//! killed with SIGKILL and its file opened by other tools), ingest in process, and the real
//! matches with their expected scorecards.

#![allow(dead_code, unreachable_pub)]

pub use testkit::*;

use std::ops::{Deref, DerefMut};

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The warehouse as a child process on a DuckDB file in a temporary folder.
pub struct Warehouse {
    service: Service,
    pub db: PathBuf,
    _dir: TempDir,
}

impl Deref for Warehouse {
    type Target = Service;

    fn deref(&self) -> &Service {
        &self.service
    }
}

impl DerefMut for Warehouse {
    fn deref_mut(&mut self) -> &mut Service {
        &mut self.service
    }
}

impl Warehouse {
    pub async fn start(topics: &Topics) -> Warehouse {
        Warehouse::start_with(topics, &[]).await
    }

    /// Starts with extra environment variables (e.g. `WAREHOUSE_SQL_TIMEOUT_MS`).
    pub async fn start_with(topics: &Topics, extra: &[(&str, &str)]) -> Warehouse {
        let dir = TempDir::new("warehouse");
        let db = dir.0.join("warehouse.duckdb");
        let mut env = vec![
            ("KAFKA_BROKERS", brokers()),
            ("WAREHOUSE_TOPIC", topics.events.clone()),
            ("WAREHOUSE_DLQ_TOPIC", topics.dlq.clone()),
            ("WAREHOUSE_GROUP", topics.group.clone()),
            ("WAREHOUSE_DB", db.display().to_string()),
            ("WAREHOUSE_FLUSH_INTERVAL_MS", "100".to_owned()),
            ("WAREHOUSE_MEMORY_LIMIT", "1GB".to_owned()),
        ];
        env.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
        let log = dir.0.join("warehouse.log");
        let service = Service::start(
            "warehouse",
            env!("CARGO_BIN_EXE_warehouse"),
            "WAREHOUSE_LISTEN",
            &env,
            log,
        )
        .await;
        Warehouse {
            service,
            db,
            _dir: dir,
        }
    }

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
        assert_eq!(status, 200, "{sql}: {body}; log: {}", self.log_text());
        serde_json::from_value(body["rows"].clone()).expect("rows")
    }

    /// A query returning one integer.
    pub async fn count(&self, sql: &str) -> i64 {
        self.sql(sql).await[0][0].as_i64().expect("an integer")
    }

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

    pub fn db_path(&self) -> &Path {
        &self.db
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
