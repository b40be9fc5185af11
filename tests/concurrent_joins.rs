//! Peers joining and producing at the same moment in one room: each must be
//! offered every other peer's producers exactly once. (A producer created
//! while a peer joins is offered by both `join` and `produce`; the server
//! must create only one consumer of it.) And connections with one peer id
//! arriving together: exactly one of them stays.

mod support;

use std::time::{Duration, Instant};

use ejtimaa_sim::peer::{Peer, PeerConfig};
use ejtimaa_sim::report::duplicate_consumers;
use ejtimaa_sim::signaling::{Client, Incoming};
use support::*;

const PEERS: usize = 10;
/// Two producers (audio, video) of each other peer.
const CONSUMERS_EACH: usize = 2 * (PEERS - 1);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_joins_give_one_consumer_per_producer() {
    let server = start(test_config()).await;
    let url = format!("http://{}", server.signaling_addr);
    // Several rounds: the race needs a join and a produce to overlap.
    for round in 0..3 {
        let room = format!("crowd-{round}");
        let mut joins = tokio::task::JoinSet::new();
        for i in 0..PEERS {
            let (url, room) = (url.clone(), room.clone());
            joins.spawn(async move {
                let mut config = PeerConfig::new(room.clone(), format!("{room}-p{i}"));
                config.video_bitrate = 100_000;
                Peer::spawn(&url, config).await.expect("peer up")
            });
        }
        let peers: Vec<Peer> = joins.join_all().await;

        // Wait until everyone was offered everything (or more, which fails below).
        let start = Instant::now();
        loop {
            let offered: Vec<usize> = peers
                .iter()
                .map(|p| {
                    let s = p.stats().snapshot();
                    s.consumers.iter().filter(|c| !c.closed).count()
                })
                .collect();
            if offered.iter().all(|n| *n >= CONSUMERS_EACH) {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "round {round}: consumers offered {offered:?}, expected {CONSUMERS_EACH} each"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Late duplicates would arrive within moments of the last offer.
        tokio::time::sleep(Duration::from_millis(300)).await;
        for peer in &peers {
            let s = peer.stats().snapshot();
            let open = s.consumers.iter().filter(|c| !c.closed).count();
            assert_eq!(
                duplicate_consumers(&s),
                0,
                "round {round}: {} duplicates",
                peer.id()
            );
            assert_eq!(open, CONSUMERS_EACH, "round {round}: {}", peer.id());
        }
        for peer in peers {
            peer.leave().await;
        }
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_connections_with_one_peer_id_leave_one_peer() {
    let server = start(test_config()).await;
    let url = format!("http://{}", server.signaling_addr);
    for round in 0..3 {
        // A fresh room each round: its opening holds every connection up,
        // then lets them all through together.
        let room = format!("twins-{round}");
        let mut connects = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let (url, room) = (url.clone(), room.clone());
            connects.spawn(async move {
                Client::connect(&url, &[("roomId", room.as_str()), ("peerId", "twin")], None)
                    .await
                    .expect("connects")
            });
        }
        let clients: Vec<(Client, Incoming)> = connects.join_all().await;

        // Each admitted connection replaced the one before: one stays.
        let open = |clients: &[(Client, Incoming)]| {
            clients
                .iter()
                .filter(|(c, _)| c.closed_reason().is_none())
                .count()
        };
        let start = Instant::now();
        while open(&clients) > 1 && start.elapsed() < Duration::from_secs(5) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(open(&clients), 1, "round {round}: connections left open");
        let start = Instant::now();
        while server.signaling.peer_objects() > 1 && start.elapsed() < Duration::from_secs(5) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(server.signaling.peer_objects(), 1, "round {round}");

        // The one left is served, and is the room's only peer.
        let (survivor, _) = clients
            .iter()
            .find(|(c, _)| c.closed_reason().is_none())
            .expect("one open");
        join(survivor, "Twin").await;
        let series = format!("Ejtimaa_peers{{room_id=\"{room}\"}}");
        scrape_until(&server, "one peer", |t| sample(t, &series) == Some(1.0)).await;
        survivor.disconnect().await;
        scrape_until(&server, "no peer", |t| {
            sample(t, &series).unwrap_or(0.0) == 0.0
        })
        .await;
        let start = Instant::now();
        while server.signaling.peer_objects() > 0 && start.elapsed() < Duration::from_secs(5) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(server.signaling.peer_objects(), 0, "round {round}");
    }
    server.shutdown().await;
}
