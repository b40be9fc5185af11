//! Tests of the live checks.

use super::*;
use crate::exposition::parse;
use crate::exposition::{
    PRODUCER_BYTES, PRODUCER_INFO, PRODUCER_PACKETS, PRODUCER_SCORE, ROOM_STREAMS,
};
use crate::ledger::PeerState;
use crate::peer::{MediaKind, PeerStatsSnapshot, ProducerSnapshot};

const HEAD: &str = "# TYPE Ejtimaa_rooms gauge\nEjtimaa_rooms 1\n\
    # TYPE Ejtimaa_peers gauge\nEjtimaa_peers{room_id=\"r\"} 1\n";

fn ledger(t0: Instant) -> Ledger {
    let mut ledger = Ledger::default();
    ledger.add_peer("r", "p", "P \"1\"");
    ledger.set_state("p", PeerState::Up);
    let snap = PeerStatsSnapshot {
        send_connected: true,
        producers: vec![ProducerSnapshot::new("a1", MediaKind::Audio, 1, Vec::new())],
        ..PeerStatsSnapshot::default()
    };
    ledger.observe("p", snap, t0);
    ledger
}

fn scrape_of(text: &str, started: Instant) -> Scrape {
    Scrape {
        started,
        latency: Duration::ZERO,
        body_bytes: text.len(),
        wire_bytes: text.len(),
        families: parse(text).expect("parses"),
    }
}

fn producer(bytes: u64, score: u8, name: &str) -> String {
    producer_with(bytes, score, name, 1, "")
}

/// A producer's series: `info` is its `_info` value, `extra` more labels
/// on its detail series.
fn producer_with(bytes: u64, score: u8, name: &str, info: u8, extra: &str) -> String {
    let labels = format!(
        "room_id=\"r\",peer_id=\"p\",display_name=\"{name}\",id=\"a1\",kind=\"audio\",codec=\"opus\",type=\"inbound-rtp\""
    );
    let identity = format!("room_id=\"r\",peer_id=\"p\",id=\"a1\",kind=\"audio\"{extra}");
    let packets = bytes / 10;
    format!(
        "# TYPE {PRODUCER_BYTES} counter\n{PRODUCER_BYTES}{{{labels}}} {bytes}\n\
         # TYPE {PRODUCER_SCORE} gauge\n{PRODUCER_SCORE}{{{labels}}} {score}\n\
         # TYPE {PRODUCER_INFO} gauge\n{PRODUCER_INFO}{{{labels}}} {info}\n\
         # TYPE {PRODUCER_PACKETS} counter\n{PRODUCER_PACKETS}{{{identity}}} {packets}\n"
    )
}

/// Everything judged from the first scrape on: no settle or warm-up time.
fn steady_context(t0: Instant) -> CheckContext {
    CheckContext {
        run_start: t0,
        settle: Duration::ZERO,
        staleness: Duration::ZERO,
        warm_up: Duration::ZERO,
        min_score: 8.0,
        steady: true,
        rooms_baseline: 0.0,
        check_rooms: true,
    }
}

fn rules(c: &Checker) -> Vec<&str> {
    c.violations.iter().map(|v| v.rule.name()).collect()
}

