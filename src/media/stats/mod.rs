//! Stats collection: mediasoup's `get_stats` fanned out over the live
//! producers and consumers, bounded in concurrency and time, fed to the World.
//!
//! Two ways to run it: in the background, a round per interval cut into
//! slices spread over it ([`pacing`], [`round`]: the objects in the
//! exporter's order cut into runs, one per slice, so each is asked once per
//! interval and the text a slice changes is one run of each family; a new
//! object is first asked at the next slice), so that a scrape only renders
//! what the World holds; or at each scrape ([`StatsCollector::refresh`]), the
//! way the original exporter did.
//!
//! A serial `get_stats` costs a thread round trip (~28 µs), so the calls run
//! concurrently with a bounded number in flight. Answers go to the engine in
//! batches as they arrive, so that what came before the deadline is used even
//! when some objects are late; late objects keep their previous figures.

mod convert;
mod pacing;
mod round;

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::stream::{self, StreamExt};
use mediasoup::consumer::WeakConsumer;
use mediasoup::producer::WeakProducer;
use mediasoup::types::data_structures::TransportTuple as MsTuple;
use tokio::sync::{Mutex, watch};
use tokio::time::Instant;

use super::registry::MediaRegistry;
use crate::engine::EngineHandle;
use crate::rdns::RdnsService;
use convert::{Answer, consumer_call, producer_call};
pub use pacing::Pacer;
use round::Round;

/// Most answers sent to the engine in one batch: large enough that a burst is
/// one engine wake-up, small enough that a batch never waits for stragglers.
const MAX_BATCH: usize = 256;

/// Refreshes the World's RTP stream statistics from mediasoup.
pub struct StatsCollector {
    registry: Arc<MediaRegistry>,
    engine: EngineHandle,
    deadline: Duration,
    concurrency: usize,
    dns: Option<RdnsService>,
    /// Held for the whole fan-out: concurrent scrapes queue here instead of
    /// starting fan-outs of their own.
    running: Mutex<()>,
    counters: Counters,
}

#[derive(Default)]
struct Counters {
    refreshes: AtomicU64,
    shared: AtomicU64,
    answered: AtomicU64,
    gone: AtomicU64,
    timeouts: AtomicU64,
    errors: AtomicU64,
    last_duration_nanos: AtomicU64,
    rounds: AtomicU64,
    last_round_nanos: AtomicU64,
}

/// How one fan-out went.
#[derive(Default)]
struct Tally {
    total: u64,
    answered: u64,
    gone: u64,
    errors: u64,
}

/// One object's pending stats call.
type Call = BoxFuture<'static, Answer>;

impl StatsCollector {
    /// A collector over `registry`'s objects, reporting to `engine`. A fan-out
    /// waits at most `deadline` and keeps at most `concurrency` calls in
    /// flight (at least one).
    pub fn new(
        registry: Arc<MediaRegistry>,
        engine: EngineHandle,
        deadline: Duration,
        concurrency: usize,
    ) -> Self {
        Self {
            registry,
            engine,
            deadline,
            concurrency: concurrency.max(1),
            dns: None,
            running: Mutex::new(()),
            counters: Counters::default(),
        }
    }

    /// Also tells `dns` about the addresses of every live transport's selected
    /// tuple at each refresh, so that names of long-lived transports stay
    /// wanted (and are not forgotten) while they are scraped.
    pub fn with_dns(mut self, dns: RdnsService) -> Self {
        self.dns = Some(dns);
        self
    }

