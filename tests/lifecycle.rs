//! Rooms closing around their peers: a worker that dies, and shutdown.

mod support;

use ejtimaa_sim::signaling::ServerMessage;
use serde_json::json;
use support::*;

/// What the server does when a worker dies (the pool reports it through
/// `worker_died`): the rooms on it close, their peers are told and
/// disconnected, and rooms on other workers carry on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_of_a_dead_worker_close_and_others_carry_on() {
    let mut config = test_config();
    config.mediasoup.num_workers = Some(2);
    let server = start(config).await;
    // Least-loaded placement puts the two rooms on different workers.
    let (a, mut a_in) = connect(&server, "doomed", "a").await;
    join(&a, "A").await;
    let (b, _b_in) = connect(&server, "safe", "b").await;
    join(&b, "B").await;
    scrape_until(&server, "two rooms", |t| {
        sample(t, "Ejtimaa_rooms") == Some(2.0)
    })
    .await;

    let doomed = server.signaling.rooms.get("doomed").expect("room open");
    let safe = server.signaling.rooms.get("safe").expect("room open");
    assert_ne!(
        doomed.worker.index, safe.worker.index,
        "rooms share a worker"
    );
    server.signaling.worker_died(&doomed.worker);

    let told = expect_message(&mut a_in, "roomClosed").await;
    assert_eq!(told["reason"], "media worker died");
    expect_message(&mut a_in, "disconnect").await;
    let text = scrape_until(&server, "the doomed room gone", |t| {
        sample(t, "Ejtimaa_rooms") == Some(1.0)
    })
    .await;
    assert!(!text.contains("room_id=\"doomed\""), "{text}");
    assert_eq!(
        sample(&text, "Ejtimaa_peers{room_id=\"safe\"}"),
        Some(1.0),
        "{text}"
    );
    request(
        &b,
        "changeDisplayName",
        json!({ "displayName": "still here" }),
    )
    .await
    .unwrap();
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_tells_every_peer_and_disconnects_it() {
    let server = start(test_config()).await;
    let mut peers = Vec::new();
    for name in ["a", "b"] {
        let (client, incoming) = connect(&server, "r", name).await;
        join(&client, name).await;
        peers.push((client, incoming));
    }
    server.shutdown().await;
    for (_client, mut incoming) in peers {
        let told = expect_message(&mut incoming, "roomClosed").await;
        assert_eq!(told["reason"], "server shutting down");
        let mut disconnected = false;
        while let Ok(Some(message)) =
            tokio::time::timeout(std::time::Duration::from_secs(5), incoming.recv()).await
        {
            if matches!(message, ServerMessage::Disconnected(_)) {
                disconnected = true;
                break;
            }
        }
        assert!(disconnected, "the peer was not disconnected");
    }
}
