//! The loader: a consumer-group member over `match-events` that lands every record in DuckDB
//! exactly once, without Kafka transactions.
//!
//! Records accumulate in a [`Batch`] until it holds `flush_max_rows` records or its first
//! record has waited `flush_interval`; the batch is then written in one DuckDB transaction
//! together with the next offset of each partition it read ([`store::write`]). The database
//! is therefore the source of truth for progress:
//!
//! - on every partition assignment the rebalance callback assigns each partition at the
//!   offset stored in the database (the beginning if none), never at the group's committed
//!   offset;
//! - a record below the stored offset (a stale fetch) is skipped;
//! - on revocation the batch being built is dropped, with its provisional `seq` bookkeeping:
//!   whoever gets the partitions next re-reads those records from the stored offsets.
//!
//! After each commit the offsets are also committed to the group (asynchronously, only so
//! that lag is visible to Kafka tools) and rejected records are copied to the dead-letter
//! topic (the `rejected` table is the exactly-once record of them; the copy is best effort).
//! DuckDB and librdkafka are blocking, so the loader runs on its own thread.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use duckdb::Connection;
use platform::kafka::{self, header};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::message::{BorrowedMessage, Header, Headers, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, ProducerContext, ThreadedProducer};
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Message, Offset, TopicPartitionList};

use crate::model::{Record, SeqTracker, decode};
use crate::store::{self, Batch, EventRow, RejectedRow};
use crate::{db, metrics};

/// Which copy of the data a loader keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The warehouse's database: a consumer-group member that dead-letters rejected
    /// records and commits its offsets to the group (for lag).
    Primary,
    /// The user-SQL replica ([`crate::sql::replica`]): the same rows and the same
    /// exactly-once bookkeeping in its own file, reading every partition by itself; it
    /// never joins the group, commits or dead-letters (the primary does that once).
    Replica,
}

/// What the loader needs to know.
#[derive(Debug, Clone)]
pub struct LoaderConfig {
    pub role: Role,
    pub brokers: String,
    pub topic: String,
    pub dlq_topic: String,
    pub group: String,
    pub instance_id: Option<String>,
    pub flush_max_rows: usize,
    pub flush_interval: Duration,
}

/// Progress the HTTP side can show.
#[derive(Debug, Default)]
pub struct Progress {
    /// Set once the loader has restored its state and joined the group.
    pub running: AtomicBool,
    pub batches: AtomicI64,
    pub records: AtomicI64,
}

/// The stored offsets, shared between the loop (which advances them after each commit) and
/// the rebalance callback (which assigns partitions at them).
type Stored = Arc<Mutex<HashMap<i32, i64>>>;

/// The consumer's context: assigns partitions at the stored offsets and reports lag.
struct LoaderContext {
    topic: String,
    stored: Stored,
    /// Set by the callback when partitions are revoked; the loop then drops its batch.
    revoked: AtomicBool,
}

impl ClientContext for LoaderContext {
    fn stats(&self, statistics: Statistics) {
        if let Some(topic) = statistics.topics.get(&self.topic) {
            for (partition, stats) in &topic.partitions {
                if *partition >= 0 && stats.consumer_lag >= 0 {
                    metrics::consumer_lag(*partition, stats.consumer_lag);
                }
            }
        }
    }
}

impl ConsumerContext for LoaderContext {
    // Replaces the default (assign at the committed offsets) so that every partition starts
    // exactly where the database says. The group uses the eager protocol (see `Loader::new`),
    // so an assignment is always the whole set and follows a revocation of everything.
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let stored = self.stored.lock().unwrap_or_else(PoisonError::into_inner);
                let wanted: Vec<(String, i32)> = tpl
                    .elements()
                    .iter()
                    .map(|e| (e.topic().to_owned(), e.partition()))
                    .collect();
                let mut starts = Vec::with_capacity(wanted.len());
                for (topic, partition) in &wanted {
                    let offset = match stored.get(partition) {
                        Some(&next) if *topic == self.topic => Offset::Offset(next),
                        _ => Offset::Beginning,
                    };
                    if let Err(err) = tpl.set_partition_offset(topic, *partition, offset) {
                        tracing::error!(%err, partition, "cannot set the start offset");
                    }
                    starts.push(format!("{partition}@{offset:?}"));
                }
                drop(stored);
                match consumer.assign(tpl) {
                    Ok(()) => tracing::info!(partitions = %starts.join(" "), "partitions assigned"),
                    Err(err) => tracing::error!(%err, "cannot assign partitions"),
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                self.revoked.store(true, Ordering::SeqCst);
                tracing::info!(partitions = tpl.count(), "partitions revoked");
                if let Err(err) = consumer.unassign() {
                    tracing::error!(%err, "cannot unassign partitions");
                }
            }
            other => {
                tracing::error!(?other, "rebalance error");
                self.revoked.store(true, Ordering::SeqCst);
                let _ = consumer.unassign();
            }
        }
    }
}

