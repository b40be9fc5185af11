//! Configuration: a TOML file whose every option has a default embedded in the
//! binary, overridden by the command line and the environment (see `cli`).

mod cluster;
mod secret;
mod sections;
mod threads;

use std::ops::RangeInclusive;
use std::path::Path;

use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use cluster::ClusterConfig;
pub use sections::{
    AdminConfig, AuthConfig, CodecName, HttpConfig, LimitsConfig, MediasoupConfig, MetricsSetting,
    PrometheusConfig, Rate, RatesConfig, RoomsConfig, TlsConfig, WorkerLogLevel,
};
pub use threads::ThreadsConfig;

/// The whole configuration. Every section and option may be left out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Signaling (socket.io) listener.
    pub http: HttpConfig,
    /// Join tokens.
    pub auth: AuthConfig,
    /// mediasoup workers and media.
    pub mediasoup: MediasoupConfig,
    /// The Prometheus exporter.
    pub prometheus: PrometheusConfig,
    /// The interactive admin socket.
    pub admin: AdminConfig,
    /// Rooms' lifecycle.
    pub rooms: RoomsConfig,
    /// Limits on what clients may do.
    pub limits: LimitsConfig,
    /// How the server's own threads ask to be scheduled.
    pub threads: ThreadsConfig,
    /// Several servers sharing one room directory; absent, the server stands alone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterConfig>,
}

