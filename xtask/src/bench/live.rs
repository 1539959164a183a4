//! End-to-end latency of the real-time side at a steady load: ingest acceptance to WebSocket
//! client receipt, with release binaries of ingest, stream-stats and the simulator.
//!
//! The simulator plays 100 synthetic ODIs at a speed that adds up to about 2,000 events/s
//! through ingest. WebSocket clients follow every match; each delta carries the time ingest
//! accepted the event, and the client's receipt time minus that is the latency. Reports
//! `e2e_p50_ms`, `e2e_p99_ms` and the rate the clients actually received.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use cricket::MatchSummary;
use cricket::live::{ClientMessage, ServerMessage};
use futures_util::{SinkExt, StreamExt};
use platform::kafka;
use tokio_tungstenite::tungstenite::Message;

use crate::say;
use crate::stack::{Options, Stack, build_release};

const MATCHES: usize = 100;
/// 100 matches x a ball every 40 s / 800 = 2,000 events/s.
const SPEED: &str = "800";
const MEASURE: Duration = Duration::from_secs(20);
const MATCHES_PER_CONNECTION: usize = 25;

pub(crate) async fn run() -> Result<Vec<(String, f64)>> {
    say("bench live: building the release binaries");
    build_release(&["ingest", "stream-stats", "simulator"])?;
    let stack = Stack::start(
        "bench/live",
        Options {
            stream_stats: true,
            quiet: true,
            ..Options::default()
        },
    )
    .await?;
    let stats_port = stack.stats_port;
    let _simulator = stack.simulator(&[
        "run",
        "--format",
        "odi",
        "--matches",
        &MATCHES.to_string(),
        "--speed",
        SPEED,
        "--seed",
        "2024",
    ])?;

    let ids = wait_for_matches(stats_port, MATCHES).await?;
    let mut clients = Vec::new();
    for chunk in ids.chunks(MATCHES_PER_CONNECTION) {
        clients.push(tokio::spawn(follow(stats_port, chunk.to_vec())));
    }
    let mut latencies = Vec::new();
    for client in clients {
        latencies.extend(client.await.context("client task")??);
    }
    drop(stack);

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
