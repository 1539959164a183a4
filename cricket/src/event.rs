//! The versioned event schema: the contract between producers, Kafka and every consumer.
//!
//! One JSON object per event:
//! `{"schema": 1, "match_id": "...", "seq": 7, "time": "2023-05-29T14:03:30Z", "payload": {"delivery": {...}}}`.
//! `seq` numbers a match's events 1, 2, 3, ... so a consumer can drop duplicates and see gaps.
//! Counts are plain integers; names are the players' names as the scorer writes them.
//! Every value has a bound ([`crate::validate`]); the published JSON Schema states them all.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// The schema version this crate writes and understands.
pub const SCHEMA_VERSION: u16 = 1;

/// One fact about a match, in the order it happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Event {
    /// Schema version of this event (see [`SCHEMA_VERSION`]).
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::schema_version))]
    pub schema: u16,
    /// Stable match identifier; also the Kafka key, so one match stays in one partition.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::match_id))]
    pub match_id: String,
    /// Position of this event in its match: 1, 2, 3, ...
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::seq))]
    pub seq: u64,
    /// When it happened on the field (not when it was ingested).
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::time))]
    pub time: DateTime<Utc>,
    pub payload: Payload,
}

/// What happened. Serialized externally tagged: `{"delivery": {...}}`, exactly one key (its
/// schema is written by hand in [`crate::schema`] to say so).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Payload {
    MatchStarted(MatchStarted),
    InningsStarted(InningsStarted),
    Delivery(Delivery),
    InningsEnded(InningsEnded),
    MatchEnded(MatchEnded),
}

impl Payload {
    /// Short stable name of the event kind, as used in metrics and SQL.
    pub fn kind(&self) -> &'static str {
        match self {
            Payload::MatchStarted(_) => "match_started",
            Payload::InningsStarted(_) => "innings_started",
            Payload::Delivery(_) => "delivery",
            Payload::InningsEnded(_) => "innings_ended",
            Payload::MatchEnded(_) => "match_ended",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Format {
    T20,
    Odi,
    Test,
    /// Any other limited-overs or multi-day format (The Hundred, T10, first-class, ...).
    Other,
}

impl Format {
    pub fn label(self) -> &'static str {
        match self {
            Format::T20 => "T20",
            Format::Odi => "ODI",
            Format::Test => "Test",
            Format::Other => "Other",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MatchStarted {
    /// The two sides, in the order the source lists them.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::teams))]
    pub teams: [String; 2],
    pub format: Format,
    /// 6 almost everywhere; 5 in The Hundred. Never assume 6.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::balls_per_over))]
    pub balls_per_over: u8,
    /// Scheduled overs per innings; `None` for unlimited (multi-day) cricket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::scheduled_overs))]
    pub scheduled_overs: Option<u16>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::squads))]
    pub squads: Vec<Squad>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub toss: Option<Toss>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::optional_text))]
    pub venue: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::optional_text))]
    pub city: Option<String>,
    /// Competition name, e.g. "Indian Premier League".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::optional_text))]
    pub competition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::date))]
    pub date: Option<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Squad {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::name))]
    pub team: String,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::squad_players))]
    pub players: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Toss {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::name))]
    pub winner: String,
    pub decision: TossDecision,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TossDecision {
    Bat,
    Field,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InningsStarted {
    /// 1-based innings number in match order, super overs included.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::innings))]
    pub innings: u8,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::name))]
    pub batting_team: String,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::name))]
    pub bowling_team: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub super_over: bool,
    /// Runs needed to win, when this innings is a chase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::target_runs))]
    pub target_runs: Option<u32>,
    /// The innings' length limit in legal balls (scheduled or revised), if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::max_balls))]
    pub max_balls: Option<u32>,
    /// Penalty runs awarded to the batting side before the innings began.
    #[serde(default, skip_serializing_if = "is_zero")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::penalty_runs))]
    pub penalty_runs: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Delivery {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::innings))]
    pub innings: u8,
    /// 0-based over number.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::over))]
    pub over: u16,
    /// 1-based position of this delivery in its over, counting wides and no-balls.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::ball))]
    pub ball: u16,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::name))]
    pub batter: String,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::name))]
    pub non_striker: String,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::name))]
    pub bowler: String,
    pub runs: Runs,
    #[serde(default, skip_serializing_if = "Extras::is_empty")]
    pub extras: Extras,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::wickets))]
    pub wickets: Vec<Wicket>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::replacements))]
    pub replacements: Vec<Replacement>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::commentary))]
    pub commentary: Option<String>,
}

