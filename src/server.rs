//! Wires the parts together: engine thread, worker pool, signaling, stats
//! collection and the exporter; and takes them down again in order.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;
use ejtimaa_systems::export::{RdnsFigures, ScrapeFigures, WorkerCpu};
use ejtimaa_systems::{ExportOptions, ServerFigures};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower_http::cors::CorsLayer;

use crate::admin::{AdminContext, AdminServer, LogControl};
use crate::config::Config;
use crate::engine::{self, EngineHandle};
use crate::exporter::{self, BearerSecret, ExporterOptions, FiguresHook, ScrapeHooks};
use crate::media::observe::AddressHook;
use crate::media::registry::MediaRegistry;
use crate::media::stats::StatsCollector;
use crate::media::workers::WorkerPool;
use crate::rdns::RdnsService;
use crate::signaling::Signaling;

/// A running server.
pub struct Server {
    /// Where socket.io signaling listens.
    pub signaling_addr: SocketAddr,
    /// The exporter's address, when enabled.
    pub exporter_addr: Option<SocketAddr>,
    /// The engine, for in-process inspection (tests, admin).
    pub engine: EngineHandle,
    /// The worker pool.
    pub workers: Arc<WorkerPool>,
    /// Signaling state (rooms and peers).
    pub signaling: Arc<Signaling>,
    /// The stats collector (in the background, or before each render).
    pub stats: Arc<StatsCollector>,
    admin: Option<AdminServer>,
    stop_signaling: watch::Sender<bool>,
    stop_exporter: watch::Sender<bool>,
    signaling_tasks: JoinSet<()>,
    exporter_tasks: JoinSet<()>,
    engine_thread: Option<JoinHandle<()>>,
}

/// Serves `app` on `listener` until `stop` turns true.
fn serve<L>(
    tasks: &mut JoinSet<()>,
    listener: L,
    app: axum::Router,
    stop: &watch::Sender<bool>,
    what: &'static str,
) where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    let mut stopped = stop.subscribe();
    tasks.spawn(async move {
        let shutdown = async move {
            let _ = stopped.wait_for(|s| *s).await;
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!("{what} server failed: {e}");
        }
    });
}

async fn bind(addr: SocketAddr, what: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the {what} listener to {addr}"))
}

/// The server's own figures for each scrape: stats timeouts and cadence,
/// signaling counts and latencies, the CPU time of each live worker thread,
/// the process's `/proc` figures and the reverse DNS cache's counts.
fn figures_hook(
    stats: &Arc<StatsCollector>,
    stats_interval: Duration,
    signaling: &Arc<Signaling>,
    workers: &Arc<WorkerPool>,
    dns: RdnsService,
) -> FiguresHook {
    let (stats, signaling, workers) = (
        Arc::clone(stats),
        Arc::clone(signaling),
        Arc::clone(workers),
    );
    Arc::new(move || ServerFigures {
        stats_timeouts: stats.timeouts(),
        signaling: signaling.method_counts(),
        signaling_latency: signaling.method_latencies(),
        refusals: Some(signaling.limit_refusals()),
        auth: Some(signaling.auth_figures()),
        process: crate::usage::process_figures(),
        // Zeros while reverse DNS is off: nothing looked up, nothing cached.
        rdns: Some({
            let s = dns.stats();
            RdnsFigures {
                names: s.names,
                no_names: s.no_names,
                errors: s.failures,
                timeouts: s.timeouts,
                dropped: s.dropped,
                cache_entries: s.cached,
            }
        }),
        worker_cpu: workers
            .workers()
            .iter()
            // A worker whose thread was not identified carries the process
            // id, whose /proc figures would be the main thread's.
            .filter(|w| w.tid != std::process::id())
            .filter_map(|w| {
                let cpu = crate::usage::thread_cpu(w.tid)?;
                Some(WorkerCpu {
                    pid: w.tid,
                    user: cpu.user,
                    system: cpu.system,
                })
            })
            .collect(),
        scrape: Some(ScrapeFigures {
            stats_interval,
            stats_round: stats.last_round(),
            ..ScrapeFigures::default()
        }),
        ..ServerFigures::default()
    })
}

impl Server {
    /// Starts everything `config` asks for.
    pub async fn start(config: Config) -> anyhow::Result<Server> {
        Self::start_with(config, None).await
    }

