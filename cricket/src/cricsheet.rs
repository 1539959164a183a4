//! Cricsheet import: a real match's ball-by-ball JSON (format 1.0.0 or 1.1.0) turned into the
//! platform's event stream, so a replayed match travels the same path as a live one.
//!
//! Cricsheet records facts that the live stream has to state explicitly: the importer derives
//! the chase target when the file omits it (and for super overs), each innings' length limit,
//! and why each innings ended. It runs the events through a [`Scoreboard`] as it goes, so what
//! it emits is exactly what the engine accepts. Errors name the source and the JSON path.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use serde::Deserialize;
use serde::de::{self, Deserializer};
use thiserror::Error;

use crate::event::{
    Delivery, Event, Extras, Fielder, Format, InningsEndReason, InningsEnded, InningsStarted,
    Margin, MatchEnded, MatchStarted, Outcome, Payload, Replacement, Runs, SCHEMA_VERSION, Squad,
    Toss, TossDecision, Wicket, WicketKind,
};
use crate::scoreboard::Scoreboard;

/// The wall-clock gaps the importer puts between events, since Cricsheet records none.
/// Replays at speed 1 take about as long as a real match's playing time.
pub const SECONDS_PER_DELIVERY: i64 = 40;
pub const SECONDS_BETWEEN_INNINGS: i64 = 20 * 60;

/// Why a Cricsheet file could not be imported.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{source_name}: at {path}: {message}")]
pub struct ImportError {
    /// The file (or other source) being imported.
    pub source_name: String,
    /// JSON path of the offending value, e.g. `innings[1].overs[3].deliveries[2].runs.total`.
    pub path: String,
    pub message: String,
}

/// Parses Cricsheet JSON and returns the match's events, `seq` 1, 2, 3, ...
///
/// `source_name` names the input in errors (usually the file path).
pub fn import(match_id: &str, source_name: &str, json: &[u8]) -> Result<Vec<Event>, ImportError> {
    let fail = |path: String, message: String| ImportError {
        source_name: source_name.to_owned(),
        path,
        message,
    };
    let mut deserializer = serde_json::Deserializer::from_slice(json);
    let file: File = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        fail(
            if path == "." { "$".to_owned() } else { path },
            inner.to_string(),
        )
    })?;
    if let Some(meta) = &file.meta
        && !meta.data_version.starts_with("1.")
    {
        return Err(fail(
            "meta.data_version".to_owned(),
            format!(
                "unsupported Cricsheet format {:?} (1.0.0 and 1.1.0 are)",
                meta.data_version
            ),
        ));
    }
    let mut builder =
        Builder::new(match_id, &file.info).map_err(|(path, message)| fail(path, message))?;
    builder
        .run(&file)
        .map_err(|(path, message)| fail(path, message))?;
    Ok(builder.events)
}

type Failure = (String, String);

struct Builder<'a> {
    info: &'a Info,
    board: Scoreboard,
    events: Vec<Event>,
    clock: DateTime<Utc>,
}

