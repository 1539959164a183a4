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

/// One event of each kind, every optional field present, all valid.
fn every_kind() -> Vec<Value> {
    let base = |payload: Value| {
        json!({"schema": 1, "match_id": "m-1", "seq": 7, "time": "2024-04-01T14:00:00Z",
               "payload": payload})
    };
    vec![
        delivery(),
        base(json!({"match_started": {
            "teams": ["Lions", "Tigers"], "format": "t20", "balls_per_over": 6,
            "scheduled_overs": 20, "squads": [{"team": "Lions", "players": ["A", "B"]}],
            "toss": {"winner": "Lions", "decision": "bat"}, "venue": "Oval", "city": "London",
            "competition": "Cup", "date": "2024-04-01"
        }})),
        base(json!({"innings_started": {
            "innings": 2, "batting_team": "Lions", "bowling_team": "Tigers",
            "target_runs": 150, "max_balls": 120, "penalty_runs": 5
        }})),
        base(json!({"innings_ended": {
            "innings": 2, "reason": "all_out", "penalty_runs": 5, "absent_hurt": ["A"]
        }})),
        base(json!({"match_ended": {
            "outcome": {"result": "win", "winner": "Lions",
                        "margin": {"runs": 5, "wickets": 3, "innings": 1}, "method": "D/L"},
            "player_of_match": ["A"]
        }})),
    ]
}

fn kind_of(event: &Value) -> &str {
    event["payload"]
        .as_object()
        .and_then(|payload| payload.keys().next())
        .map_or("", String::as_str)
}

/// `event` with the value at `pointer` set (added when the field is absent).
fn with(event: &Value, pointer: &str, value: Value) -> Value {
    let mut event = event.clone();
    let (parent, key) = pointer.rsplit_once('/').expect("a JSON pointer");
    match event.pointer_mut(parent).expect(pointer) {
        Value::Object(object) => {
            object.insert(key.to_owned(), value);
        }
        Value::Array(array) => array[key.parse::<usize>().expect("index")] = value,
        other => panic!("{pointer}: {other} holds no fields"),
    }
    event
}

/// Every bounded number: (kind, pointer, lowest accepted, highest accepted, field path).
/// One below the lowest and one above the highest must be refused naming the field.
fn numeric_bounds() -> Vec<(&'static str, &'static str, u64, u64, &'static str)> {
    use cricket::validate::*;
    let runs = u64::from(MAX_RUNS_PER_KIND);
    vec![
        ("delivery", "/schema", 1, 1, "schema"),
        ("delivery", "/seq", 1, MAX_SEQ, "seq"),
        (
            "delivery",
            "/payload/delivery/innings",
            1,
            MAX_INNINGS.into(),
            "payload.delivery.innings",
        ),
        (
            "delivery",
            "/payload/delivery/over",
            0,
            (MAX_OVERS - 1).into(),
            "payload.delivery.over",
        ),
        (
            "delivery",
            "/payload/delivery/ball",
            1,
            MAX_BALL_IN_OVER.into(),
            "payload.delivery.ball",
        ),
        (
            "match_started",
            "/payload/match_started/balls_per_over",
            1,
            MAX_BALLS_PER_OVER.into(),
            "payload.match_started.balls_per_over",
        ),
        (
            "match_started",
            "/payload/match_started/scheduled_overs",
            1,
            MAX_OVERS.into(),
            "payload.match_started.scheduled_overs",
        ),
        (
            "innings_started",
            "/payload/innings_started/innings",
            1,
            MAX_INNINGS.into(),
            "payload.innings_started.innings",
        ),
        (
            "innings_started",
            "/payload/innings_started/target_runs",
            1,
            MAX_MATCH_RUNS.into(),
            "payload.innings_started.target_runs",
        ),
        (
            "innings_started",
            "/payload/innings_started/max_balls",
            1,
            MAX_INNINGS_BALLS.into(),
            "payload.innings_started.max_balls",
        ),
        (
            "innings_started",
            "/payload/innings_started/penalty_runs",
            0,
            MAX_PENALTY_RUNS.into(),
            "payload.innings_started.penalty_runs",
        ),
        (
            "innings_ended",
            "/payload/innings_ended/innings",
            1,
            MAX_INNINGS.into(),
            "payload.innings_ended.innings",
        ),
        (
            "innings_ended",
            "/payload/innings_ended/penalty_runs",
            0,
            MAX_PENALTY_RUNS.into(),
            "payload.innings_ended.penalty_runs",
        ),
        (
            "match_ended",
            "/payload/match_ended/outcome/margin/runs",
            0,
            MAX_MATCH_RUNS.into(),
            "payload.match_ended.outcome.margin.runs",
        ),
        (
            "match_ended",
            "/payload/match_ended/outcome/margin/wickets",
            0,
            MAX_WICKETS.into(),
            "payload.match_ended.outcome.margin.wickets",
        ),
        (
            "match_ended",
            "/payload/match_ended/outcome/margin/innings",
            0,
            MAX_MARGIN_INNINGS.into(),
            "payload.match_ended.outcome.margin.innings",
        ),
        // Runs: the delivery's sums are kept right by `delivery_with_runs`.
        ("runs", "batter", 0, runs, "payload.delivery.runs.batter"),
        (
            "runs",
            "noballs",
            0,
            runs,
            "payload.delivery.extras.noballs",
        ),
        ("runs", "byes", 0, runs, "payload.delivery.extras.byes"),
        (
            "runs",
            "legbyes",
            0,
            runs,
            "payload.delivery.extras.legbyes",
        ),
        (
            "runs",
            "penalty",
            0,
            runs,
            "payload.delivery.extras.penalty",
        ),
        ("runs", "wides", 0, runs, "payload.delivery.extras.wides"),
    ]
}

