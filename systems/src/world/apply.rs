//! The apply system: turns [`WorldEvent`]s into entities and components.

use std::collections::HashMap;
use std::net::IpAddr;

use bevy_ecs::prelude::*;

use super::components::{
    Consumer, Peer, PipeOf, Producer, Room, Router, RtpStreams, Transport, Worker,
};
use super::counters::{EventCounts, Ignored, Topology};
use super::index::{IdIndex, Indexed};
use crate::event::{StreamOwner, WorldEvent};
use crate::media::{RtpStreamStats, RtpStreamType, Score};
use crate::net::{Host, PinnedNames, TransportKind};

/// Events waiting for the next run of [`apply_events`].
#[derive(Resource, Default)]
pub struct Inbox(pub Vec<WorldEvent>);

/// Names found by reverse DNS, filled by the shell; the exporter shows them in
/// place of addresses when neither `numeric` nor `deidentify` is set.
#[derive(Resource, Default, Debug)]
pub struct ReverseDns(HashMap<IpAddr, Box<str>>);

impl ReverseDns {
    /// The name of an address, if one is known.
    pub fn get(&self, ip: &IpAddr) -> Option<&str> {
        self.0.get(ip).map(|s| &**s)
    }

    /// Records the name of an address.
    pub fn set(&mut self, ip: IpAddr, name: &str) {
        self.0.insert(ip, name.into());
    }

    /// Forgets the name of an address.
    pub fn remove(&mut self, ip: &IpAddr) {
        self.0.remove(ip);
    }
}

/// Exclusive system: drains the [`Inbox`] and applies each event in order.
pub fn apply_events(world: &mut World) {
    let events = std::mem::take(&mut world.resource_mut::<Inbox>().0);
    for event in events {
        let outcome = apply_event(world, event);
        world.resource_mut::<EventCounts>().count(outcome);
    }
}

/// Applies one event; `Err` says why it changed nothing.
pub fn apply_event(world: &mut World, event: WorldEvent) -> Result<(), Ignored> {
    match event {
        WorldEvent::WorkerStarted { worker, pid } => spawn(world, Worker { id: worker, pid }, None),
        WorldEvent::WorkerClosed { worker } => despawn_worker(world, &worker),
        WorldEvent::WorkerDied { worker } => {
            despawn_worker(world, &worker)?;
            world.resource_mut::<EventCounts>().worker_deaths += 1;
            Ok(())
        }
        WorldEvent::RoomOpened { room, worker } => {
            let parent = lookup::<Worker>(world, &worker)?;
            spawn(world, Room { id: room }, Some(parent))
        }
        WorldEvent::RoomClosed { room } => {
            despawn::<Room>(world, &room)?;
            despawn_spread(world, &room);
            Ok(())
        }
        WorldEvent::RouterOpened {
            router,
            room,
            worker,
        } => {
            lookup::<Room>(world, &room)?;
            let parent = lookup::<Worker>(world, &worker)?;
            spawn(world, Router { id: router, room }, Some(parent))
        }
        WorldEvent::RouterClosed { router } => despawn::<Router>(world, &router),
        WorldEvent::PipeTransportCreated {
            transport,
            room,
            worker,
        } => {
            lookup::<Room>(world, &room)?;
            let parent = lookup::<Worker>(world, &worker)?;
            let pipe = Transport {
                id: transport,
                kind: TransportKind::Pipe,
                ice_state: Default::default(),
                tuple: None,
                names: None,
            };
            spawn(world, (pipe, PipeOf { room }), Some(parent))
        }
        WorldEvent::PeerJoined {
            peer,
            room,
            display_name,
            user_agent,
        } => {
            let parent = lookup::<Room>(world, &room)?;
            let peer = Peer {
                id: peer,
                display_name,
                user_agent,
            };
            spawn(world, peer, Some(parent))
        }
        WorldEvent::PeerRenamed { peer, display_name } => {
            let mut peer = get_mut::<Peer>(world, &peer)?;
            if peer.display_name != display_name {
                peer.display_name = display_name;
            }
            Ok(())
        }
        WorldEvent::PeerLeft { peer } => despawn::<Peer>(world, &peer),
        WorldEvent::TransportCreated {
            transport,
            peer,
            kind,
        } => {
            let parent = lookup::<Peer>(world, &peer)?;
            let transport = Transport {
                id: transport,
                kind,
                ice_state: Default::default(),
                tuple: None,
                names: None,
            };
            spawn(world, transport, Some(parent))
        }
        WorldEvent::TransportClosed { transport } => despawn::<Transport>(world, &transport),
        WorldEvent::IceStateChanged { transport, state } => {
            let entity = lookup::<Transport>(world, &transport)?;
            let mut transport = world.get_mut::<Transport>(entity).ok_or(Ignored::Unknown)?;
            if transport.ice_state != state {
                transport.ice_state = state;
                world.resource_mut::<Topology>().generation += 1;
            }
            pin_names(world, entity);
            Ok(())
        }
        WorldEvent::IceSelectedTupleChanged { transport, tuple } => {
            let entity = lookup::<Transport>(world, &transport)?;
            let mut transport = world.get_mut::<Transport>(entity).ok_or(Ignored::Unknown)?;
            if transport.tuple != tuple {
                transport.tuple = tuple;
            }
            pin_names(world, entity);
            Ok(())
        }
        WorldEvent::ProducerCreated {
            producer,
            transport,
            kind,
            mime_type,
            clock_rate,
            paused,
        } => {
            let parent = peer_transport(world, &transport)?;
            let producer = Producer {
                id: producer,
                kind,
                mime_type,
                clock_rate,
                paused,
            };
            spawn(world, (producer, RtpStreams::default()), Some(parent))
        }
        WorldEvent::ProducerClosed { producer } => despawn::<Producer>(world, &producer),
        WorldEvent::ProducerPaused { producer, paused } => {
            let mut producer = get_mut::<Producer>(world, &producer)?;
            if producer.paused != paused {
                producer.paused = paused;
            }
            Ok(())
        }
        WorldEvent::ConsumerCreated {
            consumer,
            transport,
            producer,
            kind,
            mime_type,
            clock_rate,
            paused,
        } => {
            let parent = peer_transport(world, &transport)?;
            let consumer = Consumer {
                id: consumer,
                producer,
                kind,
                mime_type,
                clock_rate,
                paused,
            };
            spawn(world, (consumer, RtpStreams::default()), Some(parent))
        }
        WorldEvent::ConsumerClosed { consumer } => despawn::<Consumer>(world, &consumer),
        WorldEvent::ConsumerPaused { consumer, paused } => {
            let mut consumer = get_mut::<Consumer>(world, &consumer)?;
            if consumer.paused != paused {
                consumer.paused = paused;
            }
            Ok(())
        }
        WorldEvent::ScoreChanged { owner, ssrc, score } => apply_score(world, &owner, ssrc, score),
        WorldEvent::StatsUpdated { owner, stats } => apply_stats(world, &owner, stats),
        WorldEvent::HostnameResolved { ip, hostname } => {
            let mut dns = world.resource_mut::<ReverseDns>();
            // Touch the resource only on a real change: a change re-renders every
            // transport's address labels.
            if dns.get(&ip) != hostname.as_deref() {
                match hostname {
                    Some(name) => dns.set(ip, &name),
                    None => dns.remove(&ip),
                }
            }
            Ok(())
        }
    }
}

