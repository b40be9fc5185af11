//! The client handle: connect, request, emit, disconnect, abort.

use std::{
    sync::{Arc, Mutex, PoisonError, atomic::Ordering},
    time::Duration,
};

use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument as _;

use super::{
    connection::Connection,
    error::{DisconnectReason, Error},
    handshake,
    incoming::Incoming,
    packet::{DEFAULT_NAMESPACE, Packet},
    redirect,
    shared::{Command, PendingGuard, Shared},
};

/// Tunables of one connection. `Default` suits the simulator.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Bound on the whole handshake (TCP, websocket upgrade, open, namespace connect).
    pub connect_timeout: Duration,
    /// Ack timeout of [`Client::request`] and [`Client::emit_with_ack`].
    pub request_timeout: Duration,
    /// Capacity of the [`Incoming`] queue (messages).
    pub incoming_capacity: usize,
    /// How long a full [`Incoming`] queue may block reading before the
    /// connection is closed with [`DisconnectReason::IncomingStalled`].
    /// Keep it below the server's `pingTimeout`: pings are not read meanwhile.
    pub incoming_stall_limit: Duration,
    /// Capacity of the outgoing frame queue; senders wait when it is full.
    pub outgoing_capacity: usize,
    /// How long [`Client::disconnect`] waits for the server to finish the websocket close.
    pub close_timeout: Duration,
    /// Largest websocket message accepted from the server, in bytes.
    pub max_message_size: usize,
    /// Optional auth payload of the namespace connect (`40{...}`).
    pub auth: Option<Value>,
    /// How many cluster redirects to follow: a server refuses a room held
    /// by another node with `redirect: <url> …`, and the client connects to
    /// `<url>` with the same query and auth. 0 returns the refusal.
    pub follow_redirects: usize,
    /// TLS for `wss` (and `https`) URLs; the system's roots when `None`.
    pub tls: Option<crate::tls::Tls>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(10),
            incoming_capacity: 1024,
            incoming_stall_limit: Duration::from_secs(5),
            outgoing_capacity: 256,
            close_timeout: Duration::from_secs(1),
            max_message_size: 16 << 20,
            auth: None,
            follow_redirects: 2,
            tls: None,
        }
    }
}

/// What the handshake established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Socket.IO socket id (the server's `socket.id`).
    pub sid: String,
    /// Engine.IO session id.
    pub engine_sid: String,
    /// The server's ping interval.
    pub ping_interval: Duration,
    /// The server's ping timeout.
    pub ping_timeout: Duration,
    /// The server's `maxPayload` (applies to HTTP long-polling, not enforced here).
    pub max_payload: u64,
}

/// Where a connection ended up: the URL it connected to after following
/// any cluster redirects, and how many it followed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Landed {
    /// The server's base URL (the one given, or the last redirect's).
    pub url: String,
    /// Redirects followed to get there.
    pub redirects: usize,
}

/// Counters of one connection, for reports and for tests that a hostile
/// server was survived.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Websocket messages received after the handshake.
    pub frames_received: u64,
    /// Frames that are not valid Engine.IO / Socket.IO; skipped.
    pub malformed: u64,
    /// Valid but unsupported frames (binary packets); skipped.
    pub unsupported: u64,
    /// Valid packets with no meaning here (other namespaces, a second open/connect); skipped.
    pub ignored: u64,
    /// Acks whose id nobody waits for (usually late answers to timed-out requests).
    pub unmatched_acks: u64,
    /// Server messages dropped because the [`Incoming`] receiver was dropped.
    pub undelivered: u64,
    /// Requests currently waiting for an ack.
    pub pending_requests: usize,
}

/// A Socket.IO client connection (websocket transport, namespace `/`).
///
/// Cheap to clone; clones share the connection, so concurrent requests from
/// several tasks are fine. Dropping the last clone aborts the connection
/// abruptly, like a crashed browser tab; use [`Client::disconnect`] for a
/// clean leave.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    commands: mpsc::Sender<Command>,
    shared: Arc<Shared>,
    /// Dropping or firing it stops the connection task without a goodbye.
    abort: Mutex<Option<oneshot::Sender<()>>>,
    session: Session,
    landed: Landed,
    request_timeout: Duration,
}

impl Client {
    /// Connects with default [`ConnectOptions`].
    ///
    /// `url` is the server's base, e.g. `http://127.0.0.1:3443` (the path
    /// defaults to `/socket.io/`); `query` is appended to the handshake URL
    /// (the signaling server reads `roomId` and `peerId` there); `user_agent`
    /// sets the User-Agent header, which the server records as the peer's
    /// user agent (none is sent if `None`).
    ///
    /// Returns the handle and the queue of server messages, which must be drained.
    pub async fn connect(
        url: &str,
        query: &[(&str, &str)],
        user_agent: Option<&str>,
    ) -> Result<(Client, Incoming), Error> {
        Self::connect_with(url, query, user_agent, ConnectOptions::default()).await
    }

