//! Creating a consumer for a peer and offering it with a `newConsumer` request.

use std::sync::Arc;
use std::time::Duration;

use mediasoup::prelude::*;
use mediasoup::producer::WeakProducer;
use mediasoup::router::PipeProducerToRouterError;
use serde::Deserialize;
use serde_json::{Value, json};

use super::Signaling;
use super::peer::Peer;
use super::protocol::Message;
use super::spread::RoomRouter;
use crate::media::observe::{self, ConsumerClose};
use crate::media::registry::Owner;

/// How long a client has to accept a `newConsumer` request.
const NEW_CONSUMER_TIMEOUT: Duration = Duration::from_secs(10);

/// Every ack argument, however many the client sends (`cb()`, `cb(null)`,
/// `cb(null, {...})`, `cb(err)`).
#[derive(Debug, Deserialize)]
struct AckArgs(Vec<Value>);

/// Lets `consumer_peer` receive `producer` (owned by `producer_peer_id`), if
/// it joined with capabilities that fit and has a receiving transport. The
/// consumer starts paused and is resumed once the client accepts it.
pub async fn consume(
    ctx: &Signaling,
    consumer_peer: &Arc<Peer>,
    producer_peer_id: &str,
    producer: &WeakProducer,
) {
    // Hold the producer only while creating the consumer: a strong handle
    // kept across the client's answer would keep a closed producer alive.
    let Some(producer) = producer.upgrade() else {
        return;
    };
    let (transport, caps) = {
        let mut s = consumer_peer.state.lock();
        if !s.joined || s.closed {
            return;
        }
        let Some(caps) = s.rtp_capabilities.clone() else {
            return;
        };
        let Some(entry) = s.transports.values().find(|e| e.consuming) else {
            return;
        };
        let transport = entry.transport.clone();
        // Claimed under the same lock as the checks: one consumer per producer.
        if !s.consumed_producers.insert(producer.id()) {
            return;
        }
        (transport, caps)
    };
    let release = || {
        consumer_peer
            .state
            .lock()
            .consumed_producers
            .remove(&producer.id());
    };
    let Some(placed) = pipe_to_consumer(ctx, consumer_peer, producer_peer_id, &producer).await
    else {
        release();
        return;
    };
    if !placed.router.can_consume(&producer.id(), &caps) {
        tracing::debug!(peer = %consumer_peer.id, producer = %producer.id(), "cannot consume");
        release();
        return;
    }
    let mut options = ConsumerOptions::new(producer.id(), caps);
    options.paused = true;
    // Bounded like a client's requests: a worker that stops answering
    // must not keep this task (and the producer) forever.
    let media_timeout = ctx.config.limits.request_timeout();
    let consumer = match tokio::time::timeout(media_timeout, transport.consume(options)).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            tracing::warn!(peer = %consumer_peer.id, producer = %producer.id(), "consume failed: {e}");
            release();
            return;
        }
        Err(_) => {
            tracing::warn!(peer = %consumer_peer.id, producer = %producer.id(), "consume timed out");
            release();
            return;
        }
    };
    let close = observe::consumer(&ctx.engine, &transport.id(), &consumer);
    let owner = Owner::new(&consumer_peer.room_id, &consumer_peer.id);
    ctx.registry.add_consumer(&consumer, owner);
    placed.count_consumer(&consumer);
    follow(consumer_peer, &consumer, Arc::clone(&close));
    {
        let mut s = consumer_peer.state.lock();
        if s.closed {
            return; // dropped here: closes it
        }
        s.consumers.insert(consumer.id(), consumer.clone());
        s.consumer_closes.insert(consumer.id(), close);
    }

    let app_data = producer
        .app_data()
        .downcast_ref::<Value>()
        .cloned()
        .unwrap_or(Value::Null);
    let producer_id = producer.id();
    drop(producer);
    let data = json!({
        "peerId": producer_peer_id,
        "producerId": producer_id,
        "id": consumer.id(),
        "kind": consumer.kind(),
        "rtpParameters": consumer.rtp_parameters(),
        "type": consumer.r#type(),
        "appData": app_data,
        "producerPaused": consumer.producer_paused(),
    });
    let message = Message {
        method: "newConsumer",
        data,
    };
    let Some(pending) = send_offer(consumer_peer, &message) else {
        // Never offered: the client does not know of it, so it goes, and the
        // producer may be offered again.
        tracing::warn!(peer = %consumer_peer.id, consumer = %consumer.id(), "newConsumer could not be sent; consumer closed");
        let ours = {
            let mut s = consumer_peer.state.lock();
            s.consumed_producers.remove(&producer_id);
            s.consumer_closes.remove(&consumer.id());
            s.consumers.remove(&consumer.id())
        };
        drop(ours);
        return;
    };
    let answer = pending.await;
    match answer {
        Ok(AckArgs(args)) if args.first().is_none_or(Value::is_null) => {
            match tokio::time::timeout(media_timeout, consumer.resume()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::debug!(consumer = %consumer.id(), "resume failed: {e}"),
                Err(_) => tracing::warn!(consumer = %consumer.id(), "resume timed out"),
            }
        }
        Ok(AckArgs(args)) => {
            // The client refused it: it stays paused, as in the original.
            tracing::info!(peer = %consumer_peer.id, consumer = %consumer.id(), "newConsumer refused: {:?}", args.first());
        }
        Err(e) => {
            tracing::warn!(peer = %consumer_peer.id, consumer = %consumer.id(), "newConsumer unanswered: {e}")
        }
    }
}

