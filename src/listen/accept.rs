//! The accept loop: each connection is checked against the caps, handshaken
//! (TLS) within the header timeout, then served by hyper with a header-read
//! timeout and a timeout on each response.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::{Service, service_fn};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use super::caps::{Caps, Counted};

/// What a connection refused by a cap reads, on a plain HTTP listener.
const REFUSED: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";

/// How long a connection may take for each step.
#[derive(Clone, Copy, Debug)]
pub(super) struct Timeouts {
    /// The TLS handshake, and then each request's headers.
    pub(super) header: Duration,
    /// From a request's headers to its response's.
    pub(super) request: Duration,
}

/// Serves `app` on `tcp` until `stop` turns true; the connections left are
/// then shut down gracefully (or dropped with this task when it is aborted).
pub(super) async fn run(
    what: &'static str,
    tcp: TcpListener,
    app: Router,
    tls: Option<TlsAcceptor>,
    caps: Arc<Caps>,
    timeouts: Timeouts,
    mut stop: watch::Receiver<bool>,
) {
    let connection_stop = stop.clone();
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = tcp.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of descriptors, most likely: wait for some to close.
                        tracing::warn!("{what}: accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Ok(slot) = caps.admit(peer.ip()) else {
                    if tls.is_none() {
                        // Best effort, never waiting: the socket is new, its buffer empty.
                        let _ = stream.try_write(REFUSED);
                    }
                    continue;
                };
                connections.spawn(connection(
                    Counted::new(stream, slot),
                    peer,
                    tls.clone(),
                    app.clone(),
                    timeouts,
                    connection_stop.clone(),
                ));
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            () = stopped(&mut stop) => break,
        }
    }
    while connections.join_next().await.is_some() {}
}

async fn connection(
    stream: Counted<TcpStream>,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    app: Router,
    timeouts: Timeouts,
    stop: watch::Receiver<bool>,
) {
    let Some(acceptor) = tls else {
        return serve_http(stream, peer, app, timeouts, stop).await;
    };
    match tokio::time::timeout(timeouts.header, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => serve_http(stream, peer, app, timeouts, stop).await,
        Ok(Err(e)) => tracing::debug!(%peer, "TLS handshake failed: {e}"),
        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
    }
}

async fn serve_http<I>(
    io: I,
    peer: SocketAddr,
    app: Router,
    timeouts: Timeouts,
    mut stop: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let app = TowerToHyperService::new(app);
    let service = service_fn(move |request: Request<Incoming>| {
        let response = app.call(request);
        async move {
            Ok::<_, Infallible>(
                match tokio::time::timeout(timeouts.request, response).await {
                    Ok(Ok(response)) => response,
                    Ok(Err(never)) => match never {},
                    Err(_) => timed_out(),
                },
            )
        }
    });
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(timeouts.header);
    let conn = http
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(conn);
    let mut stopping = false;
    loop {
        tokio::select! {
            ended = conn.as_mut() => {
                if let Err(e) = ended {
                    tracing::debug!(%peer, "connection ended: {e}");
                }
                return;
            }
            () = stopped(&mut stop), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// Until `stop` turns true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// The answer to a request whose response was not ready in time; the
/// connection closes after it.
fn timed_out() -> Response<Body> {
    let mut response = Response::new(Body::from("request timed out\n"));
    *response.status_mut() = StatusCode::REQUEST_TIMEOUT;
    response.headers_mut().insert(
        header::CONNECTION,
        header::HeaderValue::from_static("close"),
    );
    response
}
