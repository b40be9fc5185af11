//! The live invariants (design, "Invariants"), checked on every scrape
//! against the [`Ledger`].
//!
//! The exporter and the ledger are read at slightly different moments, so
//! presence is demanded only of streams the ledger has known for a settle
//! time, absence only of streams that closed before the previous scrape
//! ("one scrape later"), and rises and high scores only of streams past
//! their warm-up while nobody is joining or leaving.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::ledger::{Ledger, Role, StreamEntry};
use crate::peer::MediaKind;
use crate::scrape::{
    CONSUMER_BYTES, CONSUMER_SCORE, PRODUCER_BYTES, PRODUCER_SCORE, ROOM_STREAMS, STREAM_FAMILIES,
    Scrape, Series,
};

/// One broken invariant, with the offending series.
#[derive(Debug, Clone, Serialize)]
pub struct Violation {
    /// Seconds since the run started.
    pub at_secs: f64,
    /// Which invariant (a short stable name).
    pub rule: String,
    /// What was expected and what was found.
    pub detail: String,
    /// The offending series as exported, when there is one.
    pub series: Option<String>,
    /// The room concerned, when known.
    pub room_id: Option<String>,
}

/// What a check may demand at this moment of the run.
#[derive(Debug, Clone)]
pub struct CheckContext {
    /// When the run started (for `at_secs`).
    pub run_start: Instant,
    /// How long a stream must be known before its series must exist.
    pub settle: Duration,
    /// How long a stream must be known before it must rise and score high.
    pub warm_up: Duration,
    /// The lowest acceptable score after warm-up.
    pub min_score: f64,
    /// Nobody is joining or leaving: counts must match, counters must
    /// rise, scores must be high.
    pub steady: bool,
    /// `Ejtimaa_rooms` before the run (other users of a shared server).
    pub rooms_baseline: f64,
    /// Whether `Ejtimaa_rooms` must equal baseline + our live rooms (false
    /// while emptied rooms may still be in their grace period).
    pub check_rooms: bool,
}

/// Which role a stream family reports on.
fn role_of(family: &str) -> Role {
    if family == PRODUCER_BYTES || family == PRODUCER_SCORE {
        Role::Producer
    } else {
        Role::Consumer
    }
}

/// The `codec` label of a kind (mime subtype of the first codec).
fn codec_of(kind: MediaKind) -> &'static str {
    match kind {
        MediaKind::Audio => "opus",
        MediaKind::Video => "VP8",
    }
}

/// Stateful checker: remembers the previous scrape for the counter and
/// "one scrape later" rules.
#[derive(Debug, Default)]
pub struct Checker {
    prev_started: Option<Instant>,
    prev_values: BTreeMap<(String, String), f64>,
    prev_unknown: BTreeSet<(String, String)>,
    /// Byte counters seen rising between two scrapes (per series and interval).
    pub counter_rises: u64,
    /// Everything broken so far.
    pub violations: Vec<Violation>,
}

