//! The warehouse against its own baselines, with release binaries and fresh brokers:
//!
//! - `warehouse_rows_per_s`: Kafka records loaded into DuckDB per second (raw and modelled
//!   rows, offsets committed with them) by the release warehouse, from a topic pre-loaded
//!   with the real matches repeated under fresh ids by `simulator send --sink kafka`.
//! - `appender_rows_per_s`: the same rows appended by `warehouse bench-append` straight into
//!   a fresh database in transactions of the same size, with no Kafka and decoding done
//!   before the clock starts: the DuckDB ceiling. `warehouse_ratio` = loader / ceiling
//!   (goal >= 0.5).
//! - `warehouse_freshness_p99_ms` (and p50): at a steady ~1,000 events/s through ingest,
//!   ingest acceptance to the moment a client polling `POST /v1/sql` every 50 ms sees the
//!   event (goal <= 1,000 ms).
//! - `leaderboard_query_ms`: the most-runs leaderboard over >= 5M deliveries that the
//!   simulator produced at full speed (synthetic ODIs) and the warehouse loaded; median of
//!   five runs over HTTP, after one warm-up (goal <= 200 ms). `warehouse_bulk_rows_per_s`
//!   is that load's rate.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use platform::kafka;
use platform::local_broker::{LocalBroker, Storage, free_port};
use serde_json::{Value, json};

use crate::process::{Running, run_checked};
use crate::stack::{Options, Stack};
use crate::{data_dir, say};

const THROUGHPUT_EVENTS: usize = 500_000;
/// The loader's default batch size, used by the baseline too.
const BATCH_ROWS: usize = 20_000;
const FRESHNESS_WINDOW: Duration = Duration::from_secs(20);
const LEADERBOARD_DELIVERIES: i64 = 5_000_000;
/// Synthetic ODIs hold about 600 deliveries each.
const LEADERBOARD_MATCHES: usize = 8_800;
const LEADERBOARD_SQL: &str = "SELECT * FROM most_runs LIMIT 10";

pub(crate) async fn run() -> Result<Vec<(String, f64)>> {
    say("bench warehouse: building the release binaries");
    crate::stack::build_release(&["warehouse", "simulator", "ingest"])?;
    let work = data_dir().join("bench-warehouse");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;

    let mut report = throughput(&work).await?;
    report.extend(freshness().await?);
    report.extend(leaderboard(&work).await?);
    let _ = std::fs::remove_dir_all(&work);
    Ok(report)
}

/// The release warehouse on a fresh database in `work`, reading `topic`.
fn start_warehouse(work: &Path, name: &str, brokers: &str) -> Result<(Running, String)> {
    let port = free_port()?;
    let mut command = Command::new(crate::stack::release("warehouse"));
    command
        .env("KAFKA_BROKERS", brokers)
        .env("WAREHOUSE_LISTEN", format!("127.0.0.1:{port}"))
        .env("WAREHOUSE_DB", work.join(format!("{name}.duckdb")))
        .env("WAREHOUSE_GROUP", format!("bench-{name}"))
        .env("RUST_LOG", "warn");
    let mut running = Running::spawn(
        "warehouse",
        command,
        Some(&work.join(format!("{name}-warehouse.log"))),
    )?;
    running.wait_for_port(([127, 0, 0, 1], port).into(), Duration::from_secs(60))?;
    Ok((running, format!("http://127.0.0.1:{port}")))
}

async fn broker(work: &Path) -> Result<LocalBroker> {
    let dir = work.join(format!("broker-{}", kafka::now_ms()));
    std::fs::create_dir_all(&dir)?;
    LocalBroker::start(free_port()?, Storage::Memory, &dir).await
}

/// Records loaded so far, from `/readyz`.
async fn loaded(url: &str) -> Result<i64> {
    let body: Value = reqwest::get(format!("{url}/readyz")).await?.json().await?;
    Ok(body["records"].as_i64().unwrap_or(0))
}

async fn sql(client: &reqwest::Client, url: &str, sql: &str) -> Result<Value> {
    let response = client
        .post(format!("{url}/v1/sql"))
        .json(&json!({ "sql": sql }))
        .send()
        .await?;
    let status = response.status();
    let body: Value = response.json().await?;
    if !status.is_success() {
        bail!("{sql}: {status} {body}");
    }
    Ok(body)
}

