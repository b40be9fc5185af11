//! One peer to start ([`PeerPlan`]) and the outcome of its timed join
//! ([`Joined`]), shared by the run, the capacity steps and the burst.

use std::time::{Duration, Instant};

use crate::peer::{Peer, PeerConfig, PeerError};
use crate::scenario::Scenario;
use crate::tokens::Tokens;

/// A peer to start: where, under which id, with which display name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerPlan {
    /// The room it joins.
    pub room_id: String,
    /// Its peer id (unique in the run).
    pub peer_id: String,
    /// Its display name.
    pub display_name: String,
}

impl PeerPlan {
    /// The peer's configuration under `scenario`, with its token if `tokens` mints one.
    pub fn config(&self, scenario: &Scenario, tokens: &Tokens) -> PeerConfig {
        PeerConfig {
            token: tokens.for_peer(&self.room_id, &self.peer_id),
            ..scenario.peer_config(&self.room_id, &self.peer_id, &self.display_name)
        }
    }
}

/// How one join ended.
#[derive(Debug)]
pub struct Joined {
    /// The peer that joined, or tried to.
    pub peer_id: String,
    /// The peer, or why it could not join.
    pub result: Result<Peer, PeerError>,
    /// From the start of the join to its end.
    pub latency: Duration,
}

/// Joins `peer_id` to the server at `server_url` (signaling, without a
/// trailing slash), timed.
pub async fn join(server_url: &str, peer_id: String, config: PeerConfig) -> Joined {
    let t = Instant::now();
    let result = Peer::spawn(server_url, config).await;
    Joined {
        peer_id,
        result,
        latency: t.elapsed(),
    }
}
