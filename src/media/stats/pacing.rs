//! When each part of a background stats round is asked: a round over `n`
//! objects is cut into slices spread evenly over the interval, so that the
//! workers see a steady trickle of requests instead of a burst per scrape.
//! Pure: the caller owns the clock.

use std::ops::Range;
use std::time::Duration;

/// The spacing of slices: short enough that a slice is small, long enough
/// that a timer per slice costs nothing.
const TICK: Duration = Duration::from_millis(100);

/// Most slices per round, whatever the interval.
const MAX_SLICES: u32 = 100;

/// A round's plan: `slices` slices, slice `k` due at `k / slices` of the interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pacer {
    interval: Duration,
    slices: u32,
}

impl Pacer {
    /// A plan for rounds of `interval`.
    pub fn new(interval: Duration) -> Self {
        let ticks = interval.as_millis() / TICK.as_millis();
        let slices = u32::try_from(ticks)
            .unwrap_or(MAX_SLICES)
            .clamp(1, MAX_SLICES);
        Self { interval, slices }
    }

    /// Slices per round.
    pub fn slices(&self) -> u32 {
        self.slices
    }

    /// The objects of slice `k` of a round over `n` objects.
    pub fn slice(&self, k: u32, n: usize) -> Range<usize> {
        let (k, slices) = (k.min(self.slices) as usize, self.slices as usize);
        (k * n / slices)..((k + 1).min(slices) * n / slices)
    }

    /// When slice `k` is due, from the round's start.
    pub fn due(&self, k: u32) -> Duration {
        self.interval * k.min(self.slices) / self.slices
    }

    /// When the round ends, from its start.
    pub fn round(&self) -> Duration {
        self.interval
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_cover_every_object_once_in_order() {
        for interval_ms in [0, 50, 100, 250, 5000, 10_000, 60_000] {
            let pacer = Pacer::new(Duration::from_millis(interval_ms));
            for n in [0, 1, 7, 99, 100, 1001] {
                let mut next = 0;
                for k in 0..pacer.slices() {
                    let r = pacer.slice(k, n);
                    assert_eq!(r.start, next, "{interval_ms} ms, {n} objects, slice {k}");
                    next = r.end;
                }
                assert_eq!(next, n, "{interval_ms} ms, {n} objects");
            }
        }
    }

    #[test]
    fn slices_are_spread_evenly_over_the_interval() {
        let pacer = Pacer::new(Duration::from_secs(5));
        assert_eq!(pacer.slices(), 50);
        assert_eq!(pacer.due(0), Duration::ZERO);
        assert_eq!(pacer.due(1), Duration::from_millis(100));
        assert_eq!(pacer.due(49), Duration::from_millis(4900));
        assert_eq!(pacer.round(), Duration::from_secs(5));
        // 1000 objects: 20 per slice, never a burst of all of them.
        assert!((0..50).all(|k| pacer.slice(k, 1000).len() == 20));
        // Long intervals keep the slice count bounded; short ones have one slice.
        assert_eq!(Pacer::new(Duration::from_secs(60)).slices(), MAX_SLICES);
        assert_eq!(Pacer::new(Duration::from_millis(30)).slices(), 1);
    }
}
