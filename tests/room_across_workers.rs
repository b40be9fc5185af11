//! One room across two workers: with a low `rooms.consumers_per_router`, a
//! room of 12 publishing peers (the simulator, every live exporter check on)
//! spreads over both workers, every peer receives every other, producers are
//! piped between the routers without showing as peers' streams, the pipe
//! transports are counted as such, and once the room closes no router,
//! transport or pipe is left in mediasoup or in the World.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::json;

use ejtimaa::server::Server;
use ejtimaa_sim::runner::run;
use ejtimaa_sim::scenario::Scenario;
use support::*;

const PEERS: usize = 12;
/// Each peer publishes audio and video and consumes both of every other's.
const PRODUCERS: usize = PEERS * 2;
const CONSUMERS: usize = PEERS * (PEERS - 1) * 2;

/// The whole run, server start-up excluded: never hang CI.
const DEADLINE: Duration = Duration::from_secs(60);

fn scenario() -> Scenario {
    let mut s = Scenario::named("big-room").expect("big-room is built in");
    s.rooms = 1;
    s.peers_per_room = PEERS;
    // Light media (the test machine is small) and a slow ramp, so that the
    // first router carries consumers by the time later peers are placed.
    s.video_bitrate = 100_000;
    s.video_fps = 10;
    s.ramp_up = 2.0;
    s.duration_secs = 16.0;
    s.warm_up_secs = 8.0;
    s.scrape_interval_secs = 1.0;
    s
}

/// The value of every series of `family` in `text`, by its label text.
fn series<'a>(text: &'a str, family: &str) -> Vec<(&'a str, f64)> {
    text.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix(family)?;
            let (labels, value) = rest.rsplit_once(' ')?;
            labels
                .starts_with('{')
                .then(|| (labels, value.parse().ok()))
                .and_then(|(l, v)| Some((l, v?)))
        })
        .collect()
}

fn total(text: &str, family: &str) -> f64 {
    series(text, family).iter().map(|(_, v)| v).sum()
}

/// Producers in mediasoup over every router of every room: the peers' own
/// and their piped copies.
async fn producers_in_mediasoup(server: &Server) -> usize {
    let mut n = 0;
    for room in server.signaling.rooms.all() {
        for placed in room.routers.all() {
            let dump = placed.router.dump().await.expect("router dump");
            n += dump.map_producer_id_consumer_ids.len();
        }
    }
    n
}

