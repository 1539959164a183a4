//! `POST /v1/sql` against escape attempts, on a running warehouse holding real data: every
//! attempt is refused with a 4xx JSON error that says why, nothing is written inside or
//! outside the database, and honest queries keep working (row cap, formats, timeout,
//! concurrency cap).
//!
//! Needs `KAFKA_BROKERS`: `cargo xtask test` starts a broker and sets it.

mod common;

use std::time::{Duration, Instant};

use common::{TempDir, Topics, Warehouse, real_matches};
use serde_json::{Value, json};

const TABLES: &[&str] = &[
    "events",
    "rejected",
    "matches",
    "innings_started",
    "innings_ended",
    "deliveries",
    "wickets",
    "replacements",
    "results",
    "batches",
    "kafka_offsets",
];

async fn row_counts(warehouse: &Warehouse) -> Vec<i64> {
    let mut counts = Vec::new();
    for table in TABLES {
        counts.push(
            warehouse
                .count(&format!("SELECT count(*) FROM {table}"))
                .await,
        );
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escape_attempts_are_refused_and_the_data_is_intact() {
    let topics = Topics::create().await;
    let warehouse = Warehouse::start_with(
        &topics,
        &[
            ("WAREHOUSE_SQL_TIMEOUT_MS", "2000"),
            ("WAREHOUSE_SQL_MAX_ROWS", "1000"),
        ],
    )
    .await;
    let matches = real_matches();
    let chosen: Vec<_> = matches.iter().take(3).map(|(_, e)| e.clone()).collect();
    let events: usize = chosen.iter().map(Vec::len).sum();
    topics.send(chosen).await;
    warehouse
        .wait_for_count(
            "SELECT count(*) FROM events",
            events as i64,
            Duration::from_secs(60),
        )
        .await;
    let before = row_counts(&warehouse).await;

    // Files the attacker would like to read or write.
    let dir = TempDir::new("sandbox");
    let secret = dir.0.join("secret.csv");
    std::fs::write(&secret, "password\nhunter2\n").expect("secret");
    let secret = secret.display().to_string();
    let outside = dir.0.join("stolen.csv").display().to_string();
    let other_db = dir.0.join("other.duckdb").display().to_string();
    let export_dir = dir.0.join("export").display().to_string();

    let attempts: Vec<(String, &[&str])> = vec![
        (
            format!("SELECT * FROM read_csv('{secret}')"),
            &["function_not_allowed"],
        ),
        (
            format!("SELECT * FROM read_csv_auto('{secret}')"),
            &["function_not_allowed"],
        ),
        (
            format!("SELECT * FROM read_text('{secret}')"),
            &["function_not_allowed"],
        ),
        (
            format!("SELECT * FROM read_blob('{secret}')"),
            &["function_not_allowed"],
        ),
        (
            format!("SELECT * FROM read_parquet('{secret}')"),
            &["function_not_allowed"],
        ),
        (
            format!("SELECT * FROM read_json('{secret}')"),
            &["function_not_allowed"],
        ),
        (format!("SELECT * FROM '{secret}'"), &["table_not_allowed"]),
        (
            format!("SELECT * FROM glob('{}/*')", dir.0.display()),
            &["function_not_allowed"],
        ),
        (format!("COPY events TO '{outside}'"), &["not_a_query"]),
        (
            format!("COPY (SELECT * FROM events) TO '{outside}'"),
            &["not_a_query"],
        ),
        (format!("EXPORT DATABASE '{export_dir}'"), &["not_a_query"]),
        (format!("ATTACH '{other_db}' AS other"), &["not_a_query"]),
        ("ATTACH ':memory:' AS scratch".to_owned(), &["not_a_query"]),
        ("DETACH warehouse".to_owned(), &["not_a_query"]),
        ("INSTALL httpfs".to_owned(), &["not_a_query"]),
        ("LOAD httpfs".to_owned(), &["not_a_query"]),
        (
            "SET enable_external_access = true".to_owned(),
            &["not_a_query"],
        ),
        ("RESET lock_configuration".to_owned(), &["not_a_query"]),
        ("PRAGMA enable_profiling".to_owned(), &["not_a_query"]),
        (
            "CREATE TABLE pwned (x INTEGER)".to_owned(),
            &["not_a_query"],
        ),
        (
            "CREATE TEMP TABLE pwned AS SELECT 1".to_owned(),
            &["not_a_query"],
        ),
        (
            "INSERT INTO matches SELECT * FROM matches".to_owned(),
            &["not_a_query"],
        ),
        (
            "UPDATE deliveries SET runs_batter = 6".to_owned(),
            &["not_a_query"],
        ),
        ("DELETE FROM events".to_owned(), &["not_a_query"]),
        ("DROP TABLE events".to_owned(), &["not_a_query"]),
        (
            "ALTER TABLE events RENAME TO gone".to_owned(),
            &["not_a_query"],
        ),
        ("TRUNCATE events".to_owned(), &["not_a_query"]),
        ("SELECT 1; DROP TABLE events".to_owned(), &["not_a_query"]),
        ("SELECT 1; SELECT 2".to_owned(), &["multiple_statements"]),
        (
            "WITH x AS (SELECT 1) SELECT * FROM x; DELETE FROM events".to_owned(),
            &["not_a_query"],
        ),
        (
            "SELECT * FROM query('DROP TABLE events')".to_owned(),
            &["function_not_allowed"],
        ),
        (
            "SELECT * FROM query('SELECT 1')".to_owned(),
            &["function_not_allowed"],
        ),
        (
            "SELECT * FROM query_table('events')".to_owned(),
            &["function_not_allowed"],
        ),
        (
            "SELECT * FROM json_execute_serialized_sql(json_serialize_sql('SELECT 1'))".to_owned(),
            &["function_not_allowed"],
        ),
        ("CALL pragma_version()".to_owned(), &["not_a_query"]),
        ("CHECKPOINT".to_owned(), &["not_a_query"]),
        (
            "SELECT * FROM checkpoint()".to_owned(),
            &["function_not_allowed"],
        ),
        ("BEGIN TRANSACTION".to_owned(), &["not_a_query"]),
        ("VACUUM".to_owned(), &["not_a_query"]),
        ("EXPLAIN DROP TABLE events".to_owned(), &["not_a_query"]),
        ("EXPLAIN SELECT 1".to_owned(), &["not_a_query"]),
        // The reported escape: DuckDB ends a `--` comment at `\r` as well as `\n`.
        (
            "EXPLAIN --\rSELECT 1; COMMIT; CREATE TABLE probe AS SELECT 42 AS x;\nSELECT 1"
                .to_owned(),
            &["not_a_query"],
        ),
        (
            "SELECT 1 --\r; DROP TABLE events".to_owned(),
            &["not_a_query"],
        ),
        ("SET search_path = 'temp'".to_owned(), &["not_a_query"]),
        (
            "SELECT current_setting('temp_directory')".to_owned(),
            &["function_not_allowed"],
        ),
        (
            "SELECT * FROM duckdb_databases()".to_owned(),
            &["function_not_allowed"],
        ),
        (
            "SELECT * FROM temp.main.x".to_owned(),
            &["table_not_allowed"],
        ),
        (
            "/* hidden */ DROP TABLE events".to_owned(),
            &["not_a_query"],
        ),
        (
            "SELECT nextval('seq')".to_owned(),
            &["function_not_allowed"],
        ),
        (
            "SELECT getenv('HOME')".to_owned(),
            &["function_not_allowed"],
        ),
        ("".to_owned(), &["empty"]),
        ("selec 1".to_owned(), &["syntax_error"]),
        // Runs for hours: interrupted at the timeout.
        (
            "SELECT count(*) FROM range(1000000000000) a".to_owned(),
            &["query_timeout"],
        ),
        (
            "SELECT sum(a.range * b.range) FROM range(10000000) a, range(10000000) b".to_owned(),
            &["query_timeout"],
        ),
    ];
    assert!(attempts.len() >= 15);
    for (sql, codes) in &attempts {
        let started = Instant::now();
        let (status, body) = warehouse.sql_response(json!({ "sql": sql })).await;
        let code = body["error"]["code"].as_str().unwrap_or_default();
        assert!(
            (400..500).contains(&status),
            "{sql}: status {status}, body {body}"
        );
        assert!(codes.contains(&code), "{sql}: code {code}, body {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.len() > 10),
            "{sql}: the refusal says why: {body}"
        );
        if code == "query_timeout" {
            assert_eq!(status, 408);
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{sql}: interrupted promptly, took {:?}",
                started.elapsed()
            );
        }
    }

    // Nothing was written anywhere.
    assert_eq!(row_counts(&warehouse).await, before, "data intact");
    assert!(!std::path::Path::new(&outside).exists());
    assert!(!std::path::Path::new(&other_db).exists());
    assert!(!std::path::Path::new(&export_dir).exists());
    let names = warehouse
        .sql(
            "SELECT table_name FROM duckdb_tables() WHERE table_name IN ('pwned', 'gone', 'probe')",
        )
        .await;
    assert!(names.is_empty());
    // The loader still loads after all that.
    let more: Vec<_> = matches
        .iter()
        .skip(3)
        .take(1)
        .map(|(_, e)| e.clone())
        .collect();
    let extra: usize = more.iter().map(Vec::len).sum();
    topics.send(more).await;
    warehouse
        .wait_for_count(
            "SELECT count(*) FROM events",
            (events + extra) as i64,
            Duration::from_secs(60),
        )
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honest_queries_get_rows_capped_and_in_the_format_asked() {
    let topics = Topics::create().await;
    let warehouse = Warehouse::start_with(
        &topics,
        &[
            ("WAREHOUSE_SQL_MAX_ROWS", "100"),
            ("WAREHOUSE_SQL_MAX_CONCURRENT", "1"),
            ("WAREHOUSE_SQL_TIMEOUT_MS", "3000"),
        ],
    )
    .await;
    let matches = real_matches();
    let chosen: Vec<_> = matches.iter().take(2).map(|(_, e)| e.clone()).collect();
    let deliveries: usize = chosen
        .iter()
        .flatten()
        .filter(|e| matches!(e.payload, cricket::Payload::Delivery(_)))
        .count();
    topics.send(chosen).await;
    warehouse
        .wait_for_count(
            "SELECT count(*) FROM deliveries",
            deliveries as i64,
            Duration::from_secs(60),
        )
        .await;

    // The row cap, and a smaller limit asked by the client.
    let (status, body) = warehouse
        .sql_response(json!({"sql": "SELECT * FROM deliveries"}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["rows"].as_array().map(Vec::len), Some(100));
    assert_eq!(body["truncated"], json!(true));
    assert!(body["elapsed_ms"].is_u64());
    let columns: Vec<&str> = body["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert!(columns.contains(&"batter") && columns.contains(&"is_legal"));
    let (_, body) = warehouse
        .sql_response(
            json!({"sql": "SELECT over_no, batter FROM deliveries ORDER BY seq", "limit": 3}),
        )
        .await;
    assert_eq!(body["rows"].as_array().map(Vec::len), Some(3), "{body}");
    assert_eq!(
        body["columns"][0],
        json!({"name": "over_no", "type": "INTEGER"})
    );
    let (_, body) = warehouse
        .sql_response(json!({"sql": "SELECT count(*) AS n FROM deliveries"}))
        .await;
    assert_eq!(body["rows"], json!([[deliveries]]));
    assert_eq!(body["truncated"], json!(false));
    for explain in ["plan", "analyze"] {
        let (status, body) = warehouse
            .sql_response(json!({"sql": "SELECT * FROM most_runs", "explain": explain}))
            .await;
        assert_eq!(status, 200, "{explain}: {body}");
        assert!(
            body["rows"][0][1]
                .as_str()
                .is_some_and(|plan| plan.contains("most_runs") || plan.len() > 20),
            "{body}"
        );
    }
    for sql in [
        "DESCRIBE deliveries",
        "SHOW TABLES",
        "SUMMARIZE matches",
        "FROM most_wickets LIMIT 5",
        "SELECT * FROM batting_scorecard ORDER BY runs DESC LIMIT 5",
        "WITH t AS (SELECT * FROM highest_totals) SELECT * FROM t",
        "SELECT payload->>'$.delivery.batter' AS batter FROM events WHERE kind = 'delivery' LIMIT 1",
    ] {
        let (status, body) = warehouse.sql_response(json!({ "sql": sql })).await;
        assert_eq!(status, 200, "{sql}: {body}");
    }

    // CSV by Accept header, Parquet by query parameter.
    let csv = reqwest::Client::new()
        .post(warehouse.url("/v1/sql"))
        .header("accept", "text/csv")
        .json(&json!({"sql": "SELECT match_id, team1, team2 FROM matches ORDER BY match_id"}))
        .send()
        .await
        .expect("csv");
    assert_eq!(csv.status(), 200);
    assert_eq!(csv.headers()["x-truncated"], "false");
    let text = csv.text().await.expect("text");
    assert!(text.starts_with("match_id,team1,team2\n"), "{text}");
    assert_eq!(text.lines().count(), 3);
    let parquet = reqwest::Client::new()
        .post(warehouse.url("/v1/sql?format=parquet"))
        .json(&json!({"sql": "SELECT * FROM wickets"}))
        .send()
        .await
        .expect("parquet")
        .bytes()
        .await
        .expect("bytes");
    assert!(parquet.starts_with(b"PAR1") && parquet.ends_with(b"PAR1"));

    // Malformed requests are JSON errors too.
    let bad = reqwest::Client::new()
        .post(warehouse.url("/v1/sql"))
        .body("not json")
        .send()
        .await
        .expect("answer");
    assert_eq!(bad.status(), 400);
    let body: Value = bad.json().await.expect("json");
    assert_eq!(body["error"]["code"], "bad_request");

    // One query at a time here: a second one while a slow one runs is refused with 429.
    let slow = {
        let url = warehouse.url("/v1/sql");
        tokio::spawn(async move {
            reqwest::Client::new()
                .post(url)
                .json(&json!({"sql": "SELECT count(*) FROM range(1000000000000)"}))
                .send()
                .await
                .expect("answer")
                .status()
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, body) = warehouse.sql_response(json!({"sql": "SELECT 1"})).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "too_many_queries");
    assert_eq!(slow.await.expect("slow query"), 408);
    // The interrupted query freed its slot and its connection.
    let (status, body) = warehouse.sql_response(json!({"sql": "SELECT 42"})).await;
    assert_eq!((status, body["rows"].clone()), (200, json!([[42]])));
    assert!(
        warehouse.scorecard("1022373").await.is_some()
            || warehouse.scorecard("1122730").await.is_some()
    );
}

/// Peak resident memory of the warehouse and of its SQL replica, from its metrics.
async fn peak_memory(warehouse: &Warehouse) -> (f64, f64) {
    let text = reqwest::get(warehouse.url("/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let gauge = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (
        gauge("warehouse_sql_replica_peak_rss_bytes "),
        gauge("warehouse_sql_replica_rss_bytes "),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_are_bounded_in_bytes_and_memory_and_safe_for_spreadsheets() {
    let topics = Topics::create().await;
    let warehouse = Warehouse::start_with(
        &topics,
        &[
            ("WAREHOUSE_SQL_MAX_ROWS", "200000"),
            ("WAREHOUSE_SQL_MAX_BYTES", "4000000"),
            ("WAREHOUSE_SQL_TIMEOUT_MS", "20000"),
        ],
    )
    .await;

    // A big answer streams (no row count known up front) and parses whole.
    let response = reqwest::Client::new()
        .post(warehouse.url("/v1/sql"))
        .json(&json!({"sql": "SELECT range AS n FROM range(100000)"}))
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("x-rows").is_none(), "streamed");
    let body: Value = response.json().await.expect("one JSON document");
    assert_eq!(body["rows"].as_array().map(Vec::len), Some(100_000));
    assert_eq!(body["truncated"], json!(false));

    // The byte cap cuts a wide answer at a row boundary and says so.
    let (status, body) = warehouse
        .sql_response(json!({"sql": "SELECT repeat('x', 1000) AS wide FROM range(100000)"}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["truncated"], json!(true));
    assert_eq!(body["truncated_by"], json!("bytes"));
    let rows = body["rows"].as_array().map_or(0, Vec::len);
    assert!(
        (3000..4000).contains(&rows),
        "{rows} rows of ~1 KB under a 4 MB cap"
    );

    // CSV cells that a spreadsheet would run as formulas arrive as text.
    let csv = reqwest::Client::new()
        .post(warehouse.url("/v1/sql?format=csv"))
        .json(&json!({"sql": "SELECT '=HYPERLINK(''http://evil'')' AS a, '@SUM(1)' AS b, '+1' AS c, '-1' AS d, -1 AS e, 'ok' AS f"}))
        .send()
        .await
        .expect("csv")
        .text()
        .await
        .expect("text");
    assert_eq!(
        csv,
        "a,b,c,d,e,f\n'=HYPERLINK('http://evil'),'@SUM(1),'+1,'-1,-1,ok\n"
    );

    // Memory bombs that DuckDB's own memory limit does not cover fail cleanly in the
    // replica: the warehouse and the replica stay up, and the replica's memory stays
    // under its ceiling.
    for bomb in [
        "SELECT len(repeat('x', 1500000000))",
        "SELECT len(range(300000000))",
        "SELECT length(string_agg(repeat('y', 1000000), '')) FROM range(3000)",
    ] {
        let started = Instant::now();
        let (status, body) = warehouse.sql_response(json!({ "sql": bomb })).await;
        assert!(
            (400..500).contains(&status) || status == 503,
            "{bomb}: {status} {body}"
        );
        assert!(started.elapsed() < Duration::from_secs(30), "{bomb}");
    }
    // Still answering (after a restart at worst).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = warehouse.sql_response(json!({"sql": "SELECT 42"})).await;
        if status == 200 {
            assert_eq!(body["rows"], json!([[42]]));
            break;
        }
        assert!(Instant::now() < deadline, "SQL never came back: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (peak, _) = peak_memory(&warehouse).await;
    assert!(
        peak > 0.0 && peak < 1.5 * 1024.0 * 1024.0 * 1024.0,
        "the replica's peak RSS {peak} stays under its 1.25 GiB ceiling"
    );
    assert!(warehouse.scorecard("no-such-match").await.is_none());
}
