//! `newConsumer` offers go out all at once: a peer that never answers its
//! offer (the server waits 10 s for each) holds up no other offer, neither
//! to the other peers nor to itself.

mod support;

use std::time::Duration;

use ejtimaa_sim::signaling::{AckResponder, Incoming, ServerMessage};
use serde_json::json;
use support::*;

/// Well under the server's 10 s wait for an answer: an offer queued behind
/// an unanswered one would arrive only after it.
const PROMPTLY: Duration = Duration::from_secs(5);

/// Opus parameters with their own MID and SSRC.
fn audio(n: u32) -> serde_json::Value {
    let mut parameters = opus_parameters(7000 + n);
    parameters["mid"] = json!(n.to_string());
    parameters
}

/// Waits for `count` `newConsumer` offers and keeps them unanswered.
async fn offers_unanswered(incoming: &mut Incoming, count: usize, who: &str) -> Vec<AckResponder> {
    let mut kept = Vec::new();
    let deadline = tokio::time::Instant::now() + PROMPTLY;
    while kept.len() < count {
        let message = tokio::time::timeout_at(deadline, incoming.recv())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "{who}: {} of {count} offers within {PROMPTLY:?}",
                    kept.len()
                )
            })
            .expect("connected");
        if let ServerMessage::Request(r) = message
            && r.method == "newConsumer"
        {
            kept.push(r.responder);
        }
    }
    kept
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_that_never_answer_hold_up_no_offer() {
    let server = start(test_config()).await;
    let mut silent = Vec::new();
    for i in 0..3 {
        let (client, incoming) = connect(&server, "offers", &format!("silent{i}")).await;
        join(&client, "Silent").await;
        silent.push((client, incoming));
    }
    let (answering, mut answering_in) = connect(&server, "offers", "answering").await;
    join(&answering, "Answering").await;
    let (sender, _sender_in) = connect(&server, "offers", "sender").await;
    let (send, _) = join(&sender, "Sender").await;

    // Two producers: each silent peer gets both offers at once, and the
    // answering peer gets its own, whatever the order of the peers.
    for n in 0..2 {
        request(
            &sender,
            "produce",
            json!({ "transportId": send, "kind": "audio", "rtpParameters": audio(n) }),
        )
        .await
        .expect("produced");
    }
    let mut kept = Vec::new();
    for (i, (_, incoming)) in silent.iter_mut().enumerate() {
        kept.extend(offers_unanswered(incoming, 2, &format!("silent{i}")).await);
    }
    tokio::time::timeout(PROMPTLY, async {
        expect_message(&mut answering_in, "newConsumer").await;
        expect_message(&mut answering_in, "newConsumer").await;
    })
    .await
    .expect("the answering peer's offers arrive promptly");

    // A newcomer that answers nothing gets every producer offered at once.
    let (late, mut late_in) = connect(&server, "offers", "late").await;
    join(&late, "Late").await;
    kept.extend(offers_unanswered(&mut late_in, 2, "late").await);
    assert_eq!(kept.len(), 3 * 2 + 2);
    drop(kept);
    server.shutdown().await;
}