impl Delivery {
    /// A legal ball counts towards the over: neither a wide nor a no-ball.
    pub fn is_legal(&self) -> bool {
        self.extras.wides == 0 && self.extras.noballs == 0
    }

    /// Runs charged to the bowler: off the bat plus wides and no-balls (not byes, leg-byes, penalties).
    pub fn bowler_runs(&self) -> u32 {
        u32::from(self.runs.batter) + u32::from(self.extras.wides) + u32::from(self.extras.noballs)
    }

    /// 4 or 6 when the batter hit a boundary; overthrows flagged `non_boundary` are not boundaries.
    pub fn boundary(&self) -> Option<u16> {
        match self.runs.batter {
            4 | 6 if !self.runs.non_boundary => Some(self.runs.batter),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Runs {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::runs_of_one_kind))]
    pub batter: u16,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::delivery_extras))]
    pub extras: u16,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::delivery_total))]
    pub total: u16,
    /// Set when 4 or 6 runs off the bat were run or came from overthrows, not a boundary.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub non_boundary: bool,
}

/// Extras by kind. On a delivery each is small; on an innings they are running totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Extras {
    #[serde(default, skip_serializing_if = "is_zero")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::runs_of_one_kind))]
    pub wides: u16,
    #[serde(default, skip_serializing_if = "is_zero")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::runs_of_one_kind))]
    pub noballs: u16,
    #[serde(default, skip_serializing_if = "is_zero")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::runs_of_one_kind))]
    pub byes: u16,
    #[serde(default, skip_serializing_if = "is_zero")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::runs_of_one_kind))]
    pub legbyes: u16,
    #[serde(default, skip_serializing_if = "is_zero")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::runs_of_one_kind))]
    pub penalty: u16,
}

impl Extras {
    pub fn is_empty(&self) -> bool {
        self.total() == 0
    }

    pub fn total(&self) -> u32 {
        u32::from(self.wides)
            + u32::from(self.noballs)
            + u32::from(self.byes)
            + u32::from(self.legbyes)
            + u32::from(self.penalty)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Wicket {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::name))]
    pub player_out: String,
    pub kind: WicketKind,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::fielders))]
    pub fielders: Vec<Fielder>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Fielder {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::name))]
    pub name: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub substitute: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum WicketKind {
    Bowled,
    Caught,
    CaughtAndBowled,
    Lbw,
    Stumped,
    RunOut,
    HitWicket,
    HitTheBallTwice,
    HandledTheBall,
    ObstructingTheField,
    TimedOut,
    RetiredHurt,
    RetiredNotOut,
    RetiredOut,
}

impl WicketKind {
    /// Every kind, for schemas and generators.
    pub const ALL: [WicketKind; 14] = [
        WicketKind::Bowled,
        WicketKind::Caught,
        WicketKind::CaughtAndBowled,
        WicketKind::Lbw,
        WicketKind::Stumped,
        WicketKind::RunOut,
        WicketKind::HitWicket,
        WicketKind::HitTheBallTwice,
        WicketKind::HandledTheBall,
        WicketKind::ObstructingTheField,
        WicketKind::TimedOut,
        WicketKind::RetiredHurt,
        WicketKind::RetiredNotOut,
        WicketKind::RetiredOut,
    ];

    /// Does this dismissal cost the batting side a wicket? A batter who retires hurt or
    /// retires not out may come back, so the team has not lost a wicket.
    pub fn counts_as_team_wicket(self) -> bool {
        !matches!(self, WicketKind::RetiredHurt | WicketKind::RetiredNotOut)
    }

    /// Is the bowler credited with this wicket?
    pub fn credited_to_bowler(self) -> bool {
        matches!(
            self,
            WicketKind::Bowled
                | WicketKind::Caught
                | WicketKind::CaughtAndBowled
                | WicketKind::Lbw
                | WicketKind::Stumped
                | WicketKind::HitWicket
        )
    }

