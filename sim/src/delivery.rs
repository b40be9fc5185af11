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
//! **Simulcast.** A simulcast producer's layers each have their own
//! sequence numbers (`lo..hi` per layer), and its packets' tags say which
//! layer they belong to. A consumer of it receives one layer at a time and
//! mediasoup switches at keyframes, so the consumer is expected only the
//! packets of a layer sent while it was on that layer: from the first
//! packet of the layer it got after a switch to the last one before the
//! next switch (see `peer::seqs::LayeredSeqs`). A layer it was never
//! switched to counts for nothing; one that never delivered anything at all
//! counts its preferred layer as lost. The counts are also kept per layer,
//! and consumers receiving below the layer they asked for are listed.
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
/// received (contiguous intervals merged), per layer (one for a single
/// stream).
#[derive(Debug)]
struct Pending {
    room: String,
    subscriber: String,
    seqs: ReceivedSeqs,
    ranges: Vec<Vec<(u64, u64)>>,
    /// The producer is simulcast.
    simulcast: bool,
    /// The layer the consumer asked for, as last seen.
    preferred: Option<u8>,
}

/// What a producer generated in one interval: `lo..hi` per layer (one
/// entry for a single stream).
type Sent = Vec<(u64, u64)>;

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
    /// Consumers of simulcast producers, by spatial layer.
    pub layers: BTreeMap<u8, Tally>,
    /// Consumers of simulcast producers receiving below the layer they
    /// asked for when the counts were read.
    pub below_preferred: Vec<BelowPreferred>,
}

