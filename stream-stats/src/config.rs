//! stream-stats configuration: every flag is also an environment variable.

use std::net::SocketAddr;
use std::time::Duration;

use platform::kafka;
use platform::telemetry::LogFormat;

#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "stream-stats",
    version,
    about = "Live cricket scoreboards from Kafka over HTTP and WebSockets"
)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "STATS_LISTEN", default_value = "127.0.0.1:8082")]
    pub listen: SocketAddr,
    /// Kafka bootstrap servers.
    #[arg(long, env = "KAFKA_BROKERS", default_value = kafka::DEFAULT_BROKERS)]
    pub brokers: String,
    /// Topic of match events.
    #[arg(long, env = "STATS_EVENTS_TOPIC", default_value = kafka::MATCH_EVENTS)]
    pub events_topic: String,
    /// Compacted topic of scoreboard snapshots (the durable state).
    #[arg(long, env = "STATS_SNAPSHOT_TOPIC", default_value = kafka::SCOREBOARDS)]
    pub snapshot_topic: String,
    /// Dead-letter topic for records that cannot be used.
    #[arg(long, env = "STATS_DLQ_TOPIC", default_value = kafka::DEAD_LETTERS)]
    pub dlq_topic: String,
    /// Consumer group; instances in one group share the snapshotting of partitions.
    #[arg(long, env = "STATS_GROUP", default_value = "stream-stats")]
    pub group: String,
    /// How often changed scoreboards are snapshotted and offsets committed. Shorter means
    /// less to replay after a crash, longer means fewer snapshot writes.
    #[arg(long, env = "STATS_SNAPSHOT_INTERVAL_MS", default_value_t = 1_000)]
    pub snapshot_interval_ms: u64,
    /// Web pages (`Origin` values) allowed to open a WebSocket here, comma-separated; `*`
    /// allows any. The default is the dashboard on this machine; browsers reach stream-stats
    /// through the dashboard's relay, which sends no `Origin`, as other non-browser clients do.
    #[arg(
        long,
        env = "STATS_ALLOWED_ORIGINS",
        default_value = "http://127.0.0.1:3000,http://localhost:3000",
        value_delimiter = ','
    )]
    pub allowed_origins: Vec<String>,
    /// Most subscriptions (matches, plus the match list) one WebSocket connection may hold; a
    /// subscribe beyond it is answered with an error message naming the limit.
    #[arg(long, env = "STATS_WS_MAX_SUBSCRIPTIONS", default_value_t = 64)]
    pub ws_max_subscriptions: usize,
    /// Most WebSocket connections open at once from one client address (IPv6: one /64); more
    /// are refused with 429 before the upgrade. 0: no cap. The default leaves room for a
    /// dashboard relay or load balancer, which carries many viewers from one address, while
    /// one host cannot take every socket; viewers themselves are capped at the edge
    /// (`WEB_WS_MAX_PER_IP`).
    #[arg(long, env = "STATS_WS_MAX_PER_IP", default_value_t = 4_096)]
    pub ws_max_per_ip: usize,
    /// Most matches held in memory (live and finished: about 30 KiB each, so ~300 MB at the
    /// default). Events of a further new match are refused and dead-lettered (reason "store
    /// full"), so a flood of made-up match ids cannot grow memory without bound; matches
    /// already held keep scoring. Snapshots restored at start are loaded whatever the cap.
    #[arg(long, env = "STATS_MAX_MATCHES", default_value_t = 10_000)]
    pub max_matches: usize,
    /// Largest message a WebSocket client may send, in bytes.
    #[arg(long, env = "STATS_WS_MAX_MESSAGE_BYTES", default_value_t = 16 * 1024)]
    pub ws_max_message_bytes: usize,
    /// Deltas buffered per match for clients that fall behind; a client further behind gets a
    /// fresh snapshot instead.
    #[arg(long, env = "STATS_WS_BUFFER", default_value_t = 256)]
    pub ws_buffer: usize,
    /// A client whose socket does not accept a message within this time is disconnected.
    #[arg(long, env = "STATS_WS_SEND_TIMEOUT_MS", default_value_t = 10_000)]
    pub ws_send_timeout_ms: u64,
    /// Log format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

impl Config {
    pub fn snapshot_interval(&self) -> Duration {
        Duration::from_millis(self.snapshot_interval_ms)
    }

    pub fn ws_send_timeout(&self) -> Duration {
        Duration::from_millis(self.ws_send_timeout_ms)
    }
}
