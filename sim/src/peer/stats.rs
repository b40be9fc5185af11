//! Counters of one synthetic peer, shared between its tasks and its handle.
//!
//! The media tasks bump atomics on every packet; readers take a
//! [`PeerStatsSnapshot`] whenever they like (no lock on the packet path
//! except the short one when a consumer is added or removed).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::seqs::LayeredSeqs;

/// Audio or video: the core's type, so sim and server agree on the spelling.
pub use ejtimaa_systems::MediaKind;

/// A packet and byte count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// RTP packets.
    pub packets: u64,
    /// RTP payload bytes (headers not included).
    pub bytes: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counter {
    packets: AtomicU64,
    bytes: AtomicU64,
}

impl Counter {
    pub(crate) fn add(&self, bytes: usize) {
        self.packets.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    fn get(&self) -> Counts {
        Counts {
            packets: self.packets.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
        }
    }
}

/// One consumer the peer was offered, as the receiving task counts it.
#[derive(Debug)]
pub(crate) struct ConsumerCounters {
    pub(crate) id: String,
    pub(crate) producer_id: String,
    pub(crate) peer_id: String,
    pub(crate) kind: MediaKind,
    pub(crate) ssrc: u32,
    /// The server said its type is `simulcast`.
    pub(crate) simulcast: bool,
    /// The spatial layer asked for with `setConsumerPreferredLayers`
    /// (`u64::MAX`: none asked for).
    pub(crate) preferred_layer: AtomicU64,
    pub(crate) received: Counter,
    /// The producer's sequence numbers that arrived (from the payload tags).
    pub(crate) seqs: ReceivedSeqs,
    pub(crate) closed: AtomicBool,
    pub(crate) paused: AtomicBool,
    /// Last `consumerScore` from the server; `u64::MAX` until one arrives.
    pub(crate) score: AtomicU64,
}

impl ConsumerCounters {
    pub(crate) fn new(
        id: String,
        producer_id: String,
        peer_id: String,
        kind: MediaKind,
        ssrc: u32,
    ) -> Self {
        ConsumerCounters {
            id,
            producer_id,
            peer_id,
            kind,
            ssrc,
            simulcast: false,
            preferred_layer: AtomicU64::new(u64::MAX),
            received: Counter::default(),
            seqs: ReceivedSeqs::default(),
            closed: AtomicBool::new(false),
            paused: AtomicBool::new(false),
            score: AtomicU64::new(u64::MAX),
        }
    }
}

/// The publisher's sequence numbers a consumer received (per spatial
/// layer, from the payload tags), shared between the receiving task (which
/// adds them) and readers (which count ranges). Snapshots share it rather
/// than copy it: its size grows with the losses and the layer switches.
#[derive(Debug, Clone, Default)]
pub struct ReceivedSeqs(Arc<Mutex<LayeredSeqs>>);

impl ReceivedSeqs {
    /// Records the packet tagged `tag` (see `seqs::layer_tag`).
    pub fn insert(&self, tag: u64) {
        lock(&self.0).insert(tag);
    }

    /// How many of the producer's packets `lo..hi` arrived (so far), of a
    /// single-layer producer (layer 0).
    pub fn count(&self, lo: u64, hi: u64) -> u64 {
        lock(&self.0).count(0, lo, hi)
    }

    /// Of layer `layer`'s packets `lo..hi`, those sent while the consumer
    /// was on that layer, and how many of them arrived (so far).
    pub fn on_layer(&self, layer: u8, lo: u64, hi: u64) -> (u64, u64) {
        lock(&self.0).on_layer(layer, lo, hi)
    }

    /// The spatial layer arriving now (the last one switched to).
    pub fn current_layer(&self) -> Option<u8> {
        lock(&self.0).current()
    }

    /// Whether nothing arrived yet.
    pub fn is_empty(&self) -> bool {
        lock(&self.0).is_empty()
    }
}

impl PartialEq for ReceivedSeqs {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for ReceivedSeqs {}

/// One producer the peer created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerSnapshot {
    /// The server's producer id.
    pub id: String,
    /// Audio or video.
    pub kind: MediaKind,
    /// The SSRC str0m sends it with.
    pub ssrc: u32,
    /// Last score the server sent in `producerScore` (lowest encoding), if any.
    pub score: Option<u8>,
    /// The sequence number its next packet will carry: every packet below
    /// it has been generated (sent, or dropped on purpose). `None` before
    /// the first.
    pub next_seq: Option<u64>,
    /// A simulcast producer's streams, lowest spatial layer first (empty
    /// for a single stream).
    pub layers: Vec<ProducerLayer>,
    /// How many streams (encodings) mediasoup scored in its last
    /// `producerScore`: what it receives of this producer.
    pub scored_streams: usize,
}

impl ProducerSnapshot {
    /// A producer just created: no score and no packet yet.
    pub fn new(
        id: impl Into<String>,
        kind: MediaKind,
        ssrc: u32,
        layers: Vec<ProducerLayer>,
    ) -> Self {
        Self {
            id: id.into(),
            kind,
            ssrc,
            score: None,
            next_seq: None,
            layers,
            scored_streams: 0,
        }
    }
}

/// One spatial layer of a simulcast producer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerLayer {
    /// The SSRC str0m sends it with.
    pub ssrc: u32,
    /// Its next sequence number, like [`ProducerSnapshot::next_seq`].
    pub next_seq: Option<u64>,
}

