//! WebSocket clients: `GET /v1/ws`, speaking `cricket::live`.
//!
//! Each client is one task holding broadcast receivers for its subscriptions. It never slows
//! anyone else: if it reads too slowly and falls behind a channel's buffer, it is sent a fresh
//! snapshot of what it follows instead of the deltas it missed; if its socket stops accepting
//! writes for the send timeout, it is disconnected. Memory per client is its receivers and the
//! one message being written, whatever the client does.
//!
//! What one client can take is bounded: messages of `STATS_WS_MAX_MESSAGE_BYTES`,
//! `STATS_WS_MAX_SUBSCRIPTIONS` subscriptions per connection (a subscribe past it is answered
//! with an error, and nothing of it is done), `STATS_WS_MAX_PER_IP` connections per address
//! (429 before the upgrade). An unknown match is answered `not_found` and leaves nothing behind:
//! the store only ever holds matches the event stream created.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Extension;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use cricket::live::{ClientMessage, ServerMessage};
use futures_util::{SinkExt, StreamExt};
use tokio_stream::StreamMap;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use crate::http::{AppState, json_error};
use crate::metrics;

/// Server pings this often; a client silent for three pings is gone.
const PING_EVERY: Duration = Duration::from_secs(20);
const SILENCE_LIMIT: Duration = Duration::from_secs(60);
/// Key of the match-list subscription in a client's stream map (match ids cannot contain it).
const LIST: &str = "#list";

