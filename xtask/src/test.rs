//! `cargo xtask test`: every test of the workspace, against a real broker started for the
//! run on a free port (so a demo broker on 9092 can keep running), plus the wasm32 build of
//! the domain crate that proves it stays pure.

use std::process::Command;

use anyhow::Result;

use platform::local_broker::{LocalBroker, Storage, free_port};

use crate::process::run_checked;
use crate::{say, setup};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Arguments for `cargo test` instead of `--workspace`, e.g. `-p ingest --test broker`.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    cargo_args: Vec<String>,
}

pub(crate) async fn run(args: Args) -> Result<()> {
    setup::ensure(true)?;

    say("building the domain crate for wasm32-unknown-unknown");
    let mut wasm = Command::new(env!("CARGO"));
    wasm.args([
        "build",
        "--quiet",
        "-p",
        "cricket",
        "--target",
        "wasm32-unknown-unknown",
    ]);
    run_checked(wasm)?;

    let broker = crate::broker::start(free_port()?, Storage::Memory).await?;
    say(format!("test broker on {}", broker.brokers()));

    let mut test = Command::new(env!("CARGO"));
    test.arg("test");
    if args.cargo_args.is_empty() {
        test.arg("--workspace");
    }
    test.args(&args.cargo_args)
        .env("KAFKA_BROKERS", broker.brokers())
        .env("NISSHI_BIN", LocalBroker::binary())
        .env("CRICKET_TOOLS_DIR", setup::tools_dir())
        .current_dir(crate::workspace_root());
    let result = run_checked(test);
    drop(broker);
    result
}
