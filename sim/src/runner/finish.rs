//! The end of a run: everyone leaves, nothing of theirs may stay exported,
//! their rooms close; then the report.

use std::time::{Duration, Instant};

use super::{Run, SCRAPE_TIMEOUT, Window};
use crate::checks::Rule;
use crate::exporter::scrape;
use crate::ledger::PeerState;
use crate::peer::Peer;
use crate::report::{self, BodyReport, FailedJoin, LatencyReport, Report};

impl Run<'_> {
    /// Everyone leaves cleanly; one scrape later nothing of theirs may be
    /// exported, and their rooms close within the server's grace.
    pub(super) async fn leave_phase(&mut self) {
        self.bar.set_message("leaving");
        let peers = std::mem::take(&mut self.peers);
        let ids: Vec<String> = peers.keys().cloned().collect();
        futures_util::future::join_all(peers.into_values().map(Peer::leave)).await;
        let left = Instant::now();
        for id in &ids {
            self.ledger.set_state(id, PeerState::Left(left));
        }
        // The first scrape may still show them (the server learns of the
        // disconnects asynchronously); the second one must not.
        self.scrape_and_check(false, false).await;
        tokio::time::sleep(self.scenario.scrape_interval().min(Duration::from_secs(1))).await;
        self.scrape_and_check(true, false).await;
        // Emptied rooms stay open for the grace period, then must close.
        let deadline = Instant::now() + self.opts.room_grace + Duration::from_secs(3);
        let mut rooms = None;
        while Instant::now() < deadline {
            match scrape(&self.opts.exporter, SCRAPE_TIMEOUT).await {
                Ok(s) => {
                    self.latencies.push(s.latency);
                    self.bodies.push((s.body_bytes, s.wire_bytes));
                    rooms = s.rooms();
                    if rooms == Some(self.rooms_baseline) {
                        return;
                    }
                }
                Err(e) => tracing::warn!("scrape failed: {e}"),
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        self.violation(
            Rule::RoomsAfterLeave,
            format!(
                "Ejtimaa_rooms {rooms:?}, expected {} after the grace period",
                self.rooms_baseline
            ),
            None,
        );
    }

    pub(super) fn report(&self, window: Option<Window>) -> Report {
        let (rooms, total) = report::rooms(
            &self.ledger,
            window.as_ref().map(|w| (&w.counts, w.length.as_secs_f64())),
            &self.checker.violations,
        );
        let subscribers = report::subscribers(
            &self.ledger,
            window.as_ref().map(|w| &w.counts),
            &window
                .as_ref()
                .map(|w| w.tracks.clone())
                .unwrap_or_default(),
        );
        let joins: Vec<Duration> = self
            .ledger
            .peers
            .values()
            .filter_map(|p| p.join_latency)
            .collect();
        let failed_joins: Vec<FailedJoin> = self
            .ledger
            .failed()
            .into_iter()
            .map(|(peer_id, error)| FailedJoin { peer_id, error })
            .collect();
        Report {
            scenario: self.scenario.clone(),
            server: self.opts.server.to_string(),
            exporter: self.opts.exporter.url().to_string(),
            elapsed_secs: self.start.elapsed().as_secs_f64(),
            window_secs: window.as_ref().map_or(0.0, |w| w.length.as_secs_f64()),
            rooms,
            total,
            subscribers,
            scrapes: LatencyReport::of(&self.latencies, self.failed_scrapes),
            bodies: BodyReport::of(&self.bodies),
            joins: LatencyReport::of(&joins, failed_joins.len()),
            counter_rises: self.checker.counter_rises,
            steady_scrapes: self.steady_scrapes,
            churn: self.scenario.churn.as_ref().map(|_| self.churn.clone()),
            failed_joins,
            violations: self.checker.violations.clone(),
            timeline: self.timeline.clone(),
        }
    }
}
