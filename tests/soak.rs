//! Soak: rounds of simulated churn (peers joining, leaving cleanly and
//! dropping their sockets) against one server. After every round the server
//! must be back where it started: no room, peer, transport, producer or
//! consumer in signaling, in mediasoup's registry or in the World, no
//! entity left over, no socket (RTC port) still open; and memory must not
//! grow round after round. Seconds on every test run; `just soak SECONDS`
//! for minutes (`EJTIMAA_SOAK_SECS`).

mod support;

use std::time::{Duration, Instant};

use ejtimaa::server::Server;
use ejtimaa_sim::runner::run;
use ejtimaa_sim::scenario::Scenario;
use support::*;

/// One round of churn.
const ROUND_SECS: f64 = 6.0;
/// The soak's length when `EJTIMAA_SOAK_SECS` does not say.
const DEFAULT_SOAK_SECS: u64 = 12;
/// Open descriptors that may come and go between two quiet moments
/// (a scrape's connection, a timer): anything beyond is a leak.
const FD_SLACK: u64 = 8;

/// What is left on the server once everyone has gone.
#[derive(Debug, PartialEq, Eq)]
struct Leftovers {
    signaling_peers: usize,
    /// Peer objects still alive anywhere (a reference cycle keeps them).
    peer_objects: usize,
    rooms: usize,
    registry: (usize, usize, usize),
    world: (usize, usize, usize, usize, usize),
    entities: usize,
}

async fn leftovers(server: &Server) -> Leftovers {
    let registry = server.signaling.registry();
    let (world, entities) = server
        .engine
        .query(|core| {
            let s = core.summary();
            (
                (s.rooms, s.peers, s.transports, s.producers, s.consumers),
                core.world().entities().count_spawned() as usize,
            )
        })
        .await
        .expect("engine up");
    Leftovers {
        signaling_peers: server.signaling.peer_count(),
        peer_objects: server.signaling.peer_objects(),
        rooms: server.signaling.rooms.all().len(),
        registry: (
            registry.transports().len(),
            registry.weak_producers(0).len(),
            registry.weak_consumers(0).len(),
        ),
        world,
        entities,
    }
}

/// Waits until the server holds what it held at `baseline`; fails naming
/// what is left.
async fn emptied(server: &Server, baseline: &Leftovers) -> Leftovers {
    let start = Instant::now();
    loop {
        let left = leftovers(server).await;
        if left == *baseline {
            return left;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "left behind: {left:?}, at the start: {baseline:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn process() -> (u64, u64) {
    let p = ejtimaa::usage::process_figures().expect("/proc readable");
    (p.open_fds, p.resident_bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn churn_rounds_leave_nothing_behind() {
    let soak_secs = std::env::var("EJTIMAA_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SOAK_SECS);
    let rounds = ((soak_secs as f64 / ROUND_SECS).ceil() as usize).max(2);

    let config = test_config();
    let grace = Duration::from_millis(config.rooms.empty_grace_ms);
    let server = start(config).await;
    // Before any peer: the workers and nothing else.
    let baseline = leftovers(&server).await;
    assert_eq!(baseline.world, (0, 0, 0, 0, 0), "{baseline:?}");

    let mut scenario = Scenario::named("churn").expect("churn is built in");
    scenario.rooms = 2;
    scenario.peers_per_room = 3;
    scenario.duration_secs = ROUND_SECS;
    scenario.warm_up_secs = 3.0;
    let churn = scenario.churn.as_mut().expect("churn.toml churns");
    churn.leaves_per_sec = 1.5;
    churn.abrupt_fraction = 0.5;

    let mut after_round = Vec::new();
    let started = Instant::now();
    for round in 0..rounds {
        let mut opts = sim_options(&server, grace);
        opts.tag = format!("soak{round}");
        let report = tokio::time::timeout(Duration::from_secs(60), run(&scenario, &opts))
            .await
            .expect("a round ends in time")
            .expect("the round completes");
        assert!(report.failed_joins.is_empty(), "{:?}", report.failed_joins);
        assert!(report.violations.is_empty(), "{:#?}", report.violations);
        let churned = report.churn.as_ref().map_or(0, |c| c.joined);
        assert!(churned > 0, "round {round} churned no one");

        // Everyone gone: the rooms close after their grace, the World and
        // mediasoup follow their closes.
        let left = emptied(&server, &baseline).await;
        let (fds, rss) = process();
        println!(
            "round {round}: {} peers ({churned} churned), {fds} open fds, RSS {:.1} MiB, {left:?}",
            report.total.peers,
            rss as f64 / (1 << 20) as f64
        );
        after_round.push((fds, rss));
    }
    println!("{rounds} rounds in {:.0?}", started.elapsed());

    // The first round opens what stays open (worker sockets, pools); from
    // then on nothing may pile up.
    let (first_fds, first_rss) = after_round[0];
    for (round, (fds, rss)) in after_round.iter().enumerate().skip(1) {
        assert!(
            *fds <= first_fds + FD_SLACK,
            "round {round}: {fds} open fds, {first_fds} after the first round"
        );
        // Allocators keep freed memory, so RSS need not fall; it must not
        // climb with each round. A quarter over the first round, or 32 MiB,
        // whichever is more, is more than any steady state moves.
        let allowed = first_rss + (first_rss / 4).max(32 << 20);
        assert!(
            *rss <= allowed,
            "round {round}: RSS {rss} bytes, {first_rss} after the first round"
        );
    }
    server.shutdown().await;
}

/// A client that vanishes with requests still running (transports and
/// producers being created for it) leaves nothing once they finish.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_vanishing_mid_request_leaves_nothing() {
    let server = start(test_config()).await;
    let baseline = leftovers(&server).await;
    for round in 0..5 {
        let (client, _incoming) = connect(&server, "vanish", &format!("v{round}")).await;
        let (send, _recv) = join(&client, "Vanishing").await;
        // Requests in flight, not awaited: the socket goes while mediasoup
        // is still creating what they asked for.
        let mut pending = Vec::new();
        for _ in 0..2 {
            let c = client.clone();
            pending.push(tokio::spawn(async move {
                let _ = c
                    .request(
                        "createWebRtcTransport",
                        serde_json::json!({ "producing": true }),
                    )
                    .await;
            }));
        }
        let c = client.clone();
        let transport = send.clone();
        pending.push(tokio::spawn(async move {
            let _ = c
                .request(
                    "produce",
                    serde_json::json!({
                        "transportId": transport,
                        "kind": "audio",
                        "rtpParameters": opus_parameters(9000 + round),
                    }),
                )
                .await;
        }));
        tokio::task::yield_now().await;
        client.abort();
        for p in pending {
            let _ = p.await;
        }
    }
    emptied(&server, &baseline).await;
    server.shutdown().await;
}
