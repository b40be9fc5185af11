//! The directory's health as this node sees it: whether it answers, what
//! failed, and the families the exporter appends to each scrape.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::Instant;

use parking_lot::Mutex;

/// Counters and state shared by the heartbeat, admission and the exporter.
pub struct Status {
    /// [`UNKNOWN`], [`UP`] or [`DOWN`].
    health: AtomicU8,
    errors: AtomicU64,
    redirects: AtomicU64,
    conflicts: AtomicU64,
    /// When the last heartbeat that renewed everything was sent.
    last_ok: Mutex<Option<Instant>>,
}

const UNKNOWN: u8 = 0;
const UP: u8 = 1;
const DOWN: u8 = 2;

impl Default for Status {
    fn default() -> Self {
        Self {
            health: AtomicU8::new(UNKNOWN),
            errors: AtomicU64::new(0),
            redirects: AtomicU64::new(0),
            conflicts: AtomicU64::new(0),
            last_ok: Mutex::new(None),
        }
    }
}

/// A change of health worth one log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The directory answers (again).
    Up,
    /// It stopped answering, or stopped taking this node.
    Down,
}

impl Status {
    /// A heartbeat sent at `sent` renewed the registration and claims.
    /// Returns [`Change::Up`] when that is news.
    pub fn beat_ok(&self, sent: Instant) -> Option<Change> {
        *self.last_ok.lock() = Some(sent);
        (self.health.swap(UP, Ordering::AcqRel) != UP).then_some(Change::Up)
    }

    /// A call to the directory failed (or it refused this node).
    /// Returns [`Change::Down`] when that is news.
    pub fn failed(&self) -> Option<Change> {
        self.errors.fetch_add(1, Ordering::Relaxed);
        (self.health.swap(DOWN, Ordering::AcqRel) != DOWN).then_some(Change::Down)
    }

    /// A peer was sent to another node.
    pub fn redirected(&self) {
        self.redirects.fetch_add(1, Ordering::Relaxed);
    }

    /// Rooms open here that the directory gives to another node.
    pub fn conflicts(&self, n: usize) {
        self.conflicts.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Whether the last call to the directory worked and the node is in it.
    pub fn is_up(&self) -> bool {
        self.health.load(Ordering::Acquire) == UP
    }

    /// When the last good heartbeat was sent.
    pub fn last_ok(&self) -> Option<Instant> {
        *self.last_ok.lock()
    }

    /// Appends the cluster families, in the exposition's text format.
    pub fn render(&self, out: &mut String) {
        let families: [(&str, &str, &str, u64); 4] = [
            (
                "Ejtimaa_cluster_directory_up",
                "Whether the room directory (Redis) answered the last call and holds this node's registration.",
                "gauge",
                u64::from(self.is_up()),
            ),
            (
                "Ejtimaa_cluster_directory_errors_total",
                "Calls to the room directory that failed, or found this node's id held by another server.",
                "counter",
                self.errors.load(Ordering::Relaxed),
            ),
            (
                "Ejtimaa_cluster_redirects_total",
                "Connections refused because their room is on another node, and told its URL.",
                "counter",
                self.redirects.load(Ordering::Relaxed),
            ),
            (
                "Ejtimaa_cluster_claim_conflicts_total",
                "Heartbeats that found a room open here claimed by another node (after a partition); newcomers go there.",
                "counter",
                self.conflicts.load(Ordering::Relaxed),
            ),
        ];
        for (name, help, kind, value) in families {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_changes_are_reported_once() {
        let s = Status::default();
        assert!(!s.is_up());
        // The first failure is news, the next ones are not.
        assert_eq!(s.failed(), Some(Change::Down));
        assert_eq!(s.failed(), None);
        let t = Instant::now();
        assert_eq!(s.beat_ok(t), Some(Change::Up));
        assert_eq!(s.beat_ok(t), None);
        assert_eq!(s.last_ok(), Some(t));
        assert_eq!(s.failed(), Some(Change::Down));
        assert_eq!(s.failed(), None);
    }

    #[test]
    fn families_are_rendered_with_help_and_type() {
        let s = Status::default();
        s.failed();
        s.redirected();
        s.redirected();
        s.conflicts(3);
        let mut out = String::new();
        s.render(&mut out);
        for line in [
            "# TYPE Ejtimaa_cluster_directory_up gauge",
            "Ejtimaa_cluster_directory_up 0",
            "# TYPE Ejtimaa_cluster_directory_errors_total counter",
            "Ejtimaa_cluster_directory_errors_total 1",
            "Ejtimaa_cluster_redirects_total 2",
            "Ejtimaa_cluster_claim_conflicts_total 3",
        ] {
            assert!(out.lines().any(|l| l == line), "{line} in\n{out}");
        }
    }
}
