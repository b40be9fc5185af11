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

use crate::cluster::{self, Node};
use crate::delivery::{DRAIN, Delivery, DeliveryCounts, Tracks};
use crate::exporter::{Exporter, scrape};
use crate::exposition::Scrape;
use crate::join::{Joined, PeerPlan, join};
use crate::ledger::{Ledger, PeerState};
use crate::peer::Peer;
use crate::report::{ChurnReport, Report, Snapshots};
use crate::rng::Rng;
use crate::scenario::Scenario;
use crate::scraper::Scrapers;
use crate::timeline::Timeline;
use crate::tokens::Tokens;

mod finish;
mod observe;
mod schedule;
mod watch;

pub use schedule::{Action, Schedule};
use watch::Watch;

/// Where and how to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Signaling, e.g. `http://127.0.0.1:3443`.
    pub server: Url,
    /// The exporter: its metrics URL, e.g. `http://127.0.0.1:8889/metrics`,
    /// and how to reach it.
    pub exporter: Exporter,
    /// Show the indicatif progress line (on stderr).
    pub progress: bool,
    /// How long the server keeps an emptied room open (`rooms.empty_grace_ms`).
    pub room_grace: Duration,
    /// Prefix of room and peer ids, so that runs never collide on a shared server.
    pub tag: String,
    /// Join tokens for a server that requires them.
    pub tokens: Tokens,
    /// TLS for `wss`/`https` signaling (the system's roots when `None`).
    pub tls: Option<crate::tls::Tls>,
}

impl RunOptions {
    /// Options for `server` and a plain `exporter` URL (no secret) with the
    /// server's default grace, no progress line and a tag made from the
    /// clock. Panics on an exporter URL that is not `http(s)`.
    pub fn new(server: Url, exporter: Url) -> RunOptions {
        let exporter = Exporter::plain(exporter).expect("an http(s) exporter URL");
        RunOptions::with_exporter(server, exporter)
    }

    /// Options for `server` and `exporter`; see [`RunOptions::new`].
    pub fn with_exporter(server: Url, exporter: Exporter) -> RunOptions {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        RunOptions {
            server,
            exporter,
            progress: false,
            room_grace: Duration::from_secs(5),
            tag: format!("sim{:04x}", nanos & 0xffff),
            tokens: Tokens::default(),
            tls: None,
        }
    }
}

/// How long one scrape may take before it counts as failed.
pub(crate) const SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a stream must be known before its series must be exported.
pub(crate) const SETTLE: Duration = Duration::from_secs(2);
/// The run's mutable state.
struct Run<'a> {
    scenario: &'a Scenario,
    opts: &'a RunOptions,
    start: Instant,
    ledger: Ledger,
    peers: BTreeMap<String, Peer>,
    /// Every node's exporter and its checks: one for a single server.
    watches: Vec<Watch>,
    /// Whether this is a cluster run (peers spread over the nodes, each
    /// node checked against the peers that ended up on it).
    cluster: bool,
    /// Rooms in the order their first peer started, with the peers started
    /// in each so far (which node a peer knocks at first).
    room_starts: BTreeMap<String, (usize, usize)>,
    /// Violations the run finds itself (not a scrape's rules).
    violations: Vec<crate::checks::Violation>,
    /// The node each joining peer knocked at first, by peer id.
    entries: BTreeMap<String, usize>,
    /// Cluster redirects the peers followed.
    redirects: usize,
    bar: ProgressBar,
    churn: ChurnReport,
    /// Peers already reported for holding two consumers of one producer.
    duplicates_reported: BTreeSet<String>,
    /// Churn joins under way (their peers count as churn joins once up).
    churn_joining: BTreeSet<String>,
    /// Picks the churn's leavers.
    rng: Rng,
    timeline: Timeline,
}

/// The delivered ratio's window once finished: its counts, its length and
/// every subscriber's tracks at its end.
pub(crate) struct Window {
    counts: DeliveryCounts,
    length: Duration,
    tracks: BTreeMap<String, Tracks>,
}

/// The window under way: the last snapshots and when they were taken, the
/// window's start and its counts.
struct OpenWindow {
    last: Snapshots,
    last_at: Instant,
    started: Instant,
    delivery: Delivery,
}

