//! The producer side: events into `match-events`, keyed by match id, and an answer only once
//! the broker has acknowledged every one of them (idempotent producer, `acks=all`).
//!
//! Memory stays bounded: the producer queue has a fixed size and a full queue is reported as
//! backpressure (429) instead of growing. A broker known to be down is reported at once (503)
//! instead of holding requests for the full produce timeout; a background probe notices when
//! it is back, and the same producer carries on without a restart.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use cricket::{Event, SCHEMA_VERSION};
use platform::kafka::{self, header};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;

use crate::config::Config;
use crate::error::ApiError;
use crate::metrics;

#[derive(Clone)]
pub struct Publisher {
    producer: FutureProducer,
    topic: Arc<str>,
    broker_up: Arc<AtomicBool>,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl Publisher {
    pub fn new(config: &Config) -> Result<Publisher> {
        let producer: FutureProducer = kafka::producer_config(&config.brokers)
            // librdkafka fails a message itself at this deadline, so nothing we reported as
            // failed is delivered later behind the client's back... except as a duplicate of a
            // retry, which consumers ignore by `seq`.
            .set("message.timeout.ms", config.produce_timeout_ms.to_string())
            .set(
                "queue.buffering.max.messages",
                config.producer_queue_events.to_string(),
            )
            .set("queue.buffering.max.kbytes", "262144")
            .create()
            .context("cannot create the Kafka producer")?;
        Ok(Publisher {
            producer,
            topic: Arc::from(config.topic.as_str()),
            broker_up: Arc::new(AtomicBool::new(true)),
        })
    }

    /// Is the broker believed reachable (as of the last probe or delivery)?
    pub fn broker_up(&self) -> bool {
        self.broker_up.load(Ordering::Relaxed)
    }

    /// Events waiting in the producer (queued or in flight to the broker).
    pub fn queue_depth(&self) -> i32 {
        self.producer.in_flight_count()
    }

    /// Probes the broker every `interval` until `stop` resolves, keeping `broker_up` current.
    pub async fn watch_broker(
        self,
        interval: Duration,
        stop: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(stop);
        loop {
            let probe = self.clone();
            let reachable = tokio::task::spawn_blocking(move || {
                probe
                    .producer
                    .client()
                    .fetch_metadata(Some(&probe.topic), Duration::from_secs(1))
                    .is_ok()
            })
            .await
            .unwrap_or(false);
            if reachable != self.broker_up.swap(reachable, Ordering::Relaxed) {
                if reachable {
                    tracing::info!("broker reachable again");
                } else {
                    tracing::warn!("broker unreachable");
                }
            }
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                () = &mut stop => return,
            }
        }
    }

    /// Produces `events` and waits for the broker's acknowledgement of each. On failure the
    /// error names the indexes that were not acknowledged; the others were.
    pub async fn publish(&self, events: &[Event]) -> Result<(), ApiError> {
        let all: Vec<usize> = (0..events.len()).collect();
        if !self.broker_up() {
            return Err(ApiError::Unavailable {
                message: "the broker is unreachable".to_owned(),
                failed: all,
            });
        }
        let started = Instant::now();
        let ingest_time = kafka::now_ms().to_string();
        let schema = SCHEMA_VERSION.to_string();
        let mut pending = Vec::with_capacity(events.len());
        let mut failed = Vec::new();
        let mut failure: Option<ApiError> = None;
        for (index, event) in events.iter().enumerate() {
            let payload = match serde_json::to_vec(event) {
                Ok(payload) => payload,
                Err(err) => {
                    failure = Some(unavailable(
                        format!("cannot encode event: {err}"),
                        Vec::new(),
                    ));
                    failed.extend(index..events.len());
                    break;
                }
            };
            let headers = OwnedHeaders::new_with_capacity(3)
                .insert(Header {
                    key: header::SCHEMA_VERSION,
                    value: Some(schema.as_str()),
                })
                .insert(Header {
                    key: header::INGEST_TIME_MS,
                    value: Some(ingest_time.as_str()),
                })
                .insert(Header {
                    key: header::CONTENT_TYPE,
                    value: Some("application/json"),
                });
            let record = FutureRecord::to(&self.topic)
                .key(event.match_id.as_bytes())
                .payload(&payload)
                .headers(headers);
            match self.producer.send_result(record) {
                Ok(delivery) => pending.push((index, delivery)),
                Err((err, _)) => {
                    failure = Some(match err {
                        KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull) => {
                            ApiError::Busy {
                                message: "the producer queue is full; retry shortly".to_owned(),
                                failed: Vec::new(),
                            }
                        }
                        other => unavailable(format!("cannot queue event: {other}"), Vec::new()),
                    });
                    // Later events are not sent: a match's events must stay in order.
                    failed.extend(index..events.len());
                    break;
                }
            }
        }
        for (index, delivery) in pending {
            match delivery.await {
                Ok(Ok(_)) => {}
                Ok(Err((err, _))) => {
                    if is_broker_outage(&err) {
                        self.broker_up.store(false, Ordering::Relaxed);
                    }
                    failure.get_or_insert_with(|| {
                        unavailable(format!("not acknowledged: {err}"), Vec::new())
                    });
                    failed.push(index);
                }
                Err(_cancelled) => {
                    failure.get_or_insert_with(|| {
                        unavailable("producer shut down".to_owned(), Vec::new())
                    });
                    failed.push(index);
                }
            }
        }
        metrics::produce_latency(started.elapsed());
        match failure {
            None => Ok(()),
            Some(mut err) => {
                failed.sort_unstable();
                match &mut err {
                    ApiError::Busy { failed: slot, .. }
                    | ApiError::Unavailable { failed: slot, .. } => *slot = failed,
                    _ => {}
                }
                Err(err)
            }
        }
    }

    /// Waits up to `timeout` for queued events to reach the broker (at shutdown).
    pub fn flush(&self, timeout: Duration) {
        if let Err(err) = self.producer.flush(timeout) {
            tracing::error!(%err, "producer flush incomplete at shutdown");
        }
    }
}

fn unavailable(message: String, failed: Vec<usize>) -> ApiError {
    ApiError::Unavailable { message, failed }
}

fn is_broker_outage(err: &KafkaError) -> bool {
    matches!(
        err.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::MessageTimedOut
                | RDKafkaErrorCode::AllBrokersDown
                | RDKafkaErrorCode::BrokerTransportFailure
        )
    )
}
