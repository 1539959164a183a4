//! `cargo xtask bench [--json FILE]`: runs each crate's benchmark binary in release mode,
//! collects the `BENCH {"metric": number}` lines they print, and reports them as a table and
//! as one flat JSON object. Every benchmark measures its own baseline in the same run and
//! reports the ratio, so the numbers mean the same on any machine.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::say;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Also write the report as flat JSON `{metric: number}` to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// (package, bench target) pairs, run in this order.
const BENCHES: &[(&str, &str)] = &[("cricket", "scoring")];

pub(crate) fn run(args: &Args) -> Result<()> {
    let mut report: BTreeMap<String, f64> = BTreeMap::new();
    for (package, bench) in BENCHES {
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
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            let Some(json) = line.strip_prefix("BENCH ") else {
                println!("{line}");
                continue;
            };
            let metrics: BTreeMap<String, f64> =
                serde_json::from_str(json).with_context(|| format!("bad bench line {line:?}"))?;
            report.extend(metrics);
        }
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
