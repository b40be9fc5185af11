//! How close a sim peer comes to a browser: one headless chromium page
//! (fake camera and microphone, the app's mediasoup-client) and one sim
//! peer in the same room, the sim publishing VP8 at the bitrate chromium
//! settled on and Opus at its default (chromium's as measured here).
//! mediasoup's own figures for both producers (the exporter's producer
//! families) are compared per stream: packets/s, bitrate, packet size,
//! NACK/PLI/FIR counts and score. The table is printed (the README's
//! fidelity table comes from it); the assertions are only the robust ones:
//! both peers' streams flow, each figure of the sim is within a generous
//! factor of chromium's, and chromium decodes the sim's video (it asks for
//! next to no keyframes). The sim peer runs on a runtime like the one
//! `ejtimaa-sim` gives its peers (one thread, the default rest).
//!
//! Run: `cargo test --release --workspace --test sim_fidelity -- --nocapture`.

#[path = "support/cdp.rs"]
mod cdp;
#[path = "support/series.rs"]
mod series;
mod support;

use std::time::{Duration, Instant};

use cdp::{Browser, MediaPermission};
use ejtimaa_sim::peer::{MediaKind, Peer, PeerConfig};
use series::{Series, named, parse};
use support::*;

const ROOM: &str = "fidelity";
const SIM_PEER: &str = "fidelity-sim";
/// Time for chromium's bandwidth estimate to settle before its bitrate is
/// read (it starts low and ramps up).
const BROWSER_SETTLE: Duration = Duration::from_secs(40);
/// How long chromium's bitrate is read to set the sim's.
const BROWSER_PROBE: Duration = Duration::from_secs(6);
/// From the sim's join to the start of the measurement (scores settle).
const SIM_SETTLE: Duration = Duration::from_secs(8);
/// Bytes a sim video packet carries besides its payload, as mediasoup
/// counts them (RTP header and extensions).
const VIDEO_HEADER: f64 = 30.0;
/// The measurement window.
const WINDOW: Duration = Duration::from_secs(20);
/// The whole scenario, browser start-up included: never hang CI.
const DEADLINE: Duration = Duration::from_secs(180);
/// A figure of the sim more than this factor off chromium's fails the test
/// (the goal is 10 %; the test only catches a stream gone wrong).
const FACTOR: f64 = 2.0;
/// PLIs chromium may send for the sim's video over the window: a decoder
/// that cannot decode the frames asks about twice a second (40 or more).
const MAX_SIM_VIDEO_PLIS: f64 = 2.0;

/// mediasoup's counters of one producer at one scrape.
#[derive(Debug, Clone, Copy, Default)]
struct Figures {
    packets: f64,
    bytes: f64,
    nacks: f64,
    plis: f64,
    firs: f64,
    score: f64,
}

/// The figures of `kind` from peer `peer` (the sim) or from any other peer
/// (the browser) in `series`.
fn producer(series: &[Series], kind: MediaKind, sim: bool) -> Option<Figures> {
    let value = |metric: &str| -> Option<f64> {
        named(series, metric)
            .into_iter()
            .filter(|s| s.label("kind") == kind.as_str())
            .filter(|s| s.label("room_id") == ROOM || s.label("room_id").is_empty())
            .find(|s| (s.label("peer_id") == SIM_PEER) == sim)
            .map(|s| s.value)
    };
    Some(Figures {
        packets: value("mediasoup_producer_packets_total")?,
        bytes: value("mediasoup_producer_byte_count_bytes")?,
        nacks: value("mediasoup_producer_nack_packets_total").unwrap_or(0.0),
        plis: value("mediasoup_producer_pli_packets_total").unwrap_or(0.0),
        firs: value("mediasoup_producer_fir_packets_total").unwrap_or(0.0),
        score: value("mediasoup_producer_score").unwrap_or(f64::NAN),
    })
}

/// One stream over the window.
#[derive(Debug, Clone, Copy)]
struct Rates {
    packets_per_sec: f64,
    kbps: f64,
    bytes_per_packet: f64,
    nacks: f64,
    plis: f64,
    firs: f64,
    score: f64,
}

