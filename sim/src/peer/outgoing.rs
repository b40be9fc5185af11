//! A stream a peer publishes: its generator, and for video its pacer and
//! what keyframe requests it has honoured.

use std::time::{Duration, Instant};

use str0m::media::{KeyframeRequest, KeyframeRequestKind};
use str0m::stats::MediaEgressStats;

use super::media::{AudioSource, Pacer, VideoSource};

/// A burst of PLIs (one per new consumer) needs only one keyframe.
const MIN_KEYFRAME_GAP: Duration = Duration::from_millis(250);

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
        /// Its local rid when it is a simulcast layer (str0m's keyframe
        /// requests and stats name the layer by it).
        rid: Option<String>,
        /// Its spatial layer (0 without simulcast), written into the tags.
        layer: u8,
        /// Payload type.
        pt: u8,
        /// The generator (boxed: the variant would otherwise be several
        /// times the size of the audio one).
        source: Box<VideoSource>,
        /// Frames' packets on their way out.
        pacer: Pacer,
        /// Packets written to str0m (originals, not resends).
        written: u64,
        /// Resends and NACKs str0m last reported for this stream.
        resent: u64,
        /// NACKs str0m last reported for this stream.
        nacks: u64,
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

    /// Whether str0m's `mid`/`rid` name this stream.
    pub(super) fn is(&self, mid: str0m::media::Mid, rid: Option<str0m::media::Rid>) -> bool {
        match self {
            Outgoing::Video { mid: m, rid: r, .. } => {
                str0m::media::Mid::from(m.as_str()) == mid
                    && r.as_deref().map(str0m::media::Rid::from) == rid
            }
            Outgoing::Audio { .. } => false,
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

/// Takes in str0m's egress report of one stream (one per layer with
/// simulcast); when it is one of `outgoing`, the peer's retransmissions and
/// NACKs received, summed over its streams.
pub(super) fn egress_stats(outgoing: &mut [Outgoing], s: &MediaEgressStats) -> Option<(u64, u64)> {
    // str0m counts resends in `packets`; what it sent beyond the originals
    // we wrote are retransmissions.
    let mut matched = false;
    for o in outgoing.iter_mut() {
        if o.is(s.mid, s.rid)
            && let Outgoing::Video {
                written,
                resent,
                nacks,
                ..
            } = o
        {
            *resent = (*resent).max(s.packets.saturating_sub(*written));
            *nacks = (*nacks).max(s.nacks);
            matched = true;
        }
    }
    matched.then(|| {
        outgoing.iter().fold((0, 0), |(r, n), o| match o {
            Outgoing::Video { resent, nacks, .. } => (r + resent, n + nacks),
            Outgoing::Audio { .. } => (r, n),
        })
    })
}

/// Honours a keyframe request at `now`: mediasoup asks per layer, and each
/// layer has its own generator. A FIR is always honoured; PLIs within
/// [`MIN_KEYFRAME_GAP`] of the last forced keyframe are coalesced.
pub(super) fn keyframe_request(outgoing: &mut [Outgoing], r: &KeyframeRequest, now: Instant) {
    for o in outgoing.iter_mut() {
        if o.is(r.mid, r.rid)
            && let Outgoing::Video {
                source,
                last_forced,
                ..
            } = o
        {
            let recent = last_forced.is_some_and(|t| now - t < MIN_KEYFRAME_GAP);
            if r.kind == KeyframeRequestKind::Fir || !recent {
                source.request_keyframe();
                *last_forced = Some(now);
            }
        }
    }
}
