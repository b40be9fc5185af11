//! The run's timing as a pure state machine, with no clock and no I/O of
//! its own (sans-IO): the runner sleeps until [`Schedule::next_deadline`],
//! calls [`Schedule::on_tick`] with the time, performs the [`Action`]s it
//! returns, and reports the end of each join with [`Schedule::on_joined`].
//!
//! It decides when peers start (the ramp), when churn leaves and joins
//! happen, when the run is steady (scrapes then judge counts, rises and
//! scores), when the delivery window opens, when the progress line is
//! updated, and when the media phase ends.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::join::PeerPlan;
use crate::rng::Rng;
use crate::scenario::Scenario;

/// After a churn leave, how long counts, rises and scores are not judged
/// (the server learns of a disconnect, clean or abrupt, asynchronously;
/// on loopback within milliseconds).
pub const CHURN_QUIET: Duration = Duration::from_millis(300);
/// No churn this close to the end, so that its join completes in the run.
pub const CHURN_STOP: Duration = Duration::from_secs(2);
/// How often the progress line and the timeline are updated.
pub const PROGRESS_EVERY: Duration = Duration::from_millis(500);

/// What the runner must do now.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Record the peer and start its join (`churn`: it replaces a churn leave).
    StartJoin {
        /// The peer to start.
        plan: PeerPlan,
        /// Whether it is a churn joiner.
        churn: bool,
    },
    /// One churn leave: a random live peer leaves (abruptly with the
    /// scenario's probability).
    ChurnLeave,
    /// Update the progress line and sample the timeline.
    Progress,
    /// Open the delivery window: take the start snapshots.
    StartWindow,
    /// The media phase is over.
    End,
}

/// The run's schedule; see the module documentation.
#[derive(Debug)]
pub struct Schedule {
    end: Instant,
    /// Peers of the initial ramp not started yet, and when the next starts.
    pending: VecDeque<PeerPlan>,
    next_spawn: Instant,
    ramp_period: Duration,
    /// Joins started and not yet reported by [`Schedule::on_joined`].
    joining: usize,
    warm_up: Duration,
    churn_period: Option<Duration>,
    churn_started: bool,
    next_churn: Option<Instant>,
    /// Until when the last churn leave keeps the run from being steady.
    quiet_until: Option<Instant>,
    churn_seq: usize,
    rng: Rng,
    tag: String,
    rooms: usize,
    name: String,
    steady_since: Option<Instant>,
    window_at: Option<Instant>,
    window_started: bool,
    next_progress: Instant,
    ended: bool,
}

impl Schedule {
    /// The schedule of `scenario` with ids under `tag`, starting at `start`.
    pub fn new(scenario: &Scenario, tag: &str, start: Instant) -> Schedule {
        let churn_period = scenario
            .churn
            .as_ref()
            .filter(|c| c.leaves_per_sec > 0.0)
            .map(|c| Duration::from_secs_f64(1.0 / c.leaves_per_sec));
        Schedule {
            end: start + scenario.duration(),
            pending: plan(scenario, tag).into(),
            next_spawn: start,
            ramp_period: Duration::from_secs_f64(1.0 / scenario.ramp_up),
            joining: 0,
            warm_up: scenario.warm_up(),
            churn_period,
            churn_started: false,
            next_churn: None,
            quiet_until: None,
            churn_seq: 0,
            rng: Rng::from_text(tag),
            tag: tag.to_string(),
            rooms: scenario.rooms,
            name: scenario.name.clone(),
            steady_since: None,
            window_at: None,
            window_started: false,
            next_progress: start,
            ended: false,
        }
    }

