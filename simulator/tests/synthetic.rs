//! Synthetic matches keep the laws of cricket and look like the real matches in
//! `data/cricsheet`: their statistics are compared with those computed from the real files in
//! the same run, within bounds wide enough for 20 real matches to be a fair sample.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use cricket::event::{Format, InningsEndReason, Outcome, Payload};
use cricket::{Event, Scoreboard};
use simulator::synthetic::generate;

#[derive(Debug, Default)]
struct Stats {
    first_innings_totals: Vec<u32>,
    wickets_per_completed_innings: Vec<u32>,
    legal_balls: u32,
    deliveries: u32,
    boundaries: u32,
    wides_and_noballs: u32,
}

impl Stats {
    fn add(&mut self, board: &Scoreboard) {
        for innings in board.innings.iter().filter(|i| !i.super_over) {
            if innings.number == 1 {
                self.first_innings_totals.push(innings.runs);
            }
            let reason = innings.end.as_ref().map(|e| e.reason);
            if matches!(
                reason,
                Some(InningsEndReason::AllOut | InningsEndReason::OversComplete)
            ) {
                self.wickets_per_completed_innings.push(innings.wickets);
            }
            self.legal_balls += innings.legal_balls;
            self.boundaries += innings
                .batters
                .iter()
                .map(|b| b.fours + b.sixes)
                .sum::<u32>();
        }
    }

    fn add_events(&mut self, events: &[Event]) {
        for event in events {
            if let Payload::Delivery(d) = &event.payload {
                self.deliveries += 1;
                if d.extras.wides > 0 || d.extras.noballs > 0 {
                    self.wides_and_noballs += 1;
                }
            }
        }
    }

    fn mean_first_innings(&self) -> f64 {
        mean(&self.first_innings_totals)
    }

    fn mean_wickets(&self) -> f64 {
        mean(&self.wickets_per_completed_innings)
    }

    fn boundary_rate(&self) -> f64 {
        f64::from(self.boundaries) / f64::from(self.legal_balls)
    }

    fn extras_rate(&self) -> f64 {
        f64::from(self.wides_and_noballs) / f64::from(self.deliveries)
    }
}

fn mean(values: &[u32]) -> f64 {
    values.iter().map(|v| f64::from(*v)).sum::<f64>() / values.len().max(1) as f64
}

fn real_stats(format: Format) -> Stats {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../data/cricsheet");
    let mut stats = Stats::default();
    for entry in std::fs::read_dir(&dir).expect("data dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|ext| ext != "json") {
            continue;
        }
        let events = simulator::replay::load(&path, "").expect("real match loads");
        let board = Scoreboard::from_events(&events[0].match_id, &events).expect("scores");
        if board.info.as_ref().map(|i| i.format) != Some(format) {
            continue;
        }
        // Rain-shortened first innings are not a fair comparison for totals.
        let first = &board.innings[0];
        let interrupted =
            first.end.as_ref().map(|e| e.reason) == Some(InningsEndReason::Interrupted);
        if !interrupted
            && first.max_balls
                == board
                    .info
                    .as_ref()
                    .and_then(|i| i.scheduled_overs)
                    .map(|o| u32::from(o) * 6)
        {
            stats.first_innings_totals.push(first.runs);
        }
        let mut rest = Stats::default();
        rest.add(&board);
        stats
            .wickets_per_completed_innings
            .extend(rest.wickets_per_completed_innings);
        stats.legal_balls += rest.legal_balls;
        stats.boundaries += rest.boundaries;
        stats.add_events(&events);
    }
    stats
}

fn synthetic_stats(format: Format, matches: u64) -> (Stats, Vec<(Vec<Event>, Scoreboard)>) {
    let start: DateTime<Utc> = DateTime::from_timestamp(1_750_000_000, 0).expect("time");
    let mut stats = Stats::default();
    let mut played = Vec::new();
    for seed in 1..=matches {
        let events = generate(&format!("sim-{seed}"), format, seed, start, 1.0);
        for event in &events {
            assert_eq!(event.validate(), Ok(()), "seed {seed}: {event:?}");
        }
        let board =
            Scoreboard::from_events(&events[0].match_id, &events).expect("synthetic events score");
        stats.add(&board);
        stats.add_events(&events);
        played.push((events, board));
    }
    (stats, played)
}

fn within(name: &str, synthetic: f64, real: f64, tolerance: f64) {
    let low = real * (1.0 - tolerance);
    let high = real * (1.0 + tolerance);
    assert!(
        (low..=high).contains(&synthetic),
        "{name}: synthetic {synthetic:.3} is outside {low:.3}..{high:.3} (real {real:.3})"
    );
}

