//! `[threads]`: how the server's own threads ask to be scheduled.

use std::ops::RangeInclusive;
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

/// The `slice_us` values accepted: 0 (the kernel's default) or a slice the
/// kernel accepts ([`crate::slice::RANGE`]).
pub const SLICE_US: RangeInclusive<u64> = 0..=micros(*crate::slice::RANGE.end());

/// The shortest slice the kernel accepts, in µs.
pub const SLICE_MIN_US: u64 = micros(*crate::slice::RANGE.start());

const fn micros(d: Duration) -> u64 {
    d.as_micros() as u64
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn with_slice(us: u64) -> Result<Config, String> {
        Config::from_toml(&format!("[threads]\nslice_us = {us}\n")).map_err(|e| e.to_string())
    }

    #[test]
    fn slices_follow_the_kernels_range() {
        let (shortest, longest) = (SLICE_MIN_US, *SLICE_US.end());
        assert_eq!((shortest, longest), (100, 100_000));
        for us in [0, shortest, 300, longest] {
            assert_eq!(with_slice(us).unwrap().threads.slice_us, us);
        }
        let err = with_slice(shortest - 1).unwrap_err();
        assert!(
            err.contains("use 0 (the default slice) or 100 to 100000"),
            "{err}"
        );
        let err = with_slice(longest + 1).unwrap_err();
        assert!(err.contains("threads.slice_us"), "{err}");
        assert_eq!(with_slice(0).unwrap().threads.slice(), None);
        assert_eq!(
            with_slice(300).unwrap().threads.slice(),
            Some(Duration::from_micros(300))
        );
    }
}
