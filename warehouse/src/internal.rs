//! The warehouse's own queries (scorecards, the table list) on its own database: trusted
//! SQL, a small pool of connections and permits that user SQL never touches (user SQL runs
//! in another process, see [`crate::sql`]), a read-only transaction and a timeout.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use duckdb::Connection;
use tokio::sync::Semaphore;

use crate::sql::SqlError;

/// Pool of connections for trusted reads.
pub(crate) struct Internal {
    idle: Mutex<Vec<Connection>>,
    source: Mutex<Connection>,
    permits: Arc<Semaphore>,
    timeout: Duration,
}

impl std::fmt::Debug for Internal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Internal")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Internal {
    pub(crate) fn new(source: Connection, concurrent: usize, timeout: Duration) -> Internal {
        Internal {
            idle: Mutex::new(Vec::new()),
            source: Mutex::new(source),
            permits: Arc::new(Semaphore::new(concurrent.max(1))),
            timeout,
        }
    }

    /// Runs `work` on a pooled connection in a read-only transaction; waits for a permit
    /// (these are the dashboard's own pages: they queue rather than fail), interrupts the
    /// work at the timeout.
    pub(crate) async fn run<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce(&Connection) -> Result<T, SqlError> + Send + 'static,
    ) -> Result<T, SqlError> {
        let timeout_error = SqlError::Timeout {
            millis: self.timeout.as_millis(),
        };
        let permit = tokio::time::timeout(self.timeout, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| timeout_error.clone())?
            .map_err(|_| SqlError::Internal("the pool is closed".to_owned()))?;
        let conn = self.take()?;
        let interrupt = conn.interrupt_handle();
        let pool = self.clone();
        let mut task = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let result = in_read_only_transaction(&conn, || work(&conn));
            pool.idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(conn);
            result
        });
        match tokio::time::timeout(self.timeout, &mut task).await {
            Ok(joined) => {
                joined.map_err(|err| SqlError::Internal(format!("query task failed: {err}")))?
            }
            Err(_) => {
                interrupt.interrupt();
                let _ = task.await;
                Err(timeout_error)
            }
        }
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
}

/// `work` in a read-only transaction that is always rolled back.
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
