//! A peer that stops reading its socket is disconnected once its outgoing
//! queue (`limits.max_queued_messages`) is full, rather than silently missing
//! notifications and holding a view of the room that is no longer true; the
//! others carry on and see it leave.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use ejtimaa_sim::signaling::ServerMessage;
use serde_json::{Value, json};
use support::*;

const ROOM: &str = "slow";
const QUEUE: usize = 32;
/// Peers that come and go while the slow peer reads nothing: each costs it
/// a `newPeer` and a `peerClosed`, twice the queue in all.
const CHURN: usize = QUEUE;

/// An engine.io long-polling client: it receives only when it polls, so a
/// client that stops polling is one that stops reading.
struct Polling {
    addr: SocketAddr,
    sid: String,
}

impl Polling {
    async fn open(addr: SocketAddr, room: &str, peer: &str) -> Self {
        let (status, _, body) = http_get(
            addr,
            &format!("/socket.io/?EIO=4&transport=polling&roomId={room}&peerId={peer}"),
            &[],
        )
        .await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let text = String::from_utf8(body).expect("utf-8");
        let open: Value = serde_json::from_str(text.strip_prefix('0').expect("open packet"))
            .expect("open packet's JSON");
        let sid = open["sid"].as_str().expect("sid").to_string();
        Polling { addr, sid }
    }

    /// Connects and joins `ROOM` as `peer`.
    async fn join(addr: SocketAddr, peer: &str) -> Self {
        let polling = Self::open(addr, ROOM, peer).await;
        polling.post("40").await;
        polling.poll_for("40").await;
        polling
            .post(&format!(
                r#"420["request",{{"method":"join","data":{{"displayName":"{peer}"}}}}]"#
            ))
            .await;
        let answer = polling.poll_for("430").await;
        assert!(answer.starts_with("430[null"), "join failed: {answer}");
        polling
    }

    async fn post(&self, packet: &str) {
        let path = format!("/socket.io/?EIO=4&transport=polling&sid={}", self.sid);
        let (status, _, body) = http_request(
            self.addr,
            "POST",
            &path,
            &[("Content-Type", "text/plain;charset=UTF-8")],
            packet.as_bytes(),
        )
        .await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    }

    /// One poll: the packets waiting for this client.
    async fn poll(&self) -> Vec<String> {
        let path = format!("/socket.io/?EIO=4&transport=polling&sid={}", self.sid);
        let (status, _, body) = http_get(self.addr, &path, &[]).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        String::from_utf8(body)
            .expect("utf-8")
            .split('\u{1e}')
            .map(str::to_string)
            .collect()
    }

    /// Polls until a packet starts with `prefix`.
    async fn poll_for(&self, prefix: &str) -> String {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if let Some(p) = self
                    .poll()
                    .await
                    .into_iter()
                    .find(|p| p.starts_with(prefix))
                {
                    return p;
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no packet starting {prefix:?} within 10 s"))
    }
}

/// The slow peer is gone from its room, and its overflow counted once.
async fn evicted_once(server: &ejtimaa::server::Server) {
    let text = scrape_until(server, "one peer left", |t| {
        sample(t, r#"Ejtimaa_peers{room_id="slow"}"#) == Some(1.0)
    })
    .await;
    assert_eq!(
        sample(
            &text,
            r#"Ejtimaa_limit_refusals_total{limit="max_queued_messages"}"#
        ),
        Some(1.0),
        "the overflow is counted once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_stops_reading_is_disconnected_when_its_queue_is_full() {
    let mut config = test_config();
    config.limits.max_queued_messages = QUEUE;
    let server = start(config).await;

    // Joined, and never polls again.
    Polling::join(server.signaling_addr, "slow").await;

    let (observer, mut observer_in) = connect(&server, ROOM, "observer").await;
    request(&observer, "join", json!({ "displayName": "observer" }))
        .await
        .expect("joined");

    // From here on the slow peer reads nothing.
    for i in 0..CHURN {
        let (client, _incoming) = connect(&server, ROOM, &format!("c{i}")).await;
        request(&client, "join", json!({ "displayName": "c" }))
            .await
            .expect("joined");
        client.disconnect().await;
    }

    // The observer, which reads, hears of every churner and then of the slow
    // peer's leaving.
    let mut churners_closed = 0;
    let mut slow_closed = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !(slow_closed && churners_closed == CHURN) {
        let message = tokio::time::timeout_at(deadline, observer_in.recv())
            .await
            .unwrap_or_else(|_| {
                panic!("within 10 s: slow peer closed {slow_closed}, churners closed {churners_closed} of {CHURN}")
            })
            .expect("the observer stays connected");
        if let ServerMessage::Notification { method, data } = message
            && method == "peerClosed"
        {
            match data["peerId"].as_str() {
                Some("slow") => slow_closed = true,
                Some(_) => churners_closed += 1,
                None => panic!("peerClosed without peerId: {data}"),
            }
        }
    }

    evicted_once(&server).await;
    // The observer is still served.
    request(&observer, "getRouterRtpCapabilities", json!({}))
        .await
        .expect("the observer is still served");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_reads_none_of_its_answers_is_disconnected() {
    let mut config = test_config();
    config.limits.max_queued_messages = QUEUE;
    let server = start(config).await;
    let (observer, mut observer_in) = connect(&server, ROOM, "observer").await;
    request(&observer, "join", json!({ "displayName": "observer" }))
        .await
        .expect("joined");

    let slow = Polling::join(server.signaling_addr, "slow").await;
    expect_message(&mut observer_in, "newPeer").await;
    // More requests than its queue holds answers, in one payload, and no
    // poll for their answers.
    let batch: Vec<String> = (1..=2 * QUEUE)
        .map(|i| format!(r#"42{i}["request",{{"method":"getRouterRtpCapabilities","data":{{}}}}]"#))
        .collect();
    slow.post(&batch.join("\u{1e}")).await;

    let closed = expect_message(&mut observer_in, "peerClosed").await;
    assert_eq!(closed["peerId"], "slow");
    evicted_once(&server).await;
    server.shutdown().await;
}
