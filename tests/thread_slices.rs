//! The binary's threads ask for the scheduler slice `[threads] slice_us`
//! sets, and the mediasoup workers keep the kernel's default: read back from
//! the kernel for every thread of a running server.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ejtimaa::slice;

/// Kills the server however the test ends.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Each thread of process `pid`: its name (as `/proc` shortens it) and id.
fn threads(pid: u32) -> Vec<(String, u32)> {
    let mut threads: Vec<(String, u32)> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .expect("the server's threads are listed")
        .filter_map(|entry| {
            let tid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            let comm = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/comm")).ok()?;
            Some((comm.trim().to_owned(), tid))
        })
        .collect();
    threads.sort();
    threads
}

#[test]
fn server_threads_ask_for_the_configured_slice_and_workers_keep_the_default() {
    // What a thread gets when nobody asks, read on a thread of this test.
    let default = std::thread::spawn(|| slice::of_thread(0).unwrap())
        .join()
        .unwrap();
    if default.is_zero() {
        eprintln!("this kernel has no per-thread slices; nothing to check");
        return;
    }
    let asked = Duration::from_micros(250);
    assert_ne!(asked, default, "the test needs a slice unlike the default");

    let dir = std::env::temp_dir().join(format!("ejtimaa-slices-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("ejtimaa.toml");
    std::fs::write(
        &config,
        "[http]\nport = 0\n[prometheus]\nport = 0\n[mediasoup]\nnum_workers = 2\n\
         [admin]\nenabled = false\n[threads]\nslice_us = 250\n",
    )
    .unwrap();
    let mut server = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_ejtimaa"))
            .arg("--config")
            .arg(&config)
            .args(["--log", "warn"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the binary starts"),
    );
    // The URLs are printed once the workers and listeners are up.
    let stdout = BufReader::new(server.0.stdout.take().unwrap());
    let printed = stdout
        .lines()
        .map_while(Result::ok)
        .filter(|l| l.starts_with("ejtimaa: "))
        .take(2)
        .count();
    assert_eq!(printed, 2, "the server did not print its URLs");

    let threads = threads(server.0.id());
    let slice_of = |tid: u32| slice::of_thread(tid).unwrap();
    let named = |prefix: &str| -> Vec<u32> {
        threads
            .iter()
            .filter(|(name, _)| name.starts_with(prefix))
            .map(|(_, tid)| *tid)
            .collect()
    };
    let (workers, io, engine) = (
        named("mediasoup-worke"),
        named("ejtimaa-io"),
        named("ejtimaa-engine"),
    );
    assert_eq!(workers.len(), 2, "{threads:?}");
    assert!(!io.is_empty(), "{threads:?}");
    assert_eq!(engine.len(), 1, "{threads:?}");
    for tid in io.iter().chain(&engine) {
        assert_eq!(slice_of(*tid), asked, "thread {tid} of {threads:?}");
    }
    for tid in &workers {
        assert_eq!(slice_of(*tid), default, "worker {tid} of {threads:?}");
    }
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}
