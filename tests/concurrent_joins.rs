//! Peers joining and producing at the same moment in one room: each must be
//! offered every other peer's producers exactly once. (A producer created
//! while a peer joins is offered by both `join` and `produce`; the server
//! must create only one consumer of it.)

mod support;

use std::time::{Duration, Instant};

use ejtimaa_sim::peer::{Peer, PeerConfig};
use ejtimaa_sim::report::duplicate_consumers;
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
