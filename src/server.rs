//! Wires the parts together: engine thread, worker pool, signaling, stats
//! collection and the exporter; and takes them down again in order.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use ejtimaa_systems::export::{Limit, RdnsFigures, ScrapeFigures, WorkerCpu};
use ejtimaa_systems::{ExportOptions, ServerFigures};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower_http::cors::CorsLayer;

use crate::admin::{AdminContext, AdminServer, LogControl};
use crate::cluster::{Cluster, Local, LocalSource};
use crate::config::Config;
use crate::engine::{self, EngineHandle};
use crate::exporter::{self, BearerSecret, ExporterOptions, FiguresHook, ScrapeHooks};
use crate::listen::{Certificates, ListenLimits, Listener, Scheme};
use crate::media::observe::AddressHook;
use crate::media::registry::MediaRegistry;
use crate::media::stats::StatsCollector;
use crate::media::workers::WorkerPool;
use crate::rdns::RdnsService;
use crate::signaling::{RefusalTally, Signaling};

/// A running server.
pub struct Server {
    /// Where socket.io signaling listens.
    pub signaling_addr: SocketAddr,
    /// Whether signaling is served over TLS.
    pub signaling_scheme: Scheme,
    /// The exporter's address, when enabled.
    pub exporter_addr: Option<SocketAddr>,
    /// Whether the exporter is served over TLS.
    pub exporter_scheme: Scheme,
    /// The engine, for in-process inspection (tests, admin).
    pub engine: EngineHandle,
    /// The worker pool.
    pub workers: Arc<WorkerPool>,
    /// Signaling state (rooms and peers).
    pub signaling: Arc<Signaling>,
    /// The stats collector (in the background, or before each render).
    pub stats: Arc<StatsCollector>,
    /// This node's cluster membership, with a `[cluster]` section.
    pub cluster: Option<Arc<Cluster>>,
    admin: Option<AdminServer>,
    /// Every certificate the listeners serve, each once.
    certificates: Vec<Arc<Certificates>>,
    stop_signaling: watch::Sender<bool>,
    stop_exporter: watch::Sender<bool>,
    signaling_tasks: JoinSet<()>,
    exporter_tasks: JoinSet<()>,
    engine_thread: Option<JoinHandle<()>>,
}

