//! Checks an event on its own, before it enters the pipeline: ids, ranges and the arithmetic
//! every delivery must satisfy. Whether it fits the match so far is the scoreboard's job.

use crate::event::{Delivery, Event, InningsStarted, MatchStarted, Payload, SCHEMA_VERSION};
use thiserror::Error;

/// Longest accepted match id; ids travel as Kafka keys and URL segments.
pub const MAX_MATCH_ID_LEN: usize = 64;
/// Longest accepted player or team name.
pub const MAX_NAME_LEN: usize = 100;
/// Longest accepted commentary line.
pub const MAX_COMMENTARY_LEN: usize = 2_000;
/// Most innings a match can have (four in a Test, plus super overs after a tie).
pub const MAX_INNINGS: u8 = 20;
/// Runs of any one kind on one delivery: generous (five wides, overthrows, penalties) but finite.
pub const MAX_RUNS_PER_KIND: u16 = 20;

/// Why an event is not acceptable. `field` is the JSON path of the offending value.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    pub field: String,
    pub message: String,
}

fn invalid(field: &str, message: impl Into<String>) -> ValidationError {
    ValidationError {
        field: field.to_owned(),
        message: message.into(),
    }
}

/// Is `id` usable as a match id: 1 to 64 characters of `A-Z a-z 0-9 _ - . :`?
pub fn is_valid_match_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_MATCH_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
}

impl Event {
    /// Checks this event in isolation. Returns the first problem found.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.schema != SCHEMA_VERSION {
            return Err(invalid(
                "schema",
                format!(
                    "unsupported schema version {} (expected {SCHEMA_VERSION})",
                    self.schema
                ),
            ));
        }
        if !is_valid_match_id(&self.match_id) {
            return Err(invalid(
                "match_id",
                format!("must be 1 to {MAX_MATCH_ID_LEN} characters of A-Z a-z 0-9 _ - . :"),
            ));
        }
        if self.seq == 0 {
            return Err(invalid("seq", "must be 1 or more"));
        }
        match &self.payload {
            Payload::MatchStarted(started) => validate_match_started(started),
            Payload::InningsStarted(started) => validate_innings_started(started),
            Payload::Delivery(delivery) => validate_delivery(delivery),
            Payload::InningsEnded(ended) => {
                innings_number("payload.innings_ended.innings", ended.innings)?;
                for (i, name) in ended.absent_hurt.iter().enumerate() {
                    check_name(&format!("payload.innings_ended.absent_hurt[{i}]"), name)?;
                }
                Ok(())
            }
            Payload::MatchEnded(_) => Ok(()),
        }
    }
}

