//! The signaling messages, in the original's shapes.
//!
//! Client → server: event `request` with `{method, data}` and an ack answered
//! `(error, response)`. Server → client: `notification` events `{method,
//! data}`, and `request` events with an ack for `newConsumer`.

use ejtimaa_systems::export::{AuthRefusal, Limit};

use crate::cluster::{Redirect, Unavailable};
use mediasoup::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;

/// A client request, before its `data` is decoded for the method.
#[derive(Debug, Deserialize)]
pub struct Request {
    /// The method name, e.g. `join`.
    pub method: String,
    /// The method's arguments.
    #[serde(default)]
    pub data: Value,
}

/// A server → client message (`notification` or server `request`).
#[derive(Debug, Serialize)]
pub struct Message<'a, T: Serialize> {
    /// What it is about.
    pub method: &'a str,
    /// Its contents.
    pub data: T,
}

/// Why a request failed; its text is the ack's error argument.
#[derive(Debug, Error)]
pub enum SignalingError {
    /// The method is not one the server knows.
    #[error("unknown method `{0}`")]
    UnknownMethod(String),
    /// The data does not fit the method.
    #[error("invalid data for `{method}`: {reason}")]
    InvalidData {
        /// The method.
        method: &'static str,
        /// What serde said.
        reason: String,
    },
    /// The request is bigger than `limits.max_message_bytes`.
    #[error("message of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The peer must `join` first.
    #[error("not joined: send `join` first")]
    NotJoined,
    /// `join` was sent twice.
    #[error("already joined")]
    AlreadyJoined,
    /// An id that is not one of this peer's objects.
    #[error("{kind} `{id}` not found")]
    NotFound {
        /// Transport, producer or consumer.
        kind: &'static str,
        /// The id given.
        id: String,
    },
    /// A configured limit was reached.
    #[error("limit reached ({}): {detail}", .limit.as_str())]
    Limit {
        /// Which one.
        limit: Limit,
        /// What it allows, for the client.
        detail: String,
    },
    /// mediasoup refused the request.
    #[error("{0}")]
    Media(String),
    /// The server is shutting down or the peer is closing.
    #[error("peer is closed")]
    Closed,
    /// The connection's join token is missing or not good for it.
    #[error("unauthorized: {}", super::auth::describe(*.0))]
    Unauthorized(AuthRefusal),
    /// The room is on another node of the cluster: go there. The message
    /// is `redirect: <url> (the room is on node <id>)`.
    #[error("{0}")]
    Redirect(Redirect),
    /// The cluster cannot place the room now.
    #[error("{0}")]
    Unplaced(Unavailable),
}

impl SignalingError {
    /// Wraps a mediasoup error.
    pub fn media(e: impl std::fmt::Display) -> Self {
        SignalingError::Media(e.to_string())
    }

    /// A refusal by `limit`, saying what it allows.
    pub fn limit(limit: Limit, detail: impl Into<String>) -> Self {
        SignalingError::Limit {
            limit,
            detail: detail.into(),
        }
    }

    /// The configured limit that refused the request, if one did.
    pub fn refused_by(&self) -> Option<Limit> {
        match self {
            SignalingError::Limit { limit, .. } => Some(*limit),
            SignalingError::TooLarge { .. } => Some(Limit::MessageBytes),
            _ => None,
        }
    }
}

/// Decodes `data` for `method`.
pub fn decode<T: for<'de> Deserialize<'de>>(
    method: &'static str,
    data: Value,
) -> Result<T, SignalingError> {
    serde_json::from_value(data).map_err(|e| SignalingError::InvalidData {
        method,
        reason: e.to_string(),
    })
}

/// `join`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Join {
    /// The name to show.
    #[serde(default)]
    pub display_name: String,
    /// Free-form device description, passed on to other peers.
    #[serde(default)]
    pub device: Value,
    /// What the peer can receive; without it, it receives nothing.
    pub rtp_capabilities: Option<RtpCapabilities>,
}

/// `createWebRtcTransport`.
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct CreateWebRtcTransport {
    /// Offer TCP candidates only.
    pub force_tcp: bool,
    /// The peer will send on it.
    pub producing: bool,
    /// The peer will receive on it.
    pub consuming: bool,
}

/// `connectWebRtcTransport`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectWebRtcTransport {
    /// The transport.
    pub transport_id: String,
    /// The client's DTLS parameters.
    pub dtls_parameters: DtlsParameters,
}

/// Requests naming one transport (`restartIce`, `getTransportStats`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransportRef {
    /// The transport.
    pub transport_id: String,
}

/// `produce`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Produce {
    /// The sending transport.
    pub transport_id: String,
    /// Audio or video.
    pub kind: MediaKind,
    /// What the client sends.
    pub rtp_parameters: RtpParameters,
    /// Passed on to consumers.
    #[serde(default)]
    pub app_data: Value,
}

/// Requests naming one producer.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProducerRef {
    /// The producer.
    pub producer_id: String,
}

/// Requests naming one consumer.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerRef {
    /// The consumer.
    pub consumer_id: String,
}

/// `setConsumerPreferredLayers`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetConsumerPreferredLayers {
    /// The consumer.
    pub consumer_id: String,
    /// Spatial layer.
    pub spatial_layer: u8,
    /// Temporal layer.
    pub temporal_layer: Option<u8>,
}

/// `changeDisplayName`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeDisplayName {
    /// The new name.
    pub display_name: String,
}