/// A configuration file that cannot be used.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this configuration.
    #[error("invalid config file {path}: {source}")]
    Parse {
        /// The file.
        path: String,
        /// Why, with line and column.
        source: Box<toml::de::Error>,
    },
    /// The values are inconsistent.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Reads a TOML file; options it leaves out keep their defaults.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml(&text).map_err(|e| match e {
            ConfigError::Parse { source, .. } => ConfigError::Parse {
                path: path.display().to_string(),
                source,
            },
            other => other,
        })
    }

    /// Parses TOML text; options it leaves out keep their defaults.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|source| ConfigError::Parse {
            path: "<text>".into(),
            source: Box::new(source),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// The effective configuration as TOML (`ejtimaa --print-config`).
    /// A secret is left out (a comment says one is set), so the output can
    /// be shown or pasted without leaking it.
    pub fn to_toml(&self) -> String {
        let mut shown = self.clone();
        let hidden = [
            ("[prometheus]\n", shown.prometheus.secret.take().is_some()),
            ("[auth]\n", shown.auth.secret.take().is_some()),
        ];
        if let Some(cluster) = &mut shown.cluster {
            cluster.redis_url = cluster.redis_url_shown();
        }
        let mut text = toml::to_string_pretty(&shown).expect("the configuration always serializes");
        for (section, was_set) in hidden {
            if was_set {
                text = text.replacen(
                    section,
                    &format!("{section}# secret is set; not printed\n"),
                    1,
                );
            }
        }
        text
    }

    /// Checks values that serde cannot: consistency, and bounds that keep
    /// every duration within what a clock can add and every size sane.
    ///
    /// `prometheus.label_value_max` must leave room for a whole id (mediasoup's
    /// are 36 characters), so that cutting never merges two streams' series.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let m = &self.mediasoup;
        if m.rtc_min_port > m.rtc_max_port {
            return Err(ConfigError::Invalid(format!(
                "mediasoup.rtc_min_port {} is above rtc_max_port {}",
                m.rtc_min_port, m.rtc_max_port
            )));
        }
        if m.num_workers == Some(0) {
            return Err(ConfigError::Invalid(
                "mediasoup.num_workers must be at least 1".into(),
            ));
        }
        if (1..threads::SLICE_MIN_US).contains(&self.threads.slice_us) {
            return Err(ConfigError::Invalid(format!(
                "threads.slice_us {} is below the kernel's shortest slice: use 0 (the default slice) or {} to {}",
                self.threads.slice_us,
                threads::SLICE_MIN_US,
                threads::SLICE_US.end()
            )));
        }
        if m.codecs.is_empty() {
            return Err(ConfigError::Invalid(
                "mediasoup.codecs must name at least one codec".into(),
            ));
        }
        let p = &self.prometheus;
        if p.secret.as_deref().is_some_and(|s| s.trim().is_empty()) {
            return Err(ConfigError::Invalid(
                "prometheus.secret is empty: leave it out to scrape without one".into(),
            ));
        }
        if !(1..=9).contains(&p.gzip_level) {
            return Err(ConfigError::Invalid(
                "prometheus.gzip_level must be 1 to 9".into(),
            ));
        }
        let a = &self.auth;
        if a.secret.is_some() && a.secret_file.is_some() {
            return Err(ConfigError::Invalid(
                "auth.secret and auth.secret_file are both set; keep one".into(),
            ));
        }
        if let Some(secret) = &a.secret
            && secret.len() < ejtimaa_token::MIN_SECRET_BYTES
        {
            return Err(ConfigError::Invalid(format!(
                "auth.secret has {} bytes; it needs at least {} (e.g. `openssl rand -base64 32`)",
                secret.len(),
                ejtimaa_token::MIN_SECRET_BYTES
            )));
        }
        if a.secret.is_none()
            && a.secret_file.is_none()
            && !a.allow_open
            && !self.http.listen.is_loopback()
        {
            return Err(ConfigError::Invalid(format!(
                "signaling would listen on {} with no [auth] secret, open to anyone who \
                 reaches it: set auth.secret_file (or EJTIMAA_AUTH_SECRET) so that clients \
                 need a join token, or set auth.allow_open = true (--allow-open) to run open",
                self.http.listen
            )));
        }
        if p.reuse_http_tls && p.tls.is_some() {
            return Err(ConfigError::Invalid(
                "prometheus.reuse_http_tls and [prometheus.tls] both name a certificate: keep one"
                    .into(),
            ));
        }
        if p.reuse_http_tls && self.http.tls.is_none() {
            return Err(ConfigError::Invalid(
                "prometheus.reuse_http_tls needs [http.tls]".into(),
            ));
        }
        const HOUR_MS: u64 = 3_600_000;
        let l = &self.limits;
        let h = &self.http;
        let bounds: [(&str, u64, RangeInclusive<u64>); 30] = [
            ("http.header_timeout_ms", h.header_timeout_ms, 100..=600_000),
            // More than socket.io's 25 s ping interval, which a long-polling GET may wait.
            (
                "http.request_timeout_ms",
                h.request_timeout_ms,
                30_000..=HOUR_MS,
            ),
            (
                "prometheus.header_timeout_ms",
                p.header_timeout_ms,
                100..=600_000,
            ),
            (
                "prometheus.request_timeout_ms",
                p.request_timeout_ms,
                100..=HOUR_MS,
            ),
            (
                "prometheus.max_scrape_connections",
                p.max_scrape_connections as u64,
                1..=100_000,
            ),
            (
                "prometheus.max_scrape_connections_per_ip",
                p.max_scrape_connections_per_ip as u64,
                1..=100_000,
            ),
            (
                "limits.max_connections",
                l.max_connections as u64,
                1..=1_000_000,
            ),
            (
                "limits.max_connections_per_ip",
                l.max_connections_per_ip as u64,
                1..=1_000_000,
            ),
            (
                "prometheus.stats_interval_ms",
                p.stats_interval_ms,
                0..=HOUR_MS,
            ),
            (
                "prometheus.stats_deadline_ms",
                p.stats_deadline_ms,
                1..=60_000,
            ),
            ("prometheus.dns_ttl_secs", p.dns_ttl_secs, 0..=7 * 24 * 3600),
            ("prometheus.dns_timeout_ms", p.dns_timeout_ms, 1..=60_000),
            (
                "prometheus.label_value_max",
                p.label_value_max as u64,
                MIN_LABEL_VALUE_MAX as u64..=4096,
            ),
            (
                "prometheus.max_concurrent_scrapes",
                p.max_concurrent_scrapes as u64,
                1..=4096,
            ),
            ("prometheus.prepare_ahead_ms", p.prepare_ahead_ms, 0..=1000),
            (
                "rooms.empty_grace_ms",
                self.rooms.empty_grace_ms,
                0..=24 * HOUR_MS,
            ),
            ("threads.slice_us", self.threads.slice_us, threads::SLICE_US),
            (
                "rooms.consumers_per_router",
                self.rooms.consumers_per_router as u64,
                0..=1_000_000,
            ),
            (
                "limits.max_peers_per_room",
                l.max_peers_per_room as u64,
                1..=100_000,
            ),
            ("limits.max_rooms", l.max_rooms as u64, 1..=1_000_000),
            (
                "limits.max_message_bytes",
                l.max_message_bytes as u64,
                1024..=16 * 1024 * 1024,
            ),
            (
                "limits.max_transports_per_peer",
                l.max_transports_per_peer as u64,
                1..=64,
            ),
            (
                "limits.max_producers_per_peer",
                l.max_producers_per_peer as u64,
                1..=256,
            ),
            (
                "limits.max_transports_before_join",
                l.max_transports_before_join as u64,
                0..=64,
            ),
            (
                "limits.request_timeout_ms",
                l.request_timeout_ms,
                1000..=120_000,
            ),
            (
                "limits.max_requests_in_flight",
                l.max_requests_in_flight as u64,
                1..=4096,
            ),
            (
                "limits.max_queued_messages",
                l.max_queued_messages as u64,
                16..=65_536,
            ),
            (
                "limits.max_string_bytes",
                l.max_string_bytes as u64,
                MIN_STRING_BYTES as u64..=1024 * 1024,
            ),
            (
                "limits.max_app_data_bytes",
                l.max_app_data_bytes as u64,
                2..=1024 * 1024,
            ),
            (
                "limits.max_device_bytes",
                l.max_device_bytes as u64,
                2..=1024 * 1024,
            ),
        ];
        for (name, value, range) in bounds {
            if !range.contains(&value) {
                return Err(ConfigError::Invalid(format!(
                    "{name} is {value}; it must be {} to {}",
                    range.start(),
                    range.end()
                )));
            }
        }
        if let Some(cluster) = &self.cluster {
            cluster.validate()?;
        }
        let r = &l.rates;
        for (name, rate) in [
            ("setup", r.setup),
            ("control", r.control),
            ("stats", r.stats),
            ("ice_restart", r.ice_restart),
            ("key_frame", r.key_frame),
            ("display_name", r.display_name),
        ] {
            // `contains` is false for NaN too.
            if !RATE_PER_SEC.contains(&rate.per_sec) {
                return Err(ConfigError::Invalid(format!(
                    "limits.rates.{name}.per_sec is {}; it must be {} to {}",
                    rate.per_sec,
                    RATE_PER_SEC.start(),
                    RATE_PER_SEC.end()
                )));
            }
            if !(1..=1_000_000).contains(&rate.burst) {
                return Err(ConfigError::Invalid(format!(
                    "limits.rates.{name}.burst is {}; it must be 1 to 1000000",
                    rate.burst
                )));
            }
        }
        Ok(())
    }
}

