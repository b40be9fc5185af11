//! A small socket.io client for the simulator and the integration tests.
//!
//! Engine.IO v4 / Socket.IO v5 over the websocket transport only, namespace
//! `/`, text packets only (no binary attachments), no reconnection: a
//! simulated peer that loses its connection is a finding, not something to
//! paper over.
//!
//! It speaks the signaling shapes of the server (see `docs/design.md`,
//! "Signaling"): [`Client::request`] emits `request` `{method, data}` and
//! awaits the `(error, response)` ack; [`Incoming`] yields the server's
//! `notification`s and its `request`s (e.g. `newConsumer`), the latter with
//! an [`AckResponder`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), ejtimaa_sim::signaling::Error> {
//! use ejtimaa_sim::signaling::{Client, ServerMessage};
//! use serde_json::json;
//!
//! let (client, mut incoming) = Client::connect(
//!     "http://127.0.0.1:3443",
//!     &[("roomId", "room1"), ("peerId", "alice")],
//!     Some("ejtimaa-sim/0.1"),
//! )
//! .await?;
//! tokio::spawn(async move {
//!     while let Some(message) = incoming.recv().await {
//!         match message {
//!             ServerMessage::Request(request) => {
//!                 let _ = request.responder.ok(json!({})).await;
//!             }
//!             ServerMessage::Notification { method, data } => println!("{method}: {data}"),
//!             ServerMessage::Event { .. } => {}
//!             ServerMessage::Disconnected(reason) => println!("gone: {reason}"),
//!         }
//!     }
//! });
//! let caps = client.request("getRouterRtpCapabilities", json!({})).await?;
//! client.disconnect().await;
//! # let _ = caps;
//! # Ok(())
//! # }
//! ```
//!
//! Layers: [`engine_io`] and [`packet`] are the pure wire format; `handshake`
//! opens a connection; one `connection` task per client owns the websocket;
//! [`Client`] and [`Incoming`] are the handles.

mod client;
mod connection;
pub mod engine_io;
mod error;
mod handshake;
mod incoming;
pub mod packet;
mod redirect;
mod shared;

pub use client::{Client, ConnectOptions, Landed, Session, Stats};
pub use error::{DisconnectReason, Error, PacketError};
pub use incoming::{AckResponder, Incoming, ServerMessage, ServerRequest};
