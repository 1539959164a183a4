//! The warehouse end to end: the real broker, ingest, and the warehouse as a real process on
//! a real DuckDB file.
//!
//! Needs `KAFKA_BROKERS`: `cargo xtask test` starts a broker and sets it.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use common::{Ingest, Topics, Warehouse, expected, real_matches};
use cricket::{Event, Scoreboard};
use platform::kafka;
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Headers;
use serde_json::{Value, json};

const SETTLE: Duration = Duration::from_secs(60);

/// Rows in the modelled tables that stand for one event each.
const MODELLED_EVENTS: &str =
    "SELECT (SELECT count(*) FROM matches) + (SELECT count(*) FROM innings_started)
     + (SELECT count(*) FROM innings_ended) + (SELECT count(*) FROM deliveries)
     + (SELECT count(*) FROM results)";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_twenty_real_matches_replayed_through_ingest_give_the_expected_scorecards() {
    let topics = Topics::create().await;
    let warehouse = Warehouse::start(&topics).await;
    let ingest = Ingest::start(&topics.events).await;
    let matches = real_matches();
    let events: usize = matches.iter().map(|(_, e)| e.len()).sum();
    ingest
        .send(matches.iter().map(|(_, e)| e.clone()).collect())
        .await;
    warehouse.assert_scorecards(&expected(), SETTLE).await;
    // SQL is answered by the warehouse's replica, which loads the same topic on its own and
    // may trail the scorecards a little: wait for it rather than race it.
    warehouse
        .wait_for_count("SELECT count(*) FROM events", events as i64, SETTLE)
        .await;
    assert_eq!(warehouse.count(MODELLED_EVENTS).await, events as i64);

    // The innings_totals view agrees with the canonical scorecards.
    let totals = warehouse
        .sql("SELECT match_id, innings, runs, wickets, legal_balls FROM innings_totals")
        .await;
    assert_eq!(
        totals.len(),
        expected()
            .values()
            .map(|card| card["innings"].as_array().map_or(0, Vec::len))
            .sum::<usize>()
    );
    for row in totals {
        let card = &expected()[row[0].as_str().expect("id")];
        let innings = &card["innings"][row[1].as_u64().expect("innings") as usize - 1];
        assert_eq!(
            (&row[2], &row[3], &row[4]),
            (
                &innings["runs"],
                &innings["wickets"],
                &innings["legal_balls"]
            ),
            "{row:?}"
        );
    }
    // So do the batting and bowling scorecard views, player by player.
    let batting = warehouse
        .sql("SELECT match_id, innings, batter, runs, balls, fours, sixes FROM batting_scorecard")
        .await;
    for row in &batting {
        let card = &expected()[row[0].as_str().expect("id")];
        let innings = &card["innings"][row[1].as_u64().expect("innings") as usize - 1];
        assert_eq!(
            innings["batters"][row[2].as_str().expect("name")],
            json!([row[3], row[4], row[5], row[6]]),
            "{row:?}"
        );
    }
    let bowling = warehouse
        .sql("SELECT match_id, innings, bowler, runs, wickets FROM bowling_scorecard")
        .await;
    for row in &bowling {
        let card = &expected()[row[0].as_str().expect("id")];
        let innings = &card["innings"][row[1].as_u64().expect("innings") as usize - 1];
        assert_eq!(
            innings["bowlers"][row[2].as_str().expect("name")],
            json!([row[3], row[4]]),
            "{row:?}"
        );
    }
    let players = |key: &str| -> usize {
        expected()
            .values()
            .flat_map(|card| card["innings"].as_array().cloned().unwrap_or_default())
            .map(|innings| innings[key].as_object().map_or(0, |o| o.len()))
            .sum()
    };
    assert_eq!(batting.len(), players("batters"));
    assert_eq!(bowling.len(), players("bowlers"));

    let unknown = reqwest::get(warehouse.url("/v1/matches/no-such-match/scorecard"))
        .await
        .expect("answer");
    assert_eq!(unknown.status(), 404);
    let body: Value = unknown.json().await.expect("json");
    assert_eq!(body["error"]["code"], "unknown_match");

    let tables: Value = reqwest::get(warehouse.url("/v1/tables"))
        .await
        .expect("tables")
        .json()
        .await
        .expect("json");
    let names: Vec<&str> = tables["tables"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    for name in [
        "events",
        "deliveries",
        "wickets",
        "batting_scorecard",
        "most_runs",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    assert!(warehouse.metric("warehouse_records_total").await >= events as f64);
}

/// The events of `count` synthetic T20 matches.
fn synthetic(count: usize, seed: u64) -> Vec<(String, Vec<Event>)> {
    let start = chrono::DateTime::parse_from_rfc3339("2024-03-01T14:00:00Z")
        .expect("time")
        .with_timezone(&chrono::Utc);
    (0..count)
        .map(|n| {
            let id = format!("kill9-{seed}-{n}");
            let events = simulator::synthetic::generate(
                &id,
                cricket::event::Format::T20,
                seed * 1000 + n as u64,
                start,
                1.0,
            );
            (id, events)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_a_long_load_loses_and_duplicates_nothing() {
    let topics = Topics::create().await;
    // Small batches: many commits, so the kills land between and inside them.
    let mut warehouse = Warehouse::start_with(
        &topics,
        &[
            ("WAREHOUSE_FLUSH_MAX_ROWS", "300"),
            ("WAREHOUSE_INSTANCE_ID", "kill9"),
        ],
    )
    .await;
    let matches = synthetic(120, 7);
    let distinct: usize = matches.iter().map(|(_, e)| e.len()).sum();
    // Five slices of every match; slice 2 is sent twice, as a producer retrying would.
    let slices = common::split(&matches, 5);
    let mut sent = 0;
    let mut mid_load = 0;
    for (round, k) in [0, 1, 2, 2, 3, 4].into_iter().enumerate() {
        let part = slices[k].clone();
        let before = sent as i64;
        let size = part.iter().map(Vec::len).sum::<usize>() as i64;
        sent += size as usize;
        topics.send(part).await;
        if round < 5 {
            // Kill it mid-stream: once it has loaded a third of this part (batches of 300
            // records, so well before the end), with batches still being committed.
            let target = before + size / 3;
            let deadline = Instant::now() + SETTLE;
            let mut loaded = 0;
            while loaded < target {
                assert!(Instant::now() < deadline, "loading stalled at {loaded}");
                tokio::time::sleep(Duration::from_millis(5)).await;
                loaded = warehouse.count("SELECT count(*) FROM events").await;
            }
            eprintln!("kill -9 with {loaded} of {sent} records loaded");
            if loaded < sent as i64 {
                mid_load += 1;
            }
            warehouse.restart().await;
        }
    }
    assert_eq!(topics.records(), sent as i64);
    assert!(sent > distinct, "some events were sent twice");
    assert!(
        mid_load >= 2,
        "at least two kills landed mid-load ({mid_load})"
    );

    warehouse
        .wait_for_count("SELECT count(*) FROM events", sent as i64, SETTLE)
        .await;
    // Give a stray extra batch the chance to show up before asserting exactness.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        warehouse.count("SELECT count(*) FROM events").await,
        sent as i64
    );
    assert_eq!(
        warehouse
            .count(
                "SELECT count(*) FROM (SELECT kafka_partition, kafka_offset FROM events
                 GROUP BY ALL HAVING count(*) > 1)"
            )
            .await,
        0,
        "no record is loaded twice"
    );
    assert_eq!(
        warehouse
            .count("SELECT count(*) FROM events WHERE NOT duplicate")
            .await,
        distinct as i64
    );
    assert_eq!(warehouse.count(MODELLED_EVENTS).await, distinct as i64);
    assert_eq!(
        warehouse
            .count(
                "SELECT count(*) FROM (SELECT match_id, seq FROM deliveries
                 GROUP BY ALL HAVING count(*) > 1)"
            )
            .await,
        0
    );
    let stored = warehouse
        .count("SELECT sum(next_offset)::BIGINT FROM kafka_offsets")
        .await;
    assert_eq!(stored, sent as i64, "the stored offsets cover every record");
    // The warehouse's own loader (its SQL replica logs to the same file).
    let restarts = warehouse
        .log_text()
        .lines()
        .filter(|line| line.contains("loader state restored") && line.contains("role=Primary"))
        .count();
    assert_eq!(restarts, 6, "started once and restarted after five kills");

    // And the numbers are right: every synthetic match scores as the engine scores it.
    let want: BTreeMap<String, Value> = matches
        .iter()
        .map(|(id, events)| {
            let card = Scoreboard::from_events(id, events)
                .expect("scores")
                .scorecard();
            (id.clone(), serde_json::to_value(card).expect("json"))
        })
        .collect();
    warehouse.assert_scorecards(&want, SETTLE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_records_go_to_the_rejected_table_and_the_dead_letter_topic_and_loading_goes_on() {
    let topics = Topics::create().await;
    let warehouse = Warehouse::start(&topics).await;
    let matches = real_matches();
    let chosen: Vec<&(String, Vec<Event>)> = matches.iter().take(3).collect();
    let producer = common::producer();
    let poison: Vec<(Vec<u8>, Vec<u8>, &str)> = vec![
        (b"1187669".to_vec(), b"\x00\xff not json at all".to_vec(), "not an event"),
        (b"1187669".to_vec(), br#"{"schema":1,"match_id":"1187669"}"#.to_vec(), "not an event"),
        (
            b"1187669".to_vec(),
            br#"{"schema":1,"match_id":"1187669","seq":0,"time":"2024-01-01T00:00:00Z","payload":{"match_ended":{"outcome":{"result":"no_result"}}}}"#.to_vec(),
            "invalid event",
        ),
        (
            b"someone-else".to_vec(),
            serde_json::to_vec(&chosen[0].1[0]).expect("json"),
            "record key",
        ),
        (b"1187669".to_vec(), b"[]".to_vec(), "not an event"),
    ];
    let mut sent_poison = 0;
    for (_, events) in &chosen {
        for (index, event) in events.iter().enumerate() {
            if index % 97 == 5 && sent_poison < poison.len() {
                let (key, payload, _) = &poison[sent_poison];
                topics.produce(&producer, key, payload).await;
                sent_poison += 1;
            }
            topics
                .produce(
                    &producer,
                    event.match_id.as_bytes(),
                    &serde_json::to_vec(event).expect("json"),
                )
                .await;
        }
    }
    assert_eq!(sent_poison, poison.len());

    let want: BTreeMap<_, _> = expected()
        .into_iter()
        .filter(|(id, _)| chosen.iter().any(|(c, _)| c == id))
        .collect();
    warehouse.assert_scorecards(&want, SETTLE).await;
    warehouse
        .wait_for_count("SELECT count(*) FROM rejected", poison.len() as i64, SETTLE)
        .await;
    let rejected = warehouse
        .sql("SELECT reason, payload IS NOT NULL FROM rejected ORDER BY kafka_partition, kafka_offset")
        .await;
    for (_, _, reason) in &poison {
        assert!(
            rejected
                .iter()
                .any(|row| row[0].as_str().is_some_and(|r| r.contains(reason))),
            "no rejection says {reason:?}: {rejected:?}"
        );
    }
    assert!(
        rejected.iter().all(|row| row[1] == json!(true)),
        "raw bytes kept"
    );
    // The last good records may still be in the loader's open batch: wait for them.
    let events: usize = chosen.iter().map(|(_, e)| e.len()).sum();
    warehouse
        .wait_for_count("SELECT count(*) FROM events", events as i64, SETTLE)
        .await;
    assert_eq!(
        warehouse.count("SELECT count(*) FROM events").await
            + warehouse.count("SELECT count(*) FROM rejected").await,
        topics.records()
    );

    // Each bad record is also on the dead-letter topic, with where it came from.
    let consumer: StreamConsumer =
        kafka::consumer_config(&common::brokers(), &common::unique("dlq-reader"))
            .create()
            .expect("consumer");
    consumer.subscribe(&[&topics.dlq]).expect("subscribe");
    let mut dead = Vec::new();
    while dead.len() < poison.len() {
        let message = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
            .await
            .expect("a dead letter within 30 s")
            .expect("record");
        let header = |name: &str| {
            message
                .headers()
                .and_then(|h| h.iter().find(|h| h.key == name).and_then(|h| h.value))
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_default()
        };
        assert_eq!(header(kafka::header::DLQ_SOURCE_TOPIC), topics.events);
        assert!(
            header(kafka::header::DLQ_SOURCE_OFFSET)
                .parse::<i64>()
                .is_ok()
        );
        assert_eq!(header(kafka::header::DLQ_CONSUMER), topics.group);
        dead.push(header(kafka::header::DLQ_REASON));
    }
    for (_, _, reason) in &poison {
        assert!(dead.iter().any(|d| d.contains(reason)), "{dead:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_clean_stop_the_file_opens_in_the_official_duckdb_and_the_cli() {
    let topics = Topics::create().await;
    let mut warehouse = Warehouse::start(&topics).await;
    let matches = real_matches();
    let chosen: Vec<Vec<Event>> = matches.iter().take(4).map(|(_, e)| e.clone()).collect();
    let events: usize = chosen.iter().map(Vec::len).sum();
    topics.send(chosen).await;
    warehouse
        .wait_for_count("SELECT count(*) FROM events", events as i64, SETTLE)
        .await;
    let deliveries = warehouse.count("SELECT count(*) FROM deliveries").await;

    // While the server holds the file, the CLI says so instead of failing obscurely.
    let db = warehouse.db_path().to_owned();
    let cli = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_warehouse"))
            .args(args)
            .arg("--db")
            .arg(&db)
            .output()
            .expect("cli runs")
    };
    let locked = cli(&["query", "SELECT 1"]);
    assert!(!locked.status.success());
    let stderr = String::from_utf8_lossy(&locked.stderr);
    assert!(stderr.contains("POST /v1/sql"), "{stderr}");

    // SIGTERM: the loader commits, leaves the group and releases the file.
    warehouse.stop();
    assert!(warehouse.log_text().contains("loader stopped"));

    let python = common::python_with_duckdb();
    let script = format!(
        "import duckdb\n\
         con = duckdb.connect({:?}, read_only=True)\n\
         print(con.execute('SELECT count(*) FROM events').fetchone()[0])\n\
         print(con.execute('SELECT count(*) FROM deliveries').fetchone()[0])\n\
         print(con.execute('SELECT runs FROM most_runs LIMIT 1').fetchone()[0])\n",
        warehouse.db_path().display().to_string()
    );
    let output = std::process::Command::new(&python)
        .args(["-c", &script])
        .output()
        .expect("python runs");
    assert!(
        output.status.success(),
        "python: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(lines[0], events.to_string());
    assert_eq!(lines[1], deliveries.to_string());
    assert!(lines[2].parse::<i64>().is_ok_and(|runs| runs > 0));

    let printed = cli(&["query", "SELECT count(*) AS n FROM events"]);
    assert!(
        printed.status.success(),
        "{}",
        String::from_utf8_lossy(&printed.stderr)
    );
    let table = String::from_utf8_lossy(&printed.stdout);
    assert!(table.contains(&format!("| {events} ")), "{table}");

    let export = common::TempDir::new("export");
    let exported = std::process::Command::new(env!("CARGO_BIN_EXE_warehouse"))
        .args(["export", "--parquet"])
        .arg(&export.0)
        .arg("--db")
        .arg(warehouse.db_path())
        .output()
        .expect("export runs");
    assert!(
        exported.status.success(),
        "{}",
        String::from_utf8_lossy(&exported.stderr)
    );
    assert!(export.0.join("matches.parquet").exists());
    let days: HashSet<String> = std::fs::read_dir(export.0.join("deliveries"))
        .expect("partitioned deliveries")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    assert!(days.iter().all(|d| d.starts_with("event_date=")) && !days.is_empty());
    // The Parquet files hold every delivery.
    let script = format!(
        "import duckdb\n\
         print(duckdb.sql(\"SELECT count(*) FROM read_parquet('{}/deliveries/*/*.parquet')\").fetchone()[0])\n",
        export.0.display()
    );
    let output = std::process::Command::new(&python)
        .args(["-c", &script])
        .output()
        .expect("python runs");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        deliveries.to_string(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
