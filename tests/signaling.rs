//! Signaling against the real server (real mediasoup, real socket.io): the
//! whole join flow, what other peers are told, the exporter following rooms
//! and peers, and every kind of bad input answered without harm.

mod support;

use serde_json::{Value, json};
use support::*;

const ROOM: &str = "Ejtimaa_peers{room_id=\"lobby\"}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_produce_consume_and_leave() {
    let server = start(test_config()).await;
    let (alice, mut alice_in) = connect(&server, "lobby", "alice").await;

    let caps = request(&alice, "getRouterRtpCapabilities", json!({}))
        .await
        .unwrap();
    let mimes: Vec<&str> = caps["codecs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["mimeType"].as_str())
        .collect();
    assert!(
        mimes.contains(&"audio/opus") && mimes.contains(&"video/VP8"),
        "{mimes:?}"
    );

    let t = request(
        &alice,
        "createWebRtcTransport",
        json!({ "producing": true }),
    )
    .await
    .unwrap();
    assert!(t["iceParameters"]["usernameFragment"].is_string());
    assert_eq!(t["iceCandidates"][0]["address"], "127.0.0.1", "{t}");
    assert!(
        t["dtlsParameters"]["fingerprints"]
            .as_array()
            .is_some_and(|f| !f.is_empty())
    );
    let send = t["id"].as_str().unwrap().to_string();
    request(
        &alice,
        "connectWebRtcTransport",
        json!({ "transportId": send, "dtlsParameters": dtls_parameters() }),
    )
    .await
    .unwrap();
    let joined = request(
        &alice,
        "join",
        json!({ "displayName": "Alice", "rtpCapabilities": caps }),
    )
    .await
    .unwrap();
    assert_eq!(joined["peers"], json!([]));
    let produced = request(
        &alice,
        "produce",
        json!({ "transportId": send, "kind": "audio", "rtpParameters": opus_parameters(1111), "appData": {"source": "mic"} }),
    )
    .await
    .unwrap();
    let producer = produced["id"].as_str().unwrap().to_string();

    let text = scrape_until(&server, "alice in the lobby", |t| {
        sample(t, ROOM) == Some(1.0)
    })
    .await;
    assert_eq!(sample(&text, "Ejtimaa_rooms"), Some(1.0));

    // Bob joins: he is told of Alice, she of him, and he is offered her audio.
    let (bob, mut bob_in) = connect(&server, "lobby", "bob").await;
    let (_, _) = join(&bob, "Bob").await;
    let new_peer = expect_message(&mut alice_in, "newPeer").await;
    assert_eq!(new_peer["id"], "bob");
    assert_eq!(new_peer["displayName"], "Bob");
    let offer = expect_message(&mut bob_in, "newConsumer").await;
    assert_eq!(offer["peerId"], "alice");
    assert_eq!(offer["producerId"], producer.as_str());
    assert_eq!(offer["kind"], "audio");
    assert_eq!(offer["appData"], json!({"source": "mic"}));
    let consumer = offer["id"].as_str().unwrap().to_string();
    scrape_until(&server, "two peers", |t| sample(t, ROOM) == Some(2.0)).await;

    let stats = request(&bob, "getConsumerStats", json!({ "consumerId": consumer }))
        .await
        .unwrap();
    assert!(stats.is_array(), "{stats}");
    request(&bob, "pauseConsumer", json!({ "consumerId": consumer }))
        .await
        .unwrap();
    request(&bob, "resumeConsumer", json!({ "consumerId": consumer }))
        .await
        .unwrap();
    request(&alice, "pauseProducer", json!({ "producerId": producer }))
        .await
        .unwrap();
    expect_message(&mut bob_in, "consumerPaused").await;
    request(&alice, "resumeProducer", json!({ "producerId": producer }))
        .await
        .unwrap();
    expect_message(&mut bob_in, "consumerResumed").await;

    request(
        &alice,
        "changeDisplayName",
        json!({ "displayName": "Alice B." }),
    )
    .await
    .unwrap();
    let renamed = expect_message(&mut bob_in, "peerDisplayNameChanged").await;
    assert_eq!(
        renamed,
        json!({ "peerId": "alice", "displayName": "Alice B.", "oldDisplayName": "Alice" })
    );

    // The World knows the peers with their names and handshake user agent.
    let peers = server
        .engine
        .query(|core| {
            let world = core.world_mut();
            let mut q = world.query::<&ejtimaa_systems::world::Peer>();
            let mut v: Vec<(String, String, String)> = q
                .iter(world)
                .map(|p| {
                    (
                        p.id.to_string(),
                        p.display_name.clone(),
                        p.user_agent.clone(),
                    )
                })
                .collect();
            v.sort();
            v
        })
        .await
        .unwrap();
    let ua = "ejtimaa-tests/1.0 (\"quoted\")".to_string();
    assert_eq!(
        peers,
        vec![
            ("alice".into(), "Alice B.".into(), ua.clone()),
            ("bob".into(), "Bob".into(), ua)
        ]
    );

    request(&alice, "closeProducer", json!({ "producerId": producer }))
        .await
        .unwrap();
    let closed = expect_message(&mut bob_in, "consumerClosed").await;
    assert_eq!(closed["consumerId"], consumer.as_str());
    assert!(
        request(&bob, "getConsumerStats", json!({ "consumerId": consumer }))
            .await
            .unwrap_err()
            .contains("not found")
    );

    alice.disconnect().await;
    let gone = expect_message(&mut bob_in, "peerClosed").await;
    assert_eq!(gone["peerId"], "alice");
    scrape_until(&server, "one peer left", |t| sample(t, ROOM) == Some(1.0)).await;

    bob.abort(); // abrupt: the socket just drops
    let text = scrape_until(&server, "the room closed", |t| {
        sample(t, "Ejtimaa_rooms") == Some(0.0)
    })
    .await;
    assert!(!text.contains("room_id=\"lobby\""), "{text}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_an_error_and_changes_nothing() {
    let mut config = test_config();
    config.limits.max_message_bytes = 4096;
    let server = start(config).await;
    let (alice, _alice_in) = connect(&server, "r", "alice").await;
    let (mallory, _mallory_in) = connect(&server, "r", "mallory").await;
    let (alice_send, _) = join(&alice, "Alice").await;
    let producer = request(
        &alice,
        "produce",
        json!({ "transportId": alice_send, "kind": "audio", "rtpParameters": opus_parameters(2222) }),
    )
    .await
    .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    let expect_err = |method: &'static str, data: Value, needle: &'static str| {
        let mallory = &mallory;
        async move {
            let err = request(mallory, method, data.clone())
                .await
                .expect_err(method);
            assert!(
                err.contains(needle),
                "{method} {data}: `{err}` lacks `{needle}`"
            );
        }
    };
    // Before join.
    let send = create_transport(&mallory, true).await;
    expect_err(
        "produce",
        json!({ "transportId": send, "kind": "audio", "rtpParameters": opus_parameters(3) }),
        "not joined",
    )
    .await;
    expect_err(
        "changeDisplayName",
        json!({ "displayName": "x" }),
        "not joined",
    )
    .await;
    // Unknown methods, malformed data, missing fields.
    expect_err("noSuchMethod", json!({}), "unknown method").await;
    expect_err(
        "connectWebRtcTransport",
        json!({ "transportId": send }),
        "invalid data",
    )
    .await;
    expect_err(
        "connectWebRtcTransport",
        json!("just a string"),
        "invalid data",
    )
    .await;
    expect_err("join", json!({ "displayName": 42 }), "invalid data").await;
    let raw = mallory
        .emit_with_ack(
            "request",
            vec![json!("not an object")],
            std::time::Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert!(
        raw[0].as_str().is_some_and(|e| e.contains("invalid data")),
        "{raw:?}"
    );

    let caps = request(&mallory, "getRouterRtpCapabilities", json!({}))
        .await
        .unwrap();
    request(
        &mallory,
        "join",
        json!({ "displayName": "M", "rtpCapabilities": caps }),
    )
    .await
    .unwrap();
    expect_err("join", json!({ "displayName": "M" }), "already joined").await;
    // Ids that are not the peer's own, or not ids at all.
    expect_err(
        "connectWebRtcTransport",
        json!({ "transportId": alice_send, "dtlsParameters": dtls_parameters() }),
        "not found",
    )
    .await;
    expect_err(
        "closeProducer",
        json!({ "producerId": producer }),
        "not found",
    )
    .await;
    expect_err(
        "pauseConsumer",
        json!({ "consumerId": "../../etc/passwd" }),
        "not found",
    )
    .await;
    expect_err(
        "getTransportStats",
        json!({ "transportId": "00000000-0000-0000-0000-000000000000" }),
        "not found",
    )
    .await;
    // Parameters mediasoup refuses.
    let mut bad = opus_parameters(4);
    bad["codecs"][0]["mimeType"] = json!("audio/nonesuch");
    expect_err(
        "produce",
        json!({ "transportId": send, "kind": "audio", "rtpParameters": bad }),
        "",
    )
    .await;
    // A second producer with the same MID on one transport.
    request(
        &mallory,
        "produce",
        json!({ "transportId": send, "kind": "audio", "rtpParameters": opus_parameters(6) }),
    )
    .await
    .unwrap();
    expect_err(
        "produce",
        json!({ "transportId": send, "kind": "audio", "rtpParameters": opus_parameters(7) }),
        "",
    )
    .await;
    // Oversize: over `limits.max_message_bytes`.
    expect_err(
        "changeDisplayName",
        json!({ "displayName": "x".repeat(5000) }),
        "exceeds the limit",
    )
    .await;

    // Nothing changed for anyone: Alice's producer lives, Mallory still works.
    request(
        &alice,
        "getProducerStats",
        json!({ "producerId": producer }),
    )
    .await
    .unwrap();
    request(
        &mallory,
        "changeDisplayName",
        json!({ "displayName": "M2" }),
    )
    .await
    .unwrap();
    let text = scrape(&server).await;
    assert_eq!(
        sample(&text, "Ejtimaa_peers{room_id=\"r\"}"),
        Some(2.0),
        "{text}"
    );
    // And a newcomer is served.
    let (carol, _carol_in) = connect(&server, "r", "carol").await;
    join(&carol, "Carol").await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_and_limits_are_enforced() {
    let mut config = test_config();
    config.limits.max_peers_per_room = 2;
    config.limits.max_rooms = 2;
    config.limits.max_transports_per_peer = 2;
    let server = start(config).await;
    let url = format!("http://{}", server.signaling_addr);

    let err = ejtimaa_sim::signaling::Client::connect(&url, &[("peerId", "x")], None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("roomId"), "{err}");
    let err =
        ejtimaa_sim::signaling::Client::connect(&url, &[("roomId", "r"), ("peerId", "")], None)
            .await
            .unwrap_err();
    assert!(err.to_string().contains("peerId"), "{err}");

    let (a, _a_in) = connect(&server, "one", "a").await;
    let (_b, _b_in) = connect(&server, "one", "b").await;
    let err = try_connect(&server, "one", "c").await.unwrap_err();
    assert!(err.to_string().contains("room is full"), "{err}");
    let (_d, _d_in) = connect(&server, "two", "d").await;
    let err = try_connect(&server, "three", "e").await.unwrap_err();
    assert!(err.to_string().contains("rooms"), "{err}");

    create_transport(&a, true).await;
    create_transport(&a, false).await;
    let err = request(&a, "createWebRtcTransport", json!({}))
        .await
        .unwrap_err();
    assert!(err.contains("transports per peer"), "{err}");

    // A peer id that connects again replaces its old connection.
    let (a2, _a2_in) = connect(&server, "one", "a").await;
    request(&a2, "getRouterRtpCapabilities", json!({}))
        .await
        .unwrap();
    let start = std::time::Instant::now();
    while a.closed_reason().is_none() {
        assert!(
            start.elapsed().as_secs() < 10,
            "the old connection of `a` was not closed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exporter_speaks_http_properly() {
    let mut config = test_config();
    config.prometheus.secret = Some("s3cret".into());
    let server = start(config).await;
    let addr = server.exporter_addr.unwrap();
    let (status, head, _) = http_get(addr, "/metrics", &[]).await;
    assert_eq!(status, 401, "{head}");
    let (status, _, _) = http_get(addr, "/metrics", &[("Authorization", "Bearer wrong")]).await;
    assert_eq!(status, 401);
    for path in ["/metrics", "/"] {
        let (status, head, body) =
            http_get(addr, path, &[("Authorization", "Bearer s3cret")]).await;
        assert_eq!(status, 200, "{path}");
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: text/plain; version=0.0.4"),
            "{head}"
        );
        assert!(String::from_utf8_lossy(&body).contains("# TYPE Ejtimaa_rooms gauge"));
    }
    let (status, head, body) = http_get(
        addr,
        "/metrics",
        &[
            ("Authorization", "Bearer s3cret"),
            ("Accept-Encoding", "gzip"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        head.to_ascii_lowercase().contains("content-encoding: gzip"),
        "{head}"
    );
    assert_eq!(&body[..2], &[0x1f, 0x8b], "gzip magic");
    server.shutdown().await;
}

/// `mediasoup.webrtc_server_port`: every transport of a worker shares its
/// WebRtcServer's port instead of taking one from the range.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webrtc_server_mode_shares_one_port_per_worker() {
    let port = webrtc_server_port();
    let mut config = test_config();
    config.mediasoup.webrtc_server_port = Some(port);
    let server = start(config).await;
    let (a, _a_in) = connect(&server, "r", "a").await;
    let mut ports = Vec::new();
    for producing in [true, false] {
        let t = request(
            &a,
            "createWebRtcTransport",
            json!({ "producing": producing }),
        )
        .await
        .unwrap();
        for c in t["iceCandidates"].as_array().unwrap() {
            ports.push((
                c["protocol"].as_str().unwrap().to_string(),
                c["port"].as_u64().unwrap(),
            ));
        }
    }
    assert!(
        ports.iter().any(|(p, _)| p == "udp") && ports.iter().any(|(p, _)| p == "tcp"),
        "{ports:?}"
    );
    assert!(
        ports.iter().all(|(_, p)| *p == u64::from(port)),
        "{ports:?} should all be {port}"
    );
    server.shutdown().await;
}

/// Each ICE candidate carries its address twice: `address`, mediasoup's
/// name (mediasoup-client reads it; tests/browser.rs calls through it), and
/// `ip`, which older clients read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ice_candidates_carry_ip_beside_address() {
    let server = start(test_config()).await;
    let (a, _a_in) = connect(&server, "r", "a").await;
    for producing in [true, false] {
        let t = request(
            &a,
            "createWebRtcTransport",
            json!({ "producing": producing, "consuming": !producing }),
        )
        .await
        .unwrap();
        let candidates = t["iceCandidates"].as_array().expect("candidates");
        assert!(!candidates.is_empty(), "{t}");
        for c in candidates {
            let address = c["address"].as_str().expect("address");
            assert!(!address.is_empty(), "{c}");
            assert_eq!(c["ip"], c["address"], "{c}");
        }
    }
    server.shutdown().await;
}

/// A peer that connects and creates transports but never joins is in the
/// World from its connection on, and leaves no trace when it goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_never_joins_leaves_no_trace() {
    let server = start(test_config()).await;
    let (stayer, _s) = connect(&server, "quiet", "stayer").await;
    let (lurker, _l) = connect(&server, "quiet", "lurker").await;
    create_transport(&lurker, true).await;
    scrape_until(&server, "both counted", |t| {
        sample(t, "Ejtimaa_peers{room_id=\"quiet\"}") == Some(2.0)
    })
    .await;
    lurker.disconnect().await;
    // The room stays (the stayer is in it): the lurker itself must go.
    scrape_until(&server, "the lurker gone", |t| {
        sample(t, "Ejtimaa_peers{room_id=\"quiet\"}") == Some(1.0)
    })
    .await;
    let (peers, transports) = server
        .engine
        .query(|core| {
            let summary = core.summary();
            (summary.peers, summary.transports)
        })
        .await
        .unwrap();
    assert_eq!((peers, transports), (1, 0));
    request(&stayer, "getRouterRtpCapabilities", json!({}))
        .await
        .unwrap();
    server.shutdown().await;
}
