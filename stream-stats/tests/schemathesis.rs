//! The published contract against the server: schemathesis reads stream-stats' `/openapi.json`
//! and sends what it generates from it to a real stream-stats process on the real broker. It
//! fails on any 5xx, an undocumented status or content type, and a body that breaks its
//! documented schema. A finished real match and the first half of another (a live one, with
//! batters at the crease) are loaded first, and the match id's documented example is the
//! finished one, so the scoreboard and scorecard schemas are checked against real answers,
//! not only 404s.
//!
//! Needs `KAFKA_BROKERS` and schemathesis (`cargo xtask test` provides both).

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{Ingest, Stats, Topics, real_matches, schemathesis::Schemathesis};
use cricket::schema::MATCH_ID_EXAMPLE;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_holds_against_the_server() {
    let topics = Topics::create().await;
    let stats = Stats::start(&topics).await;
    let ingest = Ingest::start(&topics.events).await;

    let matches = real_matches();
    let finished = matches
        .iter()
        .find(|(id, _)| id == MATCH_ID_EXAMPLE)
        .expect("the documented example is a real match");
    let live = matches
        .iter()
        .find(|(id, _)| id != MATCH_ID_EXAMPLE)
        .expect("another match");
    let half = live.1[..live.1.len() / 2].to_vec();
    ingest.send(vec![finished.1.clone(), half]).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while stats.scorecard(MATCH_ID_EXAMPLE).await.is_none()
        || stats.scorecard(&live.0).await.is_none()
    {
        assert!(std::time::Instant::now() < deadline, "{}", stats.log_text());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let folder = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/schemathesis");
    let report = Schemathesis::new("stream-stats", &stats.url(""), folder)
        .max_examples(300)
        .assert_holds()
        .await;
    println!(
        "{:?} test cases in {:.1} s",
        report.test_cases, report.seconds
    );
}
