//! stream-stats end to end: the real broker, ingest, and stream-stats as a real process.
//!
//! Needs `KAFKA_BROKERS`: `cargo xtask test` starts a broker and sets it.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{Ingest, Stats, Topics, expected, real_matches, split};
use cricket::live::{ClientMessage, ServerMessage};
use cricket::{Event, Scoreboard};
use futures_util::{SinkExt, StreamExt};
use platform::kafka;
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Headers;
use rdkafka::producer::{FutureProducer, FutureRecord};
use tokio_tungstenite::tungstenite;

const SETTLE: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_twenty_real_matches_replayed_through_ingest_score_exactly() {
    let topics = Topics::create().await;
    let stats = Stats::start(&topics).await;
    let ingest = Ingest::start(&topics.events).await;
    let matches = real_matches();
    ingest
        .send(matches.iter().map(|(_, events)| events.clone()).collect())
        .await;
    stats.assert_scorecards(&expected(), SETTLE).await;

    let list: serde_json::Value = reqwest::get(stats.url("/v1/matches"))
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(list.as_array().map(Vec::len), Some(20));
    let unknown = reqwest::get(stats.url("/v1/matches/no-such-match"))
        .await
        .expect("answer");
    assert_eq!(unknown.status(), 404);
    let body: serde_json::Value = unknown.json().await.expect("json");
    assert_eq!(body["error"]["code"], "unknown_match");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_replay_and_restart_gives_exact_scorecards() {
    let topics = Topics::create().await;
    let mut stats = Stats::start(&topics).await;
    let ingest = Ingest::start(&topics.events).await;
    let matches = real_matches();
    let mut parts = split(&matches, 4).into_iter();

    ingest.send(parts.next().expect("part")).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stats.kill(); // mid-stream: some events checkpointed, some not

    ingest.send(parts.next().expect("part")).await; // arrives while it is down
    stats.restart().await;
    ingest.send(parts.next().expect("part")).await;
    stats.kill(); // immediately: whatever was in flight is lost from memory
    stats.restart().await;
    ingest.send(parts.next().expect("part")).await;

    stats.assert_scorecards(&expected(), SETTLE).await;
    assert_eq!(
        stats.metric("stream_stats_gaps_total").await,
        0.0,
        "no gap was ever seen"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_the_work_and_one_survives_the_other() {
    let topics = Topics::create().await;
    let mut first = Stats::start(&topics).await;
    let second = Stats::start(&topics).await;
    let ingest = Ingest::start(&topics.events).await;
    let matches = real_matches();
    let mut parts = split(&matches, 2).into_iter();

    ingest.send(parts.next().expect("part")).await;
    // The group split the partitions between them.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let owned = (
            first.metric("stream_stats_owned_partitions").await,
            second.metric("stream_stats_owned_partitions").await,
        );
        if owned.0 > 0.0 && owned.1 > 0.0 && owned.0 + owned.1 == 6.0 {
            break;
        }
        assert!(Instant::now() < deadline, "partitions not split: {owned:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    first.kill();
    ingest.send(parts.next().expect("part")).await;
    second.assert_scorecards(&expected(), SETTLE).await;

    // The survivor takes over the dead member's partitions once its session expires.
    let deadline = Instant::now() + Duration::from_secs(40);
    while second.metric("stream_stats_owned_partitions").await < 6.0 {
        assert!(
            Instant::now() < deadline,
            "the survivor never took over all partitions"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Wait for its checkpoints, then a brand-new instance starts from them alone.
    tokio::time::sleep(Duration::from_secs(2)).await;
    drop(second);
    let third = Stats::start(&topics).await;
    third.assert_scorecards(&expected(), SETTLE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_records_go_to_the_dead_letter_topic_and_the_rest_scores_exactly() {
    let topics = Topics::create().await;
    let stats = Stats::start(&topics).await;
    let matches = real_matches();
    let chosen: Vec<&(String, Vec<Event>)> = matches.iter().take(4).collect();
    let producer: FutureProducer = kafka::producer_config(&common::brokers())
        .create()
        .expect("producer");
    let send = |key: Vec<u8>, payload: Vec<u8>| {
        let producer = producer.clone();
        let topic = topics.events.clone();
        async move {
            producer
                .send(
                    FutureRecord::to(&topic).key(&key).payload(&payload),
                    Duration::from_secs(10),
                )
                .await
                .map_err(|(err, _)| err)
                .expect("produced");
        }
    };
    let poison: Vec<(Vec<u8>, Vec<u8>, &str)> = vec![
        (b"1187669".to_vec(), b"\x00\xff not json at all".to_vec(), "not an event"),
        (b"1187669".to_vec(), br#"{"schema":1,"match_id":"1187669"}"#.to_vec(), "not an event"),
        (
            b"1187669".to_vec(),
            br#"{"schema":1,"match_id":"1187669","seq":0,"time":"2024-01-01T00:00:00Z","payload":{"match_ended":{"outcome":{"result":"no_result"}}}}"#.to_vec(),
            "invalid event",
        ),
        (
            b"someone-else".to_vec(),
            serde_json::to_vec(&chosen[0].1[0]).expect("json"),
            "record key",
        ),
    ];
    let mut sent_poison = 0;
    for (_, events) in &chosen {
        for (index, event) in events.iter().enumerate() {
            if index % 97 == 5 && sent_poison < poison.len() {
                let (key, payload, _) = poison[sent_poison].clone();
                send(key, payload).await;
                sent_poison += 1;
            }
            send(
                event.match_id.as_bytes().to_vec(),
                serde_json::to_vec(event).expect("json"),
            )
            .await;
        }
    }
    // A well-formed event that contradicts its match: a delivery after the match ended.
    let (id, events) = chosen[1];
    let mut late = events
        .iter()
        .find(|e| matches!(e.payload, cricket::Payload::Delivery(_)))
        .expect("delivery")
        .clone();
    late.seq = events.len() as u64 + 1;
    send(
        id.as_bytes().to_vec(),
        serde_json::to_vec(&late).expect("json"),
    )
    .await;

    let want: BTreeMap<_, _> = expected()
        .into_iter()
        .filter(|(id, _)| chosen.iter().any(|(c, _)| c == id))
        .collect();
    stats.assert_scorecards(&want, SETTLE).await;

    let dead = read_all(&topics.dlq, poison.len() + 1).await;
    assert_eq!(
        dead.len(),
        poison.len() + 1,
        "every poison record is dead-lettered once"
    );
    for (reason, source_topic, partition, offset) in &dead {
        assert_eq!(source_topic, &topics.events);
        assert!(partition.parse::<i32>().is_ok() && offset.parse::<i64>().is_ok());
        assert!(!reason.is_empty());
    }
    for (_, _, expected_reason) in &poison {
        assert!(
            dead.iter().any(|d| d.0.contains(expected_reason)),
            "no dead letter says {expected_reason:?}: {dead:?}"
        );
    }
    assert!(
        dead.iter().any(|d| d.0.contains("refused")),
        "the contradicting delivery is dead-lettered: {dead:?}"
    );
    // The late delivery was refused without touching the finished match.
    let direct = Scoreboard::from_events(id, events).expect("scores");
    let served = stats.scorecard(id).await.expect("served");
    assert_eq!(
        served,
        serde_json::to_value(direct.scorecard()).expect("json")
    );
}

/// (reason, source topic, source partition, source offset) of every record in `topic`.
async fn read_all(topic: &str, at_least: usize) -> Vec<(String, String, String, String)> {
    let consumer: StreamConsumer =
        kafka::consumer_config(&common::brokers(), &common::unique("dlq-reader"))
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
        let header = |name: &str| {
            message
                .headers()
                .and_then(|h| h.iter().find(|h| h.key == name).and_then(|h| h.value))
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_default()
        };
        out.push((
            header(kafka::header::DLQ_REASON),
            header(kafka::header::DLQ_SOURCE_TOPIC),
            header(kafka::header::DLQ_SOURCE_PARTITION),
            header(kafka::header::DLQ_SOURCE_OFFSET),
        ));
    }
}

type Socket = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// A client subscribed to `match_id`. With `recv_buffer`, its socket takes almost nothing
/// before the server's writes block: it becomes a slow reader as soon as it stops reading.
async fn connect(stats: &Stats, match_id: &str, recv_buffer: Option<u32>) -> Socket {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    if let Some(size) = recv_buffer {
        socket.set_recv_buffer_size(size).expect("small buffer");
    }
    let stream = socket
        .connect(([127, 0, 0, 1], stats.port).into())
        .await
        .expect("connect");
    let url = format!("ws://127.0.0.1:{}/v1/ws", stats.port);
    let (mut socket, _) = tokio_tungstenite::client_async(url, stream)
        .await
        .expect("websocket");
    let subscribe = ClientMessage::Subscribe {
        list: false,
        matches: vec![match_id.to_owned()],
    };
    socket
        .send(tungstenite::Message::text(
            serde_json::to_string(&subscribe).expect("json"),
        ))
        .await
        .expect("subscribe");
    socket
}

async fn next_message<S>(
    socket: &mut tokio_tungstenite::WebSocketStream<S>,
) -> Option<ServerMessage>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_clients_get_a_snapshot_then_ordered_deltas_and_a_slow_one_delays_no_one() {
    let topics = Topics::create().await;
    let stats = Stats::start(&topics).await;
    let ingest = Ingest::start(&topics.events).await;
    let matches = real_matches();
    let (id, events) = matches
        .iter()
        .find(|(id, _)| id == "1384429")
        .expect("an ODI")
        .clone();
    let (head, tail) = events.split_at(10);
    ingest.send(vec![head.to_vec()]).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while stats.scorecard(&id).await.is_none() {
        assert!(Instant::now() < deadline, "match never appeared");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let mut fast = connect(&stats, &id, None).await;
    let mut slow = connect(&stats, &id, Some(2048)).await;
    let Some(ServerMessage::Snapshot { scoreboard, .. }) = next_message(&mut fast).await else {
        panic!("the first message is a snapshot");
    };
    let mut board = *scoreboard;
    assert_eq!(board.last_seq, 10);

    // The slow client reads its snapshot and then nothing while the rest of the match arrives,
    // paced like a fast live match (an event every few milliseconds).
    assert!(matches!(
        next_message(&mut slow).await,
        Some(ServerMessage::Snapshot { .. })
    ));
    let sender = {
        let url = ingest.url.clone();
        let tail = tail.to_vec();
        tokio::spawn(async move {
            let sink = simulator::send::Sink::Ingest {
                url,
                token: common::TOKEN.to_owned(),
            };
            // 40 s between balls / 8000 = 5 ms.
            let options = simulator::send::SendOptions {
                pace: 8000.0,
                lanes: 1,
                batch: 50,
                progress: false,
            };
            simulator::send::send(vec![tail], sink, options)
                .await
                .expect("sent");
        })
    };

    // The fast client folds every delta in order, never needing a resync, and ends with the
    // whole match while the slow one is stuck.
    while board.last_seq < events.len() as u64 {
        match next_message(&mut fast).await {
            Some(ServerMessage::Event { seq, event, .. }) => {
                assert_eq!(
                    seq,
                    board.last_seq + 1,
                    "deltas arrive in order without gaps"
                );
                board.apply(&event).expect("applies");
            }
            other => panic!("expected a delta, got {other:?}"),
        }
    }
    let direct = Scoreboard::from_events(&id, &events).expect("scores");
    assert_eq!(board.scorecard(), direct.scorecard());
    sender.await.expect("sender");

    // Now the slow client catches up: with whatever the socket buffers held, and a fresh
    // snapshot if it fell behind the server's buffer, it ends at the same state.
    let mut slow_seq = 10;
    while slow_seq < events.len() as u64 {
        match next_message(&mut slow).await {
            Some(ServerMessage::Snapshot { scoreboard, .. }) => {
                slow_seq = scoreboard.last_seq;
            }
            Some(ServerMessage::Event { seq, .. }) => {
                assert_eq!(
                    seq,
                    slow_seq + 1,
                    "after a resync, deltas continue in order"
                );
                slow_seq = seq;
            }
            other => panic!("slow client got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_refuses_junk_without_dropping_the_client() {
    let topics = Topics::create().await;
    let stats = Stats::start(&topics).await;
    let url = format!("ws://127.0.0.1:{}/v1/ws", stats.port);
    let (mut socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("websocket");
    socket
        .send(tungstenite::Message::text("{not json"))
        .await
        .expect("send");
    assert!(matches!(
        next_message(&mut socket).await,
        Some(ServerMessage::Error { .. })
    ));
    socket
        .send(tungstenite::Message::text(
            r#"{"type":"subscribe","matches":["nope"]}"#,
        ))
        .await
        .expect("send");
    assert!(matches!(
        next_message(&mut socket).await,
        Some(ServerMessage::NotFound { .. })
    ));
    socket
        .send(tungstenite::Message::text(
            r#"{"type":"subscribe","list":true}"#,
        ))
        .await
        .expect("send");
    assert!(matches!(
        next_message(&mut socket).await,
        Some(ServerMessage::Matches { .. })
    ));
    // Oversized messages close the connection instead of being buffered.
    let huge = "x".repeat(64 * 1024);
    let _ = socket.send(tungstenite::Message::text(huge)).await;
    assert!(
        next_message(&mut socket).await.is_none(),
        "an oversized message ends the connection"
    );
}
