//! The `ejtimaa` binary.

use anyhow::Context;
use clap::Parser;
use ejtimaa::cli::Cli;
use ejtimaa::config::Config;
use ejtimaa::server::Server;
use tracing_subscriber::EnvFilter;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut config = match &cli.config {
        Some(path) => Config::from_file(path)?,
        None => Config::default(),
    };
    cli.overrides.apply(&mut config);
    config.validate()?;
    if cli.print_config {
        print!("{}", config.to_toml());
        return Ok(());
    }
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_new(&cli.log).context("invalid --log filter")?)
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("ejtimaa-io")
        .build()?;
    runtime.block_on(run(config))
}

async fn run(config: Config) -> anyhow::Result<()> {
    let server = Server::start(config).await?;
    // Machine-readable lines for scripts and the simulator.
    println!("ejtimaa: signaling http://{}", server.signaling_addr);
    if let Some(addr) = server.exporter_addr {
        println!("ejtimaa: exporter http://{addr}/metrics");
    }
    shutdown_signal().await;
    tracing::info!("shutting down");
    server.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
