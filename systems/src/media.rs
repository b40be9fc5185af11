//! Media vocabulary: kinds, codecs, scores and RTP stream statistics.

use core::fmt;
use thiserror::Error;

/// Audio or video.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum MediaKind {
    /// An audio track.
    Audio,
    /// A video track.
    Video,
}

impl MediaKind {
    /// Both kinds, in label order.
    pub const ALL: [MediaKind; 2] = [MediaKind::Audio, MediaKind::Video];

    /// The name mediasoup and the original exporter use (`audio`, `video`).
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Audio => "audio",
            MediaKind::Video => "video",
        }
    }

    /// Parses `audio` or `video`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "audio" => Some(MediaKind::Audio),
            "video" => Some(MediaKind::Video),
            _ => None,
        }
    }
}

impl fmt::Display for MediaKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A codec's MIME type as mediasoup reports it, e.g. `audio/opus`, `video/VP8`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct MimeType(Box<str>);

impl MimeType {
    /// Wraps a MIME type string.
    pub fn new(mime: impl Into<Box<str>>) -> Self {
        Self(mime.into())
    }

    /// The whole MIME type.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The `codec` label: the subtype after the first `/` (`opus`, `VP8`),
    /// the original's `mimeType.split('/')[1]`; the whole string if it has no `/`.
    pub fn subtype(&self) -> &str {
        match self.0.split_once('/') {
            Some((_, sub)) => sub.split('/').next().unwrap_or(sub),
            None => &self.0,
        }
    }
}

impl From<&str> for MimeType {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

/// A mediasoup quality score, 0 (worst) to 10 (best).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct Score(u8);

/// A score outside 0..=10.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("score {0} is outside 0..=10")]
pub struct ScoreOutOfRange(pub u8);

impl Score {
    /// The best score.
    pub const MAX: Score = Score(10);

    /// The score as a number in 0..=10.
    pub fn get(self) -> u8 {
        self.0
    }
}

impl TryFrom<u8> for Score {
    type Error = ScoreOutOfRange;

    fn try_from(value: u8) -> Result<Self, Self::Error> {
        if value <= 10 {
            Ok(Score(value))
        } else {
            Err(ScoreOutOfRange(value))
        }
    }
}

/// Which side of the SFU an RTP stream is on (the stats entry's `type`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum RtpStreamType {
    /// Received by mediasoup (a producer's stream, or a consumer's view of its producer).
    InboundRtp,
    /// Sent by mediasoup (a consumer's stream).
    OutboundRtp,
}

impl RtpStreamType {
    /// The stats `type` string, used as the `type` label.
    pub fn as_str(self) -> &'static str {
        match self {
            RtpStreamType::InboundRtp => "inbound-rtp",
            RtpStreamType::OutboundRtp => "outbound-rtp",
        }
    }
}

impl fmt::Display for RtpStreamType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The latest statistics of one RTP stream, as a `get_stats` entry reports them.
#[derive(Clone, PartialEq, Debug)]
pub struct RtpStreamStats {
    /// Inbound (producer) or outbound (consumer).
    pub stream_type: RtpStreamType,
    /// The stream's SSRC: with the type, its identity within its producer or consumer.
    pub ssrc: u32,
    /// The simulcast RID, if any.
    pub rid: Option<String>,
    /// Bytes carried since the stream began.
    pub byte_count: u64,
    /// Packets carried since the stream began.
    pub packet_count: u64,
    /// Packets lost, cumulative; RTCP allows it to go negative with duplicates.
    pub packets_lost: i64,
    /// Fraction lost in the last report interval, 0..=255 as in RTCP.
    pub fraction_lost: u8,
    /// Interarrival jitter in RTP timestamp units.
    pub jitter: u32,
    /// Round-trip time in milliseconds, when known.
    pub round_trip_time: Option<f32>,
    /// Current bitrate in bits per second.
    pub bitrate: u64,
    /// NACK packets.
    pub nack_count: u64,
    /// PLI packets.
    pub pli_count: u64,
    /// FIR packets.
    pub fir_count: u64,
    /// The stream's score at the time of the stats.
    pub score: Score,
}

impl RtpStreamStats {
    /// A stream known only by its identity, all counters zero; used when a score
    /// arrives before the first stats.
    pub fn empty(stream_type: RtpStreamType, ssrc: u32) -> Self {
        Self {
            stream_type,
            ssrc,
            rid: None,
            byte_count: 0,
            packet_count: 0,
            packets_lost: 0,
            fraction_lost: 0,
            jitter: 0,
            round_trip_time: None,
            bitrate: 0,
            nack_count: 0,
            pli_count: 0,
            fir_count: 0,
            score: Score::default(),
        }
    }
}

impl RtpStreamStats {
    /// Whether any of its counters (bytes, packets, NACK, PLI, FIR) is below
    /// `other`'s: figures taken before `other`'s, of the same stream.
    pub fn is_older_than(&self, other: &RtpStreamStats) -> bool {
        self.byte_count < other.byte_count
            || self.packet_count < other.packet_count
            || self.nack_count < other.nack_count
            || self.pli_count < other.pli_count
            || self.fir_count < other.fir_count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codec_label_is_the_mime_subtype() {
        assert_eq!(MimeType::from("audio/opus").subtype(), "opus");
        assert_eq!(MimeType::from("video/VP8").subtype(), "VP8");
        assert_eq!(MimeType::from("video/H264").subtype(), "H264");
        // split('/')[1] of the original: the part between the first and second slash.
        assert_eq!(MimeType::from("video/x/y").subtype(), "x");
        assert_eq!(MimeType::from("opus").subtype(), "opus");
        assert_eq!(MimeType::from("audio/").subtype(), "");
    }

    #[test]
    fn kinds_round_trip_through_their_names() {
        for kind in [MediaKind::Audio, MediaKind::Video] {
            assert_eq!(MediaKind::parse(kind.as_str()), Some(kind));
            assert_eq!(kind.to_string(), kind.as_str());
        }
        assert_eq!(MediaKind::parse("Audio"), None);
    }

    #[test]
    fn scores_are_bounded() {
        assert_eq!(Score::try_from(10).map(Score::get), Ok(10));
        assert_eq!(Score::try_from(0).map(Score::get), Ok(0));
        assert_eq!(Score::try_from(11), Err(ScoreOutOfRange(11)));
    }

    #[test]
    fn stream_types_render_as_stats_types() {
        assert_eq!(RtpStreamType::InboundRtp.as_str(), "inbound-rtp");
        assert_eq!(RtpStreamType::OutboundRtp.as_str(), "outbound-rtp");
    }
}
