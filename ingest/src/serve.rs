//! The accept loop: HTTP/1.1 connections with a bounded life for slow clients.
//!
//! `axum::serve` sets no header timeout (hyper's needs a timer axum does not give it) and takes
//! every connection offered. Here:
//!
//! - at most `max_connections` are open at once; past that the loop stops accepting and new
//!   connections wait in the kernel's backlog, so file descriptors and per-connection buffers
//!   stay bounded whatever clients do;
//! - a request's headers must arrive within `header_timeout`, or the connection is closed.
//!   The clock starts when hyper waits for a request head, so it also closes a keep-alive
//!   connection left idle that long, and a client dripping one byte at a time is cut off all
//!   the same. Nothing of the application runs before the headers are complete: no in-flight
//!   permit is held meanwhile. Bodies are bounded in time by the handler (`http.rs`).
//!
//! Shutdown stops accepting, lets requests in progress finish and closes idle connections.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::metrics;

/// What one connection may take.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub header_timeout: Duration,
}

/// Serves `app` on `listener` until `shutdown` resolves, then drains open connections.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        // A slot first: while none is free, connections queue in the backlog, unaccepted.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    // Out of file descriptors or a connection reset before accept: pause
                    // rather than spin, and keep serving the connections already open.
                    tracing::warn!(%err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout);
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            let _slot = slot;
            let _open = metrics::OpenConnection::new();
            if let Err(err) = connection.await {
                if err.is_timeout() {
                    metrics::header_timeout();
                }
                tracing::debug!(%err, "connection ended");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}
