//! Runs a scenario: starts the peers at the ramp rate on the current tokio
//! runtime, scrapes and checks the exporter on a schedule, measures
//! delivery, makes everyone leave and checks that nothing of theirs stays
//! exported.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use tokio::task::JoinSet;
use url::Url;

use crate::checks::{CheckContext, Checker};
use crate::ledger::{Ledger, PeerState};
use crate::peer::{Peer, PeerError};
use crate::report::{self, FailedJoin, LatencyReport, Report, Snapshots};
use crate::scenario::Scenario;
use crate::scrape::{Scrape, scrape};

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
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a stream must be known before its series must be exported.
const SETTLE: Duration = Duration::from_secs(2);

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
    rooms_baseline: f64,
    bar: ProgressBar,
}

/// Runs `scenario` against the server in `opts`; the report says whether it passed.
pub async fn run(scenario: &Scenario, opts: &RunOptions) -> anyhow::Result<Report> {
    if scenario.churn.is_some() {
        bail!("scenario {}: churn is not implemented yet", scenario.name);
    }
    let baseline = first_scrape(&opts.exporter).await?;
    let bar = if opts.progress {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    } else {
        ProgressBar::hidden()
    };
    let mut run = Run {
        scenario,
        opts,
        start: Instant::now(),
        ledger: Ledger::default(),
        peers: BTreeMap::new(),
        checker: Checker::default(),
        latencies: Vec::new(),
        failed_scrapes: 0,
        rooms_baseline: baseline.rooms().unwrap_or(0.0),
        bar,
    };
    let window = run.media_phase().await;
    run.leave_phase().await;
    run.bar.finish_and_clear();
    Ok(run.report(window))
}

/// The exporter must answer before anything starts (a few tries: a server
/// just launched may still be binding).
async fn first_scrape(exporter: &Url) -> anyhow::Result<Scrape> {
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
    async fn media_phase(&mut self) -> Option<(Snapshots, Snapshots, Duration)> {
        let scenario = self.scenario;
        let mut pending = plan(scenario, &self.opts.tag).into_iter();
        let mut next = pending.next();
        let period = Duration::from_secs_f64(1.0 / scenario.ramp_up);
        let mut next_spawn = tokio::time::Instant::now();
        let end = tokio::time::Instant::from_std(self.start + scenario.duration());
        let mut joins: JoinSet<JoinResult> = JoinSet::new();
        let mut scrape_tick = tokio::time::interval_at(
            tokio::time::Instant::now() + scenario.scrape_interval(),
            scenario.scrape_interval(),
        );
        scrape_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut progress_tick = tokio::time::interval(Duration::from_millis(500));
        let mut window_at: Option<tokio::time::Instant> = None;
        let mut window_start: Option<(Snapshots, Instant)> = None;
        loop {
            let steady = next.is_none() && joins.is_empty();
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
                    self.ledger.add_peer(&room, &peer, &name);
                    let config = scenario.peer_config(&room, &peer, &name);
                    let url = self.opts.server.to_string();
                    joins.spawn(async move {
                        let t = Instant::now();
                        let result = Peer::spawn(url.trim_end_matches('/'), config).await;
                        (peer, result, t.elapsed())
                    });
                }
                Some(joined) = joins.join_next(), if !joins.is_empty() => {
                    match joined {
                        Ok(joined) => self.joined(joined),
                        Err(e) => tracing::error!("a join task failed: {e}"),
                    }
                }
                _ = scrape_tick.tick() => {
                    self.scrape_and_check(steady, true).await;
                }
                _ = progress_tick.tick() => self.progress(),
                _ = sleep_until_opt(window_at), if window_start.is_none() && window_at.is_some() => {
                    window_start = Some((self.snapshots(), Instant::now()));
                }
                _ = tokio::time::sleep_until(end) => break,
            }
        }
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
        let (start, at) = window_start?;
        Some((start, self.snapshots(), at.elapsed()))
    }

    fn joined(&mut self, (peer_id, result, latency): JoinResult) {
        match result {
            Ok(peer) => {
                self.ledger.set_state(&peer_id, PeerState::Up);
                if let Some(p) = self.ledger.peers.get_mut(&peer_id) {
                    p.join_latency = Some(latency);
                }
                self.ledger
                    .observe(&peer_id, peer.stats().snapshot(), Instant::now());
                self.peers.insert(peer_id, peer);
            }
            Err(e) => {
                tracing::warn!(peer = %peer_id, "join failed: {e}");
                self.ledger
                    .set_state(&peer_id, PeerState::Failed(e.to_string()));
            }
        }
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
        self.observe_all();
        match result {
            Ok(s) => {
                self.latencies.push(s.latency);
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

    fn progress(&self) {
        let (mut sent, mut received) = (0, 0);
        for p in self.peers.values() {
            let s = p.stats().snapshot();
            sent += s.audio_sent.packets + s.video_sent.packets;
            received += s.received.packets;
        }
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

    fn report(&self, window: Option<(Snapshots, Snapshots, Duration)>) -> Report {
        let (rooms, total) = report::rooms(
            &self.ledger,
            window.as_ref().map(|(a, b, _)| (a, b)),
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
            window_secs: window.as_ref().map_or(0.0, |w| w.2.as_secs_f64()),
            rooms,
            total,
            scrapes: LatencyReport::of(&self.latencies, self.failed_scrapes),
            joins: LatencyReport::of(&joins, failed_joins.len()),
            counter_rises: self.checker.counter_rises,
            failed_joins,
            violations: self.checker.violations.clone(),
        }
    }
}

async fn sleep_until_opt(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
