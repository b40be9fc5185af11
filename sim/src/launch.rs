//! Starting and stopping an `ejtimaa` server for a run (when no `--server`
//! is given): free ports, a private admin socket, URLs read from the
//! machine-readable lines the server prints on stdout.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use url::Url;

/// How long the server may take to print its URLs.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long it may take to stop after SIGINT before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// A server process this run started.
#[derive(Debug)]
pub struct Launched {
    child: Child,
    admin_socket: PathBuf,
    /// Its signaling URL.
    pub signaling: Url,
    /// Its exporter's metrics URL.
    pub exporter: Url,
}

/// The default server binary: `ejtimaa` next to this executable.
pub fn default_server_bin() -> anyhow::Result<PathBuf> {
    Ok(std::env::current_exe()?.with_file_name("ejtimaa"))
}

/// The server's log filter: `EJTIMAA_LOG` when set, else warnings only.
fn log_filter() -> String {
    std::env::var("EJTIMAA_LOG").unwrap_or_else(|_| "warn".to_owned())
}

/// Starts `bin` on free ports and waits for its URLs; with `auth_secret`,
/// the server requires join tokens signed with it.
pub fn launch(bin: &Path, auth_secret: Option<&str>) -> anyhow::Result<Launched> {
    // A directory of its own, which the server makes private.
    let admin_socket = std::env::temp_dir()
        .join(format!("ejtimaa-sim-{}", std::process::id()))
        .join("admin.sock");
    let mut command = Command::new(bin);
    // Through the environment, not the command line, which `ps` shows.
    match auth_secret {
        Some(secret) => command.env("EJTIMAA_AUTH_SECRET", secret),
        None => command.env_remove("EJTIMAA_AUTH_SECRET"),
    };
    let mut child = command
        .args([
            "--http-port",
            "0",
            "--prometheus-port",
            "0",
            // Every simulated peer connects from this one host.
            "--max-connections-per-ip",
            "1000000",
        ])
        // Quiet unless the caller asks for the server's logs.
        .args(["--log", &log_filter()])
        .arg("--admin-socket")
        .arg(&admin_socket)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("cannot start {}", bin.display()))?;
    let stdout = child.stdout.take().context("server stdout")?;
    // A thread reads stdout for the whole life of the server, so that it
    // never blocks on a full pipe; the URLs come back over a channel.
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("ejtimaa-stdout".into())
        .spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("ejtimaa: signaling ") {
                    let _ = tx.send(("signaling", url.to_string()));
                } else if let Some(url) = line.strip_prefix("ejtimaa: exporter ") {
                    let _ = tx.send(("exporter", url.to_string()));
                } else {
                    tracing::debug!(target: "ejtimaa", "{line}");
                }
            }
        })?;
    let mut launched = Launched {
        child,
        admin_socket,
        signaling: Url::parse("http://invalid.")?,
        exporter: Url::parse("http://invalid.")?,
    };
    let (mut signaling, mut exporter) = (None, None);
    let deadline = Instant::now() + START_TIMEOUT;
    while signaling.is_none() || exporter.is_none() {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(("signaling", url)) => signaling = Some(Url::parse(&url)?),
            Ok((_, url)) => exporter = Some(Url::parse(&url)?),
            Err(_) => {
                let status = launched.child.try_wait()?;
                launched.stop();
                bail!(
                    "{} did not print its URLs within {START_TIMEOUT:?} (exit status {status:?})",
                    bin.display()
                );
            }
        }
    }
    launched.signaling = signaling.expect("loop ends with both");
    launched.exporter = exporter.expect("loop ends with both");
    tracing::info!(signaling = %launched.signaling, exporter = %launched.exporter, "server started");
    Ok(launched)
}

impl Launched {
    /// The server's process id (to read its CPU time).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGINT (the server's orderly shutdown), then SIGKILL if it lingers.
    pub fn stop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let pid = self.child.id() as libc::pid_t;
            // SAFETY: kill(2) on the pid of our own child, which we have not
            // reaped yet, so it cannot have been reused.
            unsafe {
                libc::kill(pid, libc::SIGINT);
            }
            let deadline = Instant::now() + STOP_TIMEOUT;
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            if let Ok(None) = self.child.try_wait() {
                tracing::warn!("server ignored SIGINT; killing it");
                let _ = self.child.kill();
            }
        }
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.admin_socket);
        if let Some(dir) = self.admin_socket.parent() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

impl Drop for Launched {
    fn drop(&mut self) {
        self.stop();
    }
}
