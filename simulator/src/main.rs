use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// Cricket match simulator: replays real matches and generates synthetic ones.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print each Cricsheet file's canonical scorecard as one JSON line.
    Scorecard {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print a Cricsheet match as the NDJSON events the simulator would send to ingest.
    Events {
        file: PathBuf,
        /// Prefix for the match id (default: the file stem alone).
        #[arg(long, default_value = "")]
        id_prefix: String,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    match cli.command {
        Command::Scorecard { files } => simulator::replay::print_scorecards(&files, &mut out)?,
        Command::Events { file, id_prefix } => {
            simulator::replay::print_events(&file, &id_prefix, &mut out)?
        }
    }
    out.flush()?;
    Ok(())
}