    /// Connects with explicit options; see [`Client::connect`]. A cluster's
    /// redirects are followed up to `options.follow_redirects` times.
    pub async fn connect_with(
        url: &str,
        query: &[(&str, &str)],
        user_agent: Option<&str>,
        options: ConnectOptions,
    ) -> Result<(Client, Incoming), Error> {
        // A handshake is signaling: the runtime does not rest meanwhile.
        let _awake = crate::idle::awake();
        let mut url = url.to_owned();
        let mut hops = 0;
        loop {
            let landed = Landed {
                url: url.clone(),
                redirects: hops,
            };
            match Self::connect_once(landed, query, user_agent, &options).await {
                Err(Error::ConnectRefused(refusal)) if hops < options.follow_redirects => {
                    let Some(next) = redirect::target(&refusal) else {
                        return Err(Error::ConnectRefused(refusal));
                    };
                    tracing::debug!(from = %url, to = %next, "following the room's redirect");
                    url = next;
                    hops += 1;
                }
                done => return done,
            }
        }
    }

    /// One connection attempt to `url`.
    async fn connect_once(
        landed: Landed,
        query: &[(&str, &str)],
        user_agent: Option<&str>,
        options: &ConnectOptions,
    ) -> Result<(Client, Incoming), Error> {
        let url = handshake::websocket_url(&landed.url, query)?;
        let opened = handshake::open(
            &url,
            user_agent,
            options.auth.as_ref(),
            options.max_message_size,
            options.tls.as_ref(),
        );
        let (ws, handshake) = tokio::time::timeout(options.connect_timeout, opened)
            .await
            .map_err(|_| Error::ConnectTimeout(options.connect_timeout))??;

        let session = Session {
            sid: handshake.sid,
            engine_sid: handshake.open.sid,
            ping_interval: handshake.open.ping_interval,
            ping_timeout: handshake.open.ping_timeout,
            max_payload: handshake.open.max_payload,
        };
        // `mpsc::channel` panics on a zero capacity.
        let (command_sender, commands) = mpsc::channel(options.outgoing_capacity.max(1));
        let (incoming_sender, incoming) = mpsc::channel(options.incoming_capacity.max(1));
        let (abort_sender, abort) = oneshot::channel();
        let shared = Arc::new(Shared::new());

        let connection = Connection {
            ws,
            commands,
            command_sender: command_sender.clone(),
            abort,
            incoming: incoming_sender,
            shared: shared.clone(),
            liveness: session.ping_interval.saturating_add(session.ping_timeout),
            stall_limit: options.incoming_stall_limit,
            close_timeout: options.close_timeout,
        };
        let span = tracing::debug_span!("socketio", sid = %session.sid);
        tokio::spawn(connection.run().instrument(span));

        let inner = Inner {
            commands: command_sender,
            shared,
            abort: Mutex::new(Some(abort_sender)),
            session,
            landed,
            request_timeout: options.request_timeout,
        };
        Ok((
            Client {
                inner: Arc::new(inner),
            },
            Incoming::new(incoming),
        ))
    }

    /// What the handshake established (ids, heartbeat values).
    pub fn session(&self) -> &Session {
        &self.inner.session
    }

    /// Where the connection ended up, after any redirects.
    pub fn landed(&self) -> &Landed {
        &self.inner.landed
    }

    /// The Socket.IO socket id.
    pub fn sid(&self) -> &str {
        &self.inner.session.sid
    }

    /// Why the connection ended, or `None` while it is up.
    pub fn closed_reason(&self) -> Option<DisconnectReason> {
        self.inner.shared.closed_reason()
    }

    /// The connection's counters.
    pub fn stats(&self) -> Stats {
        let c = &self.inner.shared.counters;
        let get = |n: &std::sync::atomic::AtomicU64| n.load(Ordering::Relaxed);
        Stats {
            frames_received: get(&c.frames_received),
            malformed: get(&c.malformed),
            unsupported: get(&c.unsupported),
            ignored: get(&c.ignored),
            unmatched_acks: get(&c.unmatched_acks),
            undelivered: get(&c.undelivered),
            pending_requests: self.inner.shared.pending_len(),
        }
    }

