//! Reverse DNS for the `local_addr` and `remote_addr` labels, kept off the
//! scrape path.
//!
//! The media layer calls [`ReverseDns::want`] whenever it sees an address; a
//! background task looks wanted addresses up with the system resolver (a few
//! at a time, each bounded by a timeout) and tells the engine what it found
//! with [`WorldEvent::HostnameResolved`]. A scrape renders with whatever names
//! the World has, so a slow or dead resolver never delays it (the original
//! looked names up twice per transport per scrape, without a cache).
//!
//! Answers, failures included, are cached for the TTL, so that a dead resolver
//! is asked about each address once per TTL at most. An address is looked up
//! again when its answer expires, until it has not been wanted for
//! [`DnsOptions::forget_after`]; then it is forgotten and its name withdrawn.
//! When names are not shown (`numeric` or `deidentify`), use
//! [`ReverseDns::disabled`] (or [`ReverseDns::for_config`], which picks it).

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ejtimaa_systems::WorldEvent;
use parking_lot::Mutex;
use thiserror::Error;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::task::AbortHandle;
use tokio::time::Instant;

use crate::config::PrometheusConfig;
use crate::engine::EngineHandle;

/// The longest name accepted (the DNS limit); a PTR answer is chosen by
/// whoever owns the address block, so it is not trusted blindly.
const MAX_NAME_LEN: usize = 253;

/// Never forget an address sooner than this after it was last wanted: scrapes
/// (which re-want live transports' addresses) come every 15 to 60 s, and
/// forgetting between two of them would make names flap.
const MIN_FORGET_AFTER: Duration = Duration::from_secs(300);

/// Limits and lifetimes of the reverse DNS cache.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsOptions {
    /// How long an answer (a name, no name, or a failure) is kept.
    pub ttl: Duration,
    /// How long one lookup may take before it counts as failed.
    pub timeout: Duration,
    /// An address not wanted for this long is forgotten and its name withdrawn.
    pub forget_after: Duration,
    /// Most addresses cached; new ones beyond it are not resolved (and counted).
    pub max_entries: usize,
    /// Most lookups running at once (each holds a blocking thread).
    pub max_in_flight: usize,
}

impl DnsOptions {
    /// The options `[prometheus]` gives: `dns_ttl_secs`, `dns_timeout_ms`;
    /// addresses are forgotten after twice the TTL (at least five minutes).
    pub fn from_config(p: &PrometheusConfig) -> Self {
        let ttl = Duration::from_secs(p.dns_ttl_secs);
        Self {
            ttl,
            timeout: Duration::from_millis(p.dns_timeout_ms),
            forget_after: ttl.saturating_mul(2).max(MIN_FORGET_AFTER),
            ..Self::default()
        }
    }
}

impl Default for DnsOptions {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(300),
            timeout: Duration::from_secs(1),
            forget_after: Duration::from_secs(600),
            max_entries: 4096,
            max_in_flight: 4,
        }
    }
}

/// A reverse lookup that failed (as opposed to one that found no name).
#[derive(Debug, Error)]
#[error("reverse DNS lookup failed: {0}")]
pub struct ResolveError(#[from] pub io::Error);

/// Looks up the name of an address. Blocking: each call runs on a thread of its own.
///
/// `Ok(None)` means the resolver answered that the address has no name.
pub trait Resolver: Send + Sync + 'static {
    /// The name of `ip`, if it has one.
    fn lookup(&self, ip: IpAddr) -> Result<Option<String>, ResolveError>;
}

impl<F> Resolver for F
where
    F: Fn(IpAddr) -> Result<Option<String>, ResolveError> + Send + Sync + 'static,
{
    fn lookup(&self, ip: IpAddr) -> Result<Option<String>, ResolveError> {
        self(ip)
    }
}

/// The system resolver (`getnameinfo`: `/etc/hosts`, then DNS, per nsswitch).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn lookup(&self, ip: IpAddr) -> Result<Option<String>, ResolveError> {
        use dns_lookup::LookupErrorKind;
        match dns_lookup::lookup_addr(&ip) {
            Ok(name) => Ok(Some(name)),
            Err(e) if matches!(e.kind(), LookupErrorKind::NoName | LookupErrorKind::NoData) => {
                Ok(None)
            }
            Err(e) => Err(ResolveError(e.into())),
        }
    }
}

