//! `cargo xtask broker`: the local Kafka-protocol broker in the foreground, with the
//! platform's topics, until Ctrl-C. The process handling is `platform::local_broker`.

use anyhow::Result;
use platform::local_broker::{LocalBroker, Storage};

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
    let broker = start(args.port, storage).await?;
    say(format!(
        "broker ready on {} (Ctrl-C to stop)",
        broker.brokers()
    ));
    platform::shutdown::signal().await;
    drop(broker);
    say("broker stopped");
    Ok(())
}

/// Starts a broker on `port` with its files under the data dir.
pub(crate) async fn start(port: u16, storage: Storage) -> Result<LocalBroker> {
    let workdir = data_dir().join(format!("broker-{port}"));
    std::fs::create_dir_all(&workdir)?;
    LocalBroker::start(port, storage, &workdir).await
}
