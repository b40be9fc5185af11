//! One line per room (and their total): the ledger's counts over the run,
//! the window's delivery and bitrates, the violations each room had.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{ratio, sent_packets, sum_rooms};
use crate::checks::Violation;
use crate::delivery::DeliveryCounts;
use crate::ledger::{Ledger, PeerState};

/// Counts of one room (or of all).
#[derive(Debug, Clone, Default, Serialize)]
pub struct RoomReport {
    /// The room (`total` for the sum).
    pub room_id: String,
    /// Peers that joined.
    pub peers: usize,
    /// Producers created.
    pub producers: usize,
    /// Consumers offered.
    pub consumers: usize,
    /// RTP packets sent, whole run.
    pub packets_sent: u64,
    /// RTP packets received, whole run.
    pub packets_received: u64,
    /// RTP payload bytes sent, whole run.
    pub bytes_sent: u64,
    /// RTP payload bytes received, whole run.
    pub bytes_received: u64,
    /// Payload bitrate sent by the room's peers during the window, Mbit/s.
    pub sent_mbps: Option<f64>,
    /// Payload bitrate received by the room's peers during the window, Mbit/s.
    pub received_mbps: Option<f64>,
    /// Media frames (Opus packets, VP8 frames) the peers' schedules made
    /// due, whole run.
    pub frames_due: u64,
    /// Of those, frames skipped because the sim stalled: load it owed and
    /// never sent.
    pub frames_skipped: u64,
    /// Packets that should have arrived during the window.
    pub window_expected: u64,
    /// Packets that arrived during the window.
    pub window_received: u64,
    /// `window_received / window_expected` (see the module doc).
    pub delivered_ratio: Option<f64>,
    /// Packets lost: `window_expected - window_received`.
    pub window_lost: u64,
    /// Violations concerning this room.
    pub violations: usize,
    /// The cluster node the room ended up on (cluster runs only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

impl RoomReport {
    /// Share of the frames due that the sim made (`None`: none was due).
    pub fn on_schedule(&self) -> Option<f64> {
        let made = self.frames_due - self.frames_skipped.min(self.frames_due);
        ratio(made, self.frames_due)
    }
}

/// Per-room counts from the ledger, with the delivered ratio and bitrates
/// from the window's counts (`window_secs` long).
pub fn rooms(
    ledger: &Ledger,
    window: Option<(&DeliveryCounts, f64)>,
    violations: &[Violation],
) -> (Vec<RoomReport>, RoomReport) {
    let mut rooms: BTreeMap<String, RoomReport> = ledger
        .rooms
        .iter()
        .map(|r| {
            let report = RoomReport {
                room_id: r.clone(),
                ..RoomReport::default()
            };
            (r.clone(), report)
        })
        .collect();
    for p in ledger.peers.values() {
        let joined = matches!(p.state, PeerState::Up | PeerState::Left(_));
        let r = rooms
            .get_mut(&p.room_id)
            .expect("rooms hold every peer's room");
        let s = &p.snapshot;
        r.peers += usize::from(joined);
        r.producers += s.producers.len();
        r.consumers += s.consumers.len();
        r.packets_sent += sent_packets(s);
        r.bytes_sent += s.audio_sent.bytes + s.video_sent.bytes;
        r.packets_received += s.received.packets;
        r.bytes_received += s.received.bytes;
        r.frames_due += s.frames_made + s.frames_skipped;
        r.frames_skipped += s.frames_skipped;
    }
    let mbps = |bytes: u64, secs: f64| (secs > 0.0).then(|| bytes as f64 * 8.0 / secs / 1e6);
    let mut total_bytes = (0, 0);
    if let Some((window, secs)) = window {
        for r in rooms.values_mut() {
            if let Some(t) = window.rooms.get(&r.room_id) {
                r.window_expected = t.expected;
                r.window_received = t.received;
            }
            if let Some(&(sent, received)) = window.bytes.get(&r.room_id) {
                r.sent_mbps = mbps(sent, secs);
                r.received_mbps = mbps(received, secs);
                total_bytes.0 += sent;
                total_bytes.1 += received;
            }
        }
    }
    for v in violations {
        if let Some(r) = v.room_id.as_ref().and_then(|id| rooms.get_mut(id)) {
            r.violations += 1;
        }
    }
    for r in rooms.values_mut() {
        r.delivered_ratio = ratio(r.window_received, r.window_expected);
        r.window_lost = r.window_expected.saturating_sub(r.window_received);
    }
    let mut total = sum_rooms("total", &rooms.values().collect::<Vec<_>>());
    total.violations = violations.len();
    if let Some((_, secs)) = window {
        total.sent_mbps = mbps(total_bytes.0, secs);
        total.received_mbps = mbps(total_bytes.1, secs);
    }
    (rooms.into_values().collect(), total)
}
