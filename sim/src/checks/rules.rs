//! One function per [`Rule`]: each judges one invariant of one scrape and
//! records what it finds broken in [`Out`].

use std::collections::HashSet;
use std::time::Instant;

use super::{CheckContext, Judged, Out, Rule};
use crate::exposition::{
    CONSUMER_BYTES, CONSUMER_INFO, CONSUMER_PACKETS, CONSUMER_SCORE, IDENTITY_LABELS,
    PRODUCER_BYTES, PRODUCER_INFO, PRODUCER_PACKETS, PRODUCER_SCORE, ROOM_STREAMS, Series,
    is_detail,
};
use crate::ledger::{Ledger, Role, StreamEntry};
use crate::peer::MediaKind;

/// [`Rule::Rooms`]: `Ejtimaa_rooms` is the baseline plus our live rooms.
pub fn rooms(j: &Judged<'_>, out: &mut Out<'_>) {
    if !j.ctx.steady || !j.ctx.check_rooms {
        return;
    }
    let expected = j.ctx.rooms_baseline + j.ledger.live_peers_by_room().len() as f64;
    match j.scrape.rooms() {
        Some(v) if v == expected => {}
        found => out.push(
            Rule::Rooms,
            format!("Ejtimaa_rooms {found:?}, expected {expected}"),
            None,
            None,
        ),
    }
}

/// [`Rule::Peers`]: `Ejtimaa_peers{room_id}` counts the room's live peers.
pub fn peers(j: &Judged<'_>, out: &mut Out<'_>) {
    if !j.ctx.steady {
        return;
    }
    let live = j.ledger.live_peers_by_room();
    let exported = j.scrape.peers();
    for room in &j.ledger.rooms {
        let expected = live.get(room).copied().unwrap_or(0) as f64;
        let found = exported.get(room).copied().unwrap_or(0.0);
        if found != expected {
            out.push(
                Rule::Peers,
                format!("Ejtimaa_peers{{room_id={room:?}}} {found}, expected {expected}"),
                None,
                Some(room),
            );
        }
    }
}

/// [`Rule::DuplicateSeries`]: one series per stream id in a family.
pub fn duplicate_series(id: &str, series: &[&Series], out: &mut Out<'_>) {
    if series.len() > 1 {
        for dup in series {
            out.push(
                Rule::DuplicateSeries,
                format!("{} series with id {id}", series.len()),
                Some(dup),
                None,
            );
        }
    }
}

/// [`Rule::UnknownSeries`]: a consumer can reach the exporter before its
/// peer has registered it, so only a repeat (`seen_before`) is a violation.
pub fn unknown_series(seen_before: bool, s: &Series, out: &mut Out<'_>) {
    if seen_before {
        out.push(
            Rule::UnknownSeries,
            "a stream the sim did not create".into(),
            Some(s),
            None,
        );
    }
}

/// [`Rule::SeriesAfterLeave`]: an unknown stream's peer left before the
/// previous scrape.
pub fn series_after_leave(j: &Judged<'_>, s: &Series, out: &mut Out<'_>) {
    if let Some(left) = j.ledger.left_at(s.label("peer_id"))
        && j.prev_started.is_some_and(|p| left < p)
    {
        out.push(
            Rule::SeriesAfterLeave,
            "its peer left before the previous scrape".into(),
            Some(s),
            None,
        );
    }
}

/// [`Rule::SeriesAfterClose`]: the stream closed before the previous scrape.
pub fn series_after_close(j: &Judged<'_>, e: &StreamEntry, s: &Series, out: &mut Out<'_>) {
    if let Some(gone) = e.gone_at
        && j.prev_started.is_some_and(|p| gone < p)
    {
        out.push(
            Rule::SeriesAfterClose,
            "the stream closed before the previous scrape".into(),
            Some(s),
            None,
        );
    }
}

/// The `codec` label of a kind (mime subtype of the first codec).
fn codec_of(kind: MediaKind) -> &'static str {
    match kind {
        MediaKind::Audio => "opus",
        MediaKind::Video => "VP8",
    }
}

