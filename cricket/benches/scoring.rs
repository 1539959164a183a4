//! `scoring_deliveries_per_s`: events folded into scoreboards per second on one core, over the
//! 20 real matches replayed again and again. The baseline in the same run is the cheapest
//! possible fold over the same events (summing `runs.total`), so `scoring_vs_sum_ratio` says
//! what the full engine costs relative to merely touching every delivery.
//!
//! Prints `BENCH {json}` for `cargo xtask bench`.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use cricket::{Event, Payload, Scoreboard, cricsheet};

fn load_matches() -> Vec<(String, Vec<Event>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../data/cricsheet");
    let mut matches = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("data/cricsheet exists") {
        let path = entry.expect("dir entry").path();
        if path.extension().is_some_and(|ext| ext == "json") {
            let id = path
                .file_stem()
                .and_then(|s| s.to_str())
                .expect("utf-8 name")
                .to_owned();
            let bytes = std::fs::read(&path).expect("readable");
            let events =
                cricsheet::import(&id, &path.display().to_string(), &bytes).expect("imports");
            matches.push((id, events));
        }
    }
    matches
}

/// Runs `pass` repeatedly for at least `budget`; returns deliveries per second.
fn measure(deliveries_per_pass: u64, budget: Duration, mut pass: impl FnMut()) -> f64 {
    pass(); // warm-up
    let start = Instant::now();
    let mut passes = 0u64;
    while start.elapsed() < budget {
        pass();
        passes += 1;
    }
    (passes * deliveries_per_pass) as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let matches = load_matches();
    let deliveries: u64 = matches
        .iter()
        .flat_map(|(_, events)| events)
        .filter(|e| matches!(e.payload, Payload::Delivery(_)))
        .count() as u64;
    let budget = Duration::from_secs(3);

    let scoring = measure(deliveries, budget, || {
        for (id, events) in &matches {
            let mut board = Scoreboard::new(id.as_str());
            for event in events {
                let _ = black_box(board.apply(black_box(event)));
            }
            black_box(&board);
        }
    });
    let sum = measure(deliveries, budget, || {
        let mut total = 0u64;
        for (_, events) in &matches {
            for event in events {
                if let Payload::Delivery(delivery) = &black_box(event).payload {
                    total += u64::from(delivery.runs.total);
                }
            }
        }
        black_box(total);
    });
    eprintln!(
        "{deliveries} deliveries per pass over {} matches",
        matches.len()
    );
    println!(
        "BENCH {{\"scoring_deliveries_per_s\": {scoring:.0}, \"scoring_baseline_sum_per_s\": {sum:.0}, \"scoring_vs_sum_ratio\": {:.4}}}",
        scoring / sum
    );
}
