//! The warehouse's Prometheus metrics (stable names: dashboards and alerts depend on them).
//!
//! - `warehouse_records_total{outcome}`: Kafka records loaded: `event`, `duplicate` (raw
//!   table only) or `rejected`.
//! - `warehouse_modelled_rows_total`: rows written to the modelled tables.
//! - `warehouse_batches_total`, `warehouse_batch_seconds`: committed batches and how long
//!   writing and committing one took.
//! - `warehouse_freshness_seconds`: per batch, commit time minus the oldest ingest time in
//!   it: how stale the freshest data could be when it became queryable.
//! - `warehouse_consumer_lag{partition}`: records behind the end of each partition.
//! - `warehouse_dead_letters_total{outcome}`: rejected records copied to the dead-letter
//!   topic (`sent`, `failed`).
//! - `warehouse_sql_queries_total{outcome}`, `warehouse_sql_seconds`: `POST /v1/sql`.
//! - `warehouse_sql_replica_up`, `warehouse_sql_replica_restarts_total`,
//!   `warehouse_sql_replica_rss_bytes`, `warehouse_sql_replica_peak_rss_bytes`: the
//!   user-SQL replica process.
//! - `warehouse_http_requests_total{status}`.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// The process-wide recorder (metrics macros report to one global recorder).
pub(crate) fn handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let buckets = [
                0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.5, 5.0,
                10.0,
            ];
            let builder = PrometheusBuilder::new()
                .set_buckets(&buckets)
                .unwrap_or_else(|_| PrometheusBuilder::new());
            match builder.install_recorder() {
                Ok(handle) => handle,
                // Another recorder is installed (two apps in one test process): keep a private
                // one so /metrics still renders.
                Err(_) => PrometheusBuilder::new().build_recorder().handle(),
            }
        })
        .clone()
}

pub(crate) fn batch(
    events: usize,
    duplicates: usize,
    rejected: usize,
    modelled: usize,
    elapsed: Duration,
) {
    metrics::counter!("warehouse_records_total", "outcome" => "event")
        .increment((events - duplicates) as u64);
    metrics::counter!("warehouse_records_total", "outcome" => "duplicate")
        .increment(duplicates as u64);
    metrics::counter!("warehouse_records_total", "outcome" => "rejected")
        .increment(rejected as u64);
    metrics::counter!("warehouse_modelled_rows_total").increment(modelled as u64);
    metrics::counter!("warehouse_batches_total").increment(1);
    metrics::histogram!("warehouse_batch_seconds").record(elapsed.as_secs_f64());
}

pub(crate) fn freshness(millis: i64) {
    metrics::histogram!("warehouse_freshness_seconds").record(millis.max(0) as f64 / 1000.0);
}

pub(crate) fn consumer_lag(partition: i32, lag: i64) {
    metrics::gauge!("warehouse_consumer_lag", "partition" => partition.to_string()).set(lag as f64);
}

pub(crate) fn dead_letter(outcome: &'static str) {
    metrics::counter!("warehouse_dead_letters_total", "outcome" => outcome).increment(1);
}

pub(crate) fn query(outcome: &'static str, elapsed: Duration) {
    metrics::counter!("warehouse_sql_queries_total", "outcome" => outcome).increment(1);
    metrics::histogram!("warehouse_sql_seconds").record(elapsed.as_secs_f64());
}

pub(crate) fn request(status: u16) {
    metrics::counter!("warehouse_http_requests_total", "status" => status.to_string()).increment(1);
}

pub(crate) fn sql_replica_up(up: bool) {
    metrics::gauge!("warehouse_sql_replica_up").set(if up { 1.0 } else { 0.0 });
}

pub(crate) fn sql_replica_restart() {
    metrics::counter!("warehouse_sql_replica_restarts_total").increment(1);
}

pub(crate) fn sql_replica_memory(rss: u64, peak: u64) {
    metrics::gauge!("warehouse_sql_replica_rss_bytes").set(rss as f64);
    metrics::gauge!("warehouse_sql_replica_peak_rss_bytes").set(peak as f64);
}
