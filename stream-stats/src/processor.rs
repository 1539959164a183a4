//! The event processor: reads every partition of `match-events` (not just the ones this
//! instance owns, so it can serve every match) and folds each record into the store.
//!
//! A record that cannot be decoded, fails validation, is keyed under another match or
//! contradicts its match is remembered as unusable; the checkpointer of the owning instance
//! sends it to the dead-letter topic. A gap in `seq` marks the match stale (never scored wrong).

use std::sync::Arc;

use cricket::Event;
use platform::kafka::header;
use rdkafka::Message;
use rdkafka::consumer::StreamConsumer;
use rdkafka::message::{BorrowedMessage, Headers};

use crate::metrics;
use crate::progress::{BadRecord, Progress};
use crate::store::{Outcome, Store};

/// Reads until `stop` resolves.
pub async fn run<C>(
    consumer: StreamConsumer<C>,
    store: Arc<Store>,
    progress: Arc<Progress>,
    stop: impl Future<Output = ()>,
) where
    C: rdkafka::consumer::ConsumerContext + 'static,
{
    tokio::pin!(stop);
    loop {
        tokio::select! {
            message = consumer.recv() => match message {
                Ok(message) => handle(&message, &store, &progress),
                Err(err) => {
                    tracing::warn!(%err, "consumer error");
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
            },
            () = &mut stop => return,
        }
    }
}

fn handle(message: &BorrowedMessage<'_>, store: &Store, progress: &Progress) {
    let partition = message.partition();
    let offset = message.offset();
    match decode(message) {
        Ok(event) => match store.apply(partition, &event, ingest_time_ms(message)) {
            Outcome::Applied => {
                metrics::event_applied();
                if let Some(ingested) = ingest_time_ms(message) {
                    metrics::end_to_end(platform::kafka::now_ms() - ingested);
                }
            }
            Outcome::Duplicate => metrics::duplicate(),
            Outcome::Gap { expected, got } => {
                metrics::gap();
                tracing::warn!(match_id = %event.match_id, expected, got, partition, offset, "sequence gap: match marked stale");
            }
            Outcome::Refused(reason) => unusable(message, progress, reason),
            Outcome::Full { limit } => {
                metrics::store_full();
                let reason = format!(
                    "store full: {limit} matches held (STATS_MAX_MATCHES); match {} refused",
                    event.match_id
                );
                unusable(message, progress, reason);
            }
        },
        Err(reason) => unusable(message, progress, reason),
    }
    progress.advance(partition, offset + 1);
}

fn decode(message: &BorrowedMessage<'_>) -> Result<Event, String> {
    let payload = message.payload().ok_or("record has no value")?;
    let event: Event =
        serde_json::from_slice(payload).map_err(|err| format!("not an event: {err}"))?;
    event
        .validate()
        .map_err(|err| format!("invalid event: {err}"))?;
    if message.key() != Some(event.match_id.as_bytes()) {
        return Err("record key is not the event's match_id".to_owned());
    }
    Ok(event)
}

fn unusable(message: &BorrowedMessage<'_>, progress: &Progress, reason: String) {
    metrics::unusable();
    tracing::warn!(partition = message.partition(), offset = message.offset(), %reason, "unusable record");
    progress.record_bad(
        message.partition(),
        BadRecord {
            offset: message.offset(),
            key: message.key().map(<[u8]>::to_vec),
            payload: message.payload().map(<[u8]>::to_vec),
            reason,
        },
    );
}

fn ingest_time_ms(message: &BorrowedMessage<'_>) -> Option<i64> {
    let headers = message.headers()?;
    let header = headers.iter().find(|h| h.key == header::INGEST_TIME_MS)?;
    std::str::from_utf8(header.value?).ok()?.parse().ok()
}
