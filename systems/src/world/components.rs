//! The entities' components. Relationships use bevy's `ChildOf`:
//! worker → room → peer → transport → producer / consumer, so despawning any
//! of them removes everything beneath it. Every object but the worker carries
//! the exporter's [`LabelFragment`] cache. A room that spans several workers
//! has its further [`Router`]s and its pipe transports ([`PipeOf`]) as
//! children of the workers they run on; they name their room, which removes
//! them when it closes.

use std::num::NonZeroU32;

use bevy_ecs::lifecycle::HookContext;
use bevy_ecs::prelude::*;
use bevy_ecs::world::DeferredWorld;

use super::index::{Indexed, unindex};
use crate::export::LabelFragment;
use crate::ids::{ConsumerId, PeerId, ProducerId, RoomId, RouterId, TransportId, WorkerId};
use crate::media::{MediaKind, MimeType, RtpStreamStats, RtpStreamType};
use crate::net::{IceState, PinnedNames, TransportKind, TransportTuple};

/// A mediasoup worker.
#[derive(Component, Debug)]
#[component(on_remove = unindex::<Worker>)]
pub struct Worker {
    /// Its id.
    pub id: WorkerId,
    /// OS thread id of the worker (or the process id), the `pid` label.
    pub pid: u32,
}

/// A room: one router on a worker (its parent).
#[derive(Component, Debug)]
#[component(on_remove = unindex::<Room>)]
#[require(LabelFragment)]
pub struct Room {
    /// Its id.
    pub id: RoomId,
}

/// A further router of a room, on a worker (its parent) other than the one
/// of the room's first router.
#[derive(Component, Debug)]
#[component(on_remove = unindex::<Router>)]
pub struct Router {
    /// Its id.
    pub id: RouterId,
    /// Its room.
    pub room: RoomId,
}

/// Marks a pipe transport (a [`Transport`] child of its worker) with the
/// room whose routers it joins.
#[derive(Component, Debug)]
pub struct PipeOf {
    /// The room.
    pub room: RoomId,
}

/// A peer in a room (its parent).
#[derive(Component, Debug)]
#[component(on_add = peer_joined, on_remove = peer_left)]
#[require(LabelFragment)]
pub struct Peer {
    /// Its id.
    pub id: PeerId,
    /// The name it shows.
    pub display_name: String,
    /// The User-Agent of its signaling handshake.
    pub user_agent: String,
}

/// Peers that ever joined and left: every `Peer` added or removed, however it
/// went (its own leave, or its room or worker closing).
#[derive(Resource, Default, Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerTotals {
    /// Peers that joined.
    pub joined: u64,
    /// Peers that left.
    pub left: u64,
}

fn peer_joined(mut world: DeferredWorld, _: HookContext) {
    if let Some(mut totals) = world.get_resource_mut::<PeerTotals>() {
        totals.joined += 1;
    }
}

fn peer_left(mut world: DeferredWorld, ctx: HookContext) {
    unindex::<Peer>(world.reborrow(), ctx);
    if let Some(mut totals) = world.get_resource_mut::<PeerTotals>() {
        totals.left += 1;
    }
}

/// A transport of a peer (its parent).
#[derive(Component, Debug)]
#[component(on_remove = unindex::<Transport>)]
#[require(LabelFragment)]
pub struct Transport {
    /// Its id.
    pub id: TransportId,
    /// WebRTC, plain, pipe or direct.
    pub kind: TransportKind,
    /// ICE state (WebRTC only; stays `New` for the others).
    pub ice_state: IceState,
    /// The ICE selected tuple, once there is one.
    pub tuple: Option<TransportTuple>,
    /// Names for the address labels, fixed once the transport is exported.
    pub names: Option<PinnedNames>,
}

impl Transport {
    /// Whether the exporter shows this transport's streams: a WebRTC transport
    /// whose ICE state is `completed`, as in the original.
    pub fn is_exported(&self) -> bool {
        self.kind == TransportKind::WebRtc && self.ice_state == IceState::Completed
    }
}

/// A producer on a transport (its parent).
#[derive(Component, Debug)]
#[component(on_remove = unindex::<Producer>)]
#[require(LabelFragment)]
pub struct Producer {
    /// Its id.
    pub id: ProducerId,
    /// Audio or video.
    pub kind: MediaKind,
    /// MIME type of its first codec.
    pub mime_type: MimeType,
    /// RTP clock rate of its first codec.
    pub clock_rate: NonZeroU32,
    /// Paused by its peer.
    pub paused: bool,
}

/// A consumer on a transport (its parent).
#[derive(Component, Debug)]
#[component(on_remove = unindex::<Consumer>)]
#[require(LabelFragment)]
pub struct Consumer {
    /// Its id.
    pub id: ConsumerId,
    /// The producer it consumes.
    pub producer: ProducerId,
    /// Audio or video.
    pub kind: MediaKind,
    /// MIME type of its first codec.
    pub mime_type: MimeType,
    /// RTP clock rate of its first codec.
    pub clock_rate: NonZeroU32,
    /// Paused by its peer.
    pub paused: bool,
}

/// The RTP streams of a producer or consumer, one entry per stream, ordered by
/// (type, ssrc). Streams appear with their first stats or score and live as long
/// as their owner.
#[derive(Component, Debug, Default)]
pub struct RtpStreams(Vec<RtpStreamStats>);

impl RtpStreams {
    /// The streams in (type, ssrc) order.
    pub fn iter(&self) -> impl Iterator<Item = &RtpStreamStats> {
        self.0.iter()
    }

    /// Number of streams.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The stream with this identity, if known.
    pub fn get(&self, stream_type: RtpStreamType, ssrc: u32) -> Option<&RtpStreamStats> {
        self.position(stream_type, ssrc).ok().map(|i| &self.0[i])
    }

    /// The stream with this identity, created with zero counters if unknown.
    pub(crate) fn entry(&mut self, stream_type: RtpStreamType, ssrc: u32) -> &mut RtpStreamStats {
        let i = match self.position(stream_type, ssrc) {
            Ok(i) => i,
            Err(i) => {
                self.0.insert(i, RtpStreamStats::empty(stream_type, ssrc));
                i
            }
        };
        &mut self.0[i]
    }

    fn position(&self, stream_type: RtpStreamType, ssrc: u32) -> Result<usize, usize> {
        self.0
            .binary_search_by(|s| (s.stream_type, s.ssrc).cmp(&(stream_type, ssrc)))
    }
}

impl Indexed for Worker {
    type Id = WorkerId;
    fn id(&self) -> &WorkerId {
        &self.id
    }
}

impl Indexed for Room {
    type Id = RoomId;
    fn id(&self) -> &RoomId {
        &self.id
    }
}

impl Indexed for Router {
    type Id = RouterId;
    fn id(&self) -> &RouterId {
        &self.id
    }
}

impl Indexed for Peer {
    type Id = PeerId;
    fn id(&self) -> &PeerId {
        &self.id
    }
}

impl Indexed for Transport {
    type Id = TransportId;
    fn id(&self) -> &TransportId {
        &self.id
    }
}

impl Indexed for Producer {
    type Id = ProducerId;
    fn id(&self) -> &ProducerId {
        &self.id
    }
}

impl Indexed for Consumer {
    type Id = ConsumerId;
    fn id(&self) -> &ConsumerId {
        &self.id
    }
}