/// A delivery whose runs add up, with `amount` in one place (`batter` or an extra's kind).
fn delivery_with_runs(kind: &str, amount: u64) -> Value {
    let mut event = delivery();
    let (batter, extras) = if kind == "batter" {
        (amount, json!({}))
    } else {
        (0, json!({ kind: amount }))
    };
    event["payload"]["delivery"]["runs"] =
        json!({"batter": batter, "extras": amount - batter, "total": amount});
    event["payload"]["delivery"]["extras"] = extras;
    event
}

#[test]
fn every_numeric_bound_accepts_its_limits_and_refuses_one_past() {
    let kinds = every_kind();
    for (kind, pointer, low, high, field) in numeric_bounds() {
        let at = |value: u64| {
            if kind == "runs" {
                delivery_with_runs(pointer, value)
            } else {
                let base = kinds.iter().find(|e| kind_of(e) == kind).expect("kind");
                with(base, pointer, json!(value))
            }
        };
        for value in [low, high] {
            assert_eq!(check(at(value)), Ok(()), "{field} = {value} is allowed");
        }
        let mut refused = vec![high + 1];
        if low > 0 {
            refused.push(low - 1);
        }
        for value in refused {
            let err = check(at(value)).expect_err(field);
            assert!(
                err.starts_with(&format!("{field}:")),
                "{field} = {value}: {err}"
            );
        }
    }
}

#[test]
fn the_reported_values_are_refused() {
    // The values the schema fuzzer found the server refusing while the schema allowed them.
    let cases = [
        ("/seq", json!(i64::MAX - 1), "seq"),
        ("/seq", json!(u64::MAX), "seq"),
        ("/schema", json!(0), "schema"),
        ("/match_id", json!(""), "match_id"),
    ];
    for (pointer, value, field) in cases {
        let err = check(with(&delivery(), pointer, value)).expect_err(pointer);
        assert!(err.starts_with(&format!("{field}:")), "{pointer}: {err}");
    }
}

#[test]
fn every_kind_with_every_optional_field_is_valid() {
    for event in every_kind() {
        assert_eq!(check(event.clone()), Ok(()), "{event}");
    }
}

