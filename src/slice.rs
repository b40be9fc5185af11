//! The scheduler slice a thread asks for.
//!
//! Since Linux 6.12 the fair scheduler (EEVDF) lets a thread ask for its own
//! slice (`sched_attr.sched_runtime` under `SCHED_OTHER`, 0.1 to 100 ms, no
//! privilege needed). A thread that wakes with a shorter slice than the
//! running one's may preempt it at once instead of waiting for that slice
//! to end; how much CPU each thread gets is unchanged (its nice value sets
//! that). The server's own threads, which wake briefly to answer a scrape or
//! a request, ask for a short one; the mediasoup workers, which run most of
//! the time, keep the kernel's. A new thread inherits its creator's slice.
//! Older kernels accept the request and ignore it.

use std::io;
use std::time::Duration;

/// The shortest and longest slice the kernel accepts.
pub const RANGE: std::ops::RangeInclusive<Duration> =
    Duration::from_micros(100)..=Duration::from_millis(100);

/// Asks for `slice` for the calling thread (clamped to [`RANGE`]), or with
/// `None` for the kernel's default; the thread's policy and nice value stay.
pub fn set_for_this_thread(slice: Option<Duration>) -> io::Result<()> {
    let mut attr = attributes(0)?;
    if attr.sched_policy != libc::SCHED_OTHER as u32 {
        // Real-time or batch/idle threads: their operator chose; leave them.
        return Ok(());
    }
    attr.sched_runtime = slice.map_or(0, |s| {
        let s = s.clamp(*RANGE.start(), *RANGE.end());
        u64::try_from(s.as_nanos()).unwrap_or(u64::MAX)
    });
    // Keep reset-on-fork if someone set it; other flags read back (utilization
    // clamps) would need fields this call does not pass.
    attr.sched_flags &= libc::SCHED_FLAG_RESET_ON_FORK as u64;
    // SAFETY: `attr` is a valid, initialised `sched_attr` whose `size` is
    // its own; the kernel only reads it.
    let done = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &raw const attr, 0u32) };
    if done == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// [`set_for_this_thread`], logging (at debug: nothing depends on it) when
/// the kernel refuses.
pub fn ask(slice: Option<Duration>) {
    if let Err(e) = set_for_this_thread(slice) {
        tracing::debug!(?slice, "the scheduler slice was not set: {e}");
    }
}

/// The slice thread `tid` (0: the calling thread) runs with, as the kernel
/// reports it: the one it asked for, or the default; zero on a kernel
/// without per-thread slices.
pub fn of_thread(tid: u32) -> io::Result<Duration> {
    Ok(Duration::from_nanos(attributes(tid)?.sched_runtime))
}

fn attributes(tid: u32) -> io::Result<libc::sched_attr> {
    let size = std::mem::size_of::<libc::sched_attr>() as u32;
    let mut attr = libc::sched_attr {
        size,
        sched_policy: 0,
        sched_flags: 0,
        sched_nice: 0,
        sched_priority: 0,
        sched_runtime: 0,
        sched_deadline: 0,
        sched_period: 0,
    };
    // SAFETY: the kernel writes at most `size` bytes into `attr`, which is
    // that large.
    let done = unsafe {
        libc::syscall(
            libc::SYS_sched_getattr,
            tid as libc::pid_t,
            &raw mut attr,
            size,
            0u32,
        )
    };
    if done == 0 {
        Ok(attr)
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_gets_the_slice_it_asks_for_and_its_children_inherit_it() {
        std::thread::spawn(|| {
            let default = of_thread(0).unwrap();
            if default.is_zero() {
                eprintln!("this kernel has no per-thread slices; nothing to check");
                return;
            }
            set_for_this_thread(Some(Duration::from_micros(300))).unwrap();
            assert_eq!(of_thread(0).unwrap(), Duration::from_micros(300));
            // Clamped to what the kernel accepts.
            set_for_this_thread(Some(Duration::from_micros(1))).unwrap();
            assert_eq!(of_thread(0).unwrap(), *RANGE.start());
            // A thread started now starts with it.
            let child = std::thread::spawn(|| of_thread(0).unwrap()).join().unwrap();
            assert_eq!(child, *RANGE.start());
            // And the default comes back.
            set_for_this_thread(None).unwrap();
            assert_eq!(of_thread(0).unwrap(), default);
        })
        .join()
        .unwrap();
    }
}
