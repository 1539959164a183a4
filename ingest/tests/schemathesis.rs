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
use std::process::Command;
use std::time::{Duration, Instant};

use clap::Parser;
use platform::kafka;
use tokio::sync::oneshot;

const TOKEN: &str = "schemathesis-token";
/// Test cases per operation and phase; with the coverage phase's boundary values this makes
/// about a thousand requests.
const MAX_EXAMPLES: &str = "150";
const SEED: &str = "12";

fn brokers() -> String {
    std::env::var("KAFKA_BROKERS")
        .expect("KAFKA_BROKERS is not set: run the tests with `cargo xtask test`")
}

fn schemathesis() -> PathBuf {
    let tools = std::env::var_os("CRICKET_TOOLS_DIR").map_or_else(
        || {
            let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
            PathBuf::from(home).join(".cache/cricket-platform")
        },
        PathBuf::from,
    );
    let binary = tools.join("schemathesis/bin/schemathesis");
    assert!(
        binary.exists(),
        "{} is missing: run `cargo xtask setup --test`",
        binary.display()
    );
    binary
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
    let report = std::env::temp_dir().join(format!("schemathesis-ingest-{}", kafka::now_ms()));
    std::fs::create_dir_all(&report).expect("report folder");
    let mut command = Command::new(schemathesis());
    // Its example database and cache go to the working folder: keep them out of the checkout.
    command.current_dir(&report);
    command
        .arg("--config-file")
        .arg(here.join("schemathesis.toml"))
        .arg("run")
        .arg(format!("{url}/openapi.json"))
        .args(["--url", &url])
        .args(["--header", &format!("Authorization: Bearer {TOKEN}")])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,\
             response_schema_conformance,negative_data_rejection,positive_data_acceptance,\
             refused_only_for_rules_across_fields",
        ])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--max-examples", MAX_EXAMPLES, "--seed", SEED])
        .args(["--workers", "1", "--request-timeout", "10"])
        .args(["--suppress-health-check", "all"])
        .args(["--report", "junit", "--report-dir"])
        .arg(&report)
        .env("SCHEMATHESIS_HOOKS", "hooks")
        .env("PYTHONPATH", &here)
        .env("NO_COLOR", "1");
    let started = Instant::now();
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("join")
        .expect("schemathesis runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}\n{stderr}");
    println!(
        "schemathesis took {:.1} s; JUnit report in {}",
        started.elapsed().as_secs_f64(),
        report.display()
    );

    let _ = stop.send(());
    server.await.expect("join").expect("clean shutdown");
    assert!(
        output.status.success(),
        "schemathesis found the contract broken (output above)"
    );
    assert!(
        stdout.contains("No issues found"),
        "schemathesis ran no check? (output above)"
    );
}
