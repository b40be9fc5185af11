use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ejtimaa_systems::WorldEvent;
use tokio::sync::mpsc;

use super::cache::is_plausible_name;
use super::*;

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
fn options_follow_the_config() {
    let p = PrometheusConfig {
        dns_ttl_secs: 10,
        dns_timeout_ms: 250,
        ..PrometheusConfig::default()
    };
    let o = DnsOptions::from_config(&p);
    assert_eq!(o.ttl, Duration::from_secs(10));
    assert_eq!(o.timeout, Duration::from_millis(250));
    assert_eq!(o.forget_after, MIN_FORGET_AFTER);
}

// --- the background task, with injected resolvers (real time, short) ---

/// Bounds every wait, so that a bug fails the test instead of hanging it.
const WAIT: Duration = Duration::from_secs(10);

fn started(
    options: DnsOptions,
    resolver: impl Resolver,
) -> (RdnsService, mpsc::UnboundedReceiver<WorldEvent>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let sink: Sink = Box::new(move |events| {
        for event in events {
            let _ = tx.send(event);
        }
    });
    (RdnsService::start_with_sink(options, sink, resolver), rx)
}

async fn next_event(rx: &mut mpsc::UnboundedReceiver<WorldEvent>) -> WorldEvent {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("an event in time")
        .expect("the sink is alive")
}

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !done() {
        assert!(start.elapsed() < WAIT, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn names_reach_the_sink_once_and_lookups_are_deduplicated() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let (dns, mut rx) = started(DnsOptions::default(), move |ip: IpAddr| {
        counted.fetch_add(1, Ordering::SeqCst);
        Ok(Some(format!("host-{ip}.example").replace(['.', ':'], "-")))
    });
    let a = ip("192.0.2.7");
    for _ in 0..5 {
        dns.want(a);
    }
    let event = next_event(&mut rx).await;
    assert_eq!(event, named(a, "host-192-0-2-7-example").unwrap());
    dns.want(a);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(rx.try_recv().is_err(), "no second event");
    let stats = dns.stats();
    assert_eq!((stats.lookups, stats.names, stats.cached), (1, 1, 1));
}

#[tokio::test]
async fn expiry_re_resolves_and_forgetting_withdraws() {
    let options = DnsOptions {
        ttl: Duration::from_millis(40),
        forget_after: Duration::from_millis(150),
        ..DnsOptions::default()
    };
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let (dns, mut rx) = started(options, move |_| {
        // A new name each time, so that every re-resolution is visible.
        let n = counted.fetch_add(1, Ordering::SeqCst);
        Ok(Some(format!("n{n}.example")))
    });
    let a = ip("192.0.2.8");
    dns.want(a);
    assert_eq!(next_event(&mut rx).await, named(a, "n0.example").unwrap());
    assert_eq!(next_event(&mut rx).await, named(a, "n1.example").unwrap());
    // Not wanted again: it goes, and its name is withdrawn.
    loop {
        if next_event(&mut rx).await == withdrawn(a) {
            break;
        }
    }
    until("the cache to empty", || dns.stats().cached == 0).await;
}

#[tokio::test]
async fn timeouts_are_counted_and_lookups_in_flight_are_bounded() {
    let options = DnsOptions {
        timeout: Duration::from_millis(20),
        max_in_flight: 2,
        ..DnsOptions::default()
    };
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let (r, m) = (Arc::clone(&running), Arc::clone(&most));
    let (dns, mut rx) = started(options, move |_| {
        let now = r.fetch_add(1, Ordering::SeqCst) + 1;
        m.fetch_max(now, Ordering::SeqCst);
        // A dead resolver: far longer than the timeout, even on a loaded machine.
        std::thread::sleep(Duration::from_millis(200));
        r.fetch_sub(1, Ordering::SeqCst);
        Ok(Some("late.example".into()))
    });
    for i in 1..=6 {
        dns.want(ip(&format!("192.0.2.{i}")));
    }
    until("six timeouts", || dns.stats().timeouts == 6).await;
    assert!(
        most.load(Ordering::SeqCst) <= 2,
        "at most two lookups at once"
    );
    let stats = dns.stats();
    assert_eq!((stats.lookups, stats.names, stats.failures), (6, 0, 0));
    assert!(rx.try_recv().is_err(), "a timeout shows no name");
}

#[tokio::test]
async fn failures_and_no_names_show_nothing() {
    let (dns, mut rx) = started(DnsOptions::default(), |ip: IpAddr| match ip {
        IpAddr::V4(_) => Err(ResolveError(io::Error::other("SERVFAIL"))),
        IpAddr::V6(_) => Ok(None),
    });
    dns.want(ip("192.0.2.9"));
    dns.want(ip("2001:db8::9"));
    until("both answers", || {
        let s = dns.stats();
        s.failures == 1 && s.no_names == 1
    })
    .await;
    assert!(rx.try_recv().is_err());
}

#[tokio::test]
async fn disabled_does_nothing() {
    let dns = RdnsService::disabled();
    dns.want(ip("127.0.0.1"));
    assert!(!dns.is_enabled());
    assert_eq!(dns.stats(), DnsStats::default());
}

#[tokio::test]
async fn the_system_resolver_names_the_loopback_address() {
    // Every usual /etc/hosts names 127.0.0.1, but which name comes first
    // varies; only a plausible name is asserted.
    let (dns, mut rx) = started(DnsOptions::default(), SystemResolver);
    let lo = ip("127.0.0.1");
    dns.want(lo);
    match next_event(&mut rx).await {
        WorldEvent::HostnameResolved {
            ip,
            hostname: Some(name),
        } => {
            assert_eq!(ip, lo);
            assert!(is_plausible_name(&name), "{name:?}");
        }
        other => panic!("unexpected {other:?}"),
    }
}
