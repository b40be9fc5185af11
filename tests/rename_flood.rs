//! A peer flooding `changeDisplayName` costs nobody else a notification:
//! every peer that stays sees every other peer come (`newPeer`) and go
//! (`peerClosed`) while the flood runs.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ejtimaa_sim::signaling::{Incoming, ServerMessage};
use futures_util::StreamExt;
use parking_lot::Mutex;
use serde_json::json;
use support::*;

const ROOM: &str = "flood";
const OBSERVERS: usize = 3;
const JOINERS: usize = 6;
/// Renames sent at once, again and again while the others come and go.
const VOLLEY: usize = 1000;

/// How long a peer takes over each message it reads.
const READ_PAUSE: Duration = Duration::from_millis(1);

/// The `newPeer` and `peerClosed` notifications a peer received, as
/// `(method, peerId)`, recorded by a task that drains its queue.
type Seen = Arc<Mutex<Vec<(String, String)>>>;

fn record(mut incoming: Incoming) -> Seen {
    let seen = Seen::default();
    let out = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Some(message) = incoming.recv().await {
            // A peer on a slow link: it reads no faster than this.
            tokio::time::sleep(READ_PAUSE).await;
            match message {
                ServerMessage::Notification { method, data }
                    if method == "newPeer" || method == "peerClosed" =>
                {
                    let key = if method == "newPeer" { "id" } else { "peerId" };
                    let peer = data[key].as_str().unwrap_or_default().to_string();
                    out.lock().push((method, peer));
                }
                ServerMessage::Request(r) => {
                    let _ = r.responder.send(vec![serde_json::Value::Null]).await;
                }
                _ => {}
            }
        }
    });
    seen
}

/// What `seen` lacks of a `newPeer` and a `peerClosed` for each joiner.
fn missing(seen: &Seen) -> Vec<String> {
    let seen = seen.lock();
    let mut missing = Vec::new();
    for j in 0..JOINERS {
        let peer = format!("j{j}");
        for method in ["newPeer", "peerClosed"] {
            if !seen.iter().any(|(m, p)| m == method && *p == peer) {
                missing.push(format!("{method} {peer}"));
            }
        }
    }
    missing
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rename_flood_costs_no_one_a_notification() {
    let server = start(test_config()).await;
    let mut stayers = Vec::new();
    for i in 0..OBSERVERS {
        let (client, incoming) = connect(&server, ROOM, &format!("o{i}")).await;
        request(&client, "join", json!({ "displayName": format!("o{i}") }))
            .await
            .expect("joined");
        stayers.push((format!("o{i}"), client, record(incoming)));
    }
    let (flooder, flooder_in) = connect(&server, ROOM, "f").await;
    request(&flooder, "join", json!({ "displayName": "f" }))
        .await
        .expect("joined");
    let flooder_seen = record(flooder_in);

    // Long names: each rename sends the new and the old one to every peer.
    let name = "n".repeat(200);
    let flooding = Arc::new(AtomicBool::new(true));
    let flood = {
        let (flooder, flooding) = (flooder.clone(), Arc::clone(&flooding));
        tokio::spawn(async move {
            // Always VOLLEY renames awaiting their answer, until told to stop.
            futures_util::stream::iter(0..)
                .take_while(|_| std::future::ready(flooding.load(Ordering::Relaxed)))
                .map(|i| {
                    let data = json!({ "displayName": format!("{name}{i}") });
                    flooder.request_with_timeout("changeDisplayName", data, Duration::from_secs(2))
                })
                .buffer_unordered(VOLLEY)
                .count()
                .await
        })
    };

    for j in 0..JOINERS {
        let (client, _incoming) = connect(&server, ROOM, &format!("j{j}")).await;
        request(&client, "join", json!({ "displayName": format!("j{j}") }))
            .await
            .expect("joined");
        tokio::time::sleep(Duration::from_millis(100)).await;
        client.disconnect().await;
    }
    flooding.store(false, Ordering::Relaxed);
    let sent = flood.await.expect("the flood ran");
    assert!(sent >= VOLLEY, "no flood was sent");

    // The flooder itself is not judged: its own thousand answers at once
    // fill its own outgoing buffer, so what it loses is its own doing (it
    // did lose a `newPeer` now and then). It is still served afterwards.
    drop(flooder_seen);
    request(&flooder, "getRouterRtpCapabilities", json!({}))
        .await
        .expect("the flooder is still served");
    // A dropped notification never arrives: wait for all, then say which.
    let missed = || -> Vec<String> {
        stayers
            .iter()
            .filter_map(|(name, _, seen)| {
                let missing = missing(seen);
                (!missing.is_empty()).then(|| format!("{name} missed {missing:?}"))
            })
            .collect()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !missed().is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let missed = missed();
    assert!(missed.is_empty(), "{missed:#?}");
    server.shutdown().await;
}
