//! HTTPS signaling (`[http.tls]`): a socket.io handshake over TLS with a
//! self-signed certificate, and clear start-up errors for bad files.

mod support;

use std::sync::Arc;

use ejtimaa::config::TlsConfig;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_io_handshake_over_tls() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let dir = std::env::temp_dir().join(format!("ejtimaa-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();

    let mut config = test_config();
    config.http.tls = Some(TlsConfig {
        cert: cert_path.clone(),
        key: key_path.clone(),
    });
    let server = start(config.clone()).await;

    let mut roots = RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let client = ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = TlsConnector::from(Arc::new(client));

    // A client that connects and never handshakes holds up no one.
    let _idle = tokio::net::TcpStream::connect(server.signaling_addr)
        .await
        .unwrap();

    let tcp = tokio::net::TcpStream::connect(server.signaling_addr)
        .await
        .unwrap();
    let mut tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .expect("TLS handshake");
    let request = "GET /socket.io/?EIO=4&transport=polling&roomId=r&peerId=p HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let _ = tls.read_to_end(&mut response).await;
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response.contains("0{\"sid\":"),
        "an Engine.IO open packet:\n{response}"
    );

    // Plain HTTP on the TLS port gets nowhere.
    let (status, ..) = tokio::time::timeout(std::time::Duration::from_secs(15), async {
        let mut tcp = tokio::net::TcpStream::connect(server.signaling_addr)
            .await
            .unwrap();
        tcp.write_all(request.as_bytes()).await.unwrap();
        let mut buf = Vec::new();
        let _ = tcp.read_to_end(&mut buf).await;
        (String::from_utf8_lossy(&buf).starts_with("HTTP/1.1 200"),)
    })
    .await
    .unwrap();
    assert!(!status);
    server.shutdown().await;

    // Bad files stop the server before it starts, saying which file.
    config.http.tls = Some(TlsConfig {
        cert: dir.join("missing.pem"),
        key: key_path.clone(),
    });
    let err = ejtimaa::server::Server::start(config.clone())
        .await
        .err()
        .expect("refused");
    assert!(format!("{err:#}").contains("missing.pem"), "{err:#}");
    config.http.tls = Some(TlsConfig {
        cert: key_path.clone(),
        key: key_path,
    });
    let err = ejtimaa::server::Server::start(config)
        .await
        .err()
        .expect("refused");
    assert!(format!("{err:#}").contains("certificate"), "{err:#}");
    let _ = std::fs::remove_dir_all(dir);
}
