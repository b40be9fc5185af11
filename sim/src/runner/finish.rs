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
        for node in 0..self.watches.len() {
            self.rooms_close(node, deadline).await;
        }
    }

    /// Node `node`'s `Ejtimaa_rooms` must be back at its baseline by `deadline`.
    async fn rooms_close(&mut self, node: usize, deadline: Instant) {
        let mut rooms = None;
        let baseline = self.watches[node].rooms_baseline;
        loop {
            let watch = &mut self.watches[node];
            match scrape(&watch.node.exporter, SCRAPE_TIMEOUT).await {
                Ok(s) => {
                    watch.record(&s);
                    rooms = s.rooms();
                    if rooms == Some(baseline) {
                        return;
                    }
                }
                Err(e) => tracing::warn!("scrape failed: {e}"),
            }
            if Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let on = match self.cluster {
            true => format!(" on node {}", self.watches[node].node.id),
            false => String::new(),
        };
        self.violation(
            Rule::RoomsAfterLeave,
            format!("Ejtimaa_rooms {rooms:?}{on}, expected {baseline} after the grace period"),
            None,
        );
    }

    pub(super) fn report(&self, window: Option<Window>) -> Report {
        let violations = self.all_violations();
        let (mut rooms, total) = report::rooms(
            &self.ledger,
            window.as_ref().map(|w| (&w.counts, w.length.as_secs_f64())),
            &violations,
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
        if self.cluster {
            for r in &mut rooms {
                r.node = self.ledger.room_node(&r.room_id);
            }
        }
        let nodes = self.node_reports(&rooms);
        let latencies: Vec<Duration> = self
            .watches
            .iter()
            .flat_map(|w| w.latencies.iter().copied())
            .collect();
        let bodies: Vec<(usize, usize)> = self
            .watches
            .iter()
            .flat_map(|w| w.bodies.iter().copied())
            .collect();
        let steady_latencies: Vec<Duration> = self
            .watches
            .iter()
            .flat_map(|w| w.steady_latencies.iter().copied())
            .collect();
        let failed_scrapes = self.watches.iter().map(|w| w.failed_scrapes).sum();
        Report {
            scenario: self.scenario.clone(),
            server: self.opts.server.to_string(),
            exporter: self.opts.exporter.url().to_string(),
            elapsed_secs: self.start.elapsed().as_secs_f64(),
            window_secs: window.as_ref().map_or(0.0, |w| w.length.as_secs_f64()),
            rooms,
            total,
            subscribers,
            layers: report::layers(window.as_ref().map(|w| &w.counts)),
            below_preferred: report::below_preferred(window.as_ref().map(|w| &w.counts)),
            scrapes: LatencyReport::of(&latencies, failed_scrapes),
            bodies: BodyReport::of(&bodies),
            joins: LatencyReport::of(&joins, failed_joins.len()),
            counter_rises: self.watches.iter().map(|w| w.checker.counter_rises).sum(),
            steady_scrapes: self.watches.iter().map(|w| w.steady_scrapes).sum(),
            steady_latency: LatencyReport::of(&steady_latencies, 0),
            churn: self.scenario.churn.as_ref().map(|_| self.churn.clone()),
            failed_joins,
            nodes,
            redirects: self.redirects,
            violations,
            timeline: self.timeline.clone(),
        }
    }
}
