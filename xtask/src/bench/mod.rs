//! `cargo xtask bench [--only NAME] [--json FILE]`: the benchmark report.
//!
//! Two kinds of benchmark feed it: per-crate `cargo bench` binaries (pure code, run in
//! release, printing `BENCH {"metric": number}` lines) and system benchmarks here that start
//! a broker and release service binaries ([`ingest`]). Each measures its own baseline in the
//! same run and reports the ratio, so the figures mean the same on any machine. The report
//! is printed as a table and written as one flat JSON object.

mod ingest;
mod live;
mod warehouse;
mod web;
mod ws;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::{say, setup};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Run only the named benchmarks (scoring, ingest, live, ws, warehouse, web).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Also write the report as flat JSON `{metric: number}` to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// Per-crate benchmark binaries: (name, package, bench target).
const CRATE_BENCHES: &[(&str, &str, &str)] = &[("scoring", "cricket", "scoring")];

pub(crate) async fn run(args: &Args) -> Result<()> {
    setup::ensure(false)?;
    let wanted = |name: &str| args.only.is_empty() || args.only.iter().any(|only| only == name);
    let mut report: BTreeMap<String, f64> = BTreeMap::new();
    for (name, package, bench) in CRATE_BENCHES {
        if wanted(name) {
            report.extend(crate_bench(package, bench)?);
        }
    }
    if wanted("ingest") {
        report.extend(ingest::run().await?);
    }
    if wanted("live") {
        report.extend(live::run().await?);
    }
    if wanted("warehouse") {
        report.extend(warehouse::run().await?);
    }
    if wanted("ws") {
        report.extend(ws::run().await?);
    }
    if wanted("web") {
        report.extend(web::run().await?);
    }
    println!("{:<36} {:>16}", "metric", "value");
    for (metric, value) in &report {
        println!("{metric:<36} {value:>16.2}");
    }
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
        say(format!("report written to {}", path.display()));
    }
    Ok(())
}

/// Runs the release `simulator send FILE ARGS...` and returns the JSON report it prints last.
fn simulator_send(file: &std::path::Path, args: &[&str]) -> Result<serde_json::Value> {
    let output = Command::new(crate::stack::release("simulator"))
        .arg("send")
        .arg(file)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .context("cannot run the simulator")?;
    if !output.status.success() {
        bail!(
            "simulator send failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .last()
        .context("simulator printed no report")?;
    serde_json::from_str(line).with_context(|| format!("bad report {line:?}"))
}

fn crate_bench(package: &str, bench: &str) -> Result<BTreeMap<String, f64>> {
    say(format!("bench {package}/{bench}"));
    let output = Command::new(env!("CARGO"))
        .args(["bench", "--quiet", "-p", package, "--bench", bench])
        .current_dir(crate::workspace_root())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run bench {package}/{bench}"))?;
    if !output.status.success() {
        bail!("bench {package}/{bench} failed ({})", output.status);
    }
    let mut metrics = BTreeMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        if let Some(json) = line.strip_prefix("BENCH ") {
            let parsed: BTreeMap<String, f64> =
                serde_json::from_str(json).with_context(|| format!("bad bench line {line:?}"))?;
            metrics.extend(parsed);
        }
    }
    Ok(metrics)
}

/// Writes `total` benchmark events as NDJSON: the 20 real matches (no commentary, about 250
/// bytes an event), repeated under fresh match ids `<prefix><round>-<id>`. Returns the mean
/// event size in bytes.
fn write_real_events(path: &std::path::Path, total: usize, prefix: &str) -> Result<usize> {
    use std::io::Write;
    let dir = crate::workspace_root().join("data/cricsheet");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    files.retain(|path| path.extension().is_some_and(|ext| ext == "json"));
    files.sort();
    let mut matches = Vec::with_capacity(files.len());
    for file in &files {
        let id = file
            .file_stem()
            .and_then(|s| s.to_str())
            .context("file name")?;
        let bytes = std::fs::read(file)?;
        matches.push(cricket::cricsheet::import(
            id,
            &file.display().to_string(),
            &bytes,
        )?);
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    let (mut written, mut bytes, mut round) = (0, 0, 0);
    'fill: loop {
        round += 1;
        for events in &matches {
            for event in events {
                if written == total {
                    break 'fill;
                }
                let event = cricket::Event {
                    match_id: format!("{prefix}{round}-{}", event.match_id),
                    ..event.clone()
                };
                let line = serde_json::to_vec(&event)?;
                bytes += line.len() + 1;
                out.write_all(&line)?;
                out.write_all(b"\n")?;
                written += 1;
            }
        }
    }
    out.flush()?;
    Ok(bytes / total.max(1))
}
