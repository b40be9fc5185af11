//! One background round's plan: the producers and consumers listed at its
//! start in the exporter's order, cut into the pacer's runs, and the objects
//! registered since, asked at the next slice so that a new object's first
//! stats never wait for the next round.

use mediasoup::consumer::WeakConsumer;
use mediasoup::producer::WeakProducer;

use super::Pacer;
use crate::media::registry::{Listed, MediaRegistry};

/// What a round asks, slice by slice.
pub struct Round {
    producers: Vec<WeakProducer>,
    consumers: Vec<WeakConsumer>,
    /// The first registration number of each kind not yet listed.
    producers_from: u64,
    consumers_from: u64,
}

/// The objects one slice asks.
pub struct Slice {
    /// The producers to ask.
    pub producers: Vec<WeakProducer>,
    /// The consumers to ask.
    pub consumers: Vec<WeakConsumer>,
}

impl Round {
    /// Lists every live producer and consumer of `registry`.
    pub fn start(registry: &MediaRegistry) -> Self {
        let (producers, producers_from) = handles(registry.weak_producers(0), 0);
        let (consumers, consumers_from) = handles(registry.weak_consumers(0), 0);
        Self {
            producers,
            consumers,
            producers_from,
            consumers_from,
        }
    }

    /// Slice `k` of the round: its run of the objects listed at the start,
    /// and every object registered since the last slice.
    pub fn slice(&mut self, k: u32, pacer: &Pacer, registry: &MediaRegistry) -> Slice {
        let (mut producers, from) = handles(
            registry.weak_producers(self.producers_from),
            self.producers_from,
        );
        self.producers_from = from;
        let (mut consumers, from) = handles(
            registry.weak_consumers(self.consumers_from),
            self.consumers_from,
        );
        self.consumers_from = from;
        let run = pacer.run(k, self.producers.len());
        producers.extend_from_slice(&self.producers[run]);
        let run = pacer.run(k, self.consumers.len());
        consumers.extend_from_slice(&self.consumers[run]);
        Slice {
            producers,
            consumers,
        }
    }
}

/// The handles listed, and the first number after the last of them (`from`
/// if none was listed: numbers only grow).
fn handles<W>(listed: Vec<Listed<W>>, from: u64) -> (Vec<W>, u64) {
    let next = listed.iter().map(|l| l.seq + 1).max().unwrap_or(from);
    (listed.into_iter().map(|l| l.handle).collect(), next)
}
