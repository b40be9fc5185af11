//! What the server pushes to the client, and how to answer its requests.

use std::sync::Arc;

use serde_json::Value;
use tokio::sync::mpsc;

use super::{
    error::{DisconnectReason, Error},
    packet::{DEFAULT_NAMESPACE, Packet},
    shared::{Command, Shared},
};

/// The server's messages for one connection, in arrival order.
///
/// Must be drained: it is a bounded queue, and a consumer that leaves it full
/// for longer than
/// [`ConnectOptions::incoming_stall_limit`](super::ConnectOptions::incoming_stall_limit)
/// gets the connection closed with [`DisconnectReason::IncomingStalled`]
/// (rather than memory growing without bound). Dropping it is fine: later
/// messages are then discarded and counted in
/// [`Stats::undelivered`](super::Stats::undelivered).
#[derive(Debug)]
pub struct Incoming {
    rx: mpsc::Receiver<ServerMessage>,
}

impl Incoming {
    pub(crate) fn new(rx: mpsc::Receiver<ServerMessage>) -> Self {
        Incoming { rx }
    }

    /// The next message. The last one of a connection is
    /// [`ServerMessage::Disconnected`]; after it, `None`.
    ///
    /// Cancel safe: a `recv` dropped in a `select!` loses nothing.
    pub async fn recv(&mut self) -> Option<ServerMessage> {
        self.rx.recv().await
    }

    /// The next message if one is already queued.
    pub fn try_recv(&mut self) -> Option<ServerMessage> {
        self.rx.try_recv().ok()
    }
}

/// One message from the server.
#[derive(Debug)]
pub enum ServerMessage {
    /// Event `notification` with `{method, data}` and no ack (e.g. `newPeer`, `peerClosed`).
    Notification {
        /// E.g. `newPeer`.
        method: String,
        /// The `data` member; `null` if absent.
        data: Value,
    },
    /// Event `request` with `{method, data}` that waits for an ack (e.g. `newConsumer`).
    Request(ServerRequest),
    /// Any other event, or a `notification`/`request` not of the expected shape:
    /// delivered raw so nothing the server says goes unseen.
    Event {
        /// Event name.
        event: String,
        /// Its arguments.
        args: Vec<Value>,
        /// Present if the server waits for an ack.
        ack: Option<AckResponder>,
    },
    /// The connection ended; the last message. (With
    /// [`DisconnectReason::IncomingStalled`] the queue was full, so it is only
    /// delivered if there was room; the queue then just ends.)
    Disconnected(DisconnectReason),
}

impl ServerMessage {
    /// Classifies a server event by the signaling protocol's shapes.
    pub(crate) fn from_event(
        event: String,
        mut args: Vec<Value>,
        ack: Option<AckResponder>,
    ) -> Self {
        let method = match args.first() {
            Some(Value::Object(body)) if args.len() == 1 => body
                .get("method")
                .and_then(Value::as_str)
                .map(str::to_owned),
            _ => None,
        };
        match (event.as_str(), method, ack) {
            ("notification", Some(method), None) => {
                let data = take_data(&mut args);
                ServerMessage::Notification { method, data }
            }
            ("request", Some(method), Some(responder)) => {
                let data = take_data(&mut args);
                ServerMessage::Request(ServerRequest {
                    method,
                    data,
                    responder,
                })
            }
            (_, _, ack) => ServerMessage::Event { event, args, ack },
        }
    }
}

/// Takes `data` out of the single `{method, data}` argument.
fn take_data(args: &mut [Value]) -> Value {
    args.first_mut()
        .and_then(Value::as_object_mut)
        .and_then(|body| body.remove("data"))
        .unwrap_or(Value::Null)
}

/// A server `request` (`{method, data}`) waiting for the client's answer.
#[derive(Debug)]
pub struct ServerRequest {
    /// E.g. `newConsumer`.
    pub method: String,
    /// The `data` member; `null` if absent.
    pub data: Value,
    /// Answers the request; the server times out if it is dropped unused.
    pub responder: AckResponder,
}

