//! Both HTTP listeners (signaling and exporter) against hostile and
//! careless clients: slowloris on headers and on the TLS handshake, too many
//! connections from one address or overall, the exporter over HTTPS, and
//! certificates renewed while calls go on.

mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ejtimaa::config::{Config, TlsConfig};
use ejtimaa::listen::Scheme;
use futures_util::{SinkExt, StreamExt};
use support::*;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::client::Resumption;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_tungstenite::tungstenite::Message;

/// How long the trickling client keeps sending header lines, if nobody
/// stops it: far beyond the header timeouts the tests configure.
const TRICKLE_FOR: Duration = Duration::from_secs(10);

/// A self-signed certificate for `localhost`, written to `dir`.
struct TestCert {
    der: CertificateDer<'static>,
    cert_pem: String,
    key_pem: String,
}

impl TestCert {
    fn new() -> Self {
        let c = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        Self {
            der: c.cert.der().clone(),
            cert_pem: c.cert.pem(),
            key_pem: c.signing_key.serialize_pem(),
        }
    }

    /// Writes the PEM files (over whatever is there) and names them.
    fn write(&self, dir: &Path) -> TlsConfig {
        let files = files_in(dir);
        std::fs::write(&files.cert, &self.cert_pem).unwrap();
        std::fs::write(&files.key, &self.key_pem).unwrap();
        files
    }
}

fn files_in(dir: &Path) -> TlsConfig {
    TlsConfig {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    }
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ejtimaa-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A TLS client trusting `certs`.
fn connector(certs: &[&TestCert]) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    for c in certs {
        roots.add(c.der.clone()).unwrap();
    }
    let mut client = ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    // A resumed session shows the certificate of the session it resumes.
    client.resumption = Resumption::disabled();
    TlsConnector::from(Arc::new(client))
}

async fn tls_connect(connector: &TlsConnector, addr: SocketAddr) -> TlsStream<TcpStream> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .expect("TLS handshake")
}

/// The certificate a new TLS connection to `addr` is shown.
async fn served_certificate(connector: &TlsConnector, addr: SocketAddr) -> CertificateDer<'static> {
    let tls = tls_connect(connector, addr).await;
    tls.get_ref().1.peer_certificates().expect("a certificate")[0].clone()
}

/// Sends `request` on `stream` and reads until the server closes.
async fn exchange(mut stream: impl AsyncRead + AsyncWrite + Unpin, request: &str) -> String {
    // A refused connection may be closed before the request is written.
    let _ = stream.write_all(request.as_bytes()).await;
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw)).await;
    String::from_utf8_lossy(&raw).into_owned()
}

fn get(path: &str, headers: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{headers}\r\n")
}

/// What a slowloris client saw: whether the server closed on it before it
/// had trickled its headers for [`TRICKLE_FOR`], and what it was sent.
struct Trickled {
    closed: bool,
    received: String,
}

