//! What a consumer offered in `newConsumer` will carry, and whether it
//! matches the payload types and header extension ids we told the router.

use serde_json::Value;

use super::error::PeerError;
use super::negotiate::{RouterCaps, str0m_ext};
use super::stats::MediaKind;

/// A `newConsumer` request, reduced to what reception needs.
#[derive(Debug, Clone)]
pub struct ConsumerOffer {
    /// Consumer id.
    pub id: String,
    /// Its producer.
    pub producer_id: String,
    /// The producer's peer.
    pub peer_id: String,
    /// Audio or video.
    pub kind: MediaKind,
    /// The mid the server put in its parameters.
    pub mid: String,
    /// The SSRC the server sends with.
    pub ssrc: u32,
    /// The SSRC of its retransmissions, when it has RTX.
    pub rtx_ssrc: Option<u32>,
    /// The payload type it sends with.
    pub payload_type: u8,
    /// Header extension (uri, id) pairs it writes.
    pub extensions: Vec<(String, u8)>,
}

impl ConsumerOffer {
    /// Reads a `newConsumer` request's data.
    pub fn parse(data: &Value) -> Result<Self, PeerError> {
        let what = "newConsumer";
        let s = |key: &str| -> Result<String, PeerError> {
            data[key]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| PeerError::bad(what, format!("no string `{key}`")))
        };
        let kind = data["kind"]
            .as_str()
            .and_then(MediaKind::parse)
            .ok_or_else(|| PeerError::bad(what, "`kind` is not audio or video"))?;
        let params = &data["rtpParameters"];
        let ssrc = params["encodings"][0]["ssrc"]
            .as_u64()
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(|| PeerError::bad(what, "no SSRC in the first encoding"))?;
        let rtx_ssrc = params["encodings"][0]["rtx"]["ssrc"]
            .as_u64()
            .and_then(|v| u32::try_from(v).ok());
        let payload_type = params["codecs"][0]["payloadType"]
            .as_u64()
            .and_then(|v| u8::try_from(v).ok())
            .filter(|pt| *pt < 128)
            .ok_or_else(|| PeerError::bad(what, "no payload type"))?;
        let mid = params["mid"]
            .as_str()
            .filter(|m| !m.is_empty() && m.len() <= 16)
            .ok_or_else(|| PeerError::bad(what, "no usable `mid`"))?
            .to_string();
        let extensions = params["headerExtensions"]
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|e| {
                        let id = e["id"].as_u64().and_then(|v| u8::try_from(v).ok())?;
                        Some((e["uri"].as_str()?.to_string(), id))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(ConsumerOffer {
            id: s("id")?,
            producer_id: s("producerId")?,
            peer_id: s("peerId")?,
            kind,
            mid,
            ssrc,
            rtx_ssrc,
            payload_type,
            extensions,
        })
    }

    /// Whether our receiving str0m will understand this consumer's packets:
    /// its payload type is the router's and its extension ids are ours.
    pub fn check(&self, caps: &RouterCaps) -> Result<(), String> {
        let codec = caps.codec(self.kind).map_err(|e| e.to_string())?;
        if codec.payload_type != self.payload_type {
            return Err(format!(
                "payload type {} is not the router's {}",
                self.payload_type, codec.payload_type
            ));
        }
        for (uri, id) in &self.extensions {
            if str0m_ext(uri).is_some() && caps.receive_exts().all(|e| e.uri != *uri || e.id != *id)
            {
                return Err(format!(
                    "header extension {uri} with id {id} was not offered"
                ));
            }
        }
        Ok(())
    }
}
