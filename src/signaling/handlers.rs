//! The request methods. Each takes its decoded, size-checked data (see
//! `decode`), checks that the objects it names are the peer's own, and
//! answers a JSON value or a `SignalingError`.

use std::sync::Arc;
use std::time::Duration;

use ejtimaa_systems::WorldEvent;
use ejtimaa_systems::export::Limit;
use futures_util::future::join_all;
use mediasoup::prelude::*;
use mediasoup::producer::WeakProducer;
use serde_json::{Value, json};

use super::Signaling;
use super::consume::consume;
use super::decode::Call;
use super::method::Method;
use super::peer::{Peer, Slot, TransportEntry};
use super::protocol::{self as p, SignalingError};
use crate::media::registry::Owner;
use crate::media::{listen_info, observe};

type Reply = Result<Value, SignalingError>;

/// Runs one request of `peer`, within `limits.request_timeout_ms`,
/// mediasoup's answers included: a worker that stops answering costs its
/// clients an error, not a hung request. What a request abandoned at the
/// limit had reserved or created is dropped with it.
pub async fn handle(ctx: &Arc<Signaling>, peer: &Arc<Peer>, call: Call) -> Reply {
    let method = call.method();
    let limit = ctx.config.limits.request_timeout();
    bounded(method, limit, run(ctx, peer, call)).await
}

async fn bounded(method: Method, limit: Duration, request: impl Future<Output = Reply>) -> Reply {
    tokio::time::timeout(limit, request)
        .await
        .unwrap_or_else(|_| {
            tracing::warn!(method = method.as_str(), "request timed out");
            Err(SignalingError::limit(
                Limit::RequestTimeout,
                format!(
                    "`{}` took over {limit:?}: the media worker did not answer",
                    method.as_str()
                ),
            ))
        })
}

async fn run(ctx: &Arc<Signaling>, peer: &Arc<Peer>, call: Call) -> Reply {
    match call {
        Call::GetRouterRtpCapabilities => {
            Ok(json!(ctx.router_of(peer).await?.router.rtp_capabilities()))
        }
        Call::Join(req) => join(ctx, peer, req).await,
        Call::CreateWebRtcTransport(req) => create_transport(ctx, peer, req).await,
        Call::ConnectWebRtcTransport(req) => {
            let transport = peer.transport(&req.transport_id)?;
            let remote = WebRtcTransportRemoteParameters {
                dtls_parameters: req.dtls_parameters,
            };
            transport
                .connect(remote)
                .await
                .map_err(SignalingError::media)?;
            Ok(json!({}))
        }
        Call::RestartIce(req) => {
            let ice = peer
                .transport(&req.transport_id)?
                .restart_ice()
                .await
                .map_err(SignalingError::media)?;
            Ok(json!(ice))
        }
        Call::Produce(req) => produce(ctx, peer, req).await,
        Call::CloseProducer(req) => {
            let producer = peer.producer(&req.producer_id)?;
            peer.state.lock().producers.remove(&producer.id());
            drop(producer); // the last strong handle: closes it, and its consumers
            Ok(json!({}))
        }
        Call::PauseProducer(req) => {
            let producer = peer.producer(&req.producer_id)?;
            producer.pause().await.map_err(SignalingError::media)?;
            Ok(json!({}))
        }
        Call::ResumeProducer(req) => {
            let producer = peer.producer(&req.producer_id)?;
            producer.resume().await.map_err(SignalingError::media)?;
            Ok(json!({}))
        }
        Call::PauseConsumer(req) => {
            let consumer = peer.consumer(&req.consumer_id)?;
            consumer.pause().await.map_err(SignalingError::media)?;
            Ok(json!({}))
        }
        Call::ResumeConsumer(req) => {
            let consumer = peer.consumer(&req.consumer_id)?;
            consumer.resume().await.map_err(SignalingError::media)?;
            Ok(json!({}))
        }
        Call::SetConsumerPreferredLayers(req) => {
            let consumer = peer.consumer(&req.consumer_id)?;
            let layers = ConsumerLayers {
                spatial_layer: req.spatial_layer,
                temporal_layer: req.temporal_layer,
            };
            consumer
                .set_preferred_layers(layers)
                .await
                .map_err(SignalingError::media)?;
            Ok(json!({}))
        }
        Call::RequestConsumerKeyFrame(req) => {
            peer.consumer(&req.consumer_id)?
                .request_key_frame()
                .await
                .map_err(SignalingError::media)?;
            Ok(json!({}))
        }
        Call::GetTransportStats(req) => {
            let stats = peer
                .transport(&req.transport_id)?
                .get_stats()
                .await
                .map_err(SignalingError::media)?;
            Ok(json!(stats))
        }
        Call::GetProducerStats(req) => {
            let stats = peer
                .producer(&req.producer_id)?
                .get_stats()
                .await
                .map_err(SignalingError::media)?;
            Ok(json!(stats))
        }
        Call::GetConsumerStats(req) => {
            let stats = peer
                .consumer(&req.consumer_id)?
                .get_stats()
                .await
                .map_err(SignalingError::media)?;
            Ok(json!(stats))
        }
        Call::ChangeDisplayName(req) => {
            peer.require_joined()?;
            let old = std::mem::replace(
                &mut peer.state.lock().display_name,
                req.display_name.clone(),
            );
            ctx.engine.send(WorldEvent::PeerRenamed {
                peer: peer.id.as_str().into(),
                display_name: req.display_name.clone(),
            });
            for other in ctx.others_joined(peer) {
                other.notify(
                    "peerDisplayNameChanged",
                    json!({ "peerId": peer.id, "displayName": req.display_name, "oldDisplayName": old }),
                );
            }
            Ok(json!({}))
        }
    }
}