/// Waits until the warehouse has loaded `total` records; returns the rate between the first
/// committed batch and the last (so group joining does not count).
async fn load_rate(url: &str, total: i64, timeout: Duration) -> Result<f64> {
    let deadline = Instant::now() + timeout;
    let mut first: Option<(Instant, i64)> = None;
    loop {
        let now = loaded(url).await?;
        if first.is_none() && now > 0 {
            first = Some((Instant::now(), now));
        }
        if now >= total {
            let (start, at_start) = first.unwrap_or((Instant::now(), 0));
            let seconds = start.elapsed().as_secs_f64().max(1e-3);
            return Ok((now - at_start) as f64 / seconds);
        }
        if Instant::now() > deadline {
            bail!("only {now} of {total} records loaded after {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn throughput(work: &Path) -> Result<Vec<(String, f64)>> {
    let file = work.join("events.ndjson");
    super::write_real_events(&file, THROUGHPUT_EVENTS, "wh")?;
    say(format!(
        "bench warehouse: {THROUGHPUT_EVENTS} events into Kafka, then into DuckDB"
    ));
    let broker = broker(work).await?;
    let brokers = broker.brokers();
    super::simulator_send(
        &file,
        &[
            "--sink",
            "kafka",
            "--brokers",
            &brokers,
            "--lanes",
            "8",
            "--batch",
            "1000",
        ],
    )?;
    let (mut warehouse, url) = start_warehouse(work, "throughput", &broker.brokers())?;
    let rate = load_rate(&url, THROUGHPUT_EVENTS as i64, Duration::from_secs(300)).await?;
    warehouse.stop(Duration::from_secs(30));
    drop(broker);

    say("bench warehouse: the same rows straight into DuckDB (bench-append)");
    let output = Command::new(crate::stack::release("warehouse"))
        .arg("bench-append")
        .arg(&file)
        .arg("--db")
        .arg(work.join("append.duckdb"))
        .args(["--batch", &BATCH_ROWS.to_string()])
        .output()
        .context("cannot run bench-append")?;
    if !output.status.success() {
        bail!(
            "bench-append failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let report: Value = serde_json::from_slice(&output.stdout).context("bench-append report")?;
    let ceiling = report["rows_per_s"].as_f64().unwrap_or(0.0);
    Ok(vec![
        ("warehouse_rows_per_s".to_owned(), rate),
        ("appender_rows_per_s".to_owned(), ceiling),
        ("warehouse_ratio".to_owned(), rate / ceiling.max(1.0)),
    ])
}

async fn freshness() -> Result<Vec<(String, f64)>> {
    say("bench warehouse: freshness at a steady ~1,000 events/s through ingest");
    let stack = Stack::start(
        "bench/warehouse-freshness",
        Options {
            warehouse: true,
            quiet: true,
            ..Options::default()
        },
    )
    .await?;
    let url = stack.warehouse_url("");
    // 40 matches x a ball every 40 s / 1000 = 1,000 events/s.
    let mut simulator = stack.simulator(&[
        "run",
        "--format",
        "odi",
        "--matches",
        "40",
        "--speed",
        "1000",
        "--seed",
        "11",
        "--lanes",
        "4",
        "--batch",
        "50",
    ])?;

    let client = reqwest::Client::new();
    let mut latencies = Vec::new();
    let mut last_batch = 0i64;
    let started = Instant::now();
    while started.elapsed() < FRESHNESS_WINDOW {
        let body = sql(
            &client,
            &url,
            &format!(
                "SELECT batch_id, epoch_ms(ingest_time) FROM events \
                 WHERE batch_id > {last_batch} AND ingest_time IS NOT NULL"
            ),
        )
        .await?;
        let seen = kafka::now_ms();
        for row in body["rows"].as_array().into_iter().flatten() {
            last_batch = last_batch.max(row[0].as_i64().unwrap_or(0));
            if let Some(ingested) = row[1].as_i64() {
                latencies.push(seen - ingested);
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    simulator.stop(Duration::from_secs(5));
    drop(stack);
    if latencies.is_empty() {
        bail!("no event became visible");
    }
    latencies.sort_unstable();
    let quantile = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize] as f64;
    Ok(vec![
        ("warehouse_freshness_p50_ms".to_owned(), quantile(0.5)),
        ("warehouse_freshness_p99_ms".to_owned(), quantile(0.99)),
        (
            "warehouse_freshness_events_per_s".to_owned(),
            latencies.len() as f64 / FRESHNESS_WINDOW.as_secs_f64(),
        ),
    ])
}

async fn leaderboard(work: &Path) -> Result<Vec<(String, f64)>> {
    say(format!(
        "bench warehouse: {LEADERBOARD_MATCHES} synthetic ODIs at full speed for the \
         leaderboard (>= {LEADERBOARD_DELIVERIES} deliveries)"
    ));
    let broker = broker(work).await?;
    let (mut warehouse, url) = start_warehouse(work, "leaderboard", &broker.brokers())?;
    let mut simulator = Command::new(crate::stack::release("simulator"));
    simulator
        .args(["run", "--format", "odi", "--matches"])
        .arg(LEADERBOARD_MATCHES.to_string())
        .args(["--speed", "max", "--seed", "2025", "--sink", "kafka"])
        .args([
            "--brokers",
            &broker.brokers(),
            "--lanes",
            "8",
            "--batch",
            "1000",
        ])
        .env("RUST_LOG", "warn");
    run_checked(simulator)?;
    let total = {
        let consumer: rdkafka::consumer::BaseConsumer =
            kafka::consumer_config(&broker.brokers(), "bench-counter").create()?;
        let mut total = 0;
        for partition in 0..kafka::MATCH_PARTITIONS {
            let (low, high) = rdkafka::consumer::Consumer::fetch_watermarks(
                &consumer,
                kafka::MATCH_EVENTS,
                partition,
                Duration::from_secs(10),
            )?;
            total += high - low;
        }
        total
    };
    let bulk_rate = load_rate(&url, total, Duration::from_secs(600)).await?;
    let client = reqwest::Client::new();
    let deliveries = sql(&client, &url, "SELECT count(*) FROM deliveries").await?["rows"][0][0]
        .as_i64()
        .unwrap_or(0);
    if deliveries < LEADERBOARD_DELIVERIES {
        bail!("only {deliveries} deliveries loaded");
    }
    sql(&client, &url, LEADERBOARD_SQL).await?;
    let mut times = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        sql(&client, &url, LEADERBOARD_SQL).await?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    warehouse.stop(Duration::from_secs(60));
    drop(broker);
    Ok(vec![
        ("leaderboard_query_ms".to_owned(), times[times.len() / 2]),
        ("leaderboard_deliveries".to_owned(), deliveries as f64),
        ("warehouse_bulk_rows_per_s".to_owned(), bulk_rate),
    ])
}
