//! The per-stream families' names, help texts and values.

use super::merged::{Merged, Role};
use super::text::{Kind, Value};

/// The `_info` families: value 1, the 13 labels, one series per label set;
/// joined on the identifying labels to put names on the detail families.
pub(crate) const INFO_NAMES: [&str; 2] = ["mediasoup_consumer_info", "mediasoup_producer_info"];

/// Help texts of the `_info` families.
pub(crate) const INFO_HELP: [&str; 2] = [
    "Descriptive labels of each consumer RTP stream (join on room_id, peer_id, id, kind); always 1.",
    "Descriptive labels of each producer RTP stream (join on room_id, peer_id, id, kind); always 1.",
];

/// One per-stream family, named for each role.
pub(crate) struct StreamFamily {
    /// Name for consumers, then producers.
    pub names: [&'static str; 2],
    pub help: [&'static str; 2],
    pub kind: Kind,
    pub value: fn(&Merged) -> Option<Value>,
}

impl StreamFamily {
    /// The family's name for `role`.
    pub(crate) fn name(&self, role: Role) -> &'static str {
        self.names[role.index()]
    }
}

/// The original's per-stream families, with its 13 labels.
pub(crate) const ORIGINAL_FAMILIES: [StreamFamily; 2] = [
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
];

/// The detail families: identifying labels only (`room_id, peer_id, id,
/// kind`), one series per stream or per merged group of streams.
pub(crate) const DETAIL_FAMILIES: [StreamFamily; 9] = [
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
