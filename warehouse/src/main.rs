//! The `warehouse` binary: parses the command line and runs the server or a file command;
//! everything it does is a function of the library.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;
use warehouse::{Cli, Command};

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // The whole context chain on one line, without a backtrace.
            eprintln!("warehouse: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        None => serve(cli.serve).await,
        Some(Command::Serve(config)) => serve(config).await,
        Some(Command::Query { sql, db, format }) => {
            let mut out = std::io::stdout().lock();
            warehouse::cli::query(&db, &sql, format, &mut out)?;
            out.flush()?;
            Ok(())
        }
        Some(Command::Export { parquet, db }) => {
            for (table, rows) in warehouse::cli::export(&db, &parquet)? {
                println!("{table:<16} {rows:>12} rows");
            }
            println!("written to {}", parquet.display());
            Ok(())
        }
        Some(Command::SqlReplica(args)) => {
            platform::telemetry::init(args.log_format);
            warehouse::sql::replica::limit_this_process(&args)?;
            let result = warehouse::sql::replica::run(args).await;
            // End now, not when the runtime drops: dropping it waits for blocking threads,
            // and a user query DuckDB does not stop at its interrupt (seen: a replica
            // orphaned by a killed warehouse kept running one) would keep the process alive.
            // Everything a replica holds is disposable or already committed.
            std::process::exit(match result {
                Ok(()) => 0,
                Err(err) => {
                    eprintln!("warehouse sql-replica: {err:#}");
                    1
                }
            })
        }
        Some(Command::BenchAppend { file, db, batch }) => {
            println!("{}", warehouse::bench::append(&file, &db, batch)?);
            Ok(())
        }
    }
}

async fn serve(config: warehouse::Config) -> Result<()> {
    platform::telemetry::init(config.log_format);
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    warehouse::run(config, listener, platform::shutdown::signal()).await
}
