//! The dashboard's live WebSocket relay under hostile use, with real sockets against the real
//! web and stream-stats processes: sockets per browser address are capped before anything
//! reaches stream-stats, an oversized message closes only its own socket (and its upstream
//! connection), stream-stats' subscription cap reaches the browser as an error message, and
//! the process's sockets return to where they were. A normal client is served throughout.
//!
//! Needs `KAFKA_BROKERS` and the stream-stats binary: `cargo xtask test` provides both.

#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

use std::net::IpAddr;
use std::time::{Duration, Instant};

use cricket::live::{ClientMessage, ServerMessage};
use futures_util::{SinkExt, StreamExt};
use testkit::{Ingest, Service, TempDir, Topics, brokers, real_matches, unique};
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Socket = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

const PER_IP: usize = 4;

/// A browser's socket from `source`, with the page's Origin: the socket or the refusal.
async fn open(web: &Service, source: [u8; 4]) -> Result<Socket, (u16, serde_json::Value)> {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind((IpAddr::from(source), 0).into())
        .expect("bind the source address");
    let stream = socket
        .connect(([127, 0, 0, 1], web.port).into())
        .await
        .expect("connect");
    let mut request = format!("ws://127.0.0.1:{}/api/live/ws", web.port)
        .into_client_request()
        .expect("request");
    request.headers_mut().insert(
        "origin",
        format!("http://127.0.0.1:{}", web.port)
            .parse()
            .expect("header"),
    );
    match tokio_tungstenite::client_async(request, stream).await {
        Ok((socket, _)) => Ok(socket),
        Err(tungstenite::Error::Http(response)) => {
            let body = response
                .body()
                .as_deref()
                .and_then(|b| serde_json::from_slice(b).ok())
                .unwrap_or_default();
            Err((response.status().as_u16(), body))
        }
        Err(err) => panic!("unexpected handshake failure: {err}"),
    }
}

async fn send(socket: &mut Socket, message: &ClientMessage) {
    socket
        .send(tungstenite::Message::text(
            serde_json::to_string(message).expect("json"),
        ))
        .await
        .expect("send");
}

async fn next(socket: &mut Socket) -> Option<ServerMessage> {
    loop {
        match tokio::time::timeout(Duration::from_secs(20), socket.next())
            .await
            .ok()??
        {
            Ok(tungstenite::Message::Text(text)) => return serde_json::from_str(&text).ok(),
            Ok(tungstenite::Message::Ping(_) | tungstenite::Message::Pong(_)) => continue,
            _ => return None,
        }
    }
}

async fn list(socket: &mut Socket) {
    send(
        socket,
        &ClientMessage::Subscribe {
            list: true,
            matches: vec![],
        },
    )
    .await;
    assert!(
        matches!(next(socket).await, Some(ServerMessage::Matches { .. })),
        "relayed to stream-stats"
    );
}

