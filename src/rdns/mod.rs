//! Reverse DNS for the `local_addr` and `remote_addr` labels, kept off the
//! scrape path.
//!
//! The media layer calls [`RdnsService::want`] whenever it sees an address; a
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
//! [`RdnsService::disabled`] (or [`RdnsService::for_config`], which picks it).
//!
//! Wiring: `server` starts the service ([`RdnsService::for_config`]) and hands
//! clones to the media layer, whose transport observers and stats collector
//! call [`RdnsService::want`]; answers go to the engine. The layer sits beside
//! `media`, above `config` and `engine`, and imports nothing higher.
//!
//! - [`cache`]: the pure, clock-injected cache;
//! - [`resolver`]: the [`Resolver`] trait and the [`SystemResolver`];
//! - [`task`]: the background task that runs lookups.

mod cache;
mod resolver;
mod task;

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ejtimaa_systems::WorldEvent;
use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::task::AbortHandle;
use tokio::time::Instant;

use crate::config::PrometheusConfig;
use crate::engine::EngineHandle;
use cache::{Cache, Wanted};

pub use resolver::{ResolveError, Resolver, SystemResolver};

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
pub struct RdnsService {
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

impl RdnsService {
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
        let task = tokio::spawn(task::run(
            Arc::clone(&shared),
            options,
            sink,
            Arc::new(resolver),
        ));
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

#[cfg(test)]
mod tests;