    /// The signaling request: emits `request` with `{method, data}` and waits
    /// (up to the request timeout) for the ack `(error, response)`.
    ///
    /// `Ok(Ok(response))` if `error` is null or absent, `Ok(Err(error))` if
    /// the server answered with an error; `Err` if no answer came.
    pub async fn request(&self, method: &str, data: Value) -> Result<Result<Value, Value>, Error> {
        self.request_with_timeout(method, data, self.inner.request_timeout)
            .await
    }

    /// [`Client::request`] with its own timeout.
    pub async fn request_with_timeout(
        &self,
        method: &str,
        data: Value,
        timeout: Duration,
    ) -> Result<Result<Value, Value>, Error> {
        let body = json!({ "method": method, "data": data });
        let args = self
            .call("request", vec![body], timeout, || {
                format!("request `{method}`")
            })
            .await?;
        Ok(error_first(args))
    }

    /// Emits `event` with `args` and waits for the ack; returns all ack arguments.
    pub async fn emit_with_ack(
        &self,
        event: &str,
        args: Vec<Value>,
        timeout: Duration,
    ) -> Result<Vec<Value>, Error> {
        self.call(event, args, timeout, || format!("event `{event}`"))
            .await
    }

    /// Emits `event` with `args`, no ack.
    pub async fn emit(&self, event: &str, args: Vec<Value>) -> Result<(), Error> {
        let packet = Packet::Event {
            nsp: DEFAULT_NAMESPACE.to_owned(),
            id: None,
            event: event.to_owned(),
            args,
        };
        self.send_frame(packet.to_frame()).await
    }

    /// Leaves cleanly: sends `41`, closes the websocket and waits (bounded by
    /// [`ConnectOptions::close_timeout`]) for the server to complete the
    /// close. Waiting requests fail with [`DisconnectReason::ClientDisconnect`].
    /// A no-op if the connection has already ended.
    pub async fn disconnect(&self) {
        let (done, finished) = oneshot::channel();
        if self
            .inner
            .commands
            .send(Command::Disconnect(done))
            .await
            .is_ok()
        {
            // An error means the task ended some other way meanwhile: also done.
            let _ = finished.await;
        }
    }

    /// Drops the connection abruptly: no `41`, no websocket close, the TCP
    /// socket just goes away, as when a browser crashes or a network drops.
    /// Returns at once; the server notices through the closed socket.
    pub fn abort(&self) {
        let sender = self
            .inner
            .abort
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(sender) = sender {
            let _ = sender.send(());
        }
    }

    async fn call(
        &self,
        event: &str,
        args: Vec<Value>,
        timeout: Duration,
        what: impl FnOnce() -> String,
    ) -> Result<Vec<Value>, Error> {
        // The answer is awaited: the runtime does not rest meanwhile.
        let _awake = crate::idle::awake();
        let shared = &self.inner.shared;
        let (id, answer) = shared.register()?;
        // Frees the slot however this future ends, including being dropped.
        let _guard = PendingGuard { shared, id };
        let frame = Packet::Event {
            nsp: DEFAULT_NAMESPACE.to_owned(),
            id: Some(id),
            event: event.to_owned(),
            args,
        }
        .to_frame();
        let exchange = async {
            self.send_frame(frame).await?;
            // The sender is only dropped unsent if the slot was forgotten, which
            // is our own guard; treat it like a closed connection anyway.
            answer
                .await
                .unwrap_or_else(|_| Err(shared.disconnected_error()))
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .unwrap_or_else(|_| {
                Err(Error::Timeout {
                    what: what(),
                    after: timeout,
                })
            })
    }

    async fn send_frame(&self, frame: String) -> Result<(), Error> {
        self.inner
            .commands
            .send(Command::Frame(frame))
            .await
            .map_err(|_| self.inner.shared.disconnected_error())
    }
}

/// Reads a JS-style `(error, response)` ack argument list.
fn error_first(args: Vec<Value>) -> Result<Value, Value> {
    let mut args = args.into_iter();
    match (args.next(), args.next()) {
        (Some(error), _) if !error.is_null() => Err(error),
        (_, response) => Ok(response.unwrap_or(Value::Null)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_error_first_acks() {
        assert_eq!(
            error_first(vec![Value::Null, json!({"a": 1})]),
            Ok(json!({"a": 1}))
        );
        assert_eq!(error_first(vec![Value::Null]), Ok(Value::Null));
        assert_eq!(error_first(vec![]), Ok(Value::Null));
        assert_eq!(error_first(vec![json!("boom")]), Err(json!("boom")));
        assert_eq!(
            error_first(vec![json!({"message": "m"}), Value::Null]),
            Err(json!({"message": "m"}))
        );
        // Extra arguments are ignored, as a JS `(err, resp) =>` callback would.
        assert_eq!(
            error_first(vec![Value::Null, json!(1), json!(2)]),
            Ok(json!(1))
        );
    }
}
