//! Untrusted SQL over history, safely.
//!
//! `POST /v1/sql` runs a query written by anyone who can reach the port, inside the process
//! that also writes the data. Layers, each enough on its own for the common attacks:
//!
//! 1. **Text**: one statement that starts like a query (`SELECT`, `WITH`, `FROM`, `VALUES`,
//!    `TABLE`, `DESCRIBE`, `SHOW`, `SUMMARIZE`, or `EXPLAIN [ANALYZE]` of one of those).
//! 2. **DuckDB's own parser**: `json_serialize_sql` must see exactly one statement and only
//!    serializes `SELECT` trees, so DDL, DML, `COPY`, `ATTACH`, `SET`, `PRAGMA`, `CALL`,
//!    `CHECKPOINT`, `EXPORT`, `INSTALL`, `LOAD` and stacked statements are refused before
//!    anything runs. Function names in the tree are checked too: dynamic SQL (`query`,
//!    `query_table`, `json_execute_serialized_sql`), file readers and maintenance functions
//!    are refused with a clear message even though layer 4 would stop them anyway.
//! 3. **A read-only transaction** around the query: whatever slipped through cannot write.
//! 4. **The instance** ([`crate::db::lock_down`]): no file or network access, configuration
//!    locked.
//!
//! Resource limits: a connection per query from a small pool and a cap on concurrent queries
//! (429 beyond it); results stream out of DuckDB and stop at the row cap, so a query over a
//! huge result costs only what it returns; a timer interrupts a query that runs too long.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use arrow::array::{ArrayRef, AsArray, RecordBatch, StructArray};
use arrow::datatypes::{
    DataType, Schema, SchemaRef, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};
use arrow::error::ArrowError;
use duckdb::core::{LogicalTypeHandle, LogicalTypeId};
use duckdb::{Connection, InterruptHandle, Statement};
use tokio::sync::Semaphore;

use crate::metrics;

/// Longest accepted SQL text.
pub const MAX_SQL_BYTES: usize = 64 * 1024;

