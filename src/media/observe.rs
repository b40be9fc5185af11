//! Mirrors the life of mediasoup objects into the World: each observer sends
//! the creation event, then the object's own events (ICE, tuple, scores,
//! pauses) and its close, as `WorldEvent`s to the engine thread.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ejtimaa_systems as systems;
use ejtimaa_systems::{StreamOwner, WorldEvent};
use mediasoup::prelude::*;
use mediasoup::types::data_structures::{IceState, TransportTuple};

use crate::engine::EngineHandle;

/// Called with every remote address a selected tuple shows (reverse DNS).
pub type AddressHook = Arc<dyn Fn(IpAddr) + Send + Sync>;

/// Reports a new WebRTC transport of `peer` and follows it until it closes.
pub fn transport(
    engine: &EngineHandle,
    peer: &str,
    transport: &WebRtcTransport,
    on_address: Option<AddressHook>,
) {
    let id: systems::TransportId = transport.id().to_string().into();
    engine.send(WorldEvent::TransportCreated {
        transport: id.clone(),
        peer: peer.into(),
        kind: systems::TransportKind::WebRtc,
    });
    let (e, t) = (engine.clone(), id.clone());
    transport
        .on_ice_state_change(move |state| {
            e.send(WorldEvent::IceStateChanged {
                transport: t.clone(),
                state: ice_state(state),
            });
        })
        .detach();
    let (e, t) = (engine.clone(), id.clone());
    transport
        .on_ice_selected_tuple_change(move |tuple| {
            if let (Some(hook), Some(ip)) = (&on_address, tuple.remote_ip()) {
                hook(ip);
            }
            e.send(WorldEvent::IceSelectedTupleChanged {
                transport: t.clone(),
                tuple: transport_tuple(tuple),
            });
        })
        .detach();
    let e = engine.clone();
    transport
        .on_close(Box::new(move || {
            e.send(WorldEvent::TransportClosed { transport: id })
        }))
        .detach();
}

/// Reports a new producer on `transport` and follows it until it closes.
pub fn producer(engine: &EngineHandle, transport: &TransportId, producer: &Producer) {
    let id: systems::ProducerId = producer.id().to_string().into();
    let (mime_type, clock_rate) = first_codec(producer.kind(), producer.rtp_parameters());
    engine.send(WorldEvent::ProducerCreated {
        producer: id.clone(),
        transport: transport.to_string().into(),
        kind: media_kind(producer.kind()),
        mime_type,
        clock_rate,
        paused: producer.paused(),
    });
    let (e, p) = (engine.clone(), id.clone());
    producer
        .on_score(move |scores| {
            let events = scores
                .iter()
                .filter_map(|s| {
                    Some(WorldEvent::ScoreChanged {
                        owner: StreamOwner::Producer(p.clone()),
                        ssrc: s.ssrc,
                        score: systems::Score::try_from(s.score).ok()?,
                    })
                })
                .collect();
            e.send_all(events);
        })
        .detach();
    for (paused, e, p) in [
        (true, engine.clone(), id.clone()),
        (false, engine.clone(), id.clone()),
    ] {
        let event = move || {
            e.send(WorldEvent::ProducerPaused {
                producer: p.clone(),
                paused,
            })
        };
        if paused {
            producer.on_pause(event).detach();
        } else {
            producer.on_resume(event).detach();
        }
    }
    let e = engine.clone();
    producer
        .on_close(move || e.send(WorldEvent::ProducerClosed { producer: id }))
        .detach();
}

/// Reports a consumer's close to the World once, whoever notices it first:
/// the consumer's own close event, or signaling learning that its producer
/// closed (which must reach the World before the client is told).
pub struct ConsumerClose {
    engine: EngineHandle,
    consumer: systems::ConsumerId,
    reported: AtomicBool,
}

impl ConsumerClose {
    /// Sends `ConsumerClosed`, unless already sent.
    pub fn report(&self) {
        if !self.reported.swap(true, Ordering::AcqRel) {
            self.engine.send(WorldEvent::ConsumerClosed {
                consumer: self.consumer.clone(),
            });
        }
    }
}

