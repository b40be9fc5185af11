//! CPU and memory figures from `/proc`: the process, and each worker thread.

use std::time::Duration;

/// CPU time and resident memory of the process.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct ProcessUsage {
    /// User + system CPU seconds.
    pub cpu_seconds: f64,
    /// Resident set size in bytes.
    pub rss_bytes: u64,
}

/// Clock ticks per second for `/proc` CPU fields.
fn ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
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

/// User and system CPU time from a `/proc/.../stat` line.
fn cpu_from_stat(stat: &str) -> Option<CpuTime> {
    // The command name (field 2) may hold spaces; fields after its `)` are fixed.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let mut fields = rest.split_whitespace();
    // utime and stime are fields 14 and 15 of stat, 11 and 12 after the name.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    let ticks = ticks_per_second();
    Some(CpuTime {
        user: Duration::from_secs_f64(utime as f64 / ticks),
        system: Duration::from_secs_f64(stime as f64 / ticks),
    })
}

/// The process's usage.
pub fn process() -> Option<ProcessUsage> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let rss_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(ProcessUsage {
        cpu_seconds: cpu_from_stat(&stat)?.total().as_secs_f64(),
        rss_bytes: rss_kb * 1024,
    })
}

/// CPU time of thread `tid` of this process (a mediasoup worker).
pub fn thread_cpu(tid: u32) -> Option<CpuTime> {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
    cpu_from_stat(&stat)
}

/// CPU seconds (user + system) of thread `tid` of this process.
pub fn thread_cpu_seconds(tid: u32) -> Option<f64> {
    Some(thread_cpu(tid)?.total().as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cpu_even_with_spaces_in_the_name() {
        let stat = "42 (a b) R 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1 0 100 0 0";
        let cpu = cpu_from_stat(stat).unwrap();
        let ticks = ticks_per_second();
        assert!((cpu.user.as_secs_f64() - 250.0 / ticks).abs() < 1e-9);
        assert!((cpu.system.as_secs_f64() - 50.0 / ticks).abs() < 1e-9);
        assert!((cpu.total().as_secs_f64() - 300.0 / ticks).abs() < 1e-9);
        assert!(cpu_from_stat("garbage").is_none());
        assert!(cpu_from_stat("1 (x)").is_none());
    }

    #[test]
    fn reads_this_process() {
        let usage = process().unwrap();
        assert!(usage.rss_bytes > 0);
        let tid = unsafe { libc::gettid() } as u32;
        assert!(thread_cpu_seconds(tid).is_some());
        assert!(thread_cpu_seconds(u32::MAX).is_none());
    }
}