/// Runs `scenario` against the server in `opts`; the report says whether it passed.
pub async fn run(scenario: &Scenario, opts: &RunOptions) -> anyhow::Result<Report> {
    let nodes = match &scenario.cluster {
        Some(c) => cluster::discover(&opts.exporter, c.min_nodes, SCRAPE_TIMEOUT).await?,
        None => vec![Node {
            id: String::new(),
            region: String::new(),
            signaling: opts.server.clone(),
            exporter: opts.exporter.clone(),
        }],
    };
    let mut watches = Vec::with_capacity(nodes.len());
    for node in nodes {
        let baseline = first_scrape(&node.exporter).await?;
        watches.push(Watch::new(node, &baseline));
    }
    // The first join would otherwise wait for it (see `peer::prepare`).
    crate::peer::prepare();
    let bar = progress_bar(opts.progress);
    let mut run = Run {
        scenario,
        opts,
        start: Instant::now(),
        ledger: Ledger::default(),
        peers: BTreeMap::new(),
        watches,
        cluster: scenario.cluster.is_some(),
        room_starts: BTreeMap::new(),
        violations: Vec::new(),
        entries: BTreeMap::new(),
        redirects: 0,
        bar,
        churn: ChurnReport::default(),
        duplicates_reported: BTreeSet::new(),
        churn_joining: BTreeSet::new(),
        rng: Rng::from_text(&format!("{}/leaves", opts.tag)),
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
pub(crate) async fn first_scrape(exporter: &Exporter) -> anyhow::Result<Scrape> {
    let mut last = None;
    for _ in 0..20 {
        match scrape(exporter, SCRAPE_TIMEOUT).await {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Err(last.expect("tried at least once")).context(format!("cannot scrape {}", exporter.url()))
}

impl Run<'_> {
    /// Ramps up, runs until the duration is over; returns the delivered
    /// ratio's window. The [`Schedule`] says when; this loop only waits
    /// and does.
    async fn media_phase(&mut self) -> Option<Window> {
        let mut schedule = Schedule::new(self.scenario, &self.opts.tag, self.start);
        let mut joins: JoinSet<Joined> = JoinSet::new();
        let mut leaves: JoinSet<()> = JoinSet::new();
        // Scrapes run on their own thread: a slow exporter delays only their
        // judging, never the joins, churn or window.
        let mut scraper = Scrapers::spawn(
            self.watches
                .iter()
                .map(|w| w.node.exporter.clone())
                .collect(),
            self.scenario.scrape_interval(),
            SCRAPE_TIMEOUT,
        );
        let mut window: Option<OpenWindow> = None;
        'run: loop {
            for action in schedule.on_tick(Instant::now()) {
                match action {
                    Action::StartJoin { plan, churn } => self.start_join(&mut joins, plan, churn),
                    Action::ChurnLeave => self.churn_leave(&mut leaves),
                    Action::Progress => self.progress(),
                    Action::StartWindow => {
                        let now = Instant::now();
                        window = Some(OpenWindow {
                            last: self.snapshots(),
                            last_at: now,
                            started: now,
                            delivery: Delivery::default(),
                        });
                    }
                    Action::End => break 'run,
                }
            }
            let deadline = schedule.next_deadline().map(tokio::time::Instant::from_std);
            tokio::select! {
                _ = sleep_until_opt(deadline) => {}
                Some(joined) = joins.join_next(), if !joins.is_empty() => {
                    schedule.on_joined(Instant::now());
                    match joined {
                        Ok(joined) => self.joined(joined),
                        Err(e) => tracing::error!("a join task failed: {e}"),
                    }
                }
                Some(_) = leaves.join_next(), if !leaves.is_empty() => {}
                (node, result) = scraper.next() => {
                    let steady = matches!(&result, Ok(s) if schedule.judges_steady(s.started));
                    self.check_scraped(node, result, steady, true);
                    if let Some(w) = window.as_mut() {
                        self.close_interval(w);
                    }
                }
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
        let mut w = window?;
        self.close_interval(&mut w);
        let length = w.last_at - w.started;
        let tracks = crate::delivery::tracks(&self.ledger, &w.last);
        // Packets still in flight arrive before the counts are read.
        tokio::time::sleep(DRAIN).await;
        Some(Window {
            counts: w.delivery.counts(),
            length,
            tracks,
        })
    }

    /// Ends the window's current interval now and starts the next.
    fn close_interval(&mut self, w: &mut OpenWindow) {
        let now = Instant::now();
        let snapshots = self.snapshots();
        // Consumers older than the warm-up must be receiving.
        let cutoff = w
            .last_at
            .checked_sub(self.scenario.warm_up())
            .unwrap_or(w.last_at);
        w.delivery
            .add_interval(&self.ledger, &w.last, &snapshots, cutoff);
        w.last = snapshots;
        w.last_at = now;
    }

    /// Records a peer in the ledger and starts its join, timed.
    fn start_join(&mut self, joins: &mut JoinSet<Joined>, plan: PeerPlan, churn: bool) {
        self.ledger
            .add_peer(&plan.room_id, &plan.peer_id, &plan.display_name);
        if churn {
            self.churn_joining.insert(plan.peer_id.clone());
        }
        let mut config = plan.config(self.scenario, &self.opts.tokens);
        config.tls = self.opts.tls.clone();
        let next_room = self.room_starts.len();
        let (room, started) = self
            .room_starts
            .entry(plan.room_id.clone())
            .or_insert((next_room, 0));
        let node = cluster::entry(*room, *started, self.watches.len());
        *started += 1;
        self.entries.insert(plan.peer_id.clone(), node);
        let url = self.watches[node].node.signaling.to_string();
        joins.spawn(async move { join(url.trim_end_matches('/'), plan.peer_id, config).await });
    }

    fn joined(
        &mut self,
        Joined {
            peer_id,
            result,
            latency,
        }: Joined,
    ) {
        match result {
            Ok(peer) => {
                if self.churn_joining.remove(&peer_id) {
                    self.churn.joined += 1;
                }
                let entry = self.entries.remove(&peer_id).unwrap_or(0);
                self.landed(&peer_id, &peer, entry);
                self.ledger.set_state(&peer_id, PeerState::Up);
                if let Some(p) = self.ledger.peers.get_mut(&peer_id) {
                    p.join_latency = Some(latency);
                }
                self.ledger
                    .observe(&peer_id, peer.stats().snapshot(), Instant::now());
                self.peers.insert(peer_id, peer);
            }
            Err(e) => {
                self.entries.remove(&peer_id);
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

    /// Every live peer's counters, by peer id.
    fn snapshots(&self) -> Snapshots {
        self.peers
            .iter()
            .map(|(id, p)| (id.clone(), p.stats().snapshot()))
            .collect()
    }
}

async fn sleep_until_opt(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
