//! What the exporter must show for a [`Model`], family by family, computed
//! plainly from the model's maps.

use std::collections::{BTreeMap, BTreeSet};

use ejtimaa_systems::{ExportOptions, IceState, MediaKind, RtpStreamStats, TransportKind};

use super::model::{Expected, Families, Labels, Model, Role, StreamKey, cap, rtt_seconds};

/// A per-stream family: its name for a role, and its value over the streams of
/// one label set (`None`: no series).
pub struct StreamFamily {
    pub suffix: &'static str,
    pub counter: bool,
    /// Labelled by the identifying labels only (`room_id, peer_id, id, kind`),
    /// not the 13.
    pub identity: bool,
    value: fn(&[(u32, &RtpStreamStats)]) -> Option<f64>,
}

impl StreamFamily {
    pub fn name(&self, role: Role) -> String {
        let role = match role {
            Role::Producer => "producer",
            Role::Consumer => "consumer",
        };
        format!("mediasoup_{role}_{}", self.suffix)
    }
}

fn sum(streams: &[(u32, &RtpStreamStats)], f: fn(&RtpStreamStats) -> u64) -> Option<f64> {
    Some(streams.iter().map(|(_, s)| f(s)).sum::<u64>() as f64)
}

fn max(values: impl Iterator<Item = f64>) -> Option<f64> {
    values.reduce(f64::max)
}

/// The per-stream families, with the merge rule of streams sharing a label
/// set: counters and bitrates add up, the score is the worst, loss fraction,
/// jitter and round-trip time the highest. The first two (the original's)
/// carry the 13 labels, the others the identifying ones.
pub const STREAM_FAMILIES: [StreamFamily; 11] = [
    StreamFamily {
        suffix: "byte_count_bytes",
        counter: true,
        identity: false,
        value: |s| sum(s, |s| s.byte_count),
    },
    StreamFamily {
        suffix: "score",
        counter: false,
        identity: false,
        value: |s| {
            s.iter()
                .map(|(_, s)| f64::from(s.score.get()))
                .reduce(f64::min)
        },
    },
    StreamFamily {
        suffix: "packets_total",
        counter: true,
        identity: true,
        value: |s| sum(s, |s| s.packet_count),
    },
    StreamFamily {
        suffix: "packets_lost",
        counter: false,
        identity: true,
        value: |s| Some(s.iter().map(|(_, s)| s.packets_lost).sum::<i64>() as f64),
    },
    StreamFamily {
        suffix: "fraction_lost_ratio",
        counter: false,
        identity: true,
        value: |s| max(s.iter().map(|(_, s)| f64::from(s.fraction_lost) / 256.0)),
    },
    StreamFamily {
        suffix: "jitter_seconds",
        counter: false,
        identity: true,
        value: |s| {
            max(s
                .iter()
                .map(|(rate, s)| f64::from(s.jitter) / f64::from(*rate)))
        },
    },
    StreamFamily {
        suffix: "round_trip_time_seconds",
        counter: false,
        identity: true,
        value: |s| max(s.iter().filter_map(|(_, s)| rtt_seconds(s))),
    },
    StreamFamily {
        suffix: "rate_bytes_per_second",
        counter: false,
        identity: true,
        value: |s| sum(s, |s| s.bitrate).map(|bits| bits / 8.0),
    },
    StreamFamily {
        suffix: "nack_packets_total",
        counter: true,
        identity: true,
        value: |s| sum(s, |s| s.nack_count),
    },
    StreamFamily {
        suffix: "pli_packets_total",
        counter: true,
        identity: true,
        value: |s| sum(s, |s| s.pli_count),
    },
    StreamFamily {
        suffix: "fir_packets_total",
        counter: true,
        identity: true,
        value: |s| sum(s, |s| s.fir_count),
    },
];

/// One stream's figure for an aggregated family (`None`: not measured).
pub type Figure = fn(&RtpStreamStats) -> Option<f64>;

/// The aggregated summary families (`_sum` and `_count`) and the figure each sums.
pub const ROOM_FAMILIES: [(&str, Figure); 4] = [
    ("Ejtimaa_room_score", |s| Some(f64::from(s.score.get()))),
    ("Ejtimaa_room_rate_bytes_per_second", |s| {
        Some(s.bitrate as f64 / 8.0)
    }),
    ("Ejtimaa_room_fraction_lost_ratio", |s| {
        Some(f64::from(s.fraction_lost) / 256.0)
    }),
    ("Ejtimaa_room_round_trip_time_seconds", rtt_seconds),
];

/// The per-room worst-stream gauges: name, figure, and whether the worst is
/// the lowest (else the highest).
pub const WORST_FAMILIES: [(&str, Figure, bool); 3] = [
    (
        "Ejtimaa_room_score_min",
        |s| Some(f64::from(s.score.get())),
        true,
    ),
    (
        "Ejtimaa_room_fraction_lost_ratio_max",
        |s| Some(f64::from(s.fraction_lost) / 256.0),
        false,
    ),
    (
        "Ejtimaa_room_round_trip_time_seconds_max",
        rtt_seconds,
        false,
    ),
];

