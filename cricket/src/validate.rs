//! Checks an event on its own, before it enters the pipeline: ids, ranges and the arithmetic
//! every delivery must satisfy. Whether it fits the match so far is the scoreboard's job.
//!
//! Every number, string and list in the schema has a bound here, so no value can break a
//! consumer later: a `seq` near `u64::MAX` once made `seq + 1` overflow in the warehouse's
//! start-up query on every restart. The published schemas (ingest's `/openapi.json` and
//! `/v1/schema/event.json`) are built from these same constants by [`crate::schema`].

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

use crate::event::{
    Delivery, Event, InningsStarted, MatchEnded, MatchStarted, Outcome, Payload, SCHEMA_VERSION,
};
use thiserror::Error;

/// Highest accepted `seq`. A match has about 700 events (a five-day Test a few thousand), so
/// a billion is never reached by real data, while `seq + 1` (and even `2 * seq`) still fits a
/// signed 32-bit integer and every number is exact as a JavaScript number: no consumer, SQL
/// column or browser can overflow or round it.
pub const MAX_SEQ: u64 = 1_000_000_000;
/// Longest accepted match id; ids travel as Kafka keys and URL segments.
pub const MAX_MATCH_ID_LEN: usize = 64;
/// Longest accepted player or team name.
pub const MAX_NAME_LEN: usize = 100;
/// Longest accepted short text: venue, city, competition, result method, replacement reason.
pub const MAX_TEXT_LEN: usize = 200;
/// Longest accepted commentary line.
pub const MAX_COMMENTARY_LEN: usize = 2_000;
/// Most innings a match can have (four in a Test, plus super overs after a tie).
pub const MAX_INNINGS: u8 = 20;
/// Most balls an over may be scheduled to have (6 almost everywhere, 8 in old Australia).
pub const MAX_BALLS_PER_OVER: u8 = 10;
/// Most overs in one innings: scheduled overs are at most this, a delivery's 0-based `over` is
/// below it. The longest Test innings lasted about 270 overs.
pub const MAX_OVERS: u16 = 1_000;
/// Highest 1-based position of a delivery in its over, wides and no-balls included. The
/// longest recorded over had 22 deliveries; the rest is room for scorers' miscounts.
pub const MAX_BALL_IN_OVER: u16 = 50;
/// Most legal balls an innings may be limited to.
pub const MAX_INNINGS_BALLS: u32 = MAX_OVERS as u32 * MAX_BALLS_PER_OVER as u32;
/// Runs of any one kind on one delivery: generous (five wides, overthrows, penalties) but finite.
pub const MAX_RUNS_PER_KIND: u16 = 20;
/// Most extras on one delivery: every kind at its limit.
pub const MAX_EXTRAS_PER_DELIVERY: u16 = 5 * MAX_RUNS_PER_KIND;
/// Most runs on one delivery: off the bat plus every extra.
pub const MAX_RUNS_PER_DELIVERY: u16 = MAX_RUNS_PER_KIND + MAX_EXTRAS_PER_DELIVERY;
/// Most runs a target or a winning margin can be (the highest first-class total is 1,107).
pub const MAX_MATCH_RUNS: u32 = 10_000;
/// Most penalty runs awarded at an innings' start or end (5 per offence).
pub const MAX_PENALTY_RUNS: u32 = 100;
/// Wickets a side has: the most a winning margin in wickets can be.
pub const MAX_WICKETS: u32 = 10;
/// A side wins "by an innings" (and so many runs): the innings margin is at most one.
pub const MAX_MARGIN_INNINGS: u32 = 1;
/// Most wickets on one delivery (a run out off a stumping chance, say).
pub const MAX_WICKETS_PER_DELIVERY: usize = 2;
/// Most squads: one per team.
pub const MAX_SQUADS: usize = 2;
/// Most players in one squad (impact players and substitutes included).
pub const MAX_SQUAD_PLAYERS: usize = 30;
/// Most names in the other lists: fielders in a dismissal, absent hurt, players of the match,
/// replacements on one delivery.
pub const MAX_LISTED_PLAYERS: usize = 11;
/// Earliest accepted event time and match date, 1877-01-01T00:00:00Z in Unix seconds: the
/// first Test began on 15 March 1877, so no cricket worth an event happened before that year.
pub const EARLIEST_TIMESTAMP: i64 = -2_934_748_800;
/// Latest event time and match date any consumer accepts, 9999-12-31T23:59:59Z (and any
/// fraction of that second) in Unix seconds: the last instant with a four-digit year, which
/// RFC 3339 (and so JSON Schema's `date-time`) can still write.
pub const LATEST_TIMESTAMP: i64 = 253_402_300_799;
/// How far ahead of the receiving clock an event time may be ([`Event::validate_at`]): a day
/// covers clock skew and a synthetic match generated ahead of its sending, never a typo'd year.
pub const MAX_SECONDS_AHEAD: i64 = 24 * 60 * 60;

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

