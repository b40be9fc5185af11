//! A real Prometheus (Debian's package) for the integration tests: installs
//! it when missing, runs it on loopback with a temporary database and a
//! generated scrape config, queries its HTTP API, and runs `promtool`.
//! The process is killed and its directory removed when the guard drops,
//! also when a test fails.

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The job name of the generated scrape config.
pub const JOB: &str = "ejtimaa";

/// How long Prometheus may take to answer `/-/ready`.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// Makes sure `prometheus` and `promtool` are installed, running
/// `tools/prometheus/install.sh` (the same as `tools/dev setup`) once per
/// test binary when they are not. An error, never a skip: the real-Prometheus
/// tests must not pass on a machine that cannot run them.
pub fn ensure_installed() -> anyhow::Result<()> {
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    INSTALLED
        .get_or_init(|| install().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(anyhow::Error::msg)
}

fn install() -> anyhow::Result<()> {
    if on_path("prometheus") && on_path("promtool") {
        return Ok(());
    }
    let script = repo_root().join("tools/prometheus/install.sh");
    let out = Command::new(&script)
        .output()
        .with_context(|| format!("running {}", script.display()))?;
    ensure!(
        out.status.success(),
        "{} failed ({}):\n{}{}",
        script.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    ensure!(
        on_path("prometheus") && on_path("promtool"),
        "prometheus/promtool still not on PATH after {}",
        script.display()
    );
    Ok(())
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
}

/// The workspace root (where `deploy/` and `tools/` are).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates `ejtimaa-<what>-<pid>-<n>` (unique within this process too).
    pub fn new(what: &str) -> anyhow::Result<TempDir> {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("ejtimaa-{what}-{}-{n}", std::process::id()));
        // A leftover of a crashed run with a recycled pid.
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(TempDir(path))
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The scrape config for `targets` under job [`JOB`], scraped every second
/// (so that a test sees several scrapes within seconds).
pub fn scrape_config(targets: &[SocketAddr]) -> String {
    let targets: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
    format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
         scrape_configs:\n  - job_name: {JOB}\n    static_configs:\n      - targets: [{}]\n",
        targets.join(", ")
    )
}

/// A running Prometheus; killed, and its files removed, on drop.
pub struct Prometheus {
    child: Child,
    /// Its HTTP API (loopback, a free port).
    pub addr: SocketAddr,
    dir: TempDir,
}

impl Prometheus {
    /// Starts Prometheus scraping `targets` and waits until it is ready.
    pub async fn start(targets: &[SocketAddr]) -> anyhow::Result<Prometheus> {
        Self::start_with(&scrape_config(targets)).await
    }

    /// Starts Prometheus with the configuration `yaml` and waits until it is ready.
    pub async fn start_with(yaml: &str) -> anyhow::Result<Prometheus> {
        ensure_installed()?;
        let dir = TempDir::new("prometheus")?;
        let config = dir.path().join("prometheus.yml");
        std::fs::write(&config, yaml)?;
        let log = std::fs::File::create(dir.path().join("prometheus.log"))?;
        let addr = free_loopback_port()?;
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting prometheus")?;
        let mut prometheus = Prometheus { child, addr, dir };
        prometheus.wait_ready().await?;
        Ok(prometheus)
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("prometheus exited ({status}):\n{}", self.log());
            }
            if let Ok((200, _)) = get(self.addr, "/-/ready").await {
                return Ok(());
            }
            if start.elapsed() > READY_TIMEOUT {
                bail!(
                    "prometheus not ready within {READY_TIMEOUT:?}:\n{}",
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Prometheus' own log so far (for error messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// Runs an instant query; `Err` unless Prometheus answers `success`.
    pub async fn query(&self, promql: &str) -> anyhow::Result<Vec<Sample>> {
        let path = format!("/api/v1/query?query={}", encode(promql));
        let (status, body) = get(self.addr, &path).await?;
        let json: Value = serde_json::from_str(&body)
            .with_context(|| format!("query `{promql}`: HTTP {status}, not JSON: {body}"))?;
        ensure!(
            json["status"] == "success",
            "query `{promql}`: HTTP {status}: {body}"
        );
        parse_vector(&json["data"]).with_context(|| format!("query `{promql}`: {body}"))
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One sample of an instant vector: its labels and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Labels, `__name__` included when Prometheus returns it.
    pub labels: serde_json::Map<String, Value>,
    /// The value.
    pub value: f64,
}

/// The samples of a `data` object of type vector (or scalar, as one sample).
pub fn parse_vector(data: &Value) -> anyhow::Result<Vec<Sample>> {
    let value_of = |v: &Value| -> anyhow::Result<f64> {
        let text = v[1].as_str().context("a value is [time, \"text\"]")?;
        // Prometheus writes NaN and infinities as Go does.
        Ok(match text {
            "NaN" => f64::NAN,
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            t => t.parse().with_context(|| format!("value {t:?}"))?,
        })
    };
    match data["resultType"].as_str() {
        Some("vector") => data["result"]
            .as_array()
            .context("result is an array")?
            .iter()
            .map(|r| {
                Ok(Sample {
                    labels: r["metric"].as_object().cloned().unwrap_or_default(),
                    value: value_of(&r["value"])?,
                })
            })
            .collect(),
        Some("scalar") => Ok(vec![Sample {
            labels: serde_json::Map::new(),
            value: value_of(&data["result"])?,
        }]),
        other => bail!("unexpected result type {other:?}"),
    }
}

/// Percent-encodes a query parameter.
pub fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// A loopback address with a port that was free a moment ago.
pub fn free_loopback_port() -> anyhow::Result<SocketAddr> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// GETs `path` over HTTP/1.0 (so Go answers without chunking): (status, body).
pub async fn get(addr: SocketAddr, path: &str) -> anyhow::Result<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let req = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
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

/// One `promtool check metrics` complaint: the metric and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Complaint {
    /// The metric family named by promtool.
    pub metric: String,
    /// promtool's text, e.g. `counter metrics should have "_total" suffix`.
    pub problem: String,
}

impl std::fmt::Display for Complaint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.metric, self.problem)
    }
}

