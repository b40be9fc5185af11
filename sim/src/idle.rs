//! How long the peers' runtime rests when it runs out of work, before it
//! waits for more (its `on_thread_park` hook calls [`rest`]).
//!
//! Resting lets datagrams and due timers pile up, so that one wake-up
//! serves many of them: a fraction of the wake-ups and system calls, for at
//! most the rest's length of delay on a packet. Latency-bound phases (a
//! join burst) turn it off for their length with [`pause`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The current rest, microseconds (0: none).
static REST_US: AtomicU64 = AtomicU64::new(0);

/// Sets the rest (zero: the runtime parks at once, as tokio does).
pub fn set(rest: Duration) {
    let us = u64::try_from(rest.as_micros()).unwrap_or(u64::MAX);
    REST_US.store(us, Ordering::Relaxed);
}

/// The current rest.
pub fn get() -> Duration {
    Duration::from_micros(REST_US.load(Ordering::Relaxed))
}

/// Rests (blocks the calling thread) for the current rest, if any.
pub fn rest() {
    let rest = get();
    if !rest.is_zero() {
        std::thread::sleep(rest);
    }
}

/// No rest until the guard drops; then the rest in force before.
#[must_use = "the rest comes back when the guard drops"]
pub fn pause() -> Paused {
    let before = get();
    set(Duration::ZERO);
    Paused(before)
}

/// See [`pause`].
#[derive(Debug)]
pub struct Paused(Duration);

impl Drop for Paused {
    fn drop(&mut self) {
        set(self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn rests_and_pauses() {
        set(Duration::from_millis(3));
        assert_eq!(get(), Duration::from_millis(3));
        let t = Instant::now();
        rest();
        assert!(t.elapsed() >= Duration::from_millis(3));
        {
            let _awake = pause();
            assert_eq!(get(), Duration::ZERO);
        }
        assert_eq!(get(), Duration::from_millis(3));
        set(Duration::ZERO);
        let t = Instant::now();
        rest();
        assert!(t.elapsed() < Duration::from_millis(3));
    }
}
