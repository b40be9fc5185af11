//! Runs a scenario: starts the peers at the ramp rate on the current tokio
//! runtime, scrapes and checks the exporter on a schedule, measures
//! delivery, makes everyone leave and checks that nothing of theirs stays
//! exported.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use tokio::task::JoinSet;
use url::Url;

use crate::checks::{CheckContext, Checker};
use crate::ledger::{Ledger, PeerState};
use crate::peer::{Peer, PeerError};
use crate::report::{
    self, ChurnReport, FailedJoin, LatencyReport, Report, Snapshots, WindowCounts,
};
use crate::scenario::Scenario;
use crate::scrape::{Scrape, ScrapeError, scrape};
use crate::scraper::Scraper;
use crate::timeline::Timeline;

/// Where and how to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Signaling, e.g. `http://127.0.0.1:3443`.
    pub server: Url,
    /// The exporter's metrics URL, e.g. `http://127.0.0.1:8889/metrics`.
    pub exporter: Url,
    /// Show the indicatif progress line (on stderr).
    pub progress: bool,
    /// How long the server keeps an emptied room open (`rooms.empty_grace_ms`).
    pub room_grace: Duration,
    /// Prefix of room and peer ids, so that runs never collide on a shared server.
    pub tag: String,
}

impl RunOptions {
    /// Options for `server` and `exporter` with the server's default grace,
    /// no progress line and a tag made from the clock.
    pub fn new(server: Url, exporter: Url) -> RunOptions {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        RunOptions {
            server,
            exporter,
            progress: false,
            room_grace: Duration::from_secs(5),
            tag: format!("sim{:04x}", nanos & 0xffff),
        }
    }
}

/// How long one scrape may take before it counts as failed.
pub(crate) const SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a stream must be known before its series must be exported.
const SETTLE: Duration = Duration::from_secs(2);
/// After a churn leave, how long counts, rises and scores are not judged
/// (the server learns of a disconnect, clean or abrupt, asynchronously;
/// on loopback within milliseconds).
const CHURN_QUIET: Duration = Duration::from_millis(300);
/// No churn this close to the end, so that its join completes in the run.
const CHURN_STOP: Duration = Duration::from_secs(2);

type JoinResult = (String, Result<Peer, PeerError>, Duration);

/// The run's mutable state.
struct Run<'a> {
    scenario: &'a Scenario,
    opts: &'a RunOptions,
    start: Instant,
    ledger: Ledger,
    peers: BTreeMap<String, Peer>,
    checker: Checker,
    latencies: Vec<Duration>,
    failed_scrapes: usize,
    /// Scrapes judged as steady (counts, rises and scores checked).
    steady_scrapes: usize,
    rooms_baseline: f64,
    bar: ProgressBar,
    churn: ChurnReport,
    /// Peers already reported for holding two consumers of one producer.
    duplicates_reported: BTreeSet<String>,
    /// Churn joins under way (their peers count as churn joins once up).
    churn_joining: std::collections::BTreeSet<String>,
    rng: SplitMix64,
    timeline: Timeline,
}

/// A small deterministic generator (no dependency needed for picking peers).
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0; the modulo bias is irrelevant here).
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Runs `scenario` against the server in `opts`; the report says whether it passed.
pub async fn run(scenario: &Scenario, opts: &RunOptions) -> anyhow::Result<Report> {
    let baseline = first_scrape(&opts.exporter).await?;
    let bar = progress_bar(opts.progress);
    let mut run = Run {
        scenario,
        opts,
        start: Instant::now(),
        ledger: Ledger::default(),
        peers: BTreeMap::new(),
        checker: Checker::default(),
        latencies: Vec::new(),
        failed_scrapes: 0,
        steady_scrapes: 0,
        rooms_baseline: baseline.rooms().unwrap_or(0.0),
        bar,
        churn: ChurnReport::default(),
        duplicates_reported: BTreeSet::new(),
        churn_joining: std::collections::BTreeSet::new(),
        rng: SplitMix64(opts.tag.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        })),
        timeline: Timeline::default(),
    };
    let window = run.media_phase().await;
    run.leave_phase().await;
    run.bar.finish_and_clear();
    Ok(run.report(window))
}

