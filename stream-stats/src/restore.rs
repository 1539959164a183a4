//! Start-up: load every match's latest snapshot from the compacted `scoreboards` topic, and
//! find where the group's committed offsets say reading must resume.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

use crate::store::{SnapshotRecord, Store};

/// Partition numbers of `topic`.
pub fn partitions(consumer: &impl Consumer, topic: &str, timeout: Duration) -> Result<Vec<i32>> {
    let metadata = consumer
        .fetch_metadata(Some(topic), timeout)
        .with_context(|| format!("cannot read metadata of {topic}"))?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic)
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if partitions.is_empty() {
        bail!("topic {topic} does not exist (run `cargo xtask broker`, which creates the topics)");
    }
    Ok(partitions)
}

/// Reads the whole snapshot topic (up to its current end) into `store`. Returns how many
/// snapshots were loaded. Blocking: call from a blocking thread.
pub fn load_snapshots(brokers: &str, topic: &str, store: &Store) -> Result<usize> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "stream-stats-restore")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .create()?;
    let timeout = Duration::from_secs(10);
    let mut ends: HashMap<i32, i64> = HashMap::new();
    let mut assignment = TopicPartitionList::new();
    for partition in partitions(&consumer, topic, timeout)? {
        let (low, high) = consumer.fetch_watermarks(topic, partition, timeout)?;
        if high > low {
            ends.insert(partition, high);
            assignment.add_partition_offset(topic, partition, Offset::Beginning)?;
        }
    }
    if ends.is_empty() {
        return Ok(0);
    }
    consumer.assign(&assignment)?;
    let mut loaded = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    while !ends.is_empty() {
        if Instant::now() > deadline {
            bail!("restoring snapshots took over two minutes");
        }
        let Some(message) = consumer.poll(Duration::from_millis(500)) else {
            continue;
        };
        let message = message?;
        if let Some(payload) = message.payload() {
            match serde_json::from_slice::<SnapshotRecord>(payload) {
                Ok(record) => {
                    store.restore(record);
                    loaded += 1;
                }
                Err(err) => {
                    tracing::error!(offset = message.offset(), %err, "unreadable snapshot skipped")
                }
            }
        }
        if ends
            .get(&message.partition())
            .is_some_and(|end| message.offset() + 1 >= *end)
        {
            ends.remove(&message.partition());
        }
    }
    Ok(loaded)
}

/// Where the processor starts: the group's committed offset for each partition, or the
/// beginning for a partition the group never committed.
pub fn start_offsets(group: &impl Consumer, topic: &str) -> Result<TopicPartitionList> {
    let timeout = Duration::from_secs(10);
    let mut wanted = TopicPartitionList::new();
    for partition in partitions(group, topic, timeout)? {
        wanted.add_partition(topic, partition);
    }
    let committed = group
        .committed_offsets(wanted, timeout)
        .context("cannot read committed offsets")?;
    let mut start = TopicPartitionList::new();
    for element in committed.elements() {
        let offset = match element.offset() {
            Offset::Offset(offset) => Offset::Offset(offset),
            _ => Offset::Beginning,
        };
        start.add_partition_offset(topic, element.partition(), offset)?;
    }
    Ok(start)
}