/// Counts of the reverse DNS service, for its metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DnsStats {
    /// Lookups started.
    pub lookups: u64,
    /// Lookups that found a name.
    pub names: u64,
    /// Lookups that found the address has no name.
    pub no_names: u64,
    /// Lookups that failed.
    pub failures: u64,
    /// Lookups that took longer than the timeout.
    pub timeouts: u64,
    /// Addresses not taken because the cache was full.
    pub dropped: u64,
    /// Addresses cached now.
    pub cached: u64,
}

/// The reverse DNS service. Cheap to clone; the background task stops when
/// the last clone is dropped.
#[derive(Clone)]
pub struct ReverseDns {
    inner: Option<Arc<Running>>,
}

struct Running {
    shared: Arc<Shared>,
    task: AbortHandle,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What the handle and the background task share.
struct Shared {
    cache: Mutex<Cache>,
    wake: Notify,
    counts: Counts,
}

#[derive(Default)]
struct Counts {
    lookups: AtomicU64,
    names: AtomicU64,
    no_names: AtomicU64,
    failures: AtomicU64,
    timeouts: AtomicU64,
    dropped: AtomicU64,
}

/// Where the service sends its events (the engine, or a test's channel).
type Sink = Box<dyn Fn(Vec<WorldEvent>) + Send + Sync>;

impl ReverseDns {
    /// A service that does nothing: for `numeric` or `deidentify`, where the
    /// exporter shows no names.
    pub fn disabled() -> Self {
        Self { inner: None }
    }

    /// The service `[prometheus]` asks for: disabled when the exporter is off
    /// or `numeric` or `deidentify` is set, else started with the system
    /// resolver.
    ///
    /// # Panics
    /// When it must start and is not called from within a Tokio runtime.
    pub fn for_config(p: &PrometheusConfig, engine: EngineHandle) -> Self {
        if !p.enabled || p.numeric || p.deidentify {
            Self::disabled()
        } else {
            Self::start(DnsOptions::from_config(p), engine, SystemResolver)
        }
    }

    /// Starts the background task, resolving with `resolver`.
    ///
    /// # Panics
    /// When not called from within a Tokio runtime.
    pub fn start(options: DnsOptions, engine: EngineHandle, resolver: impl Resolver) -> Self {
        Self::start_with_sink(
            options,
            Box::new(move |events| engine.send_all(events)),
            resolver,
        )
    }

    fn start_with_sink(options: DnsOptions, sink: Sink, resolver: impl Resolver) -> Self {
        let shared = Arc::new(Shared {
            cache: Mutex::new(Cache::new(&options)),
            wake: Notify::new(),
            counts: Counts::default(),
        });
        let task = tokio::spawn(run(Arc::clone(&shared), options, sink, Arc::new(resolver)));
        Self {
            inner: Some(Arc::new(Running {
                shared,
                task: task.abort_handle(),
            })),
        }
    }