/// Answers one server event that carried an ack id (`43<id>[..]`).
///
/// Dropping it without answering leaves the server to run into its ack
/// timeout, which is also what a JS client that never calls `cb` does.
#[derive(Debug)]
pub struct AckResponder {
    id: u64,
    commands: mpsc::Sender<Command>,
    shared: Arc<Shared>,
    answered: bool,
}

impl AckResponder {
    pub(crate) fn new(id: u64, commands: mpsc::Sender<Command>, shared: Arc<Shared>) -> Self {
        AckResponder {
            id,
            commands,
            shared,
            answered: false,
        }
    }

    /// The ack id the server chose.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Success, JS-style `cb(null, response)`: sends `[null, response]`.
    pub async fn ok(self, response: Value) -> Result<(), Error> {
        self.send(vec![Value::Null, response]).await
    }

    /// Failure, JS-style `cb(error)`: sends `[error]`.
    pub async fn err(self, error: Value) -> Result<(), Error> {
        self.send(vec![error]).await
    }

    /// Sends exactly these ack arguments (`vec![Value::Null]` is JS `cb(null)`).
    pub async fn send(mut self, args: Vec<Value>) -> Result<(), Error> {
        self.answered = true;
        let frame = Packet::Ack {
            nsp: DEFAULT_NAMESPACE.to_owned(),
            id: self.id,
            args,
        }
        .to_frame();
        self.commands
            .send(Command::Frame(frame))
            .await
            .map_err(|_| self.shared.disconnected_error())
    }
}

impl Drop for AckResponder {
    fn drop(&mut self) {
        if !self.answered {
            tracing::debug!(
                ack_id = self.id,
                "server ack dropped unanswered; the server will time out"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn responder() -> AckResponder {
        let (tx, _rx) = mpsc::channel(1);
        AckResponder::new(4, tx, Arc::new(Shared::new()))
    }

    #[test]
    fn classifies_notifications() {
        let msg = ServerMessage::from_event(
            "notification".into(),
            vec![json!({"method": "newPeer", "data": {"id": "p1"}})],
            None,
        );
        let ServerMessage::Notification { method, data } = msg else {
            panic!("{msg:?}")
        };
        assert_eq!((method.as_str(), data), ("newPeer", json!({"id": "p1"})));

        let msg =
            ServerMessage::from_event("notification".into(), vec![json!({"method": "x"})], None);
        assert!(matches!(
            msg,
            ServerMessage::Notification {
                data: Value::Null,
                ..
            }
        ));
    }

    #[test]
    fn classifies_requests() {
        let msg = ServerMessage::from_event(
            "request".into(),
            vec![json!({"method": "newConsumer", "data": {"id": "c"}})],
            Some(responder()),
        );
        let ServerMessage::Request(req) = msg else {
            panic!("{msg:?}")
        };
        assert_eq!(
            (req.method.as_str(), &req.data, req.responder.id()),
            ("newConsumer", &json!({"id": "c"}), 4)
        );
    }

    #[test]
    fn anything_else_stays_raw() {
        let raw = |event: &str, args: Vec<Value>, ack: Option<AckResponder>| {
            let msg = ServerMessage::from_event(event.into(), args, ack);
            assert!(matches!(msg, ServerMessage::Event { .. }), "{msg:?}");
        };
        raw("other", vec![json!({"method": "m"})], None);
        raw("notification", vec![], None);
        raw("notification", vec![json!("text")], None);
        raw("notification", vec![json!({"method": 5})], None);
        raw("notification", vec![json!({"method": "m"}), json!(2)], None);
        // A notification that wants an ack, or a request that does not, is off-protocol.
        raw(
            "notification",
            vec![json!({"method": "m"})],
            Some(responder()),
        );
        raw("request", vec![json!({"method": "m"})], None);
    }
}
