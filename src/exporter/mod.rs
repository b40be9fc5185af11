//! The exporter's HTTP side: `GET /metrics` (and `GET /`, the original's
//! path; a browser asking there for HTML gets a landing page).
//!
//! A scrape asks the engine thread to render what the World holds (stats are
//! refreshed in the background, or first collected when so configured),
//! compresses the text once per render when asked for gzip (deflating again
//! only what changed since the last compressed render), and sends it without
//! copying. Overlapping scrapes share one render. A scraper whose requests
//! arrive evenly spaced (Prometheus) finds its body rendered and compressed
//! just before it comes ([`cadence`]). The HTTP side never touches the World.

mod auth;
mod body;
mod cadence;
mod gzip;
mod landing;
mod negotiate;
mod renders;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use ejtimaa_systems::ServerFigures;
use ejtimaa_systems::export::{BodySize, BuildInfo, CONTENT_TYPE, ScrapeFigures};
use parking_lot::Mutex;
use tokio::sync::Semaphore;

use crate::cluster::Cluster;
use crate::engine::{EngineGone, EngineHandle};
use renders::Got;

pub use auth::BearerSecret;
pub use gzip::{Gzipped, compress, gzip, gzip_in_parts};

/// Refreshes stats before a render; the media layer provides it.
pub type StatsRefresh = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// The server's own figures at scrape time (stats timeouts, signaling counts,
/// worker CPU); the exporter adds build info and its own figures.
pub type FiguresHook = Arc<dyn Fn() -> ServerFigures + Send + Sync>;

/// The mediasoup crate version this build pins (checked against Cargo.toml
/// by a test).
pub const MEDIASOUP_VERSION: &str = "0.33.1";

/// Where a scrape gets what the World does not know.
#[derive(Clone, Default)]
pub struct ScrapeHooks {
    /// Runs before each render (stats collected at scrape time); `None` when
    /// stats are refreshed in the background.
    pub refresh: Option<StatsRefresh>,
    /// Gathers the server's own figures for each render.
    pub figures: Option<FiguresHook>,
    /// The cluster: its families are appended to each render, and `GET /sd`
    /// lists its live nodes.
    pub cluster: Option<Arc<Cluster>>,
}

/// How the exporter answers.
pub struct ExporterOptions {
    /// Required bearer token, if any.
    pub secret: Option<BearerSecret>,
    /// gzip level, 1 (fastest) to 9.
    pub gzip_level: u32,
    /// Scrapes that may wait for a render at once; more are refused with 503.
    pub max_concurrent_scrapes: usize,
    /// How long before a steady scraper's foretold scrape its body is
    /// rendered; zero renders every scrape on arrival.
    pub prepare_ahead: Duration,
}

impl Default for ExporterOptions {
    fn default() -> Self {
        Self {
            secret: None,
            gzip_level: 1,
            max_concurrent_scrapes: 16,
            prepare_ahead: Duration::from_millis(50),
        }
    }
}

#[derive(Clone)]
struct Exporter(Arc<Inner>);

struct Inner {
    engine: EngineHandle,
    hooks: ScrapeHooks,
    secret: Option<BearerSecret>,
    gzip_level: u32,
    renders: renders::Renders,
    waiting: Semaphore,
    tally: Mutex<Tally>,
    /// Zero when no body is prepared ahead.
    prepare_ahead: Duration,
    cadence: Mutex<cadence::Cadence>,
    /// Scrapes that arrived: a preparation waiting for a scrape that came
    /// early sees this move and stands down.
    arrivals: AtomicU64,
}

/// What the exporter reports about itself in the next render.
#[derive(Default)]
struct Tally {
    /// How long the previous scrape took.
    last_duration: Option<Duration>,
    last_body: Option<BodySize>,
    rendered: u64,
    shared: u64,
    prepared: u64,
    rejected: u64,
    last_age: Option<Duration>,
}

/// The exporter's routes.
pub fn router(engine: EngineHandle, hooks: ScrapeHooks, options: ExporterOptions) -> Router {
    let hooks_refresh = hooks.refresh.is_some();
    let state = Exporter(Arc::new(Inner {
        engine,
        hooks,
        secret: options.secret,
        gzip_level: options.gzip_level.clamp(1, 9),
        renders: renders::Renders::default(),
        waiting: Semaphore::new(options.max_concurrent_scrapes.max(1)),
        tally: Mutex::default(),
        // Stats collected at each scrape would be collected ahead of it
        // instead: that mode renders on arrival.
        prepare_ahead: if hooks_refresh {
            Duration::ZERO
        } else {
            options.prepare_ahead
        },
        cadence: Mutex::default(),
        arrivals: AtomicU64::new(0),
    }));
    Router::new()
        .route("/metrics", get(scrape))
        .route("/", get(scrape))
        .route("/sd", get(discovery))
        .with_state(state)
}

/// `401` unless the request carries the bearer secret (when one is set).
fn refuse_unauthorized(exporter: &Inner, headers: &HeaderMap) -> Option<Response> {
    let secret = exporter.secret.as_ref()?;
    (!secret.authorizes(headers)).then(|| {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "missing or wrong bearer token\n",
        )
            .into_response()
    })
}

/// `GET /sd`: Prometheus' HTTP service discovery, every live node of the
/// cluster (see [`crate::cluster`]); 404 on a server outside a cluster, 503
/// while the directory is unreachable (Prometheus then keeps its targets).
async fn discovery(State(exporter): State<Exporter>, headers: HeaderMap) -> Response {
    let exporter = &exporter.0;
    if let Some(refused) = refuse_unauthorized(exporter, &headers) {
        return refused;
    }
    let Some(cluster) = &exporter.hooks.cluster else {
        return (
            StatusCode::NOT_FOUND,
            "this server is not part of a cluster\n",
        )
            .into_response();
    };
    match cluster.discovery().await {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("room directory unavailable: {e}\n"),
        )
            .into_response(),
    }
}

