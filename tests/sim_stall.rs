//! A capacity step whose windows the sim falls behind in is measured again,
//! a bounded number of times, and then ends the ramp as "the sim fell
//! behind": the `ejtimaa-sim` binary (not the server it launches) is
//! stopped with SIGSTOP for 0.8 s every 3 s, as a hypervisor stealing its
//! CPU would stall it, so every window has frames the sim never sent.

mod support;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ejtimaa_sim::capacity::MAX_WINDOWS;
use support::sim_bin;

/// How long each stall lasts: over the half second after which a source
/// skips the frames it missed.
const STALL: Duration = Duration::from_millis(800);
/// Time between stalls: a 6 s window holds at least one whole stall.
const RUN: Duration = Duration::from_millis(2200);

fn signal(child: &Child, sig: libc::c_int) {
    let pid = libc::pid_t::try_from(child.id()).expect("a pid fits");
    // SAFETY: `kill` has no memory effects; a gone pid is only an error.
    unsafe {
        libc::kill(pid, sig);
    }
}

/// Resumes and kills the sim however the test ends (a stopped sim would
/// never exit, nor stop the server it launched).
struct Sim(Child);

impl Drop for Sim {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            signal(&self.0, libc::SIGCONT);
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_step_the_sim_falls_behind_in_is_measured_again_then_ends_the_ramp() {
    let dir = std::env::temp_dir().join(format!("ejtimaa-sim-stall-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let report = dir.join("report.json");
    let child = Command::new(sim_bin())
        .arg("capacity")
        .args(["--rooms", "1", "--peers-per-room", "2", "--max-peers", "4"])
        .args(["--burst", "1", "--settle", "1s", "--step", "6s"])
        .args(["--video-bitrate", "200k", "--video-fps", "15"])
        .args(["--room-grace-ms", "500"])
        .arg("--report")
        .arg(&report)
        .env_remove("EJTIMAA_AUTH_SECRET")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the sim starts");
    let sim = Arc::new(std::sync::Mutex::new(Sim(child)));
    let done = Arc::new(AtomicBool::new(false));
    let stalls = {
        let (sim, done) = (Arc::clone(&sim), Arc::clone(&done));
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(RUN);
                let Sim(child) = &mut *sim.lock().unwrap();
                // Once reaped, its pid may be another process's.
                if !matches!(child.try_wait(), Ok(None)) {
                    return;
                }
                signal(child, libc::SIGSTOP);
                std::thread::sleep(STALL);
                signal(child, libc::SIGCONT);
            }
        })
    };
    // Three windows of 6 s and a settle, the server's start and two joins.
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(status) = sim.lock().unwrap().0.try_wait().expect("the sim's status") {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the sim did not finish"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    done.store(true, Ordering::Relaxed);
    stalls.join().unwrap();
    let mut out = String::new();
    {
        use std::io::Read as _;
        let stdout = sim.lock().unwrap().0.stdout.take();
        stdout.expect("piped").read_to_string(&mut out).unwrap();
    }
    assert_eq!(
        status.code(),
        Some(1),
        "a run without capacity fails:\n{out}"
    );

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).expect("the report")).unwrap();
    let steps = json["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 1, "the ramp stopped at its first step:\n{out}");
    let step = &steps[0];
    let discarded = step["discarded"].as_array().expect("discarded windows");
    assert_eq!(discarded.len(), MAX_WINDOWS - 1, "{step:#}");
    for w in discarded.iter().chain([step]) {
        let on_schedule = w["on_schedule"].as_f64().expect("frames were due");
        assert!(on_schedule < 0.99, "a stalled window: {w:#}");
        let steal = w["steal"].as_f64().expect("/proc/stat's steal");
        assert!((0.0..=1.0).contains(&steal), "{w:#}");
    }
    assert_eq!(json["stop"]["reason"], "sim_behind", "{:#}", json["stop"]);
    assert!(json["capacity"].is_null());
    assert!(
        out.contains("step 1: measured again after the sim fell behind"),
        "{out}"
    );
    assert!(
        out.contains(&format!("in each of {MAX_WINDOWS} windows")),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