impl<'a> Builder<'a> {
    fn new(match_id: &str, info: &'a Info) -> Result<Builder<'a>, Failure> {
        let start_date = info.dates.first().copied().unwrap_or_default();
        let clock = start_date
            .and_time(NaiveTime::from_hms_opt(14, 0, 0).unwrap_or_default())
            .and_utc();
        if !crate::validate::is_valid_match_id(match_id) {
            return Err((
                "$".to_owned(),
                format!("{match_id:?} is not a usable match id"),
            ));
        }
        Ok(Builder {
            info,
            board: Scoreboard::new(match_id),
            events: Vec::new(),
            clock,
        })
    }

    /// Appends one event, checking it exactly as the pipeline will.
    fn emit(&mut self, path: &str, payload: Payload, seconds_later: i64) -> Result<(), Failure> {
        self.clock += Duration::seconds(seconds_later);
        let event = Event {
            schema: SCHEMA_VERSION,
            match_id: self.board.match_id.clone(),
            seq: self.events.len() as u64 + 1,
            time: self.clock,
            payload,
        };
        event
            .validate()
            .map_err(|err| (path.to_owned(), err.to_string()))?;
        self.board
            .apply(&event)
            .map_err(|err| (path.to_owned(), err.to_string()))?;
        self.events.push(event);
        Ok(())
    }

    fn run(&mut self, file: &File) -> Result<(), Failure> {
        let info = self.info;
        let started = match_started(info)?;
        let teams = started.teams.clone();
        let balls_per_over = started.balls_per_over;
        self.emit("info", Payload::MatchStarted(started), 0)?;

        let last = file.innings.len().saturating_sub(1);
        for (index, innings) in file.innings.iter().enumerate() {
            let path = format!("innings[{index}]");
            let number = u8::try_from(index + 1)
                .map_err(|_| (path.clone(), "too many innings".to_owned()))?;
            let bowling_team = teams
                .iter()
                .find(|team| **team != innings.team)
                .filter(|_| teams.contains(&innings.team))
                .ok_or_else(|| {
                    (
                        format!("{path}.team"),
                        format!("{:?} is not one of info.teams", innings.team),
                    )
                })?
                .clone();
            let target_runs = innings
                .target
                .as_ref()
                .and_then(|t| t.runs)
                .or_else(|| self.implied_target(innings));
            let max_balls = self.max_balls(innings, index < last, balls_per_over, &path)?;
            let gap = if index == 0 {
                30 * 60
            } else {
                SECONDS_BETWEEN_INNINGS
            };
            self.emit(
                &path,
                Payload::InningsStarted(InningsStarted {
                    innings: number,
                    batting_team: innings.team.clone(),
                    bowling_team: bowling_team.clone(),
                    super_over: innings.super_over,
                    target_runs,
                    max_balls,
                    penalty_runs: innings.penalty_runs.pre,
                }),
                gap,
            )?;

            for (o, over) in innings.overs.iter().enumerate() {
                for (d, delivery) in over.deliveries.iter().enumerate() {
                    let path = format!("{path}.overs[{o}].deliveries[{d}]");
                    let payload = delivery_event(
                        delivery,
                        number,
                        over.over,
                        d,
                        &innings.team,
                        &bowling_team,
                        &path,
                    )?;
                    self.emit(&path, Payload::Delivery(payload), SECONDS_PER_DELIVERY)?;
                }
            }

            let reason = self.end_reason(innings, index == last, balls_per_over);
            self.emit(
                &path,
                Payload::InningsEnded(InningsEnded {
                    innings: number,
                    reason,
                    penalty_runs: innings.penalty_runs.post,
                    absent_hurt: innings.absent_hurt.clone(),
                }),
                SECONDS_PER_DELIVERY,
            )?;
        }

        let outcome = outcome(&info.outcome)?;
        self.emit(
            "info.outcome",
            Payload::MatchEnded(MatchEnded {
                outcome,
                player_of_match: info.player_of_match.clone(),
            }),
            60,
        )
    }

    /// A chase whose file gives no target: one more than the opponents' innings just completed
    /// (the first innings of a limited-overs match, or the first of a super-over pair).
    fn implied_target(&self, innings: &InningsJson) -> Option<u32> {
        let previous = self.board.innings.last()?;
        let limited = self.info.overs.is_some() || innings.super_over;
        let first_of_pair = if innings.super_over {
            previous.super_over
                && self.board.innings.iter().filter(|i| i.super_over).count() % 2 == 1
        } else {
            self.board.innings.len() == 1
        };
        (limited && first_of_pair).then_some(previous.runs + 1)
    }

    /// The innings' length limit in legal balls: one over for a super over; the revised target
    /// overs for a chase; the scheduled overs otherwise, unless the innings was cut short and
    /// play went on (a match shortened before or during the first innings).
    fn max_balls(
        &self,
        innings: &InningsJson,
        more_follow: bool,
        balls_per_over: u8,
        path: &str,
    ) -> Result<Option<u32>, Failure> {
        let per_over = u32::from(balls_per_over);
        if innings.super_over {
            return Ok(Some(per_over));
        }
        if let Some(overs) = innings.target.as_ref().and_then(|t| t.overs) {
            return overs_to_balls(overs, balls_per_over)
                .map(Some)
                .ok_or_else(|| {
                    (
                        format!("{path}.target.overs"),
                        format!("{overs} is not a number of overs"),
                    )
                });
        }
        let Some(scheduled) = self.info.overs else {
            return Ok(None);
        };
        let scheduled = u32::from(scheduled) * per_over;
        let legal: u32 = innings
            .overs
            .iter()
            .flat_map(|o| &o.deliveries)
            .filter(|d| d.is_legal())
            .count() as u32;
        let wickets: usize = innings
            .overs
            .iter()
            .flat_map(|o| &o.deliveries)
            .flat_map(|d| &d.wickets)
            .filter(|w| {
                WicketKind::from_label(&w.kind).is_some_and(WicketKind::counts_as_team_wicket)
            })
            .count();
        let all_out = wickets + innings.absent_hurt.len() >= 10;
        if more_follow && !all_out && legal < scheduled && legal > 0 {
            return Ok(Some(legal.div_ceil(per_over) * per_over));
        }
        Ok(Some(scheduled))
    }

    fn end_reason(
        &self,
        innings: &InningsJson,
        last: bool,
        balls_per_over: u8,
    ) -> InningsEndReason {
        let Some(state) = self.board.innings.last() else {
            return InningsEndReason::Interrupted;
        };
        let wickets_available = if innings.super_over { 2 } else { 10 };
        if innings.forfeited {
            InningsEndReason::Forfeited
        } else if innings.declared {
            InningsEndReason::Declared
        } else if state.target_runs.is_some_and(|target| state.runs >= target) {
            InningsEndReason::TargetReached
        } else if state.wickets as usize + innings.absent_hurt.len() >= wickets_available {
            InningsEndReason::AllOut
        } else if state.max_balls.is_some_and(|max| state.legal_balls >= max)
            || (!last && self.info.overs.is_some())
            || (last
                && state.overs().completed * u32::from(balls_per_over)
                    >= state.max_balls.unwrap_or(u32::MAX))
        {
            InningsEndReason::OversComplete
        } else {
            InningsEndReason::Interrupted
        }
    }
}

/// "14.2" overs -> 86 balls with 6-ball overs.
fn overs_to_balls(overs: f64, balls_per_over: u8) -> Option<u32> {
    if !(0.0..=10_000.0).contains(&overs) {
        return None;
    }
    let completed = overs.trunc();
    let balls = ((overs - completed) * 10.0).round();
    if balls >= f64::from(balls_per_over) {
        return None;
    }
    Some(completed as u32 * u32::from(balls_per_over) + balls as u32)
}

fn match_started(info: &Info) -> Result<MatchStarted, Failure> {
    let [first, second] = info.teams.as_slice() else {
        return Err((
            "info.teams".to_owned(),
            format!("expected two teams, found {}", info.teams.len()),
        ));
    };
    let teams = [first.clone(), second.clone()];
    let format = match info.match_type.as_str() {
        "T20" | "IT20" => Format::T20,
        "ODI" | "ODM" => Format::Odi,
        "Test" => Format::Test,
        _ => Format::Other,
    };
    let toss = match &info.toss {
        None => None,
        Some(toss) => Some(Toss {
            winner: toss.winner.clone(),
            decision: match toss.decision.as_str() {
                "bat" => TossDecision::Bat,
                "field" => TossDecision::Field,
                other => {
                    return Err((
                        "info.toss.decision".to_owned(),
                        format!("unknown decision {other:?}"),
                    ));
                }
            },
        }),
    };
    let squads = teams
        .iter()
        .filter_map(|team| {
            info.players.get(team).map(|players| Squad {
                team: team.clone(),
                players: players.clone(),
            })
        })
        .collect();
    Ok(MatchStarted {
        teams,
        format,
        balls_per_over: info.balls_per_over,
        scheduled_overs: info.overs,
        squads,
        toss,
        venue: info.venue.clone(),
        city: info.city.clone(),
        competition: info.event.as_ref().and_then(|e| e.name.clone()),
        date: info.dates.first().copied(),
    })
}

fn delivery_event(
    delivery: &DeliveryJson,
    innings: u8,
    over: u16,
    index: usize,
    batting_team: &str,
    bowling_team: &str,
    path: &str,
) -> Result<Delivery, Failure> {
    let mut wickets = Vec::with_capacity(delivery.wickets.len());
    for (w, wicket) in delivery.wickets.iter().enumerate() {
        let kind = WicketKind::from_label(&wicket.kind).ok_or_else(|| {
            (
                format!("{path}.wickets[{w}].kind"),
                format!("unknown wicket kind {:?}", wicket.kind),
            )
        })?;
        wickets.push(Wicket {
            player_out: wicket.player_out.clone(),
            kind,
            fielders: wicket
                .fielders
                .iter()
                .filter_map(|f| {
                    f.name.as_ref().map(|name| Fielder {
                        name: name.clone(),
                        substitute: f.substitute,
                    })
                })
                .collect(),
        });
    }
    let mut replacements = Vec::new();
    if let Some(r) = &delivery.replacements {
        replacements.extend(r.r#match.iter().map(|m| Replacement {
            player_in: m.player_in.clone(),
            player_out: m.player_out.clone(),
            team: Some(m.team.clone()),
            role: None,
            reason: m.reason.clone(),
        }));
        replacements.extend(r.role.iter().map(|m| {
            Replacement {
                player_in: m.player_in.clone(),
                player_out: m.player_out.clone(),
                team: Some(
                    if m.role == "bowler" {
                        bowling_team
                    } else {
                        batting_team
                    }
                    .to_owned(),
                ),
                role: Some(m.role.clone()),
                reason: m.reason.clone(),
            }
        }));
    }
    Ok(Delivery {
        innings,
        over,
        ball: u16::try_from(index + 1)
            .map_err(|_| (path.to_owned(), "over too long".to_owned()))?,
        batter: delivery.batter.clone(),
        non_striker: delivery.non_striker.clone(),
        bowler: delivery.bowler.clone(),
        runs: Runs {
            batter: delivery.runs.batter,
            extras: delivery.runs.extras,
            total: delivery.runs.total,
            non_boundary: delivery.runs.non_boundary,
        },
        extras: delivery.extras,
        wickets,
        replacements,
        commentary: None,
    })
}

