//! Ingest against the real local broker over TCP, served on a real socket: accepted events are
//! on the topic exactly once, in order per match, with key and headers; a broker outage gives
//! 503 with Retry-After, and the same process recovers when the broker returns.
//!
//! Needs `KAFKA_BROKERS` and `NISSHI_BIN`: `cargo xtask test` sets both.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Parser;
use cricket::Event;
use platform::kafka;
use platform::local_broker::{LocalBroker, Storage, free_port};
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Headers;
use tokio::sync::oneshot;

const TOKEN: &str = "broker-test-token";

fn brokers() -> String {
    std::env::var("KAFKA_BROKERS")
        .expect("KAFKA_BROKERS is not set: run the tests with `cargo xtask test`")
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

fn real_match(id: &str) -> Vec<Event> {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../data/cricsheet/{id}.json"));
    let bytes = std::fs::read(&path).expect("match file");
    cricket::cricsheet::import(id, &path.display().to_string(), &bytes).expect("import")
}

fn ndjson(events: &[Event]) -> String {
    events
        .iter()
        .map(|e| serde_json::to_string(e).expect("json"))
        .collect::<Vec<_>>()
        .join("\n")
}

struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Server {
    async fn start(brokers: &str, topic: &str, extra: &[&str]) -> Server {
        let mut args = vec![
            "ingest",
            "--token",
            TOKEN,
            "--brokers",
            brokers,
            "--topic",
            topic,
        ];
        args.extend_from_slice(extra);
        let config = ingest::Config::try_parse_from(args).expect("flags");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(ingest::run(config, listener, async move {
            let _ = stopped.await;
        }));
        Server {
            addr,
            stop: Some(stop),
            task,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn post(&self, body: String) -> reqwest::Response {
        reqwest::Client::new()
            .post(self.url("/v1/events"))
            .bearer_auth(TOKEN)
            .header("content-type", "application/x-ndjson")
            .body(body)
            .send()
            .await
            .expect("ingest answers")
    }

    async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.await.expect("join").expect("clean shutdown");
    }
}

async fn create_topic(brokers: &str, topic: &str) {
    kafka::create_topics(
        brokers,
        &[kafka::TopicSpec {
            name: topic.to_owned(),
            partitions: kafka::MATCH_PARTITIONS,
            configs: vec![],
        }],
    )
    .await
    .expect("topic");
}

/// Reads the whole topic (until it stays quiet) as (key, event, header map).
async fn read_topic(
    brokers: &str,
    topic: &str,
    at_least: usize,
) -> Vec<(String, Event, BTreeMap<String, String>)> {
    let consumer: StreamConsumer = kafka::consumer_config(brokers, &unique("reader"))
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let mut records = Vec::new();
    loop {
        let wait = if records.len() < at_least { 30 } else { 2 };
        let Ok(message) = tokio::time::timeout(Duration::from_secs(wait), consumer.recv()).await
        else {
            break;
        };
        let message = message.expect("consumer ok");
        let key = String::from_utf8(message.key().expect("key").to_vec()).expect("utf-8");
        let event: Event =
            serde_json::from_slice(message.payload().expect("payload")).expect("event");
        let headers = message
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| {
                        (
                            h.key.to_owned(),
                            String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        records.push((key, event, headers));
    }
    records
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_events_land_exactly_once_in_order_with_key_and_headers() {
    let brokers = brokers();
    let topic = unique("ingest-events");
    create_topic(&brokers, &topic).await;
    let server = Server::start(&brokers, &topic, &[]).await;

    let matches = ["1187669", "1298152", "729309"];
    let mut sent = 0;
    let before = kafka::now_ms();
    for id in matches {
        let events = real_match(id);
        for batch in events.chunks(100) {
            let response = server.post(ndjson(batch)).await;
            assert_eq!(response.status(), 202);
            let body: serde_json::Value = response.json().await.expect("json");
            assert_eq!(body["accepted"], batch.len());
            sent += batch.len();
        }
    }
    let after = kafka::now_ms();

    let records = read_topic(&brokers, &topic, sent).await;
    assert_eq!(
        records.len(),
        sent,
        "every accepted event is on the topic once"
    );
    let mut seen = HashSet::new();
    let mut last_seq: BTreeMap<String, u64> = BTreeMap::new();
    for (key, event, headers) in &records {
        assert_eq!(key, &event.match_id);
        assert!(
            seen.insert((event.match_id.clone(), event.seq)),
            "no duplicates"
        );
        let last = last_seq.entry(event.match_id.clone()).or_default();
        assert_eq!(event.seq, *last + 1, "in order within the match");
        *last = event.seq;
        assert_eq!(headers.get("schema-version").map(String::as_str), Some("1"));
        assert_eq!(
            headers.get("content-type").map(String::as_str),
            Some("application/json")
        );
        let ingest_time: i64 = headers["ingest-time-ms"].parse().expect("number");
        assert!((before..=after).contains(&ingest_time));
    }
    for id in matches {
        let on_topic: Vec<Event> = records
            .iter()
            .filter(|r| r.1.match_id == id)
            .map(|r| r.1.clone())
            .collect();
        assert_eq!(
            on_topic,
            real_match(id),
            "match {id} arrives exactly as sent"
        );
    }

    let metrics = reqwest::get(server.url("/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("ingest_events_accepted_total"),
        "{metrics}"
    );
    assert!(
        metrics.contains("ingest_produce_seconds_bucket"),
        "{metrics}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_outage_is_503_and_ingest_recovers_without_a_restart() {
    let dir = std::env::temp_dir().join(unique("ingest-outage"));
    std::fs::create_dir_all(&dir).expect("dir");
    let mut broker = LocalBroker::start(
        free_port().expect("port"),
        Storage::Sqlite(dir.join("broker.db")),
        &dir,
    )
    .await
    .expect("own broker");
    let brokers = broker.brokers();
    let server = Server::start(
        &brokers,
        kafka::MATCH_EVENTS,
        &["--produce-timeout-ms", "2000"],
    )
    .await;
    let events = real_match("1298152");
    let (first, rest) = events.split_at(50);

    assert_eq!(server.post(ndjson(first)).await.status(), 202);

    broker.kill();
    let response = server.post(ndjson(&rest[..20])).await;
    assert_eq!(response.status(), 503, "broker down is 503");
    assert!(response.headers().contains_key("retry-after"));
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "unavailable");
    assert_eq!(
        body["error"]["failed"].as_array().map(Vec::len),
        Some(20),
        "all 20 reported failed"
    );
    let ready = reqwest::get(server.url("/readyz")).await.expect("readyz");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut ready_status = ready.status();
    while ready_status != 503 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        ready_status = reqwest::get(server.url("/readyz"))
            .await
            .expect("readyz")
            .status();
    }
    assert_eq!(ready_status, 503, "not ready while the broker is down");

    broker.restart().await.expect("broker back");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let response = server.post(ndjson(rest)).await;
        if response.status() == 202 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "ingest did not recover: {}",
            response.status()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // Everything that got a 202 is on the topic; the retried tail may be there twice
    // (first attempt failed late), which consumers absorb by seq.
    let records = read_topic(&brokers, kafka::MATCH_EVENTS, events.len()).await;
    let seqs: HashSet<u64> = records.iter().map(|r| r.1.seq).collect();
    for event in &events {
        assert!(
            seqs.contains(&event.seq),
            "seq {} missing after recovery",
            event.seq
        );
    }
    server.shutdown().await;
    drop(broker);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_producer_queue_is_429_naming_what_was_not_accepted() {
    let brokers = brokers();
    let topic = unique("ingest-queue");
    create_topic(&brokers, &topic).await;
    // A queue of one event: the second event of a request finds it full.
    let server = Server::start(&brokers, &topic, &["--producer-queue-events", "1"]).await;
    let events = real_match("729309");
    let response = server.post(ndjson(&events[..50])).await;
    assert_eq!(response.status(), 429);
    assert!(response.headers().contains_key("retry-after"));
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "busy");
    let failed: Vec<u64> = body["error"]["failed"]
        .as_array()
        .expect("failed indexes")
        .iter()
        .filter_map(serde_json::Value::as_u64)
        .collect();
    assert!(
        !failed.is_empty() && failed.len() < 50,
        "some were queued, the rest refused: {failed:?}"
    );
    // Everything not listed as failed really is on the topic.
    let accepted: Vec<u64> = (0..50u64).filter(|i| !failed.contains(i)).collect();
    let records = read_topic(&brokers, &topic, accepted.len()).await;
    let seqs: Vec<u64> = records.iter().map(|r| r.1.seq).collect();
    for index in accepted {
        assert!(
            seqs.contains(&events[index as usize].seq),
            "accepted event {index} missing"
        );
    }
    server.shutdown().await;
}

/// An event of match `id` that is valid on its own.
fn innings_ended(id: &str, seq: u64) -> serde_json::Value {
    serde_json::json!({
        "schema": 1, "match_id": id, "seq": seq, "time": "2024-05-01T12:00:00Z",
        "payload": {"innings_ended": {"innings": 1, "reason": "all_out"}}
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_bound_values_are_422_naming_the_field_and_nothing_is_produced() {
    use cricket::validate::{MAX_INNINGS, MAX_NAME_LEN, MAX_SEQ};
    let brokers = brokers();
    let topic = unique("ingest-bounds");
    create_topic(&brokers, &topic).await;
    let server = Server::start(&brokers, &topic, &[]).await;
    let far_future = (chrono::Utc::now() + chrono::TimeDelta::days(2)).to_rfc3339();
    // (pointer, value, the field the 422 must name)
    let cases: Vec<(&str, serde_json::Value, &str)> = vec![
        ("/seq", serde_json::json!(i64::MAX - 1), "seq"),
        ("/seq", serde_json::json!(MAX_SEQ + 1), "seq"),
        ("/schema", serde_json::json!(0), "schema"),
        ("/match_id", serde_json::json!(""), "match_id"),
        ("/time", serde_json::json!("1876-12-31T23:59:59Z"), "time"),
        ("/time", serde_json::json!(far_future), "time"),
        (
            "/payload/innings_ended/innings",
            serde_json::json!(MAX_INNINGS + 1),
            "payload.innings_ended.innings",
        ),
        (
            "/payload/innings_ended/penalty_runs",
            serde_json::json!(u32::MAX),
            "payload.innings_ended.penalty_runs",
        ),
        (
            "/payload/innings_ended/absent_hurt",
            serde_json::json!(["x".repeat(MAX_NAME_LEN + 1)]),
            "payload.innings_ended.absent_hurt[0]",
        ),
        (
            "/payload/innings_ended/absent_hurt",
            serde_json::json!(vec!["A"; 12]),
            "payload.innings_ended.absent_hurt",
        ),
    ];
    let match_id = unique("bounds");
    for (pointer, value, field) in cases {
        let mut bad = innings_ended(&match_id, 2);
        let (parent, key) = pointer.rsplit_once('/').expect("pointer");
        bad.pointer_mut(parent).expect("parent")[key] = value.clone();
        // A valid event first: the request is all or nothing, so it must not be produced either.
        let body = format!("{}\n{bad}", innings_ended(&match_id, 1));
        let response = server.post(body).await;
        assert_eq!(response.status(), 422, "{pointer} = {value}");
        let body: serde_json::Value = response.json().await.expect("json");
        assert_eq!(body["error"]["code"], "invalid_event", "{body}");
        assert_eq!(body["error"]["field"], field, "{pointer} = {value}: {body}");
        assert_eq!(body["error"]["index"], 1, "{body}");
    }
    for (content_type, empty) in [("application/json", "[]"), ("application/x-ndjson", "\n")] {
        let response = reqwest::Client::new()
            .post(server.url("/v1/events"))
            .bearer_auth(TOKEN)
            .header("content-type", content_type)
            .body(empty)
            .send()
            .await
            .expect("ingest answers");
        assert_eq!(response.status(), 400, "{content_type} {empty:?}");
        let body: serde_json::Value = response.json().await.expect("json");
        assert_eq!(body["error"]["code"], "empty");
    }

    // One accepted event afterwards: the topic holds it and nothing else.
    let sentinel = unique("sentinel");
    let response = server.post(innings_ended(&sentinel, 1).to_string()).await;
    assert_eq!(response.status(), 202);
    let records = read_topic(&brokers, &topic, 1).await;
    let keys: Vec<&str> = records.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        keys,
        [sentinel.as_str()],
        "only the accepted event was produced"
    );
    server.shutdown().await;
}
