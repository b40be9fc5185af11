//! How long the peers' runtime rests when it runs out of work, before it
//! waits for more (its `on_thread_park` hook calls [`rest`]).
//!
//! Resting lets datagrams and due timers pile up, so that one wake-up
//! serves many of them: a fraction of the wake-ups and system calls, for at
//! most the rest's length of delay on a packet. Signaling is not media:
//! while a request waits for its answer (a join's dozen round trips), or a
//! latency-bound phase runs (a join burst), an [`awake`] guard keeps the
//! runtime from resting, so a rest delays packets, never a join.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

/// The rest `ejtimaa-sim` uses unless told otherwise: half an audio frame.
pub const DEFAULT_REST_MS: u64 = 10;

/// The current rest, microseconds (0: none).
static REST_US: AtomicU64 = AtomicU64::new(0);
/// Live [`Awake`] guards: no rest while any is held.
static AWAKE: AtomicUsize = AtomicUsize::new(0);

/// Sets the rest (zero: the runtime parks at once, as tokio does).
pub fn set(rest: Duration) {
    let us = u64::try_from(rest.as_micros()).unwrap_or(u64::MAX);
    REST_US.store(us, Ordering::Relaxed);
}

/// The current rest.
pub fn get() -> Duration {
    Duration::from_micros(REST_US.load(Ordering::Relaxed))
}

/// Rests (blocks the calling thread) for the current rest, if any and if
/// no [`Awake`] guard is held.
pub fn rest() {
    let rest = get();
    if !rest.is_zero() && AWAKE.load(Ordering::Relaxed) == 0 {
        std::thread::sleep(rest);
    }
}

/// The runtime the peers run on, as `ejtimaa-sim` builds it: `threads`
/// threads (one: a current-thread runtime) that rest `rest` whenever they
/// run out of work. The rest is the process's: it applies to every
/// runtime built here.
pub fn runtime(threads: usize, rest: Duration) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = match threads {
        0 | 1 => tokio::runtime::Builder::new_current_thread(),
        n => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(n);
            builder
        }
    };
    set(rest);
    builder
        .on_thread_park(self::rest)
        .enable_all()
        .thread_name("ejtimaa-sim")
        .build()
}

/// No rest until the guard drops (nor while any other is held).
#[must_use = "the runtime may rest again once the guard drops"]
pub fn awake() -> Awake {
    AWAKE.fetch_add(1, Ordering::Relaxed);
    Awake(())
}

/// See [`awake`].
#[derive(Debug)]
pub struct Awake(());

impl Drop for Awake {
    fn drop(&mut self) {
        AWAKE.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn rested(rest_for: Duration) -> bool {
        let t = Instant::now();
        rest();
        t.elapsed() >= rest_for
    }

    #[test]
    fn rests_unless_held_awake() {
        let rest_for = Duration::from_millis(3);
        set(rest_for);
        assert_eq!(get(), rest_for);
        assert!(rested(rest_for));
        {
            let _one = awake();
            let two = awake();
            assert!(!rested(rest_for));
            drop(two);
            // One guard still held.
            assert!(!rested(rest_for));
        }
        assert!(rested(rest_for));
        assert_eq!(get(), rest_for);
        set(Duration::ZERO);
        let t = Instant::now();
        rest();
        assert!(t.elapsed() < Duration::from_millis(3));
    }
}
