//! Event validation: the checks ingest runs on every event before it enters Kafka.

use cricket::Event;
use serde_json::{Value, json};

fn delivery() -> Value {
    json!({
        "schema": 1, "match_id": "m-1", "seq": 7, "time": "2024-04-01T14:00:00Z",
        "payload": {"delivery": {
            "innings": 1, "over": 3, "ball": 2,
            "batter": "A", "non_striker": "B", "bowler": "C",
            "runs": {"batter": 1, "extras": 1, "total": 2},
            "extras": {"legbyes": 1}
        }}
    })
}

fn check(value: Value) -> Result<(), String> {
    let event: Event = serde_json::from_value(value).map_err(|e| format!("decode: {e}"))?;
    event.validate().map_err(|e| e.to_string())
}

#[test]
fn a_well_formed_delivery_passes() {
    assert_eq!(check(delivery()), Ok(()));
}

#[test]
fn each_broken_rule_is_named() {
    let cases: Vec<(&str, Value, &str)> = vec![
        ("/schema", json!(2), "schema"),
        ("/match_id", json!(""), "match_id"),
        ("/match_id", json!("has space"), "match_id"),
        ("/seq", json!(0), "seq"),
        (
            "/payload/delivery/runs/total",
            json!(3),
            "payload.delivery.runs.total",
        ),
        (
            "/payload/delivery/runs/extras",
            json!(2),
            "payload.delivery.runs.extras",
        ),
        (
            "/payload/delivery/non_striker",
            json!("A"),
            "payload.delivery.non_striker",
        ),
        (
            "/payload/delivery/batter",
            json!("  "),
            "payload.delivery.batter",
        ),
        (
            "/payload/delivery/innings",
            json!(0),
            "payload.delivery.innings",
        ),
        ("/payload/delivery/ball", json!(0), "payload.delivery.ball"),
        (
            "/payload/delivery/extras/legbyes",
            json!(50),
            "payload.delivery.extras.legbyes",
        ),
    ];
    for (pointer, value, field) in cases {
        let mut event = delivery();
        *event.pointer_mut(pointer).expect("pointer exists") = value;
        if pointer == "/payload/delivery/extras/legbyes" {
            *event
                .pointer_mut("/payload/delivery/runs/extras")
                .expect("exists") = json!(50);
            *event
                .pointer_mut("/payload/delivery/runs/total")
                .expect("exists") = json!(51);
        }
        let err = check(event).expect_err(pointer);
        assert!(err.starts_with(&format!("{field}:")), "{pointer}: {err}");
    }
}

#[test]
fn wrong_types_and_unknown_kinds_do_not_decode() {
    let mut event = delivery();
    event["seq"] = json!("seven");
    assert!(check(event).expect_err("string seq").starts_with("decode"));
    let mut event = delivery();
    event["payload"] = json!({"teleport": {}});
    assert!(
        check(event)
            .expect_err("unknown kind")
            .starts_with("decode")
    );
    let mut event = delivery();
    event["seq"] = json!(-1);
    assert!(check(event).expect_err("negative").starts_with("decode"));
}

#[test]
fn events_round_trip_through_json() {
    let event: Event = serde_json::from_value(delivery()).expect("decodes");
    let again: Event =
        serde_json::from_str(&serde_json::to_string(&event).expect("encodes")).expect("decodes");
    assert_eq!(event, again);
}
