//! One step of the capacity ramp, and the pure rules that judge it: whether
//! it passed, whether the ramp goes on, and which step is the capacity.

use serde::Serialize;

use crate::report::LatencyReport;

/// What one step measured (over its measurement window).
#[derive(Debug, Clone, Serialize)]
pub struct StepResult {
    /// 1-based.
    pub step: usize,
    /// Peers up during the step.
    pub peers: usize,
    /// Producers of those peers.
    pub producers: usize,
    /// Open consumers of those peers.
    pub consumers: usize,
    /// Open consumers beyond one per (peer, producer): a server fault
    /// (counted once in the delivered ratio).
    pub duplicate_consumers: usize,
    /// Length of the measurement, seconds.
    pub secs: f64,
    /// RTP packets per second sent by all peers.
    pub sent_pps: f64,
    /// RTP packets per second received by all peers.
    pub received_pps: f64,
    /// RTP payload bits per second sent by all peers.
    pub sent_bps: f64,
    /// RTP payload bits per second received by all peers.
    pub received_bps: f64,
    /// Packets that should have arrived (see `report`'s delivered ratio).
    pub expected: u64,
    /// Packets that arrived.
    pub received: u64,
    /// `expected - received` (never negative).
    pub lost: u64,
    /// `received / expected`.
    pub delivered_ratio: Option<f64>,
    /// Media frames (Opus packets, VP8 frames) the peers' schedules made
    /// due over the measurement.
    pub frames_due: u64,
    /// Of those, frames skipped because the sim stalled: load it owed and
    /// never sent.
    pub frames_skipped: u64,
    /// Share of the due frames the sim sent: below the threshold the step
    /// did not carry its nominal load, whatever it delivered.
    pub on_schedule: Option<f64>,
    /// Latency of this step's joins.
    pub joins: LatencyReport,
    /// CPU cores the sim used (1.0 = one core), when /proc tells.
    pub sim_cpu: Option<f64>,
    /// CPU cores the server used, when the sim launched it.
    pub server_cpu: Option<f64>,
    /// Share of the machine's CPU time the hypervisor took (CPU steal,
    /// from /proc/stat), when /proc tells: a stall of sim and server that
    /// neither caused.
    pub steal: Option<f64>,
    /// Earlier windows of this step in which the sim fell behind, measured
    /// again (see [`measure_again`]); empty for most steps.
    pub discarded: Vec<DiscardedWindow>,
}

/// A measurement window thrown away because the sim fell behind in it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DiscardedWindow {
    /// Share of the due frames the sim sent in it.
    pub on_schedule: Option<f64>,
    /// The machine's CPU steal over it.
    pub steal: Option<f64>,
}

impl DiscardedWindow {
    /// What `window` showed.
    pub fn of(window: &StepResult) -> Self {
        DiscardedWindow {
            on_schedule: window.on_schedule,
            steal: window.steal,
        }
    }
}

/// The most windows a step is measured in: a window in which the sim fell
/// behind says nothing about the server (a stall of the machine's, such
/// as CPU steal, can cause it), so the step, its peers still up, is
/// measured again, at most this many times in all.
pub const MAX_WINDOWS: usize = 3;

/// Whether to measure `last`'s step again: its joins came up, but the sim
/// fell behind in the window, and fewer than [`MAX_WINDOWS`] were taken.
/// A window with degraded delivery is never measured again.
pub fn measure_again(last: &StepResult, min_delivered: f64) -> bool {
    last.joins.failed == 0
        && !last.kept_schedule(min_delivered)
        && last.discarded.len() + 1 < MAX_WINDOWS
}

impl StepResult {
    /// Every join came up, the sim sent at least `min_delivered` of the
    /// frames due, and at least `min_delivered` of the expected packets
    /// arrived (a step with nothing expected cannot pass).
    pub fn passed(&self, min_delivered: f64) -> bool {
        self.joins.failed == 0
            && self.kept_schedule(min_delivered)
            && self.delivered_ratio.is_some_and(|d| d >= min_delivered)
    }

    /// The sim sent at least `min` of the frames due (no frame due: no
    /// schedule to keep).
    fn kept_schedule(&self, min: f64) -> bool {
        self.on_schedule.is_none_or(|s| s >= min)
    }

    /// Sim CPU over server CPU (below 1: the sim is the cheaper side).
    pub fn cpu_ratio(&self) -> Option<f64> {
        let (sim, server) = (self.sim_cpu?, self.server_cpu?);
        (server > 0.0).then(|| sim / server)
    }