/// The live feed: a WebSocket speaking `cricket::live` (JSON text messages).
///
/// Open it with an HTTP/1.1 `GET` carrying `Connection: Upgrade`, `Upgrade: websocket`,
/// `Sec-WebSocket-Version: 13` and a `Sec-WebSocket-Key`; anything else is refused before the
/// upgrade (400, or 426 if the connection cannot be upgraded). Then send
/// `{"type": "subscribe", "list": true, "matches": ["1370353"]}` (`ClientMessage`; `unsubscribe`
/// takes the same fields) and receive `ServerMessage`s: the `matches` list and a `snapshot`
/// per match first, then `summary` and `event` deltas. Each `event` carries its `seq`: a
/// client that sees a gap subscribes again for a fresh snapshot. `stale` says a match's stream
/// has a gap, `not_found` that a match is unknown (yet), `error` that a message was not
/// understood or would pass the subscription cap. The server pings every 20 s and closes a
/// connection silent for 60 s or not reading for the send timeout.
#[utoipa::path(
    get,
    path = "/v1/ws",
    responses(
        (status = 101, description = "Switched to the WebSocket protocol; messages are `ClientMessage` and `ServerMessage`"),
        (status = 400, description = "Not a WebSocket upgrade request (a header is missing or wrong)", body = String, content_type = "text/plain"),
        (status = 403, description = "A browser origin not in STATS_ALLOWED_ORIGINS (`origin_not_allowed`)", body = crate::http::ErrorBody),
        (status = 426, description = "The connection cannot be upgraded", body = String, content_type = "text/plain"),
        (status = 429, description = "This address has STATS_WS_MAX_PER_IP connections open already (`too_many_connections`); retry after Retry-After seconds", body = crate::http::ErrorBody,
            headers(("Retry-After" = u32, description = "Seconds to wait"))),
    )
)]
pub(crate) async fn upgrade(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    if !origin_allowed(&state.allowed_origins, origin) {
        metrics::ws_refused("origin");
        return json_error(
            StatusCode::FORBIDDEN,
            "origin_not_allowed",
            "this origin may not open a WebSocket here (see STATS_ALLOWED_ORIGINS)",
        );
    }
    // Held for the socket's life; a router served without peer addresses (in-process tests)
    // has nothing to count by.
    let permit = match peer {
        Some(Extension(ConnectInfo(peer))) => match state.ws_per_ip.try_acquire(peer.ip()) {
            Some(permit) => Some(permit),
            None => {
                metrics::ws_refused("per_ip");
                let mut refusal = json_error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_connections",
                    &format!(
                        "at most {} WebSocket connections per client address; close one first",
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
    // Small buffers: tungstenite's defaults (128 KiB each way) would cost a quarter of a
    // megabyte per idle client. Writes go straight to the socket (no write batching).
    ws.max_message_size(state.ws_max_message_bytes)
        .max_frame_size(state.ws_max_message_bytes)
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .on_upgrade(move |socket| async move {
            let _permit = permit;
            serve(socket, state).await;
        })
        .into_response()
}

fn origin_allowed(allowed: &[String], origin: Option<&str>) -> bool {
    if allowed.iter().any(|a| a == "*") {
        return true;
    }
    // Non-browser clients send no Origin; browsers always do.
    origin.is_none_or(|origin| allowed.iter().any(|a| a.eq_ignore_ascii_case(origin)))
}

struct ClientGauge;

impl ClientGauge {
    fn new() -> ClientGauge {
        metrics::ws_clients(1.0);
        ClientGauge
    }
}

impl Drop for ClientGauge {
    fn drop(&mut self) {
        metrics::ws_clients(-1.0);
    }
}

async fn serve(socket: WebSocket, state: AppState) {
    let (sink, incoming) = socket.split();
    serve_split(sink, incoming, state).await;
}

/// The client loop over any message sink and stream (a socket's halves, or channels in tests).
async fn serve_split<S, R>(mut sink: S, mut incoming: R, state: AppState)
where
    S: futures_util::Sink<Message> + Unpin,
    R: futures_util::Stream<Item = Result<Message, axum::Error>> + Unpin,
{
    let _gauge = ClientGauge::new();
    let mut subscriptions: StreamMap<String, BroadcastStream<Bytes>> = StreamMap::new();
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
    let mut last_heard = Instant::now();
    let send_timeout = state.ws_send_timeout;

    // Sends one message or gives up on the client.
    macro_rules! send {
        ($client:lifetime, $bytes:expr) => {{
            if let Ok(text) = Utf8Bytes::try_from($bytes) {
                match tokio::time::timeout(send_timeout, sink.send(Message::Text(text))).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => break $client,
                    Err(_) => {
                        metrics::slow_client("disconnected");
                        break $client;
                    }
                }
            }
        }};
    }

    'client: loop {
        tokio::select! {
            message = incoming.next() => {
                let text = match message {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Binary(_))) => {
                        send!('client, error("binary messages are not supported; send JSON text"));
                        continue;
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {
                        last_heard = Instant::now();
                        continue;
                    }
                    Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                };
                last_heard = Instant::now();
                let replies = match serde_json::from_str::<ClientMessage>(&text) {
                    Ok(request) => apply(&state, &mut subscriptions, request),
                    Err(err) => vec![error(&format!("not a client message: {err}"))],
                };
                for reply in replies {
                    send!('client, reply);
                }
            }
            Some((key, item)) = subscriptions.next(), if !subscriptions.is_empty() => match item {
                Ok(bytes) => send!('client, bytes),
                Err(BroadcastStreamRecvError::Lagged(missed)) => {
                    // Too slow for the deltas: start this subscription afresh from a snapshot.
                    metrics::slow_client("resynced");
                    tracing::debug!(%key, missed, "client lagged; resending snapshot");
                    if let Some(snapshot) = resubscribe(&state, &mut subscriptions, &key) {
                        send!('client, snapshot);
                    }
                }
            },
            _ = ping.tick() => {
                if last_heard.elapsed() > SILENCE_LIMIT {
                    break;
                }
                if tokio::time::timeout(send_timeout, sink.send(Message::Ping(Bytes::new()))).await.is_err() {
                    metrics::slow_client("disconnected");
                    break;
                }
            }
        }
    }
}

fn error(message: &str) -> Bytes {
    encode(&ServerMessage::Error {
        message: message.to_owned(),
    })
}

fn encode(message: &ServerMessage) -> Bytes {
    Bytes::from(serde_json::to_vec(message).unwrap_or_default())
}

/// Applies a subscribe/unsubscribe; returns the messages to send (snapshots first).
fn apply(
    state: &AppState,
    subscriptions: &mut StreamMap<String, BroadcastStream<Bytes>>,
    request: ClientMessage,
) -> Vec<Bytes> {
    let mut replies = Vec::new();
    match request {
        ClientMessage::Subscribe { list, matches } => {
            // What the request would add: subscribing again to something held only refreshes
            // its snapshot. Unknown matches count too, so one request's work stays bounded.
            let mut adding: HashSet<&str> = matches
                .iter()
                .map(String::as_str)
                .filter(|id| !subscriptions.contains_key(*id))
                .collect();
            if list && !subscriptions.contains_key(LIST) {
                adding.insert(LIST);
            }
            let max = state.ws_max_subscriptions;
            if subscriptions.len() + adding.len() > max {
                metrics::subscriptions_refused();
                return vec![error(&format!(
                    "too many subscriptions: at most {max} per connection; this one holds {} and \
                     the request would add {}. Nothing was subscribed: unsubscribe first or open \
                     another connection",
                    subscriptions.len(),
                    adding.len()
                ))];
            }
            if list && let Some(snapshot) = resubscribe(state, subscriptions, LIST) {
                replies.push(snapshot);
            }
            for match_id in matches {
                match resubscribe(state, subscriptions, &match_id) {
                    Some(snapshot) => replies.push(snapshot),
                    None => replies.push(encode(&ServerMessage::NotFound { match_id })),
                }
            }
        }
        ClientMessage::Unsubscribe { list, matches } => {
            if list {
                subscriptions.remove(LIST);
            }
            for match_id in matches {
                subscriptions.remove(&match_id);
            }
        }
    }
    replies
}

/// (Re)starts the subscription `key` with a fresh snapshot; `None` for an unknown match.
fn resubscribe(
    state: &AppState,
    subscriptions: &mut StreamMap<String, BroadcastStream<Bytes>>,
    key: &str,
) -> Option<Bytes> {
    let (snapshot, receiver) = if key == LIST {
        state.store.subscribe_list()
    } else {
        state.store.subscribe_match(key)?
    };
    subscriptions.insert(key.to_owned(), BroadcastStream::new(receiver));
    Some(snapshot)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    #[test]
    fn only_listed_origins_may_connect() {
        let allowed = vec!["https://cricket.example".to_owned()];
        assert!(origin_allowed(&allowed, Some("https://cricket.example")));
        assert!(!origin_allowed(&allowed, Some("https://evil.example")));
        assert!(
            origin_allowed(&allowed, None),
            "non-browser clients send no Origin"
        );
        assert!(origin_allowed(
            &["*".to_owned()],
            Some("https://anything.example")
        ));
    }
    use std::sync::atomic::AtomicBool;

    use futures_channel::mpsc;

    use super::*;
    use crate::store::Store;

    fn events() -> Vec<cricket::Event> {
        let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../data/cricsheet/1384429.json");
        let bytes = std::fs::read(&path).expect("file");
        cricket::cricsheet::import("1384429", "1384429.json", &bytes).expect("import")
    }

    fn decode(message: Message) -> ServerMessage {
        match message {
            Message::Text(text) => serde_json::from_str(&text).expect("protocol message"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_client_that_falls_behind_gets_a_fresh_snapshot_not_a_gap() {
        let store = Arc::new(Store::new(16));
        let events = events();
        store.apply(0, &events[0], None);
        let state = AppState {
            store: store.clone(),
            ready: Arc::new(AtomicBool::new(true)),
            metrics: crate::metrics::handle(),
            allowed_origins: Arc::from(vec!["*".to_owned()]),
            ws_max_message_bytes: 1024,
            ws_send_timeout: Duration::from_secs(30),
            ws_max_subscriptions: 64,
            ws_per_ip: platform::limits::PerAddress::new(0),
        };
        // A sink that holds one message and then blocks until the test reads: a slow reader.
        let (sink, mut outgoing) = mpsc::channel::<Message>(0);
        let (requests, incoming) = mpsc::unbounded::<Result<Message, axum::Error>>();
        let client = tokio::spawn(serve_split(sink, incoming, state));
        let subscribe = r#"{"type":"subscribe","matches":["1384429"]}"#;
        requests
            .unbounded_send(Ok(Message::Text(subscribe.into())))
            .expect("send");
        assert!(matches!(
            decode(outgoing.next().await.expect("snapshot")),
            ServerMessage::Snapshot { .. }
        ));

        // 300 events while the client reads nothing: far more than the 16 buffered deltas.
        for event in &events[1..301] {
            store.apply(0, event, None);
            tokio::task::yield_now().await;
        }
        let mut seen_snapshot_at = None;
        let mut last = 1;
        while last < 301 {
            match decode(outgoing.next().await.expect("message")) {
                ServerMessage::Event { seq, .. } => {
                    assert_eq!(seq, last + 1, "deltas after a resync continue in order");
                    last = seq;
                }
                ServerMessage::Snapshot { scoreboard, .. } => {
                    seen_snapshot_at.get_or_insert(scoreboard.last_seq);
                    last = scoreboard.last_seq;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(
            seen_snapshot_at.is_some(),
            "the lagging client was resynchronised by a snapshot"
        );
        drop(requests);
        client.abort();
    }
}
