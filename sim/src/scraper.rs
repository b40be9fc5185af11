//! Scraping on a schedule in a task of its own, so that a slow exporter
//! never delays the peers' joins, churn or measurements: results arrive on
//! a channel and are judged when the run loop gets to them.

use std::time::Duration;

use crate::exporter::{Depth, Exporter, scrape, scrape_to};
use crate::exposition::{Scrape, ScrapeError};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// A running background scraper; it stops when dropped.
#[derive(Debug)]
pub struct Scraper {
    task: JoinHandle<()>,
    results: mpsc::Receiver<Result<Scrape, ScrapeError>>,
}

impl Scraper {
    /// Scrapes `exporter` every `interval` (the first after one interval), each
    /// scrape given up after `timeout`. Must run inside a tokio runtime.
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
        // A few results of slack; a run loop that falls further behind
        // makes the scraper wait rather than pile up stale scrapes.
        let (tx, results) = mpsc::channel(4);
        let task = tokio::spawn(async move {
            let mut tick =
                tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if tx
                    .send(scrape_to(&exporter, timeout, depth).await)
                    .await
                    .is_err()
                {
                    return;
                }
            }
        });
        Scraper { task, results }
    }

    /// The next result (pending forever once the task has ended).
    pub async fn next(&mut self) -> Result<Scrape, ScrapeError> {
        match self.results.recv().await {
            Some(result) => result,
            None => std::future::pending().await,
        }
    }
}

impl Drop for Scraper {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Scrapers of several exporters (a cluster's nodes) on one schedule, each
/// in its own task so that a slow node delays only its own results, which
/// arrive tagged with the exporter's index; they stop when dropped.
#[derive(Debug)]
pub struct Scrapers {
    tasks: Vec<JoinHandle<()>>,
    results: mpsc::Receiver<(usize, Result<Scrape, ScrapeError>)>,
}

impl Scrapers {
    /// Scrapes each of `exporters` as [`Scraper::spawn`] does.
    pub fn spawn(exporters: Vec<Exporter>, interval: Duration, timeout: Duration) -> Scrapers {
        let (tx, results) = mpsc::channel(4 * exporters.len().max(1));
        let tasks = exporters
            .into_iter()
            .enumerate()
            .map(|(i, exporter)| {
                let tx = tx.clone();
                tokio::spawn(async move {
                    let start = tokio::time::Instant::now() + interval;
                    let mut tick = tokio::time::interval_at(start, interval);
                    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    loop {
                        tick.tick().await;
                        let result = scrape(&exporter, timeout).await;
                        if tx.send((i, result)).await.is_err() {
                            return;
                        }
                    }
                })
            })
            .collect();
        Scrapers { tasks, results }
    }

    /// The next result of any exporter, with its index (pending forever
    /// once every task has ended).
    pub async fn next(&mut self) -> (usize, Result<Scrape, ScrapeError>) {
        match self.results.recv().await {
            Some(result) => result,
            None => std::future::pending().await,
        }
    }
}

impl Drop for Scrapers {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}
