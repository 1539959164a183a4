//! The web server: server-side rendering of the pages, the compiled browser code under `/pkg`,
//! and the one origin the browser talks to — `/api/live/...` (and the WebSocket) proxied to
//! stream-stats, `/api/warehouse/...` to the warehouse, `/api/fn/...` for the pages' server
//! functions.

mod metrics;
mod paths;
mod pipeline;
mod proxy;
pub(crate) mod security;
mod upstreams;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use axum::extract::FromRef;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{any, get};
use axum::{Json, Router};
use leptos::prelude::*;
use leptos_axum::{LeptosRoutes, generate_route_list};
use platform::telemetry::LogFormat;
use tokio::net::TcpListener;
use tower_http::compression::CompressionLayer;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::app::{App, shell};
pub use pipeline::Pipeline;
pub use upstreams::Upstreams;

/// The dashboard's web server.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "web",
    version,
    about = "The dashboard: live matches, match centre, SQL console and pipeline health."
)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "WEB_LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,

    /// stream-stats' base URL (live scores and the WebSocket).
    #[arg(
        long,
        env = "WEB_STREAM_STATS_URL",
        default_value = "http://127.0.0.1:8082"
    )]
    pub stream_stats_url: String,

    /// The warehouse's base URL (SQL and stored scorecards).
    #[arg(
        long,
        env = "WEB_WAREHOUSE_URL",
        default_value = "http://127.0.0.1:8083"
    )]
    pub warehouse_url: String,

    /// ingest's base URL (its metrics, for the pipeline page).
    #[arg(long, env = "WEB_INGEST_URL", default_value = "http://127.0.0.1:8081")]
    pub ingest_url: String,

    /// Folder holding `pkg/` with the compiled browser code (`cargo xtask web` builds it).
    #[arg(long, env = "WEB_SITE_ROOT", default_value = "target/site")]
    pub site_root: PathBuf,

    /// How often the services' metrics are scraped for the pipeline page, in milliseconds.
    #[arg(long, env = "WEB_SCRAPE_INTERVAL_MS", default_value_t = 1_000)]
    pub scrape_interval_ms: u64,

    /// Timeout of each call to stream-stats or the warehouse, in milliseconds.
    #[arg(long, env = "WEB_UPSTREAM_TIMEOUT_MS", default_value_t = 10_000)]
    pub upstream_timeout_ms: u64,

    /// Most live WebSockets open at once from one browser address (IPv6: one /64); more are
    /// refused with 429 before the upgrade. 0: no cap. A page holds one socket, so this is
    /// tabs per address: room for an office or a carrier-grade NAT behind one address, while
    /// one host cannot take every socket (and every relayed connection to stream-stats).
    /// Behind a reverse proxy every browser shares the proxy's address: cap there instead.
    #[arg(long, env = "WEB_WS_MAX_PER_IP", default_value_t = 256)]
    pub ws_max_per_ip: usize,

    /// Largest message a browser may send on the live WebSocket, in bytes (subscriptions are
    /// a few hundred bytes); a larger one closes the socket.
    #[arg(long, env = "WEB_WS_MAX_MESSAGE_BYTES", default_value_t = 16 * 1024)]
    pub ws_max_message_bytes: usize,

    /// Log format: human-readable text or one JSON object per line.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// What every handler and server function shares.
#[derive(Debug, Clone)]
pub struct AppState {
    pub leptos: LeptosOptions,
    pub upstreams: Upstreams,
    pub pipeline: Arc<Pipeline>,
    /// Open live WebSockets per browser address.
    pub ws_per_ip: Arc<platform::limits::PerAddress>,
    pub ws_max_message_bytes: usize,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> LeptosOptions {
        state.leptos.clone()
    }
}

/// The state, inside a server function.
pub(crate) fn state() -> Result<AppState, ServerFnError> {
    use_context::<AppState>().ok_or_else(|| ServerFnError::new("the server state is missing"))
}

/// Serves until `shutdown` resolves.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    tracing::info!(?config, addr = %listener.local_addr()?, "web starting");
    let pkg = config.site_root.join("pkg");
    if !pkg.join("web.js").exists() {
        tracing::warn!(
            path = %pkg.display(),
            "the browser code is missing: pages render but stay static; run `cargo xtask web`"
        );
    }
    metrics::init();
    let upstreams = Upstreams::new(&config)?;
    let pipeline = Arc::new(Pipeline::new(upstreams.clone()));
    let scraper = tokio::spawn(
        pipeline
            .clone()
            .run(Duration::from_millis(config.scrape_interval_ms.max(100))),
    );
    let state = AppState {
        leptos: LeptosOptions::builder()
            .output_name("web")
            .site_root(config.site_root.display().to_string())
            .site_pkg_dir("pkg")
            .build(),
        upstreams,
        pipeline,
        ws_per_ip: platform::limits::PerAddress::new(config.ws_max_per_ip),
        ws_max_message_bytes: config.ws_max_message_bytes,
    };
    let app = router(state, &pkg);
    // The peer's address is what live WebSockets are counted by.
    let served = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
    .context("the HTTP server failed");
    scraper.abort();
    tracing::info!("web stopped");
    served
}

/// Every route of the web server.
pub fn router(state: AppState, pkg: &std::path::Path) -> Router {
    let routes = generate_route_list(App);
    let leptos = state.leptos.clone();
    // The compiled code's file names do not change between builds, so browsers revalidate.
    let assets = Router::new().fallback_service(ServeDir::new(pkg)).layer(
        SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-cache"),
        ),
    );
    Router::new()
        .route("/api/live/ws", get(proxy::live_socket))
        .route("/api/live/{*path}", any(proxy::live))
        .route("/api/warehouse/{*path}", any(proxy::warehouse))
        .route("/api/export.csv", get(proxy::export_csv))
        .route("/api/pipeline", get(pipeline_json))
        .route("/api/{*rest}", any(proxy::unknown_api))
        .route(
            "/healthz",
            get(|| async { Json(serde_json::json!({"status": "ok"})) }),
        )
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics::prometheus))
        .route("/style.css", get(stylesheet))
        .nest("/pkg", assets)
        .leptos_routes_with_context(&state, routes, || {}, move || shell(leptos.clone()))
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(axum::middleware::from_fn(proxy::server_fn_input_errors))
        .layer(axum::middleware::from_fn(metrics::count_requests))
        .layer(axum::middleware::from_fn(security::headers))
        .layer(CompressionLayer::new())
        .with_state(state)
}

async fn pipeline_json(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> impl IntoResponse {
    Json(state.pipeline.view())
}

/// Ready when the browser code is in place: without it the pages would never go live.
async fn readyz(axum::extract::State(state): axum::extract::State<AppState>) -> impl IntoResponse {
    let js = PathBuf::from(&*state.leptos.site_root).join("pkg/web.js");
    if js.exists() {
        (StatusCode::OK, Json(serde_json::json!({"status": "ready"})))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({
                "status": "not_ready",
                "reason": format!("{} is missing: build it with `cargo xtask web`", js.display()),
            })),
        )
    }
}

async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        include_str!("../../style/dashboard.css"),
    )
}
