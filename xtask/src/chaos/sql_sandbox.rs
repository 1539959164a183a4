//! `sql_sandbox`: escape attempts against `POST /v1/sql`, class by class, each judged by its
//! effect: nothing written (the warehouse's own file is read back by `warehouse query` after
//! the attack, the replica's tables are counted), no file created anywhere (targets and
//! DuckDB's temp folders), nothing carried over to other queries (canaries on fresh
//! connections), both processes alive, memory bounded, and every scorecard still exact.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};

use super::Outcome;
use crate::stack::{Options, Stack, expected, peak_rss_kib, real_match_files, release};

/// What a refused or bounded attempt must look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// A 4xx with a JSON reason.
    Refused,
    /// Runs, but its answer stays under the caps (200 and cut, or a 4xx such as a timeout).
    Bounded,
}

/// One attempt: its class (for the report), the request, what it must get.
struct Attack {
    class: &'static str,
    body: Value,
    query: &'static str,
    expect: Expect,
}

fn refused(class: &'static str, sql: impl Into<String>) -> Attack {
    Attack {
        class,
        body: json!({ "sql": sql.into() }),
        query: "",
        expect: Expect::Refused,
    }
}

fn bounded(class: &'static str, sql: impl Into<String>, query: &'static str) -> Attack {
    Attack {
        class,
        body: json!({ "sql": sql.into() }),
        query,
        expect: Expect::Bounded,
    }
}

/// Caps the warehouse runs with in this case.
const MAX_BYTES: usize = 2 * 1024 * 1024;