/// [`EARLIEST_TIMESTAMP`] and the last nanosecond of [`LATEST_TIMESTAMP`] as times.
pub fn time_bounds() -> (DateTime<Utc>, DateTime<Utc>) {
    // Both are well inside chrono's range (a unit test checks), so the fallbacks never apply.
    let earliest =
        DateTime::from_timestamp(EARLIEST_TIMESTAMP, 0).unwrap_or(DateTime::<Utc>::MIN_UTC);
    let latest =
        DateTime::from_timestamp(LATEST_TIMESTAMP, 999_999_999).unwrap_or(DateTime::<Utc>::MAX_UTC);
    (earliest, latest)
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
    /// Checks this event in isolation, without a clock: what every consumer runs. Returns the
    /// first problem found.
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
        check_range("seq", self.seq, 1, MAX_SEQ)?;
        // Whole seconds suffice: any fraction of the latest second is still inside.
        if !(EARLIEST_TIMESTAMP..=LATEST_TIMESTAMP).contains(&self.time.timestamp()) {
            let (earliest, latest) = time_bounds();
            return Err(invalid(
                "time",
                format!(
                    "must be between {} and {}",
                    earliest.format("%Y-%m-%dT%H:%M:%SZ"),
                    latest.format("%Y-%m-%dT%H:%M:%SZ")
                ),
            ));
        }
        match &self.payload {
            Payload::MatchStarted(started) => validate_match_started(started),
            Payload::InningsStarted(started) => validate_innings_started(started),
            Payload::Delivery(delivery) => validate_delivery(delivery),
            Payload::InningsEnded(ended) => {
                let field = "payload.innings_ended";
                innings_number(&format!("{field}.innings"), ended.innings)?;
                check_range(
                    &format!("{field}.penalty_runs"),
                    ended.penalty_runs,
                    0,
                    MAX_PENALTY_RUNS,
                )?;
                check_names(
                    &format!("{field}.absent_hurt"),
                    &ended.absent_hurt,
                    MAX_LISTED_PLAYERS,
                )
            }
            Payload::MatchEnded(ended) => validate_match_ended(ended),
        }
    }

    /// [`Event::validate`], plus the one rule that needs a clock: the event's time is at most
    /// [`MAX_SECONDS_AHEAD`] after `now`. Ingest runs this at the door; consumers do not, so a
    /// record ingest accepted is never refused later because of clock skew between hosts.
    pub fn validate_at(&self, now: DateTime<Utc>) -> Result<(), ValidationError> {
        self.validate()?;
        let ahead = TimeDelta::seconds(MAX_SECONDS_AHEAD);
        if now
            .checked_add_signed(ahead)
            .is_some_and(|limit| self.time > limit)
        {
            return Err(invalid(
                "time",
                format!(
                    "is more than {} hours ahead of the server's clock ({})",
                    MAX_SECONDS_AHEAD / 3600,
                    now.format("%Y-%m-%dT%H:%M:%SZ")
                ),
            ));
        }
        Ok(())
    }
}

/// `value` within `min..=max`, or an error naming the field and the range.
fn check_range<T>(field: &str, value: T, min: T, max: T) -> Result<(), ValidationError>
where
    T: PartialOrd + std::fmt::Display,
{
    if value < min || value > max {
        return Err(invalid(
            field,
            format!("{value} is not between {min} and {max}"),
        ));
    }
    Ok(())
}

fn check_optional<T>(field: &str, value: Option<T>, min: T, max: T) -> Result<(), ValidationError>
where
    T: PartialOrd + std::fmt::Display,
{
    value.map_or(Ok(()), |value| check_range(field, value, min, max))
}

