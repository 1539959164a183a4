//! The one-line status a broadcaster shows under the score: "CSK need 20 runs from 12 balls",
//! "Match tied — England win the super over on boundaries".

use super::{Innings, Scoreboard};
use crate::event::{InningsEndReason, Margin, Outcome, TossDecision};

/// Chases longer than this many balls are described in overs, as broadcasters do.
const BALLS_SHOWN_AS_BALLS: u32 = 120;

fn plural(count: u32, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

fn ordinal(n: usize) -> String {
    match n {
        1 => "first".to_owned(),
        2 => "second".to_owned(),
        3 => "third".to_owned(),
        n => format!("{n}th"),
    }
}

impl Scoreboard {
    /// The status line for the match as it stands.
    pub fn status(&self) -> String {
        let Some(info) = &self.info else {
            return "Awaiting the start of the match".to_owned();
        };
        if let Some(result) = &self.result {
            return self.result_line(&result.outcome);
        }
        let Some(innings) = self.innings.last() else {
            return match &info.toss {
                Some(toss) => toss_line(&toss.winner, toss.decision),
                None => format!("{} v {}: starting soon", info.teams[0], info.teams[1]),
            };
        };
        if innings.is_open() {
            return self.live_line(innings);
        }
        self.break_line(innings)
    }

    fn live_line(&self, innings: &Innings) -> String {
        let team = &innings.batting_team;
        if let Some(needed) = innings.runs_needed() {
            if needed == 0 {
                return format!("{team} have reached the target");
            }
            let runs = plural(needed, "run", "runs");
            let in_super_over = if innings.super_over {
                " in the super over"
            } else {
                ""
            };
            return match innings.balls_left() {
                Some(balls) if balls <= BALLS_SHOWN_AS_BALLS => {
                    format!(
                        "{team} need {runs} from {}{in_super_over}",
                        plural(balls, "ball", "balls")
                    )
                }
                Some(balls) => format!(
                    "{team} need {runs} from {} overs{in_super_over}",
                    super::Overs::from_balls(balls, innings.balls_per_over)
                ),
                None => format!("{team} need {runs} to win"),
            };
        }
        if innings.super_over {
            return format!("Super over: {team} batting");
        }
        if let Some(lead) = self.lead_line(innings) {
            return lead;
        }
        match (
            innings.number,
            self.info.as_ref().and_then(|info| info.toss.as_ref()),
        ) {
            (1, Some(toss)) => toss_line(&toss.winner, toss.decision),
            _ => format!("{team} batting"),
        }
    }

    /// In multi-innings cricket, how far the batting side leads or trails.
    fn lead_line(&self, innings: &Innings) -> Option<String> {
        if innings.number < 3 || innings.super_over {
            return None;
        }
        let team = &innings.batting_team;
        let total = |side: &str| -> u32 {
            self.innings
                .iter()
                .filter(|i| !i.super_over && i.batting_team == side)
                .map(|i| i.runs)
                .sum()
        };
        let ours = total(team);
        let theirs = total(&innings.bowling_team);
        Some(match ours.cmp(&theirs) {
            std::cmp::Ordering::Greater => {
                format!("{team} lead by {}", plural(ours - theirs, "run", "runs"))
            }
            std::cmp::Ordering::Less => {
                format!("{team} trail by {}", plural(theirs - ours, "run", "runs"))
            }
            std::cmp::Ordering::Equal => "Scores level".to_owned(),
        })
    }

    /// Between innings, or after the last one before the result is in.
    fn break_line(&self, innings: &Innings) -> String {
        let reason = innings.end.as_ref().map(|end| end.reason);
        if reason == Some(InningsEndReason::Interrupted) {
            return "Play interrupted".to_owned();
        }
        if let Some(target) = innings.target_runs {
            return if innings.runs + 1 == target {
                "Scores level".to_owned()
            } else {
                "Awaiting the result".to_owned()
            };
        }
        let chasing = &innings.bowling_team;
        let target = innings.runs + 1;
        let label = if innings.super_over {
            "Super over break"
        } else {
            "Innings break"
        };
        format!(
            "{label}: {chasing} need {} to win",
            plural(target, "run", "runs")
        )
    }

    fn result_line(&self, outcome: &Outcome) -> String {
        match outcome {
            Outcome::Win {
                winner,
                margin,
                method,
            } => {
                let mut line = format!("{winner} won");
                if let Some(by) = margin_words(margin) {
                    line.push_str(" by ");
                    line.push_str(&by);
                }
                match method.as_deref() {
                    Some("D/L" | "DLS" | "D/L/S") => line.push_str(" (DLS method)"),
                    Some(other) => line.push_str(&format!(" ({other})")),
                    None => {}
                }
                line
            }
            Outcome::Tie {
                eliminator,
                bowl_out,
            } => match (eliminator, bowl_out) {
                (_, Some(team)) => format!("Match tied — {team} win the bowl-out"),
                (Some(team), None) => {
                    format!("Match tied — {team} win {}", self.super_over_words())
                }
                (None, None) => "Match tied".to_owned(),
            },
            Outcome::NoResult => "No result".to_owned(),
            Outcome::Draw => "Match drawn".to_owned(),
        }
    }

    /// "the super over", "the second super over", "the super over on boundaries".
    fn super_over_words(&self) -> String {
        let super_overs: Vec<&Innings> = self.innings.iter().filter(|i| i.super_over).collect();
        let pairs = super_overs.len().div_ceil(2);
        if pairs == 0 {
            return "the eliminator".to_owned();
        }
        let last_pair_level = super_overs.len().is_multiple_of(2)
            && super_overs[super_overs.len() - 2].runs == super_overs[super_overs.len() - 1].runs;
        let which = if pairs > 1 {
            format!("the {} super over", ordinal(pairs))
        } else {
            "the super over".to_owned()
        };
        if last_pair_level {
            format!("{which} on boundaries")
        } else {
            which
        }
    }
}

fn toss_line(winner: &str, decision: TossDecision) -> String {
    let choice = match decision {
        TossDecision::Bat => "bat",
        TossDecision::Field => "field",
    };
    format!("{winner} won the toss and chose to {choice}")
}

fn margin_words(margin: &Margin) -> Option<String> {
    match (margin.innings, margin.runs, margin.wickets) {
        (Some(_), Some(runs), _) => Some(format!("an innings and {}", plural(runs, "run", "runs"))),
        (_, Some(runs), _) => Some(plural(runs, "run", "runs")),
        (_, _, Some(wickets)) => Some(plural(wickets, "wicket", "wickets")),
        _ => None,
    }
}
