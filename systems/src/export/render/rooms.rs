//! Aggregated families (`metrics = "aggregated"` or `"both"`): per room, role
//! and kind, the number of exported streams and the min, max and mean of their
//! score, rate, loss fraction and round-trip time. No per-peer labels, so
//! the series count grows with rooms, not with streams.

use std::collections::HashMap;

use bevy_ecs::prelude::*;

use super::streams::{Role, fraction_lost, rtt_seconds};
use super::text::{Kind, Value, header, push_value};
use crate::export::escape::push_label;
use crate::export::labels::StreamOwnerComponent;
use crate::export::order::Row;
use crate::media::MediaKind;
use crate::world::{Consumer, Producer, Room, RtpStreams};

/// Min, max and sum of some figure over a room's streams. The sum is kept in
/// integer units of the figure so that the mean does not depend on the order
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

    fn stats(&self, unit: f64) -> [(&'static str, f64); 3] {
        [
            ("min", self.min),
            ("max", self.max),
            ("mean", self.sum as f64 / self.count as f64 * unit),
        ]
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

/// Per role, then per kind.
type RoomAggregates = [[Aggregate; 2]; 2];

/// Kept between scrapes so that steady-state renders do not allocate.
#[derive(Default)]
pub(crate) struct RoomBuffers {
    rooms: HashMap<Entity, RoomAggregates>,
}

/// An aggregated family: its name, help, the figure it spreads, and the
/// value of one unit of that figure's sum.
struct RoomFamily {
    name: &'static str,
    help: &'static str,
    spread: fn(&Aggregate) -> &Spread,
    unit: f64,
}

const ROOM_FAMILIES: [RoomFamily; 4] = [
    RoomFamily {
        name: "Ejtimaa_room_score",
        help: "Score (0-10) of the room's exported streams: min, max and mean by role and kind.",
        spread: |a| &a.score,
        unit: 1.0,
    },
    RoomFamily {
        name: "Ejtimaa_room_rate_bytes_per_second",
        help: "Rate (bytes/s, stats bitrate / 8) of the room's exported streams: min, max and mean by role and kind.",
        spread: |a| &a.bitrate,
        unit: 1.0 / 8.0,
    },
    RoomFamily {
        name: "Ejtimaa_room_fraction_lost_ratio",
        help: "Loss fraction (0-1) of the room's exported streams: min, max and mean by role and kind.",
        spread: |a| &a.fraction_lost,
        unit: 1.0 / 256.0,
    },
    RoomFamily {
        name: "Ejtimaa_room_round_trip_time_seconds",
        help: "Round-trip time of the room's measured streams: min, max and mean by role and kind.",
        spread: |a| &a.rtt,
        unit: 1.0 / PICOS_PER_SECOND,
    },
];

/// The World's parts the aggregated families read.
pub(crate) struct RoomSources<'a, 'w, 's> {
    pub rooms: &'a [Entity],
    pub room_ids: &'a Query<'w, 's, &'static Room>,
    pub consumer_rows: &'a [Row],
    pub producer_rows: &'a [Row],
    pub consumers: &'a Query<'w, 's, (&'static Consumer, &'static RtpStreams)>,
    pub producers: &'a Query<'w, 's, (&'static Producer, &'static RtpStreams)>,
}

/// Writes the aggregated families into `out`.
pub(crate) fn render_rooms(out: &mut String, buffers: &mut RoomBuffers, sources: &RoomSources) {
    let aggregates = &mut buffers.rooms;
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
    for family in &ROOM_FAMILIES {
        header(out, family.name, family.help, Kind::Gauge);
        each_series(sources, aggregates, |room_id, role, kind, a| {
            let spread = (family.spread)(a);
            if spread.count == 0 {
                return;
            }
            for (stat, value) in spread.stats(family.unit) {
                series_labels(out, family.name, room_id, role, kind);
                out.push(',');
                push_label(out, "stat", stat);
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

/// Calls `f` for each room (in export order), role and kind with figures.
fn each_series(
    sources: &RoomSources,
    aggregates: &HashMap<Entity, RoomAggregates>,
    mut f: impl FnMut(&str, Role, MediaKind, &Aggregate),
) {
    for room in sources.rooms {
        let (Some(per_role), Ok(room_id)) = (aggregates.get(room), sources.room_ids.get(*room))
        else {
            continue;
        };
        for role in Role::ALL {
            for kind in MediaKind::ALL {
                f(
                    room_id.id.as_str(),
                    role,
                    kind,
                    &per_role[role as usize][kind_index(kind)],
                );
            }
        }
    }
}

fn kind_index(kind: MediaKind) -> usize {
    match kind {
        MediaKind::Audio => 0,
        MediaKind::Video => 1,
    }
}

/// `name{room_id="..",role="..",kind=".."`, without the closing brace.
fn series_labels(out: &mut String, name: &str, room_id: &str, role: Role, kind: MediaKind) {
    out.push_str(name);
    out.push('{');
    push_label(out, "room_id", room_id);
    out.push(',');
    push_label(out, "role", role.as_str());
    out.push(',');
    push_label(out, "kind", kind.as_str());
}
