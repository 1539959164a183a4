//! The dashboard in a real browser: real matches replayed through ingest, Kafka, stream-stats
//! and the warehouse (real processes on the test broker), the web server in front, and
//! headless Chromium driven by `tests/browser/dashboard.mjs`. The script reports what the pages
//! showed; this test checks it against the expected scorecards and the scoring engine.
//!
//! Screenshots land in `.artifacts/browser/` (or `$BROWSER_ARTIFACTS`): look at them.
//! Needs `cargo xtask test`: it builds every binary and the browser code, installs Chromium and
//! playwright-core, and starts the broker.

#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use cricket::{Event, Scoreboard};
use serde_json::{Value, json};
use testkit::{Ingest, Service, TempDir, Topics, brokers, expected, real_matches, unique};

fn env_path(name: &str) -> PathBuf {
    PathBuf::from(
        std::env::var(name)
            .unwrap_or_else(|_| panic!("{name} is not set: run the tests with `cargo xtask test`")),
    )
}

fn artifacts_dir() -> PathBuf {
    let dir = std::env::var_os("BROWSER_ARTIFACTS").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.artifacts/browser"),
        PathBuf::from,
    );
    std::fs::create_dir_all(&dir).expect("artifacts dir");
    dir
}

/// Each innings as the match centre must show it: team and "runs/wickets" from the expected
/// scorecard, "(overs ov)" from the engine (an over the umpire miscounted has seven balls, so
/// overs are not legal balls / 6).
fn expected_innings(card: &Value, events: &[Event]) -> Vec<(String, String, String)> {
    let board = Scoreboard::from_events(&events[0].match_id, events).expect("engine");
    card["innings"]
        .as_array()
        .expect("innings")
        .iter()
        .zip(&board.innings)
        .map(|(innings, engine)| {
            (
                innings["team"].as_str().expect("team").to_owned(),
                format!("{}/{}", innings["runs"], innings["wickets"]),
                format!("({} ov)", engine.overs()),
            )
        })
        .collect()
}

