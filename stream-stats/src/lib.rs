//! stream-stats: the real-time side. Live scoreboards from `match-events`, exact after any
//! crash, served over HTTP and pushed over WebSockets.
//!
//! - [`processor`] reads every partition and folds events into the [`store`] with the shared
//!   scoring engine (a `seq` already applied is ignored; a gap marks the match stale).
//! - [`checkpoint`] is this instance's share of durability: for the partitions the consumer
//!   group gives it, it dead-letters unusable records, snapshots changed scoreboards to the
//!   compacted `scoreboards` topic and only then commits offsets.
//! - [`restore`] loads the snapshots at start and finds the committed offsets to resume from.
//! - [`http`] and [`ws`] serve clients; [`store`] fans deltas out without letting a slow
//!   client hold anyone up; [`openapi`] describes the HTTP API (`GET /openapi.json`).
//!
//! Every instance serves every match; the group only splits the durable work, so killing an
//! instance moves its partitions' checkpointing to the survivors while their clients carry on.

pub mod checkpoint;
pub mod config;
pub mod http;
mod metrics;
pub mod openapi;
pub mod processor;
pub mod progress;
pub mod restore;
pub mod store;
mod ws;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use platform::kafka;
use rdkafka::ClientContext;
use rdkafka::consumer::{Consumer, ConsumerContext, StreamConsumer};
use rdkafka::producer::FutureProducer;
use rdkafka::statistics::Statistics;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use config::Config;

/// Client context of the processor's consumer: turns librdkafka statistics into lag gauges.
struct LagReporter {
    topic: String,
}

impl ClientContext for LagReporter {
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

impl ConsumerContext for LagReporter {}

/// Runs until `shutdown` resolves, then stops reading, checkpoints once more and leaves.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    tracing::info!(?config, addr = %listener.local_addr()?, "stream-stats starting");
    let store = Arc::new(store::Store::with_max_matches(
        config.ws_buffer,
        config.max_matches,
    ));
    let progress = Arc::new(progress::Progress::default());
    let ready = Arc::new(AtomicBool::new(false));
    let state = http::AppState {
        store: store.clone(),
        ready: ready.clone(),
        metrics: metrics::handle(),
        allowed_origins: config.allowed_origins.clone().into(),
        ws_max_message_bytes: config.ws_max_message_bytes,
        ws_send_timeout: config.ws_send_timeout(),
        ws_max_subscriptions: config.ws_max_subscriptions,
        ws_per_ip: platform::limits::PerAddress::new(config.ws_max_per_ip),
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let stop_requested = stop_rx.clone();
    let stopped = move || {
        let mut stop_rx = stop_rx.clone();
        async move {
            let _ = stop_rx.wait_for(|stopped| *stopped).await;
        }
    };
    // Serve health from the start; readiness follows the restore.
    let server = tokio::spawn(
        // The peer's address is what WebSocket connections are counted by.
        axum::serve(
            listener,
            http::router(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(stopped())
        .into_future(),
    );
    let shutdown_signal = tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });

    while let Err(err) = kafka::wait_for_broker(&config.brokers, Duration::from_secs(10)).await {
        tracing::warn!(%err, "waiting for the broker");
        if *stop_requested.borrow() {
            anyhow::bail!("stopped before the broker was reachable");
        }
    }
    let group: StreamConsumer = kafka::consumer_config(&config.brokers, &config.group)
        .create()
        .context("cannot create the group consumer")?;
    let start =
        tokio::task::block_in_place(|| restore::start_offsets(&group, &config.events_topic))?;
    let loaded = tokio::task::block_in_place(|| {
        restore::load_snapshots(&config.brokers, &config.snapshot_topic, &store)
    })?;
    tracing::info!(
        snapshots = loaded,
        matches = store.len(),
        "scoreboards restored"
    );

    let reader: StreamConsumer<LagReporter> =
        kafka::consumer_config(&config.brokers, &format!("{}-reader", config.group))
            .set("statistics.interval.ms", "1000")
            .create_with_context(LagReporter {
                topic: config.events_topic.clone(),
            })
            .context("cannot create the reader")?;
    reader.assign(&start).context("cannot assign partitions")?;
    group
        .subscribe(&[&config.events_topic])
        .context("cannot join the group")?;
    ready.store(true, Ordering::Relaxed);

    let processor = tokio::spawn(processor::run(
        reader,
        store.clone(),
        progress.clone(),
        stopped(),
    ));
    let producer: FutureProducer = kafka::producer_config(&config.brokers)
        .create()
        .context("cannot create the producer")?;
    let checkpointer = checkpoint::Checkpointer::new(
        group,
        producer.clone(),
        store.clone(),
        progress,
        checkpoint::Topics {
            events: config.events_topic.clone(),
            snapshots: config.snapshot_topic.clone(),
            dead_letters: config.dlq_topic.clone(),
            group: config.group.clone(),
        },
    );
    // The processor stops first, so the last checkpoint covers everything it read.
    let (processor_done_tx, processor_done_rx) = tokio::sync::oneshot::channel::<()>();
    let checkpointing = tokio::spawn(checkpointer.run(config.snapshot_interval(), async move {
        let _ = processor_done_rx.await;
    }));

    processor.await.context("processor panicked")?;
    let _ = processor_done_tx.send(());
    checkpointing.await.context("checkpointer panicked")?;
    if let Err(err) = rdkafka::producer::Producer::flush(&producer, Duration::from_secs(10)) {
        tracing::error!(%err, "producer flush incomplete");
    }
    server
        .await
        .context("server panicked")?
        .context("HTTP server failed")?;
    let _ = shutdown_signal.await;
    tracing::info!("stream-stats stopped");
    Ok(())
}
