//! Ingest throughput against its own baseline, on one kind of broker in one run:
//!
//! - `direct_produce_events_per_s`: the events produced straight to Kafka by the release
//!   simulator (`send --sink kafka`: librdkafka, idempotent, `acks=all`): the ceiling.
//! - `ingest_events_per_s`: the same events, same tool, same lanes and batches of 500, through
//!   the release ingest binary over HTTP, each 202 waiting for the broker's acks.
//! - `ingest_ratio` = ingest / direct (goal ≥ 0.8), `ingest_p99_ms`: request latency.
//!
//! Events are the 20 real matches without commentary (about 250 bytes each), repeated under
//! fresh match ids until there are enough.

use anyhow::Result;
use platform::local_broker::{Storage, free_port};

use crate::stack::{Options, Stack, TOKEN};
use crate::{data_dir, say};

const TOTAL_EVENTS: usize = 200_000;
const BATCH: usize = 500;
const LANES: usize = 8;

pub(crate) async fn run() -> Result<Vec<(String, f64)>> {
    say("bench ingest: building the release binaries");
    crate::stack::build_release(&["ingest", "simulator"])?;

    let file = data_dir().join("bench-events.ndjson");
    let mean_bytes = super::write_real_events(&file, TOTAL_EVENTS, "bench")?;
    say(format!(
        "bench ingest: {TOTAL_EVENTS} events of {mean_bytes} bytes on average"
    ));

    // Each run gets a fresh broker so neither inherits the other's topic state.
    let broker = crate::broker::start(free_port()?, Storage::Memory).await?;
    let (lanes, batch) = (LANES.to_string(), BATCH.to_string());
    let pacing = ["--lanes", lanes.as_str(), "--batch", batch.as_str()];
    let brokers = broker.brokers();
    let direct = super::simulator_send(
        &file,
        &[
            &["--sink", "kafka", "--brokers", brokers.as_str()][..],
            &pacing,
        ]
        .concat(),
    )?;
    drop(broker);

    let stack = Stack::start(
        "bench/ingest",
        Options {
            quiet: true,
            ..Options::default()
        },
    )
    .await?;
    let url = stack.ingest_url();
    let via_ingest = super::simulator_send(
        &file,
        &[
            &[
                "--sink",
                "ingest",
                "--ingest-url",
                url.as_str(),
                "--token",
                TOKEN,
            ][..],
            &pacing,
        ]
        .concat(),
    )?;
    drop(stack);

    let rate = |report: &serde_json::Value| report["events_per_s"].as_f64().unwrap_or(0.0);
    Ok(vec![
        ("direct_produce_events_per_s".to_owned(), rate(&direct)),
        ("ingest_events_per_s".to_owned(), rate(&via_ingest)),
        (
            "ingest_ratio".to_owned(),
            rate(&via_ingest) / rate(&direct).max(1.0),
        ),
        (
            "ingest_p99_ms".to_owned(),
            via_ingest["p99_ms"].as_f64().unwrap_or(0.0),
        ),
        (
            "direct_produce_p99_ms".to_owned(),
            direct["p99_ms"].as_f64().unwrap_or(0.0),
        ),
    ])
}
