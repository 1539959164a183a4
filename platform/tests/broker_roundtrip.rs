//! Produces real matches to the real local broker over TCP and consumes them back: every
//! event arrives once, in order per match, and a consumer group resumes where it committed.
//!
//! Needs a running broker: `cargo xtask test` starts one and sets `KAFKA_BROKERS`.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use cricket::{Event, Scoreboard};
use platform::kafka;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

fn brokers() -> String {
    std::env::var("KAFKA_BROKERS").expect(
        "KAFKA_BROKERS is not set: run the tests with `cargo xtask test`, which starts a broker",
    )
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

fn real_match(id: &str) -> Vec<Event> {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../data/cricsheet/{id}.json"));
    let bytes = std::fs::read(&path).expect("match file");
    cricket::cricsheet::import(id, &path.display().to_string(), &bytes).expect("import")
}

/// Consumes until `want` records arrived or nothing came for a while.
async fn consume(consumer: &StreamConsumer, want: usize) -> Vec<(String, Event, i32, i64)> {
    let mut got = Vec::new();
    while got.len() < want {
        let message = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
            .await
            .expect("records keep arriving")
            .expect("no consumer error");
        let key = String::from_utf8(message.key().expect("keyed").to_vec()).expect("utf-8 key");
        let headers = message.headers().expect("headers");
        let version = headers
            .iter()
            .find(|h| h.key == kafka::header::SCHEMA_VERSION);
        assert_eq!(version.and_then(|h| h.value), Some(b"1".as_slice()));
        let event: Event =
            serde_json::from_slice(message.payload().expect("payload")).expect("event JSON");
        got.push((key, event, message.partition(), message.offset()));
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_round_trip_in_order_and_a_group_resumes_where_it_committed() {
    let brokers = brokers();
    kafka::wait_for_broker(&brokers, Duration::from_secs(30))
        .await
        .expect("broker up");
    let topic = unique("roundtrip");
    kafka::create_topics(
        &brokers,
        &[kafka::TopicSpec {
            name: topic.clone(),
            partitions: kafka::MATCH_PARTITIONS,
            configs: vec![],
        }],
    )
    .await
    .expect("topic created");

    let matches = ["1187669", "729309", "1298152"];
    let events: Vec<Event> = matches.iter().flat_map(|id| real_match(id)).collect();
    let producer: FutureProducer = kafka::producer_config(&brokers).create().expect("producer");
    let deliveries: Vec<_> = events
        .iter()
        .map(|event| {
            let payload = serde_json::to_vec(event).expect("serialize");
            let headers = OwnedHeaders::new().insert(Header {
                key: kafka::header::SCHEMA_VERSION,
                value: Some("1"),
            });
            let record = FutureRecord::to(&topic)
                .key(event.match_id.as_bytes())
                .payload(&payload)
                .headers(headers);
            producer.send_result(record).expect("queued")
        })
        .collect();
    for delivery in deliveries {
        delivery
            .await
            .expect("not cancelled")
            .expect("acknowledged by the broker");
    }

    // First consumer takes part of the stream, commits what it took, and leaves.
    let group = unique("roundtrip-group");
    let half = events.len() / 2;
    let first: StreamConsumer = kafka::consumer_config(&brokers, &group)
        .create()
        .expect("consumer");
    first.subscribe(&[&topic]).expect("subscribe");
    let taken = consume(&first, half).await;
    let mut offsets = TopicPartitionList::new();
    let mut next_offset: BTreeMap<i32, i64> = BTreeMap::new();
    for (_, _, partition, offset) in &taken {
        let next = next_offset.entry(*partition).or_default();
        *next = (*next).max(offset + 1);
    }
    for (partition, offset) in &next_offset {
        offsets
            .add_partition_offset(&topic, *partition, Offset::Offset(*offset))
            .expect("offset");
    }
    first.commit(&offsets, CommitMode::Sync).expect("commit");
    drop(first);

    // The second member of the group resumes exactly after the committed offsets.
    let second: StreamConsumer = kafka::consumer_config(&brokers, &group)
        .create()
        .expect("consumer");
    second.subscribe(&[&topic]).expect("subscribe");
    let rest = consume(&second, events.len() - half).await;
    let extra = tokio::time::timeout(Duration::from_secs(2), second.recv()).await;
    assert!(extra.is_err(), "nothing beyond the produced events arrives");

    let mut seen = HashSet::new();
    let mut boards: BTreeMap<String, Scoreboard> = BTreeMap::new();
    for (key, event, partition, offset) in taken.iter().chain(&rest) {
        assert_eq!(key, &event.match_id, "keyed by match id");
        assert!(
            seen.insert((*partition, *offset)),
            "record {partition}/{offset} delivered twice"
        );
        let board = boards
            .entry(event.match_id.clone())
            .or_insert_with(|| Scoreboard::new(event.match_id.clone()));
        assert_eq!(
            board.apply(event),
            Ok(cricket::Applied::Changed),
            "in order per match"
        );
    }
    assert_eq!(seen.len(), events.len(), "every event arrived");
    for id in matches {
        let direct = Scoreboard::from_events(id, &real_match(id)).expect("scores");
        assert_eq!(
            boards[id].scorecard(),
            direct.scorecard(),
            "match {id} scored the same via Kafka"
        );
    }
}
