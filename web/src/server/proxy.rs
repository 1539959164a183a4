//! The one origin: HTTP and WebSocket traffic passed through to stream-stats and the
//! warehouse, so the browser (and anyone scripting against the dashboard) needs one URL.
//!
//! The HTTP pass-throughs reach only the routes [`super::paths`] lists. The live WebSocket is
//! bounded like stream-stats' own: messages of `WEB_WS_MAX_MESSAGE_BYTES` from the browser,
//! `WEB_WS_MAX_PER_IP` sockets per browser address (429 before the upgrade, so a refused one
//! never reaches stream-stats), and one upstream connection per browser socket, so
//! stream-stats' per-connection subscription cap applies to each browser as it is.

use axum::Json;
use axum::body::Body;
use std::net::SocketAddr;

use axum::Extension;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite;

use super::AppState;
use super::paths::{Refusal, Upstream, upstream_target};

/// Largest request body passed to the warehouse (a SQL query).
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Largest message taken from stream-stats: the match list with every match in it is the
/// biggest (about 300 bytes a match at `STATS_MAX_MATCHES`' default of 10,000).
const MAX_UPSTREAM_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

fn error(status: StatusCode, code: &str, message: String) -> Response {
    (
        status,
        Json(serde_json::json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

fn unavailable(service: &str, base: &str, err: impl std::fmt::Display) -> Response {
    error(
        StatusCode::BAD_GATEWAY,
        "upstream_unavailable",
        format!("{service} at {base} is not answering: {err}"),
    )
}

/// Copies an upstream answer: status, the headers that describe the body, and the body.
async fn relay(response: reqwest::Response) -> Response {
    let status = response.status();
    let mut headers = HeaderMap::new();
    for name in [
        header::CONTENT_TYPE,
        header::CONTENT_DISPOSITION,
        header::RETRY_AFTER,
        HeaderName::from_static("x-truncated"),
        HeaderName::from_static("x-truncated-by"),
        HeaderName::from_static("x-rows"),
    ] {
        if let Some(value) = response.headers().get(&name) {
            headers.insert(name, value.clone());
        }
    }
    // Passed on as it arrives, never held whole: the warehouse caps an answer's size and
    // streams it, and this hop keeps it that way. An upstream that breaks off mid-answer
    // breaks this response off too, so a cut answer never looks complete.
    (status, headers, Body::from_stream(response.bytes_stream())).into_response()
}

/// The upstream path for a pass-through request.
fn target(upstream: Upstream, method: &Method, uri: &Uri, prefix: &str) -> Result<String, Refusal> {
    let rest = uri.path().strip_prefix(prefix).unwrap_or_default();
    upstream_target(upstream, method, rest, uri.query())
}

/// The JSON answer to a refused pass-through request.
fn refused(refusal: Refusal, uri: &Uri) -> Response {
    match refusal {
        Refusal::BadPath(reason) => error(
            StatusCode::BAD_REQUEST,
            "bad_path",
            format!("{}: {reason}", uri.path()),
        ),
        Refusal::Unknown(reason) => error(StatusCode::NOT_FOUND, "unknown_endpoint", reason),
        Refusal::Method { allowed } => {
            let mut response = error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("{} takes {allowed} only", uri.path()),
            );
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allowed));
            response
        }
        Refusal::BadQuery(reason) => error(StatusCode::BAD_REQUEST, "bad_query", reason),
    }
}

/// `GET /api/live/{path}` -> stream-stats `GET /v1/{path}`, for the listed paths only.
pub(super) async fn live(State(state): State<AppState>, method: Method, uri: Uri) -> Response {
    let target = match target(Upstream::Live, &method, &uri, "/api/live/") {
        Ok(target) => target,
        Err(refusal) => return refused(refusal, &uri),
    };
    let base = &state.upstreams.stream_stats;
    match state
        .upstreams
        .http
        .get(format!("{base}{target}"))
        .send()
        .await
    {
        Ok(response) => relay(response).await,
        Err(err) => unavailable("stream-stats", base, err),
    }
}

