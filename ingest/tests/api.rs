//! The HTTP contract, in process: every refusal is the right status with a JSON body that
//! names the problem, and no input (random bytes, random JSON) gets a 5xx or a panic.

use std::sync::LazyLock;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use clap::Parser;
use http_body_util::BodyExt;
use proptest::prelude::*;
use serde_json::Value;
use tower::ServiceExt;

const TOKEN: &str = "s3cret-token";

/// One app for the whole file (a Kafka producer per test case would dominate the run time).
static APP: LazyLock<Router> = LazyLock::new(|| {
    // No broker behind this one: every request here is refused before anything is produced.
    let config = ingest::Config::try_parse_from([
        "ingest",
        "--token",
        TOKEN,
        "--brokers",
        "127.0.0.1:1",
        "--max-body-bytes",
        "4096",
        "--max-batch-events",
        "3",
    ])
    .expect("valid flags");
    ingest::http::router(ingest::state(&config).expect("state"))
});

fn app() -> Router {
    APP.clone()
}

fn event(seq: u64) -> String {
    format!(
        r#"{{"schema":1,"match_id":"m-1","seq":{seq},"time":"2024-04-01T14:00:00Z","payload":{{"delivery":{{"innings":1,"over":0,"ball":{seq},"batter":"A","non_striker":"B","bowler":"C","runs":{{"batter":1,"extras":0,"total":1}}}}}}}}"#
    )
}

async fn post(
    app: Router,
    token: Option<&str>,
    content_type: &str,
    body: impl Into<Body>,
) -> (StatusCode, Value) {
    let mut request = Request::post("/v1/events").header(header::CONTENT_TYPE, content_type);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let response = app
        .oneshot(request.body(body.into()).expect("request"))
        .await
        .expect("response");
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, json)
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<no error code>")
}

#[tokio::test]
async fn missing_token_is_401_and_wrong_token_403() {
    let (status, body) = post(app(), None, "application/x-ndjson", event(1)).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "missing_token")
    );
    let (status, body) = post(app(), Some("guess"), "application/x-ndjson", event(1)).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::FORBIDDEN, "wrong_token")
    );
}

#[tokio::test]
async fn wrong_content_type_is_415() {
    let (status, body) = post(app(), Some(TOKEN), "text/csv", event(1)).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
    );
}

#[tokio::test]
async fn oversized_bodies_and_batches_are_413() {
    let big = "x".repeat(5000);
    let (status, body) = post(app(), Some(TOKEN), "application/x-ndjson", big).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large")
    );
    // Without a Content-Length (streamed), the limit still holds.
    let chunks = futures_chunks(5000);
    let (status, body) = post(app(), Some(TOKEN), "application/x-ndjson", chunks).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large")
    );
    let four = (1..=4).map(event).collect::<Vec<_>>().join("\n");
    let (status, body) = post(app(), Some(TOKEN), "application/x-ndjson", four).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::PAYLOAD_TOO_LARGE, "too_many_events")
    );
}

/// A body streamed in chunks, with no Content-Length header.
fn futures_chunks(total: usize) -> Body {
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..total / 100).map(|_| Ok(vec![b' '; 100])).collect();
    Body::from_stream(futures_util::stream::iter(chunks))
}

#[tokio::test]
async fn malformed_json_is_400_with_its_line() {
    let body = format!("{}\n{}\n{{\"schema\": 1, \"match_id\"", event(1), event(2));
    let (status, body) = post(app(), Some(TOKEN), "application/x-ndjson", body).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "malformed_json")
    );
    assert_eq!(body["error"]["line"], 3);
}

#[tokio::test]
async fn invalid_events_are_422_with_index_and_reason() {
    let bad = event(2).replace(r#""total":1"#, r#""total":5"#);
    let body = format!("{}\n{bad}\n", event(1));
    let (status, body) = post(app(), Some(TOKEN), "application/x-ndjson", body).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_event")
    );
    assert_eq!(
        (
            body["error"]["index"].clone(),
            body["error"]["line"].clone()
        ),
        (1.into(), 2.into())
    );
    let message = body["error"]["message"].as_str().expect("message");
    assert!(message.contains("payload.delivery.runs.total"), "{message}");

    let bad = event(1).replace(r#""seq":1"#, r#""seq":0"#);
    let (status, body) = post(app(), Some(TOKEN), "application/json", format!("[{bad}]")).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_event")
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .starts_with("invalid event: seq")
    );
}

#[tokio::test]
async fn openapi_and_event_schema_are_served() {
    let response = app()
        .oneshot(
            Request::get("/openapi.json")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let doc: Value = serde_json::from_slice(&bytes).expect("json");
    assert!(doc["paths"]["/v1/events"]["post"].is_object());
    assert!(doc["components"]["schemas"]["Delivery"].is_object());
    // The bounds the validator enforces are published (the values the schema fuzzer once
    // found allowed by the schema and refused by the server).
    let event = &doc["components"]["schemas"]["Event"]["properties"];
    assert_eq!(event["seq"]["maximum"], cricket::validate::MAX_SEQ);
    assert_eq!(event["seq"]["minimum"], 1);
    assert_eq!(
        (&event["schema"]["minimum"], &event["schema"]["maximum"]),
        (&Value::from(1), &Value::from(1))
    );
    assert_eq!(event["match_id"]["minLength"], 1);
    let body = &doc["paths"]["/v1/events"]["post"]["requestBody"]["content"];
    assert_eq!(body["application/x-ndjson"]["schema"]["minItems"], 1);
    assert_eq!(
        body["application/json"]["schema"]["oneOf"][1]["minItems"],
        1
    );

    let response = app()
        .oneshot(
            Request::get("/v1/schema/event.json")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("response");
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let schema: Value = serde_json::from_slice(&bytes).expect("json");
    assert_eq!(schema["$ref"], "#/$defs/Event");
    assert_eq!(
        schema["$defs"]["Delivery"]["properties"]["over"]["maximum"],
        cricket::validate::MAX_OVERS - 1
    );
    assert!(
        !serde_json::to_string(&schema)
            .expect("json")
            .contains("#/components/")
    );
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        Just(Value::from("delivery")),
        Just(Value::from(1)),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("schema".to_owned()),
                    Just("match_id".to_owned()),
                    Just("seq".to_owned()),
                    Just("time".to_owned()),
                    Just("payload".to_owned()),
                    Just("delivery".to_owned()),
                    "[a-z_]{1,8}"
                ],
                inner,
                0..6
            )
            .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn random_bytes_never_get_a_5xx(bytes in prop::collection::vec(any::<u8>(), 0..600), ndjson in any::<bool>()) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let content_type = if ndjson { "application/x-ndjson" } else { "application/json" };
        let (status, body) = runtime.block_on(post(app(), Some(TOKEN), content_type, bytes));
        prop_assert!(status.is_client_error(), "status {status}");
        prop_assert!(body["error"]["code"].is_string());
    }

    #[test]
    fn random_json_never_gets_a_5xx(value in arbitrary_json(), ndjson in any::<bool>()) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let content_type = if ndjson { "application/x-ndjson" } else { "application/json" };
        let body = serde_json::to_vec(&value).expect("json");
        let (status, body) = runtime.block_on(post(app(), Some(TOKEN), content_type, body));
        prop_assert!(status.is_client_error(), "status {status}");
        prop_assert!(body["error"]["code"].is_string());
    }
}
