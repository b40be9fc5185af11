//! The heartbeat: every `cluster.heartbeat_ms`, the node renews its
//! registration (with its current load) and its claims on the rooms open
//! here. A node that stops beating loses both after `cluster.ttl_ms`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::Cluster;
use super::status::Change;

/// What the node holds at a heartbeat.
#[derive(Debug, Clone, Default)]
pub struct Local {
    /// Ids of the rooms open here.
    pub rooms: Vec<String>,
    /// Peers connected.
    pub peers: u64,
}

/// Reads [`Local`] from signaling at each beat.
pub type LocalSource = Arc<dyn Fn() -> Local + Send + Sync>;

/// One heartbeat: register, then renew the open rooms' claims.
pub(super) async fn beat(cluster: &Cluster, local: Local) {
    let sent = Instant::now();
    let mut record = cluster.record.lock().clone();
    record.peers = local.peers;
    record.rooms = local.rooms.len() as u64;
    let outcome = async {
        if !cluster.directory.register(&record).await? {
            return Ok(false);
        }
        let lost = cluster.directory.renew(&local.rooms).await?;
        if !lost.is_empty() {
            cluster.status.conflicts(lost.len());
            tracing::warn!(
                rooms = ?lost,
                "rooms open here are claimed by another node in the directory; newcomers go there"
            );
        }
        Ok::<bool, super::DirectoryError>(true)
    }
    .await;
    let change = match outcome {
        Ok(true) => cluster.status.beat_ok(sent),
        Ok(false) => {
            if cluster.status.failed().is_some() {
                tracing::error!(
                    node = %record.node,
                    "node id `{}` is registered by another running server; this node takes no new rooms until that registration expires",
                    record.node
                );
            }
            None
        }
        Err(e) => {
            let change = cluster.status.failed();
            match change {
                Some(_) => tracing::error!(
                    "room directory {} unreachable: {e}; new rooms are refused, rooms open here keep their peers",
                    cluster.shown_url
                ),
                None => tracing::debug!("room directory still unreachable: {e}"),
            }
            None
        }
    };
    if change == Some(Change::Up) {
        tracing::info!(
            node = %record.node,
            url = %record.signaling_url,
            "registered in the room directory {}",
            cluster.shown_url
        );
    }
}

/// Beats every `every` until `stop` turns true.
pub(super) async fn run(
    cluster: Arc<Cluster>,
    source: LocalSource,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await; // the first beat was awaited at start
    loop {
        tokio::select! {
            _ = ticks.tick() => beat(&cluster, source()).await,
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
    }
}
