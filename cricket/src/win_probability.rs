//! A simple, documented estimate of the chasing side's chance of winning, over by over.
//!
//! The model, for a chase of `needed` runs from `balls` legal balls with `wickets` in hand:
//!
//! 1. **Par rate** `p`: the runs per legal ball the side batting first scored in this match, so
//!    the pitch and the format set the pace (a 300-run ODI and a 140-run T20 differ).
//! 2. **Wickets in hand** scale what the remaining balls are worth:
//!    `w(k) = (1 - e^(-k/3)) / (1 - e^(-10/3))`, 1 with ten in hand, 0.84 with five, 0.29 with one,
//!    the shape of the DLS resource curves (the last wickets are worth much less than the first).
//! 3. The runs still to come are taken as normal with mean `μ = p·w(k)·balls` and standard
//!    deviation `σ = 1.6·√balls` (1.6 runs is about the spread of one ball's runs in T20 and ODI
//!    data), and the chase wins if they reach `needed`: `P = 1 - Φ((needed - 0.5 - μ) / σ)`.
//!
//! It is a guide, not a bookmaker: no player strengths, no venue history, and a tie counts as
//! not winning. It is exact at the ends (a chase that has got there is 1, one with no balls or
//! wickets left is 0), falls as the runs needed rise, and rises with wickets in hand.

use serde::{Deserialize, Serialize};

use crate::scoreboard::{Innings, Scoreboard};

/// Spread of one legal ball's runs.
const RUNS_PER_BALL_SD: f64 = 1.6;
/// Wickets a side has to lose.
const ALL_OUT: u32 = 10;

/// The chasing side's chance of winning after one over of the chase (0 = before the first ball).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ChancePoint {
    pub over: u32,
    /// 0..=1.
    pub chance: f64,
}

/// The chance of scoring `needed` more runs from `balls` legal balls with `wickets` in hand, at
/// a par of `par_per_ball` runs per ball.
pub fn chase_chance(needed: i64, balls: u32, wickets: u32, par_per_ball: f64) -> f64 {
    if needed <= 0 {
        return 1.0;
    }
    if balls == 0 || wickets == 0 {
        return 0.0;
    }
    let balls = f64::from(balls);
    let mean = par_per_ball.max(0.0) * wicket_resource(wickets) * balls;
    let sd = RUNS_PER_BALL_SD * balls.sqrt();
    let z = (needed as f64 - 0.5 - mean) / sd;
    (1.0 - normal_cdf(z)).clamp(0.0, 1.0)
}

/// What `wickets` in hand make of the remaining balls, relative to all ten.
fn wicket_resource(wickets: u32) -> f64 {
    let k = f64::from(wickets.min(ALL_OUT));
    (1.0 - (-k / 3.0).exp()) / (1.0 - (-f64::from(ALL_OUT) / 3.0).exp())
}

fn normal_cdf(z: f64) -> f64 {
    0.5 * libm::erfc(-z / std::f64::consts::SQRT_2)
}

