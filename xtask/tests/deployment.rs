//! Keeps docker-compose.yml and the Dockerfile honest on machines without a Docker engine:
//! Compose itself validates the file; every environment variable it sets must be a real flag
//! of the binary it runs (read from that binary's `--help`); every service must listen on its
//! default port and health-check it; only the dashboard may be published, on 127.0.0.1 unless
//! the operator says otherwise; there is no default ingest token; the topics it creates must be
//! the platform's contract; the Dockerfile must pin the toolchain and the wasm-bindgen CLI this
//! workspace uses.
//!
//! Needs `docker-compose` (`cargo xtask setup --test` installs Debian's) and the binaries
//! (`cargo xtask test` builds them).

#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_path_buf()
}

fn binary(name: &str) -> PathBuf {
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from);
    let path = target.join("debug").join(name);
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo xtask test`",
        path.display()
    );
    path
}

/// A token for the resolved file: Compose refuses to resolve it without one.
const TOKEN: &str = "deployment-test-token";

/// `docker-compose config` with `INGEST_TOKEN` and `WEB_PUBLISH` taken only from `env` (not
/// from whoever runs the test): its YAML on success, its complaint on failure.
fn compose_config(env: &[(&str, &str)]) -> Result<Vec<u8>, String> {
    let mut command = Command::new("docker-compose");
    command
        .args(["-f", "docker-compose.yml", "config"])
        .current_dir(root())
        .env_remove("INGEST_TOKEN")
        .env_remove("WEB_PUBLISH");
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command
        .output()
        .expect("docker-compose runs (`cargo xtask setup --test` installs it)");
    if output.status.success() {
        Ok(output.stdout)
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

/// The Compose file as Compose itself resolves it with `env` (anchors merged, defaults
/// filled), as JSON.
fn resolved_compose_with(env: &[(&str, &str)]) -> Value {
    let yaml =
        compose_config(env).unwrap_or_else(|err| panic!("docker-compose rejects the file: {err}"));
    // Debian's docker-compose prints YAML; its own YAML library turns it into JSON.
    let mut to_json = Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    use std::io::Write;
    to_json
        .stdin
        .take()
        .expect("stdin")
        .write_all(&yaml)
        .expect("write");
    let json = to_json.wait_with_output().expect("python3 output");
    serde_json::from_slice(&json.stdout).expect("compose config as JSON")
}

fn resolved_compose() -> Value {
    resolved_compose_with(&[("INGEST_TOKEN", TOKEN)])
}

/// (host address, host port, container port) of one `ports` entry, in either of the forms
/// Compose versions print: "127.0.0.1:3000:3000" or {"host_ip", "published", "target"}.
fn published(port: &Value) -> (Option<String>, String, String) {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if let Some(short) = port.as_str() {
        // Compose 1.x prints "127.0.0.1:3000:3000/tcp".
        let short = short.strip_suffix("/tcp").unwrap_or(short);
        let parts: Vec<&str> = short.split(':').collect();
        return match parts.as_slice() {
            [host, published, target] => (
                Some((*host).to_owned()),
                (*published).to_owned(),
                (*target).to_owned(),
            ),
            [published, target] => (None, (*published).to_owned(), (*target).to_owned()),
            _ => panic!("unexpected port {short:?}"),
        };
    }
    (
        port["host_ip"].as_str().map(str::to_owned),
        text(&port["published"]),
        text(&port["target"]),
    )
}

fn help(binary_path: &Path, subcommand: &[String]) -> String {
    let output = Command::new(binary_path)
        .args(subcommand)
        .arg("--help")
        .env_clear()
        .output()
        .expect("--help runs");
    assert!(
        output.status.success(),
        "{} --help fails",
        binary_path.display()
    );
    String::from_utf8(output.stdout).expect("utf-8")
}

/// The `[default: ...]` of the flag whose environment variable is `var`.
fn default_of(help: &str, var: &str) -> Option<String> {
    let at = help.find(&format!("[env: {var}"))?;
    let rest = &help[at..];
    let start = rest.find("[default: ")? + "[default: ".len();
    let end = rest[start..].find(']')? + start;
    Some(rest[start..end].to_owned())
}

fn port_of(address: &str) -> u16 {
    address
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {address:?}"))
}

#[test]
fn compose_sets_only_real_flags_and_default_ports() {
    let compose = resolved_compose();
    let services = compose["services"].as_object().expect("services");
    let mut checked = 0;
    for (name, service) in services {
        if service["image"] != "cricket-live:latest" {
            continue;
        }
        let command: Vec<String> = service["command"]
            .as_array()
            .unwrap_or_else(|| panic!("{name} has no command"))
            .iter()
            .map(|c| c.as_str().expect("command word").to_owned())
            .collect();
        let help = help(&binary(&command[0]), &command[1..]);
        let environment = service["environment"].as_object().expect("environment");
        for (var, value) in environment {
            assert!(
                help.contains(&format!("[env: {var}=")) || help.contains(&format!("[env: {var}]")),
                "{name}: {var} is not a flag of `{}`",
                command.join(" ")
            );
            if var.ends_with("_LISTEN") {
                let value = value.as_str().expect("address");
                let default = default_of(&help, var).expect("listen default");
                let port = port_of(value);
                assert_eq!(
                    port,
                    port_of(&default),
                    "{name} listens off its default port"
                );
                let check = service["healthcheck"]["test"].to_string();
                assert!(
                    check.contains(&format!("127.0.0.1:{port}/readyz")),
                    "{name}'s healthcheck does not ask its /readyz: {check}"
                );
            }
        }
        // Every long-running service can be told apart from a job by its restart policy.
        if service["restart"] != "no" {
            assert!(
                service.get("healthcheck").is_some(),
                "{name} has no healthcheck"
            );
        }
        checked += 1;
    }
    assert!(checked >= 6, "only {checked} platform services found");

    // The one-shot topics service creates exactly the platform's contract.
    let script = services["topics"]["command"].to_string();
    for topic in platform::kafka::platform_topics() {
        let create = format!("--topic {} --partitions {}", topic.name, topic.partitions);
        assert!(
            script.contains(&create),
            "topics does not `{create}`: {script}"
        );
        for (key, value) in topic.configs {
            assert!(
                script.contains(&format!("--config {key}={value}")),
                "{}: {key}",
                topic.name
            );
        }
    }
    // Nothing waits on a service that has no healthcheck with `service_healthy`.
    for (name, service) in services {
        if let Some(deps) = service["depends_on"].as_object() {
            for (dep, condition) in deps {
                if condition["condition"] == "service_healthy" {
                    assert!(
                        services[dep].get("healthcheck").is_some(),
                        "{name} waits for {dep} to be healthy, but it has no healthcheck"
                    );
                }
            }
        }
    }
}

#[test]
fn only_the_dashboard_is_published_and_only_on_loopback_by_default() {
    let compose = resolved_compose();
    let services = compose["services"].as_object().expect("services");
    for (name, service) in services {
        let ports: Vec<(Option<String>, String, String)> = service["ports"]
            .as_array()
            .map(|ports| ports.iter().map(published).collect())
            .unwrap_or_default();
        match name.as_str() {
            "web" => assert_eq!(
                ports,
                [(
                    Some("127.0.0.1".to_owned()),
                    "3000".to_owned(),
                    "3000".to_owned()
                )],
                "the dashboard is published on 127.0.0.1:3000 only"
            ),
            // Tools on the host may reach Kafka, but only from this machine.
            "kafka" => {
                for (host, published, _) in &ports {
                    assert_eq!(
                        host.as_deref(),
                        Some("127.0.0.1"),
                        "kafka publishes {published} beyond loopback"
                    );
                }
            }
            // ingest, stream-stats, the warehouse (its SQL and every /metrics) and the jobs are
            // reachable only inside the compose network.
            _ => assert!(ports.is_empty(), "{name} is published: {ports:?}"),
        }
    }

    // The operator can choose the dashboard's address.
    let wide = resolved_compose_with(&[("INGEST_TOKEN", TOKEN), ("WEB_PUBLISH", "0.0.0.0:8080")]);
    let ports: Vec<_> = wide["services"]["web"]["ports"]
        .as_array()
        .expect("web ports")
        .iter()
        .map(published)
        .collect();
    assert_eq!(
        ports,
        [(
            Some("0.0.0.0".to_owned()),
            "8080".to_owned(),
            "3000".to_owned()
        )]
    );
}

#[test]
fn compose_refuses_to_start_without_an_ingest_token() {
    for env in [&[][..], &[("INGEST_TOKEN", "")][..]] {
        let refusal = compose_config(env).expect_err("Compose resolves without a token");
        assert!(
            refusal.contains("INGEST_TOKEN"),
            "the refusal does not name INGEST_TOKEN: {refusal}"
        );
    }
    // With one, every service that needs it (ingest and the jobs that send to it) gets exactly
    // the operator's token: no service has a default of its own.
    let compose = resolved_compose();
    let users: Vec<&String> = compose["services"]
        .as_object()
        .expect("services")
        .iter()
        .filter(|(_, service)| service["environment"].get("INGEST_TOKEN").is_some())
        .map(|(name, service)| {
            assert_eq!(service["environment"]["INGEST_TOKEN"], TOKEN, "{name}");
            name
        })
        .collect();
    for name in ["ingest", "simulator", "replay"] {
        assert!(
            users.iter().any(|user| *user == name),
            "{name} has no INGEST_TOKEN"
        );
    }
}

#[test]
fn the_image_builds_with_this_workspace_toolchain_as_a_non_root_user() {
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).expect("Dockerfile");
    let toolchain = std::fs::read_to_string(root().join("rust-toolchain.toml")).expect("toolchain");
    let channel = toolchain
        .lines()
        .find_map(|l| l.strip_prefix("channel = "))
        .expect("channel")
        .trim_matches('"');
    assert!(
        dockerfile.contains(&format!("ARG RUST_VERSION={channel}")),
        "the Dockerfile's Rust is not {channel}"
    );
    let lock = std::fs::read_to_string(root().join("Cargo.lock")).expect("lock");
    let bindgen = lock
        .split("[[package]]")
        .find(|p| p.contains("name = \"wasm-bindgen\"\n"))
        .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = ")))
        .expect("wasm-bindgen in Cargo.lock")
        .trim_matches('"');
    assert!(
        dockerfile.contains(&format!("wasm-bindgen-cli --version {bindgen}")),
        "the Dockerfile's wasm-bindgen CLI is not {bindgen}"
    );
    assert!(
        dockerfile.matches("\nFROM ").count() >= 3,
        "not multi-stage"
    );
    let user = dockerfile
        .lines()
        .filter_map(|l| l.strip_prefix("USER "))
        .next_back()
        .expect("a USER line");
    assert_ne!(user.trim(), "root");
    for binary in ["ingest", "stream-stats", "warehouse", "simulator", "web"] {
        assert!(
            dockerfile.contains(&format!("/src/target/release/{binary}")),
            "the image lacks {binary}"
        );
    }
}
