//! The contract tests' one way of running schemathesis (a property-based API fuzzer) against
//! a service: it reads the service's own `/openapi.json`, sends what it generates from it, and
//! the test fails on any failed check. Each service's test says only what differs: its
//! folder (`schemathesis.toml`, and `hooks.py` when the stock checks need help), extra checks
//! and headers. A fixed seed and a bounded number of examples keep every run reproducible and
//! short.
//!
//! schemathesis comes from `CRICKET_TOOLS_DIR` (`cargo xtask setup --test` installs it in its
//! own venv).

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

/// What every contract test checks: no 5xx, every status, content type and body as
/// documented, schema-invalid requests refused, schema-valid ones not refused as malformed
/// (what "refused" and "accepted" may be is each service's `schemathesis.toml`).
pub const CHECKS: &[&str] = &[
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "positive_data_acceptance",
];

/// One schemathesis run; see the module docs.
#[derive(Debug, Clone)]
pub struct Schemathesis {
    service: String,
    url: String,
    folder: PathBuf,
    checks: Vec<String>,
    headers: Vec<String>,
    max_examples: u32,
    seed: u64,
}

/// What a passing run reports.
#[derive(Debug, Clone)]
pub struct Report {
    /// schemathesis' own summary, printed by [`Schemathesis::assert_holds`] too.
    pub output: String,
    /// Test cases generated (each one request, some with a follow-up), from the summary.
    pub test_cases: Option<u64>,
    pub seconds: f64,
}

impl Schemathesis {
    /// Against the service at `url` (the document is `{url}/openapi.json`), with the settings
    /// in `folder`: `schemathesis.toml`, and `hooks.py` if there is one.
    pub fn new(service: &str, url: &str, folder: PathBuf) -> Schemathesis {
        Schemathesis {
            service: service.to_owned(),
            url: url.to_owned(),
            folder,
            checks: CHECKS.iter().map(|&check| check.to_owned()).collect(),
            headers: Vec::new(),
            max_examples: 100,
            seed: 12,
        }
    }

    /// A check on top of [`CHECKS`], e.g. one the service's `hooks.py` defines.
    pub fn check(mut self, name: &str) -> Schemathesis {
        self.checks.push(name.to_owned());
        self
    }

    /// A header sent with every request, `"Name: value"`.
    pub fn header(mut self, header: &str) -> Schemathesis {
        self.headers.push(header.to_owned());
        self
    }

    /// Test cases per operation and phase (the coverage phase adds its boundary values).
    pub fn max_examples(mut self, max_examples: u32) -> Schemathesis {
        self.max_examples = max_examples;
        self
    }

    pub fn seed(mut self, seed: u64) -> Schemathesis {
        self.seed = seed;
        self
    }

    /// Runs schemathesis to the end and panics, with its output, if any check failed or
    /// nothing was checked.
    pub async fn assert_holds(self) -> Report {
        let report_dir =
            std::env::temp_dir().join(crate::unique(&format!("schemathesis-{}", self.service)));
        std::fs::create_dir_all(&report_dir).expect("report folder");
        let mut command = Command::new(binary());
        // Its example database and cache go to the working folder: keep them out of the checkout.
        command.current_dir(&report_dir);
        command
            .arg("--config-file")
            .arg(self.folder.join("schemathesis.toml"))
            .arg("run")
            .arg(format!("{}/openapi.json", self.url))
            .args(["--url", &self.url])
            .args(["--checks", &self.checks.join(",")])
            .args(["--phases", "examples,coverage,fuzzing"])
            .args(["--max-examples", &self.max_examples.to_string()])
            .args(["--seed", &self.seed.to_string()])
            .args(["--workers", "1", "--request-timeout", "10"])
            .args(["--suppress-health-check", "all"])
            .args(["--report", "junit", "--report-dir"])
            .arg(&report_dir)
            .env("NO_COLOR", "1");
        for header in &self.headers {
            command.args(["--header", header]);
        }
        if self.folder.join("hooks.py").exists() {
            command
                .env("SCHEMATHESIS_HOOKS", "hooks")
                .env("PYTHONPATH", &self.folder);
        }
        let started = Instant::now();
        let output = tokio::task::spawn_blocking(move || command.output())
            .await
            .expect("join")
            .expect("schemathesis runs");
        let seconds = started.elapsed().as_secs_f64();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr);
        println!("{stdout}\n{stderr}");
        println!(
            "schemathesis took {seconds:.1} s; JUnit report in {}",
            report_dir.display()
        );
        assert!(
            output.status.success(),
            "schemathesis found {}'s contract broken (output above)",
            self.service
        );
        assert!(
            stdout.contains("No issues found"),
            "schemathesis ran no check? (output above)"
        );
        Report {
            test_cases: test_cases(&stdout),
            output: stdout,
            seconds,
        }
    }
}

/// The `N` of the summary's "Test cases:" section (`N generated, N passed`, on the line
/// after the heading).
fn test_cases(output: &str) -> Option<u64> {
    let mut lines = output.lines();
    lines.find(|line| line.trim() == "Test cases:")?;
    lines.next()?.split_whitespace().next()?.parse().ok()
}

fn binary() -> PathBuf {
    let tools = std::env::var_os("CRICKET_TOOLS_DIR").map_or_else(
        || {
            let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
            PathBuf::from(home).join(".cache/cricket-platform")
        },
        PathBuf::from,
    );
    let binary = tools.join("schemathesis/bin/schemathesis");
    assert!(
        binary.exists(),
        "{} is missing: run `cargo xtask setup --test`",
        binary.display()
    );
    binary
}
