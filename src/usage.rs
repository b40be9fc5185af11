//! CPU, memory and file descriptor figures of this process and its worker
//! threads, read from `/proc` through the `procfs` crate (the exporter's
//! `process_*` families, the admin socket's `usage`; the sim reads the same
//! way).

use std::time::Duration;

use ejtimaa_systems::export::ProcessFigures;
use procfs::WithCurrentSystemInfo;
use procfs::process::{LimitValue, Process, Stat};

/// CPU time and resident memory of the process.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct ProcessUsage {
    /// User + system CPU seconds.
    pub cpu_seconds: f64,
    /// Resident set size in bytes.
    pub rss_bytes: u64,
}

/// CPU time of a process or thread, split by mode.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuTime {
    /// Time in user mode.
    pub user: Duration,
    /// Time in the kernel.
    pub system: Duration,
}

impl CpuTime {
    /// User + system.
    pub fn total(&self) -> Duration {
        self.user + self.system
    }
}

/// Clock ticks (the unit of `/proc`'s CPU and start times) as a duration.
fn ticks(count: u64) -> Duration {
    Duration::from_secs_f64(count as f64 / procfs::ticks_per_second().max(1) as f64)
}

fn cpu_of(stat: &Stat) -> CpuTime {
    CpuTime {
        user: ticks(stat.utime),
        system: ticks(stat.stime),
    }
}

/// The process's figures for the `process_*` families; `None` when `/proc`
/// cannot tell (not Linux).
pub fn process_figures() -> Option<ProcessFigures> {
    let me = Process::myself().ok()?;
    let stat = me.stat().ok()?;
    let max_fds = match me.limits().ok()?.max_open_files.soft_limit {
        LimitValue::Value(n) => Some(n),
        LimitValue::Unlimited => None,
    };
    // `starttime` counts ticks since boot.
    let boot = Duration::from_secs(procfs::boot_time_secs().ok()?);
    Some(ProcessFigures {
        cpu: cpu_of(&stat).total(),
        resident_bytes: stat.rss_bytes().get(),
        virtual_bytes: stat.vsize,
        open_fds: me.fd_count().ok()? as u64,
        max_fds,
        start_time: boot + ticks(stat.starttime),
    })
}

/// The process's CPU time and resident memory.
pub fn process() -> Option<ProcessUsage> {
    let stat = Process::myself().ok()?.stat().ok()?;
    Some(ProcessUsage {
        cpu_seconds: cpu_of(&stat).total().as_secs_f64(),
        rss_bytes: stat.rss_bytes().get(),
    })
}

/// CPU time of thread `tid` of this process (a mediasoup worker).
pub fn thread_cpu(tid: u32) -> Option<CpuTime> {
    let task = Process::myself()
        .ok()?
        .task_from_tid(i32::try_from(tid).ok()?)
        .ok()?;
    Some(cpu_of(&task.stat().ok()?))
}

/// CPU seconds (user + system) of thread `tid` of this process.
pub fn thread_cpu_seconds(tid: u32) -> Option<f64> {
    Some(thread_cpu(tid)?.total().as_secs_f64())
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;

    #[test]
    fn reads_this_process() {
        let usage = process().unwrap();
        assert!(usage.rss_bytes > 0);
        let tid = unsafe { libc::gettid() } as u32;
        assert!(thread_cpu_seconds(tid).is_some());
        assert!(thread_cpu_seconds(u32::MAX).is_none());
    }

    #[test]
    fn process_figures_are_plausible() {
        let p = process_figures().unwrap();
        assert!(p.resident_bytes > 0 && p.virtual_bytes >= p.resident_bytes);
        assert!(p.open_fds > 0);
        assert!(p.max_fds.is_none_or(|max| p.open_fds <= max));
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap();
        // Started before now, and not before this test binary could have.
        assert!(p.start_time <= now + Duration::from_secs(1), "{p:?}");
        assert!(p.start_time + Duration::from_secs(3600) > now, "{p:?}");
    }
}