impl Scoreboard {
    /// The chase's chance after every completed over, from before its first ball; empty when
    /// the match has no chase with a target (yet), or the first innings scored nothing to set a
    /// par by. Super overs are left out.
    pub fn chase_chances(&self) -> Vec<ChancePoint> {
        let main: Vec<&Innings> = self.innings.iter().filter(|i| !i.super_over).collect();
        let (Some(first), Some(chase)) = (main.first(), main.get(1)) else {
            return Vec::new();
        };
        let (Some(target), Some(max_balls)) = (chase.target_runs, chase.max_balls) else {
            return Vec::new();
        };
        if first.legal_balls == 0 {
            return Vec::new();
        }
        let par = f64::from(first.runs) / f64::from(first.legal_balls);
        let mut points = vec![ChancePoint {
            over: 0,
            chance: chase_chance(
                i64::from(target) - i64::from(chase.opening_penalty),
                max_balls,
                ALL_OUT,
                par,
            ),
        }];
        let (mut runs, mut wickets, mut balls) = (chase.opening_penalty, 0, 0);
        for (index, over) in chase.overs.iter().enumerate() {
            runs += over.runs;
            wickets += over.wickets;
            balls += over.legal_balls;
            points.push(ChancePoint {
                over: index as u32 + 1,
                chance: chase_chance(
                    i64::from(target) - i64::from(runs),
                    max_balls.saturating_sub(balls),
                    ALL_OUT.saturating_sub(wickets),
                    par,
                ),
            });
        }
        points
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_ends_are_exact() {
        assert_eq!(chase_chance(0, 30, 5, 1.3), 1.0);
        assert_eq!(chase_chance(-4, 0, 0, 1.3), 1.0);
        assert_eq!(chase_chance(1, 0, 5, 1.3), 0.0);
        assert_eq!(chase_chance(1, 12, 0, 1.3), 0.0);
    }

    #[test]
    fn a_par_chase_is_near_even_and_hard_ones_are_unlikely() {
        // 160 to win in 20 overs at a par of 8 an over, all wickets in hand.
        let even = chase_chance(160, 120, 10, 160.0 / 120.0);
        assert!((0.4..0.6).contains(&even), "{even}");
        assert!(chase_chance(60, 12, 2, 1.3) < 0.01);
        assert!(chase_chance(6, 36, 8, 1.3) > 0.99);
    }

    /// On the real matches: one point per over of the chase plus the start, and a decided
    /// chase ends at exactly 1 (won) or 0 (lost).
    #[test]
    fn real_chases_end_where_their_results_say() {
        use crate::event::Outcome;
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/cricsheet");
        let mut decided = 0;
        for entry in std::fs::read_dir(&dir).expect("data") {
            let path = entry.expect("entry").path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let id = path
                .file_stem()
                .and_then(|s| s.to_str())
                .expect("id")
                .to_owned();
            let bytes = std::fs::read(&path).expect("file");
            let events = crate::cricsheet::import(&id, &id, &bytes).expect("import");
            let board = Scoreboard::from_events(&id, &events).expect("engine");
            let chances = board.chase_chances();
            let Some(chase) = board.innings.iter().filter(|i| !i.super_over).nth(1) else {
                continue;
            };
            if chase.target_runs.is_none() {
                assert!(chances.is_empty(), "{id}");
                continue;
            }
            assert_eq!(chances.len(), chase.overs.len() + 1, "{id}");
            let last = chances.last().expect("points").chance;
            if let Some(Outcome::Win {
                winner,
                method: None,
                ..
            }) = board.result.as_ref().map(|r| &r.outcome)
            {
                let want = if *winner == chase.batting_team {
                    1.0
                } else {
                    0.0
                };
                assert_eq!(last, want, "{id}: {winner} won");
                decided += 1;
            }
        }
        assert!(
            decided >= 10,
            "only {decided} decided chases among the real matches"
        );
    }

    proptest! {
        #[test]
        fn more_runs_needed_never_helps(needed in 1i64..400, extra in 1i64..50, balls in 1u32..300, wickets in 1u32..=10, par in 0.5f64..2.0) {
            prop_assert!(chase_chance(needed + extra, balls, wickets, par) <= chase_chance(needed, balls, wickets, par));
        }

        #[test]
        fn more_wickets_in_hand_never_hurt(needed in 1i64..400, balls in 1u32..300, wickets in 1u32..10, par in 0.5f64..2.0) {
            prop_assert!(chase_chance(needed, balls, wickets + 1, par) >= chase_chance(needed, balls, wickets, par));
        }

        #[test]
        fn chances_are_probabilities(needed in -10i64..500, balls in 0u32..400, wickets in 0u32..=10, par in 0.0f64..3.0) {
            let chance = chase_chance(needed, balls, wickets, par);
            prop_assert!((0.0..=1.0).contains(&chance));
        }
    }
}
