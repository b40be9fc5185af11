//! Real media end to end: three synthetic peers (socket.io signaling, str0m
//! WebRTC) in one room of a real in-process server, each publishing Opus
//! and VP8 and consuming the others. Checks what the peers receive and what
//! the exporter shows: one series per stream with the right labels, rising
//! byte counters, good scores, and no trace of a peer once it has left.

#[path = "support/series.rs"]
mod series;
mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ejtimaa_sim::peer::{MediaKind, Peer, PeerConfig, PeerStatsSnapshot};
use series::{Series, key, named, parse};
use support::*;

const ROOM: &str = "media-room";
const USER_AGENT: &str = "ejtimaa-sim-test/1.0 (media_flow)";
/// The whole scenario, server start-up excluded: never hang CI.
const SCENARIO_DEADLINE: Duration = Duration::from_secs(30);
/// Media time before scores are judged.
const WARM_UP: Duration = Duration::from_secs(4);
const PRODUCER_BYTES: &str = "mediasoup_producer_byte_count_bytes";
const CONSUMER_BYTES: &str = "mediasoup_consumer_byte_count_bytes";
const PRODUCER_SCORE: &str = "mediasoup_producer_score";
const CONSUMER_SCORE: &str = "mediasoup_consumer_score";

fn config(peer: &str, name: &str) -> PeerConfig {
    PeerConfig {
        display_name: name.into(),
        user_agent: USER_AGENT.into(),
        video_bitrate: 300_000,
        video_fps: 15,
        keyframe_interval: Duration::from_secs(2),
        ..PeerConfig::new(ROOM, peer)
    }
}