    /// Starts everything `config` asks for; `log` lets the admin socket's
    /// `logLevel` change the log filter.
    pub async fn start_with(config: Config, log: Option<LogControl>) -> anyhow::Result<Server> {
        config.validate()?;
        // Load the certificate first: a bad one should stop us before anything starts.
        let tls = config
            .http
            .tls
            .as_ref()
            .map(crate::tls::acceptor)
            .transpose()?;
        // Read the secret (maybe from its file) before anything starts, too.
        let join_secret = config.auth.join_secret()?;
        if join_secret.is_some() {
            tracing::info!("signaling requires join tokens ([auth] secret set)");
        } else {
            tracing::warn!(
                "signaling is open: with no [auth] secret, anyone who reaches {} may join any room as any peer id",
                config.http.listen
            );
        }
        let p = &config.prometheus;
        let options = ExportOptions {
            deidentify: p.deidentify,
            numeric: p.numeric,
            quiet: p.quiet,
            metrics: p.metrics.into(),
            label_value_max: p.label_value_max,
        };
        let (engine, engine_thread) = engine::spawn(options);
        let (workers, mut deaths) = WorkerPool::start(&config.mediasoup, engine.clone()).await?;
        let registry = MediaRegistry::new();
        let dns = RdnsService::for_config(p, engine.clone());
        let address_hook: Option<AddressHook> = dns.is_enabled().then(|| {
            let dns = dns.clone();
            Arc::new(move |ip| dns.want(ip)) as AddressHook
        });
        let signaling = Signaling::new(
            &config,
            engine.clone(),
            Arc::clone(&workers),
            Arc::clone(&registry),
            address_hook,
            join_secret,
        );
        let mut stats = StatsCollector::new(
            Arc::clone(&registry),
            engine.clone(),
            Duration::from_millis(p.stats_deadline_ms),
            p.stats_concurrency,
        );
        if dns.is_enabled() {
            stats = stats.with_dns(dns.clone());
        }
        let stats = Arc::new(stats);
        let stats_interval = Duration::from_millis(p.stats_interval_ms);

        let (stop_signaling, _) = watch::channel(false);
        let (stop_exporter, _) = watch::channel(false);
        let mut signaling_tasks = JoinSet::new();
        let mut exporter_tasks = JoinSet::new();

        let s = Arc::clone(&signaling);
        signaling_tasks.spawn(async move {
            while let Some(death) = deaths.recv().await {
                s.worker_died(&death.worker);
            }
        });

        let (layer, _io) = signaling.layer();
        // The app's page and assets; socket.io, layered on top, answers
        // under /socket.io/. Long-polling from pages on other origins needs CORS.
        let app = crate::app::router()
            .layer(layer)
            .layer(CorsLayer::permissive());
        let listener = bind(
            SocketAddr::new(config.http.listen, config.http.port),
            "signaling",
        )
        .await?;
        let signaling_addr = listener.local_addr()?;
        let stop = &stop_signaling;
        let scheme = match tls {
            Some(acceptor) => {
                let listener = crate::tls::TlsListener::new(listener, acceptor)?;
                serve(&mut signaling_tasks, listener, app, stop, "signaling");
                "https"
            }
            None => {
                serve(&mut signaling_tasks, listener, app, stop, "signaling");
                "http"
            }
        };
        tracing::info!(
            "signaling listening on {scheme}://{signaling_addr}/socket.io/ (the app at /)"
        );

        let exporter_addr = if p.enabled {
            let listener = bind(SocketAddr::new(p.listen, p.port), "exporter").await?;
            let addr = listener.local_addr()?;
            let options = ExporterOptions {
                secret: p.secret.as_deref().map(BearerSecret::new),
                gzip_level: p.gzip_level,
                max_concurrent_scrapes: p.max_concurrent_scrapes,
            };
            let hooks = ScrapeHooks {
                // Without a background interval, each scrape collects stats first.
                refresh: stats_interval
                    .is_zero()
                    .then(|| Arc::clone(&stats).refresh_hook()),
                figures: Some(figures_hook(
                    &stats,
                    stats_interval,
                    &signaling,
                    &workers,
                    dns.clone(),
                )),
            };
            if !stats_interval.is_zero() {
                let stop = stop_exporter.subscribe();
                exporter_tasks.spawn(Arc::clone(&stats).run_background(stats_interval, stop));
            }
            let app = exporter::router(engine.clone(), hooks, options);
            serve(
                &mut exporter_tasks,
                listener,
                app,
                &stop_exporter,
                "exporter",
            );
            tracing::info!("exporter listening on http://{addr}/metrics");
            Some(addr)
        } else {
            None
        };

        let admin = if config.admin.enabled {
            let ctx = AdminContext {
                engine: engine.clone(),
                signaling: Arc::clone(&signaling),
                pool: Arc::clone(&workers),
                log,
            };
            Some(AdminServer::start(&config.admin.socket, ctx).await?)
        } else {
            None
        };

        Ok(Server {
            admin,
            signaling_addr,
            exporter_addr,
            engine,
            workers,
            signaling,
            stats,
            stop_signaling,
            stop_exporter,
            signaling_tasks,
            exporter_tasks,
            engine_thread: Some(engine_thread),
        })
    }

    /// Stops in order: peers told and disconnected, rooms and workers closed,
    /// then the exporter (last, so the end can be scraped), then the engine.
    pub async fn shutdown(mut self) {
        drop(self.admin.take()); // removes the socket file
        self.signaling.shutdown();
        let _ = self.stop_signaling.send(true);
        // Give the disconnect packets a moment to leave.
        tokio::time::sleep(Duration::from_millis(100)).await;
        self.signaling_tasks.abort_all();
        while self.signaling_tasks.join_next().await.is_some() {}
        self.workers.close();
        let _ = self.stop_exporter.send(true);
        self.exporter_tasks.abort_all();
        while self.exporter_tasks.join_next().await.is_some() {}
        self.engine.stop();
        if let Some(thread) = self.engine_thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        tracing::info!("stopped");
    }
}