fn outcome(outcome: &OutcomeJson) -> Result<Outcome, Failure> {
    if let Some(winner) = &outcome.winner {
        let by = outcome.by.unwrap_or_default();
        return Ok(Outcome::Win {
            winner: winner.clone(),
            margin: Margin {
                runs: by.runs,
                wickets: by.wickets,
                innings: by.innings,
            },
            method: outcome.method.clone(),
        });
    }
    match outcome.result.as_deref() {
        Some("tie") => Ok(Outcome::Tie {
            eliminator: outcome.eliminator.clone(),
            bowl_out: outcome.bowl_out.clone(),
        }),
        Some("no result") => Ok(Outcome::NoResult),
        Some("draw") => Ok(Outcome::Draw),
        other => Err((
            "info.outcome".to_owned(),
            format!("neither a winner nor a known result ({other:?})"),
        )),
    }
}

// --- The Cricsheet JSON shape (only what the platform uses; unknown keys are ignored). ---

#[derive(Deserialize)]
struct File {
    meta: Option<Meta>,
    info: Info,
    #[serde(default)]
    innings: Vec<InningsJson>,
}

#[derive(Deserialize)]
struct Meta {
    data_version: String,
}

#[derive(Deserialize)]
struct Info {
    #[serde(default = "six")]
    balls_per_over: u8,
    city: Option<String>,
    #[serde(default)]
    dates: Vec<NaiveDate>,
    event: Option<EventName>,
    match_type: String,
    overs: Option<u16>,
    outcome: OutcomeJson,
    #[serde(default)]
    players: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    player_of_match: Vec<String>,
    teams: Vec<String>,
    toss: Option<TossJson>,
    venue: Option<String>,
}

