//! A cluster as the sim sees it: its nodes, read from one exporter's
//! `GET /sd` (Prometheus' HTTP service discovery: every live node's
//! exporter, with the node's signaling URL as `__meta_ejtimaa_signaling_url`),
//! the node each peer is sent to first, and the node it ended up on after
//! the cluster's redirects.
//!
//! Reading the nodes from `/sd` means an operator names one node, and the
//! sim sees the cluster exactly as Prometheus does: a node missing from the
//! directory is missing from the run too, rather than from one of two lists.

use std::time::Duration;

use serde_json::Value;
use url::Url;

use crate::exporter::Exporter;
use crate::exposition::{Scrape, ScrapeError};

/// The `/sd` label that carries a node's signaling URL.
pub const SIGNALING_URL: &str = "__meta_ejtimaa_signaling_url";
/// The counter of peers a node sent to another node.
pub const REDIRECTS: &str = "Ejtimaa_cluster_redirects_total";

/// Why the cluster's nodes could not be found.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// `/sd` did not answer.
    #[error("cannot read {url}: {source}")]
    Fetch {
        /// The `/sd` URL.
        url: String,
        /// What failed.
        source: ScrapeError,
    },
    /// `/sd` answered something other than a target list.
    #[error("GET /sd: {0}")]
    Body(String),
    /// Fewer live nodes than the scenario needs.
    #[error("GET /sd lists {found} node(s); the scenario needs at least {wanted}")]
    TooFew {
        /// Nodes listed.
        found: usize,
        /// `cluster.min_nodes`.
        wanted: usize,
    },
}

/// One node as `/sd` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Its node id (the `node` label).
    pub node: String,
    /// Its `region` label.
    pub region: String,
    /// Its signaling URL.
    pub signaling: Url,
    /// Its exporter's metrics URL.
    pub metrics: Url,
}

/// The targets of a `/sd` body, in its order (by node id).
pub fn targets(body: &str) -> Result<Vec<Target>, ClusterError> {
    let bad = |why: String| ClusterError::Body(why);
    let groups: Value = serde_json::from_str(body).map_err(|e| bad(format!("not JSON: {e}")))?;
    let groups = groups
        .as_array()
        .ok_or_else(|| bad("not a list of target groups".into()))?;
    let mut out = Vec::with_capacity(groups.len());
    for group in groups {
        let label = |name: &str| group["labels"][name].as_str().unwrap_or_default();
        let node = label("node");
        let address = group["targets"][0].as_str().unwrap_or_default();
        let scheme = match label("__scheme__") {
            "" => "http",
            s => s,
        };
        let url = |text: &str, what: &str| {
            Url::parse(text).map_err(|e| bad(format!("node {node:?}: bad {what} {text:?}: {e}")))
        };
        if node.is_empty() || address.is_empty() {
            return Err(bad(format!("a group without a node or a target: {group}")));
        }
        out.push(Target {
            node: node.to_string(),
            region: label("region").to_string(),
            signaling: url(label(SIGNALING_URL), "signaling URL")?,
            metrics: url(&format!("{scheme}://{address}/metrics"), "exporter")?,
        });
    }
    Ok(out)
}

/// A node the run uses: its id, where peers connect, where it is scraped.
#[derive(Debug, Clone)]
pub struct Node {
    /// Its node id (empty for a server outside a cluster).
    pub id: String,
    /// Its region (empty outside a cluster).
    pub region: String,
    /// Its signaling URL.
    pub signaling: Url,
    /// Its exporter.
    pub exporter: Exporter,
}

/// The nodes `/sd` on `exporter`'s listener lists, each scraped with
/// `exporter`'s client and secret; at least `min_nodes` of them.
pub async fn discover(
    exporter: &Exporter,
    min_nodes: usize,
    timeout: Duration,
) -> Result<Vec<Node>, ClusterError> {
    let mut sd = exporter.url().clone();
    sd.set_path("/sd");
    sd.set_query(None);
    let fetch = |source| ClusterError::Fetch {
        url: sd.to_string(),
        source,
    };
    let body = exporter
        .at(sd.clone())
        .map_err(fetch)?
        .get_text(timeout)
        .await
        .map_err(fetch)?;
    let mut nodes = Vec::new();
    for t in targets(&body)? {
        nodes.push(Node {
            exporter: exporter.at(t.metrics).map_err(fetch)?,
            id: t.node,
            region: t.region,
            signaling: t.signaling,
        });
    }
    if nodes.len() < min_nodes {
        return Err(ClusterError::TooFew {
            found: nodes.len(),
            wanted: min_nodes,
        });
    }
    Ok(nodes)
}

