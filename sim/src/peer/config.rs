//! What one synthetic peer does.

use std::time::Duration;

/// Opus payload bitrate matching Chromium's fake microphone as mediasoup
/// counts it: [`CHROMIUM_OPUS_PACKET`] bytes a packet on the wire, of which
/// [`SIM_AUDIO_OVERHEAD`] are the sim's own RTP header and extensions, at
/// 50 packets a second (20 ms each).
pub const DEFAULT_AUDIO_BITRATE: u32 = (CHROMIUM_OPUS_PACKET - SIM_AUDIO_OVERHEAD) * 8 * 50;

/// Bytes a packet of Chromium's Opus (fake microphone, mediasoup-client
/// defaults) as mediasoup counts them, header and extensions included,
/// while it consumes a sim peer: 86.3 to 86.4 over three runs of
/// `tests/sim_fidelity.rs` (83 before the sim joins). It read 73 to 96
/// when the sim's Opus packets were random bytes (noise once decoded).
const CHROMIUM_OPUS_PACKET: u32 = 86;
/// What mediasoup counts of a sim Opus packet besides its payload: the
/// 12-byte RTP header and the extensions str0m writes (measured: 75.6
/// bytes a packet for 52.5 of payload).
const SIM_AUDIO_OVERHEAD: u32 = 23;

/// Spatial layers of a simulcast VP8 producer, like mediasoup-client's
/// default for VP8 (`scaleResolutionDownBy` 4, 2, 1).
pub const SIMULCAST_LAYERS: u8 = 3;

/// The bitrate of each spatial layer of a simulcast publisher whose
/// `video_bitrate` is `top`, lowest layer first.
///
/// The top layer gets the configured bitrate, so that a consumer of the
/// top layer receives what it would from the same publisher without
/// simulcast (consumer-side figures stay comparable between A/B runs); the
/// lower layers get the shares Chromium's simulcast allocator gives a
/// 720p/360p/180p stack at its targets (about 1200/500/150 kbit/s): 2/5
/// and 1/8 of the top. The uplink carries the sum, 1.525 times `top`.
pub fn layer_bitrates(top: u32) -> [u32; SIMULCAST_LAYERS as usize] {
    // At least 8 kbit/s each, the least a VP8 source is given.
    [(top / 8).max(8_000), (top / 5 * 2).max(8_000), top]
}

/// The behaviour of one synthetic peer. `Default` publishes audio and video
/// and consumes everything, like a browser tab with camera and microphone on.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerConfig {
    /// The room to join (`roomId` of the handshake).
    pub room_id: String,
    /// The peer id (`peerId` of the handshake); unique on the server.
    pub peer_id: String,
    /// The name sent in `join`.
    pub display_name: String,
    /// The User-Agent header of the signaling connection.
    pub user_agent: String,
    /// Publish an Opus stream (50 packets/s).
    pub publish_audio: bool,
    /// The Opus stream's average payload bitrate, in bits per second
    /// (packet sizes follow: 20 ms per packet).
    pub audio_bitrate: u32,
    /// Publish a VP8 stream.
    pub publish_video: bool,
    /// The VP8 stream's average bitrate, in bits per second.
    pub video_bitrate: u32,
    /// The VP8 stream's frame rate.
    pub video_fps: u32,
    /// Publish VP8 as [`SIMULCAST_LAYERS`] simulcast streams (bitrates from
    /// [`layer_bitrates`]) instead of one.
    pub simulcast: bool,
    /// The spatial layer asked for (`setConsumerPreferredLayers`) on every
    /// consumer of a simulcast producer; the top one is mediasoup's default.
    pub preferred_layer: u8,
    /// How often a VP8 keyframe is sent unprompted (PLI/FIR also trigger one).
    pub keyframe_interval: Duration,
    /// How the peer's media looks on the wire (RTX, transport-cc, pacing).
    pub wire: WireFeatures,
    /// Create a receiving transport, join with capabilities and accept every
    /// `newConsumer`.
    pub consume: bool,
    /// The join token sent in the handshake's `auth` object, for servers
    /// that require one.
    pub token: Option<String>,
    /// Drop every Nth packet the peer generates instead of sending it: a
    /// known uplink loss of 1/N, for testing loss measurements.
    pub drop_every: Option<u32>,
    /// Produce, but send no media: ICE, DTLS and the producers are set up
    /// and no packet follows (a join-rate burst measures set-up, not the
    /// media of the peers already in).
    pub silent: bool,
    /// Lose every Nth datagram the sending transport puts on the wire once
    /// connected (after str0m sent it): a lossy uplink, which the SFU's
    /// NACKs and our RTX repair for video when `wire.rtx` is on.
    pub lose_every: Option<u32>,
    /// TLS for a `wss`/`https` signaling URL (the system's roots when `None`).
    pub tls: Option<crate::tls::Tls>,
}

/// What a browser's WebRTC stack does on the wire besides the media itself,
/// each switchable for A/B runs. `Default` is what Chromium does with
/// mediasoup-client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireFeatures {
    /// VP8 with an RTX stream (`video/rtx`, apt): packets the SFU NACKs are
    /// resent from str0m's send buffer; consumers are asked for with RTX too.
    pub rtx: bool,
    /// The transport-wide-cc header extension on what we send and receive,
    /// and transport-cc feedback from the receiving transport (the SFU's
    /// send-side bandwidth estimate of our downlink lives on it).
    pub twcc: bool,
    /// Spread a video frame's packets at a pacing rate instead of sending
    /// them in one burst.
    pub pacing: bool,
}

impl Default for WireFeatures {
    fn default() -> Self {
        WireFeatures {
            rtx: true,
            twcc: true,
            pacing: true,
        }
    }
}

impl PeerConfig {
    /// A peer `peer_id` in `room_id` with the defaults otherwise.
    pub fn new(room_id: impl Into<String>, peer_id: impl Into<String>) -> Self {
        let peer_id = peer_id.into();
        PeerConfig {
            room_id: room_id.into(),
            display_name: peer_id.clone(),
            peer_id,
            ..PeerConfig::default()
        }
    }
}

impl Default for PeerConfig {
    fn default() -> Self {
        PeerConfig {
            room_id: "sim".into(),
            peer_id: "sim-peer".into(),
            display_name: "sim peer".into(),
            user_agent: concat!("ejtimaa-sim/", env!("CARGO_PKG_VERSION")).into(),
            publish_audio: true,
            audio_bitrate: DEFAULT_AUDIO_BITRATE,
            publish_video: true,
            video_bitrate: 500_000,
            video_fps: 30,
            simulcast: false,
            preferred_layer: SIMULCAST_LAYERS - 1,
            keyframe_interval: Duration::from_secs(2),
            wire: WireFeatures::default(),
            consume: true,
            token: None,
            drop_every: None,
            silent: false,
            lose_every: None,
            tls: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_bitrates_put_the_configured_rate_on_top() {
        assert_eq!(layer_bitrates(1_200_000), [150_000, 480_000, 1_200_000]);
        assert_eq!(layer_bitrates(500_000), [62_500, 200_000, 500_000]);
        assert_eq!(layer_bitrates(16_000), [8_000, 8_000, 16_000]);
    }
}
