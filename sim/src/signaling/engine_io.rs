//! Engine.IO v4 framing over a websocket.
//!
//! On the websocket transport every text message is exactly one Engine.IO
//! packet: a one-digit type and a payload, no length prefix or batching
//! (that is only for HTTP long-polling):
//!
//! | frame | meaning |
//! |---|---|
//! | `0{"sid":..,"pingInterval":..,"pingTimeout":..,"maxPayload":..}` | open (server → client, first frame) |
//! | `1` | close |
//! | `2` / `3` | ping / pong; in v4 the *server* pings and the client answers |
//! | `4<socket.io packet>` | message, see [`packet`](super::packet) |
//! | `5`, `6` | upgrade, noop (polling → websocket upgrade only) |

use std::time::Duration;

use serde_json::Value;

use super::error::PacketError;

/// Defaults of the Engine.IO reference server, used when the open packet omits a field.
const DEFAULT_PING_INTERVAL_MS: u64 = 25_000;
const DEFAULT_PING_TIMEOUT_MS: u64 = 20_000;
const DEFAULT_MAX_PAYLOAD: u64 = 1_000_000;
/// Upper bound on the heartbeat values we accept: a hostile `pingInterval` of
/// `u64::MAX` ms would otherwise overflow `Instant + Duration` (a panic).
const MAX_HEARTBEAT_MS: u64 = 24 * 60 * 60 * 1000;

/// Session parameters from the Engine.IO open packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenInfo {
    /// Engine.IO session id (not the Socket.IO socket id).
    pub sid: String,
    /// How often the server pings.
    pub ping_interval: Duration,
    /// How long the server waits for our pong; we allow it the same grace for its next ping.
    pub ping_timeout: Duration,
    /// The server's per-request body limit in bytes. It applies to HTTP
    /// long-polling; like the JS client, we do not enforce it on the websocket.
    pub max_payload: u64,
}

/// One decoded Engine.IO packet, borrowing its payload from the frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnginePacket<'a> {
    /// `0{...}`: session opened.
    Open(OpenInfo),
    /// `1`: the server closes the session.
    Close,
    /// `2<payload>`: heartbeat; answer with [`pong`] and the same payload.
    Ping(&'a str),
    /// `3<payload>`.
    Pong(&'a str),
    /// `4<socket.io packet>`.
    Message(&'a str),
    /// `5`.
    Upgrade,
    /// `6`.
    Noop,
}

/// Decodes one websocket text frame.
pub fn decode(frame: &str) -> Result<EnginePacket<'_>, PacketError> {
    let mut chars = frame.chars();
    let kind = chars.next().ok_or(PacketError::Empty)?;
    let rest = chars.as_str();
    Ok(match kind {
        '0' => EnginePacket::Open(decode_open(rest)?),
        '1' => EnginePacket::Close,
        '2' => EnginePacket::Ping(rest),
        '3' => EnginePacket::Pong(rest),
        '4' => EnginePacket::Message(rest),
        '5' => EnginePacket::Upgrade,
        '6' => EnginePacket::Noop,
        other => return Err(PacketError::UnknownEngineType(other)),
    })
}

fn decode_open(json: &str) -> Result<OpenInfo, PacketError> {
    let value: Value =
        serde_json::from_str(json).map_err(|e| PacketError::BadOpen(e.to_string()))?;
    let obj = value
        .as_object()
        .ok_or_else(|| PacketError::BadOpen("not a JSON object".into()))?;
    let sid = obj
        .get("sid")
        .and_then(Value::as_str)
        .ok_or_else(|| PacketError::BadOpen("missing string `sid`".into()))?
        .to_owned();
    // A field that is present must be a non-negative integer; a missing one takes the default.
    let number = |key: &str, default: u64| match obj.get(key) {
        None => Ok(default),
        Some(v) => v
            .as_u64()
            .ok_or_else(|| PacketError::BadOpen(format!("`{key}` is not a non-negative integer"))),
    };
    let ms = |key: &str, default: u64| {
        number(key, default).map(|n| Duration::from_millis(n.min(MAX_HEARTBEAT_MS)))
    };
    Ok(OpenInfo {
        sid,
        ping_interval: ms("pingInterval", DEFAULT_PING_INTERVAL_MS)?,
        ping_timeout: ms("pingTimeout", DEFAULT_PING_TIMEOUT_MS)?,
        max_payload: number("maxPayload", DEFAULT_MAX_PAYLOAD)?,
    })
}

/// The pong frame answering a ping with `payload` (usually empty).
pub fn pong(payload: &str) -> String {
    format!("3{payload}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_open_packet() {
        let frame = r#"0{"sid":"abc","upgrades":[],"pingInterval":300,"pingTimeout":200,"maxPayload":1000000}"#;
        assert_eq!(
            decode(frame),
            Ok(EnginePacket::Open(OpenInfo {
                sid: "abc".into(),
                ping_interval: Duration::from_millis(300),
                ping_timeout: Duration::from_millis(200),
                max_payload: 1_000_000,
            }))
        );
    }

    #[test]
    fn open_packet_defaults_and_clamps() {
        let Ok(EnginePacket::Open(open)) =
            decode(r#"0{"sid":"s","pingInterval":18446744073709551615}"#)
        else {
            panic!("expected open");
        };
        assert_eq!(open.ping_interval, Duration::from_millis(MAX_HEARTBEAT_MS));
        assert_eq!(
            open.ping_timeout,
            Duration::from_millis(DEFAULT_PING_TIMEOUT_MS)
        );
        assert_eq!(open.max_payload, DEFAULT_MAX_PAYLOAD);
    }

    #[test]
    fn rejects_bad_open_packets() {
        for frame in [
            "0",
            "0{",
            "0[]",
            r#"0{"pingInterval":1}"#,
            r#"0{"sid":5}"#,
            r#"0{"sid":"s","pingInterval":-1}"#,
            r#"0{"sid":"s","pingTimeout":"20"}"#,
            r#"0{"sid":"s","maxPayload":1.5}"#,
        ] {
            assert!(
                matches!(decode(frame), Err(PacketError::BadOpen(_))),
                "{frame}"
            );
        }
    }

    #[test]
    fn decodes_other_packets() {
        assert_eq!(decode("1"), Ok(EnginePacket::Close));
        assert_eq!(decode("2"), Ok(EnginePacket::Ping("")));
        assert_eq!(decode("2probe"), Ok(EnginePacket::Ping("probe")));
        assert_eq!(decode("3"), Ok(EnginePacket::Pong("")));
        assert_eq!(decode("42[\"a\"]"), Ok(EnginePacket::Message("2[\"a\"]")));
        assert_eq!(decode("5"), Ok(EnginePacket::Upgrade));
        assert_eq!(decode("6"), Ok(EnginePacket::Noop));
    }

    #[test]
    fn rejects_unknown_and_empty() {
        assert_eq!(decode(""), Err(PacketError::Empty));
        assert_eq!(decode("7"), Err(PacketError::UnknownEngineType('7')));
        assert_eq!(decode("x2"), Err(PacketError::UnknownEngineType('x')));
        // A multi-byte first character must not be sliced through.
        assert_eq!(decode("é"), Err(PacketError::UnknownEngineType('é')));
    }

    #[test]
    fn pong_echoes_payload() {
        assert_eq!(pong(""), "3");
        assert_eq!(pong("probe"), "3probe");
    }
}