    /// The hook the exporter runs before each render when stats are collected
    /// at scrape time (its `StatsRefresh`; spelled out here because the media
    /// layer does not know the exporter).
    pub fn refresh_hook(self: Arc<Self>) -> Arc<dyn Fn() -> BoxFuture<'static, ()> + Send + Sync> {
        Arc::new(move || {
            let this = Arc::clone(&self);
            Box::pin(async move { this.refresh().await })
        })
    }

    /// Asks every live producer and consumer for its stats and sends the
    /// answers to the engine; returns by the deadline at the latest.
    ///
    /// If another refresh is running, waits for it and uses its figures
    /// instead of starting a second fan-out.
    pub async fn refresh(&self) {
        let seen = self.counters.refreshes.load(Ordering::Acquire);
        let _running = self.running.lock().await;
        if self.counters.refreshes.load(Ordering::Acquire) != seen {
            // A refresh finished while we waited: it is as fresh as ours would be.
            self.counters.shared.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let started = Instant::now();
        self.want_addresses();
        let producers = self.registry.weak_producers(0).into_iter();
        let consumers = self.registry.weak_consumers(0).into_iter();
        let calls = self.calls(
            producers.map(|l| l.handle).collect(),
            consumers.map(|l| l.handle).collect(),
        );
        self.fan_out(calls, started + self.deadline).await;
        self.counters
            .last_duration_nanos
            .store(nanos(started.elapsed()), Ordering::Relaxed);
        self.counters.refreshes.fetch_add(1, Ordering::Release);
    }

    /// Refreshes in the background until `stop` turns true: every `interval`,
    /// one round in slices spread over the interval, each asking its run of
    /// the objects listed at the round's start and any registered since the
    /// slice before.
    pub async fn run_background(
        self: Arc<Self>,
        interval: Duration,
        mut stop: watch::Receiver<bool>,
    ) {
        let pacer = Pacer::new(interval);
        loop {
            let start = Instant::now();
            let mut round: Option<Round> = None;
            for k in 0..pacer.slices() {
                tokio::select! {
                    () = tokio::time::sleep_until(start + pacer.due(k)) => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
                let round = round.get_or_insert_with(|| {
                    self.want_addresses();
                    Round::start(&self.registry)
                });
                let slice = round.slice(k, &pacer, &self.registry);
                let calls = self.calls(slice.producers, slice.consumers);
                if !calls.is_empty() {
                    self.fan_out(calls, Instant::now() + self.deadline).await;
                }
            }
            tokio::select! {
                () = tokio::time::sleep_until(start + pacer.round()) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            let c = &self.counters;
            c.last_round_nanos
                .store(nanos(start.elapsed()), Ordering::Relaxed);
            c.rounds.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A pending call for each of `producers` and `consumers`. Calls hold
    /// weak handles until they run, so a waiting call never keeps an object
    /// open.
    fn calls(&self, producers: Vec<WeakProducer>, consumers: Vec<WeakConsumer>) -> Vec<Call> {
        let producers = producers.into_iter().map(producer_call);
        producers
            .chain(
                consumers
                    .into_iter()
                    .map(|c| consumer_call(c, Arc::clone(&self.registry))),
            )
            .collect()
    }

    /// Runs `calls`, at most `concurrency` at once, until all answered or
    /// `deadline`, and accounts for them.
    async fn fan_out(&self, calls: Vec<Call>, deadline: Instant) {
        let mut tally = Tally {
            total: calls.len() as u64,
            ..Tally::default()
        };
        let mut answers = stream::iter(calls)
            .buffer_unordered(self.concurrency)
            .ready_chunks(MAX_BATCH);
        let collect = async {
            // Checked here as well as by the timer below, which only fires at
            // its next millisecond tick: a deadline already over asks nobody.
            while Instant::now() < deadline {
                let Some(batch) = answers.next().await else {
                    break;
                };
                let mut events = Vec::with_capacity(batch.len());
                for answer in batch {
                    match answer {
                        Answer::Stats(stats) => {
                            tally.answered += 1;
                            events.extend(stats);
                        }
                        Answer::Gone => tally.gone += 1,
                        Answer::Failed(why) => {
                            tally.errors += 1;
                            tracing::debug!("get_stats failed: {why}");
                        }
                    }
                }
                self.engine.send_all(events);
            }
        };
        // On timeout the pending calls are dropped; mediasoup forgets them.
        let _ = tokio::time::timeout_at(deadline, collect).await;
        drop(answers);

        let timeouts = tally
            .total
            .saturating_sub(tally.answered + tally.gone + tally.errors);
        let c = &self.counters;
        c.answered.fetch_add(tally.answered, Ordering::Relaxed);
        c.gone.fetch_add(tally.gone, Ordering::Relaxed);
        c.errors.fetch_add(tally.errors, Ordering::Relaxed);
        c.timeouts.fetch_add(timeouts, Ordering::Relaxed);
        if timeouts > 0 {
            tracing::debug!(
                total = tally.total,
                timeouts,
                deadline = ?self.deadline,
                "stats hit their deadline; late objects keep their previous figures"
            );
        }
    }

    /// Marks the addresses of live transports' selected tuples as wanted.
    fn want_addresses(&self) {
        let Some(dns) = &self.dns else { return };
        for transport in self.registry.transports() {
            let Some(tuple) = transport.ice_selected_tuple() else {
                continue;
            };
            // A local address may be an announced host name: nothing to resolve.
            if let Ok(ip) = tuple.local_address().parse::<IpAddr>() {
                dns.want(ip);
            }
            if let MsTuple::WithRemote { remote_ip, .. } = tuple {
                dns.want(remote_ip);
            }
        }
    }

    /// Refreshes at scrape time that ran a fan-out.
    pub fn refreshes(&self) -> u64 {
        self.counters.refreshes.load(Ordering::Relaxed)
    }

    /// Refreshes that waited for a running one and used its figures.
    pub fn shared(&self) -> u64 {
        self.counters.shared.load(Ordering::Relaxed)
    }

    /// Objects that answered in time, over all fan-outs.
    pub fn answered(&self) -> u64 {
        self.counters.answered.load(Ordering::Relaxed)
    }

    /// Objects that had closed by the time they were asked (or while asked).
    pub fn gone(&self) -> u64 {
        self.counters.gone.load(Ordering::Relaxed)
    }

    /// Objects that had not answered by the deadline, over all fan-outs.
    pub fn timeouts(&self) -> u64 {
        self.counters.timeouts.load(Ordering::Relaxed)
    }

    /// Calls that failed while their object lived.
    pub fn errors(&self) -> u64 {
        self.counters.errors.load(Ordering::Relaxed)
    }

    /// How long the last refresh at scrape time took.
    pub fn last_duration(&self) -> Duration {
        Duration::from_nanos(self.counters.last_duration_nanos.load(Ordering::Relaxed))
    }

    /// Complete background rounds.
    pub fn rounds(&self) -> u64 {
        self.counters.rounds.load(Ordering::Relaxed)
    }

    /// How long the last complete background round took, if one completed.
    pub fn last_round(&self) -> Option<Duration> {
        (self.rounds() > 0)
            .then(|| Duration::from_nanos(self.counters.last_round_nanos.load(Ordering::Relaxed)))
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
