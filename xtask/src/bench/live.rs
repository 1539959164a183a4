//! End-to-end latency of the real-time side at a steady load: ingest acceptance to WebSocket
//! client receipt, with release binaries of ingest, stream-stats and the simulator.
//!
//! The simulator plays 100 synthetic ODIs at a speed that adds up to about 2,000 events/s
//! through ingest. WebSocket clients follow every match; each delta carries the time ingest
//! accepted the event, and the client's receipt time minus that is the latency. Reports
//! `e2e_p50_ms`, `e2e_p99_ms` and the rate the clients actually received.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use cricket::MatchSummary;
use cricket::live::{ClientMessage, ServerMessage};
use futures_util::{SinkExt, StreamExt};
use platform::kafka;
use platform::local_broker::{Storage, free_port};
use tokio_tungstenite::tungstenite::Message;

use crate::process::{Running, run_checked};
use crate::{data_dir, say, workspace_root};

const MATCHES: usize = 100;
/// 100 matches x a ball every 40 s / 800 = 2,000 events/s.
const SPEED: &str = "800";
const MEASURE: Duration = Duration::from_secs(20);
const MATCHES_PER_CONNECTION: usize = 25;

pub(crate) async fn run() -> Result<Vec<(String, f64)>> {
    say("bench live: building the release binaries");
    let mut build = Command::new(env!("CARGO"));
    build
        .args([
            "build",
            "--quiet",
            "--release",
            "-p",
            "ingest",
            "-p",
            "stream-stats",
            "-p",
            "simulator",
        ])
        .current_dir(workspace_root());
    run_checked(build)?;
    let bin = super::release_dir();
    let logs = data_dir().join("logs");

    let broker = crate::broker::start(free_port()?, Storage::Memory).await?;
    let (ingest_port, stats_port) = (free_port()?, free_port()?);
    let token = "bench-token";
    let mut ingest = Command::new(bin.join("ingest"));
    ingest
        .env("INGEST_TOKEN", token)
        .env("KAFKA_BROKERS", broker.brokers())
        .env("INGEST_LISTEN", format!("127.0.0.1:{ingest_port}"))
        .env("RUST_LOG", "warn");
    let mut ingest = Running::spawn("ingest", ingest, Some(&logs.join("bench-live-ingest.log")))?;
    let mut stats = Command::new(bin.join("stream-stats"));
    stats
        .env("KAFKA_BROKERS", broker.brokers())
        .env("STATS_LISTEN", format!("127.0.0.1:{stats_port}"))
        .env("RUST_LOG", "warn");
    let mut stats = Running::spawn(
        "stream-stats",
        stats,
        Some(&logs.join("bench-live-stats.log")),
    )?;
    ingest.wait_for_port(
        ([127, 0, 0, 1], ingest_port).into(),
        Duration::from_secs(30),
    )?;
    stats.wait_for_port(([127, 0, 0, 1], stats_port).into(), Duration::from_secs(30))?;

    let mut simulator = Command::new(bin.join("simulator"));
    simulator
        .args([
            "run",
            "--format",
            "odi",
            "--matches",
            &MATCHES.to_string(),
            "--speed",
            SPEED,
            "--seed",
            "2024",
        ])
        .args([
            "--ingest-url",
            &format!("http://127.0.0.1:{ingest_port}"),
            "--token",
            token,
        ])
        .env("RUST_LOG", "warn");
    let _simulator = Running::spawn(
        "simulator",
        simulator,
        Some(&logs.join("bench-live-simulator.log")),
    )?;

    let ids = wait_for_matches(stats_port, MATCHES).await?;
    let mut clients = Vec::new();
    for chunk in ids.chunks(MATCHES_PER_CONNECTION) {
        clients.push(tokio::spawn(follow(stats_port, chunk.to_vec())));
    }
    let mut latencies = Vec::new();
    for client in clients {
        latencies.extend(client.await.context("client task")??);
    }
    stats.stop(Duration::from_secs(10));
    ingest.stop(Duration::from_secs(10));
    drop(broker);

    if latencies.is_empty() {
        bail!("no deltas received");
    }
    let received = latencies.len() as f64 / MEASURE.as_secs_f64();
    latencies.sort_unstable();
    let quantile = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize] as f64;
    Ok(vec![
        ("e2e_p50_ms".to_owned(), quantile(0.5)),
        ("e2e_p99_ms".to_owned(), quantile(0.99)),
        ("e2e_events_per_s".to_owned(), received),
    ])
}

async fn wait_for_matches(port: u16, count: usize) -> Result<Vec<String>> {
    let url = format!("http://127.0.0.1:{port}/v1/matches");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(response) = reqwest::get(&url).await
            && let Ok(list) = response.json::<Vec<MatchSummary>>().await
            && list.len() >= count
        {
            return Ok(list.into_iter().map(|m| m.match_id).collect());
        }
        if Instant::now() > deadline {
            bail!("the simulated matches never all appeared");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Follows `ids` for the measurement window; returns each delta's latency in ms.
async fn follow(port: u16, ids: Vec<String>) -> Result<Vec<i64>> {
    let (mut socket, _) =
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/v1/ws")).await?;
    let subscribe = ClientMessage::Subscribe {
        list: false,
        matches: ids,
    };
    socket
        .send(Message::text(serde_json::to_string(&subscribe)?))
        .await?;
    let mut latencies = Vec::new();
    let deadline = tokio::time::Instant::now() + MEASURE;
    while let Ok(Some(message)) = tokio::time::timeout_at(deadline, socket.next()).await {
        let received = kafka::now_ms();
        let Message::Text(text) = message? else {
            continue;
        };
        if let Ok(ServerMessage::Event {
            ingested_at_ms: Some(ingested),
            ..
        }) = serde_json::from_str(&text)
        {
            latencies.push(received - ingested);
        }
    }
    Ok(latencies)
}
