//! A connected peer: its socket and the mediasoup objects it owns.
//!
//! The peer holds the only strong handles of its transports, producers and
//! consumers: dropping them closes the objects in mediasoup.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use ejtimaa_systems::export::Limit;
use mediasoup::prelude::*;
use parking_lot::Mutex;
use serde::Serialize;
use serde_json::{Value, json};
use socketioxide::extract::SocketRef;

use super::gate::RequestGate;
use super::overflow::OverflowWatch;
use super::protocol::{Message, SignalingError};
use super::spread::RoomRouter;
use crate::media::observe::ConsumerClose;

/// A transport and what the peer said it is for.
pub struct TransportEntry {
    /// The transport.
    pub transport: WebRtcTransport,
    /// The peer receives on it.
    pub consuming: bool,
}

/// What a peer holds; locked briefly, never across an await.
#[derive(Default)]
pub struct PeerState {
    /// `join` has been answered.
    pub joined: bool,
    /// Cleaned up; any further request fails.
    pub closed: bool,
    /// The name it shows.
    pub display_name: String,
    /// Its device description.
    pub device: Value,
    /// What it can receive.
    pub rtp_capabilities: Option<RtpCapabilities>,
    /// Its transports.
    pub transports: HashMap<TransportId, TransportEntry>,
    /// Its producers.
    pub producers: HashMap<ProducerId, Producer>,
    /// Its consumers.
    pub consumers: HashMap<ConsumerId, Consumer>,
    /// How to tell the World each of its consumers closed, ahead of mediasoup
    /// when we know first (see `Signaling::close_peer`).
    pub consumer_closes: HashMap<ConsumerId, Arc<ConsumerClose>>,
    /// Producers it consumes or is being given a consumer of. A producer
    /// created while this peer joins is offered by both `join` and `produce`;
    /// this makes the second offer a no-op. Producer ids are never reused, so
    /// entries of closed producers may stay until the peer leaves.
    pub consumed_producers: HashSet<ProducerId>,
    /// Transports being created: each holds a place in the limit (see
    /// [`Peer::reserve`]).
    pub pending_transports: usize,
    /// Producers being created, likewise.
    pub pending_producers: usize,
}

/// A per-peer count that has a limit.
#[derive(Clone, Copy, Debug)]
pub enum Slot {
    /// `limits.max_transports_per_peer`.
    Transport,
    /// `limits.max_producers_per_peer`.
    Producer,
}

impl Slot {
    fn limit(self) -> Limit {
        match self {
            Slot::Transport => Limit::TransportsPerPeer,
            Slot::Producer => Limit::ProducersPerPeer,
        }
    }

    fn plural(self) -> &'static str {
        match self {
            Slot::Transport => "transports",
            Slot::Producer => "producers",
        }
    }
}

/// A place held in one of a peer's limits while its object is being made
/// in mediasoup; given back when dropped, whether the object was stored or
/// the request failed. Requests run concurrently, so the place is taken
/// before the first await, not checked then and filled after it.
pub struct Reservation<'a> {
    peer: &'a Peer,
    slot: Slot,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        let mut s = self.peer.state.lock();
        // Saturating: closing the peer resets the counts under way.
        let pending = s.pending(self.slot);
        *pending = pending.saturating_sub(1);
    }
}

impl PeerState {
    fn pending(&mut self, slot: Slot) -> &mut usize {
        match slot {
            Slot::Transport => &mut self.pending_transports,
            Slot::Producer => &mut self.pending_producers,
        }
    }

    fn held(&self, slot: Slot) -> usize {
        match slot {
            Slot::Transport => self.transports.len(),
            Slot::Producer => self.producers.len(),
        }
    }
}

/// A peer in a room.
pub struct Peer {
    /// Its id (from the handshake).
    pub id: String,
    /// The User-Agent of its handshake.
    pub user_agent: String,
    /// Its room's id.
    pub room_id: String,
    /// Which opening of that room it belongs to (the room's `opened`):
    /// the room holds its peers, and a peer names its room by id and opening
    /// rather than by reference, so that no reference cycle exists and a later
    /// room of the same id is never mistaken for its own.
    pub room_opened: u64,
    /// Its socket.
    pub socket: SocketRef,
    /// The router of its room that its transports, producers and consumers
    /// are on, chosen at its first need (see `Signaling::router_of`). Weak:
    /// the room owns its routers.
    pub router: tokio::sync::OnceCell<Weak<RoomRouter>>,
    /// Its objects.
    pub state: Mutex<PeerState>,
    /// Its socket's requests in flight and rates.
    pub requests: RequestGate,
    /// Its outgoing queue's overflow, which has it evicted.
    pub outgoing: OverflowWatch,
    /// Counts it among the live peer objects while it exists.
    pub live: Alive,
}

/// The peer a socket belongs to, kept in the socket's extensions. Weak,
/// because the peer holds its socket: a strong handle both ways would keep
/// both alive after the peer has gone. The room and the signaling's peer
/// table hold the peer while it is connected.
#[derive(Clone)]
pub struct SocketPeer(Weak<Peer>);

impl SocketPeer {
    /// Names `peer` as the owner of its socket.
    pub fn attach(peer: &Arc<Peer>) {
        peer.socket
            .extensions
            .insert(SocketPeer(Arc::downgrade(peer)));
    }

