//! What the simulator knows it created: rooms, peers and their streams,
//! kept up to date from the peers' own snapshots. The checks compare the
//! exporter against this.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use crate::peer::{MediaKind, PeerStatsSnapshot};

/// Where a peer is in its life.
#[derive(Debug, Clone, PartialEq)]
pub enum PeerState {
    /// `Peer::spawn` is under way.
    Joining,
    /// Joined, producing and (if configured) consuming.
    Up,
    /// `Peer::spawn` failed.
    Failed(String),
    /// Gone (left, or its connection ended), since the given instant.
    Left(Instant),
}

/// One peer the sim started.
#[derive(Debug, Clone)]
pub struct PeerEntry {
    /// Its room.
    pub room_id: String,
    /// Its id.
    pub peer_id: String,
    /// The name it joined with.
    pub display_name: String,
    /// Where it is.
    pub state: PeerState,
    /// How long `Peer::spawn` took, once it returned.
    pub join_latency: Option<std::time::Duration>,
    /// Its latest counters.
    pub snapshot: PeerStatsSnapshot,
    /// The cluster node its signaling ended up on, once it is up (`None`
    /// outside a cluster run).
    pub node: Option<String>,
}

/// A producer (the peer's published stream) or a consumer (a stream it receives).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Published by the peer: `mediasoup_producer_*`, `type="inbound-rtp"`.
    Producer,
    /// Received by the peer: `mediasoup_consumer_*`, `type="outbound-rtp"`.
    Consumer,
}

impl Role {
    /// The `role` label of the exporter's room aggregates.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Producer => "producer",
            Role::Consumer => "consumer",
        }
    }

    /// The stats entry type the exporter labels it with.
    pub fn rtp_type(self) -> &'static str {
        match self {
            Role::Producer => "inbound-rtp",
            Role::Consumer => "outbound-rtp",
        }
    }
}

/// One stream (producer or consumer) of one of our peers.
#[derive(Debug, Clone)]
pub struct StreamEntry {
    /// Producer or consumer.
    pub role: Role,
    /// The server's id (the `id` label).
    pub id: String,
    /// The room of the peer that owns it.
    pub room_id: String,
    /// The peer that owns it (the `peer_id` label): the publisher of a
    /// producer, the receiver of a consumer.
    pub peer_id: String,
    /// The peer that publishes the media (the owner for a producer).
    pub source_peer: String,
    /// Audio or video.
    pub kind: MediaKind,
    /// When the sim first saw it in a snapshot.
    pub first_seen: Instant,
    /// When the sim learned it closed (its consumer closed, or a peer involved left).
    pub gone_at: Option<Instant>,
    /// The consumer is paused (its counter may stand still).
    pub paused: bool,
}

/// Everything the run created.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    /// By peer id.
    pub peers: BTreeMap<String, PeerEntry>,
    /// By stream id.
    pub streams: BTreeMap<String, StreamEntry>,
    /// Every room a peer was started in.
    pub rooms: BTreeSet<String>,
}

impl Ledger {
    /// Records a peer about to join.
    pub fn add_peer(&mut self, room_id: &str, peer_id: &str, display_name: &str) {
        self.rooms.insert(room_id.to_string());
        self.peers.insert(
            peer_id.to_string(),
            PeerEntry {
                room_id: room_id.into(),
                peer_id: peer_id.into(),
                display_name: display_name.into(),
                state: PeerState::Joining,
                join_latency: None,
                snapshot: PeerStatsSnapshot::default(),
                node: None,
            },
        );
    }

    /// Sets a peer's state.
    pub fn set_state(&mut self, peer_id: &str, state: PeerState) {
        let left = matches!(state, PeerState::Left(_));
        if let Some(p) = self.peers.get_mut(peer_id) {
            p.state = state.clone();
        }
        // A peer that leaves takes its producers, its consumers and everyone
        // else's consumers of its producers with it.
        if let (true, PeerState::Left(at)) = (left, state) {
            for s in self.streams.values_mut() {
                if (s.peer_id == peer_id || s.source_peer == peer_id) && s.gone_at.is_none() {
                    s.gone_at = Some(at);
                }
            }
        }
    }

    /// Takes in a peer's latest snapshot: new streams, closed consumers.
    pub fn observe(&mut self, peer_id: &str, snapshot: PeerStatsSnapshot, now: Instant) {
        let Some(peer) = self.peers.get_mut(peer_id) else {
            return;
        };
        let room_id = peer.room_id.clone();
        for p in &snapshot.producers {
            self.streams
                .entry(p.id.clone())
                .or_insert_with(|| StreamEntry {
                    role: Role::Producer,
                    id: p.id.clone(),
                    room_id: room_id.clone(),
                    peer_id: peer_id.into(),
                    source_peer: peer_id.into(),
                    kind: p.kind,
                    first_seen: now,
                    gone_at: None,
                    paused: false,
                });
        }
        for c in &snapshot.consumers {
            let entry = self
                .streams
                .entry(c.id.clone())
                .or_insert_with(|| StreamEntry {
                    role: Role::Consumer,
                    id: c.id.clone(),
                    room_id: room_id.clone(),
                    peer_id: peer_id.into(),
                    source_peer: c.peer_id.clone(),
                    kind: c.kind,
                    first_seen: now,
                    gone_at: None,
                    paused: false,
                });
            entry.paused = c.paused;
            if c.closed && entry.gone_at.is_none() {
                entry.gone_at = Some(now);
            }
        }
        peer.snapshot = snapshot;
    }

