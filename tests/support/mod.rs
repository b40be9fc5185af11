//! Shared helpers of the integration tests: a real server (real mediasoup) in
//! this process, socket.io clients, and scrapes over HTTP.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ejtimaa::config::Config;
use ejtimaa::server::Server;
use ejtimaa_sim::signaling::{Client, Incoming, ServerMessage};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The `ejtimaa-sim` binary, built next to `ejtimaa` by the workspace build.
pub fn sim_bin() -> std::path::PathBuf {
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_ejtimaa")).with_file_name("ejtimaa-sim");
    assert!(
        bin.exists(),
        "{} is missing: build the workspace first",
        bin.display()
    );
    bin
}

/// A configuration for tests: loopback, free ports, one worker, short grace.
pub fn test_config() -> Config {
    let mut config = Config::default();
    config.http.port = 0;
    config.prometheus.port = 0;
    config.prometheus.numeric = true;
    // Background stats, often enough that a test waits little for figures.
    config.prometheus.stats_interval_ms = 200;
    config.mediasoup.num_workers = Some(1);
    config.rooms.empty_grace_ms = 100;
    config.admin.enabled = false;
    config
}

/// A UDP port free now and outside the range the tests' transports take
/// (the default 40000-49999), for a WebRtcServer.
pub fn webrtc_server_port() -> u16 {
    loop {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if !(40000..=49999).contains(&port) {
            break port;
        }
    }
}

/// Starts a server with `config`.
pub async fn start(config: Config) -> Server {
    Server::start(config).await.expect("server starts")
}

/// Connects peer `peer` to room `room`.
pub async fn connect(server: &Server, room: &str, peer: &str) -> (Client, Incoming) {
    try_connect(server, room, peer).await.expect("connects")
}

/// Connects, or says why not.
pub async fn try_connect(
    server: &Server,
    room: &str,
    peer: &str,
) -> Result<(Client, Incoming), ejtimaa_sim::signaling::Error> {
    let url = format!("http://{}", server.signaling_addr);
    Client::connect(
        &url,
        &[("roomId", room), ("peerId", peer)],
        Some("ejtimaa-tests/1.0 (\"quoted\")"),
    )
    .await
}

/// Sends a request; `Ok` is the response, `Err` the server's error text.
pub async fn request(client: &Client, method: &str, data: Value) -> Result<Value, String> {
    match client
        .request(method, data)
        .await
        .expect("the server answers")
    {
        Ok(v) => Ok(v),
        Err(e) => Err(e.as_str().map_or_else(|| e.to_string(), str::to_string)),
    }
}

/// The next notification or server request named `method`, within 10 s;
/// server `newConsumer` requests are accepted on the way (`cb(null)`).
pub async fn expect_message(incoming: &mut Incoming, method: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let message = tokio::time::timeout_at(deadline, incoming.recv())
            .await
            .unwrap_or_else(|_| panic!("no `{method}` within 10 s"))
            .unwrap_or_else(|| panic!("connection ended before `{method}`"));
        match message {
            ServerMessage::Notification { method: m, data } if m == method => return data,
            ServerMessage::Request(r) => {
                let (m, data) = (r.method.clone(), r.data.clone());
                r.responder.send(vec![Value::Null]).await.expect("ack sent");
                if m == method {
                    return data;
                }
            }
            ServerMessage::Disconnected(reason) if method == "disconnect" => {
                return json!(reason.to_string());
            }
            _ => {}
        }
    }
}

/// GETs `path` from `addr`: (status, headers, body).
pub async fn http_get(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, String, Vec<u8>) {
    http_request(addr, "GET", path, headers, b"").await
}

/// Sends one HTTP/1.1 request (its own connection): (status, headers, body).
pub async fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String, Vec<u8>) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).await.expect("send");
    stream.write_all(body).await.expect("send body");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("header end");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    let mut body = raw[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    (status, head, body)
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = data.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size =
            usize::from_str_radix(std::str::from_utf8(&data[..eol]).unwrap_or("0").trim(), 16)
                .unwrap_or(0);
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[eol + 2..eol + 2 + size]);
        data = &data[eol + 2 + size + 2..];
    }
}

