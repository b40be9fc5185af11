//! A room across workers: its routers, one per worker it spans, where a new
//! peer of the room goes, and opening a router for a room.
//!
//! A room starts with one router on the least-loaded worker. While one of its
//! routers carries fewer consumers than `rooms.consumers_per_router`, a new
//! peer goes to the least-loaded of them; once all are at the threshold, the
//! room opens a router on the least-loaded worker it does not use yet (when
//! there is one). Producers are piped between the room's routers as peers
//! consume them ([`crate::media::pipes`]).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use ejtimaa_systems::WorldEvent;
use ejtimaa_systems::export::Limit;
use mediasoup::prelude::*;
use parking_lot::Mutex;

use super::protocol::SignalingError;
use crate::engine::EngineHandle;
use crate::media::pipes::{Pipes, observe_pipe_transports};
use crate::media::workers::{PoolWorker, WorkerPool};

/// One router of a room, on one worker.
pub struct RoomRouter {
    /// The router.
    pub router: Router,
    /// The worker it is on.
    pub worker: Arc<PoolWorker>,
    /// Consumers of the room's peers on it: its load.
    consumers: Arc<AtomicUsize>,
}

impl RoomRouter {
    /// Consumers of the room's peers on it.
    pub fn consumers(&self) -> usize {
        self.consumers.load(Ordering::Relaxed)
    }

    /// Counts `consumer` (created on this router) until it closes.
    pub fn count_consumer(&self, consumer: &Consumer) {
        self.consumers.fetch_add(1, Ordering::Relaxed);
        let count = Arc::downgrade(&self.consumers);
        consumer
            .on_close(move || {
                if let Some(count) = count.upgrade() {
                    count.fetch_sub(1, Ordering::Relaxed);
                }
            })
            .detach();
    }
}

/// Where the next peer of a room goes.
#[derive(Debug, PartialEq, Eq)]
pub enum Placement {
    /// On the room's router at this index.
    Existing(usize),
    /// On a new router of the room, on another worker.
    Spread,
}

/// Places the next peer of a room whose routers carry `consumers` (in the
/// room's order), with `threshold` consumers per router (0: never spread),
/// when a worker the room does not use yet is free (`can_spread`).
pub fn place(consumers: &[usize], threshold: usize, can_spread: bool) -> Placement {
    let least = consumers
        .iter()
        .enumerate()
        .min_by_key(|(i, load)| (**load, *i))
        .map(|(i, load)| (i, *load));
    match least {
        Some((i, load)) if threshold == 0 || load < threshold || !can_spread => {
            Placement::Existing(i)
        }
        _ => Placement::Spread,
    }
}

/// The routers of one room, its first first; empty once the room closed.
#[derive(Default)]
pub struct RoomRouters {
    list: Mutex<Vec<Arc<RoomRouter>>>,
    /// One placement at a time, so that two peers arriving together do not
    /// both open a router.
    placing: tokio::sync::Mutex<()>,
    /// The producers piped between them.
    pub pipes: Pipes,
}

impl RoomRouters {
    /// A room's routers, starting with `first`.
    pub fn new(first: Arc<RoomRouter>) -> Self {
        Self {
            list: Mutex::new(vec![first]),
            ..Self::default()
        }
    }

    /// The room's first router, unless the room closed.
    pub fn first(&self) -> Option<Arc<RoomRouter>> {
        self.list.lock().first().cloned()
    }

    /// All its routers.
    pub fn all(&self) -> Vec<Arc<RoomRouter>> {
        self.list.lock().clone()
    }

    /// Whether one of its routers is on `worker`.
    pub fn on_worker(&self, worker: &PoolWorker) -> bool {
        self.list
            .lock()
            .iter()
            .any(|r| std::ptr::eq(Arc::as_ptr(&r.worker), worker))
    }

    /// Takes every router out (the room closed): dropping them closes them,
    /// with their transports and pipes.
    pub fn take(&self) -> Vec<Arc<RoomRouter>> {
        self.pipes.clear();
        std::mem::take(&mut *self.list.lock())
    }

