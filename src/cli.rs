//! Command line: the config file, overrides of the important options (also
//! from the environment), and `--print-config`.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::Parser;

use crate::config::{ClusterConfig, Config, MetricsSetting};

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
    /// Print a join token for one peer id in one room, signed with the
    /// configured `[auth]` secret; clients present it to connect.
    Token {
        /// The room it admits to.
        #[arg(long)]
        room: String,
        /// The peer id it grants.
        #[arg(long)]
        peer: String,
        /// How long it stays valid, e.g. `90s`, `15m`, `1h`, `7d`.
        #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
        ttl: std::time::Duration,
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
    /// The join-token secret (`auth.secret`). Prefer the environment
    /// variable or `--auth-secret-file`: a command line is visible to
    /// every local user.
    #[arg(long, env = "EJTIMAA_AUTH_SECRET", hide_env_values = true)]
    pub auth_secret: Option<String>,
    /// A file holding the join-token secret (`auth.secret_file`).
    #[arg(long, env = "EJTIMAA_AUTH_SECRET_FILE")]
    pub auth_secret_file: Option<PathBuf>,
    /// Run signaling without join tokens even on a non-loopback address (`auth.allow_open`).
    #[arg(long, env = "EJTIMAA_ALLOW_OPEN")]
    pub allow_open: bool,
    /// Signaling connections from one client address
    /// (`limits.max_connections_per_ip`).
    #[arg(long, env = "EJTIMAA_MAX_CONNECTIONS_PER_IP")]
    pub max_connections_per_ip: Option<usize>,
    /// The cluster's room directory (`cluster.redis_url`); makes this server
    /// a node of a cluster (with `--cluster-node-id`).
    #[arg(long, env = "EJTIMAA_CLUSTER_REDIS_URL", hide_env_values = true)]
    pub cluster_redis_url: Option<String>,
    /// This node's name in the cluster (`cluster.node_id`).
    #[arg(long, env = "EJTIMAA_CLUSTER_NODE_ID")]
    pub cluster_node_id: Option<String>,
    /// The URL clients reach this node's signaling at (`cluster.public_url`).
    #[arg(long, env = "EJTIMAA_CLUSTER_PUBLIC_URL")]
    pub cluster_public_url: Option<String>,
    /// `host:port` of this node's exporter for Prometheus (`cluster.exporter_address`).
    #[arg(long, env = "EJTIMAA_CLUSTER_EXPORTER_ADDRESS")]
    pub cluster_exporter_address: Option<String>,
    /// Where this node runs, a label in service discovery (`cluster.region`).
    #[arg(long, env = "EJTIMAA_CLUSTER_REGION")]
    pub cluster_region: Option<String>,
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
            auth_secret,
            auth_secret_file,
            allow_open,
            max_connections_per_ip,
            cluster_redis_url,
            cluster_node_id,
            cluster_public_url,
            cluster_exporter_address,
            cluster_region,
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
        // A secret given here replaces the file's, in whichever form.
        if auth_secret.is_some() {
            config.auth.secret.clone_from(auth_secret);
            config.auth.secret_file = None;
        }
        if auth_secret_file.is_some() {
            config.auth.secret_file.clone_from(auth_secret_file);
            config.auth.secret = None;
        }
        if *allow_open {
            config.auth.allow_open = true;
        }
        set(
            &mut config.limits.max_connections_per_ip,
            max_connections_per_ip,
        );
        let any_cluster = cluster_redis_url.is_some()
            || cluster_node_id.is_some()
            || cluster_public_url.is_some()
            || cluster_exporter_address.is_some()
            || cluster_region.is_some();
        if any_cluster {
            // A section made here lacks what was not given; validation names it.
            let cluster = config
                .cluster
                .get_or_insert_with(|| ClusterConfig::new("", ""));
            set(&mut cluster.redis_url, cluster_redis_url);
            set(&mut cluster.node_id, cluster_node_id);
            set(&mut cluster.region, cluster_region);
            if cluster_public_url.is_some() {
                cluster.public_url.clone_from(cluster_public_url);
            }
            if cluster_exporter_address.is_some() {
                cluster
                    .exporter_address
                    .clone_from(cluster_exporter_address);
            }
        }
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
    fn a_secret_from_the_command_line_replaces_the_files_secret_file() {
        let mut config = Config::default();
        config.auth.secret_file = Some("/etc/ejtimaa/secret".into());
        let cli =
            Cli::try_parse_from(["ejtimaa", "--auth-secret", "s".repeat(32).as_str()]).unwrap();
        cli.overrides.apply(&mut config);
        assert_eq!(config.auth.secret.as_deref(), Some("s".repeat(32).as_str()));
        assert_eq!(config.auth.secret_file, None);
        assert!(!config.auth.allow_open);
    }

    #[test]
    fn token_takes_a_human_ttl() {
        let cli = Cli::try_parse_from([
            "ejtimaa", "token", "--room", "r", "--peer", "p", "--ttl", "90m",
        ])
        .unwrap();
        let Some(Command::Token { ttl, .. }) = cli.command else {
            panic!("not a token command: {cli:?}");
        };
        assert_eq!(ttl, std::time::Duration::from_secs(90 * 60));
        assert!(
            Cli::try_parse_from([
                "ejtimaa", "token", "--room", "r", "--peer", "p", "--ttl", "soon"
            ])
            .is_err()
        );
    }

    #[test]
    fn cluster_flags_make_a_cluster_section() {
        let mut config = Config::default();
        Cli::try_parse_from(["ejtimaa"])
            .unwrap()
            .overrides
            .apply(&mut config);
        assert_eq!(config.cluster, None, "no flag, no cluster");
        let cli = Cli::try_parse_from([
            "ejtimaa",
            "--cluster-redis-url",
            "redis://127.0.0.1:6379",
            "--cluster-node-id",
            "b",
            "--cluster-region",
            "eu-west",
        ])
        .unwrap();
        cli.overrides.apply(&mut config);
        config.validate().unwrap();
        let cluster = config.cluster.unwrap();
        assert_eq!(cluster.node_id, "b");
        assert_eq!(cluster.region, "eu-west");
        assert_eq!(cluster.ttl_ms, 10_000);
        // A node id alone is not enough: validation says what is missing.
        let mut config = Config::default();
        Cli::try_parse_from(["ejtimaa", "--cluster-node-id", "b"])
            .unwrap()
            .overrides
            .apply(&mut config);
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("cluster.redis_url"), "{err}");
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
