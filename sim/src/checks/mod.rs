//! The live invariants (`docs/design.md`, "Live checks"), checked on every
//! scrape against the [`Ledger`]. Each invariant is one [`Rule`], judged by
//! one function in [`rules`].
//!
//! The exporter and the ledger are read at slightly different moments, so
//! presence is demanded only of streams the ledger has known for a settle
//! time, absence only of streams that closed before the previous scrape
//! ("one scrape later"), and rises and high scores only of streams past
//! their warm-up while nobody is joining or leaving.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::exposition::{
    CONSUMER_BYTES, CONSUMER_INFO, CONSUMER_PACKETS, PRODUCER_BYTES, PRODUCER_INFO,
    PRODUCER_PACKETS, ROOM_STREAMS, STREAM_FAMILIES, Scrape, Series,
};
use crate::ledger::{Ledger, Role};

pub mod rules;

/// One invariant; its [`Rule::name`] is stable (reports and tests use it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// `Ejtimaa_rooms` is the baseline plus our live rooms (while steady).
    Rooms,
    /// `Ejtimaa_peers{room_id}` is the room's live peers (while steady).
    Peers,
    /// One series per stream id in a family.
    DuplicateSeries,
    /// No stream the sim did not create (a repeat: the first may race).
    UnknownSeries,
    /// No series of a peer that left before the previous scrape.
    SeriesAfterLeave,
    /// No series of a stream that closed before the previous scrape.
    SeriesAfterClose,
    /// A known stream's labels match the ledger.
    Labels,
    /// Byte counters never fall.
    CounterFell,
    /// Byte counters of flowing streams rise (while steady, after warm-up).
    CounterStuck,
    /// Scores lie in `0..=10`.
    ScoreRange,
    /// `_info` series are 1.
    InfoValue,
    /// Scores of flowing streams are at least the minimum after warm-up.
    ScoreLow,
    /// `Ejtimaa_room_streams` counts the room's streams (aggregated servers).
    RoomStreams,
    /// Every settled live stream has its series.
    MissingSeries,
    /// No peer holds two open consumers of one producer.
    DuplicateConsumer,
    /// No peer loses its connection on its own.
    PeerDisconnected,
    /// Every scrape succeeds.
    ScrapeFailed,
    /// After everyone left, `Ejtimaa_rooms` returns to the baseline within
    /// the server's grace.
    RoomsAfterLeave,
    /// In a cluster, every live peer of a room is on one node.
    RoomSplit,
    /// In a cluster, a peer ends up on a node `GET /sd` listed.
    UnknownNode,
}

impl Rule {
    /// The stable kebab-case name, e.g. `counter-stuck`.
    pub fn name(self) -> &'static str {
        match self {
            Rule::Rooms => "rooms",
            Rule::Peers => "peers",
            Rule::DuplicateSeries => "duplicate-series",
            Rule::UnknownSeries => "unknown-series",
            Rule::SeriesAfterLeave => "series-after-leave",
            Rule::SeriesAfterClose => "series-after-close",
            Rule::Labels => "labels",
            Rule::CounterFell => "counter-fell",
            Rule::CounterStuck => "counter-stuck",
            Rule::ScoreRange => "score-range",
            Rule::InfoValue => "info-value",
            Rule::ScoreLow => "score-low",
            Rule::RoomStreams => "room-streams",
            Rule::MissingSeries => "missing-series",
            Rule::DuplicateConsumer => "duplicate-consumer",
            Rule::PeerDisconnected => "peer-disconnected",
            Rule::ScrapeFailed => "scrape-failed",
            Rule::RoomsAfterLeave => "rooms-after-leave",
            Rule::RoomSplit => "room-split",
            Rule::UnknownNode => "unknown-node",
        }
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One broken invariant, with the offending series.
#[derive(Debug, Clone, Serialize)]
pub struct Violation {
    /// Seconds since the run started.
    pub at_secs: f64,
    /// Which invariant.
    pub rule: Rule,
    /// What was expected and what was found.
    pub detail: String,
    /// The offending series as exported, when there is one.
    pub series: Option<String>,
    /// The room concerned, when known.
    pub room_id: Option<String>,
    /// The cluster node whose exporter showed it (cluster runs only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

impl Violation {
    /// A violation of `rule` at `at_secs` (logged as a warning); the room
    /// defaults to the series' `room_id`.
    pub fn new(
        rule: Rule,
        at_secs: f64,
        detail: String,
        series: Option<&Series>,
        room: Option<&str>,
    ) -> Violation {
        let room_id = room
            .map(str::to_string)
            .or_else(|| series.map(|s| s.label("room_id").to_string()));
        let series = series.map(Series::render);
        tracing::warn!(rule = rule.name(), %detail, ?series, "violation");
        Violation {
            at_secs,
            rule,
            detail,
            series,
            room_id,
            node: None,
        }
    }
}

/// What a check may demand at this moment of the run.
#[derive(Debug, Clone)]
pub struct CheckContext {
    /// When the run started (for `at_secs`).
    pub run_start: Instant,
    /// How long a stream must be known before its series must exist.
    pub settle: Duration,
    /// How old the exporter's stream figures may be (background stats):
    /// counters must rise only between scrapes further apart than this, and
    /// settling and warming up take this much longer.
    pub staleness: Duration,
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
    if family.starts_with("mediasoup_producer_") {
        Role::Producer
    } else {
        Role::Consumer
    }
}

/// Stateful checker: remembers the previous scrape for the counter and
/// "one scrape later" rules.
#[derive(Debug, Default)]
pub struct Checker {
    prev_started: Option<Instant>,
    prev_values: BTreeMap<(String, String), f64>,
    /// Each byte counter's value at the last scrape it was judged for
    /// rising, and when that scrape was sent.
    rise_refs: BTreeMap<(String, String), (Instant, f64)>,
    prev_unknown: BTreeSet<(String, String)>,
    /// Byte counters seen rising between two scrapes (per series and interval).
    pub counter_rises: u64,
    /// Everything broken so far.
    pub violations: Vec<Violation>,
}

/// What one scrape's rules see: the ledger, the scrape, the context and
/// what the checker remembers of the previous scrape.
pub struct Judged<'a> {
    /// The run's peers and streams as the sim knows them.
    pub ledger: &'a Ledger,
    /// The scrape being judged.
    pub scrape: &'a Scrape,
    /// What may be demanded now.
    pub ctx: &'a CheckContext,
    /// When the previous scrape was sent.
    pub prev_started: Option<Instant>,
}

/// Collects violations with the scrape's time.
pub struct Out<'a> {
    at_secs: f64,
    violations: &'a mut Vec<Violation>,
}

