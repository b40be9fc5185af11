//! RTP negotiation without SDP: what the router offers, what we tell it we
//! can receive (`join`), what we send (`produce`), and what a consumer will
//! carry (`newConsumer`), all in mediasoup's JSON shapes.
//!
//! The rule that keeps str0m and mediasoup in step: str0m is configured with
//! the router's payload types and header extension ids, so the numbers in
//! every message are the ones on the wire.

use serde_json::{Value, json};
use str0m::RtcConfig;
use str0m::format::{Codec, FormatParams};
use str0m::media::Frequency;
use str0m::rtp::{Extension, ExtensionMap};

use super::config::WireFeatures;
use super::error::PeerError;
use super::stats::MediaKind;

/// Header extension URIs (mediasoup's spelling).
pub const URI_MID: &str = "urn:ietf:params:rtp-hdrext:sdes:mid";
/// abs-send-time.
pub const URI_ABS_SEND_TIME: &str = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time";
/// transport-wide-cc.
pub const URI_TWCC: &str =
    "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01";

/// One codec of the router's capabilities that we use.
#[derive(Debug, Clone)]
pub struct RouterCodec {
    /// The router's payload type; we send and receive with it.
    pub payload_type: u8,
    /// Clock rate.
    pub clock_rate: u32,
    /// Channels (audio).
    pub channels: Option<u8>,
    /// The router's entry, verbatim, to copy into `join` and `produce`.
    raw: Value,
}

/// One header extension the router offers.
#[derive(Debug, Clone)]
pub(super) struct RouterExt {
    kind: Option<MediaKind>,
    pub(super) uri: String,
    pub(super) id: u8,
    raw: Value,
}

/// The router's RTP capabilities, reduced to what str0m can use.
#[derive(Debug, Clone)]
pub struct RouterCaps {
    /// Opus, if offered.
    pub opus: Option<RouterCodec>,
    /// VP8, if offered.
    pub vp8: Option<RouterCodec>,
    /// The payload type of VP8's `video/rtx` (its `apt`), if offered.
    pub vp8_rtx: Option<u8>,
    exts: Vec<RouterExt>,
    /// What we use of what is offered.
    features: WireFeatures,
}

pub(super) fn str0m_ext(uri: &str) -> Option<Extension> {
    Some(match uri {
        URI_MID => Extension::RtpMid,
        URI_ABS_SEND_TIME => Extension::AbsoluteSendTime,
        URI_TWCC => Extension::TransportSequenceNumber,
        "urn:ietf:params:rtp-hdrext:ssrc-audio-level" => Extension::AudioLevel,
        "urn:3gpp:video-orientation" => Extension::VideoOrientation,
        "http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time" => {
            Extension::AbsoluteCaptureTime
        }
        "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay" => Extension::PlayoutDelay,
        "urn:ietf:params:rtp-hdrext:toffset" => Extension::TransmissionTimeOffset,
        _ => return None,
    })
}

fn frequency(clock_rate: u32) -> Option<Frequency> {
    match clock_rate {
        48_000 => Some(Frequency::FORTY_EIGHT_KHZ),
        90_000 => Some(Frequency::NINETY_KHZ),
        _ => None,
    }
}

