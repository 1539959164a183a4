//! The dashboard's weight and first paint: the browser code's size after wasm-opt (and
//! gzipped, as the server sends it), and the median first contentful paint of the home page and
//! a match centre in headless Chromium, each load in a fresh context.
//!
//! Baseline, measured in the same run: the very same home page HTML served as a static file by
//! the same server, so `web_fcp_ratio` is what rendering on demand (fetching the live data from
//! stream-stats, rendering the page) costs over serving a finished file.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::process::Running;
use crate::stack::{Options, Stack, build_release, real_match_files, release};
use crate::{say, setup};

const RUNS: usize = 7;
const MATCHES: usize = 3;

pub(crate) async fn run() -> Result<Vec<(String, f64)>> {
    say("bench web: building the release binaries and the browser code");
    build_release(crate::process::ALL_BINARIES)?;
    let sizes = crate::web::build(true)?;
    setup::ensure(true)?;

    let stack = Stack::start(
        "bench/web",
        Options {
            stream_stats: true,
            warehouse: true,
            quiet: true,
            ..Options::default()
        },
    )
    .await?;
    let expected = crate::stack::expected()?;
    let ids: Vec<&String> = expected.keys().take(MATCHES).collect();
    let mut args = vec!["replay".to_owned(), "--speed".to_owned(), "max".to_owned()];
    args.extend(real_match_files(&ids));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    stack
        .simulator(&args)?
        .wait_success(Duration::from_secs(120))?;
    let want = ids
        .iter()
        .map(|id| ((*id).clone(), expected[*id].clone()))
        .collect();
    stack
        .expect_scorecards(&want, Duration::from_secs(60))
        .await?;

    let port = platform::local_broker::free_port()?;
    let site = crate::web::site_root();
    let mut command = Command::new(release("web"));
    command
        .env("WEB_LISTEN", format!("127.0.0.1:{port}"))
        .env("WEB_STREAM_STATS_URL", stack.stats_url(""))
        .env(
            "WEB_WAREHOUSE_URL",
            format!("http://127.0.0.1:{}", stack.warehouse_port),
        )
        .env("WEB_INGEST_URL", stack.ingest_url())
        .env("WEB_SITE_ROOT", &site)
        .env("RUST_LOG", "warn");
    let mut web = Running::spawn("web", command, None)?;
    web.wait_for_port(([127, 0, 0, 1], port).into(), Duration::from_secs(30))?;
    let base = format!("http://127.0.0.1:{port}");

    // The baseline: this moment's home page, frozen into a file the server sends as it is.
    // Without its scripts: a static page that never hydrates.
    let home = reqwest::get(format!("{base}/")).await?.text().await?;
    let frozen = site.join("pkg/bench-home.html");
    std::fs::write(&frozen, without_scripts(&home))?;
    let started = Instant::now();
    let medians = first_paint(json!({
        "home": format!("{base}/"),
        "match": format!("{base}/match/{}", ids[0]),
        "static_home": format!("{base}/pkg/bench-home.html"),
    }))?;
    say(format!(
        "bench web: {RUNS} loads per page in {:.1} s",
        started.elapsed().as_secs_f64()
    ));
    let _ = std::fs::remove_file(&frozen);
    web.stop(Duration::from_secs(10));
    drop(stack);

    let get = |name: &str| {
        medians[name]
            .as_f64()
            .with_context(|| format!("no first paint for {name}"))
    };
    let (home, page, frozen) = (get("home")?, get("match")?, get("static_home")?);
    if frozen <= 0.0 {
        bail!("the static page reported no first paint");
    }
    Ok(vec![
        ("web_wasm_kb".to_owned(), sizes.wasm as f64 / 1000.0),
        (
            "web_wasm_gzip_kb".to_owned(),
            sizes.wasm_gzip as f64 / 1000.0,
        ),
        ("web_fcp_home_ms".to_owned(), home),
        ("web_fcp_match_ms".to_owned(), page),
        ("web_fcp_static_ms".to_owned(), frozen),
        ("web_fcp_ratio".to_owned(), home / frozen),
    ])
}

/// Median first contentful paint per page, from `xtask/bench/first_paint.mjs`.
fn first_paint(pages: Value) -> Result<Value> {
    let script = crate::workspace_root().join("xtask/bench/first_paint.mjs");
    let config = json!({
        "chromium": setup::CHROMIUM,
        "node_modules": setup::node_tools_dir().join("node_modules"),
        "runs": RUNS,
        "pages": pages,
    });
    let output = Command::new("node")
        .arg(&script)
        .arg(config.to_string())
        .output()
        .context("cannot run node")?;
    if !output.status.success() {
        bail!(
            "first_paint.mjs failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    serde_json::from_slice(&output.stdout).context("first_paint.mjs output")
}

/// `html` with every `<script>...</script>` element removed.
fn without_scripts(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(start) = rest.find("<script") {
        out.push_str(&rest[..start]);
        match rest[start..].find("</script>") {
            Some(end) => rest = &rest[start + end + "</script>".len()..],
            None => {
                rest = "";
                break;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::without_scripts;

    #[test]
    fn scripts_are_cut_out_and_the_rest_kept() {
        let html = "<head><script type=module>x()</script><title>t</title></head><body>b<script>y</script></body>";
        assert_eq!(
            without_scripts(html),
            "<head><title>t</title></head><body>b</body>"
        );
        assert_eq!(without_scripts("plain"), "plain");
        assert_eq!(without_scripts("a<script>never closed"), "a");
    }
}
