//! Errors of the socket.io client, and why a connection ended.

use std::time::Duration;

use serde_json::Value;

/// Everything that can go wrong when connecting or talking to the server.
///
/// A request the server answered with an error is *not* an `Error`: it is the
/// inner `Err` of [`Client::request`](super::Client::request). `Error` means
/// the exchange itself failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server URL cannot be used (parse error, or a scheme we do not speak).
    #[error("invalid server url `{url}`: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The User-Agent is not a valid HTTP header value (e.g. contains a newline).
    #[error("invalid User-Agent header value {0:?}")]
    InvalidUserAgent(String),
    /// The TCP connection or the websocket upgrade failed (refused, HTTP error, ...).
    // Boxed: tungstenite's error is large and would bloat every `Result`.
    #[error("websocket: {0}")]
    WebSocket(#[source] Box<tokio_tungstenite::tungstenite::Error>),
    /// The whole handshake (TCP, upgrade, Engine.IO open, namespace connect) took too long.
    #[error("connecting timed out after {0:?}")]
    ConnectTimeout(Duration),
    /// The server did not follow the Engine.IO / Socket.IO handshake.
    #[error("socket.io handshake failed: {0}")]
    Handshake(String),
    /// The server refused the namespace connection with `44{...}` (a connect middleware said no).
    #[error("server refused the socket.io connection: {0}")]
    ConnectRefused(Value),
    /// No ack arrived in time. The connection itself may still be fine.
    #[error("{what} got no answer within {after:?}")]
    Timeout {
        /// What was waiting, e.g. "request `join`".
        what: String,
        /// The timeout that expired.
        after: Duration,
    },
    /// The connection is gone (or went away while waiting).
    #[error("socket.io connection closed: {0}")]
    Disconnected(DisconnectReason),
}

impl From<tokio_tungstenite::tungstenite::Error> for Error {
    fn from(e: tokio_tungstenite::tungstenite::Error) -> Self {
        Error::WebSocket(Box::new(e))
    }
}

/// Why a connection ended. Delivered last on [`Incoming`](super::Incoming) and
/// carried by [`Error::Disconnected`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DisconnectReason {
    /// We left cleanly: [`Client::disconnect`](super::Client::disconnect) sent `41`.
    #[error("client disconnected")]
    ClientDisconnect,
    /// We dropped the socket without a goodbye: [`Client::abort`](super::Client::abort)
    /// or the last [`Client`](super::Client) handle was dropped.
    #[error("client aborted the connection")]
    ClientAbort,
    /// The server disconnected us from the namespace (`41`).
    #[error("server disconnected the socket")]
    ServerDisconnect,
    /// The server closed the Engine.IO session (`1`).
    #[error("server closed the engine.io session")]
    ServerClose,
    /// The server sent a connect error (`44`) after the connection was established.
    #[error("server sent a connect error: {0}")]
    ConnectError(String),
    /// The websocket was closed (close frame or end of stream).
    #[error("transport closed")]
    TransportClose,
    /// The websocket failed (I/O or websocket protocol error, oversize message, ...).
    #[error("transport error: {0}")]
    TransportError(String),
    /// Nothing arrived from the server within `pingInterval + pingTimeout`.
    #[error("no packet from the server within pingInterval + pingTimeout")]
    HeartbeatTimeout,
    /// The [`Incoming`](super::Incoming) receiver was not drained for
    /// [`ConnectOptions::incoming_stall_limit`](super::ConnectOptions::incoming_stall_limit).
    #[error("incoming messages were not consumed in time")]
    IncomingStalled,
}

/// A frame that is not a valid Engine.IO / Socket.IO packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// An empty text frame.
    #[error("empty packet")]
    Empty,
    /// The first character is not a known Engine.IO packet type.
    #[error("unknown engine.io packet type {0:?}")]
    UnknownEngineType(char),
    /// The first character is not a known Socket.IO packet type.
    #[error("unknown socket.io packet type {0:?}")]
    UnknownSocketType(char),
    /// The open packet is not the JSON object we need.
    #[error("bad open packet: {0}")]
    BadOpen(String),
    /// An ack id is not a number that fits in a `u64`.
    #[error("bad ack id")]
    BadAckId,
    /// An ack (`43`) without an id.
    #[error("ack without an id")]
    MissingAckId,
    /// The payload is not valid JSON.
    #[error("bad json payload: {0}")]
    BadJson(String),
    /// The payload is valid JSON but not the shape the packet type requires.
    #[error("bad payload: {0}")]
    BadPayload(&'static str),
    /// Binary events/acks (`45`, `46`) carry attachments in separate frames; not supported.
    #[error("binary packets are not supported")]
    BinaryUnsupported,
}
