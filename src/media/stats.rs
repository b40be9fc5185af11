//! Stats collection on scrape: mediasoup's `get_stats` fanned out over the live
//! producers and consumers, bounded in concurrency and time, fed to the World.
//!
//! A serial `get_stats` costs a thread round trip (~28 µs), so the calls run
//! concurrently with a bounded number in flight.
//!
//! Answers go to the engine in batches as they arrive, so that what came
//! before the deadline is used even when some objects are late; late objects
//! keep their previous figures in the World.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ejtimaa_systems::{
    ConsumerId, ProducerId, RtpStreamStats, RtpStreamType, Score, StreamOwner, WorldEvent,
};
use futures_util::future::{BoxFuture, FutureExt};
use futures_util::stream::{self, StreamExt};
use mediasoup::consumer::{ConsumerRtpStreamStat, ConsumerStat};
use mediasoup::prelude::{Consumer, Producer};
use mediasoup::producer::ProducerStat;
use mediasoup::types::data_structures::TransportTuple as MsTuple;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::registry::MediaRegistry;
use crate::engine::EngineHandle;
use crate::rdns::RdnsService;

/// Most answers sent to the engine in one batch: large enough that a burst is
/// one engine wake-up, small enough that a batch never waits for stragglers.
const MAX_BATCH: usize = 256;

/// Refreshes the World's RTP stream statistics from mediasoup, on demand.
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
    timeouts: AtomicU64,
    errors: AtomicU64,
    last_duration_nanos: AtomicU64,
}

/// How one fan-out went.
#[derive(Default)]
struct Tally {
    answered: u64,
    errors: u64,
}

/// The answer of one object: its events, or why it had none.
type Answer = Result<Vec<WorldEvent>, String>;

impl StatsCollector {
    /// A collector over `registry`'s objects, reporting to `engine`. A refresh
    /// waits at most `deadline` and keeps at most `concurrency` calls in flight
    /// (at least one).
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

    /// The hook the exporter runs before each render (its `StatsRefresh`;
    /// spelled out here because the media layer does not know the exporter).
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
        let (total, tally) = self.fan_out(started + self.deadline).await;
        let timeouts = total.saturating_sub(tally.answered + tally.errors);
        let elapsed = started.elapsed();

        let c = &self.counters;
        c.answered.fetch_add(tally.answered, Ordering::Relaxed);
        c.errors.fetch_add(tally.errors, Ordering::Relaxed);
        c.timeouts.fetch_add(timeouts, Ordering::Relaxed);
        c.last_duration_nanos.store(
            u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        c.refreshes.fetch_add(1, Ordering::Release);
        if timeouts > 0 {
            tracing::debug!(
                total,
                timeouts,
                deadline = ?self.deadline,
                "stats refresh hit its deadline; late objects keep their previous figures"
            );
        }
    }

    /// Calls `get_stats` on every object, at most `concurrency` at once, until
    /// all answered or `deadline`. Returns how many objects there were.
    async fn fan_out(&self, deadline: Instant) -> (u64, Tally) {
        let producers = self.registry.producers();
        let consumers = self.registry.consumers();
        let total = (producers.len() + consumers.len()) as u64;
        let calls = producers
            .into_iter()
            .map(producer_call)
            .chain(consumers.into_iter().map(consumer_call));
        let mut answers = stream::iter(calls)
            .buffer_unordered(self.concurrency)
            .ready_chunks(MAX_BATCH);

        let mut tally = Tally::default();
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
                        Ok(stats) => {
                            tally.answered += 1;
                            events.extend(stats);
                        }
                        Err(why) => {
                            // Normal when the object closed meanwhile.
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
        (total, tally)
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

    /// Refreshes that ran a fan-out.
    pub fn refreshes(&self) -> u64 {
        self.counters.refreshes.load(Ordering::Relaxed)
    }

    /// Refreshes that waited for a running one and used its figures.
    pub fn shared(&self) -> u64 {
        self.counters.shared.load(Ordering::Relaxed)
    }

    /// Objects that answered in time, over all refreshes.
    pub fn answered(&self) -> u64 {
        self.counters.answered.load(Ordering::Relaxed)
    }

    /// Objects that had not answered by the deadline, over all refreshes.
    pub fn timeouts(&self) -> u64 {
        self.counters.timeouts.load(Ordering::Relaxed)
    }

    /// Calls that failed (usually: the object closed meanwhile).
    pub fn errors(&self) -> u64 {
        self.counters.errors.load(Ordering::Relaxed)
    }

    /// How long the last fan-out took.
    pub fn last_duration(&self) -> Duration {
        Duration::from_nanos(self.counters.last_duration_nanos.load(Ordering::Relaxed))
    }
}

fn producer_call(producer: Producer) -> BoxFuture<'static, Answer> {
    async move {
        let owner = StreamOwner::Producer(ProducerId::from(producer.id().to_string()));
        let stats = producer.get_stats().await.map_err(|e| e.to_string())?;
        Ok(stats
            .iter()
            .map(|s| WorldEvent::StatsUpdated {
                owner: owner.clone(),
                stats: inbound(s),
            })
            .collect())
    }
    .boxed()
}

fn consumer_call(consumer: Consumer) -> BoxFuture<'static, Answer> {
    async move {
        let owner = StreamOwner::Consumer(ConsumerId::from(consumer.id().to_string()));
        let stats = consumer.get_stats().await.map_err(|e| e.to_string())?;
        // Both sides are reported; the exporter picks the types it shows.
        Ok(stats
            .iter()
            .map(|s| WorldEvent::StatsUpdated {
                owner: owner.clone(),
                stats: match s {
                    ConsumerRtpStreamStat::Outbound(s) => outbound(s),
                    ConsumerRtpStreamStat::Inbound(s) => inbound(s),
                },
            })
            .collect())
    }
    .boxed()
}

/// A stream mediasoup receives.
fn inbound(s: &ProducerStat) -> RtpStreamStats {
    RtpStreamStats {
        stream_type: RtpStreamType::InboundRtp,
        ssrc: s.ssrc,
        rid: s.rid.clone(),
        byte_count: s.byte_count,
        packet_count: s.packet_count,
        packets_lost: i64::from(s.packets_lost),
        fraction_lost: s.fraction_lost,
        jitter: s.jitter,
        round_trip_time: s.round_trip_time,
        bitrate: s.bitrate,
        nack_count: s.nack_count,
        pli_count: s.pli_count,
        fir_count: s.fir_count,
        score: score(s.score),
    }
}

/// A stream mediasoup sends.
fn outbound(s: &ConsumerStat) -> RtpStreamStats {
    RtpStreamStats {
        stream_type: RtpStreamType::OutboundRtp,
        ssrc: s.ssrc,
        rid: None,
        byte_count: s.byte_count,
        packet_count: s.packet_count,
        packets_lost: i64::from(s.packets_lost),
        fraction_lost: s.fraction_lost,
        jitter: s.jitter,
        round_trip_time: s.round_trip_time,
        bitrate: s.bitrate,
        nack_count: s.nack_count,
        pli_count: s.pli_count,
        fir_count: s.fir_count,
        score: score(s.score),
    }
}

/// mediasoup scores are 0..=10; anything above is clamped rather than trusted.
fn score(raw: u8) -> Score {
    Score::try_from(raw).unwrap_or(Score::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_are_clamped() {
        assert_eq!(score(0).get(), 0);
        assert_eq!(score(7).get(), 7);
        assert_eq!(score(10).get(), 10);
        assert_eq!(score(200).get(), 10);
    }
}
