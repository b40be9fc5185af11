use std::net::IpAddr;
use std::time::Duration;

use ejtimaa_systems::WorldEvent;
use tokio::time::Instant;

use super::{Cache, Outcome, Wanted};
use crate::rdns::DnsOptions;

const TTL: Duration = Duration::from_secs(60);
const FORGET: Duration = Duration::from_secs(600);

fn cache(max_entries: usize) -> Cache {
    Cache::new(&DnsOptions {
        ttl: TTL,
        forget_after: FORGET,
        max_entries,
        ..DnsOptions::default()
    })
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn named(ip: IpAddr, name: &str) -> Option<WorldEvent> {
    Some(WorldEvent::HostnameResolved {
        ip,
        hostname: Some(name.into()),
    })
}

fn withdrawn(ip: IpAddr) -> WorldEvent {
    WorldEvent::HostnameResolved { ip, hostname: None }
}

#[test]
fn an_address_is_looked_up_once_however_often_it_is_wanted() {
    let (mut c, t0, a) = (cache(10), Instant::now(), ip("192.0.2.1"));
    assert_eq!(c.want(a, t0), Wanted::New);
    assert_eq!(c.want(a, t0), Wanted::Known);
    assert_eq!(c.take_pending(4), vec![a]);
    assert_eq!(c.want(a, t0), Wanted::Known);
    assert!(c.take_pending(4).is_empty(), "in flight: not taken twice");
    assert_eq!(
        c.answer(a, Outcome::Name("a.example".into()), t0),
        named(a, "a.example")
    );
    assert_eq!(c.want(a, t0), Wanted::Known);
    assert!(c.sweep(t0 + TTL / 2).is_empty());
    assert!(c.take_pending(4).is_empty(), "cached: no new lookup");
}

#[test]
fn expired_answers_are_looked_up_again_and_unchanged_names_not_resent() {
    let (mut c, t0, a) = (cache(10), Instant::now(), ip("192.0.2.1"));
    c.want(a, t0);
    c.take_pending(4);
    c.answer(a, Outcome::Name("a.example".into()), t0);
    assert_eq!(c.next_deadline(), Some(t0 + TTL));
    assert!(c.sweep(t0 + TTL).is_empty());
    assert_eq!(c.take_pending(4), vec![a]);
    assert_eq!(
        c.answer(a, Outcome::Name("a.example".into()), t0 + TTL),
        None
    );
    let t2 = t0 + 2 * TTL;
    c.sweep(t2);
    c.take_pending(4);
    assert_eq!(
        c.answer(a, Outcome::Name("b.example".into()), t2),
        named(a, "b.example")
    );
}

#[test]
fn addresses_not_wanted_for_a_while_are_forgotten_and_their_names_withdrawn() {
    let (mut c, t0) = (cache(10), Instant::now());
    let (a, b) = (ip("192.0.2.1"), ip("2001:db8::2"));
    c.want(a, t0);
    c.want(b, t0);
    c.take_pending(4);
    c.answer(a, Outcome::Name("a.example".into()), t0);
    c.answer(b, Outcome::NoName, t0);
    // `a` is still wanted later on, `b` is not.
    let t1 = t0 + FORGET / 2;
    c.want(a, t1);
    assert!(c.sweep(t1).is_empty());
    // Both answers expired meanwhile: both are looked up again.
    for ip in c.take_pending(4) {
        let outcome = if ip == a {
            Outcome::Name("a.example".into())
        } else {
            Outcome::NoName
        };
        assert_eq!(c.answer(ip, outcome, t1), None, "nothing changed");
    }
    assert_eq!(
        c.sweep(t0 + FORGET),
        Vec::<WorldEvent>::new(),
        "b had no name"
    );
    assert_eq!(c.len(), 1);
    assert_eq!(c.sweep(t1 + FORGET), vec![withdrawn(a)]);
    assert_eq!(c.len(), 0);
    assert_eq!(
        c.want(a, t1 + FORGET),
        Wanted::New,
        "forgotten: resolved afresh"
    );
}

#[test]
fn failures_are_cached_and_keep_the_name_already_shown() {
    let (mut c, t0, a) = (cache(10), Instant::now(), ip("192.0.2.1"));
    c.want(a, t0);
    c.take_pending(4);
    assert_eq!(c.answer(a, Outcome::Failed("SERVFAIL".into()), t0), None);
    c.sweep(t0 + TTL / 2);
    assert!(
        c.take_pending(4).is_empty(),
        "a failure is cached for the TTL"
    );
    c.sweep(t0 + TTL);
    assert_eq!(c.take_pending(4), vec![a]);
    let t1 = t0 + TTL;
    assert_eq!(
        c.answer(a, Outcome::Name("a.example".into()), t1),
        named(a, "a.example")
    );
    let t2 = t1 + TTL;
    c.sweep(t2);
    c.take_pending(4);
    assert_eq!(c.answer(a, Outcome::TimedOut, t2), None, "stale name kept");
    let t3 = t2 + TTL;
    c.want(a, t3);
    c.sweep(t3);
    c.take_pending(4);
    assert_eq!(c.answer(a, Outcome::NoName, t3), Some(withdrawn(a)));
}

#[test]
fn the_cache_and_the_lookups_taken_are_bounded() {
    let (mut c, t0) = (cache(2), Instant::now());
    assert_eq!(c.want(ip("192.0.2.1"), t0), Wanted::New);
    assert_eq!(c.want(ip("192.0.2.2"), t0), Wanted::New);
    assert_eq!(c.want(ip("192.0.2.3"), t0), Wanted::Full);
    assert_eq!(c.take_pending(1).len(), 1);
    assert_eq!(c.take_pending(0).len(), 0);
    assert_eq!(c.take_pending(5).len(), 1);
}

#[test]
fn implausible_names_count_as_no_name() {
    assert_eq!(
        Outcome::from_name(Some("a.example".into())),
        Outcome::Name("a.example".into())
    );
    assert_eq!(Outcome::from_name(Some(String::new())), Outcome::NoName);
    assert_eq!(
        Outcome::from_name(Some("192.0.2.1".into())),
        Outcome::NoName
    );
    assert_eq!(Outcome::from_name(Some("a\nb".into())), Outcome::NoName);
    assert_eq!(Outcome::from_name(Some("a".repeat(300))), Outcome::NoName);
    assert_eq!(Outcome::from_name(None), Outcome::NoName);
}