    /// The router for a new peer of room `room` (see [`place`]); opens one on
    /// another worker when the room spreads.
    pub async fn place(
        &self,
        room: &str,
        opener: &RouterOpener,
    ) -> Result<Weak<RoomRouter>, SignalingError> {
        let _turn = self.placing.lock().await;
        let (loads, used): (Vec<usize>, Vec<Arc<PoolWorker>>) = {
            let list = self.list.lock();
            if list.is_empty() {
                return Err(SignalingError::Closed);
            }
            list.iter()
                .map(|r| (r.consumers(), Arc::clone(&r.worker)))
                .unzip()
        };
        let free = opener.pool.least_loaded_except(&used);
        match place(&loads, opener.consumers_per_router, free.is_some()) {
            Placement::Existing(i) => self
                .list
                .lock()
                .get(i)
                .map(Arc::downgrade)
                .ok_or(SignalingError::Closed),
            Placement::Spread => {
                let worker = free.ok_or(SignalingError::Closed)?;
                let router = opener.open(room, worker, false).await?;
                let weak = Arc::downgrade(&router);
                let mut list = self.list.lock();
                if list.is_empty() {
                    return Err(SignalingError::Closed); // closed meanwhile: dropped here
                }
                tracing::info!(
                    room,
                    worker = router.worker.index,
                    routers = list.len() + 1,
                    "room spread to another worker"
                );
                list.push(router);
                Ok(weak)
            }
        }
    }
}

/// Opens routers for rooms on the pool's workers and reports them.
pub struct RouterOpener {
    /// The workers.
    pub pool: Arc<WorkerPool>,
    /// Where the World hears of routers and pipe transports.
    pub engine: EngineHandle,
    /// The codecs every router offers.
    pub codecs: Vec<RtpCodecCapability>,
    /// How long a worker may take to create a router.
    pub timeout: Duration,
    /// `rooms.consumers_per_router`.
    pub consumers_per_router: usize,
}

impl RouterOpener {
    /// Opens a router of room `room` on `worker`: its first (`first`, which
    /// the caller reports as `RoomOpened`) or a further one (reported here).
    pub async fn open(
        &self,
        room: &str,
        worker: Arc<PoolWorker>,
        first: bool,
    ) -> Result<Arc<RoomRouter>, SignalingError> {
        let creating = worker
            .worker
            .create_router(RouterOptions::new(self.codecs.clone()));
        let router = tokio::time::timeout(self.timeout, creating)
            .await
            .map_err(|_| {
                tracing::warn!(room, worker = worker.index, "router creation timed out");
                SignalingError::limit(
                    Limit::RequestTimeout,
                    format!(
                        "the media worker did not open the room within {:?}",
                        self.timeout
                    ),
                )
            })?
            .map_err(SignalingError::media)?;
        worker.routers.fetch_add(1, Ordering::Relaxed);
        let w = Arc::clone(&worker);
        router
            .on_close(move || {
                w.routers.fetch_sub(1, Ordering::Relaxed);
            })
            .detach();
        observe_pipe_transports(&self.engine, &router, room, &worker.worker);
        if !first {
            let id: ejtimaa_systems::RouterId = router.id().to_string().into();
            self.engine.send(WorldEvent::RouterOpened {
                router: id.clone(),
                room: room.into(),
                worker: worker.worker.id().to_string().into(),
            });
            let engine = self.engine.clone();
            router
                .on_close(move || engine.send(WorldEvent::RouterClosed { router: id }))
                .detach();
        }
        Ok(Arc::new(RoomRouter {
            router,
            worker,
            consumers: Arc::new(AtomicUsize::new(0)),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_room_stays_on_its_router_below_the_threshold() {
        assert_eq!(place(&[0], 10, true), Placement::Existing(0));
        assert_eq!(place(&[9], 10, true), Placement::Existing(0));
    }

    #[test]
    fn a_room_at_the_threshold_spreads_when_a_worker_is_free() {
        assert_eq!(place(&[10], 10, true), Placement::Spread);
        assert_eq!(place(&[10], 10, false), Placement::Existing(0));
        assert_eq!(place(&[12, 11], 10, true), Placement::Spread);
    }

    #[test]
    fn the_least_loaded_router_takes_the_peer() {
        assert_eq!(place(&[12, 3], 10, true), Placement::Existing(1));
        // Every router full and no worker left: the least loaded still.
        assert_eq!(place(&[30, 12, 20], 10, false), Placement::Existing(1));
        // Ties go to the room's earlier router.
        assert_eq!(place(&[4, 4], 10, true), Placement::Existing(0));
    }

    #[test]
    fn zero_never_spreads() {
        assert_eq!(place(&[1_000_000], 0, true), Placement::Existing(0));
    }
}