/// The bounds of a `[limits.rates]` family's `per_sec`: from one request in
/// about 17 minutes to more than any client needs.
const RATE_PER_SEC: RangeInclusive<f64> = 0.001..=100_000.0;

/// The smallest `limits.max_string_bytes`: a DTLS fingerprint (SHA-512, in
/// hex with colons) fits, and so does every id.
pub const MIN_STRING_BYTES: usize = 192;

/// The smallest `prometheus.label_value_max`: a mediasoup id (a UUID) fits.
pub const MIN_LABEL_VALUE_MAX: usize = 36;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_value_max_keeps_ids_whole() {
        let c = Config::from_toml("[prometheus]\nlabel_value_max = 64\n").unwrap();
        assert_eq!(c.prometheus.label_value_max, 64);
        let err = Config::from_toml("[prometheus]\nlabel_value_max = 35\n").unwrap_err();
        assert!(err.to_string().contains("label_value_max"), "{err}");
    }

    #[test]
    fn empty_file_gives_the_defaults() {
        assert_eq!(Config::from_toml("").unwrap(), Config::default());
    }

    #[test]
    fn defaults_round_trip_through_print_config() {
        let printed = Config::default().to_toml();
        assert_eq!(Config::from_toml(&printed).unwrap(), Config::default());
    }

    #[test]
    fn the_example_file_documents_every_option_and_parses() {
        let example = include_str!("../../ejtimaa.example.toml");
        let parsed = Config::from_toml(example).expect("example parses");
        // Every option of the printed defaults appears (commented or not) in the example.
        for line in Config::default().to_toml().lines() {
            let Some((key, _)) = line.split_once(" = ") else {
                continue;
            };
            assert!(
                example.contains(&format!("{key} =")) || example.contains(&format!("# {key} =")),
                "ejtimaa.example.toml does not document `{key}`"
            );
        }
        parsed.validate().unwrap();
    }

    #[test]
    fn unknown_options_and_bad_values_are_errors() {
        let err = Config::from_toml("[prometheus]\nprot = 1\n").unwrap_err();
        assert!(err.to_string().contains("unknown field `prot`"), "{err}");
        let err = Config::from_toml("[mediasoup]\nrtc_min_port = 5000\nrtc_max_port = 4000\n")
            .unwrap_err();
        assert!(err.to_string().contains("rtc_min_port"), "{err}");
        let err = Config::from_toml("[prometheus]\nmetrics = \"all\"\n").unwrap_err();
        assert!(err.to_string().contains("aggregated"), "{err}");
    }

    #[test]
    fn durations_and_sizes_out_of_bounds_are_errors_not_panics() {
        // Each would overflow an `Instant` or disable what it configures.
        for (text, needle) in [
            (
                "[prometheus]\nstats_deadline_ms = 18446744073709551615\n",
                "stats_deadline_ms",
            ),
            (
                "[prometheus]\nstats_interval_ms = 18446744073709551615\n",
                "stats_interval_ms",
            ),
            (
                "[prometheus]\ndns_ttl_secs = 18446744073709551615\n",
                "dns_ttl_secs",
            ),
            ("[prometheus]\ndns_timeout_ms = 0\n", "dns_timeout_ms"),
            (
                "[prometheus]\nlabel_value_max = 1000000\n",
                "label_value_max",
            ),
            (
                "[rooms]\nempty_grace_ms = 18446744073709551615\n",
                "empty_grace_ms",
            ),
            ("[limits]\nmax_message_bytes = 10\n", "max_message_bytes"),
            ("[limits]\nrequest_timeout_ms = 0\n", "request_timeout_ms"),
            (
                "[limits]\nmax_transports_before_join = 65\n",
                "max_transports_before_join",
            ),
            (
                "[limits]\nmax_transports_per_peer = 0\n",
                "max_transports_per_peer",
            ),
            (
                "[limits]\nmax_producers_per_peer = 0\n",
                "max_producers_per_peer",
            ),
            ("[http]\nheader_timeout_ms = 0\n", "header_timeout_ms"),
            ("[http]\nrequest_timeout_ms = 20000\n", "request_timeout_ms"),
            (
                "[prometheus]\nrequest_timeout_ms = 18446744073709551615\n",
                "request_timeout_ms",
            ),
            ("[limits]\nmax_connections = 0\n", "max_connections"),
            (
                "[limits]\nmax_connections_per_ip = 0\n",
                "max_connections_per_ip",
            ),
            (
                "[prometheus]\nmax_scrape_connections_per_ip = 0\n",
                "max_scrape_connections_per_ip",
            ),
            (
                "[limits]\nmax_requests_in_flight = 0\n",
                "max_requests_in_flight",
            ),
            ("[limits]\nmax_string_bytes = 10\n", "max_string_bytes"),
            ("[limits]\nmax_app_data_bytes = 0\n", "max_app_data_bytes"),
            (
                "[limits]\nmax_device_bytes = 18446744073709551615\n",
                "max_device_bytes",
            ),
            (
                "[limits.rates]\nsetup = { per_sec = 0.0, burst = 1 }\n",
                "rates.setup.per_sec",
            ),
            (
                "[limits.rates]\nstats = { per_sec = nan, burst = 1 }\n",
                "rates.stats.per_sec",
            ),
            (
                "[limits.rates]\nkey_frame = { per_sec = inf, burst = 1 }\n",
                "rates.key_frame.per_sec",
            ),
            (
                "[limits.rates]\ndisplay_name = { per_sec = 1, burst = 0 }\n",
                "rates.display_name.burst",
            ),
        ] {
            let err = Config::from_toml(text).unwrap_err().to_string();
            assert!(err.contains(needle), "{text}: {err}");
            assert!(err.contains(" to "), "the error gives the range: {err}");
        }
        // The bounds themselves are accepted.
        Config::from_toml("[prometheus]\nstats_interval_ms = 0\ndns_ttl_secs = 0\n").unwrap();
    }

    #[test]
    fn an_empty_secret_is_an_error_and_a_secret_is_never_printed() {
        for empty in ["\"\"", "\"  \""] {
            let err = Config::from_toml(&format!("[prometheus]\nsecret = {empty}\n")).unwrap_err();
            assert!(err.to_string().contains("secret"), "{err}");
        }
        let c = Config::from_toml("[prometheus]\nsecret = \"hunter2-hunter2\"\n").unwrap();
        let printed = c.to_toml();
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("# secret is set"), "{printed}");
        // What is printed still parses: the secret is left out, not replaced.
        let reparsed = Config::from_toml(&printed).unwrap();
        assert_eq!(reparsed.prometheus.secret, None);
    }

    #[test]
    fn open_signaling_beyond_loopback_must_be_asked_for() {
        let err = Config::from_toml("[http]\nlisten = \"0.0.0.0\"\n").unwrap_err();
        let err = err.to_string();
        assert!(
            err.contains("allow_open") && err.contains("secret_file"),
            "{err}"
        );
        Config::from_toml("[http]\nlisten = \"0.0.0.0\"\n[auth]\nallow_open = true\n").unwrap();
        Config::from_toml("[http]\nlisten = \"::\"\n[auth]\nsecret_file = \"/run/secrets/join\"\n")
            .unwrap();
        // Loopback stays open without being told.
        Config::from_toml("[http]\nlisten = \"::1\"\n").unwrap();
    }

    #[test]
    fn the_join_secret_is_checked_and_never_printed() {
        let err = Config::from_toml("[auth]\nsecret = \"short\"\n").unwrap_err();
        assert!(err.to_string().contains("at least 32"), "{err}");
        let both = "[auth]\nsecret = \"0123456789abcdef0123456789abcdef\"\nsecret_file = \"/x\"\n";
        assert!(
            Config::from_toml(both)
                .unwrap_err()
                .to_string()
                .contains("both")
        );
        let c =
            Config::from_toml("[auth]\nsecret = \"0123456789abcdef0123456789abcdef\"\n").unwrap();
        let printed = c.to_toml();
        assert!(!printed.contains("0123456789abcdef"), "{printed}");
        assert!(
            printed.contains("[auth]\n# secret is set; not printed"),
            "{printed}"
        );
        assert!(!format!("{c:?}").contains("0123456789abcdef"));
    }

    #[test]
    fn the_exporter_names_one_certificate_and_reuses_only_an_existing_one() {
        let err = Config::from_toml("[prometheus]\nreuse_http_tls = true\n").unwrap_err();
        assert!(err.to_string().contains("needs [http.tls]"), "{err}");
        let both = "[http.tls]\ncert = \"c\"\nkey = \"k\"\n\
                    [prometheus]\nreuse_http_tls = true\n\
                    [prometheus.tls]\ncert = \"c\"\nkey = \"k\"\n";
        let err = Config::from_toml(both).unwrap_err();
        assert!(err.to_string().contains("keep one"), "{err}");
        let c = Config::from_toml("[prometheus.tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\n").unwrap();
        assert_eq!(
            c.prometheus.tls.unwrap().cert,
            std::path::Path::new("c.pem")
        );
    }

    #[test]
    fn metrics_mode_reads_by_name() {
        let c = Config::from_toml("[prometheus]\nmetrics = \"aggregated\"\n").unwrap();
        assert_eq!(c.prometheus.metrics, MetricsSetting::Aggregated);
        assert_eq!(
            ejtimaa_systems::MetricsMode::from(c.prometheus.metrics),
            ejtimaa_systems::MetricsMode::Aggregated
        );
    }

    #[test]
    fn partial_sections_keep_other_defaults() {
        let c = Config::from_toml("[prometheus]\nport = 9100\nquiet = true\n").unwrap();
        assert_eq!(c.prometheus.port, 9100);
        assert!(c.prometheus.quiet);
        assert_eq!(c.prometheus.listen, PrometheusConfig::default().listen);
        assert_eq!(c.http, HttpConfig::default());
    }
}
