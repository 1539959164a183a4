//! The web server's own Prometheus metrics: `web_http_requests_total{status}` and
//! `web_live_sockets` (browser WebSockets relayed to stream-stats now).

use std::sync::OnceLock;

use axum::extract::Request;
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

fn handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| match PrometheusBuilder::new().install_recorder() {
            Ok(handle) => handle,
            // Another recorder is installed (tests run servers side by side): keep a private one.
            Err(_) => PrometheusBuilder::new().build_recorder().handle(),
        })
        .clone()
}

/// Installs the recorder; call before serving.
pub(crate) fn init() {
    let _ = handle();
}

pub(crate) async fn count_requests(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    metrics::counter!("web_http_requests_total", "status" => response.status().as_u16().to_string())
        .increment(1);
    response
}

pub(crate) fn socket_opened() {
    metrics::gauge!("web_live_sockets").increment(1.0);
}

pub(crate) fn socket_closed() {
    metrics::gauge!("web_live_sockets").decrement(1.0);
}

pub(crate) async fn prometheus() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle().render(),
    )
}
