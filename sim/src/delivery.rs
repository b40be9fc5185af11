//! The delivered ratio, counted per packet.
//!
//! Every packet a sim publisher generates carries its producer's extended
//! sequence number in its payload (see `peer::seqs`), and every consumer
//! records which of those numbers arrived. A measurement window is cut
//! into intervals at the runner's snapshots; for one interval:
//!
//! - **sent**: for each producer whose publisher is present at both ends,
//!   the sequence numbers `lo..hi` it generated in between (`lo` and `hi`
//!   are its next sequence number at the two snapshots). Packets the sim
//!   dropped on purpose (`drop_every`) count as sent.
//! - **subscribers**: each consumer of such a producer held by a peer
//!   present at both ends, open and unpaused at both, and *established*:
//!   it had received a packet by the interval's start, or existed long
//!   enough (the caller's `cutoff`) that it should have. A new video
//!   consumer receives nothing until the next keyframe, by design; a
//!   consumer that never receives still counts once it is old enough.
//!   Two consumers of one producer in one peer (a server fault) count once.
//! - **expected** += `hi - lo` per subscriber; **received** += how many of
//!   `lo..hi` that consumer got, read only when the window is finished, so
//!   that packets still in flight at an interval's end are counted.
//!
//! Duplicates (retransmissions) count once, and nothing outside `lo..hi`
//! counts, so the ratio can never exceed 1: `received / expected` is the
//! share of the packets sent during the window that reached every peer
//! subscribed to them for the whole interval. A packet arriving after the
//! window is read (the caller waits [`DRAIN`] first) counts as lost.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::ledger::Ledger;
use crate::peer::{ConsumerSnapshot, PeerStatsSnapshot, ReceivedSeqs};

/// Peers' counters by peer id.
pub type Snapshots = BTreeMap<String, PeerStatsSnapshot>;

/// RTP payload bytes a peer has sent (audio and video).
pub fn sent_bytes(s: &PeerStatsSnapshot) -> u64 {
    s.audio_sent.bytes + s.video_sent.bytes
}

/// How long after a window's end its received counts are read: packets
/// still queued in the server or the sockets arrive meanwhile.
pub const DRAIN: Duration = Duration::from_millis(1000);

/// One consumer's share of the window: the producer ranges it should have
/// received (contiguous intervals merged).
#[derive(Debug)]
struct Pending {
    room: String,
    subscriber: String,
    seqs: ReceivedSeqs,
    ranges: Vec<(u64, u64)>,
}

/// Payload bytes of one room between the window's snapshots.
#[derive(Debug, Clone, Copy, Default)]
struct Bytes {
    sent: u64,
    received: u64,
}

/// A window under way: what was sent, to whom; read with [`Delivery::counts`].
#[derive(Debug, Default)]
pub struct Delivery {
    /// By consumer id.
    pending: BTreeMap<String, Pending>,
    bytes: BTreeMap<String, Bytes>,
}

/// Expected and received packets of a room or a subscriber.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// Packets that should have arrived.
    pub expected: u64,
    /// Packets that arrived.
    pub received: u64,
}

impl Tally {
    /// `received / expected`, when anything was expected.
    pub fn ratio(&self) -> Option<f64> {
        (self.expected > 0).then(|| self.received as f64 / self.expected as f64)
    }

    fn add(&mut self, other: Tally) {
        self.expected += other.expected;
        self.received += other.received;
    }
}

/// A finished window's counts.
#[derive(Debug, Clone, Default)]
pub struct DeliveryCounts {
    /// By room.
    pub rooms: BTreeMap<String, Tally>,
    /// By subscribing peer.
    pub subscribers: BTreeMap<String, Tally>,
    /// Payload bytes (sent, received) by room, peers present at both ends
    /// of each interval.
    pub bytes: BTreeMap<String, (u64, u64)>,
}

impl DeliveryCounts {
    /// All rooms together.
    pub fn total(&self) -> Tally {
        let mut t = Tally::default();
        for r in self.rooms.values() {
            t.add(*r);
        }
        t
    }
}