    /// The scorer's words, as Cricsheet writes them ("caught and bowled").
    pub fn label(self) -> &'static str {
        match self {
            WicketKind::Bowled => "bowled",
            WicketKind::Caught => "caught",
            WicketKind::CaughtAndBowled => "caught and bowled",
            WicketKind::Lbw => "lbw",
            WicketKind::Stumped => "stumped",
            WicketKind::RunOut => "run out",
            WicketKind::HitWicket => "hit wicket",
            WicketKind::HitTheBallTwice => "hit the ball twice",
            WicketKind::HandledTheBall => "handled the ball",
            WicketKind::ObstructingTheField => "obstructing the field",
            WicketKind::TimedOut => "timed out",
            WicketKind::RetiredHurt => "retired hurt",
            WicketKind::RetiredNotOut => "retired not out",
            WicketKind::RetiredOut => "retired out",
        }
    }

    pub fn from_label(label: &str) -> Option<WicketKind> {
        WicketKind::ALL
            .into_iter()
            .find(|kind| kind.label() == label)
    }
}

/// A player substitution recorded on a delivery: a match replacement (concussion substitute,
/// impact player) or a role replacement (a new bowler finishing an over, a runner).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Replacement {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::name))]
    pub player_in: String,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::name))]
    pub player_out: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::optional_name))]
    pub team: Option<String>,
    /// `Some("bowler")`/`Some("batter")` for a role replacement, `None` for a match replacement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::optional_text))]
    pub role: Option<String>,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::short_text))]
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InningsEnded {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::innings))]
    pub innings: u8,
    pub reason: InningsEndReason,
    /// Penalty runs awarded to the batting side after the innings closed.
    #[serde(default, skip_serializing_if = "is_zero")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::penalty_runs))]
    pub penalty_runs: u32,
    /// Batters who could not bat through injury (so "all out" may come with fewer than 10 wickets).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::listed_players))]
    pub absent_hurt: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum InningsEndReason {
    AllOut,
    OversComplete,
    TargetReached,
    Declared,
    Forfeited,
    /// Stopped by weather, light or the match being abandoned.
    Interrupted,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MatchEnded {
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::listed_players))]
    pub player_of_match: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Outcome {
    Win {
        #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::name))]
        winner: String,
        #[serde(default, skip_serializing_if = "Margin::is_empty")]
        margin: Margin,
        /// How the result was reached when not plainly, e.g. "D/L" or "Awarded".
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::optional_text))]
        method: Option<String>,
    },
    Tie {
        /// Winner of the super over(s) or other eliminator, if one was played.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::optional_name))]
        eliminator: Option<String>,
        /// Winner of a bowl-out, if one decided the tie.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::optional_name))]
        bowl_out: Option<String>,
    },
    NoResult,
    Draw,
}

/// Read by hand ([`Margin::deserialize`]) so that only an object is a margin.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Margin {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::margin_runs))]
    pub runs: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::margin_wickets))]
    pub wickets: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::margin_innings))]
    pub innings: Option<u32>,
}

impl Margin {
    pub fn is_empty(&self) -> bool {
        self.runs.is_none() && self.wickets.is_none() && self.innings.is_none()
    }
}

/// A derived `Deserialize` would also take an array of the three numbers: `Outcome` is
/// internally tagged, so serde buffers its fields and reads the margin from that buffer, where
/// ingest's strict reader cannot ask for an object. The published schema says object, so this
/// reads a map and nothing else (unknown keys are ignored, as for every other type).
impl<'de> Deserialize<'de> for Margin {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Margin, D::Error> {
        struct Fields;

        impl<'de> serde::de::Visitor<'de> for Fields {
            type Value = Margin;

            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("an object with runs, wickets or innings")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Margin, A::Error> {
                let mut margin = Margin::default();
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "runs" => margin.runs = map.next_value()?,
                        "wickets" => margin.wickets = map.next_value()?,
                        "innings" => margin.innings = map.next_value()?,
                        _ => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(margin)
            }
        }

        deserializer.deserialize_map(Fields)
    }
}

fn is_zero<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}
