//! The sim's peers on the wire, as mediasoup sees them: RTX repairs a
//! lossy uplink (every publisher loses every 20th datagram after sending
//! it; with RTX the consumers still get every video packet, without it 5 %
//! go missing; the publisher counts the NACKs and its resends), and
//! transport-cc reaches mediasoup's send-side estimate
//! (it probes a sim's downlink only when transport-cc is on), and a
//! loss-free link draws no resends (no peer NACKs a packet that is on its
//! way), against a real in-process server.

mod support;

use std::time::Duration;

use ejtimaa_sim::peer::{Peer, PeerConfig, WireFeatures};
use ejtimaa_sim::scenario::Scenario;
use mediasoup::prelude::*;
use support::*;

/// The whole run, server start-up excluded: never hang CI.
const DEADLINE: Duration = Duration::from_secs(40);

fn lossy(rtx: bool) -> Scenario {
    let mut scenario = Scenario::named("smoke").expect("smoke is built in");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nacks_and_resends_are_counted() {
    let server = start(test_config()).await;
    let url = format!("http://{}", server.signaling_addr);
    let mut peers = Vec::new();
    for id in ["a", "b"] {
        let config = PeerConfig {
            publish_audio: false,
            lose_every: Some(20),
            ..PeerConfig::new("counted", format!("counted-{id}"))
        };
        peers.push(Peer::spawn(&url, config).await.expect("joins"));
    }
    // str0m reports its send statistics once a second.
    let (nacks, resent) = wait_for("NACKs and resends", Duration::from_secs(15), async || {
        let s = peers[0].stats().snapshot();
        (s.nacks_received > 0 && s.retransmissions > 0)
            .then_some((s.nacks_received, s.retransmissions))
    })
    .await;
    println!("publisher a: {nacks} NACKs received, {resent} packets resent");
    for p in peers {
        p.leave().await;
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loss_free_link_draws_no_resends() {
    let server = start(test_config()).await;
    // RTX and transport-cc on, as browsers have them.
    let peers = two_peers(&server, "clean", true).await;
    let stats = wait_for("media both ways", Duration::from_secs(20), async || {
        let mut stats = Vec::new();
        for t in server.signaling.registry().transports() {
            stats.extend(t.get_stats().await.ok()?);
        }
        // Each consumer has had a few hundred video packets.
        let forwarded = stats.iter().filter(|s| s.rtp_bytes_sent > 300_000).count();
        (stats.len() >= 4 && forwarded >= 2).then_some(stats)
    })
    .await;
    let rtx: Vec<(u64, u64)> = stats
        .iter()
        .map(|s| (s.rtx_bytes_sent, s.rtx_bytes_received))
        .collect();
    println!("per transport, RTX bytes sent / received: {rtx:?}");
    // A NACK for a packet that arrived (or was still on its way) would
    // have the server resend it to the consumer, or the publisher resend
    // it to the server.
    assert!(rtx.iter().all(|&r| r == (0, 0)), "{rtx:?}");
    for p in peers {
        p.leave().await;
    }
    server.shutdown().await;
}

/// Per transport of the server: probation bytes it sent (mediasoup probes
/// a peer's downlink only when that peer negotiated transport-cc or REMB;
/// the sim never offers REMB) and its available outgoing bitrate.
async fn send_side_estimates(server: &ejtimaa::server::Server) -> Vec<(u64, Option<u64>)> {
    let mut out = Vec::new();
    for t in server.signaling.registry().transports() {
        if let Ok(stats) = t.get_stats().await {
            out.extend(
                stats
                    .iter()
                    .map(|s| (s.probation_bytes_sent, s.available_outgoing_bitrate)),
            );
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
async fn transport_cc_reaches_mediasoups_send_side_estimate() {
    let server = start(test_config()).await;
    // Without transport-cc: mediasoup never probes the sim's downlink.
    let peers = two_peers(&server, "plain", false).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let plain = send_side_estimates(&server).await;
    println!("without transport-cc (probation bytes, estimate): {plain:?}");
    assert!(plain.len() >= 4, "{plain:?}");
    assert!(plain.iter().all(|(probed, _)| *probed == 0), "{plain:?}");
    for p in peers {
        p.leave().await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    // With it, mediasoup probes the receiving transports, whose
    // transport-cc feedback closes the probe clusters.
    let peers = two_peers(&server, "twcc", true).await;
    let probed = wait_for("a probed downlink", Duration::from_secs(20), async || {
        let estimates = send_side_estimates(&server).await;
        estimates
            .iter()
            .any(|(probed, _)| *probed > 0)
            .then_some(estimates)
    })
    .await;
    println!("with transport-cc (probation bytes, estimate): {probed:?}");
    for p in peers {
        p.leave().await;
    }
    server.shutdown().await;
}
