//! The published contract against the server: schemathesis reads the warehouse's
//! `/openapi.json` and sends what it generates from it to a real warehouse process (with its
//! SQL replica) on the real broker. It fails on any 5xx, an undocumented status or content
//! type, and a body that breaks its documented schema. Most generated SQL is refused by
//! design; each refusal must still be one of the documented answers. A real match is loaded
//! first, and the documented examples (the request body's query, the match id) ask for it, so
//! the 200 answers (JSON, CSV and Parquet rows, the scorecard) are checked too.
//!
//! Needs `KAFKA_BROKERS` and schemathesis (`cargo xtask test` provides both).

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{Ingest, Topics, Warehouse, real_matches, schemathesis::Schemathesis};
use cricket::schema::MATCH_ID_EXAMPLE;

const OK_QUERIES: &str = "warehouse_sql_queries_total{outcome=\"ok\"}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_holds_against_the_server() {
    let topics = Topics::create().await;
    let warehouse = Warehouse::start(&topics).await;
    let ingest = Ingest::start(&topics.events).await;

    let events = real_matches()
        .into_iter()
        .find(|(id, _)| id == MATCH_ID_EXAMPLE)
        .expect("the documented example is a real match")
        .1;
    let total = i64::try_from(events.len()).expect("a few hundred events");
    ingest.send(vec![events]).await;
    // The replica answers SQL from its own copy: wait until it holds the whole match, and
    // the warehouse's own scorecard too.
    warehouse
        .wait_for_count(
            &format!("SELECT count(*) FROM events WHERE match_id = '{MATCH_ID_EXAMPLE}'"),
            total,
            Duration::from_secs(60),
        )
        .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while warehouse.scorecard(MATCH_ID_EXAMPLE).await.is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "{}",
            warehouse.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let answered_before = warehouse.metric(OK_QUERIES).await;
    let folder = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/schemathesis");
    let report = Schemathesis::new("warehouse", &warehouse.url(""), folder)
        .max_examples(300)
        .assert_holds()
        .await;
    let answered = warehouse.metric(OK_QUERIES).await - answered_before;
    println!(
        "{:?} test cases in {:.1} s; {answered} queries answered with rows",
        report.test_cases, report.seconds
    );
    assert!(
        answered >= 1.0,
        "no generated query was answered: the 200 answers went unchecked"
    );
}
