//! The directory's key names, under the configured prefix.
//!
//! - `<prefix>:node:<node id>`: a node's registration (JSON, see
//!   [`super::record::NodeRecord`]), expiring unless its heartbeat renews it;
//! - `<prefix>:nodes`: the set of node ids that registered, pruned of those
//!   whose registration expired when the nodes are listed;
//! - `<prefix>:room:<room id>`: the id of the node a room is on, expiring
//!   with that node's heartbeat.
//!
//! The room id is the key's tail after a fixed head, so any room id (colons
//! included) names exactly one key.

/// Key names for one cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    /// Keys under `prefix` (`cluster.key_prefix`).
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
        }
    }

    /// A node's registration.
    pub fn node(&self, node: &str) -> String {
        format!("{}{node}", self.node_head())
    }

    /// What every registration's key starts with (the scripts append a node id).
    pub fn node_head(&self) -> String {
        format!("{}:node:", self.prefix)
    }

    /// The set of registered node ids.
    pub fn nodes(&self) -> String {
        format!("{}:nodes", self.prefix)
    }

    /// A room's claim.
    pub fn room(&self, room: &str) -> String {
        format!("{}:room:{room}", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_named_under_the_prefix() {
        let keys = Keys::new("ejtimaa");
        assert_eq!(keys.node("a"), "ejtimaa:node:a");
        assert_eq!(keys.node_head(), "ejtimaa:node:");
        assert_eq!(keys.nodes(), "ejtimaa:nodes");
        assert_eq!(keys.room("r:1"), "ejtimaa:room:r:1");
        // Two clusters on one Redis never share a key.
        assert_ne!(Keys::new("a").room("x"), Keys::new("b").room("x"));
        // A room id that looks like another key stays a room.
        assert_ne!(keys.room("x"), keys.node("x"));
    }
}