impl Delivery {
    /// Adds the interval between two snapshots of every live peer (by peer
    /// id); consumers first seen at or before `cutoff` count even if they
    /// have received nothing yet.
    pub fn add_interval(
        &mut self,
        ledger: &Ledger,
        start: &Snapshots,
        end: &Snapshots,
        cutoff: Instant,
    ) {
        // Producers whose publisher is present at both ends: their ranges.
        let mut sent: HashMap<&str, (u64, u64)> = HashMap::new();
        for (peer, b) in end {
            let (Some(a), Some(entry)) = (start.get(peer), ledger.peers.get(peer)) else {
                continue;
            };
            let bytes = self.bytes.entry(entry.room_id.clone()).or_default();
            bytes.sent += sent_bytes(b).saturating_sub(sent_bytes(a));
            bytes.received += b.received.bytes.saturating_sub(a.received.bytes);
            for p in &b.producers {
                let lo = a
                    .producers
                    .iter()
                    .find(|x| x.id == p.id)
                    .and_then(|x| x.next_seq);
                if let (Some(lo), Some(hi)) = (lo, p.next_seq) {
                    sent.insert(p.id.as_str(), (lo, hi.max(lo)));
                }
            }
        }
        for (peer, b) in end {
            let (Some(a), Some(entry)) = (start.get(peer), ledger.peers.get(peer)) else {
                continue;
            };
            for (producer, c) in subscribed(ledger, a, b, cutoff) {
                let Some(&(lo, hi)) = sent.get(producer) else {
                    continue;
                };
                let pending = self.pending.entry(c.id.clone()).or_insert_with(|| Pending {
                    room: entry.room_id.clone(),
                    subscriber: peer.clone(),
                    seqs: c.seqs.clone(),
                    ranges: Vec::new(),
                });
                match pending.ranges.last_mut() {
                    Some(last) if last.1 == lo => last.1 = hi,
                    _ => pending.ranges.push((lo, hi)),
                }
            }
        }
    }

    /// The counts as they stand: read them [`DRAIN`] after the window's
    /// last interval.
    pub fn counts(&self) -> DeliveryCounts {
        let mut counts = DeliveryCounts::default();
        for p in self.pending.values() {
            let mut t = Tally::default();
            for &(lo, hi) in &p.ranges {
                t.expected += hi - lo;
                t.received += p.seqs.count(lo, hi);
            }
            counts.rooms.entry(p.room.clone()).or_default().add(t);
            counts
                .subscribers
                .entry(p.subscriber.clone())
                .or_default()
                .add(t);
        }
        for (room, b) in &self.bytes {
            counts.bytes.insert(room.clone(), (b.sent, b.received));
        }
        counts
    }
}

/// Tracks one subscriber receives and should receive.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tracks {
    /// Producers of the other live peers of its room.
    pub expected: usize,
    /// Of those, the ones it holds an open consumer of that has delivered
    /// at least one packet.
    pub received: usize,
}

/// Per consuming peer (of `snapshots`, the live ones): its tracks.
pub fn tracks(ledger: &Ledger, snapshots: &Snapshots) -> BTreeMap<String, Tracks> {
    let room_of = |peer: &str| ledger.peers.get(peer).map(|p| p.room_id.as_str());
    let mut out = BTreeMap::new();
    for (peer, s) in snapshots {
        if !s.recv_connected && s.consumers.is_empty() {
            continue;
        }
        let room = room_of(peer);
        let mut expected = std::collections::BTreeSet::new();
        for (other, o) in snapshots {
            if other != peer && room_of(other) == room {
                expected.extend(o.producers.iter().map(|p| p.id.as_str()));
            }
        }
        let received: std::collections::BTreeSet<&str> = s
            .consumers
            .iter()
            .filter(|c| !c.closed && c.received.packets > 0)
            .map(|c| c.producer_id.as_str())
            .filter(|id| expected.contains(id))
            .collect();
        out.insert(
            peer.clone(),
            Tracks {
                expected: expected.len(),
                received: received.len(),
            },
        );
    }
    out
}