/// The progress line on stderr, or a hidden one.
pub(crate) fn progress_bar(visible: bool) -> ProgressBar {
    if !visible {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// The exporter must answer before anything starts (a few tries: a server
/// just launched may still be binding).
pub(crate) async fn first_scrape(exporter: &Url) -> anyhow::Result<Scrape> {
    let mut last = None;
    for _ in 0..20 {
        match scrape(exporter, SCRAPE_TIMEOUT).await {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Err(last.expect("tried at least once")).context(format!("cannot scrape {exporter}"))
}

/// The peers to start: (room, peer id, display name), interleaved across
/// rooms so that every room fills at the same pace.
fn plan(scenario: &Scenario, tag: &str) -> Vec<(String, String, String)> {
    let mut plan = Vec::with_capacity(scenario.peers());
    for i in 0..scenario.peers_per_room {
        for r in 0..scenario.rooms {
            plan.push((
                format!("{tag}-room{r}"),
                format!("{tag}-r{r}-p{i}"),
                // A quote and a non-ASCII character: labels must survive escaping.
                format!("Peer {i} of \"room {r}\" \u{2014} {}", scenario.name),
            ));
        }
    }
    plan
}

impl Run<'_> {
    /// Ramps up, runs until the duration is over; returns the delivered
    /// ratio's window (start snapshots, end snapshots, length).
    async fn media_phase(&mut self) -> Option<(WindowCounts, Duration)> {
        let scenario = self.scenario;
        let mut pending = plan(scenario, &self.opts.tag).into_iter();
        let mut next = pending.next();
        let period = Duration::from_secs_f64(1.0 / scenario.ramp_up);
        let mut next_spawn = tokio::time::Instant::now();
        let end = tokio::time::Instant::from_std(self.start + scenario.duration());
        let mut joins: JoinSet<JoinResult> = JoinSet::new();
        // Scrapes run in their own task: a slow exporter delays only their
        // judging, never the joins, churn or window.
        let mut scraper = Scraper::spawn(
            self.opts.exporter.clone(),
            scenario.scrape_interval(),
            SCRAPE_TIMEOUT,
        );
        // Since when the run has been steady without a break: a scrape is
        // judged as steady only if it was sent after that.
        let mut steady_since: Option<Instant> = None;
        let mut progress_tick = tokio::time::interval(Duration::from_millis(500));
        let mut window_at: Option<tokio::time::Instant> = None;
        // The window so far: its last snapshots, its start, its counts.
        let mut window_start: Option<(Snapshots, Instant, WindowCounts)> = None;
        // Churn starts once the initial ramp is done: one leave and one
        // join per tick.
        let churn_period = scenario
            .churn
            .as_ref()
            .filter(|c| c.leaves_per_sec > 0.0)
            .map(|c| Duration::from_secs_f64(1.0 / c.leaves_per_sec));
        let mut next_churn: Option<tokio::time::Instant> = None;
        let mut churn_started = false;
        let mut last_churn: Option<tokio::time::Instant> = None;
        let mut leaves: JoinSet<()> = JoinSet::new();
        let mut churn_seq = 0usize;
        loop {
            let ramped = next.is_none() && (window_at.is_some() || joins.is_empty());
            let quiet = last_churn.is_none_or(|t| t.elapsed() >= CHURN_QUIET);
            let steady = ramped && joins.is_empty() && quiet;
            if steady {
                steady_since.get_or_insert_with(Instant::now);
            } else {
                steady_since = None;
            }
            if ramped && !churn_started {
                churn_started = true;
                next_churn = churn_period.map(|period| tokio::time::Instant::now() + period);
            }
            if next_churn.is_some_and(|at| at + CHURN_STOP > end) {
                next_churn = None;
            }
            if steady && window_at.is_none() {
                // Measure delivery once every stream has warmed up, or from
                // now if the run is too short for that.
                let warmed = tokio::time::Instant::now() + scenario.warm_up();
                window_at = Some(if warmed + Duration::from_secs(1) < end {
                    warmed
                } else {
                    tokio::time::Instant::now()
                });
            }
            tokio::select! {
                _ = tokio::time::sleep_until(next_spawn), if next.is_some() => {
                    let (room, peer, name) = next.take().expect("guarded");
                    next = pending.next();
                    next_spawn += period;
                    self.start_join(&mut joins, scenario, room, peer, name);
                }
                Some(joined) = joins.join_next(), if !joins.is_empty() => {
                    match joined {
                        Ok(joined) => self.joined(joined),
                        Err(e) => tracing::error!("a join task failed: {e}"),
                    }
                }
                _ = sleep_until_opt(next_churn), if next_churn.is_some() => {
                    let period = churn_period.expect("churn is on");
                    next_churn = next_churn.map(|at| at + period);
                    last_churn = Some(tokio::time::Instant::now());
                    self.churn_leave(&mut leaves);
                    let (room, peer, name) = self.churn_plan(churn_seq);
                    churn_seq += 1;
                    self.churn_joining.insert(peer.clone());
                    self.start_join(&mut joins, scenario, room, peer, name);
                }
                Some(_) = leaves.join_next(), if !leaves.is_empty() => {}
                result = scraper.next() => {
                    let judged_steady = match &result {
                        Ok(s) => steady_since.is_some_and(|t| t <= s.started),
                        Err(_) => false,
                    };
                    self.check_scraped(result, judged_steady, true);
                    if let Some((prev, _, acc)) = window_start.as_mut() {
                        let now = self.snapshots();
                        report::add_interval(&self.ledger, prev, &now, acc);
                        *prev = now;
                    }
                }
                _ = progress_tick.tick() => self.progress(),
                _ = sleep_until_opt(window_at), if window_start.is_none() && window_at.is_some() => {
                    window_start = Some((self.snapshots(), Instant::now(), WindowCounts::new()));
                }
                _ = tokio::time::sleep_until(end) => break,
            }
        }
        // Clean leaves finish their disconnect before everyone else leaves.
        while leaves.join_next().await.is_some() {}
        // Joins still under way at the end are abandoned (and reported).
        joins.abort_all();
        while let Some(joined) = joins.join_next().await {
            if let Ok(joined) = joined {
                self.joined(joined);
            }
        }
        for p in self.ledger.peers.values_mut() {
            if p.state == PeerState::Joining {
                p.state = PeerState::Failed("still joining at the end of the run".into());
            }
        }
        self.observe_all();
        let (prev, at, mut acc) = window_start?;
        report::add_interval(&self.ledger, &prev, &self.snapshots(), &mut acc);
        Some((acc, at.elapsed()))
    }

    /// Records a peer in the ledger and starts its join, timed.
    fn start_join(
        &mut self,
        joins: &mut JoinSet<JoinResult>,
        scenario: &Scenario,
        room: String,
        peer: String,
        name: String,
    ) {
        self.ledger.add_peer(&room, &peer, &name);
        let config = scenario.peer_config(&room, &peer, &name);
        let url = self.opts.server.to_string();
        joins.spawn(async move {
            let t = Instant::now();
            let result = Peer::spawn(url.trim_end_matches('/'), config).await;
            (peer, result, t.elapsed())
        });
    }

    fn joined(&mut self, (peer_id, result, latency): JoinResult) {
        match result {
            Ok(peer) => {
                if self.churn_joining.remove(&peer_id) {
                    self.churn.joined += 1;
                }
                self.ledger.set_state(&peer_id, PeerState::Up);
                if let Some(p) = self.ledger.peers.get_mut(&peer_id) {
                    p.join_latency = Some(latency);
                }
                self.ledger
                    .observe(&peer_id, peer.stats().snapshot(), Instant::now());
                self.peers.insert(peer_id, peer);
            }
            Err(e) => {
                self.churn_joining.remove(&peer_id);
                tracing::warn!(peer = %peer_id, "join failed: {e}");
                self.ledger
                    .set_state(&peer_id, PeerState::Failed(e.to_string()));
            }
        }
    }

    /// One churn leave: a random live peer whose room keeps at least one
    /// other live peer (an emptied room would linger for the server's grace
    /// and muddle the room count) leaves, abruptly with the scenario's
    /// probability. It counts as gone from now: the checks then demand its
    /// series be absent from the scrape after next.
    fn churn_leave(&mut self, leaves: &mut JoinSet<()>) {
        let Some(churn) = self.scenario.churn.as_ref() else {
            return;
        };
        let live = self.ledger.live_peers_by_room();
        let candidates: Vec<String> = self
            .peers
            .keys()
            .filter(|id| {
                self.ledger
                    .peers
                    .get(*id)
                    .and_then(|p| live.get(&p.room_id))
                    .is_some_and(|&n| n >= 2)
            })
            .cloned()
            .collect();
        if candidates.is_empty() {
            return;
        }
        let id = candidates[self.rng.below(candidates.len())].clone();
        let abrupt = self.rng.unit() < churn.abrupt_fraction;
        let Some(peer) = self.peers.remove(&id) else {
            return;
        };
        let now = Instant::now();
        self.ledger.observe(&id, peer.stats().snapshot(), now);
        self.ledger.set_state(&id, PeerState::Left(now));
        if abrupt {
            self.churn.aborted += 1;
            peer.abort();
        } else {
            self.churn.left_cleanly += 1;
            leaves.spawn(peer.leave());
        }
    }

    /// The `seq`th churn joiner: a new peer id in a random room.
    fn churn_plan(&mut self, seq: usize) -> (String, String, String) {
        let r = self.rng.below(self.scenario.rooms);
        let tag = &self.opts.tag;
        (
            format!("{tag}-room{r}"),
            format!("{tag}-r{r}-c{seq}"),
            format!(
                "Churner {seq} of \"room {r}\" \u{2014} {}",
                self.scenario.name
            ),
        )
    }

    /// Every live peer's counters, by peer id.
    fn snapshots(&self) -> Snapshots {
        self.peers
            .iter()
            .map(|(id, p)| (id.clone(), p.stats().snapshot()))
            .collect()
    }

    /// Brings the ledger up to date; a peer whose connection ended on its
    /// own is gone (and that is a failure of the run).
    fn observe_all(&mut self) {
        let now = Instant::now();
        let mut dropped = Vec::new();
        for (id, snap) in self.snapshots() {
            if let Some(reason) = &snap.disconnected {
                dropped.push((id.clone(), reason.clone()));
            }
            let duplicates = report::duplicate_consumers(&snap);
            if duplicates > 0 && self.duplicates_reported.insert(id.clone()) {
                let room = self.ledger.peers.get(&id).map(|p| p.room_id.clone());
                self.checker.violations.push(crate::checks::Violation {
                    at_secs: self.start.elapsed().as_secs_f64(),
                    rule: "duplicate-consumer".into(),
                    detail: format!(
                        "{id} holds {duplicates} open consumer(s) of a producer it already consumes"
                    ),
                    series: None,
                    room_id: room,
                });
            }
            self.ledger.observe(&id, snap, now);
        }
        for (id, reason) in dropped {
            self.peers.remove(&id);
            self.ledger.set_state(&id, PeerState::Left(now));
            let room = self.ledger.peers.get(&id).map(|p| p.room_id.clone());
            self.checker.violations.push(crate::checks::Violation {
                at_secs: self.start.elapsed().as_secs_f64(),
                rule: "peer-disconnected".into(),
                detail: format!("{id} lost its connection: {reason}"),
                series: None,
                room_id: room,
            });
        }
    }

    /// One scrape, checked against the ledger as it is right after it.
    async fn scrape_and_check(&mut self, steady: bool, check_rooms: bool) -> Option<Scrape> {
        let result = scrape(&self.opts.exporter, SCRAPE_TIMEOUT).await;
        self.check_scraped(result, steady, check_rooms)
    }

    /// Checks a scrape's result against the ledger as it is now (right
    /// after the scrape: results are judged as soon as they arrive).
    fn check_scraped(
        &mut self,
        result: Result<Scrape, ScrapeError>,
        steady: bool,
        check_rooms: bool,
    ) -> Option<Scrape> {
        self.observe_all();
        match result {
            Ok(s) => {
                self.latencies.push(s.latency);
                self.timeline
                    .record_scrape(s.started.saturating_duration_since(self.start), s.latency);
                self.steady_scrapes += usize::from(steady);
                let ctx = CheckContext {
                    run_start: self.start,
                    settle: SETTLE,
                    warm_up: self.scenario.warm_up(),
                    min_score: f64::from(self.scenario.min_score),
                    steady,
                    rooms_baseline: self.rooms_baseline,
                    check_rooms,
                };
                self.checker.check(&self.ledger, &s, &ctx);
                Some(s)
            }
            Err(e) => {
                tracing::warn!("scrape failed: {e}");
                self.failed_scrapes += 1;
                self.checker.violations.push(crate::checks::Violation {
                    at_secs: self.start.elapsed().as_secs_f64(),
                    rule: "scrape-failed".into(),
                    detail: e.to_string(),
                    series: None,
                    room_id: None,
                });
                None
            }
        }
    }

    /// Updates the progress line and samples the timeline.
    fn progress(&mut self) {
        let (mut sent, mut received) = (0, 0);
        for p in self.peers.values() {
            let s = p.stats().snapshot();
            sent += report::sent_packets(&s);
            received += s.received.packets;
        }
        // Peers gone from the run still count, with their last counters,
        // so that the timeline's rates never go negative.
        let (mut all_sent, mut all_received) = (sent, received);
        for p in self.ledger.peers.values() {
            if !self.peers.contains_key(&p.peer_id) {
                all_sent += report::sent_packets(&p.snapshot);
                all_received += p.snapshot.received.packets;
            }
        }
        self.timeline.record_load(
            self.start.elapsed(),
            self.peers.len(),
            all_sent,
            all_received,
        );
        let last = self.latencies.last().map_or_else(
            || "-".into(),
            |d| format!("{:.1} ms", d.as_secs_f64() * 1e3),
        );
        self.bar.set_message(format!(
            "peers {}/{} | packets sent {sent} received {received} | last scrape {last} | violations {}",
            self.peers.len(),
            self.scenario.peers(),
            self.checker.violations.len()
        ));
    }

    /// Everyone leaves cleanly; one scrape later nothing of theirs may be
    /// exported, and their rooms close within the server's grace.
    async fn leave_phase(&mut self) {
        self.bar.set_message("leaving");
        let peers = std::mem::take(&mut self.peers);
        let ids: Vec<String> = peers.keys().cloned().collect();
        futures_util::future::join_all(peers.into_values().map(Peer::leave)).await;
        let left = Instant::now();
        for id in &ids {
            self.ledger.set_state(id, PeerState::Left(left));
        }
        // The first scrape may still show them (the server learns of the
        // disconnects asynchronously); the second one must not.
        self.scrape_and_check(false, false).await;
        tokio::time::sleep(self.scenario.scrape_interval().min(Duration::from_secs(1))).await;
        self.scrape_and_check(true, false).await;
        // Emptied rooms stay open for the grace period, then must close.
        let deadline = Instant::now() + self.opts.room_grace + Duration::from_secs(3);
        let mut rooms = None;
        while Instant::now() < deadline {
            match scrape(&self.opts.exporter, SCRAPE_TIMEOUT).await {
                Ok(s) => {
                    self.latencies.push(s.latency);
                    rooms = s.rooms();
                    if rooms == Some(self.rooms_baseline) {
                        return;
                    }
                }
                Err(e) => tracing::warn!("scrape failed: {e}"),
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        self.checker.violations.push(crate::checks::Violation {
            at_secs: self.start.elapsed().as_secs_f64(),
            rule: "rooms-after-leave".into(),
            detail: format!(
                "Ejtimaa_rooms {rooms:?}, expected {} after the grace period",
                self.rooms_baseline
            ),
            series: None,
            room_id: None,
        });
    }

    fn report(&self, window: Option<(WindowCounts, Duration)>) -> Report {
        let (rooms, total) = report::rooms(
            &self.ledger,
            window.as_ref().map(|(counts, _)| counts),
            &self.checker.violations,
        );
        let joins: Vec<Duration> = self
            .ledger
            .peers
            .values()
            .filter_map(|p| p.join_latency)
            .collect();
        let failed_joins: Vec<FailedJoin> = self
            .ledger
            .failed()
            .into_iter()
            .map(|(peer_id, error)| FailedJoin { peer_id, error })
            .collect();
        Report {
            scenario: self.scenario.clone(),
            server: self.opts.server.to_string(),
            exporter: self.opts.exporter.to_string(),
            elapsed_secs: self.start.elapsed().as_secs_f64(),
            window_secs: window.as_ref().map_or(0.0, |w| w.1.as_secs_f64()),
            rooms,
            total,
            scrapes: LatencyReport::of(&self.latencies, self.failed_scrapes),
            joins: LatencyReport::of(&joins, failed_joins.len()),
            counter_rises: self.checker.counter_rises,
            steady_scrapes: self.steady_scrapes,
            churn: self.scenario.churn.as_ref().map(|_| self.churn.clone()),
            failed_joins,
            violations: self.checker.violations.clone(),
            timeline: self.timeline.clone(),
        }
    }
}

async fn sleep_until_opt(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