async fn routers_in_mediasoup(server: &Server) -> usize {
    let mut n = 0;
    for w in server.workers.workers() {
        n += w.worker.dump().await.expect("worker dump").router_ids.len();
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_big_room_spreads_over_two_workers_and_pipes_its_media() {
    let mut config = test_config();
    config.mediasoup.num_workers = Some(2);
    config.rooms.consumers_per_router = 16;
    let grace = Duration::from_millis(config.rooms.empty_grace_ms);
    let server = start(config).await;
    let opts = sim_options(&server, grace);
    let scenario = scenario();
    let running = tokio::spawn(async move { run(&scenario, &opts).await });

    // Everyone in and consuming everyone: the exporter shows the peers'
    // streams only, on routers of both workers, joined by pipes.
    let text = scrape_until(&server, "every peer consuming every other", |t| {
        total(t, "Ejtimaa_consumers") == CONSUMERS as f64
    })
    .await;
    let routers = series(&text, "Ejtimaa_worker_routers");
    assert_eq!(routers.len(), 2, "{routers:?}");
    assert!(
        routers.iter().all(|(_, n)| *n >= 1.0),
        "the room did not spread over both workers: {routers:?}"
    );
    assert_eq!(total(&text, "Ejtimaa_producers"), PRODUCERS as f64);
    assert_eq!(
        total(&text, "Ejtimaa_peers"),
        PEERS as f64,
        "one room, all its peers"
    );
    let pipes = series(&text, "Ejtimaa_transports")
        .into_iter()
        .find(|(l, _)| l.contains("transport_type=\"pipe\""))
        .map_or(0.0, |(_, n)| n);
    // A pipe transport pair each way between the two routers (mediasoup
    // keeps one per router and destination router).
    assert_eq!(pipes, 4.0, "{text}");
    let webrtc: f64 = series(&text, "Ejtimaa_transports")
        .iter()
        .filter(|(l, _)| l.contains("transport_type=\"webrtc\""))
        .map(|(_, n)| n)
        .sum();
    assert_eq!(webrtc, (PEERS * 2) as f64);
    // mediasoup holds piped copies of producers on the other router; none
    // of them is a peer's stream in the exporter.
    let in_mediasoup = producers_in_mediasoup(&server).await;
    assert!(
        in_mediasoup > PRODUCERS,
        "{in_mediasoup} producers in mediasoup"
    );
    let ids: BTreeSet<&str> = series(&text, "mediasoup_producer_byte_count_bytes")
        .iter()
        .filter_map(|(l, _)| l.split(",id=\"").nth(1)?.split('"').next())
        .collect();
    assert!(
        ids.len() <= PRODUCERS,
        "{} producer ids exported",
        ids.len()
    );

    let report = tokio::time::timeout(DEADLINE, running)
        .await
        .expect("the run ends in time")
        .expect("the run task")
        .expect("the run completes");
    println!("{}", report.table());
    assert!(report.failed_joins.is_empty(), "{:?}", report.failed_joins);
    assert!(report.violations.is_empty(), "{:#?}", report.violations);
    assert_eq!(report.total.peers, PEERS);
    assert_eq!(report.total.producers, PRODUCERS);
    // Every peer got a consumer of both streams of every other peer...
    assert_eq!(report.total.consumers, CONSUMERS);
    // ...and received them (the live checks also saw every consumer's
    // counters rise).
    let delivered = report.total.delivered_ratio.expect("a delivery window");
    assert!(delivered > 0.9, "delivered ratio {delivered}");

    // The room closed after its grace: no router, pipe or transport is left
    // in mediasoup, in the World or in the exporter.
    wait_for(
        "the room's routers to close",
        Duration::from_secs(10),
        async || {
            (routers_in_mediasoup(&server).await == 0 && server.signaling.rooms.all().is_empty())
                .then_some(())
        },
    )
    .await;
    let summary = wait_for(
        "the World to be empty",
        Duration::from_secs(10),
        async || {
            let s = server.engine.query(|core| core.summary()).await.ok()?;
            (s.rooms + s.transports + s.producers + s.consumers == 0).then_some(s)
        },
    )
    .await;
    assert_eq!(summary.peers, 0);
    let text = scrape(&server).await;
    assert!(!text.contains("transport_type=\"pipe\""), "{text}");
    assert!(
        series(&text, "Ejtimaa_worker_routers")
            .iter()
            .all(|(_, n)| *n == 0.0),
        "{text}"
    );
    for w in server.workers.workers() {
        assert_eq!(w.routers.load(std::sync::atomic::Ordering::Relaxed), 0);
    }
    let registry = server.signaling.registry();
    assert_eq!(registry.transports().len(), 0);
    assert_eq!(registry.weak_producers(0).len(), 0);
    server.shutdown().await;
}

/// A producer piped to another worker: its consumer there hears of its
/// pause, resume and close, and the piped copy closes with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_piped_producer_pauses_resumes_and_closes_across_workers() {
    let mut config = test_config();
    config.mediasoup.num_workers = Some(2);
    // One consumer loads a router: the third peer goes to the other worker.
    config.rooms.consumers_per_router = 1;
    let server = start(config).await;

    let (alice, _alice_in) = connect(&server, "piped", "alice").await;
    let (send, _) = join(&alice, "Alice").await;
    let produced = request(
        &alice,
        "produce",
        json!({ "transportId": send, "kind": "audio", "rtpParameters": opus_parameters(4242) }),
    )
    .await
    .expect("produced");
    let producer = produced["id"].as_str().expect("producer id").to_string();
    let (bob, mut bob_in) = connect(&server, "piped", "bob").await;
    join(&bob, "Bob").await;
    expect_message(&mut bob_in, "newConsumer").await;

    let (carol, mut carol_in) = connect(&server, "piped", "carol").await;
    join(&carol, "Carol").await;
    let offer = expect_message(&mut carol_in, "newConsumer").await;
    assert_eq!(offer["producerId"], producer.as_str());
    let room = server.signaling.rooms.get("piped").expect("room open");
    let routers = room.routers.all();
    assert_eq!(routers.len(), 2, "the room spread to the second worker");
    assert!(!std::ptr::eq(
        std::sync::Arc::as_ptr(&routers[0].worker),
        std::sync::Arc::as_ptr(&routers[1].worker)
    ));
    // The piped copy keeps the original's id on the second router.
    let second = routers[1].router.dump().await.expect("dump");
    assert!(
        second
            .map_producer_id_consumer_ids
            .keys()
            .any(|p| p.to_string() == producer),
        "{second:?}"
    );

    request(&alice, "pauseProducer", json!({ "producerId": producer }))
        .await
        .expect("paused");
    expect_message(&mut carol_in, "consumerPaused").await;
    request(&alice, "resumeProducer", json!({ "producerId": producer }))
        .await
        .expect("resumed");
    expect_message(&mut carol_in, "consumerResumed").await;
    request(&alice, "closeProducer", json!({ "producerId": producer }))
        .await
        .expect("closed");
    expect_message(&mut carol_in, "consumerClosed").await;
    wait_for(
        "the piped copy to close",
        Duration::from_secs(5),
        async || {
            let dump = routers[1].router.dump().await.ok()?;
            dump.map_producer_id_consumer_ids.is_empty().then_some(())
        },
    )
    .await;
    assert!(room.routers.pipes.is_empty(), "the piping is forgotten");
    drop((routers, room, alice, bob, carol));
    server.shutdown().await;
}

/// Churn in a spread room (peers leaving, half by dropping their socket,
/// and new ones joining, while producers are piped between the workers):
/// every live check holds, and once everyone has gone nothing is left in
/// mediasoup, in the registry or in the World.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn churn_in_a_spread_room_leaves_nothing_behind() {
    let mut config = test_config();
    config.mediasoup.num_workers = Some(2);
    config.rooms.consumers_per_router = 6;
    let grace = Duration::from_millis(config.rooms.empty_grace_ms);
    let server = start(config).await;
    let mut scenario = Scenario::named("churn").expect("churn is built in");
    scenario.rooms = 1;
    scenario.peers_per_room = 6;
    scenario.ramp_up = 3.0;
    scenario.duration_secs = 10.0;
    scenario.warm_up_secs = 4.0;
    let churn = scenario.churn.as_mut().expect("churn.toml churns");
    churn.leaves_per_sec = 1.0;
    churn.abrupt_fraction = 0.5;
    let opts = sim_options(&server, grace);
    let running = tokio::spawn(async move { run(&scenario, &opts).await });
    let mut most_routers = 0;
    while !running.is_finished() {
        for room in server.signaling.rooms.all() {
            most_routers = most_routers.max(room.routers.all().len());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let report = tokio::time::timeout(DEADLINE, running)
        .await
        .expect("the run ends in time")
        .expect("the run task")
        .expect("the run completes");
    assert!(report.failed_joins.is_empty(), "{:?}", report.failed_joins);
    assert!(report.violations.is_empty(), "{:#?}", report.violations);
    assert!(report.churn.as_ref().is_some_and(|c| c.joined > 0));
    assert_eq!(most_routers, 2, "the room spread over both workers");

    wait_for("nothing left", Duration::from_secs(10), async || {
        let s = server.engine.query(|core| core.summary()).await.ok()?;
        let registry = server.signaling.registry();
        (routers_in_mediasoup(&server).await == 0
            && s.rooms + s.peers + s.transports + s.producers + s.consumers == 0
            && registry.transports().is_empty()
            && registry.weak_producers(0).is_empty()
            && registry.weak_consumers(0).is_empty())
        .then_some(())
    })
    .await;
    server.shutdown().await;
}
