//! Property tests over random (but well-formed) innings: the scoreboard's totals always equal
//! the sum of their parts, and duplicates or gaps never change what was scored.

use chrono::{DateTime, Utc};
use cricket::event::{
    Delivery, Extras, Format, InningsStarted, MatchStarted, Runs, Wicket, WicketKind,
};
use cricket::{Applied, ApplyError, Event, Payload, SCHEMA_VERSION, Scoreboard};
use proptest::prelude::*;

const TEAMS: [&str; 2] = ["Lions", "Tigers"];

/// One random delivery: runs off the bat, an extra (kind, amount), a wicket kind, overthrow flag.
type BallSpec = (u16, u8, u16, Option<usize>, bool);

fn ball_spec() -> impl Strategy<Value = BallSpec> {
    (
        prop_oneof![8 => 0u16..=4, 2 => Just(6u16), 1 => 5u16..=7],
        prop_oneof![12 => Just(0u8), 1 => 1u8..=5],
        1u16..=5,
        prop_oneof![15 => Just(None), 1 => (0..WicketKind::ALL.len()).prop_map(Some)],
        any::<bool>(),
    )
}

fn event(seq: u64, payload: Payload) -> Event {
    let time: DateTime<Utc> =
        DateTime::from_timestamp(1_700_000_000 + seq as i64 * 40, 0).expect("valid time");
    Event {
        schema: SCHEMA_VERSION,
        match_id: "prop".to_owned(),
        seq,
        time,
        payload,
    }
}

