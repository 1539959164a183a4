//! What the pages ask the server for: Leptos server functions (served under `/api/fn/`) and the
//! types they return. On the server each one calls stream-stats, the warehouse or the metrics
//! scraper; in the browser it is an HTTP call to the web server, so the pages never need to know
//! where the services run.

use cricket::Scoreboard;
use cricket::scoreboard::MatchSummary;
use cricket::scorecard::Scorecard;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// How the server hands a resource's data to the browser inside the page: JSON, decoded with
/// `serde_json::from_slice` like the server functions' answers and the WebSocket's messages, so
/// the browser code holds one JSON decoder per type instead of two (`Resource::new` would
/// decode with `from_str`).
#[derive(Debug, Clone, Copy)]
pub struct PageJson;

impl<T: Serialize> codee::Encoder<T> for PageJson {
    type Error = serde_json::Error;
    type Encoded = String;

    fn encode(value: &T) -> Result<String, serde_json::Error> {
        serde_json::to_string(value)
    }
}

impl<T: for<'de> Deserialize<'de>> codee::Decoder<T> for PageJson {
    type Error = serde_json::Error;
    type Encoded = str;

    fn decode(text: &str) -> Result<T, serde_json::Error> {
        serde_json::from_slice(text.as_bytes())
    }
}

/// A match's state as stream-stats serves it: the page's first paint, before the WebSocket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveSnapshot {
    pub stale: bool,
    pub status: String,
    pub scoreboard: Scoreboard,
}

/// The answer of a SQL query, as the warehouse returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SqlAnswer {
    pub columns: Vec<SqlColumn>,
    pub rows: Vec<Vec<serde_json::Value>>,
    pub truncated: bool,
    pub elapsed_ms: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SqlColumn {
    pub name: String,
    #[serde(rename = "type")]
    pub sql_type: String,
}

/// A query's outcome: rows, or the warehouse's explanation of why not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SqlOutcome {
    Rows(SqlAnswer),
    Refused { code: String, message: String },
}

/// A match the warehouse holds, with its result line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredMatch {
    pub match_id: String,
    pub match_date: Option<String>,
    pub competition: Option<String>,
    pub teams: String,
    pub summary: String,
}

/// The pipeline page: one scrape of every service's `/metrics`, with rates and latency
/// percentiles over the last few seconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PipelineView {
    /// Seconds the rates and percentiles are measured over.
    pub window_s: f64,
    pub services: Vec<ServiceHealth>,
    pub ingest_events_per_s: Option<f64>,
    pub ingest_accepted: Option<f64>,
    pub ingest_rejected: Option<f64>,
    /// Accepted events per second, one point per scrape, oldest first.
    pub ingest_rate_history: Vec<f64>,
    pub consumer_lag: Vec<ConsumerLag>,
    pub end_to_end: Latency,
    pub stream_stats_dead_letters: Option<f64>,
    pub warehouse_rejected: Option<f64>,
    pub warehouse_rows: Option<f64>,
    pub warehouse_rows_per_s: Option<f64>,
    pub freshness: Latency,
    pub live_matches: Option<f64>,
    pub websocket_clients: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceHealth {
    pub name: String,
    pub url: String,
    /// Its `/metrics` answered on the last scrape.
    pub up: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConsumerLag {
    /// The consumer group (the service that reads).
    pub group: String,
    /// Records behind the end of the topic, summed over partitions.
    pub records: Option<f64>,
}

/// Percentiles in milliseconds; `recent` says whether they cover the window (else all time).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub recent: bool,
}

/// Canned queries of the SQL console: (label, SQL).
pub const CANNED_QUERIES: &[(&str, &str)] = &[
    (
        "Top run scorers",
        "SELECT batter, matches, runs, balls, fours, sixes, strike_rate\nFROM most_runs\nLIMIT 20",
    ),
    (
        "Best bowling",
        "SELECT bowler, matches, wickets, runs, average, economy\nFROM most_wickets\nLIMIT 20",
    ),
    ("Highest totals", "SELECT * FROM highest_totals\nLIMIT 20"),
    (
        "Results",
        "SELECT match_date, team1, team2, summary\nFROM match_results\nORDER BY match_date DESC NULLS LAST, match_id",
    ),
];

/// Every match stream-stats knows, live and finished.
#[server(prefix = "/api/fn")]
pub async fn list_matches() -> Result<Vec<MatchSummary>, ServerFnError> {
    let state = crate::server::state()?;
    state.upstreams.matches().await.map_err(ServerFnError::new)
}

/// One match's scoreboard; `None` when stream-stats does not know the match (yet).
#[server(prefix = "/api/fn")]
pub async fn match_snapshot(id: String) -> Result<Option<LiveSnapshot>, ServerFnError> {
    let state = crate::server::state()?;
    state
        .upstreams
        .snapshot(&id)
        .await
        .map_err(ServerFnError::new)
}

/// Runs one read-only query in the warehouse's sandbox.
#[server(prefix = "/api/fn")]
pub async fn run_sql(sql: String) -> Result<SqlOutcome, ServerFnError> {
    let state = crate::server::state()?;
    state.upstreams.sql(&sql).await.map_err(ServerFnError::new)
}

/// Every match in the warehouse, newest first.
#[server(prefix = "/api/fn")]
pub async fn stored_matches() -> Result<Vec<StoredMatch>, ServerFnError> {
    let state = crate::server::state()?;
    state
        .upstreams
        .stored_matches()
        .await
        .map_err(ServerFnError::new)
}

/// A match's scorecard computed by the warehouse's SQL; `None` for a match it has not seen.
#[server(prefix = "/api/fn")]
pub async fn stored_scorecard(id: String) -> Result<Option<Scorecard>, ServerFnError> {
    let state = crate::server::state()?;
    state
        .upstreams
        .stored_scorecard(&id)
        .await
        .map_err(ServerFnError::new)
}

/// The latest view of the pipeline's metrics.
#[server(prefix = "/api/fn")]
pub async fn pipeline() -> Result<PipelineView, ServerFnError> {
    let state = crate::server::state()?;
    Ok(state.pipeline.view())
}
