//! The published contract against the server: schemathesis (a property-based API fuzzer) reads
//! ingest's `/openapi.json` and sends what it generates from it to a real ingest in front of
//! the real broker. It fails on any 5xx, a response that breaks its documented schema, a
//! schema-invalid request that is not refused, a schema-valid request refused as malformed,
//! and (the hook in `schemathesis/hooks.py`) a schema-valid event refused for anything but a
//! rule across fields that JSON Schema cannot state. A fixed seed and a bounded number of
//! examples keep the run reproducible and under two minutes.
//!
//! Needs `KAFKA_BROKERS` and schemathesis in `CRICKET_TOOLS_DIR` (`cargo xtask setup --test`
//! installs it; `cargo xtask test` sets both).

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use platform::kafka;
use testkit::schemathesis::Schemathesis;
use tokio::sync::oneshot;

const TOKEN: &str = "schemathesis-token";

fn brokers() -> String {
    std::env::var("KAFKA_BROKERS")
        .expect("KAFKA_BROKERS is not set: run the tests with `cargo xtask test`")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_holds_against_the_server() {
    let brokers = brokers();
    let topic = format!("schemathesis-{}", kafka::now_ms());
    kafka::wait_for_broker(&brokers, Duration::from_secs(30))
        .await
        .expect("broker");
    kafka::create_topics(
        &brokers,
        &[kafka::TopicSpec {
            name: topic.clone(),
            partitions: kafka::MATCH_PARTITIONS,
            configs: vec![],
        }],
    )
    .await
    .expect("topic");
    let config = ingest::Config::try_parse_from([
        "ingest",
        "--token",
        TOKEN,
        "--brokers",
        &brokers,
        "--topic",
        &topic,
    ])
    .expect("flags");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(ingest::run(config, listener, async move {
        let _ = stopped.await;
    }));

    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/schemathesis");
    // About a thousand requests at 150 examples per operation and phase, with the coverage
    // phase's boundary values.
    let report = Schemathesis::new("ingest", &url, here)
        .header(&format!("Authorization: Bearer {TOKEN}"))
        .check("refused_only_for_rules_across_fields")
        .max_examples(150)
        .seed(12)
        .assert_holds()
        .await;
    println!(
        "{:?} test cases in {:.1} s",
        report.test_cases, report.seconds
    );

    let _ = stop.send(());
    server.await.expect("join").expect("clean shutdown");
}
