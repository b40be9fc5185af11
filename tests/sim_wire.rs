//! The sim's peers on the wire, as mediasoup sees them: RTX repairs a
//! lossy uplink (every publisher loses every 20th datagram after sending
//! it; with RTX the consumers still get every video packet, without it 5 %
//! go missing), and transport-cc feedback from the receiving transports
//! feeds mediasoup's send-side estimate (its transports report an
//! available outgoing bitrate moved off the initial one), against a real
//! in-process server.

mod support;

use std::time::Duration;

use ejtimaa_sim::peer::{Peer, PeerConfig, WireFeatures};
use ejtimaa_sim::scenario::Scenario;
use mediasoup::prelude::*;
use support::*;

/// The whole run, server start-up excluded: never hang CI.
const DEADLINE: Duration = Duration::from_secs(40);

fn lossy(rtx: bool) -> Scenario {
    let mut scenario = Scenario::load(&Scenario::resolve("smoke")).expect("smoke.toml loads");
    scenario.duration_secs = 8.0;
    scenario.warm_up_secs = 3.0;
    // Video only: Opus has no RTX, so its losses would blur the figure.
    scenario.publish_audio = false;
    scenario.lose_every = Some(20);
    scenario.rtx = rtx;
    // Scores fall with loss: not what this test judges.
    scenario.min_score = 0;
    scenario
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtx_repairs_a_lossy_uplink() {
    let repaired = run_sim(test_config(), &lossy(true), DEADLINE).await;
    let lost = run_sim(test_config(), &lossy(false), DEADLINE).await;
    let ratio = |r: &ejtimaa_sim::report::Report| {
        assert!(r.failed_joins.is_empty(), "{:?}", r.failed_joins);
        assert!(r.total.window_expected > 500, "{:?}", r.total);
        r.total.delivered_ratio.expect("a delivery window")
    };
    let (with, without) = (ratio(&repaired), ratio(&lost));
    println!("delivered with RTX {with:.4}, without {without:.4}");
    assert!(with >= 0.995, "with RTX: {with}");
    // 5 % of the datagrams, nearly all of them video: about 95 %.
    assert!(without <= 0.97, "without RTX: {without}");
}

/// The available outgoing bitrate of every transport of the server that
/// has one (mediasoup keeps a send-side estimate only on transports whose
/// consumers negotiated transport-cc).
async fn outgoing_estimates(server: &ejtimaa::server::Server) -> Vec<u64> {
    let mut out = Vec::new();
    for t in server.signaling.registry().transports() {
        if let Ok(stats) = t.get_stats().await {
            out.extend(stats.iter().filter_map(|s| s.available_outgoing_bitrate));
        }
    }
    out
}

async fn two_peers(server: &ejtimaa::server::Server, room: &str, twcc: bool) -> Vec<Peer> {
    let url = format!("http://{}", server.signaling_addr);
    let mut peers = Vec::new();
    for id in ["a", "b"] {
        let config = PeerConfig {
            wire: WireFeatures {
                twcc,
                ..WireFeatures::default()
            },
            ..PeerConfig::new(room, format!("{room}-{id}"))
        };
        peers.push(Peer::spawn(&url, config).await.expect("joins"));
    }
    peers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transport_cc_feedback_moves_the_servers_estimate() {
    let config = test_config();
    let initial = u64::from(config.mediasoup.initial_available_outgoing_bitrate);
    let server = start(config).await;
    // Without transport-cc: no estimate at all.
    let peers = two_peers(&server, "plain", false).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(outgoing_estimates(&server).await, Vec::<u64>::new());
    for p in peers {
        p.leave().await;
    }
    // With it, feedback arrives and the estimate moves off its start.
    let peers = two_peers(&server, "twcc", true).await;
    let moved = wait_for(
        "an estimate moved by feedback",
        Duration::from_secs(20),
        async || {
            let estimates = outgoing_estimates(&server).await;
            estimates.iter().any(|&e| e != initial).then_some(estimates)
        },
    )
    .await;
    println!("available outgoing bitrates: {moved:?} (initial {initial})");
    for p in peers {
        p.leave().await;
    }
    server.shutdown().await;
}
