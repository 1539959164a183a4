//! `GET /openapi.json`: the HTTP API as OpenAPI 3.1, from the annotations on the handlers in
//! [`crate::http`], the request type [`crate::sql::SqlRequest`] and the `cricket` scorecard.
//! `tests/schemathesis.rs` holds the document and the server together.
//!
//! The answers below are built as JSON by hand where they are written (the SQL answer is
//! streamed byte by byte by `sql::encode`), so these types exist only to be described; the
//! contract test is what keeps them true.

use serde::Serialize;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::{OpenApi, ToSchema};

use crate::sql::MAX_SQL_BYTES;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Cricket warehouse API",
        description = "Every match event in DuckDB: canonical scorecards computed by SQL, and anyone's read-only SQL over history, answered by a sandboxed replica process."
    ),
    paths(
        crate::http::post_sql,
        crate::http::get_tables,
        crate::http::get_scorecard,
        crate::http::healthz,
        crate::http::readyz,
        crate::http::prometheus,
    ),
    // Only named in a parameter, which utoipa does not follow to collect schemas.
    components(schemas(SqlFormat))
)]
struct ApiDoc;

pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The SQL text of a request: its bound is [`MAX_SQL_BYTES`] of UTF-8, which JSON Schema can
/// only state in characters (a character is one byte or more, so the bound in characters
/// is never tighter than the server's).
pub fn sql_text() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(MAX_SQL_BYTES))
        .description(Some(format!(
            "One read-only query, at most {MAX_SQL_BYTES} bytes of UTF-8 (413 \
             `sql_too_long` beyond)."
        )))
        .into()
}

/// `?format=`.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum SqlFormat {
    /// [`SqlAnswer`].
    Json,
    /// A header row, then the rows; a text cell that starts like a formula gets a leading `'`.
    Csv,
    Parquet,
}

/// The JSON answer of `POST /v1/sql`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SqlAnswer {
    /// The answer's columns in order, with DuckDB's type names.
    pub columns: Vec<Column>,
    /// One array per row, one JSON value per column (timestamps as RFC 3339 text, big
    /// integers and decimals as numbers or text as DuckDB's JSON conversion writes them).
    pub rows: Vec<Vec<serde_json::Value>>,
    /// A cap cut the answer short.
    pub truncated: bool,
    /// Which cap, when one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub truncated_by: Option<Cut>,
    pub elapsed_ms: u64,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Cut {
    /// The request's `limit` or the server's row cap.
    Rows,
    /// The server's byte cap.
    Bytes,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Column {
    pub name: String,
    /// DuckDB's name for the type, e.g. `VARCHAR`, `BIGINT`, `TIMESTAMP WITH TIME ZONE`.
    #[serde(rename = "type")]
    pub data_type: String,
}

/// `GET /v1/tables`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Tables {
    pub tables: Vec<Table>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Table {
    pub name: String,
    pub kind: TableKind,
    /// What one row is (tables) or what it computes (views).
    pub description: Option<String>,
    pub columns: Vec<Column>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TableKind {
    Table,
    View,
}

/// Every refusal: `{"error": {"code", "message"}}` (see [`crate::error`]).
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, for programs.
    pub code: String,
    /// Why, for people.
    pub message: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Ready {
    /// `ready`.
    pub status: String,
    /// Batches committed since start.
    pub batches: u64,
    /// Records loaded since start.
    pub records: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `$ref` names a schema the document holds; the SQL bound is the server's.
    #[test]
    fn the_document_is_complete() {
        let doc = serde_json::to_value(document()).unwrap_or_default();
        let schemas = &doc["components"]["schemas"];
        let mut stack = vec![&doc];
        while let Some(value) = stack.pop() {
            match value {
                serde_json::Value::Object(map) => {
                    if let Some(serde_json::Value::String(target)) = map.get("$ref") {
                        let name = target.trim_start_matches("#/components/schemas/");
                        assert!(schemas.get(name).is_some(), "{target} is missing");
                    }
                    stack.extend(map.values());
                }
                serde_json::Value::Array(items) => stack.extend(items),
                _ => {}
            }
        }
        let request = &schemas["SqlRequest"];
        assert_eq!(request["properties"]["sql"]["maxLength"], MAX_SQL_BYTES);
        assert_eq!(request["additionalProperties"], false);
        for path in [
            "/v1/sql",
            "/v1/tables",
            "/v1/matches/{id}/scorecard",
            "/metrics",
        ] {
            assert!(doc["paths"][path].is_object(), "{path} undocumented");
        }
    }
}