/// `/api/warehouse/{path}` -> the warehouse's `/v1/{path}` for the listed paths and methods,
/// with the body and the headers that choose the answer's format.
pub(super) async fn warehouse(State(state): State<AppState>, request: Request) -> Response {
    let target = match target(
        Upstream::Warehouse,
        request.method(),
        request.uri(),
        "/api/warehouse/",
    ) {
        Ok(target) => target,
        Err(refusal) => return refused(refusal, request.uri()),
    };
    let base = &state.upstreams.warehouse;
    let url = format!("{base}{target}");
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(body) => body,
        Err(_) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("request bodies are limited to {MAX_BODY_BYTES} bytes"),
            );
        }
    };
    let mut upstream = state.upstreams.http.request(parts.method, url).body(body);
    for name in [header::CONTENT_TYPE, header::ACCEPT] {
        if let Some(value) = parts.headers.get(&name) {
            upstream = upstream.header(name, value);
        }
    }
    match upstream.send().await {
        Ok(response) => relay(response).await,
        Err(err) => unavailable("the warehouse", base, err),
    }
}

/// Leptos answers a server-function call whose arguments do not decode with a 500 and its own
/// `Args|...` text; that is bad input, so the caller gets a 400 JSON error naming it instead.
pub(super) async fn server_fn_input_errors(
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    let is_server_fn = request.uri().path().starts_with("/api/fn/");
    let response = next.run(request).await;
    if !is_server_fn || response.status() != StatusCode::INTERNAL_SERVER_ERROR {
        return response;
    }
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "the answer broke off".to_owned(),
        );
    };
    let text = String::from_utf8_lossy(&bytes);
    for kind in ["Args|", "MissingArg|", "Deserialization|"] {
        if let Some(reason) = text.strip_prefix(kind) {
            return error(
                StatusCode::BAD_REQUEST,
                "bad_arguments",
                format!("the arguments do not decode: {reason}"),
            );
        }
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// Any other `/api/...` path: a JSON 404 rather than the dashboard's HTML one.
pub(super) async fn unknown_api(request: Request) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "unknown_endpoint",
        format!(
            "{} {} is not an API of this server: see /api/live/..., /api/warehouse/..., /api/export.csv, /api/pipeline",
            request.method(),
            request.uri().path()
        ),
    )
}

#[derive(Debug, serde::Deserialize)]
pub(super) struct ExportParams {
    sql: Option<String>,
}

/// `GET /api/export.csv?sql=...`: the query's rows as a CSV download.
pub(super) async fn export_csv(
    State(state): State<AppState>,
    Query(params): Query<ExportParams>,
) -> Response {
    let Some(sql) = params.sql.filter(|sql| !sql.trim().is_empty()) else {
        return error(
            StatusCode::BAD_REQUEST,
            "missing_sql",
            "give the query as ?sql=SELECT...".to_owned(),
        );
    };
    let base = &state.upstreams.warehouse;
    let sent = state
        .upstreams
        .http
        .post(format!("{base}/v1/sql?format=csv"))
        .json(&serde_json::json!({ "sql": sql }))
        .send()
        .await;
    match sent {
        Ok(response) => {
            let ok = response.status().is_success();
            let mut answer = relay(response).await;
            if ok {
                answer.headers_mut().insert(
                    header::CONTENT_DISPOSITION,
                    HeaderValue::from_static("attachment; filename=\"query.csv\""),
                );
            }
            answer
        }
        Err(err) => unavailable("the warehouse", base, err),
    }
}

