//! The local Kafka-protocol broker (Nisshi) as a child process: started from an empty working
//! directory (it reads a `.env` file from there) with explicit flags, waited for until it
//! answers, given the platform's topics, and stopped when dropped. Used by `cargo xtask` and
//! by tests that need to stop and restart a broker.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::kafka;

#[derive(Debug, Clone)]
pub enum Storage {
    Memory,
    /// SQLite file: survives kill -9 and restarts.
    Sqlite(PathBuf),
}

#[derive(Debug)]
pub struct LocalBroker {
    child: Option<Child>,
    port: u16,
    storage: Storage,
    workdir: PathBuf,
}

impl LocalBroker {
    /// The Nisshi binary: `$NISSHI_BIN`, else `~/.cargo/bin/nisshi` (where `cargo xtask setup`
    /// installs it).
    pub fn binary() -> PathBuf {
        if let Some(path) = std::env::var_os("NISSHI_BIN") {
            return PathBuf::from(path);
        }
        let cargo_home = std::env::var_os("CARGO_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()))
                    .join(".cargo")
            });
        cargo_home.join("bin/nisshi")
    }

    /// Starts a broker on 127.0.0.1:`port`, keeping its working files and log in `workdir`,
    /// and creates the platform's topics.
    pub async fn start(port: u16, storage: Storage, workdir: &Path) -> Result<LocalBroker> {
        let mut broker = LocalBroker {
            child: None,
            port,
            storage,
            workdir: workdir.to_owned(),
        };
        broker.launch().await?;
        Ok(broker)
    }

    /// `host:port` for `bootstrap.servers`.
    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn log_path(&self) -> PathBuf {
        self.workdir.join("broker.log")
    }

    async fn launch(&mut self) -> Result<()> {
        let listener = format!("tcp://127.0.0.1:{}", self.port);
        // Nisshi resolves a sqlite path against its working directory, so it runs in the
        // database's folder and is given the file name. It also reads a `.env` file from its
        // working directory: there must be none.
        let (home, storage_url) = match &self.storage {
            Storage::Memory => (self.workdir.join("cwd"), "memory://nisshi/".to_owned()),
            Storage::Sqlite(path) => {
                let dir = path
                    .parent()
                    .map_or_else(|| self.workdir.clone(), Path::to_path_buf);
                let file = path
                    .file_name()
                    .and_then(|f| f.to_str())
                    .unwrap_or("broker.db");
                (dir, format!("sqlite://{file}"))
            }
        };
        std::fs::create_dir_all(&home)?;
        let _ = std::fs::remove_file(home.join(".env"));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .with_context(|| format!("cannot open {}", self.log_path().display()))?;
        let binary = LocalBroker::binary();
        let child = Command::new(&binary)
            .args([
                "broker",
                "--listener-url",
                &listener,
                "--advertised-listener-url",
                &listener,
            ])
            .args(["--storage-engine", &storage_url])
            .args(["--group-initial-rebalance-delay", "0s"])
            .current_dir(&home)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| {
                format!(
                    "cannot start {} (run `cargo xtask setup`)",
                    binary.display()
                )
            })?;
        self.child = Some(child);
        self.wait_for_port(Duration::from_secs(30))?;
        let brokers = self.brokers();
        kafka::wait_for_broker(&brokers, Duration::from_secs(30)).await?;
        kafka::create_topics(&brokers, &kafka::platform_topics()).await?;
        Ok(())
    }

    fn wait_for_port(&mut self, timeout: Duration) -> Result<()> {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                bail!(
                    "broker exited ({status}); see {}",
                    self.log_path().display()
                );
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "broker did not listen on {addr}; see {}",
                    self.log_path().display()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// kill -9: no chance to flush anything.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the broker again on the same port and storage (after [`LocalBroker::kill`]).
    pub async fn restart(&mut self) -> Result<()> {
        self.kill();
        self.launch().await
    }

    /// SIGTERM, then SIGKILL after `grace`.
    pub fn stop(&mut self, grace: Duration) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if matches!(child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for LocalBroker {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(5));
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}
