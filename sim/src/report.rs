//! The end-of-run report: a plain table for people and JSON for scripts.
//!
//! **Delivered ratio.** Over the measurement window (from the end of the
//! warm-up after the last join to the moment peers start leaving), counted
//! per packet by the publishers' sequence numbers: of the packets each
//! producer generated in the window, how many reached each peer subscribed
//! to it, ÷ packets generated × those subscribers (see [`crate::delivery`]
//! for exactly who counts). 1.0 means every packet reached every peer that
//! should receive it; it cannot exceed 1. The window is cut at the scrapes,
//! each interval counting only peers present at both of its ends, so that
//! churn neither empties it nor counts a churned peer's packets.
//!
//! **Bitrates** are RTP payload bits per second over the window, of the
//! peers present at both ends of each interval.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::checks::Violation;
use crate::delivery::{DeliveryCounts, Tracks};
pub use crate::delivery::{Snapshots, sent_bytes};
use crate::ledger::Ledger;
use crate::peer::PeerStatsSnapshot;
use crate::scenario::Scenario;
use crate::timeline::Timeline;

mod layers;
mod nodes;
mod rooms;
mod sum;
pub use crate::delivery::BelowPreferred;
pub use layers::{LayerReport, below_preferred, layers};
pub use nodes::NodeReport;
pub use rooms::{RoomReport, rooms};
pub use sum::sum_rooms;

/// Everything a run measured and found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// What ran.
    pub scenario: Scenario,
    /// The signaling URL.
    pub server: String,
    /// The exporter URL.
    pub exporter: String,
    /// Wall time of the run, seconds.
    pub elapsed_secs: f64,
    /// Length of the delivered-ratio window, seconds (0: no window).
    pub window_secs: f64,
    /// One line per room.
    pub rooms: Vec<RoomReport>,
    /// All rooms together.
    pub total: RoomReport,
    /// One line per consuming peer: tracks and packets it received.
    pub subscribers: Vec<SubscriberReport>,
    /// Delivery per spatial layer to consumers of simulcast producers
    /// (empty without simulcast).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<LayerReport>,
    /// Consumers of simulcast producers receiving below the layer they
    /// asked for at the window's end.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub below_preferred: Vec<BelowPreferred>,
    /// Exporter scrapes.
    pub scrapes: LatencyReport,
    /// Sizes of the scraped bodies.
    pub bodies: BodyReport,
    /// `Peer::spawn` durations (join + transports + produce).
    pub joins: LatencyReport,
    /// Byte counters seen rising between two scrapes.
    pub counter_rises: u64,
    /// Scrapes taken while nobody was joining or leaving (counts, rises
    /// and scores judged).
    pub steady_scrapes: usize,
    /// Latencies of the steady scrapes alone: the exporter at the
    /// scenario's full load, without the joins' and leaves' work beside it.
    pub steady_latency: LatencyReport,
    /// Churn, when the scenario has it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub churn: Option<ChurnReport>,
    /// Peers that could not join, with the reason.
    pub failed_joins: Vec<FailedJoin>,
    /// Every broken invariant.
    pub violations: Vec<Violation>,
    /// Load and scrape latency over time (what `--plot` draws).
    pub timeline: Timeline,
    /// One line per node of a cluster run (empty for a single server).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<NodeReport>,
    /// Cluster redirects the run's peers followed.
    pub redirects: usize,
}

/// What churn did during the run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ChurnReport {
    /// Peers that left with a socket.io disconnect.
    pub left_cleanly: usize,
    /// Peers that dropped their socket.
    pub aborted: usize,
    /// New peers that joined (and came up) to replace them.
    pub joined: usize,
}

/// A peer that did not join.
#[derive(Debug, Clone, Serialize)]
pub struct FailedJoin {
    /// Its id.
    pub peer_id: String,
    /// Why.
    pub error: String,
}

/// What one subscribing peer received.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SubscriberReport {
    /// The peer.
    pub peer_id: String,
    /// Its room.
    pub room_id: String,
    /// Tracks (other peers' producers) it received and should receive, at
    /// the end of the window.
    pub tracks: Tracks,
    /// Packets that should have reached it during the window.
    pub window_expected: u64,
    /// Packets that did.
    pub window_received: u64,
    /// `window_received / window_expected`.
    pub delivered_ratio: Option<f64>,
}

/// Per-subscriber lines from the window's counts and the tracks at its end.
pub fn subscribers(
    ledger: &Ledger,
    window: Option<&DeliveryCounts>,
    tracks: &BTreeMap<String, Tracks>,
) -> Vec<SubscriberReport> {
    tracks
        .iter()
        .map(|(peer, t)| {
            let tally = window
                .and_then(|w| w.subscribers.get(peer))
                .copied()
                .unwrap_or_default();
            SubscriberReport {
                peer_id: peer.clone(),
                room_id: ledger
                    .peers
                    .get(peer)
                    .map(|p| p.room_id.clone())
                    .unwrap_or_default(),
                tracks: *t,
                window_expected: tally.expected,
                window_received: tally.received,
                delivered_ratio: tally.ratio(),
            }
        })
        .collect()
}

