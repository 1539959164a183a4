//! The HTTP surface: `POST /v1/events` plus the operational endpoints.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Serialize;
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

use crate::decode::{BodyKind, decode};
use crate::error::ApiError;
use crate::publish::Publisher;
use crate::{metrics, openapi};

/// What every handler shares.
#[derive(Clone, Debug)]
pub struct AppState {
    pub publisher: Publisher,
    pub token: Arc<str>,
    pub max_body_bytes: usize,
    pub max_batch_events: usize,
    /// Permits for requests being processed; none freed within `queue_timeout` means 429.
    pub in_flight: Arc<Semaphore>,
    pub queue_timeout: Duration,
    /// A body must arrive completely within this time.
    pub body_timeout: Duration,
    pub metrics: PrometheusHandle,
}

/// The answer to a fully acknowledged request.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Accepted {
    /// How many events the broker acknowledged: all of the request's.
    pub accepted: usize,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/events", post(post_events))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(prometheus))
        .route("/openapi.json", get(|| async { Json(openapi::document()) }))
        .route(
            "/v1/schema/event.json",
            get(|| async { Json(openapi::event_json_schema()) }),
        )
        .layer(middleware::from_fn(count_requests))
        .with_state(state)
}

async fn count_requests(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    metrics::request(response.status().as_u16());
    response
}