/// A match start, an innings start with `penalty` runs, then the deliveries described by `balls`.
fn innings_events(balls: &[BallSpec], penalty: u32) -> Vec<Event> {
    let mut events = vec![
        event(
            1,
            Payload::MatchStarted(MatchStarted {
                teams: TEAMS.map(str::to_owned),
                format: Format::T20,
                balls_per_over: 6,
                scheduled_overs: Some(20),
                squads: vec![],
                toss: None,
                venue: None,
                city: None,
                competition: None,
                date: None,
            }),
        ),
        event(
            2,
            Payload::InningsStarted(InningsStarted {
                innings: 1,
                batting_team: TEAMS[0].to_owned(),
                bowling_team: TEAMS[1].to_owned(),
                super_over: false,
                target_runs: None,
                max_balls: Some(120),
                penalty_runs: penalty,
            }),
        ),
    ];
    let mut next_batter = 2;
    let mut pair = ["Batter 0".to_owned(), "Batter 1".to_owned()];
    let (mut legal, mut ball_in_over, mut last_over) = (0u32, 0u16, 0u16);
    for &(bat, extra_kind, amount, wicket, non_boundary) in balls {
        if next_batter > 11 {
            break;
        }
        let mut extras = Extras::default();
        let mut batter_runs = bat;
        match extra_kind {
            1 => {
                extras.wides = amount;
                batter_runs = 0;
            }
            2 => extras.noballs = 1,
            3 => extras.byes = amount,
            4 => extras.legbyes = amount,
            5 => extras.penalty = 5,
            _ => {}
        }
        if extras.byes > 0 || extras.legbyes > 0 {
            batter_runs = 0;
        }
        let over = u16::try_from(legal / 6).expect("small");
        if over != last_over {
            ball_in_over = 0;
            last_over = over;
        }
        ball_in_over += 1;
        let wickets: Vec<Wicket> = wicket
            .map(|kind| Wicket {
                player_out: pair[0].clone(),
                kind: WicketKind::ALL[kind],
                fielders: vec![],
            })
            .into_iter()
            .collect();
        let delivery = Delivery {
            innings: 1,
            over,
            ball: ball_in_over,
            batter: pair[0].clone(),
            non_striker: pair[1].clone(),
            bowler: format!("Bowler {}", over % 5),
            runs: Runs {
                batter: batter_runs,
                extras: u16::try_from(extras.total()).expect("small"),
                total: batter_runs + u16::try_from(extras.total()).expect("small"),
                non_boundary,
            },
            extras,
            wickets,
            replacements: vec![],
            commentary: None,
        };
        legal += u32::from(delivery.is_legal());
        let dismissed = !delivery.wickets.is_empty();
        let odd = delivery.runs.batter % 2 == 1;
        events.push(event(events.len() as u64 + 1, Payload::Delivery(delivery)));
        if dismissed {
            pair[0] = format!("Batter {next_batter}");
            next_batter += 1;
        } else if odd {
            pair.swap(0, 1);
        }
    }
    events
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn totals_are_the_sum_of_their_parts(balls in prop::collection::vec(ball_spec(), 0..150), penalty in 0u32..=10) {
        let events = innings_events(&balls, penalty);
        for event in &events {
            prop_assert_eq!(event.validate(), Ok(()));
        }
        let board = Scoreboard::from_events("prop", &events).expect("well-formed events apply");
        let innings = &board.innings[0];

        let batter_runs: u32 = innings.batters.iter().map(|b| b.runs).sum();
        prop_assert_eq!(innings.runs, batter_runs + innings.extras.total());

        let e = innings.extras;
        let bowler_runs: u32 = innings.bowlers.iter().map(|b| b.runs).sum();
        prop_assert_eq!(innings.runs, bowler_runs + u32::from(e.byes) + u32::from(e.legbyes) + u32::from(e.penalty));

        let over_runs: u32 = innings.overs.iter().map(|o| o.runs).sum();
        prop_assert_eq!(innings.runs, over_runs + penalty);
        prop_assert_eq!(innings.worm().last().copied().unwrap_or(penalty), innings.runs);

        let partnership_runs: u32 = innings.partnerships.iter().map(|p| p.runs).sum();
        prop_assert_eq!(innings.runs, partnership_runs + penalty);
        for p in &innings.partnerships {
            prop_assert!(p.batter_runs[0] + p.batter_runs[1] <= p.runs);
        }

        let bowler_balls: u32 = innings.bowlers.iter().map(|b| b.legal_balls).sum();
        let over_balls: u32 = innings.overs.iter().map(|o| o.legal_balls).sum();
        prop_assert_eq!(innings.legal_balls, bowler_balls);
        prop_assert_eq!(innings.legal_balls, over_balls);

        let over_wickets: u32 = innings.overs.iter().map(|o| o.wickets).sum();
        prop_assert_eq!(innings.wickets, over_wickets);
        prop_assert_eq!(innings.wickets as usize, innings.fall_of_wickets.len());
        let bowler_wickets: u32 = innings.bowlers.iter().map(|b| b.wickets).sum();
        prop_assert!(bowler_wickets <= innings.wickets);

        let fours: u32 = innings.batters.iter().map(|b| b.fours).sum();
        let sixes: u32 = innings.batters.iter().map(|b| b.sixes).sum();
        prop_assert!(4 * fours + 6 * sixes <= batter_runs);
    }

    #[test]
    fn duplicates_change_nothing(balls in prop::collection::vec(ball_spec(), 0..80), repeat_every in 1usize..5) {
        let events = innings_events(&balls, 0);
        let once = Scoreboard::from_events("prop", &events).expect("applies");
        let mut twice = Scoreboard::new("prop");
        for (i, event) in events.iter().enumerate() {
            prop_assert_eq!(twice.apply(event), Ok(Applied::Changed));
            // Redeliver an earlier event, as Kafka may after a restart.
            let earlier = &events[i.saturating_sub(i % repeat_every)];
            prop_assert_eq!(twice.apply(earlier), Ok(Applied::Duplicate));
        }
        prop_assert_eq!(once, twice);
    }

    #[test]
    fn gaps_are_refused_without_changes(balls in prop::collection::vec(ball_spec(), 2..60), cut in 0usize..60, skip in 2u64..10) {
        let events = innings_events(&balls, 0);
        let cut = cut % events.len();
        let mut board = Scoreboard::from_events("prop", &events[..cut]).expect("applies");
        let before = board.clone();
        let mut ahead = events[cut].clone();
        ahead.seq += skip - 1;
        if ahead.seq > board.last_seq + 1 {
            let expected = ApplyError::Gap { expected: board.last_seq + 1, got: ahead.seq };
            prop_assert_eq!(board.apply(&ahead), Err(expected));
            prop_assert_eq!(board, before);
        }
    }
}
