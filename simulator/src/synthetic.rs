//! Synthetic matches that look like real cricket, generated ball by ball from a seed.
//!
//! The probabilities come from the 20 real matches in `data/cricsheet` (runs off the bat,
//! extras, boundaries and wickets per legal ball, wicket kinds), adjusted by phase of the
//! innings (powerplay, middle, death) and by the chase situation. The laws are kept: a bowler
//! bowls at most a fifth of the overs and never two in a row, the strike changes on odd runs
//! and at the end of each over, a chase stops the moment the target is reached, an innings
//! ends all out or when its overs are done, and a tie goes to super overs.
//!
//! [`generate`] returns the whole match as events (with `seq`, times and commentary), so the
//! same seed always gives the same match and the sender can pace it however it likes.

use chrono::{DateTime, Duration, Utc};
use cricket::event::{
    Delivery, Extras, Fielder, Format, InningsEndReason, InningsEnded, InningsStarted, Margin,
    MatchEnded, MatchStarted, Outcome, Payload, Runs, Squad, Toss, TossDecision, Wicket,
    WicketKind,
};
use cricket::{Event, SCHEMA_VERSION};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// Seconds between deliveries at speed 1, as in a real match.
const SECONDS_PER_BALL: i64 = 40;
/// At most this many super overs before the match is settled on boundaries.
const MAX_SUPER_OVERS: u8 = 5;

const CITIES: [&str; 12] = [
    "Mumbai",
    "Chennai",
    "Kolkata",
    "Delhi",
    "Lahore",
    "Karachi",
    "Colombo",
    "Dhaka",
    "Sydney",
    "Melbourne",
    "London",
    "Cape Town",
];
const NICKNAMES: [&str; 12] = [
    "Mariners",
    "Chargers",
    "Knights",
    "Falcons",
    "Lions",
    "Kings",
    "Strikers",
    "Titans",
    "Royals",
    "Warriors",
    "Hurricanes",
    "Sentinels",
];
const INITIALS: [&str; 16] = [
    "A", "B", "C", "D", "F", "G", "H", "J", "K", "M", "N", "P", "R", "S", "T", "V",
];
const SURNAMES: [&str; 40] = [
    "Sharma", "Khan", "Perera", "Smith", "Patel", "Ahmed", "Silva", "Taylor", "Iyer", "Malik",
    "Fernando", "Brown", "Rao", "Hossain", "Jones", "Williams", "Nair", "Butt", "Mendis", "Clarke",
    "Reddy", "Islam", "Walker", "Roy", "Gill", "Shah", "Kumar", "Hughes", "Das", "Qureshi",
    "Bandara", "Wood", "Pillai", "Rahman", "Evans", "Menon", "Abbas", "Dias", "Green", "Joshi",
];
const VENUES: [&str; 6] = [
    "Riverside Oval",
    "Harbour Park",
    "Central Stadium",
    "Hillview Ground",
    "Lakeside Arena",
    "Queens Park",
];

/// How one format is played: length and the base probabilities per delivery.
#[derive(Debug, Clone, Copy)]
struct Profile {
    overs: u16,
    /// Runs off the bat on a legal, non-wicket ball: P(0), P(1), P(2), P(3), P(4), P(6).
    runs: [f64; 6],
    wicket: f64,
    wide: f64,
    noball: f64,
    bye: f64,
    legbye: f64,
}

const T20: Profile = Profile {
    overs: 20,
    runs: [0.36, 0.37, 0.075, 0.005, 0.12, 0.07],
    wicket: 0.049,
    wide: 0.034,
    noball: 0.0035,
    bye: 0.0017,
    legbye: 0.0166,
};

const ODI: Profile = Profile {
    overs: 50,
    runs: [0.52, 0.33, 0.055, 0.006, 0.078, 0.011],
    wicket: 0.027,
    wide: 0.027,
    noball: 0.0026,
    bye: 0.002,
    legbye: 0.0094,
};

fn profile(format: Format) -> Profile {
    match format {
        Format::Odi => ODI,
        _ => T20,
    }
}

/// Wicket kinds with their weights (caught dominates; run outs happen on a run).
const WICKET_KINDS: [(WicketKind, f64); 6] = [
    (WicketKind::Caught, 0.60),
    (WicketKind::Bowled, 0.18),
    (WicketKind::Lbw, 0.09),
    (WicketKind::RunOut, 0.07),
    (WicketKind::Stumped, 0.03),
    (WicketKind::CaughtAndBowled, 0.03),
];