/// The node peer `nth` (0 first) of room `room` (numbered in the order
/// the run starts them) connects to first, of `nodes`: rooms start spread
/// over the nodes, and a room's later peers knock at the others.
pub fn entry(room: usize, nth: usize, nodes: usize) -> usize {
    (room + nth) % nodes.max(1)
}

/// Which of `signalings` (the nodes' signaling URLs) `url` is (a peer's
/// URL after its redirects): same scheme (`ws` as `http`, `wss` as
/// `https`), host and port.
pub fn node_at<'a>(signalings: impl IntoIterator<Item = &'a Url>, url: &str) -> Option<usize> {
    let key = |u: &Url| {
        let scheme = match u.scheme() {
            "ws" => "http",
            "wss" => "https",
            s => s,
        };
        let port = u.port().or(match scheme {
            "https" => Some(443),
            _ => Some(80),
        });
        (scheme.to_string(), u.host_str().map(str::to_string), port)
    };
    let wanted = key(&Url::parse(url).ok()?);
    signalings.into_iter().position(|u| key(u) == wanted)
}

/// `Ejtimaa_cluster_redirects_total` in a scrape, when the node exports it.
pub fn redirects_exported(s: &Scrape) -> Option<f64> {
    s.family(REDIRECTS).first().map(|s| s.value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sd_bodies_become_targets() {
        let body = r#"[
            {"targets":["127.0.0.1:9001"],"labels":{"node":"a","region":"r","__scheme__":"http",
             "__meta_ejtimaa_signaling_url":"http://127.0.0.1:4001"}},
            {"targets":["10.0.0.2:8889"],"labels":{"node":"b","region":"r","__scheme__":"https",
             "__meta_ejtimaa_signaling_url":"https://b.example:4443"}}
        ]"#;
        let t = targets(body).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].node, "a");
        assert_eq!(t[0].metrics.as_str(), "http://127.0.0.1:9001/metrics");
        assert_eq!(t[1].metrics.as_str(), "https://10.0.0.2:8889/metrics");
        assert_eq!(t[1].signaling.as_str(), "https://b.example:4443/");
        assert!(targets("[]").unwrap().is_empty());
    }

    #[test]
    fn bad_sd_bodies_are_errors() {
        for bad in [
            "{}",
            "not json",
            r#"[{"targets":[],"labels":{"node":"a"}}]"#,
            r#"[{"targets":["h:1"],"labels":{"node":"a"}}]"#,
            r#"[{"targets":["h:1"],"labels":{"node":"a","__meta_ejtimaa_signaling_url":"x"}}]"#,
        ] {
            assert!(matches!(targets(bad), Err(ClusterError::Body(_))), "{bad}");
        }
    }

    #[test]
    fn rooms_start_spread_and_later_peers_knock_elsewhere() {
        let firsts: Vec<usize> = (0..6).map(|r| entry(r, 0, 3)).collect();
        assert_eq!(firsts, [0, 1, 2, 0, 1, 2]);
        let room1: Vec<usize> = (0..4).map(|n| entry(1, n, 3)).collect();
        assert_eq!(room1, [1, 2, 0, 1]);
        assert_eq!(entry(5, 7, 1), 0);
    }

    #[test]
    fn a_landed_url_names_its_node() {
        let nodes: Vec<Url> = ["http://127.0.0.1:4001", "https://b.example"]
            .iter()
            .map(|u| u.parse().unwrap())
            .collect();
        assert_eq!(node_at(&nodes, "http://127.0.0.1:4001/"), Some(0));
        assert_eq!(node_at(&nodes, "ws://127.0.0.1:4001"), Some(0));
        assert_eq!(node_at(&nodes, "wss://b.example:443"), Some(1));
        assert_eq!(node_at(&nodes, "http://127.0.0.1:4002"), None);
        assert_eq!(node_at(&nodes, "not a url"), None);
    }
}
