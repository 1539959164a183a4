//! Ingest's Prometheus metrics. Names are stable: dashboards and alerts depend on them.
//!
//! - `ingest_http_requests_total{status}`: requests by HTTP status.
//! - `ingest_events_accepted_total`: events acknowledged by the broker.
//! - `ingest_events_rejected_total{reason}`: events (or requests, when the body could not be
//!   read) refused, by error code.
//! - `ingest_produce_seconds`: time from the first event queued to the last acknowledged, per request.
//! - `ingest_producer_queue_depth`: events waiting in the producer, sampled at scrape time.
//! - `ingest_broker_up`: 1 when the broker answered the last probe.
//! - `ingest_http_connections`: HTTP connections open now (at most `INGEST_MAX_CONNECTIONS`).
//! - `ingest_http_header_timeouts_total`: connections closed because request headers did not
//!   arrive within `INGEST_HEADER_TIMEOUT_MS` (slow or idle clients).

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// The process-wide recorder (metrics macros report to one global recorder).
pub(crate) fn handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let buckets = [
                0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ];
            let builder = PrometheusBuilder::new()
                .set_buckets(&buckets)
                .unwrap_or_else(|_| PrometheusBuilder::new());
            match builder.install_recorder() {
                Ok(handle) => handle,
                // Another recorder is installed (e.g. two apps in one test process): keep a
                // private one so /metrics still renders.
                Err(_) => PrometheusBuilder::new().build_recorder().handle(),
            }
        })
        .clone()
}

pub(crate) fn request(status: u16) {
    metrics::counter!("ingest_http_requests_total", "status" => status.to_string()).increment(1);
}

pub(crate) fn accepted(events: usize) {
    metrics::counter!("ingest_events_accepted_total").increment(events as u64);
}

pub(crate) fn rejected(reason: &'static str, events: usize) {
    metrics::counter!("ingest_events_rejected_total", "reason" => reason)
        .increment(events.max(1) as u64);
}

pub(crate) fn produce_latency(elapsed: Duration) {
    metrics::histogram!("ingest_produce_seconds").record(elapsed.as_secs_f64());
}

pub(crate) fn gauges(queue_depth: i32, broker_up: bool) {
    metrics::gauge!("ingest_producer_queue_depth").set(f64::from(queue_depth));
    metrics::gauge!("ingest_broker_up").set(if broker_up { 1.0 } else { 0.0 });
}

/// Counts an open HTTP connection in `ingest_http_connections` while it lives.
pub(crate) struct OpenConnection;

impl OpenConnection {
    pub(crate) fn new() -> OpenConnection {
        metrics::gauge!("ingest_http_connections").increment(1.0);
        OpenConnection
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        metrics::gauge!("ingest_http_connections").decrement(1.0);
    }
}

/// A connection closed because its request headers did not arrive in time (or it sat idle).
pub(crate) fn header_timeout() {
    metrics::counter!("ingest_http_header_timeouts_total").increment(1);
}
