//! `cargo xtask demo`: the platform on this machine. Builds the services, starts the broker
//! and ingest, and has the simulator play synthetic matches and replay real ones through
//! ingest; a live table of every match (folded from `match-events` by the same scoring engine
//! the services use) shows it all moving. One Ctrl-C stops everything.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use cricket::{Event, Scoreboard};
use platform::kafka;
use platform::local_broker::Storage;
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};

use crate::process::{Running, port_in_use, run_checked};
use crate::{data_dir, say, setup, workspace_root};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Synthetic matches to play.
    #[arg(long, default_value_t = 4)]
    matches: usize,
    /// Real Cricsheet matches to replay (default: two famous finishes from data/cricsheet).
    #[arg(long, num_args = 1..)]
    replay: Vec<PathBuf>,
    /// Speed: a factor of real time (1 = a ball every 40 s) or `max`.
    #[arg(long, default_value = "100")]
    speed: String,
}

const INGEST_PORT: u16 = 8081;

pub(crate) async fn run(args: Args) -> Result<()> {
    setup::ensure(false)?;
    for port in [9092, INGEST_PORT] {
        if port_in_use(port) {
            bail!("port {port} is in use: stop whatever holds it (another demo?) first");
        }
    }
    say("building the services");
    let mut build = Command::new(env!("CARGO"));
    build
        .args(["build", "--quiet", "-p", "ingest", "-p", "simulator"])
        .current_dir(workspace_root());
    run_checked(build)?;
    let bin = binary_dir();

    let broker = crate::broker::start(9092, Storage::Memory).await?;
    say(format!("broker ready on {}", broker.brokers()));

    let logs = data_dir().join("logs");
    let token = format!("demo-{}-{}", std::process::id(), kafka::now_ms());
    let mut ingest = Command::new(bin.join("ingest"));
    ingest
        .env("INGEST_TOKEN", &token)
        .env("KAFKA_BROKERS", broker.brokers());
    let mut ingest = Running::spawn("ingest", ingest, Some(&logs.join("ingest.log")))?;
    ingest.wait_for_port(
        ([127, 0, 0, 1], INGEST_PORT).into(),
        Duration::from_secs(30),
    )?;
    say(format!(
        "ingest on http://127.0.0.1:{INGEST_PORT} (logs in {})",
        logs.display()
    ));

    let replays = if args.replay.is_empty() {
        ["1144530.json", "1216517.json"]
            .map(|file| workspace_root().join("data/cricsheet").join(file))
            .to_vec()
    } else {
        args.replay.clone()
    };
    let mut synthetic = Command::new(bin.join("simulator"));
    synthetic
        .args([
            "run",
            "--matches",
            &args.matches.to_string(),
            "--speed",
            &args.speed,
        ])
        .env("INGEST_TOKEN", &token);
    let mut replay = Command::new(bin.join("simulator"));
    replay
        .args(["replay", "--speed", &args.speed])
        .args(&replays)
        .env("INGEST_TOKEN", &token);
    let _synthetic = Running::spawn(
        "simulator run",
        synthetic,
        Some(&logs.join("simulator-run.log")),
    )?;
    let _replay = Running::spawn(
        "simulator replay",
        replay,
        Some(&logs.join("simulator-replay.log")),
    )?;
    say(format!(
        "playing {} synthetic and {} real matches at speed {}; Ctrl-C stops everything",
        args.matches,
        replays.len(),
        args.speed
    ));

    tokio::select! {
        result = follow(broker.brokers()) => result?,
        () = platform::shutdown::signal() => {}
    }
    ingest.stop(Duration::from_secs(10));
    drop(broker);
    say("demo stopped");
    Ok(())
}

/// Where cargo put the binaries built above.
fn binary_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace_root().join("target"), PathBuf::from)
        .join("debug")
}

/// Folds `match-events` into scoreboards and redraws a table of every match.
async fn follow(brokers: String) -> Result<()> {
    let group = format!("demo-table-{}", kafka::now_ms());
    let consumer: StreamConsumer = kafka::consumer_config(&brokers, &group).create()?;
    consumer
        .subscribe(&[kafka::MATCH_EVENTS])
        .context("subscribe")?;
    let mut boards: BTreeMap<String, Scoreboard> = BTreeMap::new();
    let terminal = std::io::stdout().is_terminal();
    let mut redraw = tokio::time::interval(Duration::from_millis(500));
    let mut changed = false;
    loop {
        tokio::select! {
            message = consumer.recv() => {
                let message = message?;
                let Some(event) = message.payload().and_then(|p| serde_json::from_slice::<Event>(p).ok()) else {
                    continue;
                };
                let board = boards
                    .entry(event.match_id.clone())
                    .or_insert_with(|| Scoreboard::new(event.match_id.clone()));
                if board.apply(&event).is_ok() {
                    changed = true;
                }
            }
            _ = redraw.tick() => {
                if changed {
                    draw(&boards, terminal);
                    changed = false;
                }
            }
        }
    }
}

fn draw(boards: &BTreeMap<String, Scoreboard>, terminal: bool) {
    let mut out = String::new();
    if terminal {
        out.push_str("\x1b[2J\x1b[H");
    }
    out.push_str(&format!("{:<10} {:<52} {}\n", "match", "score", "status"));
    for board in boards.values() {
        let score = board
            .innings
            .iter()
            .map(|i| {
                let marker = if i.super_over { " SO" } else { "" };
                format!(
                    "{} {}/{} ({}){marker}",
                    short(&i.batting_team),
                    i.runs,
                    i.wickets,
                    i.overs()
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let live = if board.is_live() { "●" } else { " " };
        out.push_str(&format!(
            "{live}{:<9} {:<52} {}\n",
            board.match_id,
            truncate(&score, 52),
            board.status()
        ));
    }
    print!("{out}");
}

/// "Chennai Super Kings" -> "CSK"; single words stay.
fn short(team: &str) -> String {
    let words: Vec<&str> = team.split_whitespace().collect();
    if words.len() < 2 {
        return team.to_owned();
    }
    words.iter().filter_map(|w| w.chars().next()).collect()
}

fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_owned()
    } else {
        let cut: String = text.chars().take(width - 1).collect();
        format!("{cut}…")
    }
}
