//! Configuration: a TOML file whose every option has a default embedded in the
//! binary, overridden by the command line and the environment (see `cli`).

mod sections;

use std::path::Path;

use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use sections::{
    AdminConfig, CodecName, HttpConfig, LimitsConfig, MediasoupConfig, MetricsSetting,
    PrometheusConfig, RoomsConfig, TlsConfig, WorkerLogLevel,
};

/// The whole configuration. Every section and option may be left out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Signaling (socket.io) listener.
    pub http: HttpConfig,
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
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("the configuration always serializes")
    }

    /// Checks values that serde cannot.
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
        if m.codecs.is_empty() {
            return Err(ConfigError::Invalid(
                "mediasoup.codecs must name at least one codec".into(),
            ));
        }
        if self.limits.max_peers_per_room == 0 || self.limits.max_rooms == 0 {
            return Err(ConfigError::Invalid("limits must be at least 1".into()));
        }
        if self.prometheus.label_value_max < MIN_LABEL_VALUE_MAX {
            return Err(ConfigError::Invalid(format!(
                "prometheus.label_value_max must be at least {MIN_LABEL_VALUE_MAX}"
            )));
        }
        if self.prometheus.stats_deadline_ms == 0 {
            return Err(ConfigError::Invalid(
                "prometheus.stats_deadline_ms must be positive".into(),
            ));
        }
        if !(1..=9).contains(&self.prometheus.gzip_level) {
            return Err(ConfigError::Invalid(
                "prometheus.gzip_level must be 1 to 9".into(),
            ));
        }
        if self.prometheus.max_concurrent_scrapes == 0 {
            return Err(ConfigError::Invalid(
                "prometheus.max_concurrent_scrapes must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

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