/// A name or short text: not blank, at most `max` characters, no control characters.
fn check_text(field: &str, text: &str, max: usize) -> Result<(), ValidationError> {
    if text.trim().is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if text.chars().count() > max {
        return Err(invalid(field, format!("longer than {max} characters")));
    }
    if text.chars().any(char::is_control) {
        return Err(invalid(field, "contains control characters"));
    }
    Ok(())
}

fn check_name(field: &str, name: &str) -> Result<(), ValidationError> {
    check_text(field, name, MAX_NAME_LEN)
}

fn check_optional_text(field: &str, text: Option<&str>, max: usize) -> Result<(), ValidationError> {
    text.map_or(Ok(()), |text| check_text(field, text, max))
}

fn check_count(field: &str, count: usize, max: usize) -> Result<(), ValidationError> {
    if count > max {
        return Err(invalid(field, format!("{count} items; at most {max}")));
    }
    Ok(())
}

/// A list of at most `max` names, each checked with its index in the path.
fn check_names(field: &str, names: &[String], max: usize) -> Result<(), ValidationError> {
    check_count(field, names.len(), max)?;
    for (i, name) in names.iter().enumerate() {
        check_name(&format!("{field}[{i}]"), name)?;
    }
    Ok(())
}

fn innings_number(field: &str, innings: u8) -> Result<(), ValidationError> {
    check_range(field, innings, 1, MAX_INNINGS)
}