/// Why a query was refused or failed. Every variant is a 4xx except `Internal`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SqlError {
    #[error("the request holds no SQL")]
    Empty,
    #[error("the SQL is longer than {limit} bytes")]
    TooLong { limit: usize },
    #[error(
        "only queries are allowed (SELECT, WITH, FROM, VALUES, TABLE, DESCRIBE, SHOW, SUMMARIZE, \
         EXPLAIN); this statement is {0}"
    )]
    NotAQuery(String),
    #[error("exactly one statement is allowed; found {0}")]
    MultipleStatements(usize),
    #[error("{0}")]
    FunctionNotAllowed(String),
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
    #[error("the query needs more memory than the warehouse allows: {0}")]
    TooBig(String),
    #[error("the result cannot be written as {format}: {message}")]
    Encoding {
        format: &'static str,
        message: String,
    },
    #[error("the query failed: {0}")]
    Failed(String),
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
            SqlError::Forbidden(_) => "forbidden",
            SqlError::Syntax(_) => "syntax_error",
            SqlError::Invalid(_) => "invalid_query",
            SqlError::Timeout { .. } => "query_timeout",
            SqlError::Busy { .. } => "too_many_queries",
            SqlError::TooBig(_) => "query_too_big",
            SqlError::Encoding { .. } => "cannot_encode",
            SqlError::Failed(_) => "query_failed",
            SqlError::Internal(_) => "internal",
        }
    }

    /// Sorts DuckDB's error text ("Permission Error: ...") into the variants above.
    fn from_duckdb(err: &duckdb::Error) -> SqlError {
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
    /// `{"columns", "rows", "truncated", "elapsed_ms"}`.
    Json,
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

/// A finished query.
#[derive(Debug, Clone)]
pub struct Answer {
    pub body: Vec<u8>,
    pub rows: usize,
    pub truncated: bool,
    pub elapsed: Duration,
}

/// What kind of statement the text is, from its first keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape<'a> {
    /// Serializable by `json_serialize_sql` as it is.
    Query,
    /// `EXPLAIN [ANALYZE] <query>`: the query part is checked.
    Explain(&'a str),
}

const QUERY_KEYWORDS: &[&str] = &[
    "SELECT",
    "WITH",
    "FROM",
    "VALUES",
    "TABLE",
    "DESCRIBE",
    "DESC",
    "SHOW",
    "SUMMARIZE",
];

/// Functions refused by name. Dynamic SQL would hide a statement from the checks above;
/// file and network readers are off at the instance level anyway, but a clear refusal beats
/// a permission error; the rest are maintenance, not queries.
const DENIED_FUNCTIONS: &[&str] = &[
    "query",
    "query_table",
    "json_execute_serialized_sql",
    "checkpoint",
    "force_checkpoint",
    "glob",
    "sniff_csv",
    "parquet_scan",
    "parquet_metadata",
    "parquet_schema",
    "parquet_file_metadata",
    "parquet_kv_metadata",
    "parquet_bloom_probe",
    "getenv",
    "load_extension",
];

/// Skips whitespace, comments and opening parentheses.
fn skip_noise(mut text: &str) -> &str {
    loop {
        let trimmed = text.trim_start_matches(|c: char| c.is_whitespace() || c == '(');
        if let Some(rest) = trimmed.strip_prefix("--") {
            text = rest.split_once('\n').map_or("", |(_, after)| after);
        } else if let Some(rest) = trimmed.strip_prefix("/*") {
            text = rest.split_once("*/").map_or("", |(_, after)| after);
        } else {
            return trimmed;
        }
    }
}

fn first_word(text: &str) -> (&str, &str) {
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    (&text[..end], &text[end..])
}

/// Layer 1: the text's first keyword.
fn shape(sql: &str) -> Result<Shape<'_>, SqlError> {
    if sql.len() > MAX_SQL_BYTES {
        return Err(SqlError::TooLong {
            limit: MAX_SQL_BYTES,
        });
    }
    let start = skip_noise(sql);
    if start
        .trim_end_matches(|c: char| c.is_whitespace() || c == ';')
        .is_empty()
    {
        return Err(SqlError::Empty);
    }
    let (word, rest) = first_word(start);
    let upper = word.to_ascii_uppercase();
    if upper == "EXPLAIN" {
        let after = skip_noise(rest);
        let (next, tail) = first_word(after);
        let inner = if next.eq_ignore_ascii_case("ANALYZE") {
            tail
        } else {
            after
        };
        let (inner_word, _) = first_word(skip_noise(inner));
        if !QUERY_KEYWORDS.contains(&inner_word.to_ascii_uppercase().as_str()) {
            return Err(SqlError::NotAQuery(format!(
                "EXPLAIN {}",
                inner_word.to_ascii_uppercase()
            )));
        }
        return Ok(Shape::Explain(inner));
    }
    if QUERY_KEYWORDS.contains(&upper.as_str()) {
        Ok(Shape::Query)
    } else if upper.is_empty() {
        Err(SqlError::NotAQuery(
            "not recognised (it does not start with a keyword)".to_owned(),
        ))
    } else {
        Err(SqlError::NotAQuery(upper))
    }
}

/// Layer 2: DuckDB's parser sees one `SELECT` tree calling no denied function.
fn check_parsed(conn: &Connection, sql: &str) -> Result<(), SqlError> {
    let serialized: String = conn
        .query_row("SELECT json_serialize_sql(?::VARCHAR)", [sql], |row| {
            row.get(0)
        })
        .map_err(|err| SqlError::Internal(format!("cannot parse: {err}")))?;
    let tree: serde_json::Value = serde_json::from_str(&serialized)
        .map_err(|err| SqlError::Internal(format!("bad parser output: {err}")))?;
    if tree["error"].as_bool() == Some(true) {
        let message = tree["error_message"].as_str().unwrap_or("").to_owned();
        return Err(if tree["error_type"].as_str() == Some("not implemented") {
            SqlError::NotAQuery(
                "not a SELECT (DuckDB's parser says: only SELECT statements are allowed)"
                    .to_owned(),
            )
        } else {
            SqlError::Syntax(message)
        });
    }
    let statements = tree["statements"].as_array().map_or(0, Vec::len);
    if statements != 1 {
        return Err(SqlError::MultipleStatements(statements));
    }
    let mut names = Vec::new();
    function_names(&tree, &mut names);
    for name in names {
        let lower = name.to_ascii_lowercase();
        if DENIED_FUNCTIONS.contains(&lower.as_str()) || lower.starts_with("read_") {
            return Err(SqlError::FunctionNotAllowed(format!(
                "the function {name}() is not allowed here (no dynamic SQL, file access or \
                 maintenance)"
            )));
        }
    }
    Ok(())
}

