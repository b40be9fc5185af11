//! The per-node lines of a cluster run's report.

use std::fmt::Write as _;

use serde::Serialize;

use super::{BodyReport, LatencyReport, RoomReport, percent};

/// One node of a cluster run: the rooms that ended up on it, what its
/// exporter answered and what it broke.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NodeReport {
    /// Its node id.
    pub node: String,
    /// Its region.
    pub region: String,
    /// Its signaling URL.
    pub signaling: String,
    /// Its exporter's metrics URL.
    pub exporter: String,
    /// Rooms of the run that ended up on it.
    pub rooms: usize,
    /// Those rooms' figures together (`room_id` is the node id).
    pub total: RoomReport,
    /// The run's peers that knocked here first and were redirected.
    pub redirected_away: usize,
    /// How much its `Ejtimaa_cluster_redirects_total` rose during the run.
    pub redirects_exported: Option<u64>,
    /// Its exporter's scrapes.
    pub scrapes: LatencyReport,
    /// Of those, scrapes judged as steady.
    pub steady_scrapes: usize,
    /// Sizes of its scraped bodies.
    pub bodies: BodyReport,
    /// Violations its exporter showed.
    pub violations: usize,
}

/// Per node of a cluster run: its rooms, load, delivery, redirects,
/// scrapes and violations.
pub fn lines(nodes: &[NodeReport], redirects: usize, t: &mut String) {
    if nodes.is_empty() {
        return;
    }
    let _ = writeln!(
        t,
        "nodes: {} ({} redirects followed)",
        nodes.len(),
        redirects
    );
    let _ = writeln!(
        t,
        "  {:<10} {:<10} {:>5} {:>5} {:>5} {:>9} {:>9} {:>13} {:>11} {:>5}",
        "node",
        "region",
        "rooms",
        "peers",
        "cons",
        "Mb/s recv",
        "delivered",
        "redirects s/e",
        "scrape p50",
        "viol"
    );
    for n in nodes {
        let redirects = format!(
            "{}/{}",
            n.redirected_away,
            n.redirects_exported
                .map_or_else(|| "-".to_string(), |e| e.to_string())
        );
        let _ = writeln!(
            t,
            "  {:<10} {:<10} {:>5} {:>5} {:>5} {:>9} {:>9} {:>13} {:>8.1} ms {:>5}",
            n.node,
            n.region,
            n.rooms,
            n.total.peers,
            n.total.consumers,
            n.total
                .received_mbps
                .map_or_else(|| "-".to_string(), |m| format!("{m:.2}")),
            percent(n.total.delivered_ratio),
            redirects,
            n.scrapes.p50_ms,
            n.violations
        );
    }
}
