//! Wires the parts together: engine thread, worker pool, exporter; and takes
//! them down again in order.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use anyhow::Context;
use ejtimaa_systems::ExportOptions;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::Config;
use crate::engine::{self, EngineHandle};
use crate::exporter::{self, BearerSecret};
use crate::media::workers::WorkerPool;

/// A running server.
pub struct Server {
    /// The exporter's address, when enabled.
    pub exporter_addr: Option<SocketAddr>,
    /// The engine, for in-process inspection (tests, admin).
    pub engine: EngineHandle,
    /// The worker pool.
    pub workers: Arc<WorkerPool>,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
    engine_thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Starts everything `config` asks for.
    pub async fn start(config: Config) -> anyhow::Result<Server> {
        config.validate()?;
        let p = &config.prometheus;
        let options = ExportOptions {
            deidentify: p.deidentify,
            numeric: p.numeric,
            quiet: p.quiet,
        };
        let (engine, engine_thread) = engine::spawn(options);
        let (workers, mut deaths) = WorkerPool::start(&config.mediasoup, engine.clone()).await?;
        let (stop, _) = watch::channel(false);
        let mut tasks = JoinSet::new();

        tasks.spawn(async move {
            while let Some(death) = deaths.recv().await {
                // Rooms on the dead worker are closed by the signaling layer;
                // here the death is only logged (the engine counted it).
                tracing::warn!(index = death.worker.index, "worker replaced");
            }
        });

        let exporter_addr = if p.enabled {
            let addr = SocketAddr::new(p.listen, p.port);
            let listener = TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding the exporter to {addr}"))?;
            let addr = listener.local_addr()?;
            let secret = p.secret.as_deref().map(BearerSecret::new);
            let app = exporter::router(engine.clone(), None, secret);
            let mut stopped = stop.subscribe();
            tasks.spawn(async move {
                let shutdown = async move {
                    let _ = stopped.wait_for(|s| *s).await;
                };
                if let Err(e) = axum::serve(listener, app)
                    .with_graceful_shutdown(shutdown)
                    .await
                {
                    tracing::error!("exporter failed: {e}");
                }
            });
            tracing::info!("exporter listening on http://{addr}/metrics");
            Some(addr)
        } else {
            None
        };

        Ok(Server {
            exporter_addr,
            engine,
            workers,
            stop,
            tasks,
            engine_thread: Some(engine_thread),
        })
    }

    /// Stops in order: workers closed, then the exporter, then the engine.
    pub async fn shutdown(mut self) {
        self.workers.close();
        let _ = self.stop.send(true);
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
        self.engine.stop();
        if let Some(thread) = self.engine_thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        tracing::info!("stopped");
    }
}
