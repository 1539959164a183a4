//! What every service of the platform shares, so each one reads the same:
//!
//! - [`kafka`]: the topic contract (names, partitions, headers) and client configuration
//!   tuned once for the whole pipeline, plus topic creation.
//! - [`telemetry`]: tracing setup with text or JSON logs.
//! - [`shutdown`]: one future that resolves on Ctrl-C or SIGTERM.
//! - [`local_broker`]: the local Kafka-protocol broker as a child process (runner and tests).
//! - [`limits`]: per-client caps on long-lived connections.

pub mod kafka;
pub mod limits;
pub mod local_broker;
pub mod shutdown;
pub mod telemetry;