    /// The live peer of `socket`, if any.
    pub fn of(socket: &SocketRef) -> Option<Arc<Peer>> {
        socket.extensions.get::<SocketPeer>()?.0.upgrade()
    }

    /// Unties `socket` from its peer, which it then no longer names;
    /// the peer if it was still alive.
    pub fn detach(socket: &SocketRef) -> Option<Arc<Peer>> {
        socket.extensions.remove::<SocketPeer>()?.0.upgrade()
    }
}

/// How many objects hold an [`Alive`] of this count; shared by clones.
#[derive(Clone, Default)]
pub struct LiveCount(Arc<AtomicUsize>);

impl LiveCount {
    /// Marks one more live object, until the mark drops.
    pub fn mark(&self) -> Alive {
        self.0.fetch_add(1, Ordering::Relaxed);
        Alive(self.clone())
    }

    /// The live objects.
    pub fn count(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

/// One live object of a [`LiveCount`].
pub struct Alive(LiveCount);

impl Drop for Alive {
    fn drop(&mut self) {
        (self.0).0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Peer {
    /// Sends a `notification`; a peer that is gone simply misses it, and
    /// one whose outgoing queue is full is evicted.
    pub fn notify<T: Serialize>(&self, method: &str, data: T) {
        if let Err(e) = self.socket.emit("notification", &Message { method, data }) {
            self.outgoing.undelivered(&self.socket, &e);
            tracing::debug!(peer = %self.id, method, "notification not sent: {e}");
        }
    }

    /// Whether `join` was answered and the peer is not closing.
    pub fn is_joined(&self) -> bool {
        let s = self.state.lock();
        s.joined && !s.closed
    }

    /// Its public description for other peers.
    pub fn info(&self) -> Value {
        let s = self.state.lock();
        json!({ "id": self.id, "displayName": s.display_name, "device": s.device })
    }

    /// Fails unless joined.
    pub fn require_joined(&self) -> Result<(), SignalingError> {
        let s = self.state.lock();
        if s.closed {
            Err(SignalingError::Closed)
        } else if !s.joined {
            Err(SignalingError::NotJoined)
        } else {
            Ok(())
        }
    }

    /// Takes a place for one more object of `slot`, or refuses when the
    /// objects it holds and those being made already reach `max`.
    pub fn reserve(&self, slot: Slot, max: usize) -> Result<Reservation<'_>, SignalingError> {
        self.reserve_within(slot, max, usize::MAX)
    }

    /// Takes a place for one more transport: at most `max`, and at most
    /// `before_join` until the peer has joined (checked under the same lock
    /// as `join` sets it).
    pub fn reserve_transport(
        &self,
        max: usize,
        before_join: usize,
    ) -> Result<Reservation<'_>, SignalingError> {
        self.reserve_within(Slot::Transport, max, before_join)
    }

    fn reserve_within(
        &self,
        slot: Slot,
        max: usize,
        before_join: usize,
    ) -> Result<Reservation<'_>, SignalingError> {
        let mut s = self.state.lock();
        if s.closed {
            return Err(SignalingError::Closed);
        }
        let taken = s.held(slot) + *s.pending(slot);
        if taken >= max {
            return Err(SignalingError::limit(
                slot.limit(),
                format!("at most {max} {} per peer", slot.plural()),
            ));
        }
        if !s.joined && taken >= before_join {
            return Err(SignalingError::limit(
                Limit::TransportsBeforeJoin,
                format!(
                    "at most {before_join} {} before `join`: join first",
                    slot.plural()
                ),
            ));
        }
        *s.pending(slot) += 1;
        Ok(Reservation { peer: self, slot })
    }

    /// One of its transports.
    pub fn transport(&self, id: &str) -> Result<WebRtcTransport, SignalingError> {
        let s = self.state.lock();
        parse_id(id)
            .and_then(|id| s.transports.get(&id))
            .map(|e| e.transport.clone())
            .ok_or_else(|| SignalingError::NotFound {
                kind: "transport",
                id: id.into(),
            })
    }

    /// One of its producers.
    pub fn producer(&self, id: &str) -> Result<Producer, SignalingError> {
        let s = self.state.lock();
        parse_id(id)
            .and_then(|id| s.producers.get(&id))
            .cloned()
            .ok_or_else(|| SignalingError::NotFound {
                kind: "producer",
                id: id.into(),
            })
    }

    /// One of its consumers.
    pub fn consumer(&self, id: &str) -> Result<Consumer, SignalingError> {
        let s = self.state.lock();
        parse_id(id)
            .and_then(|id| s.consumers.get(&id))
            .cloned()
            .ok_or_else(|| SignalingError::NotFound {
                kind: "consumer",
                id: id.into(),
            })
    }

    /// Marks the peer closed and takes all its objects, so the caller drops
    /// (closes) them outside the lock. Returns `None` if already closed.
    pub fn take_for_close(&self) -> Option<PeerState> {
        let mut s = self.state.lock();
        if s.closed {
            return None;
        }
        s.closed = true;
        let taken = std::mem::take(&mut *s);
        s.closed = true;
        Some(taken)
    }
}

/// mediasoup ids are UUIDs; anything else cannot name one of ours.
fn parse_id<T: std::str::FromStr>(id: &str) -> Option<T> {
    id.parse().ok()
}
