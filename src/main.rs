//! The `ejtimaa` binary.

use anyhow::Context;
use clap::Parser;
use std::sync::Arc;

use ejtimaa::admin::LogControl;
use ejtimaa::cli::{Cli, Command};
use ejtimaa::config::Config;
use ejtimaa::server::Server;
use tracing_subscriber::prelude::*;
use tracing_subscriber::{EnvFilter, reload};

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut config = match &cli.config {
        Some(path) => Config::from_file(path)?,
        None => Config::default(),
    };
    cli.overrides.apply(&mut config);
    config.validate()?;
    if let Some(Command::Connect { socket, stats }) = &cli.command {
        let socket = socket
            .clone()
            .unwrap_or_else(|| config.admin.socket.clone());
        return ejtimaa::connect::run(&socket, *stats);
    }
    if let Some(Command::Token { room, peer, ttl }) = &cli.command {
        return print_token(&config, room, peer, *ttl);
    }
    if cli.print_config {
        print!("{}", config.to_toml());
        return Ok(());
    }
    // The filter sits behind a reload handle so the admin socket can change it.
    let filter = EnvFilter::try_new(&cli.log).context("invalid --log filter")?;
    let (filter, handle) = reload::Layer::new(filter);
    tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                // Colours only on a terminal, not in log files.
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
        )
        .init();
    let log: LogControl = Arc::new(move |spec: &str| {
        let filter =
            EnvFilter::try_new(spec).map_err(|e| format!("invalid filter `{spec}`: {e}"))?;
        handle.reload(filter).map_err(|e| e.to_string())
    });
    // The main thread (which starts the engine thread and the workers) and
    // every runtime thread ask for the configured slice; the mediasoup
    // workers go back to the default as they start.
    let slice = config.threads.slice();
    ejtimaa::slice::ask(slice);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("ejtimaa-io")
        .on_thread_start(move || ejtimaa::slice::ask(slice))
        .build()?;
    runtime.block_on(run(config, log))
}

/// `ejtimaa token`: mints with the configured secret and prints the token alone.
fn print_token(
    config: &Config,
    room: &str,
    peer: &str,
    ttl: std::time::Duration,
) -> anyhow::Result<()> {
    let secret = config.auth.join_secret()?.context(
        "no join-token secret: set auth.secret_file in the config, or EJTIMAA_AUTH_SECRET",
    )?;
    let grant = ejtimaa_token::JoinGrant {
        room: room.to_owned(),
        peer: peer.to_owned(),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("the clock is before 1970")?
        .as_secs();
    println!("{}", secret.mint(&grant, now, ttl));
    Ok(())
}

async fn run(config: Config, log: LogControl) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let server = Server::start_with(config, Some(log)).await?;
    // Handled before the URLs are printed: a script may signal as soon as it reads them.
    let mut term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
    let mut hangup = signal(SignalKind::hangup()).context("SIGHUP handler")?;
    // Machine-readable lines for scripts and the simulator.
    println!(
        "ejtimaa: signaling {}://{}",
        server.signaling_scheme, server.signaling_addr
    );
    if let Some(addr) = server.exporter_addr {
        println!(
            "ejtimaa: exporter {}://{addr}/metrics",
            server.exporter_scheme
        );
    }
    // Until SIGINT or SIGTERM; each SIGHUP meanwhile reloads the TLS
    // certificates (a failure is logged, and the old ones stay).
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
            _ = hangup.recv() => {
                tracing::info!("SIGHUP: reloading TLS certificates");
                let _ = server.reload_certificates();
            }
        }
    }
    tracing::info!("shutting down");
    server.shutdown().await;
    Ok(())
}