/// The earliest and latest accepted match dates: the days of [`time_bounds`].
fn date_bounds() -> (NaiveDate, NaiveDate) {
    let (earliest, latest) = time_bounds();
    (earliest.date_naive(), latest.date_naive())
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
    check_range(
        &format!("{field}.balls_per_over"),
        started.balls_per_over,
        1,
        MAX_BALLS_PER_OVER,
    )?;
    check_optional(
        &format!("{field}.scheduled_overs"),
        started.scheduled_overs,
        1,
        MAX_OVERS,
    )?;
    check_count(&format!("{field}.squads"), started.squads.len(), MAX_SQUADS)?;
    for (i, squad) in started.squads.iter().enumerate() {
        if !started.teams.contains(&squad.team) {
            return Err(invalid(
                &format!("{field}.squads[{i}].team"),
                "is not one of the match's teams",
            ));
        }
        check_names(
            &format!("{field}.squads[{i}].players"),
            &squad.players,
            MAX_SQUAD_PLAYERS,
        )?;
    }
    if let Some(toss) = &started.toss
        && !started.teams.contains(&toss.winner)
    {
        return Err(invalid(
            &format!("{field}.toss.winner"),
            "is not one of the match's teams",
        ));
    }
    for (name, text) in [
        ("venue", &started.venue),
        ("city", &started.city),
        ("competition", &started.competition),
    ] {
        check_optional_text(&format!("{field}.{name}"), text.as_deref(), MAX_TEXT_LEN)?;
    }
    if let Some(date) = started.date {
        let (earliest, latest) = date_bounds();
        if date < earliest || date > latest {
            return Err(invalid(
                &format!("{field}.date"),
                format!("must be between {earliest} and {latest}"),
            ));
        }
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
    check_optional(
        &format!("{field}.target_runs"),
        started.target_runs,
        1,
        MAX_MATCH_RUNS,
    )?;
    check_optional(
        &format!("{field}.max_balls"),
        started.max_balls,
        1,
        MAX_INNINGS_BALLS,
    )?;
    check_range(
        &format!("{field}.penalty_runs"),
        started.penalty_runs,
        0,
        MAX_PENALTY_RUNS,
    )
}

fn validate_delivery(delivery: &Delivery) -> Result<(), ValidationError> {
    let field = "payload.delivery";
    innings_number(&format!("{field}.innings"), delivery.innings)?;
    check_range(&format!("{field}.over"), delivery.over, 0, MAX_OVERS - 1)?;
    check_range(&format!("{field}.ball"), delivery.ball, 1, MAX_BALL_IN_OVER)?;
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
    for (name, value, max) in [
        ("runs.batter", runs.batter, MAX_RUNS_PER_KIND),
        ("runs.extras", runs.extras, MAX_EXTRAS_PER_DELIVERY),
        ("runs.total", runs.total, MAX_RUNS_PER_DELIVERY),
        ("extras.wides", extras.wides, MAX_RUNS_PER_KIND),
        ("extras.noballs", extras.noballs, MAX_RUNS_PER_KIND),
        ("extras.byes", extras.byes, MAX_RUNS_PER_KIND),
        ("extras.legbyes", extras.legbyes, MAX_RUNS_PER_KIND),
        ("extras.penalty", extras.penalty, MAX_RUNS_PER_KIND),
    ] {
        check_range(&format!("{field}.{name}"), value, 0, max)?;
    }
    // Every part is bounded above, so these sums cannot overflow.
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
    let batter_and_extras = u32::from(runs.batter) + u32::from(runs.extras);
    if u32::from(runs.total) != batter_and_extras {
        return Err(invalid(
            &format!("{field}.runs.total"),
            format!(
                "is {} but batter + extras = {batter_and_extras}",
                runs.total
            ),
        ));
    }
    if extras.wides > 0 && (runs.batter > 0 || extras.noballs > 0) {
        return Err(invalid(
            &format!("{field}.extras.wides"),
            "a wide cannot also be a no-ball or score runs off the bat",
        ));
    }
    check_count(
        &format!("{field}.wickets"),
        delivery.wickets.len(),
        MAX_WICKETS_PER_DELIVERY,
    )?;
    for (i, wicket) in delivery.wickets.iter().enumerate() {
        check_name(
            &format!("{field}.wickets[{i}].player_out"),
            &wicket.player_out,
        )?;
        let fielders = format!("{field}.wickets[{i}].fielders");
        check_count(&fielders, wicket.fielders.len(), MAX_LISTED_PLAYERS)?;
        for (j, fielder) in wicket.fielders.iter().enumerate() {
            check_name(&format!("{fielders}[{j}].name"), &fielder.name)?;
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
    let replacements = format!("{field}.replacements");
    check_count(
        &replacements,
        delivery.replacements.len(),
        MAX_LISTED_PLAYERS,
    )?;
    for (i, replacement) in delivery.replacements.iter().enumerate() {
        let at = format!("{replacements}[{i}]");
        check_name(&format!("{at}.player_in"), &replacement.player_in)?;
        check_name(&format!("{at}.player_out"), &replacement.player_out)?;
        check_optional_text(
            &format!("{at}.team"),
            replacement.team.as_deref(),
            MAX_NAME_LEN,
        )?;
        check_optional_text(
            &format!("{at}.role"),
            replacement.role.as_deref(),
            MAX_TEXT_LEN,
        )?;
        check_text(&format!("{at}.reason"), &replacement.reason, MAX_TEXT_LEN)?;
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

fn validate_match_ended(ended: &MatchEnded) -> Result<(), ValidationError> {
    let field = "payload.match_ended";
    let outcome = format!("{field}.outcome");
    match &ended.outcome {
        Outcome::Win {
            winner,
            margin,
            method,
        } => {
            check_name(&format!("{outcome}.winner"), winner)?;
            let margin_field = format!("{outcome}.margin");
            check_optional(
                &format!("{margin_field}.runs"),
                margin.runs,
                0,
                MAX_MATCH_RUNS,
            )?;
            check_optional(
                &format!("{margin_field}.wickets"),
                margin.wickets,
                0,
                MAX_WICKETS,
            )?;
            check_optional(
                &format!("{margin_field}.innings"),
                margin.innings,
                0,
                MAX_MARGIN_INNINGS,
            )?;
            check_optional_text(
                &format!("{outcome}.method"),
                method.as_deref(),
                MAX_TEXT_LEN,
            )?;
        }
        Outcome::Tie {
            eliminator,
            bowl_out,
        } => {
            check_optional_text(
                &format!("{outcome}.eliminator"),
                eliminator.as_deref(),
                MAX_NAME_LEN,
            )?;
            check_optional_text(
                &format!("{outcome}.bowl_out"),
                bowl_out.as_deref(),
                MAX_NAME_LEN,
            )?;
        }
        Outcome::NoResult | Outcome::Draw => {}
    }
    check_names(
        &format!("{field}.player_of_match"),
        &ended.player_of_match,
        MAX_LISTED_PLAYERS,
    )
}
