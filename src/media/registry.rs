//! Live mediasoup objects by id, for the parts of the shell that need the
//! handles themselves (stats collection, admin dumps). The World holds plain
//! data; this holds the handles. Entries leave when their object closes.
//!
//! The handles are weak: a mediasoup object closes when its last strong handle
//! is dropped, and only its owner (the peer's signaling state) may keep it alive.
//!
//! Producers and consumers are listed in the exporter's order (by room, peer,
//! then id), so that a background stats slice asks objects whose series sit
//! side by side in a scrape, and the text a slice changes is one run of each
//! family rather than lines scattered over all of it.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use mediasoup::consumer::WeakConsumer;
use mediasoup::prelude::*;
use mediasoup::producer::WeakProducer;
use mediasoup::webrtc_transport::WeakWebRtcTransport;
use parking_lot::Mutex;

/// Producers, consumers and WebRTC transports that are alive, each with the
/// order it was created in (the admin socket's "newest").
#[derive(Default)]
pub struct MediaRegistry {
    transports: Mutex<HashMap<TransportId, (u64, WeakWebRtcTransport)>>,
    producers: Mutex<HashMap<ProducerId, Entry<WeakProducer>>>,
    consumers: Mutex<HashMap<ConsumerId, Entry<WeakConsumer>>>,
    created: AtomicU64,
}

/// The room and peer a producer or consumer belongs to: where its series
/// sit in a scrape.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Owner {
    room: Arc<str>,
    peer: Arc<str>,
}

impl Owner {
    /// The peer `peer` of room `room`.
    pub fn new(room: &str, peer: &str) -> Self {
        Self {
            room: room.into(),
            peer: peer.into(),
        }
    }
}

/// A registered producer or consumer.
struct Entry<W> {
    /// When it was registered: later ones have larger numbers.
    seq: u64,
    owner: Owner,
    handle: W,
}

/// A weak handle and when its object was registered.
pub struct Listed<W> {
    /// When it was registered (see [`MediaRegistry::weak_producers`]).
    pub seq: u64,
    /// The handle.
    pub handle: W,
}

impl MediaRegistry {
    /// A new, shared, empty registry.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Tracks a transport until it closes.
    pub fn add_transport(self: &Arc<Self>, transport: &WebRtcTransport) {
        let id = transport.id();
        let seq = self.created.fetch_add(1, Ordering::Relaxed);
        self.transports
            .lock()
            .insert(id, (seq, transport.downgrade()));
        let weak = Arc::downgrade(self);
        transport
            .on_close(Box::new(move || {
                if let Some(registry) = weak.upgrade() {
                    registry.transports.lock().remove(&id);
                }
            }))
            .detach();
    }

    /// Tracks a producer of `owner` until it closes.
    pub fn add_producer(self: &Arc<Self>, producer: &Producer, owner: Owner) {
        let id = producer.id();
        {
            // Numbered under the lock, so that a listing from a number on
            // never misses an entry numbered before a later one it saw.
            let mut producers = self.producers.lock();
            let seq = self.created.fetch_add(1, Ordering::Relaxed);
            let handle = producer.downgrade();
            producers.insert(id, Entry { seq, owner, handle });
        }
        let weak = Arc::downgrade(self);
        producer
            .on_close(move || {
                if let Some(registry) = weak.upgrade() {
                    registry.producers.lock().remove(&id);
                }
            })
            .detach();
    }

    /// Tracks a consumer of `owner` until it closes.
    pub fn add_consumer(self: &Arc<Self>, consumer: &Consumer, owner: Owner) {
        let id = consumer.id();
        {
            // Numbered under the lock, so that a listing from a number on
            // never misses an entry numbered before a later one it saw.
            let mut consumers = self.consumers.lock();
            let seq = self.created.fetch_add(1, Ordering::Relaxed);
            let handle = consumer.downgrade();
            consumers.insert(id, Entry { seq, owner, handle });
        }
        let weak = Arc::downgrade(self);
        consumer
            .on_close(move || {
                if let Some(registry) = weak.upgrade() {
                    registry.consumers.lock().remove(&id);
                }
            })
            .detach();
    }

    /// The live WebRTC transports.
    pub fn transports(&self) -> Vec<WebRtcTransport> {
        self.transports
            .lock()
            .values()
            .filter_map(|(_, w)| w.upgrade())
            .collect()
    }

    /// Weak handles of the producers registered as number `from` or later
    /// (`0`: all), in the exporter's order (room, peer, id), for work that may
    /// outlast their owners' interest (a stats call must not keep a closing
    /// object alive).
    pub fn weak_producers(&self, from: u64) -> Vec<Listed<WeakProducer>> {
        in_order(&self.producers.lock(), from)
    }

    /// Weak handles of the consumers registered as number `from` or later,
    /// in the exporter's order (see [`MediaRegistry::weak_producers`]).
    pub fn weak_consumers(&self, from: u64) -> Vec<Listed<WeakConsumer>> {
        in_order(&self.consumers.lock(), from)
    }

    /// A live transport by id.
    pub fn transport(&self, id: &TransportId) -> Option<WebRtcTransport> {
        self.transports
            .lock()
            .get(id)
            .and_then(|(_, w)| w.upgrade())
    }

    /// A live producer by id.
    pub fn producer(&self, id: &ProducerId) -> Option<Producer> {
        self.producers
            .lock()
            .get(id)
            .and_then(|e| e.handle.upgrade())
    }

    /// A live consumer by id.
    pub fn consumer(&self, id: &ConsumerId) -> Option<Consumer> {
        self.consumers
            .lock()
            .get(id)
            .and_then(|e| e.handle.upgrade())
    }

    /// The most recently created live transport.
    pub fn newest_transport(&self) -> Option<WebRtcTransport> {
        let transports = self.transports.lock();
        let entries = transports.values().map(|(seq, w)| (*seq, w));
        newest(entries, WeakWebRtcTransport::upgrade)
    }

    /// The most recently created live producer.
    pub fn newest_producer(&self) -> Option<Producer> {
        let producers = self.producers.lock();
        let entries = producers.values().map(|e| (e.seq, &e.handle));
        newest(entries, WeakProducer::upgrade)
    }

    /// The most recently created live consumer.
    pub fn newest_consumer(&self) -> Option<Consumer> {
        let consumers = self.consumers.lock();
        let entries = consumers.values().map(|e| (e.seq, &e.handle));
        newest(entries, WeakConsumer::upgrade)
    }
}

fn newest<'a, W: 'a, T>(
    entries: impl Iterator<Item = (u64, &'a W)>,
    upgrade: impl Fn(&W) -> Option<T>,
) -> Option<T> {
    let mut live: Vec<(u64, &W)> = entries.collect();
    live.sort_by_key(|(seq, _)| std::cmp::Reverse(*seq));
    live.into_iter().find_map(|(_, w)| upgrade(w))
}

/// The entries numbered `from` or later, by owner then id.
fn in_order<K: Ord + Copy, W: Clone>(map: &HashMap<K, Entry<W>>, from: u64) -> Vec<Listed<W>> {
    let mut picked: Vec<(&Owner, K, &Entry<W>)> = map
        .iter()
        .filter(|(_, e)| e.seq >= from)
        .map(|(id, e)| (&e.owner, *id, e))
        .collect();
    picked.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    picked
        .into_iter()
        .map(|(_, _, e)| Listed {
            seq: e.seq,
            handle: e.handle.clone(),
        })
        .collect()
}
