//! Runs checked user queries: a fresh connection each, a read-only transaction, a timer, a
//! permit cap, and the answer handed over piece by piece as it is encoded.
//!
//! The first piece decides the HTTP status: the query is checked, prepared and its first
//! [`PREBUFFER_BYTES`] encoded before the handler answers, so errors (and the whole answer,
//! when it is small) arrive with the right status and headers. After that the answer streams;
//! a failure mid-stream (the timer, the memory ceiling) ends the body with an error, which
//! aborts the connection, so a cut answer never looks complete.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use arrow::array::{RecordBatch, StructArray};
use arrow::datatypes::SchemaRef;
use duckdb::Connection;
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::encode::{Cut, Encoder, type_name};
use super::policy::Policy;
use super::{Format, SqlError, SqlRequest};

/// Bytes encoded before the handler answers.
const PREBUFFER_BYTES: usize = 256 * 1024;

/// Limits on user queries.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_rows: usize,
    pub(crate) max_bytes: usize,
    pub(crate) timeout: Duration,
    pub(crate) max_concurrent: usize,
}

/// The start of an answer.
#[derive(Debug)]
pub(crate) struct Head {
    pub(crate) format: Format,
    /// The first bytes (the whole answer when `complete` is set).
    pub(crate) body: Vec<u8>,
    /// Rows and cut, known when the whole answer fit in the first piece.
    pub(crate) complete: Option<(usize, Option<Cut>)>,
    /// The rest of the answer when it is not complete: pieces, the last one marked. The
    /// channel closing before the last piece means the answer was cut (a slow reader past
    /// the deadline).
    pub(crate) rest: mpsc::Receiver<Result<Piece, SqlError>>,
}

/// A piece of an answer after the head.
#[derive(Debug)]
pub(crate) struct Piece {
    pub(crate) bytes: Vec<u8>,
    pub(crate) last: bool,
}

/// User queries over one database instance.
pub(crate) struct Engine {
    /// Connections are cloned from this one (same instance, nothing of its state).
    source: Mutex<Connection>,
    policy: Policy,
    limits: Limits,
    permits: Arc<Semaphore>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Engine {
    pub(crate) fn new(source: Connection, limits: Limits) -> Result<Engine, SqlError> {
        let policy = Policy::load(&source)?;
        Ok(Engine {
            source: Mutex::new(source),
            policy,
            permits: Arc::new(Semaphore::new(limits.max_concurrent.max(1))),
            limits,
        })
    }

    /// Checks and runs `request`; resolves once the first piece of the answer is ready.
    pub(crate) async fn query(
        self: &Arc<Self>,
        request: SqlRequest,
        format: Format,
    ) -> Result<Head, SqlError> {
        let started = Instant::now();
        let result = self.query_inner(request, format).await;
        if let Err(err) = &result {
            crate::metrics::query(err.code(), started.elapsed());
        }
        result
    }

    async fn query_inner(
        self: &Arc<Self>,
        request: SqlRequest,
        format: Format,
    ) -> Result<Head, SqlError> {
        if request.limit == Some(0) {
            return Err(SqlError::Invalid("limit must be at least 1".to_owned()));
        }
        let permit = self
            .permits
            .clone()
            .try_acquire_owned()
            .map_err(|_| SqlError::Busy {
                limit: self.limits.max_concurrent,
            })?;
        let conn = self
            .source
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .try_clone()
            .map_err(|err| SqlError::Internal(format!("no connection: {err}")))?;
        let max_rows = request
            .limit
            .unwrap_or(self.limits.max_rows)
            .min(self.limits.max_rows);
        let (head_tx, head_rx) = oneshot::channel();
        let (rest_tx, rest_rx) = mpsc::channel(4);
        let timeout = self.limits.timeout;
        let interrupt = conn.interrupt_handle();
        let engine = self.clone();
        let runtime = tokio::runtime::Handle::current();
        let deadline = tokio::time::Instant::now() + timeout;
        let work = tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let outcome = engine.run(
                &conn,
                permit,
                &request,
                format,
                max_rows,
                Output {
                    head: Some(head_tx),
                    rest: rest_tx,
                    rest_rx: Some(rest_rx),
                    runtime,
                    deadline,
                },
            );
            crate::metrics::query(outcome, started.elapsed());
            // Dropping the connection closes it: nothing it did survives this query.
            drop(conn);
        });
        // The timer: interrupts the query (checked between DuckDB's vectors) when it runs
        // too long, whether or not the answer is streaming yet.
        tokio::spawn(async move {
            let mut work = work;
            if tokio::time::timeout(timeout, &mut work).await.is_err() {
                interrupt.interrupt();
                let _ = work.await;
            }
        });
        head_rx
            .await
            .map_err(|_| SqlError::Internal("the query task ended without an answer".to_owned()))?
    }

    /// On a blocking thread: check, prepare, stream. Returns the outcome label.
    /// The permit is released once DuckDB has stopped and before the last piece is sent,
    /// so a client that sends its next query as soon as it has the answer finds it free.
    fn run(
        &self,
        conn: &Connection,
        permit: tokio::sync::OwnedSemaphorePermit,
        request: &SqlRequest,
        format: Format,
        max_rows: usize,
        mut out: Output,
    ) -> &'static str {
        let timeout_error = || SqlError::Timeout {
            millis: self.limits.timeout.as_millis(),
        };
        // Ok(None): the client went away mid-answer.
        type Last = Option<(Vec<u8>, (usize, Option<Cut>))>;
        let result: Result<Last, SqlError> = (|| {
            let text = self.policy.check(conn, &request.sql, request.explain)?;
            conn.execute_batch("BEGIN TRANSACTION READ ONLY")
                .map_err(|err| SqlError::Internal(format!("cannot begin: {err}")))?;
            let mut stmt = conn
                .prepare(&text)
                .map_err(|err| classify(&err, timeout_error))?;
            let schema: SchemaRef = stmt
                .stream_arrow([])
                .map_err(|err| classify(&err, timeout_error))?
                .get_schema();
            let types: Vec<String> = (0..schema.fields().len())
                .map(|i| type_name(&stmt.column_logical_type(i)))
                .collect();
            let (mut encoder, mut pending) =
                Encoder::start(format, &schema, &types, max_rows, self.limits.max_bytes)?;
            loop {
                let chunk = stmt.step().map_err(|err| classify(&err, timeout_error))?;
                let Some(chunk) = chunk else { break };
                let chunk: StructArray = chunk;
                let batch = RecordBatch::from(&chunk);
                if batch.num_rows() == 0 {
                    continue;
                }
                if encoder.is_full() {
                    encoder.more_rows_exist();
                    break;
                }
                pending.extend(encoder.push(&batch)?);
                if encoder.cut().is_some() {
                    break;
                }
                if pending.len() >= PREBUFFER_BYTES
                    && !out.send(format, std::mem::take(&mut pending), None)
                {
                    return Ok(None);
                }
            }
            let (rows, cut) = (encoder.rows(), encoder.cut());
            pending.extend(encoder.finish()?);
            Ok(Some((pending, (rows, cut))))
        })();
        if let Err(err) = conn.execute_batch("ROLLBACK") {
            tracing::debug!(%err, "rollback after a query");
        }
        drop(permit);
        match result {
            Ok(Some((last, complete))) => {
                if out.send(format, last, Some(complete)) {
                    "ok"
                } else {
                    "client_gone"
                }
            }
            Ok(None) => "client_gone",
            Err(err) => {
                let code = err.code();
                out.fail(err);
                code
            }
        }
    }
}