/// The identifying labels: those of the detail families.
pub const IDENTITY: [&str; 4] = ["room_id", "peer_id", "id", "kind"];

/// The `_info` family of a role.
pub fn info_name(role: Role) -> &'static str {
    match role {
        Role::Producer => "mediasoup_producer_info",
        Role::Consumer => "mediasoup_consumer_info",
    }
}

fn labels<const N: usize>(pairs: [(&str, String); N]) -> Labels {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

fn series(value: f64, contributors: BTreeSet<StreamKey>) -> Expected {
    Expected {
        value,
        contributors,
    }
}

/// Every family the exporter writes from the World (not the server's own
/// figures), under `options`. Families present without series map to empty.
pub fn families(model: &Model, options: &ExportOptions) -> Families {
    let mut out = Families::new();
    let mut put = |name: &str, labels: Labels, value: f64, from: BTreeSet<StreamKey>| {
        out.entry(name.to_string())
            .or_default()
            .insert(labels, series(value, from));
    };

    put(
        "Ejtimaa_rooms",
        Labels::new(),
        model.rooms.len() as f64,
        BTreeSet::new(),
    );
    // Rooms whose cut room_id labels coincide are one series.
    let mut peers: BTreeMap<String, u64> = BTreeMap::new();
    for (room, n) in model.peers_per_room() {
        *peers
            .entry(cap(&room, options.label_value_max))
            .or_default() += n;
    }
    for (room, n) in peers {
        put(
            "Ejtimaa_peers",
            labels([("room_id", room)]),
            n as f64,
            BTreeSet::new(),
        );
    }

    // Per room, role and kind: the figures of every exported stream.
    let mut per_room: BTreeMap<(String, Role, MediaKind), Vec<&RtpStreamStats>> = BTreeMap::new();
    for role in [Role::Producer, Role::Consumer] {
        // Streams by identifying labels, for the detail families.
        let mut by_identity: BTreeMap<Labels, Vec<_>> = BTreeMap::new();
        for (labels, streams) in model.exported_streams(role, options) {
            let contributors: BTreeSet<StreamKey> =
                streams.iter().map(|(k, ..)| k.clone()).collect();
            let figures: Vec<(u32, &RtpStreamStats)> =
                streams.iter().map(|(_, _, rate, s)| (*rate, *s)).collect();
            if options.metrics.per_stream() {
                for family in STREAM_FAMILIES.iter().filter(|f| !f.identity) {
                    if let Some(v) = (family.value)(&figures) {
                        put(&family.name(role), labels.clone(), v, contributors.clone());
                    }
                }
                put(info_name(role), labels.clone(), 1.0, BTreeSet::new());
            }
            for (_, kind, _, s) in &streams {
                per_room
                    .entry((labels["room_id"].clone(), role, *kind))
                    .or_default()
                    .push(s);
            }
            let identity: Labels = IDENTITY
                .iter()
                .map(|k| (k.to_string(), labels[*k].clone()))
                .collect();
            by_identity.entry(identity).or_default().extend(streams);
        }
        if options.metrics.per_stream() {
            for (labels, streams) in by_identity {
                let contributors: BTreeSet<StreamKey> =
                    streams.iter().map(|(k, ..)| k.clone()).collect();
                let figures: Vec<(u32, &RtpStreamStats)> =
                    streams.iter().map(|(_, _, rate, s)| (*rate, *s)).collect();
                for family in STREAM_FAMILIES.iter().filter(|f| f.identity) {
                    if let Some(v) = (family.value)(&figures) {
                        put(&family.name(role), labels.clone(), v, contributors.clone());
                    }
                }
            }
        }
    }
    if options.metrics.aggregated() {
        for ((room, role, kind), streams) in &per_room {
            let base = || {
                labels([
                    ("room_id", room.clone()),
                    (
                        "role",
                        match role {
                            Role::Producer => "producer",
                            Role::Consumer => "consumer",
                        }
                        .to_string(),
                    ),
                    ("kind", kind.as_str().to_string()),
                ])
            };
            put(
                "Ejtimaa_room_streams",
                base(),
                streams.len() as f64,
                BTreeSet::new(),
            );
            for (name, figure) in ROOM_FAMILIES {
                let values: Vec<f64> = streams.iter().filter_map(|s| figure(s)).collect();
                if values.is_empty() {
                    continue;
                }
                let sum = values.iter().sum::<f64>();
                put(&format!("{name}_sum"), base(), sum, BTreeSet::new());
                let count = values.len() as f64;
                put(&format!("{name}_count"), base(), count, BTreeSet::new());
            }
            for (name, figure, lowest) in WORST_FAMILIES {
                let values = streams.iter().filter_map(|s| figure(s));
                let worst = if lowest {
                    values.reduce(f64::min)
                } else {
                    values.reduce(f64::max)
                };
                if let Some(v) = worst {
                    put(name, base(), v, BTreeSet::new());
                }
            }
        }
    }

    // Server-wide families of the World.
    put(
        "Ejtimaa_workers",
        Labels::new(),
        model.workers.len() as f64,
        BTreeSet::new(),
    );
    put(
        "Ejtimaa_worker_deaths_total",
        Labels::new(),
        model.worker_deaths as f64,
        BTreeSet::new(),
    );
    let mut routers: BTreeMap<u32, usize> = BTreeMap::new();
    for (worker, pid) in &model.workers {
        *routers.entry(*pid).or_default() += model.rooms.values().filter(|w| *w == worker).count()
            + model.routers.values().filter(|(_, w)| w == worker).count();
    }
    for (pid, n) in routers {
        put(
            "Ejtimaa_worker_routers",
            labels([("pid", pid.to_string())]),
            n as f64,
            BTreeSet::new(),
        );
    }
    for (kind, name) in [
        (TransportKind::WebRtc, "webrtc"),
        (TransportKind::Plain, "plain"),
        (TransportKind::Pipe, "pipe"),
        (TransportKind::Direct, "direct"),
    ] {
        let mut of_kind: Vec<_> = model
            .transports
            .values()
            .filter(|t| t.kind == kind)
            .map(|t| (t.kind, t.ice))
            .collect();
        if kind == TransportKind::Pipe {
            // A room's pipe transports have no ICE.
            of_kind.extend(model.pipes.values().map(|_| (kind, IceState::New)));
        }
        if kind == TransportKind::WebRtc {
            for (state, state_name) in [
                (IceState::New, "new"),
                (IceState::Connected, "connected"),
                (IceState::Completed, "completed"),
                (IceState::Disconnected, "disconnected"),
                (IceState::Closed, "closed"),
            ] {
                let n = of_kind.iter().filter(|(_, ice)| *ice == state).count();
                let l = labels([
                    ("transport_type", name.into()),
                    ("ice_state", state_name.into()),
                ]);
                put("Ejtimaa_transports", l, n as f64, BTreeSet::new());
            }
        } else if !of_kind.is_empty() {
            let l = labels([
                ("transport_type", name.into()),
                ("ice_state", String::new()),
            ]);
            put(
                "Ejtimaa_transports",
                l,
                of_kind.len() as f64,
                BTreeSet::new(),
            );
        }
    }
    for (role, name) in [
        (Role::Producer, "Ejtimaa_producers"),
        (Role::Consumer, "Ejtimaa_consumers"),
    ] {
        for kind in [MediaKind::Audio, MediaKind::Video] {
            for paused in [false, true] {
                let n = model
                    .owners
                    .iter()
                    .filter(|((r, _), o)| *r == role && o.kind == kind && o.paused == paused)
                    .count();
                let l = labels([
                    ("kind", kind.as_str().into()),
                    ("paused", paused.to_string()),
                ]);
                put(name, l, n as f64, BTreeSet::new());
            }
        }
    }
    put(
        "Ejtimaa_peers_joined_total",
        Labels::new(),
        model.peers_joined as f64,
        BTreeSet::new(),
    );
    put(
        "Ejtimaa_peers_left_total",
        Labels::new(),
        model.peers_left as f64,
        BTreeSet::new(),
    );
    put(
        "Ejtimaa_stats_timeouts_total",
        Labels::new(),
        0.0,
        BTreeSet::new(),
    );
    out
}

/// Families the exporter writes with headers but, without server figures, no series.
pub const EMPTY_WITHOUT_FIGURES: [&str; 21] = [
    "Ejtimaa_build_info",
    "Ejtimaa_scrape_duration_seconds",
    "Ejtimaa_worker_cpu_seconds_total",
    "Ejtimaa_signaling_requests_total",
    "Ejtimaa_signaling_errors_total",
    HISTOGRAMS[0],
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    "process_virtual_memory_bytes",
    "process_open_fds",
    "process_max_fds",
    "process_start_time_seconds",
    "Ejtimaa_rdns_lookups_total",
    "Ejtimaa_rdns_dropped_total",
    "Ejtimaa_rdns_cache_entries",
    "Ejtimaa_stats_interval_seconds",
    "Ejtimaa_stats_round_duration_seconds",
    "Ejtimaa_scrape_body_bytes",
    "Ejtimaa_scrape_body_age_seconds",
    "Ejtimaa_scrapes_total",
    "Ejtimaa_limit_refusals_total",
];

/// The histogram families (the rest are counters and gauges).
pub const HISTOGRAMS: [&str; 1] = ["Ejtimaa_signaling_request_duration_seconds"];
