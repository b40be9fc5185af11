//! Live mediasoup objects by id, for the parts of the shell that need the
//! handles themselves (stats collection, admin dumps). The World holds plain
//! data; this holds the handles. Entries leave when their object closes.
//!
//! The handles are weak: a mediasoup object closes when its last strong handle
//! is dropped, and only its owner (the peer's signaling state) may keep it alive.

use std::collections::HashMap;
use std::sync::Arc;

use mediasoup::consumer::WeakConsumer;
use mediasoup::prelude::*;
use mediasoup::producer::WeakProducer;
use mediasoup::webrtc_transport::WeakWebRtcTransport;
use parking_lot::Mutex;

/// Producers, consumers and WebRTC transports that are alive.
#[derive(Default)]
pub struct MediaRegistry {
    transports: Mutex<HashMap<TransportId, WeakWebRtcTransport>>,
    producers: Mutex<HashMap<ProducerId, WeakProducer>>,
    consumers: Mutex<HashMap<ConsumerId, WeakConsumer>>,
}

impl MediaRegistry {
    /// A new, shared, empty registry.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Tracks a transport until it closes.
    pub fn add_transport(self: &Arc<Self>, transport: &WebRtcTransport) {
        let id = transport.id();
        self.transports.lock().insert(id, transport.downgrade());
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
        self.producers.lock().insert(id, producer.downgrade());
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
        self.consumers.lock().insert(id, consumer.downgrade());
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
            .filter_map(WeakWebRtcTransport::upgrade)
            .collect()
    }

    /// The live producers.
    pub fn producers(&self) -> Vec<Producer> {
        self.producers
            .lock()
            .values()
            .filter_map(WeakProducer::upgrade)
            .collect()
    }

    /// The live consumers.
    pub fn consumers(&self) -> Vec<Consumer> {
        self.consumers
            .lock()
            .values()
            .filter_map(WeakConsumer::upgrade)
            .collect()
    }

    /// A live transport by id.
    pub fn transport(&self, id: &TransportId) -> Option<WebRtcTransport> {
        self.transports
            .lock()
            .get(id)
            .and_then(WeakWebRtcTransport::upgrade)
    }

    /// A live producer by id.
    pub fn producer(&self, id: &ProducerId) -> Option<Producer> {
        self.producers
            .lock()
            .get(id)
            .and_then(WeakProducer::upgrade)
    }

    /// A live consumer by id.
    pub fn consumer(&self, id: &ConsumerId) -> Option<Consumer> {
        self.consumers
            .lock()
            .get(id)
            .and_then(WeakConsumer::upgrade)
    }
}
