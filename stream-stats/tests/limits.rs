//! What one client, or one flood of made-up match ids, can take from stream-stats, checked with
//! real sockets against the real process: connections per address, subscriptions per
//! connection, allowed origins, unknown matches and the number of matches held. Each check
//! looks at the effect (refused before the upgrade, nothing stored, memory flat, other
//! clients still served), not only at a status code.
//!
//! Needs `KAFKA_BROKERS`: `cargo xtask test` starts a broker and sets it.

mod common;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use common::{Ingest, Stats, Topics, real_matches};
use cricket::live::{ClientMessage, ServerMessage};
use cricket::{Event, Scoreboard};
use futures_util::{SinkExt, StreamExt};
use platform::kafka;
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Headers;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Socket = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

const PER_IP: usize = 8;
const MAX_MATCHES: usize = 3;

/// Opens a WebSocket from `source` (a loopback address), with `origin` if given: the socket,
/// or the HTTP status and JSON body of the refusal.
async fn open(
    stats: &Stats,
    source: [u8; 4],
    origin: Option<&str>,
) -> Result<Socket, (u16, serde_json::Value)> {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind((IpAddr::from(source), 0).into())
        .expect("bind the source address");
    let stream = socket
        .connect(([127, 0, 0, 1], stats.port).into())
        .await
        .expect("connect");
    let mut request = format!("ws://127.0.0.1:{}/v1/ws", stats.port)
        .into_client_request()
        .expect("request");
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("origin", origin.parse().expect("header"));
    }
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