impl Checker {
    /// Checks one scrape against the ledger; returns how many violations it added.
    pub fn check(&mut self, ledger: &Ledger, scrape: &Scrape, ctx: &CheckContext) -> usize {
        let before = self.violations.len();
        let at_secs = scrape.started.duration_since(ctx.run_start).as_secs_f64();
        let mut out = Out {
            at_secs,
            violations: &mut self.violations,
        };
        check_counts(ledger, scrape, ctx, &mut out);
        // A server with `metrics = "aggregated"` declares the room aggregates
        // and no per-stream family: its streams are judged by room instead.
        let aggregated = scrape.declares(ROOM_STREAMS);
        let per_stream = !aggregated || scrape.declares(PRODUCER_BYTES);
        if aggregated {
            check_room_streams(ledger, scrape, ctx, self.prev_started, &mut out);
        }
        let mut values = BTreeMap::new();
        let mut unknown = BTreeSet::new();
        let families = if per_stream {
            &STREAM_FAMILIES[..]
        } else {
            &[]
        };
        for &family in families {
            let role = role_of(family);
            let mut by_id: BTreeMap<&str, Vec<&Series>> = BTreeMap::new();
            for s in scrape.family(family) {
                by_id.entry(s.label("id")).or_default().push(s);
            }
            for (id, series) in &by_id {
                let s = series[0];
                let stream = ledger.streams.get(*id).filter(|e| e.role == role);
                let ours = stream.is_some()
                    || ledger.peers.contains_key(s.label("peer_id"))
                    || ledger.rooms.contains(s.label("room_id"));
                if !ours {
                    // Another user of a shared server.
                    continue;
                }
                if series.len() > 1 {
                    for dup in series {
                        out.push(
                            "duplicate-series",
                            format!("{} series with id {id}", series.len()),
                            Some(dup),
                            None,
                        );
                    }
                }
                let key = (family.to_string(), (*id).to_string());
                match stream {
                    None => {
                        // A consumer can reach the exporter before its peer
                        // has registered it: only a repeat is a violation.
                        if self.prev_unknown.contains(&key) {
                            out.push(
                                "unknown-series",
                                "a stream the sim did not create".into(),
                                Some(s),
                                None,
                            );
                        }
                        unknown.insert(key.clone());
                        if let Some(left) = ledger.left_at(s.label("peer_id"))
                            && self.prev_started.is_some_and(|p| left < p)
                        {
                            out.push(
                                "series-after-leave",
                                "its peer left before the previous scrape".into(),
                                Some(s),
                                None,
                            );
                        }
                    }
                    Some(e) => {
                        check_labels(ledger, e, family, s, &mut out);
                        if let Some(gone) = e.gone_at
                            && self.prev_started.is_some_and(|p| gone < p)
                        {
                            out.push(
                                "series-after-close",
                                "the stream closed before the previous scrape".into(),
                                Some(s),
                                None,
                            );
                        }
                    }
                }
                if family == PRODUCER_BYTES || family == CONSUMER_BYTES {
                    if let Some(&old) = self.prev_values.get(&key) {
                        if s.value < old {
                            out.push(
                                "counter-fell",
                                format!("{old} -> {}", s.value),
                                Some(s),
                                None,
                            );
                        } else if s.value > old {
                            self.counter_rises += 1;
                        } else if let Some(e) = stream
                            && must_flow(ledger, e, ctx, self.prev_started)
                        {
                            out.push(
                                "counter-stuck",
                                format!("still {old} while media flows"),
                                Some(s),
                                None,
                            );
                        }
                    }
                    values.insert(key, s.value);
                } else {
                    check_score(ledger, stream, s, ctx, scrape.started, &mut out);
                }
            }
        }
        if per_stream {
            check_presence(ledger, scrape, ctx, &mut out);
        }
        self.prev_started = Some(scrape.started);
        self.prev_values = values;
        self.prev_unknown = unknown;
        self.violations.len() - before
    }
}

/// Collects violations with the scrape's time.
struct Out<'a> {
    at_secs: f64,
    violations: &'a mut Vec<Violation>,
}

impl Out<'_> {
    fn push(&mut self, rule: &str, detail: String, series: Option<&Series>, room: Option<&str>) {
        let room_id = room
            .map(str::to_string)
            .or_else(|| series.map(|s| s.label("room_id").to_string()));
        tracing::warn!(rule, %detail, series = ?series.map(Series::render), "violation");
        self.violations.push(Violation {
            at_secs: self.at_secs,
            rule: rule.into(),
            detail,
            series: series.map(Series::render),
            room_id,
        });
    }
}

