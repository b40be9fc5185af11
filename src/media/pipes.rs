//! Producers piped between the routers of one room, which sit on different
//! workers (mediasoup's `pipe_producer_to_router`): a producer is piped to a
//! router the first time a peer there consumes it, once per producer and
//! router. The piped copy keeps the original's id, follows its pauses and
//! closes with it; mediasoup keeps one pipe transport pair per pair of
//! routers, which closes with the routers.

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use ejtimaa_systems::{RoomId, WorkerId, WorldEvent};
use mediasoup::prelude::*;
use mediasoup::router::{NewTransport, PipeProducerToRouterError, RouterId};
use parking_lot::Mutex;
use tokio::sync::OnceCell;

use crate::engine::EngineHandle;

/// One piping of one producer to one router, done at most once.
type Piping = Arc<OnceCell<()>>;

/// The pipings of one room, by (original producer, target router).
type PipingMap = Mutex<HashMap<(ProducerId, RouterId), Piping>>;

/// The producers a room has piped, so that each goes to each router once.
#[derive(Default)]
pub struct Pipes {
    piped: Arc<PipingMap>,
}

impl Pipes {
    /// Makes `producer`, on `from`, consumable on `to`: pipes it the first
    /// time, waits for a piping under way, does nothing once it is done. A
    /// failed piping is tried again by the next caller.
    pub async fn ensure(
        &self,
        producer: &Producer,
        from: &Router,
        to: &Router,
    ) -> Result<(), PipeProducerToRouterError> {
        if from.id() == to.id() {
            return Ok(());
        }
        let key = (producer.id(), to.id());
        let piping = Arc::clone(self.piped.lock().entry(key).or_default());
        piping
            .get_or_try_init(|| async {
                let mut options = PipeToRouterOptions::new(to.clone());
                // Media only: no data channels cross the pipe.
                options.enable_sctp = false;
                // The pair is dropped: mediasoup then ties the piped copy's
                // life to the original producer's.
                from.pipe_producer_to_router(producer.id(), options).await?;
                self.forget_on_close(producer);
                Ok(())
            })
            .await
            .map(|_| ())
    }

    /// Drops a producer's entries when it closes (its piped copies close
    /// with it in mediasoup).
    fn forget_on_close(&self, producer: &Producer) {
        let piped: Weak<PipingMap> = Arc::downgrade(&self.piped);
        let id = producer.id();
        producer
            .on_close(move || {
                if let Some(piped) = piped.upgrade() {
                    piped.lock().retain(|(p, _), _| *p != id);
                }
            })
            .detach();
    }

    /// Forgets every piping (the room closed).
    pub fn clear(&self) {
        self.piped.lock().clear();
    }

    /// How many producer-to-router pipings are done or under way.
    pub fn len(&self) -> usize {
        self.piped.lock().len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Reports each pipe transport mediasoup creates on `router` (a router of
/// `room` on `worker`) to the World, and its close.
pub fn observe_pipe_transports(
    engine: &EngineHandle,
    router: &Router,
    room: &str,
    worker: &Worker,
) {
    let engine = engine.clone();
    let room: RoomId = room.into();
    let worker: WorkerId = worker.id().to_string().into();
    router
        .on_new_transport(move |transport| {
            let NewTransport::Pipe(pipe) = transport else {
                return;
            };
            let id: ejtimaa_systems::TransportId = pipe.id().to_string().into();
            engine.send(WorldEvent::PipeTransportCreated {
                transport: id.clone(),
                room: room.clone(),
                worker: worker.clone(),
            });
            let e = engine.clone();
            pipe.on_close(Box::new(move || {
                e.send(WorldEvent::TransportClosed { transport: id })
            }))
            .detach();
        })
        .detach();
}
