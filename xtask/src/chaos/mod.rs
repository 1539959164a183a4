//! `cargo xtask chaos [--only NAME,...] [--json FILE]`: the reliability and security suite.
//!
//! Each case starts its own platform (a fresh broker and release binaries of the services on
//! free ports, see [`crate::stack`]), does something hostile to it, and checks the promises still
//! hold. Results are printed as a table and, with `--json`, written as
//! `{"tests": [{"name", "passed", "detail"}]}`. The run fails if any case failed.

mod cases;
mod hostile_neighbours;
mod sql_sandbox;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::json;

use crate::{say, setup};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Run only these cases (comma-separated names).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// The outcome of one case: `Ok(detail)` passed, `Err` failed with its reason.
pub(crate) type Outcome = Result<String>;

pub(crate) async fn run(args: &Args) -> Result<()> {
    setup::ensure(false)?;
    say("chaos: building release binaries");
    crate::stack::build_release(&["ingest", "stream-stats", "warehouse", "simulator"])?;

    let mut results = Vec::new();
    for (name, _) in cases::ALL {
        if !args.only.is_empty() && !args.only.iter().any(|only| only == name) {
            continue;
        }
        say(format!("chaos: {name}"));
        let started = Instant::now();
        let outcome = cases::run(name).await;
        let seconds = started.elapsed().as_secs_f64();
        let (passed, detail) = match outcome {
            Ok(detail) => (true, detail),
            Err(err) => (false, format!("{err:#}")),
        };
        say(format!(
            "chaos: {name} {} in {seconds:.1} s",
            if passed { "passed" } else { "FAILED" }
        ));
        results.push((name.to_owned(), passed, detail));
    }
    if results.is_empty() {
        bail!("no chaos case matches {:?}", args.only);
    }

    println!("{:<24} {:<6} detail", "test", "result");
    for (name, passed, detail) in &results {
        println!(
            "{name:<24} {:<6} {detail}",
            if *passed { "pass" } else { "FAIL" }
        );
    }
    let failed = results.iter().filter(|r| !r.1).count();
    println!("{} passed, {failed} failed", results.len() - failed);
    if let Some(path) = &args.json {
        let tests: Vec<_> = results
            .iter()
            .map(|(name, passed, detail)| json!({"name": name, "passed": passed, "detail": detail}))
            .collect();
        std::fs::write(
            path,
            serde_json::to_string_pretty(&json!({ "tests": tests }))?,
        )
        .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if failed > 0 {
        bail!("{failed} chaos cases failed");
    }
    Ok(())
}