/// The exposition text.
pub async fn scrape(server: &Server) -> String {
    let (status, _, body) =
        http_get(server.exporter_addr.expect("exporter on"), "/metrics", &[]).await;
    assert_eq!(status, 200);
    String::from_utf8(body).expect("utf-8 exposition")
}

/// Scrapes until `check` holds (10 s at most); returns the last text.
pub async fn scrape_until(server: &Server, what: &str, check: impl Fn(&str) -> bool) -> String {
    let start = Instant::now();
    loop {
        let text = scrape(server).await;
        if check(&text) {
            return text;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "exporter never showed {what}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The value of the sample whose line starts with `series` (name and labels).
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Client DTLS parameters (any fingerprint: mediasoup checks it only in a handshake).
pub fn dtls_parameters() -> Value {
    json!({
        "role": "client",
        "fingerprints": [{
            "algorithm": "sha-256",
            "value": "82:5A:68:3D:36:C3:0A:DE:AF:E7:32:43:D2:88:83:57:AC:2D:65:E5:80:C4:B6:FB:AF:1A:A0:21:9F:6D:0C:AD"
        }]
    })
}

/// RTP parameters of an Opus stream as a browser would send them.
pub fn opus_parameters(ssrc: u32) -> Value {
    json!({
        "mid": "0",
        "codecs": [{
            "mimeType": "audio/opus", "payloadType": 111, "clockRate": 48000, "channels": 2,
            "parameters": { "useinbandfec": 1 }, "rtcpFeedback": []
        }],
        "headerExtensions": [],
        "encodings": [{ "ssrc": ssrc }],
        "rtcp": { "cname": "test", "reducedSize": true }
    })
}

/// Creates a transport and returns its id.
pub async fn create_transport(client: &Client, producing: bool) -> String {
    let t = request(
        client,
        "createWebRtcTransport",
        json!({ "producing": producing, "consuming": !producing }),
    )
    .await
    .expect("transport created");
    t["id"].as_str().expect("transport id").to_string()
}

/// Creates both transports and joins, in the usual client's order;
/// returns (send, receive) transport ids.
pub async fn join(client: &Client, name: &str) -> (String, String) {
    let send = create_transport(client, true).await;
    let recv = create_transport(client, false).await;
    join_without_transports(client, name).await;
    (send, recv)
}

/// Joins with the router's capabilities, creating no transport.
pub async fn join_without_transports(client: &Client, name: &str) {
    let caps = request(client, "getRouterRtpCapabilities", json!({}))
        .await
        .expect("capabilities");
    request(
        client,
        "join",
        json!({ "displayName": name, "device": {"name": "test"}, "rtpCapabilities": caps }),
    )
    .await
    .expect("joined");
}

/// Polls `check` every 100 ms until it gives a value; fails the test once
/// `limit` has passed, naming `what` it waited for.
pub async fn wait_for<T>(
    what: &str,
    limit: Duration,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The simulator's options against `server`, whose emptied rooms close
/// after `grace`.
pub fn sim_options(server: &Server, grace: Duration) -> ejtimaa_sim::runner::RunOptions {
    let mut opts = ejtimaa_sim::runner::RunOptions::new(
        format!("http://{}", server.signaling_addr)
            .parse()
            .expect("url"),
        format!(
            "http://{}/metrics",
            server.exporter_addr.expect("exporter on")
        )
        .parse()
        .expect("url"),
    );
    opts.room_grace = grace;
    opts
}

/// Runs `scenario` against a fresh in-process server started with `config`,
/// failing past `deadline` (server start-up excluded); prints its table.
pub async fn run_sim(
    config: Config,
    scenario: &ejtimaa_sim::scenario::Scenario,
    deadline: Duration,
) -> ejtimaa_sim::report::Report {
    let grace = Duration::from_millis(config.rooms.empty_grace_ms);
    let server = start(config).await;
    let opts = sim_options(&server, grace);
    let report = tokio::time::timeout(deadline, ejtimaa_sim::runner::run(scenario, &opts))
        .await
        .unwrap_or_else(|_| panic!("the run took longer than {deadline:?}"))
        .expect("the run completes");
    println!("{}", report.table());
    server.shutdown().await;
    report
}
