//! Slow and idle clients against the real ingest process over real TCP sockets: headers or a
//! body dripped a byte at a time, and connections that say nothing, are cut off within their
//! bounds; meanwhile ordinary requests are accepted at once even with two in-flight slots
//! (a dripping body holds none); the connection cap bounds the process's open sockets; memory
//! and sockets return to where they were.
//!
//! Needs `KAFKA_BROKERS`: `cargo xtask test` starts a broker and sets it.

#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TOKEN: &str = "slow-clients-token";
const HEADER_TIMEOUT: Duration = Duration::from_millis(1_000);
const BODY_TIMEOUT: Duration = Duration::from_millis(2_000);
/// Scheduling and close handshakes on a loaded 2-core machine.
const SLACK: Duration = Duration::from_millis(1_500);

fn brokers() -> String {
    std::env::var("KAFKA_BROKERS")
        .expect("KAFKA_BROKERS is not set: run the tests with `cargo xtask test`")
}

/// The ingest binary on a free port, killed on drop.
struct Ingest {
    child: Child,
    addr: String,
    log: PathBuf,
}

impl Ingest {
    async fn start(extra: &[(&str, String)]) -> Ingest {
        let port = platform::local_broker::free_port().expect("port");
        let addr = format!("127.0.0.1:{port}");
        let log =
            std::env::temp_dir().join(format!("ingest-slow-{}-{port}.log", std::process::id()));
        let file = std::fs::File::create(&log).expect("log");
        let child = Command::new(env!("CARGO_BIN_EXE_ingest"))
            .env("INGEST_LISTEN", &addr)
            .env("INGEST_TOKEN", TOKEN)
            .env("KAFKA_BROKERS", brokers())
            .env(
                "INGEST_TOPIC",
                format!("slow-clients-{}-{port}", std::process::id()),
            )
            .env(
                "INGEST_HEADER_TIMEOUT_MS",
                HEADER_TIMEOUT.as_millis().to_string(),
            )
            .env(
                "INGEST_BODY_TIMEOUT_MS",
                BODY_TIMEOUT.as_millis().to_string(),
            )
            .envs(extra.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(file.try_clone().expect("log"))
            .stderr(file)
            .stdin(Stdio::null())
            .spawn()
            .expect("ingest starts");
        let ingest = Ingest { child, addr, log };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !reqwest::get(ingest.url("/readyz"))
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            assert!(
                Instant::now() < deadline,
                "not ready: {}",
                ingest.log_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        ingest
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn open_files(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .expect("fds")
            .count()
    }

    fn rss_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("status")
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }

    async fn metric(&self, name: &str) -> f64 {
        let text = reqwest::get(self.url("/metrics"))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        text.lines()
            .filter(|l| l.starts_with(name) && !l.starts_with('#'))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// One ordinary request: its status and how long it took.
    async fn post(&self, http: &reqwest::Client, seq: u64) -> (u16, Duration) {
        let started = Instant::now();
        let status = http
            .post(self.url("/v1/events"))
            .bearer_auth(TOKEN)
            .header("content-type", "application/x-ndjson")
            .body(event(seq))
            .timeout(Duration::from_secs(20))
            .send()
            .await
            .expect("ingest answers")
            .status()
            .as_u16();
        (status, started.elapsed())
    }
}

impl Drop for Ingest {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn event(seq: u64) -> String {
    format!(
        r#"{{"schema":1,"match_id":"slow-1","seq":{seq},"time":"2024-04-01T14:00:00Z","payload":{{"delivery":{{"innings":1,"over":0,"ball":1,"batter":"A","non_striker":"B","bowler":"C","runs":{{"batter":1,"extras":0,"total":1}}}}}}}}"#
    )
}

/// How a hostile connection behaves.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Slow {
    /// Sends the request line and headers a byte every 100 ms, never finishing them.
    Headers,
    /// Sends complete, authorised headers for a 100 kB body, then a byte every 100 ms.
    Body,
    /// Connects and says nothing.
    Idle,
}

/// Runs one hostile connection until the server closes it: how long it lived and what the
/// server sent.
async fn hostile(addr: String, kind: Slow) -> (Duration, String) {
    let started = Instant::now();
    let stream = TcpStream::connect(&addr).await.expect("connect");
    let (mut reader, mut writer) = stream.into_split();
    let head = format!(
        "POST /v1/events HTTP/1.1\r\nHost: ingest\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/x-ndjson\r\nContent-Length: 100000\r\n\r\n"
    );
    let drip = tokio::spawn(async move {
        let bytes: Vec<u8> = match kind {
            Slow::Headers => head.into_bytes(),
            Slow::Body => {
                if writer.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                vec![b' '; 100_000]
            }
            Slow::Idle => return std::future::pending().await,
        };
        for byte in bytes {
            if writer.write_all(&[byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let mut received = Vec::new();
    // Until EOF or a reset: either way the server has let go.
    let _ = tokio::time::timeout(Duration::from_secs(60), reader.read_to_end(&mut received)).await;
    let lived = started.elapsed();
    drip.abort();
    (lived, String::from_utf8_lossy(&received).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_clients_are_cut_off_and_hold_no_slot() {
    // Two in-flight slots: if a dripping body held one, ordinary requests would be refused.
    let ingest = Ingest::start(&[
        ("INGEST_MAX_IN_FLIGHT", "2".to_owned()),
        ("INGEST_QUEUE_TIMEOUT_MS", "500".to_owned()),
    ])
    .await;
    let http = reqwest::Client::new();
    assert_eq!(ingest.post(&http, 1).await.0, 202);
    let files_before = ingest.open_files();
    let rss_before = ingest.rss_kib();

    let mut attackers = Vec::new();
    for n in 0..60 {
        let kind = [Slow::Headers, Slow::Body, Slow::Idle][n % 3];
        attackers.push((kind, tokio::spawn(hostile(ingest.addr.clone(), kind))));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Ordinary requests are served at once while all 60 are attached.
    let mut slowest = Duration::ZERO;
    for seq in 2..=21 {
        let (status, took) = ingest.post(&http, seq).await;
        assert_eq!(
            status,
            202,
            "an ordinary request was refused: {}",
            ingest.log_text()
        );
        slowest = slowest.max(took);
    }
    let files_during = ingest.open_files();
    println!(
        "ordinary requests beside 60 slow clients: slowest {slowest:?}; open files {files_before} -> {files_during}"
    );
    assert!(slowest < Duration::from_secs(1), "{slowest:?}");

    let mut answered_408 = 0;
    for (kind, attacker) in attackers {
        let (lived, received) = attacker.await.expect("attacker");
        let bound = match kind {
            Slow::Headers | Slow::Idle => HEADER_TIMEOUT,
            Slow::Body => BODY_TIMEOUT,
        };
        assert!(
            lived <= bound + SLACK,
            "a {kind:?} client was held {lived:?} (bound {bound:?})"
        );
        match kind {
            Slow::Body => {
                // The answer may be lost to the reset that closing on unread bytes causes.
                if received.starts_with("HTTP/1.1 408") {
                    assert!(received.contains("\"body_timeout\""), "{received}");
                    answered_408 += 1;
                }
            }
            Slow::Headers | Slow::Idle => {
                assert!(!received.contains("202"), "{kind:?} got {received}");
            }
        }
    }
    println!("408 answers read by 20 body drippers: {answered_408}");
    assert!(ingest.metric("ingest_http_header_timeouts_total").await >= 40.0);
    assert!(
        ingest
            .metric("ingest_http_requests_total{status=\"408\"}")
            .await
            >= 20.0,
        "every slow body was answered 408"
    );

    // Everything let go: sockets back to where they were, memory flat.
    let deadline = Instant::now() + Duration::from_secs(5);
    while ingest.open_files() > files_before + 2 {
        assert!(
            Instant::now() < deadline,
            "ingest holds {} files, {files_before} before",
            ingest.open_files()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rss_after = ingest.rss_kib();
    println!("ingest RSS {rss_before} KiB -> {rss_after} KiB");
    assert!(
        rss_after < rss_before + 16 * 1024,
        "{rss_before} -> {rss_after} KiB"
    );
    assert_eq!(ingest.post(&http, 22).await.0, 202);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_cap_bounds_open_sockets_and_the_queue_drains() {
    const CAP: usize = 16;
    let ingest = Ingest::start(&[("INGEST_MAX_CONNECTIONS", CAP.to_string())]).await;
    let http = reqwest::Client::new();
    assert_eq!(ingest.post(&http, 1).await.0, 202);
    // The client's pooled connection counts too; close it so the baseline is clean.
    drop(http);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let files_before = ingest.open_files();

    let attackers: Vec<_> = (0..64)
        .map(|_| tokio::spawn(hostile(ingest.addr.clone(), Slow::Idle)))
        .collect();
    let mut peak = 0;
    let watch_until = Instant::now() + HEADER_TIMEOUT * 2;
    while Instant::now() < watch_until {
        peak = peak.max(ingest.open_files());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "64 idle connections against a cap of {CAP}: open files {files_before} -> peak {peak}"
    );
    assert!(
        peak <= files_before + CAP,
        "open files peaked at {peak} ({files_before} before, cap {CAP})"
    );
    // The queue drains in waves of CAP, one header timeout each.
    for attacker in attackers {
        let (lived, _) = attacker.await.expect("attacker");
        assert!(lived <= HEADER_TIMEOUT * 4 + SLACK * 2, "{lived:?}");
    }
    let http = reqwest::Client::new();
    assert_eq!(ingest.post(&http, 2).await.0, 202);
    assert!(ingest.metric("ingest_http_connections").await <= CAP as f64);
}
