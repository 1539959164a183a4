//! User SQL the way browsers send it: through the dashboard's origin (`/api/warehouse/sql`
//! and `/api/export.csv`) to a real warehouse on the test broker. Escapes are refused with
//! the warehouse's reasons and change nothing; big answers stream through both hops whole;
//! CSV downloads are safe to open in a spreadsheet; memory bombs leave every process up.
//!
//! Needs `KAFKA_BROKERS` and `CRICKET_SITE_ROOT`: `cargo xtask test` sets both.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use testkit::{Service, TempDir, Topics, brokers, unique};

fn site_root() -> PathBuf {
    PathBuf::from(
        std::env::var("CRICKET_SITE_ROOT")
            .expect("CRICKET_SITE_ROOT is not set: run the tests with `cargo xtask test`"),
    )
}

async fn post(url: &str, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(url)
        .json(&body)
        .send()
        .await
        .expect("answer");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_sql_through_the_origin_is_sandboxed_streamed_and_spreadsheet_safe() {
    let topics = Topics::create().await;
    let dir = TempDir::new("web-sql");
    let log = |name: &str| std::env::temp_dir().join(format!("{}-{name}.log", unique("web-sql")));
    let warehouse = Service::start(
        "warehouse",
        &testkit::sibling_binary(env!("CARGO_BIN_EXE_web"), "warehouse"),
        "WAREHOUSE_LISTEN",
        &[
            ("KAFKA_BROKERS", brokers()),
            ("WAREHOUSE_TOPIC", topics.events.clone()),
            ("WAREHOUSE_DLQ_TOPIC", topics.dlq.clone()),
            ("WAREHOUSE_GROUP", format!("{}-warehouse", topics.group)),
            (
                "WAREHOUSE_DB",
                dir.0.join("history.duckdb").display().to_string(),
            ),
            ("WAREHOUSE_MEMORY_LIMIT", "1GB".to_owned()),
            ("WAREHOUSE_SQL_MAX_ROWS", "200000".to_owned()),
            ("WAREHOUSE_SQL_TIMEOUT_MS", "3000".to_owned()),
        ],
        log("warehouse"),
    )
    .await;
    let web = Service::start(
        "web",
        env!("CARGO_BIN_EXE_web"),
        "WEB_LISTEN",
        &[
            ("WEB_WAREHOUSE_URL", warehouse.url("")),
            ("WEB_STREAM_STATS_URL", "http://127.0.0.1:9".to_owned()),
            ("WEB_INGEST_URL", "http://127.0.0.1:9".to_owned()),
            ("WEB_SITE_ROOT", site_root().display().to_string()),
        ],
        log("web"),
    )
    .await;
    let sql_url = web.url("/api/warehouse/sql");
    let tables = "SELECT count(*) FROM duckdb_tables()";
    let (status, body) = post(&sql_url, json!({ "sql": tables })).await;
    assert_eq!(status, 200, "{body}");
    let before = body["rows"].clone();

    // A sample of every class the chaos suite tries on the warehouse's own port.
    for (sql, code) in [
        (
            "EXPLAIN --\rSELECT 1; COMMIT; CREATE TABLE probe AS SELECT 42 AS x;\nSELECT 1",
            "not_a_query",
        ),
        ("SELECT 1 --\r; DROP TABLE deliveries", "not_a_query"),
        ("/* /* nested */ */ DROP TABLE deliveries", "not_a_query"),
        ("SELECT 1; SELECT 2", "multiple_statements"),
        ("COMMIT", "not_a_query"),
        ("SET search_path = 'temp'", "not_a_query"),
        ("CREATE TEMP VIEW deliveries AS SELECT 1", "not_a_query"),
        (
            "SELECT * FROM read_text('/etc/hostname')",
            "function_not_allowed",
        ),
        ("SELECT * FROM '/etc/passwd'", "table_not_allowed"),
        ("SELECT * FROM query('SELECT 1')", "function_not_allowed"),
        (
            "SELECT current_setting('temp_directory')",
            "function_not_allowed",
        ),
        ("SELECT count(*) FROM range(1000000000000)", "query_timeout"),
        ("SELECT len(repeat('x', 1500000000))", "query_too_big"),
    ] {
        let started = Instant::now();
        let (status, body) = post(&sql_url, json!({ "sql": sql })).await;
        assert!((400..500).contains(&status), "{sql:?}: {status} {body}");
        assert_eq!(body["error"]["code"], code, "{sql:?}: {body}");
        assert!(started.elapsed() < Duration::from_secs(15), "{sql:?}");
    }
    let (status, body) = post(&sql_url, json!({ "sql": tables })).await;
    assert_eq!(
        (status, body["rows"].clone()),
        (200, before),
        "nothing was created"
    );

    // A big answer streams through the warehouse and the web server, and arrives whole.
    let (status, body) = post(
        &sql_url,
        json!({"sql": "SELECT range AS n, 'row ' || range AS label FROM range(150000)"}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["rows"].as_array().map(Vec::len), Some(150_000));
    assert_eq!(body["rows"][149_999], json!([149_999, "row 149999"]));
    assert_eq!(body["truncated"], json!(false));

    // The dashboard's CSV download neutralises formulas.
    let csv = reqwest::get(
        web.url("/api/export.csv?sql=SELECT%20'%3D1%2B1'%20AS%20f,%20'@x'%20AS%20g,%207%20AS%20n"),
    )
    .await
    .expect("csv");
    assert_eq!(csv.status(), 200);
    assert_eq!(csv.text().await.expect("text"), "f,g,n\n'=1+1,'@x,7\n");

    // Everyone is still up.
    for service in [&warehouse, &web] {
        let ready = reqwest::get(service.url("/readyz")).await.expect("readyz");
        assert_eq!(ready.status(), 200, "{}", service.url(""));
    }
}
