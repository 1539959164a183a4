//! The Kafka contract of the platform and the client settings every service uses.
//!
//! - `match-events`: key = match id (so a match stays ordered in one partition), value = one
//!   JSON [`cricket::Event`], headers [`header::SCHEMA_VERSION`], [`header::INGEST_TIME_MS`]
//!   and [`header::CONTENT_TYPE`].
//! - `match-events.dlq`: records a consumer could not use, with the reason and source
//!   coordinates in headers.
//! - `scoreboards`: compacted; key = match id, value = the latest scoreboard snapshot.
//!
//! Transactions are deliberately not used (the local broker refuses them): producers are
//! idempotent with `acks=all`, and consumers make results exactly-once themselves.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::types::RDKafkaErrorCode;

pub const DEFAULT_BROKERS: &str = "127.0.0.1:9092";

pub const MATCH_EVENTS: &str = "match-events";
pub const DEAD_LETTERS: &str = "match-events.dlq";
pub const SCOREBOARDS: &str = "scoreboards";

/// Partitions of `match-events` and `scoreboards`: the unit of consumer parallelism.
pub const MATCH_PARTITIONS: i32 = 6;

/// Header names on `match-events` and `match-events.dlq` records.
pub mod header {
    /// Event schema version, as decimal text.
    pub const SCHEMA_VERSION: &str = "schema-version";
    /// When ingest accepted the event: milliseconds since the Unix epoch, as decimal text.
    pub const INGEST_TIME_MS: &str = "ingest-time-ms";
    pub const CONTENT_TYPE: &str = "content-type";
    /// Why a record was dead-lettered.
    pub const DLQ_REASON: &str = "dlq-reason";
    pub const DLQ_SOURCE_TOPIC: &str = "dlq-source-topic";
    pub const DLQ_SOURCE_PARTITION: &str = "dlq-source-partition";
    pub const DLQ_SOURCE_OFFSET: &str = "dlq-source-offset";
    /// The consumer group that dead-lettered the record.
    pub const DLQ_CONSUMER: &str = "dlq-consumer";
}

/// Producer settings shared by ingest, the simulator's direct sink and stream-stats:
/// idempotent (no duplicates or reordering on retry), `acks=all`, a short linger so batches
/// form under load without adding latency when idle.
pub fn producer_config(brokers: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "2")
        .set("compression.type", "lz4")
        .set("message.timeout.ms", "15000")
        .set("socket.keepalive.enable", "true");
    config
}

/// Consumer settings: manual offset management (each service stores or commits offsets
/// only once the work is durable), start from the beginning for a new group, and a short
/// fetch wait so an event reaches the consumer within milliseconds.
pub fn consumer_config(brokers: &str, group: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "5")
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "1000")
        .set("socket.keepalive.enable", "true");
    config
}

/// One topic of the contract with its partition count and configuration.
#[derive(Debug, Clone)]
pub struct TopicSpec {
    pub name: String,
    pub partitions: i32,
    pub configs: Vec<(&'static str, &'static str)>,
}

/// The platform's topics: `match-events` (6 partitions), its dead-letter topic and the
/// compacted `scoreboards`.
pub fn platform_topics() -> Vec<TopicSpec> {
    vec![
        TopicSpec {
            name: MATCH_EVENTS.to_owned(),
            partitions: MATCH_PARTITIONS,
            configs: vec![],
        },
        TopicSpec {
            name: DEAD_LETTERS.to_owned(),
            partitions: 1,
            configs: vec![],
        },
        TopicSpec {
            name: SCOREBOARDS.to_owned(),
            partitions: MATCH_PARTITIONS,
            configs: vec![("cleanup.policy", "compact")],
        },
    ]
}

/// Creates the topics that do not exist yet; existing ones are left as they are.
pub async fn create_topics(brokers: &str, topics: &[TopicSpec]) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .context("cannot create the Kafka admin client")?;
    let new_topics: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|spec| {
            spec.configs.iter().fold(
                NewTopic::new(&spec.name, spec.partitions, TopicReplication::Fixed(1)),
                |topic, (key, value)| topic.set(key, value),
            )
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let results = admin
        .create_topics(&new_topics, &options)
        .await
        .context("create topics request failed")?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => bail!("cannot create topic {topic}: {code}"),
        }
    }
    Ok(())
}

/// Waits until the broker answers a metadata request, or fails after `timeout`.
pub async fn wait_for_broker(brokers: &str, timeout: Duration) -> Result<()> {
    let brokers = brokers.to_owned();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .create()
            .context("cannot create a Kafka client")?;
        let deadline = std::time::Instant::now() + timeout;
        loop {
            match consumer.fetch_metadata(None, Duration::from_millis(500)) {
                Ok(_) => return Ok(()),
                Err(err) if std::time::Instant::now() >= deadline => {
                    bail!("broker {brokers} not reachable after {timeout:?}: {err}")
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    })
    .await
    .context("broker wait task failed")?
}

/// Milliseconds since the Unix epoch, for the ingest-time header and latency measurements.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}
