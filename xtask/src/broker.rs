//! The local Kafka-protocol broker: Nisshi, started from an empty working directory (it reads
//! a `.env` file from there) with explicit flags, and the platform's topics created.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};
use platform::kafka;

use crate::process::Running;
use crate::{data_dir, say, setup};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Keep the data in SQLite under the data dir, surviving restarts (default: in memory).
    #[arg(long)]
    durable: bool,
    /// Port to listen on (127.0.0.1).
    #[arg(long, default_value_t = 9092)]
    port: u16,
}

pub(crate) async fn run(args: Args) -> Result<()> {
    setup::ensure(false)?;
    let storage = if args.durable {
        Storage::Sqlite(data_dir().join("broker").join("broker.db"))
    } else {
        Storage::Memory
    };
    let broker = Broker::start(args.port, storage).await?;
    say(format!(
        "broker ready on {} (Ctrl-C to stop)",
        broker.brokers
    ));
    platform::shutdown::signal().await;
    drop(broker);
    say("broker stopped");
    Ok(())
}

#[derive(Debug, Clone)]
pub(crate) enum Storage {
    Memory,
    /// SQLite file: survives kill -9 and restarts.
    Sqlite(PathBuf),
}

#[derive(Debug)]
pub(crate) struct Broker {
    /// Stopped when the handle is dropped.
    _process: Running,
    /// `host:port` for `bootstrap.servers`.
    pub(crate) brokers: String,
}

impl Broker {
    /// Starts the broker on `port`, waits until it answers and creates the platform's topics.
    pub(crate) async fn start(port: u16, storage: Storage) -> Result<Broker> {
        let workdir = data_dir().join(format!("broker-{port}"));
        // An empty working directory: Nisshi would read a stray `.env` there.
        let _ = std::fs::remove_dir_all(&workdir);
        std::fs::create_dir_all(&workdir)?;
        let listener = format!("tcp://127.0.0.1:{port}");
        let storage_url = match &storage {
            Storage::Memory => "memory://nisshi/".to_owned(),
            Storage::Sqlite(path) => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                format!("sqlite://{}", path.display())
            }
        };
        let mut command = Command::new(setup::nisshi_binary());
        command
            .args([
                "broker",
                "--listener-url",
                &listener,
                "--advertised-listener-url",
                &listener,
            ])
            .args(["--storage-engine", &storage_url])
            .args(["--group-initial-rebalance-delay", "0s"])
            .current_dir(&workdir);
        let log = data_dir().join("logs").join(format!("broker-{port}.log"));
        let mut process = Running::spawn("broker", command, Some(&log))?;
        process
            .wait_for_port(
                SocketAddr::from(([127, 0, 0, 1], port)),
                Duration::from_secs(30),
            )
            .with_context(|| format!("broker did not start; see {}", log.display()))?;
        let brokers = format!("127.0.0.1:{port}");
        kafka::wait_for_broker(&brokers, Duration::from_secs(30)).await?;
        kafka::create_topics(&brokers, &kafka::platform_topics()).await?;
        Ok(Broker {
            _process: process,
            brokers,
        })
    }
}
