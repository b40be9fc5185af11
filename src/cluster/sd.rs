//! Prometheus' HTTP service discovery (`http_sd_configs`): one target group
//! per live node with an exporter.
//!
//! Each group also carries the node's signaling URL as
//! `__meta_ejtimaa_signaling_url`: Prometheus offers `__meta_` labels to
//! relabeling and drops them before storing, and a load tester given one
//! node finds every node's signaling and exporter in one answer.

use serde_json::{Value, json};

use super::record::NodeRecord;

/// The label that carries a node's signaling URL.
pub const SIGNALING_URL: &str = "__meta_ejtimaa_signaling_url";

/// The `GET /sd` body for `nodes`: `[{"targets": ["host:port"], "labels":
/// {"node", "region", "__scheme__", "__meta_ejtimaa_signaling_url"}}]`,
/// ordered by node id so that
/// consecutive answers compare equal.
pub fn targets(nodes: &[NodeRecord]) -> Value {
    let mut nodes: Vec<&NodeRecord> = nodes.iter().filter(|n| n.exporter.is_some()).collect();
    nodes.sort_by(|a, b| a.node.cmp(&b.node));
    Value::Array(
        nodes
            .into_iter()
            .filter_map(|n| {
                let exporter = n.exporter.as_ref()?;
                Some(json!({
                    "targets": [exporter.address],
                    "labels": {
                        "node": n.node,
                        "region": n.region,
                        "__scheme__": exporter.scheme,
                        SIGNALING_URL: n.signaling_url,
                    },
                }))
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::record::ExporterTarget;

    fn node(id: &str, exporter: Option<(&str, &str)>) -> NodeRecord {
        NodeRecord {
            node: id.into(),
            instance: "i".into(),
            signaling_url: format!("http://{id}:4443"),
            exporter: exporter.map(|(address, scheme)| ExporterTarget {
                address: address.into(),
                scheme: scheme.into(),
            }),
            region: "eu".into(),
            peers: 0,
            rooms: 0,
        }
    }

    #[test]
    fn one_group_per_node_with_an_exporter_in_node_order() {
        let body = targets(&[
            node("b", Some(("10.0.0.2:8889", "https"))),
            node("c", None),
            node("a", Some(("10.0.0.1:8889", "http"))),
        ]);
        assert_eq!(
            body,
            json!([
                {"targets": ["10.0.0.1:8889"], "labels": {"node": "a", "region": "eu", "__scheme__": "http", SIGNALING_URL: "http://a:4443"}},
                {"targets": ["10.0.0.2:8889"], "labels": {"node": "b", "region": "eu", "__scheme__": "https", SIGNALING_URL: "http://b:4443"}},
            ])
        );
        assert_eq!(targets(&[]), json!([]));
    }
}
