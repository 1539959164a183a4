//! `cargo xtask demo`: the platform on this machine. Builds the services and the dashboard,
//! starts the broker, ingest, stream-stats, the warehouse and the web server, and has the
//! simulator play synthetic matches and replay real ones through ingest. The dashboard is at
//! http://127.0.0.1:3000; the terminal shows a live table of every match too. One Ctrl-C
//! stops everything.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{Result, bail};
use cricket::MatchSummary;
use platform::local_broker::Storage;

use crate::process::{Profile, Running, binary, cargo_build, port_in_use};
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
const STATS_PORT: u16 = 8082;
const WAREHOUSE_PORT: u16 = 8083;
const WEB_PORT: u16 = 3000;

pub(crate) async fn run(args: Args) -> Result<()> {
    setup::ensure(false)?;
    for port in [9092, INGEST_PORT, STATS_PORT, WAREHOUSE_PORT, WEB_PORT] {
        if port_in_use(port) {
            bail!("port {port} is in use: stop whatever holds it (another demo?) first");
        }
    }
    say("building the services");
    cargo_build(crate::process::ALL_BINARIES, Profile::Debug)?;
    crate::web::build(true)?;

    let broker = crate::broker::start(9092, Storage::Memory).await?;
    say(format!("broker ready on {}", broker.brokers()));

    let logs = data_dir().join("logs");
    // A fresh secret each run, known only to this process and its children: ingest listens on
    // 127.0.0.1, but other local users should not be able to write events either.
    let token = random_token()?;
    let mut ingest = Command::new(binary("ingest", Profile::Debug));
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
    let mut stats = Command::new(binary("stream-stats", Profile::Debug));
    stats.env("KAFKA_BROKERS", broker.brokers());
    let mut stats = Running::spawn("stream-stats", stats, Some(&logs.join("stream-stats.log")))?;
    stats.wait_for_port(([127, 0, 0, 1], STATS_PORT).into(), Duration::from_secs(30))?;
    say(format!(
        "stream-stats on http://127.0.0.1:{STATS_PORT}: /v1/matches, /v1/matches/{{id}}, /v1/ws"
    ));
    // The demo broker keeps nothing between runs, so neither does the demo's warehouse: its
    // stored Kafka offsets would point into a log that no longer exists.
    let database = data_dir().join("demo-warehouse.duckdb");
    let _ = std::fs::remove_file(&database);
    let _ = std::fs::remove_file(database.with_extension("duckdb.wal"));
    let mut warehouse = Command::new(binary("warehouse", Profile::Debug));
    warehouse
        .env("KAFKA_BROKERS", broker.brokers())
        .env("WAREHOUSE_DB", &database);
    let mut warehouse = Running::spawn("warehouse", warehouse, Some(&logs.join("warehouse.log")))?;
    warehouse.wait_for_port(
        ([127, 0, 0, 1], WAREHOUSE_PORT).into(),
        Duration::from_secs(60),
    )?;
    say(format!(
        "warehouse on http://127.0.0.1:{WAREHOUSE_PORT}: POST /v1/sql, /v1/tables, /v1/matches/{{id}}/scorecard; file {}",
        database.display()
    ));

    let mut web = Command::new(binary("web", Profile::Debug));
    web.env("WEB_SITE_ROOT", crate::web::site_root());
    let mut web = Running::spawn("web", web, Some(&logs.join("web.log")))?;
    web.wait_for_port(([127, 0, 0, 1], WEB_PORT).into(), Duration::from_secs(30))?;

    let replays = if args.replay.is_empty() {
        ["1144530.json", "1216517.json"]
            .map(|file| workspace_root().join("data/cricsheet").join(file))
            .to_vec()
    } else {
        args.replay.clone()
    };
    let mut synthetic = Command::new(binary("simulator", Profile::Debug));
    synthetic
        .args([
            "run",
            "--matches",
            &args.matches.to_string(),
            "--speed",
            &args.speed,
        ])
        .env("INGEST_TOKEN", &token);
    let mut replay = Command::new(binary("simulator", Profile::Debug));
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
    say(format!(
        "\x1b[1mthe dashboard: http://127.0.0.1:{WEB_PORT}\x1b[0m"
    ));

    tokio::select! {
        result = follow() => result?,
        () = platform::shutdown::signal() => {}
    }
    ingest.stop(Duration::from_secs(10));
    stats.stop(Duration::from_secs(10));
    warehouse.stop(Duration::from_secs(10));
    web.stop(Duration::from_secs(10));
    drop(broker);
    say("demo stopped");
    Ok(())
}

/// 128 bits from the kernel, as hex.
fn random_token() -> Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(format!(
        "demo-{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    ))
}

/// Redraws a table of every match from stream-stats' `GET /v1/matches`.
async fn follow() -> Result<()> {
    let terminal = std::io::stdout().is_terminal();
    let url = format!("http://127.0.0.1:{STATS_PORT}/v1/matches");
    let http = reqwest::Client::new();
    let mut last = String::new();
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let Ok(response) = http.get(&url).send().await else {
            continue;
        };
        let Ok(matches) = response.json::<Vec<MatchSummary>>().await else {
            continue;
        };
        let table = table(&matches);
        if table != last {
            if terminal {
                print!("\x1b[2J\x1b[H");
            }
            println!("Dashboard: http://127.0.0.1:{WEB_PORT}   (Ctrl-C stops everything)\n");
            print!("{table}");
            last = table;
        }
    }
}

fn table(matches: &[MatchSummary]) -> String {
    let mut out = format!("{:<10} {:<52} {}\n", "match", "score", "status");
    for summary in matches {
        let score = summary
            .scores
            .iter()
            .map(|s| {
                let marker = if s.super_over { " SO" } else { "" };
                format!(
                    "{} {}/{} ({}){marker}",
                    short(&s.team),
                    s.runs,
                    s.wickets,
                    s.overs
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let live = if summary.live { "●" } else { " " };
        out.push_str(&format!(
            "{live}{:<9} {:<52} {}\n",
            summary.match_id,
            truncate(&score, 52),
            summary.status
        ));
    }
    out
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
