//! Command line: the config file, overrides of the important options (also
//! from the environment), and `--print-config`.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::Parser;

use crate::config::{Config, MetricsSetting};

/// Ejtimaa: a video-conferencing server on mediasoup, observable and
/// load-testable without browsers.
#[derive(Debug, Parser)]
#[command(name = "ejtimaa", version, about)]
pub struct Cli {
    /// TOML configuration file; every option has a built-in default.
    #[arg(long, env = "EJTIMAA_CONFIG")]
    pub config: Option<PathBuf>,
    /// Print the effective configuration (file + overrides) as TOML and exit.
    #[arg(long)]
    pub print_config: bool,
    /// Log filter (tracing's EnvFilter syntax), e.g. `info` or `ejtimaa=debug`.
    #[arg(long, env = "EJTIMAA_LOG", default_value = "info")]
    pub log: String,
    #[command(flatten)]
    pub overrides: Overrides,
    /// What to do (default: run the server).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Open the admin socket of a running server (line editing, history, tab completion).
    Connect {
        /// The socket (default: `admin.socket` of the configuration).
        #[arg(long)]
        socket: Option<PathBuf>,
        /// Print one summary line (`rooms:N peers:N ...`) and exit.
        #[arg(long)]
        stats: bool,
    },
}

/// Options that override the configuration file.
#[derive(Debug, Default, clap::Args)]
pub struct Overrides {
    /// Signaling listen address (`http.listen`).
    #[arg(long, env = "EJTIMAA_HTTP_LISTEN")]
    pub http_listen: Option<IpAddr>,
    /// Signaling port (`http.port`; 0 picks a free one).
    #[arg(long, env = "EJTIMAA_HTTP_PORT")]
    pub http_port: Option<u16>,
    /// Exporter listen address (`prometheus.listen`).
    #[arg(long, env = "EJTIMAA_PROMETHEUS_LISTEN")]
    pub prometheus_listen: Option<IpAddr>,
    /// Exporter port (`prometheus.port`; 0 picks a free one).
    #[arg(long, env = "EJTIMAA_PROMETHEUS_PORT")]
    pub prometheus_port: Option<u16>,
    /// Which stream series the exporter writes (`prometheus.metrics`).
    #[arg(long, value_enum, env = "EJTIMAA_METRICS")]
    pub metrics: Option<MetricsSetting>,
    /// Number of mediasoup workers (`mediasoup.num_workers`).
    #[arg(long, env = "EJTIMAA_WORKERS")]
    pub workers: Option<usize>,
    /// IP the WebRTC transports listen on (`mediasoup.rtc_listen_ip`).
    #[arg(long, env = "EJTIMAA_RTC_LISTEN_IP")]
    pub rtc_listen_ip: Option<IpAddr>,
    /// Address announced to clients (`mediasoup.announced_address`).
    #[arg(long, env = "EJTIMAA_ANNOUNCED_ADDRESS")]
    pub announced_address: Option<String>,
    /// Admin socket path (`admin.socket`).
    #[arg(long, env = "EJTIMAA_ADMIN_SOCKET")]
    pub admin_socket: Option<PathBuf>,
    /// Signaling connections from one client address
    /// (`limits.max_connections_per_ip`).
    #[arg(long, env = "EJTIMAA_MAX_CONNECTIONS_PER_IP")]
    pub max_connections_per_ip: Option<usize>,
}

impl Overrides {
    /// Applies the given overrides to `config`.
    pub fn apply(&self, config: &mut Config) {
        let Overrides {
            http_listen,
            http_port,
            prometheus_listen,
            prometheus_port,
            metrics,
            workers,
            rtc_listen_ip,
            announced_address,
            admin_socket,
            max_connections_per_ip,
        } = self;
        set(&mut config.http.listen, http_listen);
        set(&mut config.http.port, http_port);
        set(&mut config.prometheus.listen, prometheus_listen);
        set(&mut config.prometheus.port, prometheus_port);
        set(&mut config.prometheus.metrics, metrics);
        if workers.is_some() {
            config.mediasoup.num_workers = *workers;
        }
        set(&mut config.mediasoup.rtc_listen_ip, rtc_listen_ip);
        if announced_address.is_some() {
            config
                .mediasoup
                .announced_address
                .clone_from(announced_address);
        }
        set(&mut config.admin.socket, admin_socket);
        set(
            &mut config.limits.max_connections_per_ip,
            max_connections_per_ip,
        );
    }
}

fn set<T: Clone>(target: &mut T, value: &Option<T>) {
    if let Some(v) = value {
        *target = v.clone();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_replace_only_what_they_name() {
        let cli = Cli::try_parse_from([
            "ejtimaa",
            "--prometheus-port",
            "0",
            "--workers",
            "2",
            "--max-connections-per-ip",
            "500",
        ])
        .unwrap();
        let mut config = Config::default();
        cli.overrides.apply(&mut config);
        assert_eq!(config.prometheus.port, 0);
        assert_eq!(config.mediasoup.num_workers, Some(2));
        assert_eq!(config.limits.max_connections_per_ip, 500);
        assert_eq!(config.limits.max_connections, 10_000);
        assert_eq!(config.http, Config::default().http);
        assert_eq!(config.prometheus.metrics, MetricsSetting::Default);
    }

    #[test]
    fn metrics_mode_is_chosen_by_name() {
        let cli = Cli::try_parse_from(["ejtimaa", "--metrics", "both"]).unwrap();
        let mut config = Config::default();
        cli.overrides.apply(&mut config);
        assert_eq!(config.prometheus.metrics, MetricsSetting::Both);
        let err = Cli::try_parse_from(["ejtimaa", "--metrics", "all"]).unwrap_err();
        assert!(err.to_string().contains("aggregated"), "{err}");
    }
}