/// Waits until stream-stats counts `want` WebSocket clients.
async fn upstream_clients(stats: &Service, want: f64) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let now = stats.metric("stream_stats_ws_clients").await;
        if now == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "stream-stats has {now} clients, expected {want}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_bounds_each_browser_and_serves_the_others() {
    let topics = Topics::create().await;
    let ingest = Ingest::start(&topics.events).await;
    let log = |name: &str| std::env::temp_dir().join(format!("{}-{name}.log", unique("relay")));
    let stats = Service::start(
        "stream-stats",
        &testkit::sibling_binary(env!("CARGO_BIN_EXE_web"), "stream-stats"),
        "STATS_LISTEN",
        &[
            ("KAFKA_BROKERS", brokers()),
            ("STATS_EVENTS_TOPIC", topics.events.clone()),
            ("STATS_SNAPSHOT_TOPIC", topics.snapshots.clone()),
            ("STATS_DLQ_TOPIC", topics.dlq.clone()),
            ("STATS_GROUP", topics.group.clone()),
        ],
        log("stats"),
    )
    .await;
    let matches = real_matches();
    let (id, events) = matches[0].clone();
    ingest.send(vec![events[..10].to_vec()]).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while stats.scorecard(&id).await.is_none() {
        assert!(Instant::now() < deadline, "the match never appeared");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Readiness only needs the browser code to exist.
    let site = TempDir::new("relay-site");
    std::fs::create_dir_all(site.0.join("pkg")).expect("pkg");
    std::fs::write(site.0.join("pkg/web.js"), "").expect("web.js");
    let web = Service::start(
        "web",
        env!("CARGO_BIN_EXE_web"),
        "WEB_LISTEN",
        &[
            ("WEB_STREAM_STATS_URL", stats.url("")),
            ("WEB_WAREHOUSE_URL", stats.url("")),
            ("WEB_INGEST_URL", ingest.url.clone()),
            ("WEB_SITE_ROOT", site.0.display().to_string()),
            ("WEB_WS_MAX_PER_IP", PER_IP.to_string()),
        ],
        log("web"),
    )
    .await;
    let files_before = web.open_files().expect("fds");

    // A normal browser, on its own address, follows the match throughout.
    let mut normal = open(&web, [127, 0, 0, 9]).await.expect("normal");
    send(
        &mut normal,
        &ClientMessage::Subscribe {
            list: false,
            matches: vec![id.clone()],
        },
    )
    .await;
    assert!(matches!(
        next(&mut normal).await,
        Some(ServerMessage::Snapshot { .. })
    ));

    // Per address: PER_IP relayed, the next refused before anything reaches stream-stats.
    let mut held = Vec::new();
    for _ in 0..PER_IP {
        let mut socket = open(&web, [127, 0, 0, 2]).await.expect("within the cap");
        list(&mut socket).await;
        held.push(socket);
    }
    upstream_clients(&stats, (PER_IP + 1) as f64).await;
    for _ in 0..3 {
        let (status, body) = open(&web, [127, 0, 0, 2]).await.expect_err("past the cap");
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (429, Some("too_many_connections")),
            "{body}"
        );
    }
    upstream_clients(&stats, (PER_IP + 1) as f64).await;
    let mut neighbour = open(&web, [127, 0, 0, 3])
        .await
        .expect("another address is not affected");
    list(&mut neighbour).await;

    // stream-stats' subscription cap reaches the browser as a message, not a silent drop.
    let too_many: Vec<String> = (0..65).map(|n| format!("made-up-{n}")).collect();
    send(
        &mut neighbour,
        &ClientMessage::Subscribe {
            list: false,
            matches: too_many,
        },
    )
    .await;
    match next(&mut neighbour).await {
        Some(ServerMessage::Error { message }) => {
            assert!(message.contains("at most 64"), "{message}");
        }
        other => panic!("expected the subscription cap's error, got {other:?}"),
    }

    // An oversized message closes that socket, and its upstream connection with it.
    let mut big = held.pop().expect("one");
    let _ = big
        .send(tungstenite::Message::text("x".repeat(64 * 1024)))
        .await;
    assert!(
        next(&mut big).await.is_none(),
        "the oversized sender is cut off"
    );
    upstream_clients(&stats, (PER_IP + 1) as f64).await;
    // ... and its slot is free again.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut again = loop {
        match open(&web, [127, 0, 0, 2]).await {
            Ok(socket) => break socket,
            Err((429, _)) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(other) => panic!("the freed slot was not given back: {other:?}"),
        }
    };
    list(&mut again).await;
    held.push(again);

    // The normal browser still gets every delta, in order.
    ingest.send(vec![events[10..30].to_vec()]).await;
    let mut seq = 10;
    while seq < 30 {
        match next(&mut normal).await {
            Some(ServerMessage::Event { seq: got, .. }) => {
                assert_eq!(got, seq + 1);
                seq = got;
            }
            other => panic!("the normal browser got {other:?}"),
        }
    }

    // Closing everything gives every socket back, on both sides.
    for mut socket in held.into_iter().chain([neighbour, normal]) {
        let _ = socket.close(None).await;
    }
    upstream_clients(&stats, 0.0).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let files = web.open_files().expect("fds");
        if files <= files_before + 2 {
            println!("web open files: {files_before} before, {files} after");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "web holds {files} files, {files_before} before"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let health = reqwest::get(web.url("/healthz")).await.expect("alive");
    assert_eq!(health.status(), 200);
}