fn six() -> u8 {
    6
}

#[derive(Deserialize)]
struct EventName {
    name: Option<String>,
}

#[derive(Deserialize)]
struct TossJson {
    winner: String,
    decision: String,
}

#[derive(Deserialize)]
struct OutcomeJson {
    winner: Option<String>,
    by: Option<By>,
    method: Option<String>,
    result: Option<String>,
    eliminator: Option<String>,
    bowl_out: Option<String>,
}

#[derive(Deserialize, Default, Clone, Copy)]
struct By {
    runs: Option<u32>,
    wickets: Option<u32>,
    innings: Option<u32>,
}

#[derive(Deserialize)]
struct InningsJson {
    team: String,
    #[serde(default)]
    overs: Vec<OverJson>,
    target: Option<Target>,
    #[serde(default)]
    super_over: bool,
    #[serde(default)]
    penalty_runs: PenaltyRuns,
    #[serde(default)]
    absent_hurt: Vec<String>,
    #[serde(default)]
    declared: bool,
    #[serde(default)]
    forfeited: bool,
}

#[derive(Deserialize)]
struct Target {
    runs: Option<u32>,
    overs: Option<f64>,
}

#[derive(Deserialize, Default)]
struct PenaltyRuns {
    #[serde(default)]
    pre: u32,
    #[serde(default)]
    post: u32,
}

