//! What the end-to-end tests share: private topics on the test broker, stream-stats as a real
//! process (so it can be killed with SIGKILL), ingest in process, and the real matches with
//! their expected scorecards.

#![allow(dead_code, unreachable_pub)]

pub use testkit::*;

use std::ops::{Deref, DerefMut};

/// stream-stats as a child process on the test's private topics.
pub struct Stats(Service);

impl Stats {
    pub async fn start(topics: &Topics) -> Stats {
        Stats::start_with(topics, &[]).await
    }

    /// With `extra` settings on top of the tests' usual ones.
    pub async fn start_with(topics: &Topics, extra: &[(&str, &str)]) -> Stats {
        let log = std::env::temp_dir().join(format!("{}-stats.log", unique(&topics.group)));
        let env = [
            ("KAFKA_BROKERS", brokers()),
            ("STATS_EVENTS_TOPIC", topics.events.clone()),
            ("STATS_SNAPSHOT_TOPIC", topics.snapshots.clone()),
            ("STATS_DLQ_TOPIC", topics.dlq.clone()),
            ("STATS_GROUP", topics.group.clone()),
            ("STATS_SNAPSHOT_INTERVAL_MS", "200".to_owned()),
            ("STATS_WS_BUFFER", "16".to_owned()),
        ];
        let env: Vec<(&str, String)> = env
            .into_iter()
            .chain(extra.iter().map(|(k, v)| (*k, (*v).to_owned())))
            .collect();
        Stats(
            Service::start(
                "stream-stats",
                env!("CARGO_BIN_EXE_stream-stats"),
                "STATS_LISTEN",
                &env,
                log,
            )
            .await,
        )
    }
}

impl Deref for Stats {
    type Target = Service;

    fn deref(&self) -> &Service {
        &self.0
    }
}

impl DerefMut for Stats {
    fn deref_mut(&mut self) -> &mut Service {
        &mut self.0
    }
}
