//! The socket.io client against scripted websocket servers that misbehave in
//! ways a real socketioxide server never would: malformed frames, silence,
//! floods, broken handshakes.

use std::{
    future::Future,
    time::{Duration, Instant},
};

use ejtimaa_sim::signaling::{
    Client, ConnectOptions, DisconnectReason, Error, Incoming, ServerMessage, Stats,
};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::{WebSocketStream, tungstenite::Message};

type Ws = WebSocketStream<TcpStream>;

/// Accepts one websocket on 127.0.0.1 and runs `script` on it; returns the URL.
async fn scripted_server<F, Fut>(script: F) -> String
where
    F: FnOnce(Ws) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.expect("accept");
        let ws = tokio_tungstenite::accept_async(tcp).await.expect("upgrade");
        script(ws).await;
    });
    format!("http://{addr}")
}

async fn send(ws: &mut Ws, text: &str) {
    ws.send(Message::text(text)).await.expect("server send");
}

/// The client's next text frame, or `None` once it is gone.
async fn recv(ws: &mut Ws) -> Option<String> {
    loop {
        match ws.next().await? {
            Ok(Message::Text(text)) => return Some(text.as_str().to_owned()),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
}

/// Server side of a normal handshake with the given heartbeat values.
async fn handshake(ws: &mut Ws, ping_interval_ms: u64, ping_timeout_ms: u64) {
    let open = format!(
        r#"0{{"sid":"eio1","upgrades":[],"pingInterval":{ping_interval_ms},"pingTimeout":{ping_timeout_ms},"maxPayload":1000000}}"#
    );
    send(ws, &open).await;
    assert_eq!(recv(ws).await.as_deref(), Some("40"));
    send(ws, r#"40{"sid":"sio1"}"#).await;
}

/// Answers every `42<id>["request",..]` with `43<id>[null,{"pong":<method>}]`
/// until the client leaves; returns the other frames the client sent.
async fn answer_requests(ws: &mut Ws) -> Vec<String> {
    let mut others = Vec::new();
    while let Some(frame) = recv(ws).await {
        let Some(rest) = frame.strip_prefix("42") else {
            others.push(frame);
            continue;
        };
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let args: Value = serde_json::from_str(&rest[digits..]).expect("client json");
        if digits > 0 && args[0] == "request" {
            let method = &args[1]["method"];
            send(
                ws,
                &format!(r#"43{}[null,{{"pong":{method}}}]"#, &rest[..digits]),
            )
            .await;
        } else {
            others.push(frame);
        }
    }
    others
}

async fn next(incoming: &mut Incoming) -> ServerMessage {
    tokio::time::timeout(Duration::from_secs(5), incoming.recv())
        .await
        .expect("a server message in time")
        .expect("incoming still open")
}

#[tokio::test]
async fn malformed_and_unexpected_frames_are_skipped_and_counted() {
    let (seen_tx, seen_rx) = tokio::sync::oneshot::channel();
    let url = scripted_server(|mut ws| async move {
        handshake(&mut ws, 25_000, 20_000).await;
        let malformed = [
            "",
            "9",
            "é",
            "0{bad",
            "4",
            "49",
            "42",
            "42{",
            "42[]",
            "42[1]",
            r#"42["unterminated"#,
            "43[]",
            "43999999999999999999999999[null]",
        ];
        for frame in malformed {
            send(&mut ws, frame).await;
        }
        // Unsupported: binary packets and raw binary frames.
        send(&mut ws, r#"451-["file",{"_placeholder":true,"num":0}]"#).await;
        ws.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
        // Ignored: other namespaces, a second open, connect answers after the handshake.
        send(&mut ws, r#"42/admin,["notification",{"method":"secret"}]"#).await;
        send(&mut ws, r#"0{"sid":"again"}"#).await;
        send(&mut ws, r#"40{"sid":"again"}"#).await;
        send(&mut ws, "401").await;
        // Harmless Engine.IO packets.
        for frame in ["3", "5", "6"] {
            send(&mut ws, frame).await;
        }
        // An ack nobody waits for.
        send(&mut ws, "43777[null]").await;
        // Valid traffic still gets through.
        send(&mut ws, r#"42["notification",{"method":"after","data":1}]"#).await;
        send(&mut ws, r#"42["custom",1,"two"]"#).await;
        send(&mut ws, r#"429["custom",{"want":"ack"}]"#).await;
        let _ = seen_tx.send(answer_requests(&mut ws).await);
    })
    .await;

    let (client, mut incoming) = Client::connect(&url, &[], None).await.expect("connect");
    assert_eq!(client.sid(), "sio1");
    assert_eq!(client.session().engine_sid, "eio1");

    match next(&mut incoming).await {
        ServerMessage::Notification { method, data } => {
            assert_eq!((method.as_str(), data), ("after", json!(1)))
        }
        other => panic!("{other:?}"),
    }
    match next(&mut incoming).await {
        ServerMessage::Event {
            event,
            args,
            ack: None,
        } => {
            assert_eq!(
                (event.as_str(), args),
                ("custom", vec![json!(1), json!("two")])
            );
        }
        other => panic!("{other:?}"),
    }
    match next(&mut incoming).await {
        ServerMessage::Event {
            event,
            ack: Some(ack),
            ..
        } if event == "custom" => {
            assert_eq!(ack.id(), 9);
            ack.send(vec![json!("raw")]).await.unwrap();
        }
        other => panic!("{other:?}"),
    }
    // The connection survived all of it.
    assert_eq!(
        client.request("check", json!({})).await.unwrap(),
        Ok(json!({"pong": "check"}))
    );
    assert_eq!(
        client.stats(),
        Stats {
            // 13 malformed + 2 unsupported + 4 ignored + 3 harmless + 1 stray ack
            // + 3 delivered + 1 answer to our request.
            frames_received: 27,
            malformed: 13,
            unsupported: 2,
            ignored: 4,
            unmatched_acks: 1,
            undelivered: 0,
            pending_requests: 0,
        }
    );
    client.disconnect().await;
    assert_eq!(
        seen_rx.await.unwrap(),
        vec![r#"439["raw"]"#.to_owned(), "41".to_owned()]
    );
}

#[tokio::test]
async fn pings_are_answered_and_engine_close_is_observed() {
    let (pongs_tx, pongs_rx) = tokio::sync::oneshot::channel();
    let url = scripted_server(|mut ws| async move {
        send(
            &mut ws,
            r#"0{"sid":"e","pingInterval":1000,"pingTimeout":1000}"#,
        )
        .await;
        assert_eq!(recv(&mut ws).await.as_deref(), Some("40"));
        // A ping before the connect answer is answered during the handshake.
        send(&mut ws, "2").await;
        let first = recv(&mut ws).await;
        send(&mut ws, r#"40{"sid":"s"}"#).await;
        send(&mut ws, "2").await;
        let second = recv(&mut ws).await;
        send(&mut ws, "2probe").await;
        let third = recv(&mut ws).await;
        let _ = pongs_tx.send([first, second, third]);
        send(&mut ws, "1").await;
        while recv(&mut ws).await.is_some() {}
    })
    .await;

    let (client, mut incoming) = Client::connect(&url, &[], None).await.expect("connect");
    let pongs = pongs_rx.await.unwrap();
    assert_eq!(
        pongs,
        [Some("3".into()), Some("3".into()), Some("3probe".into())]
    );
    match next(&mut incoming).await {
        ServerMessage::Disconnected(reason) => assert_eq!(reason, DisconnectReason::ServerClose),
        other => panic!("{other:?}"),
    }
    assert_eq!(client.closed_reason(), Some(DisconnectReason::ServerClose));
}

#[tokio::test]
async fn silent_server_trips_the_heartbeat_and_fails_pending_requests() {
    let url = scripted_server(|mut ws| async move {
        handshake(&mut ws, 100, 100).await;
        // Keep the socket open but say nothing, like a hung process.
        while recv(&mut ws).await.is_some() {}
    })
    .await;

    let (client, mut incoming) = Client::connect(&url, &[], None).await.expect("connect");
    let started = Instant::now();
    let result = client
        .request_with_timeout("anything", json!({}), Duration::from_secs(30))
        .await;
    assert!(
        matches!(
            result,
            Err(Error::Disconnected(DisconnectReason::HeartbeatTimeout))
        ),
        "{result:?}"
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(150) && waited < Duration::from_secs(2),
        "{waited:?}"
    );
    assert!(matches!(
        next(&mut incoming).await,
        ServerMessage::Disconnected(DisconnectReason::HeartbeatTimeout)
    ));
}

#[tokio::test]
async fn connect_error_after_connect_ends_the_connection() {
    let url = scripted_server(|mut ws| async move {
        handshake(&mut ws, 25_000, 20_000).await;
        send(&mut ws, r#"44{"message":"kicked"}"#).await;
        while recv(&mut ws).await.is_some() {}
    })
    .await;
    let (_client, mut incoming) = Client::connect(&url, &[], None).await.expect("connect");
    match next(&mut incoming).await {
        ServerMessage::Disconnected(DisconnectReason::ConnectError(data)) => {
            assert_eq!(data, r#"{"message":"kicked"}"#);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn broken_handshakes_are_clear_errors() {
    async fn connect_to(url: String) -> Error {
        let options = ConnectOptions {
            connect_timeout: Duration::from_millis(300),
            ..ConnectOptions::default()
        };
        match Client::connect_with(&url, &[], None, options).await {
            Ok(_) => panic!("connected to a broken server"),
            Err(e) => e,
        }
    }

    let not_open = scripted_server(|mut ws| async move {
        send(&mut ws, "hello").await;
        while recv(&mut ws).await.is_some() {}
    });
    let error = connect_to(not_open.await).await;
    assert!(
        matches!(&error, Error::Handshake(m) if m.contains("bad first frame")),
        "{error}"
    );

    let no_sid = scripted_server(|mut ws| async move {
        send(&mut ws, r#"0{"sid":"e"}"#).await;
        recv(&mut ws).await;
        send(&mut ws, "40").await;
        while recv(&mut ws).await.is_some() {}
    });
    let error = connect_to(no_sid.await).await;
    assert!(
        matches!(&error, Error::Handshake(m) if m.contains("without a sid")),
        "{error}"
    );

    let closes = scripted_server(|mut ws| async move {
        let _ = ws.close(None).await;
    });
    let error = connect_to(closes.await).await;
    assert!(
        matches!(&error, Error::Handshake(m) if m.contains("closed")),
        "{error}"
    );

    let silent = scripted_server(|mut ws| async move { while recv(&mut ws).await.is_some() {} });
    let started = Instant::now();
    let error = connect_to(silent.await).await;
    assert!(
        matches!(error, Error::ConnectTimeout(d) if d == Duration::from_millis(300)),
        "{error}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn a_stalled_consumer_gets_the_connection_closed() {
    let url = scripted_server(|mut ws| async move {
        handshake(&mut ws, 25_000, 20_000).await;
        for i in 0..10 {
            send(
                &mut ws,
                &format!(r#"42["notification",{{"method":"n","data":{i}}}]"#),
            )
            .await;
        }
        while recv(&mut ws).await.is_some() {}
    })
    .await;
    let options = ConnectOptions {
        incoming_capacity: 2,
        incoming_stall_limit: Duration::from_millis(200),
        ..ConnectOptions::default()
    };
    let (client, mut incoming) = Client::connect_with(&url, &[], None, options)
        .await
        .expect("connect");

    // Nobody drains `incoming`, so the queue fills and the connection must end.
    let result = client
        .request_with_timeout("x", json!({}), Duration::from_secs(10))
        .await;
    assert!(
        matches!(
            result,
            Err(Error::Disconnected(DisconnectReason::IncomingStalled))
        ),
        "{result:?}"
    );
    let mut queued = 0;
    while let Some(message) = incoming.recv().await {
        assert!(
            matches!(message, ServerMessage::Notification { .. }),
            "{message:?}"
        );
        queued += 1;
    }
    assert_eq!(queued, 2, "bounded by the capacity");
}

#[tokio::test]
async fn dropped_incoming_discards_and_counts() {
    let url = scripted_server(|mut ws| async move {
        handshake(&mut ws, 25_000, 20_000).await;
        for _ in 0..3 {
            send(&mut ws, r#"42["notification",{"method":"n"}]"#).await;
        }
        answer_requests(&mut ws).await;
    })
    .await;
    let (client, incoming) = Client::connect(&url, &[], None).await.expect("connect");
    drop(incoming);
    assert_eq!(
        client.request("m", json!({})).await.unwrap(),
        Ok(json!({"pong": "m"}))
    );
    assert_eq!(client.stats().undelivered, 3);
}

#[tokio::test]
async fn oversize_message_ends_the_connection() {
    let url = scripted_server(|mut ws| async move {
        handshake(&mut ws, 25_000, 20_000).await;
        let big = format!(
            r#"42["notification",{{"method":"big","data":"{}"}}]"#,
            "x".repeat(4096)
        );
        send(&mut ws, &big).await;
        while recv(&mut ws).await.is_some() {}
    })
    .await;
    let options = ConnectOptions {
        max_message_size: 1024,
        ..ConnectOptions::default()
    };
    let (_client, mut incoming) = Client::connect_with(&url, &[], None, options)
        .await
        .expect("connect");
    match next(&mut incoming).await {
        ServerMessage::Disconnected(DisconnectReason::TransportError(message)) => {
            assert!(
                message.contains("too long") || message.contains("size"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn auth_payload_rides_on_the_namespace_connect() {
    let (connect_tx, connect_rx) = tokio::sync::oneshot::channel();
    let url = scripted_server(|mut ws| async move {
        send(&mut ws, r#"0{"sid":"e"}"#).await;
        let _ = connect_tx.send(recv(&mut ws).await);
        send(&mut ws, r#"40{"sid":"s"}"#).await;
        while recv(&mut ws).await.is_some() {}
    })
    .await;
    let options = ConnectOptions {
        auth: Some(json!({"token": "t0k"})),
        ..ConnectOptions::default()
    };
    let (client, _incoming) = Client::connect_with(&url, &[], None, options)
        .await
        .expect("connect");
    assert_eq!(
        connect_rx.await.unwrap().as_deref(),
        Some(r#"40{"token":"t0k"}"#)
    );
    // Defaults of the reference server fill what the open packet left out.
    let session = client.session();
    assert_eq!(
        (
            session.ping_interval,
            session.ping_timeout,
            session.max_payload
        ),
        (Duration::from_secs(25), Duration::from_secs(20), 1_000_000)
    );
}
