//! `cargo xtask`: the one entry point for working on the platform.
//!
//! - `setup`: installs what the platform needs, skipping what is present.
//! - `broker`: runs the local Kafka-protocol broker (Nisshi) with the platform's topics.
//! - `test`: every test of the workspace against a real broker.
//! - `demo`: the platform running on this machine.
//! - `bench`: the benchmark report.
//! - `chaos`: the reliability and security suite.
//! - `docs`: the configuration reference, generated from the binaries' help.
//!
//! Each subcommand lives in its own module; [`process`] holds the child-process handling they
//! share (start, wait for a port, stop on drop).

mod bench;
mod broker;
mod chaos;
mod demo;
mod docs;
mod process;
mod setup;
mod stack;
mod test;
mod web;

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(about = "Run, test and benchmark the cricket platform")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Install what the platform needs (skips what is present).
    Setup(setup::Args),
    /// Run the local broker in the foreground with the platform's topics.
    Broker(broker::Args),
    /// Run every test of the workspace, starting the broker they need.
    Test(test::Args),
    /// Run the platform: broker, services and simulated matches.
    Demo(demo::Args),
    /// Run the benchmarks and print the report.
    Bench(bench::Args),
    /// Run the reliability and security suite against real processes.
    Chaos(chaos::Args),
    /// Regenerate (or `--check`) the configuration reference from the binaries' help.
    Docs(docs::Args),
    /// Build the dashboard's browser code (wasm) into the site folder.
    Web(web::Args),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            // `{:#}` prints the whole context chain on one line, without a backtrace.
            eprintln!("\x1b[1;31mxtask error\x1b[0m {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        match cli.command {
            Command::Setup(args) => setup::run(&args),
            Command::Broker(args) => broker::run(args).await,
            Command::Test(args) => test::run(args).await,
            Command::Demo(args) => demo::run(args).await,
            Command::Bench(args) => bench::run(&args).await,
            Command::Chaos(args) => chaos::run(&args).await,
            Command::Docs(args) => docs::run(&args),
            Command::Web(args) => web::run(&args),
        }
    })
}

/// The workspace root (the folder holding the top-level Cargo.toml).
pub(crate) fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), PathBuf::from)
}

/// Where run-time state (broker storage, DuckDB files, logs) goes: `.data/` in the workspace.
pub(crate) fn data_dir() -> PathBuf {
    std::env::var_os("CRICKET_DATA_DIR")
        .map_or_else(|| workspace_root().join(".data"), PathBuf::from)
}

/// Prints a step of the runner's progress, visibly apart from tool output.
pub(crate) fn say(message: impl std::fmt::Display) {
    eprintln!("\x1b[1;36mxtask\x1b[0m {message}");
}