/// Latency percentiles, milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LatencyReport {
    /// How many.
    pub count: usize,
    /// How many failed.
    pub failed: usize,
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Worst.
    pub max_ms: f64,
}

impl LatencyReport {
    /// Percentiles of `samples` (nearest rank).
    pub fn of(samples: &[Duration], failed: usize) -> LatencyReport {
        let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        let pick = |q: f64| {
            if ms.is_empty() {
                return 0.0;
            }
            let rank = ((q * ms.len() as f64).ceil() as usize).clamp(1, ms.len());
            ms[rank - 1]
        };
        LatencyReport {
            count: ms.len(),
            failed,
            p50_ms: pick(0.50),
            p99_ms: pick(0.99),
            max_ms: ms.last().copied().unwrap_or(0.0),
        }
    }
}

/// Sizes of scraped bodies: the exposition text, and what crossed the wire
/// (gzip, as Prometheus asks for it, when the exporter compresses).
#[derive(Debug, Clone, Default, Serialize)]
pub struct BodyReport {
    /// Median text size, bytes.
    pub text_bytes_p50: usize,
    /// Median size on the wire, bytes.
    pub wire_bytes_p50: usize,
    /// Largest text, bytes.
    pub text_bytes_max: usize,
}

impl BodyReport {
    /// Medians of `(text, wire)` sizes, one pair per scrape.
    pub fn of(sizes: &[(usize, usize)]) -> BodyReport {
        let median = |mut v: Vec<usize>| {
            v.sort_unstable();
            v.get(v.len().saturating_sub(1) / 2).copied().unwrap_or(0)
        };
        BodyReport {
            text_bytes_p50: median(sizes.iter().map(|s| s.0).collect()),
            wire_bytes_p50: median(sizes.iter().map(|s| s.1).collect()),
            text_bytes_max: sizes.iter().map(|s| s.0).max().unwrap_or(0),
        }
    }

    /// `body p50 4.2 MB text, 410 KB on the wire`.
    pub fn line(&self) -> String {
        format!(
            "body p50 {} text, {} on the wire (max {} text)",
            human_bytes(self.text_bytes_p50),
            human_bytes(self.wire_bytes_p50),
            human_bytes(self.text_bytes_max)
        )
    }
}

fn human_bytes(n: usize) -> String {
    match n {
        0..1_000 => format!("{n} B"),
        1_000..1_000_000 => format!("{:.1} kB", n as f64 / 1e3),
        _ => format!("{:.2} MB", n as f64 / 1e6),
    }
}

/// RTP packets a peer has sent (audio and video).
pub fn sent_packets(s: &PeerStatsSnapshot) -> u64 {
    s.audio_sent.packets + s.video_sent.packets
}

/// Open consumers of `s` beyond the first for the same producer (the
/// server should never make them).
pub fn duplicate_consumers(s: &PeerStatsSnapshot) -> usize {
    let open: Vec<&str> = s
        .consumers
        .iter()
        .filter(|c| !c.closed)
        .map(|c| c.producer_id.as_str())
        .collect();
    let distinct: BTreeSet<&str> = open.iter().copied().collect();
    open.len() - distinct.len()
}

/// `99.95%`, or `-` when nothing was expected.
pub(crate) fn percent(ratio: Option<f64>) -> String {
    ratio.map_or_else(|| "-".to_string(), |d| format!("{:.2}%", d * 100.0))
}

/// Subscribers listed one by one up to this many; beyond, only those
/// missing tracks or packets are.
const SUBSCRIBER_LINES: usize = 24;

pub(crate) fn ratio(received: u64, expected: u64) -> Option<f64> {
    (expected > 0).then(|| received as f64 / expected as f64)
}

impl Report {
    /// Per subscriber: tracks received of expected and its delivered ratio.
    fn subscriber_lines(&self, t: &mut String) {
        let complete = |s: &&SubscriberReport| {
            s.tracks.received == s.tracks.expected && s.window_received == s.window_expected
        };
        let full = self.subscribers.iter().filter(complete).count();
        let _ = writeln!(
            t,
            "subscribers: {} ({} with every track and packet)",
            self.subscribers.len(),
            full
        );
        let all = self.subscribers.len() <= SUBSCRIBER_LINES;
        let shown: Vec<&SubscriberReport> = self
            .subscribers
            .iter()
            .filter(|s| all || !complete(s))
            .take(SUBSCRIBER_LINES)
            .collect();
        if shown.is_empty() {
            return;
        }
        let _ = writeln!(
            t,
            "  {:<28} {:<24} {:>7} {:>9} {:>7}",
            "subscriber", "room", "tracks", "delivered", "lost"
        );
        for s in shown {
            let tracks = format!("{}/{}", s.tracks.received, s.tracks.expected);
            let _ = writeln!(
                t,
                "  {:<28} {:<24} {:>7} {:>9} {:>7}",
                s.peer_id,
                s.room_id,
                tracks,
                percent(s.delivered_ratio),
                s.window_expected.saturating_sub(s.window_received)
            );
        }
    }