    /// Sim CPU microseconds per RTP packet sent or received by the peers:
    /// a cost that does not depend on how busy the machine is.
    pub fn sim_us_per_packet(&self) -> Option<f64> {
        self.us_per_packet(self.sim_cpu?)
    }

    /// Server CPU microseconds per RTP packet sent or received by the peers.
    pub fn server_us_per_packet(&self) -> Option<f64> {
        self.us_per_packet(self.server_cpu?)
    }

    fn us_per_packet(&self, cores: f64) -> Option<f64> {
        let pps = self.sent_pps + self.received_pps;
        (pps > 0.0).then(|| cores * 1e6 / pps)
    }
}

/// Why the ramp ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "reason")]
pub enum StopReason {
    /// A step delivered less than the threshold (or nothing could be measured).
    Degraded {
        /// Its delivered ratio.
        delivered_ratio: Option<f64>,
    },
    /// The sim skipped frames (it stalled): the step did not carry its
    /// nominal load, so it says nothing about the server.
    SimBehind {
        /// Share of the due frames it sent (in the last window).
        on_schedule: f64,
        /// The machine's CPU steal over that window.
        steal: Option<f64>,
    },
    /// Joins of a step failed.
    JoinsFailed {
        /// How many.
        failed: usize,
    },
    /// The next step would exceed `max_peers`.
    MaxPeers,
    /// The scenario's `duration_secs` ran out.
    OutOfTime,
}

/// After `last`: stop (and why), or `None` to add `step_peers` more.
/// Failures come first: a failing step ends the ramp even at the limit;
/// a sim that fell behind comes before degraded delivery, which it makes
/// meaningless.
pub fn after_step(
    last: &StepResult,
    min_delivered: f64,
    step_peers: usize,
    max_peers: usize,
) -> Option<StopReason> {
    if last.joins.failed > 0 {
        return Some(StopReason::JoinsFailed {
            failed: last.joins.failed,
        });
    }
    if let Some(on_schedule) = last.on_schedule
        && !last.kept_schedule(min_delivered)
    {
        return Some(StopReason::SimBehind {
            on_schedule,
            steal: last.steal,
        });
    }
    if !last.passed(min_delivered) {
        return Some(StopReason::Degraded {
            delivered_ratio: last.delivered_ratio,
        });
    }
    (last.peers + step_peers > max_peers).then_some(StopReason::MaxPeers)
}