/// Starts a request on `stream` and adds a header line every 100 ms.
async fn trickle(stream: impl AsyncRead + AsyncWrite + Unpin) -> Trickled {
    let (mut read, mut write) = tokio::io::split(stream);
    let reading = async move {
        let mut received = Vec::new();
        let mut buf = [0u8; 1024];
        while let Ok(n @ 1..) = read.read(&mut buf).await {
            received.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&received).into_owned()
    };
    let writing = async move {
        let _ = write
            .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n")
            .await;
        let start = tokio::time::Instant::now();
        while start.elapsed() < TRICKLE_FOR {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if write.write_all(b"X-Slow: 1\r\n").await.is_err() {
                // Closed: the reader sees it too.
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        received = reading => Trickled { closed: true, received },
        () = writing => Trickled { closed: false, received: String::new() },
    }
}

/// A slowloris client on `addr` is closed before it finishes, never served,
/// while a normal client is served meanwhile (`served` runs alongside).
async fn slowloris_is_closed<S, F>(stream: S, served: F)
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: Future<Output = ()>,
{
    let (trickled, ()) = tokio::join!(trickle(stream), async {
        // Once the slow client is well under way.
        tokio::time::sleep(Duration::from_millis(300)).await;
        served.await;
    });
    assert!(trickled.closed, "the slow client was never closed");
    assert!(
        !trickled.received.contains(" 200 "),
        "the slow client was served: {}",
        trickled.received
    );
}

fn fast_headers(config: &mut Config) {
    config.http.header_timeout_ms = 1000;
    config.prometheus.header_timeout_ms = 1000;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_is_closed_on_both_listeners_while_others_are_served() {
    let mut config = test_config();
    fast_headers(&mut config);
    let server = start(config).await;
    let signaling = server.signaling_addr;
    let exporter = server.exporter_addr.expect("exporter on");

    let slow = TcpStream::connect(signaling).await.unwrap();
    slowloris_is_closed(slow, async {
        let (status, ..) = http_get(signaling, "/", &[]).await;
        assert_eq!(status, 200);
    })
    .await;
    let slow = TcpStream::connect(exporter).await.unwrap();
    slowloris_is_closed(slow, async {
        let (status, ..) = http_get(exporter, "/metrics", &[]).await;
        assert_eq!(status, 200);
    })
    .await;

    // A keep-alive connection left idle is closed as well.
    let mut idle = TcpStream::connect(signaling).await.unwrap();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(5), idle.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0) | Err(_))),
        "an idle connection stayed open: {read:?}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_the_handshake_and_the_headers_are_bounded() {
    let dir = scratch_dir("listeners-tls-slow");
    let cert = TestCert::new();
    let mut config = test_config();
    fast_headers(&mut config);
    config.http.tls = Some(cert.write(&dir));
    config.prometheus.reuse_http_tls = true;
    let server = start(config).await;
    let connector = connector(&[&cert]);

    for addr in [server.signaling_addr, server.exporter_addr.unwrap()] {
        // Connected, never says hello.
        let mut mute = TcpStream::connect(addr).await.unwrap();
        let mut buf = [0u8; 16];
        let read = tokio::time::timeout(Duration::from_secs(5), mute.read(&mut buf)).await;
        assert!(
            matches!(read, Ok(Ok(0) | Err(_))),
            "{addr}: a client without a TLS handshake stayed connected: {read:?}"
        );
        // Handshaken, then trickles its headers.
        let slow = tls_connect(&connector, addr).await;
        let path = if addr == server.signaling_addr {
            "/"
        } else {
            "/metrics"
        };
        slowloris_is_closed(slow, async {
            let response = exchange(tls_connect(&connector, addr).await, &get(path, "")).await;
            assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        })
        .await;
    }
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

/// Opens `n` connections to `addr` that each wait, idle.
async fn hold(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut held = Vec::new();
    for _ in 0..n {
        held.push(TcpStream::connect(addr).await.unwrap());
    }
    held
}

/// Whether `n` connections at once to `addr` are all served `path`.
async fn all_served(addr: SocketAddr, path: &str, n: usize) -> bool {
    let mut open = Vec::new();
    for _ in 0..n {
        open.push(TcpStream::connect(addr).await.unwrap());
    }
    let mut served = true;
    for stream in open {
        served &= exchange(stream, &get(path, ""))
            .await
            .starts_with("HTTP/1.1 200");
    }
    served
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_a_cap_are_refused_counted_and_given_back() {
    let mut config = test_config();
    // Held connections must outlive the test's steps.
    config.http.header_timeout_ms = 60_000;
    config.prometheus.header_timeout_ms = 60_000;
    config.limits.max_connections_per_ip = 3;
    config.prometheus.max_scrape_connections = 2;
    let server = start(config).await;
    let signaling = server.signaling_addr;
    let exporter = server.exporter_addr.unwrap();

    // Signaling: a socket.io session (a websocket, long after its HTTP
    // upgrade) and two idle sockets fill the address's three places.
    let (client, _incoming) = connect(&server, "capped", "a").await;
    let held = hold(signaling, 2).await;
    let refused = exchange(TcpStream::connect(signaling).await.unwrap(), &get("/", "")).await;
    assert!(
        refused.is_empty() || refused.starts_with("HTTP/1.1 503"),
        "a fourth connection was served: {refused}"
    );
    let text = scrape_until(&server, "the refusal", |t| {
        sample(
            t,
            "Ejtimaa_limit_refusals_total{limit=\"max_connections_per_ip\"}",
        ) == Some(1.0)
    })
    .await;
    assert_eq!(
        sample(
            &text,
            "Ejtimaa_limit_refusals_total{limit=\"max_connections\"}"
        ),
        Some(0.0),
        "{text}"
    );
    // The session still works.
    request(&client, "getRouterRtpCapabilities", serde_json::json!({}))
        .await
        .unwrap();
    // Places come back as connections close, over and over.
    drop((held, client, _incoming));
    for round in 0..3 {
        wait_for(
            &format!("three places again (round {round})"),
            Duration::from_secs(10),
            async || all_served(signaling, "/", 3).await.then_some(()),
        )
        .await;
    }

    // Exporter: its overall cap, whoever connects.
    let held = hold(exporter, 2).await;
    let refused = exchange(
        TcpStream::connect(exporter).await.unwrap(),
        &get("/metrics", ""),
    )
    .await;
    assert!(
        refused.is_empty() || refused.starts_with("HTTP/1.1 503"),
        "a third connection was served: {refused}"
    );
    drop(held);
    wait_for("two places again", Duration::from_secs(10), async || {
        all_served(exporter, "/metrics", 2).await.then_some(())
    })
    .await;
    // At least the one above; more if a try above came before the server
    // had seen the held connections close.
    let text = scrape_until(&server, "the exporter's refusal", |t| {
        sample(
            t,
            "Ejtimaa_limit_refusals_total{limit=\"max_scrape_connections\"}",
        )
        .is_some_and(|n| n >= 1.0)
    })
    .await;
    assert_eq!(
        sample(
            &text,
            "Ejtimaa_limit_refusals_total{limit=\"max_scrape_connections_per_ip\"}"
        ),
        Some(0.0),
        "{text}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exporter_serves_https_with_its_secret_and_refuses_plain_http() {
    let dir = scratch_dir("listeners-exporter-tls");
    let cert = TestCert::new();
    let mut config = test_config();
    config.prometheus.tls = Some(cert.write(&dir));
    config.prometheus.secret = Some("s3cret-s3cret".into());
    let server = start(config).await;
    assert_eq!(server.exporter_scheme, Scheme::Https);
    assert_eq!(server.signaling_scheme, Scheme::Http);
    let addr = server.exporter_addr.unwrap();
    let connector = connector(&[&cert]);

    let bearer = "Authorization: Bearer s3cret-s3cret\r\n";
    let response = exchange(
        tls_connect(&connector, addr).await,
        &get("/metrics", bearer),
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("Ejtimaa_build_info"), "{response}");
    let response = exchange(tls_connect(&connector, addr).await, &get("/metrics", "")).await;
    assert!(response.starts_with("HTTP/1.1 401"), "{response}");
    // Plain HTTP, secret and all, gets no answer.
    let response = exchange(
        TcpStream::connect(addr).await.unwrap(),
        &get("/metrics", bearer),
    )
    .await;
    assert!(!response.starts_with("HTTP/1.1"), "{response}");
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

/// A socket.io session over a TLS websocket, spoken by hand (the sim's
/// client speaks plain HTTP only).
struct TlsSession {
    ws: tokio_tungstenite::WebSocketStream<TlsStream<TcpStream>>,
    next_ack: u64,
}

impl TlsSession {
    async fn open(connector: &TlsConnector, addr: SocketAddr) -> Self {
        let tls = tls_connect(connector, addr).await;
        let url = "wss://localhost/socket.io/?EIO=4&transport=websocket&roomId=renewal&peerId=p";
        let (ws, _) = tokio_tungstenite::client_async(url, tls)
            .await
            .expect("websocket");
        let mut session = Self { ws, next_ack: 0 };
        assert!(session.next_text().await.starts_with('0'), "engine.io open");
        session.ws.send(Message::text("40")).await.unwrap();
        assert!(
            session.next_text().await.starts_with("40"),
            "socket.io connect"
        );
        session
    }

    /// The next text frame; engine.io pings are answered on the way.
    async fn next_text(&mut self) -> String {
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(10), self.ws.next())
                .await
                .expect("a frame within 10 s")
                .expect("the session is open")
                .expect("a frame");
            if let Message::Text(text) = frame {
                if text.as_str() == "2" {
                    self.ws.send(Message::text("3")).await.unwrap();
                    continue;
                }
                return text.to_string();
            }
        }
    }

    /// Sends a signaling request and returns its ack.
    async fn request(&mut self, method: &str) -> String {
        let id = self.next_ack;
        self.next_ack += 1;
        let packet = format!("42{id}[\"request\",{{\"method\":\"{method}\",\"data\":{{}}}}]");
        self.ws.send(Message::text(packet)).await.unwrap();
        let prefix = format!("43{id}");
        loop {
            let text = self.next_text().await;
            if text.starts_with(&prefix) {
                return text;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_reload_for_new_connections_while_calls_carry_on() {
    let dir = scratch_dir("listeners-reload");
    let (old, new) = (TestCert::new(), TestCert::new());
    let files = old.write(&dir);
    let mut config = test_config();
    config.http.tls = Some(files.clone());
    config.prometheus.reuse_http_tls = true;
    let server = start(config).await;
    let connector = connector(&[&old, &new]);
    let listeners = [server.signaling_addr, server.exporter_addr.unwrap()];
    for addr in listeners {
        assert_eq!(served_certificate(&connector, addr).await, old.der);
    }
    let mut session = TlsSession::open(&connector, server.signaling_addr).await;
    assert!(
        session
            .request("getRouterRtpCapabilities")
            .await
            .contains("codecs")
    );

    new.write(&dir);
    server.reload_certificates().expect("reloaded");
    for addr in listeners {
        assert_eq!(
            served_certificate(&connector, addr).await,
            new.der,
            "{addr} after the reload"
        );
    }
    // The session opened before goes on over its old handshake.
    assert!(
        session
            .request("getRouterRtpCapabilities")
            .await
            .contains("codecs")
    );

    // A broken renewal is an error naming the file, and the certificate stays.
    std::fs::write(&files.cert, "not a certificate").unwrap();
    let err = server.reload_certificates().expect_err("a broken file");
    assert!(format!("{err:#}").contains("cert.pem"), "{err:#}");
    for addr in listeners {
        assert_eq!(served_certificate(&connector, addr).await, new.der);
    }
    assert!(
        session
            .request("getRouterRtpCapabilities")
            .await
            .contains("codecs")
    );
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

/// A child process killed if the test fails before it ends it.
struct KillOnDrop(Option<std::process::Child>);

impl KillOnDrop {
    fn get(&mut self) -> &mut std::process::Child {
        self.0.as_mut().expect("still running")
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The binary: the URLs it prints name the scheme, and SIGHUP reloads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_prints_https_and_reloads_on_sighup() {
    use std::io::BufRead;
    let dir = scratch_dir("listeners-sighup");
    let (old, new) = (TestCert::new(), TestCert::new());
    let files = old.write(&dir);
    let config_path = dir.join("ejtimaa.toml");
    std::fs::write(
        &config_path,
        format!(
            "[http]\nport = 0\n[http.tls]\ncert = {:?}\nkey = {:?}\n\
             [prometheus]\nport = 0\nreuse_http_tls = true\n\
             [mediasoup]\nnum_workers = 1\n[admin]\nenabled = false\n",
            files.cert, files.key
        ),
    )
    .unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_ejtimaa"))
        .arg("--config")
        .arg(&config_path)
        .args(["--log", "warn"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the binary starts");
    let mut child = KillOnDrop(Some(child));
    let stdout = std::io::BufReader::new(child.get().stdout.take().unwrap());
    let lines = tokio::task::spawn_blocking(move || {
        stdout
            .lines()
            .map_while(Result::ok)
            .filter(|l| l.starts_with("ejtimaa: "))
            .take(2)
            .collect::<Vec<_>>()
    });
    let lines = tokio::time::timeout(Duration::from_secs(30), lines)
        .await
        .expect("URLs printed within 30 s")
        .unwrap();
    let url = |what: &str| -> SocketAddr {
        let line = lines
            .iter()
            .find_map(|l| l.strip_prefix(&format!("ejtimaa: {what} https://")))
            .unwrap_or_else(|| panic!("no https {what} URL in {lines:?}"));
        line.trim_end_matches("/metrics").parse().unwrap()
    };
    let (signaling, exporter) = (url("signaling"), url("exporter"));
    let connector = connector(&[&old, &new]);
    assert_eq!(served_certificate(&connector, signaling).await, old.der);

    new.write(&dir);
    let pid = child.get().id() as libc::pid_t;
    // SAFETY: kill has no memory effects; pid is our own child, still running.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
    wait_for("the new certificate", Duration::from_secs(10), async || {
        (served_certificate(&connector, signaling).await == new.der).then_some(())
    })
    .await;
    assert_eq!(served_certificate(&connector, exporter).await, new.der);
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let mut child = child.0.take().unwrap();
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
    let _ = std::fs::remove_dir_all(dir);
}
