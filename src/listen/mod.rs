//! The HTTP listeners (signaling and exporter), hardened alike: caps on
//! connections overall and per client address, a time limit on the TLS
//! handshake and on each request's headers (slowloris), a time limit on each
//! response, and certificates that can be reloaded while running.

mod accept;
mod caps;
mod tls;

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ejtimaa_systems::export::Limit;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use tls::Certificates;

use crate::signaling::RefusalTally;

/// Plain HTTP or HTTPS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// Plain HTTP.
    Http,
    /// HTTP over TLS.
    Https,
}

impl Scheme {
    /// `http` or `https`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one listener allows its clients.
#[derive(Clone, Copy, Debug)]
pub struct ListenLimits {
    /// For the TLS handshake, and then for each request's headers (also
    /// how long an idle keep-alive connection stays open).
    pub header_timeout: Duration,
    /// From a request's headers to its response's; then 408 and a close.
    pub request_timeout: Duration,
    /// Connections open at once.
    pub max_connections: usize,
    /// Connections open at once from one client address (IPv6: one /64).
    pub max_connections_per_ip: usize,
    /// What a refusal by each cap is counted as: (overall, per address).
    pub counted_as: (Limit, Limit),
}

/// A bound listener, not serving yet.
pub struct Listener {
    what: &'static str,
    tcp: TcpListener,
    addr: SocketAddr,
    tls: Option<Arc<Certificates>>,
}

impl Listener {
    /// Binds `addr` for the listener called `what` (in errors and logs),
    /// serving HTTPS with `tls` when given.
    pub async fn bind(
        what: &'static str,
        addr: SocketAddr,
        tls: Option<Arc<Certificates>>,
    ) -> anyhow::Result<Self> {
        let tcp = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding the {what} listener to {addr}"))?;
        let addr = tcp.local_addr()?;
        Ok(Self {
            what,
            tcp,
            addr,
            tls,
        })
    }

    /// The bound address (with the port picked, if 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https` when serving TLS.
    pub fn scheme(&self) -> Scheme {
        match self.tls {
            Some(_) => Scheme::Https,
            None => Scheme::Http,
        }
    }

    /// The task serving `app` within `limits` until `stop` turns true,
    /// counting refused connections in `refusals`.
    pub fn serve(
        self,
        app: axum::Router,
        limits: ListenLimits,
        refusals: Arc<RefusalTally>,
        stop: watch::Receiver<bool>,
    ) -> anyhow::Result<impl Future<Output = ()> + Send + 'static> {
        let acceptor = self.tls.as_ref().map(Certificates::acceptor).transpose()?;
        let caps = caps::Caps::new(
            self.what,
            limits.max_connections,
            limits.max_connections_per_ip,
            limits.counted_as,
            refusals,
        );
        let timeouts = accept::Timeouts {
            header: limits.header_timeout,
            request: limits.request_timeout,
        };
        Ok(accept::run(
            self.what, self.tcp, app, acceptor, caps, timeouts, stop,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn get_status(addr: SocketAddr, path: &str) -> String {
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        tcp.write_all(request.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut raw))
            .await
            .expect("an answer within 10 s")
            .unwrap();
        let text = String::from_utf8_lossy(&raw);
        text.lines().next().unwrap_or_default().to_string()
    }

    #[tokio::test]
    async fn a_response_not_ready_in_time_is_a_408_and_others_go_on() {
        let app = axum::Router::new()
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    "late"
                }),
            )
            .route("/fast", get(|| async { "ok" }));
        let addr = SocketAddr::from(([127, 0, 0, 1], 0));
        let listener = Listener::bind("test", addr, None).await.unwrap();
        let addr = listener.local_addr();
        assert_eq!(listener.scheme(), Scheme::Http);
        let limits = ListenLimits {
            header_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_millis(300),
            max_connections: 8,
            max_connections_per_ip: 8,
            counted_as: (Limit::Connections, Limit::ConnectionsPerIp),
        };
        let (stop, stopped) = watch::channel(false);
        let refusals = Arc::new(RefusalTally::default());
        let serving = tokio::spawn(listener.serve(app, limits, refusals, stopped).unwrap());
        assert_eq!(
            get_status(addr, "/slow").await,
            "HTTP/1.1 408 Request Timeout"
        );
        assert_eq!(get_status(addr, "/fast").await, "HTTP/1.1 200 OK");
        stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(10), serving)
            .await
            .expect("the listener stops")
            .unwrap();
    }
}