async fn join(ctx: &Arc<Signaling>, peer: &Arc<Peer>, req: p::Join) -> Reply {
    {
        let mut s = peer.state.lock();
        if s.closed {
            return Err(SignalingError::Closed);
        }
        if s.joined {
            return Err(SignalingError::AlreadyJoined);
        }
        s.joined = true;
        s.display_name = req.display_name.clone();
        s.device = req.device;
        s.rtp_capabilities = req.rtp_capabilities;
    }
    // The World has had the peer since it connected; now it has a name.
    ctx.engine.send(WorldEvent::PeerRenamed {
        peer: peer.id.as_str().into(),
        display_name: req.display_name,
    });
    let others = ctx.others_joined(peer);
    let info = peer.info();
    for other in &others {
        other.notify("newPeer", &info);
    }
    let reply = json!({ "peers": others.iter().map(|o| o.info()).collect::<Vec<_>>() });

    // Offer the newcomer everything already being sent, once the reply is
    // out; all at once, as each offer waits for the client's answer.
    let (ctx, peer) = (Arc::clone(ctx), Arc::clone(peer));
    tokio::spawn(async move {
        let offers: Vec<(String, WeakProducer)> = others
            .iter()
            .flat_map(|other| {
                let s = other.state.lock();
                s.producers
                    .values()
                    .map(|p| (other.id.clone(), p.downgrade()))
                    .collect::<Vec<_>>()
            })
            .collect();
        join_all(
            offers
                .iter()
                .map(|(owner, producer)| consume(&ctx, &peer, owner, producer)),
        )
        .await;
    });
    Ok(reply)
}

