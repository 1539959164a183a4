//! The HTTP surface: scorecards, sandboxed SQL, the schema, and the operational endpoints.
//!
//! - `GET /v1/matches/{id}/scorecard`: the canonical scorecard, computed by SQL (404 JSON for
//!   a match the warehouse has never seen).
//! - `POST /v1/sql` `{"sql": "...", "limit"?: n, "explain"?: "plan"|"analyze"}`:
//!   `{"columns": [{"name", "type"}], "rows": [[...]], "truncated", "truncated_by"?,
//!   "elapsed_ms"}`; `?format=csv` or `Accept: text/csv` for CSV, `?format=parquet` or
//!   `Accept: application/vnd.apache.parquet` for Parquet (the `X-Truncated` and `X-Rows`
//!   headers then tell what the JSON body would, when the answer is small enough to be
//!   sent in one piece). Relayed to the user-SQL replica process ([`crate::sql`]).
//! - `GET /v1/tables`: every table and view with its columns and description.
//! - `/healthz`, `/readyz` (the loader is running and the SQL replica answers), `/metrics`.
//! - `GET /openapi.json`: all of the above as OpenAPI 3.1 ([`crate::openapi`]), from the
//!   annotations on these handlers.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::error::ApiError;
use crate::internal::Internal;
use crate::loader::Progress;
use crate::openapi::{ErrorBody, Health, Ready, SqlAnswer, Tables};
use crate::sql::supervisor::Supervisor;
use crate::sql::{SqlError, SqlRequest};
use crate::{metrics, openapi, scorecard};

/// What every handler shares.
#[derive(Clone, Debug)]
pub(crate) struct AppState {
    pub(crate) internal: Arc<Internal>,
    pub(crate) sql: Arc<Supervisor>,
    pub(crate) progress: Arc<Progress>,
    pub(crate) metrics: PrometheusHandle,
}

pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/matches/{id}/scorecard", get(get_scorecard))
        .route("/v1/sql", post(post_sql))
        .route("/v1/tables", get(get_tables))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(prometheus))
        .route("/openapi.json", get(|| async { Json(openapi::document()) }))
        .layer(middleware::from_fn(count_requests))
        .with_state(state)
}

async fn count_requests(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    metrics::request(response.status().as_u16());
    response
}

/// The canonical scorecard, computed by SQL from the modelled tables.
#[utoipa::path(
    get,
    path = "/v1/matches/{id}/scorecard",
    params(cricket::schema::MatchIdPath),
    responses(
        (status = 200, description = "The match's scorecard as loaded so far", body = cricket::Scorecard),
        (status = 404, description = "The warehouse has never seen this match (`unknown_match`)", body = ErrorBody),
    )
)]
pub(crate) async fn get_scorecard(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let lookup = id.clone();
    let card = state
        .internal
        .run(move |conn| scorecard::scorecard(conn, &lookup))
        .await?;
    match card {
        Some(card) => Ok(Json(card).into_response()),
        None => Err(ApiError::UnknownMatch(id)),
    }
}

/// Runs one read-only query in the sandboxed SQL replica. Refusals name the reason in
/// `error.code`: `bad_request` (body or format unreadable), `empty`, `multiple_statements`,
/// `syntax_error`, `invalid_query` (400); `not_a_query`, `function_not_allowed`,
/// `table_not_allowed`, `forbidden` (403); `query_timeout` (408); `sql_too_long` (413);
/// `query_too_big`, `cannot_encode`, `query_failed` (422); `too_many_queries` (429);
/// `sql_unavailable` (503).
///
/// Relayed as it is to the replica, which checks and answers it (the body is at most
/// axum's default 2 MB).
#[utoipa::path(
    post,
    path = "/v1/sql",
    params(
        ("format" = Option<openapi::SqlFormat>, Query, description = "The answer's form; without it the Accept header decides (text/csv, application/vnd.apache.parquet), else JSON"),
    ),
    request_body(content = SqlRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The rows, streamed as they are encoded. `X-Truncated` and `X-Rows` (and `X-Truncated-By`) say what the JSON body would when the answer fits in one piece.",
            content(
                (SqlAnswer = "application/json"),
                (String = "text/csv"),
                (String = "application/vnd.apache.parquet"),
            ),
            headers(
                ("X-Truncated" = String, description = "`true` when a cap cut the answer"),
                ("X-Truncated-By" = String, description = "`rows` or `bytes`"),
                ("X-Rows" = u64, description = "Rows in the answer"),
            )),
        (status = 400, description = "Unreadable request or format, no statement, more than one, a syntax error, or an unknown table or column. A query string the server cannot parse at all (`format` given twice) is refused by the framework, in plain text.",
            content((ErrorBody = "application/json"), (String = "text/plain"))),
        (status = 403, description = "Not a read-only query, or a function or table outside the allowlists", body = ErrorBody),
        (status = 408, description = "The query ran past the timeout and was interrupted", body = ErrorBody),
        (status = 413, description = "The SQL is longer than 64 KiB (or the body than 2 MB)", body = ErrorBody),
        (status = 422, description = "The query failed, ran out of memory or cannot be written in the format", body = ErrorBody),
        (status = 429, description = "Too many queries running; retry after Retry-After seconds", body = ErrorBody,
            headers(("Retry-After" = u32, description = "Seconds to wait"))),
        (status = 503, description = "The SQL replica is starting or restarting; retry after Retry-After seconds", body = ErrorBody,
            headers(("Retry-After" = u32, description = "Seconds to wait"))),
    )
)]
pub(crate) async fn post_sql(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    state.sql.relay(query.as_deref(), &headers, body).await
}

