//! Durability. Instances of stream-stats form a consumer group over `match-events`; the group
//! decides which instance owns which partitions. Every interval, for each partition it owns,
//! the owner writes what changed to Kafka and only then commits:
//!
//! 1. unusable records read from the partition go to the dead-letter topic, with the reason
//!    and their source coordinates in headers;
//! 2. every match of the partition changed since its last snapshot gets a new snapshot in the
//!    compacted `scoreboards` topic;
//! 3. once the broker acknowledged all of that, the group offset is committed at the point the
//!    processor had reached before step 2.
//!
//! So a committed offset never runs ahead of the snapshots: after kill -9, a restart restores
//! the snapshots, re-reads from the committed offsets and drops what the snapshots already
//! hold by `seq`. The group consumer itself never reads events (its partitions are paused):
//! the processor already reads everything, and the group is only the ownership protocol.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use platform::kafka::header;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

use crate::metrics;
use crate::progress::Progress;
use crate::store::Store;

/// Topics and group the checkpointer writes to.
#[derive(Debug, Clone)]
pub struct Topics {
    pub events: String,
    pub snapshots: String,
    pub dead_letters: String,
    pub group: String,
}

pub struct Checkpointer {
    group: StreamConsumer,
    producer: FutureProducer,
    store: Arc<Store>,
    progress: Arc<Progress>,
    topics: Topics,
    /// Last committed offset per owned partition.
    committed: HashMap<i32, i64>,
}

impl std::fmt::Debug for Checkpointer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpointer")
            .field("topics", &self.topics)
            .field("committed", &self.committed)
            .finish_non_exhaustive()
    }
}

impl Checkpointer {
    pub fn new(
        group: StreamConsumer,
        producer: FutureProducer,
        store: Arc<Store>,
        progress: Arc<Progress>,
        topics: Topics,
    ) -> Checkpointer {
        Checkpointer {
            group,
            producer,
            store,
            progress,
            topics,
            committed: HashMap::new(),
        }
    }

    /// Checkpoints every `interval` until `stop` resolves, then once more and leaves the group.
    pub async fn run(mut self, interval: Duration, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                // Polling keeps the membership alive and runs rebalances.
                message = self.group.recv() => {
                    if let Err(err) = message {
                        tracing::debug!(%err, "group consumer");
                    }
                }
                _ = ticker.tick() => self.checkpoint_owned().await,
                () = &mut stop => break,
            }
        }
        self.checkpoint_owned().await;
        self.group.unsubscribe();
        tracing::info!("left the consumer group");
    }

    fn owned(&self) -> Vec<i32> {
        let Ok(assignment) = self.group.assignment() else {
            return Vec::new();
        };
        // Paused partitions are not fetched; pausing again after a rebalance is harmless.
        let _ = self.group.pause(&assignment);
        assignment
            .elements_for_topic(&self.topics.events)
            .iter()
            .map(|element| element.partition())
            .collect()
    }

    async fn checkpoint_owned(&mut self) {
        let owned = self.owned();
        metrics::owned_partitions(owned.len());
        self.committed
            .retain(|partition, _| owned.contains(partition));
        for partition in owned {
            if let Err(err) = self.checkpoint(partition).await {
                metrics::checkpoint_failed();
                tracing::warn!(partition, %err, "checkpoint failed; will retry");
            }
        }
    }

    async fn checkpoint(&mut self, partition: i32) -> Result<()> {
        let Some(target) = self.progress.next_offset(partition) else {
            return Ok(());
        };
        let changed = self.store.changed_since_snapshot(partition);
        let bad = self.progress.bad_below(partition, target);
        if changed.is_empty() && bad.is_empty() && self.committed.get(&partition) == Some(&target) {
            return Ok(());
        }
        let started = Instant::now();
        let mut pending = Vec::with_capacity(changed.len() + bad.len());
        for record in &bad {
            let reason = record.reason.as_str();
            let source_partition = partition.to_string();
            let source_offset = record.offset.to_string();
            let headers = OwnedHeaders::new_with_capacity(5)
                .insert(Header {
                    key: header::DLQ_REASON,
                    value: Some(reason),
                })
                .insert(Header {
                    key: header::DLQ_SOURCE_TOPIC,
                    value: Some(self.topics.events.as_str()),
                })
                .insert(Header {
                    key: header::DLQ_SOURCE_PARTITION,
                    value: Some(source_partition.as_str()),
                })
                .insert(Header {
                    key: header::DLQ_SOURCE_OFFSET,
                    value: Some(source_offset.as_str()),
                })
                .insert(Header {
                    key: header::DLQ_CONSUMER,
                    value: Some(self.topics.group.as_str()),
                });
            let mut dead =
                FutureRecord::<[u8], [u8]>::to(&self.topics.dead_letters).headers(headers);
            if let Some(key) = &record.key {
                dead = dead.key(key.as_slice());
            }
            if let Some(payload) = &record.payload {
                dead = dead.payload(payload.as_slice());
            }
            pending.push(self.producer.send_result(dead).map_err(|(err, _)| err)?);
        }
        for (match_id, _, snapshot) in &changed {
            let record = FutureRecord::to(&self.topics.snapshots)
                .key(match_id.as_str())
                .payload(snapshot.as_slice());
            pending.push(self.producer.send_result(record).map_err(|(err, _)| err)?);
        }
        for delivery in pending {
            delivery
                .await
                .map_err(|_| anyhow::anyhow!("producer shut down"))?
                .map_err(|(err, _)| anyhow::anyhow!("not acknowledged: {err}"))?;
        }
        for (match_id, seq, _) in &changed {
            self.store.mark_snapshotted(match_id, *seq);
        }
        self.progress.forget_bad_below(partition, target);
        metrics::dead_lettered(bad.len());
        metrics::snapshots_written(changed.len(), started.elapsed());

        let mut offsets = TopicPartitionList::new();
        offsets.add_partition_offset(&self.topics.events, partition, Offset::Offset(target))?;
        self.group.commit(&offsets, CommitMode::Async)?;
        self.committed.insert(partition, target);
        Ok(())
    }
}
