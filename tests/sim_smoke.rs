//! The simulator end to end: the `smoke` scenario (shortened) through the
//! runner's library API against a real in-process server. Every live check
//! of the exporter (rooms, peers, one series per stream with the right
//! labels, counters rising and never falling, scores, nothing left after
//! leaving) must pass.

mod support;

use std::time::Duration;

use ejtimaa_sim::report::Report;
use ejtimaa_sim::runner::RunOptions;
use ejtimaa_sim::scenario::Scenario;
use support::*;

/// The whole run, server start-up excluded: never hang CI.
const DEADLINE: Duration = Duration::from_secs(40);

/// Runs `scenario` against a fresh in-process server and returns its report.
async fn run_against_fresh_server(scenario: &Scenario) -> Report {
    run_sim(test_config(), scenario, DEADLINE).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smoke_scenario_passes_every_live_check() {
    let mut scenario = Scenario::named("smoke").expect("smoke is built in");
    // Shorter than the shipped 10 s, still past the warm-up so that rises
    // and scores are judged.
    scenario.duration_secs = 8.0;
    scenario.warm_up_secs = 4.0;
    let report = run_against_fresh_server(&scenario).await;

    assert!(report.failed_joins.is_empty(), "{:?}", report.failed_joins);
    assert!(report.violations.is_empty(), "{:#?}", report.violations);
    assert_eq!(report.total.peers, 6);
    assert_eq!(report.total.producers, 12);
    assert_eq!(report.total.consumers, 24);
    // Byte counters visibly rose: every stream (36 series) over at least a
    // couple of scrape intervals.
    assert!(report.counter_rises >= 36 * 2, "{}", report.counter_rises);
    let delivered = report.total.delivered_ratio.expect("a delivery window");
    assert!(delivered > 0.95, "delivered ratio {delivered}");
    // Every room's schedule is counted, and the total adds them up.
    assert!(
        report.rooms.iter().all(|r| r.frames_due > 0),
        "{:#?}",
        report.rooms
    );
    let due: u64 = report.rooms.iter().map(|r| r.frames_due).sum();
    assert_eq!(report.total.frames_due, due);
    assert!(report.total.on_schedule().is_some());
}

/// Churn: peers leave (half of them by dropping the socket) and new ones
/// join while the run is steady; every series of a churned peer, aborted
/// ones included, must be gone one scrape after it left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn churn_passes_every_live_check() {
    let mut scenario = Scenario::named("churn").expect("churn is built in");
    scenario.rooms = 2;
    scenario.peers_per_room = 3;
    scenario.duration_secs = 10.0;
    scenario.warm_up_secs = 4.0;
    let churn = scenario.churn.as_mut().expect("churn.toml churns");
    churn.leaves_per_sec = 1.0;
    churn.abrupt_fraction = 0.5;
    let report = run_against_fresh_server(&scenario).await;

    assert!(report.failed_joins.is_empty(), "{:?}", report.failed_joins);
    assert!(report.violations.is_empty(), "{:#?}", report.violations);
    let churn = report.churn.expect("a churn report");
    let left = churn.left_cleanly + churn.aborted;
    // One a second for the ~7 s between the ramp and the last 2 s.
    assert!(left >= 5, "{churn:?}");
    assert_eq!(churn.joined, left, "{churn:?}");
    assert_eq!(report.total.peers, 6 + churn.joined);
    assert!(report.steady_scrapes >= 2, "{}", report.steady_scrapes);
}