/// One consumer the peer was offered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerSnapshot {
    /// The server's consumer id.
    pub id: String,
    /// The producer it carries.
    pub producer_id: String,
    /// The peer that publishes that producer.
    pub peer_id: String,
    /// Audio or video.
    pub kind: MediaKind,
    /// The SSRC the server sends it with.
    pub ssrc: u32,
    /// A consumer of a simulcast producer (it carries one layer at a time).
    pub simulcast: bool,
    /// The spatial layer it asked for, once the server accepted.
    pub preferred_layer: Option<u8>,
    /// What arrived.
    pub received: Counts,
    /// Which of the producer's packets arrived, by its sequence numbers.
    pub seqs: ReceivedSeqs,
    /// The server closed it (`consumerClosed` / `peerClosed`).
    pub closed: bool,
    /// The producer is paused (`consumerPaused`).
    pub paused: bool,
    /// Last score the server sent in `consumerScore`, if any.
    pub score: Option<u8>,
}

/// A consistent-enough copy of a peer's counters (each counter is read
/// atomically; the set is not a transaction).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerStatsSnapshot {
    /// Opus packets written to str0m.
    pub audio_sent: Counts,
    /// VP8 packets written to str0m.
    pub video_sent: Counts,
    /// VP8 keyframes sent (scheduled and requested).
    pub keyframes_sent: u64,
    /// Media frames made (an Opus packet, a VP8 frame of any layer).
    pub frames_made: u64,
    /// Media frames that were due but skipped: the peer's sending was
    /// stalled over half a second, so it never sent that load.
    pub frames_skipped: u64,
    /// PLI/FIR received on the sending transport.
    pub keyframe_requests: u64,
    /// NACKs received for our video (str0m's count).
    pub nacks_received: u64,
    /// VP8 packets resent on NACK (over RTX), beyond the originals.
    pub retransmissions: u64,
    /// Everything received, over all consumers.
    pub received: Counts,
    /// RTP packets whose SSRC matched no consumer (late packets of closed ones).
    pub unknown_ssrc_packets: u64,
    /// mediasoup's bandwidth probes received (reported in transport-cc
    /// feedback, never counted as media).
    pub probe_packets: u64,
    /// ICE + DTLS + SRTP up on the sending transport.
    pub send_connected: bool,
    /// ICE + DTLS + SRTP up on the receiving transport.
    pub recv_connected: bool,
    /// Producers created.
    pub producers: Vec<ProducerSnapshot>,
    /// Consumers offered, by consumer id.
    pub consumers: Vec<ConsumerSnapshot>,
    /// Why the signaling connection ended, once it has.
    pub disconnected: Option<String>,
}

impl PeerStatsSnapshot {
    /// The consumers carrying `peer_id`'s producers.
    pub fn consumers_of<'a>(
        &'a self,
        peer_id: &'a str,
    ) -> impl Iterator<Item = &'a ConsumerSnapshot> + 'a {
        self.consumers.iter().filter(move |c| c.peer_id == peer_id)
    }
}

#[derive(Debug, Default)]
pub(crate) struct Inner {
    pub(crate) audio_sent: Counter,
    pub(crate) video_sent: Counter,
    pub(crate) keyframes_sent: AtomicU64,
    pub(crate) frames_made: AtomicU64,
    pub(crate) frames_skipped: AtomicU64,
    pub(crate) keyframe_requests: AtomicU64,
    pub(crate) nacks_received: AtomicU64,
    pub(crate) retransmissions: AtomicU64,
    pub(crate) received: Counter,
    pub(crate) unknown_ssrc_packets: AtomicU64,
    pub(crate) probe_packets: AtomicU64,
    pub(crate) send_connected: AtomicBool,
    pub(crate) recv_connected: AtomicBool,
    producers: Mutex<Vec<ProducerSnapshot>>,
    /// Next sequence number per published SSRC (`u64::MAX`: none yet).
    next_seqs: Mutex<HashMap<u32, Arc<AtomicU64>>>,
    consumers: Mutex<BTreeMap<String, Arc<ConsumerCounters>>>,
    disconnected: Mutex<Option<String>>,
}