fn check_format(format: Format, matches: u64) {
    let real = real_stats(format);
    let (synthetic, played) = synthetic_stats(format, matches);
    eprintln!(
        "{format:?}: first innings {:.1} (real {:.1}), wickets {:.2} ({:.2}), boundaries/ball {:.3} ({:.3}), wd+nb/delivery {:.4} ({:.4})",
        synthetic.mean_first_innings(),
        real.mean_first_innings(),
        synthetic.mean_wickets(),
        real.mean_wickets(),
        synthetic.boundary_rate(),
        real.boundary_rate(),
        synthetic.extras_rate(),
        real.extras_rate()
    );
    within(
        "first-innings total",
        synthetic.mean_first_innings(),
        real.mean_first_innings(),
        0.15,
    );
    within(
        "wickets per innings",
        synthetic.mean_wickets(),
        real.mean_wickets(),
        0.25,
    );
    within(
        "boundaries per legal ball",
        synthetic.boundary_rate(),
        real.boundary_rate(),
        0.25,
    );
    within(
        "wides and no-balls per delivery",
        synthetic.extras_rate(),
        real.extras_rate(),
        0.4,
    );
    for (events, board) in &played {
        check_laws(events, board);
    }
}

/// The laws every synthetic match must keep.
fn check_laws(events: &[Event], board: &Scoreboard) {
    let id = &board.match_id;
    let info = board.info.as_ref().expect("started");
    let max_overs_each = u32::from(info.scheduled_overs.expect("limited")).div_ceil(5);
    for innings in &board.innings {
        // Over by over, who bowled it.
        let mut bowler_of_over: BTreeMap<u16, HashSet<&str>> = BTreeMap::new();
        for event in events {
            if let Payload::Delivery(d) = &event.payload
                && d.innings == innings.number
            {
                bowler_of_over
                    .entry(d.over)
                    .or_default()
                    .insert(d.bowler.as_str());
            }
        }
        let sequence: Vec<&str> = bowler_of_over
            .values()
            .map(|set| {
                assert_eq!(set.len(), 1, "{id}: one bowler per over");
                *set.iter().next().expect("one")
            })
            .collect();
        for pair in sequence.windows(2) {
            assert_ne!(pair[0], pair[1], "{id}: no bowler bowls consecutive overs");
        }
        if !innings.super_over {
            for bowler in &innings.bowlers {
                assert!(
                    bowler.overs(6).completed <= max_overs_each,
                    "{id}: {} over the limit",
                    bowler.name
                );
            }
        }
        let reason = innings.end.as_ref().expect("every innings ends").reason;
        let wickets_available = if innings.super_over { 2 } else { 10 };
        match reason {
            InningsEndReason::AllOut => assert_eq!(innings.wickets, wickets_available, "{id}"),
            InningsEndReason::OversComplete => {
                assert_eq!(Some(innings.legal_balls), innings.max_balls, "{id}")
            }
            InningsEndReason::TargetReached => {
                let target = innings.target_runs.expect("a chase");
                assert!(innings.runs >= target, "{id}");
                // The last ball took them there: before it they still needed runs.
                let last = innings.recent.back().expect("a ball");
                assert!(
                    innings.runs - u32::from(last.total) < target,
                    "{id}: played on after the target"
                );
            }
            other => panic!("{id}: unexpected end {other:?}"),
        }
        if let Some(target) = innings.target_runs {
            assert!(
                innings.runs <= target + 6,
                "{id}: a chase stops at the target"
            );
        }
    }
    let main: Vec<_> = board.innings.iter().filter(|i| !i.super_over).collect();
    let result = &board.result.as_ref().expect("a result").outcome;
    match result {
        Outcome::Win { winner, .. } => {
            let first = main[0];
            let second = main[1];
            let expected = if second.runs > first.runs {
                &second.batting_team
            } else {
                &first.batting_team
            };
            assert_eq!(winner, expected, "{id}: the side with more runs wins");
            assert!(board.innings.iter().all(|i| !i.super_over));
        }
        Outcome::Tie { eliminator, .. } => {
            assert_eq!(main[0].runs, main[1].runs, "{id}: a tie is level");
            assert!(
                board.innings.iter().any(|i| i.super_over),
                "{id}: a tie goes to a super over"
            );
            assert!(eliminator.is_some());
        }
        other => panic!("{id}: unexpected outcome {other:?}"),
    }
}

#[test]
fn synthetic_t20s_keep_the_laws_and_look_real() {
    check_format(Format::T20, 300);
}

#[test]
fn synthetic_odis_keep_the_laws_and_look_real() {
    check_format(Format::Odi, 100);
}

#[test]
fn the_same_seed_plays_the_same_match() {
    let start = DateTime::from_timestamp(1_750_000_000, 0).expect("time");
    assert_eq!(
        generate("a", Format::T20, 7, start, 1.0),
        generate("a", Format::T20, 7, start, 1.0)
    );
    assert_ne!(
        generate("a", Format::T20, 7, start, 1.0),
        generate("a", Format::T20, 8, start, 1.0)
    );
}

#[test]
fn some_synthetic_matches_tie_and_go_to_super_overs() {
    let (_, played) = synthetic_stats(Format::T20, 600);
    let ties = played
        .iter()
        .filter(|(_, board)| board.innings.iter().any(|i| i.super_over))
        .count();
    assert!(ties > 0, "600 T20s without a tie: ties are not modelled");
}