fn function_names(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, child) in map {
                if key == "function_name"
                    && let Some(name) = child.as_str()
                {
                    out.push(name.to_owned());
                }
                function_names(child, out);
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                function_names(item, out);
            }
        }
        _ => {}
    }
}

/// The interrupt handle of the query running on a connection, if one is running. The timer
/// interrupts only while it is set, so it can never hit the next query on that connection.
type Running = Arc<Mutex<Option<Arc<InterruptHandle>>>>;

/// The query pool. Cheap to share: handlers hold it in an `Arc`.
pub struct Sandbox {
    /// Idle connections; a query takes one and gives it back.
    idle: Mutex<Vec<Connection>>,
    /// Source of fresh connections when the pool is empty or one was dropped.
    source: Mutex<Connection>,
    permits: Arc<Semaphore>,
    max_concurrent: usize,
    max_rows: usize,
    timeout: Duration,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("max_concurrent", &self.max_concurrent)
            .field("max_rows", &self.max_rows)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Sandbox {
    /// A pool over the database `source` belongs to (which must be locked down already).
    pub fn new(
        source: Connection,
        max_rows: usize,
        timeout: Duration,
        max_concurrent: usize,
    ) -> Sandbox {
        Sandbox {
            idle: Mutex::new(Vec::new()),
            source: Mutex::new(source),
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
            max_concurrent: max_concurrent.max(1),
            max_rows,
            timeout,
        }
    }

    pub fn max_rows(&self) -> usize {
        self.max_rows
    }

    fn take(&self) -> Result<Connection, SqlError> {
        if let Some(conn) = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
        {
            return Ok(conn);
        }
        self.source
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .try_clone()
            .map_err(|err| SqlError::Internal(format!("no connection: {err}")))
    }

    fn give_back(&self, conn: Connection) {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(conn);
    }

    /// Runs untrusted `sql` and returns at most `limit` (capped) rows as `format`.
    pub async fn query(
        self: &Arc<Self>,
        sql: String,
        limit: Option<usize>,
        format: Format,
    ) -> Result<Answer, SqlError> {
        let started = Instant::now();
        let result = self.query_inner(sql, limit, format).await;
        metrics::query(
            result.as_ref().map_or_else(SqlError::code, |_| "ok"),
            started.elapsed(),
        );
        result
    }

    async fn query_inner(
        self: &Arc<Self>,
        sql: String,
        limit: Option<usize>,
        format: Format,
    ) -> Result<Answer, SqlError> {
        shape(&sql)?;
        let limit = limit.unwrap_or(self.max_rows).min(self.max_rows);
        let sandbox = self.clone();
        let running: Running = Arc::new(Mutex::new(None));
        self.run_blocking(running.clone(), move || {
            sandbox.execute(&sql, limit, format, &running)
        })
        .await
    }

    /// Runs trusted SQL of the warehouse's own (scorecards, the table list) with the same
    /// pool, limits and read-only transaction.
    pub async fn internal<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce(&Connection) -> Result<T, SqlError> + Send + 'static,
    ) -> Result<T, SqlError> {
        let sandbox = self.clone();
        let running: Running = Arc::new(Mutex::new(None));
        self.run_blocking(running.clone(), move || {
            let conn = sandbox.take()?;
            *running.lock().unwrap_or_else(PoisonError::into_inner) = Some(conn.interrupt_handle());
            let result = in_read_only_transaction(&conn, || work(&conn));
            *running.lock().unwrap_or_else(PoisonError::into_inner) = None;
            sandbox.give_back(conn);
            result
        })
        .await
    }

