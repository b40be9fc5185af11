//! A real cluster for the integration tests: Debian's `redis-server` on a
//! free loopback port (no persistence), and Ejtimaa nodes as processes of
//! the built binary, each with its own config file. Everything is killed,
//! and its files removed, when its guard drops, also when a test fails.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::prom::{TempDir, free_loopback_port, repo_root};

/// How long a node or Redis may take to be ready.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The bearer secret the test nodes' exporters require.
pub const SCRAPE_SECRET: &str = "cluster-scrape-secret";

/// Makes sure `redis-server` is installed, running `tools/redis/install.sh`
/// (as `tools/dev setup` does) once per test binary when it is not.
pub fn ensure_redis() -> anyhow::Result<()> {
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            if Command::new("redis-server")
                .arg("--version")
                .output()
                .is_ok()
            {
                return Ok(());
            }
            let script = repo_root().join("tools/redis/install.sh");
            let out = Command::new(&script)
                .output()
                .map_err(|e| format!("running {}: {e}", script.display()))?;
            if !out.status.success() {
                return Err(format!(
                    "{} failed: {}",
                    script.display(),
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            Ok(())
        })
        .clone()
        .map_err(anyhow::Error::msg)
}

/// A running `redis-server`; killed on drop.
pub struct Redis {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    _dir: TempDir,
}

impl Redis {
    /// Starts Redis on a free loopback port.
    pub async fn start() -> anyhow::Result<Redis> {
        Self::start_on(free_loopback_port()?).await
    }

    /// Starts Redis on `addr` (loopback) and waits until it answers.
    pub async fn start_on(addr: SocketAddr) -> anyhow::Result<Redis> {
        ensure_redis()?;
        let dir = TempDir::new("redis")?;
        let child = Command::new("redis-server")
            .args(["--port", &addr.port().to_string()])
            .args(["--bind", &addr.ip().to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .args(["--dir", &dir.path().display().to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting redis-server")?;
        let mut redis = Redis {
            child,
            addr,
            _dir: dir,
        };
        let start = Instant::now();
        while redis.cli(&["PING"]).ok().as_deref() != Some("PONG") {
            if let Some(status) = redis.child.try_wait()? {
                bail!("redis-server exited ({status})");
            }
            ensure!(start.elapsed() < READY_TIMEOUT, "redis-server not ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(redis)
    }

    /// Runs one `redis-cli` command; its output, trimmed.
    pub fn cli(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = Command::new("redis-cli")
            .args(["-h", &self.addr.ip().to_string()])
            .args(["-p", &self.addr.port().to_string()])
            .args(args)
            .output()
            .context("running redis-cli")?;
        ensure!(out.status.success(), "redis-cli {args:?}: {out:?}");
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// The node a room is claimed by (empty when none).
    pub fn room_owner(&self, room: &str) -> String {
        self.cli(&["GET", &format!("ejtimaa:room:{room}")])
            .expect("redis answers")
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An Ejtimaa node: the server binary with a `[cluster]` section.
pub struct Node {
    child: Option<Child>,
    /// Its node id.
    pub id: String,
    /// Its signaling listener.
    pub signaling: SocketAddr,
    /// Its exporter.
    pub exporter: SocketAddr,
    dir: TempDir,
}

impl Node {
    /// Starts node `id` against `redis` (heartbeat 200 ms, claims living
    /// `ttl_ms` without one) and waits until it is registered.
    pub async fn start(id: &str, redis: SocketAddr, ttl_ms: u64) -> anyhow::Result<Node> {
        let dir = TempDir::new(&format!("node-{id}"))?;
        let (signaling, exporter) = (free_loopback_port()?, free_loopback_port()?);
        let config = format!(
            "[http]\nport = {}\n\
             [prometheus]\nport = {}\nnumeric = true\nsecret = \"{SCRAPE_SECRET}\"\n\
             [mediasoup]\nnum_workers = 1\n\
             [rooms]\nempty_grace_ms = 100\n\
             [admin]\nenabled = false\n\
             [cluster]\nredis_url = \"redis://{redis}\"\nnode_id = \"{id}\"\nregion = \"test\"\n\
             heartbeat_ms = 200\nttl_ms = {ttl_ms}\n",
            signaling.port(),
            exporter.port()
        );
        let path = dir.path().join("ejtimaa.toml");
        std::fs::write(&path, config)?;
        let log = std::fs::File::create(dir.path().join("ejtimaa.log"))?;
        let child = Command::new(env!("CARGO_BIN_EXE_ejtimaa"))
            .arg("--config")
            .arg(&path)
            .env("EJTIMAA_LOG", "info,ejtimaa::cluster=debug")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting ejtimaa")?;
        let mut node = Node {
            child: Some(child),
            id: id.to_string(),
            signaling,
            exporter,
            dir,
        };
        let start = Instant::now();
        loop {
            if let Some(status) = node
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                bail!("node {id} exited ({status}):\n{}", node.log());
            }
            if let Ok(metrics) = node.metrics().await
                && metrics
                    .lines()
                    .any(|l| l == "Ejtimaa_cluster_directory_up 1")
            {
                return Ok(node);
            }
            if start.elapsed() > READY_TIMEOUT {
                bail!(
                    "node {id} not registered within {READY_TIMEOUT:?}:\n{}",
                    node.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Its signaling URL, as it announces it.
    pub fn url(&self) -> String {
        format!("http://{}", self.signaling)
    }

    /// Kills the process at once (SIGKILL): no orderly leave.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("ejtimaa.log")).unwrap_or_default()
    }

    /// Its exposition.
    pub async fn metrics(&self) -> anyhow::Result<String> {
        let (status, body) = get(self.exporter, "/metrics", Some(SCRAPE_SECRET)).await?;
        ensure!(status == 200, "HTTP {status}: {body}");
        Ok(body)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// GETs `path` over HTTP/1.0, with a bearer token if given: (status, body).
pub async fn get(
    addr: SocketAddr,
    path: &str,
    bearer: Option<&str>,
) -> anyhow::Result<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let auth = bearer.map_or(String::new(), |b| format!("Authorization: Bearer {b}\r\n"));
    let req = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n{auth}\r\n");
    stream.write_all(req.as_bytes()).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    let raw = String::from_utf8(raw).context("a UTF-8 answer")?;
    let (head, body) = raw.split_once("\r\n\r\n").context("no end of headers")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("no status")?;
    Ok((status, body.to_string()))
}