fn subscribe(list: bool, matches: Vec<String>) -> ClientMessage {
    ClientMessage::Subscribe { list, matches }
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

async fn readyz_matches(stats: &Stats) -> u64 {
    let body: serde_json::Value = reqwest::get(stats.url("/readyz"))
        .await
        .expect("readyz")
        .json()
        .await
        .expect("json");
    body["matches"].as_u64().expect("matches")
}

/// (key, reason) of every dead letter, reading until `at_least` arrived and the topic is quiet.
async fn dead_letters(topic: &str, at_least: usize) -> Vec<(String, String)> {
    let consumer: StreamConsumer =
        kafka::consumer_config(&common::brokers(), &common::unique("limits-dlq"))
            .create()
            .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let mut out = Vec::new();
    loop {
        let wait = if out.len() < at_least { 30 } else { 3 };
        let Ok(message) = tokio::time::timeout(Duration::from_secs(wait), consumer.recv()).await
        else {
            return out;
        };
        let message = message.expect("record");
        let reason = message
            .headers()
            .and_then(|h| {
                h.iter()
                    .find(|h| h.key == kafka::header::DLQ_REASON)
                    .and_then(|h| h.value)
            })
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_default();
        let key = String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned();
        out.push((key, reason));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_cannot_take_more_than_its_share_and_others_are_unaffected() {
    let topics = Topics::create().await;
    let per_ip = PER_IP.to_string();
    let max_matches = MAX_MATCHES.to_string();
    let stats = Stats::start_with(
        &topics,
        &[
            ("STATS_WS_MAX_PER_IP", per_ip.as_str()),
            ("STATS_MAX_MATCHES", max_matches.as_str()),
        ],
    )
    .await;
    let ingest = Ingest::start(&topics.events).await;
    let matches = real_matches();
    let (followed, followed_events) = matches[0].clone();
    let (other, other_events) = matches[1].clone();
    ingest
        .send(vec![
            followed_events[..10].to_vec(),
            other_events[..10].to_vec(),
        ])
        .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while readyz_matches(&stats).await < 2 {
        assert!(Instant::now() < deadline, "the matches never appeared");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A normal client on its own address follows a match throughout.
    let mut normal = open(&stats, [127, 0, 0, 9], None).await.expect("normal");
    send(&mut normal, &subscribe(false, vec![followed.clone()])).await;
    assert!(matches!(
        next(&mut normal).await,
        Some(ServerMessage::Snapshot { .. })
    ));

    // Connections per address: PER_IP open, the next refused before the upgrade with a JSON
    // reason, another address unaffected, and a closed one frees its slot.
    let mut held = Vec::new();
    for _ in 0..PER_IP {
        held.push(
            open(&stats, [127, 0, 0, 2], None)
                .await
                .expect("within the cap"),
        );
    }
    let (status, body) = open(&stats, [127, 0, 0, 2], None)
        .await
        .expect_err("one past the cap");
    assert_eq!(status, 429);
    assert_eq!(body["error"]["code"], "too_many_connections", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains(&PER_IP.to_string()),
        "{body}"
    );
    let mut neighbour = open(&stats, [127, 0, 0, 3], None)
        .await
        .expect("another address is not affected");
    send(&mut neighbour, &subscribe(true, vec![])).await;
    assert!(matches!(
        next(&mut neighbour).await,
        Some(ServerMessage::Matches { .. })
    ));
    let mut closing = held.pop().expect("one");
    closing.close(None).await.expect("close");
    drop(closing);
    let deadline = Instant::now() + Duration::from_secs(10);
    let reopened = loop {
        match open(&stats, [127, 0, 0, 2], None).await {
            Ok(socket) => break socket,
            Err((429, _)) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(other) => panic!("the freed slot was not given back: {other:?}"),
        }
    };
    held.push(reopened);

    // Origins: by default only the dashboard's pages (browsers always send Origin).
    let (status, body) = open(&stats, [127, 0, 0, 4], Some("https://evil.example"))
        .await
        .expect_err("another site's page");
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("origin_not_allowed"))
    );
    for origin in ["http://localhost:3000", "http://127.0.0.1:3000"] {
        open(&stats, [127, 0, 0, 4], Some(origin))
            .await
            .unwrap_or_else(|err| panic!("the dashboard's origin {origin} is refused: {err:?}"));
    }

    // Subscriptions per connection: up to 64, counting unknown ids, then an error naming the
    // limit with nothing subscribed; the connection stays usable.
    let socket = &mut held[0];
    send(
        socket,
        &subscribe(true, vec![followed.clone(), other.clone()]),
    )
    .await;
    let mut snapshots = 0;
    for _ in 0..3 {
        match next(socket).await {
            Some(ServerMessage::Matches { .. } | ServerMessage::Snapshot { .. }) => snapshots += 1,
            other => panic!("expected the list and two snapshots, got {other:?}"),
        }
    }
    assert_eq!(snapshots, 3);
    let unknown: Vec<String> = (0..61).map(|n| format!("made-up-{n}")).collect();
    send(socket, &subscribe(false, unknown)).await;
    for _ in 0..61 {
        assert!(matches!(
            next(socket).await,
            Some(ServerMessage::NotFound { .. })
        ));
    }
    let too_many: Vec<String> = (0..62).map(|n| format!("made-up-{n}")).collect();
    send(socket, &subscribe(false, too_many)).await;
    match next(socket).await {
        Some(ServerMessage::Error { message }) => {
            assert!(
                message.contains("at most 64") && message.contains("Nothing was subscribed"),
                "{message}"
            );
        }
        other => panic!("expected an error naming the limit, got {other:?}"),
    }
    send(socket, &subscribe(false, vec![other.clone()])).await;
    assert!(
        matches!(next(socket).await, Some(ServerMessage::Snapshot { .. })),
        "the connection still serves after a refusal"
    );

    // Unknown matches leave nothing behind: 12,000 made-up ids asked for over one connection
    // add no match and no memory to speak of.
    let rss_before = stats.rss_kib().expect("rss");
    let asker = &mut held[1];
    let mut answered = 0;
    for round in 0..200 {
        let ids: Vec<String> = (0..60).map(|n| format!("ghost-{round}-{n}")).collect();
        send(asker, &subscribe(false, ids)).await;
        for _ in 0..60 {
            match next(asker).await {
                Some(ServerMessage::NotFound { .. }) => answered += 1,
                other => panic!("expected not_found, got {other:?}"),
            }
        }
    }
    assert_eq!(answered, 12_000);
    assert_eq!(readyz_matches(&stats).await, 2, "no entry for unknown ids");
    let rss_after = stats.rss_kib().expect("rss");
    println!("stream-stats RSS {rss_before} KiB -> {rss_after} KiB after 12,000 unknown ids");
    assert!(
        rss_after < rss_before + 16 * 1024,
        "memory grew {} KiB for unknown ids",
        rss_after - rss_before
    );

    // The store holds at most MAX_MATCHES: of four new matches one fits, the other three are
    // refused, every one of their events dead-lettered with the reason, nothing stored.
    let newcomers: Vec<(String, Vec<Event>)> = matches[2..6]
        .iter()
        .map(|(id, events)| (id.clone(), events[..12].to_vec()))
        .collect();
    ingest
        .send(newcomers.iter().map(|(_, e)| e.clone()).collect())
        .await;
    let dead = dead_letters(&topics.dlq, 3 * 12).await;
    let refused: BTreeMap<String, usize> =
        dead.iter().fold(BTreeMap::new(), |mut by, (key, why)| {
            assert!(why.contains("store full"), "unexpected dead letter: {why}");
            *by.entry(key.clone()).or_default() += 1;
            by
        });
    assert_eq!(refused.len(), 3, "three matches refused: {refused:?}");
    assert!(refused.values().all(|&n| n == 12), "{refused:?}");
    assert_eq!(readyz_matches(&stats).await, MAX_MATCHES as u64);
    assert_eq!(stats.metric("stream_stats_store_full_total").await, 36.0);
    for (id, events) in &newcomers {
        let served = stats.scorecard(id).await;
        if refused.contains_key(id) {
            assert!(served.is_none(), "{id} was refused but is served");
        } else {
            let direct = Scoreboard::from_events(id, events).expect("scores");
            assert_eq!(
                served,
                Some(serde_json::to_value(direct.scorecard()).expect("json")),
                "the match that fitted scores exactly"
            );
        }
    }

    // Through all of it the normal client kept getting its match, in order.
    ingest.send(vec![followed_events[10..40].to_vec()]).await;
    let mut seq = 10;
    while seq < 40 {
        match next(&mut normal).await {
            Some(ServerMessage::Event { seq: got, .. }) => {
                assert_eq!(got, seq + 1);
                seq = got;
            }
            // A client that falls behind the broadcast buffer (a loaded machine) is brought
            // up to date with a snapshot: the protocol's own catch-up, never a step back.
            Some(ServerMessage::Snapshot { scoreboard, .. }) => {
                assert!(scoreboard.last_seq >= seq, "a snapshot never goes back");
                seq = scoreboard.last_seq;
            }
            other => panic!("the normal client got {other:?}"),
        }
    }
    assert!(stats.metric("stream_stats_ws_refused_total").await >= 2.0);
    assert!(
        stats
            .metric("stream_stats_ws_subscriptions_refused_total")
            .await
            >= 1.0
    );
}