    /// Runs `work` on a blocking thread under a concurrency permit, interrupting it at the
    /// timeout. The permit is held until the work has really stopped.
    async fn run_blocking<T: Send + 'static>(
        &self,
        running: Running,
        work: impl FnOnce() -> Result<T, SqlError> + Send + 'static,
    ) -> Result<T, SqlError> {
        let permit = self
            .permits
            .clone()
            .try_acquire_owned()
            .map_err(|_| SqlError::Busy {
                limit: self.max_concurrent,
            })?;
        let mut task = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        });
        let joined = match tokio::time::timeout(self.timeout, &mut task).await {
            Ok(joined) => joined,
            Err(_) => {
                if let Some(handle) = running
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .as_ref()
                {
                    handle.interrupt();
                }
                // The query stops at its next check; wait for it so its connection and
                // permit are free again, but answer as a timeout whatever it returns.
                let _ = task.await;
                return Err(SqlError::Timeout {
                    millis: self.timeout.as_millis(),
                });
            }
        };
        joined.map_err(|err| SqlError::Internal(format!("query task failed: {err}")))?
    }

    /// On a blocking thread: layers 2 and 3, then the query itself.
    fn execute(
        &self,
        sql: &str,
        limit: usize,
        format: Format,
        running: &Running,
    ) -> Result<Answer, SqlError> {
        let conn = self.take()?;
        let checked = match shape(sql)? {
            Shape::Query => check_parsed(&conn, sql),
            Shape::Explain(inner) => check_parsed(&conn, inner),
        };
        if let Err(err) = checked {
            self.give_back(conn);
            return Err(err);
        }
        *running.lock().unwrap_or_else(PoisonError::into_inner) = Some(conn.interrupt_handle());
        let started = Instant::now();
        let result = in_read_only_transaction(&conn, || {
            let mut stmt = conn.prepare(sql).map_err(|e| SqlError::from_duckdb(&e))?;
            fetch(&mut stmt, limit, format)
        });
        *running.lock().unwrap_or_else(PoisonError::into_inner) = None;
        self.give_back(conn);
        let (body, rows, truncated) = result?;
        Ok(Answer {
            body,
            rows,
            truncated,
            elapsed: started.elapsed(),
        })
    }
}

/// Layer 3: `work` in a read-only transaction that is always rolled back.
fn in_read_only_transaction<T>(
    conn: &Connection,
    work: impl FnOnce() -> Result<T, SqlError>,
) -> Result<T, SqlError> {
    conn.execute_batch("BEGIN TRANSACTION READ ONLY")
        .map_err(|err| SqlError::Internal(format!("cannot begin: {err}")))?;
    let result = work();
    if let Err(err) = conn.execute_batch("ROLLBACK") {
        tracing::debug!(%err, "rollback after a query");
    }
    result
}

/// Streams the result, stopping after `limit` rows (one more is read to know whether the
/// result was cut), and encodes it.
fn fetch(
    stmt: &mut Statement<'_>,
    limit: usize,
    format: Format,
) -> Result<(Vec<u8>, usize, bool), SqlError> {
    let started = Instant::now();
    let schema: SchemaRef = {
        let stream = stmt
            .stream_arrow([])
            .map_err(|err| SqlError::from_duckdb(&err))?;
        stream.get_schema()
    };
    let types: Vec<String> = (0..schema.fields().len())
        .map(|i| type_name(&stmt.column_logical_type(i)))
        .collect();
    let mut batches = Vec::new();
    let mut rows = 0;
    let mut truncated = false;
    while let Some(chunk) = stmt.step().map_err(|err| SqlError::from_duckdb(&err))? {
        let chunk: StructArray = chunk;
        let batch = RecordBatch::from(&chunk);
        let take = batch.num_rows().min(limit - rows);
        if take < batch.num_rows() {
            truncated = true;
        }
        if take > 0 {
            let batch = batch.slice(0, take);
            batches.push(if format == Format::Parquet {
                batch
            } else {
                with_utc_offsets(&batch).map_err(|err| SqlError::Encoding {
                    format: "JSON or CSV",
                    message: err.to_string(),
                })?
            });
            rows += take;
        }
        if truncated {
            break;
        }
    }
    let body = match format {
        Format::Json => encode_json(&schema, &types, &batches, truncated, started)?,
        Format::Csv => encode_csv(&schema, &batches)?,
        Format::Parquet => encode_parquet(&schema, &batches)?,
    };
    Ok((body, rows, truncated))
}