/// Whether `snap` has received packets on an audio and a video consumer of
/// each of `others`.
fn receives_from_all(snap: &PeerStatsSnapshot, others: &[&str]) -> bool {
    others.iter().all(|other| {
        [MediaKind::Audio, MediaKind::Video].iter().all(|kind| {
            snap.consumers_of(other)
                .any(|c| c.kind == *kind && !c.closed && c.received.packets > 0)
        })
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_exchange_media_and_the_exporter_follows() {
    let server = start(test_config()).await;
    tokio::time::timeout(SCENARIO_DEADLINE, scenario(&server))
        .await
        .unwrap_or_else(|_| panic!("the scenario took longer than {SCENARIO_DEADLINE:?}"));
    server.shutdown().await;
}

async fn scenario(server: &ejtimaa::server::Server) {
    let url = format!("http://{}", server.signaling_addr);
    let names = [("alice", "Alice"), ("bob", "Bob"), ("carol", "Carol \"C\"")];
    let mut peers = Vec::new();
    for (id, name) in names {
        peers.push(
            Peer::spawn(&url, config(id, name))
                .await
                .unwrap_or_else(|e| panic!("{id} could not join: {e}")),
        );
    }
    let ids: Vec<&str> = names.iter().map(|(id, _)| *id).collect();
    let display: BTreeMap<&str, &str> = names.iter().copied().collect();

    // Every peer receives RTP from every other peer's two producers.
    let started = Instant::now();
    wait_for(
        "every peer to receive from every other",
        Duration::from_secs(15),
        async || {
            peers
                .iter()
                .all(|p| {
                    let others: Vec<&str> = ids.iter().copied().filter(|o| *o != p.id()).collect();
                    receives_from_all(&p.stats().snapshot(), &others)
                })
                .then_some(())
        },
    )
    .await;
    println!("all media flowing after {:?}", started.elapsed());

    // One producer series per published stream, one consumer series per
    // consumed stream, labelled with the right room, peer, name, kind, codec.
    let expected_producers = ids.len() * 2;
    let expected_consumers = ids.len() * (ids.len() - 1) * 2;
    let first = wait_for(
        "every stream in the exporter",
        Duration::from_secs(10),
        async || {
            let series = parse(&scrape(server).await);
            let (p, c) = (
                named(&series, PRODUCER_BYTES).len(),
                named(&series, CONSUMER_BYTES).len(),
            );
            (p == expected_producers && c == expected_consumers).then_some(series)
        },
    )
    .await;
    for peer in &peers {
        let snap = peer.stats().snapshot();
        let id = peer.id();
        for (metric, typ, ours) in [
            (
                PRODUCER_BYTES,
                "inbound-rtp",
                snap.producers
                    .iter()
                    .map(|p| (p.id.clone(), p.kind))
                    .collect::<Vec<_>>(),
            ),
            (
                CONSUMER_BYTES,
                "outbound-rtp",
                snap.consumers
                    .iter()
                    .map(|c| (c.id.clone(), c.kind))
                    .collect(),
            ),
        ] {
            for (stream_id, kind) in ours {
                let matching: Vec<&Series> = named(&first, metric)
                    .into_iter()
                    .filter(|s| s.label("id") == stream_id)
                    .collect();
                assert_eq!(
                    matching.len(),
                    1,
                    "{metric} of {id}'s {stream_id}: {matching:?}"
                );
                let s = matching[0];
                let codec = match kind {
                    MediaKind::Audio => "opus",
                    MediaKind::Video => "VP8",
                };
                assert_eq!(s.label("room_id"), ROOM, "{s:?}");
                assert_eq!(s.label("peer_id"), id, "{s:?}");
                assert_eq!(s.label("display_name"), display[id], "{s:?}");
                assert_eq!(s.label("user_agent"), USER_AGENT, "{s:?}");
                assert_eq!(s.label("kind"), kind.as_str(), "{s:?}");
                assert_eq!(s.label("codec"), codec, "{s:?}");
                assert_eq!(s.label("type"), typ, "{s:?}");
                assert_eq!(s.label("proto"), "udp", "{s:?}");
            }
        }
    }

    // Byte counters rise between two scrapes.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let second = parse(&scrape(server).await);
    let before: BTreeMap<String, f64> = first.iter().map(|s| (key(s), s.value)).collect();
    for s in named(&second, PRODUCER_BYTES)
        .into_iter()
        .chain(named(&second, CONSUMER_BYTES))
    {
        let old = before
            .get(&key(s))
            .copied()
            .unwrap_or_else(|| panic!("new series {s:?}"));
        assert!(
            s.value > old,
            "{} did not rise: {old} -> {}",
            key(s),
            s.value
        );
    }

    // Scores reach 8 or more once the streams have warmed up: mediasoup
    // scores from loss over its receiver-report intervals, so give it a
    // few seconds of media first.
    tokio::time::sleep_until((started + WARM_UP).into()).await;
    let scores = wait_for("scores >= 8", Duration::from_secs(12), async || {
        let series = parse(&scrape(server).await);
        let scores: Vec<(String, f64)> = named(&series, PRODUCER_SCORE)
            .into_iter()
            .chain(named(&series, CONSUMER_SCORE))
            .map(|s| {
                (
                    format!(
                        "{} {} {} {}",
                        s.name,
                        s.label("peer_id"),
                        s.label("kind"),
                        s.label("id")
                    ),
                    s.value,
                )
            })
            .collect();
        let complete = scores.len() == expected_producers + expected_consumers;
        (complete && scores.iter().all(|(_, v)| *v >= 8.0)).then_some(scores)
    })
    .await;
    let lowest = scores.iter().map(|(_, v)| *v).fold(f64::INFINITY, f64::min);
    println!("{} scores, lowest {lowest}", scores.len());

    for peer in &peers {
        let snap = peer.stats().snapshot();
        println!(
            "{}: sent audio {:?} video {:?} ({} keyframes, {} requests), received {:?} on {} consumers",
            peer.id(),
            snap.audio_sent,
            snap.video_sent,
            snap.keyframes_sent,
            snap.keyframe_requests,
            snap.received,
            snap.consumers.len()
        );
        assert!(snap.send_connected && snap.recv_connected, "{snap:?}");
        for c in &snap.consumers {
            println!(
                "  consumer {} of {} {}: {} packets, {} bytes, score {:?}",
                c.id, c.peer_id, c.kind, c.received.packets, c.received.bytes, c.score
            );
        }
    }

    // Carol leaves: once the others were told, the next scrape has no
    // series of hers, and the others' streams carry on.
    let carol = peers.pop().expect("three peers");
    carol.leave().await;
    wait_for(
        "the others to see carol's consumers closed",
        Duration::from_secs(5),
        async || {
            peers
                .iter()
                .all(|p| {
                    let snap = p.stats().snapshot();
                    snap.consumers_of("carol").count() == 2
                        && snap.consumers_of("carol").all(|c| c.closed)
                })
                .then_some(())
        },
    )
    .await;
    let after = scrape(server).await;
    assert!(
        !after.contains("peer_id=\"carol\""),
        "carol is still exported:\n{after}"
    );
    let after = parse(&after);
    assert_eq!(named(&after, PRODUCER_BYTES).len(), 4, "{after:?}");
    assert_eq!(named(&after, CONSUMER_BYTES).len(), 4, "{after:?}");

    // Alice and Bob still hear each other.
    let counts = |p: &Peer| p.stats().snapshot().received.packets;
    let before: Vec<u64> = peers.iter().map(counts).collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (p, b) in peers.iter().zip(before) {
        assert!(counts(p) > b, "{} stopped receiving", p.id());
    }

    // Bob crashes, Alice leaves cleanly: the room empties.
    let alice = peers.remove(0);
    let bob = peers.remove(0);
    bob.abort();
    alice.leave().await;
    scrape_until(server, "the room closed", |t| {
        sample(t, "Ejtimaa_rooms") == Some(0.0)
    })
    .await;
}

/// A silent peer (what a join burst uses) connects and produces but sends
/// no media: the consumer of its producers gets nothing, while a normal
/// peer's media flows to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_peer_produces_but_sends_nothing() {
    let server = start(test_config()).await;
    let url = format!("http://{}", server.signaling_addr);
    let run = async {
        let silent = Peer::spawn(
            &url,
            PeerConfig {
                silent: true,
                ..config("quiet", "Quiet")
            },
        )
        .await
        .expect("the silent peer joins");
        let listener = Peer::spawn(&url, config("ear", "Ear"))
            .await
            .expect("the listener joins");
        // Long enough for several frames and for the listener's media to
        // reach the silent peer.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let quiet = silent.stats().snapshot();
        let ear = listener.stats().snapshot();
        assert!(quiet.send_connected, "ICE and DTLS still complete");
        assert_eq!(quiet.producers.len(), 2, "{:?}", quiet.producers);
        assert_eq!(quiet.audio_sent.packets + quiet.video_sent.packets, 0);
        assert!(quiet.received.packets > 0, "the silent peer still consumes");
        assert_eq!(ear.consumers_of("quiet").count(), 2);
        assert_eq!(ear.received.packets, 0, "nothing came from the silent peer");
        listener.leave().await;
        silent.leave().await;
    };
    tokio::time::timeout(SCENARIO_DEADLINE, run)
        .await
        .unwrap_or_else(|_| panic!("the scenario took longer than {SCENARIO_DEADLINE:?}"));
    server.shutdown().await;
}
