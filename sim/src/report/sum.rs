//! Several rooms' lines added up (all of them, or a cluster node's).

use super::{RoomReport, ratio};

/// The sum of some rooms' lines, named `label`: counts and window counts
/// added, the delivered ratio of the sums, bitrates added (none if no room
/// has one).
pub fn sum_rooms(label: &str, rooms: &[&RoomReport]) -> RoomReport {
    let mut total = RoomReport {
        room_id: label.into(),
        ..RoomReport::default()
    };
    let add = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
    };
    for r in rooms {
        total.peers += r.peers;
        total.producers += r.producers;
        total.consumers += r.consumers;
        total.packets_sent += r.packets_sent;
        total.packets_received += r.packets_received;
        total.bytes_sent += r.bytes_sent;
        total.bytes_received += r.bytes_received;
        total.frames_due += r.frames_due;
        total.frames_skipped += r.frames_skipped;
        total.window_expected += r.window_expected;
        total.window_received += r.window_received;
        total.window_lost += r.window_lost;
        total.violations += r.violations;
        total.sent_mbps = add(total.sent_mbps, r.sent_mbps);
        total.received_mbps = add(total.received_mbps, r.received_mbps);
    }
    total.delivered_ratio = ratio(total.window_received, total.window_expected);
    total
}