/// The consuming peer's router, with `producer` (of `producer_peer_id`)
/// piped to it from its own peer's router first when the two differ; `None`
/// when either is gone or the piping failed.
async fn pipe_to_consumer(
    ctx: &Signaling,
    consumer_peer: &Peer,
    producer_peer_id: &str,
    producer: &Producer,
) -> Option<Arc<RoomRouter>> {
    let room = ctx.room_of(consumer_peer).ok()?;
    let to = consumer_peer.router.get()?.upgrade()?;
    let owner = room.peers.lock().get(producer_peer_id).cloned()?;
    let from = owner.router.get()?.upgrade()?;
    let piping = room
        .routers
        .pipes
        .ensure(producer, &from.router, &to.router);
    match tokio::time::timeout(ctx.config.limits.request_timeout(), piping).await {
        Ok(Ok(())) => Some(to),
        // Its producer closing meanwhile is normal churn, not a failure.
        Ok(Err(e @ PipeProducerToRouterError::ProducerNotFound(_))) => {
            tracing::debug!(producer = %producer.id(), "not piped: {e}");
            None
        }
        Ok(Err(e)) => {
            tracing::warn!(producer = %producer.id(), "piping to another worker failed: {e}");
            None
        }
        Err(_) => {
            tracing::warn!(producer = %producer.id(), "piping to another worker timed out");
            None
        }
    }
}

/// Sends a `newConsumer` offer; `None` when it could not be queued: the
/// peer is gone, or its outgoing queue is full and it is being evicted.
fn send_offer(
    peer: &Peer,
    message: &Message<'_, Value>,
) -> Option<socketioxide::ack::AckStream<AckArgs>> {
    if peer.state.lock().closed {
        return None;
    }
    match peer
        .socket
        .timeout(NEW_CONSUMER_TIMEOUT)
        .emit_with_ack::<_, AckArgs>("request", message)
    {
        Ok(pending) => Some(pending),
        Err(e) => {
            peer.outgoing.undelivered(&peer.socket, &e);
            tracing::debug!(peer = %peer.id, "newConsumer not sent: {e}");
            None
        }
    }
}

/// Tells the consuming peer what happens to its consumer.
fn follow(peer: &Arc<Peer>, consumer: &Consumer, close: Arc<ConsumerClose>) {
    let id = consumer.id();
    let weak = Arc::downgrade(peer);
    let runtime = tokio::runtime::Handle::current();
    consumer
        .on_producer_close(move || {
            // The World first, so that a scrape after the client hears of
            // it shows the consumer gone.
            close.report();
            if let Some(peer) = weak.upgrade() {
                let ours = {
                    let mut s = peer.state.lock();
                    s.consumer_closes.remove(&id);
                    s.consumers.remove(&id)
                };
                // Our handle must not be dropped here, inside mediasoup's own
                // notification callback (that deadlocks its channel thread).
                runtime.spawn(async move { drop(ours) });
                peer.notify("consumerClosed", json!({ "consumerId": id }));
            }
        })
        .detach();
    for (paused, method) in [(true, "consumerPaused"), (false, "consumerResumed")] {
        let weak = Arc::downgrade(peer);
        let notify = move || {
            if let Some(peer) = weak.upgrade() {
                peer.notify(method, json!({ "consumerId": id }));
            }
        };
        if paused {
            consumer.on_producer_pause(notify).detach();
        } else {
            consumer.on_producer_resume(notify).detach();
        }
    }
    let weak = Arc::downgrade(peer);
    consumer
        .on_score(move |score| {
            if let Some(peer) = weak.upgrade() {
                peer.notify("consumerScore", json!({ "consumerId": id, "score": score }));
            }
        })
        .detach();
}
