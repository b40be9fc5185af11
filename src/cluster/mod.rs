//! Several servers, one room directory: each node registers itself in Redis
//! with a heartbeat, claims a room atomically when its first peer connects,
//! sends peers of rooms held elsewhere to the room's node, and lists the
//! live nodes for Prometheus (`GET /sd`).
//!
//! The pure parts (key names, the placement decision, the discovery body,
//! the health state) are sans-IO and tested on their own; `directory` and
//! `heartbeat` are the Redis shell.

mod announce;
mod directory;
mod heartbeat;
mod keys;
mod placement;
mod record;
mod sd;
mod status;

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::ClusterConfig;
pub use announce::{Announce, announce};
use directory::Directory;
pub use directory::DirectoryError;
pub use heartbeat::{Local, LocalSource};
pub use placement::{Placement, Unavailable};
pub use record::{ExporterTarget, NodeRecord, Redirect};
use status::{Change, Status};

/// How long the orderly stop may spend on the directory.
const LEAVE_WITHIN: Duration = Duration::from_secs(2);

/// This node's membership of the cluster.
pub struct Cluster {
    directory: Directory,
    status: Status,
    /// What the heartbeat registers (its load filled in at each beat).
    record: Mutex<NodeRecord>,
    /// The Redis URL without its password, for logs.
    shown_url: String,
    heartbeat: Duration,
    ttl: Duration,
    stop: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Cluster {
    /// Joins the cluster `config` describes; Redis is reached on first use
    /// (see [`Cluster::start`]), so an unreachable one does not stop the start.
    pub fn new(config: &ClusterConfig) -> Result<Arc<Self>, DirectoryError> {
        let ttl = Duration::from_millis(config.ttl_ms);
        let heartbeat = Duration::from_millis(config.heartbeat_ms);
        let instance = instance_id();
        // A call must end well within a heartbeat's share of the TTL.
        let timeout = (ttl / 4).clamp(Duration::from_millis(100), Duration::from_secs(2));
        let directory = Directory::new(
            &config.redis_url,
            keys::Keys::new(&config.key_prefix),
            &config.node_id,
            &instance,
            ttl,
            timeout,
        )?;
        Ok(Arc::new(Self {
            directory,
            status: Status::default(),
            record: Mutex::new(NodeRecord {
                node: config.node_id.clone(),
                instance,
                signaling_url: String::new(),
                exporter: None,
                region: config.region.clone(),
                peers: 0,
                rooms: 0,
            }),
            shown_url: config.redis_url_shown(),
            heartbeat,
            ttl,
            stop: watch::channel(false).0,
            task: Mutex::new(None),
        }))
    }

    /// This node's id.
    pub fn node_id(&self) -> String {
        self.record.lock().node.clone()
    }

    /// Registers the node under `announce` (awaiting the first heartbeat, so
    /// that a reachable directory has the node once this returns), then
    /// beats in the background, reading the node's rooms and load from `local`.
    pub async fn start(self: &Arc<Self>, announce: Announce, local: LocalSource) {
        {
            let mut record = self.record.lock();
            record.signaling_url = announce.signaling_url;
            record.exporter = announce.exporter;
        }
        heartbeat::beat(self, local()).await;
        if !self.status.is_up() {
            tracing::warn!(
                "not registered in the room directory yet; retrying every {:?}",
                self.heartbeat
            );
        }
        let run = heartbeat::run(
            Arc::clone(self),
            local,
            self.heartbeat,
            self.stop.subscribe(),
        );
        *self.task.lock() = Some(tokio::spawn(run));
    }

    /// Where a peer connecting for `room` goes: the room is claimed for this
    /// node if free; `open_here` says whether it is open on this node.
    pub async fn place(&self, room: &str, open_here: bool) -> Placement {
        let claim = match self.directory.claim(room).await {
            Ok(claim) => Ok(claim),
            Err(e) => {
                self.directory_failed(&e);
                Err(())
            }
        };
        let lease = placement::lease_holds(
            self.status.last_ok(),
            Instant::now(),
            self.ttl,
            self.heartbeat,
        );
        let placement = placement::decide(claim, open_here, lease);
        match &placement {
            Placement::Redirect(to) => {
                self.status.redirected();
                tracing::debug!(room, node = %to.node, "peer sent to the room's node");
            }
            Placement::Unavailable(why) => tracing::debug!(room, "room not placed: {why}"),
            Placement::Here => {}
        }
        placement
    }

    /// Gives up this node's claim on `room` (closed here), in the background.
    pub fn release(self: &Arc<Self>, room: &str) {
        let cluster = Arc::clone(self);
        let rooms = vec![room.to_owned()];
        tokio::spawn(async move {
            if let Err(e) = cluster.directory.release(&rooms).await {
                cluster.directory_failed(&e);
            }
        });
    }

    /// The `GET /sd` body: every live node's exporter, for Prometheus.
    pub async fn discovery(&self) -> Result<String, DirectoryError> {
        match self.directory.live_nodes().await {
            Ok(nodes) => Ok(sd::targets(&nodes).to_string()),
            Err(e) => {
                self.directory_failed(&e);
                Err(e)
            }
        }
    }

    /// Every live node's registration.
    pub async fn live_nodes(&self) -> Result<Vec<NodeRecord>, DirectoryError> {
        self.directory.live_nodes().await
    }

    /// Appends the cluster's families to a scrape.
    pub fn render(&self, out: &mut String) {
        self.status.render(out);
    }

    /// Stops the heartbeat, gives up the claims on `rooms` and removes the
    /// registration, so that those rooms can open elsewhere at once.
    pub async fn leave(&self, rooms: Vec<String>) {
        let _ = self.stop.send(true);
        let task = self.task.lock().take();
        let work = async {
            if let Some(task) = task {
                let _ = task.await;
            }
            self.directory.release(&rooms).await?;
            self.directory.leave().await
        };
        match tokio::time::timeout(LEAVE_WITHIN, work).await {
            Ok(Ok(())) => tracing::info!("left the room directory"),
            Ok(Err(e)) => tracing::warn!(
                "could not leave the room directory ({e}); its claims expire in {:?}",
                self.ttl
            ),
            Err(_) => tracing::warn!(
                "leaving the room directory timed out; its claims expire in {:?}",
                self.ttl
            ),
        }
    }

    fn directory_failed(&self, e: &DirectoryError) {
        match self.status.failed() {
            Some(Change::Down) => tracing::error!(
                "room directory {} unreachable: {e}; new rooms are refused, rooms open here keep their peers",
                self.shown_url
            ),
            _ => tracing::debug!("room directory call failed: {e}"),
        }
    }
}

/// A random id for this run of the node.
fn instance_id() -> String {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    format!("{:016x}", h.finish())
}