/// [`Rule::Labels`]: the labels of a series of a known stream: the 13 of the
/// original's families and `_info`, exactly the identifying ones of a detail
/// family.
pub fn labels(j: &Judged<'_>, e: &StreamEntry, family: &str, s: &Series, out: &mut Out<'_>) {
    if is_detail(family) {
        let names: Vec<&str> = s.labels.names().collect();
        let mut want = IDENTITY_LABELS.to_vec();
        want.sort_unstable();
        if names != want {
            out.push(
                Rule::Labels,
                format!("{family} has labels {names:?}, expected {want:?}"),
                Some(s),
                None,
            );
        }
    }
    let display_name = j
        .ledger
        .peers
        .get(&e.peer_id)
        .map_or("", |p| p.display_name.as_str());
    let expected = [
        ("room_id", e.room_id.as_str()),
        ("peer_id", e.peer_id.as_str()),
        ("display_name", display_name),
        ("kind", e.kind.as_str()),
        ("codec", codec_of(e.kind)),
        ("type", e.role.rtp_type()),
    ];
    let expected = expected
        .into_iter()
        .filter(|(label, _)| !is_detail(family) || IDENTITY_LABELS.contains(label));
    for (label, want) in expected {
        if s.label(label) != want {
            out.push(
                Rule::Labels,
                format!("{family} {label}={:?}, expected {want:?}", s.label(label)),
                Some(s),
                Some(&e.room_id),
            );
        }
    }
}

/// [`Rule::CounterFell`]: a byte counter below its previous value `old`.
pub fn counter_fell(old: f64, s: &Series, out: &mut Out<'_>) {
    if s.value < old {
        out.push(
            Rule::CounterFell,
            format!("{old} -> {}", s.value),
            Some(s),
            None,
        );
    }
}

/// [`Rule::CounterStuck`]: a byte counter still at `old` while its media
/// must flow.
pub fn counter_stuck(
    j: &Judged<'_>,
    stream: Option<&StreamEntry>,
    old: f64,
    s: &Series,
    out: &mut Out<'_>,
) {
    if s.value == old
        && let Some(e) = stream
        && must_flow(j.ledger, e, j.ctx, j.prev_started)
    {
        out.push(
            Rule::CounterStuck,
            format!("still {old} while media flows"),
            Some(s),
            None,
        );
    }
}

/// Whether a stream's counter must have risen since the previous scrape.
fn must_flow(ledger: &Ledger, e: &StreamEntry, ctx: &CheckContext, prev: Option<Instant>) -> bool {
    let Some(prev) = prev else { return false };
    ctx.steady
        && e.gone_at.is_none()
        && !e.paused
        && e.first_seen + ctx.warm_up <= prev
        && ledger.is_up(&e.peer_id)
        && ledger.is_up(&e.source_peer)
}

fn score_in_range(s: &Series) -> bool {
    (0.0..=10.0).contains(&s.value)
}

/// [`Rule::ScoreRange`]: a score lies in `0..=10`.
pub fn score_range(s: &Series, out: &mut Out<'_>) {
    if !score_in_range(s) {
        out.push(
            Rule::ScoreRange,
            format!("score {} outside 0..=10", s.value),
            Some(s),
            None,
        );
    }
}

/// [`Rule::InfoValue`]: an `_info` series is 1.
pub fn info_value(s: &Series, out: &mut Out<'_>) {
    if s.value != 1.0 {
        out.push(
            Rule::InfoValue,
            format!("info value {}, expected 1", s.value),
            Some(s),
            None,
        );
    }
}

/// [`Rule::ScoreLow`]: the (valid) score of a flowing stream is at least
/// the minimum after warm-up.
pub fn score_low(j: &Judged<'_>, stream: Option<&StreamEntry>, s: &Series, out: &mut Out<'_>) {
    if score_in_range(s)
        && let Some(e) = stream
        && must_flow(j.ledger, e, j.ctx, Some(j.scrape.started))
        && s.value < j.ctx.min_score
    {
        out.push(
            Rule::ScoreLow,
            format!("score {} < {} after warm-up", s.value, j.ctx.min_score),
            Some(s),
            None,
        );
    }
}