/// The dead-letter producer's context: counts what the broker acknowledged.
struct DeadLetters;

impl ClientContext for DeadLetters {}

impl ProducerContext for DeadLetters {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => metrics::dead_letter("sent"),
            Err((err, _)) => {
                metrics::dead_letter("failed");
                tracing::warn!(%err, "dead letter not delivered (it stays in the rejected table)");
            }
        }
    }
}

/// Everything but the consumer, so a borrowed message and the sink can be used together.
struct Sink {
    conn: Connection,
    config: LoaderConfig,
    tracker: SeqTracker,
    /// The stored offsets as the loop knows them (mirrored into `shared` after commits).
    stored: HashMap<i32, i64>,
    shared: Stored,
    batch: Batch,
    next_batch_id: i64,
    producer: ThreadedProducer<DeadLetters>,
    progress: Arc<Progress>,
}

/// The loader; [`Loader::run`] is its whole life.
pub struct Loader {
    consumer: BaseConsumer<LoaderContext>,
    sink: Sink,
}

impl std::fmt::Debug for Loader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loader")
            .field("config", &self.sink.config)
            .field("next_batch_id", &self.sink.next_batch_id)
            .finish_non_exhaustive()
    }
}

impl Loader {
    /// Restores the loader's state from `conn` (its own connection to the database) and
    /// creates its Kafka clients.
    pub fn new(conn: Connection, config: LoaderConfig, progress: Arc<Progress>) -> Result<Loader> {
        let stored = db::stored_offsets(&conn, &config.topic)?;
        let states = db::seq_states(&conn)?;
        let next_batch_id = db::next_batch_id(&conn)?;
        let tracker = SeqTracker::new(states);
        tracing::info!(
            role = ?config.role,
            matches = tracker.matches(),
            partitions = stored.len(),
            next_batch_id,
            "loader state restored"
        );
        let shared: Stored = Arc::new(Mutex::new(stored.clone()));
        let mut client = kafka::consumer_config(&config.brokers, &config.group);
        if let Some(id) = &config.instance_id {
            client.set("group.instance.id", id);
        }
        let consumer: BaseConsumer<LoaderContext> = client
            // Eager rebalancing: assignments are whole, which the callback relies on.
            .set("partition.assignment.strategy", "range")
            .set("statistics.interval.ms", "1000")
            // Big fetches: the loader reads as fast as DuckDB appends.
            .set("fetch.max.bytes", "52428800")
            .set("max.partition.fetch.bytes", "4194304")
            .create_with_context(LoaderContext {
                topic: config.topic.clone(),
                stored: shared.clone(),
                revoked: AtomicBool::new(false),
            })
            .context("cannot create the consumer")?;
        let producer: ThreadedProducer<DeadLetters> = kafka::producer_config(&config.brokers)
            .create_with_context(DeadLetters)
            .context("cannot create the dead-letter producer")?;
        Ok(Loader {
            consumer,
            sink: Sink {
                conn,
                config,
                tracker,
                stored,
                shared,
                batch: Batch::default(),
                next_batch_id,
                producer,
                progress,
            },
        })
    }