/// A simulcast consumer that is not on the layer it asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BelowPreferred {
    /// The consuming peer.
    pub subscriber: String,
    /// The consumer.
    pub consumer_id: String,
    /// The layer it asked for.
    pub preferred: u8,
    /// The layer arriving (`None`: nothing arrived).
    pub receiving: Option<u8>,
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
        let mut sent: HashMap<&str, Sent> = HashMap::new();
        for (peer, b) in end {
            let (Some(a), Some(entry)) = (start.get(peer), ledger.peers.get(peer)) else {
                continue;
            };
            let bytes = self.bytes.entry(entry.room_id.clone()).or_default();
            bytes.sent += sent_bytes(b).saturating_sub(sent_bytes(a));
            bytes.received += b.received.bytes.saturating_sub(a.received.bytes);
            for p in &b.producers {
                let Some(before) = a.producers.iter().find(|x| x.id == p.id) else {
                    continue;
                };
                let ranges: Option<Sent> = if p.layers.is_empty() {
                    match (before.next_seq, p.next_seq) {
                        (Some(lo), Some(hi)) => Some(vec![(lo, hi.max(lo))]),
                        _ => None,
                    }
                } else {
                    // Every layer, or the producer is not counted (its
                    // layers start together).
                    p.layers
                        .iter()
                        .zip(&before.layers)
                        .map(|(l, x)| Some((x.next_seq?, l.next_seq?.max(x.next_seq?))))
                        .collect::<Option<Sent>>()
                        .filter(|r| r.len() == p.layers.len())
                };
                if let Some(ranges) = ranges {
                    sent.insert(p.id.as_str(), ranges);
                }
            }
        }
        for (peer, b) in end {
            let (Some(a), Some(entry)) = (start.get(peer), ledger.peers.get(peer)) else {
                continue;
            };
            for (producer, c) in subscribed(ledger, a, b, cutoff) {
                let Some(layers) = sent.get(producer) else {
                    continue;
                };
                let pending = self.pending.entry(c.id.clone()).or_insert_with(|| Pending {
                    room: entry.room_id.clone(),
                    subscriber: peer.clone(),
                    seqs: c.seqs.clone(),
                    ranges: vec![Vec::new(); layers.len()],
                    simulcast: layers.len() > 1,
                    preferred: None,
                });
                pending.preferred = c.preferred_layer.or(pending.preferred);
                for (ranges, &(lo, hi)) in pending.ranges.iter_mut().zip(layers) {
                    match ranges.last_mut() {
                        Some(last) if last.1 == lo => last.1 = hi,
                        _ => ranges.push((lo, hi)),
                    }
                }
            }
        }
    }

    /// The counts as they stand: read them [`DRAIN`] after the window's
    /// last interval.
    pub fn counts(&self) -> DeliveryCounts {
        let mut counts = DeliveryCounts::default();
        for (id, p) in &self.pending {
            let t = if p.simulcast {
                p.simulcast_tally(id, &mut counts)
            } else {
                let mut t = Tally::default();
                for &(lo, hi) in p.ranges.iter().flatten() {
                    t.expected += hi - lo;
                    t.received += p.seqs.count(lo, hi);
                }
                t
            };
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

impl Pending {
    /// A simulcast consumer's tally: per layer, what was sent while it was
    /// on that layer; with nothing received at all, its preferred layer
    /// (the top one unless it asked) as lost. Adds to the per-layer counts
    /// and notes a consumer below its preferred layer.
    fn simulcast_tally(&self, id: &str, counts: &mut DeliveryCounts) -> Tally {
        let top = u8::try_from(self.ranges.len().saturating_sub(1)).unwrap_or(u8::MAX);
        let receiving = self.seqs.current_layer();
        if let Some(preferred) = self.preferred
            && receiving.is_none_or(|r| r < preferred.min(top))
        {
            counts.below_preferred.push(BelowPreferred {
                subscriber: self.subscriber.clone(),
                consumer_id: id.to_string(),
                preferred,
                receiving,
            });
        }
        let mut total = Tally::default();
        for (layer, ranges) in (0..=u8::MAX).zip(&self.ranges) {
            let mut t = Tally::default();
            for &(lo, hi) in ranges {
                if receiving.is_none() {
                    if layer == self.preferred.unwrap_or(top).min(top) {
                        t.expected += hi - lo;
                    }
                } else {
                    let (expected, received) = self.seqs.on_layer(layer, lo, hi);
                    t.expected += expected;
                    t.received += received;
                }
            }
            if t.expected > 0 {
                counts.layers.entry(layer).or_default().add(t);
            }
            total.add(t);
        }
        total
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
            next_seq: Some(next_seq),
            ..ProducerSnapshot::new("prod", MediaKind::Video, 1, Vec::new())
        }
    }

    fn consumer(id: &str, seqs: &ReceivedSeqs, packets: u64) -> ConsumerSnapshot {
        ConsumerSnapshot {
            id: id.into(),
            producer_id: "prod".into(),
            peer_id: "pub".into(),
            kind: MediaKind::Video,
            ssrc: 7,
            simulcast: false,
            preferred_layer: None,
            received: Counts { packets, bytes: 0 },
            seqs: seqs.clone(),
            closed: false,
            paused: false,
            score: None,
        }
    }

    /// A ledger of two peers up in one room, `pub` and `sub`.
    fn pub_and_sub() -> Ledger {
        let mut ledger = Ledger::default();
        for p in ["pub", "sub"] {
            ledger.add_peer("room", p, p);
            ledger.set_state(p, PeerState::Up);
        }
        ledger
    }

    /// A publisher and a subscriber; the publisher generates `lo..hi` and
    /// the subscriber's consumer receives `got`.
    fn interval(lo: u64, hi: u64, got: &[u64], late: &[u64]) -> (DeliveryCounts, Delivery) {
        let t0 = Instant::now();
        let mut ledger = pub_and_sub();
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
        let mut ledger = pub_and_sub();
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

    /// A simulcast producer of three layers generating `lo..hi` on each
    /// (offset per layer), and a consumer asking for `preferred`.
    fn simulcast_interval(got: &[(u8, u64)], preferred: u8) -> DeliveryCounts {
        use crate::peer::ProducerLayer;
        use crate::peer::seqs::layer_tag;
        let t0 = Instant::now();
        let mut ledger = pub_and_sub();
        let seqs = ReceivedSeqs::default();
        let snap = |at: u64, packets| {
            let layers = (0..3)
                .map(|l| ProducerLayer {
                    ssrc: 10 + l,
                    next_seq: Some(1000 * u64::from(l + 1) + at),
                })
                .collect();
            let publisher = PeerStatsSnapshot {
                producers: vec![ProducerSnapshot {
                    layers,
                    ..producer(0)
                }],
                ..PeerStatsSnapshot::default()
            };
            let mut c = consumer("c1", &seqs, packets);
            c.simulcast = true;
            c.preferred_layer = Some(preferred);
            let subscriber = PeerStatsSnapshot {
                consumers: vec![c],
                ..PeerStatsSnapshot::default()
            };
            Snapshots::from([("pub".into(), publisher), ("sub".into(), subscriber)])
        };
        let start = snap(0, 0);
        ledger.observe("sub", start["sub"].clone(), t0);
        for &(layer, seq) in got {
            seqs.insert(layer_tag(layer, seq));
        }
        let end = snap(100, got.len() as u64);
        let mut d = Delivery::default();
        d.add_interval(&ledger, &start, &end, t0);
        d.counts()
    }

    #[test]
    fn simulcast_counts_the_layer_received_from_its_first_packet() {
        // Layer 0 (1000..1100) from 1000 to 1039, then a switch up to layer
        // 2 (3000..3100) at its 3050, one packet of it lost: what was sent
        // on layer 0 after the switch and on layer 2 before it, and all of
        // layer 1, are not expected.
        let mut got: Vec<(u8, u64)> = (1000..1040).map(|s| (0, s)).collect();
        got.extend((3050..3100).filter(|&s| s != 3070).map(|s| (2, s)));
        let c = simulcast_interval(&got, 2);
        assert_eq!(
            c.total(),
            Tally {
                expected: 90,
                received: 89
            }
        );
        assert_eq!(
            c.layers[&0],
            Tally {
                expected: 40,
                received: 40
            }
        );
        assert_eq!(
            c.layers[&2],
            Tally {
                expected: 50,
                received: 49
            }
        );
        assert!(!c.layers.contains_key(&1));
        assert!(c.below_preferred.is_empty());
    }

    #[test]
    fn a_simulcast_consumer_below_its_layer_is_listed_and_silence_is_loss() {
        let got: Vec<(u8, u64)> = (1000..1100).map(|s| (0, s)).collect();
        let c = simulcast_interval(&got, 1);
        assert_eq!(
            c.total(),
            Tally {
                expected: 100,
                received: 100
            }
        );
        assert_eq!(
            c.below_preferred,
            [BelowPreferred {
                subscriber: "sub".into(),
                consumer_id: "c1".into(),
                preferred: 1,
                receiving: Some(0)
            }]
        );
        // Nothing at all: the preferred layer's packets are lost.
        let c = simulcast_interval(&[], 1);
        assert_eq!(
            c.total(),
            Tally {
                expected: 100,
                received: 0
            }
        );
        assert_eq!(c.below_preferred[0].receiving, None);
    }
}
