//! `[cluster]`: several servers sharing one room directory in Redis. Without
//! the section a server stands alone and needs no Redis.

use std::ops::RangeInclusive;

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// `[cluster]`: this node's identity, where the directory is, and how often
/// the node says it is alive.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// The directory: `redis://[:password@]host:port[/db]` or
    /// `redis+unix:///path/to/socket`.
    pub redis_url: String,
    /// This node's name in the directory, unique in the cluster (letters,
    /// digits, `.`, `_`, `-`; at most 64 bytes).
    pub node_id: String,
    /// The base URL clients reach this node's signaling at
    /// (`https://node-b.example.com:4443`), given to peers redirected here.
    /// Default: the signaling listener's own address, which must then not
    /// be a wildcard (0.0.0.0, ::).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    /// `host:port` at which Prometheus reaches this node's exporter, listed
    /// by `GET /sd`. Default: the exporter listener's own address (not a
    /// wildcard).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exporter_address: Option<String>,
    /// A label for where the node runs (`node`'s companion in `GET /sd`).
    #[serde(default = "default_region")]
    pub region: String,
    /// How often the node renews its registration and its rooms' claims (ms).
    #[serde(default = "default_heartbeat_ms")]
    pub heartbeat_ms: u64,
    /// How long a registration and a room claim live without renewal (ms):
    /// after a node dies, its rooms can be opened elsewhere this long after
    /// its last heartbeat. At least twice `heartbeat_ms`, so that one late
    /// heartbeat loses nothing.
    #[serde(default = "default_ttl_ms")]
    pub ttl_ms: u64,
    /// The prefix of every key, so that several clusters can share a Redis.
    #[serde(default = "default_key_prefix")]
    pub key_prefix: String,
}

fn default_region() -> String {
    "default".into()
}
fn default_heartbeat_ms() -> u64 {
    2000
}
fn default_ttl_ms() -> u64 {
    10_000
}
fn default_key_prefix() -> String {
    "ejtimaa".into()
}

impl ClusterConfig {
    /// A cluster section with the defaults for everything but the directory
    /// and the node's name.
    pub fn new(redis_url: impl Into<String>, node_id: impl Into<String>) -> Self {
        Self {
            redis_url: redis_url.into(),
            node_id: node_id.into(),
            public_url: None,
            exporter_address: None,
            region: default_region(),
            heartbeat_ms: default_heartbeat_ms(),
            ttl_ms: default_ttl_ms(),
            key_prefix: default_key_prefix(),
        }
    }

    /// `redis_url` without its password, for logs and `--print-config`.
    pub fn redis_url_shown(&self) -> String {
        match url::Url::parse(&self.redis_url) {
            Ok(mut url) if url.password().is_some() => {
                let _ = url.set_password(Some("****"));
                url.to_string()
            }
            _ => self.redis_url.clone(),
        }
    }

    /// Checks every option; the error names it and what it may be.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |msg: String| Err(ConfigError::Invalid(msg));
        match url::Url::parse(&self.redis_url) {
            Ok(url) if matches!(url.scheme(), "redis" | "redis+unix" | "unix") => {}
            Ok(url) => {
                return invalid(format!(
                    "cluster.redis_url has scheme `{}`; it must be redis:// or redis+unix://",
                    url.scheme()
                ));
            }
            Err(e) => return invalid(format!("cluster.redis_url is not a URL: {e}")),
        }
        check_name("cluster.node_id", &self.node_id, false)?;
        check_name("cluster.region", &self.region, false)?;
        check_name("cluster.key_prefix", &self.key_prefix, true)?;
        if let Some(public) = &self.public_url {
            check_public_url(public)?;
        }
        if let Some(address) = &self.exporter_address {
            check_host_port("cluster.exporter_address", address)?;
        }
        for (name, value, range) in [
            ("cluster.heartbeat_ms", self.heartbeat_ms, HEARTBEAT_MS),
            ("cluster.ttl_ms", self.ttl_ms, TTL_MS),
        ] {
            if !range.contains(&value) {
                return invalid(format!(
                    "{name} is {value}; it must be {} to {}",
                    range.start(),
                    range.end()
                ));
            }
        }
        if self.ttl_ms < 2 * self.heartbeat_ms {
            return invalid(format!(
                "cluster.ttl_ms {} is under twice cluster.heartbeat_ms {}: one late heartbeat \
                 would lose the node's rooms",
                self.ttl_ms, self.heartbeat_ms
            ));
        }
        Ok(())
    }
}

impl std::fmt::Debug for ClusterConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterConfig")
            .field("redis_url", &self.redis_url_shown())
            .field("node_id", &self.node_id)
            .field("public_url", &self.public_url)
            .field("exporter_address", &self.exporter_address)
            .field("region", &self.region)
            .field("heartbeat_ms", &self.heartbeat_ms)
            .field("ttl_ms", &self.ttl_ms)
            .field("key_prefix", &self.key_prefix)
            .finish()
    }
}

