//! Scraping on a schedule on a thread of its own, so that a slow exporter
//! never delays the peers' joins, churn or measurements, and the peers
//! never delay a scrape: results arrive on a channel and are judged when
//! the run loop gets to them.
//!
//! The thread runs its own runtime, as a Prometheus server is a process of
//! its own: the peers' runtime rests before it parks (see [`crate::idle`]),
//! which would add its rest to every read of a response and to the latency
//! measured, and parsing a large exposition would take turns from the
//! peers.

use std::time::Duration;

use futures_util::future::join_all;
use tokio::sync::{mpsc, oneshot};

use crate::exporter::{Depth, Exporter, scrape_to};
use crate::exposition::{Scrape, ScrapeError};

/// A running background scraper of one exporter; it stops when dropped.
#[derive(Debug)]
pub struct Scraper(Scrapers);

impl Scraper {
    /// Scrapes `exporter` every `interval` (the first after one interval), each
    /// scrape given up after `timeout`.
    pub fn spawn(exporter: Exporter, interval: Duration, timeout: Duration) -> Scraper {
        Scraper::spawn_to(exporter, interval, timeout, Depth::Parse)
    }

    /// Like [`Scraper::spawn`], keeping of each body what `depth` says.
    pub fn spawn_to(
        exporter: Exporter,
        interval: Duration,
        timeout: Duration,
        depth: Depth,
    ) -> Scraper {
        Scraper(Scrapers::spawn_to(vec![exporter], interval, timeout, depth))
    }

    /// The next result (pending forever once the scraper has ended).
    pub async fn next(&mut self) -> Result<Scrape, ScrapeError> {
        self.0.next().await.1
    }
}

/// Scrapers of several exporters (a cluster's nodes) on one schedule, each
/// in its own task so that a slow node delays only its own results, which
/// arrive tagged with the exporter's index; they stop when dropped.
#[derive(Debug)]
pub struct Scrapers {
    results: mpsc::Receiver<(usize, Result<Scrape, ScrapeError>)>,
    /// Dropping it ends the scrapes.
    _stop: oneshot::Sender<()>,
}

impl Scrapers {
    /// Scrapes each of `exporters` as [`Scraper::spawn`] does.
    pub fn spawn(exporters: Vec<Exporter>, interval: Duration, timeout: Duration) -> Scrapers {
        Scrapers::spawn_to(exporters, interval, timeout, Depth::Parse)
    }

    /// Like [`Scrapers::spawn`], keeping of each body what `depth` says.
    pub fn spawn_to(
        exporters: Vec<Exporter>,
        interval: Duration,
        timeout: Duration,
        depth: Depth,
    ) -> Scrapers {
        // A few results of slack per exporter; a run loop that falls further
        // behind makes the scrapers wait rather than pile up stale scrapes.
        let (tx, results) = mpsc::channel(4 * exporters.len().max(1));
        let (stop, stopped) = oneshot::channel::<()>();
        // Clients of their own: a pooled connection lives on the runtime
        // that opened it, and this one ends with the scrapes.
        let exporters: Vec<Exporter> = exporters.iter().map(Exporter::detached).collect();
        let scrapes = async move {
            let loops = exporters.into_iter().enumerate().map(|(i, exporter)| {
                let tx = tx.clone();
                async move {
                    let start = tokio::time::Instant::now() + interval;
                    let mut tick = tokio::time::interval_at(start, interval);
                    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    loop {
                        tick.tick().await;
                        let result = scrape_to(&exporter, timeout, depth).await;
                        if tx.send((i, result)).await.is_err() {
                            return;
                        }
                    }
                }
            });
            tokio::select! {
                _ = join_all(loops) => {}
                _ = stopped => {}
            }
        };
        let spawned = std::thread::Builder::new()
            .name("ejtimaa-sim-scrape".into())
            .spawn(move || {
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime.block_on(scrapes),
                    Err(e) => tracing::error!("the scrape thread has no runtime: {e}"),
                }
            });
        if let Err(e) = spawned {
            // The results channel closes: no scrape arrives, and the run's
            // checks say so.
            tracing::error!("the scrape thread did not start: {e}");
        }
        Scrapers {
            results,
            _stop: stop,
        }
    }

    /// The next result of any exporter, with its index (pending forever
    /// once every scrape has ended).
    pub async fn next(&mut self) -> (usize, Result<Scrape, ScrapeError>) {
        match self.results.recv().await {
            Some(result) => result,
            None => std::future::pending().await,
        }
    }
}
