//! The run's observations: the peers' counters into the ledger, scrapes
//! judged by the [`Checker`](crate::checks::Checker), the progress line
//! and the timeline.

use std::time::Instant;

use super::watch::node_ledger;
use super::{Run, SCRAPE_TIMEOUT, SETTLE};
use crate::checks::{CheckContext, Rule, Violation};
use crate::exporter::scrape;
use crate::exposition::{Scrape, ScrapeError};
use crate::ledger::PeerState;
use crate::report;

impl Run<'_> {
    /// Records a violation found by the run itself (not by a scrape's rules).
    pub(super) fn violation(&mut self, rule: Rule, detail: String, room: Option<&str>) {
        let at_secs = self.start.elapsed().as_secs_f64();
        let v = Violation::new(rule, at_secs, detail, None, room);
        self.violations.push(v);
    }

    /// Brings the ledger up to date; a peer whose connection ended on its
    /// own is gone (and that is a failure of the run).
    pub(super) fn observe_all(&mut self) {
        let now = Instant::now();
        let mut dropped = Vec::new();
        for (id, snap) in self.snapshots() {
            if let Some(reason) = &snap.disconnected {
                dropped.push((id.clone(), reason.clone()));
            }
            let duplicates = report::duplicate_consumers(&snap);
            if duplicates > 0 && self.duplicates_reported.insert(id.clone()) {
                let room = self.ledger.peers.get(&id).map(|p| p.room_id.clone());
                self.violation(
                    Rule::DuplicateConsumer,
                    format!(
                        "{id} holds {duplicates} open consumer(s) of a producer it already consumes"
                    ),
                    room.as_deref(),
                );
            }
            self.ledger.observe(&id, snap, now);
        }
        for (id, reason) in dropped {
            self.peers.remove(&id);
            self.ledger.set_state(&id, PeerState::Left(now));
            let room = self.ledger.peers.get(&id).map(|p| p.room_id.clone());
            self.violation(
                Rule::PeerDisconnected,
                format!("{id} lost its connection: {reason}"),
                room.as_deref(),
            );
        }
    }

    /// One scrape of every node, each checked against the ledger as it is
    /// right after it.
    pub(super) async fn scrape_and_check(&mut self, steady: bool, check_rooms: bool) {
        for node in 0..self.watches.len() {
            let result = scrape(&self.watches[node].node.exporter, SCRAPE_TIMEOUT).await;
            self.check_scraped(node, result, steady, check_rooms);
        }
    }

    /// Checks a scrape's result of node `node` against the ledger (of the
    /// peers on that node) as it is now (right after the scrape: results
    /// are judged as soon as they arrive).
    pub(super) fn check_scraped(
        &mut self,
        node: usize,
        result: Result<Scrape, ScrapeError>,
        steady: bool,
        check_rooms: bool,
    ) {
        self.observe_all();
        match result {
            Ok(s) => {
                self.watches[node].record(&s);
                self.timeline
                    .record_scrape(s.started.saturating_duration_since(self.start), s.latency);
                if steady {
                    self.watches[node].steady_scrapes += 1;
                    self.watches[node].steady_latencies.push(s.latency);
                }
                // With background stats, a new stream's first figures and
                // a counter's next rise come up to one stats round later.
                let staleness = s.stats_staleness();
                let ctx = CheckContext {
                    run_start: self.start,
                    settle: SETTLE + staleness,
                    staleness,
                    warm_up: self.scenario.warm_up() + staleness,
                    min_score: f64::from(self.scenario.min_score),
                    steady,
                    rooms_baseline: self.watches[node].rooms_baseline,
                    check_rooms,
                };
                let judging = Instant::now();
                let watch = &mut self.watches[node];
                let ledger = node_ledger(&self.ledger, self.cluster, &watch.node.id);
                watch.checker.check(&ledger, &s, &ctx);
                // On the peers' thread: what the checks take from them.
                let judge_us = judging.elapsed().as_micros() as u64;
                tracing::debug!(judge_us, "scrape judged");
            }
            Err(e) => {
                tracing::warn!("scrape failed: {e}");
                let watch = &mut self.watches[node];
                watch.failed_scrapes += 1;
                let at_secs = self.start.elapsed().as_secs_f64();
                let v = Violation::new(Rule::ScrapeFailed, at_secs, e.to_string(), None, None);
                watch.checker.violations.push(v);
            }
        }
    }

    /// Updates the progress line and samples the timeline.
    pub(super) fn progress(&mut self) {
        let (mut sent, mut received) = (0, 0);
        for p in self.peers.values() {
            let s = p.stats().snapshot();
            sent += report::sent_packets(&s);
            received += s.received.packets;
        }
        // Peers gone from the run still count, with their last counters,
        // so that the timeline's rates never go negative.
        let (mut all_sent, mut all_received) = (sent, received);
        for p in self.ledger.peers.values() {
            if !self.peers.contains_key(&p.peer_id) {
                all_sent += report::sent_packets(&p.snapshot);
                all_received += p.snapshot.received.packets;
            }
        }
        self.timeline.record_load(
            self.start.elapsed(),
            self.peers.len(),
            all_sent,
            all_received,
        );
        let last = self
            .timeline
            .scrapes
            .last()
            .map_or_else(|| "-".into(), |s| format!("{:.1} ms", s.latency_ms));
        self.bar.set_message(format!(
            "peers {}/{} | packets sent {sent} received {received} | last scrape {last} | violations {}",
            self.peers.len(),
            self.scenario.peers(),
            self.violation_count()
        ));
    }
}