    /// What node `node`'s exporter must show: every room of the run (so that
    /// a room exported by the wrong node is caught), and only the peers that
    /// ended up on `node` with their streams.
    pub fn on_node(&self, node: &str) -> Ledger {
        let here = |peer: &str| {
            self.peers
                .get(peer)
                .is_some_and(|p| p.node.as_deref() == Some(node))
        };
        Ledger {
            peers: self
                .peers
                .iter()
                .filter(|(id, _)| here(id))
                .map(|(id, p)| (id.clone(), p.clone()))
                .collect(),
            streams: self
                .streams
                .iter()
                .filter(|(_, s)| here(&s.peer_id))
                .map(|(id, s)| (id.clone(), s.clone()))
                .collect(),
            rooms: self.rooms.clone(),
        }
    }

    /// Whether the peer is up.
    pub fn is_up(&self, peer_id: &str) -> bool {
        self.peers
            .get(peer_id)
            .is_some_and(|p| p.state == PeerState::Up)
    }

    /// Live peers per room (rooms with none are absent).
    pub fn live_peers_by_room(&self) -> BTreeMap<String, usize> {
        let mut rooms = BTreeMap::new();
        for p in self.peers.values().filter(|p| p.state == PeerState::Up) {
            *rooms.entry(p.room_id.clone()).or_default() += 1;
        }
        rooms
    }

    /// Peers whose join failed, with the reason.
    pub fn failed(&self) -> Vec<(String, String)> {
        self.peers
            .values()
            .filter_map(|p| match &p.state {
                PeerState::Failed(e) => Some((p.peer_id.clone(), e.clone())),
                _ => None,
            })
            .collect()
    }

    /// The room's live peers' nodes, by node (a room on one node has one).
    pub fn nodes_of_room(&self, room_id: &str) -> BTreeMap<String, usize> {
        let mut nodes = BTreeMap::new();
        for p in self.peers.values() {
            if p.room_id == room_id
                && p.state == PeerState::Up
                && let Some(node) = &p.node
            {
                *nodes.entry(node.clone()).or_default() += 1;
            }
        }
        nodes
    }

    /// The node a room ended up on: the one most of its peers that came up
    /// were on (all of them, unless the room split).
    pub fn room_node(&self, room_id: &str) -> Option<String> {
        let mut nodes: BTreeMap<&str, usize> = BTreeMap::new();
        for p in self.peers.values().filter(|p| p.room_id == room_id) {
            if let Some(node) = &p.node {
                *nodes.entry(node).or_default() += 1;
            }
        }
        let most = nodes
            .into_iter()
            .max_by_key(|&(node, n)| (n, std::cmp::Reverse(node)))?;
        Some(most.0.to_string())
    }

    /// When the peer left, if it has.
    pub fn left_at(&self, peer_id: &str) -> Option<Instant> {
        match self.peers.get(peer_id)?.state {
            PeerState::Left(at) => Some(at),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peer::ProducerSnapshot;

    /// Rooms r1 (p1, p2 on node a) and r2 (p3 on b, p4 still joining).
    fn ledger() -> Ledger {
        let mut l = Ledger::default();
        let now = Instant::now();
        for (room, peer, node) in [
            ("r1", "p1", Some("a")),
            ("r1", "p2", Some("a")),
            ("r2", "p3", Some("b")),
            ("r2", "p4", None),
        ] {
            l.add_peer(room, peer, peer);
            if let Some(node) = node {
                l.set_state(peer, PeerState::Up);
                l.peers.get_mut(peer).unwrap().node = Some(node.into());
                let snapshot = PeerStatsSnapshot {
                    producers: vec![ProducerSnapshot::new(
                        format!("{peer}-audio"),
                        MediaKind::Audio,
                        1,
                        Vec::new(),
                    )],
                    ..PeerStatsSnapshot::default()
                };
                l.observe(peer, snapshot, now);
            }
        }
        l
    }

    #[test]
    fn a_nodes_view_has_every_room_and_only_its_own_peers_and_streams() {
        let l = ledger();
        let a = l.on_node("a");
        assert_eq!(a.rooms, l.rooms);
        assert_eq!(a.peers.keys().collect::<Vec<_>>(), ["p1", "p2"]);
        assert_eq!(
            a.streams.keys().collect::<Vec<_>>(),
            ["p1-audio", "p2-audio"]
        );
        assert_eq!(a.live_peers_by_room().get("r2"), None);
        let b = l.on_node("b");
        assert_eq!(b.peers.keys().collect::<Vec<_>>(), ["p3"]);
        assert!(l.on_node("c").peers.is_empty());
    }

    #[test]
    fn a_room_is_on_its_peers_node() {
        let mut l = ledger();
        assert_eq!(l.room_node("r1").as_deref(), Some("a"));
        assert_eq!(l.room_node("r2").as_deref(), Some("b"));
        assert_eq!(l.room_node("r3"), None);
        assert_eq!(l.nodes_of_room("r1").len(), 1);
        // A split room: the majority decides, both nodes are listed.
        l.add_peer("r1", "p5", "p5");
        l.set_state("p5", PeerState::Up);
        l.peers.get_mut("p5").unwrap().node = Some("c".into());
        assert_eq!(l.room_node("r1").as_deref(), Some("a"));
        assert_eq!(
            l.nodes_of_room("r1").into_keys().collect::<Vec<_>>(),
            ["a", "c"]
        );
    }
}
