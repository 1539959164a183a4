//! `cargo xtask web`: builds the dashboard's browser code — the `web` crate for wasm32 with
//! its `hydrate` feature, bound by wasm-bindgen and shrunk by wasm-opt — into the site folder
//! the web server serves `/pkg` from, and reports its size.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use crate::process::{run_checked, target_dir};
use crate::{say, setup};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Skip wasm-opt (faster, about twice as large).
    #[arg(long)]
    no_opt: bool,
}

pub(crate) fn run(args: &Args) -> Result<()> {
    setup::ensure(false)?;
    build(!args.no_opt)?;
    Ok(())
}

/// The folder the web server's `--site-root` points at (holding `pkg/`).
pub(crate) fn site_root() -> PathBuf {
    target_dir().join("site")
}

/// Sizes of the built code, in bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sizes {
    pub(crate) wasm: u64,
    pub(crate) wasm_gzip: u64,
    pub(crate) js: u64,
}

/// Builds the browser code into `site_root()/pkg`.
pub(crate) fn build(optimize: bool) -> Result<Sizes> {
    say("building the dashboard's browser code (wasm32, release)");
    let mut cargo = Command::new(env!("CARGO"));
    cargo
        .args([
            "build",
            "--quiet",
            "--profile",
            "wasm-release",
            "--lib",
            "-p",
            "web",
            "--target",
            "wasm32-unknown-unknown",
            "--no-default-features",
            "--features",
            "hydrate",
        ])
        .current_dir(crate::workspace_root());
    run_checked(cargo)?;

    let wasm = target_dir().join("wasm32-unknown-unknown/wasm-release/web.wasm");
    let pkg = site_root().join("pkg");
    std::fs::create_dir_all(&pkg)?;
    let mut bindgen = Command::new(setup::wasm_bindgen_binary());
    bindgen
        .args([
            "--target",
            "web",
            "--no-typescript",
            "--remove-name-section",
        ])
        .args([
            "--remove-producers-section",
            "--out-name",
            "web",
            "--out-dir",
        ])
        .arg(&pkg)
        .arg(&wasm);
    run_checked(bindgen)?;

    let bound = pkg.join("web_bg.wasm");
    if optimize {
        let mut opt = Command::new(setup::wasm_opt_binary());
        opt.args(["-Oz", "--strip-debug", "--enable-bulk-memory"])
            .arg("--enable-nontrapping-float-to-int")
            .arg(&bound)
            .arg("-o")
            .arg(&bound);
        run_checked(opt)?;
    }
    let sizes = Sizes {
        wasm: size(&bound)?,
        wasm_gzip: gzip_size(&bound)?,
        js: size(&pkg.join("web.js"))?,
    };
    say(format!(
        "browser code in {}: web_bg.wasm {} KB ({} KB gzipped), web.js {} KB",
        pkg.display(),
        sizes.wasm / 1000,
        sizes.wasm_gzip / 1000,
        sizes.js / 1000
    ));
    Ok(sizes)
}

fn size(path: &Path) -> Result<u64> {
    Ok(std::fs::metadata(path)
        .with_context(|| format!("{} is missing", path.display()))?
        .len())
}

/// What the file weighs on the wire with gzip (the web server compresses responses).
fn gzip_size(path: &Path) -> Result<u64> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(&std::fs::read(path)?)?;
    Ok(encoder.finish()?.len() as u64)
}
