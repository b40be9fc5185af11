//! Per-peer limits hold when a client sends many requests at once: each
//! request runs in its own task, so a check before an await and an insert
//! after it would let a burst through.

mod support;

use futures_util::future::join_all;
use serde_json::json;
use support::*;

const BURST: usize = 12;
const REFUSED_TRANSPORTS: &str = "Ejtimaa_limit_refusals_total{limit=\"max_transports_per_peer\"}";
const REFUSED_PRODUCERS: &str = "Ejtimaa_limit_refusals_total{limit=\"max_producers_per_peer\"}";
const REFUSED_ROOMS: &str = "Ejtimaa_limit_refusals_total{limit=\"max_rooms\"}";
const REFUSED_PEERS: &str = "Ejtimaa_limit_refusals_total{limit=\"max_peers_per_room\"}";

/// Opus parameters with their own MID, so that only the limit refuses them.
fn audio(n: u32) -> serde_json::Value {
    let mut parameters = opus_parameters(5000 + n);
    parameters["mid"] = json!(n.to_string());
    parameters
}

/// The errors among `answers`, and how many succeeded.
fn outcome(answers: &[Result<serde_json::Value, String>]) -> (usize, Vec<&str>) {
    let ok = answers.iter().filter(|r| r.is_ok()).count();
    let errors = answers
        .iter()
        .filter_map(|r| r.as_ref().err().map(String::as_str))
        .collect();
    (ok, errors)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_transports_gets_no_more_than_the_limit() {
    let mut config = test_config();
    config.limits.max_transports_per_peer = 4;
    // This peer never joins: only the per-peer limit is under test here.
    config.limits.max_transports_before_join = 4;
    let server = start(config).await;
    let (a, _a_in) = connect(&server, "burst", "a").await;

    let answers = join_all(
        (0..BURST).map(|_| request(&a, "createWebRtcTransport", json!({ "producing": true }))),
    )
    .await;
    let (created, refused) = outcome(&answers);
    assert_eq!(created, 4, "{refused:?}");
    for refused in &refused {
        assert!(
            refused.contains("at most 4 transports per peer"),
            "{refused}"
        );
    }
    let text = scrape(&server).await;
    assert_eq!(
        sample(&text, REFUSED_TRANSPORTS),
        Some(refused.len() as f64),
        "{text}"
    );
    assert_eq!(sample(&text, REFUSED_ROOMS), Some(0.0));

    // A new connection of the same peer replaces the old one, whose
    // transports close: the limit counts from zero again.
    drop(a);
    let (a2, _a2_in) = connect(&server, "burst", "a").await;
    let answers = join_all(
        (0..BURST).map(|_| request(&a2, "createWebRtcTransport", json!({ "consuming": true }))),
    )
    .await;
    assert_eq!(outcome(&answers).0, 4, "{:?}", outcome(&answers).1);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_producers_gets_no_more_than_the_limit() {
    let mut config = test_config();
    config.limits.max_producers_per_peer = 2;
    let server = start(config).await;
    let (a, _a_in) = connect(&server, "burst", "a").await;
    let (send, _) = join(&a, "A").await;

    let answers = join_all((0..BURST).map(|i| {
        request(
            &a,
            "produce",
            json!({
                "transportId": send,
                "kind": "audio",
                "rtpParameters": audio(i as u32),
            }),
        )
    }))
    .await;
    let produced: Vec<&str> = answers
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .filter_map(|v| v["id"].as_str())
        .collect();
    let (_, refused) = outcome(&answers);
    assert_eq!(produced.len(), 2, "{refused:?}");
    for refused in refused {
        assert!(
            refused.contains("at most 2 producers per peer"),
            "{refused}"
        );
    }
    assert_eq!(
        sample(&scrape(&server).await, REFUSED_PRODUCERS),
        Some((BURST - 2) as f64)
    );

    // Closing one frees its slot for exactly one more.
    request(&a, "closeProducer", json!({ "producerId": produced[0] }))
        .await
        .expect("closed");
    let answers = join_all((0..BURST).map(|i| {
        request(
            &a,
            "produce",
            json!({
                "transportId": send,
                "kind": "audio",
                "rtpParameters": audio(100 + i as u32),
            }),
        )
    }))
    .await;
    assert_eq!(outcome(&answers).0, 1, "{:?}", outcome(&answers).1);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connections_are_counted_by_limit() {
    let mut config = test_config();
    config.limits.max_rooms = 1;
    config.limits.max_peers_per_room = 1;
    let server = start(config).await;
    let (_a, _a_in) = connect(&server, "one", "a").await;
    let outcomes = join_all((0..4).map(|i| {
        let peer = format!("b{i}");
        let room = if i % 2 == 0 { "one" } else { "two" };
        let server = &server;
        async move {
            try_connect(server, room, &peer)
                .await
                .err()
                .map(|e| e.to_string())
        }
    }))
    .await;
    for (i, refused) in outcomes.iter().enumerate() {
        let refused = refused.as_deref().expect("refused");
        let needle = if i % 2 == 0 {
            "room is full"
        } else {
            "at most 1 rooms"
        };
        assert!(refused.contains(needle), "{refused}");
    }
    let text = scrape(&server).await;
    assert_eq!(sample(&text, REFUSED_PEERS), Some(2.0), "{text}");
    assert_eq!(sample(&text, REFUSED_ROOMS), Some(2.0), "{text}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_replaces_no_one() {
    let mut config = test_config();
    config.limits.max_rooms = 2;
    config.limits.max_peers_per_room = 1;
    let server = start(config).await;
    let (a, _a_in) = connect(&server, "one", "a").await;
    let (_b, _b_in) = connect(&server, "two", "b").await;

    // Peer id `a` again, into a full room, then into a room over the limit.
    let err = try_connect(&server, "two", "a").await.unwrap_err();
    assert!(err.to_string().contains("room is full"), "{err}");
    let err = try_connect(&server, "three", "a").await.unwrap_err();
    assert!(err.to_string().contains("at most 2 rooms"), "{err}");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(
        a.closed_reason().is_none(),
        "the refused newcomer closed `a`"
    );
    request(&a, "getRouterRtpCapabilities", json!({}))
        .await
        .expect("`a` still served");

    // Admitted, the newcomer replaces it, in its own room as in another.
    let (a2, _a2_in) = connect(&server, "one", "a").await;
    let start = std::time::Instant::now();
    while a.closed_reason().is_none() {
        assert!(start.elapsed().as_secs() < 10, "the old `a` was not closed");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    request(&a2, "getRouterRtpCapabilities", json!({}))
        .await
        .expect("the new `a` is served");
    let text = scrape_until(&server, "one peer in each room", |t| {
        sample(t, "Ejtimaa_peers{room_id=\"one\"}") == Some(1.0)
            && sample(t, "Ejtimaa_peers{room_id=\"two\"}") == Some(1.0)
    })
    .await;
    assert_eq!(sample(&text, "Ejtimaa_rooms"), Some(2.0), "{text}");
    server.shutdown().await;
}

/// Clients that give up while the server is still admitting them (opening
/// their room on a worker) leave nothing behind: no peer, no room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_vanishing_while_their_room_opens_leave_nothing() {
    let server = start(test_config()).await;
    let mut gave_up = 0;
    for round in 0..4u64 {
        let attempts = (0..16u64).map(|i| {
            let server = &server;
            async move {
                let room = format!("vanish-{round}-{}", i % 4);
                let peer = format!("v{round}-{i}");
                // From at once to a few ms in: before, during and after the
                // room's router is created.
                let patience = std::time::Duration::from_micros(500 * (i % 8));
                tokio::time::timeout(patience, try_connect(server, &room, &peer))
                    .await
                    .is_err()
            }
        });
        gave_up += join_all(attempts).await.into_iter().filter(|&g| g).count();
    }
    assert!(
        gave_up > 0,
        "no client gave up mid-connect: the test tried nothing"
    );
    let text = scrape_until(&server, "no rooms and no peers", |t| {
        sample(t, "Ejtimaa_rooms") == Some(0.0) && !t.contains("\nEjtimaa_peers{")
    })
    .await;
    assert_eq!(server.signaling.peer_count(), 0, "{text}");
    server.shutdown().await;
}

/// Rooms open side by side (one opening per room id), yet a burst of new
/// rooms gets no more than `max_rooms`: rooms being opened count too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_new_rooms_gets_no_more_than_the_limit() {
    let mut config = test_config();
    config.limits.max_rooms = 2;
    let server = start(config).await;
    let outcomes = join_all((0..BURST).map(|i| {
        let server = &server;
        async move {
            try_connect(server, &format!("burst{i}"), &format!("p{i}"))
                .await
                .map_err(|e| e.to_string())
        }
    }))
    .await;
    let admitted = outcomes.iter().filter(|o| o.is_ok()).count();
    assert_eq!(admitted, 2, "{outcomes:?}");
    for refused in outcomes.iter().filter_map(|o| o.as_ref().err()) {
        assert!(refused.contains("at most 2 rooms"), "{refused}");
    }
    let text = scrape(&server).await;
    assert_eq!(sample(&text, "Ejtimaa_rooms"), Some(2.0), "{text}");
    assert_eq!(
        sample(&text, REFUSED_ROOMS),
        Some((BURST - 2) as f64),
        "{text}"
    );
    server.shutdown().await;
}

/// Before `join` a peer gets only the transports the usual client order
/// needs (2 by default), however many it asks for at once; after `join`,
/// up to its limit. With 0, it must join first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unjoined_peer_gets_only_the_transports_it_needs_to_join() {
    let server = start(test_config()).await;
    let (client, _in) = connect(&server, "early", "early").await;
    let answers = join_all((0..BURST).map(|_| {
        request(
            &client,
            "createWebRtcTransport",
            json!({ "producing": true, "consuming": false }),
        )
    }))
    .await;
    let (created, errors) = outcome(&answers);
    assert_eq!(created, 2, "{errors:?}");
    assert!(
        errors.iter().all(|e| e.contains("before `join`")),
        "{errors:?}"
    );
    join_without_transports(&client, "Early").await;
    create_transport(&client, false).await;
    let text = scrape(&server).await;
    assert_eq!(
        sample(
            &text,
            "Ejtimaa_limit_refusals_total{limit=\"max_transports_before_join\"}"
        ),
        Some((BURST - 2) as f64),
        "{text}"
    );
    server.shutdown().await;

    let mut config = test_config();
    config.limits.max_transports_before_join = 0;
    let server = start(config).await;
    let (client, _in) = connect(&server, "strict", "strict").await;
    let err = request(
        &client,
        "createWebRtcTransport",
        json!({ "producing": true }),
    )
    .await
    .unwrap_err();
    assert!(err.contains("join first"), "{err}");
    join_without_transports(&client, "Strict").await;
    create_transport(&client, true).await;
    create_transport(&client, false).await;
    server.shutdown().await;
}