/// `Ejtimaa_rooms` and `Ejtimaa_peers{room_id}` against the ledger.
fn check_counts(ledger: &Ledger, scrape: &Scrape, ctx: &CheckContext, out: &mut Out<'_>) {
    if !ctx.steady {
        return;
    }
    let live = ledger.live_peers_by_room();
    if ctx.check_rooms {
        let expected = ctx.rooms_baseline + live.len() as f64;
        match scrape.rooms() {
            Some(v) if v == expected => {}
            found => out.push(
                "rooms",
                format!("Ejtimaa_rooms {found:?}, expected {expected}"),
                None,
                None,
            ),
        }
    }
    let exported = scrape.peers();
    for room in &ledger.rooms {
        let expected = live.get(room).copied().unwrap_or(0) as f64;
        let found = exported.get(room).copied().unwrap_or(0.0);
        if found != expected {
            out.push(
                "peers",
                format!("Ejtimaa_peers{{room_id={room:?}}} {found}, expected {expected}"),
                None,
                Some(room),
            );
        }
    }
}

/// The labels of a series of a known stream.
fn check_labels(ledger: &Ledger, e: &StreamEntry, family: &str, s: &Series, out: &mut Out<'_>) {
    let display_name = ledger
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
    for (label, want) in expected {
        if s.label(label) != want {
            out.push(
                "labels",
                format!("{family} {label}={:?}, expected {want:?}", s.label(label)),
                Some(s),
                Some(&e.room_id),
            );
        }
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

fn check_score(
    ledger: &Ledger,
    stream: Option<&StreamEntry>,
    s: &Series,
    ctx: &CheckContext,
    now: Instant,
    out: &mut Out<'_>,
) {
    if !(0.0..=10.0).contains(&s.value) {
        out.push(
            "score-range",
            format!("score {} outside 0..=10", s.value),
            Some(s),
            None,
        );
        return;
    }
    if let Some(e) = stream
        && must_flow(ledger, e, ctx, Some(now))
        && s.value < ctx.min_score
    {
        out.push(
            "score-low",
            format!("score {} < {} after warm-up", s.value, ctx.min_score),
            Some(s),
            None,
        );
    }
}

/// Every settled live stream has exactly one series in each of its families.
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

/// `Ejtimaa_room_streams{room_id,role,kind}` against the ledger: at least
/// the streams that must be exported by now; while steady, at most those
/// still live or closed after the previous scrape ("one scrape later").
fn check_room_streams(
    ledger: &Ledger,
    scrape: &Scrape,
    ctx: &CheckContext,
    prev_started: Option<Instant>,
    out: &mut Out<'_>,
) {
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
                    .filter(|e| match (e.gone_at, prev_started) {
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
                        "room-streams",
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

fn check_presence(ledger: &Ledger, scrape: &Scrape, ctx: &CheckContext, out: &mut Out<'_>) {
    for e in ledger.streams.values() {
        if !must_be_exported(ledger, e, ctx, scrape.started) {
            continue;
        }
        let families = match e.role {
            Role::Producer => [PRODUCER_BYTES, PRODUCER_SCORE],
            Role::Consumer => [CONSUMER_BYTES, CONSUMER_SCORE],
        };
        for family in families {
            let n = scrape
                .family(family)
                .iter()
                .filter(|s| s.label("id") == e.id)
                .count();
            if n == 0 {
                out.push(
                    "missing-series",
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::PeerState;
    use crate::peer::{PeerStatsSnapshot, ProducerSnapshot};
    use crate::scrape::parse;

    const HEAD: &str = "# TYPE Ejtimaa_rooms gauge\nEjtimaa_rooms 1\n\
        # TYPE Ejtimaa_peers gauge\nEjtimaa_peers{room_id=\"r\"} 1\n";

    fn ledger(t0: Instant) -> Ledger {
        let mut ledger = Ledger::default();
        ledger.add_peer("r", "p", "P \"1\"");
        ledger.set_state("p", PeerState::Up);
        let snap = PeerStatsSnapshot {
            send_connected: true,
            producers: vec![ProducerSnapshot {
                id: "a1".into(),
                kind: MediaKind::Audio,
                ssrc: 1,
                score: None,
            }],
            ..PeerStatsSnapshot::default()
        };
        ledger.observe("p", snap, t0);
        ledger
    }

    fn scrape_of(text: &str, started: Instant) -> Scrape {
        Scrape {
            started,
            latency: Duration::ZERO,
            families: parse(text).expect("parses"),
        }
    }

    fn producer(bytes: u64, score: u8, name: &str) -> String {
        let labels = format!(
            "room_id=\"r\",peer_id=\"p\",display_name=\"{name}\",id=\"a1\",kind=\"audio\",codec=\"opus\",type=\"inbound-rtp\""
        );
        format!(
            "# TYPE {PRODUCER_BYTES} counter\n{PRODUCER_BYTES}{{{labels}}} {bytes}\n\
             # TYPE {PRODUCER_SCORE} gauge\n{PRODUCER_SCORE}{{{labels}}} {score}\n"
        )
    }

    /// Everything judged from the first scrape on: no settle or warm-up time.
    fn steady_context(t0: Instant) -> CheckContext {
        CheckContext {
            run_start: t0,
            settle: Duration::ZERO,
            warm_up: Duration::ZERO,
            min_score: 8.0,
            steady: true,
            rooms_baseline: 0.0,
            check_rooms: true,
        }
    }

    fn rules(c: &Checker) -> Vec<&str> {
        c.violations.iter().map(|v| v.rule.as_str()).collect()
    }

    #[test]
    fn good_scrapes_pass_and_bad_ones_are_caught() {
        let t0 = Instant::now();
        let ledger = ledger(t0);
        let ctx = steady_context(t0);
        let at = |s| t0 + Duration::from_secs(s);
        let mut c = Checker::default();
        let name = "P \\\"1\\\"";
        c.check(
            &ledger,
            &scrape_of(&format!("{HEAD}{}", producer(100, 10, name)), at(1)),
            &ctx,
        );
        c.check(
            &ledger,
            &scrape_of(&format!("{HEAD}{}", producer(200, 10, name)), at(2)),
            &ctx,
        );
        assert!(c.violations.is_empty(), "{:?}", c.violations);
        assert_eq!(c.counter_rises, 1);

        c.check(
            &ledger,
            &scrape_of(&format!("{HEAD}{}", producer(150, 3, "x")), at(3)),
            &ctx,
        );
        let found = rules(&c);
        for rule in ["counter-fell", "score-low", "labels"] {
            assert!(found.contains(&rule), "{rule} not in {found:?}");
        }

        let mut c = Checker::default();
        c.check(
            &ledger,
            &scrape_of("# TYPE Ejtimaa_rooms gauge\nEjtimaa_rooms 0\n", at(1)),
            &ctx,
        );
        let found = rules(&c);
        for rule in ["rooms", "peers", "missing-series"] {
            assert!(found.contains(&rule), "{rule} not in {found:?}");
        }
    }

    #[test]
    fn aggregated_servers_are_judged_by_room() {
        let t0 = Instant::now();
        let ledger = ledger(t0);
        let ctx = steady_context(t0);
        let at = t0 + Duration::from_secs(1);
        let rooms = |n: u32| {
            format!(
                "{HEAD}# TYPE {ROOM_STREAMS} gauge\n\
                 {ROOM_STREAMS}{{room_id=\"r\",role=\"producer\",kind=\"audio\"}} {n}\n"
            )
        };

        // No per-stream family: one producer stream, counted in its room.
        let mut c = Checker::default();
        c.check(&ledger, &scrape_of(&rooms(1), at), &ctx);
        assert!(c.violations.is_empty(), "{:?}", c.violations);

        for wrong in [0, 2] {
            let mut c = Checker::default();
            c.check(&ledger, &scrape_of(&rooms(wrong), at), &ctx);
            assert_eq!(rules(&c), ["room-streams"], "{wrong}");
        }

        // `both`: the per-stream family is declared, so it is judged too.
        let both = format!("{}# TYPE {PRODUCER_BYTES} counter\n", rooms(1));
        let mut c = Checker::default();
        c.check(&ledger, &scrape_of(&both, at), &ctx);
        assert!(rules(&c).contains(&"missing-series"), "{:?}", c.violations);
    }
}
