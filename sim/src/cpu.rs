//! CPU time of a process from `/proc/PID/stat` (user + system, every
//! thread), to compare what the sim and the server each burn during a step.
//! Read through the `procfs` crate, as the server reads its own figures.

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

#[cfg(test)]
mod tests {
    use super::*;

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
