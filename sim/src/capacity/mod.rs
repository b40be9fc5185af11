//! The capacity scenario: an optional join-rate burst on the fresh server,
//! then a step ramp. Each step adds `rooms` rooms of `peers_per_room` peers
//! (publishing and consuming as the scenario says), waits `settle_secs`,
//! and measures for `step_secs`: packets per second, delivered ratio and
//! loss, join latency of its joins, CPU of the sim and of the server. The
//! ramp stops at the first failing step or at `max_peers`; the last
//! passing step is the capacity.
//!
//! No live checks here: the ramp deliberately pushes the server until
//! delivery degrades, when low scores are the expected finding, not a bug.
//! Scrapes still run (in their own task) for their latency.

mod burst;
mod report;
mod step;

pub use burst::BurstReport;
pub use report::CapacityReport;
pub use step::{
    DiscardedWindow, MAX_WINDOWS, StepResult, StopReason, after_step, capacity, measure_again,
};

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::ProgressBar;
use tokio::task::JoinSet;

use crate::cpu::{CpuSample, MachineSample, Process};
use crate::delivery::{DRAIN, Delivery, DeliveryCounts};
use crate::exporter::Depth;
use crate::exposition::{Scrape, ScrapeError};
use crate::join::{Joined, PeerPlan, join};
use crate::ledger::{Ledger, PeerState};
use crate::peer::Peer;
use crate::report::{self as run_report, BodyReport, LatencyReport, Snapshots};
use crate::runner::{RunOptions, SCRAPE_TIMEOUT, first_scrape, progress_bar};
use crate::scenario::{Capacity, Scenario};
use crate::scraper::Scraper;
use crate::timeline::Timeline;
use crate::tokens::Tokens;

/// How often the timeline and the progress line are updated.
const SAMPLE: Duration = Duration::from_millis(500);
/// Between the burst's leaves and the ramp: the server closes their transports.
const AFTER_BURST: Duration = Duration::from_secs(2);

/// Runs the capacity scenario; `server_pid` is the server's process when
/// the sim launched it (its CPU is measured only then).
pub async fn run(
    scenario: &Scenario,
    opts: &RunOptions,
    server_pid: Option<u32>,
) -> anyhow::Result<CapacityReport> {
    let cap = scenario
        .capacity
        .as_ref()
        .context("the scenario has no [capacity] table")?;
    first_scrape(&opts.exporter).await?;
    let run_start = Instant::now();
    let server = opts.server.as_str().trim_end_matches('/').to_string();
    let bar = progress_bar(opts.progress);
    let burst = match &cap.burst {
        Some(b) => {
            bar.set_message(format!(
                "burst: {} joins, {} at a time",
                b.peers, b.concurrency
            ));
            let report = burst::run(
                scenario,
                b,
                &server,
                &opts.tag,
                &opts.tokens,
                opts.tls.as_ref(),
                server_pid,
            )
            .await;
            tokio::time::sleep(AFTER_BURST).await;
            Some(report)
        }
        None => None,
    };
    let mut ramp = Ramp {
        scenario,
        cap,
        server,
        tag: opts.tag.clone(),
        tokens: opts.tokens.clone(),
        tls: opts.tls.clone(),
        server_pid,
        start: Instant::now(),
        ledger: Ledger::default(),
        peers: BTreeMap::new(),
        // The ramp reads only latency and sizes: no parse, whose CPU
        // would count as the sim's.
        scraper: Scraper::spawn_to(
            opts.exporter.clone(),
            scenario.scrape_interval(),
            SCRAPE_TIMEOUT,
            Depth::Sizes,
        ),
        latencies: Vec::new(),
        bodies: Vec::new(),
        failed_scrapes: 0,
        timeline: Timeline::default(),
        bar,
        sample_tick: sample_interval(),
        step: 0,
        last_delivered: None,
    };
    let (steps, stop, last_window) = ramp.ramp().await;
    ramp.bar.set_message("leaving");
    let peers = std::mem::take(&mut ramp.peers);
    futures_util::future::join_all(peers.into_values().map(Peer::leave)).await;
    ramp.bar.finish_and_clear();
    let (rooms, total) =
        run_report::rooms(&ramp.ledger, Some((&last_window.0, last_window.1)), &[]);
    Ok(CapacityReport {
        scenario: scenario.clone(),
        server: opts.server.to_string(),
        exporter: opts.exporter.url().to_string(),
        server_cpu_measured: server_pid.is_some(),
        elapsed_secs: run_start.elapsed().as_secs_f64(),
        burst,
        capacity: capacity(&steps, cap.min_delivered).cloned(),
        steps,
        stop,
        rooms,
        total,
        scrapes: LatencyReport::of(&ramp.latencies, ramp.failed_scrapes),
        bodies: BodyReport::of(&ramp.bodies),
        timeline: ramp.timeline,
    })
}

