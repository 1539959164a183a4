//! `cargo xtask setup [--test]`: installs what the platform needs on a fresh Debian machine,
//! and says what it does. Every step first checks whether its tool is already present, so a
//! second run installs nothing and takes a second.
//!
//! Tools land outside the checkout (`~/.cargo/bin`, `~/.cache/cricket-platform`) so every
//! clone and CI run on the machine reuses them.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result};

use crate::process::run_checked;
use crate::say;

/// The broker: crates.io `nisshi`, which needs a newer compiler than the workspace's.
const NISSHI_VERSION: &str = "0.8.1";
const NISSHI_TOOLCHAIN: &str = "1.96.0";
/// Must equal the `wasm-bindgen` version in Cargo.lock exactly.
const WASM_BINDGEN_VERSION: &str = "0.2.130";
const PLAYWRIGHT_CORE_VERSION: &str = "1.65.1";
/// npm `binaryen` (wasm-opt); Debian's binaryen is too old for current rustc output.
const BINARYEN_VERSION: &str = "132.0.0";
/// DuckDB's own prebuilt shared library, shipped in its Node.js bindings package: DuckDB
/// v1.5.6, the version the `duckdb` crate (=1.10506.1) is built for. Compiling DuckDB's C++
/// instead (the crate's `bundled` feature) takes half an hour on 2 cores.
const DUCKDB_NPM_PACKAGE: &str = "@duckdb/node-bindings-linux-x64@1.5.6-r.1";
/// The official Python package of the same DuckDB version, which the warehouse's tests use
/// to prove the database file opens outside the warehouse.
const DUCKDB_PYTHON_VERSION: &str = "1.5.6";
/// The API fuzzer ingest's contract test runs against `/openapi.json` (PyPI `schemathesis`).
const SCHEMATHESIS_VERSION: &str = "4.32.5";

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Also install what the tests need (Chromium and playwright-core for browser tests,
    /// schemathesis for the API contract tests).
    #[arg(long)]
    test: bool,
}

pub(crate) fn run(args: &Args) -> Result<()> {
    ensure(args.test)?;
    say("setup complete");
    Ok(())
}

/// Installs whatever is missing; `for_tests` adds the browser-test tools.
pub(crate) fn ensure(for_tests: bool) -> Result<()> {
    ensure_wasm_target()?;
    ensure_nisshi()?;
    ensure_wasm_bindgen()?;
    ensure_wasm_opt()?;
    ensure_duckdb()?;
    if for_tests {
        ensure_chromium()?;
        ensure_docker_compose()?;
        ensure_playwright()?;
        ensure_python_duckdb()?;
        ensure_schemathesis()?;
    }
    Ok(())
}

/// Folder for tools that are not cargo binaries (npm packages).
pub(crate) fn tools_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CRICKET_TOOLS_DIR") {
        return PathBuf::from(dir);
    }
    home().join(".cache/cricket-platform")
}

fn home() -> PathBuf {
    std::env::var_os("HOME").map_or_else(|| PathBuf::from("/root"), PathBuf::from)
}

fn cargo_bin(name: &str) -> PathBuf {
    let cargo_home =
        std::env::var_os("CARGO_HOME").map_or_else(|| home().join(".cargo"), PathBuf::from);
    cargo_home.join("bin").join(name)
}

