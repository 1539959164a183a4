//! The command line. `warehouse` (or `warehouse serve`) runs the loader and the HTTP API;
//! `query` and `export` work on the database file while the server is stopped (DuckDB lets
//! one process at a time open a file). Every server flag is also an environment variable, so
//! the same binary runs from a terminal, from `cargo xtask` and from docker-compose.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use platform::kafka;
use platform::telemetry::LogFormat;

#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "warehouse",
    version,
    about = "Cricket events from Kafka into DuckDB, exactly once; SQL over HTTP",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Flags of `serve`, also accepted without the subcommand.
    #[command(flatten)]
    pub serve: Config,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Load events from Kafka and serve the HTTP API (the default).
    Serve(Config),
    /// Run one SQL statement on the database file and print the result as a table. Fails
    /// if a server holds the file: use its `POST /v1/sql` then.
    Query {
        sql: String,
        #[arg(long, env = "WAREHOUSE_DB", default_value = DEFAULT_DB)]
        db: PathBuf,
        /// `table` for people, `csv` for programs.
        #[arg(long, value_enum, default_value_t = QueryFormat::Table)]
        format: QueryFormat,
    },
    /// Write every table as Parquet under DIR (deliveries and raw events partitioned by
    /// event date). Needs the server stopped.
    Export {
        #[arg(long, value_name = "DIR")]
        parquet: PathBuf,
        #[arg(long, env = "WAREHOUSE_DB", default_value = DEFAULT_DB)]
        db: PathBuf,
    },
    /// The user-SQL replica process; the warehouse starts it itself.
    #[command(hide = true)]
    SqlReplica(crate::sql::replica::ReplicaArgs),
    /// Benchmark baseline: append the rows of an NDJSON file of events straight into a fresh
    /// database, without Kafka; prints a JSON report.
    #[command(hide = true)]
    BenchAppend {
        file: PathBuf,
        #[arg(long)]
        db: PathBuf,
        #[arg(long, default_value_t = 20_000)]
        batch: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum QueryFormat {
    Table,
    Csv,
}

pub const DEFAULT_DB: &str = ".data/warehouse.duckdb";

#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "WAREHOUSE_LISTEN", default_value = "127.0.0.1:8083")]
    pub listen: SocketAddr,
    /// Kafka bootstrap servers.
    #[arg(long, env = "KAFKA_BROKERS", default_value = kafka::DEFAULT_BROKERS)]
    pub brokers: String,
    /// Topic of match events.
    #[arg(long, env = "WAREHOUSE_TOPIC", default_value = kafka::MATCH_EVENTS)]
    pub topic: String,
    /// Dead-letter topic: records that are not valid events are copied there (and kept in
    /// the `rejected` table).
    #[arg(long, env = "WAREHOUSE_DLQ_TOPIC", default_value = kafka::DEAD_LETTERS)]
    pub dlq_topic: String,
    /// Consumer group. Its committed offsets only show lag: the loader resumes from the
    /// offsets stored in the database.
    #[arg(long, env = "WAREHOUSE_GROUP", default_value = "warehouse")]
    pub group: String,
    /// Static group membership (`group.instance.id`): a restarted loader with the same id
    /// gets its partitions back at once instead of after the session timeout. Only one
    /// process can hold the database file, so one id per file is natural.
    #[arg(long, env = "WAREHOUSE_INSTANCE_ID")]
    pub instance_id: Option<String>,
    /// The DuckDB file (created if missing).
    #[arg(long, env = "WAREHOUSE_DB", default_value = DEFAULT_DB)]
    pub db: PathBuf,
    /// A batch is committed once it holds this many records...
    #[arg(long, env = "WAREHOUSE_FLUSH_MAX_ROWS", default_value_t = 20_000)]
    pub flush_max_rows: usize,
    /// ...or once its first record has waited this long, so an event is queryable well
    /// within a second.
    #[arg(long, env = "WAREHOUSE_FLUSH_INTERVAL_MS", default_value_t = 200)]
    pub flush_interval_ms: u64,
    /// Most rows a `POST /v1/sql` answer carries (a request may ask for fewer).
    #[arg(long, env = "WAREHOUSE_SQL_MAX_ROWS", default_value_t = 10_000)]
    pub sql_max_rows: usize,
    /// Most bytes a `POST /v1/sql` answer carries; the rows that fit are sent and the
    /// answer says it was cut.
    #[arg(long, env = "WAREHOUSE_SQL_MAX_BYTES", default_value_t = 16 * 1024 * 1024)]
    pub sql_max_bytes: usize,
    /// A query still running after this long is interrupted (and a client still reading
    /// its answer then is cut off).
    #[arg(long, env = "WAREHOUSE_SQL_TIMEOUT_MS", default_value_t = 5_000)]
    pub sql_timeout_ms: u64,
    /// Queries running at once; more are refused with 429.
    #[arg(long, env = "WAREHOUSE_SQL_MAX_CONCURRENT", default_value_t = 4)]
    pub sql_max_concurrent: usize,
    /// The user-SQL replica's own DuckDB file (default: beside `--db`, named
    /// `<name>.sql-replica.duckdb`). Seeded from `--db` when missing.
    #[arg(long, env = "WAREHOUSE_SQL_REPLICA_DB")]
    pub sql_replica_db: Option<PathBuf>,
    /// DuckDB's memory limit in the user-SQL replica (its buffer pool), e.g. `512MB`.
    #[arg(long, env = "WAREHOUSE_SQL_MEMORY_LIMIT", default_value = "512MB")]
    pub sql_memory_limit: String,
    /// Hard ceiling on the user-SQL replica's memory, in MiB (the kernel's RLIMIT_DATA,
    /// which bounds what DuckDB's own limit does not); 0 turns it off.
    #[arg(long, env = "WAREHOUSE_SQL_MAX_MEMORY_MIB", default_value_t = 1280)]
    pub sql_max_memory_mib: u64,
    /// DuckDB worker threads in the user-SQL replica.
    #[arg(long, env = "WAREHOUSE_SQL_THREADS", default_value_t = 2)]
    pub sql_threads: usize,
    /// DuckDB's memory limit for the warehouse's own database (loading and scorecards),
    /// e.g. `4GB`. User SQL never runs there.
    #[arg(long, env = "WAREHOUSE_MEMORY_LIMIT", default_value = "4GB")]
    pub memory_limit: String,
    /// Log format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

impl Config {
    pub fn flush_interval(&self) -> Duration {
        Duration::from_millis(self.flush_interval_ms)
    }

    pub fn sql_timeout(&self) -> Duration {
        Duration::from_millis(self.sql_timeout_ms)
    }

    /// The user-SQL replica's file.
    pub fn sql_replica_db(&self) -> PathBuf {
        self.sql_replica_db.clone().unwrap_or_else(|| {
            let stem = self
                .db
                .file_stem()
                .map_or_else(|| "warehouse".into(), |s| s.to_string_lossy().into_owned());
            self.db.with_file_name(format!("{stem}.sql-replica.duckdb"))
        })
    }
}
