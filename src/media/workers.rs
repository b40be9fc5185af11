//! The worker pool: mediasoup workers started at boot, rooms placed on the
//! least-loaded one, dead workers reported and replaced.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use anyhow::Context;
use ejtimaa_systems::WorldEvent;
use mediasoup::prelude::*;
use mediasoup::worker::{WorkerLogLevel as MsLogLevel, WorkerSettings};
use parking_lot::Mutex;
use tokio::sync::mpsc;

use super::create_worker;
use crate::config::{MediasoupConfig, WorkerLogLevel};
use crate::engine::EngineHandle;

/// One worker of the pool.
pub struct PoolWorker {
    /// The mediasoup worker (a thread of this process).
    pub worker: Worker,
    /// Its OS thread id: the `pid` label, and where `/proc` has its CPU time.
    pub tid: u32,
    /// Its index in the pool (also its WebRtcServer port offset).
    pub index: usize,
    /// Its WebRtcServer, when `webrtc_server_port` is configured.
    pub webrtc_server: Option<WebRtcServer>,
    /// Routers on it (a room's first router, or a further one of a room
    /// spread over several workers): the load measure.
    pub routers: AtomicUsize,
}

/// The pool. Cheap to share (`Arc`).
pub struct WorkerPool {
    manager: WorkerManager,
    config: MediasoupConfig,
    engine: EngineHandle,
    workers: Mutex<Vec<Arc<PoolWorker>>>,
    deaths: mpsc::UnboundedSender<usize>,
}

/// A worker that died: its pool index and mediasoup id.
pub struct WorkerDeath {
    /// The dead worker.
    pub worker: Arc<PoolWorker>,
}

impl WorkerPool {
    /// Starts `num_workers` workers (one per core by default). The receiver
    /// yields each worker that dies, already replaced in the pool; whoever
    /// owns rooms closes those that were on it.
    pub async fn start(
        config: &MediasoupConfig,
        engine: EngineHandle,
    ) -> anyhow::Result<(Arc<Self>, mpsc::UnboundedReceiver<WorkerDeath>)> {
        let count = config
            .num_workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let (deaths_tx, mut deaths_rx) = mpsc::unbounded_channel();
        let pool = Arc::new(Self {
            manager: WorkerManager::new(),
            config: config.clone(),
            engine,
            workers: Mutex::new(Vec::with_capacity(count)),
            deaths: deaths_tx,
        });
        for index in 0..count {
            let worker = pool.start_worker(index).await?;
            pool.workers.lock().push(worker);
        }
        tracing::info!(workers = count, "mediasoup workers started");

        // Replace dead workers and hand them on.
        let (out_tx, out_rx) = mpsc::unbounded_channel();
        let weak = Arc::downgrade(&pool);
        tokio::spawn(async move {
            while let Some(index) = deaths_rx.recv().await {
                let Some(pool) = weak.upgrade() else { break };
                let Some(dead) = pool.workers.lock().get(index).cloned() else {
                    continue;
                };
                match pool.start_worker(index).await {
                    Ok(fresh) => pool.workers.lock()[index] = fresh,
                    Err(e) => tracing::error!(index, "cannot replace dead worker: {e:#}"),
                }
                if out_tx.send(WorkerDeath { worker: dead }).is_err() {
                    break;
                }
            }
        });
        Ok((pool, out_rx))
    }

    async fn start_worker(&self, index: usize) -> anyhow::Result<Arc<PoolWorker>> {
        let tid = Arc::new(AtomicU32::new(0));
        let mut settings = WorkerSettings::default();
        settings.log_level = match self.config.log_level {
            WorkerLogLevel::Debug => MsLogLevel::Debug,
            WorkerLogLevel::Warn => MsLogLevel::Warn,
            WorkerLogLevel::Error => MsLogLevel::Error,
            WorkerLogLevel::None => MsLogLevel::None,
        };
        settings.log_tags = Vec::new();
        settings.rtc_port_range = self.config.rtc_min_port..=self.config.rtc_max_port;
        let slot = Arc::clone(&tid);
        settings.thread_initializer = Some(Arc::new(move || {
            // Media runs most of the time: the kernel's default slice, not
            // the short one its creator may have asked for.
            crate::slice::ask(None);
            // SAFETY: gettid has no preconditions.
            let id = unsafe { libc::gettid() };
            slot.store(u32::try_from(id).unwrap_or(0), Ordering::Relaxed);
        }));
        let worker = create_worker(&self.manager, settings)
            .await
            .with_context(|| format!("starting mediasoup worker {index}"))?;
        // The initializer has run by the time the worker answers; fall back to
        // the process id if the thread could not be identified.
        let tid = match tid.load(Ordering::Relaxed) {
            0 => std::process::id(),
            tid => tid,
        };
        let webrtc_server = match self.config.webrtc_server_port {
            Some(base) => Some(self.start_webrtc_server(&worker, base, index).await?),
            None => None,
        };
        let deaths = self.deaths.clone();
        let engine = self.engine.clone();
        let id = worker.id();
        worker
            .on_dead(move |result| {
                tracing::error!(%id, index, ?result, "mediasoup worker died");
                engine.send(WorldEvent::WorkerDied {
                    worker: id.to_string().into(),
                });
                let _ = deaths.send(index);
            })
            .detach();
        self.engine.send(WorldEvent::WorkerStarted {
            worker: id.to_string().into(),
            pid: tid,
        });
        tracing::debug!(%id, index, tid, "worker started");
        Ok(Arc::new(PoolWorker {
            worker,
            tid,
            index,
            webrtc_server,
            routers: AtomicUsize::new(0),
        }))
    }

    async fn start_webrtc_server(
        &self,
        worker: &Worker,
        base: u16,
        index: usize,
    ) -> anyhow::Result<WebRtcServer> {
        let port =
            u16::try_from(usize::from(base) + index).context("webrtc_server_port overflows")?;
        let listen = |protocol| super::listen_info(&self.config, protocol, Some(port));
        let mut infos = WebRtcServerListenInfos::new(listen(Protocol::Udp));
        infos = infos.insert(listen(Protocol::Tcp));
        worker
            .create_webrtc_server(WebRtcServerOptions::new(infos))
            .await
            .with_context(|| format!("starting WebRtcServer on port {port}"))
    }

    /// The worker with the fewest routers.
    pub fn least_loaded(&self) -> Option<Arc<PoolWorker>> {
        self.workers
            .lock()
            .iter()
            .filter(|w| !w.worker.closed())
            .min_by_key(|w| w.routers.load(Ordering::Relaxed))
            .cloned()
    }

    /// The worker with the fewest routers among those not in `used` (a
    /// room's workers, when it spreads).
    pub fn least_loaded_except(&self, used: &[Arc<PoolWorker>]) -> Option<Arc<PoolWorker>> {
        self.workers
            .lock()
            .iter()
            .filter(|w| !w.worker.closed() && !used.iter().any(|u| Arc::ptr_eq(u, w)))
            .min_by_key(|w| w.routers.load(Ordering::Relaxed))
            .cloned()
    }

    /// All workers, in pool order.
    pub fn workers(&self) -> Vec<Arc<PoolWorker>> {
        self.workers.lock().clone()
    }

    /// Closes every worker (their routers and transports go with them).
    pub fn close(&self) {
        for w in self.workers.lock().drain(..) {
            self.engine.send(WorldEvent::WorkerClosed {
                worker: w.worker.id().to_string().into(),
            });
        }
    }
}
