//! The socket.io client against a real socketioxide server started in-process
//! on 127.0.0.1:0, speaking the signaling shapes of `docs/design.md`, "Signaling".

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use ejtimaa_sim::signaling::{
    Client, ConnectOptions, DisconnectReason, Error, Incoming, ServerMessage,
};
use serde::Deserialize;
use serde_json::{Value, json};
use socketioxide::{
    SocketIo,
    extract::{AckSender, SocketRef, TryData},
    handler::ConnectHandler as _,
    socket::DisconnectReason as ServerReason,
};

/// What the server saw, for assertions.
#[derive(Default)]
struct ServerLog {
    connected: Mutex<Vec<Peer>>,
    /// (peerId, disconnect reason)
    disconnected: Mutex<Vec<(String, ServerReason)>>,
}

#[derive(Clone, Debug, PartialEq)]
struct Peer {
    room_id: String,
    peer_id: String,
    user_agent: Option<String>,
}

/// All ack arguments, whatever their count (a newtype makes socketioxide
/// hand over the whole argument array).
#[derive(Debug, Deserialize)]
struct AckArgs(Vec<Value>);

/// A socketioxide server on its own runtime, so a test can kill it outright.
struct TestServer {
    addr: SocketAddr,
    runtime: Option<tokio::runtime::Runtime>,
    log: Arc<ServerLog>,
}

impl TestServer {
    fn start() -> Self {
        Self::start_with(Duration::from_secs(25), Duration::from_secs(20))
    }

