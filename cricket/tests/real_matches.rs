//! The 20 real Cricsheet matches shipped in `data/cricsheet`, imported and scored, must equal
//! the independently computed `expected.jsonl` in every innings, batter and bowler.

use std::path::PathBuf;

use cricket::{Event, Scoreboard, cricsheet};
use serde_json::Value;

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../data/cricsheet")
}

fn expected() -> Vec<Value> {
    let text = std::fs::read_to_string(data_dir().join("expected.jsonl")).expect("expected.jsonl");
    text.lines()
        .map(|line| serde_json::from_str(line).expect("valid JSON line"))
        .collect()
}

fn import(match_id: &str) -> Vec<Event> {
    let path = data_dir().join(format!("{match_id}.json"));
    let bytes = std::fs::read(&path).expect("match file");
    cricsheet::import(match_id, &path.display().to_string(), &bytes).expect("import")
}

#[test]
fn every_real_match_scores_exactly_as_expected() {
    let expected = expected();
    assert_eq!(expected.len(), 20, "all twenty matches are checked");
    let mut failures = Vec::new();
    for want in &expected {
        let id = want["match"].as_str().expect("match id");
        let events = import(id);
        let board = Scoreboard::from_events(id, &events).expect("events apply");
        let got = serde_json::to_value(board.scorecard()).expect("scorecard serializes");
        if &got != want {
            failures.push(format!("{id}:\n  got  {got}\n  want {want}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn status_lines_tell_the_result() {
    let cases = [
        (
            "1370353",
            "Chennai Super Kings won by 5 wickets (DLS method)",
        ),
        (
            "1216517",
            "Match tied — Kings XI Punjab win the second super over",
        ),
        (
            "1144530",
            "Match tied — England win the super over on boundaries",
        ),
        ("1187669", "Match tied — England win the super over"),
        ("287862", "Match tied — India win the bowl-out"),
        ("1298152", "No result"),
        ("1304066", "Rajasthan Royals won by 3 runs"),
    ];
    for (id, want) in cases {
        let events = import(id);
        let board = Scoreboard::from_events(id, &events).expect("events apply");
        assert_eq!(board.status(), want, "match {id}");
    }
}

#[test]
fn a_chase_reads_runs_needed_from_balls_left() {
    // CSK's rain-shortened chase in the 2023 IPL final: 171 in 15 overs.
    let events = import("1370353");
    let mut board = Scoreboard::new("1370353");
    for event in &events {
        board.apply(event).expect("applies");
        let innings = board.current_innings();
        if let Some(innings) = innings
            && innings.number == 2
            && innings.legal_balls == 78
            && innings.is_open()
        {
            let needed = innings.runs_needed().expect("a chase");
            assert_eq!(
                board.status(),
                format!("Chennai Super Kings need {needed} runs from 12 balls")
            );
            return;
        }
    }
    panic!("the chase never reached 13 overs");
}

#[test]
fn replaying_events_twice_changes_nothing() {
    let events = import("1384429");
    let once = Scoreboard::from_events("1384429", &events).expect("applies");
    let mut twice = once.clone();
    for event in &events {
        assert_eq!(twice.apply(event), Ok(cricket::Applied::Duplicate));
    }
    assert_eq!(once, twice);
}

#[test]
fn a_gap_is_reported_and_changes_nothing() {
    let events = import("729309");
    let mut board = Scoreboard::new("729309");
    board.apply(&events[0]).expect("match started");
    let before = board.clone();
    let err = board
        .apply(&events[2])
        .expect_err("seq 3 after seq 1 is a gap");
    assert_eq!(
        err,
        cricket::ApplyError::Gap {
            expected: 2,
            got: 3
        }
    );
    assert_eq!(board, before);
}

#[test]
fn edge_cases_are_scored_as_the_laws_say() {
    // 7-ball over (miscounted): 301 legal balls but shown as 50 overs.
    let board = Scoreboard::from_events("1022373", &import("1022373")).expect("applies");
    assert_eq!(board.innings[0].legal_balls, 301);
    assert_eq!(board.innings[0].overs().to_string(), "50");
    // Absent hurt: all out with 9 wickets.
    let board = Scoreboard::from_events("1122730", &import("1122730")).expect("applies");
    let end = board.innings[1].end.as_ref().expect("ended");
    assert_eq!(end.reason, cricket::event::InningsEndReason::AllOut);
    assert_eq!(board.innings[1].wickets, 9);
    // Penalty runs before the innings count in the total and the extras.
    let board = Scoreboard::from_events("1150537", &import("1150537")).expect("applies");
    assert_eq!(board.innings[1].extras.penalty, 10);
    // Fractional target overs: 14.2 overs = 86 balls.
    let board = Scoreboard::from_events("682911", &import("682911")).expect("applies");
    assert_eq!(board.innings[1].max_balls, Some(86));
}

#[test]
fn a_malformed_file_names_the_file_and_the_json_path() {
    let path = data_dir().join("1298152.json");
    let text = std::fs::read_to_string(&path).expect("file");
    // Break one delivery's runs: a string where a number belongs.
    let broken = text.replacen("\"total\": 1", "\"total\": \"one\"", 1);
    assert_ne!(broken, text, "the edit applied");
    let err = cricsheet::import("1298152", "broken.json", broken.as_bytes()).expect_err("refused");
    let message = err.to_string();
    assert!(
        message.starts_with("broken.json: at innings[0].overs["),
        "{message}"
    );
    assert!(message.contains("].runs.total"), "{message}");

    let truncated = &text.as_bytes()[..text.len() / 2];
    let err = cricsheet::import("1298152", "cut.json", truncated).expect_err("refused");
    assert!(err.to_string().starts_with("cut.json: at "), "{err}");

    // Valid JSON that breaks an invariant: total is not batter + extras.
    let inconsistent = text.replacen("\"total\": 1", "\"total\": 3", 1);
    let err =
        cricsheet::import("1298152", "odd.json", inconsistent.as_bytes()).expect_err("refused");
    assert!(err.to_string().contains("runs.total"), "{err}");
}