impl RouterCaps {
    /// Reads `getRouterRtpCapabilities`' reply.
    pub fn parse(caps: &Value) -> Result<Self, PeerError> {
        let what = "getRouterRtpCapabilities";
        let codecs = caps["codecs"]
            .as_array()
            .ok_or_else(|| PeerError::bad(what, "no `codecs` array"))?;
        let mut opus = None;
        let mut vp8 = None;
        for c in codecs {
            let mime = c["mimeType"].as_str().unwrap_or_default();
            let slot = if mime.eq_ignore_ascii_case("audio/opus") {
                &mut opus
            } else if mime.eq_ignore_ascii_case("video/VP8") {
                &mut vp8
            } else {
                continue;
            };
            let Some(pt) = c["preferredPayloadType"]
                .as_u64()
                .and_then(|v| u8::try_from(v).ok())
                .filter(|pt| *pt < 128)
            else {
                continue;
            };
            let Some(clock_rate) = c["clockRate"].as_u64().and_then(|v| u32::try_from(v).ok())
            else {
                continue;
            };
            if frequency(clock_rate).is_none() || slot.is_some() {
                continue;
            }
            *slot = Some(RouterCodec {
                payload_type: pt,
                clock_rate,
                channels: c["channels"].as_u64().and_then(|v| u8::try_from(v).ok()),
                raw: c.clone(),
            });
        }
        // RTX entries name their codec by `apt`.
        let vp8_rtx = vp8.as_ref().and_then(|vp8| {
            codecs.iter().find_map(|c| {
                let mime = c["mimeType"].as_str().unwrap_or_default();
                let apt = c["parameters"]["apt"].as_u64();
                let pt = c["preferredPayloadType"]
                    .as_u64()
                    .and_then(|v| u8::try_from(v).ok())
                    .filter(|pt| *pt < 128)?;
                (mime.eq_ignore_ascii_case("video/rtx") && apt == Some(vp8.payload_type.into()))
                    .then_some(pt)
            })
        });
        let exts = caps["headerExtensions"]
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|e| {
                        Some(RouterExt {
                            kind: e["kind"].as_str().and_then(MediaKind::parse),
                            uri: e["uri"].as_str()?.to_string(),
                            id: e["preferredId"]
                                .as_u64()
                                .and_then(|v| u8::try_from(v).ok())
                                .filter(|id| (1..=14).contains(id))?,
                            raw: e.clone(),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(RouterCaps {
            opus,
            vp8,
            vp8_rtx,
            exts,
            features: WireFeatures::default(),
        })
    }

    /// The same capabilities, used with `features` (RTX and transport-cc
    /// only where the router offers them).
    pub fn with_features(mut self, features: WireFeatures) -> Self {
        self.features = features;
        self
    }

    /// The RTX payload type for VP8, when RTX is on and offered.
    pub fn rtx_payload_type(&self) -> Option<u8> {
        self.vp8_rtx.filter(|_| self.features.rtx)
    }

    fn twcc(&self) -> bool {
        self.features.twcc && self.ext_id(URI_TWCC).is_some()
    }

    /// The codec of `kind`, or why there is none.
    pub fn codec(&self, kind: MediaKind) -> Result<&RouterCodec, PeerError> {
        match kind {
            MediaKind::Audio => self.opus.as_ref().ok_or(PeerError::NoCodec("Opus codec")),
            MediaKind::Video => self.vp8.as_ref().ok_or(PeerError::NoCodec("VP8 codec")),
        }
    }

    /// The router's id for `uri` (any kind: mediasoup uses one id per URI).
    fn ext_id(&self, uri: &str) -> Option<u8> {
        self.exts.iter().find(|e| e.uri == uri).map(|e| e.id)
    }

    /// The extensions str0m writes on what we send: mid (until the SFU has
    /// seen the SSRC), abs-send-time and, with transport-cc on,
    /// transport-wide-cc, with the router's ids. str0m writes them on audio
    /// and video alike.
    pub fn send_extensions(&self) -> Vec<(&'static str, u8)> {
        [URI_MID, URI_ABS_SEND_TIME, URI_TWCC]
            .into_iter()
            .filter(|uri| *uri != URI_TWCC || self.features.twcc)
            .filter_map(|uri| Some((uri, self.ext_id(uri)?)))
            .collect()
    }

    /// The transport-cc feedback entry, when on.
    fn twcc_feedback(&self) -> Option<Value> {
        self.twcc()
            .then(|| json!({ "type": "transport-cc", "parameter": "" }))
    }

    /// What we can receive, for `join`: the router's Opus and VP8 entries
    /// with their payload types, VP8's RTX when on (the receiving str0m
    /// unwraps retransmissions), feedback we act on, and the mid and
    /// abs-send-time extensions, plus transport-wide-cc when on (the
    /// receiving transport then sends transport-cc feedback, which the
    /// SFU's estimate of our downlink needs).
    pub fn receive_capabilities(&self) -> Value {
        let mut codecs = Vec::new();
        if let Some(opus) = &self.opus {
            let mut c = opus.raw.clone();
            c["rtcpFeedback"] = json!(self.twcc_feedback().into_iter().collect::<Vec<_>>());
            codecs.push(c);
        }
        if let Some(vp8) = &self.vp8 {
            let mut c = vp8.raw.clone();
            let mut feedback = vec![
                json!({ "type": "nack", "parameter": "" }),
                json!({ "type": "nack", "parameter": "pli" }),
                json!({ "type": "ccm", "parameter": "fir" }),
            ];
            feedback.extend(self.twcc_feedback());
            c["rtcpFeedback"] = json!(feedback);
            codecs.push(c);
            if let Some(rtx) = self.rtx_payload_type() {
                codecs.push(json!({
                    "kind": "video",
                    "mimeType": "video/rtx",
                    "preferredPayloadType": rtx,
                    "clockRate": vp8.clock_rate,
                    "parameters": { "apt": vp8.payload_type },
                    "rtcpFeedback": [],
                }));
            }
        }
        let header_extensions: Vec<Value> = self
            .receive_exts()
            .map(|e| {
                let mut raw = e.raw.clone();
                raw["preferredEncrypt"] = json!(false);
                raw["direction"] = json!("sendrecv");
                raw
            })
            .collect();
        json!({ "codecs": codecs, "headerExtensions": header_extensions })
    }

    pub(super) fn receive_exts(&self) -> impl Iterator<Item = &RouterExt> {
        let twcc = self.features.twcc;
        self.exts.iter().filter(move |e| {
            e.uri == URI_MID
                || (e.uri == URI_ABS_SEND_TIME && e.kind == Some(MediaKind::Video))
                || (twcc && e.uri == URI_TWCC)
        })
    }

    /// str0m's configuration for the sending transport.
    pub fn send_config(&self) -> RtcConfig {
        let mut exts = ExtensionMap::empty();
        for (uri, id) in self.send_extensions() {
            if let Some(ext) = str0m_ext(uri) {
                exts.set(id, ext);
            }
        }
        self.config_with(exts)
    }

    /// str0m's configuration for the receiving transport: the ids we
    /// announced in `join`, which mediasoup copies into every consumer.
    pub fn receive_config(&self) -> RtcConfig {
        let mut exts = ExtensionMap::empty();
        for e in self.receive_exts() {
            if let Some(ext) = str0m_ext(&e.uri) {
                exts.set(e.id, ext);
            }
        }
        self.config_with(exts)
    }

    fn config_with(&self, exts: ExtensionMap) -> RtcConfig {
        let mut config = RtcConfig::new().clear_codecs().set_extension_map(exts);
        let codecs = config.codec_config();
        if let Some(opus) = &self.opus
            && let Some(freq) = frequency(opus.clock_rate)
        {
            let format = FormatParams {
                use_inband_fec: Some(true),
                ..FormatParams::default()
            };
            codecs.add_config(
                opus.payload_type.into(),
                None,
                Codec::Opus,
                freq,
                Some(opus.channels.unwrap_or(2)),
                format,
            );
        }
        if let Some(vp8) = &self.vp8
            && let Some(freq) = frequency(vp8.clock_rate)
        {
            codecs.add_config(
                vp8.payload_type.into(),
                self.rtx_payload_type().map(Into::into),
                Codec::Vp8,
                freq,
                None,
                FormatParams::default(),
            );
        }
        config
    }

    /// `produce`'s `rtpParameters` for exactly what str0m will send;
    /// `rtx_ssrc` is the RTX stream's SSRC when str0m has one (VP8 with
    /// RTX on).
    #[cfg(test)]
    pub fn producer_parameters(
        &self,
        kind: MediaKind,
        mid: &str,
        ssrc: u32,
        rtx_ssrc: Option<u32>,
        cname: &str,
    ) -> Result<Value, PeerError> {
        self.producer_parameters_of(kind, mid, &[SendEncoding::single(ssrc, rtx_ssrc)], cname)
    }

    /// `produce`'s `rtpParameters` for one or several encodings (simulcast:
    /// lowest spatial layer first, each told apart by its SSRC, as
    /// mediasoup accepts without rid header extensions).
    pub fn producer_parameters_of(
        &self,
        kind: MediaKind,
        mid: &str,
        encodings: &[SendEncoding],
        cname: &str,
    ) -> Result<Value, PeerError> {
        let codec = self.codec(kind)?;
        let mut feedback = match kind {
            MediaKind::Audio => vec![],
            MediaKind::Video => vec![
                json!({ "type": "nack", "parameter": "" }),
                json!({ "type": "nack", "parameter": "pli" }),
                json!({ "type": "ccm", "parameter": "fir" }),
            ],
        };
        feedback.extend(self.twcc_feedback());
        let mut c = json!({
            "mimeType": codec.raw["mimeType"],
            "payloadType": codec.payload_type,
            "clockRate": codec.clock_rate,
            "parameters": codec.raw.get("parameters").cloned().unwrap_or_else(|| json!({})),
            "rtcpFeedback": feedback,
        });
        if let Some(ch) = codec.channels {
            c["channels"] = json!(ch);
        }
        let exts: Vec<Value> = self
            .send_extensions()
            .into_iter()
            .map(|(uri, id)| json!({ "uri": uri, "id": id, "encrypt": false }))
            .collect();
        let mut codecs = vec![c];
        let rtx_pt = self.rtx_payload_type().filter(|_| kind == MediaKind::Video);
        if let Some(rtx_pt) = rtx_pt
            && encodings.iter().any(|e| e.rtx_ssrc.is_some())
        {
            codecs.push(json!({
                "mimeType": "video/rtx",
                "payloadType": rtx_pt,
                "clockRate": codec.clock_rate,
                "parameters": { "apt": codec.payload_type },
                "rtcpFeedback": [],
            }));
        }
        let encodings: Vec<Value> = encodings
            .iter()
            .map(|e| {
                let mut encoding = json!({ "ssrc": e.ssrc });
                if let (Some(rtx_ssrc), Some(_)) = (e.rtx_ssrc, rtx_pt) {
                    encoding["rtx"] = json!({ "ssrc": rtx_ssrc });
                }
                if let Some(scale) = e.scale_down {
                    encoding["scaleResolutionDownBy"] = json!(scale);
                }
                if let Some(max) = e.max_bitrate {
                    encoding["maxBitrate"] = json!(max);
                }
                encoding
            })
            .collect();
        Ok(json!({
            "mid": mid,
            "codecs": codecs,
            "headerExtensions": exts,
            "encodings": encodings,
            "rtcp": { "cname": cname, "reducedSize": true },
        }))
    }
}

/// One encoding of a producer as str0m sends it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SendEncoding {
    /// Its SSRC.
    pub ssrc: u32,
    /// Its RTX stream's SSRC, when str0m has one.
    pub rtx_ssrc: Option<u32>,
    /// A simulcast layer's `scaleResolutionDownBy`.
    pub scale_down: Option<f64>,
    /// A simulcast layer's `maxBitrate`, bits per second.
    pub max_bitrate: Option<u32>,
}

impl SendEncoding {
    /// The only encoding of a stream.
    pub fn single(ssrc: u32, rtx_ssrc: Option<u32>) -> Self {
        SendEncoding {
            ssrc,
            rtx_ssrc,
            scale_down: None,
            max_bitrate: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::offer::ConsumerOffer;
    use super::*;

    /// What mediasoup 0.33 answers for the server's default codecs.
    fn router_caps() -> Value {
        json!({
            "codecs": [
                { "kind": "audio", "mimeType": "audio/opus", "preferredPayloadType": 100,
                  "clockRate": 48000, "channels": 2, "parameters": { "useinbandfec": 1 },
                  "rtcpFeedback": [{ "type": "transport-cc", "parameter": "" }] },
                { "kind": "video", "mimeType": "video/VP8", "preferredPayloadType": 101,
                  "clockRate": 90000, "parameters": {},
                  "rtcpFeedback": [{ "type": "nack", "parameter": "" }] },
                { "kind": "video", "mimeType": "video/rtx", "preferredPayloadType": 102,
                  "clockRate": 90000, "parameters": { "apt": 101 }, "rtcpFeedback": [] }
            ],
            "headerExtensions": [
                { "kind": "audio", "uri": URI_MID, "preferredId": 1, "preferredEncrypt": false, "direction": "sendrecv" },
                { "kind": "video", "uri": URI_MID, "preferredId": 1, "preferredEncrypt": false, "direction": "sendrecv" },
                { "kind": "video", "uri": URI_ABS_SEND_TIME, "preferredId": 4, "preferredEncrypt": false, "direction": "sendrecv" },
                { "kind": "audio", "uri": URI_TWCC, "preferredId": 5, "preferredEncrypt": false, "direction": "sendrecv" },
                { "kind": "video", "uri": URI_TWCC, "preferredId": 5, "preferredEncrypt": false, "direction": "sendrecv" }
            ]
        })
    }

    fn mimes(recv: &Value) -> Vec<&str> {
        recv["codecs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["mimeType"].as_str().unwrap())
            .collect()
    }

    fn ext_ids(recv: &Value) -> Vec<(&str, u64)> {
        recv["headerExtensions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["uri"].as_str().unwrap(),
                    e["preferredId"].as_u64().unwrap(),
                )
            })
            .collect()
    }

    fn has_twcc_feedback(codec: &Value) -> bool {
        codec["rtcpFeedback"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["type"] == "transport-cc")
    }

    const OFF: WireFeatures = WireFeatures {
        rtx: false,
        twcc: false,
        pacing: false,
    };

    #[test]
    fn receives_like_a_browser_rtx_and_transport_cc_included() {
        let caps = RouterCaps::parse(&router_caps()).unwrap();
        assert_eq!(caps.opus.as_ref().unwrap().payload_type, 100);
        assert_eq!(caps.vp8.as_ref().unwrap().payload_type, 101);
        assert_eq!(caps.vp8_rtx, Some(102));
        let recv = caps.receive_capabilities();
        assert_eq!(mimes(&recv), ["audio/opus", "video/VP8", "video/rtx"]);
        assert_eq!(recv["codecs"][2]["parameters"]["apt"], 101);
        assert_eq!(recv["codecs"][2]["preferredPayloadType"], 102);
        assert!(has_twcc_feedback(&recv["codecs"][0]));
        assert!(has_twcc_feedback(&recv["codecs"][1]));
        assert_eq!(
            ext_ids(&recv),
            [
                (URI_MID, 1),
                (URI_MID, 1),
                (URI_ABS_SEND_TIME, 4),
                (URI_TWCC, 5),
                (URI_TWCC, 5)
            ]
        );
        assert_eq!(
            caps.send_extensions(),
            [(URI_MID, 1), (URI_ABS_SEND_TIME, 4), (URI_TWCC, 5)]
        );
    }

    #[test]
    fn without_the_features_no_rtx_and_no_transport_cc() {
        let caps = RouterCaps::parse(&router_caps())
            .unwrap()
            .with_features(OFF);
        let recv = caps.receive_capabilities();
        assert_eq!(mimes(&recv), ["audio/opus", "video/VP8"]);
        assert!(!has_twcc_feedback(&recv["codecs"][0]));
        assert!(!has_twcc_feedback(&recv["codecs"][1]));
        assert_eq!(
            ext_ids(&recv),
            [(URI_MID, 1), (URI_MID, 1), (URI_ABS_SEND_TIME, 4)]
        );
        assert_eq!(
            caps.send_extensions(),
            [(URI_MID, 1), (URI_ABS_SEND_TIME, 4)]
        );
        assert_eq!(caps.rtx_payload_type(), None);
        let p = caps
            .producer_parameters(MediaKind::Video, "1", 42, Some(43), "c")
            .unwrap();
        assert_eq!(p["codecs"].as_array().unwrap().len(), 1);
        assert!(p["encodings"][0].get("rtx").is_none());
        assert!(!has_twcc_feedback(&p["codecs"][0]));
    }

    #[test]
    fn producer_parameters_match_str0m() {
        let caps = RouterCaps::parse(&router_caps()).unwrap();
        let p = caps
            .producer_parameters(MediaKind::Video, "1", 42, Some(43), "c")
            .unwrap();
        assert_eq!(p["codecs"][0]["payloadType"], 101);
        assert_eq!(p["encodings"][0]["ssrc"], 42);
        // RTX as str0m sends it: its own SSRC and the router's RTX type.
        assert_eq!(p["codecs"][1]["mimeType"], "video/rtx");
        assert_eq!(p["codecs"][1]["payloadType"], 102);
        assert_eq!(p["codecs"][1]["parameters"]["apt"], 101);
        assert_eq!(p["encodings"][0]["rtx"]["ssrc"], 43);
        assert!(has_twcc_feedback(&p["codecs"][0]));
        assert_eq!(p["mid"], "1");
        assert_eq!(p["headerExtensions"].as_array().unwrap().len(), 3);
        let a = caps
            .producer_parameters(MediaKind::Audio, "0", 7, None, "c")
            .unwrap();
        assert_eq!(a["codecs"].as_array().unwrap().len(), 1);
        assert_eq!(a["codecs"][0]["channels"], 2);
        assert_eq!(a["codecs"][0]["parameters"]["useinbandfec"], 1);
        // A router without RTX: none announced even when on.
        let mut no_rtx = router_caps();
        no_rtx["codecs"].as_array_mut().unwrap().pop();
        let caps = RouterCaps::parse(&no_rtx).unwrap();
        assert_eq!(caps.vp8_rtx, None);
        let p = caps
            .producer_parameters(MediaKind::Video, "1", 42, Some(43), "c")
            .unwrap();
        assert!(p["encodings"][0].get("rtx").is_none());
    }

    #[test]
    fn simulcast_parameters_have_an_encoding_per_layer() {
        let caps = RouterCaps::parse(&router_caps()).unwrap();
        let layers: Vec<SendEncoding> = [(10, 11, 4.0), (20, 21, 2.0), (30, 31, 1.0)]
            .into_iter()
            .map(|(ssrc, rtx, scale)| SendEncoding {
                scale_down: Some(scale),
                max_bitrate: Some(100_000),
                ..SendEncoding::single(ssrc, Some(rtx))
            })
            .collect();
        let p = caps
            .producer_parameters_of(MediaKind::Video, "1", &layers, "c")
            .unwrap();
        let encodings = p["encodings"].as_array().unwrap();
        assert_eq!(encodings.len(), 3);
        assert_eq!(encodings[0]["ssrc"], 10);
        assert_eq!(encodings[0]["rtx"]["ssrc"], 11);
        assert_eq!(encodings[0]["scaleResolutionDownBy"], 4.0);
        assert_eq!(encodings[2]["ssrc"], 30);
        assert_eq!(encodings[2]["scaleResolutionDownBy"], 1.0);
        // One RTX codec for all of them.
        assert_eq!(p["codecs"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        for v in [json!(null), json!({"codecs": 5}), json!("x")] {
            assert!(RouterCaps::parse(&v).is_err());
        }
        let caps = RouterCaps::parse(&json!({"codecs": [{"mimeType": 1}]})).unwrap();
        assert!(caps.codec(MediaKind::Audio).is_err());
        for v in [
            json!(null),
            json!({"id": "c", "producerId": "p", "peerId": "x", "kind": "text"}),
            json!({"id": "c", "producerId": "p", "peerId": "x", "kind": "audio",
                   "rtpParameters": {"encodings": [{"ssrc": -1}]}}),
        ] {
            assert!(ConsumerOffer::parse(&v).is_err(), "{v}");
        }
    }

    #[test]
    fn consumer_offer_is_checked_against_our_ids() {
        let caps = RouterCaps::parse(&router_caps()).unwrap();
        let offer = |pt: u8, ext_id: u8| {
            ConsumerOffer::parse(&json!({
                "id": "c", "producerId": "p", "peerId": "x", "kind": "video",
                "rtpParameters": {
                    "mid": "3",
                    "codecs": [{ "mimeType": "video/VP8", "payloadType": pt }],
                    "headerExtensions": [{ "uri": URI_ABS_SEND_TIME, "id": ext_id }],
                    "encodings": [{ "ssrc": 1234, "rtx": { "ssrc": 1235 } }]
                }
            }))
            .unwrap()
        };
        assert_eq!(offer(101, 4).rtx_ssrc, Some(1235));
        assert!(offer(101, 4).check(&caps).is_ok());
        assert!(offer(96, 4).check(&caps).is_err());
        assert!(offer(101, 9).check(&caps).is_err());
    }
}