/// Reports a new consumer on `transport` and follows it until it closes.
pub fn consumer(
    engine: &EngineHandle,
    transport: &TransportId,
    consumer: &Consumer,
) -> Arc<ConsumerClose> {
    let id: systems::ConsumerId = consumer.id().to_string().into();
    let (mime_type, clock_rate) = first_codec(consumer.kind(), consumer.rtp_parameters());
    engine.send(WorldEvent::ConsumerCreated {
        consumer: id.clone(),
        transport: transport.to_string().into(),
        producer: consumer.producer_id().to_string().into(),
        kind: media_kind(consumer.kind()),
        mime_type,
        clock_rate,
        paused: consumer.paused(),
    });
    // A consumer sends one stream; its score event does not name the SSRC.
    let ssrc = consumer
        .rtp_parameters()
        .encodings
        .first()
        .and_then(|e| e.ssrc);
    let (e, c) = (engine.clone(), id.clone());
    consumer
        .on_score(move |score| {
            if let (Some(ssrc), Ok(score)) = (ssrc, systems::Score::try_from(score.score)) {
                e.send(WorldEvent::ScoreChanged {
                    owner: StreamOwner::Consumer(c.clone()),
                    ssrc,
                    score,
                });
            }
        })
        .detach();
    for (paused, e, c) in [
        (true, engine.clone(), id.clone()),
        (false, engine.clone(), id.clone()),
    ] {
        let event = move || {
            e.send(WorldEvent::ConsumerPaused {
                consumer: c.clone(),
                paused,
            })
        };
        if paused {
            consumer.on_pause(event).detach();
        } else {
            consumer.on_resume(event).detach();
        }
    }
    let close = Arc::new(ConsumerClose {
        engine: engine.clone(),
        consumer: id,
        reported: AtomicBool::new(false),
    });
    let c = Arc::clone(&close);
    consumer.on_close(move || c.report()).detach();
    close
}

fn ice_state(state: IceState) -> systems::IceState {
    match state {
        IceState::New => systems::IceState::New,
        IceState::Connected => systems::IceState::Connected,
        IceState::Completed => systems::IceState::Completed,
        IceState::Disconnected => systems::IceState::Disconnected,
    }
}

fn transport_tuple(tuple: &TransportTuple) -> Option<systems::TransportTuple> {
    let TransportTuple::WithRemote {
        local_address,
        local_port,
        remote_ip,
        remote_port,
        protocol,
    } = tuple
    else {
        return None;
    };
    let host = match local_address.parse::<IpAddr>() {
        Ok(ip) => systems::Host::Ip(ip),
        Err(_) => systems::Host::Name(local_address.as_str().into()),
    };
    Some(systems::TransportTuple {
        protocol: match protocol {
            Protocol::Tcp => systems::Protocol::Tcp,
            Protocol::Udp => systems::Protocol::Udp,
        },
        local: systems::Endpoint {
            host,
            port: *local_port,
        },
        remote: systems::Endpoint {
            host: systems::Host::Ip(*remote_ip),
            port: *remote_port,
        },
    })
}

/// Audio or video, in the core's terms.
pub fn media_kind(kind: MediaKind) -> systems::MediaKind {
    match kind {
        MediaKind::Audio => systems::MediaKind::Audio,
        MediaKind::Video => systems::MediaKind::Video,
    }
}

/// The MIME type and clock rate of the first (the sending) codec.
fn first_codec(kind: MediaKind, parameters: &RtpParameters) -> (systems::MimeType, NonZeroU32) {
    match parameters.codecs.first() {
        Some(c) => (
            systems::MimeType::new(c.mime_type().as_str()),
            c.clock_rate(),
        ),
        // mediasoup refuses parameters without codecs; should one slip
        // through, jitter is still converted at the kind's usual rate.
        None => {
            let rate = match kind {
                MediaKind::Audio => 48_000,
                MediaKind::Video => 90_000,
            };
            (
                systems::MimeType::new(""),
                NonZeroU32::new(rate).unwrap_or(NonZeroU32::MIN),
            )
        }
    }
}