/// Publish events.
///
/// The body is NDJSON (one event per line) or JSON (one event or an array). Every event is
/// validated first; the request is answered 202 only after the broker acknowledged all of
/// its events. Retrying a failed request is safe: consumers ignore a `seq` they have seen.
#[utoipa::path(
    post,
    path = "/v1/events",
    request_body(
        content(
            (Vec<cricket::Event> = "application/x-ndjson"),
            (Vec<cricket::Event> = "application/json"),
        ),
        description = "NDJSON: one event per line. JSON: one event object or an array of them."
    ),
    responses(
        (status = 202, description = "Every event was acknowledged by the broker", body = Accepted),
        (status = 400, description = "Malformed JSON or an empty request", body = crate::error::ErrorBody),
        (status = 401, description = "No bearer token", body = crate::error::ErrorBody),
        (status = 403, description = "Wrong bearer token", body = crate::error::ErrorBody),
        (status = 413, description = "Body or batch too large", body = crate::error::ErrorBody),
        (status = 408, description = "The body did not arrive within the body timeout", body = crate::error::ErrorBody),
        (status = 415, description = "Not NDJSON or JSON", body = crate::error::ErrorBody),
        (status = 422, description = "An event is invalid; nothing was produced", body = crate::error::ErrorBody),
        (status = 429, description = "Too busy (no in-flight slot freed in time, or the producer queue is full); retry after the Retry-After seconds", body = crate::error::ErrorBody),
        (status = 503, description = "The broker is unavailable; `failed` lists what was not accepted", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn post_events(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match accept(&state, &headers, body).await {
        Ok(accepted) => {
            metrics::accepted(accepted);
            (StatusCode::ACCEPTED, Json(Accepted { accepted })).into_response()
        }
        Err(Refused::Api(err, events)) => {
            metrics::rejected(err.code(), events);
            err.into_response()
        }
        Err(Refused::BodyTimeout) => {
            metrics::rejected("body_timeout", 0);
            let message = format!(
                "the request body did not arrive within {} ms",
                state.body_timeout.as_millis()
            );
            let body = serde_json::json!({"error": {"code": "body_timeout", "message": message}});
            // The rest of the body is not read: the connection closes after this answer.
            (
                StatusCode::REQUEST_TIMEOUT,
                [(header::CONNECTION, "close")],
                Json(body),
            )
                .into_response()
        }
    }
}

/// Why a request was not accepted.
enum Refused {
    /// An API error, and how many events it concerned.
    Api(ApiError, usize),
    /// The body did not arrive in time.
    BodyTimeout,
}

impl From<(ApiError, usize)> for Refused {
    fn from((err, events): (ApiError, usize)) -> Refused {
        Refused::Api(err, events)
    }
}

/// Returns the number of events accepted, or why not.
///
/// Order matters for what a slow or hostile client can hold: the token and content type are
/// checked before any of the body is read (a client without the token makes the server buffer
/// nothing), the body is read within `body_timeout` without holding an in-flight slot (a client
/// dripping its body cannot starve the others), and only then is a slot taken, waiting at most
/// `queue_timeout`.
async fn accept(state: &AppState, headers: &HeaderMap, body: Body) -> Result<usize, Refused> {
    authorize(headers, &state.token).map_err(|err| (err, 0))?;
    let kind = BodyKind::from_content_type(
        headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
    )
    .map_err(|err| (err, 0))?;
    let bytes = tokio::time::timeout(
        state.body_timeout,
        read_limited(headers, body, state.max_body_bytes),
    )
    .await
    .map_err(|_| Refused::BodyTimeout)?
    .map_err(|err| (err, 0))?;
    let _permit =
        tokio::time::timeout(state.queue_timeout, state.in_flight.clone().acquire_owned())
            .await
            .ok()
            .and_then(Result::ok)
            .ok_or_else(|| {
                let err = ApiError::Busy {
                    message: format!(
                        "too many requests in flight: none finished within {} ms",
                        state.queue_timeout.as_millis()
                    ),
                    failed: Vec::new(),
                };
                (err, 0)
            })?;
    let events = decode(kind, &bytes, state.max_batch_events).map_err(|err| (err, 1))?;
    state.publisher.publish(&events).await.map_err(|err| {
        let failed = match &err {
            ApiError::Busy { failed, .. } | ApiError::Unavailable { failed, .. } => failed.len(),
            _ => events.len(),
        };
        if failed < events.len() {
            metrics::accepted(events.len() - failed);
        }
        Refused::Api(err, failed)
    })?;
    Ok(events.len())
}

/// Past the limit, a body is read and thrown away up to this many bytes (or for this long)
/// before the 413 goes out: a client still sending would otherwise see its connection reset
/// instead of the answer.
const DRAIN_BYTES: usize = 16 * 1024 * 1024;
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(2);

/// Reads the body up to `limit` bytes; a larger one (declared or streamed) is 413.
async fn read_limited(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<axum::body::Bytes, ApiError> {
    use http_body_util::BodyExt;
    let too_large = ApiError::BodyTooLarge { limit };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let mut body = body;
    let mut collected = Vec::with_capacity(declared.unwrap_or(0).min(limit));
    let mut over = declared.is_some_and(|length| length > limit);
    let deadline = tokio::time::Instant::now() + DRAIN_TIME;
    let mut drained = 0usize;
    loop {
        let frame = if over {
            match tokio::time::timeout_at(deadline, body.frame()).await {
                Ok(frame) => frame,
                Err(_) => return Err(too_large),
            }
        } else {
            body.frame().await
        };
        let Some(frame) = frame else { break };
        let frame = frame.map_err(|err| ApiError::Malformed {
            message: format!("could not read the request body: {err}"),
            line: 1,
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if over {
            drained += data.len();
            if drained > DRAIN_BYTES {
                return Err(too_large);
            }
        } else if collected.len() + data.len() > limit {
            over = true;
            collected = Vec::new();
        } else {
            collected.extend_from_slice(&data);
        }
    }
    if over {
        Err(too_large)
    } else {
        Ok(collected.into())
    }
}

fn authorize(headers: &HeaderMap, token: &str) -> Result<(), ApiError> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or(ApiError::MissingToken)?;
    // Constant-time so the comparison does not reveal how much of a guess was right.
    if bool::from(presented.as_bytes().ct_eq(token.as_bytes())) {
        Ok(())
    } else {
        Err(ApiError::WrongToken)
    }
}

/// Liveness: the process is serving HTTP.
#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "Alive")))]
pub(crate) async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

/// Readiness: the broker is reachable, so events can be accepted.
#[utoipa::path(
    get,
    path = "/readyz",
    responses((status = 200, description = "Ready"), (status = 503, description = "Broker unreachable"))
)]
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    if state.publisher.broker_up() {
        Json(serde_json::json!({"status": "ready"})).into_response()
    } else {
        let body = Json(serde_json::json!({"status": "broker unreachable"}));
        (StatusCode::SERVICE_UNAVAILABLE, body).into_response()
    }
}

async fn prometheus(State(state): State<AppState>) -> Response {
    metrics::gauges(state.publisher.queue_depth(), state.publisher.broker_up());
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}