/// Where the pieces of an answer go: the head first, then the rest.
struct Output {
    head: Option<oneshot::Sender<Result<Head, SqlError>>>,
    rest: mpsc::Sender<Result<Piece, SqlError>>,
    rest_rx: Option<mpsc::Receiver<Result<Piece, SqlError>>>,
    runtime: tokio::runtime::Handle,
    /// A reader too slow to take the answer by the query's deadline is cut off, so a slow
    /// client cannot hold a permit (or this thread) for longer than any query may run.
    deadline: tokio::time::Instant,
}

impl Output {
    /// Sends a piece; `complete` is set on the last one. False when the client is gone or
    /// too slow.
    fn send(
        &mut self,
        format: Format,
        body: Vec<u8>,
        complete: Option<(usize, Option<Cut>)>,
    ) -> bool {
        if let (Some(head), Some(rest)) = (self.head.take(), self.rest_rx.take()) {
            return head
                .send(Ok(Head {
                    format,
                    body,
                    complete,
                    rest,
                }))
                .is_ok();
        }
        let piece = Piece {
            bytes: body,
            last: complete.is_some(),
        };
        let sent = self.runtime.block_on(tokio::time::timeout_at(
            self.deadline,
            self.rest.send(Ok(piece)),
        ));
        matches!(sent, Ok(Ok(())))
    }

    fn fail(&mut self, err: SqlError) {
        if let Some(head) = self.head.take() {
            let _ = head.send(Err(err));
        } else {
            // Best effort within the deadline: if the reader is stuck, closing the channel
            // without a last piece says the same.
            let _ = self.runtime.block_on(tokio::time::timeout_at(
                self.deadline,
                self.rest.send(Err(err)),
            ));
        }
    }
}

/// A DuckDB error as a [`SqlError`]; an interrupt is the timer's doing.
fn classify(err: &duckdb::Error, timeout: impl Fn() -> SqlError) -> SqlError {
    if err.to_string().contains("Interrupted") {
        timeout()
    } else {
        SqlError::from_duckdb(err)
    }
}