/// Every attempt, by class. `dir` is a folder of the attacker's choosing.
fn attacks(dir: &Path, db: &Path) -> Vec<Attack> {
    let secret = dir.join("secret.csv").display().to_string();
    let stolen = dir.join("stolen.csv").display().to_string();
    let other = dir.join("other.duckdb").display().to_string();
    let dump = dir.join("dump").display().to_string();
    let db = db.display().to_string();
    let temp = format!("{db}.tmp");
    let mut all = vec![
        // Comment terminators: DuckDB ends `--` at \r and \n; block comments nest.
        refused(
            "comments",
            "EXPLAIN --\rSELECT 1; COMMIT; CREATE TABLE probe AS SELECT 42 AS x;\nSELECT 1",
        ),
        refused("comments", "SELECT 1 --\r; DROP TABLE deliveries"),
        refused("comments", "SELECT 1 --\n; DROP TABLE deliveries"),
        refused("comments", "SELECT 1 --\r\n; CREATE TABLE probe(x INT)"),
        refused("comments", "--\rDROP TABLE deliveries"),
        refused("comments", "/* a */ DROP TABLE deliveries"),
        refused("comments", "SELECT 1 /* ; */ ; DROP TABLE deliveries"),
        refused(
            "comments",
            "/* /* nested */ still a comment */ DROP TABLE deliveries",
        ),
        refused(
            "comments",
            "SELECT 1 /* unterminated ; DROP TABLE deliveries",
        ),
        refused("comments", "/*\r*/ CREATE TABLE probe AS SELECT 1"),
        // Hidden and stacked statements.
        refused("stacked", "SELECT 1; DROP TABLE deliveries"),
        refused("stacked", "SELECT 1;; DROP TABLE deliveries"),
        refused("stacked", "; DROP TABLE deliveries"),
        refused(
            "stacked",
            "SELECT 1; COMMIT; CREATE TABLE probe AS SELECT 1",
        ),
        refused(
            "stacked",
            "WITH a AS (SELECT 1) SELECT * FROM a; DELETE FROM events",
        ),
        refused("stacked", "SELECT 1; SELECT 2"),
        refused("stacked", "SELECT ';'; DROP TABLE deliveries"),
        refused("stacked", "SELECT $$;$$; DROP TABLE deliveries"),
        refused("stacked", "SELECT 1\u{0}; DROP TABLE deliveries"),
        // EXPLAIN / DESCRIBE / SUMMARIZE wrappers.
        refused("explain", "EXPLAIN DROP TABLE deliveries"),
        refused("explain", "EXPLAIN ANALYZE CREATE TABLE probe AS SELECT 1"),
        refused("explain", "EXPLAIN ANALYZE DELETE FROM events"),
        refused("explain", "EXPLAIN SELECT 1"),
        refused(
            "explain",
            format!("DESCRIBE SELECT * FROM read_csv('{secret}')"),
        ),
        refused("explain", format!("SUMMARIZE SELECT * FROM '{secret}'")),
        Attack {
            class: "explain",
            body: json!({"sql": "DROP TABLE deliveries", "explain": "analyze"}),
            query: "",
            expect: Expect::Refused,
        },
        Attack {
            class: "explain",
            body: json!({"sql": "SELECT 1; CREATE TABLE probe AS SELECT 1", "explain": "analyze"}),
            query: "",
            expect: Expect::Refused,
        },
        // Transaction control.
        refused("transactions", "COMMIT"),
        refused("transactions", "ROLLBACK"),
        refused("transactions", "BEGIN TRANSACTION"),
        refused("transactions", "START TRANSACTION READ WRITE"),
        refused("transactions", "ABORT"),
        refused("transactions", "COMMIT; CREATE TABLE probe(x INT)"),
        // Settings, search path, variables.
        refused("settings", "SET search_path = 'temp'"),
        refused("settings", "SET schema = 'temp'"),
        refused("settings", "USE temp"),
        refused("settings", "RESET ALL"),
        refused("settings", "SET memory_limit = '100GB'"),
        refused("settings", "SET threads = 64"),
        refused("settings", "SET enable_external_access = true"),
        refused("settings", format!("SET temp_directory = '{temp}'")),
        refused("settings", "PRAGMA threads = 64"),
        refused("settings", "SET GLOBAL lock_configuration = false"),
        refused("settings", "SET VARIABLE v = 1"),
        refused("settings", "SELECT current_setting('temp_directory')"),
        refused("settings", "SELECT getvariable('v')"),
        // Temporary and persistent objects.
        refused(
            "objects",
            "CREATE TEMP VIEW deliveries AS SELECT 1 AS forged",
        ),
        refused("objects", "CREATE TEMP TABLE probe AS SELECT 1"),
        refused("objects", "CREATE MACRO upper(x) AS 'forged'"),
        refused("objects", "CREATE TEMP MACRO lower(x) AS 'forged'"),
        refused("objects", "CREATE SEQUENCE probe_seq"),
        refused("objects", "CREATE TYPE mood AS ENUM ('x')"),
        refused(
            "objects",
            "CREATE SECRET s (TYPE s3, KEY_ID 'x', SECRET 'y')",
        ),
        refused("objects", "DROP TABLE deliveries"),
        refused("objects", "DELETE FROM events"),
        refused("objects", "UPDATE deliveries SET runs_batter = 6"),
        refused(
            "objects",
            "INSERT INTO matches (match_id) VALUES ('forged')",
        ),
        refused("objects", "ALTER TABLE matches RENAME TO gone"),
        refused("objects", "TRUNCATE events"),
        refused("objects", "CHECKPOINT"),
        refused("objects", "VACUUM"),
        // Table functions, replacement scans on paths, dynamic SQL, the server's secrets.
        refused("files", format!("SELECT * FROM read_csv('{secret}')")),
        refused("files", format!("SELECT * FROM read_csv_auto('{secret}')")),
        refused("files", format!("SELECT * FROM read_text('{secret}')")),
        refused("files", format!("SELECT * FROM read_blob('{secret}')")),
        refused("files", format!("SELECT * FROM read_parquet('{secret}')")),
        refused("files", format!("SELECT * FROM read_json_auto('{secret}')")),
        refused("files", format!("SELECT * FROM parquet_scan('{secret}')")),
        refused("files", format!("SELECT * FROM '{secret}'")),
        refused("files", format!("SELECT * FROM \"{secret}\"")),
        refused("files", "SELECT * FROM 'https://example.com/data.csv'"),
        refused(
            "files",
            format!("SELECT * FROM glob('{}/*')", dir.display()),
        ),
        refused("files", format!("SELECT * FROM sniff_csv('{secret}')")),
        refused("files", format!("COPY deliveries TO '{stolen}'")),
        refused("files", format!("COPY (SELECT 1) TO '{stolen}'")),
        refused("files", format!("ATTACH '{other}' AS other")),
        refused("files", format!("ATTACH '{db}' AS again")),
        refused("files", format!("EXPORT DATABASE '{dump}'")),
        refused("files", "INSTALL httpfs"),
        refused("files", "LOAD httpfs"),
        refused("files", "SELECT * FROM query('SELECT 1')"),
        refused("files", "SELECT * FROM query_table('events')"),
        refused(
            "files",
            "SELECT * FROM json_execute_serialized_sql(json_serialize_sql('SELECT 1'))",
        ),
        refused("files", "SELECT getenv('HOME')"),
        refused("files", "SELECT * FROM duckdb_databases()"),
        refused("files", "SELECT * FROM duckdb_settings()"),
        refused("files", "SELECT * FROM duckdb_secrets()"),
        refused("files", "SELECT * FROM duckdb_extensions()"),
        refused("files", "SELECT * FROM pragma_database_list()"),
        refused("files", "SELECT * FROM temp.main.probe"),
        refused("files", "SELECT * FROM system.main.deliveries"),
        refused("files", "SHOW databases"),
        // DuckDB's temp folder, read or filled.
        refused(
            "temp folder",
            format!("SELECT * FROM read_text('{temp}/*')"),
        ),
        refused("temp folder", format!("COPY (SELECT 1) TO '{temp}/x.csv'")),
        bounded(
            "temp folder",
            "SELECT range FROM range(60000000) ORDER BY random() LIMIT 10",
            "",
        ),
        bounded(
            "temp folder",
            "SELECT count(*) FROM (SELECT range % 20000000 AS k, count(*) FROM range(60000000) GROUP BY k)",
            "",
        ),
        // Memory and CPU bombs.
        bounded("bombs", "SELECT len(repeat('x', 1500000000))", ""),
        bounded("bombs", "SELECT len(range(300000000))", ""),
        bounded(
            "bombs",
            "SELECT length(string_agg(repeat('y', 1000000), '')) FROM range(3000)",
            "",
        ),
        bounded("bombs", "SELECT len(list(range)) FROM range(400000000)", ""),
        bounded("bombs", "SELECT length(lpad('x', 1900000000, 'y'))", ""),
        bounded(
            "bombs",
            "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t) SELECT count(*) FROM t",
            "",
        ),
        bounded(
            "bombs",
            "WITH RECURSIVE t(s) AS (SELECT 'x' UNION ALL SELECT s || s FROM t WHERE length(s) < 2000000000) SELECT max(length(s)) FROM t",
            "",
        ),
        bounded("bombs", "SELECT count(*) FROM range(1000000000000)", ""),
        bounded(
            "bombs",
            "SELECT sum(a.range * b.range) FROM range(10000000) a, range(10000000) b",
            "",
        ),
        // Huge answers.
        bounded("huge results", "SELECT * FROM range(1000000000)", ""),
        bounded(
            "huge results",
            "SELECT repeat('x', 100000) FROM range(100000)",
            "",
        ),
        bounded(
            "huge results",
            "SELECT repeat('x', 100000) FROM range(100000)",
            "format=csv",
        ),
        bounded(
            "huge results",
            "SELECT repeat('x', 100000) AS s FROM range(100000)",
            "format=parquet",
        ),
    ];
    all.retain(|attack| !attack.body["sql"].as_str().unwrap_or("x").is_empty());
    all
}

