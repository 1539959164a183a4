//! WebSocket fan-out: how many clients one stream-stats instance holds on one live match, how
//! long an event takes to reach every one of them, and what each client costs in memory.
//!
//! Clients connect in waves from several loopback source addresses (one address runs out of
//! ephemeral ports near 28,000), all subscribe to the same match, then the match goes on: each
//! delta carries the time ingest accepted it, and every client records its receipt time minus
//! that. Memory per client is the growth of the server's resident set divided by the clients.
//! Reports `ws_clients` (the largest count held), `ws_update_p99_ms`, `ws_rss_per_client_kib`,
//! and when the goal count was not reached, `ws_connect_failures`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use cricket::live::{ClientMessage, ServerMessage};
use futures_util::{SinkExt, StreamExt};
use platform::kafka;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::process::Running;
use crate::stack::{Options, Stack, TOKEN, build_release, rss_kib};
use crate::{say, workspace_root};

const GOAL_CLIENTS: usize = 50_000;
/// Clients share a source address up to this many: below stream-stats' per-address cap
/// (`STATS_WS_MAX_PER_IP`, 4,096 by default), so the benchmark runs the default configuration.
const CLIENTS_PER_ADDRESS: usize = 4_000;
const WAVE: usize = 500;
const MATCH_ID: &str = "1187669";
const MEASURED_EVENTS: usize = 20;
/// Latency histogram resolution: 1 ms buckets up to 10 s.
const BUCKETS: usize = 10_000;

