//! [`WorldEvent`]: everything the server reports to the world, as plain data.

use std::net::IpAddr;
use std::num::NonZeroU32;

use crate::ids::{ConsumerId, PeerId, ProducerId, RoomId, RouterId, TransportId, WorkerId};
use crate::media::{MediaKind, MimeType, RtpStreamStats, Score};
use crate::net::{IceState, TransportKind, TransportTuple};

/// A producer or a consumer: the objects that own RTP streams.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum StreamOwner {
    /// A producer (media a peer sends).
    Producer(ProducerId),
    /// A consumer (media a peer receives).
    Consumer(ConsumerId),
}

/// A change in the outside world, sent by the shell to the engine thread.
///
/// Events name objects by id. One that names an unknown or already-closed object,
/// or would create a duplicate, is counted in [`crate::EventCounts`] and
/// otherwise ignored: the shell and mediasoup run concurrently, so late events
/// are normal and never an error.
#[derive(Clone, PartialEq, Debug)]
pub enum WorldEvent {
    /// A mediasoup worker started. `pid` is its OS thread id (or the process id).
    WorkerStarted {
        /// The worker.
        worker: WorkerId,
        /// The `pid` label of its streams.
        pid: u32,
    },
    /// A worker was closed on purpose; everything on it goes.
    WorkerClosed {
        /// The worker.
        worker: WorkerId,
    },
    /// A worker died unexpectedly; everything on it goes, and the death is counted.
    WorkerDied {
        /// The worker.
        worker: WorkerId,
    },
    /// A room (router) opened on a worker.
    RoomOpened {
        /// The room.
        room: RoomId,
        /// The worker hosting its router.
        worker: WorkerId,
    },
    /// A room closed, with its peers and their media, its further routers
    /// and its pipe transports.
    RoomClosed {
        /// The room.
        room: RoomId,
    },
    /// A room spread to another worker: one more router of it, for the peers
    /// placed there (the room's first router came with `RoomOpened`).
    RouterOpened {
        /// The router.
        router: RouterId,
        /// Its room.
        room: RoomId,
        /// The worker hosting it.
        worker: WorkerId,
    },
    /// A further router of a room closed.
    RouterClosed {
        /// The router.
        router: RouterId,
    },
    /// A pipe transport joined two of a room's routers (one event per end,
    /// each on its own worker). It carries piped copies of producers, which
    /// are not peers' streams: the World holds no producer or consumer on it.
    /// It goes with `TransportClosed`, or with its room or worker.
    PipeTransportCreated {
        /// The transport.
        transport: TransportId,
        /// The room whose routers it joins.
        room: RoomId,
        /// The worker its end runs on.
        worker: WorkerId,
    },
    /// A peer joined a room.
    PeerJoined {
        /// The peer.
        peer: PeerId,
        /// Its room.
        room: RoomId,
        /// The name it shows.
        display_name: String,
        /// The User-Agent of its signaling handshake.
        user_agent: String,
    },
    /// A peer changed its display name.
    PeerRenamed {
        /// The peer.
        peer: PeerId,
        /// The new name.
        display_name: String,
    },
    /// A peer left (or its socket dropped), with its transports and media.
    PeerLeft {
        /// The peer.
        peer: PeerId,
    },
    /// A transport was created for a peer.
    TransportCreated {
        /// The transport.
        transport: TransportId,
        /// Its peer.
        peer: PeerId,
        /// Its kind.
        kind: TransportKind,
    },
    /// A transport closed, with its producers and consumers.
    TransportClosed {
        /// The transport.
        transport: TransportId,
    },
    /// A transport's ICE state changed.
    IceStateChanged {
        /// The transport.
        transport: TransportId,
        /// The new state.
        state: IceState,
    },
    /// A transport's ICE selected tuple changed (or went away).
    IceSelectedTupleChanged {
        /// The transport.
        transport: TransportId,
        /// The new tuple.
        tuple: Option<TransportTuple>,
    },
    /// A producer was created on a transport.
    ProducerCreated {
        /// The producer.
        producer: ProducerId,
        /// Its transport.
        transport: TransportId,
        /// Audio or video.
        kind: MediaKind,
        /// The MIME type of its first codec.
        mime_type: MimeType,
        /// The RTP clock rate of that codec (turns jitter into seconds).
        clock_rate: NonZeroU32,
        /// Whether it starts paused.
        paused: bool,
    },
    /// A producer closed.
    ProducerClosed {
        /// The producer.
        producer: ProducerId,
    },
    /// A producer was paused or resumed.
    ProducerPaused {
        /// The producer.
        producer: ProducerId,
        /// `true` when paused, `false` when resumed.
        paused: bool,
    },
    /// A consumer was created on a transport.
    ConsumerCreated {
        /// The consumer.
        consumer: ConsumerId,
        /// Its transport (the consuming peer's).
        transport: TransportId,
        /// The producer it consumes.
        producer: ProducerId,
        /// Audio or video.
        kind: MediaKind,
        /// The MIME type of its first codec.
        mime_type: MimeType,
        /// The RTP clock rate of that codec (turns jitter into seconds).
        clock_rate: NonZeroU32,
        /// Whether it starts paused.
        paused: bool,
    },
    /// A consumer closed.
    ConsumerClosed {
        /// The consumer.
        consumer: ConsumerId,
    },
    /// A consumer was paused or resumed.
    ConsumerPaused {
        /// The consumer.
        consumer: ConsumerId,
        /// `true` when paused, `false` when resumed.
        paused: bool,
    },
    /// mediasoup pushed a new score for one stream of a producer or consumer.
    ScoreChanged {
        /// The producer or consumer.
        owner: StreamOwner,
        /// The stream.
        ssrc: u32,
        /// The score.
        score: Score,
    },
    /// New `get_stats` figures for one RTP stream.
    StatsUpdated {
        /// The producer or consumer.
        owner: StreamOwner,
        /// The stream's figures.
        stats: RtpStreamStats,
    },
    /// Reverse DNS found a name for an address (or, with `None`, the name expired).
    HostnameResolved {
        /// The address.
        ip: IpAddr,
        /// Its name.
        hostname: Option<String>,
    },
}

impl WorldEvent {
    /// Whether the event only brings new figures for streams (stats,
    /// scores), leaving every object, membership and label as it was: a
    /// render made just before it differs from one made after only in
    /// values, as one made a stats slice earlier would.
    pub fn brings_figures_only(&self) -> bool {
        matches!(
            self,
            WorldEvent::StatsUpdated { .. } | WorldEvent::ScoreChanged { .. }
        )
    }
}