/// First line of `program --version`, if it runs.
fn version_of(program: &str) -> Option<String> {
    let output = Command::new(program).arg("--version").output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn ensure_wasm_target() -> Result<()> {
    let output = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .current_dir(crate::workspace_root())
        .output()
        .context("rustup is needed (https://rustup.rs)")?;
    if String::from_utf8_lossy(&output.stdout).contains("wasm32-unknown-unknown") {
        return Ok(());
    }
    say("installing the wasm32-unknown-unknown target (for the dashboard)");
    let mut command = Command::new("rustup");
    command
        .args(["target", "add", "wasm32-unknown-unknown"])
        .current_dir(crate::workspace_root());
    run_checked(command)
}

fn ensure_nisshi() -> Result<()> {
    let binary = platform::local_broker::LocalBroker::binary();
    if binary.exists() {
        return Ok(());
    }
    say(format!(
        "installing the Nisshi {NISSHI_VERSION} Kafka-protocol broker with Rust {NISSHI_TOOLCHAIN} \
         (about 20 minutes on 2 cores, once per machine)"
    ));
    let mut toolchain = Command::new("rustup");
    toolchain.args([
        "toolchain",
        "install",
        NISSHI_TOOLCHAIN,
        "--profile",
        "minimal",
    ]);
    run_checked(toolchain)?;
    let mut install = Command::new("cargo");
    install
        .arg(format!("+{NISSHI_TOOLCHAIN}"))
        .args(["install", "nisshi", "--version", NISSHI_VERSION, "--locked"])
        .env_remove("CARGO_TARGET_DIR")
        // Outside the workspace, so its rust-toolchain.toml does not apply.
        .current_dir(std::env::temp_dir());
    run_checked(install)
}

fn ensure_wasm_bindgen() -> Result<()> {
    let wanted = format!("wasm-bindgen {WASM_BINDGEN_VERSION}");
    if version_of(&cargo_bin("wasm-bindgen").display().to_string()).as_deref()
        == Some(wanted.as_str())
    {
        return Ok(());
    }
    say(format!(
        "installing wasm-bindgen-cli {WASM_BINDGEN_VERSION} (about 2 minutes, once per machine)"
    ));
    let mut install = Command::new("cargo");
    // Not --locked: its lockfile names a crate version the registry no longer serves.
    install
        .args([
            "install",
            "wasm-bindgen-cli",
            "--version",
            WASM_BINDGEN_VERSION,
            "--force",
        ])
        .env_remove("CARGO_TARGET_DIR")
        .current_dir(std::env::temp_dir());
    run_checked(install)
}

/// The wasm-bindgen CLI `ensure` installs.
pub(crate) fn wasm_bindgen_binary() -> PathBuf {
    cargo_bin("wasm-bindgen")
}

/// wasm-opt from npm `binaryen`.
pub(crate) fn wasm_opt_binary() -> PathBuf {
    tools_dir().join("binaryen/node_modules/.bin/wasm-opt")
}

fn ensure_wasm_opt() -> Result<()> {
    if wasm_opt_binary().exists() {
        return Ok(());
    }
    say(format!(
        "installing wasm-opt (npm binaryen@{BINARYEN_VERSION})"
    ));
    let prefix = tools_dir().join("binaryen");
    std::fs::create_dir_all(&prefix)?;
    let mut install = Command::new("npm");
    install
        .args(["install", "--no-audit", "--no-fund", "--prefix"])
        .arg(&prefix)
        .arg(format!("binaryen@{BINARYEN_VERSION}"));
    run_checked(install)
}

/// Path of the Chromium binary used by browser tests.
pub(crate) const CHROMIUM: &str = "/usr/bin/chromium";

fn ensure_chromium() -> Result<()> {
    if PathBuf::from(CHROMIUM).exists() {
        return Ok(());
    }
    say("installing Chromium for browser tests (Debian packages chromium, chromium-driver)");
    let mut update = Command::new("apt-get");
    update.arg("update");
    run_checked(update)?;
    let mut install = Command::new("apt-get");
    install
        .args([
            "install",
            "-y",
            "--no-install-recommends",
            "chromium",
            "chromium-driver",
        ])
        .env("DEBIAN_FRONTEND", "noninteractive");
    run_checked(install)
}

/// Debian's docker-compose: no engine needed for `docker-compose config`, which the
/// deployment tests use to validate docker-compose.yml.
fn ensure_docker_compose() -> Result<()> {
    if version_of("docker-compose").is_some() {
        return Ok(());
    }
    say("installing docker-compose (Debian package; validates docker-compose.yml in tests)");
    let mut update = Command::new("apt-get");
    update.arg("update");
    run_checked(update)?;
    let mut install = Command::new("apt-get");
    install
        .args(["install", "-y", "--no-install-recommends", "docker-compose"])
        .env("DEBIAN_FRONTEND", "noninteractive");
    run_checked(install)
}

/// Folder holding `node_modules/playwright-core`.
pub(crate) fn node_tools_dir() -> PathBuf {
    tools_dir().join("node")
}

fn ensure_playwright() -> Result<()> {
    let dir = node_tools_dir();
    if dir
        .join("node_modules/playwright-core/package.json")
        .exists()
    {
        return Ok(());
    }
    say(format!(
        "installing playwright-core {PLAYWRIGHT_CORE_VERSION} (drives Chromium; no browser download)"
    ));
    std::fs::create_dir_all(&dir)?;
    let mut install = Command::new("npm");
    install
        .args(["install", "--no-audit", "--no-fund", "--prefix"])
        .arg(&dir)
        .arg(format!("playwright-core@{PLAYWRIGHT_CORE_VERSION}"));
    run_checked(install)
}

/// Folder of the npm package holding `libduckdb.so`.
fn duckdb_package_dir() -> PathBuf {
    tools_dir().join("duckdb/node_modules/@duckdb/node-bindings-linux-x64")
}

/// Installs DuckDB's prebuilt library and links it at `.tools/duckdb` in the checkout, where
/// `.cargo/config.toml` points `DUCKDB_LIB_DIR` (the warehouse links against it, and its
/// build script records the resolved folder as an rpath).
fn ensure_duckdb() -> Result<()> {
    let package = duckdb_package_dir();
    if !package.join("libduckdb.so").exists() {
        say(format!(
            "installing DuckDB's prebuilt libduckdb.so (npm {DUCKDB_NPM_PACKAGE}, about 70 MB)"
        ));
        let prefix = tools_dir().join("duckdb");
        std::fs::create_dir_all(&prefix)?;
        let mut install = Command::new("npm");
        install
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(&prefix)
            .arg(DUCKDB_NPM_PACKAGE);
        run_checked(install)?;
    }
    let link = crate::workspace_root().join(".tools/duckdb");
    if std::fs::read_link(&link).ok().as_deref() == Some(package.as_path()) {
        return Ok(());
    }
    if let Some(dir) = link.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&package, &link)
        .with_context(|| format!("cannot link {} to {}", link.display(), package.display()))
}

