//! Per-connection request limits: requests in flight, a rate per method
//! family, and the length caps on what a client sends. Each refusal names its
//! limit and is counted on /metrics; other clients are unaffected.

mod support;

use ejtimaa::config::Rate;
use ejtimaa_sim::signaling::Client;
use futures_util::future::join_all;
use serde_json::{Value, json};
use support::*;

fn refusals(text: &str, limit: &str) -> Option<f64> {
    sample(
        text,
        &format!("Ejtimaa_limit_refusals_total{{limit=\"{limit}\"}}"),
    )
}

/// Sends `n` requests one after the other; the errors among their answers.
async fn errors_of(client: &Client, method: &str, data: &Value, n: usize) -> Vec<String> {
    let mut errors = Vec::new();
    for _ in 0..n {
        if let Err(e) = request(client, method, data.clone()).await {
            errors.push(e);
        }
    }
    errors
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_past_the_requests_in_flight_is_refused() {
    let mut config = test_config();
    config.limits.max_requests_in_flight = 2;
    let server = start(config).await;
    let (a, _a_in) = connect(&server, "inflight", "a").await;
    let transport = create_transport(&a, true).await;

    // Each waits on the worker: sent at once, many are in flight together.
    let stats = json!({ "transportId": transport });
    let answers = join_all((0..200).map(|_| request(&a, "getTransportStats", stats.clone()))).await;
    let answered = answers.iter().filter(|r| r.is_ok()).count();
    let refused: Vec<&String> = answers.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(answered >= 2, "{refused:?}");
    assert!(!refused.is_empty(), "200 requests at once, none refused");
    for e in &refused {
        assert!(e.contains("max_requests_in_flight"), "{e}");
        assert!(e.contains("at most 2 requests"), "{e}");
    }
    let text = scrape(&server).await;
    assert_eq!(
        refusals(&text, "max_requests_in_flight"),
        Some(refused.len() as f64)
    );
    // Answered, the places are free again.
    for _ in 0..3 {
        request(&a, "getTransportStats", stats.clone())
            .await
            .expect("served once the burst is answered");
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_method_family_has_its_own_rate() {
    const BURST: usize = 2;
    const SENT: usize = 5;
    let mut config = test_config();
    // Bursts of 2, then nothing for the length of the test.
    let slow = Rate {
        per_sec: 0.001,
        burst: BURST as u32,
    };
    let rates = &mut config.limits.rates;
    for rate in [
        &mut rates.setup,
        &mut rates.control,
        &mut rates.stats,
        &mut rates.ice_restart,
        &mut rates.key_frame,
        &mut rates.display_name,
    ] {
        *rate = slow;
    }
    let server = start(config).await;
    let (a, _a_in) = connect(&server, "flood", "a").await;
    let (b, _b_in) = connect(&server, "calm", "b").await;
    let nobody = "00000000-0000-0000-0000-000000000000";
    let families = [
        ("setup", "getRouterRtpCapabilities", json!({})),
        ("control", "pauseConsumer", json!({ "consumerId": nobody })),
        ("stats", "getConsumerStats", json!({ "consumerId": nobody })),
        (
            "ice_restart",
            "restartIce",
            json!({ "transportId": nobody }),
        ),
        (
            "key_frame",
            "requestConsumerKeyFrame",
            json!({ "consumerId": nobody }),
        ),
        (
            "display_name",
            "changeDisplayName",
            json!({ "displayName": "x" }),
        ),
    ];
    for (family, method, data) in &families {
        let limit = format!("rates.{family}");
        let errors = errors_of(&a, method, data, SENT).await;
        let refused: Vec<&String> = errors.iter().filter(|e| e.contains(&limit)).collect();
        assert_eq!(refused.len(), SENT - BURST, "{method}: {errors:?}");
        for e in &refused {
            assert!(e.contains(&format!("`{method}` is over its rate")), "{e}");
        }
        // Another connection's bucket is its own.
        let errors = errors_of(&b, method, data, BURST).await;
        assert!(
            errors.iter().all(|e| !e.contains("rates.")),
            "{method}: {errors:?}"
        );
    }
    let text = scrape(&server).await;
    for (family, _, _) in &families {
        let limit = format!("rates.{family}");
        assert_eq!(
            refusals(&text, &limit),
            Some((SENT - BURST) as f64),
            "{limit}"
        );
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_does_not_refill_its_rates() {
    let mut config = test_config();
    config.limits.rates.display_name = Rate {
        per_sec: 0.001,
        burst: 2,
    };
    let server = start(config).await;
    let rename = json!({ "displayName": "x" });
    let (a, _a_in) = connect(&server, "refill", "a").await;
    join_without_transports(&a, "A").await;
    let used = errors_of(&a, "changeDisplayName", &rename, 2).await;
    assert!(used.is_empty(), "{used:?}");
    // The same peer id again replaces the connection, not its buckets.
    let (again, _again_in) = connect(&server, "refill", "a").await;
    join_without_transports(&again, "A").await;
    let errors = errors_of(&again, "changeDisplayName", &rename, 1).await;
    assert!(
        errors.len() == 1 && errors[0].contains("rates.display_name"),
        "{errors:?}"
    );
    // Another peer id has its own.
    let (b, _b_in) = connect(&server, "refill", "b").await;
    join_without_transports(&b, "B").await;
    let own = errors_of(&b, "changeDisplayName", &rename, 2).await;
    assert!(own.is_empty(), "{own:?}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_rates_let_a_client_join_and_poll_stats() {
    let server = start(test_config()).await;
    let (a, _a_in) = connect(&server, "normal", "a").await;
    let (send, recv) = join(&a, "A").await;
    // What the app's stats panel asks every 2 s in a large call, at once.
    for _ in 0..150 {
        for transport in [&send, &recv] {
            request(&a, "getTransportStats", json!({ "transportId": transport }))
                .await
                .expect("stats");
        }
    }
    request(&a, "changeDisplayName", json!({ "displayName": "A." }))
        .await
        .expect("renamed");
    let text = scrape(&server).await;
    for line in text.lines() {
        if line.starts_with("Ejtimaa_limit_refusals_total{") {
            assert!(line.ends_with(" 0"), "{line}");
        }
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_names_devices_and_app_data_are_refused() {
    let server = start(test_config()).await;
    let (a, _a_in) = connect(&server, "sizes", "a").await;
    let (b, mut b_in) = connect(&server, "sizes", "b").await;
    request(&b, "join", json!({ "displayName": "b" }))
        .await
        .expect("joined");
    let long = "x".repeat(257);

    let err = request(&a, "join", json!({ "displayName": long }))
        .await
        .unwrap_err();
    assert!(err.contains("max_string_bytes"), "{err}");
    assert!(err.contains("`displayName`"), "{err}");
    let err = request(
        &a,
        "join",
        json!({ "device": { "name": "n", "flag": long } }),
    )
    .await
    .unwrap_err();
    assert!(err.contains("max_string_bytes"), "{err}");
    assert!(err.contains("`device`"), "{err}");
    let many: serde_json::Map<String, Value> = (0..60)
        .map(|i| (format!("field{i}"), json!("0123456789")))
        .collect();
    let err = request(&a, "join", json!({ "device": many }))
        .await
        .unwrap_err();
    assert!(err.contains("max_device_bytes"), "{err}");

    // Refused, nothing happened: `a` may still join, with sane data.
    let caps = request(&a, "getRouterRtpCapabilities", json!({}))
        .await
        .expect("caps");
    let send = create_transport(&a, true).await;
    request(
        &a,
        "join",
        json!({ "displayName": "a", "device": { "name": "ok" }, "rtpCapabilities": caps }),
    )
    .await
    .expect("joined");
    let newcomer = expect_message(&mut b_in, "newPeer").await;
    assert_eq!(newcomer["displayName"], "a");

    let err = request(&a, "changeDisplayName", json!({ "displayName": long }))
        .await
        .unwrap_err();
    assert!(err.contains("max_string_bytes"), "{err}");
    let err = request(
        &a,
        "produce",
        json!({
            "transportId": send,
            "kind": "audio",
            "rtpParameters": opus_parameters(1111),
            "appData": many,
        }),
    )
    .await
    .unwrap_err();
    assert!(err.contains("max_app_data_bytes"), "{err}");
    let text = scrape(&server).await;
    assert_eq!(refusals(&text, "max_string_bytes"), Some(3.0), "{text}");
    assert_eq!(refusals(&text, "max_device_bytes"), Some(1.0));
    assert_eq!(refusals(&text, "max_app_data_bytes"), Some(1.0));
    server.shutdown().await;
}
