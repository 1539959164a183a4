//! Child processes the runner starts: each is stopped (SIGTERM, then SIGKILL) when its handle
//! is dropped, so an error or Ctrl-C never leaves a broker or service behind.

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

#[derive(Debug)]
pub(crate) struct Running {
    name: String,
    child: Child,
}

impl Running {
    /// Starts `command`, with its output appended to `log` when given.
    pub(crate) fn spawn(name: &str, mut command: Command, log: Option<&Path>) -> Result<Running> {
        if let Some(log) = log {
            if let Some(dir) = log.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)?;
            command.stdout(file.try_clone()?).stderr(file);
        }
        command.stdin(Stdio::null());
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {name}: {command:?}"))?;
        Ok(Running {
            name: name.to_owned(),
            child,
        })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails if the process has already exited.
    pub(crate) fn check_alive(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("{} exited unexpectedly ({status})", self.name);
        }
        Ok(())
    }

    /// Waits until `addr` accepts TCP connections, failing early if the process dies.
    pub(crate) fn wait_for_port(&mut self, addr: SocketAddr, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            self.check_alive()?;
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("{} did not listen on {addr} within {timeout:?}", self.name);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// kill -9: no chance to clean up (crash tests).
    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for the process to exit by itself; fails on a non-zero exit or after `timeout`.
    pub(crate) fn wait_success(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                if status.success() {
                    return Ok(());
                }
                bail!("{} failed ({status})", self.name);
            }
            if Instant::now() > deadline {
                bail!("{} still running after {timeout:?}", self.name);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Has the process exited?
    pub(crate) fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// SIGTERM, a grace period, then SIGKILL.
    pub(crate) fn stop(&mut self, grace: Duration) {
        let _ = self.terminate(grace);
    }

    /// SIGTERM and wait up to `grace`; true when the process exited cleanly by itself
    /// (false when it failed or had to be killed).
    pub(crate) fn terminate(&mut self, grace: Duration) -> bool {
        if let Ok(Some(status)) = self.child.try_wait() {
            return status.success();
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        false
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(5));
    }
}

/// Is something already listening on `port`?
pub(crate) fn port_in_use(port: u16) -> bool {
    TcpStream::connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    )
    .is_ok()
}

/// Runs a command to completion with inherited output; fails on a non-zero exit.
pub(crate) fn run_checked(mut command: Command) -> Result<()> {
    let status = command
        .status()
        .with_context(|| format!("cannot run {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed ({status})");
    }
    Ok(())
}

/// Which cargo profile a binary is built with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Profile {
    Debug,
    Release,
}

/// Builds the binaries of `packages`.
pub(crate) fn cargo_build(packages: &[&str], profile: Profile) -> Result<()> {
    let mut build = Command::new(env!("CARGO"));
    build
        .args(["build", "--quiet"])
        .current_dir(crate::workspace_root());
    if profile == Profile::Release {
        build.arg("--release");
    }
    for package in packages {
        build.args(["-p", package]);
    }
    run_checked(build)
}

/// Every binary of the platform, for builds that want them all.
pub(crate) const ALL_BINARIES: &[&str] =
    &["ingest", "stream-stats", "warehouse", "simulator", "web"];

/// The cargo target folder (`CARGO_TARGET_DIR`, else `target/` in the workspace).
pub(crate) fn target_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || crate::workspace_root().join("target"),
        std::path::PathBuf::from,
    )
}

/// Where [`cargo_build`] put the binary `name`.
pub(crate) fn binary(name: &str, profile: Profile) -> std::path::PathBuf {
    let folder = match profile {
        Profile::Debug => "debug",
        Profile::Release => "release",
    };
    target_dir().join(folder).join(name)
}
