//! `[threads]`: how the server's own threads ask to be scheduled.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `[threads]`: the scheduler slice of the server's own threads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ThreadsConfig {
    /// The scheduler slice (µs) the async runtime's threads (signaling, the
    /// exporter, stats) and the engine thread ask for, so that one woken by
    /// a scrape or a request preempts a busy media worker at once; the
    /// mediasoup workers keep the kernel's default. 0 keeps the default for
    /// every thread; otherwise 100 to 100000 (see `crate::slice`).
    pub slice_us: u64,
}

impl Default for ThreadsConfig {
    fn default() -> Self {
        Self { slice_us: 300 }
    }
}

impl ThreadsConfig {
    /// The slice to ask for, if any.
    pub fn slice(&self) -> Option<Duration> {
        (self.slice_us > 0).then(|| Duration::from_micros(self.slice_us))
    }
}
