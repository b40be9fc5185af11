//! proptest strategies: random event sequences over small id pools, so that
//! closes, reuses, duplicates and events for unknown or closed objects are common.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::num::NonZeroU32;

use ejtimaa_systems::{
    Endpoint, ExportOptions, Host, IceState, MediaKind, MetricsMode, MimeType, Protocol,
    RtpStreamStats, RtpStreamType, Score, StreamOwner, TransportKind, TransportTuple, WorldEvent,
};
use proptest::prelude::*;
use proptest::sample::select;

/// One step of a test: an event, or a change of the export options.
#[derive(Debug, Clone)]
pub enum Step {
    Event(WorldEvent),
    Options(ExportOptions),
}

fn id(prefix: &'static str, n: usize) -> impl Strategy<Value = String> {
    (0..n).prop_map(move |i| format!("{prefix}{i}"))
}

/// Display names and user agents: any unicode, with the characters that need
/// escaping made frequent. Carriage returns are left out because the test's
/// parser (openmetrics-parser) reads `\r` as a line break, which Prometheus's
/// own parser does not; `render.rs` checks that a CR passes through unchanged.
pub fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[\"\\\\\n{},=# a-zé😀]{0,16}",
        Just(String::new()),
    ]
    .prop_map(|s| s.replace('\r', ""))
}

/// Display names and user agents that test the label value cap: mostly
/// long (up to tens of thousands of characters), made of the characters that
/// need escaping, multi-byte ones and anything else.
pub fn long_text() -> impl Strategy<Value = String> {
    (text(), 0usize..3000, "[\"\\\\\n😀é…a]{1,8}").prop_map(|(base, n, unit)| {
        let mut s = base;
        s.push_str(&unit.repeat(n));
        s
    })
}

/// Caps on label values: tiny ones make every id collide (rooms, peers and
/// streams whose labels coincide must merge), middling ones cut names and
/// addresses, and the default.
pub fn label_value_max() -> impl Strategy<Value = usize> {
    prop_oneof![
        1 => Just(0usize),
        1 => Just(1usize),
        2 => 2usize..24,
        4 => Just(ejtimaa_systems::export::DEFAULT_LABEL_VALUE_MAX),
        1 => Just(100_000usize),
    ]
}

fn options() -> impl Strategy<Value = ExportOptions> {
    let metrics = prop_oneof![
        3 => Just(MetricsMode::Default),
        1 => Just(MetricsMode::Aggregated),
        1 => Just(MetricsMode::Both),
    ];
    (
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        metrics,
        label_value_max(),
    )
        .prop_map(
            |(deidentify, numeric, quiet, metrics, label_value_max)| ExportOptions {
                deidentify,
                numeric,
                quiet,
                metrics,
                label_value_max,
            },
        )
}

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|o| IpAddr::V4(Ipv4Addr::from(o))),
        select(vec![[192, 0, 2, 1], [198, 51, 100, 7], [127, 0, 0, 1]])
            .prop_map(|o| IpAddr::V4(Ipv4Addr::from(o))),
        any::<[u16; 8]>().prop_map(|s| IpAddr::V6(Ipv6Addr::from(s))),
        select(vec![Ipv6Addr::LOCALHOST, Ipv6Addr::UNSPECIFIED]).prop_map(IpAddr::V6),
    ]
}

fn host() -> impl Strategy<Value = Host> {
    prop_oneof![
        4 => ip().prop_map(Host::Ip),
        1 => select(vec!["media.example.org", "sfu", "a.b.c.d.example"])
            .prop_map(|n| Host::Name(n.into())),
    ]
}

fn tuple() -> impl Strategy<Value = TransportTuple> {
    (any::<bool>(), host(), any::<u16>(), ip(), any::<u16>()).prop_map(
        |(udp, local, lport, remote, rport)| TransportTuple {
            protocol: if udp { Protocol::Udp } else { Protocol::Tcp },
            local: Endpoint {
                host: local,
                port: lport,
            },
            remote: Endpoint {
                host: Host::Ip(remote),
                port: rport,
            },
        },
    )
}

fn owner() -> impl Strategy<Value = StreamOwner> {
    prop_oneof![
        id("P", 5).prop_map(|p| StreamOwner::Producer(p.into())),
        id("C", 6).prop_map(|c| StreamOwner::Consumer(c.into())),
    ]
}

