//! Scraping on a schedule in a task of its own, so that a slow exporter
//! never delays the peers' joins, churn or measurements: results arrive on
//! a channel and are judged when the run loop gets to them.

use std::time::Duration;

use crate::exporter::{Depth, Exporter, scrape_to};
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