/// `GET /api/live/ws`: the browser's WebSocket, relayed message by message to stream-stats.
/// Only pages of this origin may open it.
pub(super) async fn live_socket(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    if !same_origin(&headers) {
        return error(
            StatusCode::FORBIDDEN,
            "origin_not_allowed",
            "only pages of this site may open its WebSocket".to_owned(),
        );
    }
    // Held for the socket's life; a router served without peer addresses (in-process tests)
    // has nothing to count by.
    let permit = match peer {
        Some(Extension(ConnectInfo(peer))) => match state.ws_per_ip.try_acquire(peer.ip()) {
            Some(permit) => Some(permit),
            None => {
                let mut refusal = error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_connections",
                    format!(
                        "at most {} live connections per address; close a tab first",
                        state.ws_per_ip.max()
                    ),
                );
                refusal
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("10"));
                return refusal;
            }
        },
        None => None,
    };
    let upstream = format!(
        "{}/v1/ws",
        state
            .upstreams
            .stream_stats
            .replacen("https://", "wss://", 1)
            .replacen("http://", "ws://", 1)
    );
    upgrade
        .read_buffer_size(4 * 1024)
        .max_message_size(state.ws_max_message_bytes)
        .max_frame_size(state.ws_max_message_bytes)
        .on_upgrade(move |socket| async move {
            let _permit = permit;
            relay_socket(socket, upstream).await;
        })
}

/// A browser's Origin (if it sent one) must name the host it is talking to.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    origin
        .split_once("://")
        .is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(host))
}

async fn relay_socket(mut browser: WebSocket, upstream: String) {
    let config = tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(MAX_UPSTREAM_MESSAGE_BYTES))
        .max_frame_size(Some(MAX_UPSTREAM_MESSAGE_BYTES));
    let server =
        match tokio_tungstenite::connect_async_with_config(&upstream, Some(config), false).await {
            Ok((server, _)) => server,
            Err(err) => {
                tracing::debug!(%err, %upstream, "stream-stats WebSocket unavailable");
                // 1013 "try again later": the page reconnects with backoff.
                let _ = browser
                    .send(Message::Close(Some(axum::extract::ws::CloseFrame {
                        code: 1013,
                        reason: "stream-stats is unavailable".into(),
                    })))
                    .await;
                return;
            }
        };
    crate::server::metrics::socket_opened();
    let (mut to_server, mut from_server) = server.split();
    let (mut to_browser, mut from_browser) = browser.split();
    let downstream = async {
        while let Some(Ok(message)) = from_server.next().await {
            let message = match message {
                tungstenite::Message::Text(text) => Message::Text(text.as_str().into()),
                tungstenite::Message::Binary(bytes) => Message::Binary(bytes),
                tungstenite::Message::Close(_) => break,
                // Pings are answered hop by hop; each side keeps its own alive.
                _ => continue,
            };
            if to_browser.send(message).await.is_err() {
                break;
            }
        }
        let _ = to_browser.close().await;
    };
    let upstream_pump = async {
        while let Some(Ok(message)) = from_browser.next().await {
            let message = match message {
                Message::Text(text) => tungstenite::Message::text(text.as_str()),
                Message::Binary(bytes) => tungstenite::Message::Binary(bytes),
                Message::Close(_) => break,
                _ => continue,
            };
            if to_server.send(message).await.is_err() {
                break;
            }
        }
        let _ = to_server.close().await;
    };
    // Either side closing ends both.
    tokio::select! {
        () = downstream => {}
        () = upstream_pump => {}
    }
    crate::server::metrics::socket_closed();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::HOST,
            HeaderValue::from_str(host).unwrap_or(HeaderValue::from_static("")),
        );
        if let Some(origin) = origin {
            headers.insert(
                header::ORIGIN,
                HeaderValue::from_str(origin).unwrap_or(HeaderValue::from_static("")),
            );
        }
        headers
    }

    #[test]
    fn only_this_origin_may_open_the_socket() {
        assert!(same_origin(&headers(None, "127.0.0.1:3000")));
        assert!(same_origin(&headers(
            Some("http://127.0.0.1:3000"),
            "127.0.0.1:3000"
        )));
        assert!(same_origin(&headers(
            Some("https://Cricket.example"),
            "cricket.example"
        )));
        assert!(!same_origin(&headers(
            Some("https://evil.example"),
            "cricket.example"
        )));
        assert!(!same_origin(&headers(Some("null"), "cricket.example")));
    }
}
