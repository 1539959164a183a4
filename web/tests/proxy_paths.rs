//! The pass-throughs reach only their listed upstream routes, whatever the path looks like.
//!
//! Requests are written byte for byte over TCP (an HTTP client would normalise `..` and
//! percent-escapes before sending), to a web server whose stream-stats and warehouse are a fake
//! upstream that records every request line it receives. The check is on what reached the
//! upstream, not only on the status codes.

#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A fake upstream: answers `{}` to everything and records "METHOD target" of each request.
async fn fake_upstream() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let record = record.clone();
            tokio::spawn(async move {
                let head = read_head(&mut stream).await;
                let line = head.lines().next().unwrap_or_default().to_owned();
                let mut words = line.split(' ');
                let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
                record.lock().unwrap().push(format!("{method} {target}"));
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        let (name, value) = l.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse().ok())?
                    })
                    .unwrap_or(0);
                let mut body = vec![0; length];
                let _ = stream.read_exact(&mut body).await;
                let _ = stream
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                          content-length: 2\r\nconnection: close\r\n\r\n{}",
                    )
                    .await;
            });
        }
    });
    (url, seen)
}

async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// Sends `request` as raw bytes; the status and body of the answer.
async fn raw(addr: &str, request: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("answered in time")
        .expect("read");
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn get(target: &str) -> String {
    format!("GET {target} HTTP/1.1\r\nHost: dashboard\r\nConnection: close\r\n\r\n")
}

fn post(target: &str, body: &str) -> String {
    format!(
        "POST {target} HTTP/1.1\r\nHost: dashboard\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_listed_upstream_paths_are_ever_reached() {
    let (upstream, seen) = fake_upstream().await;
    let site = std::env::temp_dir().join(format!("web-paths-site-{}", std::process::id()));
    std::fs::create_dir_all(&site).expect("site");
    let config = web::server::Config::try_parse_from([
        "web",
        "--stream-stats-url",
        &upstream,
        "--warehouse-url",
        &upstream,
        "--ingest-url",
        &upstream,
        "--site-root",
        &site.display().to_string(),
        // One scrape of every /metrics at start, then none during the test.
        "--scrape-interval-ms",
        "3600000",
    ])
    .expect("flags");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    tokio::spawn(web::server::run(config, listener, std::future::pending()));
    // The pipeline scraper's start-up round is the only legitimate /metrics request.
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen.lock().unwrap().len() < 3 {
        assert!(Instant::now() < deadline, "the scraper never ran");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    seen.lock().unwrap().clear();

    // Tricks: none may reach the upstream, each gets a 4xx (JSON when it got past HTTP
    // parsing, which refuses some of these itself).
    let hostile = [
        get("/api/warehouse/..%2fmetrics"),
        get("/api/warehouse/..%2Fmetrics"),
        get("/api/warehouse/%2e%2e/metrics"),
        get("/api/warehouse/%2E%2E%2Fmetrics"),
        get("/api/warehouse/%2e%2e%2f%2e%2e%2fmetrics"),
        get("/api/live/../metrics"),
        get("/api/live/../../metrics"),
        get("/api/live/./matches"),
        get("/api/live/%2e/matches"),
        get("/api/live/..%5Cmetrics"),
        get("/api/live/..%5cmetrics"),
        get("/api/live/..\\metrics"),
        get("/api/live//metrics"),
        get("/api/live///metrics"),
        get("/api/live/matches//"),
        get("/api/live/matches%2F..%2F..%2Fmetrics"),
        get("/api/live/matches/..%2F..%2Fmetrics"),
        get("/api/live/matches/1/..;/..;/metrics"),
        get("/api/live/metrics"),
        get("/api/live/healthz"),
        get("/api/live/readyz"),
        get("/api/warehouse/metrics"),
        get("/api/warehouse/healthz"),
        get("/api/live/matches?x=%2F..%2Fmetrics"),
        get("/api/live/matches%3F/../../metrics"),
        get("/api/warehouse/sql%3Fformat=csv/../../metrics"),
        post(
            "/api/warehouse/sql?format=csv&x=../../metrics",
            r#"{"sql":"SELECT 1"}"#,
        ),
        post("/api/warehouse/..%2Fmetrics", r#"{"sql":"SELECT 1"}"#),
        get("/api/warehouse/sql"),
        post("/api/live/matches", "{}"),
        get("/api/live/matches/%00"),
        get("/api/live/matches/%ff%fe"),
        get("/api/warehouse/matches/..%2F..%2Fmetrics/scorecard"),
        get("http://dashboard/api/live/../metrics"),
        get("/api/%2e%2e/metrics"),
        get("/api/live/%2e%2e/%2e%2e/metrics"),
    ];
    for request in &hostile {
        let (status, body) = raw(&addr, request).await;
        let line = request.lines().next().unwrap_or_default();
        assert!((400..500).contains(&status), "{line}: {status} {body}");
        // An empty 400 is the HTTP parser refusing the request line; anything the server
        // itself answers names the problem in JSON.
        if body.is_empty() {
            assert_eq!(status, 400, "{line}: an empty {status}");
        } else {
            let json: serde_json::Value =
                serde_json::from_str(&body).unwrap_or_else(|_| panic!("{line}: not JSON: {body}"));
            assert!(json["error"]["code"].is_string(), "{line}: {body}");
            assert!(json["error"]["message"].is_string(), "{line}: {body}");
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        *seen.lock().unwrap(),
        Vec::<String>::new(),
        "tricks reached the upstream"
    );

    // The listed routes still pass, to exactly the intended upstream paths (ids encoded).
    let fine = [
        (get("/api/live/matches"), "GET /v1/matches"),
        (get("/api/live/matches/1370353"), "GET /v1/matches/1370353"),
        (
            get("/api/live/matches/1370353/scorecard"),
            "GET /v1/matches/1370353/scorecard",
        ),
        (
            get("/api/live/matches/x%3Fy=1"),
            "GET /v1/matches/x%3Fy%3D1",
        ),
        (get("/api/warehouse/tables"), "GET /v1/tables"),
        (
            post("/api/warehouse/sql?format=csv", r#"{"sql":"SELECT 1"}"#),
            "POST /v1/sql?format=csv",
        ),
        (
            get("/api/warehouse/matches/1370353/scorecard"),
            "GET /v1/matches/1370353/scorecard",
        ),
    ];
    for (request, _) in &fine {
        let (status, body) = raw(&addr, request).await;
        assert_eq!(
            status,
            200,
            "{}: {body}",
            request.lines().next().unwrap_or_default()
        );
    }
    let want: Vec<&str> = fine.iter().map(|(_, upstream)| *upstream).collect();
    assert_eq!(*seen.lock().unwrap(), want);

    // And the server is still serving.
    let (status, _) = raw(&addr, &get("/healthz")).await;
    assert_eq!(status, 200);
    let _ = std::fs::remove_dir_all(&site);
}