    /// When [`Schedule::on_tick`] has something to do next; `None` once
    /// the media phase has ended.
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.ended {
            return None;
        }
        let window = self.window_at.filter(|_| !self.window_started);
        let spawn = (!self.pending.is_empty()).then_some(self.next_spawn);
        [
            Some(self.end),
            Some(self.next_progress),
            spawn,
            self.next_churn,
            window,
            self.quiet_until,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Everything due at `now`, in order; [`Action::End`] comes alone.
    pub fn on_tick(&mut self, now: Instant) -> Vec<Action> {
        if self.ended {
            return Vec::new();
        }
        if now >= self.end {
            self.ended = true;
            return vec![Action::End];
        }
        self.update(now);
        let mut actions = Vec::new();
        if self.next_spawn <= now
            && let Some(plan) = self.pending.pop_front()
        {
            self.next_spawn += self.ramp_period;
            self.joining += 1;
            actions.push(Action::StartJoin { plan, churn: false });
        }
        if let Some(at) = self.next_churn.filter(|&at| at <= now) {
            let period = self.churn_period.expect("churn is on");
            self.next_churn = Some(at + period);
            self.quiet_until = Some(now + CHURN_QUIET);
            let plan = self.churn_plan();
            self.joining += 1;
            actions.push(Action::ChurnLeave);
            actions.push(Action::StartJoin { plan, churn: true });
        }
        if !self.window_started && self.window_at.is_some_and(|at| at <= now) {
            self.window_started = true;
            actions.push(Action::StartWindow);
        }
        if self.next_progress <= now {
            self.next_progress += PROGRESS_EVERY;
            if self.next_progress <= now {
                // Fell behind: no burst of catch-up ticks.
                self.next_progress = now + PROGRESS_EVERY;
            }
            actions.push(Action::Progress);
        }
        self.update(now);
        actions
    }

    /// A join started by [`Action::StartJoin`] has ended (either way).
    pub fn on_joined(&mut self, now: Instant) {
        self.joining = self.joining.saturating_sub(1);
        self.update(now);
    }

    /// Since when the run has been steady without a break: a scrape is
    /// judged as steady only if it was sent after that.
    pub fn steady_since(&self) -> Option<Instant> {
        self.steady_since
    }

    /// Whether a scrape sent at `sent` is judged as steady.
    pub fn judges_steady(&self, sent: Instant) -> bool {
        self.steady_since.is_some_and(|t| t <= sent)
    }

    /// Recomputes steadiness, the start of churn and the window's time.
    fn update(&mut self, now: Instant) {
        let ramped = self.pending.is_empty() && (self.window_at.is_some() || self.joining == 0);
        if self.quiet_until.is_some_and(|t| now >= t) {
            self.quiet_until = None;
        }
        let quiet = self.quiet_until.is_none();
        let steady = ramped && self.joining == 0 && quiet;
        if steady {
            self.steady_since.get_or_insert(now);
        } else {
            self.steady_since = None;
        }
        // Churn starts once the initial ramp is done: one leave and one
        // join per period.
        if ramped && !self.churn_started {
            self.churn_started = true;
            self.next_churn = self.churn_period.map(|period| now + period);
        }
        if self.next_churn.is_some_and(|at| at + CHURN_STOP > self.end) {
            self.next_churn = None;
        }
        if steady && self.window_at.is_none() {
            // Measure delivery once every stream has warmed up, or from
            // now if the run is too short for that.
            let warmed = now + self.warm_up;
            self.window_at = Some(if warmed + Duration::from_secs(1) < self.end {
                warmed
            } else {
                now
            });
        }
    }

    /// The next churn joiner: a new peer id in a random room.
    fn churn_plan(&mut self) -> PeerPlan {
        let (seq, tag, name) = (self.churn_seq, &self.tag, &self.name);
        self.churn_seq += 1;
        let r = self.rng.below(self.rooms);
        PeerPlan {
            room_id: format!("{tag}-room{r}"),
            peer_id: format!("{tag}-r{r}-c{seq}"),
            display_name: format!("Churner {seq} of \"room {r}\" \u{2014} {name}"),
        }
    }
}

/// The peers of the initial ramp, interleaved across rooms so that every
/// room fills at the same pace.
pub fn plan(scenario: &Scenario, tag: &str) -> Vec<PeerPlan> {
    let mut plan = Vec::with_capacity(scenario.peers());
    for i in 0..scenario.peers_per_room {
        for r in 0..scenario.rooms {
            plan.push(PeerPlan {
                room_id: format!("{tag}-room{r}"),
                peer_id: format!("{tag}-r{r}-p{i}"),
                // A quote and a non-ASCII character: labels must survive escaping.
                display_name: format!("Peer {i} of \"room {r}\" \u{2014} {}", scenario.name),
            });
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn scenario(extra: &str) -> Scenario {
        let text = format!(
            "name = \"t\"\nrooms = 2\npeers_per_room = 2\nduration_secs = 20\n\
             ramp_up = 10\nwarm_up_secs = 5\n{extra}"
        );
        Scenario::from_toml(&text, "t", Path::new("t.toml")).unwrap()
    }

    /// Runs the schedule from `t0` to its end, answering every join
    /// `join_takes` after it started; returns (time since t0, action).
    fn drive(s: &mut Schedule, t0: Instant, join_takes: Duration) -> Vec<(Duration, Action)> {
        let mut out = Vec::new();
        let mut joins: Vec<Instant> = Vec::new();
        loop {
            let next = s.next_deadline();
            let next_join = joins.iter().min().copied();
            let now = match (next, next_join) {
                (None, _) => return out,
                (Some(d), Some(j)) if j < d => j,
                (Some(d), _) => d,
            };
            joins.retain(|&j| {
                if j <= now {
                    s.on_joined(now);
                    false
                } else {
                    true
                }
            });
            for a in s.on_tick(now) {
                if matches!(a, Action::StartJoin { .. }) {
                    joins.push(now + join_takes);
                }
                out.push((now - t0, a));
            }
        }
    }

    fn joins(actions: &[(Duration, Action)]) -> Vec<(Duration, String, bool)> {
        actions
            .iter()
            .filter_map(|(t, a)| match a {
                Action::StartJoin { plan, churn } => Some((*t, plan.peer_id.clone(), *churn)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn ramp_interleaves_rooms_at_the_ramp_rate() {
        let t0 = Instant::now();
        let mut s = Schedule::new(&scenario(""), "x", t0);
        let actions = drive(&mut s, t0, Duration::from_millis(50));
        let ms = |n| Duration::from_millis(n);
        assert_eq!(
            joins(&actions),
            vec![
                (ms(0), "x-r0-p0".into(), false),
                (ms(100), "x-r1-p0".into(), false),
                (ms(200), "x-r0-p1".into(), false),
                (ms(300), "x-r1-p1".into(), false),
            ]
        );
        let plans = plan(&scenario(""), "x");
        assert_eq!(plans[1].room_id, "x-room1");
        assert!(plans[1].display_name.contains("\"room 1\" \u{2014} t"));
        // The last join ends at 350 ms: steady from then, the window opens
        // after the warm-up, the end comes alone at the duration.
        assert_eq!(s.steady_since().map(|t| t - t0), Some(ms(350)));
        let window: Vec<_> = actions
            .iter()
            .filter(|(_, a)| *a == Action::StartWindow)
            .collect();
        assert_eq!(window, vec![&(ms(5350), Action::StartWindow)]);
        assert_eq!(actions.last(), Some(&(ms(20_000), Action::End)));
        assert_eq!(s.next_deadline(), None);
        assert!(s.on_tick(t0 + ms(30_000)).is_empty());
        let progress = actions
            .iter()
            .filter(|(_, a)| *a == Action::Progress)
            .count();
        assert_eq!(progress, 40);
    }

    #[test]
    fn joins_under_way_are_not_steady() {
        let t0 = Instant::now();
        let mut s = Schedule::new(&scenario(""), "x", t0);
        assert_eq!(s.on_tick(t0).len(), 2); // the first join, progress
        assert!(!s.judges_steady(t0));
        for i in 1..4 {
            s.on_tick(t0 + Duration::from_millis(100 * i));
        }
        let done = t0 + Duration::from_secs(1);
        for _ in 0..3 {
            s.on_joined(done);
        }
        assert_eq!(s.steady_since(), None);
        s.on_joined(done);
        assert_eq!(s.steady_since(), Some(done));
        assert!(s.judges_steady(done + Duration::from_millis(1)));
        assert!(!s.judges_steady(done - Duration::from_millis(1)));
    }

    #[test]
    fn churn_after_the_ramp_leaves_then_joins_and_stops_before_the_end() {
        let t0 = Instant::now();
        let mut s = Schedule::new(&scenario("[churn]\nleaves_per_sec = 1\n"), "x", t0);
        let actions = drive(&mut s, t0, Duration::from_millis(50));
        let churns: Vec<_> = joins(&actions).into_iter().filter(|j| j.2).collect();
        // Ramped at 350 ms; churn every second from 1350 ms; none closer
        // than CHURN_STOP to the end (20 s).
        assert_eq!(churns.len(), 17);
        assert_eq!(churns[0].0, Duration::from_millis(1350));
        assert!(churns[0].1.starts_with("x-r") && churns[0].1.ends_with("-c0"));
        assert_eq!(churns[16].0, Duration::from_millis(17_350));
        for (i, (t, a)) in actions.iter().enumerate() {
            if *a == Action::ChurnLeave {
                assert!(
                    matches!(&actions[i + 1], (t2, Action::StartJoin { churn: true, .. }) if t2 == t)
                );
            }
        }
        // The same tag picks the same rooms.
        let mut again = Schedule::new(&scenario("[churn]\nleaves_per_sec = 1\n"), "x", t0);
        assert_eq!(
            joins(&drive(&mut again, t0, Duration::from_millis(50))),
            joins(&actions)
        );
    }

    #[test]
    fn churn_breaks_steadiness_for_the_quiet_time() {
        let t0 = Instant::now();
        let mut s = Schedule::new(&scenario("[churn]\nleaves_per_sec = 1\n"), "x", t0);
        let (mut pending, mut now, mut churned) = (0, t0, false);
        while !churned {
            now = s.next_deadline().unwrap();
            for _ in 0..pending {
                s.on_joined(now);
            }
            pending = 0;
            for a in s.on_tick(now) {
                churned |= a == Action::ChurnLeave;
                pending += usize::from(matches!(a, Action::StartJoin { .. }));
            }
        }
        assert_eq!(pending, 1);
        assert_eq!(s.steady_since(), None);
        s.on_joined(now + Duration::from_millis(10));
        assert_eq!(s.steady_since(), None, "still quiet");
        assert_eq!(s.next_deadline(), Some(now + CHURN_QUIET));
        s.on_tick(now + CHURN_QUIET);
        assert_eq!(s.steady_since(), Some(now + CHURN_QUIET));
    }

    #[test]
    fn a_short_run_opens_the_window_when_steady() {
        let t0 = Instant::now();
        let mut s = Schedule::new(&scenario("").clone_with_duration(3.0), "x", t0);
        let actions = drive(&mut s, t0, Duration::from_millis(50));
        assert!(actions.contains(&(Duration::from_millis(350), Action::StartWindow)));
    }

    trait WithDuration {
        fn clone_with_duration(&self, secs: f64) -> Scenario;
    }

    impl WithDuration for Scenario {
        fn clone_with_duration(&self, secs: f64) -> Scenario {
            Scenario {
                duration_secs: secs,
                ..self.clone()
            }
        }
    }
}