impl Rates {
    fn between(a: Figures, b: Figures, secs: f64) -> Rates {
        let packets = b.packets - a.packets;
        let bytes = b.bytes - a.bytes;
        Rates {
            packets_per_sec: packets / secs,
            kbps: bytes * 8.0 / secs / 1000.0,
            bytes_per_packet: if packets > 0.0 { bytes / packets } else { 0.0 },
            nacks: b.nacks - a.nacks,
            plis: b.plis - a.plis,
            firs: b.firs - a.firs,
            score: b.score,
        }
    }
}

/// Percent difference of the sim's figure from chromium's.
fn diff(sim: f64, browser: f64) -> String {
    if browser == 0.0 {
        return if sim == 0.0 { "=".into() } else { "n/a".into() };
    }
    format!("{:+.1} %", (sim - browser) / browser * 100.0)
}

fn table(rows: &[(MediaKind, Rates, Rates)]) -> String {
    let mut out = String::from(
        "| stream | figure | chromium | sim | sim vs chromium |\n|---|---|---:|---:|---:|\n",
    );
    for (kind, b, s) in rows {
        let figures: [(&str, f64, f64, usize); 7] = [
            ("packets/s", b.packets_per_sec, s.packets_per_sec, 1),
            ("kbit/s", b.kbps, s.kbps, 1),
            ("bytes/packet", b.bytes_per_packet, s.bytes_per_packet, 1),
            ("NACKs", b.nacks, s.nacks, 0),
            ("PLIs", b.plis, s.plis, 0),
            ("FIRs", b.firs, s.firs, 0),
            ("score", b.score, s.score, 0),
        ];
        for (name, bv, sv, digits) in figures {
            out.push_str(&format!(
                "| {kind} | {name} | {bv:.digits$} | {sv:.digits$} | {} |\n",
                diff(sv, bv)
            ));
        }
    }
    out
}

fn within_factor(sim: f64, browser: f64) -> bool {
    sim > 0.0 && browser > 0.0 && sim / browser < FACTOR && browser / sim < FACTOR
}

