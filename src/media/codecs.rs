//! The codecs routers offer, from `mediasoup.codecs`.

use std::num::{NonZeroU8, NonZeroU32};

use mediasoup::prelude::*;

use crate::config::CodecName;

/// RTCP feedback video streams get: NACK, PLI, FIR, REMB and transport-cc.
fn video_feedback() -> Vec<RtcpFeedback> {
    vec![
        RtcpFeedback::Nack,
        RtcpFeedback::NackPli,
        RtcpFeedback::CcmFir,
        RtcpFeedback::GoogRemb,
        RtcpFeedback::TransportCc,
    ]
}

/// Router media codecs for the configured names, in that order.
pub fn media_codecs(names: &[CodecName]) -> Vec<RtpCodecCapability> {
    names
        .iter()
        .map(|name| match name {
            CodecName::Opus => RtpCodecCapability::Audio {
                mime_type: MimeTypeAudio::Opus,
                preferred_payload_type: None,
                clock_rate: NonZeroU32::new(48000).expect("non-zero"),
                channels: NonZeroU8::new(2).expect("non-zero"),
                parameters: RtpCodecParametersParameters::from([("useinbandfec", 1_u32.into())]),
                rtcp_feedback: vec![RtcpFeedback::TransportCc],
            },
            CodecName::Vp8 => RtpCodecCapability::Video {
                mime_type: MimeTypeVideo::Vp8,
                preferred_payload_type: None,
                clock_rate: NonZeroU32::new(90000).expect("non-zero"),
                parameters: RtpCodecParametersParameters::default(),
                rtcp_feedback: video_feedback(),
            },
            CodecName::H264 => RtpCodecCapability::Video {
                mime_type: MimeTypeVideo::H264,
                preferred_payload_type: None,
                clock_rate: NonZeroU32::new(90000).expect("non-zero"),
                parameters: RtpCodecParametersParameters::from([
                    ("packetization-mode", 1_u32.into()),
                    ("profile-level-id", "42e01f".into()),
                    ("level-asymmetry-allowed", 1_u32.into()),
                ]),
                rtcp_feedback: video_feedback(),
            },
        })
        .collect()
}