fn score() -> impl Strategy<Value = Score> {
    (0u8..=10).prop_map(|s| Score::try_from(s).expect("in range"))
}

fn kind() -> impl Strategy<Value = MediaKind> {
    prop_oneof![Just(MediaKind::Audio), Just(MediaKind::Video)]
}

fn mime() -> impl Strategy<Value = MimeType> {
    select(vec!["audio/opus", "video/VP8", "video/H264", "weird"]).prop_map(MimeType::from)
}

fn clock_rate() -> impl Strategy<Value = NonZeroU32> {
    select(vec![48_000, 90_000, 8_000, 1]).prop_map(|r| NonZeroU32::new(r).expect("non-zero"))
}

/// Round-trip times as mediasoup reports them (milliseconds), with the
/// unusable ones (negative, NaN, infinite) that must not show.
fn round_trip_time() -> impl Strategy<Value = Option<f32>> {
    prop_oneof![
        4 => Just(None),
        6 => (0.0f32..2000.0).prop_map(Some),
        1 => select(vec![f32::NAN, f32::INFINITY, -1.0, 0.0]).prop_map(Some),
    ]
}

fn stats() -> impl Strategy<Value = RtpStreamStats> {
    (
        prop_oneof![
            Just(RtpStreamType::InboundRtp),
            Just(RtpStreamType::OutboundRtp)
        ],
        1u32..4,
        0u64..1 << 40,
        0u64..1 << 30,
        score(),
        (
            -100i64..1 << 20,
            any::<u8>(),
            any::<u32>(),
            round_trip_time(),
        ),
        (0u64..1 << 24, 0u64..1 << 12, 0u64..1 << 8, 0u64..1 << 4),
    )
        .prop_map(
            |(
                stream_type,
                ssrc,
                byte_count,
                packet_count,
                score,
                (packets_lost, fraction_lost, jitter, round_trip_time),
                (bitrate, nack_count, pli_count, fir_count),
            )| {
                let mut s = RtpStreamStats::empty(stream_type, ssrc);
                s.byte_count = byte_count;
                s.packet_count = packet_count;
                s.score = score;
                s.packets_lost = packets_lost;
                s.fraction_lost = fraction_lost;
                s.jitter = jitter;
                s.round_trip_time = round_trip_time;
                s.bitrate = bitrate;
                s.nack_count = nack_count;
                s.pli_count = pli_count;
                s.fir_count = fir_count;
                s
            },
        )
}

/// Stats that grow from a base, as a live stream's do (random ones alone
/// would mostly go backwards and be dropped as stale).
fn growing_stats() -> impl Strategy<Value = RtpStreamStats> {
    (stats(), 0u64..5000, 0u64..50, 0u64..3).prop_map(|(mut s, step, packets, feedback)| {
        s.byte_count = s.byte_count % 1_000_000 + step;
        s.packet_count = s.packet_count % 10_000 + packets;
        s.nack_count = s.nack_count % 64 + feedback;
        s.pli_count = s.pli_count % 8 + feedback;
        s.fir_count = s.fir_count % 2 + feedback;
        s
    })
}

/// Strings for display names and user agents.
type Texts = BoxedStrategy<String>;

