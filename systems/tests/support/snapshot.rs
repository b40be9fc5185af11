//! Worlds built from scratch: a model's state as creation events (in reverse id
//! order, unlike any history), and a small hand-written demo world.

use std::collections::BTreeSet;
use std::num::NonZeroU32;

use ejtimaa_systems::{
    Endpoint, Host, IceState, MediaKind, MimeType, Protocol, RtpStreamStats, RtpStreamType, Score,
    StreamOwner, TransportKind, TransportTuple, WorldEvent,
};

use super::model::{Model, Role};

/// Events that build the model's current state in a fresh world.
pub fn events(model: &Model) -> Vec<WorldEvent> {
    let mut out = Vec::new();
    for (worker, pid) in model.workers.iter().rev() {
        out.push(WorldEvent::WorkerStarted {
            worker: worker.as_str().into(),
            pid: *pid,
        });
    }
    for (room, worker) in model.rooms.iter().rev() {
        out.push(WorldEvent::RoomOpened {
            room: room.as_str().into(),
            worker: worker.as_str().into(),
        });
    }
    for (router, (room, worker)) in model.routers.iter().rev() {
        out.push(WorldEvent::RouterOpened {
            router: router.as_str().into(),
            room: room.as_str().into(),
            worker: worker.as_str().into(),
        });
    }
    for (transport, (room, worker)) in model.pipes.iter().rev() {
        out.push(WorldEvent::PipeTransportCreated {
            transport: transport.as_str().into(),
            room: room.as_str().into(),
            worker: worker.as_str().into(),
        });
    }
    for (peer, p) in model.peers.iter().rev() {
        out.push(WorldEvent::PeerJoined {
            peer: peer.as_str().into(),
            room: p.room.as_str().into(),
            display_name: p.display_name.clone(),
            user_agent: p.user_agent.clone(),
        });
    }
    // Address names are fixed when a transport is first exported: each
    // transport with fixed names is exported once with reverse DNS saying
    // just those names, then brought to its current state.
    let mut touched = BTreeSet::new();
    for (transport, t) in model.transports.iter().rev() {
        let id = || transport.as_str().into();
        if let Some((tuple, names)) = &t.pinned {
            for (end, name) in [&tuple.local, &tuple.remote].into_iter().zip(names) {
                if let Host::Ip(ip) = end.host {
                    touched.insert(ip);
                    out.push(WorldEvent::HostnameResolved {
                        ip,
                        hostname: name.clone(),
                    });
                }
            }
        }
        out.push(WorldEvent::TransportCreated {
            transport: id(),
            peer: t.peer.as_str().into(),
            kind: t.kind,
        });
        if let Some((tuple, _)) = &t.pinned {
            out.push(WorldEvent::IceSelectedTupleChanged {
                transport: id(),
                tuple: Some(tuple.clone()),
            });
            out.push(WorldEvent::IceStateChanged {
                transport: id(),
                state: IceState::Completed,
            });
        }
        // The state first: changing the tuple of an exported transport
        // would fix new names.
        out.push(WorldEvent::IceStateChanged {
            transport: id(),
            state: t.ice,
        });
        out.push(WorldEvent::IceSelectedTupleChanged {
            transport: id(),
            tuple: t.tuple.clone(),
        });
    }
    for ip in touched.into_iter().chain(model.dns.keys().copied()) {
        out.push(WorldEvent::HostnameResolved {
            ip,
            hostname: model.dns.get(&ip).cloned(),
        });
    }
    for ((role, id), o) in model.owners.iter().rev() {
        let owner = match role {
            Role::Producer => {
                out.push(WorldEvent::ProducerCreated {
                    producer: id.as_str().into(),
                    transport: o.transport.as_str().into(),
                    kind: o.kind,
                    mime_type: MimeType::from(o.mime.as_str()),
                    clock_rate: NonZeroU32::new(o.clock_rate).expect("non-zero"),
                    paused: o.paused,
                });
                StreamOwner::Producer(id.as_str().into())
            }
            Role::Consumer => {
                out.push(WorldEvent::ConsumerCreated {
                    consumer: id.as_str().into(),
                    transport: o.transport.as_str().into(),
                    producer: "unknown".into(),
                    kind: o.kind,
                    mime_type: MimeType::from(o.mime.as_str()),
                    clock_rate: NonZeroU32::new(o.clock_rate).expect("non-zero"),
                    paused: o.paused,
                });
                StreamOwner::Consumer(id.as_str().into())
            }
        };
        for s in o.streams.values().rev() {
            out.push(WorldEvent::StatsUpdated {
                owner: owner.clone(),
                stats: s.clone(),
            });
        }
    }
    out
}

fn tuple(remote: [u8; 4]) -> TransportTuple {
    TransportTuple {
        protocol: Protocol::Udp,
        local: Endpoint {
            host: Host::Ip([127, 0, 0, 1].into()),
            port: 40000,
        },
        remote: Endpoint {
            host: Host::Ip(remote.into()),
            port: 50000,
        },
    }
}

/// One worker, one room, two peers each sending audio to the other.
pub fn demo_world() -> Vec<WorldEvent> {
    let mut events = vec![
        WorldEvent::WorkerStarted {
            worker: "w0".into(),
            pid: 4242,
        },
        WorldEvent::RoomOpened {
            room: "lobby".into(),
            worker: "w0".into(),
        },
    ];
    for (i, name) in ["alice", "bob"].into_iter().enumerate() {
        let transport = || format!("t-{name}").into();
        events.extend([
            WorldEvent::PeerJoined {
                peer: name.into(),
                room: "lobby".into(),
                display_name: name.to_uppercase(),
                user_agent: "Mozilla/5.0".into(),
            },
            WorldEvent::TransportCreated {
                transport: transport(),
                peer: name.into(),
                kind: TransportKind::WebRtc,
            },
            WorldEvent::IceSelectedTupleChanged {
                transport: transport(),
                tuple: Some(tuple([192, 0, 2, i as u8 + 1])),
            },
            WorldEvent::IceStateChanged {
                transport: transport(),
                state: IceState::Completed,
            },
            WorldEvent::ProducerCreated {
                producer: format!("P-{name}").into(),
                transport: transport(),
                kind: MediaKind::Audio,
                mime_type: "audio/opus".into(),
                clock_rate: NonZeroU32::new(48_000).expect("non-zero"),
                paused: false,
            },
        ]);
    }
    for (consumer, on, producer) in [
        ("C-bob", "t-bob", "P-alice"),
        ("C-alice", "t-alice", "P-bob"),
    ] {
        events.push(WorldEvent::ConsumerCreated {
            consumer: consumer.into(),
            transport: on.into(),
            producer: producer.into(),
            kind: MediaKind::Audio,
            mime_type: "audio/opus".into(),
            clock_rate: NonZeroU32::new(48_000).expect("non-zero"),
            paused: false,
        });
        let mut stats = RtpStreamStats::empty(RtpStreamType::OutboundRtp, 1000);
        stats.byte_count = 12_345;
        stats.packet_count = 100;
        stats.score = Score::MAX;
        events.push(WorldEvent::StatsUpdated {
            owner: StreamOwner::Consumer(consumer.into()),
            stats,
        });
        let mut stats = RtpStreamStats::empty(RtpStreamType::InboundRtp, 2000);
        stats.byte_count = 23_456;
        stats.packet_count = 200;
        stats.score = Score::try_from(9).expect("valid");
        events.push(WorldEvent::StatsUpdated {
            owner: StreamOwner::Producer(producer.into()),
            stats,
        });
    }
    events
}