pub(super) async fn run() -> Outcome {
    let mut stack = Stack::start(
        "chaos/sql_sandbox",
        Options {
            warehouse: true,
            warehouse_env: &[
                ("WAREHOUSE_SQL_MAX_BYTES", "2097152"),
                ("WAREHOUSE_SQL_TIMEOUT_MS", "3000"),
                ("WAREHOUSE_SQL_MAX_ROWS", "100000"),
            ],
            ..Options::default()
        },
    )
    .await?;
    let want = expected()?;
    let ids: Vec<&String> = want.keys().take(2).collect();
    let want: std::collections::BTreeMap<String, Value> = ids
        .iter()
        .map(|id| ((*id).clone(), want[*id].clone()))
        .collect();
    let files = real_match_files(&ids);
    let mut args = vec!["replay", "--speed", "max"];
    args.extend(files.iter().map(String::as_str));
    stack
        .simulator(&args)?
        .wait_success(Duration::from_secs(60))?;
    stack
        .expect_scorecards_at(&stack.warehouse_url(""), &want, Duration::from_secs(60))
        .await?;
    let counts = "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM deliveries), \
                  (SELECT count(*) FROM matches), (SELECT count(*) FROM duckdb_tables()), \
                  (SELECT count(*) FROM duckdb_views())";
    let deadline = Instant::now() + Duration::from_secs(30);
    let before = loop {
        let (status, body) = stack.sql(counts).await?;
        if status == 200 && body["rows"][0][1].as_i64().unwrap_or(0) > 0 {
            break body["rows"].clone();
        }
        ensure!(
            Instant::now() < deadline,
            "the replica did not load: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let warehouse_pid = stack
        .warehouse
        .as_ref()
        .map(|w| w.pid())
        .context("warehouse")?;
    let peak_before = peak_rss_kib(warehouse_pid)?;

    let attacker = stack.dir().join("attacker");
    std::fs::create_dir_all(&attacker)?;
    std::fs::write(attacker.join("secret.csv"), "password\nhunter2\n")?;
    let primary_db = stack.dir().join("warehouse.duckdb");
    let replica_db = stack.dir().join("warehouse.sql-replica.duckdb");
    let attacks = attacks(&attacker, &replica_db);
    ensure!(attacks.len() >= 60, "only {} attacks", attacks.len());

    let mut classes: std::collections::BTreeMap<&str, usize> = Default::default();
    let mut cut_answers = 0;
    let mut bomb_failures = 0;
    for attack in &attacks {
        let (status, bytes) = stack.sql_raw(&attack.body, attack.query).await?;
        let what = format!("{} {}", attack.class, attack.body);
        match attack.expect {
            Expect::Refused => {
                ensure!((400..500).contains(&status), "{what}: answered {status}");
                let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                ensure!(
                    body["error"]["message"]
                        .as_str()
                        .is_some_and(|m| m.len() > 10),
                    "{what}: no reason given: {body}"
                );
            }
            Expect::Bounded => {
                ensure!(
                    status == 200 || (400..500).contains(&status) || status == 503,
                    "{what}: answered {status}"
                );
                ensure!(
                    bytes.len() <= MAX_BYTES + 64 * 1024,
                    "{what}: {} bytes over a {MAX_BYTES}-byte cap",
                    bytes.len()
                );
                if status == 200 {
                    cut_answers += 1;
                } else {
                    bomb_failures += 1;
                }
            }
        }
        *classes.entry(attack.class).or_default() += 1;
        // Other queries are not poisoned by what came before: a fresh connection sees the
        // real tables, the main schema and no forged objects.
        canary(&stack, &before)
            .await
            .with_context(|| format!("after {what}"))?;
    }

    // Many at once: the permit cap refuses what does not fit; nothing else suffers.
    let concurrent = 40;
    let mut tasks = Vec::new();
    for _ in 0..concurrent {
        let url = stack.warehouse_url("/v1/sql");
        tasks.push(tokio::spawn(async move {
            reqwest::Client::new()
                .post(url)
                .json(&json!({"sql": "SELECT count(*) FROM range(1000000000000)"}))
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap_or(0));
    }
    let busy = statuses.iter().filter(|s| **s == 429).count();
    let timed_out = statuses.iter().filter(|s| **s == 408).count();
    // 503: the replica is short of memory for a moment (or restarting); also "retry later".
    let unavailable = statuses.iter().filter(|s| **s == 503).count();
    ensure!(
        busy + timed_out + unavailable == concurrent && timed_out <= 4,
        "40 concurrent slow queries: {statuses:?}"
    );
    canary(&stack, &before)
        .await
        .context("after the concurrent queries")?;

    // Effects: both processes alive, files, memory, scorecards, the replica's data.
    stack
        .warehouse
        .as_mut()
        .context("warehouse")?
        .check_alive()
        .context("the warehouse died")?;
    let metrics = reqwest::get(stack.warehouse_url("/metrics"))
        .await?
        .text()
        .await?;
    let gauge = |name: &str| -> f64 {
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().parse().ok())
            .unwrap_or(0.0)
    };
    let replica_peak_mib = gauge("warehouse_sql_replica_peak_rss_bytes ") / (1024.0 * 1024.0);
    let restarts = gauge("warehouse_sql_replica_restarts_total ");
    let peak_after = peak_rss_kib(warehouse_pid)?;
    let warehouse_rise_mib = (peak_after.saturating_sub(peak_before)) as f64 / 1024.0;
    ensure!(
        warehouse_rise_mib < 1024.0,
        "the warehouse's peak memory rose by {warehouse_rise_mib:.0} MiB"
    );
    ensure!(
        replica_peak_mib < 1400.0,
        "the SQL replica's peak memory reached {replica_peak_mib:.0} MiB"
    );
    for name in ["stolen.csv", "other.duckdb", "dump"] {
        ensure!(!attacker.join(name).exists(), "{name} was written");
    }
    for db in [&primary_db, &replica_db] {
        let temp = std::path::PathBuf::from(format!("{}.tmp", db.display()));
        let files = std::fs::read_dir(&temp).map(|d| d.count()).unwrap_or(0);
        ensure!(files == 0, "{} holds {files} files", temp.display());
    }
    stack
        .expect_scorecards_at(&stack.warehouse_url(""), &want, Duration::from_secs(10))
        .await?;
    let after = stack.sql(counts).await?.1["rows"].clone();
    ensure!(
        before == after,
        "the replica's data changed: {before} -> {after}"
    );

    // The warehouse's own file, read back by another process once the server is stopped.
    let own_tables = "SELECT string_agg(table_name, ',' ORDER BY table_name) FROM duckdb_tables()";
    stack.kill_warehouse();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let listed = warehouse_query(&primary_db, own_tables)?;
    ensure!(
        !listed.contains("probe") && !listed.contains("gone") && listed.contains("deliveries"),
        "the warehouse's tables are now: {listed}"
    );

    let summary: Vec<String> = classes.iter().map(|(c, n)| format!("{c} {n}")).collect();
    Ok(format!(
        "{} attempts ({}): refused with a reason or bounded ({cut_answers} answers cut at the caps, \
         {bomb_failures} bombs stopped with an error); 40 concurrent slow queries -> {busy} x 429, \
         {timed_out} x 408, {unavailable} x 503; replica restarts {restarts}, replica peak {replica_peak_mib:.0} MiB \
         (ceiling 1,280), warehouse peak +{warehouse_rise_mib:.0} MiB; no file written, temp \
         folders empty, canaries clean after every attempt, data and scorecards unchanged",
        attacks.len(),
        summary.join(", ")
    ))
}

/// A fresh query sees the real data, the main schema and nothing forged.
async fn canary(stack: &Stack, before: &Value) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = stack
            .sql("SELECT current_schema(), (SELECT count(*) FROM deliveries), (SELECT count(*) FROM duckdb_tables() WHERE table_name IN ('probe', 'gone')), upper('ok')")
            .await?;
        if status == 200 {
            let row = &body["rows"][0];
            ensure!(row[0] == "main", "the schema is {}", row[0]);
            ensure!(
                row[1] == before[0][1],
                "deliveries {} != {}",
                row[1],
                before[0][1]
            );
            ensure!(row[2] == 0, "forged tables exist");
            ensure!(row[3] == "OK", "upper() is forged: {}", row[3]);
            return Ok(());
        }
        // Busy (a bomb still winding down) or the replica restarting: wait.
        ensure!(
            (status == 429 || status == 503) && Instant::now() < deadline,
            "the canary failed: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `warehouse query` on a stopped warehouse's file.
fn warehouse_query(db: &Path, sql: &str) -> Result<String> {
    let output = Command::new(release("warehouse"))
        .args(["query", "--format", "csv", "--db"])
        .arg(db)
        .arg(sql)
        .output()?;
    ensure!(
        output.status.success(),
        "warehouse query failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