fn check_name(field: &str, name: &str) -> Result<(), ValidationError> {
    if name.trim().is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if name.chars().count() > MAX_NAME_LEN {
        return Err(invalid(
            field,
            format!("longer than {MAX_NAME_LEN} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid(field, "contains control characters"));
    }
    Ok(())
}

fn innings_number(field: &str, innings: u8) -> Result<(), ValidationError> {
    if innings == 0 || innings > MAX_INNINGS {
        return Err(invalid(
            field,
            format!("must be between 1 and {MAX_INNINGS}"),
        ));
    }
    Ok(())
}

fn validate_match_started(started: &MatchStarted) -> Result<(), ValidationError> {
    let field = "payload.match_started";
    for (i, team) in started.teams.iter().enumerate() {
        check_name(&format!("{field}.teams[{i}]"), team)?;
    }
    if started.teams[0] == started.teams[1] {
        return Err(invalid(
            &format!("{field}.teams"),
            "the two teams must differ",
        ));
    }
    if !(1..=10).contains(&started.balls_per_over) {
        return Err(invalid(
            &format!("{field}.balls_per_over"),
            "must be between 1 and 10",
        ));
    }
    if started.scheduled_overs == Some(0) {
        return Err(invalid(
            &format!("{field}.scheduled_overs"),
            "must be 1 or more",
        ));
    }
    for (i, squad) in started.squads.iter().enumerate() {
        if !started.teams.contains(&squad.team) {
            return Err(invalid(
                &format!("{field}.squads[{i}].team"),
                "is not one of the match's teams",
            ));
        }
        for (j, player) in squad.players.iter().enumerate() {
            check_name(&format!("{field}.squads[{i}].players[{j}]"), player)?;
        }
    }
    if let Some(toss) = &started.toss
        && !started.teams.contains(&toss.winner)
    {
        return Err(invalid(
            &format!("{field}.toss.winner"),
            "is not one of the match's teams",
        ));
    }
    Ok(())
}

fn validate_innings_started(started: &InningsStarted) -> Result<(), ValidationError> {
    let field = "payload.innings_started";
    innings_number(&format!("{field}.innings"), started.innings)?;
    check_name(&format!("{field}.batting_team"), &started.batting_team)?;
    check_name(&format!("{field}.bowling_team"), &started.bowling_team)?;
    if started.batting_team == started.bowling_team {
        return Err(invalid(
            &format!("{field}.bowling_team"),
            "must differ from batting_team",
        ));
    }
    if started.target_runs == Some(0) {
        return Err(invalid(
            &format!("{field}.target_runs"),
            "must be 1 or more",
        ));
    }
    if started.max_balls == Some(0) {
        return Err(invalid(&format!("{field}.max_balls"), "must be 1 or more"));
    }
    Ok(())
}

fn validate_delivery(delivery: &Delivery) -> Result<(), ValidationError> {
    let field = "payload.delivery";
    innings_number(&format!("{field}.innings"), delivery.innings)?;
    if delivery.ball == 0 {
        return Err(invalid(&format!("{field}.ball"), "must be 1 or more"));
    }
    check_name(&format!("{field}.batter"), &delivery.batter)?;
    check_name(&format!("{field}.non_striker"), &delivery.non_striker)?;
    check_name(&format!("{field}.bowler"), &delivery.bowler)?;
    if delivery.batter == delivery.non_striker {
        return Err(invalid(
            &format!("{field}.non_striker"),
            "must differ from batter",
        ));
    }
    let runs = delivery.runs;
    let extras = delivery.extras;
    for (name, value) in [
        ("runs.batter", runs.batter),
        ("extras.wides", extras.wides),
        ("extras.noballs", extras.noballs),
        ("extras.byes", extras.byes),
        ("extras.legbyes", extras.legbyes),
        ("extras.penalty", extras.penalty),
    ] {
        if value > MAX_RUNS_PER_KIND {
            return Err(invalid(
                &format!("{field}.{name}"),
                format!("{value} is more than {MAX_RUNS_PER_KIND}"),
            ));
        }
    }
    if u32::from(runs.extras) != extras.total() {
        return Err(invalid(
            &format!("{field}.runs.extras"),
            format!(
                "is {} but the extras add up to {}",
                runs.extras,
                extras.total()
            ),
        ));
    }
    if u32::from(runs.total) != u32::from(runs.batter) + u32::from(runs.extras) {
        return Err(invalid(
            &format!("{field}.runs.total"),
            format!(
                "is {} but batter + extras = {}",
                runs.total,
                runs.batter + runs.extras
            ),
        ));
    }
    if extras.wides > 0 && (runs.batter > 0 || extras.noballs > 0) {
        return Err(invalid(
            &format!("{field}.extras.wides"),
            "a wide cannot also be a no-ball or score runs off the bat",
        ));
    }
    if delivery.wickets.len() > 2 {
        return Err(invalid(
            &format!("{field}.wickets"),
            "at most two wickets on one delivery",
        ));
    }
    for (i, wicket) in delivery.wickets.iter().enumerate() {
        check_name(
            &format!("{field}.wickets[{i}].player_out"),
            &wicket.player_out,
        )?;
        for (j, fielder) in wicket.fielders.iter().enumerate() {
            check_name(
                &format!("{field}.wickets[{i}].fielders[{j}].name"),
                &fielder.name,
            )?;
        }
    }
    if let [first, second] = delivery.wickets.as_slice()
        && first.player_out == second.player_out
    {
        return Err(invalid(
            &format!("{field}.wickets"),
            "the same player is out twice",
        ));
    }
    for (i, replacement) in delivery.replacements.iter().enumerate() {
        check_name(
            &format!("{field}.replacements[{i}].player_in"),
            &replacement.player_in,
        )?;
        check_name(
            &format!("{field}.replacements[{i}].player_out"),
            &replacement.player_out,
        )?;
    }
    if let Some(text) = &delivery.commentary
        && text.chars().count() > MAX_COMMENTARY_LEN
    {
        return Err(invalid(
            &format!("{field}.commentary"),
            format!("longer than {MAX_COMMENTARY_LEN} characters"),
        ));
    }
    Ok(())
}
