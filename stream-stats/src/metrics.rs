//! stream-stats' Prometheus metrics (stable names):
//!
//! - `stream_stats_events_total`: events applied; `stream_stats_duplicates_total`: ignored by seq.
//! - `stream_stats_end_to_end_seconds`: ingest acceptance -> delta published to clients.
//! - `stream_stats_consumer_lag{partition}`: records behind the end of each partition.
//! - `stream_stats_gaps_total`, `stream_stats_stale_matches`: sequence gaps and matches waiting.
//! - `stream_stats_unusable_records_total`, `stream_stats_dead_letters_total`: bad records seen
//!   and dead-lettered (by the owning instance).
//! - `stream_stats_snapshots_total`, `stream_stats_checkpoint_seconds`, `stream_stats_checkpoint_failures_total`.
//! - `stream_stats_owned_partitions`, `stream_stats_matches`.
//! - `stream_stats_store_full_total`: events of new matches refused (and dead-lettered)
//!   because the store held `STATS_MAX_MATCHES`.
//! - `stream_stats_ws_clients`, `stream_stats_ws_slow_clients_total{action}`.
//! - `stream_stats_ws_refused_total{reason}`: connections refused before the upgrade
//!   (`per_ip`, `origin`); `stream_stats_ws_subscriptions_refused_total`: subscribe requests
//!   past the per-connection cap.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

pub(crate) fn handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let buckets = [
                0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ];
            let builder = PrometheusBuilder::new()
                .set_buckets(&buckets)
                .unwrap_or_else(|_| PrometheusBuilder::new());
            match builder.install_recorder() {
                Ok(handle) => handle,
                Err(_) => PrometheusBuilder::new().build_recorder().handle(),
            }
        })
        .clone()
}

pub(crate) fn event_applied() {
    metrics::counter!("stream_stats_events_total").increment(1);
}

pub(crate) fn duplicate() {
    metrics::counter!("stream_stats_duplicates_total").increment(1);
}

pub(crate) fn gap() {
    metrics::counter!("stream_stats_gaps_total").increment(1);
}

pub(crate) fn unusable() {
    metrics::counter!("stream_stats_unusable_records_total").increment(1);
}

pub(crate) fn dead_lettered(records: usize) {
    metrics::counter!("stream_stats_dead_letters_total").increment(records as u64);
}

pub(crate) fn end_to_end(millis: i64) {
    metrics::histogram!("stream_stats_end_to_end_seconds").record(millis.max(0) as f64 / 1000.0);
}

pub(crate) fn snapshots_written(count: usize, elapsed: Duration) {
    metrics::counter!("stream_stats_snapshots_total").increment(count as u64);
    metrics::histogram!("stream_stats_checkpoint_seconds").record(elapsed.as_secs_f64());
}

pub(crate) fn checkpoint_failed() {
    metrics::counter!("stream_stats_checkpoint_failures_total").increment(1);
}

pub(crate) fn owned_partitions(count: usize) {
    metrics::gauge!("stream_stats_owned_partitions").set(count as f64);
}

pub(crate) fn consumer_lag(partition: i32, lag: i64) {
    metrics::gauge!("stream_stats_consumer_lag", "partition" => partition.to_string())
        .set(lag as f64);
}

pub(crate) fn store(matches: usize, stale: usize) {
    metrics::gauge!("stream_stats_matches").set(matches as f64);
    metrics::gauge!("stream_stats_stale_matches").set(stale as f64);
}

pub(crate) fn ws_clients(delta: f64) {
    metrics::gauge!("stream_stats_ws_clients").increment(delta);
}

pub(crate) fn slow_client(action: &'static str) {
    metrics::counter!("stream_stats_ws_slow_clients_total", "action" => action).increment(1);
}

pub(crate) fn store_full() {
    metrics::counter!("stream_stats_store_full_total").increment(1);
}

pub(crate) fn ws_refused(reason: &'static str) {
    metrics::counter!("stream_stats_ws_refused_total", "reason" => reason).increment(1);
}

pub(crate) fn subscriptions_refused() {
    metrics::counter!("stream_stats_ws_subscriptions_refused_total").increment(1);
}