#[derive(Deserialize)]
struct OverJson {
    over: u16,
    deliveries: Vec<DeliveryJson>,
}

#[derive(Deserialize)]
struct DeliveryJson {
    #[serde(alias = "batsman")]
    batter: String,
    bowler: String,
    non_striker: String,
    runs: RunsJson,
    #[serde(default)]
    extras: Extras,
    #[serde(default)]
    wickets: Vec<WicketJson>,
    replacements: Option<ReplacementsJson>,
}

impl DeliveryJson {
    fn is_legal(&self) -> bool {
        self.extras.wides == 0 && self.extras.noballs == 0
    }
}

#[derive(Deserialize)]
struct RunsJson {
    #[serde(alias = "batsman")]
    batter: u16,
    extras: u16,
    total: u16,
    #[serde(default, deserialize_with = "flag")]
    non_boundary: bool,
}

/// Cricsheet writes flags as `true`, and some older files as `1`.
fn flag<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Flag {
        Bool(bool),
        Int(u8),
    }
    match Flag::deserialize(deserializer)? {
        Flag::Bool(value) => Ok(value),
        Flag::Int(0) => Ok(false),
        Flag::Int(1) => Ok(true),
        Flag::Int(other) => Err(de::Error::custom(format!(
            "expected true, false, 0 or 1, found {other}"
        ))),
    }
}

#[derive(Deserialize)]
struct WicketJson {
    player_out: String,
    kind: String,
    #[serde(default)]
    fielders: Vec<FielderJson>,
}

#[derive(Deserialize)]
struct FielderJson {
    name: Option<String>,
    #[serde(default)]
    substitute: bool,
}

#[derive(Deserialize)]
struct ReplacementsJson {
    #[serde(default)]
    r#match: Vec<MatchReplacement>,
    #[serde(default)]
    role: Vec<RoleReplacement>,
}

#[derive(Deserialize)]
struct MatchReplacement {
    #[serde(rename = "in")]
    player_in: String,
    #[serde(rename = "out")]
    player_out: String,
    team: String,
    reason: String,
}

#[derive(Deserialize)]
struct RoleReplacement {
    #[serde(rename = "in")]
    player_in: String,
    #[serde(rename = "out")]
    player_out: String,
    reason: String,
    role: String,
}