    /// No violation and every peer joined.
    pub fn passed(&self) -> bool {
        self.violations.is_empty() && self.failed_joins.is_empty()
    }

    /// The human summary: one line per room, the total, latencies, verdict.
    pub fn table(&self) -> String {
        let mut t = String::new();
        let _ = writeln!(
            t,
            "{:<24} {:>5} {:>5} {:>5} {:>11} {:>11} {:>9} {:>9} {:>8} {:>9} {:>7} {:>5}",
            "room",
            "peers",
            "prod",
            "cons",
            "pkts sent",
            "pkts recv",
            "Mb/s sent",
            "Mb/s recv",
            "on sched",
            "delivered",
            "lost",
            "viol"
        );
        let mbps = |m: Option<f64>| m.map_or_else(|| "-".to_string(), |m| format!("{m:.2}"));
        for r in self.rooms.iter().chain([&self.total]) {
            let _ = writeln!(
                t,
                "{:<24} {:>5} {:>5} {:>5} {:>11} {:>11} {:>9} {:>9} {:>8} {:>9} {:>7} {:>5}",
                r.room_id,
                r.peers,
                r.producers,
                r.consumers,
                r.packets_sent,
                r.packets_received,
                mbps(r.sent_mbps),
                mbps(r.received_mbps),
                percent(r.on_schedule()),
                percent(r.delivered_ratio),
                r.window_lost,
                r.violations
            );
        }
        self.subscriber_lines(&mut t);
        layers::lines(&self.layers, &self.below_preferred, &mut t);
        nodes::lines(&self.nodes, self.redirects, &mut t);
        let _ = writeln!(
            t,
            "scrapes (gzip accepted): {} ({} failed), latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {} steady: p50 {:.1} ms, p99 {:.1} ms; {}",
            self.scrapes.count,
            self.scrapes.failed,
            self.scrapes.p50_ms,
            self.scrapes.p99_ms,
            self.scrapes.max_ms,
            self.steady_scrapes,
            self.steady_latency.p50_ms,
            self.steady_latency.p99_ms,
            self.bodies.line()
        );
        let _ = writeln!(
            t,
            "joins: {} ({} failed), latency p50 {:.1} ms, p99 {:.1} ms; counter rises seen: {}; window {:.1} s of {:.1} s",
            self.joins.count,
            self.joins.failed,
            self.joins.p50_ms,
            self.joins.p99_ms,
            self.counter_rises,
            self.window_secs,
            self.elapsed_secs
        );
        if let Some(c) = &self.churn {
            let _ = writeln!(
                t,
                "churn: {} left cleanly, {} aborted, {} joined",
                c.left_cleanly, c.aborted, c.joined
            );
        }
        for f in &self.failed_joins {
            let _ = writeln!(t, "join failed: {}: {}", f.peer_id, f.error);
        }
        for v in self.violations.iter().take(50) {
            let _ = writeln!(
                t,
                "violation at {:.1} s [{}] {}{}",
                v.at_secs,
                v.rule,
                v.detail,
                v.series
                    .as_ref()
                    .map_or_else(String::new, |s| format!("\n    {s}"))
            );
        }
        if self.violations.len() > 50 {
            let _ = writeln!(t, "... {} more violations", self.violations.len() - 50);
        }
        let verdict = if self.passed() { "PASS" } else { "FAIL" };
        let _ = writeln!(t, "{verdict}");
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peer::{ConsumerSnapshot, Counts, MediaKind, ReceivedSeqs};

    fn consumer(id: &str, producer: &str, closed: bool) -> ConsumerSnapshot {
        ConsumerSnapshot {
            id: id.into(),
            producer_id: producer.into(),
            peer_id: "src".into(),
            kind: MediaKind::Video,
            ssrc: 1,
            simulcast: false,
            preferred_layer: None,
            received: Counts::default(),
            seqs: ReceivedSeqs::default(),
            closed,
            paused: false,
            score: None,
        }
    }

    #[test]
    fn duplicate_consumers_are_open_ones_beyond_the_first() {
        let b = PeerStatsSnapshot {
            consumers: vec![
                consumer("c1", "p1", false),
                consumer("c2", "p1", false),
                consumer("c3", "p2", false),
                consumer("c4", "p2", true),
            ],
            ..PeerStatsSnapshot::default()
        };
        assert_eq!(duplicate_consumers(&b), 1);
    }
}
