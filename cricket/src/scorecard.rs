//! The canonical scorecard: the project's one shape for "who scored what", printed by
//! `simulator scorecard`, served by stream-stats and computed by SQL in the warehouse, so the
//! three can be compared line for line (and against `expected.jsonl` for real matches).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::scoreboard::Scoreboard;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Scorecard {
    #[serde(rename = "match")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::match_id))]
    pub match_id: String,
    pub innings: Vec<InningsScorecard>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InningsScorecard {
    /// The batting side.
    pub team: String,
    pub super_over: bool,
    pub runs: u32,
    pub wickets: u32,
    pub legal_balls: u32,
    /// Name -> [runs, balls, fours, sixes] for everyone who batted, stood at the non-striker's
    /// end or was dismissed.
    pub batters: BTreeMap<String, [u32; 4]>,
    /// Name -> [runs conceded, wickets].
    pub bowlers: BTreeMap<String, [u32; 2]>,
}

impl Scoreboard {
    pub fn scorecard(&self) -> Scorecard {
        Scorecard {
            match_id: self.match_id.clone(),
            innings: self
                .innings
                .iter()
                .map(|innings| InningsScorecard {
                    team: innings.batting_team.clone(),
                    super_over: innings.super_over,
                    runs: innings.runs,
                    wickets: innings.wickets,
                    legal_balls: innings.legal_balls,
                    batters: innings
                        .batters
                        .iter()
                        .map(|b| (b.name.clone(), [b.runs, b.balls, b.fours, b.sixes]))
                        .collect(),
                    bowlers: innings
                        .bowlers
                        .iter()
                        .map(|b| (b.name.clone(), [b.runs, b.wickets]))
                        .collect(),
                })
                .collect(),
        }
    }
}
