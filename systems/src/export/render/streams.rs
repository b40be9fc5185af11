//! Per-stream families: one series per exported RTP stream (per label set),
//! with the original's 13 labels. The original's byte-count and score families
//! come first for each role, the richer ones after them.

use bevy_ecs::prelude::*;

use super::text::{Kind, Value, header, push_value};
use crate::export::labels::{LabelFragment, StreamOwnerComponent};
use crate::export::order::Row;
use crate::media::{RtpStreamStats, RtpStreamType};
use crate::world::RtpStreams;

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

    fn index(self) -> usize {
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

/// One per-stream family, named for each role.
pub(crate) struct StreamFamily {
    /// Name for consumers, then producers.
    pub names: [&'static str; 2],
    help: [&'static str; 2],
    kind: Kind,
    value: fn(&Merged) -> Option<Value>,
}

impl StreamFamily {
    /// The family's name for `role`.
    pub(crate) fn name(&self, role: Role) -> &'static str {
        self.names[role.index()]
    }
}

/// The per-stream families, in output order.
pub(crate) const STREAM_FAMILIES: [StreamFamily; 11] = [
    StreamFamily {
        names: [
            "mediasoup_consumer_byte_count_bytes",
            "mediasoup_producer_byte_count_bytes",
        ],
        help: [
            "Bytes sent by each consumer RTP stream (stats byteCount).",
            "Bytes received by each producer RTP stream (stats byteCount).",
        ],
        kind: Kind::Counter,
        value: |m| Some(Value::Unsigned(m.bytes)),
    },
    StreamFamily {
        names: ["mediasoup_consumer_score", "mediasoup_producer_score"],
        help: [
            "Score (0-10) of each consumer RTP stream.",
            "Score (0-10) of each producer RTP stream.",
        ],
        kind: Kind::Gauge,
        value: |m| Some(Value::Unsigned(u64::from(m.score))),
    },
    StreamFamily {
        names: [
            "mediasoup_consumer_packets_total",
            "mediasoup_producer_packets_total",
        ],
        help: [
            "RTP packets sent by each consumer RTP stream (stats packetCount).",
            "RTP packets received by each producer RTP stream (stats packetCount).",
        ],
        kind: Kind::Counter,
        value: |m| Some(Value::Unsigned(m.packets)),
    },
    StreamFamily {
        names: [
            "mediasoup_consumer_packets_lost",
            "mediasoup_producer_packets_lost",
        ],
        help: [
            "Packets the remote receiver reports lost, cumulative (stats packetsLost; RTCP allows it to decrease).",
            "Packets lost on the way in, cumulative (stats packetsLost; duplicates can make it decrease).",
        ],
        kind: Kind::Gauge,
        value: |m| Some(Value::Signed(m.packets_lost)),
    },
    StreamFamily {
        names: [
            "mediasoup_consumer_fraction_lost_ratio",
            "mediasoup_producer_fraction_lost_ratio",
        ],
        help: [
            "Fraction of packets lost in the last RTCP interval, 0-1 (stats fractionLost / 256).",
            "Fraction of packets lost in the last RTCP interval, 0-1 (stats fractionLost / 256).",
        ],
        kind: Kind::Gauge,
        value: |m| Some(Value::Float(m.fraction_lost)),
    },
    StreamFamily {
        names: [
            "mediasoup_consumer_jitter_seconds",
            "mediasoup_producer_jitter_seconds",
        ],
        help: [
            "Interarrival jitter the remote receiver reports (stats jitter over the codec clock rate).",
            "Interarrival jitter of the incoming stream (stats jitter over the codec clock rate).",
        ],
        kind: Kind::Gauge,
        value: |m| Some(Value::Float(m.jitter_seconds)),
    },
    StreamFamily {
        names: [
            "mediasoup_consumer_round_trip_time_seconds",
            "mediasoup_producer_round_trip_time_seconds",
        ],
        help: [
            "Round-trip time to the receiving peer (stats roundTripTime); absent until measured.",
            "Round-trip time to the sending peer (stats roundTripTime); absent until measured.",
        ],
        kind: Kind::Gauge,
        value: |m| m.rtt_seconds.map(Value::Float),
    },
    StreamFamily {
        names: [
            "mediasoup_consumer_rate_bytes_per_second",
            "mediasoup_producer_rate_bytes_per_second",
        ],
        help: [
            "Current send rate of each consumer RTP stream, bytes/s (stats bitrate / 8).",
            "Current receive rate of each producer RTP stream, bytes/s (stats bitrate / 8).",
        ],
        kind: Kind::Gauge,
        value: |m| Some(Value::Float(m.bitrate as f64 / 8.0)),
    },
    StreamFamily {
        names: [
            "mediasoup_consumer_nack_packets_total",
            "mediasoup_producer_nack_packets_total",
        ],
        help: [
            "RTCP NACK packets received from the consuming peer (stats nackCount).",
            "RTCP NACK packets sent to the producing peer (stats nackCount).",
        ],
        kind: Kind::Counter,
        value: |m| Some(Value::Unsigned(m.nack)),
    },
    StreamFamily {
        names: [
            "mediasoup_consumer_pli_packets_total",
            "mediasoup_producer_pli_packets_total",
        ],
        help: [
            "RTCP PLI packets received from the consuming peer (stats pliCount).",
            "RTCP PLI packets sent to the producing peer (stats pliCount).",
        ],
        kind: Kind::Counter,
        value: |m| Some(Value::Unsigned(m.pli)),
    },
    StreamFamily {
        names: [
            "mediasoup_consumer_fir_packets_total",
            "mediasoup_producer_fir_packets_total",
        ],
        help: [
            "RTCP FIR packets received from the consuming peer (stats firCount).",
            "RTCP FIR packets sent to the producing peer (stats firCount).",
        ],
        kind: Kind::Counter,
        value: |m| Some(Value::Unsigned(m.fir)),
    },
];

const STREAM_TYPES: [RtpStreamType; 2] = [RtpStreamType::InboundRtp, RtpStreamType::OutboundRtp];

/// Buffers kept between scrapes: one per family, and a series' label text.
#[derive(Default)]
pub(crate) struct StreamBuffers {
    families: Vec<String>,
    labels: String,
}

/// Writes every per-stream family of `role` into `out`, in one pass over the
/// rows: each family goes to its own buffer, appended at the end.
pub(crate) fn render_role<T: StreamOwnerComponent>(
    out: &mut String,
    buffers: &mut StreamBuffers,
    role: Role,
    rows: &[Row],
    fragments: &Query<&LabelFragment>,
    owners: &Query<(&T, &RtpStreams)>,
) {
    let StreamBuffers { families, labels } = buffers;
    families.resize_with(STREAM_FAMILIES.len(), String::new);
    for (buffer, family) in families.iter_mut().zip(&STREAM_FAMILIES) {
        buffer.clear();
        header(
            buffer,
            family.name(role),
            family.help[role.index()],
            family.kind,
        );
    }

    let mut start = 0;
    while start < rows.len() {
        // A group: rows with the same label fragments (usually just one).
        let end = start
            + 1
            + rows[start + 1..]
                .iter()
                .take_while(|r| r.same_labels_as_previous)
                .count();
        let group = &rows[start..end];
        start = end;

        for stream_type in STREAM_TYPES {
            if !role.shows(stream_type) {
                continue;
            }
            let mut merged = Merged::default();
            let mut any = false;
            for row in group {
                let Ok((owner, streams)) = owners.get(row.owner) else {
                    continue;
                };
                let clock_rate = owner.clock_rate().get();
                for s in streams.iter().filter(|s| s.stream_type == stream_type) {
                    any = true;
                    merged.add(s, clock_rate);
                }
            }
            if !any {
                continue;
            }
            write_labels(labels, &group[0], stream_type, fragments);
            for (buffer, family) in families.iter_mut().zip(&STREAM_FAMILIES) {
                let Some(value) = (family.value)(&merged) else {
                    continue;
                };
                buffer.push_str(family.name(role));
                buffer.push_str(labels);
                push_value(buffer, value);
            }
        }
    }
    for buffer in families.iter() {
        out.push_str(buffer);
    }
}

/// `{<13 labels>} ` of a series: the four cached fragments and `type`.
fn write_labels(
    out: &mut String,
    row: &Row,
    stream_type: RtpStreamType,
    fragments: &Query<&LabelFragment>,
) {
    out.clear();
    out.push('{');
    for entity in [row.room, row.peer, row.transport, row.owner] {
        if let Ok(fragment) = fragments.get(entity) {
            out.push_str(fragment.as_str());
        }
        out.push(',');
    }
    out.push_str("type=\"");
    out.push_str(stream_type.as_str());
    out.push_str("\"} ");
}