/// Whether the exporter must show `e` by now: live, known for the settle
/// time, both peers up, and its transport's ICE completed.
fn must_be_exported(ledger: &Ledger, e: &StreamEntry, ctx: &CheckContext, at: Instant) -> bool {
    if e.gone_at.is_some()
        || e.first_seen + ctx.settle > at
        || !ledger.is_up(&e.peer_id)
        || !ledger.is_up(&e.source_peer)
    {
        return false;
    }
    let snap = &ledger.peers[&e.peer_id].snapshot;
    match e.role {
        Role::Producer => snap.send_connected,
        Role::Consumer => snap.recv_connected,
    }
}

/// [`Rule::RoomStreams`]: `Ejtimaa_room_streams{room_id,role,kind}` against
/// the ledger: at least the streams that must be exported by now; while
/// steady, at most those still live or closed after the previous scrape
/// ("one scrape later").
pub fn room_streams(j: &Judged<'_>, out: &mut Out<'_>) {
    let (ledger, scrape, ctx) = (j.ledger, j.scrape, j.ctx);
    for room in &ledger.rooms {
        for role in [Role::Producer, Role::Consumer] {
            for kind in [MediaKind::Audio, MediaKind::Video] {
                let ours = || {
                    ledger
                        .streams
                        .values()
                        .filter(move |e| e.room_id == *room && e.role == role && e.kind == kind)
                };
                let at_least = ours()
                    .filter(|e| must_be_exported(ledger, e, ctx, scrape.started))
                    .count() as f64;
                let at_most = ours()
                    .filter(|e| match (e.gone_at, j.prev_started) {
                        (None, _) => true,
                        (Some(gone), Some(prev)) => gone >= prev,
                        (Some(_), None) => true,
                    })
                    .count() as f64;
                let found = scrape
                    .family(ROOM_STREAMS)
                    .iter()
                    .find(|s| {
                        s.label("room_id") == room
                            && s.label("role") == role.as_str()
                            && s.label("kind") == kind.as_str()
                    })
                    .map_or(0.0, |s| s.value);
                let wrong = if found < at_least {
                    Some(format!("at least {at_least}"))
                } else if ctx.steady && found > at_most {
                    Some(format!("at most {at_most}"))
                } else {
                    None
                };
                if let Some(expected) = wrong {
                    out.push(
                        Rule::RoomStreams,
                        format!(
                            "{ROOM_STREAMS}{{room_id={room:?},role=\"{}\",kind=\"{}\"}} {found}, expected {expected}",
                            role.as_str(),
                            kind.as_str()
                        ),
                        None,
                        Some(room),
                    );
                }
            }
        }
    }
}

/// [`Rule::MissingSeries`]: every settled live stream has exactly one
/// series in each of its families.
pub fn missing_series(j: &Judged<'_>, out: &mut Out<'_>) {
    // The ids each family has, read once: a lookup per stream, not a pass
    // over the family (a thousand streams are a million label reads).
    let present = |family: &'static str| -> (&'static str, HashSet<&str>) {
        let ids = j.scrape.family(family).iter().map(|s| s.label("id"));
        (family, ids.collect())
    };
    let producers = [
        PRODUCER_BYTES,
        PRODUCER_SCORE,
        PRODUCER_INFO,
        PRODUCER_PACKETS,
    ]
    .map(present);
    let consumers = [
        CONSUMER_BYTES,
        CONSUMER_SCORE,
        CONSUMER_INFO,
        CONSUMER_PACKETS,
    ]
    .map(present);
    for e in j.ledger.streams.values() {
        if !must_be_exported(j.ledger, e, j.ctx, j.scrape.started) {
            continue;
        }
        let families = match e.role {
            Role::Producer => &producers,
            Role::Consumer => &consumers,
        };
        for (family, ids) in families {
            if !ids.contains(e.id.as_str()) {
                out.push(
                    Rule::MissingSeries,
                    format!(
                        "no {family} for {} {} {} of {}",
                        e.kind,
                        e.role.rtp_type(),
                        e.id,
                        e.peer_id
                    ),
                    None,
                    Some(&e.room_id),
                );
            }
        }
    }
}