/// Relabels `TIMESTAMP WITH TIME ZONE` columns from DuckDB's zone name ("UTC") to the
/// equivalent offset ("+00:00"): the instants are the same, and Arrow's JSON and CSV writers
/// only understand offsets without the (large) time-zone database.
pub(crate) fn with_utc_offsets(batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    let schema = batch.schema();
    if !schema
        .fields()
        .iter()
        .any(|f| matches!(f.data_type(), DataType::Timestamp(_, Some(_))))
    {
        return Ok(batch.clone());
    }
    let mut fields = Vec::with_capacity(schema.fields().len());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        let DataType::Timestamp(unit, Some(_)) = field.data_type() else {
            fields.push(field.clone());
            columns.push(column.clone());
            continue;
        };
        let relabelled: ArrayRef = match unit {
            TimeUnit::Second => Arc::new(
                column
                    .as_primitive::<TimestampSecondType>()
                    .clone()
                    .with_timezone("+00:00"),
            ),
            TimeUnit::Millisecond => Arc::new(
                column
                    .as_primitive::<TimestampMillisecondType>()
                    .clone()
                    .with_timezone("+00:00"),
            ),
            TimeUnit::Microsecond => Arc::new(
                column
                    .as_primitive::<TimestampMicrosecondType>()
                    .clone()
                    .with_timezone("+00:00"),
            ),
            TimeUnit::Nanosecond => Arc::new(
                column
                    .as_primitive::<TimestampNanosecondType>()
                    .clone()
                    .with_timezone("+00:00"),
            ),
        };
        fields.push(Arc::new(
            field
                .as_ref()
                .clone()
                .with_data_type(relabelled.data_type().clone()),
        ));
        columns.push(relabelled);
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
}

fn encode_json(
    schema: &SchemaRef,
    types: &[String],
    batches: &[RecordBatch],
    truncated: bool,
    started: Instant,
) -> Result<Vec<u8>, SqlError> {
    let encoding = |err: ArrowError| SqlError::Encoding {
        format: "JSON",
        message: err.to_string(),
    };
    let columns: Vec<serde_json::Value> = schema
        .fields()
        .iter()
        .zip(types)
        .map(|(field, ty)| serde_json::json!({"name": field.name(), "type": ty}))
        .collect();
    let mut out = Vec::with_capacity(1024);
    out.extend_from_slice(b"{\"columns\":");
    serde_json::to_writer(&mut out, &columns).map_err(|err| SqlError::Internal(err.to_string()))?;
    out.extend_from_slice(b",\"rows\":[");
    let options = arrow::json::writer::EncoderOptions::default();
    let mut first_row = true;
    for batch in batches {
        let fields = batch.schema().fields().clone();
        let mut encoders = Vec::with_capacity(fields.len());
        for (field, column) in fields.iter().zip(batch.columns()) {
            encoders.push(
                arrow::json::writer::make_encoder(field, column.as_ref(), &options)
                    .map_err(encoding)?,
            );
        }
        for row in 0..batch.num_rows() {
            if !first_row {
                out.push(b',');
            }
            first_row = false;
            out.push(b'[');
            for (i, encoder) in encoders.iter_mut().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                if encoder.is_null(row) {
                    out.extend_from_slice(b"null");
                } else {
                    encoder.encode(row, &mut out);
                }
            }
            out.push(b']');
        }
    }
    out.extend_from_slice(b"],\"truncated\":");
    out.extend_from_slice(if truncated { b"true" } else { b"false" });
    out.extend_from_slice(
        format!(",\"elapsed_ms\":{}}}", started.elapsed().as_millis()).as_bytes(),
    );
    Ok(out)
}

