//! Read views of the World as plain data, for callers outside this crate (the
//! admin socket, tests) that should not need bevy queries.

use bevy_ecs::prelude::*;

use crate::ids::{ConsumerId, PeerId, ProducerId, RoomId, TransportId};
use crate::media::{MediaKind, MimeType, RtpStreamStats};
use crate::net::{IceState, TransportTuple};
use crate::world::{
    Consumer, IdIndex, Indexed, Peer, Producer, Room, RtpStreams, Transport, Worker,
};

/// How many live objects of each kind the World holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Workers.
    pub workers: usize,
    /// Rooms.
    pub rooms: usize,
    /// Peers.
    pub peers: usize,
    /// Transports.
    pub transports: usize,
    /// Producers.
    pub producers: usize,
    /// Consumers.
    pub consumers: usize,
}

/// A room.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomView {
    /// Its id.
    pub id: RoomId,
    /// The `pid` of its worker (0 if unknown).
    pub pid: u32,
    /// How many peers are in it.
    pub peers: usize,
}

/// A peer with its transports.
#[derive(Clone, Debug, PartialEq)]
pub struct PeerView {
    /// Its id.
    pub id: PeerId,
    /// Its room.
    pub room: Option<RoomId>,
    /// The name it shows.
    pub display_name: String,
    /// The User-Agent of its signaling handshake.
    pub user_agent: String,
    /// Its transports, in creation order.
    pub transports: Vec<TransportView>,
}

/// A transport with its producers and consumers.
#[derive(Clone, Debug, PartialEq)]
pub struct TransportView {
    /// Its id.
    pub id: TransportId,
    /// ICE state.
    pub ice_state: IceState,
    /// The ICE selected tuple, once there is one.
    pub tuple: Option<TransportTuple>,
    /// Its producers, in creation order.
    pub producers: Vec<ProducerView>,
    /// Its consumers, in creation order.
    pub consumers: Vec<ConsumerView>,
}

/// A producer with its RTP streams.
#[derive(Clone, Debug, PartialEq)]
pub struct ProducerView {
    /// Its id.
    pub id: ProducerId,
    /// Audio or video.
    pub kind: MediaKind,
    /// MIME type of its first codec.
    pub mime_type: MimeType,
    /// Paused by its peer.
    pub paused: bool,
    /// Its streams in (type, ssrc) order.
    pub streams: Vec<RtpStreamStats>,
}

/// A consumer with its RTP streams.
#[derive(Clone, Debug, PartialEq)]
pub struct ConsumerView {
    /// Its id.
    pub id: ConsumerId,
    /// The producer it consumes.
    pub producer: ProducerId,
    /// Audio or video.
    pub kind: MediaKind,
    /// MIME type of its first codec.
    pub mime_type: MimeType,
    /// Paused by its peer.
    pub paused: bool,
    /// Its streams in (type, ssrc) order.
    pub streams: Vec<RtpStreamStats>,
}

fn count<T: Indexed>(world: &World) -> usize {
    world.get_resource::<IdIndex<T>>().map_or(0, IdIndex::len)
}

pub(crate) fn summary(world: &World) -> Summary {
    Summary {
        workers: count::<Worker>(world),
        rooms: count::<Room>(world),
        peers: count::<Peer>(world),
        transports: count::<Transport>(world),
        producers: count::<Producer>(world),
        consumers: count::<Consumer>(world),
    }
}

/// The rooms, sorted by id.
pub(crate) fn rooms(world: &mut World) -> Vec<RoomView> {
    let mut q = world.query::<(&Room, &ChildOf, Option<&Children>)>();
    let mut rows: Vec<RoomView> = q
        .iter(world)
        .map(|(room, parent, children)| RoomView {
            id: room.id.clone(),
            pid: world.get::<Worker>(parent.parent()).map_or(0, |w| w.pid),
            peers: children.map_or(0, |c| c.len()),
        })
        .collect();
    rows.sort_by(|a, b| a.id.cmp(&b.id));
    rows
}

/// The peers, sorted by id.
pub(crate) fn peers(world: &mut World) -> Vec<PeerView> {
    let mut q = world.query::<(&Peer, &ChildOf, Option<&Children>)>();
    let mut rows: Vec<PeerView> = q
        .iter(world)
        .map(|(peer, parent, children)| PeerView {
            id: peer.id.clone(),
            room: world.get::<Room>(parent.parent()).map(|r| r.id.clone()),
            display_name: peer.display_name.clone(),
            user_agent: peer.user_agent.clone(),
            transports: children.map_or(Vec::new(), |c| {
                c.iter().filter_map(|t| transport(world, t)).collect()
            }),
        })
        .collect();
    rows.sort_by(|a, b| a.id.cmp(&b.id));
    rows
}

fn transport(world: &World, entity: Entity) -> Option<TransportView> {
    let t = world.get::<Transport>(entity)?;
    let mut view = TransportView {
        id: t.id.clone(),
        ice_state: t.ice_state,
        tuple: t.tuple.clone(),
        producers: Vec::new(),
        consumers: Vec::new(),
    };
    for &child in world.get::<Children>(entity).map_or(&[][..], |c| &c[..]) {
        let streams: Vec<RtpStreamStats> = world
            .get::<RtpStreams>(child)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        if let Some(p) = world.get::<Producer>(child) {
            view.producers.push(ProducerView {
                id: p.id.clone(),
                kind: p.kind,
                mime_type: p.mime_type.clone(),
                paused: p.paused,
                streams,
            });
        } else if let Some(c) = world.get::<Consumer>(child) {
            view.consumers.push(ConsumerView {
                id: c.id.clone(),
                producer: c.producer.clone(),
                kind: c.kind,
                mime_type: c.mime_type.clone(),
                paused: c.paused,
                streams,
            });
        }
    }
    Some(view)
}
