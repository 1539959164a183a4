//! One innings' live state and the rules that fold a delivery into it.
//!
//! Players are kept in small vectors in order of appearance: an innings has at most a dozen
//! batters and bowlers, so a linear scan beats hashing and keeps the batting order for free.

use std::collections::VecDeque;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::event::{Delivery, Extras, Fielder, InningsEndReason, InningsStarted, WicketKind};

/// How many of the latest deliveries an innings keeps for the "last balls" strip.
pub const RECENT_BALLS: usize = 12;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Innings {
    pub number: u8,
    pub batting_team: String,
    pub bowling_team: String,
    pub super_over: bool,
    pub target_runs: Option<u32>,
    pub max_balls: Option<u32>,
    pub balls_per_over: u8,
    pub runs: u32,
    pub wickets: u32,
    pub legal_balls: u32,
    /// Extras by kind; `penalty` includes penalty runs awarded before or after the innings.
    /// Running totals, so not bounded like a delivery's extras.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::extras_totals))]
    pub extras: Extras,
    /// Everyone who batted, stood at the non-striker's end or was dismissed, in order of appearance.
    pub batters: Vec<Batter>,
    /// Everyone who bowled, in order of appearance.
    pub bowlers: Vec<Bowler>,
    /// Indexes into `batters` of the pair at the crease after the latest delivery.
    pub striker: Option<usize>,
    pub non_striker: Option<usize>,
    /// Index into `bowlers` of the latest delivery's bowler.
    pub current_bowler: Option<usize>,
    pub partnerships: Vec<Partnership>,
    pub fall_of_wickets: Vec<FallOfWicket>,
    /// One entry per over bowled, in order: the Manhattan chart; the worm is its running sum.
    pub overs: Vec<Over>,
    /// The latest deliveries, oldest first (at most [`RECENT_BALLS`]).
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Ball>))]
    pub recent: VecDeque<Ball>,
    /// Penalty runs awarded before the first ball (the worm starts there).
    pub opening_penalty: u32,
    pub end: Option<InningsEnd>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InningsEnd {
    pub reason: InningsEndReason,
    pub absent_hurt: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Batter {
    pub name: String,
    pub runs: u32,
    pub balls: u32,
    pub fours: u32,
    pub sixes: u32,
    pub dots: u32,
    /// `None` while not out (or never out).
    pub dismissal: Option<Dismissal>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Dismissal {
    pub kind: WicketKind,
    /// The bowler of the delivery, when the dismissal is credited to them.
    pub bowler: Option<String>,
    pub fielders: Vec<Fielder>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Bowler {
    pub name: String,
    pub legal_balls: u32,
    pub maidens: u32,
    /// Runs conceded: off the bat plus wides and no-balls.
    pub runs: u32,
    pub wickets: u32,
    pub dots: u32,
    pub fours: u32,
    pub sixes: u32,
    pub wides: u32,
    pub noballs: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Partnership {
    /// The wicket this partnership is for: 1 for the opening stand.
    pub wicket: u32,
    pub batters: [String; 2],
    /// Runs off the bat by each of `batters`.
    pub batter_runs: [u32; 2],
    /// All runs scored while they were together, extras included.
    pub runs: u32,
    pub legal_balls: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FallOfWicket {
    pub wicket: u32,
    pub runs: u32,
    pub player: String,
    pub overs: Overs,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Over {
    /// 0-based over number.
    pub number: u16,
    pub runs: u32,
    pub wickets: u32,
    pub legal_balls: u32,
    /// Index into `bowlers` of who started the over.
    pub bowler: usize,
    /// False when a second bowler had to finish the over (no maiden possible then).
    pub one_bowler: bool,
    pub bowler_runs: u32,
    pub maiden: bool,
}

/// One delivery as the "last balls" strip shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Ball {
    pub over: u16,
    pub ball: u16,
    pub batter_runs: u16,
    pub total: u16,
    pub extras: Extras,
    pub boundary: bool,
    pub wicket: bool,
    pub commentary: Option<String>,
}

impl Ball {
    /// Chip text: "•" for a dot, "4", "6", "W", "1wd", "nb", "2lb", "1b", "5p", "W+1"...
    pub fn label(&self) -> String {
        let mut label = String::new();
        let extras = self.extras;
        let (kind, extra_runs) = if extras.wides > 0 {
            ("wd", extras.wides - 1 + extras.byes + extras.legbyes)
        } else if extras.noballs > 0 {
            ("nb", self.batter_runs + extras.byes + extras.legbyes)
        } else if extras.legbyes > 0 {
            ("lb", extras.legbyes)
        } else if extras.byes > 0 {
            ("b", extras.byes)
        } else {
            ("", self.batter_runs)
        };
        if self.wicket {
            label.push('W');
            if self.total > 0 {
                label.push_str(&format!("+{}", self.total));
            }
            return label;
        }
        match kind {
            "" if self.total == 0 => label.push('•'),
            "" => label.push_str(&self.total.to_string()),
            "wd" | "nb" if extra_runs == 0 => label.push_str(kind),
            _ => label.push_str(&format!("{extra_runs}{kind}")),
        }
        if extras.penalty > 0 {
            label.push_str(&format!("+{}p", extras.penalty));
        }
        label
    }
}

/// Overs as cricket writes them: completed overs and balls of the current one ("18.5").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Overs {
    pub completed: u32,
    pub balls: u32,
}

impl Overs {
    pub fn from_balls(legal_balls: u32, balls_per_over: u8) -> Overs {
        let per_over = u32::from(balls_per_over.max(1));
        Overs {
            completed: legal_balls / per_over,
            balls: legal_balls % per_over,
        }
    }
}

impl fmt::Display for Overs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.balls == 0 {
            write!(f, "{}", self.completed)
        } else {
            write!(f, "{}.{}", self.completed, self.balls)
        }
    }
}

impl Batter {
    fn new(name: &str) -> Batter {
        Batter {
            name: name.to_owned(),
            ..Batter::default()
        }
    }

    pub fn strike_rate(&self) -> Option<f64> {
        (self.balls > 0).then(|| f64::from(self.runs) * 100.0 / f64::from(self.balls))
    }

    pub fn is_out(&self) -> bool {
        self.dismissal.is_some()
    }

    /// The scorecard's "how out" column: "c Jadeja b Bumrah", "lbw b Starc", "not out".
    pub fn how_out(&self) -> String {
        let Some(dismissal) = &self.dismissal else {
            return "not out".to_owned();
        };
        let bowler = dismissal.bowler.as_deref().unwrap_or("?");
        let fielder = |i: usize| {
            dismissal.fielders.get(i).map_or_else(
                || "?".to_owned(),
                |f| {
                    if f.substitute {
                        format!("sub ({})", f.name)
                    } else {
                        f.name.clone()
                    }
                },
            )
        };
        match dismissal.kind {
            WicketKind::Bowled => format!("b {bowler}"),
            WicketKind::Caught => format!("c {} b {bowler}", fielder(0)),
            WicketKind::CaughtAndBowled => format!("c & b {bowler}"),
            WicketKind::Lbw => format!("lbw b {bowler}"),
            WicketKind::Stumped => format!("st {} b {bowler}", fielder(0)),
            WicketKind::HitWicket => format!("hit wicket b {bowler}"),
            WicketKind::RunOut if dismissal.fielders.is_empty() => "run out".to_owned(),
            WicketKind::RunOut => {
                let names: Vec<String> = (0..dismissal.fielders.len()).map(fielder).collect();
                format!("run out ({})", names.join("/"))
            }
            other => other.label().to_owned(),
        }
    }
}

impl Bowler {
    fn new(name: &str) -> Bowler {
        Bowler {
            name: name.to_owned(),
            ..Bowler::default()
        }
    }

    pub fn overs(&self, balls_per_over: u8) -> Overs {
        Overs::from_balls(self.legal_balls, balls_per_over)
    }

    /// Runs conceded per over of `balls_per_over` legal balls.
    pub fn economy(&self, balls_per_over: u8) -> Option<f64> {
        (self.legal_balls > 0)
            .then(|| f64::from(self.runs) * f64::from(balls_per_over) / f64::from(self.legal_balls))
    }
}

fn position_or_push<T>(
    list: &mut Vec<T>,
    name: &str,
    get: impl Fn(&T) -> &str,
    make: impl FnOnce(&str) -> T,
) -> usize {
    match list.iter().position(|item| get(item) == name) {
        Some(index) => index,
        None => {
            list.push(make(name));
            list.len() - 1
        }
    }
}

impl Innings {
    pub(crate) fn start(started: &InningsStarted, balls_per_over: u8) -> Innings {
        let penalty = started.penalty_runs;
        Innings {
            number: started.innings,
            batting_team: started.batting_team.clone(),
            bowling_team: started.bowling_team.clone(),
            super_over: started.super_over,
            target_runs: started.target_runs,
            max_balls: started.max_balls,
            balls_per_over,
            runs: penalty,
            wickets: 0,
            legal_balls: 0,
            extras: Extras {
                penalty: u16::try_from(penalty).unwrap_or(u16::MAX),
                ..Extras::default()
            },
            batters: Vec::new(),
            bowlers: Vec::new(),
            striker: None,
            non_striker: None,
            current_bowler: None,
            partnerships: Vec::new(),
            fall_of_wickets: Vec::new(),
            overs: Vec::new(),
            recent: VecDeque::with_capacity(RECENT_BALLS),
            opening_penalty: penalty,
            end: None,
        }
    }

    pub fn is_open(&self) -> bool {
        self.end.is_none()
    }

    /// Overs as shown on the scoreboard. An over that was cut short or ran long by an umpire's
    /// miscount still counts as one over once the next begins.
    pub fn overs(&self) -> Overs {
        let per_over = u32::from(self.balls_per_over.max(1));
        match self.overs.last() {
            None => Overs::default(),
            Some(over) if over.legal_balls >= per_over => Overs {
                completed: u32::from(over.number) + 1,
                balls: 0,
            },
            Some(over) => Overs {
                completed: u32::from(over.number),
                balls: over.legal_balls,
            },
        }
    }

    /// Runs per over so far, or `None` before the first legal ball.
    pub fn run_rate(&self) -> Option<f64> {
        (self.legal_balls > 0).then(|| {
            f64::from(self.runs) * f64::from(self.balls_per_over) / f64::from(self.legal_balls)
        })
    }

    /// Runs still needed to win, when this innings is a chase.
    pub fn runs_needed(&self) -> Option<u32> {
        self.target_runs
            .map(|target| target.saturating_sub(self.runs))
    }

    /// Legal balls left, when the innings has a length limit.
    pub fn balls_left(&self) -> Option<u32> {
        self.max_balls
            .map(|max| max.saturating_sub(self.legal_balls))
    }

    /// Runs per over needed to win from here.
    pub fn required_rate(&self) -> Option<f64> {
        let needed = self.runs_needed()?;
        let balls = self.balls_left()?;
        (balls > 0).then(|| f64::from(needed) * f64::from(self.balls_per_over) / f64::from(balls))
    }

    /// Cumulative runs at the end of each over: the worm chart.
    pub fn worm(&self) -> Vec<u32> {
        self.overs
            .iter()
            .scan(self.opening_penalty, |total, over| {
                *total += over.runs;
                Some(*total)
            })
            .collect()
    }

    /// The partnership in progress, if the innings is open and a pair has batted.
    pub fn current_partnership(&self) -> Option<&Partnership> {
        self.partnerships.last().filter(|_| self.is_open())
    }

    /// The batters at the crease now, striker first.
    pub fn at_crease(&self) -> impl Iterator<Item = &Batter> {
        [self.striker, self.non_striker]
            .into_iter()
            .flatten()
            .filter_map(|index| self.batters.get(index))
            .filter(|batter| !batter.is_out())
    }

    /// Checks that `delivery` can be applied, without changing anything.
    pub(crate) fn check_delivery(&self, delivery: &Delivery) -> Result<(), String> {
        if !self.is_open() {
            return Err(format!("innings {} has already ended", self.number));
        }
        if delivery.innings != self.number {
            return Err(format!(
                "delivery is for innings {} but innings {} is in progress",
                delivery.innings, self.number
            ));
        }
        if let Some(last) = self.overs.last()
            && delivery.over < last.number
        {
            return Err(format!(
                "over {} comes after over {} has begun",
                delivery.over, last.number
            ));
        }
        Ok(())
    }

    /// Folds one delivery into the innings. The caller has run [`Innings::check_delivery`].
    pub(crate) fn apply_delivery(&mut self, delivery: &Delivery) {
        let per_over = u32::from(self.balls_per_over.max(1));
        let legal = delivery.is_legal();
        let legal_ball = u32::from(legal);
        let total = u32::from(delivery.runs.total);
        let batter_runs = u32::from(delivery.runs.batter);
        let bowler_runs = delivery.bowler_runs();
        let boundary = delivery.boundary();

        let striker = position_or_push(
            &mut self.batters,
            &delivery.batter,
            |b| &b.name,
            Batter::new,
        );
        let non_striker = position_or_push(
            &mut self.batters,
            &delivery.non_striker,
            |b| &b.name,
            Batter::new,
        );
        let bowler_index = position_or_push(
            &mut self.bowlers,
            &delivery.bowler,
            |b| &b.name,
            Bowler::new,
        );

        self.runs += total;
        self.legal_balls += legal_ball;
        add_extras(&mut self.extras, &delivery.extras);

        for index in [striker, non_striker] {
            // A batter who retired hurt or not out and walks back in is no longer out.
            let batter = &mut self.batters[index];
            if batter
                .dismissal
                .as_ref()
                .is_some_and(|d| !d.kind.counts_as_team_wicket())
            {
                batter.dismissal = None;
            }
        }
        let batter = &mut self.batters[striker];
        batter.runs += batter_runs;
        if delivery.extras.wides == 0 {
            batter.balls += 1;
            if total == 0 {
                batter.dots += 1;
            }
        }
        match boundary {
            Some(4) => batter.fours += 1,
            Some(6) => batter.sixes += 1,
            _ => {}
        }

        let bowler = &mut self.bowlers[bowler_index];
        bowler.runs += bowler_runs;
        bowler.legal_balls += legal_ball;
        bowler.wides += u32::from(delivery.extras.wides);
        bowler.noballs += u32::from(delivery.extras.noballs);
        if legal && bowler_runs == 0 {
            bowler.dots += 1;
        }
        match boundary {
            Some(4) => bowler.fours += 1,
            Some(6) => bowler.sixes += 1,
            _ => {}
        }

        if self
            .overs
            .last()
            .is_none_or(|over| over.number != delivery.over)
        {
            self.overs.push(Over {
                number: delivery.over,
                runs: 0,
                wickets: 0,
                legal_balls: 0,
                bowler: bowler_index,
                one_bowler: true,
                bowler_runs: 0,
                maiden: false,
            });
        }
        let over_index = self.overs.len() - 1;
        let over = &mut self.overs[over_index];
        over.runs += total;
        over.legal_balls += legal_ball;
        over.bowler_runs += bowler_runs;
        over.one_bowler &= over.bowler == bowler_index;
        // A maiden is credited as soon as the over is complete; a miscounted extra ball that
        // concedes runs takes it back.
        let maiden_now = over.one_bowler && over.legal_balls >= per_over && over.bowler_runs == 0;
        if maiden_now != over.maiden {
            over.maiden = maiden_now;
            let maiden_bowler = &mut self.bowlers[over.bowler];
            if maiden_now {
                maiden_bowler.maidens += 1;
            } else {
                maiden_bowler.maidens = maiden_bowler.maidens.saturating_sub(1);
            }
        }

        self.add_to_partnership(
            delivery,
            striker,
            non_striker,
            total,
            batter_runs,
            legal_ball,
        );

        let mut wicket_fell = false;
        for wicket in &delivery.wickets {
            let out = position_or_push(
                &mut self.batters,
                &wicket.player_out,
                |b| &b.name,
                Batter::new,
            );
            let credited = wicket.kind.credited_to_bowler();
            self.batters[out].dismissal = Some(Dismissal {
                kind: wicket.kind,
                bowler: credited.then(|| delivery.bowler.clone()),
                fielders: wicket.fielders.clone(),
            });
            wicket_fell = true;
            if credited {
                self.bowlers[bowler_index].wickets += 1;
            }
            if wicket.kind.counts_as_team_wicket() {
                self.wickets += 1;
                if let Some(over) = self.overs.last_mut() {
                    over.wickets += 1;
                }
                self.fall_of_wickets.push(FallOfWicket {
                    wicket: self.wickets,
                    runs: self.runs,
                    player: wicket.player_out.clone(),
                    overs: self.overs(),
                });
            }
        }

        self.striker = Some(striker);
        self.non_striker = Some(non_striker);
        self.current_bowler = Some(bowler_index);

        if self.recent.len() == RECENT_BALLS {
            self.recent.pop_front();
        }
        self.recent.push_back(Ball {
            over: delivery.over,
            ball: delivery.ball,
            batter_runs: delivery.runs.batter,
            total: delivery.runs.total,
            extras: delivery.extras,
            boundary: boundary.is_some(),
            wicket: wicket_fell,
            commentary: delivery.commentary.clone(),
        });
    }

    /// A partnership is the stand of one pair: it changes whenever the pair at the crease
    /// changes, whether by a wicket, a retirement or a replacement.
    fn add_to_partnership(
        &mut self,
        delivery: &Delivery,
        striker: usize,
        non_striker: usize,
        total: u32,
        batter_runs: u32,
        legal_ball: u32,
    ) {
        let same_pair = self.partnerships.last().is_some_and(|p| {
            p.batters.contains(&delivery.batter) && p.batters.contains(&delivery.non_striker)
        });
        if !same_pair {
            let wicket = self.wickets + 1;
            self.partnerships.push(Partnership {
                wicket,
                batters: [
                    self.batters[striker].name.clone(),
                    self.batters[non_striker].name.clone(),
                ],
                batter_runs: [0, 0],
                runs: 0,
                legal_balls: 0,
            });
        }
        if let Some(partnership) = self.partnerships.last_mut() {
            partnership.runs += total;
            partnership.legal_balls += legal_ball;
            let slot = usize::from(partnership.batters[0] != delivery.batter);
            partnership.batter_runs[slot] += batter_runs;
        }
    }

    pub(crate) fn add_penalty_runs(&mut self, runs: u32) {
        self.runs += runs;
        let penalty = u32::from(self.extras.penalty) + runs;
        self.extras.penalty = u16::try_from(penalty).unwrap_or(u16::MAX);
    }
}

fn add_extras(total: &mut Extras, delivery: &Extras) {
    total.wides = total.wides.saturating_add(delivery.wides);
    total.noballs = total.noballs.saturating_add(delivery.noballs);
    total.byes = total.byes.saturating_add(delivery.byes);
    total.legbyes = total.legbyes.saturating_add(delivery.legbyes);
    total.penalty = total.penalty.saturating_add(delivery.penalty);
}
