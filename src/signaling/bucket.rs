//! [`TokenBucket`]: a request rate with bursts, sans IO: the caller says
//! what time it is, so tests use made-up instants.

use std::time::Instant;

use crate::config::Rate;

/// Tokens refill at `rate.per_sec` up to `rate.burst`; each request takes one.
#[derive(Clone, Copy, Debug)]
pub struct TokenBucket {
    tokens: f64,
    /// When `tokens` was last brought up to date.
    at: Instant,
}

impl TokenBucket {
    /// A full bucket: a client may start with a burst.
    pub fn full(rate: Rate, now: Instant) -> Self {
        Self {
            tokens: f64::from(rate.burst),
            at: now,
        }
    }

    /// Takes a token if there is one at `now`. An earlier `now` than the
    /// last one (callers read the clock before taking a lock) adds nothing.
    pub fn take(&mut self, rate: Rate, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate.per_sec).min(f64::from(rate.burst));
        self.at = self.at.max(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const RATE: Rate = Rate {
        per_sec: 2.0,
        burst: 3,
    };

    fn takes(bucket: &mut TokenBucket, now: Instant, n: usize) -> usize {
        (0..n).filter(|_| bucket.take(RATE, now)).count()
    }

    #[test]
    fn a_full_bucket_allows_a_burst_then_refuses() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::full(RATE, t0);
        assert_eq!(takes(&mut bucket, t0, 10), 3);
        assert!(!bucket.take(RATE, t0));
    }

    #[test]
    fn tokens_refill_at_the_rate_up_to_the_burst() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::full(RATE, t0);
        assert_eq!(takes(&mut bucket, t0, 3), 3);
        // 2 per second: one token after half a second, not before.
        assert!(!bucket.take(RATE, t0 + Duration::from_millis(499)));
        assert!(bucket.take(RATE, t0 + Duration::from_millis(501)));
        // A long quiet spell refills to the burst, no further.
        let later = t0 + Duration::from_secs(3600);
        assert_eq!(takes(&mut bucket, later, 10), 3);
        // Sustained: 2 per second over 10 seconds, one request every 250 ms.
        let granted = (1..=40)
            .filter(|i| bucket.take(RATE, later + Duration::from_millis(250 * i)))
            .count();
        assert_eq!(granted, 20);
    }

    #[test]
    fn an_instant_from_the_past_adds_nothing() {
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_secs(10);
        let mut bucket = TokenBucket::full(RATE, t1);
        assert_eq!(takes(&mut bucket, t1, 3), 3);
        assert!(!bucket.take(RATE, t0));
        // Nor does it move the bucket's clock back to refill twice.
        assert!(!bucket.take(RATE, t1));
        assert!(bucket.take(RATE, t1 + Duration::from_millis(500)));
    }

    #[test]
    fn a_slow_rate_refills_over_minutes() {
        let rate = Rate {
            per_sec: 0.01,
            burst: 1,
        };
        let t0 = Instant::now();
        let mut bucket = TokenBucket::full(rate, t0);
        assert!(bucket.take(rate, t0));
        assert!(!bucket.take(rate, t0 + Duration::from_secs(99)));
        assert!(bucket.take(rate, t0 + Duration::from_secs(101)));
    }
}