/// Capacity, two small steps and a small burst: the ramp's bookkeeping
/// (steps, streams, delivery, stop reason, burst counts) against a real
/// server. The figures themselves are benchmark output and not judged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_ramps_in_steps_and_reports_them() {
    use ejtimaa_sim::capacity::{self, StopReason};

    let mut scenario = Scenario::named("capacity").expect("capacity is built in");
    scenario.peers_per_room = 3;
    let cap = scenario
        .capacity
        .as_mut()
        .expect("capacity.toml has [capacity]");
    cap.settle_secs = 1.0;
    cap.step_secs = 2.0;
    cap.max_peers = 6;
    // A threshold no loopback step can miss: the test is about the steps.
    cap.min_delivered = 0.5;
    let burst = cap.burst.as_mut().expect("capacity.toml has a burst");
    burst.peers = 10;
    burst.concurrency = 5;

    let config = test_config();
    let server = start(config).await;
    let opts = RunOptions::new(
        format!("http://{}", server.signaling_addr)
            .parse()
            .expect("url"),
        format!(
            "http://{}/metrics",
            server.exporter_addr.expect("exporter on")
        )
        .parse()
        .expect("url"),
    );
    let report = tokio::time::timeout(DEADLINE, capacity::run(&scenario, &opts, None))
        .await
        .unwrap_or_else(|_| panic!("the run took longer than {DEADLINE:?}"))
        .expect("the run completes");
    println!("{}", report.table());
    server.shutdown().await;

    let burst = report.burst.as_ref().expect("a burst report");
    assert_eq!((burst.joined, burst.latency.failed), (10, 0), "{burst:?}");
    assert!(burst.sim_cpu_ms_per_join.is_some(), "{burst:?}");
    assert!(burst.server_cpu_ms_per_join.is_none(), "no server pid");
    // The machine's share busy while joining: some, never more than all.
    assert!(
        burst.machine_busy.is_some_and(|b| b > 0.0 && b <= 1.0),
        "{burst:?}"
    );
    assert!(
        burst.steal.is_some_and(|s| (0.0..1.0).contains(&s)),
        "{burst:?}"
    );
    assert!(report.table().contains("while joining the machine was"));
    assert_eq!(report.steps.len(), 2, "{:#?}", report.steps);
    for (i, step) in report.steps.iter().enumerate() {
        let peers = 3 * (i + 1);
        assert_eq!(step.step, i + 1);
        assert_eq!(step.peers, peers);
        assert_eq!(step.producers, peers * 2);
        // Each peer consumes both streams of the 2 others in its room.
        assert_eq!(step.consumers, peers * 4);
        assert_eq!(step.joins.count, 3);
        assert!(step.expected > 0 && step.received > 0, "{step:?}");
        // Every frame the peers' schedules made due is counted, made or
        // skipped: 50 Opus packets and the video's frame rate per peer
        // and second (give or take a frame per source at each end).
        let per_peer = 50.0 + f64::from(scenario.video_fps);
        let due = per_peer * peers as f64 * step.secs;
        let slack = 4.0 * peers as f64;
        assert!(
            (step.frames_due as f64 - due).abs() <= slack,
            "{} frames due, {due:.0} scheduled",
            step.frames_due
        );
        assert!(step.frames_skipped <= step.frames_due, "{step:?}");
        assert!(step.on_schedule.is_some(), "{step:?}");
        assert_eq!(step.lost, step.expected.saturating_sub(step.received));
        assert!(step.sim_cpu.is_some(), "the sim reads its own /proc");
        assert!(step.server_cpu.is_none(), "no server pid was given");
        assert!(
            step.steal.is_some_and(|s| (0.0..=1.0).contains(&s)),
            "the machine's steal from /proc/stat: {step:?}"
        );
    }
    assert_eq!(report.stop, Some(StopReason::MaxPeers));
    assert_eq!(report.capacity.as_ref().map(|c| c.peers), Some(6));
    assert_eq!(report.rooms.len(), 2);
    assert!(report.passed());
    assert!(!report.timeline.load.is_empty());
}

/// The same live checks against a server in `metrics = "aggregated"` mode:
/// no per-stream series, so the streams are judged per room
/// (`Ejtimaa_room_streams`) instead, and must all be there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smoke_passes_against_an_aggregated_server() {
    let mut scenario = Scenario::named("smoke").expect("smoke is built in");
    scenario.duration_secs = 6.0;
    scenario.warm_up_secs = 3.0;
    let mut config = test_config();
    config.prometheus.metrics = ejtimaa::config::MetricsSetting::Aggregated;
    let report = run_sim(config, &scenario, DEADLINE).await;

    assert!(report.failed_joins.is_empty(), "{:?}", report.failed_joins);
    assert!(report.violations.is_empty(), "{:#?}", report.violations);
    assert_eq!(report.total.consumers, 24);
    assert!(report.steady_scrapes >= 1, "{}", report.steady_scrapes);
}
