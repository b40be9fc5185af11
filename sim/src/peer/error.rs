//! Why a synthetic peer could not be set up.

use serde_json::Value;

use crate::signaling;

/// Errors of [`Peer::spawn`](super::Peer::spawn).
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// The signaling connection failed, or a request got no answer.
    #[error("signaling: {0}")]
    Signaling(#[from] signaling::Error),
    /// The server answered a request with an error.
    #[error("server refused `{method}`: {error}")]
    Refused {
        /// The request.
        method: &'static str,
        /// The server's error argument.
        error: Value,
    },
    /// A reply (or server request) is not of the shape we need.
    #[error("unexpected data in `{what}`: {reason}")]
    BadData {
        /// Which message.
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The router offers no codec we can send or receive with str0m.
    #[error("the router offers no usable {0}")]
    NoCodec(&'static str),
    /// The configuration cannot be used.
    #[error("invalid peer configuration: {0}")]
    Config(String),
    /// A UDP socket could not be opened.
    #[error("udp socket: {0}")]
    Io(#[from] std::io::Error),
    /// str0m refused something (candidate, DTLS start).
    #[error("webrtc: {0}")]
    Rtc(String),
}

impl PeerError {
    pub(crate) fn bad(what: &'static str, reason: impl Into<String>) -> Self {
        PeerError::BadData {
            what,
            reason: reason.into(),
        }
    }
}