/// The server's own figures for each scrape: stats timeouts and cadence,
/// signaling counts and latencies, the CPU time of each live worker thread,
/// the process's `/proc` figures and the reverse DNS cache's counts.
fn figures_hook(
    stats: &Arc<StatsCollector>,
    stats_interval: Duration,
    signaling: &Arc<Signaling>,
    listeners: &Arc<RefusalTally>,
    workers: &Arc<WorkerPool>,
    dns: RdnsService,
) -> FiguresHook {
    let listeners = Arc::clone(listeners);
    let (stats, signaling, workers) = (
        Arc::clone(stats),
        Arc::clone(signaling),
        Arc::clone(workers),
    );
    Arc::new(move || ServerFigures {
        stats_timeouts: stats.timeouts(),
        signaling: signaling.method_counts(),
        signaling_latency: signaling.method_latencies(),
        refusals: Some({
            // Requests refused by signaling, connections by the listeners.
            let mut refusals = signaling.limit_refusals();
            for (sum, n) in refusals.0.iter_mut().zip(listeners.snapshot().0) {
                *sum += n;
            }
            refusals
        }),
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
        let p = &config.prometheus;
        // Load the certificates first: a bad one should stop us before anything starts.
        let signaling_tls = config
            .http
            .tls
            .as_ref()
            .map(Certificates::load)
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
        let exporter_tls = match (&p.tls, p.reuse_http_tls) {
            (Some(files), _) => Some(Certificates::load(files)?),
            (None, true) => signaling_tls.clone(),
            (None, false) => None,
        };
        let mut certificates: Vec<Arc<Certificates>> = Vec::new();
        for c in signaling_tls.iter().chain(&exporter_tls) {
            if !certificates.iter().any(|known| Arc::ptr_eq(known, c)) {
                certificates.push(Arc::clone(c));
            }
        }
        let cluster = match &config.cluster {
            Some(c) => {
                // A wildcard listener with nothing to announce stops us before anything starts.
                let exporter = p
                    .enabled
                    .then_some(("http", SocketAddr::new(p.listen, p.port)));
                let signaling = (
                    "http",
                    SocketAddr::new(config.http.listen, config.http.port),
                );
                crate::cluster::announce(c, signaling, exporter).map_err(anyhow::Error::msg)?;
                tracing::info!(
                    node = %c.node_id,
                    "node of a cluster; room directory {}",
                    c.redis_url_shown()
                );
                Some(Cluster::new(c)?)
            }
            None => None,
        };
        let listener_refusals = Arc::new(RefusalTally::default());
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
            cluster.clone(),
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
        let h = &config.http;
        let listener = Listener::bind(
            "signaling",
            SocketAddr::new(h.listen, h.port),
            signaling_tls,
        )
        .await?;
        let (signaling_addr, signaling_scheme) = (listener.local_addr(), listener.scheme());
        let limits = ListenLimits {
            header_timeout: Duration::from_millis(h.header_timeout_ms),
            request_timeout: Duration::from_millis(h.request_timeout_ms),
            max_connections: config.limits.max_connections,
            max_connections_per_ip: config.limits.max_connections_per_ip,
            counted_as: (Limit::Connections, Limit::ConnectionsPerIp),
        };
        signaling_tasks.spawn(listener.serve(
            app,
            limits,
            Arc::clone(&listener_refusals),
            stop_signaling.subscribe(),
        )?);
        tracing::info!(
            "signaling listening on {signaling_scheme}://{signaling_addr}/socket.io/ (the app at /)"
        );

        let mut exporter_scheme = Scheme::Http;
        let exporter_addr = if p.enabled {
            let listener =
                Listener::bind("exporter", SocketAddr::new(p.listen, p.port), exporter_tls).await?;
            let addr = listener.local_addr();
            exporter_scheme = listener.scheme();
            let options = ExporterOptions {
                secret: p.secret.as_deref().map(BearerSecret::new),
                gzip_level: p.gzip_level,
                max_concurrent_scrapes: p.max_concurrent_scrapes,
                prepare_ahead: Duration::from_millis(p.prepare_ahead_ms),
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
                    &listener_refusals,
                    &workers,
                    dns.clone(),
                )),
                cluster: cluster.clone(),
            };
            if !stats_interval.is_zero() {
                let stop = stop_exporter.subscribe();
                exporter_tasks.spawn(Arc::clone(&stats).run_background(stats_interval, stop));
            }
            let app = exporter::router(engine.clone(), hooks, options);
            let limits = ListenLimits {
                header_timeout: Duration::from_millis(p.header_timeout_ms),
                request_timeout: Duration::from_millis(p.request_timeout_ms),
                max_connections: p.max_scrape_connections,
                max_connections_per_ip: p.max_scrape_connections_per_ip,
                counted_as: (Limit::ScrapeConnections, Limit::ScrapeConnectionsPerIp),
            };
            exporter_tasks.spawn(listener.serve(
                app,
                limits,
                Arc::clone(&listener_refusals),
                stop_exporter.subscribe(),
            )?);
            tracing::info!("exporter listening on {exporter_scheme}://{addr}/metrics");
            Some(addr)
        } else {
            None
        };

        if let (Some(cluster), Some(c)) = (&cluster, &config.cluster) {
            let announce = crate::cluster::announce(
                c,
                (signaling_scheme.as_str(), signaling_addr),
                exporter_addr.map(|addr| (exporter_scheme.as_str(), addr)),
            )
            .map_err(anyhow::Error::msg)?;
            let s = Arc::clone(&signaling);
            let local: LocalSource = Arc::new(move || Local {
                rooms: s.rooms.all().iter().map(|r| r.id.clone()).collect(),
                peers: s.peer_count() as u64,
            });
            cluster.start(announce, local).await;
        }

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
            certificates,
            signaling_addr,
            signaling_scheme,
            exporter_addr,
            exporter_scheme,
            engine,
            workers,
            signaling,
            stats,
            cluster,
            stop_signaling,
            stop_exporter,
            signaling_tasks,
            exporter_tasks,
            engine_thread: Some(engine_thread),
        })
    }

    /// Reads every configured certificate and key again (SIGHUP): new TLS
    /// handshakes use them, open connections keep theirs. A file that cannot
    /// be used is logged and its old certificate stays; the error names it.
    pub fn reload_certificates(&self) -> anyhow::Result<()> {
        let mut failed = Vec::new();
        for certificates in &self.certificates {
            let path = certificates.cert_path().display();
            match certificates.reload() {
                Ok(()) => tracing::info!("reloaded the TLS certificate {path}"),
                Err(e) => {
                    tracing::error!("{e:#}; still serving the previous certificate of {path}");
                    failed.push(format!("{e:#}"));
                }
            }
        }
        match failed.is_empty() {
            true => Ok(()),
            false => Err(anyhow::anyhow!(failed.join("; "))),
        }
    }

    /// Stops in order: peers told and disconnected, rooms and workers closed,
    /// then the exporter (last, so the end can be scraped), then the engine.
    pub async fn shutdown(mut self) {
        drop(self.admin.take()); // removes the socket file
        if let Some(cluster) = &self.cluster {
            // First, so that the rooms can open elsewhere at once.
            let rooms = self
                .signaling
                .rooms
                .all()
                .iter()
                .map(|r| r.id.clone())
                .collect();
            cluster.leave(rooms).await;
        }
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
