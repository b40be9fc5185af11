//! Opening a connection: the URL, the websocket upgrade, the Engine.IO open
//! packet and the namespace connect.

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::Connector;
use tokio_tungstenite::tungstenite::{
    Message,
    client::IntoClientRequest,
    http::{HeaderValue, header::USER_AGENT},
    protocol::WebSocketConfig,
};
use url::Url;

use super::{
    connection::WsStream,
    engine_io::{self, EnginePacket, OpenInfo},
    error::Error,
    packet::{self, DEFAULT_NAMESPACE, Packet},
};

/// The socket.io server's default path, used when the URL names none.
const DEFAULT_PATH: &str = "/socket.io/";

/// Builds the websocket URL: `ws://host:port/socket.io/?EIO=4&transport=websocket&<query>`.
///
/// Accepts `http://` and `ws://`, and `https://` and `wss://` (TLS). A path
/// other than `/` is kept, for servers mounted elsewhere. Query values are
/// percent-encoded here.
pub(crate) fn websocket_url(base: &str, query: &[(&str, &str)]) -> Result<Url, Error> {
    let invalid = |reason: &str| Error::InvalidUrl {
        url: base.to_owned(),
        reason: reason.to_owned(),
    };
    let mut url = Url::parse(base).map_err(|e| invalid(&e.to_string()))?;
    match url.scheme() {
        "ws" => {}
        "http" => url
            .set_scheme("ws")
            .map_err(|()| invalid("cannot switch to ws"))?,
        "wss" => {}
        "https" => url
            .set_scheme("wss")
            .map_err(|()| invalid("cannot switch to wss"))?,
        _ => return Err(invalid("the scheme must be http, https, ws or wss")),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("no host"));
    }
    if url.path().is_empty() || url.path() == "/" {
        url.set_path(DEFAULT_PATH);
    }
    url.query_pairs_mut()
        .append_pair("EIO", "4")
        .append_pair("transport", "websocket")
        .extend_pairs(query);
    Ok(url)
}

/// What the handshake learned.
pub(crate) struct Handshake {
    pub open: OpenInfo,
    /// The Socket.IO socket id from `40{"sid":..}`.
    pub sid: String,
}