    /// Loads until `stop` is set, then commits what it holds and leaves the group. An error
    /// writing the database ends the loader (nothing of the failed batch is stored; a
    /// restart resumes from the stored offsets).
    pub fn run(self, stop: &AtomicBool) -> Result<()> {
        let Loader { consumer, mut sink } = self;
        match sink.config.role {
            Role::Primary => consumer
                .subscribe(&[&sink.config.topic])
                .context("cannot subscribe")?,
            Role::Replica => {
                // The topic may not exist yet (or not show its partitions yet): wait for it
                // as a subscription would, instead of failing.
                while let Err(err) =
                    assign_every_partition(&consumer, &sink.config.topic, &sink.stored)
                {
                    if stop.load(Ordering::SeqCst) {
                        return Ok(());
                    }
                    tracing::warn!(error = %format!("{err:#}"), "waiting for the topic");
                    std::thread::sleep(Duration::from_millis(500));
                }
            }
        }
        sink.progress.running.store(true, Ordering::SeqCst);
        let interval = sink.config.flush_interval;
        let result = loop {
            if stop.load(Ordering::SeqCst) {
                break sink.flush(&consumer);
            }
            let wait = sink.batch.started.map_or(Duration::from_millis(100), |t| {
                interval
                    .saturating_sub(t.elapsed())
                    .min(Duration::from_millis(100))
            });
            let polled = consumer.poll(wait);
            if consumer.context().revoked.swap(false, Ordering::SeqCst) {
                sink.discard();
            }
            match polled {
                Some(Ok(message)) => sink.add(&message),
                Some(Err(err)) => {
                    tracing::warn!(%err, "consumer error");
                    std::thread::sleep(Duration::from_millis(100));
                }
                None => {}
            }
            let full = sink.batch.records() >= sink.config.flush_max_rows;
            let due = sink.batch.started.is_some_and(|t| t.elapsed() >= interval);
            if (full || due)
                && let Err(err) = sink.flush(&consumer)
            {
                break Err(err);
            }
        };
        sink.progress.running.store(false, Ordering::SeqCst);
        if result.is_ok() && sink.config.role == Role::Primary {
            let offsets = sink.offsets_list();
            if offsets.count() > 0
                && let Err(err) = consumer.commit(&offsets, CommitMode::Sync)
            {
                tracing::debug!(%err, "final group commit failed (the database has the offsets)");
            }
        }
        consumer.unsubscribe();
        // Dropping the consumer closes it, which leaves the group.
        drop(consumer);
        rdkafka::producer::Producer::flush(&sink.producer, Duration::from_secs(5))
            .unwrap_or_else(|err| tracing::warn!(%err, "dead-letter flush incomplete"));
        tracing::info!("loader stopped");
        result
    }
}

impl Sink {
    fn add(&mut self, message: &BorrowedMessage<'_>) {
        let partition = message.partition();
        let offset = message.offset();
        if message.topic() != self.config.topic {
            return;
        }
        let floor = self
            .batch
            .next_offsets
            .get(&partition)
            .or_else(|| self.stored.get(&partition))
            .copied()
            .unwrap_or(0);
        if offset < floor {
            tracing::debug!(partition, offset, floor, "record already loaded: skipped");
            return;
        }
        let record = Record {
            key: message.key(),
            payload: message.payload(),
            ingest_time_ms: ingest_time_ms(message),
        };
        match decode(&record) {
            Ok(decoded) => {
                let duplicate = !self
                    .tracker
                    .observe(&decoded.event.match_id, decoded.event.seq);
                self.batch.push_event(EventRow {
                    partition,
                    offset,
                    ingest_time_ms: record.ingest_time_ms,
                    duplicate,
                    decoded,
                });
            }
            Err(reason) => {
                tracing::warn!(partition, offset, %reason, "rejected record");
                self.batch.push_rejected(RejectedRow {
                    partition,
                    offset,
                    key: record.key.map(<[u8]>::to_vec),
                    payload: record.payload.map(<[u8]>::to_vec),
                    reason,
                    ingest_time_ms: record.ingest_time_ms,
                });
            }
        }
    }

    /// Drops the batch being built (its partitions were revoked).
    fn discard(&mut self) {
        if !self.batch.is_empty() {
            tracing::info!(
                records = self.batch.records(),
                "partitions revoked: uncommitted batch dropped"
            );
        }
        self.batch = Batch::default();
        self.tracker.discard();
    }