fn event(text: Texts) -> impl Strategy<Value = WorldEvent> {
    let worker = || id("w", 2).prop_map(Into::into);
    let room = || id("r", 3).prop_map(Into::into);
    let peer = || id("p", 5).prop_map(Into::into);
    let transport = || id("t", 6).prop_map(Into::into);
    let producer = || id("P", 5).prop_map(Into::into);
    let consumer = || id("C", 6).prop_map(Into::into);
    prop_oneof![
        3 => (worker(), 1u32..100_000).prop_map(|(worker, pid)| WorldEvent::WorkerStarted { worker, pid }),
        1 => worker().prop_map(|worker| {
            if worker.as_str().ends_with('0') {
                WorldEvent::WorkerClosed { worker }
            } else {
                WorldEvent::WorkerDied { worker }
            }
        }),
        4 => (room(), worker()).prop_map(|(room, worker)| WorldEvent::RoomOpened { room, worker }),
        1 => room().prop_map(|room| WorldEvent::RoomClosed { room }),
        2 => (id("R", 3), room(), worker()).prop_map(|(router, room, worker)| WorldEvent::RouterOpened {
            router: router.into(), room, worker,
        }),
        1 => id("R", 3).prop_map(|router| WorldEvent::RouterClosed { router: router.into() }),
        2 => (transport(), room(), worker()).prop_map(|(transport, room, worker)| {
            WorldEvent::PipeTransportCreated { transport, room, worker }
        }),
        6 => (peer(), room(), text.clone(), text.clone()).prop_map(|(peer, room, display_name, user_agent)| {
            WorldEvent::PeerJoined { peer, room, display_name, user_agent }
        }),
        2 => (peer(), text).prop_map(|(peer, display_name)| WorldEvent::PeerRenamed { peer, display_name }),
        1 => peer().prop_map(|peer| WorldEvent::PeerLeft { peer }),
        6 => (transport(), peer(), prop_oneof![
            5 => Just(TransportKind::WebRtc),
            1 => Just(TransportKind::Plain),
            1 => Just(TransportKind::Pipe),
        ]).prop_map(|(transport, peer, kind)| WorldEvent::TransportCreated { transport, peer, kind }),
        1 => transport().prop_map(|transport| WorldEvent::TransportClosed { transport }),
        6 => (transport(), prop_oneof![
            1 => Just(IceState::New),
            1 => Just(IceState::Connected),
            12 => Just(IceState::Completed),
            1 => Just(IceState::Disconnected),
            1 => Just(IceState::Closed),
        ]).prop_map(|(transport, state)| WorldEvent::IceStateChanged { transport, state }),
        4 => (transport(), proptest::option::weighted(0.9, tuple()))
            .prop_map(|(transport, tuple)| WorldEvent::IceSelectedTupleChanged { transport, tuple }),
        6 => (producer(), transport(), kind(), (mime(), clock_rate()), any::<bool>()).prop_map(
            |(producer, transport, kind, (mime_type, clock_rate), paused)| WorldEvent::ProducerCreated {
                producer, transport, kind, mime_type, clock_rate, paused,
            }),
        1 => producer().prop_map(|producer| WorldEvent::ProducerClosed { producer }),
        1 => (producer(), any::<bool>()).prop_map(|(producer, paused)| WorldEvent::ProducerPaused { producer, paused }),
        6 => (consumer(), transport(), producer(), kind(), (mime(), clock_rate()), any::<bool>()).prop_map(
            |(consumer, transport, producer, kind, (mime_type, clock_rate), paused)| WorldEvent::ConsumerCreated {
                consumer, transport, producer, kind, mime_type, clock_rate, paused,
            }),
        1 => consumer().prop_map(|consumer| WorldEvent::ConsumerClosed { consumer }),
        1 => (consumer(), any::<bool>()).prop_map(|(consumer, paused)| WorldEvent::ConsumerPaused { consumer, paused }),
        4 => (owner(), 1u32..4, score()).prop_map(|(owner, ssrc, score)| WorldEvent::ScoreChanged { owner, ssrc, score }),
        4 => (owner(), stats()).prop_map(|(owner, stats)| WorldEvent::StatsUpdated { owner, stats }),
        8 => (owner(), growing_stats()).prop_map(|(owner, stats)| WorldEvent::StatsUpdated { owner, stats }),
        1 => (ip(), proptest::option::of(select(vec!["host.example.org", "a\"b", "x"])))
            .prop_map(|(ip, name)| WorldEvent::HostnameResolved { ip, hostname: name.map(String::from) }),
    ]
}