async fn scenario(server: &ejtimaa::server::Server, browser: &Browser) {
    let base = format!("http://{}", server.signaling_addr);
    let page = browser
        .open(&format!("{base}/?room={ROOM}&name=Chromium"), None)
        .await;
    // Chromium's streams flow; its bandwidth estimate ramps up first.
    wait_for(
        "chromium's producers",
        Duration::from_secs(30),
        async || {
            let s = parse(&scrape(server).await);
            let audio = producer(&s, MediaKind::Audio, false)?;
            let video = producer(&s, MediaKind::Video, false)?;
            (audio.packets > 0.0 && video.packets > 0.0).then_some(())
        },
    )
    .await;
    tokio::time::sleep(BROWSER_SETTLE).await;
    let browser_of = |s: &[Series], kind| producer(s, kind, false).expect("chromium's streams");
    let t0 = Instant::now();
    let a = parse(&scrape(server).await);
    tokio::time::sleep(BROWSER_PROBE).await;
    let b = parse(&scrape(server).await);
    let secs = t0.elapsed().as_secs_f64();
    let probe = |kind| Rates::between(browser_of(&a, kind), browser_of(&b, kind), secs);
    let (audio, video) = (probe(MediaKind::Audio), probe(MediaKind::Video));
    // The sim's video payload bitrate: chromium's on the wire, less the
    // sim's own headers (RTP header and extensions, as mediasoup counts
    // them). Its audio keeps the default: chromium's Opus alone is not what
    // it sends once consumed.
    let video_bitrate =
        ((video.kbps * 1000.0 - video.packets_per_sec * VIDEO_HEADER * 8.0).max(50_000.0)) as u32;
    let config = PeerConfig {
        video_bitrate,
        ..PeerConfig::new(ROOM, SIM_PEER)
    };
    println!(
        "chromium alone: video {:.0} kbit/s, {:.1} packets/s; audio {:.1} kbit/s, {:.1} bytes/packet; \
         the sim sends {video_bitrate} and {} bit/s of payload",
        video.kbps, video.packets_per_sec, audio.kbps, audio.bytes_per_packet, config.audio_bitrate
    );
    let peers = PeersRuntime::start();
    let sim = peers
        .handle
        .spawn(async move { Peer::spawn(&base, config).await })
        .await
        .expect("the join task")
        .expect("the sim peer joins");
    tokio::time::sleep(SIM_SETTLE).await;
    let t1 = Instant::now();
    let first = parse(&scrape(server).await);
    tokio::time::sleep(WINDOW).await;
    let last = parse(&scrape(server).await);
    let secs = t1.elapsed().as_secs_f64();

    let mut rows = Vec::new();
    for kind in [MediaKind::Audio, MediaKind::Video] {
        let at = |s: &[Series], is_sim: bool| {
            producer(s, kind, is_sim).unwrap_or_else(|| panic!("{kind} of sim={is_sim}"))
        };
        let browser_rates = Rates::between(at(&first, false), at(&last, false), secs);
        let sim_rates = Rates::between(at(&first, true), at(&last, true), secs);
        rows.push((kind, browser_rates, sim_rates));
    }
    let stats = sim.stats().snapshot();
    println!("{}", table(&rows));
    println!(
        "sim peer: {} NACKs received, {} packets resent over RTX, {} keyframe requests",
        stats.nacks_received, stats.retransmissions, stats.keyframe_requests
    );
    // Each receives the other's two streams.
    let from_browser = stats
        .consumers
        .iter()
        .filter(|c| c.peer_id != SIM_PEER && c.received.packets > 0)
        .count();
    assert_eq!(from_browser, 2, "{:?}", stats.consumers);
    for (kind, b, s) in &rows {
        for (name, bv, sv) in [
            ("packets/s", b.packets_per_sec, s.packets_per_sec),
            ("kbit/s", b.kbps, s.kbps),
            ("bytes/packet", b.bytes_per_packet, s.bytes_per_packet),
        ] {
            assert!(
                within_factor(sv, bv),
                "{kind} {name}: sim {sv:.1} against chromium {bv:.1}"
            );
        }
        assert!(s.score >= 8.0, "{kind}: the sim's score {}", s.score);
    }
    let sim_video = rows
        .iter()
        .find(|r| r.0 == MediaKind::Video)
        .expect("video")
        .2;
    assert!(
        sim_video.plis <= MAX_SIM_VIDEO_PLIS,
        "chromium asked for {} keyframes of the sim's video in {secs:.0} s: it cannot decode it",
        sim_video.plis
    );
    peers
        .handle
        .spawn(sim.leave())
        .await
        .expect("the leave task");
    peers.stop();
    browser.close(&page).await;
}

/// The sim peer runs as `ejtimaa-sim` runs its peers: on a runtime of its
/// own (one thread) that rests the default time when out of work, not on
/// the test's.
struct PeersRuntime {
    handle: tokio::runtime::Handle,
    stop: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl PeersRuntime {
    fn start() -> Self {
        let (handle_tx, handle_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rest = Duration::from_millis(ejtimaa_sim::idle::DEFAULT_REST_MS);
            let runtime = ejtimaa_sim::idle::runtime(1, rest).expect("the peers' runtime");
            handle_tx
                .send(runtime.handle().clone())
                .expect("the test waits for the handle");
            // Runs its tasks (and rests) until told to stop.
            let _ = runtime.block_on(stopped);
        });
        let handle = handle_rx.recv().expect("the peers' runtime started");
        PeersRuntime {
            handle,
            stop,
            thread,
        }
    }

    fn stop(self) {
        let _ = self.stop.send(());
        self.thread.join().expect("the peers' runtime thread");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sim_peer_loads_the_server_like_chromium() {
    let server = start(test_config()).await;
    let browser = Browser::launch(MediaPermission::Granted).await;
    tokio::time::timeout(DEADLINE, scenario(&server, &browser))
        .await
        .unwrap_or_else(|_| panic!("the scenario took longer than {DEADLINE:?}"));
    drop(browser);
    server.shutdown().await;
}