/// The live counters of one peer; cheap to clone, shared with its tasks.
#[derive(Debug, Clone, Default)]
pub struct PeerStats {
    pub(crate) inner: Arc<Inner>,
}

/// A poisoned lock only means another task panicked mid-update of plain
/// counters; the data is still worth reading.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl PeerStats {
    /// Copies every counter.
    pub fn snapshot(&self) -> PeerStatsSnapshot {
        let i = &self.inner;
        let score = |s: &AtomicU64| u8::try_from(s.load(Ordering::Relaxed)).ok();
        let consumers = lock(&i.consumers)
            .values()
            .map(|c| ConsumerSnapshot {
                id: c.id.clone(),
                producer_id: c.producer_id.clone(),
                peer_id: c.peer_id.clone(),
                kind: c.kind,
                ssrc: c.ssrc,
                simulcast: c.simulcast,
                preferred_layer: u8::try_from(c.preferred_layer.load(Ordering::Relaxed)).ok(),
                received: c.received.get(),
                seqs: c.seqs.clone(),
                closed: c.closed.load(Ordering::Relaxed),
                paused: c.paused.load(Ordering::Relaxed),
                score: score(&c.score),
            })
            .collect();
        PeerStatsSnapshot {
            audio_sent: i.audio_sent.get(),
            video_sent: i.video_sent.get(),
            keyframes_sent: i.keyframes_sent.load(Ordering::Relaxed),
            frames_made: i.frames_made.load(Ordering::Relaxed),
            frames_skipped: i.frames_skipped.load(Ordering::Relaxed),
            keyframe_requests: i.keyframe_requests.load(Ordering::Relaxed),
            nacks_received: i.nacks_received.load(Ordering::Relaxed),
            retransmissions: i.retransmissions.load(Ordering::Relaxed),
            received: i.received.get(),
            unknown_ssrc_packets: i.unknown_ssrc_packets.load(Ordering::Relaxed),
            probe_packets: i.probe_packets.load(Ordering::Relaxed),
            send_connected: i.send_connected.load(Ordering::Relaxed),
            recv_connected: i.recv_connected.load(Ordering::Relaxed),
            producers: self.producers(),
            consumers,
            disconnected: lock(&i.disconnected).clone(),
        }
    }

    fn producers(&self) -> Vec<ProducerSnapshot> {
        let next = lock(&self.inner.next_seqs);
        let mut producers = lock(&self.inner.producers).clone();
        let read = |ssrc: u32| {
            next.get(&ssrc)
                .map(|n| n.load(Ordering::Relaxed))
                .filter(|&n| n != u64::MAX)
        };
        for p in &mut producers {
            p.next_seq = read(p.ssrc);
            for l in &mut p.layers {
                l.next_seq = read(l.ssrc);
            }
        }
        producers
    }

    /// The slot where the sending task keeps `ssrc`'s next sequence number.
    pub(crate) fn next_seq_slot(&self, ssrc: u32) -> Arc<AtomicU64> {
        lock(&self.inner.next_seqs)
            .entry(ssrc)
            .or_insert_with(|| Arc::new(AtomicU64::new(u64::MAX)))
            .clone()
    }

    pub(crate) fn add_producer(&self, producer: ProducerSnapshot) {
        lock(&self.inner.producers).push(producer);
    }

    pub(crate) fn set_producer_score(&self, id: &str, score: u8, streams: usize) {
        if let Some(p) = lock(&self.inner.producers).iter_mut().find(|p| p.id == id) {
            p.score = Some(score);
            p.scored_streams = streams;
        }
    }

    pub(crate) fn add_consumer(&self, consumer: Arc<ConsumerCounters>) {
        lock(&self.inner.consumers).insert(consumer.id.clone(), consumer);
    }

    pub(crate) fn consumer(&self, id: &str) -> Option<Arc<ConsumerCounters>> {
        lock(&self.inner.consumers).get(id).cloned()
    }

    /// Ids of the open consumers of `peer_id`'s producers.
    pub(crate) fn open_consumers_of(&self, peer_id: &str) -> Vec<String> {
        lock(&self.inner.consumers)
            .values()
            .filter(|c| c.peer_id == peer_id && !c.closed.load(Ordering::Relaxed))
            .map(|c| c.id.clone())
            .collect()
    }

    pub(crate) fn set_disconnected(&self, reason: String) {
        *lock(&self.inner.disconnected) = Some(reason);
    }
}
