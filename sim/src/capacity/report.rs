//! The capacity run's report: the burst, every step, where and why the
//! ramp stopped, per-room counts of the last step; a table and JSON.

use std::fmt::Write as _;

use serde::Serialize;

use super::burst::BurstReport;
use super::step::{StepResult, StopReason};
use crate::report::{BodyReport, LatencyReport, RoomReport};
use crate::scenario::Scenario;
use crate::timeline::Timeline;

/// Everything a capacity run measured.
#[derive(Debug, Clone, Serialize)]
pub struct CapacityReport {
    /// What ran.
    pub scenario: Scenario,
    /// The signaling URL.
    pub server: String,
    /// The exporter URL.
    pub exporter: String,
    /// Whether the server's CPU was measured (only when the sim launched it).
    pub server_cpu_measured: bool,
    /// Wall time of the run, seconds.
    pub elapsed_secs: f64,
    /// The join-rate burst, when configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub burst: Option<BurstReport>,
    /// Every step, in order.
    pub steps: Vec<StepResult>,
    /// Why the ramp ended.
    pub stop: Option<StopReason>,
    /// The highest step of the unbroken passing run from the start.
    pub capacity: Option<StepResult>,
    /// Per room, over the last step's measurement (loss included).
    pub rooms: Vec<RoomReport>,
    /// All rooms together, over the last step's measurement.
    pub total: RoomReport,
    /// Exporter scrapes during the ramp.
    pub scrapes: LatencyReport,
    /// Sizes of the scraped bodies.
    pub bodies: BodyReport,
    /// Load and scrape latency over time (what `--plot` draws).
    pub timeline: Timeline,
}

/// A share as a whole percentage.
fn percent(share: f64) -> String {
    format!("{:.0}%", share * 100.0)
}

fn opt(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.map_or_else(|| "-".to_string(), f)
}

impl CapacityReport {
    /// Some step passed and no burst join failed.
    pub fn passed(&self) -> bool {
        self.capacity.is_some() && self.burst.as_ref().is_none_or(|b| b.latency.failed == 0)
    }