/// Every table and view with its columns and description.
#[utoipa::path(
    get,
    path = "/v1/tables",
    responses((status = 200, description = "The warehouse's tables and views", body = Tables))
)]
pub(crate) async fn get_tables(State(state): State<AppState>) -> Result<Response, ApiError> {
    let tables = state.internal.run(tables).await?;
    Ok(Json(serde_json::json!({ "tables": tables })).into_response())
}

fn tables(conn: &duckdb::Connection) -> Result<Vec<serde_json::Value>, SqlError> {
    let failed = |err: duckdb::Error| SqlError::Internal(format!("cannot list tables: {err}"));
    let mut stmt = conn
        .prepare(
            "WITH t AS (
                 SELECT table_name AS name, 'table' AS kind, comment FROM duckdb_tables()
                 WHERE schema_name = 'main' AND database_name = current_database()
                 UNION ALL
                 SELECT view_name, 'view', comment FROM duckdb_views()
                 WHERE schema_name = 'main' AND database_name = current_database()
                   AND NOT internal
             )
             SELECT t.name, t.kind, t.comment, c.column_name, c.data_type
             FROM t JOIN information_schema.columns c
               ON c.table_name = t.name AND c.table_schema = 'main'
              AND c.table_catalog = current_database()
             ORDER BY t.kind, t.name, c.ordinal_position",
        )
        .map_err(failed)?;
    let rows = stmt
        .query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, Option<String>>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, String>(4)?,
            ))
        })
        .map_err(failed)?;
    let mut out: Vec<serde_json::Value> = Vec::new();
    for row in rows {
        let (name, kind, comment, column, ty) = row.map_err(failed)?;
        let column = serde_json::json!({"name": column, "type": ty});
        match out.last_mut() {
            Some(last) if last["name"] == name.as_str() => {
                if let Some(columns) = last["columns"].as_array_mut() {
                    columns.push(column);
                }
            }
            _ => out.push(serde_json::json!({
                "name": name,
                "kind": kind,
                "description": comment,
                "columns": [column],
            })),
        }
    }
    Ok(out)
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "Alive", body = Health)))]
pub(crate) async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

/// Ready when the loader runs and user SQL has its replica: both are the warehouse's job.
#[utoipa::path(
    get,
    path = "/readyz",
    responses(
        (status = 200, description = "Loading, and the SQL replica answers", body = Ready),
        (status = 503, description = "The loader or the SQL replica is starting (`starting`)", body = ErrorBody),
    )
)]
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    let loading = state.progress.running.load(Ordering::Relaxed);
    let sql = state.sql.is_up();
    if loading && sql {
        Json(serde_json::json!({
            "status": "ready",
            "batches": state.progress.batches.load(Ordering::Relaxed),
            "records": state.progress.records.load(Ordering::Relaxed),
        }))
        .into_response()
    } else {
        let message = match (loading, sql) {
            (false, _) => "the loader is not running",
            _ => "the SQL replica is starting",
        };
        let body = serde_json::json!({"error": {"code": "starting", "message": message}});
        (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
    }
}

/// Prometheus text exposition: records loaded, batches, lag, freshness, SQL outcomes, ...
#[utoipa::path(
    get,
    path = "/metrics",
    responses((status = 200, description = "Prometheus text format 0.0.4", body = String, content_type = "text/plain"))
)]
pub(crate) async fn prometheus(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}