/// A coherent world, parents before children, over the same id pools: random
/// events alone would rarely build the whole chain down to a flowing stream.
fn world(text: Texts) -> impl Strategy<Value = Vec<WorldEvent>> {
    let rooms = prop::collection::vec((any::<bool>(), 0..2usize), 3);
    let peers = prop::collection::vec((0..3usize, text.clone(), text), 5);
    let transports = prop::collection::vec((0..5usize, tuple(), 0..8u8), 6);
    let owners = prop::collection::vec((0..6usize, kind(), mime(), clock_rate()), 11);
    let streams = prop::collection::vec((owner(), growing_stats()), 0..12);
    (rooms, peers, transports, owners, streams).prop_map(
        |(rooms, peers, transports, owners, streams)| {
            let mut events: Vec<WorldEvent> = (0..2)
                .map(|w| WorldEvent::WorkerStarted {
                    worker: format!("w{w}").into(),
                    pid: 1000 + w,
                })
                .collect();
            for (r, (open, w)) in rooms.into_iter().enumerate() {
                if open {
                    events.push(WorldEvent::RoomOpened {
                        room: format!("r{r}").into(),
                        worker: format!("w{w}").into(),
                    });
                    // Spread onto the other worker, with a pipe at each end.
                    events.push(WorldEvent::RouterOpened {
                        router: format!("R{r}").into(),
                        room: format!("r{r}").into(),
                        worker: format!("w{}", 1 - w).into(),
                    });
                    for (end, worker) in [w, 1 - w].into_iter().enumerate() {
                        events.push(WorldEvent::PipeTransportCreated {
                            transport: format!("tp{r}{end}").into(),
                            room: format!("r{r}").into(),
                            worker: format!("w{worker}").into(),
                        });
                    }
                }
            }
            for (p, (r, display_name, user_agent)) in peers.into_iter().enumerate() {
                events.push(WorldEvent::PeerJoined {
                    peer: format!("p{p}").into(),
                    room: format!("r{r}").into(),
                    display_name,
                    user_agent,
                });
            }
            for (t, (p, tuple, ice)) in transports.into_iter().enumerate() {
                let transport = || format!("t{t}").into();
                let kind = if ice == 7 {
                    TransportKind::Plain
                } else {
                    TransportKind::WebRtc
                };
                events.push(WorldEvent::TransportCreated {
                    transport: transport(),
                    peer: format!("p{p}").into(),
                    kind,
                });
                events.push(WorldEvent::IceSelectedTupleChanged {
                    transport: transport(),
                    tuple: Some(tuple),
                });
                let state = if ice < 5 {
                    IceState::Completed
                } else {
                    IceState::Connected
                };
                events.push(WorldEvent::IceStateChanged {
                    transport: transport(),
                    state,
                });
            }
            for (i, (t, kind, mime_type, clock_rate)) in owners.into_iter().enumerate() {
                let transport = format!("t{t}").into();
                events.push(if i < 5 {
                    WorldEvent::ProducerCreated {
                        producer: format!("P{i}").into(),
                        transport,
                        kind,
                        mime_type,
                        clock_rate,
                        paused: false,
                    }
                } else {
                    WorldEvent::ConsumerCreated {
                        consumer: format!("C{}", i - 5).into(),
                        transport,
                        producer: "P0".into(),
                        kind,
                        mime_type,
                        clock_rate,
                        paused: false,
                    }
                });
            }
            for (owner, stats) in streams {
                events.push(WorldEvent::StatsUpdated { owner, stats });
            }
            events
        },
    )
}

/// A test case: starting options and a sequence of steps, usually starting
/// from a coherent world, and now and then rebuilding one (over ids that may
/// still be live: duplicates are part of the test).
pub fn scenario(max_steps: usize) -> impl Strategy<Value = (ExportOptions, Vec<Step>)> {
    scenario_with(max_steps, text().boxed())
}

/// [`scenario`] with display names and user agents drawn from `text`.
pub fn scenario_with(
    max_steps: usize,
    text: Texts,
) -> impl Strategy<Value = (ExportOptions, Vec<Step>)> {
    let events = |w: Vec<WorldEvent>| w.into_iter().map(Step::Event).collect::<Vec<_>>();
    let chunk = prop_oneof![
        80 => event(text.clone()).prop_map(|e| vec![Step::Event(e)]),
        2 => options().prop_map(|o| vec![Step::Options(o)]),
        1 => world(text.clone()).prop_map(events),
    ];
    let start = prop_oneof![5 => world(text), 1 => Just(Vec::new())];
    (options(), start, prop::collection::vec(chunk, 1..max_steps)).prop_map(
        move |(options, start, chunks)| {
            let steps = events(start)
                .into_iter()
                .chain(chunks.into_iter().flatten())
                .collect();
            (options, steps)
        },
    )
}
