use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Parser, Subcommand, ValueEnum};
use cricket::event::Format;
use platform::kafka;
use platform::telemetry::LogFormat;
use simulator::send::{self, SendOptions, Sink, Speed};

/// Cricket match simulator: synthetic matches and real replays, sent to the ingest API.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Log format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Play N synthetic matches concurrently and send them.
    Run {
        /// How many matches to play at once.
        #[arg(long, env = "SIM_MATCHES", default_value_t = 4)]
        matches: usize,
        #[arg(long, env = "SIM_FORMAT", value_enum, default_value_t = FormatArg::T20)]
        format: FormatArg,
        /// Speed: a factor of real time (1 = a ball every 40 s) or `max`.
        #[arg(long, env = "SIM_SPEED", default_value = "60")]
        speed: Speed,
        /// Seed: the same seed plays the same matches.
        #[arg(long, env = "SIM_SEED", default_value_t = 1)]
        seed: u64,
        /// Match ids are `<prefix><seed>-<n>`.
        #[arg(long, env = "SIM_ID_PREFIX", default_value = "sim-")]
        id_prefix: String,
        #[command(flatten)]
        sink: SinkArgs,
    },
    /// Replay real Cricsheet matches (match id = file stem, after any prefix).
    Replay {
        /// Cricsheet JSON files (comma-separated in the environment variable).
        #[arg(required = true, env = "SIM_REPLAY_FILES", value_delimiter = ',')]
        files: Vec<PathBuf>,
        /// Speed: a factor of real time (1 = a ball every 40 s) or `max`.
        #[arg(long, env = "SIM_SPEED", default_value = "max")]
        speed: Speed,
        #[arg(long, env = "SIM_ID_PREFIX", default_value = "")]
        id_prefix: String,
        #[command(flatten)]
        sink: SinkArgs,
    },
    /// Send NDJSON files of events as fast as the sink takes them, then print a JSON report
    /// (events/s, request latency): the ingest benchmark drives both its runs with this.
    Send {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[command(flatten)]
        sink: SinkArgs,
    },
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

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FormatArg {
    T20,
    Odi,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SinkKind {
    Ingest,
    Kafka,
}

#[derive(Debug, Args)]
struct SinkArgs {
    /// Where to send: the ingest API, or straight to Kafka (the benchmark baseline).
    #[arg(long, env = "SIM_SINK", value_enum, default_value_t = SinkKind::Ingest)]
    sink: SinkKind,
    /// Base URL of the ingest API.
    #[arg(long, env = "INGEST_URL", default_value = "http://127.0.0.1:8081")]
    ingest_url: String,
    /// Bearer token for the ingest API.
    #[arg(long, env = "INGEST_TOKEN", hide_env_values = true, default_value = "")]
    token: String,
    /// Kafka bootstrap servers (with `--sink kafka`).
    #[arg(long, env = "KAFKA_BROKERS", default_value = kafka::DEFAULT_BROKERS)]
    brokers: String,
    /// Topic (with `--sink kafka`).
    #[arg(long, env = "SIM_TOPIC", default_value = kafka::MATCH_EVENTS)]
    topic: String,
    /// Concurrent senders.
    #[arg(long, env = "SIM_LANES", default_value_t = 4)]
    lanes: usize,
    /// Most events per request.
    #[arg(long, env = "SIM_BATCH", default_value_t = 500)]
    batch: usize,
}

impl SinkArgs {
    fn sink(&self) -> Result<Sink> {
        Ok(match self.sink {
            SinkKind::Ingest => {
                anyhow::ensure!(
                    !self.token.is_empty(),
                    "--token (or INGEST_TOKEN) is needed to send to ingest"
                );
                Sink::Ingest {
                    url: self.ingest_url.clone(),
                    token: self.token.clone(),
                }
            }
            SinkKind::Kafka => Sink::Kafka {
                brokers: self.brokers.clone(),
                topic: self.topic.clone(),
            },
        })
    }

    fn options(&self, pace: f64) -> SendOptions {
        SendOptions {
            pace,
            lanes: self.lanes,
            batch: self.batch,
            progress: std::io::stderr().is_terminal(),
        }
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    platform::telemetry::init(cli.log_format);
    match cli.command {
        Command::Run {
            matches,
            format,
            speed,
            seed,
            id_prefix,
            sink,
        } => {
            let format = match format {
                FormatArg::T20 => Format::T20,
                FormatArg::Odi => Format::Odi,
            };
            let start = chrono::Utc::now();
            let games: Vec<_> = (0..matches)
                .map(|n| {
                    let id = format!("{id_prefix}{seed}-{}", n + 1);
                    simulator::synthetic::generate(
                        &id,
                        format,
                        seed.wrapping_mul(1000).wrapping_add(n as u64),
                        start,
                        speed.factor(),
                    )
                })
                .collect();
            tracing::info!(matches, ?format, ?speed, seed, "playing synthetic matches");
            // Synthetic event times are already compressed by the speed: pace them as written.
            let report = send::send(games, sink.sink()?, sink.options(1.0)).await?;
            tracing::info!(
                events = report.events,
                requests = report.requests,
                retries = report.retries,
                "all matches sent"
            );
        }
        Command::Replay {
            files,
            speed,
            id_prefix,
            sink,
        } => {
            let games = files
                .iter()
                .map(|file| simulator::replay::load(file, &id_prefix))
                .collect::<Result<Vec<_>>>()?;
            tracing::info!(matches = games.len(), ?speed, "replaying real matches");
            let report = send::send(games, sink.sink()?, sink.options(speed.factor())).await?;
            tracing::info!(
                events = report.events,
                requests = report.requests,
                retries = report.retries,
                "all matches sent"
            );
        }
        Command::Send { files, sink } => {
            let games = simulator::replay::load_ndjson(&files)?;
            let started = std::time::Instant::now();
            let report = send::send(games, sink.sink()?, sink.options(Speed::Max.factor())).await?;
            let seconds = started.elapsed().as_secs_f64();
            let summary = serde_json::json!({
                "events": report.events,
                "requests": report.requests,
                "retries": report.retries,
                "seconds": seconds,
                "events_per_s": report.events as f64 / seconds,
                "p50_ms": report.latency_quantile(0.5).as_secs_f64() * 1000.0,
                "p99_ms": report.latency_quantile(0.99).as_secs_f64() * 1000.0,
            });
            println!("{summary}");
        }
        Command::Scorecard { files } => {
            let mut out = BufWriter::new(std::io::stdout().lock());
            simulator::replay::print_scorecards(&files, &mut out)?;
            out.flush()?;
        }
        Command::Events { file, id_prefix } => {
            let mut out = BufWriter::new(std::io::stdout().lock());
            simulator::replay::print_events(&file, &id_prefix, &mut out)?;
            out.flush()?;
        }
    }
    Ok(())
}