/// The consumers of one peer that count for an interval, one per producer
/// (see the module doc), with their producer ids.
fn subscribed<'a>(
    ledger: &Ledger,
    a: &PeerStatsSnapshot,
    b: &'a PeerStatsSnapshot,
    cutoff: Instant,
) -> BTreeMap<&'a str, &'a ConsumerSnapshot> {
    let mut best: BTreeMap<&str, &ConsumerSnapshot> = BTreeMap::new();
    for c in b.consumers.iter().filter(|c| !c.closed && !c.paused) {
        let Some(before) = a.consumers.iter().find(|x| x.id == c.id) else {
            continue;
        };
        if before.closed || before.paused {
            continue;
        }
        let old_enough = ledger
            .streams
            .get(&c.id)
            .is_some_and(|s| s.first_seen <= cutoff);
        if before.received.packets == 0 && !old_enough {
            continue;
        }
        let slot = best.entry(c.producer_id.as_str()).or_insert(c);
        if c.received.packets > slot.received.packets {
            *slot = c;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::PeerState;
    use crate::peer::{Counts, MediaKind, ProducerSnapshot};

    fn producer(next_seq: u64) -> ProducerSnapshot {
        ProducerSnapshot {
            id: "prod".into(),
            kind: MediaKind::Video,
            ssrc: 1,
            score: None,
            next_seq: Some(next_seq),
        }
    }

    fn consumer(id: &str, seqs: &ReceivedSeqs, packets: u64) -> ConsumerSnapshot {
        ConsumerSnapshot {
            id: id.into(),
            producer_id: "prod".into(),
            peer_id: "pub".into(),
            kind: MediaKind::Video,
            ssrc: 7,
            received: Counts { packets, bytes: 0 },
            seqs: seqs.clone(),
            closed: false,
            paused: false,
            score: None,
        }
    }

    /// A publisher and a subscriber; the publisher generates `lo..hi` and
    /// the subscriber's consumer receives `got`.
    fn interval(lo: u64, hi: u64, got: &[u64], late: &[u64]) -> (DeliveryCounts, Delivery) {
        let t0 = Instant::now();
        let mut ledger = Ledger::default();
        for p in ["pub", "sub"] {
            ledger.add_peer("room", p, p);
            ledger.set_state(p, PeerState::Up);
        }
        let seqs = ReceivedSeqs::default();
        // Received before the window: it is established.
        seqs.insert(lo - 1);
        let snap = |next, packets| {
            let publisher = PeerStatsSnapshot {
                producers: vec![producer(next)],
                ..PeerStatsSnapshot::default()
            };
            let subscriber = PeerStatsSnapshot {
                consumers: vec![consumer("c1", &seqs, packets)],
                ..PeerStatsSnapshot::default()
            };
            Snapshots::from([("pub".into(), publisher), ("sub".into(), subscriber)])
        };
        let start = snap(lo, 1);
        ledger.observe("sub", start["sub"].clone(), t0);
        for &s in got {
            seqs.insert(s);
        }
        let end = snap(hi, 1 + got.len() as u64);
        let mut d = Delivery::default();
        d.add_interval(&ledger, &start, &end, t0);
        // In flight at the end, then arriving while draining.
        for &s in late {
            seqs.insert(s);
        }
        (d.counts(), d)
    }

    #[test]
    fn every_packet_of_the_window_and_nothing_else() {
        let got: Vec<u64> = (100..200).collect();
        let (c, _) = interval(100, 200, &got, &[]);
        assert_eq!(
            c.total(),
            Tally {
                expected: 100,
                received: 100
            }
        );
        assert_eq!(c.total().ratio(), Some(1.0));
        // Packets after the window's end and duplicates never push it over.
        let mut more = got.clone();
        more.extend([150, 150, 200, 201, 99]);
        let (c, _) = interval(100, 200, &more, &[202]);
        assert_eq!(
            c.total(),
            Tally {
                expected: 100,
                received: 100
            }
        );
    }

    #[test]
    fn losses_and_late_packets() {
        // Every tenth lost, the last five still in flight at the end.
        let got: Vec<u64> = (1000..1195).filter(|s| s % 10 != 0).collect();
        let (c, _) = interval(1000, 1200, &got, &[1195, 1196, 1197, 1198, 1199]);
        assert_eq!(
            c.total(),
            Tally {
                expected: 200,
                received: 180
            }
        );
        assert_eq!(c.subscribers["sub"].expected, 200);
        assert_eq!(c.rooms["room"].received, 180);
    }

    #[test]
    fn a_new_consumer_counts_only_once_old_enough() {
        let t0 = Instant::now();
        let mut ledger = Ledger::default();
        for p in ["pub", "sub"] {
            ledger.add_peer("room", p, p);
            ledger.set_state(p, PeerState::Up);
        }
        let seqs = ReceivedSeqs::default();
        let snap = |next| {
            Snapshots::from([
                (
                    "pub".into(),
                    PeerStatsSnapshot {
                        producers: vec![producer(next)],
                        ..PeerStatsSnapshot::default()
                    },
                ),
                (
                    "sub".into(),
                    PeerStatsSnapshot {
                        consumers: vec![consumer("c1", &seqs, 0)],
                        ..PeerStatsSnapshot::default()
                    },
                ),
            ])
        };
        let (start, end) = (snap(10), snap(20));
        ledger.observe("sub", start["sub"].clone(), t0);
        let mut d = Delivery::default();
        // Seen at t0, cutoff before it: still waiting for a keyframe.
        d.add_interval(&ledger, &start, &end, t0 - Duration::from_secs(1));
        assert_eq!(d.counts().total(), Tally::default());
        // Old enough: nothing received is all lost.
        d.add_interval(&ledger, &start, &end, t0);
        assert_eq!(
            d.counts().total(),
            Tally {
                expected: 10,
                received: 0
            }
        );
    }
}