impl Out<'_> {
    /// Records a violation of `rule` (see [`Violation::new`]).
    pub fn push(
        &mut self,
        rule: Rule,
        detail: String,
        series: Option<&Series>,
        room: Option<&str>,
    ) {
        let v = Violation::new(rule, self.at_secs, detail, series, room);
        self.violations.push(v);
    }
}

impl Checker {
    /// Checks one scrape against the ledger; returns how many violations it added.
    pub fn check(&mut self, ledger: &Ledger, scrape: &Scrape, ctx: &CheckContext) -> usize {
        let before = self.violations.len();
        let j = Judged {
            ledger,
            scrape,
            ctx,
            prev_started: self.prev_started,
        };
        let mut out = Out {
            at_secs: scrape.started.duration_since(ctx.run_start).as_secs_f64(),
            violations: &mut self.violations,
        };
        rules::rooms(&j, &mut out);
        rules::peers(&j, &mut out);
        // A server with `metrics = "aggregated"` declares the room aggregates
        // and no per-stream family: its streams are judged by room instead.
        let aggregated = scrape.declares(ROOM_STREAMS);
        let per_stream = !aggregated || scrape.declares(PRODUCER_BYTES);
        if aggregated {
            rules::room_streams(&j, &mut out);
        }
        let mut values = BTreeMap::new();
        let mut rise_refs = BTreeMap::new();
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
                rules::duplicate_series(id, series, &mut out);
                let key = (family.to_string(), (*id).to_string());
                match stream {
                    None => {
                        rules::unknown_series(self.prev_unknown.contains(&key), s, &mut out);
                        unknown.insert(key.clone());
                        rules::series_after_leave(&j, s, &mut out);
                    }
                    Some(e) => {
                        rules::labels(&j, e, family, s, &mut out);
                        rules::series_after_close(&j, e, s, &mut out);
                    }
                }
                match family {
                    PRODUCER_BYTES | CONSUMER_BYTES | PRODUCER_PACKETS | CONSUMER_PACKETS => {
                        if let Some(&old) = self.prev_values.get(&key) {
                            rules::counter_fell(old, s, &mut out);
                        }
                        // Rises are judged against a scrape old enough that
                        // the exporter has asked mediasoup again since.
                        let mut reference = (scrape.started, s.value);
                        if let Some(&(at, old)) = self.rise_refs.get(&key) {
                            if scrape.started.saturating_duration_since(at) >= ctx.staleness {
                                self.counter_rises += u64::from(s.value > old);
                                let since = Judged {
                                    prev_started: Some(at),
                                    ..j
                                };
                                rules::counter_stuck(&since, stream, old, s, &mut out);
                            } else {
                                reference = (at, old);
                            }
                        }
                        rise_refs.insert(key.clone(), reference);
                        values.insert(key, s.value);
                    }
                    PRODUCER_INFO | CONSUMER_INFO => rules::info_value(s, &mut out),
                    _ => {
                        rules::score_range(s, &mut out);
                        rules::score_low(&j, stream, s, &mut out);
                    }
                }
            }
        }
        if per_stream {
            rules::missing_series(&j, &mut out);
        }
        self.prev_started = Some(scrape.started);
        self.prev_values = values;
        self.rise_refs = rise_refs;
        self.prev_unknown = unknown;
        self.violations.len() - before
    }
}

#[cfg(test)]
mod tests;