#[derive(Debug, Clone)]
struct Team {
    name: String,
    /// Batting order; the last six also bowl.
    players: Vec<String>,
}

impl Team {
    fn bowlers(&self) -> &[String] {
        &self.players[5..]
    }
}

/// Generates a whole synthetic match: `match_started` to `match_ended`.
///
/// Event times start at `start` and advance `40 s / speed` a ball, so a match generated with
/// the sender's speed carries times close to when its events are sent.
pub fn generate(
    match_id: &str,
    format: Format,
    seed: u64,
    start: DateTime<Utc>,
    speed: f64,
) -> Vec<Event> {
    let mut rng = StdRng::seed_from_u64(seed);
    let teams = pick_teams(&mut rng);
    let mut game = Game {
        match_id: match_id.to_owned(),
        profile: profile(format),
        rng,
        events: Vec::new(),
        clock: start,
        ball_gap: Duration::milliseconds(
            (SECONDS_PER_BALL as f64 * 1000.0 / speed.max(0.001)) as i64,
        ),
    };
    game.play(format, teams);
    game.events
}

fn pick_teams(rng: &mut StdRng) -> [Team; 2] {
    let first = rng.random_range(0..CITIES.len());
    let mut second = rng.random_range(0..CITIES.len() - 1);
    if second >= first {
        second += 1;
    }
    let mut used = std::collections::HashSet::new();
    [first, second].map(|city| {
        let name = format!(
            "{} {}",
            CITIES[city],
            NICKNAMES[rng.random_range(0..NICKNAMES.len())]
        );
        let players = (0..11)
            .map(|_| {
                loop {
                    let candidate = format!(
                        "{} {}",
                        INITIALS[rng.random_range(0..INITIALS.len())],
                        SURNAMES[rng.random_range(0..SURNAMES.len())]
                    );
                    if used.insert(candidate.clone()) {
                        break candidate;
                    }
                }
            })
            .collect();
        Team { name, players }
    })
}

struct Game {
    match_id: String,
    profile: Profile,
    rng: StdRng,
    events: Vec<Event>,
    clock: DateTime<Utc>,
    ball_gap: Duration,
}

/// What one innings produced, for the result.
#[derive(Debug, Clone, Copy)]
struct InningsTotal {
    runs: u32,
    wickets: u32,
    boundaries: u32,
}

impl Game {
    fn emit(&mut self, payload: Payload, gaps: i64) {
        self.clock += self.ball_gap * i32::try_from(gaps).unwrap_or(1);
        let seq = self.events.len() as u64 + 1;
        self.events.push(Event {
            schema: SCHEMA_VERSION,
            match_id: self.match_id.clone(),
            seq,
            time: self.clock,
            payload,
        });
    }

    fn play(&mut self, format: Format, teams: [Team; 2]) {
        let toss_winner = usize::from(self.rng.random_bool(0.5));
        let decision = if self.rng.random_bool(0.6) {
            TossDecision::Field
        } else {
            TossDecision::Bat
        };
        let bats_first = if decision == TossDecision::Bat {
            toss_winner
        } else {
            1 - toss_winner
        };
        let venue = VENUES[self.rng.random_range(0..VENUES.len())];
        self.emit(
            Payload::MatchStarted(MatchStarted {
                teams: [teams[0].name.clone(), teams[1].name.clone()],
                format,
                balls_per_over: 6,
                scheduled_overs: Some(self.profile.overs),
                squads: teams
                    .iter()
                    .map(|team| Squad {
                        team: team.name.clone(),
                        players: team.players.clone(),
                    })
                    .collect(),
                toss: Some(Toss {
                    winner: teams[toss_winner].name.clone(),
                    decision,
                }),
                venue: Some(venue.to_owned()),
                city: None,
                competition: Some(format!("Synthetic {} League", format.label())),
                date: Some(self.clock.date_naive()),
            }),
            0,
        );

        let first = &teams[bats_first];
        let second = &teams[1 - bats_first];
        let max_balls = u32::from(self.profile.overs) * 6;
        let one = self.innings(1, first, second, false, None, max_balls);
        let two = self.innings(2, second, first, false, Some(one.runs + 1), max_balls);

        let outcome = if two.runs > one.runs {
            Outcome::Win {
                winner: second.name.clone(),
                margin: Margin {
                    wickets: Some(10 - two.wickets),
                    ..Margin::default()
                },
                method: None,
            }
        } else if two.runs < one.runs {
            Outcome::Win {
                winner: first.name.clone(),
                margin: Margin {
                    runs: Some(one.runs - two.runs),
                    ..Margin::default()
                },
                method: None,
            }
        } else {
            Outcome::Tie {
                eliminator: Some(self.super_overs(first, second).name.clone()),
                bowl_out: None,
            }
        };
        self.emit(
            Payload::MatchEnded(MatchEnded {
                outcome,
                player_of_match: vec![],
            }),
            3,
        );
    }