/// Fixes the names of an exported transport's address labels for its tuple,
/// from what reverse DNS knows now (see [`PinnedNames`]).
fn pin_names(world: &mut World, entity: Entity) {
    let Some(transport) = world.get::<Transport>(entity) else {
        return;
    };
    let Some(tuple) = transport.tuple.as_ref().filter(|_| transport.is_exported()) else {
        return;
    };
    if transport.names.as_ref().is_some_and(|n| n.tuple == *tuple) {
        return;
    }
    let dns = world.resource::<ReverseDns>();
    let name = |host: &Host| match host {
        Host::Ip(ip) => dns.get(ip).map(Box::from),
        Host::Name(_) => None,
    };
    let names = PinnedNames {
        tuple: tuple.clone(),
        local: name(&tuple.local.host),
        remote: name(&tuple.remote.host),
    };
    if let Some(mut transport) = world.get_mut::<Transport>(entity) {
        transport.names = Some(names);
    }
}

/// The stream type a score event refers to: producers receive, consumers send.
fn natural_type(owner: &StreamOwner) -> RtpStreamType {
    match owner {
        StreamOwner::Producer(_) => RtpStreamType::InboundRtp,
        StreamOwner::Consumer(_) => RtpStreamType::OutboundRtp,
    }
}

fn owner_streams<'w>(
    world: &'w mut World,
    owner: &StreamOwner,
) -> Result<Mut<'w, RtpStreams>, Ignored> {
    let entity = match owner {
        StreamOwner::Producer(id) => lookup::<Producer>(world, id)?,
        StreamOwner::Consumer(id) => lookup::<Consumer>(world, id)?,
    };
    world.get_mut::<RtpStreams>(entity).ok_or(Ignored::Unknown)
}

fn apply_score(
    world: &mut World,
    owner: &StreamOwner,
    ssrc: u32,
    score: Score,
) -> Result<(), Ignored> {
    let stream_type = natural_type(owner);
    let mut streams = owner_streams(world, owner)?;
    streams.entry(stream_type, ssrc).score = score;
    Ok(())
}

