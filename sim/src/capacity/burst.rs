//! The join-rate burst: many peers joining at once, at most `concurrency`
//! under way, each join being connect + join + two WebRTC transports + two
//! produces (`Peer::spawn`). Burst peers consume nothing and send no media
//! once their producers exist, so that the figure is the signaling and
//! transport set-up rate, not the media load of the peers already in.

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::cpu::{CpuSample, MachineSample, Process};
use crate::join::{Joined, join};
use crate::peer::Peer;
use crate::report::{FailedJoin, LatencyReport};
use crate::scenario::{Burst, Scenario};
use crate::tokens::Tokens;

/// What the burst achieved.
#[derive(Debug, Clone, Serialize)]
pub struct BurstReport {
    /// Joins attempted.
    pub peers: usize,
    /// Joins under way at once, at most.
    pub concurrency: usize,
    /// Joins that came up.
    pub joined: usize,
    /// From the first join's start to the last join's end, seconds.
    pub secs: f64,
    /// `joined / secs`.
    pub joins_per_sec: f64,
    /// Latency of each join (from its start, queueing excluded).
    pub latency: LatencyReport,
    /// The failures (at most the first ten).
    pub failures: Vec<FailedJoin>,
    /// CPU the sim spent per join, milliseconds (set-up and leave included).
    pub sim_cpu_ms_per_join: Option<f64>,
    /// CPU the server spent per join, milliseconds (only when the sim
    /// launched it): with the sim's, what bounds the join rate.
    pub server_cpu_ms_per_join: Option<f64>,
    /// Share of the machine's CPU time (every core) busy while the joins
    /// ran: near 1, the cores bounded the rate; below, waits did (the
    /// joins' round trips, one thread's queue) or the host (see `steal`).
    pub machine_busy: Option<f64>,
    /// Share of the machine's CPU time the hypervisor took meanwhile.
    pub steal: Option<f64>,
}

/// CPU seconds `process` spent between two samples.
fn cpu_secs(before: Option<CpuSample>, after: Option<CpuSample>) -> Option<f64> {
    let (before, after) = (before?, after?);
    Some(after.cpu_since(&before).as_secs_f64())
}

/// Runs the burst against `server` (signaling URL) with ids under `tag`;
/// every peer that came up leaves before it returns.
pub async fn run(
    scenario: &Scenario,
    burst: &Burst,
    server: &str,
    tag: &str,
    tokens: &Tokens,
    tls: Option<&crate::tls::Tls>,
    server_pid: Option<u32>,
) -> BurstReport {
    // The burst measures join latency and rate: no resting between
    // wake-ups while it runs.
    let _awake = crate::idle::awake();
    crate::peer::prepare();
    let server_cpu = || server_pid.and_then(|pid| CpuSample::read(Process::Pid(pid)));
    let cpu_before = (CpuSample::read(Process::Own), server_cpu());
    let permits = Arc::new(Semaphore::new(burst.concurrency));
    let mut joins: JoinSet<Joined> = JoinSet::new();
    let machine_before = MachineSample::read();
    let started = Instant::now();
    for i in 0..burst.peers {
        let room = format!("{tag}-burst{}", i / scenario.peers_per_room);
        let peer = format!("{tag}-b{i}");
        let mut config = scenario.peer_config(&room, &peer, &format!("Burst peer {i}"));
        config.consume = false;
        config.silent = true;
        config.token = tokens.for_peer(&room, &peer);
        config.tls = tls.cloned();
        let (permits, server) = (permits.clone(), server.to_string());
        joins.spawn(async move {
            // The semaphore is never closed; a failure here would only
            // mean no limit, so it is not an error.
            let _permit = permits.acquire_owned().await.ok();
            join(&server, peer, config).await
        });
    }
    let mut peers = Vec::new();
    let mut latencies = Vec::new();
    let mut failures = Vec::new();
    let mut failed = 0;
    let mut last_end = started;
    while let Some(joined) = joins.join_next().await {
        last_end = Instant::now();
        match joined {
            Ok(Joined {
                result: Ok(peer),
                latency,
                ..
            }) => {
                latencies.push(latency);
                peers.push(peer);
            }
            Ok(Joined {
                peer_id,
                result: Err(e),
                ..
            }) => {
                failed += 1;
                if failures.len() < 10 {
                    failures.push(FailedJoin {
                        peer_id,
                        error: e.to_string(),
                    });
                }
            }
            Err(e) => {
                failed += 1;
                tracing::error!("a burst join task failed: {e}");
            }
        }
    }
    let machine_after = MachineSample::read();
    let machine = machine_before.zip(machine_after);
    let secs = last_end.duration_since(started).as_secs_f64();
    let joined = peers.len();
    futures_util::future::join_all(peers.into_iter().map(Peer::leave)).await;
    let cpu_after = (CpuSample::read(Process::Own), server_cpu());
    let per_join = |secs: Option<f64>| {
        secs.filter(|_| joined > 0)
            .map(|s| s * 1000.0 / joined as f64)
    };
    BurstReport {
        sim_cpu_ms_per_join: per_join(cpu_secs(cpu_before.0, cpu_after.0)),
        server_cpu_ms_per_join: per_join(cpu_secs(cpu_before.1, cpu_after.1)),
        peers: burst.peers,
        concurrency: burst.concurrency,
        joined,
        secs,
        joins_per_sec: if secs > 0.0 {
            joined as f64 / secs
        } else {
            0.0
        },
        latency: LatencyReport::of(&latencies, failed),
        failures,
        machine_busy: machine.and_then(|(b, a)| a.busy_since(&b)),
        steal: machine.and_then(|(b, a)| a.steal_since(&b)),
    }
}
