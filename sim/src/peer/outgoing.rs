//! A stream a peer publishes: its generator, and for video its pacer and
//! what keyframe requests it has honoured.

use std::time::Instant;

use super::media::{AudioSource, Pacer, VideoSource};

/// A stream we publish, with its generator.
pub enum Outgoing {
    /// Opus.
    Audio {
        /// str0m's SSRC for it.
        ssrc: u32,
        /// Payload type.
        pt: u8,
        /// The generator.
        source: AudioSource,
    },
    /// VP8.
    Video {
        /// str0m's SSRC for it.
        ssrc: u32,
        /// Its mid, to match keyframe requests.
        mid: String,
        /// Payload type.
        pt: u8,
        /// The generator.
        source: VideoSource,
        /// Frames' packets on their way out.
        pacer: Pacer,
        /// Packets written to str0m (originals, not resends).
        written: u64,
        /// When the last keyframe was forced by a request.
        last_forced: Option<Instant>,
    },
}

impl Outgoing {
    pub(super) fn ssrc(&self) -> u32 {
        match self {
            Outgoing::Audio { ssrc, .. } | Outgoing::Video { ssrc, .. } => *ssrc,
        }
    }

    pub(super) fn next_due(&self) -> Instant {
        match self {
            Outgoing::Audio { source, .. } => source.next_due(),
            Outgoing::Video { source, pacer, .. } => {
                let frame = source.next_due();
                pacer.next_due().map_or(frame, |p| p.min(frame))
            }
        }
    }
}
