//! The scoring engine: a [`Scoreboard`] folds a match's events, in `seq` order, into its full
//! live state.
//!
//! `apply` is idempotent and strict: an event whose `seq` was already applied changes nothing
//! (so at-least-once delivery gives exactly-once scores), a `seq` beyond the next one is a
//! [`ApplyError::Gap`], and an event that contradicts the match so far is refused before
//! anything changes. The state is plain serde data, so it doubles as the snapshot format.

mod innings;
mod status;

pub use innings::{
    Ball, Batter, Bowler, Dismissal, FallOfWicket, Innings, InningsEnd, Over, Overs, Partnership,
    RECENT_BALLS,
};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::event::{
    Event, Format, InningsEnded, InningsStarted, MatchEnded, MatchStarted, Payload, Replacement,
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Scoreboard {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::match_id))]
    pub match_id: String,
    /// The `seq` of the latest applied event; 0 before the first.
    pub last_seq: u64,
    /// Event time of the latest applied event.
    pub updated_at: Option<DateTime<Utc>>,
    /// The match details, once `match_started` has been applied.
    pub info: Option<MatchStarted>,
    pub innings: Vec<Innings>,
    pub replacements: Vec<Replacement>,
    pub result: Option<MatchEnded>,
}

/// What `apply` did with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The event changed the scoreboard.
    Changed,
    /// The event's `seq` was already applied; nothing changed.
    Duplicate,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ApplyError {
    #[error("event for match {got:?} offered to the scoreboard of match {expected:?}")]
    WrongMatch { expected: String, got: String },
    /// Events are missing between the last applied one and this one.
    #[error("sequence gap: expected seq {expected}, got {got}")]
    Gap { expected: u64, got: u64 },
    /// The event contradicts the match so far; the scoreboard is unchanged.
    #[error("seq {seq} ({kind}) refused: {reason}")]
    Contract {
        seq: u64,
        kind: &'static str,
        reason: String,
    },
}

/// A match in one line, for lists: `GET /v1/matches` and the dashboard's home page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MatchSummary {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::match_id))]
    pub match_id: String,
    pub teams: Option<[String; 2]>,
    pub format: Option<Format>,
    pub scores: Vec<InningsScore>,
    pub status: String,
    pub live: bool,
    pub last_seq: u64,
    pub updated_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InningsScore {
    pub team: String,
    pub super_over: bool,
    pub runs: u32,
    pub wickets: u32,
    /// Overs as displayed, e.g. "18.5".
    pub overs: String,
}

impl Scoreboard {
    pub fn new(match_id: impl Into<String>) -> Scoreboard {
        Scoreboard {
            match_id: match_id.into(),
            last_seq: 0,
            updated_at: None,
            info: None,
            innings: Vec::new(),
            replacements: Vec::new(),
            result: None,
        }
    }