fn shown_innings(centre: &Value) -> Vec<(String, String, String)> {
    centre["innings"]
        .as_array()
        .expect("innings")
        .iter()
        .map(|i| {
            let text = |k: &str| i[k].as_str().expect("text").to_owned();
            (
                text("team").replace(" (super over)", ""),
                text("score"),
                text("overs"),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_real_matches_live_and_recovers() {
    let topics = Topics::create().await;
    let ingest = Ingest::start(&topics.events).await;
    let dir = TempDir::new("web-browser");
    let log = |name: &str| std::env::temp_dir().join(format!("{}-{name}.log", unique("web")));

    let mut stats = Service::start(
        "stream-stats",
        &testkit::sibling_binary(env!("CARGO_BIN_EXE_web"), "stream-stats"),
        "STATS_LISTEN",
        &[
            ("KAFKA_BROKERS", brokers()),
            ("STATS_EVENTS_TOPIC", topics.events.clone()),
            ("STATS_SNAPSHOT_TOPIC", topics.snapshots.clone()),
            ("STATS_DLQ_TOPIC", topics.dlq.clone()),
            ("STATS_GROUP", format!("{}-stats", topics.group)),
            ("STATS_SNAPSHOT_INTERVAL_MS", "200".to_owned()),
        ],
        log("stats"),
    )
    .await;
    let warehouse = Service::start(
        "warehouse",
        &testkit::sibling_binary(env!("CARGO_BIN_EXE_web"), "warehouse"),
        "WAREHOUSE_LISTEN",
        &[
            ("KAFKA_BROKERS", brokers()),
            ("WAREHOUSE_TOPIC", topics.events.clone()),
            ("WAREHOUSE_DLQ_TOPIC", topics.dlq.clone()),
            ("WAREHOUSE_GROUP", format!("{}-warehouse", topics.group)),
            (
                "WAREHOUSE_DB",
                dir.0.join("history.duckdb").display().to_string(),
            ),
            ("WAREHOUSE_FLUSH_INTERVAL_MS", "100".to_owned()),
            ("WAREHOUSE_MEMORY_LIMIT", "1GB".to_owned()),
        ],
        log("warehouse"),
    )
    .await;

    // Three finished real matches, and a fourth that will be played live during the test.
    let all = real_matches();
    let want = expected();
    let finished: Vec<(String, Vec<Event>)> = all.iter().take(3).cloned().collect();
    let (live_id, live_events) = all[3].clone();
    ingest
        .send(finished.iter().map(|(_, events)| events.clone()).collect())
        .await;
    let finished_want = finished
        .iter()
        .map(|(id, _)| (id.clone(), want[id].clone()))
        .collect();
    stats
        .assert_scorecards(&finished_want, Duration::from_secs(60))
        .await;

    let web = Service::start(
        "web",
        env!("CARGO_BIN_EXE_web"),
        "WEB_LISTEN",
        &[
            ("WEB_STREAM_STATS_URL", stats.url("")),
            ("WEB_WAREHOUSE_URL", warehouse.url("")),
            ("WEB_INGEST_URL", ingest.url.clone()),
            (
                "WEB_SITE_ROOT",
                env_path("CRICKET_SITE_ROOT").display().to_string(),
            ),
            ("WEB_SCRAPE_INTERVAL_MS", "250".to_owned()),
        ],
        log("web"),
    )
    .await;

    let finished_id = finished[0].0.clone();
    // The SQL console is answered by the warehouse's replica, which loads on its own: make
    // sure it holds the finished matches before the page asks.
    let finished_events: usize = finished.iter().map(|(_, events)| events.len()).sum();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let loaded = reqwest::Client::new()
            .post(warehouse.url("/v1/sql"))
            .json(&json!({"sql": "SELECT count(*) FROM events"}))
            .send()
            .await
            .ok();
        let count = match loaded {
            Some(response) => response
                .json::<Value>()
                .await
                .ok()
                .and_then(|b| b["rows"][0][0].as_u64()),
            None => None,
        };
        if count.is_some_and(|n| n as usize >= finished_events) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the warehouse's SQL never held the finished matches"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let good_sql = format!(
        "SELECT innings, count(*) AS balls FROM deliveries WHERE match_id = '{finished_id}' GROUP BY innings ORDER BY innings"
    );
    let config = json!({
        "url": web.url(""),
        "chromium": "/usr/bin/chromium",
        "node_modules": env_path("CRICKET_TOOLS_DIR").join("node/node_modules"),
        "screenshots": artifacts_dir(),
        "finished_match": finished_id,
        "live_match": live_id,
        "good_sql": good_sql,
        "good_sql_columns": ["innings", "balls"],
        "bad_sql": "SELECT runs FROM no_such_table",
    });
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser/dashboard.mjs");
    let mut node = Command::new("node")
        .arg(&script)
        .arg(config.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node runs (cargo xtask setup installs it)");
    let mut to_node = node.stdin.take().expect("stdin");
    let from_node = BufReader::new(node.stdout.take().expect("stdout"));

    // The live match in three parts: a start, a little more, then the rest after the restart.
    let first = live_events.len() / 3;
    let second = first + 24;
    let mut result = None;
    for line in from_node.lines() {
        let line = line.expect("line");
        if let Some(name) = line.strip_prefix("ACTION ") {
            let answer = match name {
                "start-live-match" => {
                    ingest.send(vec![live_events[..first].to_vec()]).await;
                    json!({ "id": live_id, "seq": live_events[first - 1].seq })
                }
                "advance-live-match" => {
                    ingest.send(vec![live_events[first..second].to_vec()]).await;
                    json!({ "seq": live_events[second - 1].seq })
                }
                "restart-stream-stats" => {
                    stats.kill();
                    tokio::time::sleep(Duration::from_millis(1500)).await;
                    stats.restart().await;
                    json!({})
                }
                "finish-live-match" => {
                    ingest.send(vec![live_events[second..].to_vec()]).await;
                    json!({ "seq": live_events.last().expect("events").seq })
                }
                other => panic!("unknown action {other}"),
            };
            writeln!(to_node, "OK {answer}").expect("answer");
        } else if let Some(json) = line.strip_prefix("RESULT ") {
            result = Some(serde_json::from_str::<Value>(json).expect("result json"));
        } else {
            println!("{line}");
        }
    }
    node.wait().expect("node exits");
    let result = result.expect("the browser script reported");
    std::fs::write(
        artifacts_dir().join("result.json"),
        serde_json::to_string_pretty(&result).expect("json"),
    )
    .expect("result file");
    assert!(
        result.get("failure").is_none(),
        "the browser script failed: {}\nthe page: {}\nweb log: {}",
        result["failure"],
        result["failure_page"],
        web.log_text()
    );

    // Home: every replayed match, finished, with its exact scores.
    let home = result["home"].as_array().expect("cards");
    for (id, events) in &finished {
        let card = home
            .iter()
            .find(|c| c["id"] == id.as_str())
            .unwrap_or_else(|| panic!("home does not list {id}: {home:?}"));
        assert_eq!(card["live"], false, "{id}");
        let scores: Vec<String> = expected_innings(&want[id], events)
            .into_iter()
            .map(|i| i.1)
            .collect();
        assert_eq!(card["scores"], json!(scores), "{id}");
    }
    // ... and a match that started while the page was open, updating in place.
    assert_eq!(result["home_live_before"]["live"], true);
    let live_at = |n: usize| {
        let board = Scoreboard::from_events(&live_id, &live_events[..n]).expect("engine");
        board
            .innings
            .iter()
            .map(|i| format!("{}/{}", i.runs, i.wickets))
            .collect::<Vec<_>>()
    };
    assert_eq!(result["home_live_before"]["scores"], json!(live_at(first)));
    // A match page opened before its match existed picked the match up when it started.
    assert_eq!(result["early_heading"], "No such match");
    let early: Vec<String> = shown_innings(&result["early_after"])
        .into_iter()
        .map(|i| i.1)
        .collect();
    assert_eq!(early, live_at(first));
    assert_eq!(result["home_live_after"]["scores"], json!(live_at(second)));

    // The match centre of a finished real match: exact scores, one bar and one point per over.
    let centre = &result["finished"];
    assert_eq!(
        shown_innings(centre),
        expected_innings(&want[&finished_id], &finished[0].1)
    );
    let board = Scoreboard::from_events(&finished_id, &finished[0].1).expect("engine");
    let overs: Vec<usize> = board
        .innings
        .iter()
        .filter(|i| !i.super_over)
        .map(|i| i.overs.len())
        .collect();
    assert_eq!(
        centre["manhattan_bars"],
        json!(overs),
        "Manhattan bars per innings"
    );
    assert_eq!(
        centre["worm_points"],
        json!(overs),
        "worm points per innings"
    );
    // The win-probability line: the start of the chase and one point per over of it.
    assert_eq!(board.chase_chances().len(), overs[1] + 1);
    assert_eq!(
        centre["win_points"],
        json!(board.chase_chances().len()),
        "win-probability points"
    );
    assert!(centre["feed_items"].as_u64().unwrap_or(0) > 0, "{centre}");

    // The live match survived a stream-stats restart: the page said so, and caught up exactly.
    let states: Vec<&str> = result["connection_states"]
        .as_array()
        .expect("states")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(states.contains(&"reconnecting"), "{states:?}");
    assert_eq!(states.last(), Some(&"live"), "{states:?}");
    let after = &result["live_after_restart"];
    assert_eq!(after["seq"], json!(live_events.last().expect("events").seq));
    assert_eq!(
        shown_innings(after),
        expected_innings(&want[&live_id], &live_events)
    );

    // Phone width: no page is wider than the screen.
    for (page, overflow) in result["phone_overflow"].as_object().expect("overflow") {
        assert!(
            overflow.as_i64().unwrap_or(1) <= 0,
            "{page} overflows by {overflow} px"
        );
    }

    // History: rows for good queries (the typed one counted against the events sent), the
    // warehouse's reason for a bad one, and the stored scorecard.
    assert!(
        !result["canned"].as_array().expect("rows").is_empty(),
        "canned query rows"
    );
    let deliveries_by_innings: Vec<Vec<String>> = board
        .innings
        .iter()
        .map(|innings| {
            let balls = finished[0]
                .1
                .iter()
                .filter(|e| matches!(&e.payload, cricket::Payload::Delivery(d) if d.innings == innings.number))
                .count();
            vec![innings.number.to_string(), balls.to_string()]
        })
        .collect();
    assert_eq!(result["good_sql"]["columns"], json!(["innings", "balls"]));
    assert_eq!(result["good_sql"]["rows"], json!(deliveries_by_innings));
    let csv = result["csv"].as_str().expect("csv");
    assert!(csv.starts_with("innings,balls"), "{csv}");
    assert_eq!(
        csv.trim().lines().count(),
        deliveries_by_innings.len() + 1,
        "{csv}"
    );
    let error = result["bad_sql_error"].as_str().expect("error");
    assert!(error.contains("no_such_table"), "{error}");
    assert_eq!(
        result["stored_scorecard"]
            .as_array()
            .expect("headings")
            .len(),
        want[&finished_id]["innings"]
            .as_array()
            .expect("innings")
            .len()
    );

    // Pipeline: every service up, and events counted.
    let pipeline = &result["pipeline"];
    assert!(
        pipeline["warehouse-rows"]
            .as_str()
            .is_some_and(|v| v != "–"),
        "{pipeline}"
    );
    assert!(pipeline["ingest-rate"].as_str().is_some(), "{pipeline}");

    assert_eq!(
        result["page_errors"],
        json!([]),
        "uncaught errors in the page"
    );
    // The pages' Content-Security-Policy let everything they do through: hydration (the
    // nonce'd inline scripts and the WebAssembly), server functions and the live WebSocket.
    assert_eq!(
        result["csp_violations"],
        json!([]),
        "the browser reported Content-Security-Policy violations"
    );
    println!(
        "first contentful paint: {} ms; screenshots in {}",
        result["first_contentful_paint_ms"],
        artifacts_dir().display()
    );
    drop(web);
    drop(warehouse);
}