fn encode_csv(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Vec<u8>, SqlError> {
    let encoding = |err: ArrowError| SqlError::Encoding {
        format: "CSV",
        message: err.to_string(),
    };
    let mut out = Vec::new();
    {
        let mut writer = arrow::csv::WriterBuilder::new()
            .with_header(true)
            .build(&mut out);
        if batches.is_empty() {
            writer
                .write(&RecordBatch::new_empty(schema.clone()))
                .map_err(encoding)?;
        }
        for batch in batches {
            writer.write(batch).map_err(encoding)?;
        }
    }
    Ok(out)
}

fn encode_parquet(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Vec<u8>, SqlError> {
    let encoding = |err: parquet::errors::ParquetError| SqlError::Encoding {
        format: "Parquet",
        message: err.to_string(),
    };
    let mut out = Vec::new();
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(&mut out, schema.clone(), None).map_err(encoding)?;
    for batch in batches {
        writer.write(batch).map_err(encoding)?;
    }
    writer.close().map_err(encoding)?;
    Ok(out)
}

/// DuckDB's name for a column type ("BIGINT", "VARCHAR[]", "DECIMAL(18,3)", "JSON").
pub(crate) fn type_name(ty: &LogicalTypeHandle) -> String {
    if let Some(alias) = ty.get_alias() {
        return alias;
    }
    let id = ty.id();
    let plain = match id {
        LogicalTypeId::Boolean => "BOOLEAN",
        LogicalTypeId::Tinyint => "TINYINT",
        LogicalTypeId::Smallint => "SMALLINT",
        LogicalTypeId::Integer => "INTEGER",
        LogicalTypeId::Bigint => "BIGINT",
        LogicalTypeId::UTinyint => "UTINYINT",
        LogicalTypeId::USmallint => "USMALLINT",
        LogicalTypeId::UInteger => "UINTEGER",
        LogicalTypeId::UBigint => "UBIGINT",
        LogicalTypeId::Hugeint => "HUGEINT",
        LogicalTypeId::UHugeint => "UHUGEINT",
        LogicalTypeId::Float => "FLOAT",
        LogicalTypeId::Double => "DOUBLE",
        LogicalTypeId::Varchar => "VARCHAR",
        LogicalTypeId::Blob => "BLOB",
        LogicalTypeId::Date => "DATE",
        LogicalTypeId::Time => "TIME",
        LogicalTypeId::TimeTZ => "TIME WITH TIME ZONE",
        LogicalTypeId::Timestamp => "TIMESTAMP",
        LogicalTypeId::TimestampS => "TIMESTAMP_S",
        LogicalTypeId::TimestampMs => "TIMESTAMP_MS",
        LogicalTypeId::TimestampNs => "TIMESTAMP_NS",
        LogicalTypeId::TimestampTZ => "TIMESTAMP WITH TIME ZONE",
        LogicalTypeId::Interval => "INTERVAL",
        LogicalTypeId::Uuid => "UUID",
        LogicalTypeId::Enum => "ENUM",
        LogicalTypeId::Bit => "BIT",
        LogicalTypeId::SqlNull => "NULL",
        _ => "",
    };
    if !plain.is_empty() {
        return plain.to_owned();
    }
    match id {
        LogicalTypeId::Decimal => {
            format!("DECIMAL({},{})", ty.decimal_width(), ty.decimal_scale())
        }
        LogicalTypeId::List | LogicalTypeId::Array => format!("{}[]", type_name(&ty.child(0))),
        LogicalTypeId::Struct => {
            let fields: Vec<String> = (0..ty.num_children())
                .map(|i| format!("{} {}", ty.child_name(i), type_name(&ty.child(i))))
                .collect();
            format!("STRUCT({})", fields.join(", "))
        }
        LogicalTypeId::Map => "MAP".to_owned(),
        LogicalTypeId::Union => "UNION".to_owned(),
        other => format!("{other:?}").to_ascii_uppercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert_eq!(shape("select 1"), Ok(Shape::Query));
        assert_eq!(
            shape("  -- hi\n /* x */ ( WITH a AS (SELECT 1) SELECT * FROM a)"),
            Ok(Shape::Query)
        );
        assert_eq!(
            shape("explain analyze select 1"),
            Ok(Shape::Explain(" select 1"))
        );
        assert_eq!(shape(""), Err(SqlError::Empty));
        assert_eq!(shape(" ; "), Err(SqlError::Empty));
        assert_eq!(
            shape("drop table events"),
            Err(SqlError::NotAQuery("DROP".to_owned()))
        );
        assert_eq!(
            shape("explain copy events to 'x'"),
            Err(SqlError::NotAQuery("EXPLAIN COPY".to_owned()))
        );
        assert!(matches!(
            shape(&"x".repeat(MAX_SQL_BYTES + 1)),
            Err(SqlError::TooLong { .. })
        ));
    }

    #[test]
    fn parser_layer() -> Result<(), duckdb::Error> {
        let conn = Connection::open_in_memory()?;
        assert_eq!(check_parsed(&conn, "select 1;"), Ok(()));
        assert_eq!(
            check_parsed(&conn, "select 1; select 2"),
            Err(SqlError::MultipleStatements(2))
        );
        assert!(matches!(
            check_parsed(&conn, "select 1; drop table x"),
            Err(SqlError::NotAQuery(_))
        ));
        assert!(matches!(
            check_parsed(&conn, "select * from query('drop table x')"),
            Err(SqlError::FunctionNotAllowed(_))
        ));
        assert!(matches!(
            check_parsed(&conn, "select * from \"READ_CSV\"('/etc/passwd')"),
            Err(SqlError::FunctionNotAllowed(_))
        ));
        assert!(matches!(
            check_parsed(&conn, "selec 1"),
            Err(SqlError::Syntax(_))
        ));
        Ok(())
    }
}
