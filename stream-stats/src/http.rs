//! The HTTP surface: match list, scoreboards, canonical scorecards, the WebSocket and the
//! operational endpoints.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::store::Store;
use crate::{metrics, ws};

#[derive(Clone, Debug)]
pub struct AppState {
    pub store: Arc<Store>,
    /// Set once the snapshots are restored and the processor is reading.
    pub ready: Arc<AtomicBool>,
    pub metrics: PrometheusHandle,
    pub allowed_origins: Arc<[String]>,
    pub ws_max_message_bytes: usize,
    pub ws_send_timeout: Duration,
    pub ws_max_subscriptions: usize,
    /// Open WebSockets per client address.
    pub ws_per_ip: Arc<platform::limits::PerAddress>,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/matches", get(list))
        .route("/v1/matches/{id}", get(scoreboard))
        .route("/v1/matches/{id}/scorecard", get(scorecard))
        .route("/v1/ws", get(ws::upgrade))
        .route(
            "/healthz",
            get(|| async { Json(serde_json::json!({"status": "ok"})) }),
        )
        .route("/readyz", get(readyz))
        .route("/metrics", get(prometheus))
        .with_state(state)
}

/// `{"error": {"code", "message"}}` with `status`.
pub fn json_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({"error": {"code": code, "message": message}});
    (status, Json(body)).into_response()
}

fn not_found(id: &str) -> Response {
    json_error(
        StatusCode::NOT_FOUND,
        "unknown_match",
        &format!("no match with id {id:?}"),
    )
}

async fn list(State(state): State<AppState>) -> Response {
    Json(state.store.summaries()).into_response()
}

/// The snapshot message: `{"type": "snapshot", "match_id", "stale", "status", "scoreboard"}`.
async fn scoreboard(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    match state.store.snapshot(&id) {
        Some(bytes) => ([(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
        None => not_found(&id),
    }
}

async fn scorecard(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    match state.store.scorecard(&id) {
        Some(card) => Json(card).into_response(),
        None => not_found(&id),
    }
}

async fn readyz(State(state): State<AppState>) -> Response {
    if state.ready.load(Ordering::Relaxed) {
        Json(serde_json::json!({"status": "ready", "matches": state.store.len()})).into_response()
    } else {
        json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "restoring",
            "restoring scoreboards from snapshots",
        )
    }
}

async fn prometheus(State(state): State<AppState>) -> Response {
    metrics::store(state.store.len(), state.store.stale_count());
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}