fn apply_stats(
    world: &mut World,
    owner: &StreamOwner,
    stats: RtpStreamStats,
) -> Result<(), Ignored> {
    let mut streams = owner_streams(world, owner)?;
    let stream = streams.entry(stats.stream_type, stats.ssrc);
    // Replies of concurrent get_stats calls can arrive out of order; counters
    // never go backwards, so an older reply is recognised and dropped.
    if stats.is_older_than(stream) {
        return Err(Ignored::Stale);
    }
    *stream = stats;
    Ok(())
}

/// The entity of a peer's transport: a room's pipe transport carries piped
/// copies of producers, which are not peers' streams and are not modelled.
fn peer_transport(world: &World, id: &crate::ids::TransportId) -> Result<Entity, Ignored> {
    let entity = lookup::<Transport>(world, id)?;
    if world.get::<PipeOf>(entity).is_some() {
        return Err(Ignored::Unknown);
    }
    Ok(entity)
}

/// Despawns a worker with everything on it, and the further routers and pipe
/// transports (on other workers) of the rooms that go with it.
fn despawn_worker(world: &mut World, worker: &crate::ids::WorkerId) -> Result<(), Ignored> {
    let entity = lookup::<Worker>(world, worker)?;
    let rooms: Vec<crate::ids::RoomId> = world
        .get::<Children>(entity)
        .map(|c| {
            c.iter()
                .filter_map(|e| world.get::<Room>(e).map(|r| r.id.clone()))
                .collect()
        })
        .unwrap_or_default();
    despawn::<Worker>(world, worker)?;
    for room in rooms {
        despawn_spread(world, &room);
    }
    Ok(())
}

/// Despawns a closed room's further routers and pipe transports, which live
/// under their workers rather than under the room.
fn despawn_spread(world: &mut World, room: &crate::ids::RoomId) {
    let mut routers = world.query::<(Entity, &Router)>();
    let mut pipes = world.query::<(Entity, &PipeOf)>();
    let gone: Vec<Entity> = routers
        .iter(world)
        .filter(|(_, r)| r.room == *room)
        .map(|(e, _)| e)
        .chain(
            pipes
                .iter(world)
                .filter(|(_, p)| p.room == *room)
                .map(|(e, _)| e),
        )
        .collect();
    for entity in gone {
        world.despawn(entity);
    }
}

fn lookup<T: Indexed>(world: &World, id: &T::Id) -> Result<Entity, Ignored> {
    world
        .resource::<IdIndex<T>>()
        .get(id)
        .ok_or(Ignored::Unknown)
}

fn get_mut<'w, T: Indexed<Mutability = bevy_ecs::component::Mutable>>(
    world: &'w mut World,
    id: &T::Id,
) -> Result<Mut<'w, T>, Ignored> {
    let entity = lookup::<T>(world, id)?;
    world.get_mut::<T>(entity).ok_or(Ignored::Unknown)
}

fn spawn<T: Indexed>(
    world: &mut World,
    bundle: impl IndexedBundle<T>,
    parent: Option<Entity>,
) -> Result<(), Ignored> {
    let id = bundle.indexed().id().clone();
    if world.resource::<IdIndex<T>>().get(&id).is_some() {
        return Err(Ignored::Duplicate);
    }
    let entity = match parent {
        Some(parent) => world.spawn((bundle, ChildOf(parent))).id(),
        None => world.spawn(bundle).id(),
    };
    world.resource_mut::<IdIndex<T>>().insert(id, entity);
    world.resource_mut::<Topology>().generation += 1;
    Ok(())
}

fn despawn<T: Indexed>(world: &mut World, id: &T::Id) -> Result<(), Ignored> {
    let entity = lookup::<T>(world, id)?;
    // Children are linked-spawned: this despawns the whole subtree, and each
    // component's on_remove hook unindexes it.
    world.despawn(entity);
    world.resource_mut::<Topology>().generation += 1;
    Ok(())
}

/// A bundle whose first part is the indexed component `T`.
trait IndexedBundle<T: Indexed>: Bundle {
    fn indexed(&self) -> &T;
}

impl<T: Indexed + Bundle> IndexedBundle<T> for T {
    fn indexed(&self) -> &T {
        self
    }
}

impl IndexedBundle<Transport> for (Transport, PipeOf) {
    fn indexed(&self) -> &Transport {
        &self.0
    }
}

impl<T: Indexed + Bundle> IndexedBundle<T> for (T, RtpStreams) {
    fn indexed(&self) -> &T {
        &self.0
    }
}
