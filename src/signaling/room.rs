//! Rooms: a mediasoup router on the least-loaded worker, and more on other
//! workers when the room grows (see `spread`); opened when the first peer
//! connects, closed a grace period after the last one leaves.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use ejtimaa_systems::WorldEvent;
use ejtimaa_systems::export::Limit;
use mediasoup::prelude::*;
use parking_lot::Mutex;

use super::peer::Peer;
use super::protocol::SignalingError;
use super::spread::{RoomRouter, RoomRouters, RouterOpener};
use super::turns::Turns;
use crate::engine::EngineHandle;
use crate::media::codecs::media_codecs;
use crate::media::workers::{PoolWorker, WorkerPool};

/// A room.
pub struct Room {
    /// Its id (from the clients).
    pub id: String,
    /// Its routers, one per worker it spans, until the room closes (dropping
    /// the last handle closes each in mediasoup, whoever still holds the room).
    pub routers: RoomRouters,
    /// The worker of its first router.
    pub worker: Arc<PoolWorker>,
    /// Connected peers by id.
    pub peers: Mutex<BTreeMap<String, Arc<Peer>>>,
    /// Opening order among all rooms (the admin socket's "newest").
    pub opened: u64,
    /// Bumped whenever the room becomes empty, so that a stale close timer
    /// can tell the room was used again meanwhile.
    emptied: AtomicU64,
    closed: AtomicBool,
}

impl Room {
    /// The other joined peers.
    pub fn joined_peers_except(&self, peer_id: &str) -> Vec<Arc<Peer>> {
        self.peers
            .lock()
            .values()
            .filter(|p| p.id != peer_id && p.is_joined())
            .cloned()
            .collect()
    }

    /// Its first router, unless the room closed.
    pub fn router(&self) -> Result<Router, SignalingError> {
        self.routers
            .first()
            .map(|r| r.router.clone())
            .ok_or(SignalingError::Closed)
    }

    /// Whether the room was closed.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

/// All open rooms.
pub struct Rooms {
    rooms: Mutex<HashMap<String, Arc<Room>>>,
    /// Rooms being opened, counted against `max_rooms` with the open ones.
    opening: Mutex<usize>,
    /// One opening per room id, so that two peers of a new room share one
    /// router while other rooms open side by side.
    gates: Turns,
    opened: AtomicU64,
    engine: EngineHandle,
    /// Opens the rooms' routers.
    opener: RouterOpener,
    max_rooms: usize,
    grace: Duration,
    /// Told the id of each room that closes (the cluster gives up its claim).
    closed_hook: OnceLock<ClosedHook>,
}

/// See [`Rooms::on_close`].
pub type ClosedHook = Box<dyn Fn(&str) + Send + Sync>;

impl Rooms {
    /// No rooms yet.
    pub fn new(
        pool: Arc<WorkerPool>,
        engine: EngineHandle,
        config: &crate::config::Config,
    ) -> Arc<Self> {
        Arc::new(Self {
            rooms: Mutex::new(HashMap::new()),
            opening: Mutex::new(0),
            gates: Turns::default(),
            opened: AtomicU64::new(0),
            opener: RouterOpener {
                pool,
                engine: engine.clone(),
                codecs: media_codecs(&config.mediasoup.codecs),
                timeout: config.limits.request_timeout(),
                consumers_per_router: config.rooms.consumers_per_router,
            },
            engine,
            max_rooms: config.limits.max_rooms,
            grace: Duration::from_millis(config.rooms.empty_grace_ms),
            closed_hook: OnceLock::new(),
        })
    }

    /// Calls `hook` with the id of every room that closes from now on (set
    /// once; later calls are ignored).
    pub fn on_close(&self, hook: ClosedHook) {
        let _ = self.closed_hook.set(hook);
    }

    /// The open room `id`, created if needed.
    pub async fn get_or_create(&self, id: &str) -> Result<Arc<Room>, SignalingError> {
        if let Some(room) = self.get(id) {
            return Ok(room);
        }
        let _turn = self.gates.turn(id).await;
        if let Some(room) = self.get(id) {
            return Ok(room);
        }
        let place = self.reserve_place()?;
        let worker = self
            .opener
            .pool
            .least_loaded()
            .ok_or_else(|| SignalingError::Media("no mediasoup worker available".into()))?;
        let router = self.opener.open(id, worker, true).await?;
        self.engine.send(WorldEvent::RoomOpened {
            room: id.into(),
            worker: router.worker.worker.id().to_string().into(),
        });
        let worker = Arc::clone(&router.worker);
        let room = Arc::new(Room {
            id: id.to_string(),
            routers: RoomRouters::new(router),
            worker,
            opened: self.opened.fetch_add(1, Ordering::Relaxed),
            peers: Mutex::new(BTreeMap::new()),
            emptied: AtomicU64::new(0),
            closed: AtomicBool::new(false),
        });
        {
            // Counted as open instead of opening, both under the map's lock.
            let mut rooms = self.rooms.lock();
            rooms.insert(id.to_string(), Arc::clone(&room));
            drop(place);
        }
        tracing::info!(room = id, worker = room.worker.index, "room opened");
        Ok(room)
    }

