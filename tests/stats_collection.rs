//! Stats collection against a real mediasoup worker: a str0m client sends VP8
//! into a producer over loopback, the collector fans `get_stats` out and the
//! engine renders the figures.
//!
//! The client follows `tests/dtls_handshake.rs` (ICE controlling, DTLS client,
//! one host candidate each side) and the shared str0m prototype for the RTP
//! parameters (VP8 pt 96, mid, str0m's extension ids).

use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use ejtimaa::engine::{self, EngineHandle};
use ejtimaa::media::registry::{MediaRegistry, Owner};
use ejtimaa::media::stats::StatsCollector;
use ejtimaa::media::{self, create_worker};
use ejtimaa_systems as systems;
use ejtimaa_systems::{ExportOptions, WorldEvent};
use mediasoup::prelude::*;
use mediasoup::types::data_structures::{DtlsFingerprint, DtlsRole, IceState};
use mediasoup::types::rtp_parameters::{RtpHeaderExtensionParameters, RtpHeaderExtensionUri};
use str0m::config::Fingerprint;
use str0m::ice::IceCreds;
use str0m::media::{MediaKind as SKind, Mid};
use str0m::net::{Protocol as SProtocol, Receive};
use str0m::rtp::{RtpWrite, SeqNo};
use str0m::{Candidate, Input, Output, Rtc, RtcConfig};

/// Upper bound of each test, worker start-up included: never hang CI.
const TEST_DEADLINE: Duration = Duration::from_secs(60);
/// How long the figures may take to show up (or grow).
const MEDIA_DEADLINE: Duration = Duration::from_secs(15);
const SSRC: u32 = 0x1234_5678;
const MID: &str = "v0";
const PT: u8 = 96;

/// A worker, a router and one WebRtcTransport on 127.0.0.1.
struct Media {
    _manager: WorkerManager,
    worker: Worker,
    _router: Router,
    transport: WebRtcTransport,
}

async fn media() -> Media {
    let manager = WorkerManager::new();
    let worker = create_worker(&manager, media::worker_settings())
        .await
        .expect("worker");
    let router = worker
        .create_router(RouterOptions::new(vec![RtpCodecCapability::Video {
            mime_type: MimeTypeVideo::Vp8,
            preferred_payload_type: None,
            clock_rate: NonZeroU32::new(90000).unwrap(),
            parameters: RtpCodecParametersParameters::default(),
            rtcp_feedback: vec![RtcpFeedback::Nack, RtcpFeedback::NackPli],
        }]))
        .await
        .expect("router");
    let listen = ListenInfo {
        protocol: Protocol::Udp,
        ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        announced_address: None,
        expose_internal_ip: false,
        port: None,
        port_range: None,
        flags: None,
        send_buffer_size: None,
        recv_buffer_size: None,
    };
    let transport = router
        .create_webrtc_transport(WebRtcTransportOptions::new(
            WebRtcTransportListenInfos::new(listen),
        ))
        .await
        .expect("transport");
    Media {
        _manager: manager,
        worker,
        _router: router,
        transport,
    }
}

/// A VP8 producer for what str0m sends on `mid` with `ssrc`.
async fn produce(transport: &WebRtcTransport, mid: &str, ssrc: u32) -> Producer {
    let ext = |uri, id| RtpHeaderExtensionParameters {
        uri,
        id,
        encrypt: false,
    };
    transport
        .produce(ProducerOptions::new(
            MediaKind::Video,
            RtpParameters {
                mid: Some(mid.into()),
                codecs: vec![RtpCodecParameters::Video {
                    mime_type: MimeTypeVideo::Vp8,
                    payload_type: PT,
                    clock_rate: NonZeroU32::new(90000).unwrap(),
                    parameters: RtpCodecParametersParameters::default(),
                    rtcp_feedback: vec![RtcpFeedback::Nack, RtcpFeedback::NackPli],
                }],
                header_extensions: vec![
                    ext(RtpHeaderExtensionUri::Mid, 4),
                    ext(RtpHeaderExtensionUri::AbsSendTime, 2),
                    ext(RtpHeaderExtensionUri::TransportWideCcDraft01, 3),
                ],
                encodings: vec![RtpEncodingParameters {
                    ssrc: Some(ssrc),
                    ..Default::default()
                }],
                rtcp: RtcpParameters {
                    cname: Some("str0m".into()),
                    reduced_size: true,
                },
                msid: None,
            },
        ))
        .await
        .expect("produce")
}