    /// Super overs until one side wins; the side that batted second bats first. Returns the winner.
    fn super_overs<'t>(&mut self, first: &'t Team, second: &'t Team) -> &'t Team {
        let mut number = 3;
        let mut boundaries = (0, 0);
        for _ in 0..MAX_SUPER_OVERS {
            let a = self.innings(number, second, first, true, None, 6);
            let b = self.innings(number + 1, first, second, true, Some(a.runs + 1), 6);
            number += 2;
            boundaries.0 += a.boundaries;
            boundaries.1 += b.boundaries;
            if b.runs > a.runs {
                return first;
            }
            if a.runs > b.runs {
                return second;
            }
        }
        // Still level: settled on boundaries, as the 2019 World Cup final was.
        if boundaries.1 > boundaries.0 {
            first
        } else {
            second
        }
    }

    fn innings(
        &mut self,
        number: u8,
        batting: &Team,
        bowling: &Team,
        super_over: bool,
        target: Option<u32>,
        max_balls: u32,
    ) -> InningsTotal {
        self.emit(
            Payload::InningsStarted(InningsStarted {
                innings: number,
                batting_team: batting.name.clone(),
                bowling_team: bowling.name.clone(),
                super_over,
                target_runs: target,
                max_balls: Some(max_balls),
                penalty_runs: 0,
            }),
            if number == 1 { 5 } else { 15 },
        );
        let wickets_available = if super_over { 2 } else { 10 };
        let order: Vec<String> = if super_over {
            // The best three hitters, in order.
            batting.players[..3].to_vec()
        } else {
            batting.players.clone()
        };
        let mut striker = 0usize;
        let mut non_striker = 1usize;
        let mut next_in = 2usize;
        let mut total = InningsTotal {
            runs: 0,
            wickets: 0,
            boundaries: 0,
        };
        let mut legal = 0u32;
        let bowlers = bowling.bowlers();
        let max_overs_each = (max_balls / 6).div_ceil(5).max(1);
        let mut overs_bowled = vec![0u32; bowlers.len()];
        let mut last_bowler: Option<usize> = None;
        let mut over = 0u16;
        let reason = 'innings: loop {
            if legal >= max_balls {
                break InningsEndReason::OversComplete;
            }
            let bowler = self.choose_bowler(&overs_bowled, max_overs_each, last_bowler, super_over);
            overs_bowled[bowler] += 1;
            last_bowler = Some(bowler);
            let mut legal_in_over = 0;
            let mut ball = 0u16;
            while legal_in_over < 6 {
                ball += 1;
                let phase = Phase::of(legal, max_balls, super_over);
                let pressure = target.map_or(1.0, |t| {
                    let needed = f64::from(t.saturating_sub(total.runs));
                    let left = f64::from((max_balls - legal).max(1));
                    (needed / left / 1.35).clamp(0.6, 1.8)
                });
                let delivery = self.delivery(
                    number,
                    over,
                    ball,
                    (&order[striker], &order[non_striker]),
                    &bowlers[bowler],
                    bowling,
                    phase,
                    pressure,
                );
                let runs = u32::from(delivery.runs.total);
                let batter_runs = delivery.runs.batter;
                let legal_ball = delivery.is_legal();
                let out = delivery.wickets.first().map(|w| w.player_out.clone());
                total.runs += runs;
                total.boundaries += u32::from(delivery.boundary().is_some());
                // Byes and leg-byes are run too: the strike changes on an odd number of runs.
                let ran = batter_runs + delivery.extras.byes + delivery.extras.legbyes;
                self.emit(Payload::Delivery(delivery), 1);
                if legal_ball {
                    legal += 1;
                    legal_in_over += 1;
                }
                if ran % 2 == 1 {
                    std::mem::swap(&mut striker, &mut non_striker);
                }
                if let Some(out) = out {
                    total.wickets += 1;
                    if total.wickets >= wickets_available || next_in >= order.len() {
                        break 'innings InningsEndReason::AllOut;
                    }
                    // The new batter takes the dismissed batter's end.
                    if order[striker] == out {
                        striker = next_in;
                    } else {
                        non_striker = next_in;
                    }
                    next_in += 1;
                }
                if target.is_some_and(|t| total.runs >= t) {
                    break 'innings InningsEndReason::TargetReached;
                }
                if legal >= max_balls {
                    break 'innings InningsEndReason::OversComplete;
                }
            }
            std::mem::swap(&mut striker, &mut non_striker);
            over += 1;
        };
        self.emit(
            Payload::InningsEnded(InningsEnded {
                innings: number,
                reason,
                penalty_runs: 0,
                absent_hurt: vec![],
            }),
            1,
        );
        total
    }

    /// The captain's choice: a bowler with overs left who did not bowl the last over, the
    /// front-line bowlers more often; the best one for a super over.
    fn choose_bowler(
        &mut self,
        overs_bowled: &[u32],
        max_each: u32,
        last: Option<usize>,
        super_over: bool,
    ) -> usize {
        if super_over {
            return overs_bowled.len() - 1;
        }
        let eligible: Vec<usize> = (0..overs_bowled.len())
            .filter(|&b| overs_bowled[b] < max_each && Some(b) != last)
            .collect();
        if eligible.is_empty() {
            // Only reachable if every other bowler is exhausted; the laws still forbid
            // consecutive overs, so take anyone else.
            return (0..overs_bowled.len())
                .find(|&b| Some(b) != last)
                .unwrap_or(0);
        }
        // Weight by remaining overs so the quota gets used, front-liners (later in the order) first.
        let weights: Vec<f64> = eligible
            .iter()
            .map(|&b| f64::from(max_each - overs_bowled[b]) * (1.0 + b as f64 * 0.3))
            .collect();
        let mut pick = self.rng.random::<f64>() * weights.iter().sum::<f64>();
        for (index, weight) in eligible.iter().zip(&weights) {
            if pick < *weight {
                return *index;
            }
            pick -= weight;
        }
        eligible[eligible.len() - 1]
    }

    #[allow(clippy::too_many_arguments)]
    fn delivery(
        &mut self,
        innings: u8,
        over: u16,
        ball: u16,
        (batter, non_striker): (&str, &str),
        bowler: &str,
        fielding: &Team,
        phase: Phase,
        pressure: f64,
    ) -> Delivery {
        let p = self.profile;
        let mut extras = Extras::default();
        let mut batter_runs = 0u16;
        let mut wickets = Vec::new();
        let roll = self.rng.random::<f64>();
        let commentary;
        if roll < p.wide {
            extras.wides = if self.rng.random_bool(0.04) { 5 } else { 1 };
            commentary = if extras.wides == 5 {
                "wide, and it races away for four more".to_owned()
            } else {
                pick(
                    &mut self.rng,
                    &[
                        "wide, down the leg side",
                        "wide, too far outside off",
                        "wide, bouncer over the head",
                    ],
                )
            };
        } else if roll < p.wide + p.noball {
            extras.noballs = 1;
            batter_runs = self.runs_off_bat(phase, pressure);
            commentary = format!("no-ball, overstepped; {}", runs_words(batter_runs));
        } else if roll < p.wide + p.noball + p.bye {
            extras.byes = if self.rng.random_bool(0.2) { 4 } else { 1 };
            commentary = format!(
                "{} bye{}, beats the keeper",
                extras.byes,
                if extras.byes == 1 { "" } else { "s" }
            );
        } else if roll < p.wide + p.noball + p.bye + p.legbye {
            extras.legbyes = if self.rng.random_bool(0.15) { 4 } else { 1 };
            commentary = format!(
                "{} leg bye{}, off the pad",
                extras.legbyes,
                if extras.legbyes == 1 { "" } else { "s" }
            );
        } else if self.rng.random::<f64>() < p.wicket * phase.wicket_factor() * pressure.sqrt() {
            let kind = weighted_kind(self.rng.random::<f64>());
            let fielder =
                fielding.players[self.rng.random_range(0..fielding.players.len())].clone();
            let (player_out, fielders, text) = match kind {
                WicketKind::Caught => (
                    batter,
                    vec![fielder.clone()],
                    format!("OUT! caught by {fielder}"),
                ),
                WicketKind::Stumped => {
                    let keeper = fielding.players[4].clone();
                    (
                        batter,
                        vec![keeper.clone()],
                        format!("OUT! stumped by {keeper}, beaten in the flight"),
                    )
                }
                WicketKind::RunOut => {
                    batter_runs = u16::from(self.rng.random_bool(0.5));
                    let victim = if self.rng.random_bool(0.6) {
                        batter
                    } else {
                        non_striker
                    };
                    (
                        victim,
                        vec![fielder.clone()],
                        format!("OUT! run out, direct hit from {fielder}"),
                    )
                }
                WicketKind::Bowled => (
                    batter,
                    vec![],
                    "OUT! bowled, middle stump cartwheeling".to_owned(),
                ),
                WicketKind::Lbw => (batter, vec![], "OUT! lbw, plumb in front".to_owned()),
                _ => (
                    batter,
                    vec![],
                    "OUT! caught and bowled, a sharp return catch".to_owned(),
                ),
            };
            wickets.push(Wicket {
                player_out: player_out.to_owned(),
                kind,
                fielders: fielders
                    .into_iter()
                    .map(|name| Fielder {
                        name,
                        substitute: false,
                    })
                    .collect(),
            });
            commentary = text;
        } else {
            batter_runs = self.runs_off_bat(phase, pressure);
            commentary = runs_words(batter_runs);
        }
        let extra_total = u16::try_from(extras.total()).unwrap_or(0);
        Delivery {
            innings,
            over,
            ball,
            batter: batter.to_owned(),
            non_striker: non_striker.to_owned(),
            bowler: bowler.to_owned(),
            runs: Runs {
                batter: batter_runs,
                extras: extra_total,
                total: batter_runs + extra_total,
                non_boundary: false,
            },
            extras,
            wickets,
            replacements: vec![],
            commentary: Some(format!("{bowler} to {batter}, {commentary}")),
        }
    }

    /// Runs off the bat: boundaries more likely at the death and when the chase demands it.
    fn runs_off_bat(&mut self, phase: Phase, pressure: f64) -> u16 {
        let [dot, one, two, three, four, six] = self.profile.runs;
        let boost = phase.boundary_factor() * pressure;
        let weights = [
            dot / pressure.sqrt(),
            one,
            two,
            three,
            four * boost,
            six * boost,
        ];
        let mut pick = self.rng.random::<f64>() * weights.iter().sum::<f64>();
        for (runs, weight) in [0u16, 1, 2, 3, 4, 6].into_iter().zip(weights) {
            if pick < weight {
                return runs;
            }
            pick -= weight;
        }
        0
    }
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    Powerplay,
    Middle,
    Death,
}

