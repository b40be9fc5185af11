//! The simulator's delivered ratio is exact: counted per packet by the
//! publishers' sequence numbers, it reads 100 % on a loss-free run (never
//! more), and a known uplink loss (every publisher dropping every Nth
//! packet before sending it) shows as exactly that loss, against a real
//! in-process server.

mod support;

use std::time::Duration;

use ejtimaa_sim::report::Report;
use ejtimaa_sim::scenario::Scenario;
use support::*;

/// The whole run, server start-up excluded: never hang CI.
const DEADLINE: Duration = Duration::from_secs(40);

async fn run_fresh(scenario: &Scenario) -> Report {
    run_sim(test_config(), scenario, DEADLINE).await
}

fn smoke(duration: f64) -> Scenario {
    let mut scenario = Scenario::named("smoke").expect("smoke is built in");
    scenario.duration_secs = duration;
    scenario.warm_up_secs = 3.0;
    scenario
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loss_free_run_delivers_all_and_never_more() {
    let report = run_fresh(&smoke(8.0)).await;
    assert!(report.failed_joins.is_empty(), "{:?}", report.failed_joins);
    assert!(report.violations.is_empty(), "{:#?}", report.violations);
    let total = &report.total;
    let delivered = total.delivered_ratio.expect("a delivery window");
    // Thousands of packets: loopback loses none of them (0.1 pp of slack
    // for a kernel buffer overflow on a loaded machine), and nothing
    // counts twice or from outside the window.
    assert!(total.window_expected > 1000, "{total:?}");
    assert!(total.window_received <= total.window_expected, "{total:?}");
    assert!(delivered >= 0.999, "delivered ratio {delivered}");
    for r in &report.rooms {
        assert!(r.delivered_ratio.is_some_and(|d| d <= 1.0), "{r:?}");
        assert!(r.sent_mbps.is_some_and(|m| m > 0.0), "{r:?}");
    }
    // Every subscriber: both streams of the two others, and its packets.
    assert_eq!(report.subscribers.len(), 6, "{:#?}", report.subscribers);
    for s in &report.subscribers {
        assert_eq!((s.tracks.received, s.tracks.expected), (4, 4), "{s:?}");
        assert!(s.delivered_ratio.is_some_and(|d| d >= 0.999), "{s:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_known_uplink_loss_is_measured_to_half_a_point() {
    let mut scenario = smoke(8.0);
    // 5 % of every stream never leaves its publisher. Scores fall with
    // loss, as they should: not what this test judges.
    scenario.drop_every = Some(20);
    scenario.min_score = 0;
    let report = run_fresh(&scenario).await;
    assert!(report.failed_joins.is_empty(), "{:?}", report.failed_joins);
    let total = &report.total;
    let delivered = total.delivered_ratio.expect("a delivery window");
    assert!(total.window_expected > 1000, "{total:?}");
    assert!(
        (delivered - 0.95).abs() <= 0.005,
        "delivered ratio {delivered}, expected 95 % +- 0.5 pp"
    );
    for r in &report.rooms {
        let d = r.delivered_ratio.expect("a ratio per room");
        assert!((d - 0.95).abs() <= 0.01, "{r:?}");
    }
}