/// The Python interpreter of the venv holding the official `duckdb` package.
fn python_duckdb() -> PathBuf {
    tools_dir().join("python/bin/python")
}

fn ensure_python_duckdb() -> Result<()> {
    let python = python_duckdb();
    let installed = Command::new(&python)
        .args(["-c", "import duckdb; print(duckdb.__version__)"])
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == DUCKDB_PYTHON_VERSION);
    if installed {
        return Ok(());
    }
    say(format!(
        "installing the official Python duckdb {DUCKDB_PYTHON_VERSION} in a venv (for the \
         warehouse's compatibility test)"
    ));
    if !python.exists() {
        let mut venv = Command::new("python3");
        venv.args(["-m", "venv"]).arg(tools_dir().join("python"));
        run_checked(venv)?;
    }
    let mut install = Command::new(&python);
    install.args([
        "-m",
        "pip",
        "install",
        "--quiet",
        &format!("duckdb=={DUCKDB_PYTHON_VERSION}"),
    ]);
    run_checked(install)
}

/// The `schemathesis` command in its own venv (its dependencies stay apart from duckdb's);
/// ingest's contract test finds it here through `CRICKET_TOOLS_DIR`.
fn schemathesis_binary() -> PathBuf {
    tools_dir().join("schemathesis/bin/schemathesis")
}

fn ensure_schemathesis() -> Result<()> {
    let binary = schemathesis_binary();
    let wanted = format!("version {SCHEMATHESIS_VERSION}");
    if version_of(&binary.display().to_string()).is_some_and(|v| v.ends_with(&wanted)) {
        return Ok(());
    }
    say(format!(
        "installing schemathesis {SCHEMATHESIS_VERSION} in a venv (fuzzes the APIs against \
         their OpenAPI documents in tests)"
    ));
    let venv = tools_dir().join("schemathesis");
    let python = venv.join("bin/python");
    if !python.exists() {
        let mut create = Command::new("python3");
        create.args(["-m", "venv"]).arg(&venv);
        run_checked(create)?;
    }
    let mut install = Command::new(&python);
    install.args([
        "-m",
        "pip",
        "install",
        "--quiet",
        &format!("schemathesis=={SCHEMATHESIS_VERSION}"),
    ]);
    run_checked(install)
}