    fn offsets_list(&self) -> TopicPartitionList {
        let mut list = TopicPartitionList::new();
        for (&partition, &next) in &self.stored {
            let _ = list.add_partition_offset(&self.config.topic, partition, Offset::Offset(next));
        }
        list
    }

    fn flush(&mut self, consumer: &BaseConsumer<LoaderContext>) -> Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        let batch = std::mem::take(&mut self.batch);
        let written = store::write(
            &mut self.conn,
            &self.config.topic,
            &batch,
            self.next_batch_id,
            kafka::now_ms(),
        )
        .with_context(|| format!("batch {} not stored", self.next_batch_id))?;
        let committed_at = kafka::now_ms();
        self.tracker.commit();
        self.next_batch_id += 1;
        self.stored.extend(&batch.next_offsets);
        self.shared
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(&batch.next_offsets);
        metrics::batch(
            written.events,
            batch.duplicates,
            written.rejected,
            written.modelled,
            started.elapsed(),
        );
        if let Some((oldest, _)) = batch.ingest_span() {
            metrics::freshness(committed_at - oldest);
        }
        self.progress.batches.fetch_add(1, Ordering::Relaxed);
        self.progress
            .records
            .fetch_add(batch.records() as i64, Ordering::Relaxed);

        if self.config.role == Role::Replica {
            return Ok(());
        }
        let mut offsets = TopicPartitionList::new();
        for (&partition, &next) in &batch.next_offsets {
            offsets.add_partition_offset(&self.config.topic, partition, Offset::Offset(next))?;
        }
        if let Err(err) = consumer.commit(&offsets, CommitMode::Async) {
            tracing::debug!(%err, "group commit failed (the database has the offsets)");
        }
        for row in &batch.rejected {
            self.dead_letter(row);
        }
        Ok(())
    }

    fn dead_letter(&self, row: &RejectedRow) {
        let partition = row.partition.to_string();
        let offset = row.offset.to_string();
        let headers = OwnedHeaders::new_with_capacity(5)
            .insert(Header {
                key: header::DLQ_REASON,
                value: Some(row.reason.as_str()),
            })
            .insert(Header {
                key: header::DLQ_SOURCE_TOPIC,
                value: Some(self.config.topic.as_str()),
            })
            .insert(Header {
                key: header::DLQ_SOURCE_PARTITION,
                value: Some(partition.as_str()),
            })
            .insert(Header {
                key: header::DLQ_SOURCE_OFFSET,
                value: Some(offset.as_str()),
            })
            .insert(Header {
                key: header::DLQ_CONSUMER,
                value: Some(self.config.group.as_str()),
            });
        let mut record = BaseRecord::<[u8], [u8]>::to(&self.config.dlq_topic).headers(headers);
        if let Some(key) = &row.key {
            record = record.key(key.as_slice());
        }
        if let Some(payload) = &row.payload {
            record = record.payload(payload.as_slice());
        }
        if let Err((err, _)) = self.producer.send(record) {
            metrics::dead_letter("failed");
            tracing::warn!(%err, "dead letter not queued (it stays in the rejected table)");
        }
    }
}

/// Assigns every partition of `topic` at its stored offset (the beginning if none).
fn assign_every_partition(
    consumer: &BaseConsumer<LoaderContext>,
    topic: &str,
    stored: &HashMap<i32, i64>,
) -> Result<()> {
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .context("cannot read the topic's partitions")?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic)
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    anyhow::ensure!(!partitions.is_empty(), "topic {topic} has no partitions");
    let mut list = TopicPartitionList::new();
    for partition in &partitions {
        let offset = stored
            .get(partition)
            .map_or(Offset::Beginning, |&next| Offset::Offset(next));
        list.add_partition_offset(topic, *partition, offset)?;
    }
    consumer.assign(&list).context("cannot assign partitions")?;
    tracing::info!(partitions = partitions.len(), "every partition assigned");
    Ok(())
}

fn ingest_time_ms(message: &BorrowedMessage<'_>) -> Option<i64> {
    let headers = message.headers()?;
    let header = headers.iter().find(|h| h.key == header::INGEST_TIME_MS)?;
    std::str::from_utf8(header.value?).ok()?.parse().ok()
}
