//! CPU time of a process from `/proc/PID/stat` (user + system, every
//! thread), to compare what the sim and the server each burn during a step.

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
        let path = match process {
            Process::Own => "/proc/self/stat".to_string(),
            Process::Pid(pid) => format!("/proc/{pid}/stat"),
        };
        let text = std::fs::read_to_string(path).ok()?;
        let ticks = parse_stat(&text)?;
        Some(CpuSample {
            at: Instant::now(),
            cpu: Duration::from_secs_f64(ticks as f64 / clock_ticks()?),
        })
    }

    /// Cores used between `earlier` and this sample (1.0 = one core busy).
    pub fn cores_since(&self, earlier: &CpuSample) -> Option<f64> {
        let wall = self.at.checked_duration_since(earlier.at)?.as_secs_f64();
        let cpu = self.cpu.checked_sub(earlier.cpu)?.as_secs_f64();
        (wall > 0.0).then(|| cpu / wall)
    }
}

/// utime + stime, in clock ticks, from a `/proc/PID/stat` line. The command
/// name (field 2) may hold spaces and parentheses, so fields are counted
/// from the last `)`.
fn parse_stat(text: &str) -> Option<u64> {
    let rest = &text[text.rfind(')')? + 1..];
    // After the name: state is field 3, utime field 14, stime field 15.
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

fn clock_ticks() -> Option<f64> {
    // SAFETY: sysconf only reads a system constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (ticks > 0).then_some(ticks as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_utime_and_stime_past_an_odd_name() {
        let line = "1234 (a (b) c) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 4 0 \
                    100 1000 10 18446744073709551615";
        assert_eq!(parse_stat(line), Some(300));
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat("1 (x) S 1"), None);
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
        assert!(CpuSample::read(Process::Pid(u32::MAX)).is_none());
    }
}
