//! The connection task: one tokio task per client owns the websocket, so
//! thousands of simulated peers share one runtime without a thread each.
//!
//! It reads server frames (answering pings, routing acks to their waiters,
//! queueing events on [`Incoming`](super::Incoming)), writes the frames the
//! client handles queue, watches the heartbeat, and on any ending fails all
//! waiting requests at once so nobody hangs on a dead connection.

use std::{sync::Arc, time::Duration};

use futures_util::{SinkExt, StreamExt};
use tokio::{
    net::TcpStream,
    sync::{
        mpsc::{self, error::SendTimeoutError},
        oneshot,
    },
    time::Instant,
};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, tungstenite::Message};

use super::{
    engine_io::{self, EnginePacket},
    error::{DisconnectReason, PacketError},
    incoming::{AckResponder, ServerMessage},
    packet::{self, DEFAULT_NAMESPACE, Packet},
    shared::{Command, Counters, Shared},
};

pub(crate) type WsStream = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub(crate) struct Connection {
    pub ws: WsStream,
    pub commands: mpsc::Receiver<Command>,
    /// Kept to hand to [`AckResponder`]s. Because of it `commands` never ends
    /// on its own; the client's end of life is signalled by `abort` instead.
    pub command_sender: mpsc::Sender<Command>,
    /// Resolves when the client calls `abort` or its last handle is dropped.
    pub abort: oneshot::Receiver<()>,
    pub incoming: mpsc::Sender<ServerMessage>,
    pub shared: Arc<Shared>,
    /// `pingInterval + pingTimeout`: the server pings every interval, so this
    /// long without any frame means the link is dead.
    pub liveness: Duration,
    pub stall_limit: Duration,
    pub close_timeout: Duration,
}

impl Connection {
    pub async fn run(mut self) {
        let heartbeat = tokio::time::sleep(self.liveness);
        tokio::pin!(heartbeat);
        // No `biased;`: a busy writer must not starve reading (and so pongs), nor the reverse.
        let reason = loop {
            tokio::select! {
                _ = &mut self.abort => break DisconnectReason::ClientAbort,
                command = self.commands.recv() => match command {
                    Some(Command::Frame(text)) => {
                        if let Err(e) = self.ws.send(Message::text(text)).await {
                            break transport_error(&e);
                        }
                    }
                    Some(Command::Disconnect(done)) => return self.leave(done).await,
                    None => break DisconnectReason::ClientAbort,
                },
                frame = self.ws.next() => {
                    // Any frame proves the server alive, not only pings.
                    heartbeat.as_mut().reset(Instant::now() + self.liveness);
                    let ended = match frame {
                        None => Some(DisconnectReason::TransportClose),
                        Some(Err(e)) => Some(transport_error(&e)),
                        Some(Ok(message)) => self.on_message(message).await,
                    };
                    if let Some(reason) = ended {
                        break reason;
                    }
                }
                () = &mut heartbeat => break DisconnectReason::HeartbeatTimeout,
            }
        };
        // Abrupt end: the socket is dropped as is, without `41` or a close frame.
        self.finish(reason).await;
    }