/// `cluster.heartbeat_ms`: from a test's quick beat to a minute.
const HEARTBEAT_MS: RangeInclusive<u64> = 50..=60_000;
/// `cluster.ttl_ms`: from a test's second to an hour.
const TTL_MS: RangeInclusive<u64> = 500..=3_600_000;
/// Longest node id, region or key prefix.
const MAX_NAME_BYTES: usize = 64;

/// Names become keys and label values: letters, digits, `.`, `_`, `-`
/// (and `:` in a key prefix).
fn check_name(option: &str, value: &str, colon: bool) -> Result<(), ConfigError> {
    let fits =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') || (colon && c == ':');
    if value.is_empty() || value.len() > MAX_NAME_BYTES || !value.chars().all(fits) {
        return Err(ConfigError::Invalid(format!(
            "{option} is {value:?}; it must be 1 to {MAX_NAME_BYTES} letters, digits, `.`, `_` or `-`{}",
            if colon { " (or `:`)" } else { "" }
        )));
    }
    Ok(())
}

fn check_public_url(value: &str) -> Result<(), ConfigError> {
    let bad = |why: &str| {
        Err(ConfigError::Invalid(format!(
            "cluster.public_url {value:?} {why}"
        )))
    };
    match url::Url::parse(value) {
        Ok(url) if !matches!(url.scheme(), "http" | "https") => {
            bad("must be an http:// or https:// URL")
        }
        Ok(url) if url.host().is_none() => bad("has no host"),
        Ok(url) if url.query().is_some() || url.fragment().is_some() => {
            bad("must have no query or fragment")
        }
        Ok(_) => Ok(()),
        Err(e) => bad(&format!("is not a URL: {e}")),
    }
}

fn check_host_port(option: &str, value: &str) -> Result<(), ConfigError> {
    let ok = value.rsplit_once(':').is_some_and(|(host, port)| {
        !host.is_empty()
            && !host.contains(['/', ' ', '@'])
            && port.parse::<u16>().is_ok_and(|p| p != 0)
    });
    if ok {
        Ok(())
    } else {
        Err(ConfigError::Invalid(format!(
            "{option} is {value:?}; it must be host:port"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::super::Config;

    fn parse(extra: &str) -> Result<Config, String> {
        Config::from_toml(&format!(
            "[cluster]\nredis_url = \"redis://127.0.0.1:6379\"\nnode_id = \"a\"\n{extra}"
        ))
        .map_err(|e| e.to_string())
    }

    #[test]
    fn a_minimal_section_takes_the_defaults() {
        let c = parse("").unwrap().cluster.unwrap();
        assert_eq!(c.region, "default");
        assert_eq!((c.heartbeat_ms, c.ttl_ms), (2000, 10_000));
        assert_eq!(c.key_prefix, "ejtimaa");
        assert_eq!(c.public_url, None);
        // Without the section there is no cluster at all.
        assert_eq!(Config::from_toml("").unwrap().cluster, None);
    }

    #[test]
    fn bad_values_are_named() {
        for (extra, needle) in [
            (
                "heartbeat_ms = 10\n",
                "heartbeat_ms is 10; it must be 50 to 60000",
            ),
            ("ttl_ms = 100\n", "ttl_ms is 100"),
            ("heartbeat_ms = 1000\nttl_ms = 1500\n", "twice"),
            ("region = \"eu west\"\n", "cluster.region"),
            ("public_url = \"ws://x:1\"\n", "http:// or https://"),
            ("public_url = \"https://x:1/?a=b\"\n", "no query"),
            ("exporter_address = \"x\"\n", "host:port"),
            ("exporter_address = \"x:0\"\n", "host:port"),
            ("key_prefix = \"\"\n", "key_prefix"),
        ] {
            let err = parse(extra).unwrap_err();
            assert!(err.contains(needle), "{extra}: {err}");
        }
        let err = Config::from_toml("[cluster]\nredis_url = \"http://x\"\nnode_id = \"a\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("redis://"), "{err}");
        let err = Config::from_toml("[cluster]\nredis_url = \"redis://x\"\nnode_id = \"a/b\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("cluster.node_id"), "{err}");
        let err = Config::from_toml("[cluster]\nnode_id = \"a\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("redis_url"), "{err}");
        // Short test timings are within bounds.
        parse("heartbeat_ms = 200\nttl_ms = 1000\n").unwrap();
        parse("public_url = \"https://node-b.example.com:4443\"\nexporter_address = \"10.0.0.2:8889\"\n")
            .unwrap();
    }

    #[test]
    fn the_redis_password_is_never_printed() {
        let c = Config::from_toml(
            "[cluster]\nredis_url = \"redis://:hunter2@127.0.0.1:6379/0\"\nnode_id = \"a\"\n",
        )
        .unwrap();
        let printed = c.to_toml();
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(
            printed.contains("redis://:****@127.0.0.1:6379/0"),
            "{printed}"
        );
    }
}
