//! Aggregated families (`metrics = "aggregated"` or `"both"`): per room, role
//! and kind, the number of exported streams, the sum and count of their score,
//! rate, loss fraction and round-trip time (as summaries without quantiles, so
//! `sum(x_sum) / sum(x_count)` is a true mean across rooms and servers), and
//! the worst score, loss and round-trip time. No per-peer labels, so the
//! series count grows with rooms, not with streams.

use std::collections::HashMap;

use bevy_ecs::prelude::*;

use super::merged::{Role, fraction_lost, rtt_seconds};
use super::text::{Kind, Value, header, push_value};
use crate::export::escape::push_label;
use crate::export::labels::LabelFragment;
use crate::export::labels::StreamOwnerComponent;
use crate::export::order::Row;
use crate::media::MediaKind;
use crate::world::{Consumer, Producer, RtpStreams};

/// Min, max and sum of some figure over a room's streams. The sum is kept in
/// integer units of the figure so that it does not depend on the order
/// streams are added in (float addition would, in its last digits).
#[derive(Clone, Copy, Debug, Default)]
struct Spread {
    min: f64,
    max: f64,
    sum: u128,
    count: u64,
}

impl Spread {
    /// Adds a stream whose figure is `value`, or `units` of the family's unit.
    fn add(&mut self, value: f64, units: u64) {
        if self.count == 0 {
            (self.min, self.max) = (value, value);
        } else {
            self.min = self.min.min(value);
            self.max = self.max.max(value);
        }
        self.sum += u128::from(units);
        self.count += 1;
    }

    /// Folds in another room's spread (rooms whose labels coincide).
    fn combine(&mut self, o: &Spread) {
        if o.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = *o;
            return;
        }
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
        self.sum += o.sum;
        self.count += o.count;
    }
}

/// Picoseconds in a second: the unit RTT means are summed in (a millisecond
/// RTT from mediasoup is an `f32`, so nothing finer is lost).
const PICOS_PER_SECOND: f64 = 1e12;

/// One room's figures for one role and kind.
#[derive(Clone, Copy, Debug, Default)]
struct Aggregate {
    score: Spread,
    bitrate: Spread,
    fraction_lost: Spread,
    rtt: Spread,
}

impl Aggregate {
    fn combine(&mut self, o: &Aggregate) {
        self.score.combine(&o.score);
        self.bitrate.combine(&o.bitrate);
        self.fraction_lost.combine(&o.fraction_lost);
        self.rtt.combine(&o.rtt);
    }
}

/// Per role, then per kind.
type RoomAggregates = [[Aggregate; 2]; 2];

/// Kept between scrapes so that steady-state renders do not allocate.
#[derive(Default)]
pub(crate) struct RoomBuffers {
    rooms: HashMap<Entity, RoomAggregates>,
    /// Per room_id label (rooms whose labels coincide merged), in order.
    merged: Vec<(Entity, RoomAggregates)>,
}

/// A summary family (`_sum` and `_count`, no quantiles): its name, help, the
/// figure it sums, and the value of one unit of that figure's sum.
struct SumFamily {
    name: &'static str,
    help: &'static str,
    spread: fn(&Aggregate) -> &Spread,
    unit: f64,
}

const SUM_FAMILIES: [SumFamily; 4] = [
    SumFamily {
        name: "Ejtimaa_room_score",
        help: "Score (0-10) of the room's exported streams by role and kind: sum and count now (not cumulative).",
        spread: |a| &a.score,
        unit: 1.0,
    },
    SumFamily {
        name: "Ejtimaa_room_rate_bytes_per_second",
        help: "Rate (bytes/s, stats bitrate / 8) of the room's exported streams by role and kind: sum and count now (not cumulative).",
        spread: |a| &a.bitrate,
        unit: 1.0 / 8.0,
    },
    SumFamily {
        name: "Ejtimaa_room_fraction_lost_ratio",
        help: "Loss fraction (0-1) of the room's exported streams by role and kind: sum and count now (not cumulative).",
        spread: |a| &a.fraction_lost,
        unit: 1.0 / 256.0,
    },
    SumFamily {
        name: "Ejtimaa_room_round_trip_time_seconds",
        help: "Round-trip time of the room's measured streams by role and kind: sum and count now (not cumulative).",
        spread: |a| &a.rtt,
        unit: 1.0 / PICOS_PER_SECOND,
    },
];

/// A gauge of the worst stream of a room, role and kind: a mean hides the
/// one peer whose call is breaking up.
struct WorstFamily {
    name: &'static str,
    help: &'static str,
    worst: fn(&Aggregate) -> Option<f64>,
}

fn when_any(spread: &Spread, value: f64) -> Option<f64> {
    (spread.count > 0).then_some(value)
}

const WORST_FAMILIES: [WorstFamily; 3] = [
    WorstFamily {
        name: "Ejtimaa_room_score_min",
        help: "Lowest score (0-10) of the room's exported streams by role and kind.",
        worst: |a| when_any(&a.score, a.score.min),
    },
    WorstFamily {
        name: "Ejtimaa_room_fraction_lost_ratio_max",
        help: "Highest loss fraction (0-1) of the room's exported streams by role and kind.",
        worst: |a| when_any(&a.fraction_lost, a.fraction_lost.max),
    },
    WorstFamily {
        name: "Ejtimaa_room_round_trip_time_seconds_max",
        help: "Highest round-trip time of the room's measured streams by role and kind.",
        worst: |a| when_any(&a.rtt, a.rtt.max),
    },
];

