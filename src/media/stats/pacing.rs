//! When each object is asked in a background stats round: a round is cut
//! into slices spread evenly over the interval, and each object belongs to
//! one slice by a hash of its id. The workers see a steady trickle of
//! requests instead of a burst per scrape, and every object, however new, is
//! asked once per interval at the same point of it. Pure: the caller owns the
//! clock and the hashing.

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

    /// The slice of an object whose id hashes to `hash`.
    pub fn slice_of(&self, hash: u64) -> u32 {
        // The remainder is below `slices`, a u32.
        (hash % u64::from(self.slices)) as u32
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
    use std::hash::{DefaultHasher, Hash, Hasher};

    use super::*;

    fn hash(i: usize) -> u64 {
        let mut h = DefaultHasher::new();
        format!("3f2a9c1e-0000-4000-8000-{i:012}").hash(&mut h);
        h.finish()
    }

    #[test]
    fn every_object_has_one_slice_and_slices_are_even() {
        let pacer = Pacer::new(Duration::from_secs(5));
        assert_eq!(pacer.slices(), 50);
        let mut per_slice = vec![0usize; 50];
        for i in 0..10_000 {
            let k = pacer.slice_of(hash(i));
            assert!(k < pacer.slices());
            assert_eq!(k, pacer.slice_of(hash(i)), "stable");
            per_slice[k as usize] += 1;
        }
        // 200 per slice on average: never a burst of many times that.
        let (min, max) = (per_slice.iter().min(), per_slice.iter().max());
        assert!(
            *min.unwrap() > 120 && *max.unwrap() < 280,
            "{min:?}..{max:?}"
        );
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
        assert_eq!(short.slice_of(u64::MAX), 0);
    }
}