    fn start_with(ping_interval: Duration, ping_timeout: Duration) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("server runtime");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let log = Arc::new(ServerLog::default());
        let (layer, io) = SocketIo::builder()
            .ping_interval(ping_interval)
            .ping_timeout(ping_timeout)
            .ack_timeout(Duration::from_secs(5))
            .build_layer();
        let admit_log = log.clone();
        let admit = move |socket: SocketRef| admit(socket, admit_log.clone());
        io.ns("/", on_connect.with(admit));
        let app = axum::Router::new().layer(layer);
        runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            axum::serve(listener, app).await.expect("serve");
        });
        TestServer {
            addr,
            runtime: Some(runtime),
            log,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Ends the server as a crash would: its tasks and sockets vanish at once.
    fn kill(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }

    fn connected(&self) -> Vec<Peer> {
        self.log.connected.lock().unwrap().clone()
    }

    /// Waits for the server to report `peer_id`'s disconnect reason.
    async fn disconnect_reason(&self, peer_id: &str) -> ServerReason {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let found = self
                .log
                .disconnected
                .lock()
                .unwrap()
                .iter()
                .find(|(p, _)| p == peer_id)
                .map(|(_, r)| *r);
            if let Some(reason) = found {
                return reason;
            }
            assert!(
                Instant::now() < deadline,
                "server never saw {peer_id} disconnect"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // Dropping a runtime inside a test's runtime would panic; this does not block.
        self.kill();
    }
}

fn query_param(socket: &SocketRef, key: &str) -> Option<String> {
    let query = socket.req_parts().uri.query()?;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

fn peer_of(socket: &SocketRef) -> Peer {
    Peer {
        room_id: query_param(socket, "roomId").unwrap_or_default(),
        peer_id: query_param(socket, "peerId").unwrap_or_default(),
        user_agent: socket
            .req_parts()
            .headers
            .get(axum::http::header::USER_AGENT)
            .map(|v| v.to_str().unwrap_or("<not utf-8>").to_owned()),
    }
}

/// Connect middleware: refuses peer `reject` (the client sees `44{...}`),
/// logs the peer and registers its handlers.
///
/// Registration happens here and not in the connect handler because
/// socketioxide spawns the connect handler only after it has sent `40{sid}`:
/// a client that requests (or leaves) at once could reach a socket with no
/// handler yet. The middleware is awaited before `40{sid}` goes out.
async fn admit(socket: SocketRef, log: Arc<ServerLog>) -> Result<(), String> {
    let peer = peer_of(&socket);
    if peer.peer_id == "reject" {
        return Err("peer not welcome".into());
    }
    log.connected.lock().unwrap().push(peer.clone());
    socket.on("request", on_request);
    socket.on_disconnect(move |reason: ServerReason| async move {
        log.disconnected
            .lock()
            .unwrap()
            .push((peer.peer_id, reason));
    });
    Ok(())
}

async fn on_connect(socket: SocketRef) {
    let peer = peer_of(&socket);
    let data = json!({"roomId": peer.room_id, "peerId": peer.peer_id, "ua": peer.user_agent});
    socket
        .emit(
            "notification",
            &json!({"method": "roomReady", "data": data}),
        )
        .ok();
}

fn reply_ok(ack: AckSender, response: Value) {
    ack.send(&(Value::Null, response)).ok();
}

fn reply_err(ack: AckSender, error: Value) {
    ack.send(&(error, Value::Null)).ok();
}

async fn on_request(socket: SocketRef, TryData(request): TryData<Value>, ack: AckSender) {
    let Ok(request) = request else {
        return reply_err(ack, json!("bad request"));
    };
    let data = request["data"].clone();
    match request["method"].as_str().unwrap_or_default() {
        "echo" => reply_ok(ack, data),
        "echoAfter" => {
            let delay = data["delayMs"].as_u64().unwrap_or(0);
            tokio::time::sleep(Duration::from_millis(delay)).await;
            reply_ok(ack, data);
        }
        "fail" => reply_err(ack, json!("some error")),
        "failObj" => reply_err(ack, json!({"message": "object error"})),
        // Never answers: the client must time out, or fail when the link dies.
        "hang" => drop(ack),
        "notifyMe" => {
            socket
                .emit("notification", &json!({"method": "hello", "data": data}))
                .ok();
            reply_ok(ack, json!({}));
        }
        // A server request with ack, as `newConsumer` is; returns the client's ack arguments.
        "askClient" => {
            let sent = socket
                .timeout(Duration::from_secs(5))
                .emit_with_ack::<_, AckArgs>(
                    "request",
                    &json!({"method": "newConsumer", "data": data}),
                );
            match sent {
                Ok(answer) => match answer.await {
                    Ok(AckArgs(args)) => reply_ok(ack, json!({"ackArgs": args})),
                    Err(e) => reply_err(ack, json!(format!("client ack failed: {e}"))),
                },
                Err(e) => reply_err(ack, json!(format!("emit failed: {e}"))),
            }
        }
        "kickMe" => {
            reply_ok(ack, json!({}));
            socket.disconnect().ok();
        }
        other => reply_err(ack, json!(format!("unknown method {other}"))),
    }
}

async fn connect(server: &TestServer, peer_id: &str) -> (Client, Incoming) {
    Client::connect(
        &server.url(),
        &[("roomId", "room1"), ("peerId", peer_id)],
        Some("sim-test/1"),
    )
    .await
    .expect("connect")
}

/// The next message, with a bound so a bug cannot hang the test.
async fn next(incoming: &mut Incoming) -> ServerMessage {
    tokio::time::timeout(Duration::from_secs(5), incoming.recv())
        .await
        .expect("a server message in time")
        .expect("incoming still open")
}

async fn expect_notification(incoming: &mut Incoming, expected: &str) -> Value {
    match next(incoming).await {
        ServerMessage::Notification { method, data } if method == expected => data,
        other => panic!("expected notification {expected}, got {other:?}"),
    }
}

async fn expect_disconnected(incoming: &mut Incoming) -> DisconnectReason {
    loop {
        match next(incoming).await {
            ServerMessage::Disconnected(reason) => return reason,
            ServerMessage::Notification { .. } => continue,
            other => panic!("expected the end, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn connect_passes_query_and_user_agent() {
    let server = TestServer::start();
    let (client, mut incoming) = Client::connect(
        &server.url(),
        &[("roomId", "room 1&x"), ("peerId", "alice")],
        Some("ejtimaa-sim/0.1 (test)"),
    )
    .await
    .expect("connect");

    let expected = Peer {
        room_id: "room 1&x".into(),
        peer_id: "alice".into(),
        user_agent: Some("ejtimaa-sim/0.1 (test)".into()),
    };
    assert_eq!(server.connected(), vec![expected]);
    let ready = expect_notification(&mut incoming, "roomReady").await;
    assert_eq!(
        ready,
        json!({"roomId": "room 1&x", "peerId": "alice", "ua": "ejtimaa-sim/0.1 (test)"})
    );

    let session = client.session();
    assert!(!session.sid.is_empty() && !session.engine_sid.is_empty());
    assert_eq!(
        (session.ping_interval, session.ping_timeout),
        (Duration::from_secs(25), Duration::from_secs(20))
    );
    assert_eq!(client.sid(), session.sid);
    assert_eq!(client.closed_reason(), None);
}

#[tokio::test]
async fn connect_without_user_agent_sends_none() {
    let server = TestServer::start();
    let (_client, mut incoming) =
        Client::connect(&server.url(), &[("roomId", "r"), ("peerId", "bob")], None)
            .await
            .expect("connect");
    let ready = expect_notification(&mut incoming, "roomReady").await;
    assert_eq!(ready["ua"], Value::Null);
    assert_eq!(server.connected()[0].user_agent, None);
}

#[tokio::test]
async fn request_gets_ok_and_error_answers() {
    let server = TestServer::start();
    let (client, _incoming) = connect(&server, "p").await;

    let data = json!({"hello": "world", "n": [1, 2, 3]});
    assert_eq!(
        client.request("echo", data.clone()).await.unwrap(),
        Ok(data)
    );
    assert_eq!(
        client.request("fail", json!({})).await.unwrap(),
        Err(json!("some error"))
    );
    assert_eq!(
        client.request("failObj", Value::Null).await.unwrap(),
        Err(json!({"message": "object error"}))
    );
    assert_eq!(
        client.request("nope", json!({})).await.unwrap(),
        Err(json!("unknown method nope"))
    );
    assert_eq!(client.stats().pending_requests, 0);
}

#[tokio::test]
async fn concurrent_requests_are_matched_to_their_answers() {
    let server = TestServer::start();
    let (client, _incoming) = connect(&server, "p").await;

    // Later requests are answered first, so matching by order would fail.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20u64 {
        let client = client.clone();
        tasks.spawn(async move {
            let data = json!({"i": i, "delayMs": (20 - i) * 10});
            let answer = client.request("echoAfter", data.clone()).await;
            (i, data, answer)
        });
    }
    let mut seen = Vec::new();
    while let Some(done) = tasks.join_next().await {
        let (i, data, answer) = done.expect("task");
        assert_eq!(answer.expect("request").expect("ok"), data, "request {i}");
        seen.push(i);
    }
    seen.sort_unstable();
    assert_eq!(seen, (0..20).collect::<Vec<_>>());
    assert_eq!(client.stats().pending_requests, 0);
    assert_eq!(client.stats().unmatched_acks, 0);
}

#[tokio::test]
async fn server_notification_is_received() {
    let server = TestServer::start();
    let (client, mut incoming) = connect(&server, "p").await;
    expect_notification(&mut incoming, "roomReady").await;

    client
        .request("notifyMe", json!({"x": 1}))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        expect_notification(&mut incoming, "hello").await,
        json!({"x": 1})
    );
}

#[tokio::test]
async fn server_request_is_answered_with_js_style_acks() {
    let server = TestServer::start();
    let (client, mut incoming) = connect(&server, "p").await;

    // Answer newConsumer for id "good" with (null, {...}) and anything else with (error).
    let answering = tokio::spawn(async move {
        let mut answered = 0;
        while let Some(message) = incoming.recv().await {
            if let ServerMessage::Request(request) = message {
                assert_eq!(request.method, "newConsumer");
                if request.data["id"] == "good" {
                    request
                        .responder
                        .ok(json!({"accepted": request.data["id"]}))
                        .await
                        .unwrap();
                } else {
                    request.responder.err(json!("not now")).await.unwrap();
                }
                answered += 1;
            }
        }
        answered
    });

    let ok = client
        .request("askClient", json!({"id": "good"}))
        .await
        .unwrap();
    assert_eq!(ok, Ok(json!({"ackArgs": [null, {"accepted": "good"}]})));
    let refused = client
        .request("askClient", json!({"id": "bad"}))
        .await
        .unwrap();
    assert_eq!(refused, Ok(json!({"ackArgs": ["not now"]})));

    client.disconnect().await;
    assert_eq!(answering.await.unwrap(), 2);
}

#[tokio::test]
async fn server_disconnect_is_observed() {
    let server = TestServer::start();
    let (client, mut incoming) = connect(&server, "p").await;

    assert_eq!(
        client.request("kickMe", json!({})).await.unwrap(),
        Ok(json!({}))
    );
    assert_eq!(
        expect_disconnected(&mut incoming).await,
        DisconnectReason::ServerDisconnect
    );
    assert!(
        incoming.recv().await.is_none(),
        "nothing after Disconnected"
    );
    assert_eq!(
        client.closed_reason(),
        Some(DisconnectReason::ServerDisconnect)
    );
    assert!(matches!(
        client.request("echo", json!({})).await,
        Err(Error::Disconnected(DisconnectReason::ServerDisconnect))
    ));
    assert_eq!(
        server.disconnect_reason("p").await,
        ServerReason::ServerNSDisconnect
    );
}

#[tokio::test]
async fn client_disconnect_is_clean() {
    let server = TestServer::start();
    let (client, mut incoming) = connect(&server, "leaver").await;

    client.disconnect().await;
    assert_eq!(
        server.disconnect_reason("leaver").await,
        ServerReason::ClientNSDisconnect
    );
    assert_eq!(
        expect_disconnected(&mut incoming).await,
        DisconnectReason::ClientDisconnect
    );
    assert!(matches!(
        client.request("echo", json!({})).await,
        Err(Error::Disconnected(DisconnectReason::ClientDisconnect))
    ));
    client.disconnect().await; // a second call is a no-op
}

#[tokio::test]
async fn abort_and_drop_are_abrupt() {
    let server = TestServer::start();

    let (client, mut incoming) = connect(&server, "aborted").await;
    client.abort();
    assert_eq!(
        expect_disconnected(&mut incoming).await,
        DisconnectReason::ClientAbort
    );
    let reason = server.disconnect_reason("aborted").await;
    assert!(
        matches!(
            reason,
            ServerReason::TransportClose | ServerReason::TransportError
        ),
        "{reason:?}"
    );

    let (client, mut incoming) = connect(&server, "dropped").await;
    let clone = client.clone();
    drop(client);
    assert_eq!(
        clone.request("echo", json!(1)).await.unwrap(),
        Ok(json!(1)),
        "a clone keeps it alive"
    );
    drop(clone);
    assert_eq!(
        expect_disconnected(&mut incoming).await,
        DisconnectReason::ClientAbort
    );
    let reason = server.disconnect_reason("dropped").await;
    assert!(
        matches!(
            reason,
            ServerReason::TransportClose | ServerReason::TransportError
        ),
        "{reason:?}"
    );
}

#[tokio::test]
async fn server_gone_fails_pending_requests_promptly() {
    let mut server = TestServer::start();
    let (client, mut incoming) = connect(&server, "p").await;

    let pending = {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .request_with_timeout("hang", json!({}), Duration::from_secs(60))
                .await
        })
    };
    // Let the request reach the server before it dies.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(client.stats().pending_requests, 1);
    let killed = Instant::now();
    server.kill();

    let result = tokio::time::timeout(Duration::from_secs(3), pending)
        .await
        .expect("failed promptly")
        .unwrap();
    let Err(Error::Disconnected(reason)) = result else {
        panic!("expected a disconnect error, got {result:?}")
    };
    assert!(
        matches!(
            reason,
            DisconnectReason::TransportClose | DisconnectReason::TransportError(_)
        ),
        "{reason:?}"
    );
    assert!(killed.elapsed() < Duration::from_secs(3));
    assert_eq!(expect_disconnected(&mut incoming).await, reason);
    assert!(matches!(
        client.request("echo", json!({})).await,
        Err(Error::Disconnected(_))
    ));
}

#[tokio::test]
async fn unanswered_request_times_out_and_is_forgotten() {
    let server = TestServer::start();
    let (client, _incoming) = connect(&server, "p").await;

    let started = Instant::now();
    let result = client
        .request_with_timeout("hang", json!({}), Duration::from_millis(200))
        .await;
    assert!(
        matches!(&result, Err(Error::Timeout { what, after }) if what == "request `hang`" && *after == Duration::from_millis(200)),
        "{result:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(client.stats().pending_requests, 0, "no slot left behind");
    // The connection is still fine.
    assert_eq!(
        client.request("echo", json!(2)).await.unwrap(),
        Ok(json!(2))
    );

    // A request future dropped mid-flight (e.g. by select!) also frees its slot.
    let _ =
        tokio::time::timeout(Duration::from_millis(50), client.request("hang", json!({}))).await;
    assert_eq!(client.stats().pending_requests, 0);
}

#[tokio::test]
async fn refused_connection_is_a_clear_error() {
    let server = TestServer::start();
    let result = Client::connect(
        &server.url(),
        &[("roomId", "r"), ("peerId", "reject")],
        None,
    )
    .await;
    match result {
        Err(Error::ConnectRefused(data)) => assert_eq!(data["message"], "peer not welcome"),
        other => panic!("expected ConnectRefused, got {:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn unreachable_server_and_bad_urls_fail_fast() {
    // Bind then drop a listener to get a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let result = Client::connect(&format!("http://127.0.0.1:{port}"), &[], None).await;
    assert!(
        matches!(result, Err(Error::WebSocket(_))),
        "{:?}",
        result.map(|_| ())
    );

    let result = Client::connect("ftp://127.0.0.1:1", &[], None).await;
    assert!(
        matches!(result, Err(Error::InvalidUrl { .. })),
        "{:?}",
        result.map(|_| ())
    );
    // TLS URLs are accepted: nothing listens there, so the connect fails.
    let result = Client::connect(&format!("https://127.0.0.1:{port}"), &[], None).await;
    assert!(
        matches!(result, Err(Error::WebSocket(_))),
        "{:?}",
        result.map(|_| ())
    );

    let server = TestServer::start();
    let result = Client::connect(&server.url(), &[], Some("bad\nagent")).await;
    assert!(
        matches!(result, Err(Error::InvalidUserAgent(_))),
        "{:?}",
        result.map(|_| ())
    );
}

#[tokio::test]
async fn heartbeat_keeps_an_idle_connection_alive() {
    let server = TestServer::start_with(Duration::from_millis(100), Duration::from_millis(100));
    let (client, mut incoming) = connect(&server, "idle").await;
    assert_eq!(client.session().ping_interval, Duration::from_millis(100));

    // Ten ping rounds with nothing else going on.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(client.closed_reason(), None);
    assert!(
        server.log.disconnected.lock().unwrap().is_empty(),
        "server dropped an idle client"
    );
    assert_eq!(
        client.request("echo", json!("still here")).await.unwrap(),
        Ok(json!("still here"))
    );
    expect_notification(&mut incoming, "roomReady").await;
    assert!(incoming.try_recv().is_none(), "pings are not surfaced");
}

#[tokio::test(flavor = "current_thread")]
async fn many_clients_share_one_thread() {
    let server = TestServer::start();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..50 {
        let url = server.url();
        tasks.spawn(async move {
            let peer = format!("peer{i}");
            let (client, _incoming) = Client::connect_with(
                &url,
                &[("roomId", "big"), ("peerId", &peer)],
                None,
                ConnectOptions {
                    request_timeout: Duration::from_secs(5),
                    ..ConnectOptions::default()
                },
            )
            .await
            .expect("connect");
            let answer = client.request("echo", json!(i)).await.expect("request");
            client.disconnect().await;
            answer
        });
    }
    let mut answers = Vec::new();
    while let Some(done) = tasks.join_next().await {
        answers.push(done.unwrap().unwrap().as_i64().unwrap());
    }
    answers.sort_unstable();
    assert_eq!(answers, (0..50).collect::<Vec<_>>());
    assert_eq!(server.connected().len(), 50);
}