async fn scrape(State(state): State<Exporter>, uri: Uri, headers: HeaderMap) -> Response {
    let exporter = &state.0;
    if let Some(refused) = refuse_unauthorized(exporter, &headers) {
        return refused;
    }
    if uri.path() == "/" && negotiate::wants_html(&headers) {
        let series = exporter
            .renders
            .latest()
            .map(|body| landing::count_series(body.text()));
        return Html(landing::page(&build_info(), series)).into_response();
    }
    let Ok(_permit) = exporter.waiting.try_acquire() else {
        exporter.tally.lock().rejected += 1;
        tracing::debug!("scrape refused: too many scrapes waiting");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "1")],
            "too many concurrent scrapes\n",
        )
            .into_response();
    };
    let started = Instant::now();
    let gzip = negotiate::accepts_gzip(&headers);
    let ready = exporter.renders.prepared(
        started,
        exporter.engine.changes(),
        // A scrape a little late for its foretold time still takes it.
        exporter.prepare_ahead * 2,
    );
    foretell(&state, started, gzip);
    let got = match ready {
        Some(body) => Got {
            body,
            shared: false,
            prepared: true,
        },
        None => match exporter.renders.get(|spare| render(exporter, spare)).await {
            Ok(got) => got,
            Err(e) => return (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response(),
        },
    };
    let rendered = started.elapsed();
    let payload = if gzip {
        exporter.renders.gzip(&got.body, exporter.gzip_level).await
    } else {
        got.body.identity()
    };
    // Where a slow scrape spent its time.
    tracing::debug!(
        render_us = rendered.as_micros() as u64,
        gzip_us = (started.elapsed() - rendered).as_micros() as u64,
        shared = got.shared,
        prepared = got.prepared,
        "scrape answered"
    );
    {
        let mut tally = exporter.tally.lock();
        tally.last_duration = Some(started.elapsed());
        tally.last_age = Some(got.body.begun().elapsed());
        tally.last_body = Some(BodySize {
            identity: got.body.text().len() as u64,
            gzip: got.body.gzip_len().map(|n| n as u64),
        });
        if got.prepared {
            tally.prepared += 1;
        } else if got.shared {
            tally.shared += 1;
        } else {
            tally.rendered += 1;
        }
    }
    let mut response = (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE)),
            (header::VARY, HeaderValue::from_static("accept-encoding")),
        ],
        payload,
    )
        .into_response();
    if gzip {
        response
            .headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    response
}

/// Notes a scrape that arrived at `at` and, if the arrivals foretell the
/// next, prepares its body (compressed if this one asked for gzip) a little
/// before it is due. A scrape that comes before then cancels that and
/// foretells anew.
fn foretell(state: &Exporter, at: Instant, gzip: bool) {
    let exporter = &state.0;
    if exporter.prepare_ahead.is_zero() {
        return;
    }
    let arrival = exporter.arrivals.fetch_add(1, Ordering::AcqRel) + 1;
    let next = {
        let mut cadence = exporter.cadence.lock();
        cadence.arrived(at);
        cadence.next()
    };
    let Some(next) = next else { return };
    let when = next.checked_sub(exporter.prepare_ahead).unwrap_or(next);
    let state = state.clone();
    tokio::spawn(async move {
        tokio::time::sleep_until(when.into()).await;
        let exporter = &state.0;
        if exporter.arrivals.load(Ordering::Acquire) != arrival {
            return;
        }
        let changes = exporter.engine.changes();
        let Ok(body) = exporter
            .renders
            .prepare(changes, |spare| render(exporter, spare))
            .await
        else {
            return;
        };
        if gzip {
            exporter.renders.gzip(&body, exporter.gzip_level).await;
        }
    });
}

fn build_info() -> BuildInfo {
    BuildInfo {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        mediasoup_version: MEDIASOUP_VERSION.to_owned(),
    }
}

/// Collects stats first if each scrape does, then renders into `spare`.
async fn render(exporter: &Inner, spare: String) -> Result<String, EngineGone> {
    if let Some(refresh) = &exporter.hooks.refresh {
        refresh().await;
    }
    let mut figures = exporter
        .hooks
        .figures
        .as_ref()
        .map_or_else(ServerFigures::default, |hook| hook());
    figures.build = Some(build_info());
    {
        // A scrape's own duration and size are only known once it is sent,
        // so each render reports the scrape before it.
        let tally = exporter.tally.lock();
        figures.scrape_duration = tally.last_duration;
        figures.scrape = Some(ScrapeFigures {
            body: tally.last_body,
            rendered: tally.rendered,
            shared: tally.shared,
            prepared: tally.prepared,
            rejected: tally.rejected,
            body_age: tally.last_age,
            ..figures.scrape.unwrap_or_default()
        });
    }
    let mut text = exporter.engine.render_into(figures, spare).await?;
    if let Some(cluster) = &exporter.hooks.cluster {
        cluster.render(&mut text);
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::MEDIASOUP_VERSION;

    #[test]
    fn mediasoup_version_matches_the_pin() {
        let manifest = include_str!("../../Cargo.toml");
        let pin = format!("mediasoup = \"={MEDIASOUP_VERSION}\"");
        assert!(manifest.contains(&pin), "Cargo.toml should pin {pin}");
    }
}
