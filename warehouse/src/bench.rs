//! `warehouse bench-append` (hidden): the baseline of the loader benchmark.
//!
//! It turns an NDJSON file of events into exactly the rows the loader would write (raw and
//! modelled, in batches of the loader's size) before starting the clock, then times only
//! the DuckDB transactions that append them. `cargo xtask bench` compares the loader's
//! Kafka-to-DuckDB rate with this rate, measured on the same machine in the same run.

use std::hash::{Hash, Hasher};
use std::io::BufRead;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};

use crate::db;
use crate::model::{Record, SeqTracker, decode};
use crate::store::{self, Batch, EventRow};

/// Appends the events of `file` into a fresh database at `db_path`; returns the JSON report.
pub fn append(file: &Path, db_path: &Path, batch_size: usize) -> Result<serde_json::Value> {
    let _ = std::fs::remove_file(db_path);
    let _ = std::fs::remove_file(db_path.with_extension("duckdb.wal"));
    let mut conn = db::open(db_path, "4GB")?;
    let reader = std::io::BufReader::new(
        std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?,
    );
    let prepared = Instant::now();
    let mut tracker = SeqTracker::default();
    let mut batches = vec![Batch::default()];
    let mut offsets = [0i64; platform::kafka::MATCH_PARTITIONS as usize];
    let now = platform::kafka::now_ms();
    for line in reader.lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let match_id = serde_json::from_str::<serde_json::Value>(&line)?["match_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        match_id.hash(&mut hasher);
        let partition = (hasher.finish() % offsets.len() as u64) as usize;
        let offset = offsets[partition];
        offsets[partition] += 1;
        let record = Record {
            key: Some(match_id.as_bytes()),
            payload: Some(line.as_bytes()),
            ingest_time_ms: Some(now),
        };
        let decoded = decode(&record).map_err(anyhow::Error::msg)?;
        let duplicate = !tracker.observe(&decoded.event.match_id, decoded.event.seq);
        let Some(batch) = batches.last_mut() else {
            continue;
        };
        batch.push_event(EventRow {
            partition: partition as i32,
            offset,
            ingest_time_ms: Some(now),
            duplicate,
            decoded,
        });
        if batch.records() >= batch_size {
            batches.push(Batch::default());
        }
    }
    let prepare_seconds = prepared.elapsed().as_secs_f64();
    let rows: usize = batches.iter().map(Batch::records).sum();

    let started = Instant::now();
    for (id, batch) in batches.iter().enumerate() {
        if !batch.is_empty() {
            store::write(&mut conn, "bench", batch, id as i64 + 1, now)?;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let modelled: i64 = conn.query_row(
        &format!(
            "SELECT {}",
            [
                "matches",
                "innings_started",
                "innings_ended",
                "deliveries",
                "results"
            ]
            .map(|t| format!("(SELECT count(*) FROM {t})"))
            .join(" + ")
        ),
        [],
        |row| row.get(0),
    )?;
    Ok(serde_json::json!({
        "rows": rows,
        "modelled_events": modelled,
        "seconds": seconds,
        "rows_per_s": rows as f64 / seconds.max(1e-9),
        "prepare_seconds": prepare_seconds,
    }))
}
