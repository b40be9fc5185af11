//! What a node announces: the URL its signaling is reached at and where its
//! exporter is scraped, from `[cluster]` or else from the bound listeners.

use std::net::SocketAddr;

use super::record::ExporterTarget;
use crate::config::ClusterConfig;

/// A node's addresses, as registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announce {
    /// Base URL of its signaling.
    pub signaling_url: String,
    /// Its exporter, if it runs one.
    pub exporter: Option<ExporterTarget>,
}

/// The addresses to announce: `cluster.public_url` and
/// `cluster.exporter_address` when set, otherwise the listeners' own
/// addresses (`scheme`, address), which must then be specific ones.
pub fn announce(
    config: &ClusterConfig,
    signaling: (&str, SocketAddr),
    exporter: Option<(&str, SocketAddr)>,
) -> Result<Announce, String> {
    let signaling_url = match &config.public_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None if signaling.1.ip().is_unspecified() => {
            return Err(format!(
                "cluster.public_url is needed: signaling listens on {}, which clients cannot be sent to",
                signaling.1
            ));
        }
        None => format!("{}://{}", signaling.0, signaling.1),
    };
    let exporter = match exporter {
        None => None,
        Some((scheme, addr)) => {
            let address = match &config.exporter_address {
                Some(address) => address.clone(),
                None if addr.ip().is_unspecified() => {
                    return Err(format!(
                        "cluster.exporter_address is needed: the exporter listens on {addr}, which Prometheus cannot be sent to"
                    ));
                }
                None => addr.to_string(),
            };
            Some(ExporterTarget {
                address,
                scheme: scheme.to_owned(),
            })
        }
    };
    Ok(Announce {
        signaling_url,
        exporter,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ClusterConfig {
        ClusterConfig::new("redis://127.0.0.1", "a")
    }

    #[test]
    fn bound_addresses_are_announced_unless_configured() {
        let s: SocketAddr = "127.0.0.1:4443".parse().unwrap();
        let e: SocketAddr = "[::1]:8889".parse().unwrap();
        let a = announce(&config(), ("https", s), Some(("http", e))).unwrap();
        assert_eq!(a.signaling_url, "https://127.0.0.1:4443");
        assert_eq!(
            a.exporter,
            Some(ExporterTarget {
                address: "[::1]:8889".into(),
                scheme: "http".into()
            })
        );
        let mut c = config();
        c.public_url = Some("https://b.example.com:4443/".into());
        c.exporter_address = Some("b.example.com:9100".into());
        let wild: SocketAddr = "0.0.0.0:4443".parse().unwrap();
        let a = announce(&c, ("https", wild), Some(("https", wild))).unwrap();
        assert_eq!(a.signaling_url, "https://b.example.com:4443");
        assert_eq!(a.exporter.unwrap().address, "b.example.com:9100");
        assert_eq!(announce(&c, ("https", wild), None).unwrap().exporter, None);
    }

    #[test]
    fn a_wildcard_listener_needs_a_configured_address() {
        let wild: SocketAddr = "0.0.0.0:4443".parse().unwrap();
        let local: SocketAddr = "127.0.0.1:4443".parse().unwrap();
        let err = announce(&config(), ("http", wild), None).unwrap_err();
        assert!(err.contains("cluster.public_url"), "{err}");
        let err = announce(&config(), ("http", local), Some(("http", wild))).unwrap_err();
        assert!(err.contains("cluster.exporter_address"), "{err}");
    }
}