/// Pipes an exposition to `promtool check metrics`; its lint complaints
/// (exit 3), none (exit 0), or `Err` when promtool cannot parse the text.
pub fn promtool_check_metrics(exposition: &str) -> anyhow::Result<Vec<Complaint>> {
    ensure_installed()?;
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting promtool")?;
    child
        .stdin
        .take()
        .context("promtool's stdin")?
        .write_all(exposition.as_bytes())?;
    let out = child.wait_with_output()?;
    // promtool 2.42 writes to stderr, newer ones to stdout: read both.
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    match out.status.code() {
        Some(0) => Ok(Vec::new()),
        Some(3) => parse_complaints(&text),
        _ => bail!("promtool check metrics failed ({}):\n{text}", out.status),
    }
}

/// Parses promtool's lint lines, `<metric> <problem>`.
pub fn parse_complaints(text: &str) -> anyhow::Result<Vec<Complaint>> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|line| {
            let (metric, problem) = line
                .split_once(' ')
                .with_context(|| format!("unexpected promtool line {line:?}"))?;
            // promtool reports a text it cannot parse as `error while linting: ...`.
            ensure!(
                !line.starts_with("error while")
                    && metric
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
                "unexpected promtool line {line:?}"
            );
            Ok(Complaint {
                metric: metric.to_string(),
                problem: problem.to_string(),
            })
        })
        .collect()
}

/// Runs `promtool check config` on `path`; `Err` with its output unless it passes.
pub fn promtool_check_config(path: &Path) -> anyhow::Result<String> {
    ensure_installed()?;
    let out = Command::new("promtool")
        .args(["check", "config"])
        .arg(path)
        .output()
        .context("starting promtool")?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    ensure!(
        out.status.success(),
        "promtool check config {} failed ({}):\n{text}",
        path.display(),
        out.status
    );
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn complaints_are_parsed_and_junk_is_an_error() {
        let text = "mediasoup_consumer_byte_count_bytes counter metrics should have \"_total\" suffix\n\
                    foo_bits use base unit \"bytes\" instead of \"bits\"\n";
        let complaints = parse_complaints(text).unwrap();
        assert_eq!(complaints.len(), 2);
        assert_eq!(complaints[0].metric, "mediasoup_consumer_byte_count_bytes");
        assert_eq!(
            complaints[0].problem,
            "counter metrics should have \"_total\" suffix"
        );
        assert!(parse_complaints("error while linting: text format parsing error").is_err());
        assert!(parse_complaints("{weird} line").is_err());
    }

    #[test]
    fn vectors_and_scalars_are_parsed() {
        let data = json!({"resultType": "vector", "result": [
            {"metric": {"job": "ejtimaa"}, "value": [1.5, "1"]},
            {"metric": {}, "value": [1.5, "NaN"]}
        ]});
        let samples = parse_vector(&data).unwrap();
        assert_eq!(samples[0].labels["job"], "ejtimaa");
        assert_eq!(samples[0].value, 1.0);
        assert!(samples[1].value.is_nan());
        let scalar = json!({"resultType": "scalar", "result": [1.5, "6"]});
        assert_eq!(parse_vector(&scalar).unwrap()[0].value, 6.0);
        assert!(parse_vector(&json!({"resultType": "matrix", "result": []})).is_err());
    }

    #[test]
    fn queries_are_encoded() {
        assert_eq!(
            encode("sum(x{a=~\".*\"})[1m]"),
            "sum%28x%7Ba%3D%7E%22.*%22%7D%29%5B1m%5D"
        );
    }

    #[test]
    fn the_scrape_config_names_every_target() {
        let a: SocketAddr = "127.0.0.1:8889".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:8890".parse().unwrap();
        let config = scrape_config(&[a, b]);
        assert!(config.contains("targets: ['127.0.0.1:8889', '127.0.0.1:8890']"));
        assert!(config.contains("job_name: ejtimaa"));
    }
}
