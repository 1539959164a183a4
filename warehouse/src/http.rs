//! The HTTP surface: scorecards, sandboxed SQL, the schema, and the operational endpoints.
//!
//! - `GET /v1/matches/{id}/scorecard`: the canonical scorecard, computed by SQL (404 JSON for
//!   a match the warehouse has never seen).
//! - `POST /v1/sql` `{"sql": "...", "limit"?: n}`: `{"columns": [{"name", "type"}], "rows":
//!   [[...]], "truncated", "elapsed_ms"}`; `?format=csv` or `Accept: text/csv` for CSV,
//!   `?format=parquet` or `Accept: application/vnd.apache.parquet` for Parquet (the
//!   `X-Truncated` and `X-Rows` headers then tell what the JSON body would).
//! - `GET /v1/tables`: every table and view with its columns and description.
//! - `/healthz`, `/readyz` (the loader is running), `/metrics` (Prometheus).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Deserialize;

use crate::error::ApiError;
use crate::loader::Progress;
use crate::sandbox::{Format, Sandbox, SqlError};
use crate::{metrics, scorecard};

/// What every handler shares.
#[derive(Clone, Debug)]
pub struct AppState {
    pub sandbox: Arc<Sandbox>,
    pub progress: Arc<Progress>,
    pub metrics: PrometheusHandle,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/matches/{id}/scorecard", get(get_scorecard))
        .route("/v1/sql", post(post_sql))
        .route("/v1/tables", get(get_tables))
        .route(
            "/healthz",
            get(|| async { Json(serde_json::json!({"status": "ok"})) }),
        )
        .route("/readyz", get(readyz))
        .route("/metrics", get(prometheus))
        .layer(middleware::from_fn(count_requests))
        .with_state(state)
}

async fn count_requests(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    metrics::request(response.status().as_u16());
    response
}

async fn get_scorecard(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let lookup = id.clone();
    let card = state
        .sandbox
        .internal(move |conn| scorecard::scorecard(conn, &lookup))
        .await?;
    match card {
        Some(card) => Ok(Json(card).into_response()),
        None => Err(ApiError::UnknownMatch(id)),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SqlRequest {
    sql: String,
    limit: Option<usize>,
}

#[derive(Debug, Deserialize)]
struct SqlParams {
    format: Option<String>,
}

fn wanted_format(params: &SqlParams, headers: &HeaderMap) -> Result<Format, ApiError> {
    if let Some(format) = &params.format {
        return match format.as_str() {
            "json" => Ok(Format::Json),
            "csv" => Ok(Format::Csv),
            "parquet" => Ok(Format::Parquet),
            other => Err(ApiError::BadRequest(format!(
                "unknown format {other:?}: use json, csv or parquet"
            ))),
        };
    }
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    Ok(if accept.contains("text/csv") {
        Format::Csv
    } else if accept.contains("parquet") {
        Format::Parquet
    } else {
        Format::Json
    })
}

async fn post_sql(
    State(state): State<AppState>,
    Query(params): Query<SqlParams>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let format = wanted_format(&params, &headers)?;
    let request: SqlRequest = serde_json::from_slice(&body).map_err(|err| {
        ApiError::BadRequest(format!(
            "expected {{\"sql\": \"...\", \"limit\"?: n}}: {err}"
        ))
    })?;
    if request.limit == Some(0) {
        return Err(ApiError::BadRequest("limit must be at least 1".to_owned()));
    }
    let answer = state
        .sandbox
        .query(request.sql, request.limit, format)
        .await?;
    let mut response =
        ([(header::CONTENT_TYPE, format.content_type())], answer.body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        "x-truncated",
        HeaderValue::from_static(if answer.truncated { "true" } else { "false" }),
    );
    if let Ok(rows) = HeaderValue::from_str(&answer.rows.to_string()) {
        headers.insert("x-rows", rows);
    }
    if format == Format::Parquet {
        headers.insert(
            header::CONTENT_DISPOSITION,
            HeaderValue::from_static("attachment; filename=\"result.parquet\""),
        );
    }
    Ok(response)
}

async fn get_tables(State(state): State<AppState>) -> Result<Response, ApiError> {
    let tables = state.sandbox.internal(tables).await?;
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

async fn readyz(State(state): State<AppState>) -> Response {
    if state.progress.running.load(Ordering::Relaxed) {
        Json(serde_json::json!({
            "status": "ready",
            "batches": state.progress.batches.load(Ordering::Relaxed),
            "records": state.progress.records.load(Ordering::Relaxed),
        }))
        .into_response()
    } else {
        let body = serde_json::json!({"error": {"code": "starting", "message": "the loader is not running"}});
        (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
    }
}

async fn prometheus(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}
