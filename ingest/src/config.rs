//! Ingest configuration: every flag is also an environment variable, so the same binary runs
//! from a terminal, from `cargo xtask demo` and from docker-compose.

use std::net::SocketAddr;
use std::time::Duration;

use platform::kafka;
use platform::telemetry::LogFormat;

#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "ingest",
    version,
    about = "Cricket events over HTTP into Kafka"
)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "INGEST_LISTEN", default_value = "127.0.0.1:8081")]
    pub listen: SocketAddr,
    /// Kafka bootstrap servers.
    #[arg(long, env = "KAFKA_BROKERS", default_value = kafka::DEFAULT_BROKERS)]
    pub brokers: String,
    /// Topic the events are produced to.
    #[arg(long, env = "INGEST_TOPIC", default_value = kafka::MATCH_EVENTS)]
    pub topic: String,
    /// Bearer token producers must present (`Authorization: Bearer <token>`).
    #[arg(long, env = "INGEST_TOKEN", hide_env_values = true)]
    pub token: String,
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "INGEST_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Most events in one request.
    #[arg(long, env = "INGEST_MAX_BATCH_EVENTS", default_value_t = 5_000)]
    pub max_batch_events: usize,
    /// Requests being processed at once (decoded and produced). A request takes a slot only
    /// once its body has arrived, and waits at most `INGEST_QUEUE_TIMEOUT_MS` for one before
    /// 429.
    #[arg(long, env = "INGEST_MAX_IN_FLIGHT", default_value_t = 64)]
    pub max_in_flight: usize,
    /// How long a request whose body has arrived may wait for an in-flight slot, in ms; then
    /// 429 with Retry-After. Short bursts are smoothed; a backlog is refused, not queued.
    #[arg(long, env = "INGEST_QUEUE_TIMEOUT_MS", default_value_t = 1_000)]
    pub queue_timeout_ms: u64,
    /// A connection must deliver a request's headers within this time, in ms, or it is closed
    /// (slow clients, and keep-alive connections left idle).
    #[arg(long, env = "INGEST_HEADER_TIMEOUT_MS", default_value_t = 10_000)]
    pub header_timeout_ms: u64,
    /// A request's body must arrive completely within this time, in ms, or it is answered 408
    /// and the connection closed. 1 MiB takes 30 s only below about 35 KB/s.
    #[arg(long, env = "INGEST_BODY_TIMEOUT_MS", default_value_t = 30_000)]
    pub body_timeout_ms: u64,
    /// HTTP connections open at once; past it new connections wait, unaccepted, in the
    /// kernel's backlog. Bounds file descriptors and buffers whatever clients do.
    #[arg(long, env = "INGEST_MAX_CONNECTIONS", default_value_t = 1_024)]
    pub max_connections: usize,
    /// How long the broker has to acknowledge an event before the request fails with 503.
    #[arg(long, env = "INGEST_PRODUCE_TIMEOUT_MS", default_value_t = 5_000)]
    pub produce_timeout_ms: u64,
    /// Most events waiting in the producer's queue; beyond it requests get 429.
    #[arg(long, env = "INGEST_PRODUCER_QUEUE_EVENTS", default_value_t = 100_000)]
    pub producer_queue_events: usize,
    /// Log format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

impl Config {
    pub fn produce_timeout(&self) -> Duration {
        Duration::from_millis(self.produce_timeout_ms)
    }

    pub fn connection_limits(&self) -> crate::serve::ConnectionLimits {
        crate::serve::ConnectionLimits {
            max_connections: self.max_connections,
            header_timeout: Duration::from_millis(self.header_timeout_ms),
        }
    }

    /// The configuration as logged at start: everything but the token.
    pub fn redacted(&self) -> String {
        format!(
            "listen={} brokers={} topic={} max_body_bytes={} max_batch_events={} max_in_flight={} \
             queue_timeout_ms={} header_timeout_ms={} body_timeout_ms={} max_connections={} \
             produce_timeout_ms={} producer_queue_events={} token=<redacted>",
            self.listen,
            self.brokers,
            self.topic,
            self.max_body_bytes,
            self.max_batch_events,
            self.max_in_flight,
            self.queue_timeout_ms,
            self.header_timeout_ms,
            self.body_timeout_ms,
            self.max_connections,
            self.produce_timeout_ms,
            self.producer_queue_events
        )
    }
}
