//! What a peer publishes on its send transport: the streams str0m sends
//! (audio, and video as one stream or three simulcast layers) and the
//! encodings each producer is announced with.

use std::time::Instant;

use super::config::{PeerConfig, SIMULCAST_LAYERS, layer_bitrates};
use super::endpoint::Endpoint;
use super::error::PeerError;
use super::media::{AudioSource, Pacer, VideoParams, VideoSource};
use super::negotiate::{RouterCaps, SendEncoding};
use super::outgoing::Outgoing;
use super::stats::MediaKind;
use crate::rng::Rng;

/// Mids of our producers, as a browser numbers its transceivers.
const AUDIO_MID: &str = "0";
const VIDEO_MID: &str = "1";

/// A producer to announce: its kind, mid and encodings.
pub(super) type Published = (MediaKind, &'static str, Vec<SendEncoding>);

/// Declares on `endpoint` what `config` publishes, its media clocks
/// starting at `now`: the streams to drive, and the producers to announce.
pub(super) fn declare(
    endpoint: &mut Endpoint,
    caps: &RouterCaps,
    config: &PeerConfig,
    rng: &mut Rng,
    now: Instant,
) -> Result<(Vec<Outgoing>, Vec<Published>), PeerError> {
    let mut outgoing = Vec::new();
    let mut published: Vec<Published> = Vec::new();
    if config.publish_audio {
        let codec = caps.codec(MediaKind::Audio)?;
        let (ssrc, _) = endpoint.declare_send(AUDIO_MID, MediaKind::Audio, false);
        let source = AudioSource::new(
            now,
            codec.clock_rate,
            config.audio_bitrate,
            Rng::new(rng.next_u64()),
        );
        outgoing.push(Outgoing::Audio {
            ssrc,
            pt: codec.payload_type,
            source,
        });
        published.push((
            MediaKind::Audio,
            AUDIO_MID,
            vec![SendEncoding::single(ssrc, None)],
        ));
    }
    if config.publish_video {
        let codec = caps.codec(MediaKind::Video)?;
        let rtx = caps.rtx_payload_type().is_some();
        let layers: Vec<(Option<String>, u32)> = if config.simulcast {
            layer_bitrates(config.video_bitrate)
                .iter()
                .enumerate()
                .map(|(i, &b)| (Some(format!("r{i}")), b))
                .collect()
        } else {
            vec![(None, config.video_bitrate)]
        };
        let ssrcs = if config.simulcast {
            let rids: Vec<&str> = layers.iter().filter_map(|l| l.0.as_deref()).collect();
            endpoint.declare_simulcast(VIDEO_MID, &rids, rtx)
        } else {
            vec![endpoint.declare_send(VIDEO_MID, MediaKind::Video, rtx)]
        };
        let mut encodings = Vec::new();
        for (i, ((rid, bitrate), (ssrc, rtx_ssrc))) in layers.into_iter().zip(ssrcs).enumerate() {
            let params = VideoParams {
                bitrate,
                fps: config.video_fps,
                keyframe_interval: config.keyframe_interval,
            };
            let source = VideoSource::new(now, params, Rng::new(rng.next_u64()));
            outgoing.push(Outgoing::Video {
                ssrc,
                mid: VIDEO_MID.into(),
                rid,
                layer: u8::try_from(i).unwrap_or(u8::MAX),
                pt: codec.payload_type,
                source: Box::new(source),
                pacer: Pacer::new(bitrate, config.wire.pacing),
                written: 0,
                resent: 0,
                nacks: 0,
                last_forced: None,
            });
            let mut encoding = SendEncoding::single(ssrc, rtx_ssrc);
            if config.simulcast {
                // mediasoup-client's default for VP8: a quarter, half
                // and full resolution.
                let top = i32::from(SIMULCAST_LAYERS) - 1;
                encoding.scale_down = Some(f64::from(1 << (top - i as i32).max(0)));
                encoding.max_bitrate = Some(bitrate);
            }
            encodings.push(encoding);
        }
        published.push((MediaKind::Video, VIDEO_MID, encodings));
    }
    Ok((outgoing, published))
}