#[test]
fn good_scrapes_pass_and_bad_ones_are_caught() {
    let t0 = Instant::now();
    let ledger = ledger(t0);
    let ctx = steady_context(t0);
    let at = |s| t0 + Duration::from_secs(s);
    let mut c = Checker::default();
    let name = "P \\\"1\\\"";
    c.check(
        &ledger,
        &scrape_of(&format!("{HEAD}{}", producer(100, 10, name)), at(1)),
        &ctx,
    );
    c.check(
        &ledger,
        &scrape_of(&format!("{HEAD}{}", producer(200, 10, name)), at(2)),
        &ctx,
    );
    assert!(c.violations.is_empty(), "{:?}", c.violations);
    // Bytes and packets.
    assert_eq!(c.counter_rises, 2);

    c.check(
        &ledger,
        &scrape_of(&format!("{HEAD}{}", producer(150, 3, "x")), at(3)),
        &ctx,
    );
    let found = rules(&c);
    for rule in ["counter-fell", "score-low", "labels"] {
        assert!(found.contains(&rule), "{rule} not in {found:?}");
    }

    // A detail series with a descriptive label, an `_info` that is not 1.
    let mut c = Checker::default();
    let bad = producer_with(100, 10, name, 2, ",display_name=\"P\"");
    c.check(&ledger, &scrape_of(&format!("{HEAD}{bad}"), at(1)), &ctx);
    let mut found = rules(&c);
    found.sort_unstable();
    assert_eq!(found, ["info-value", "labels"], "{:?}", c.violations);

    let mut c = Checker::default();
    c.check(
        &ledger,
        &scrape_of("# TYPE Ejtimaa_rooms gauge\nEjtimaa_rooms 0\n", at(1)),
        &ctx,
    );
    let found = rules(&c);
    for rule in ["rooms", "peers", "missing-series"] {
        assert!(found.contains(&rule), "{rule} not in {found:?}");
    }
}

#[test]
fn aggregated_servers_are_judged_by_room() {
    let t0 = Instant::now();
    let ledger = ledger(t0);
    let ctx = steady_context(t0);
    let at = t0 + Duration::from_secs(1);
    let rooms = |n: u32| {
        format!(
            "{HEAD}# TYPE {ROOM_STREAMS} gauge\n\
             {ROOM_STREAMS}{{room_id=\"r\",role=\"producer\",kind=\"audio\"}} {n}\n"
        )
    };

    // No per-stream family: one producer stream, counted in its room.
    let mut c = Checker::default();
    c.check(&ledger, &scrape_of(&rooms(1), at), &ctx);
    assert!(c.violations.is_empty(), "{:?}", c.violations);

    for wrong in [0, 2] {
        let mut c = Checker::default();
        c.check(&ledger, &scrape_of(&rooms(wrong), at), &ctx);
        assert_eq!(rules(&c), ["room-streams"], "{wrong}");
    }

    // `both`: the per-stream family is declared, so it is judged too.
    let both = format!("{}# TYPE {PRODUCER_BYTES} counter\n", rooms(1));
    let mut c = Checker::default();
    c.check(&ledger, &scrape_of(&both, at), &ctx);
    assert!(rules(&c).contains(&"missing-series"), "{:?}", c.violations);
}

#[test]
fn with_background_stats_counters_must_rise_only_across_a_stats_round() {
    let t0 = Instant::now();
    let ledger = ledger(t0);
    let ctx = CheckContext {
        staleness: Duration::from_secs(3),
        ..steady_context(t0)
    };
    let at = |s| t0 + Duration::from_secs(s);
    let name = "P \\\"1\\\"";
    let check = |c: &mut Checker, bytes, secs| {
        let text = format!("{HEAD}{}", producer(bytes, 10, name));
        c.check(&ledger, &scrape_of(&text, at(secs)), &ctx);
    };

    // Unchanged within a round is no violation; a rise across one counts once.
    let mut c = Checker::default();
    check(&mut c, 100, 1);
    check(&mut c, 100, 2);
    check(&mut c, 100, 3);
    check(&mut c, 300, 4);
    assert!(c.violations.is_empty(), "{:?}", c.violations);
    // Bytes and packets, each once.
    assert_eq!(c.counter_rises, 2);

    // Unchanged across a whole round is stuck.
    let mut c = Checker::default();
    check(&mut c, 100, 1);
    check(&mut c, 100, 2);
    check(&mut c, 100, 4);
    assert_eq!(rules(&c), ["counter-stuck", "counter-stuck"]);

    // Falling is caught between any two scrapes.
    let mut c = Checker::default();
    check(&mut c, 100, 1);
    check(&mut c, 50, 2);
    assert_eq!(rules(&c), ["counter-fell", "counter-fell"]);
}
