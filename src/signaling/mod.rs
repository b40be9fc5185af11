//! socket.io signaling (socketioxide on axum), in the original's message shapes.
//!
//! A client connects with `roomId` and `peerId` in the handshake query; its
//! User-Agent header becomes the peer's user agent. With an `[auth]` secret
//! it must also present a join token for that room and peer id. The
//! connection puts it in the room (opening the room if needed); `join` makes
//! it a visible peer.

mod admit;
mod auth;
mod bucket;
mod consume;
pub mod decode;
mod gate;
mod handlers;
pub mod method;
mod overflow;
mod peer;
pub mod protocol;
mod refusals;
mod room;
mod spread;
mod turns;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ejtimaa_systems::WorldEvent;
use ejtimaa_systems::export::{Limit, LimitRefusals};
use parking_lot::Mutex;
use serde_json::{Value, json};
use socketioxide::SocketIo;
use socketioxide::extract::{AckSender, SocketRef, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::layer::SocketIoLayer;
use socketioxide::socket::DisconnectReason;

use crate::cluster::Cluster;
use crate::config::Config;
use crate::engine::EngineHandle;
use crate::media::observe::AddressHook;
use crate::media::registry::MediaRegistry;
use crate::media::workers::{PoolWorker, WorkerPool};
use auth::TokenGate;
use decode::Call;
use ejtimaa_systems::export::AuthFigures;
use ejtimaa_token::JoinSecret;
use method::{Method, MethodTally};
use overflow::{OverflowQueue, Overflows};
use peer::{LiveCount, Peer, PeerState, SocketPeer};
use protocol::SignalingError;
pub use refusals::RefusalTally;
pub use room::{Room, Rooms};
pub use spread::{RoomRouter, RoomRouters};

/// Longest room or peer id accepted in the handshake.
const MAX_ID_LEN: usize = 256;

/// Everything the signaling handlers share.
pub struct Signaling {
    config: Config,
    engine: EngineHandle,
    registry: Arc<MediaRegistry>,
    address_hook: Option<AddressHook>,
    /// Open rooms.
    pub rooms: Arc<Rooms>,
    /// Connected peers by id, across rooms (ids are unique server-wide).
    peers: Mutex<HashMap<String, Arc<Peer>>>,
    /// Admissions take turns per peer id: a second connection with an id
    /// waits until the first is in, and then replaces it as a reconnect.
    admitting: turns::Turns,
    /// Requests and errors per method, for the exporter.
    tally: MethodTally,
    /// What each limit refused, for the exporter.
    refusals: RefusalTally,
    /// The join-token check.
    gate: TokenGate,
    /// Where sockets whose outgoing queue overflowed are sent for eviction.
    overflows: Overflows,
    /// Peer objects alive.
    live_peers: LiveCount,
    /// The cluster this node is part of, if any.
    cluster: Option<Arc<Cluster>>,
}

impl Signaling {
    /// Signaling over `pool`'s workers; with `secret`, clients need a join
    /// token signed with it; with `cluster`, rooms are placed through its
    /// directory.
    pub fn new(
        config: &Config,
        engine: EngineHandle,
        pool: Arc<WorkerPool>,
        registry: Arc<MediaRegistry>,
        address_hook: Option<AddressHook>,
        secret: Option<JoinSecret>,
        cluster: Option<Arc<Cluster>>,
    ) -> Arc<Self> {
        let (overflows, queue) = Overflows::new();
        let rooms = Rooms::new(pool, engine.clone(), config);
        if let Some(cluster) = &cluster {
            rooms.on_close(release_hook(cluster, &rooms));
        }
        let signaling = Arc::new(Self {
            config: config.clone(),
            cluster,
            rooms,
            engine,
            registry,
            address_hook,
            peers: Mutex::new(HashMap::new()),
            admitting: turns::Turns::default(),
            tally: MethodTally::default(),
            refusals: RefusalTally::default(),
            gate: TokenGate::new(secret),
            overflows,
            live_peers: LiveCount::default(),
        });
        tokio::spawn(evict_overflowed(Arc::downgrade(&signaling), queue));
        signaling
    }

    /// The socket.io layer to mount on the HTTP router.
    pub fn layer(self: &Arc<Self>) -> (SocketIoLayer, SocketIo) {
        let limit = self.config.limits.max_message_bytes;
        // The transport refuses (closes on) messages far over the limit; those
        // merely over it get an error ack from `on_request`.
        let hard_limit = (limit.saturating_mul(4)).max(1 << 20);
        let (layer, io) = SocketIo::builder()
            .max_payload(hard_limit as u64)
            .ws_max_message_size(hard_limit)
            .ack_timeout(Duration::from_secs(10))
            .max_buffer_size(self.config.limits.max_queued_messages)
            .build_layer();
        let ctx = Arc::clone(self);
        let middleware = move |socket: SocketRef, TryData(auth): TryData<Value>| {
            let ctx = Arc::clone(&ctx);
            async move {
                let admitted = admit::admit(socket, auth.ok(), Arc::clone(&ctx)).await;
                if let Err(e) = &admitted {
                    ctx.refusals.record(e);
                }
                admitted
            }
        };
        io.ns("/", on_connect.with(middleware));
        (layer, io)
    }

    /// The live mediasoup handles.
    pub fn registry(&self) -> &Arc<MediaRegistry> {
        &self.registry
    }

    /// Requests and errors so far, per method.
    pub fn method_counts(&self) -> Vec<ejtimaa_systems::export::MethodCounts> {
        self.tally.snapshot()
    }

    /// How long requests took so far, per method (same order).
    pub fn method_latencies(&self) -> Vec<ejtimaa_systems::export::MethodLatency> {
        self.tally.latencies()
    }

    /// What each limit refused so far.
    pub fn limit_refusals(&self) -> LimitRefusals {
        self.refusals.snapshot()
    }

    /// Whether join tokens are required, and what they refused so far.
    pub fn auth_figures(&self) -> AuthFigures {
        self.gate.figures()
    }

    /// Connected peers.
    pub fn peer_count(&self) -> usize {
        self.peers.lock().len()
    }

    /// Peer objects alive, connected or not: once every peer has gone, more
    /// than zero is a leak (something still holds a peer, and its socket).
    pub fn peer_objects(&self) -> usize {
        self.live_peers.count()
    }

    /// Disconnects every peer in rooms on a dead worker and closes the rooms.
    pub fn worker_died(&self, worker: &PoolWorker) {
        for room in self.rooms.on_worker(worker) {
            tracing::warn!(room = %room.id, "closing room: its worker died");
            let peers: Vec<Arc<Peer>> = room.peers.lock().values().cloned().collect();
            for peer in peers {
                peer.notify("roomClosed", json!({ "reason": "media worker died" }));
                self.close_peer(&peer);
                let _ = peer.socket.clone().disconnect();
            }
            self.rooms.close(&room);
        }
    }

    /// Tells every peer the server is going away and disconnects it.
    pub fn shutdown(&self) {
        let peers: Vec<Arc<Peer>> = self.peers.lock().values().cloned().collect();
        for peer in peers {
            peer.notify("roomClosed", json!({ "reason": "server shutting down" }));
            self.close_peer(&peer);
            let _ = peer.socket.clone().disconnect();
        }
        for room in self.rooms.all() {
            self.rooms.close(&room);
        }
    }

    /// Removes a peer and closes everything it owns; tells the others.
    /// A peer's room, unless it is gone.
    pub fn room_of(&self, peer: &Peer) -> Result<Arc<Room>, SignalingError> {
        self.rooms
            .find(&peer.room_id, peer.room_opened)
            .ok_or(SignalingError::Closed)
    }

    /// The router a peer's media is on: chosen at its first need, among its
    /// room's routers or on another worker when the room spreads.
    pub async fn router_of(&self, peer: &Peer) -> Result<Arc<spread::RoomRouter>, SignalingError> {
        let room = self.room_of(peer)?;
        let weak = peer
            .router
            .get_or_try_init(|| self.rooms.place(&room))
            .await?;
        weak.upgrade().ok_or(SignalingError::Closed)
    }

    /// The other joined peers of a peer's room (none once the room is gone).
    pub fn others_joined(&self, peer: &Peer) -> Vec<Arc<Peer>> {
        self.room_of(peer)
            .map(|room| room.joined_peers_except(&peer.id))
            .unwrap_or_default()
    }

    /// Gives back the cluster claim taken for a room that could not open
    /// here (a limit, a worker's failure), so that it does not keep the room
    /// from opening elsewhere until the claim expires.
    fn release_unopened(&self, room_id: &str) {
        if let Some(cluster) = &self.cluster
            && self.rooms.get(room_id).is_none()
        {
            cluster.release(room_id);
        }
    }

    fn close_peer(&self, peer: &Arc<Peer>) {
        let Some(state) = peer.take_for_close() else {
            return;
        };
        {
            let mut peers = self.peers.lock();
            if peers.get(&peer.id).is_some_and(|p| Arc::ptr_eq(p, peer)) {
                peers.remove(&peer.id);
            }
        }
        let room = self.room_of(peer).ok();
        if let Some(room) = &room {
            let mut members = room.peers.lock();
            if members.get(&peer.id).is_some_and(|p| Arc::ptr_eq(p, peer)) {
                members.remove(&peer.id);
            }
        }
        let PeerState {
            joined,
            consumers,
            producers,
            transports,
            ..
        } = state;
        // The others' consumers of this peer's producers close too, but only
        // once mediasoup has processed the producers' close; tell the World
        // now, so that it is in step with the `peerClosed` the others get.
        let others = self.others_joined(peer);
        for other in &others {
            let s = other.state.lock();
            for (id, consumer) in &s.consumers {
                if producers.contains_key(&consumer.producer_id())
                    && let Some(close) = s.consumer_closes.get(id)
                {
                    close.report();
                }
            }
        }
        // Dropping the only strong handles closes them in mediasoup, in this
        // order; the World hears of each close from the observers.
        drop(consumers);
        drop(producers);
        drop(transports);
        // The World has had the peer since it connected, joined or not.
        self.engine.send(WorldEvent::PeerLeft {
            peer: peer.id.as_str().into(),
        });
        if joined {
            for other in &others {
                other.notify("peerClosed", json!({ "peerId": peer.id }));
            }
        }
        if let Some(room) = &room {
            self.rooms.peer_left(room);
        }
        tracing::info!(peer = %peer.id, room = %peer.room_id, "peer left");
    }
}

/// Evicts each socket whose outgoing queue overflowed, until the signaling
/// is gone.
async fn evict_overflowed(signaling: std::sync::Weak<Signaling>, mut queue: OverflowQueue) {
    while let Some(socket) = queue.recv().await {
        let Some(ctx) = signaling.upgrade() else {
            return;
        };
        ctx.evict(socket);
    }
}

impl Signaling {
    /// Takes a peer that stopped reading out of its room: counted, logged,
    /// its objects closed, the others told. Its socket no longer names the
    /// peer (requests still arriving get `closed`); the connection closes
    /// now if a disconnect packet fits in its queue, else at its next
    /// heartbeat, which finds the queue full.
    fn evict(&self, socket: SocketRef) {
        let Some(peer) = SocketPeer::detach(&socket) else {
            return;
        };
        self.refusals.count(Limit::QueuedMessages);
        tracing::warn!(
            peer = %peer.id,
            room = %peer.room_id,
            limit = self.config.limits.max_queued_messages,
            "peer evicted: it is not reading its socket (outgoing queue full)"
        );
        self.close_peer(&peer);
        if socket.disconnect().is_err() {
            tracing::debug!(peer = %peer.id, "its connection closes at its next heartbeat");
        }
    }
}

/// Gives up the cluster claim of a room that closed, unless a room of that
/// id opened here again meanwhile (its claim is then this node's anew; were
/// it released, the next heartbeat would take it back).
fn release_hook(cluster: &Arc<Cluster>, rooms: &Arc<Rooms>) -> room::ClosedHook {
    let cluster = Arc::clone(cluster);
    let rooms = Arc::downgrade(rooms);
    Box::new(move |id: &str| {
        let reopened = rooms.upgrade().is_some_and(|r| r.get(id).is_some());
        if !reopened {
            cluster.release(id);
        }
    })
}

async fn on_connect(_socket: SocketRef) {}

async fn on_request(
    socket: SocketRef,
    ctx: Arc<Signaling>,
    TryData(request): TryData<Value>,
    ack: AckSender,
) {
    let arrived = Instant::now();
    let Some(peer) = SocketPeer::of(&socket) else {
        let method = request.as_ref().ok().and_then(method_named);
        ctx.tally.record(method, false, arrived.elapsed());
        answer(&socket, ack, Err(SignalingError::Closed));
        return;
    };
    // Held until the ack is sent: until then the request is in flight.
    let in_flight = match peer
        .requests
        .enter(ctx.config.limits.max_requests_in_flight)
    {
        Ok(in_flight) => in_flight,
        Err(refused) => {
            let method = request.as_ref().ok().and_then(method_named);
            ctx.tally.record(method, false, arrived.elapsed());
            ctx.refusals.record(&refused);
            answer(&socket, ack, Err(refused));
            return;
        }
    };
    let reply = match request {
        Ok(value) => dispatch(&ctx, &peer, value, arrived).await,
        Err(e) => {
            ctx.tally.record(None, false, arrived.elapsed());
            Err(SignalingError::InvalidData {
                method: "request",
                reason: e.to_string(),
            })
        }
    };
    answer(&socket, ack, reply);
    drop(in_flight);
}

/// Sends a request's ack: `(null, response)` or `(error)`.
fn answer(socket: &SocketRef, ack: AckSender, reply: Result<Value, SignalingError>) {
    let sent = match reply {
        Ok(response) => ack.send(&(Value::Null, response)),
        Err(error) => {
            tracing::debug!(sid = %socket.id, "request failed: {error}");
            ack.send(&(error.to_string(),))
        }
    };
    if let Err(e) = sent {
        if let Some(peer) = SocketPeer::of(socket) {
            peer.outgoing.undelivered(socket, &e);
        }
        tracing::debug!(sid = %socket.id, "ack not sent: {e}");
    }
}

/// The known method a raw request names, if any, without decoding it.
fn method_named(value: &Value) -> Option<Method> {
    value.get("method")?.as_str().and_then(Method::from_name)
}

/// Decodes and runs one request; counts it and its time since `arrived`
/// under its method (`None` when the request names no known method or cannot
/// be read).
async fn dispatch(
    ctx: &Arc<Signaling>,
    peer: &Arc<Peer>,
    value: Value,
    arrived: Instant,
) -> Result<Value, SignalingError> {
    let (method, reply) = match decode_request(ctx, peer, value, arrived) {
        Ok(call) => {
            let method = call.method();
            (Some(method), handlers::handle(ctx, peer, call).await)
        }
        Err((method, e)) => (method, Err(e)),
    };
    ctx.tally.record(method, reply.is_ok(), arrived.elapsed());
    if let Err(e) = &reply {
        ctx.refusals.record(e);
    }
    reply
}

/// Reads a request, lets it through its method family's rate at `now`,
/// then decodes and size-checks its data; an error comes with the method
/// when it is known.
fn decode_request(
    ctx: &Signaling,
    peer: &Peer,
    value: Value,
    now: Instant,
) -> Result<Call, (Option<Method>, SignalingError)> {
    let limits = &ctx.config.limits;
    let (method, data) = decode::envelope(value, limits).map_err(|e| (None, e))?;
    // Before the data is decoded: a flood costs as little as possible.
    peer.requests
        .admit(method, &limits.rates, now)
        .map_err(|e| (Some(method), e))?;
    decode::call(method, data, limits).map_err(|e| (Some(method), e))
}

fn on_disconnect(socket: SocketRef, ctx: Arc<Signaling>, reason: DisconnectReason) {
    if let Some(peer) = SocketPeer::detach(&socket) {
        tracing::debug!(peer = %peer.id, ?reason, "socket disconnected");
        ctx.close_peer(&peer);
    }
}
