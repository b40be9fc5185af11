//! CPU time of a process from `/proc/PID/stat` (user + system, every
//! thread), to compare what the sim and the server each burn during a step,
//! and the machine's CPU steal from `/proc/stat`: on a virtual machine, the
//! time the hypervisor gave the virtual CPUs' turns to others, which stalls
//! sim and server alike. Read through the `procfs` crate, as the server
//! reads its own figures.

use std::time::{Duration, Instant};

/// Whose CPU time to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Process {
    /// This process (`/proc/self/stat`).
    Own,
    /// Another process, e.g. the server the sim launched.
    Pid(u32),
}

/// A process's cumulative CPU time at an instant.
#[derive(Debug, Clone, Copy)]
pub struct CpuSample {
    at: Instant,
    cpu: Duration,
}

impl CpuSample {
    /// Reads `process` now; `None` when /proc cannot tell (not Linux, or
    /// the process is gone).
    pub fn read(process: Process) -> Option<CpuSample> {
        let process = match process {
            Process::Own => procfs::process::Process::myself(),
            Process::Pid(pid) => procfs::process::Process::new(i32::try_from(pid).ok()?),
        };
        let stat = process.ok()?.stat().ok()?;
        let ticks = procfs::ticks_per_second();
        (ticks > 0).then(|| CpuSample {
            at: Instant::now(),
            cpu: Duration::from_secs_f64((stat.utime + stat.stime) as f64 / ticks as f64),
        })
    }

    /// CPU time spent between `earlier` and this sample (zero if the
    /// counter went backwards, as for a different process).
    pub fn cpu_since(&self, earlier: &CpuSample) -> Duration {
        self.cpu.saturating_sub(earlier.cpu)
    }

    /// Cores used between `earlier` and this sample (1.0 = one core busy).
    pub fn cores_since(&self, earlier: &CpuSample) -> Option<f64> {
        let wall = self.at.checked_duration_since(earlier.at)?.as_secs_f64();
        let cpu = self.cpu.checked_sub(earlier.cpu)?.as_secs_f64();
        (wall > 0.0).then(|| cpu / wall)
    }
}

/// The machine's cumulative CPU time (every core), how much of it was
/// stolen and how much idle, in clock ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MachineSample {
    /// Ticks the hypervisor ran something else while a virtual CPU wanted
    /// to run (0 on bare metal).
    pub steal: u64,
    /// Ticks no task wanted the CPU (idle, and idle waiting for I/O).
    pub idle: u64,
    /// Ticks of every kind: busy, idle, waiting and stolen.
    pub total: u64,
}

impl MachineSample {
    /// Reads `/proc/stat` now; `None` when it cannot be read.
    pub fn read() -> Option<MachineSample> {
        use procfs::CurrentSI as _;
        let t = procfs::KernelStats::current().ok()?.total;
        let steal = t.steal.unwrap_or(0);
        let idle = t.idle.saturating_add(t.iowait.unwrap_or(0));
        // `guest` time is already counted in `user`.
        let total = [t.user, t.nice, t.system, t.idle, steal]
            .into_iter()
            .chain([t.iowait, t.irq, t.softirq].into_iter().flatten())
            .fold(0u64, u64::saturating_add);
        Some(MachineSample { steal, idle, total })
    }

    /// Share of the machine's CPU time stolen between `earlier` and this
    /// sample (0 to 1); `None` when no time passed or the counters went
    /// backwards.
    pub fn steal_since(&self, earlier: &MachineSample) -> Option<f64> {
        let total = self.total.checked_sub(earlier.total)?;
        let steal = self.steal.checked_sub(earlier.steal)?;
        (total > 0 && steal <= total).then(|| steal as f64 / total as f64)
    }

    /// Share of the machine's CPU time some task ran between `earlier` and
    /// this sample (0 to 1: 1 is every core busy all along); `None` as for
    /// [`MachineSample::steal_since`].
    pub fn busy_since(&self, earlier: &MachineSample) -> Option<f64> {
        let total = self.total.checked_sub(earlier.total)?;
        let steal = self.steal.checked_sub(earlier.steal)?;
        let idle = self.idle.checked_sub(earlier.idle)?;
        let busy = total.checked_sub(steal)?.checked_sub(idle)?;
        (total > 0).then(|| busy as f64 / total as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two samples 200 ticks apart: 50 stolen, 30 idle, 120 busy.
    fn two_samples() -> (MachineSample, MachineSample) {
        let a = MachineSample {
            steal: 100,
            idle: 5_000,
            total: 10_000,
        };
        let b = MachineSample {
            steal: 150,
            idle: 5_030,
            total: 10_200,
        };
        (a, b)
    }

    #[test]
    fn steal_is_the_stolen_share_of_the_ticks_between_samples() {
        let (a, b) = two_samples();
        assert_eq!(b.steal_since(&a), Some(0.25));
        assert_eq!(a.steal_since(&a), None, "no time passed");
        assert_eq!(a.steal_since(&b), None, "backwards");
        let read = MachineSample::read().expect("/proc/stat");
        assert!(
            read.steal + read.idle <= read.total && read.total > 0,
            "{read:?}"
        );
    }

    #[test]
    fn busy_is_what_was_neither_idle_nor_stolen() {
        let (a, b) = two_samples();
        assert_eq!(b.busy_since(&a), Some(0.6));
        assert_eq!(a.busy_since(&a), None, "no time passed");
        assert_eq!(a.busy_since(&b), None, "backwards");
        // More idle and stolen than ticks: counters that make no sense.
        let odd = MachineSample {
            steal: 300,
            idle: 5_100,
            total: 10_200,
        };
        assert_eq!(odd.busy_since(&a), None);
        // Burn CPU between two reads: some of it shows as busy.
        let before = MachineSample::read().expect("/proc/stat");
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut x = 0u64;
        let mut after = before;
        while after.total < before.total + 20 && Instant::now() < deadline {
            for i in 0..1_000_000u64 {
                x = x.wrapping_mul(31).wrapping_add(i);
            }
            std::hint::black_box(x);
            after = MachineSample::read().expect("/proc/stat");
        }
        assert!(
            after.busy_since(&before).is_some_and(|b| b > 0.0),
            "{before:?} {after:?}"
        );
    }

    #[test]
    fn reads_its_own_process() {
        let a = CpuSample::read(Process::Own).expect("/proc/self/stat");
        // Burn a little CPU so that the clock moves.
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let b = CpuSample::read(Process::Own).expect("/proc/self/stat");
        assert!(b.cores_since(&a).is_some_and(|c| c >= 0.0));
        // Burn until the counter moves (a tick is 10 ms).
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut c = b;
        while c.cpu_since(&a).is_zero() && Instant::now() < deadline {
            for i in 0..1_000_000u64 {
                x = x.wrapping_mul(31).wrapping_add(i);
            }
            std::hint::black_box(x);
            c = CpuSample::read(Process::Own).expect("/proc/self/stat");
        }
        assert!(c.cpu_since(&a) > Duration::ZERO);
        assert!(a.cpu_since(&c).is_zero(), "backwards is zero");
        assert!(CpuSample::read(Process::Pid(u32::MAX)).is_none());
    }
}