    /// A place for one more room under `max_rooms`, counting the rooms
    /// being opened; given back when the opening ends, either way.
    fn reserve_place(&self) -> Result<OpeningPlace<'_>, SignalingError> {
        let rooms = self.rooms.lock();
        let mut opening = self.opening.lock();
        if rooms.len() + *opening >= self.max_rooms {
            return Err(SignalingError::limit(
                Limit::Rooms,
                format!("at most {} rooms", self.max_rooms),
            ));
        }
        *opening += 1;
        Ok(OpeningPlace(&self.opening))
    }

    /// The open room `id`.
    pub fn get(&self, id: &str) -> Option<Arc<Room>> {
        self.rooms
            .lock()
            .get(id)
            .filter(|r| !r.is_closed())
            .cloned()
    }

    /// The room `id` if it is still the opening `opened` (closed or not,
    /// until it is dropped from the directory).
    pub fn find(&self, id: &str, opened: u64) -> Option<Arc<Room>> {
        self.rooms
            .lock()
            .get(id)
            .filter(|r| r.opened == opened)
            .cloned()
    }

    /// All open rooms.
    pub fn all(&self) -> Vec<Arc<Room>> {
        self.rooms.lock().values().cloned().collect()
    }

    /// Called when a peer left: an empty room closes after the grace period,
    /// unless someone joined meanwhile.
    pub fn peer_left(self: &Arc<Self>, room: &Arc<Room>) {
        if !room.peers.lock().is_empty() {
            return;
        }
        let generation = room.emptied.fetch_add(1, Ordering::AcqRel) + 1;
        let rooms = Arc::clone(self);
        let room = Arc::clone(room);
        let grace = self.grace;
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            if room.emptied.load(Ordering::Acquire) == generation {
                rooms.close_if_empty(&room);
            }
        });
    }

    /// Closes a room that is (still) empty.
    pub fn close_if_empty(&self, room: &Arc<Room>) {
        let rooms = self.rooms.lock();
        // The room is marked closed while its member list is locked: a
        // connecting peer, which checks the mark under the same lock, either
        // got in first (and the room stays) or sees it closed and opens a
        // new one.
        let members = room.peers.lock();
        if members.is_empty() {
            self.close_locked(rooms, room);
        }
        drop(members);
    }

    /// Closes a room now, whoever is in it (its worker died, or shutdown);
    /// the caller disconnects its peers. Its router goes with its last handle.
    pub fn close(&self, room: &Arc<Room>) {
        let rooms = self.rooms.lock();
        self.close_locked(rooms, room);
    }

    fn close_locked(
        &self,
        mut rooms: parking_lot::MutexGuard<'_, HashMap<String, Arc<Room>>>,
        room: &Arc<Room>,
    ) {
        if room.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        if rooms.get(&room.id).is_some_and(|r| Arc::ptr_eq(r, room)) {
            rooms.remove(&room.id);
        }
        // Sent here, under the map's lock, so that it reaches the engine before
        // the RoomOpened of a successor room with the same id.
        self.engine.send(WorldEvent::RoomClosed {
            room: room.id.as_str().into(),
        });
        drop(rooms);
        drop(room.routers.take());
        tracing::info!(room = %room.id, "room closed");
        if let Some(hook) = self.closed_hook.get() {
            hook(&room.id);
        }
    }

    /// Rooms with a router on `worker`.
    pub fn on_worker(&self, worker: &PoolWorker) -> Vec<Arc<Room>> {
        self.rooms
            .lock()
            .values()
            .filter(|r| r.routers.on_worker(worker))
            .cloned()
            .collect()
    }

    /// The router of `room` for a new peer: one of its routers, or a new
    /// one on another worker once they are loaded (see `spread`).
    pub async fn place(&self, room: &Room) -> Result<Weak<RoomRouter>, SignalingError> {
        room.routers.place(&room.id, &self.opener).await
    }
}

/// A room being opened, counted against `max_rooms` until dropped (by then
/// the room is in the directory, or its opening failed).
struct OpeningPlace<'a>(&'a Mutex<usize>);

impl Drop for OpeningPlace<'_> {
    fn drop(&mut self) {
        *self.0.lock() -= 1;
    }
}