    /// Asks for the name of `ip`. Cheap and non-blocking: a lookup starts in
    /// the background if the address is new; otherwise it only notes that the
    /// address is still in use.
    pub fn want(&self, ip: IpAddr) {
        let Some(running) = &self.inner else { return };
        let shared = &running.shared;
        let wanted = shared.cache.lock().want(ip, Instant::now());
        match wanted {
            Wanted::New => shared.wake.notify_one(),
            Wanted::Known => {}
            Wanted::Full => {
                shared.counts.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Whether the service runs (false when disabled).
    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// The service's counts so far (all zero when disabled).
    pub fn stats(&self) -> DnsStats {
        let Some(running) = &self.inner else {
            return DnsStats::default();
        };
        let shared = &running.shared;
        let c = &shared.counts;
        DnsStats {
            lookups: c.lookups.load(Ordering::Relaxed),
            names: c.names.load(Ordering::Relaxed),
            no_names: c.no_names.load(Ordering::Relaxed),
            failures: c.failures.load(Ordering::Relaxed),
            timeouts: c.timeouts.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            cached: shared.cache.lock().len() as u64,
        }
    }
}

/// The background task: sweeps the cache, starts lookups while slots are
/// free, and records answers, until it is aborted.
async fn run(shared: Arc<Shared>, options: DnsOptions, sink: Sink, resolver: Arc<dyn Resolver>) {
    let (answers_tx, mut answers) = mpsc::unbounded_channel();
    let slots = Arc::new(Semaphore::new(options.max_in_flight.max(1)));
    loop {
        let now = Instant::now();
        let (withdrawn, lookups, next) = {
            let mut cache = shared.cache.lock();
            let withdrawn = cache.sweep(now);
            let lookups = cache.take_pending(slots.available_permits());
            (withdrawn, lookups, cache.next_deadline())
        };
        if !withdrawn.is_empty() {
            sink(withdrawn);
        }
        for ip in lookups {
            // No more lookups were taken than permits were free, and only this
            // task takes permits; should that ever change, the address waits.
            let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                shared.cache.lock().requeue(ip);
                continue;
            };
            shared.counts.lookups.fetch_add(1, Ordering::Relaxed);
            let resolver = Arc::clone(&resolver);
            let answers_tx = answers_tx.clone();
            let shared = Arc::clone(&shared);
            let timeout = options.timeout;
            tokio::spawn(async move {
                let outcome =
                    match tokio::time::timeout(timeout, lookup(resolver, ip, slot, shared)).await {
                        Ok(outcome) => outcome,
                        Err(_) => Outcome::TimedOut,
                    };
                let _ = answers_tx.send((ip, outcome));
            });
        }

        let sleep = async {
            match next {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = shared.wake.notified() => {}
            () = sleep => {}
            Some((ip, outcome)) = answers.recv() => {
                record(&shared.counts, ip, &outcome);
                let event = shared.cache.lock().answer(ip, outcome, Instant::now());
                if let Some(event) = event {
                    sink(vec![event]);
                }
            }
        }
    }
}

/// Runs one blocking lookup on a thread of its own, holding `slot` until the
/// call really returns: a timed-out call cannot be cancelled, so this bounds
/// the threads a dead resolver can hold. A plain thread (not Tokio's blocking
/// pool) because a stuck one must not delay the runtime's shutdown.
async fn lookup(
    resolver: Arc<dyn Resolver>,
    ip: IpAddr,
    slot: OwnedSemaphorePermit,
    shared: Arc<Shared>,
) -> Outcome {
    let (done, answer) = oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("ejtimaa-rdns".into())
        .spawn(move || {
            let _ = done.send(resolver.lookup(ip));
            drop(slot);
            // A slot is free: pending addresses may go.
            shared.wake.notify_one();
        });
    if let Err(e) = spawned {
        return Outcome::Failed(format!("cannot start a lookup thread: {e}"));
    }
    match answer.await {
        Ok(Ok(name)) => Outcome::from_name(name),
        Ok(Err(e)) => Outcome::Failed(e.to_string()),
        Err(_) => Outcome::Failed("the resolver panicked".into()),
    }
}

fn record(counts: &Counts, ip: IpAddr, outcome: &Outcome) {
    let counter = match outcome {
        Outcome::Name(_) => &counts.names,
        Outcome::NoName => &counts.no_names,
        Outcome::Failed(why) => {
            tracing::debug!(%ip, "{why}");
            &counts.failures
        }
        Outcome::TimedOut => {
            tracing::debug!(%ip, "reverse DNS lookup timed out");
            &counts.timeouts
        }
    };
    counter.fetch_add(1, Ordering::Relaxed);
}

/// What one lookup came to.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    Name(String),
    NoName,
    Failed(String),
    TimedOut,
}

impl Outcome {
    fn from_name(name: Option<String>) -> Self {
        match name {
            Some(name) if is_plausible_name(&name) => Outcome::Name(name),
            _ => Outcome::NoName,
        }
    }
}

/// An answer worth showing: not empty, not absurdly long, and not an
/// address (which would only repeat the numeric form).
fn is_plausible_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name.parse::<IpAddr>().is_err()
        && !name.chars().any(char::is_control)
}

/// What [`Cache::want`] did.
#[derive(Debug, PartialEq, Eq)]
enum Wanted {
    /// A new address, queued for lookup.
    New,
    /// Already known (or being looked up).
    Known,
    /// New, but the cache is full.
    Full,
}

/// The cache, without I/O or clocks: every method is told the time.
struct Cache {
    ttl: Duration,
    forget_after: Duration,
    max_entries: usize,
    entries: HashMap<IpAddr, Entry>,
}

struct Entry {
    last_wanted: Instant,
    state: State,
    /// The name last sent to the engine.
    announced: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Needs a lookup.
    Pending,
    /// Being looked up.
    InFlight,
    /// Answered; looked up again at `expires`.
    Known { expires: Instant },
}

impl Cache {
    fn new(options: &DnsOptions) -> Self {
        Self {
            ttl: options.ttl,
            forget_after: options.forget_after,
            max_entries: options.max_entries,
            entries: HashMap::new(),
        }
    }