fn sample_interval() -> tokio::time::Interval {
    let mut tick = tokio::time::interval(SAMPLE);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick
}

/// The ramp's state.
struct Ramp<'a> {
    scenario: &'a Scenario,
    cap: &'a Capacity,
    server: String,
    tag: String,
    tokens: Tokens,
    tls: Option<crate::tls::Tls>,
    server_pid: Option<u32>,
    start: Instant,
    ledger: Ledger,
    peers: BTreeMap<String, Peer>,
    scraper: Scraper,
    latencies: Vec<Duration>,
    /// (text, wire) sizes of the scraped bodies.
    bodies: Vec<(usize, usize)>,
    failed_scrapes: usize,
    timeline: Timeline,
    bar: ProgressBar,
    /// One clock for every sample, so that samples stay evenly spaced
    /// across the ramp's phases.
    sample_tick: tokio::time::Interval,
    step: usize,
    last_delivered: Option<f64>,
}

impl Ramp<'_> {
    /// Steps until one fails or a limit is reached; returns the steps, why
    /// it stopped and the last step's window counts and length (seconds).
    async fn ramp(&mut self) -> (Vec<StepResult>, Option<StopReason>, (DeliveryCounts, f64)) {
        let step_peers = self.scenario.peers();
        let deadline = self.start + self.scenario.duration();
        let mut steps = Vec::new();
        let mut last_window = (DeliveryCounts::default(), 0.0);
        loop {
            if Instant::now() >= deadline {
                return (steps, Some(StopReason::OutOfTime), last_window);
            }
            self.step += 1;
            let latencies = self.join_step().await;
            let (mut result, mut window) = self.measure(&latencies, self.cap.settle()).await;
            while measure_again(&result, self.cap.min_delivered) {
                tracing::warn!(
                    step = result.step,
                    on_schedule = ?result.on_schedule,
                    steal = ?result.steal,
                    "the sim fell behind in the step's window; measuring it again"
                );
                let mut discarded = std::mem::take(&mut result.discarded);
                discarded.push(DiscardedWindow::of(&result));
                // The peers are up and settled: the next window starts now.
                (result, window) = self.measure(&latencies, Duration::ZERO).await;
                result.discarded = discarded;
            }
            tracing::info!(step = result.step, peers = result.peers, delivered = ?result.delivered_ratio, "capacity step");
            self.last_delivered = result.delivered_ratio;
            last_window = (window, result.secs);
            let stop = after_step(
                &result,
                self.cap.min_delivered,
                step_peers,
                self.cap.max_peers,
            );
            steps.push(result);
            if stop.is_some() {
                return (steps, stop, last_window);
            }
        }
    }

    /// Starts this step's peers at the ramp rate and waits for all their
    /// joins; returns their latencies and how many failed.
    async fn join_step(&mut self) -> (Vec<Duration>, usize) {
        let period = Duration::from_secs_f64(1.0 / self.scenario.ramp_up);
        let mut plan = Vec::new();
        for r in 0..self.scenario.rooms {
            let room = format!("{}-cap{}-{r}", self.tag, self.step);
            for i in 0..self.scenario.peers_per_room {
                let peer = format!("{}-s{}-{r}-p{i}", self.tag, self.step);
                let name = format!("Step {} peer {i} of room {r}", self.step);
                plan.push(PeerPlan {
                    room_id: room.clone(),
                    peer_id: peer,
                    display_name: name,
                });
            }
        }
        let mut plan = plan.into_iter();
        let mut joins: JoinSet<Joined> = JoinSet::new();
        let mut next_spawn = tokio::time::Instant::now();
        let (mut latencies, mut failed) = (Vec::new(), 0);
        let mut planned = true;
        while planned || !joins.is_empty() {
            tokio::select! {
                _ = tokio::time::sleep_until(next_spawn), if planned => {
                    match plan.next() {
                        Some(plan) => {
                            self.ledger.add_peer(&plan.room_id, &plan.peer_id, &plan.display_name);
                            let mut config = plan.config(self.scenario, &self.tokens);
                            config.tls = self.tls.clone();
                            let server = self.server.clone();
                            joins.spawn(async move { join(&server, plan.peer_id, config).await });
                            next_spawn += period;
                        }
                        None => planned = false,
                    }
                }
                Some(joined) = joins.join_next(), if !joins.is_empty() => match joined {
                    Ok(Joined { peer_id: id, result: Ok(peer), latency }) => {
                        latencies.push(latency);
                        self.ledger.set_state(&id, PeerState::Up);
                        self.peers.insert(id, peer);
                    }
                    Ok(Joined { peer_id: id, result: Err(e), .. }) => {
                        failed += 1;
                        tracing::warn!(peer = %id, "join failed: {e}");
                        self.ledger.set_state(&id, PeerState::Failed(e.to_string()));
                    }
                    Err(e) => {
                        failed += 1;
                        tracing::error!("a join task failed: {e}");
                    }
                },
                result = self.scraper.next() => self.scraped(result),
                _ = self.sample_tick.tick() => self.sample(),
            }
        }
        (latencies, failed)
    }

    /// Waits `settle`, then measures the step over `step_secs`.
    async fn measure(
        &mut self,
        (latencies, failed): &(Vec<Duration>, usize),
        settle: Duration,
    ) -> (StepResult, DeliveryCounts) {
        self.wait(settle).await;
        let before = self.snapshots();
        let t0 = Instant::now();
        // Every consumer there now has had the settle time to start
        // receiving: all of them count (see `delivery`).
        for (id, snap) in &before {
            self.ledger.observe(id, snap.clone(), t0);
        }
        let cpu_before = self.cpu();
        let machine_before = MachineSample::read();
        self.wait(self.cap.step()).await;
        let secs = t0.elapsed().as_secs_f64();
        let cpu_after = self.cpu();
        let machine_after = MachineSample::read();
        let after = self.snapshots();
        let now = Instant::now();
        for (id, snap) in &after {
            self.ledger.observe(id, snap.clone(), now);
        }
        let mut delivery = Delivery::default();
        delivery.add_interval(&self.ledger, &before, &after, t0);
        // Packets in flight at the end arrive before the counts are read.
        self.wait(DRAIN).await;
        let window = delivery.counts();
        let total = window.total();
        let (expected, received) = (total.expected, total.received);
        let (mut sent, mut recv, mut recv_bytes, mut sent_bytes) = (0u64, 0u64, 0u64, 0u64);
        let (mut made, mut skipped) = (0u64, 0u64);
        let (mut producers, mut consumers, mut duplicates) = (0, 0, 0);
        for (id, b) in &after {
            producers += b.producers.len();
            consumers += b.consumers.iter().filter(|c| !c.closed).count();
            duplicates += run_report::duplicate_consumers(b);
            if let Some(a) = before.get(id) {
                sent += run_report::sent_packets(b).saturating_sub(run_report::sent_packets(a));
                recv += b.received.packets.saturating_sub(a.received.packets);
                recv_bytes += b.received.bytes.saturating_sub(a.received.bytes);
                sent_bytes += run_report::sent_bytes(b).saturating_sub(run_report::sent_bytes(a));
                made += b.frames_made.saturating_sub(a.frames_made);
                skipped += b.frames_skipped.saturating_sub(a.frames_skipped);
            }
        }
        let cores = |p: Option<(CpuSample, CpuSample)>| p.and_then(|(a, b)| b.cores_since(&a));
        let result = StepResult {
            step: self.step,
            peers: self.peers.len(),
            producers,
            consumers,
            duplicate_consumers: duplicates,
            secs,
            sent_pps: sent as f64 / secs,
            received_pps: recv as f64 / secs,
            sent_bps: sent_bytes as f64 * 8.0 / secs,
            received_bps: recv_bytes as f64 * 8.0 / secs,
            expected,
            received,
            lost: expected.saturating_sub(received),
            delivered_ratio: run_report::ratio(received, expected),
            frames_due: made + skipped,
            frames_skipped: skipped,
            on_schedule: run_report::ratio(made, made + skipped),
            joins: LatencyReport::of(latencies, *failed),
            sim_cpu: cores(cpu_before.0.zip(cpu_after.0)),
            server_cpu: cores(cpu_before.1.zip(cpu_after.1)),
            steal: machine_before
                .zip(machine_after)
                .and_then(|(a, b)| b.steal_since(&a)),
            discarded: Vec::new(),
        };
        (result, window)
    }

    /// CPU samples of the sim and (if launched by us) the server.
    fn cpu(&self) -> (Option<CpuSample>, Option<CpuSample>) {
        (
            CpuSample::read(Process::Own),
            self.server_pid
                .and_then(|pid| CpuSample::read(Process::Pid(pid))),
        )
    }

    /// Waits `d`, sampling and taking scrape results meanwhile.
    async fn wait(&mut self, d: Duration) {
        let until = tokio::time::Instant::now() + d;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(until) => return,
                result = self.scraper.next() => self.scraped(result),
                _ = self.sample_tick.tick() => self.sample(),
            }
        }
    }

    fn scraped(&mut self, result: Result<Scrape, ScrapeError>) {
        match result {
            Ok(s) => {
                self.latencies.push(s.latency);
                self.bodies.push((s.body_bytes, s.wire_bytes));
                self.timeline
                    .record_scrape(s.started.saturating_duration_since(self.start), s.latency);
            }
            Err(e) => {
                tracing::warn!("scrape failed: {e}");
                self.failed_scrapes += 1;
            }
        }
    }

    fn snapshots(&self) -> Snapshots {
        self.peers
            .iter()
            .map(|(id, p)| (id.clone(), p.stats().snapshot()))
            .collect()
    }

    /// Samples the timeline and updates the progress line.
    fn sample(&mut self) {
        let (mut sent, mut received) = (0, 0);
        for p in self.peers.values() {
            let s = p.stats().snapshot();
            sent += run_report::sent_packets(&s);
            received += s.received.packets;
        }
        self.timeline
            .record_load(self.start.elapsed(), self.peers.len(), sent, received);
        let rate = self.timeline.load.last().copied();
        let last_scrape = self
            .timeline
            .scrapes
            .last()
            .map_or_else(|| "-".to_string(), |s| format!("{:.1} ms", s.latency_ms));
        self.bar.set_message(format!(
            "step {} | peers {}/{} | pkts/s sent {:.0} recv {:.0} | last step delivered {} | last scrape {last_scrape}",
            self.step,
            self.peers.len(),
            self.cap.max_peers,
            rate.map_or(0.0, |r| r.sent_pps),
            rate.map_or(0.0, |r| r.received_pps),
            self.last_delivered
                .map_or_else(|| "-".to_string(), |d| format!("{:.2}%", d * 100.0)),
        ));
    }
}