/// The capacity: the last step of the unbroken run of passing steps from
/// the start (a later pass after a failure would not be sustained).
pub fn capacity(steps: &[StepResult], min_delivered: f64) -> Option<&StepResult> {
    steps.iter().take_while(|s| s.passed(min_delivered)).last()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(step: usize, peers: usize, expected: u64, received: u64, failed: usize) -> StepResult {
        StepResult {
            step,
            peers,
            producers: peers * 2,
            consumers: peers * 8,
            duplicate_consumers: 0,
            secs: 5.0,
            sent_pps: 0.0,
            received_pps: 0.0,
            sent_bps: 0.0,
            received_bps: 0.0,
            expected,
            received,
            lost: expected.saturating_sub(received),
            delivered_ratio: (expected > 0).then(|| received as f64 / expected as f64),
            frames_due: 0,
            frames_skipped: 0,
            on_schedule: None,
            joins: LatencyReport {
                count: 5 - failed,
                failed,
                ..LatencyReport::default()
            },
            sim_cpu: None,
            server_cpu: None,
            steal: None,
            discarded: Vec::new(),
        }
    }

    #[test]
    fn passing_needs_joins_and_delivery() {
        assert!(step(1, 5, 1000, 995, 0).passed(0.99));
        assert!(!step(1, 5, 1000, 989, 0).passed(0.99));
        assert!(!step(1, 5, 1000, 1000, 1).passed(0.99));
        // Nothing measured is no pass.
        assert!(!step(1, 5, 0, 0, 0).passed(0.99));
    }

    #[test]
    fn the_ramp_stops_on_degradation_failures_or_the_limit() {
        assert_eq!(after_step(&step(1, 5, 1000, 1000, 0), 0.99, 5, 200), None);
        assert_eq!(
            after_step(&step(2, 10, 1000, 900, 0), 0.99, 5, 200),
            Some(StopReason::Degraded {
                delivered_ratio: Some(0.9)
            })
        );
        assert_eq!(
            after_step(&step(2, 10, 1000, 1000, 2), 0.99, 5, 200),
            Some(StopReason::JoinsFailed { failed: 2 })
        );
        assert_eq!(
            after_step(&step(40, 200, 1000, 1000, 0), 0.99, 5, 200),
            Some(StopReason::MaxPeers)
        );
        assert_eq!(
            after_step(&step(39, 195, 1000, 1000, 0), 0.99, 5, 200),
            None
        );
        // A degraded last step is reported as such, not as the limit.
        assert!(matches!(
            after_step(&step(40, 200, 1000, 500, 0), 0.99, 5, 200),
            Some(StopReason::Degraded { .. })
        ));
    }

    #[test]
    fn a_sim_that_fell_behind_fails_the_step_whatever_arrived() {
        let mut s = step(3, 15, 1000, 1000, 0);
        s.frames_due = 10_000;
        s.frames_skipped = 50;
        s.on_schedule = Some(0.995);
        assert!(s.passed(0.99));
        assert_eq!(after_step(&s, 0.99, 5, 200), None);
        s.frames_skipped = 200;
        s.on_schedule = Some(0.98);
        s.steal = Some(0.2);
        assert!(!s.passed(0.99));
        assert_eq!(
            after_step(&s, 0.99, 5, 200),
            Some(StopReason::SimBehind {
                on_schedule: 0.98,
                steal: Some(0.2)
            })
        );
        // Before degraded delivery, which it explains; after failed joins.
        s.received = 500;
        s.delivered_ratio = Some(0.5);
        assert_eq!(
            after_step(&s, 0.99, 5, 200),
            Some(StopReason::SimBehind {
                on_schedule: 0.98,
                steal: Some(0.2)
            })
        );
        s.joins.failed = 1;
        assert_eq!(
            after_step(&s, 0.99, 5, 200),
            Some(StopReason::JoinsFailed { failed: 1 })
        );
        let steps = [step(1, 5, 1000, 1000, 0), s];
        assert_eq!(capacity(&steps, 0.99).map(|s| s.peers), Some(5));
    }

    #[test]
    fn a_window_the_sim_fell_behind_in_is_measured_again_a_bounded_number_of_times() {
        let mut s = step(38, 190, 1000, 1000, 0);
        s.frames_due = 10_000;
        s.on_schedule = Some(0.995);
        assert!(!measure_again(&s, 0.99), "kept its schedule");
        s.on_schedule = Some(0.95);
        let mut windows = 1;
        while measure_again(&s, 0.99) {
            s.discarded.push(DiscardedWindow::of(&s));
            windows += 1;
        }
        assert_eq!(windows, MAX_WINDOWS);
        assert_eq!(s.discarded.len(), MAX_WINDOWS - 1);
        assert_eq!(s.discarded[0].on_schedule, Some(0.95));
        // Still behind after the last window: the ramp stops there.
        assert!(matches!(
            after_step(&s, 0.99, 5, 200),
            Some(StopReason::SimBehind { .. })
        ));
        // Neither failed joins nor degraded delivery is measured again.
        let mut joins = step(38, 190, 1000, 1000, 1);
        joins.on_schedule = Some(0.95);
        assert!(!measure_again(&joins, 0.99));
        let degraded = step(38, 190, 1000, 500, 0);
        assert!(!measure_again(&degraded, 0.99));
    }

    #[test]
    fn cpu_per_packet_and_ratio() {
        let mut s = step(1, 5, 1000, 1000, 0);
        assert_eq!(s.cpu_ratio(), None);
        assert_eq!(s.sim_us_per_packet(), None);
        s.sent_pps = 1_000.0;
        s.received_pps = 4_000.0;
        s.sim_cpu = Some(0.05);
        s.server_cpu = Some(0.1);
        assert_eq!(s.cpu_ratio(), Some(0.5));
        assert!((s.sim_us_per_packet().unwrap() - 10.0).abs() < 1e-9);
        assert!((s.server_us_per_packet().unwrap() - 20.0).abs() < 1e-9);
        s.server_cpu = Some(0.0);
        assert_eq!(s.cpu_ratio(), None);
    }

    #[test]
    fn capacity_is_the_last_of_the_first_passing_run() {
        let steps = [
            step(1, 5, 1000, 1000, 0),
            step(2, 10, 1000, 995, 0),
            step(3, 15, 1000, 950, 0),
            step(4, 20, 1000, 1000, 0),
        ];
        assert_eq!(capacity(&steps, 0.99).map(|s| s.peers), Some(10));
        assert_eq!(capacity(&steps, 0.9).map(|s| s.peers), Some(20));
        assert!(capacity(&steps[2..3], 0.99).is_none());
        assert!(capacity(&[], 0.99).is_none());
    }
}
