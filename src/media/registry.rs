//! Live mediasoup objects by id, for the parts of the shell that need the
//! handles themselves (stats collection, admin dumps). The World holds plain
//! data; this holds the handles. Entries leave when their object closes.
//!
//! The handles are weak: a mediasoup object closes when its last strong handle
//! is dropped, and only its owner (the peer's signaling state) may keep it alive.

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
    producers: Mutex<HashMap<ProducerId, (u64, WeakProducer)>>,
    consumers: Mutex<HashMap<ConsumerId, (u64, WeakConsumer)>>,
    created: AtomicU64,
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

    /// Tracks a producer until it closes.
    pub fn add_producer(self: &Arc<Self>, producer: &Producer) {
        let id = producer.id();
        let seq = self.created.fetch_add(1, Ordering::Relaxed);
        self.producers
            .lock()
            .insert(id, (seq, producer.downgrade()));
        let weak = Arc::downgrade(self);
        producer
            .on_close(move || {
                if let Some(registry) = weak.upgrade() {
                    registry.producers.lock().remove(&id);
                }
            })
            .detach();
    }

    /// Tracks a consumer until it closes.
    pub fn add_consumer(self: &Arc<Self>, consumer: &Consumer) {
        let id = consumer.id();
        let seq = self.created.fetch_add(1, Ordering::Relaxed);
        self.consumers
            .lock()
            .insert(id, (seq, consumer.downgrade()));
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

    /// Weak handles of the producers whose id `pick` accepts, for work that
    /// may outlast their owners' interest (a stats call must not keep a
    /// closing object alive).
    pub fn weak_producers(&self, pick: impl Fn(&ProducerId) -> bool) -> Vec<WeakProducer> {
        self.producers
            .lock()
            .iter()
            .filter(|(id, _)| pick(id))
            .map(|(_, (_, w))| w.clone())
            .collect()
    }

    /// Weak handles of the consumers whose id `pick` accepts (see
    /// [`MediaRegistry::weak_producers`]).
    pub fn weak_consumers(&self, pick: impl Fn(&ConsumerId) -> bool) -> Vec<WeakConsumer> {
        self.consumers
            .lock()
            .iter()
            .filter(|(id, _)| pick(id))
            .map(|(_, (_, w))| w.clone())
            .collect()
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
        self.producers.lock().get(id).and_then(|(_, w)| w.upgrade())
    }

    /// A live consumer by id.
    pub fn consumer(&self, id: &ConsumerId) -> Option<Consumer> {
        self.consumers.lock().get(id).and_then(|(_, w)| w.upgrade())
    }

    /// The most recently created live transport.
    pub fn newest_transport(&self) -> Option<WebRtcTransport> {
        newest(&self.transports.lock(), WeakWebRtcTransport::upgrade)
    }

    /// The most recently created live producer.
    pub fn newest_producer(&self) -> Option<Producer> {
        newest(&self.producers.lock(), WeakProducer::upgrade)
    }

    /// The most recently created live consumer.
    pub fn newest_consumer(&self) -> Option<Consumer> {
        newest(&self.consumers.lock(), WeakConsumer::upgrade)
    }
}

fn newest<K, W, T>(map: &HashMap<K, (u64, W)>, upgrade: impl Fn(&W) -> Option<T>) -> Option<T> {
    let mut live: Vec<&(u64, W)> = map.values().collect();
    live.sort_by_key(|(seq, _)| std::cmp::Reverse(*seq));
    live.into_iter().find_map(|(_, w)| upgrade(w))
}