#[test]
fn every_string_and_list_has_a_bound() {
    use cricket::validate::*;
    let kinds = every_kind();
    let long = |n: usize| json!("x".repeat(n));
    let names = |n: usize| json!((0..n).map(|i| format!("P{i}")).collect::<Vec<_>>());
    // (kind, pointer, longest accepted value, one past it, field path)
    let cases: Vec<(&str, &str, Value, Value, &str)> = vec![
        (
            "delivery",
            "/match_id",
            long(MAX_MATCH_ID_LEN),
            long(MAX_MATCH_ID_LEN + 1),
            "match_id",
        ),
        (
            "delivery",
            "/payload/delivery/bowler",
            long(MAX_NAME_LEN),
            long(MAX_NAME_LEN + 1),
            "payload.delivery.bowler",
        ),
        (
            "delivery",
            "/payload/delivery/commentary",
            long(MAX_COMMENTARY_LEN),
            long(MAX_COMMENTARY_LEN + 1),
            "payload.delivery.commentary",
        ),
        (
            "match_started",
            "/payload/match_started/venue",
            long(MAX_TEXT_LEN),
            long(MAX_TEXT_LEN + 1),
            "payload.match_started.venue",
        ),
        (
            "match_started",
            "/payload/match_started/city",
            long(MAX_TEXT_LEN),
            long(MAX_TEXT_LEN + 1),
            "payload.match_started.city",
        ),
        (
            "match_started",
            "/payload/match_started/competition",
            long(MAX_TEXT_LEN),
            long(MAX_TEXT_LEN + 1),
            "payload.match_started.competition",
        ),
        (
            "match_started",
            "/payload/match_started/squads/0/players",
            names(MAX_SQUAD_PLAYERS),
            names(MAX_SQUAD_PLAYERS + 1),
            "payload.match_started.squads[0].players",
        ),
        (
            "match_ended",
            "/payload/match_ended/outcome/method",
            long(MAX_TEXT_LEN),
            long(MAX_TEXT_LEN + 1),
            "payload.match_ended.outcome.method",
        ),
        (
            "match_ended",
            "/payload/match_ended/outcome/winner",
            long(MAX_NAME_LEN),
            long(MAX_NAME_LEN + 1),
            "payload.match_ended.outcome.winner",
        ),
        (
            "match_ended",
            "/payload/match_ended/player_of_match",
            names(MAX_LISTED_PLAYERS),
            names(MAX_LISTED_PLAYERS + 1),
            "payload.match_ended.player_of_match",
        ),
        (
            "innings_ended",
            "/payload/innings_ended/absent_hurt",
            names(MAX_LISTED_PLAYERS),
            names(MAX_LISTED_PLAYERS + 1),
            "payload.innings_ended.absent_hurt",
        ),
    ];
    for (kind, pointer, fits, too_much, field) in cases {
        let base = kinds.iter().find(|e| kind_of(e) == kind).expect("kind");
        assert_eq!(
            check(with(base, pointer, fits)),
            Ok(()),
            "{pointer} at its limit"
        );
        let err = check(with(base, pointer, too_much)).expect_err(pointer);
        assert!(err.starts_with(&format!("{field}:")), "{pointer}: {err}");
    }

    // Lists of objects: a third squad, a third wicket, a twelfth fielder or replacement.
    let started = &kinds[1];
    let squads = json!([{"team": "Lions", "players": []}, {"team": "Tigers", "players": []},
                        {"team": "Lions", "players": []}]);
    let err = check(with(started, "/payload/match_started/squads", squads)).expect_err("squads");
    assert!(err.starts_with("payload.match_started.squads:"), "{err}");
    let mut event = delivery();
    event["payload"]["delivery"]["wickets"] = json!([
        {"player_out": "A", "kind": "run_out"}, {"player_out": "B", "kind": "run_out"},
        {"player_out": "D", "kind": "run_out"}]);
    let err = check(event).expect_err("wickets");
    assert!(err.starts_with("payload.delivery.wickets:"), "{err}");
    let fielders: Vec<Value> = (0..=MAX_LISTED_PLAYERS)
        .map(|i| json!({"name": format!("F{i}")}))
        .collect();
    let mut event = delivery();
    event["payload"]["delivery"]["wickets"] =
        json!([{"player_out": "A", "kind": "run_out", "fielders": fielders}]);
    let err = check(event).expect_err("fielders");
    assert!(
        err.starts_with("payload.delivery.wickets[0].fielders:"),
        "{err}"
    );
    let replacements: Vec<Value> = (0..=MAX_LISTED_PLAYERS)
        .map(|i| json!({"player_in": format!("I{i}"), "player_out": "O", "reason": "injury"}))
        .collect();
    let mut event = delivery();
    event["payload"]["delivery"]["replacements"] = json!(replacements);
    let err = check(event).expect_err("replacements");
    assert!(err.starts_with("payload.delivery.replacements:"), "{err}");
    let mut event = delivery();
    event["payload"]["delivery"]["replacements"] =
        json!([{"player_in": "I", "player_out": "O", "reason": " "}]);
    let err = check(event).expect_err("blank reason");
    assert!(
        err.starts_with("payload.delivery.replacements[0].reason:"),
        "{err}"
    );
}