/// A str0m client sending ~30 fps of VP8 keyframes into `transport` on its
/// own thread until `stop` is set.
struct Client {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Client {
    async fn start(transport: &WebRtcTransport) -> Client {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("client socket");
        let local = socket.local_addr().unwrap();
        let mut rtc: Rtc = RtcConfig::new().set_rtp_mode(true).build(Instant::now());
        rtc.add_local_candidate(Candidate::host(local, "udp").unwrap())
            .expect("local candidate");
        let ms = transport
            .ice_candidates()
            .iter()
            .find(|c| c.protocol == Protocol::Udp)
            .expect("mediasoup UDP candidate");
        let ms_addr = SocketAddr::new(ms.address.parse().unwrap(), ms.port);
        rtc.add_remote_candidate(Candidate::host(ms_addr, "udp").unwrap());
        let ice = transport.ice_parameters();
        let ms_fp = transport
            .dtls_parameters()
            .fingerprints
            .iter()
            .find_map(|f| match f {
                DtlsFingerprint::Sha256 { value } => Some(value.to_vec()),
                _ => None,
            })
            .expect("sha-256 fingerprint");
        let client_fp = {
            let mut api = rtc.direct_api();
            api.set_ice_controlling(true); // mediasoup is ICE-lite
            api.set_remote_ice_credentials(IceCreds {
                ufrag: ice.username_fragment.clone(),
                pass: ice.password.clone(),
            });
            api.set_remote_fingerprint(Fingerprint {
                hash_func: "sha-256".into(),
                bytes: ms_fp,
            });
            api.start_dtls(true).expect("DTLS client");
            api.declare_media(Mid::from(MID), SKind::Video);
            api.declare_stream_tx(SSRC.into(), None, Mid::from(MID), None);
            DtlsFingerprint::Sha256 {
                value: api
                    .local_dtls_fingerprint()
                    .bytes
                    .as_slice()
                    .try_into()
                    .unwrap(),
            }
        };
        transport
            .connect(WebRtcTransportRemoteParameters {
                dtls_parameters: DtlsParameters {
                    role: DtlsRole::Client,
                    fingerprints: vec![client_fp],
                },
            })
            .await
            .expect("connect");
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = thread::spawn(move || drive(rtc, socket, local, &flag));
        Client {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The client's UDP loop: every wait is bounded, so `stop` is seen promptly.
fn drive(mut rtc: Rtc, socket: UdpSocket, local: SocketAddr, stop: &AtomicBool) {
    let mut buf = vec![0u8; 2000];
    let (mut connected, mut frame, mut seq) = (false, 0u32, 1000u64);
    let mut next_frame = Instant::now();
    while !stop.load(Ordering::Relaxed) && rtc.is_alive() {
        let timeout = loop {
            match rtc.poll_output() {
                Ok(Output::Timeout(t)) => break t,
                Ok(Output::Transmit(t)) => {
                    let _ = socket.send_to(&t.contents, t.destination);
                }
                Ok(Output::Event(str0m::Event::Connected)) => connected = true,
                Ok(Output::Event(_)) => {}
                Err(_) => return,
            }
        };
        let now = Instant::now();
        if connected && now >= next_frame {
            let mut api = rtc.direct_api();
            let Some(stream) = api.stream_tx(&SSRC.into()) else {
                return;
            };
            for part in 0..3u8 {
                let w = RtpWrite::new(
                    PT.into(),
                    SeqNo::from(seq),
                    frame.wrapping_mul(3000),
                    now,
                    vp8_payload(part == 0, frame),
                )
                .marker(part == 2);
                stream.write_rtp(w);
                seq += 1;
            }
            frame += 1;
            next_frame += Duration::from_millis(33);
            let _ = rtc.handle_input(Input::Timeout(Instant::now()));
            continue;
        }
        let wait = timeout
            .min(next_frame)
            .saturating_duration_since(Instant::now())
            .clamp(Duration::from_millis(1), Duration::from_millis(20));
        socket.set_read_timeout(Some(wait)).unwrap();
        let input = match socket.recv_from(&mut buf) {
            Ok((n, source)) => match buf[..n].try_into() {
                Ok(contents) => Input::Receive(
                    Instant::now(),
                    Receive {
                        proto: SProtocol::Udp,
                        source,
                        destination: local,
                        contents,
                    },
                ),
                Err(_) => continue,
            },
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                Input::Timeout(Instant::now())
            }
            Err(_) => return,
        };
        if rtc.handle_input(input).is_err() {
            return;
        }
    }
}

/// A VP8 payload (descriptor, and a keyframe header on a frame's first part).
fn vp8_payload(first: bool, frame: u32) -> Vec<u8> {
    let picture_id = (frame & 0x7fff) as u16;
    let mut p = vec![
        if first { 0x90 } else { 0x80 },
        0xE0,
        0x80 | (picture_id >> 8) as u8,
        picture_id as u8,
        frame as u8,
        0x20,
    ];
    if first {
        p.extend_from_slice(&[0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00]);
    }
    p.resize(1000, 0x55);
    p
}

/// Tells the engine about the worker, a room, a peer, the transport (ICE
/// completed, with its selected tuple) and `producer`, as the media layer would.
fn report(engine: &EngineHandle, media: &Media, producer: &Producer) {
    let worker: systems::WorkerId = media.worker.id().to_string().into();
    let transport: systems::TransportId = media.transport.id().to_string().into();
    let tuple = media.transport.ice_selected_tuple().map(|t| {
        let local: IpAddr = t.local_address().parse().expect("numeric local address");
        systems::TransportTuple {
            protocol: systems::Protocol::Udp,
            local: systems::Endpoint {
                host: systems::Host::Ip(local),
                port: t.local_port(),
            },
            remote: systems::Endpoint {
                host: systems::Host::Ip(t.remote_ip().expect("remote address")),
                port: t.remote_port().expect("remote port"),
            },
        }
    });
    engine.send_all(vec![
        WorldEvent::WorkerStarted {
            worker: worker.clone(),
            pid: std::process::id(),
        },
        WorldEvent::RoomOpened {
            room: "room".into(),
            worker,
        },
        WorldEvent::PeerJoined {
            peer: "peer".into(),
            room: "room".into(),
            display_name: "Tester".into(),
            user_agent: "str0m".into(),
        },
        WorldEvent::TransportCreated {
            transport: transport.clone(),
            peer: "peer".into(),
            kind: systems::TransportKind::WebRtc,
        },
        WorldEvent::IceStateChanged {
            transport: transport.clone(),
            state: systems::IceState::Completed,
        },
        WorldEvent::IceSelectedTupleChanged {
            transport: transport.clone(),
            tuple,
        },
        WorldEvent::ProducerCreated {
            producer: producer.id().to_string().into(),
            transport,
            kind: systems::MediaKind::Video,
            mime_type: "video/VP8".into(),
            clock_rate: std::num::NonZeroU32::new(90_000).unwrap(),
            paused: false,
        },
    ]);
}

/// The value of the producer byte count series of `producer`, if rendered.
fn byte_count(text: &str, producer: &Producer) -> Option<f64> {
    let id = format!("id=\"{}\"", producer.id());
    text.lines()
        .filter(|l| l.starts_with("mediasoup_producer_byte_count_bytes{"))
        .find(|l| l.contains(&id) && l.contains("type=\"inbound-rtp\""))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Refreshes and renders until `accept` likes the byte count, or fails.
async fn refresh_until(
    collector: &StatsCollector,
    engine: &EngineHandle,
    producer: &Producer,
    accept: impl Fn(f64) -> bool,
) -> f64 {
    let start = Instant::now();
    loop {
        collector.refresh().await;
        let text = engine
            .render(ejtimaa_systems::ServerFigures::default())
            .await
            .expect("render");
        if let Some(v) = byte_count(&text, producer).filter(|v| accept(*v)) {
            return v;
        }
        assert!(
            start.elapsed() < MEDIA_DEADLINE,
            "byte count never got there; last exposition:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_for_ice(transport: &WebRtcTransport) {
    let start = Instant::now();
    while transport.ice_state() != IceState::Completed || transport.ice_selected_tuple().is_none() {
        assert!(start.elapsed() < MEDIA_DEADLINE, "ICE never completed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producer_byte_count_is_exported_and_grows() {
    str0m::crypto::from_feature_flags().install_process_default();
    tokio::time::timeout(TEST_DEADLINE, async {
        let media = media().await;
        let producer = produce(&media.transport, MID, SSRC).await;
        let registry = MediaRegistry::new();
        registry.add_producer(&producer, Owner::new("room", "peer"));
        let (engine, engine_thread) = engine::spawn(ExportOptions {
            numeric: true,
            ..ExportOptions::default()
        });
        let client = Client::start(&media.transport).await;
        wait_for_ice(&media.transport).await;
        report(&engine, &media, &producer);

        let collector = StatsCollector::new(
            Arc::clone(&registry),
            engine.clone(),
            Duration::from_secs(2),
            4,
        );
        let first = refresh_until(&collector, &engine, &producer, |v| v > 0.0).await;
        let second = refresh_until(&collector, &engine, &producer, |v| v > first).await;
        println!("byte count {first} then {second}");
        assert_eq!(collector.errors(), 0);
        assert_eq!(collector.timeouts(), 0);
        assert!(collector.answered() >= 2);

        drop(client);
        engine.stop();
        let _ = tokio::task::spawn_blocking(move || engine_thread.join()).await;
    })
    .await
    .expect("the test finished in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadlines_concurrency_and_overlapping_scrapes() {
    tokio::time::timeout(TEST_DEADLINE, async {
        let media = media().await;
        // Several producers (no media needed for get_stats), more than the
        // calls allowed in flight.
        let registry = MediaRegistry::new();
        let mut producers = Vec::new(); // kept alive: dropping closes
        for i in 0..5u32 {
            let producer = produce(&media.transport, &format!("m{i}"), 1000 + i).await;
            registry.add_producer(&producer, Owner::new("room", "peer"));
            producers.push(producer);
        }
        let (engine, engine_thread) = engine::spawn(ExportOptions::default());

        // A deadline already over: returns at once, everyone counted late.
        let hurried = StatsCollector::new(Arc::clone(&registry), engine.clone(), Duration::ZERO, 2);
        let start = Instant::now();
        hurried.refresh().await;
        let took = start.elapsed();
        assert!(took < Duration::from_millis(500), "took {took:?}");
        assert_eq!(hurried.timeouts(), 5);
        assert_eq!(hurried.answered() + hurried.errors(), 0);
        assert_eq!(hurried.refreshes(), 1);

        // In time, with two calls in flight: everyone answers.
        let patient = Arc::new(StatsCollector::new(
            Arc::clone(&registry),
            engine.clone(),
            Duration::from_secs(5),
            2,
        ));
        patient.refresh().await;
        assert_eq!((patient.answered(), patient.timeouts()), (5, 0));
        assert!(patient.last_duration() > Duration::ZERO);

        // Three overlapping scrapes: one fan-out, two share it.
        let hook = Arc::clone(&patient).refresh_hook();
        tokio::join!(hook(), hook(), hook());
        assert_eq!(patient.refreshes(), 2);
        assert_eq!(patient.shared(), 2);
        assert_eq!(patient.answered(), 10);

        engine.stop();
        let _ = tokio::task::spawn_blocking(move || engine_thread.join()).await;
    })
    .await
    .expect("the test finished in time");
}

/// A collector running background rounds over a registry, and its engine.
struct Background {
    collector: Arc<StatsCollector>,
    engine: EngineHandle,
    engine_thread: JoinHandle<()>,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Background {
    /// Rounds of `interval` over `registry`'s objects, each call given 2 s,
    /// two at a time.
    fn start(registry: &Arc<MediaRegistry>, interval: Duration) -> Self {
        let (engine, engine_thread) = engine::spawn(ExportOptions::default());
        let collector = Arc::new(StatsCollector::new(
            Arc::clone(registry),
            engine.clone(),
            Duration::from_secs(2),
            2,
        ));
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(Arc::clone(&collector).run_background(interval, stopped));
        Self {
            collector,
            engine,
            engine_thread,
            stop,
            task,
        }
    }

    /// Stops the rounds, then the engine.
    async fn stop(self) {
        self.stop.send(true).expect("the background task listens");
        self.task.await.expect("the background task stops cleanly");
        self.engine.stop();
        let thread = self.engine_thread;
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_rounds_ask_everyone_without_keeping_closed_objects() {
    tokio::time::timeout(TEST_DEADLINE, async {
        let media = media().await;
        let registry = MediaRegistry::new();
        let mut producers = Vec::new(); // kept alive: dropping closes
        for i in 0..6u32 {
            let producer = produce(&media.transport, &format!("b{i}"), 2000 + i).await;
            registry.add_producer(&producer, Owner::new("room", "peer"));
            producers.push(producer);
        }
        let interval = Duration::from_millis(600);
        let background = Background::start(&registry, interval);
        let collector = &background.collector;

        // Nobody scrapes, yet every producer is asked once per round.
        let start = Instant::now();
        while collector.rounds() < 1 {
            assert!(start.elapsed() < MEDIA_DEADLINE, "no round completed");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Each round asks each of the 6 once: after `r` whole rounds, between
        // 6r and 6(r + 1) answers (the next round may be under way).
        let (rounds, answered) = loop {
            let rounds = collector.rounds();
            let answered = collector.answered();
            if collector.rounds() == rounds {
                break (rounds, answered);
            }
        };
        assert!(
            (6 * rounds..=6 * (rounds + 1)).contains(&answered),
            "answered {answered} in {rounds} rounds"
        );
        assert_eq!(collector.refreshes(), 0, "no scrape-time refresh ran");
        let round = collector.last_round().expect("a round completed");
        assert!(round >= interval, "a round lasts its interval: {round:?}");

        // Half the producers close mid-round: the collector never keeps them
        // open, and the rounds go on without failures (a closed object's
        // stats are its end, not an error).
        tokio::time::sleep(Duration::from_millis(250)).await;
        producers.truncate(3);
        assert_eq!(registry.weak_producers(0).len(), 3);
        let (rounds, answered) = (collector.rounds(), collector.answered());
        while collector.rounds() < rounds + 2 {
            assert!(start.elapsed() < MEDIA_DEADLINE, "rounds stopped");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(collector.answered() >= answered + 3);
        assert_eq!(collector.errors(), 0);
        assert_eq!(collector.timeouts(), 0);

        background.stop().await;
    })
    .await
    .expect("the test finished in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_lists_streams_in_the_exporters_order() {
    tokio::time::timeout(TEST_DEADLINE, async {
        let media = media().await;
        let registry = MediaRegistry::new();
        // Registered out of order, two of them by one peer.
        let owners = [
            ("room-b", "peer-2"),
            ("room-a", "peer-9"),
            ("room-b", "peer-1"),
            ("room-a", "peer-1"),
            ("room-c", "peer-0"),
            ("room-a", "peer-1"),
        ];
        let mut producers = Vec::new();
        for (i, (room, peer)) in owners.iter().enumerate() {
            let producer = produce(&media.transport, &format!("o{i}"), 3000 + i as u32).await;
            registry.add_producer(&producer, Owner::new(room, peer));
            producers.push(producer);
        }
        // A scrape writes streams by room, then peer, then id.
        let mut expected: Vec<(&str, &str, ProducerId)> = owners
            .iter()
            .zip(&producers)
            .map(|((room, peer), p)| (*room, *peer, p.id()))
            .collect();
        expected.sort();
        let listed = |from: u64| -> Vec<ProducerId> {
            registry
                .weak_producers(from)
                .iter()
                .map(|l| l.handle.upgrade().expect("alive").id())
                .collect()
        };
        let ids: Vec<ProducerId> = expected.iter().map(|e| e.2).collect();
        assert_eq!(listed(0), ids);

        // Listing from a registration number gives only what came at or
        // after it, in the same order.
        let numbers: Vec<u64> = registry.weak_producers(0).iter().map(|l| l.seq).collect();
        let fourth = producers[3].id();
        let from = registry
            .weak_producers(0)
            .iter()
            .find(|l| l.handle.upgrade().is_some_and(|p| p.id() == fourth))
            .expect("listed")
            .seq;
        let later: Vec<ProducerId> = ids
            .iter()
            .zip(&numbers)
            .filter(|(_, n)| **n >= from)
            .map(|(id, _)| *id)
            .collect();
        assert_eq!(later.len(), 3, "the fourth and the two after it");
        assert_eq!(listed(from), later);
    })
    .await
    .expect("the test finished in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_object_is_asked_at_the_next_slice_not_the_next_round() {
    tokio::time::timeout(TEST_DEADLINE, async {
        let media = media().await;
        let registry = MediaRegistry::new();
        let first = produce(&media.transport, "n0", 4000).await;
        registry.add_producer(&first, Owner::new("room", "peer-a"));
        // 30 slices of 100 ms; the one object listed at a round's start is
        // the last slice's run, asked 2.9 s into each round.
        let background = Background::start(&registry, Duration::from_secs(3));
        let collector = &background.collector;
        let start = Instant::now();
        while collector.answered() < 1 {
            assert!(
                start.elapsed() < MEDIA_DEADLINE,
                "the first object was never asked"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Into the second round, whose list was made without the newcomer.
        tokio::time::sleep(Duration::from_millis(400)).await;
        let newcomer = produce(&media.transport, "n1", 4001).await;
        registry.add_producer(&newcomer, Owner::new("room", "peer-b"));
        let added = Instant::now();
        while collector.answered() < 2 {
            assert!(
                added.elapsed() < Duration::from_secs(1),
                "the newcomer waited for a later round"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(collector.rounds(), 1, "asked within the round it came in");
        assert_eq!(collector.errors(), 0);

        background.stop().await;
        drop((first, newcomer));
    })
    .await
    .expect("the test finished in time");
}
