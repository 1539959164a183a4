//! `cargo xtask demo`: the platform on this machine. Starts the broker, replays a real match
//! into `match-events` at `--speed`, and follows the topic like a live-stats consumer would,
//! folding each event into a scoreboard and printing it as it changes. Ctrl-C stops it all.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use cricket::{Event, Scoreboard, cricsheet};
use platform::kafka;
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};

use platform::local_broker::Storage;

use crate::process::port_in_use;
use crate::{say, setup};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Cricsheet file to replay (default: the 2023 IPL final).
    #[arg(long)]
    replay: Option<PathBuf>,
    /// Replay speed: 1 is real time (40 s a ball), 100 is a T20 in under 3 minutes.
    #[arg(long, default_value_t = 100.0)]
    speed: f64,
}

pub(crate) async fn run(args: Args) -> Result<()> {
    setup::ensure(false)?;
    if port_in_use(9092) {
        anyhow::bail!("port 9092 is in use: stop the other broker (or demo) first");
    }
    let broker = crate::broker::start(9092, Storage::Memory).await?;
    say(format!("broker ready on {}", broker.brokers()));

    let file = args
        .replay
        .unwrap_or_else(|| crate::workspace_root().join("data/cricsheet/1370353.json"));
    let match_id = file
        .file_stem()
        .and_then(|stem| stem.to_str())
        .context("replay file needs a name")?
        .to_owned();
    let bytes = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
    let events = cricsheet::import(&match_id, &file.display().to_string(), &bytes)?;
    say(format!(
        "replaying match {match_id} ({} events) at {}x",
        events.len(),
        args.speed
    ));

    let follower = follow(broker.brokers(), match_id.clone(), events.len());
    let replay = produce(broker.brokers(), events, args.speed);
    tokio::select! {
        result = async { tokio::try_join!(replay, follower) } => { result?; say("match over: Ctrl-C to stop"); platform::shutdown::signal().await; }
        () = platform::shutdown::signal() => {}
    }
    drop(broker);
    say("demo stopped");
    Ok(())
}

/// Sends the events to `match-events`, spaced by their event times divided by `speed`.
async fn produce(brokers: String, events: Vec<Event>, speed: f64) -> Result<()> {
    let producer: FutureProducer = kafka::producer_config(&brokers).create()?;
    for (index, event) in events.iter().enumerate() {
        if let Some(previous) = index.checked_sub(1).and_then(|i| events.get(i)) {
            let gap = (event.time - previous.time)
                .to_std()
                .unwrap_or(Duration::ZERO);
            tokio::time::sleep(gap.div_f64(speed.max(0.001)).min(Duration::from_secs(5))).await;
        }
        let payload = serde_json::to_vec(event)?;
        let now = kafka::now_ms().to_string();
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: kafka::header::SCHEMA_VERSION,
                value: Some("1"),
            })
            .insert(Header {
                key: kafka::header::INGEST_TIME_MS,
                value: Some(now.as_str()),
            });
        let record = FutureRecord::to(kafka::MATCH_EVENTS)
            .key(event.match_id.as_bytes())
            .payload(&payload)
            .headers(headers);
        producer
            .send(record, Duration::from_secs(10))
            .await
            .map_err(|(err, _)| anyhow::anyhow!("produce failed: {err}"))?;
    }
    Ok(())
}

/// Consumes the topic and prints the scoreboard after every event of `match_id`.
async fn follow(brokers: String, match_id: String, expected: usize) -> Result<()> {
    let consumer: StreamConsumer = kafka::consumer_config(&brokers, "demo-follower").create()?;
    consumer.subscribe(&[kafka::MATCH_EVENTS])?;
    let mut board = Scoreboard::new(match_id);
    while (board.last_seq as usize) < expected {
        let message = consumer.recv().await?;
        let Some(payload) = message.payload() else {
            continue;
        };
        let event: Event = match serde_json::from_slice(payload) {
            Ok(event) => event,
            Err(err) => {
                say(format!("skipping undecodable record: {err}"));
                continue;
            }
        };
        if event.match_id != board.match_id {
            continue;
        }
        board.apply(&event)?;
        println!("{}", render(&board));
    }
    Ok(())
}

/// One terminal line: score, batters, bowler, status.
fn render(board: &Scoreboard) -> String {
    let Some(innings) = board.current_innings() else {
        return board.status();
    };
    let bpo = innings.balls_per_over;
    let batters: Vec<String> = innings
        .at_crease()
        .map(|b| format!("{} {}({})", b.name, b.runs, b.balls))
        .collect();
    let bowler = innings
        .current_bowler
        .and_then(|i| innings.bowlers.get(i))
        .map(|b| format!("{} {}-{} ({})", b.name, b.wickets, b.runs, b.overs(bpo)))
        .unwrap_or_default();
    let last: Vec<String> = innings
        .recent
        .iter()
        .rev()
        .take(6)
        .rev()
        .map(|ball| ball.label())
        .collect();
    format!(
        "{:<24} {:>3}/{:<2} ({:>4} ov) | {:<40} | {:<28} | {:<22} | {}",
        innings.batting_team,
        innings.runs,
        innings.wickets,
        innings.overs().to_string(),
        batters.join("  "),
        bowler,
        last.join(" "),
        board.status()
    )
}