    /// The human summary.
    pub fn table(&self) -> String {
        let mut t = String::new();
        if let Some(b) = &self.burst {
            let _ = writeln!(
                t,
                "burst: {}/{} joined ({} failed) in {:.2} s = {:.1} joins/s at concurrency {}; join latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
                b.joined,
                b.peers,
                b.latency.failed,
                b.secs,
                b.joins_per_sec,
                b.concurrency,
                b.latency.p50_ms,
                b.latency.p99_ms,
                b.latency.max_ms
            );
            let _ = writeln!(
                t,
                "burst CPU per join: sim {}, server {}; while joining the machine was {} busy, steal {}",
                opt(b.sim_cpu_ms_per_join, |v| format!("{v:.2} ms")),
                opt(b.server_cpu_ms_per_join, |v| format!("{v:.2} ms")),
                opt(b.machine_busy, percent),
                opt(b.steal, percent),
            );
            for f in &b.failures {
                let _ = writeln!(t, "  burst join failed: {}: {}", f.peer_id, f.error);
            }
        }
        let _ = writeln!(
            t,
            "{:>4} {:>5} {:>5} {:>5} {:>9} {:>9} {:>9} {:>9} {:>8} {:>9} {:>7} {:>8} {:>8} {:>7} {:>7} {:>7} {:>10} {:>6}",
            "step",
            "peers",
            "prod",
            "cons",
            "pkts/s s",
            "pkts/s r",
            "Mb/s sent",
            "Mb/s recv",
            "on sched",
            "delivered",
            "lost",
            "join p50",
            "join p99",
            "sim cpu",
            "srv cpu",
            "sim/srv",
            "us/pkt s/s",
            "steal"
        );
        for s in &self.steps {
            let _ = writeln!(
                t,
                "{:>4} {:>5} {:>5} {:>5} {:>9.0} {:>9.0} {:>9.2} {:>9.2} {:>8} {:>9} {:>7} {:>6.0}ms {:>6.0}ms {:>7} {:>7} {:>7} {:>10} {:>6}",
                s.step,
                s.peers,
                s.producers,
                s.consumers,
                s.sent_pps,
                s.received_pps,
                s.sent_bps / 1e6,
                s.received_bps / 1e6,
                opt(s.on_schedule, |r| format!("{:.2}%", r * 100.0)),
                opt(s.delivered_ratio, |d| format!("{:.2}%", d * 100.0)),
                s.lost,
                s.joins.p50_ms,
                s.joins.p99_ms,
                opt(s.sim_cpu, |c| format!("{:.0}%", c * 100.0)),
                opt(s.server_cpu, |c| format!("{:.0}%", c * 100.0)),
                opt(s.cpu_ratio(), |r| format!("{r:.2}")),
                match (s.sim_us_per_packet(), s.server_us_per_packet()) {
                    (Some(a), Some(b)) => format!("{a:.1}/{b:.1}"),
                    (Some(a), None) => format!("{a:.1}/-"),
                    _ => "-".to_string(),
                },
                opt(s.steal, percent),
            );
        }
        for s in self.steps.iter().filter(|s| !s.discarded.is_empty()) {
            let windows: Vec<String> = s
                .discarded
                .iter()
                .map(|w| {
                    format!(
                        "{} on schedule, steal {}",
                        opt(w.on_schedule, |r| format!("{:.2}%", r * 100.0)),
                        opt(w.steal, percent)
                    )
                })
                .collect();
            let _ = writeln!(
                t,
                "step {}: measured again after the sim fell behind ({})",
                s.step,
                windows.join("; ")
            );
        }
        for s in self.steps.iter().filter(|s| s.duplicate_consumers > 0) {
            let _ = writeln!(
                t,
                "step {}: {} duplicate consumers (a peer given a second consumer of one producer; counted once)",
                s.step, s.duplicate_consumers
            );
        }
        let _ = writeln!(
            t,
            "rooms at the last step: {}, lost {} of {} expected packets ({})",
            self.rooms.len(),
            self.total.window_lost,
            self.total.window_expected,
            opt(self.total.delivered_ratio, |d| format!(
                "{:.2}% delivered",
                d * 100.0
            ))
        );
        for r in self.rooms.iter().filter(|r| r.window_lost > 0) {
            let _ = writeln!(
                t,
                "  {}: lost {} of {}",
                r.room_id, r.window_lost, r.window_expected
            );
        }
        let _ = writeln!(
            t,
            "scrapes (gzip accepted): {} ({} failed), latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {}",
            self.scrapes.count,
            self.scrapes.failed,
            self.scrapes.p50_ms,
            self.scrapes.p99_ms,
            self.scrapes.max_ms,
            self.bodies.line()
        );
        let stop = match &self.stop {
            Some(StopReason::Degraded { delivered_ratio }) => format!(
                "delivery fell below {:.2}% ({})",
                self.min_delivered() * 100.0,
                opt(*delivered_ratio, |d| format!("{:.2}%", d * 100.0))
            ),
            Some(StopReason::SimBehind { on_schedule, steal }) => format!(
                "the sim fell behind: it sent {:.2}% of the frames due (below {:.2}%) in each of {} windows, so the step did not carry its load (CPU steal {} in the last)",
                on_schedule * 100.0,
                self.min_delivered() * 100.0,
                self.steps.last().map_or(1, |s| s.discarded.len() + 1),
                opt(*steal, percent)
            ),
            Some(StopReason::JoinsFailed { failed }) => format!("{failed} joins failed"),
            Some(StopReason::MaxPeers) => "max_peers reached".into(),
            Some(StopReason::OutOfTime) => "duration_secs ran out".into(),
            None => "not started".into(),
        };
        match &self.capacity {
            Some(c) => {
                let _ = writeln!(
                    t,
                    "capacity: {} peers ({} producers, {} consumers) at step {}; stopped: {stop}",
                    c.peers, c.producers, c.consumers, c.step
                );
            }
            None => {
                let _ = writeln!(t, "capacity: no step passed; stopped: {stop}");
            }
        }
        let _ = writeln!(t, "{}", if self.passed() { "PASS" } else { "FAIL" });
        t
    }

    fn min_delivered(&self) -> f64 {
        self.scenario
            .capacity
            .as_ref()
            .map_or(0.0, |c| c.min_delivered)
    }
}