    /// Builds a scoreboard from a whole event stream; stops at the first error.
    pub fn from_events<'a>(
        match_id: impl Into<String>,
        events: impl IntoIterator<Item = &'a Event>,
    ) -> Result<Scoreboard, ApplyError> {
        let mut board = Scoreboard::new(match_id);
        for event in events {
            board.apply(event)?;
        }
        Ok(board)
    }

    /// Applies one event. See the module docs for the duplicate and gap rules.
    pub fn apply(&mut self, event: &Event) -> Result<Applied, ApplyError> {
        if event.match_id != self.match_id {
            return Err(ApplyError::WrongMatch {
                expected: self.match_id.clone(),
                got: event.match_id.clone(),
            });
        }
        if event.seq <= self.last_seq {
            return Ok(Applied::Duplicate);
        }
        if event.seq != self.last_seq + 1 {
            return Err(ApplyError::Gap {
                expected: self.last_seq + 1,
                got: event.seq,
            });
        }
        let refuse = |reason: String| ApplyError::Contract {
            seq: event.seq,
            kind: event.payload.kind(),
            reason,
        };
        match &event.payload {
            Payload::MatchStarted(started) => self.start_match(started).map_err(refuse)?,
            Payload::InningsStarted(started) => self.start_innings(started).map_err(refuse)?,
            Payload::Delivery(delivery) => {
                let innings = self.open_innings().map_err(refuse)?;
                innings.check_delivery(delivery).map_err(refuse)?;
                innings.apply_delivery(delivery);
                self.replacements
                    .extend(delivery.replacements.iter().cloned());
            }
            Payload::InningsEnded(ended) => self.end_innings(ended).map_err(refuse)?,
            Payload::MatchEnded(ended) => self.end_match(ended).map_err(refuse)?,
        }
        self.last_seq = event.seq;
        self.updated_at = Some(event.time);
        Ok(Applied::Changed)
    }

    fn start_match(&mut self, started: &MatchStarted) -> Result<(), String> {
        if self.info.is_some() {
            return Err("the match has already started".to_owned());
        }
        self.info = Some(started.clone());
        Ok(())
    }

    fn start_innings(&mut self, started: &InningsStarted) -> Result<(), String> {
        let info = self.info.as_ref().ok_or("innings before match_started")?;
        if self.result.is_some() {
            return Err("the match has ended".to_owned());
        }
        if let Some(current) = self.innings.last()
            && current.is_open()
        {
            return Err(format!("innings {} has not ended", current.number));
        }
        let expected = self.innings.len() + 1;
        if usize::from(started.innings) != expected {
            return Err(format!(
                "innings {} started but the next is {expected}",
                started.innings
            ));
        }
        for team in [&started.batting_team, &started.bowling_team] {
            if !info.teams.contains(team) {
                return Err(format!("{team:?} is not playing in this match"));
            }
        }
        self.innings
            .push(Innings::start(started, info.balls_per_over));
        Ok(())
    }

    fn open_innings(&mut self) -> Result<&mut Innings, String> {
        match self.innings.last_mut() {
            Some(innings) if innings.is_open() => Ok(innings),
            Some(innings) => Err(format!("innings {} has ended", innings.number)),
            None => Err("no innings has started".to_owned()),
        }
    }

    fn end_innings(&mut self, ended: &InningsEnded) -> Result<(), String> {
        let innings = self.open_innings()?;
        if innings.number != ended.innings {
            return Err(format!(
                "innings {} ended but innings {} is in progress",
                ended.innings, innings.number
            ));
        }
        innings.add_penalty_runs(ended.penalty_runs);
        innings.end = Some(InningsEnd {
            reason: ended.reason,
            absent_hurt: ended.absent_hurt.clone(),
        });
        Ok(())
    }

    fn end_match(&mut self, ended: &MatchEnded) -> Result<(), String> {
        if self.info.is_none() {
            return Err("match_ended before match_started".to_owned());
        }
        if self.result.is_some() {
            return Err("the match has already ended".to_owned());
        }
        if let Some(innings) = self.innings.last()
            && innings.is_open()
        {
            return Err(format!("innings {} has not ended", innings.number));
        }
        self.result = Some(ended.clone());
        Ok(())
    }

    /// The innings being played now, or the latest one.
    pub fn current_innings(&self) -> Option<&Innings> {
        self.innings.last()
    }

    pub fn balls_per_over(&self) -> u8 {
        self.info.as_ref().map_or(6, |info| info.balls_per_over)
    }

    /// A match is live from its first event until its result.
    pub fn is_live(&self) -> bool {
        self.result.is_none()
    }

    pub fn summary(&self) -> MatchSummary {
        MatchSummary {
            match_id: self.match_id.clone(),
            teams: self.info.as_ref().map(|info| info.teams.clone()),
            format: self.info.as_ref().map(|info| info.format),
            scores: self
                .innings
                .iter()
                .map(|innings| InningsScore {
                    team: innings.batting_team.clone(),
                    super_over: innings.super_over,
                    runs: innings.runs,
                    wickets: innings.wickets,
                    overs: innings.overs().to_string(),
                })
                .collect(),
            status: self.status(),
            live: self.is_live(),
            last_seq: self.last_seq,
            updated_at: self.updated_at,
        }
    }
}