async fn create_transport(
    ctx: &Arc<Signaling>,
    peer: &Arc<Peer>,
    req: p::CreateWebRtcTransport,
) -> Reply {
    let limits = &ctx.config.limits;
    let _place = peer.reserve_transport(
        limits.max_transports_per_peer,
        limits.max_transports_before_join,
    )?;
    let placed = ctx.router_of(peer).await?;
    let mut options = match &placed.worker.webrtc_server {
        Some(server) => WebRtcTransportOptions::new_with_server(server.clone()),
        None => {
            let m = &ctx.config.mediasoup;
            let listen = |protocol| listen_info(m, protocol, None);
            let infos = if req.force_tcp {
                WebRtcTransportListenInfos::new(listen(Protocol::Tcp))
            } else {
                WebRtcTransportListenInfos::new(listen(Protocol::Udp)).insert(listen(Protocol::Tcp))
            };
            WebRtcTransportOptions::new(infos)
        }
    };
    if req.force_tcp {
        options.enable_udp = false;
        options.enable_tcp = true;
    }
    options.initial_available_outgoing_bitrate =
        u64::from(ctx.config.mediasoup.initial_available_outgoing_bitrate);
    let transport = placed
        .router
        .create_webrtc_transport(options)
        .await
        .map_err(SignalingError::media)?;
    let max_in = ctx.config.mediasoup.max_incoming_bitrate;
    if max_in > 0 {
        // Best effort: a transport without a cap still works.
        if let Err(e) = transport.set_max_incoming_bitrate(u64::from(max_in)).await {
            tracing::debug!("set_max_incoming_bitrate: {e}");
        }
    }
    observe::transport(&ctx.engine, &peer.id, &transport, ctx.address_hook.clone());
    ctx.registry.add_transport(&transport);
    let reply = json!({
        "id": transport.id(),
        "iceParameters": transport.ice_parameters(),
        "iceCandidates": with_legacy_ip(transport.ice_candidates()),
        "dtlsParameters": transport.dtls_parameters(),
        "sctpParameters": transport.sctp_parameters(),
    });
    let mut s = peer.state.lock();
    if s.closed {
        return Err(SignalingError::Closed);
    }
    let entry = TransportEntry {
        transport: transport.clone(),
        consuming: req.consuming,
    };
    s.transports.insert(transport.id(), entry);
    Ok(reply)
}

/// ICE candidates as mediasoup names them (`address`), each also with the
/// `ip` that older clients (libmediasoupclient-based and Python ones) read,
/// as the original's server sent it; mediasoup-client reads `address`.
fn with_legacy_ip(candidates: &[IceCandidate]) -> Value {
    let mut value = json!(candidates);
    for candidate in value.as_array_mut().into_iter().flatten() {
        if let Some(address) = candidate.get("address").cloned() {
            candidate["ip"] = address;
        }
    }
    value
}

async fn produce(ctx: &Arc<Signaling>, peer: &Arc<Peer>, req: p::Produce) -> Reply {
    peer.require_joined()?;
    let transport = peer.transport(&req.transport_id)?;
    let place = peer.reserve(Slot::Producer, ctx.config.limits.max_producers_per_peer)?;
    let mut options = ProducerOptions::new(req.kind, req.rtp_parameters);
    options.app_data = AppData::new(req.app_data);
    let producer = transport
        .produce(options)
        .await
        .map_err(SignalingError::media)?;
    observe::producer(&ctx.engine, &transport.id(), &producer);
    let owner = Owner::new(&peer.room_id, &peer.id);
    ctx.registry.add_producer(&producer, owner);
    let weak = Arc::downgrade(peer);
    let id = producer.id();
    producer
        .on_score(move |score| {
            if let Some(peer) = weak.upgrade() {
                peer.notify("producerScore", json!({ "producerId": id, "score": score }));
            }
        })
        .detach();
    {
        let mut s = peer.state.lock();
        if s.closed {
            return Err(SignalingError::Closed);
        }
        s.producers.insert(producer.id(), producer.clone());
    }
    drop(place);
    let reply = json!({ "id": producer.id() });
    let others = ctx.others_joined(peer);
    let (ctx, peer_id, producer) = (Arc::clone(ctx), peer.id.clone(), producer.downgrade());
    // Every other peer at once: one that is slow to answer its offer (or
    // never does) must not hold up the rest.
    tokio::spawn(async move {
        join_all(
            others
                .iter()
                .map(|other| consume(&ctx, other, &peer_id, &producer)),
        )
        .await;
    });
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_request_that_never_ends_is_answered_with_an_error_at_the_limit() {
        let never = std::future::pending::<Reply>();
        let limit = Duration::from_millis(50);
        let err = bounded(Method::CreateWebRtcTransport, limit, never)
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("createWebRtcTransport") && err.to_string().contains("50ms"),
            "{err}"
        );
        assert_eq!(err.refused_by(), Some(Limit::RequestTimeout));
        let quick = async { Ok(json!(1)) };
        assert_eq!(
            bounded(Method::Join, Duration::from_secs(10), quick)
                .await
                .unwrap(),
            json!(1)
        );
    }
}
