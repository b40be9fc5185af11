//! A synthetic World for the benches: rooms of ten peers, each publishing
//! audio and video and consuming everyone else's, 36-character ids, a long
//! user agent, IPv4 tuples; the events that build it, one scrape's stats,
//! and the same streams as plain series for the `prometheus`-crate baseline.

use std::num::NonZeroU32;

use ejtimaa_systems::{
    Endpoint, Host, IceState, MediaKind, Protocol, RtpStreamStats, RtpStreamType, Score,
    StreamOwner, TransportKind, TransportTuple, WorldEvent,
};

/// Peers per room; each peer publishes audio and video and consumes everyone
/// else's, so a peer owns 2 producer streams and 2 × (PEERS_PER_ROOM - 1)
/// consumer streams.
pub const PEERS_PER_ROOM: usize = 10;
pub const STREAMS_PER_PEER: usize = 2 * PEERS_PER_ROOM;

pub const USER_AGENT: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
                          Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.51";

/// A 36-character id shaped like mediasoup's random (v4) UUIDs, with as
/// little repetition between ids as theirs, so that compression benches see
/// live text's entropy; the same `(kind, n)` always gives the same id.
pub fn uuid(kind: u32, n: usize) -> String {
    let a = splitmix((u64::from(kind) << 40) ^ n as u64);
    let b = splitmix(a);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | (b >> 48) & 0x3fff,
        b & 0xffff_ffff_ffff
    )
}

/// One step of SplitMix64: a cheap, well-mixed hash of a counter.
fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// One stream as the original built its series: 13 label values and the
/// stream's figures.
pub struct Series {
    /// A producer's stream (else a consumer's).
    pub producer: bool,
    /// The original's 13 label values.
    pub labels: [String; 13],
    /// The stream's figures.
    pub stats: RtpStreamStats,
}

/// The events that build a world of `streams` streams, the stats events of
/// one scrape, and the same series as plain data for the `prometheus` path.
pub fn world(streams: usize) -> (Vec<WorldEvent>, Vec<WorldEvent>, Vec<Series>) {
    let peers = streams.div_ceil(STREAMS_PER_PEER);
    let rooms = peers.div_ceil(PEERS_PER_ROOM);
    let mut build = vec![WorldEvent::WorkerStarted {
        worker: uuid(1, 0).into(),
        pid: 4242,
    }];
    let mut stats = Vec::new();
    let mut series = Vec::new();
    for r in 0..rooms {
        build.push(WorldEvent::RoomOpened {
            room: uuid(2, r).into(),
            worker: uuid(1, 0).into(),
        });
    }
    let mut stream_count = 0;
    for p in 0..peers {
        let room = p / PEERS_PER_ROOM;
        let peer = uuid(3, p);
        let display_name = format!("Participant {p} «test»");
        build.push(WorldEvent::PeerJoined {
            peer: peer.as_str().into(),
            room: uuid(2, room).into(),
            display_name: display_name.clone(),
            user_agent: USER_AGENT.into(),
        });
        let remote = [192, 0, 2 + (p / 250 % 3) as u8, (p % 250) as u8 + 1];
        for (t, send) in [(2 * p, true), (2 * p + 1, false)] {
            let transport = uuid(4, t);
            let tuple = TransportTuple {
                protocol: Protocol::Udp,
                local: Endpoint {
                    host: Host::Ip([203, 0, 113, 10].into()),
                    port: 40000 + t as u16 % 10000,
                },
                remote: Endpoint {
                    host: Host::Ip(remote.into()),
                    port: 50000 + send as u16,
                },
            };
            build.extend([
                WorldEvent::TransportCreated {
                    transport: transport.as_str().into(),
                    peer: peer.as_str().into(),
                    kind: TransportKind::WebRtc,
                },
                WorldEvent::IceSelectedTupleChanged {
                    transport: transport.as_str().into(),
                    tuple: Some(tuple),
                },
                WorldEvent::IceStateChanged {
                    transport: transport.as_str().into(),
                    state: IceState::Completed,
                },
            ]);
            let owners = if send { 2 } else { STREAMS_PER_PEER - 2 };
            for o in 0..owners {
                if stream_count == streams {
                    break;
                }
                stream_count += 1;
                let id = uuid(5, stream_count);
                let (kind, mime, codec, rate) = if o % 2 == 0 {
                    (MediaKind::Audio, "audio/opus", "opus", 48_000)
                } else {
                    (MediaKind::Video, "video/VP8", "VP8", 90_000)
                };
                let clock_rate = NonZeroU32::new(rate).expect("non-zero");
                let owner = if send {
                    build.push(WorldEvent::ProducerCreated {
                        producer: id.as_str().into(),
                        transport: transport.as_str().into(),
                        kind,
                        mime_type: mime.into(),
                        clock_rate,
                        paused: false,
                    });
                    StreamOwner::Producer(id.as_str().into())
                } else {
                    build.push(WorldEvent::ConsumerCreated {
                        consumer: id.as_str().into(),
                        transport: transport.as_str().into(),
                        producer: uuid(5, 0).into(),
                        kind,
                        mime_type: mime.into(),
                        clock_rate,
                        paused: false,
                    });
                    StreamOwner::Consumer(id.as_str().into())
                };
                let stream_type = if send {
                    RtpStreamType::InboundRtp
                } else {
                    RtpStreamType::OutboundRtp
                };
                let mut s = RtpStreamStats::empty(stream_type, 1000 + stream_count as u32);
                s.byte_count = 1_000_000 + stream_count as u64 * 7919;
                s.packet_count = 1000 + stream_count as u64;
                s.packets_lost = (stream_count % 7) as i64;
                s.fraction_lost = (stream_count % 5) as u8;
                s.jitter = 90 + (stream_count % 100) as u32;
                s.round_trip_time = Some(1.5 + (stream_count % 10) as f32);
                s.bitrate = 500_000 + stream_count as u64;
                s.nack_count = (stream_count % 3) as u64;
                s.pli_count = (stream_count % 2) as u64;
                s.score = Score::MAX;
                stats.push(WorldEvent::StatsUpdated {
                    owner,
                    stats: s.clone(),
                });
                series.push(Series {
                    producer: send,
                    labels: [
                        "4242".into(),
                        uuid(2, room),
                        peer.clone(),
                        display_name.clone(),
                        USER_AGENT.into(),
                        transport.clone(),
                        "udp".into(),
                        format!("203.0.113.10:{}", 40000 + t as u16 % 10000),
                        format!(
                            "{}.{}.{}.{}:{}",
                            remote[0],
                            remote[1],
                            remote[2],
                            remote[3],
                            50000 + send as u16
                        ),
                        id,
                        kind_str(kind).into(),
                        codec.into(),
                        stream_type.as_str().into(),
                    ],
                    stats: s,
                });
            }
        }
    }
    (build, stats, series)
}

pub fn kind_str(kind: MediaKind) -> &'static str {
    kind.as_str()
}

/// Advances every stream's figures the way a steady, loss-free call's next
/// get_stats does: bytes, packets, bitrate, jitter and round-trip time move;
/// losses, feedback counts and scores stay.
pub fn next_scrape(stats: &mut [WorldEvent]) {
    for e in stats {
        if let WorldEvent::StatsUpdated { stats, .. } = e {
            stats.byte_count += 1200;
            stats.packet_count += 1;
            stats.bitrate = stats.bitrate % 600_000 + 997;
            stats.jitter = stats.jitter % 200 + 7;
            stats.round_trip_time = stats.round_trip_time.map(|rtt| rtt % 20.0 + 0.25);
        }
    }
}
