//! The web server on its own, with every service behind it down: pages still render (saying
//! what is unavailable), the API answers JSON errors, and readiness tells the truth.

#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

use clap::Parser;
use serde_json::Value;

/// A port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

async fn start(site_root: &std::path::Path) -> String {
    let dead = format!("http://127.0.0.1:{}", closed_port());
    let config = web::server::Config::try_parse_from([
        "web",
        "--stream-stats-url",
        &dead,
        "--warehouse-url",
        &dead,
        "--ingest-url",
        &dead,
        "--site-root",
        &site_root.display().to_string(),
        "--upstream-timeout-ms",
        "2000",
    ])
    .expect("flags");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(web::server::run(config, listener, std::future::pending()));
    url
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_owned()
}

/// Checks a page's security headers; returns the nonce its policy allows.
fn security_headers_of_a_page(response: &reqwest::Response) -> String {
    assert_eq!(header(response, "x-content-type-options"), "nosniff");
    assert_eq!(header(response, "x-frame-options"), "DENY");
    assert_eq!(header(response, "referrer-policy"), "same-origin");
    let policy = header(response, "content-security-policy");
    for directive in [
        "default-src 'self'",
        "'wasm-unsafe-eval'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "object-src 'none'",
        "base-uri 'none'",
    ] {
        assert!(policy.contains(directive), "{directive} missing: {policy}");
    }
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    let nonce = policy
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .unwrap_or_else(|| panic!("no nonce in {policy}"));
    assert!(nonce.len() >= 16, "{policy}");
    nonce.to_owned()
}

async fn json(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let body = response.json().await.expect("a JSON body");
    (status, body)
}

#[tokio::test]
async fn with_every_service_down_pages_render_and_errors_are_json() {
    let site = std::env::temp_dir().join(format!("web-empty-site-{}", std::process::id()));
    std::fs::create_dir_all(&site).expect("site dir");
    let url = start(&site).await;
    let http = reqwest::Client::new();

    // Pages: rendered, with the reason in place of the data.
    let home = http.get(format!("{url}/")).send().await.expect("home");
    assert_eq!(home.status(), 200);
    let page_nonce = security_headers_of_a_page(&home);
    let html = home.text().await.expect("html");
    // Every inline script Leptos wrote carries the nonce the policy names, and only that one.
    let scripts = html.matches("<script").count();
    assert!(scripts > 0, "{html}");
    assert_eq!(
        html.matches(&format!("<script nonce=\"{page_nonce}\""))
            .count()
            + html
                .matches(&format!("<script type=\"module\" nonce=\"{page_nonce}\""))
                .count(),
        scripts,
        "a script without the page's nonce: {html}"
    );
    let again = http.get(format!("{url}/")).send().await.expect("home");
    assert_ne!(
        security_headers_of_a_page(&again),
        page_nonce,
        "a nonce is used once"
    );
    assert!(html.contains("<h1>Matches</h1>"), "{html}");
    assert!(
        html.contains("The live service is unavailable right now"),
        "{html}"
    );
    let history = http
        .get(format!("{url}/history?sql=SELECT+1"))
        .send()
        .await
        .expect("history");
    let html = history.text().await.expect("html");
    assert!(
        html.contains("The warehouse is unavailable right now"),
        "{html}"
    );
    let missing = http
        .get(format!("{url}/no/such/page"))
        .send()
        .await
        .expect("404");
    assert_eq!(missing.status(), 404);
    security_headers_of_a_page(&missing);

    // Anything else: the same headers, and a policy that allows nothing.
    let api = http
        .get(format!("{url}/api/nothing"))
        .send()
        .await
        .expect("api");
    let policy = header(&api, "content-security-policy");
    assert!(policy.starts_with("default-src 'none'"), "{policy}");
    assert_eq!(header(&api, "x-content-type-options"), "nosniff");
    assert_eq!(header(&api, "x-frame-options"), "DENY");

    // The API: JSON errors naming the problem.
    let (status, body) = json(
        http.get(format!("{url}/api/live/matches"))
            .send()
            .await
            .expect("live"),
    )
    .await;
    assert_eq!(status, 502);
    assert_eq!(body["error"]["code"], "upstream_unavailable");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("stream-stats")
    );
    let (status, body) = json(
        http.post(format!("{url}/api/warehouse/sql"))
            .json(&serde_json::json!({"sql": "SELECT 1"}))
            .send()
            .await
            .expect("warehouse"),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (502, Some("upstream_unavailable"))
    );
    let (status, body) = json(
        http.get(format!("{url}/api/export.csv"))
            .send()
            .await
            .expect("csv"),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("missing_sql"))
    );
    let (status, body) = json(
        http.get(format!("{url}/api/nothing"))
            .send()
            .await
            .expect("api 404"),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("unknown_endpoint"))
    );

    // A server function called with arguments that do not decode: 400 naming the problem.
    let (status, body) = json(
        // The URL Leptos gives `run_sql` (its name and a hash).
        http.post(format!(
            "{url}{}",
            <web::api::RunSql as leptos::server_fn::ServerFn>::PATH
        ))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("nonsense=1")
        .send()
        .await
        .expect("server fn"),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("bad_arguments")),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("sql"),
        "{body}"
    );

    // The WebSocket refuses other sites' pages.
    let (status, body) = json(
        http.get(format!("{url}/api/live/ws"))
            .header("origin", "https://evil.example")
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .send()
            .await
            .expect("ws"),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("origin_not_allowed"))
    );

    // Alive, but not ready without the browser code; the pipeline knows everything is down.
    assert_eq!(
        http.get(format!("{url}/healthz"))
            .send()
            .await
            .expect("healthz")
            .status(),
        200
    );
    let (status, body) = json(
        http.get(format!("{url}/readyz"))
            .send()
            .await
            .expect("readyz"),
    )
    .await;
    assert_eq!(status, 503);
    assert!(
        body["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("web.js"),
        "{body}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let (status, body) = json(
        http.get(format!("{url}/api/pipeline"))
            .send()
            .await
            .expect("pipeline"),
    )
    .await;
    assert_eq!(status, 200);
    let services = body["services"].as_array().expect("services");
    assert_eq!(services.len(), 3);
    assert!(services.iter().all(|s| s["up"] == false), "{body}");
    let _ = std::fs::remove_dir_all(&site);
}
