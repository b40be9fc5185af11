//! Simulcast sim peers against a real in-process server: a publisher sends
//! three VP8 layers that mediasoup takes as one producer of three streams;
//! consumers asking for layers 0, 1 and 2 each end up on their layer, and
//! the delivered ratio, counted per packet of the layer each receives, is
//! 100 % on every layer; a whole run with `simulcast` and transport-cc on
//! reports the same, every consumer on its preferred layer.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ejtimaa_sim::delivery::{DRAIN, Delivery, Snapshots, Tally};
use ejtimaa_sim::ledger::{Ledger, PeerState};
use ejtimaa_sim::peer::{MediaKind, Peer, PeerConfig};
use ejtimaa_sim::scenario::Scenario;
use support::*;

/// The whole run, server start-up excluded: never hang CI.
const DEADLINE: Duration = Duration::from_secs(40);
const ROOM: &str = "simulcast";

fn snapshots(peers: &[Peer]) -> Snapshots {
    peers
        .iter()
        .map(|p| (p.id().to_string(), p.stats().snapshot()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_consumer_gets_its_preferred_layer_and_every_packet_of_it() {
    let server = start(test_config()).await;
    let url = format!("http://{}", server.signaling_addr);
    let publisher = PeerConfig {
        publish_audio: false,
        simulcast: true,
        // Layers of 75, 240 and 600 kbit/s: one packet a frame on the
        // lower two (keyframes aside), two or three on the top one.
        video_bitrate: 600_000,
        consume: false,
        ..PeerConfig::new(ROOM, "pub")
    };
    let mut peers = vec![Peer::spawn(&url, publisher).await.expect("publisher up")];
    for layer in 0..3u8 {
        let subscriber = PeerConfig {
            publish_audio: false,
            publish_video: false,
            preferred_layer: layer,
            ..PeerConfig::new(ROOM, format!("sub{layer}"))
        };
        peers.push(Peer::spawn(&url, subscriber).await.expect("subscriber up"));
    }

    // mediasoup receives one producer of three streams: its score lists
    // each of them.
    let producer = wait_for("a producer scored on three streams", DEADLINE, async || {
        let s = peers[0].stats().snapshot();
        s.producers
            .iter()
            .find(|p| p.kind == MediaKind::Video && p.scored_streams == 3)
            .cloned()
    })
    .await;
    assert_eq!(producer.layers.len(), 3, "{producer:?}");

    // After warm-up every consumer is on the layer it asked for.
    wait_for(
        "every consumer on its preferred layer",
        DEADLINE,
        async || {
            peers[1..]
                .iter()
                .enumerate()
                .all(|(layer, p)| {
                    let s = p.stats().snapshot();
                    s.consumers.len() == 1
                        && s.consumers.iter().all(|c| {
                            c.simulcast
                                && c.preferred_layer == Some(layer as u8)
                                && c.seqs.current_layer() == Some(layer as u8)
                        })
                })
                .then_some(())
        },
    )
    .await;

    // A window of three seconds, counted as the runner counts it.
    let mut ledger = Ledger::default();
    let now = Instant::now();
    for p in &peers {
        ledger.add_peer(ROOM, p.id(), p.id());
        ledger.set_state(p.id(), PeerState::Up);
    }
    let start = snapshots(&peers);
    for (id, s) in &start {
        ledger.observe(id, s.clone(), now);
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let end = snapshots(&peers);
    let mut delivery = Delivery::default();
    delivery.add_interval(&ledger, &start, &end, now);
    tokio::time::sleep(DRAIN).await;
    let counts = delivery.counts();
    println!("per layer: {:?}", counts.layers);

    assert!(
        counts.below_preferred.is_empty(),
        "{:?}",
        counts.below_preferred
    );
    let layers: BTreeMap<u8, Tally> = counts.layers.clone();
    assert_eq!(layers.keys().copied().collect::<Vec<_>>(), [0, 1, 2]);
    for (layer, t) in &layers {
        // Three seconds at 30 frames/s: at least a packet a frame.
        assert!(t.expected >= 80, "layer {layer}: {t:?}");
        assert_eq!(t.received, t.expected, "layer {layer}: {t:?}");
    }
    // Each subscriber got exactly its layer's packets; the top layer's
    // frames take several packets, the lower ones' about one.
    let sub = |i: u8| counts.subscribers[&format!("sub{i}")];
    assert!(
        sub(2).expected > sub(1).expected * 2,
        "{:?}",
        counts.subscribers
    );
    for i in 0..3 {
        assert_eq!(sub(i), layers[&i], "sub{i}");
    }
    // mediasoup probed the downlinks (to let the consumers up), and the
    // probes reached str0m's transport-cc register: it hands a packet on
    // only after registering it.
    let probes: u64 = peers[1..]
        .iter()
        .map(|p| p.stats().snapshot().probe_packets)
        .sum();
    assert!(probes > 0, "no bandwidth probe received");

    for p in peers {
        p.leave().await;
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulcast_run_reports_every_layer_delivered() {
    let mut scenario = Scenario::named("smoke").expect("smoke is built in");
    scenario.duration_secs = 8.0;
    scenario.warm_up_secs = 3.0;
    scenario.simulcast = true;
    scenario.preferred_layer = 1;
    // With transport-cc, as a browser: mediasoup's estimate of each
    // downlink rests on the feedback, its bandwidth probes included, and
    // must let every consumer up to the layer it asked for.
    scenario.twcc = true;
    let report = run_clean(&scenario).await;
    let delivered = report.total.delivered_ratio.expect("a delivery window");
    assert!(delivered >= 0.999, "delivered ratio {delivered}");
    // Everyone asked for the middle layer; a consumer may start on the
    // lowest one before mediasoup switches up.
    let middle = report
        .layers
        .iter()
        .find(|l| l.layer == 1)
        .expect("layer 1 counted");
    assert!(middle.window_expected > 500, "{:?}", report.layers);
    assert!(
        report.layers.iter().all(|l| l.layer <= 1),
        "{:?}",
        report.layers
    );
    for l in &report.layers {
        assert!(
            l.delivered_ratio.is_some_and(|d| d >= 0.999),
            "{:?}",
            report.layers
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transport_cc_lets_every_consumer_up_to_the_top_layer() {
    // Rooms of 4 at 500 kbit/s, everyone asking for the top layer (as in
    // the default run): three video consumers a peer, whose top layers
    // together need more than mediasoup's initial downlink estimate, so it
    // must probe the downlinks and read the sim's feedback on the probes to
    // let them all up. Without the probes reported, most stay on layer 1.
    let mut scenario = Scenario::named("smoke").expect("smoke is built in");
    scenario.rooms = 1;
    scenario.peers_per_room = 4;
    scenario.video_bitrate = 500_000;
    scenario.video_fps = 30;
    scenario.duration_secs = 10.0;
    scenario.warm_up_secs = 5.0;
    scenario.simulcast = true;
    scenario.preferred_layer = 2;
    scenario.twcc = true;
    let report = run_clean(&scenario).await;
    let top = report
        .layers
        .iter()
        .find(|l| l.layer == 2)
        .expect("layer 2 counted");
    assert!(top.window_expected > 1000, "{:?}", report.layers);
    let delivered = report.total.delivered_ratio.expect("a delivery window");
    assert!(delivered >= 0.999, "delivered ratio {delivered}");
}

/// Runs `scenario` against a fresh server; every peer joined, no live
/// check failed and no consumer stayed below the layer it asked for.
async fn run_clean(scenario: &Scenario) -> ejtimaa_sim::report::Report {
    let report = run_sim(test_config(), scenario, DEADLINE).await;
    assert!(report.failed_joins.is_empty(), "{:?}", report.failed_joins);
    assert!(report.violations.is_empty(), "{:#?}", report.violations);
    assert!(
        report.below_preferred.is_empty(),
        "{:?}",
        report.below_preferred
    );
    report
}