/// The World's parts the aggregated families read.
pub(crate) struct RoomSources<'a, 'w, 's> {
    pub rooms: &'a [Entity],
    pub fragments: &'a Query<'w, 's, &'static LabelFragment>,
    pub consumer_rows: &'a [Row],
    pub producer_rows: &'a [Row],
    pub consumers: &'a Query<'w, 's, (&'static Consumer, &'static RtpStreams)>,
    pub producers: &'a Query<'w, 's, (&'static Producer, &'static RtpStreams)>,
}

/// Writes the aggregated families into `out`.
pub(crate) fn render_rooms(out: &mut String, buffers: &mut RoomBuffers, sources: &RoomSources) {
    let RoomBuffers { rooms, merged } = buffers;
    let aggregates = rooms;
    aggregates.clear();
    collect(
        aggregates,
        Role::Consumer,
        sources.consumer_rows,
        sources.consumers,
    );
    collect(
        aggregates,
        Role::Producer,
        sources.producer_rows,
        sources.producers,
    );

    merged.clear();
    let mut previous: Option<&str> = None;
    for room in sources.rooms {
        let Some(per_role) = aggregates.get(room) else {
            continue;
        };
        let label = room_label(sources, *room);
        match merged.last_mut() {
            Some((_, into)) if previous == Some(label) => {
                for (into, from) in into.iter_mut().flatten().zip(per_role.iter().flatten()) {
                    into.combine(from);
                }
            }
            _ => merged.push((*room, *per_role)),
        }
        previous = Some(label);
    }
    let aggregates = &*merged;

    header(
        out,
        "Ejtimaa_room_streams",
        "Exported RTP streams in each room, by role and kind.",
        Kind::Gauge,
    );
    each_series(sources, aggregates, |room_id, role, kind, a| {
        if a.score.count > 0 {
            series_labels(out, "Ejtimaa_room_streams", room_id, role, kind);
            out.push_str("} ");
            push_value(out, Value::Unsigned(a.score.count));
        }
    });
    let mut name = String::new();
    for family in &SUM_FAMILIES {
        header(out, family.name, family.help, Kind::Summary);
        each_series(sources, aggregates, |room_id, role, kind, a| {
            let spread = (family.spread)(a);
            if spread.count == 0 {
                return;
            }
            // One multiplication of an integer sum: the same for any order.
            let sum = spread.sum as f64 * family.unit;
            for (suffix, value) in [
                ("_sum", Value::Float(sum)),
                ("_count", Value::Unsigned(spread.count)),
            ] {
                name.clear();
                name.push_str(family.name);
                name.push_str(suffix);
                series_labels(out, &name, room_id, role, kind);
                out.push_str("} ");
                push_value(out, value);
            }
        });
    }
    for family in &WORST_FAMILIES {
        header(out, family.name, family.help, Kind::Gauge);
        each_series(sources, aggregates, |room_id, role, kind, a| {
            if let Some(value) = (family.worst)(a) {
                series_labels(out, family.name, room_id, role, kind);
                out.push_str("} ");
                push_value(out, Value::Float(value));
            }
        });
    }
}

/// Adds the shown streams of `rows` to their rooms' aggregates.
fn collect<T: StreamOwnerComponent>(
    aggregates: &mut HashMap<Entity, RoomAggregates>,
    role: Role,
    rows: &[Row],
    owners: &Query<(&T, &RtpStreams)>,
) {
    for row in rows {
        let Ok((owner, streams)) = owners.get(row.owner) else {
            continue;
        };
        let kind = kind_index(owner.kind());
        let aggregate = &mut aggregates.entry(row.room).or_default()[role as usize][kind];
        for s in streams.iter().filter(|s| role.shows(s.stream_type)) {
            let score = s.score.get();
            aggregate.score.add(f64::from(score), u64::from(score));
            aggregate.bitrate.add(s.bitrate as f64 / 8.0, s.bitrate);
            aggregate
                .fraction_lost
                .add(fraction_lost(s), u64::from(s.fraction_lost));
            if let Some(rtt) = rtt_seconds(s) {
                // Saturates past ~213 days, which no real RTT reaches.
                let picos = (rtt * PICOS_PER_SECOND).round() as u64;
                aggregate.rtt.add(rtt, picos);
            }
        }
    }
}

/// Calls `f` for each room label (in export order), role and kind.
fn each_series(
    sources: &RoomSources,
    aggregates: &[(Entity, RoomAggregates)],
    mut f: impl FnMut(&str, Role, MediaKind, &Aggregate),
) {
    for (room, per_role) in aggregates {
        let label = room_label(sources, *room);
        for role in Role::ALL {
            for kind in MediaKind::ALL {
                f(
                    label,
                    role,
                    kind,
                    &per_role[role as usize][kind_index(kind)],
                );
            }
        }
    }
}

/// The `room_id="…"` label of a room, as its label fragment wrote it.
fn room_label<'a>(sources: &'a RoomSources, room: Entity) -> &'a str {
    sources
        .fragments
        .get(room)
        .map_or("", LabelFragment::identity)
}

fn kind_index(kind: MediaKind) -> usize {
    match kind {
        MediaKind::Audio => 0,
        MediaKind::Video => 1,
    }
}

/// `name{room_id="..",role="..",kind=".."`, without the closing brace;
/// `room_label` is the room's `room_id="…"` as its fragment wrote it.
fn series_labels(out: &mut String, name: &str, room_label: &str, role: Role, kind: MediaKind) {
    out.push_str(name);
    out.push('{');
    out.push_str(room_label);
    out.push(',');
    push_label(out, "role", role.as_str());
    out.push(',');
    push_label(out, "kind", kind.as_str());
}
