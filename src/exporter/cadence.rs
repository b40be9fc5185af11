//! When a steady scraper comes next.
//!
//! Prometheus scrapes each target on a fixed interval, at a fixed offset
//! within it, so one scraper's requests arrive evenly spaced. From the last
//! few arrivals this foretells the next, and the exporter renders just
//! before it (see [`super::renders::Renders::prepare`]): the scrape then
//! finds its body ready instead of waiting for a render and a deflate.
//! Arrivals that are not evenly spaced (several scrapers, or people and
//! scripts asking now and then) foretell nothing, and those scrapes are
//! rendered on arrival as always. Sans-IO: arrival times are passed in.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Arrivals looked at: three intervals must agree.
const ARRIVALS: usize = 4;
/// Shorter intervals foretell nothing: a scraper that fast gains little
/// from a body made ahead, and a test polling in a loop is no scraper.
pub const MIN_INTERVAL: Duration = Duration::from_millis(500);
/// How far an interval may stray from their mean, as a share of it
/// (a scheduler's jitter; Prometheus' own is far smaller).
const TOLERANCE: f64 = 0.02;

/// The last arrivals of scrapes.
#[derive(Debug, Default)]
pub struct Cadence {
    arrivals: VecDeque<Instant>,
}

impl Cadence {
    /// Notes a scrape that arrived at `at`.
    pub fn arrived(&mut self, at: Instant) {
        if self.arrivals.len() == ARRIVALS {
            self.arrivals.pop_front();
        }
        self.arrivals.push_back(at);
    }

    /// When the next scrape should arrive: after the last by the mean of
    /// the last intervals, if they agree and are at least [`MIN_INTERVAL`].
    pub fn next(&self) -> Option<Instant> {
        if self.arrivals.len() < ARRIVALS {
            return None;
        }
        let intervals: Vec<Duration> = self
            .arrivals
            .iter()
            .zip(self.arrivals.iter().skip(1))
            .map(|(a, b)| b.saturating_duration_since(*a))
            .collect();
        let mean = intervals.iter().sum::<Duration>() / intervals.len() as u32;
        let tolerance = mean.mul_f64(TOLERANCE);
        let steady = intervals.iter().all(|i| i.abs_diff(mean) <= tolerance);
        let last = *self.arrivals.back()?;
        (steady && mean >= MIN_INTERVAL).then(|| last + mean)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cadence(start: Instant, gaps_ms: &[u64]) -> Cadence {
        let mut cadence = Cadence::default();
        let mut at = start;
        cadence.arrived(at);
        for gap in gaps_ms {
            at += Duration::from_millis(*gap);
            cadence.arrived(at);
        }
        cadence
    }

    #[test]
    fn even_arrivals_foretell_the_next() {
        let t = Instant::now();
        let c = cadence(t, &[1000, 1000, 1000]);
        assert_eq!(c.next(), Some(t + Duration::from_millis(4000)));
        // A few milliseconds of jitter: the mean interval after the last.
        let c = cadence(t, &[1005, 995, 1003]);
        assert_eq!(c.next(), Some(t + Duration::from_millis(3003 + 1001)));
        // Only the last three intervals count.
        let c = cadence(t, &[300, 15_000, 15_000, 15_000]);
        assert_eq!(c.next(), Some(t + Duration::from_millis(60_300)));
    }

    #[test]
    fn too_few_uneven_or_fast_arrivals_foretell_nothing() {
        let t = Instant::now();
        assert_eq!(Cadence::default().next(), None);
        assert_eq!(cadence(t, &[1000, 1000]).next(), None);
        // One interval off by more than 2%.
        assert_eq!(cadence(t, &[1000, 1000, 1050]).next(), None);
        // Two scrapers a third of an interval apart.
        assert_eq!(cadence(t, &[333, 667, 333]).next(), None);
        // A missed scrape breaks the cadence until three intervals agree again.
        let mut c = cadence(t, &[1000, 1000, 2000]);
        assert_eq!(c.next(), None);
        let last = t + Duration::from_millis(4000);
        for n in 1..=3 {
            c.arrived(last + Duration::from_millis(1000 * n));
            assert_eq!(c.next().is_some(), n == 3, "after {n}");
        }
        // A loop polling every 200 ms.
        assert_eq!(cadence(t, &[200, 200, 200]).next(), None);
        assert!(cadence(t, &[500, 500, 500]).next().is_some());
    }
}