    /// Clean leave: fail waiters, say `41`, close the websocket and give the
    /// server a moment to answer the close so it sees a graceful goodbye.
    /// `done` is signalled before the consumer is told, so `disconnect()`
    /// never waits on a full `Incoming` queue.
    async fn leave(mut self, done: oneshot::Sender<()>) {
        let reason = DisconnectReason::ClientDisconnect;
        self.shared.close(&reason);
        let bye = Packet::Disconnect {
            nsp: DEFAULT_NAMESPACE.to_owned(),
        }
        .to_frame();
        let closed = async {
            self.ws.send(Message::text(bye)).await?;
            self.ws.close(None).await?;
            while let Some(frame) = self.ws.next().await {
                frame?;
            }
            Ok::<_, tokio_tungstenite::tungstenite::Error>(())
        };
        match tokio::time::timeout(self.close_timeout, closed).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::debug!(error = %e, "websocket close did not complete cleanly"),
            Err(_) => tracing::debug!("server did not finish the websocket close in time"),
        }
        let _ = done.send(());
        self.finish(reason).await;
    }

    /// Fails waiting requests, then tells the consumer why the connection ended.
    async fn finish(self, reason: DisconnectReason) {
        tracing::debug!(%reason, "socket.io connection ended");
        self.shared.close(&reason);
        let last = ServerMessage::Disconnected(reason.clone());
        if reason == DisconnectReason::IncomingStalled {
            // The queue is stuck full; waiting again would only delay the end.
            let _ = self.incoming.try_send(last);
        } else {
            let _ = self.incoming.send_timeout(last, self.stall_limit).await;
        }
    }

    /// Handles one websocket message; `Some` ends the connection.
    async fn on_message(&mut self, message: Message) -> Option<DisconnectReason> {
        Counters::bump(&self.shared.counters.frames_received);
        match message {
            Message::Text(text) => self.on_text(text.as_str()).await,
            Message::Binary(_) => {
                // Attachments of binary packets; the signaling protocol never sends them.
                Counters::bump(&self.shared.counters.unsupported);
                tracing::warn!("ignored a binary websocket frame (binary packets are unsupported)");
                None
            }
            Message::Close(_) => Some(DisconnectReason::TransportClose),
            // tungstenite answers websocket pings itself; these carry no socket.io meaning.
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => None,
        }
    }

    async fn on_text(&mut self, text: &str) -> Option<DisconnectReason> {
        match engine_io::decode(text) {
            Err(e) => {
                self.malformed(text, &e);
                None
            }
            Ok(EnginePacket::Close) => Some(DisconnectReason::ServerClose),
            Ok(EnginePacket::Ping(payload)) => {
                let pong = engine_io::pong(payload);
                match self.ws.send(Message::text(pong)).await {
                    Ok(()) => None,
                    Err(e) => Some(transport_error(&e)),
                }
            }
            Ok(EnginePacket::Message(sio)) => self.on_socket_packet(sio, text).await,
            Ok(EnginePacket::Open(_)) => {
                self.ignored(text, "second engine.io open");
                None
            }
            Ok(EnginePacket::Pong(_) | EnginePacket::Upgrade | EnginePacket::Noop) => None,
        }
    }

    async fn on_socket_packet(&mut self, sio: &str, frame: &str) -> Option<DisconnectReason> {
        let packet = match packet::decode(sio) {
            Ok(p) => p,
            Err(PacketError::BinaryUnsupported) => {
                Counters::bump(&self.shared.counters.unsupported);
                tracing::warn!(
                    frame = preview(frame),
                    "ignored a binary socket.io packet (unsupported)"
                );
                return None;
            }
            Err(e) => {
                self.malformed(frame, &e);
                return None;
            }
        };
        if packet.nsp() != DEFAULT_NAMESPACE {
            self.ignored(frame, "packet for a namespace we did not join");
            return None;
        }
        match packet {
            Packet::Disconnect { .. } => Some(DisconnectReason::ServerDisconnect),
            Packet::ConnectError { data, .. } => {
                Some(DisconnectReason::ConnectError(data.to_string()))
            }
            Packet::Connect { .. } => {
                self.ignored(frame, "connect answer after the handshake");
                None
            }
            Packet::Ack { id, args, .. } => {
                if !self.shared.resolve(id, args) {
                    // Usually an answer that arrived after its request timed out.
                    Counters::bump(&self.shared.counters.unmatched_acks);
                    tracing::debug!(ack_id = id, "ack for a request nobody waits for");
                }
                None
            }
            Packet::Event {
                id, event, args, ..
            } => {
                let ack = id.map(|id| {
                    AckResponder::new(id, self.command_sender.clone(), self.shared.clone())
                });
                self.deliver(ServerMessage::from_event(event, args, ack))
                    .await
            }
        }
    }

    /// Queues a message for the consumer, waiting at most the stall limit for room.
    async fn deliver(&mut self, message: ServerMessage) -> Option<DisconnectReason> {
        match self.incoming.send_timeout(message, self.stall_limit).await {
            Ok(()) => None,
            Err(SendTimeoutError::Closed(_)) => {
                // Nobody listens any more; that is the consumer's choice.
                Counters::bump(&self.shared.counters.undelivered);
                None
            }
            Err(SendTimeoutError::Timeout(_)) => {
                tracing::warn!(limit = ?self.stall_limit, "Incoming is not being drained; closing the connection");
                Some(DisconnectReason::IncomingStalled)
            }
        }
    }

    fn malformed(&self, frame: &str, error: &PacketError) {
        Counters::bump(&self.shared.counters.malformed);
        tracing::warn!(%error, frame = preview(frame), "skipped a malformed frame from the server");
    }

    fn ignored(&self, frame: &str, why: &'static str) {
        Counters::bump(&self.shared.counters.ignored);
        tracing::debug!(frame = preview(frame), "ignored: {why}");
    }
}

fn transport_error(e: &tokio_tungstenite::tungstenite::Error) -> DisconnectReason {
    use tokio_tungstenite::tungstenite::Error as WsError;
    match e {
        WsError::ConnectionClosed | WsError::AlreadyClosed => DisconnectReason::TransportClose,
        other => DisconnectReason::TransportError(other.to_string()),
    }
}

/// The start of a frame for logs: a hostile frame can be megabytes long.
pub(crate) fn preview(frame: &str) -> &str {
    &frame[..frame.floor_char_boundary(120)]
}

#[cfg(test)]
mod tests {
    use super::preview;

    #[test]
    fn preview_cuts_on_a_char_boundary() {
        assert_eq!(preview("short"), "short");
        let long = "é".repeat(100); // 200 bytes, 2 per char
        assert_eq!(preview(&long).len(), 120);
        let odd = format!("x{long}");
        assert_eq!(preview(&odd).len(), 119);
    }
}
