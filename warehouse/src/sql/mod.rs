//! User SQL over history, safely.
//!
//! `POST /v1/sql` runs a query written by anyone who can reach the port. The guarantees, and
//! what gives each of them:
//!
//! - **Only one read-only query runs, exactly as checked** ([`policy`]): DuckDB's own parser
//!   (`json_serialize_sql`, which serialises SELECT trees only) must see exactly one
//!   statement, of the SELECT family (SELECT, WITH, FROM, VALUES, TABLE, DESCRIBE, SHOW,
//!   SUMMARIZE), calling only allowlisted functions ([`allowed`]) and reading only the
//!   warehouse's own tables and views. The text that is checked is the text that is
//!   prepared, byte for byte; one statement in, so nothing else is executed. EXPLAIN is a
//!   request option, not text: the server prefixes the checked query.
//! - **Nothing carries over** ([`engine`]): every query gets a fresh connection, closed
//!   after it, inside a read-only transaction that is always rolled back.
//! - **User SQL cannot hurt loading** ([`replica`], [`supervisor`]): it runs in a separate,
//!   supervised process on its own copy of the data (a replica that loads the same topic
//!   exactly once), with a hard memory ceiling (`RLIMIT_DATA`), DuckDB's memory limit and
//!   thread count, no spilling to temp files, no file or network access, a locked
//!   configuration and a lower CPU priority. A query that exhausts it fails cleanly (or, at
//!   worst, the replica restarts); the loader and the scorecards live in another process.
//! - **Bounded answers** ([`encode`]): rows and bytes capped, encoded as they stream out of
//!   DuckDB, never buffered whole; a timer interrupts a query that runs too long; a permit
//!   cap refuses extra concurrent queries with 429.

pub(crate) mod allowed;
pub(crate) mod encode;
pub(crate) mod engine;
pub(crate) mod policy;
pub mod replica;
pub(crate) mod supervisor;

use serde::Deserialize;

/// Longest accepted SQL text.
pub const MAX_SQL_BYTES: usize = 64 * 1024;

/// Why a query was refused or failed. Every variant is a 4xx except `Internal` and
/// `Unavailable`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SqlError {
    #[error("the request holds no SQL statement")]
    Empty,
    #[error("the SQL is longer than {limit} bytes")]
    TooLong { limit: usize },
    #[error(
        "only one query is allowed (SELECT, WITH, FROM, VALUES, TABLE, DESCRIBE, SHOW, \
         SUMMARIZE); DuckDB's parser says: {0}. To see a plan, send the query with \
         \"explain\": \"plan\" or \"analyze\""
    )]
    NotAQuery(String),
    #[error("exactly one statement is allowed; DuckDB's parser found {0}")]
    MultipleStatements(usize),
    #[error("{0}")]
    FunctionNotAllowed(String),
    #[error("{0}")]
    TableNotAllowed(String),
    #[error("not allowed: {0}")]
    Forbidden(String),
    #[error("syntax error: {0}")]
    Syntax(String),
    #[error("{0}")]
    Invalid(String),
    #[error("the query ran longer than {millis} ms and was interrupted")]
    Timeout { millis: u128 },
    #[error("{limit} queries are running already; retry shortly")]
    Busy { limit: usize },
    #[error(
        "the query needs more memory than user queries may have (the ceiling is shared by the \
         queries running at once): {0}"
    )]
    TooBig(String),
    #[error("the result cannot be written as {format}: {message}")]
    Encoding {
        format: &'static str,
        message: String,
    },
    #[error("the query failed: {0}")]
    Failed(String),
    #[error("SQL is unavailable for a moment: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl SqlError {
    /// Stable machine-readable code; also the `outcome` label of the query metric.
    pub fn code(&self) -> &'static str {
        match self {
            SqlError::Empty => "empty",
            SqlError::TooLong { .. } => "sql_too_long",
            SqlError::NotAQuery(_) => "not_a_query",
            SqlError::MultipleStatements(_) => "multiple_statements",
            SqlError::FunctionNotAllowed(_) => "function_not_allowed",
            SqlError::TableNotAllowed(_) => "table_not_allowed",
            SqlError::Forbidden(_) => "forbidden",
            SqlError::Syntax(_) => "syntax_error",
            SqlError::Invalid(_) => "invalid_query",
            SqlError::Timeout { .. } => "query_timeout",
            SqlError::Busy { .. } => "too_many_queries",
            SqlError::TooBig(_) => "query_too_big",
            SqlError::Encoding { .. } => "cannot_encode",
            SqlError::Failed(_) => "query_failed",
            SqlError::Unavailable(_) => "sql_unavailable",
            SqlError::Internal(_) => "internal",
        }
    }

    /// Sorts DuckDB's error text ("Permission Error: ...") into the variants above.
    pub(crate) fn from_duckdb(err: &duckdb::Error) -> SqlError {
        let text = err.to_string();
        let kind = text.split(':').next().unwrap_or_default();
        match kind {
            k if k.contains("Permission") => SqlError::Forbidden(text),
            k if k.contains("Parser") => SqlError::Syntax(text),
            k if k.contains("Catalog") || k.contains("Binder") || k.contains("Conversion") => {
                SqlError::Invalid(text)
            }
            k if k.contains("Out of Memory") => SqlError::TooBig(text),
            k if k.contains("TransactionContext") || k.contains("Invalid Input") => {
                SqlError::Forbidden(text)
            }
            _ => SqlError::Failed(text),
        }
    }
}

/// How the rows are returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `{"columns", "rows", "truncated", "truncated_by"?, "elapsed_ms"}`.
    Json,
    /// Spreadsheet-safe: a text cell that starts like a formula gets a leading `'`.
    Csv,
    Parquet,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Parquet => "application/vnd.apache.parquet",
        }
    }
}

/// Whether to run the query or show its plan (`EXPLAIN`, or `EXPLAIN ANALYZE`, which runs
/// it and reports timings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Explain {
    #[default]
    No,
    Plan,
    Analyze,
}

/// The body of `POST /v1/sql`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"sql": "SELECT * FROM most_runs LIMIT 5"}))]
pub struct SqlRequest {
    /// One read-only query (SELECT, WITH, FROM, VALUES, TABLE, DESCRIBE, SHOW, SUMMARIZE).
    #[schema(schema_with = crate::openapi::sql_text)]
    pub sql: String,
    /// At most this many rows (the server's row cap still applies).
    #[schema(minimum = 1)]
    pub limit: Option<usize>,
    /// `plan` or `analyze` to see the query's plan instead of its rows; `no` runs it.
    #[serde(default)]
    pub explain: Explain,
}
