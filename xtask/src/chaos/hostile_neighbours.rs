//! `hostile_neighbours`: the SQL attacks that cost the most (memory bombs, hour-long scans,
//! huge answers, more queries than permits) run without pause while the 20 real matches
//! replay. The live side and the warehouse must not notice: every scorecard exact from
//! stream-stats and from the warehouse, and the warehouse's freshness p99 under a second
//! while the attack runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use serde_json::json;

use super::Outcome;
use super::cases::replay_all;
use crate::stack::{Options, Stack, peak_rss_kib};

/// Queries the attackers cycle through.
const ATTACKS: &[&str] = &[
    "SELECT len(repeat('x', 1500000000))",
    "SELECT len(range(300000000))",
    "SELECT length(string_agg(repeat('y', 1000000), '')) FROM range(3000)",
    "SELECT count(*) FROM range(1000000000000)",
    "SELECT sum(a.range * b.range) FROM range(10000000) a, range(10000000) b",
    "SELECT * FROM range(1000000000)",
    "SELECT repeat('x', 100000) FROM range(100000)",
    "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t) SELECT count(*) FROM t",
    "SELECT range FROM range(60000000) ORDER BY random() LIMIT 10",
];

/// Attackers at once: more than the replica's permits, so some are always refused.
const ATTACKERS: usize = 6;

pub(super) async fn run() -> Outcome {
    let stack = Stack::start(
        "chaos/hostile_neighbours",
        Options {
            stream_stats: true,
            warehouse: true,
            ..Options::default()
        },
    )
    .await?;
    let warehouse_pid = stack
        .warehouse
        .as_ref()
        .map(|w| w.pid())
        .context("warehouse")?;
    let peak_before = peak_rss_kib(warehouse_pid)?;
    let before = freshness_buckets(&stack).await?;

    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let mut attackers = Vec::new();
    for n in 0..ATTACKERS {
        let (url, stop, sent) = (stack.warehouse_url("/v1/sql"), stop.clone(), sent.clone());
        attackers.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut statuses = Vec::new();
            let mut i = n;
            while !stop.load(Ordering::Relaxed) {
                let sql = ATTACKS[i % ATTACKS.len()];
                i += 1;
                let status = match http.post(&url).json(&json!({ "sql": sql })).send().await {
                    // Read (and drop) the answer, as a client would.
                    Ok(response) => {
                        let status = response.status().as_u16();
                        let _ = response.bytes().await;
                        status
                    }
                    Err(_) => 0,
                };
                sent.fetch_add(1, Ordering::Relaxed);
                statuses.push(status);
                if status == 503 || status == 429 || status == 0 {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            statuses
        }));
    }

    let mut replay = replay_all(&stack)?;
    replay.simulator.wait_success(Duration::from_secs(240))?;
    // The loads have caught up once stream-stats and the warehouse score every match.
    stack
        .expect_scorecards(&replay.want, Duration::from_secs(60))
        .await
        .context("stream-stats under attack")?;
    stack
        .expect_scorecards_at(
            &stack.warehouse_url(""),
            &replay.want,
            Duration::from_secs(60),
        )
        .await
        .context("the warehouse under attack")?;
    stop.store(true, Ordering::Relaxed);
    let mut statuses = Vec::new();
    for attacker in attackers {
        statuses.extend(attacker.await.unwrap_or_default());
    }
    let server_errors = statuses.iter().filter(|s| **s >= 500 && **s != 503).count();
    ensure!(
        server_errors == 0,
        "{server_errors} attacks got a 5xx: {statuses:?}"
    );

    let after = freshness_buckets(&stack).await?;
    let (p99, batches) = p99_of_difference(&before, &after);
    ensure!(batches > 0, "no batch committed during the attack");
    ensure!(
        p99 <= 1.0,
        "warehouse freshness p99 {p99} s during the attack ({batches} batches)"
    );
    let rise_mib = peak_rss_kib(warehouse_pid)?.saturating_sub(peak_before) as f64 / 1024.0;
    ensure!(
        rise_mib < 1024.0,
        "the warehouse's peak memory rose by {rise_mib:.0} MiB"
    );
    let refused = statuses.iter().filter(|s| (400..500).contains(*s)).count();
    Ok(format!(
        "{} matches replayed while {ATTACKERS} attackers sent {} bomb/scan/huge queries ({refused} \
         refused or stopped with 4xx, {} answered within the caps, {} while the replica \
         restarted): every scorecard exact from stream-stats and the warehouse, warehouse \
         freshness p99 <= {p99} s over {batches} batches, warehouse peak memory +{rise_mib:.0} MiB",
        replay.want.len(),
        sent.load(Ordering::Relaxed),
        statuses.iter().filter(|s| **s == 200).count(),
        statuses.iter().filter(|s| **s == 503).count(),
    ))
}

/// The warehouse's freshness histogram: (upper bound in seconds, cumulative count).
async fn freshness_buckets(stack: &Stack) -> Result<Vec<(f64, f64)>> {
    let text = reqwest::get(stack.warehouse_url("/metrics"))
        .await?
        .text()
        .await?;
    let mut buckets = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("warehouse_freshness_seconds_bucket{le=\"") else {
            continue;
        };
        let Some((bound, count)) = rest.split_once("\"} ") else {
            continue;
        };
        let bound = if bound == "+Inf" {
            f64::INFINITY
        } else {
            bound.parse()?
        };
        buckets.push((bound, count.trim().parse()?));
    }
    Ok(buckets)
}

/// The 99th percentile of what was recorded between two readings, as the upper bound of
/// the bucket it falls in (so it never flatters), and how many were recorded.
fn p99_of_difference(before: &[(f64, f64)], after: &[(f64, f64)]) -> (f64, u64) {
    let counts: Vec<(f64, f64)> = after
        .iter()
        .map(|(bound, count)| {
            let earlier = before
                .iter()
                .find(|(b, _)| b == bound)
                .map_or(0.0, |(_, c)| *c);
            (*bound, count - earlier)
        })
        .collect();
    let total = counts.last().map_or(0.0, |(_, c)| *c);
    let wanted = total * 0.99;
    let p99 = counts
        .iter()
        .find(|(_, c)| *c >= wanted)
        .map_or(f64::INFINITY, |(bound, _)| *bound);
    (p99, total as u64)
}
