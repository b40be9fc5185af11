//! What a node says about itself in the directory, and how a peer is told to
//! go to another node.

use serde::{Deserialize, Serialize};

/// A node's registration: who it is, where clients and Prometheus reach it,
/// and its load at its last heartbeat. Stored as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeRecord {
    /// `cluster.node_id`.
    pub node: String,
    /// This run of the node (random at start), so that a second process
    /// with the same node id is noticed instead of sharing its rooms.
    pub instance: String,
    /// The base URL of its signaling (`cluster.public_url`).
    pub signaling_url: String,
    /// Its exporter, when it runs one.
    pub exporter: Option<ExporterTarget>,
    /// `cluster.region`.
    pub region: String,
    /// Peers connected at its last heartbeat.
    pub peers: u64,
    /// Rooms open at its last heartbeat.
    pub rooms: u64,
}

/// Where Prometheus scrapes a node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExporterTarget {
    /// `host:port`.
    pub address: String,
    /// `http` or `https`.
    pub scheme: String,
}

/// A peer sent to the node its room is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    /// The room's node.
    pub node: String,
    /// That node's signaling URL.
    pub url: String,
}

impl Redirect {
    /// The text every redirect's `connect_error` message starts with,
    /// followed by the URL (which has no spaces).
    pub const PREFIX: &'static str = "redirect: ";

    /// Reads a `connect_error` message written by [`Redirect`]'s `Display`;
    /// `None` for any other refusal.
    pub fn parse(message: &str) -> Option<Redirect> {
        let rest = message.strip_prefix(Self::PREFIX)?;
        let (url, rest) = rest.split_once(' ').unwrap_or((rest, ""));
        let node = rest
            .strip_prefix("(the room is on node ")
            .and_then(|n| n.strip_suffix(')'))
            .unwrap_or_default();
        (!url.is_empty()).then(|| Redirect {
            node: node.to_owned(),
            url: url.to_owned(),
        })
    }
}

impl std::fmt::Display for Redirect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}{} (the room is on node {})",
            Self::PREFIX,
            self.url,
            self.node
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redirect_reads_back_from_its_message() {
        let r = Redirect {
            node: "b".into(),
            url: "https://b.example.com:4443".into(),
        };
        let text = r.to_string();
        assert_eq!(
            text,
            "redirect: https://b.example.com:4443 (the room is on node b)"
        );
        assert_eq!(Redirect::parse(&text), Some(r));
        assert_eq!(
            Redirect::parse("limit reached (rooms): at most 1 rooms"),
            None
        );
        assert_eq!(Redirect::parse("redirect: "), None);
    }

    #[test]
    fn a_record_round_trips_through_json() {
        let record = NodeRecord {
            node: "a".into(),
            instance: "1f".into(),
            signaling_url: "http://127.0.0.1:4443".into(),
            exporter: Some(ExporterTarget {
                address: "127.0.0.1:8889".into(),
                scheme: "http".into(),
            }),
            region: "default".into(),
            peers: 3,
            rooms: 1,
        };
        let json = serde_json::to_string(&record).unwrap();
        assert!(json.contains("\"instance\":\"1f\""), "{json}");
        assert_eq!(serde_json::from_str::<NodeRecord>(&json).unwrap(), record);
    }
}
