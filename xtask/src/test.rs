//! `cargo xtask test`: every test of the workspace, against a real broker started for the
//! run on a free port (so a demo broker on 9092 can keep running), plus the wasm32 build of
//! the domain crate that proves it stays pure.

use std::process::Command;

use anyhow::{Context, Result};

use platform::local_broker::{LocalBroker, Storage, free_port};

use crate::process::run_checked;
use crate::{say, setup};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Arguments for `cargo test` instead of `--workspace`, e.g. `-p ingest --test broker`.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    cargo_args: Vec<String>,
}

pub(crate) async fn run(args: Args) -> Result<()> {
    setup::ensure(true)?;

    say("building the domain crate for wasm32-unknown-unknown");
    let mut wasm = Command::new(env!("CARGO"));
    wasm.args([
        "build",
        "--quiet",
        "-p",
        "cricket",
        "--target",
        "wasm32-unknown-unknown",
    ]);
    run_checked(wasm)?;

    crate::docs::run(&crate::docs::Args::check())?;

    // The browser tests serve the real browser code and drive the services' binaries; the
    // deployment tests read every binary's --help.
    crate::web::build(true)?;
    crate::process::cargo_build(crate::process::ALL_BINARIES, crate::process::Profile::Debug)?;

    let broker = crate::broker::start(free_port()?, Storage::Memory).await?;
    say(format!("test broker on {}", broker.brokers()));

    let mut test = Command::new(env!("CARGO"));
    test.arg("test");
    if args.cargo_args.is_empty() {
        test.arg("--workspace");
    }
    test.args(&args.cargo_args)
        .env("KAFKA_BROKERS", broker.brokers())
        .env("NISSHI_BIN", LocalBroker::binary())
        .env("CRICKET_TOOLS_DIR", setup::tools_dir())
        .env("CRICKET_SITE_ROOT", crate::web::site_root())
        .current_dir(crate::workspace_root());
    let result = run_counting(test);
    drop(broker);
    let (passed, failed) = result?;
    // One closing line for the whole run: cargo's own last line is often an empty doc-test
    // binary ("0 passed"), which says nothing about the run.
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        anyhow::bail!("{failed} tests failed");
    }
    Ok(())
}

/// Runs `cargo test`, echoing its output, and adds up its `test result:` lines.
fn run_counting(mut command: Command) -> Result<(u64, u64)> {
    use std::io::{BufRead, BufReader};
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("cannot run cargo test")?;
    let stdout = child.stdout.take().context("no stdout")?;
    let (mut passed, mut failed) = (0, 0);
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        println!("{line}");
        if let Some(rest) = line.strip_prefix("test result: ") {
            passed += count_before(rest, " passed");
            failed += count_before(rest, " failed");
        }
    }
    let status = child.wait()?;
    if !status.success() && failed == 0 {
        anyhow::bail!("cargo test failed ({status})");
    }
    Ok((passed, failed))
}

/// In "ok. 8 passed; 0 failed; ...", the number before `label`.
fn count_before(text: &str, label: &str) -> u64 {
    text.split(';')
        .find_map(|part| {
            part.trim()
                .trim_start_matches("ok. ")
                .trim_start_matches("FAILED. ")
                .strip_suffix(label.trim_start())
        })
        .and_then(|number| number.trim().parse().ok())
        .unwrap_or(0)
}
