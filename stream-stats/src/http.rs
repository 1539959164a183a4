//! The HTTP surface: match list, scoreboards, canonical scorecards, the WebSocket and the
//! operational endpoints. Each handler carries its OpenAPI description ([`crate::openapi`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use cricket::schema::MatchIdPath;
use cricket::{MatchSummary, Scorecard};
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Serialize;
use utoipa::ToSchema;

use crate::openapi::SnapshotMessage;
use crate::store::Store;
use crate::{metrics, openapi, ws};

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
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(prometheus))
        .route("/openapi.json", get(|| async { Json(openapi::document()) }))
        .with_state(state)
}

/// Every refusal: `{"error": {"code", "message"}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, for programs: `unknown_match`, `restoring`, `origin_not_allowed`,
    /// `too_many_connections`.
    pub code: String,
    /// Why, for people.
    pub message: String,
}

/// `{"error": {"code", "message"}}` with `status`.
pub fn json_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = ErrorBody {
        error: ErrorDetail {
            code: code.to_owned(),
            message: message.to_owned(),
        },
    };
    (status, Json(body)).into_response()
}

fn not_found(id: &str) -> Response {
    json_error(
        StatusCode::NOT_FOUND,
        "unknown_match",
        &format!("no match with id {id:?}"),
    )
}

/// Every match this instance knows, live ones and finished ones, as one-line summaries.
#[utoipa::path(
    get,
    path = "/v1/matches",
    responses((status = 200, description = "Every known match", body = Vec<MatchSummary>))
)]
pub(crate) async fn list(State(state): State<AppState>) -> Response {
    Json(state.store.summaries()).into_response()
}

/// A match's full live scoreboard, as the `snapshot` message of the WebSocket protocol:
/// `{"type": "snapshot", "match_id", "stale", "status", "scoreboard"}`.
#[utoipa::path(
    get,
    path = "/v1/matches/{id}",
    params(MatchIdPath),
    responses(
        (status = 200, description = "The match's scoreboard", body = SnapshotMessage),
        (status = 404, description = "No event of this match has been seen (`unknown_match`)", body = ErrorBody),
    )
)]
pub(crate) async fn scoreboard(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    match state.store.snapshot(&id) {
        Some(bytes) => ([(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
        None => not_found(&id),
    }
}

/// The canonical scorecard (the shape `simulator scorecard` prints and the warehouse serves).
#[utoipa::path(
    get,
    path = "/v1/matches/{id}/scorecard",
    params(MatchIdPath),
    responses(
        (status = 200, description = "The match's scorecard so far", body = Scorecard),
        (status = 404, description = "No event of this match has been seen (`unknown_match`)", body = ErrorBody),
    )
)]
pub(crate) async fn scorecard(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    match state.store.scorecard(&id) {
        Some(card) => Json(card).into_response(),
        None => not_found(&id),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Health {
    /// `ok`.
    status: &'static str,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "Alive", body = Health)))]
pub(crate) async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Ready {
    /// `ready`.
    status: &'static str,
    /// Matches in memory.
    matches: usize,
}

/// Readiness: the snapshots are restored and the processor is reading, so scores are current.
#[utoipa::path(
    get,
    path = "/readyz",
    responses(
        (status = 200, description = "Serving current scores", body = Ready),
        (status = 503, description = "Still restoring scoreboards from snapshots (`restoring`)", body = ErrorBody),
    )
)]
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    if state.ready.load(Ordering::Relaxed) {
        Json(Ready {
            status: "ready",
            matches: state.store.len(),
        })
        .into_response()
    } else {
        json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "restoring",
            "restoring scoreboards from snapshots",
        )
    }
}

/// Prometheus text exposition: events applied, lag per partition, WebSocket clients, ...
#[utoipa::path(
    get,
    path = "/metrics",
    responses((status = 200, description = "Prometheus text format 0.0.4", body = String, content_type = "text/plain"))
)]
pub(crate) async fn prometheus(State(state): State<AppState>) -> Response {
    metrics::store(state.store.len(), state.store.stale_count());
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}
