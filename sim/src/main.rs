//! The `ejtimaa-sim` binary: runs a scenario (a file, flags, or both)
//! against a server (its own unless `--server` is given, over TLS if its
//! URLs say so), checks the exporter live, prints a table and exits
//! non-zero on any violation or failed join.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use url::Url;

use ejtimaa_sim::exporter::Exporter;
use ejtimaa_sim::overrides::Overrides;
use ejtimaa_sim::runner::{self, RunOptions};
use ejtimaa_sim::scenario::Scenario;
use ejtimaa_sim::tls::{Tls, Trust};
use ejtimaa_sim::tokens::Tokens;
use ejtimaa_sim::{capacity, launch, plot};
use ejtimaa_token::JoinSecret;

/// str0m allocates for every packet received and sent; mimalloc makes
/// that a smaller share of the sim's CPU than glibc's malloc does.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Browserless synthetic WebRTC load for an Ejtimaa server, with live
/// checks of its Prometheus exporter.
#[derive(Debug, Parser)]
#[command(name = "ejtimaa-sim", version, about)]
struct Cli {
    /// A built-in scenario (`smoke`, `capacity`, `churn`, ...: the files of
    /// `sim/scenarios/`, built in) or a TOML path. Without one, the
    /// built-in default run; either way the scenario flags below change
    /// single fields.
    scenario: Option<String>,
    #[command(flatten)]
    overrides: Overrides,
    /// Signaling URL of a running server: `http`, `https`, `ws` or `wss`
    /// (default: start one on loopback).
    #[arg(long)]
    server: Option<Url>,
    /// Metrics URL of that server's exporter, `http` or `https`, e.g.
    /// `https://staging:8889/metrics` (`/metrics` when no path is given).
    /// Default: the server's host on port 8889, `https` if signaling is TLS.
    #[arg(long, requires = "server")]
    exporter: Option<Url>,
    /// Bearer secret for the scrapes (the server's `[prometheus] secret`).
    /// Prefer the environment variable to the flag.
    #[arg(long, env = "EJTIMAA_EXPORTER_SECRET", hide_env_values = true)]
    exporter_secret: Option<String>,
    /// Accept any TLS certificate (self-signed servers).
    #[arg(long, conflicts_with = "ca_cert")]
    insecure: bool,
    /// Trust only the CA certificates of this PEM file for `https`/`wss`
    /// (default: the system's roots).
    #[arg(long)]
    ca_cert: Option<PathBuf>,
    /// Write the report as JSON to this file.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Write an SVG plot: peers, packets/s and scrape latency over time;
    /// for a capacity run also delivered % and CPU (sim, server) against peers.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// The server binary to start (default: `ejtimaa` next to this one).
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// How long the server keeps an emptied room open, ms (its `rooms.empty_grace_ms`).
    #[arg(long, default_value_t = 5000)]
    room_grace_ms: u64,
    /// Runtime threads for the peers. One is the cheapest: every peer's
    /// transports wake often, and waking across threads costs more CPU than
    /// a second thread saves; more helps only when one core is not enough.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    threads: u16,
    /// When the peers' runtime runs out of work, it rests this long before
    /// waiting for more, ms (0: never rests). What arrives meanwhile is
    /// handled in one go: a fraction of the wake-ups and system calls, for
    /// at most this much delay on a packet sent (half an audio frame; what
    /// arrives keeps the kernel's arrival time). No rest while a signaling
    /// request waits for its answer, nor during a capacity run's join burst.
    #[arg(long, default_value_t = ejtimaa_sim::idle::DEFAULT_REST_MS, value_parser = clap::value_parser!(u64).range(0..=20))]
    tick_ms: u64,
    /// The server's join-token secret (its `[auth]` secret): each peer
    /// presents a token minted with it. A server the sim starts is given
    /// it too. Prefer the environment variable to the flag.
    #[arg(long, env = "EJTIMAA_AUTH_SECRET", hide_env_values = true)]
    auth_secret: Option<String>,
    /// Log filter (tracing's EnvFilter syntax) for the sim's own logs.
    #[arg(long, env = "EJTIMAA_SIM_LOG", default_value = "warn")]
    log: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&cli.log)
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match real_main(cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("ejtimaa-sim: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn real_main(cli: Cli) -> anyhow::Result<bool> {
    let base = match &cli.scenario {
        Some(name) => Scenario::named(name)?,
        None => Scenario::builtin(),
    };
    let scenario = cli.overrides.apply(base)?;
    let trust = match (&cli.ca_cert, cli.insecure) {
        (Some(file), _) => Trust::CaFile(file.clone()),
        (None, true) => Trust::Insecure,
        (None, false) => Trust::System,
    };
    let tls = Tls::new(&trust)?;
    let secret = cli
        .auth_secret
        .as_ref()
        .map(|s| JoinSecret::new(s.clone().into_bytes()))
        .transpose()?;
    // Our own server (stopped when `server` drops) unless one is given.
    let (server, signaling, exporter) = match (cli.server, cli.exporter) {
        (Some(s), e) => {
            let mut e = match e {
                Some(e) => e,
                None => default_exporter(&s)?,
            };
            if e.path().is_empty() || e.path() == "/" {
                e.set_path("/metrics");
            }
            (None, s, e)
        }
        (None, _) => {
            let bin = match cli.server_bin {
                Some(b) => b,
                None => launch::default_server_bin()?,
            };
            let launched = launch::launch(&bin, cli.auth_secret.as_deref())?;
            let (s, e) = (launched.signaling.clone(), launched.exporter.clone());
            (Some(launched), s, e)
        }
    };
    let exporter = Exporter::new(exporter, &tls, cli.exporter_secret.clone())?;
    let mut opts = RunOptions::with_exporter(signaling, exporter);
    opts.tls = Some(tls);
    opts.progress = true;
    opts.tokens = Tokens::new(secret);
    opts.room_grace = std::time::Duration::from_millis(cli.room_grace_ms);
    eprintln!(
        "ejtimaa-sim: scenario {} ({} rooms x {} peers, {} s) against {}",
        scenario.name, scenario.rooms, scenario.peers_per_room, scenario.duration_secs, opts.server
    );
    let runtime = ejtimaa_sim::idle::runtime(
        usize::from(cli.threads),
        std::time::Duration::from_millis(cli.tick_ms),
    )?;
    let title = format!("ejtimaa-sim {}", scenario.name);
    let (passed, json, svg) = if scenario.capacity.is_some() {
        let pid = server.as_ref().map(launch::Launched::pid);
        let report = runtime.block_on(capacity::run(&scenario, &opts, pid))?;
        print!("{}", report.table());
        let svg = plot::capacity_svg(&report.timeline, &report.steps, &title);
        (report.passed(), serde_json::to_string_pretty(&report)?, svg)
    } else {
        let report = runtime.block_on(runner::run(&scenario, &opts))?;
        print!("{}", report.table());
        let svg = plot::svg(&report.timeline, &title);
        (report.passed(), serde_json::to_string_pretty(&report)?, svg)
    };
    drop(server);
    if let Some(path) = &cli.report {
        std::fs::write(path, json).with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(path) = &cli.plot {
        std::fs::write(path, svg).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(passed)
}

/// The exporter of a server given only by its signaling URL: its host on
/// the exporter's default port, over TLS when signaling is.
fn default_exporter(signaling: &Url) -> anyhow::Result<Url> {
    let scheme = match signaling.scheme() {
        "https" | "wss" => "https",
        _ => "http",
    };
    let host = signaling
        .host_str()
        .with_context(|| format!("no host in {signaling}"))?;
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    Ok(Url::parse(&format!("{scheme}://{host}:8889/metrics"))?)
}