pub(crate) async fn run() -> Result<Vec<(String, f64)>> {
    let target = raise_fd_limit()?;
    if target < GOAL_CLIENTS {
        say(format!(
            "bench ws: the open-file limit allows about {target} clients per process (goal {GOAL_CLIENTS}); \
             raise `ulimit -Hn` (needs CAP_SYS_RESOURCE) to go further"
        ));
    }
    say("bench ws: building the release binaries");
    build_release(&["ingest", "stream-stats"])?;
    let stack = Stack::start(
        "bench/ws",
        Options {
            stream_stats: true,
            quiet: true,
            ..Options::default()
        },
    )
    .await?;
    let (ingest_port, stats_port) = (stack.ingest_port, stack.stats_port);
    let stats_pid = stack
        .stats
        .as_ref()
        .map(Running::pid)
        .context("stream-stats")?;
    let token = TOKEN;

    let events = real_match()?;
    let http = reqwest::Client::new();
    let ingest_url = format!("http://127.0.0.1:{ingest_port}/v1/events");
    let post = |batch: &[cricket::Event]| {
        let body: String = batch
            .iter()
            .map(|e| serde_json::to_string(e).unwrap_or_default() + "\n")
            .collect();
        http.post(&ingest_url)
            .bearer_auth(token)
            .header("content-type", "application/x-ndjson")
            .body(body)
            .send()
    };
    // The match starts before anyone connects: a small snapshot each.
    let response = post(&events[..3]).await?;
    if !response.status().is_success() {
        bail!("ingest refused the opening events: {}", response.status());
    }
    wait_for_match(stats_port).await?;
    let rss_before = rss_kib(stats_pid)?;

    let histogram: Arc<Vec<AtomicU64>> =
        Arc::new((0..BUCKETS).map(|_| AtomicU64::new(0)).collect());
    let connected = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::with_capacity(target);
    let mut first_error = None;
    for wave in 0..target.div_ceil(WAVE) {
        let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<Result<(), String>>(WAVE);
        for index in wave * WAVE..((wave + 1) * WAVE).min(target) {
            let source = [
                127,
                0,
                0,
                2 + u8::try_from(index / CLIENTS_PER_ADDRESS).unwrap_or(0),
            ];
            clients.push(tokio::spawn(client(
                stats_port,
                source,
                ready_tx.clone(),
                histogram.clone(),
            )));
        }
        drop(ready_tx);
        while let Some(result) = ready_rx.recv().await {
            match result {
                Ok(()) => {
                    connected.fetch_add(1, Ordering::Relaxed);
                }
                Err(err) => {
                    failures.fetch_add(1, Ordering::Relaxed);
                    first_error.get_or_insert(err);
                }
            }
        }
        if failures.load(Ordering::Relaxed) > WAVE {
            break;
        }
    }
    let held = connected.load(Ordering::Relaxed);
    say(format!("bench ws: {held} clients connected and subscribed"));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = rss_kib(stats_pid)?;

    // The match goes on: one event at a time, spaced so each fan-out completes.
    for event in events.iter().skip(3).take(MEASURED_EVENTS) {
        post(std::slice::from_ref(event)).await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    for client in &clients {
        client.abort();
    }
    drop(stack);

    let counts: Vec<u64> = histogram
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .collect();
    let total: u64 = counts.iter().sum();
    let expected = (held * MEASURED_EVENTS) as u64;
    say(format!(
        "bench ws: {total} of {expected} client updates received"
    ));
    let p99 = quantile(&counts, 0.99);
    let mut report = vec![
        ("ws_clients".to_owned(), held as f64),
        ("ws_update_p99_ms".to_owned(), p99),
        (
            "ws_updates_received_ratio".to_owned(),
            total as f64 / expected.max(1) as f64,
        ),
        (
            "ws_rss_per_client_kib".to_owned(),
            rss_after.saturating_sub(rss_before) as f64 / held.max(1) as f64,
        ),
    ];
    if held < target {
        report.push((
            "ws_connect_failures".to_owned(),
            failures.load(Ordering::Relaxed) as f64,
        ));
        say(format!(
            "bench ws: stopped below the goal; first error: {first_error:?}"
        ));
    }
    Ok(report)
}

/// One client: connect from `source`, subscribe, report readiness, then record the latency of
/// every delta until aborted.
async fn client(
    port: u16,
    source: [u8; 4],
    ready: tokio::sync::mpsc::Sender<Result<(), String>>,
    histogram: Arc<Vec<AtomicU64>>,
) {
    let connect = async {
        let socket = tokio::net::TcpSocket::new_v4().map_err(|e| e.to_string())?;
        socket
            .bind((source, 0).into())
            .map_err(|e| format!("bind: {e}"))?;
        let stream = socket
            .connect(([127, 0, 0, 1], port).into())
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let config = WebSocketConfig::default()
            .read_buffer_size(4 * 1024)
            .write_buffer_size(0);
        let url = format!("ws://127.0.0.1:{port}/v1/ws");
        let (mut socket, _) =
            tokio_tungstenite::client_async_with_config(url, stream, Some(config))
                .await
                .map_err(|e| format!("handshake: {e}"))?;
        let subscribe = ClientMessage::Subscribe {
            list: false,
            matches: vec![MATCH_ID.to_owned()],
        };
        let text = serde_json::to_string(&subscribe).map_err(|e| e.to_string())?;
        socket
            .send(Message::text(text))
            .await
            .map_err(|e| e.to_string())?;
        loop {
            match tokio::time::timeout(Duration::from_secs(60), socket.next()).await {
                Ok(Some(Ok(Message::Text(_)))) => return Ok(socket),
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
                other => return Err(format!("no snapshot: {other:?}")),
            }
        }
    };
    let mut socket = match connect.await {
        Ok(socket) => {
            let _ = ready.send(Ok(())).await;
            socket
        }
        Err(err) => {
            let _ = ready.send(Err(err)).await;
            return;
        }
    };
    drop(ready);
    while let Some(Ok(message)) = socket.next().await {
        let received = kafka::now_ms();
        let Message::Text(text) = message else {
            continue;
        };
        if let Ok(ServerMessage::Event {
            ingested_at_ms: Some(ingested),
            ..
        }) = serde_json::from_str(&text)
        {
            let bucket = usize::try_from((received - ingested).max(0))
                .unwrap_or(0)
                .min(BUCKETS - 1);
            histogram[bucket].fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn quantile(counts: &[u64], q: f64) -> f64 {
    let total: u64 = counts.iter().sum();
    let target = (total as f64 * q).ceil() as u64;
    let mut seen = 0;
    for (ms, count) in counts.iter().enumerate() {
        seen += count;
        if seen >= target.max(1) {
            return ms as f64;
        }
    }
    counts.len() as f64
}

fn real_match() -> Result<Vec<cricket::Event>> {
    let path = workspace_root().join(format!("data/cricsheet/{MATCH_ID}.json"));
    let bytes = std::fs::read(&path)?;
    Ok(cricket::cricsheet::import(
        MATCH_ID,
        &path.display().to_string(),
        &bytes,
    )?)
}

async fn wait_for_match(port: u16) -> Result<()> {
    let url = format!("http://127.0.0.1:{port}/v1/matches/{MATCH_ID}");
    for _ in 0..300 {
        if reqwest::get(&url)
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the match never appeared in stream-stats")
}

/// Each client is a file descriptor in this process and in the server: lift the limit as far
/// as allowed (children inherit it). Returns how many clients fit, at most the goal.
fn raise_fd_limit() -> Result<usize> {
    let wanted = GOAL_CLIENTS as u64 + 1_000;
    let (_, hard) = rlimit::Resource::NOFILE.get()?;
    // Raising the hard limit needs CAP_SYS_RESOURCE; without it, go up to the hard limit.
    let limit = if rlimit::Resource::NOFILE
        .set(wanted, wanted.max(hard))
        .is_ok()
    {
        wanted
    } else {
        rlimit::Resource::NOFILE
            .set(hard, hard)
            .with_context(|| format!("cannot raise the open-file limit to {hard}"))?;
        hard
    };
    // Leave room for the process's other descriptors (broker connections, logs, runtime).
    Ok(usize::try_from(limit.saturating_sub(500))
        .unwrap_or(0)
        .min(GOAL_CLIENTS))
}
