//! The nodes the run watches: one per cluster node (one for a single
//! server), each with its exporter's checker and scrape figures; where each
//! peer ended up; and the per-node report.

use std::borrow::Cow;
use std::time::Duration;

use super::Run;
use crate::checks::{Checker, Rule, Violation};
use crate::cluster::{self, Node};
use crate::exposition::Scrape;
use crate::ledger::Ledger;
use crate::peer::Peer;
use crate::report::{self, BodyReport, LatencyReport, NodeReport, RoomReport};

/// One node's exporter as the run watches it.
pub(super) struct Watch {
    /// The node.
    pub node: Node,
    /// Its exporter's checks, against the peers that ended up on it.
    pub checker: Checker,
    /// Scrape latencies.
    pub latencies: Vec<Duration>,
    /// (text, wire) sizes of the scraped bodies.
    pub bodies: Vec<(usize, usize)>,
    /// Scrapes that failed.
    pub failed_scrapes: usize,
    /// Scrapes judged as steady (counts, rises and scores checked).
    pub steady_scrapes: usize,
    /// Latencies of the steady scrapes.
    pub steady_latencies: Vec<Duration>,
    /// `Ejtimaa_rooms` before the run (other users of a shared server).
    pub rooms_baseline: f64,
    /// `Ejtimaa_cluster_redirects_total` before the run and at the last scrape.
    redirects: (Option<f64>, Option<f64>),
    /// The run's peers that knocked here first and were sent elsewhere.
    pub redirected_away: usize,
}

impl Watch {
    /// Watches `node`, whose exporter answered `baseline` before the run.
    pub fn new(node: Node, baseline: &Scrape) -> Watch {
        let redirects = cluster::redirects_exported(baseline);
        Watch {
            node,
            checker: Checker::default(),
            latencies: Vec::new(),
            bodies: Vec::new(),
            failed_scrapes: 0,
            steady_scrapes: 0,
            steady_latencies: Vec::new(),
            rooms_baseline: baseline.rooms().unwrap_or(0.0),
            redirects: (redirects, redirects),
            redirected_away: 0,
        }
    }

    /// Takes in a scrape's latency, size and redirect counter.
    pub fn record(&mut self, s: &Scrape) {
        self.latencies.push(s.latency);
        self.bodies.push((s.body_bytes, s.wire_bytes));
        if let Some(r) = cluster::redirects_exported(s) {
            self.redirects.1 = Some(r);
        }
    }

    /// This node's checker's violations, each naming the node in a cluster.
    fn violations(&self, cluster: bool) -> impl Iterator<Item = Violation> + '_ {
        self.checker.violations.iter().cloned().map(move |mut v| {
            if cluster {
                v.node = Some(self.node.id.clone());
            }
            v
        })
    }
}

/// What node `node`'s exporter must show: everything for a single server,
/// the peers that ended up on it in a cluster.
pub(super) fn node_ledger<'a>(ledger: &'a Ledger, cluster: bool, node: &str) -> Cow<'a, Ledger> {
    if cluster {
        Cow::Owned(ledger.on_node(node))
    } else {
        Cow::Borrowed(ledger)
    }
}

impl Run<'_> {
    /// Records where a peer that came up ended up; in a cluster it must be
    /// a listed node, the one its room's other live peers are on.
    pub(super) fn landed(&mut self, peer_id: &str, peer: &Peer, entry: usize) {
        if !self.cluster {
            return;
        }
        let landed = peer.landed();
        if landed.redirects > 0 {
            self.redirects += landed.redirects;
            self.watches[entry].redirected_away += 1;
        }
        let room = self
            .ledger
            .peers
            .get(peer_id)
            .map(|p| p.room_id.clone())
            .unwrap_or_default();
        let signalings = self.watches.iter().map(|w| &w.node.signaling);
        let Some(i) = cluster::node_at(signalings, &landed.url) else {
            let detail = format!(
                "{peer_id} ended up on {}, which GET /sd does not list",
                landed.url
            );
            self.violation(Rule::UnknownNode, detail, Some(&room));
            return;
        };
        let node = self.watches[i].node.id.clone();
        let elsewhere: Vec<String> = self
            .ledger
            .nodes_of_room(&room)
            .into_keys()
            .filter(|n| *n != node)
            .collect();
        if !elsewhere.is_empty() {
            let detail = format!(
                "{peer_id} ended up on node {node}, its room's other peers on {elsewhere:?}"
            );
            self.violation(Rule::RoomSplit, detail, Some(&room));
        }
        if let Some(p) = self.ledger.peers.get_mut(peer_id) {
            p.node = Some(node);
        }
    }

    /// Every violation: the run's own and each node's, by time.
    pub(super) fn all_violations(&self) -> Vec<Violation> {
        let mut all = self.violations.clone();
        for w in &self.watches {
            all.extend(w.violations(self.cluster));
        }
        all.sort_by(|a, b| a.at_secs.total_cmp(&b.at_secs));
        all
    }

    /// How many violations so far.
    pub(super) fn violation_count(&self) -> usize {
        self.violations.len()
            + self
                .watches
                .iter()
                .map(|w| w.checker.violations.len())
                .sum::<usize>()
    }

    /// One line per node of a cluster run (none for a single server), from
    /// the per-room lines.
    pub(super) fn node_reports(&self, rooms: &[RoomReport]) -> Vec<NodeReport> {
        if !self.cluster {
            return Vec::new();
        }
        self.watches
            .iter()
            .map(|w| {
                let id = &w.node.id;
                let lines: Vec<&RoomReport> = rooms
                    .iter()
                    .filter(|r| r.node.as_deref() == Some(id))
                    .collect();
                let exported = match w.redirects {
                    (Some(before), Some(after)) => Some((after - before).max(0.0) as u64),
                    _ => None,
                };
                NodeReport {
                    node: w.node.id.clone(),
                    region: w.node.region.clone(),
                    signaling: w.node.signaling.to_string(),
                    exporter: w.node.exporter.url().to_string(),
                    rooms: lines.len(),
                    total: report::sum_rooms(id, &lines),
                    redirected_away: w.redirected_away,
                    redirects_exported: exported,
                    scrapes: LatencyReport::of(&w.latencies, w.failed_scrapes),
                    steady_scrapes: w.steady_scrapes,
                    bodies: BodyReport::of(&w.bodies),
                    violations: w.checker.violations.len(),
                }
            })
            .collect()
    }
}