#[test]
fn event_times_are_bounded_by_the_first_test_and_the_clock() {
    use chrono::{DateTime, TimeDelta, Utc};
    use cricket::validate::{EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, MAX_SECONDS_AHEAD, time_bounds};
    let (earliest, latest) = time_bounds();
    assert_eq!(earliest.to_rfc3339(), "1877-01-01T00:00:00+00:00");
    assert_eq!(earliest.timestamp(), EARLIEST_TIMESTAMP);
    assert_eq!(latest.timestamp(), LATEST_TIMESTAMP);
    assert_eq!(
        latest.format("%Y-%m-%dT%H:%M:%S").to_string(),
        "9999-12-31T23:59:59"
    );

    let at = |time: DateTime<Utc>| with(&delivery(), "/time", json!(time.to_rfc3339()));
    let one = TimeDelta::seconds(1);
    assert_eq!(check(at(earliest)), Ok(()));
    assert!(
        check(at(earliest - one))
            .expect_err("1876")
            .starts_with("time:")
    );
    assert_eq!(check(at(latest)), Ok(()));
    // Past the last four-digit year chrono still decodes, so the validator must refuse it.
    let err =
        check(with(&delivery(), "/time", json!("+10000-01-01T00:00:00Z"))).expect_err("year 10000");
    assert!(
        err.starts_with("time:") || err.starts_with("decode"),
        "{err}"
    );

    let now = DateTime::from_timestamp(1_750_000_000, 0).expect("time");
    let ahead = TimeDelta::seconds(MAX_SECONDS_AHEAD);
    let event: Event = serde_json::from_value(at(now + ahead)).expect("decodes");
    assert_eq!(event.validate_at(now), Ok(()), "a day ahead is allowed");
    let event: Event = serde_json::from_value(at(now + ahead + one)).expect("decodes");
    let err = event.validate_at(now).expect_err("too far ahead");
    assert_eq!(err.field, "time");
    assert_eq!(
        event.validate(),
        Ok(()),
        "consumers do not look at the clock"
    );

    let date = |d: &str| with(&every_kind()[1], "/payload/match_started/date", json!(d));
    assert_eq!(check(date("1877-01-01")), Ok(()));
    let err = check(date("1876-12-31")).expect_err("date");
    assert!(err.starts_with("payload.match_started.date:"), "{err}");
}

mod properties {
    use super::*;
    use cricket::validate::{MAX_BALL_IN_OVER, MAX_OVERS, MAX_SEQ};
    use proptest::prelude::*;

    proptest! {
        /// Any `seq` is accepted exactly when it is in 1..=MAX_SEQ, and a refusal names `seq`.
        #[test]
        fn seq_is_accepted_only_inside_its_bounds(
            seq in prop_oneof![any::<u64>(), 0..=MAX_SEQ + 2, (MAX_SEQ - 2)..=MAX_SEQ + 2]
        ) {
            let result = check(with(&delivery(), "/seq", json!(seq)));
            if (1..=MAX_SEQ).contains(&seq) {
                prop_assert_eq!(result, Ok(()));
            } else {
                prop_assert!(result.expect_err("refused").starts_with("seq:"));
            }
        }

        #[test]
        fn over_and_ball_are_accepted_only_inside_their_bounds(
            over in any::<u16>(), ball in any::<u16>()
        ) {
            let event = with(&with(&delivery(), "/payload/delivery/over", json!(over)),
                             "/payload/delivery/ball", json!(ball));
            let result = check(event);
            match (over < MAX_OVERS, (1..=MAX_BALL_IN_OVER).contains(&ball)) {
                (true, true) => prop_assert_eq!(result, Ok(())),
                (false, _) => prop_assert!(
                    result.expect_err("over").starts_with("payload.delivery.over:")),
                (true, false) => prop_assert!(
                    result.expect_err("ball").starts_with("payload.delivery.ball:")),
            }
        }

        /// Never a panic, whatever the numbers (sums of u16 runs once could overflow).
        #[test]
        fn any_runs_are_judged_without_panicking(
            batter in any::<u16>(), extras in any::<u16>(), total in any::<u16>(),
            wides in any::<u16>(), byes in any::<u16>()
        ) {
            let mut event = delivery();
            event["payload"]["delivery"]["runs"] =
                json!({"batter": batter, "extras": extras, "total": total});
            event["payload"]["delivery"]["extras"] = json!({"wides": wides, "byes": byes});
            let _ = check(event);
        }
    }
}

#[test]
fn a_margin_is_an_object_only() {
    let ended = &every_kind()[4];
    let as_array = with(
        ended,
        "/payload/match_ended/outcome/margin",
        json!([null, null]),
    );
    assert!(check(as_array).expect_err("array").starts_with("decode"));
    let unknown = with(
        ended,
        "/payload/match_ended/outcome/margin",
        json!({"balls": 3}),
    );
    assert_eq!(
        check(unknown),
        Ok(()),
        "unknown keys are ignored, as elsewhere"
    );
}
