//! When each object is asked in a background stats round: a round is cut
//! into slices spread evenly over the interval, and the objects, listed in
//! the exporter's order at the round's start, into as many runs of about the
//! same length, run `k` asked in slice `k`. The workers see a steady trickle
//! of requests instead of a burst per scrape, and the series a slice changes
//! sit side by side in a scrape, so a scrape compresses again only the few
//! runs asked since the last one. Pure: the caller owns the clock and the
//! listing.

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

    /// Which of `n` listed objects slice `k` asks: the `k`th of `slices`
    /// runs whose lengths differ by one at most.
    pub fn run(&self, k: u32, n: usize) -> Range<usize> {
        let at = |k: u32| {
            let k = u128::from(k.min(self.slices));
            // At most `n`: k <= slices.
            (n as u128 * k / u128::from(self.slices)) as usize
        };
        at(k)..at(k + 1)
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
    fn runs_cover_every_object_once_in_order_and_are_even() {
        let pacer = Pacer::new(Duration::from_secs(5));
        assert_eq!(pacer.slices(), 50);
        for n in [0, 1, 49, 50, 51, 1_000, 10_007] {
            let runs: Vec<Range<usize>> = (0..pacer.slices()).map(|k| pacer.run(k, n)).collect();
            // Back to back from 0 to n: each object in exactly one run.
            assert_eq!(runs[0].start, 0);
            assert_eq!(runs.last().unwrap().end, n);
            for pair in runs.windows(2) {
                assert_eq!(pair[0].end, pair[1].start, "n = {n}");
            }
            // Never a burst: lengths differ by one at most.
            let lengths = runs.iter().map(ExactSizeIterator::len);
            let (min, max) = (lengths.clone().min().unwrap(), lengths.max().unwrap());
            assert!(max - min <= 1, "n = {n}: {min}..{max}");
        }
        // Past the last slice, nothing.
        assert!(pacer.run(50, 1_000).is_empty());
    }

    #[test]
    fn slices_are_spread_evenly_over_the_interval() {
        let pacer = Pacer::new(Duration::from_secs(5));
        assert_eq!(pacer.due(0), Duration::ZERO);
        assert_eq!(pacer.due(1), Duration::from_millis(100));
        assert_eq!(pacer.due(49), Duration::from_millis(4900));
        assert_eq!(pacer.round(), Duration::from_secs(5));
        // Long intervals keep the slice count bounded; short ones have one slice.
        assert_eq!(Pacer::new(Duration::from_secs(60)).slices(), MAX_SLICES);
        let short = Pacer::new(Duration::from_millis(30));
        assert_eq!(short.slices(), 1);
        assert_eq!(short.run(0, 7), 0..7);
    }
}
