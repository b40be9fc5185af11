//! What the stream families are written from: the role of a series, and the
//! merged figures of the streams that share its labels.

use crate::media::{RtpStreamStats, RtpStreamType};

/// Producers (media mediasoup receives) or consumers (media it sends).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    Consumer,
    Producer,
}

impl Role {
    /// Consumers then producers: the original's order.
    pub(crate) const ALL: [Role; 2] = [Role::Consumer, Role::Producer];

    /// The `role` label of the aggregated families.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Role::Consumer => "consumer",
            Role::Producer => "producer",
        }
    }

    /// Stream types the role's families show. Consumers' stats also carry
    /// their producer's inbound stream; the original skipped it, and so do we.
    pub(crate) fn shows(self, stream_type: RtpStreamType) -> bool {
        match self {
            Role::Consumer => stream_type == RtpStreamType::OutboundRtp,
            Role::Producer => true,
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// The figures of one series: the streams that share its label set, merged.
/// Counters and rates add up (as the original's counter `inc` did); the
/// score is the worst; loss fraction, jitter and round-trip time the highest.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Merged {
    pub bytes: u64,
    pub packets: u64,
    pub packets_lost: i64,
    pub fraction_lost: f64,
    pub jitter_seconds: f64,
    pub rtt_seconds: Option<f64>,
    pub bitrate: u64,
    pub nack: u64,
    pub pli: u64,
    pub fir: u64,
    pub score: u8,
}

impl Default for Merged {
    fn default() -> Self {
        Self {
            bytes: 0,
            packets: 0,
            packets_lost: 0,
            fraction_lost: 0.0,
            jitter_seconds: 0.0,
            rtt_seconds: None,
            bitrate: 0,
            nack: 0,
            pli: 0,
            fir: 0,
            score: u8::MAX,
        }
    }
}

impl Merged {
    /// Folds in another group's figures, as if its streams were added here.
    pub(crate) fn combine(&mut self, o: &Merged) {
        self.bytes = self.bytes.saturating_add(o.bytes);
        self.packets = self.packets.saturating_add(o.packets);
        self.packets_lost = self.packets_lost.saturating_add(o.packets_lost);
        self.fraction_lost = self.fraction_lost.max(o.fraction_lost);
        self.jitter_seconds = self.jitter_seconds.max(o.jitter_seconds);
        if let Some(rtt) = o.rtt_seconds {
            self.rtt_seconds = Some(self.rtt_seconds.map_or(rtt, |r| r.max(rtt)));
        }
        self.bitrate = self.bitrate.saturating_add(o.bitrate);
        self.nack = self.nack.saturating_add(o.nack);
        self.pli = self.pli.saturating_add(o.pli);
        self.fir = self.fir.saturating_add(o.fir);
        self.score = self.score.min(o.score);
    }

    /// Adds one stream of an owner whose codec runs at `clock_rate` Hz.
    pub(crate) fn add(&mut self, s: &RtpStreamStats, clock_rate: u32) {
        self.bytes = self.bytes.saturating_add(s.byte_count);
        self.packets = self.packets.saturating_add(s.packet_count);
        self.packets_lost = self.packets_lost.saturating_add(s.packets_lost);
        self.fraction_lost = self.fraction_lost.max(fraction_lost(s));
        self.jitter_seconds = self.jitter_seconds.max(jitter_seconds(s, clock_rate));
        if let Some(rtt) = rtt_seconds(s) {
            self.rtt_seconds = Some(self.rtt_seconds.map_or(rtt, |r| r.max(rtt)));
        }
        self.bitrate = self.bitrate.saturating_add(s.bitrate);
        self.nack = self.nack.saturating_add(s.nack_count);
        self.pli = self.pli.saturating_add(s.pli_count);
        self.fir = self.fir.saturating_add(s.fir_count);
        self.score = self.score.min(s.score.get());
    }
}

/// `fractionLost` is the RTCP fixed-point fraction: n/256.
pub(crate) fn fraction_lost(s: &RtpStreamStats) -> f64 {
    f64::from(s.fraction_lost) / 256.0
}

/// Jitter comes in RTP timestamp units.
pub(crate) fn jitter_seconds(s: &RtpStreamStats, clock_rate: u32) -> f64 {
    f64::from(s.jitter) / f64::from(clock_rate.max(1))
}

/// `roundTripTime` comes in milliseconds; anything not finite is no measurement.
pub(crate) fn rtt_seconds(s: &RtpStreamStats) -> Option<f64> {
    s.round_trip_time
        .filter(|ms| ms.is_finite() && *ms >= 0.0)
        .map(|ms| f64::from(ms) / 1000.0)
}