    fn len(&self) -> usize {
        self.entries.len()
    }

    fn want(&mut self, ip: IpAddr, now: Instant) -> Wanted {
        if let Some(entry) = self.entries.get_mut(&ip) {
            entry.last_wanted = now;
            return Wanted::Known;
        }
        if self.entries.len() >= self.max_entries {
            return Wanted::Full;
        }
        self.entries.insert(
            ip,
            Entry {
                last_wanted: now,
                state: State::Pending,
                announced: None,
            },
        );
        Wanted::New
    }

    /// Up to `max` addresses to look up now, marked in flight.
    fn take_pending(&mut self, max: usize) -> Vec<IpAddr> {
        let mut taken = Vec::new();
        for (ip, entry) in &mut self.entries {
            if taken.len() >= max {
                break;
            }
            if entry.state == State::Pending {
                entry.state = State::InFlight;
                taken.push(*ip);
            }
        }
        taken
    }

    /// Puts back an address taken for lookup that could not start.
    fn requeue(&mut self, ip: IpAddr) {
        if let Some(entry) = self.entries.get_mut(&ip) {
            entry.state = State::Pending;
        }
    }

    /// Forgets addresses not wanted for a while (returning the withdrawals of
    /// their names) and queues expired answers for another lookup.
    fn sweep(&mut self, now: Instant) -> Vec<WorldEvent> {
        let mut withdrawn = Vec::new();
        let forget_after = self.forget_after;
        self.entries.retain(|ip, entry| {
            // An address being looked up stays until its answer is in.
            let stale = entry.state != State::InFlight && now >= entry.last_wanted + forget_after;
            if stale {
                if entry.announced.is_some() {
                    withdrawn.push(WorldEvent::HostnameResolved {
                        ip: *ip,
                        hostname: None,
                    });
                }
                return false;
            }
            if let State::Known { expires } = entry.state
                && now >= expires
            {
                entry.state = State::Pending;
            }
            true
        });
        withdrawn
    }

    /// When [`Cache::sweep`] has something to do next, if ever.
    fn next_deadline(&self) -> Option<Instant> {
        self.entries
            .values()
            .filter_map(|entry| match entry.state {
                State::InFlight => None,
                State::Pending => Some(entry.last_wanted + self.forget_after),
                State::Known { expires } => {
                    Some(expires.min(entry.last_wanted + self.forget_after))
                }
            })
            .min()
    }

    /// Records a lookup's outcome; returns the event for the engine, if the
    /// name it shows changes.
    ///
    /// A failure keeps the name already shown (a flaky resolver should not
    /// make names flap); only a definite "no name" withdraws it.
    fn answer(&mut self, ip: IpAddr, outcome: Outcome, now: Instant) -> Option<WorldEvent> {
        // Forgotten meanwhile (cannot happen while in flight, but harmless).
        let entry = self.entries.get_mut(&ip)?;
        entry.state = State::Known {
            expires: now + self.ttl,
        };
        let hostname = match outcome {
            Outcome::Name(name) => Some(name),
            Outcome::NoName => None,
            Outcome::Failed(_) | Outcome::TimedOut => return None,
        };
        if entry.announced == hostname {
            return None;
        }
        entry.announced.clone_from(&hostname);
        Some(WorldEvent::HostnameResolved { ip, hostname })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

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
    ) -> (ReverseDns, mpsc::UnboundedReceiver<WorldEvent>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let sink: Sink = Box::new(move |events| {
            for event in events {
                let _ = tx.send(event);
            }
        });
        (ReverseDns::start_with_sink(options, sink, resolver), rx)
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
        let dns = ReverseDns::disabled();
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
}