/// Upgrades to a websocket and runs the Engine.IO + Socket.IO handshake.
/// The caller bounds the whole thing with the connect timeout.
pub(crate) async fn open(
    url: &Url,
    user_agent: Option<&str>,
    auth: Option<&Value>,
    max_message_size: usize,
    tls: Option<&crate::tls::Tls>,
) -> Result<(WsStream, Handshake), Error> {
    let mut request = url.as_str().into_client_request()?;
    if let Some(ua) = user_agent {
        let value =
            HeaderValue::from_str(ua).map_err(|_| Error::InvalidUserAgent(ua.to_owned()))?;
        request.headers_mut().insert(USER_AGENT, value);
    }
    let config = WebSocketConfig::default()
        // Signaling messages are small; tungstenite's 128 KiB eager read buffer
        // per connection would dominate the memory of a thousand-peer run.
        .read_buffer_size(16 * 1024)
        .max_message_size(Some(max_message_size))
        .max_frame_size(Some(max_message_size));
    // Nagle off: signaling is request/response of small frames; latency matters.
    let connector = match url.scheme() {
        "wss" => {
            let tls = tls.cloned().unwrap_or_else(crate::tls::system);
            Connector::Rustls(tls.config())
        }
        _ => Connector::Plain,
    };
    let (mut ws, _response) = tokio_tungstenite::connect_async_tls_with_config(
        request,
        Some(config),
        true,
        Some(connector),
    )
    .await?;

    let open = match engine_io::decode(&next_text(&mut ws).await?) {
        Ok(EnginePacket::Open(open)) => open,
        Ok(other) => {
            return Err(Error::Handshake(format!(
                "expected the engine.io open packet, got {other:?}"
            )));
        }
        Err(e) => return Err(Error::Handshake(format!("bad first frame: {e}"))),
    };

    let connect = Packet::Connect {
        nsp: DEFAULT_NAMESPACE.to_owned(),
        data: auth.cloned(),
    };
    ws.send(Message::text(connect.to_frame())).await?;

    loop {
        let text = next_text(&mut ws).await?;
        let sio = match engine_io::decode(&text) {
            Ok(EnginePacket::Message(sio)) => sio,
            // The server may ping before it answers the connect.
            Ok(EnginePacket::Ping(payload)) => {
                ws.send(Message::text(engine_io::pong(payload))).await?;
                continue;
            }
            Ok(EnginePacket::Close) => {
                return Err(Error::Handshake("server closed the session".into()));
            }
            Ok(_) => continue,
            Err(e) => return Err(Error::Handshake(format!("bad frame: {e}"))),
        };
        match packet::decode(sio) {
            Ok(Packet::Connect { nsp, data }) if nsp == DEFAULT_NAMESPACE => {
                let sid = data
                    .as_ref()
                    .and_then(|d| d.get("sid"))
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        Error::Handshake(
                            "connect answer without a sid (not a socket.io v5 server?)".into(),
                        )
                    })?;
                return Ok((
                    ws,
                    Handshake {
                        open,
                        sid: sid.to_owned(),
                    },
                ));
            }
            Ok(Packet::ConnectError { nsp, data }) if nsp == DEFAULT_NAMESPACE => {
                return Err(Error::ConnectRefused(data));
            }
            Ok(Packet::Disconnect { nsp }) if nsp == DEFAULT_NAMESPACE => {
                return Err(Error::Handshake(
                    "server disconnected during the handshake".into(),
                ));
            }
            Ok(other) => {
                tracing::debug!(packet = ?other, "ignored a packet before the connect answer");
            }
            Err(e) => return Err(Error::Handshake(format!("bad socket.io packet: {e}"))),
        }
    }
}

/// The next text frame; other websocket frames are skipped.
async fn next_text(ws: &mut WsStream) -> Result<String, Error> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => return Ok(text.as_str().to_owned()),
            Some(Ok(Message::Close(_))) | None => {
                return Err(Error::Handshake(
                    "connection closed during the handshake".into(),
                ));
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(base: &str, query: &[(&str, &str)]) -> String {
        websocket_url(base, query)
            .map(String::from)
            .unwrap_or_else(|e| format!("error: {e}"))
    }

    #[test]
    fn builds_the_engine_io_url() {
        assert_eq!(
            url(
                "http://127.0.0.1:3443",
                &[("roomId", "r1"), ("peerId", "p1")]
            ),
            "ws://127.0.0.1:3443/socket.io/?EIO=4&transport=websocket&roomId=r1&peerId=p1"
        );
        assert_eq!(
            url("ws://h/", &[]),
            "ws://h/socket.io/?EIO=4&transport=websocket"
        );
        assert_eq!(
            url("ws://h/custom/", &[]),
            "ws://h/custom/?EIO=4&transport=websocket"
        );
    }

    #[test]
    fn tls_urls_become_wss() {
        assert_eq!(
            url("https://example.test:8443", &[]),
            "wss://example.test:8443/socket.io/?EIO=4&transport=websocket"
        );
        assert_eq!(
            url("wss://h/", &[]),
            "wss://h/socket.io/?EIO=4&transport=websocket"
        );
    }

    #[test]
    fn percent_encodes_query_values() {
        assert_eq!(
            url("http://h:1", &[("peerId", "a b&c=d/é")]),
            "ws://h:1/socket.io/?EIO=4&transport=websocket&peerId=a+b%26c%3Dd%2F%C3%A9"
        );
    }

    #[test]
    fn rejects_unusable_urls() {
        for base in ["ftp://h", "not a url", "h:3443", "wss://"] {
            assert!(
                matches!(websocket_url(base, &[]), Err(Error::InvalidUrl { .. })),
                "{base}"
            );
        }
    }
}