impl Phase {
    fn of(legal: u32, max_balls: u32, super_over: bool) -> Phase {
        if super_over {
            return Phase::Death;
        }
        let fraction = f64::from(legal) / f64::from(max_balls.max(1));
        if fraction < 0.3 {
            Phase::Powerplay
        } else if fraction < 0.8 {
            Phase::Middle
        } else {
            Phase::Death
        }
    }

    fn boundary_factor(self) -> f64 {
        match self {
            Phase::Powerplay => 1.05,
            Phase::Middle => 0.85,
            Phase::Death => 1.35,
        }
    }

    fn wicket_factor(self) -> f64 {
        match self {
            Phase::Powerplay => 0.9,
            Phase::Middle => 0.9,
            Phase::Death => 1.4,
        }
    }
}

fn weighted_kind(roll: f64) -> WicketKind {
    let mut left = roll;
    for (kind, weight) in WICKET_KINDS {
        if left < weight {
            return kind;
        }
        left -= weight;
    }
    WicketKind::Caught
}

fn pick(rng: &mut StdRng, options: &[&str]) -> String {
    options[rng.random_range(0..options.len())].to_owned()
}

fn runs_words(runs: u16) -> String {
    match runs {
        0 => "no run, defended back to the bowler".to_owned(),
        1 => "1 run, worked into the gap".to_owned(),
        2 => "2 runs, good running between the wickets".to_owned(),
        3 => "3 runs, chased down just inside the rope".to_owned(),
        4 => "FOUR, driven through the covers".to_owned(),
        6 => "SIX, launched over long-on".to_owned(),
        n => format!("{n} runs"),
    }
}
