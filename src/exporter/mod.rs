//! The exporter's HTTP side: `GET /metrics` (and `GET /`, the original's path).
//!
//! A scrape first asks the media layer for fresh stats (concurrently, bounded
//! by a deadline), gathers the server's own figures, then asks the engine
//! thread to render. The HTTP side never touches the World.

mod auth;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use ejtimaa_systems::ServerFigures;
use ejtimaa_systems::export::{BuildInfo, CONTENT_TYPE};
use parking_lot::Mutex;
use tower_http::compression::CompressionLayer;

use crate::engine::EngineHandle;

pub use auth::BearerSecret;

/// Refreshes stats before a render; the media layer provides it.
pub type StatsRefresh = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// The server's own figures at scrape time (stats timeouts, signaling counts,
/// worker CPU); the exporter adds build info and scrape duration.
pub type FiguresHook = Arc<dyn Fn() -> ServerFigures + Send + Sync>;

/// The mediasoup crate version this build pins (checked against Cargo.toml
/// by a test).
pub const MEDIASOUP_VERSION: &str = "0.33.1";

/// Where a scrape gets what the World does not know.
#[derive(Clone, Default)]
pub struct ScrapeHooks {
    /// Runs before each render.
    pub refresh: Option<StatsRefresh>,
    /// Gathers the server's own figures for each render.
    pub figures: Option<FiguresHook>,
}

#[derive(Clone)]
struct Exporter {
    engine: EngineHandle,
    hooks: ScrapeHooks,
    secret: Option<Arc<BearerSecret>>,
    /// How long the previous scrape took.
    last_duration: Arc<Mutex<Option<Duration>>>,
}

/// The exporter's routes.
pub fn router(engine: EngineHandle, hooks: ScrapeHooks, secret: Option<BearerSecret>) -> Router {
    let state = Exporter {
        engine,
        hooks,
        secret: secret.map(Arc::new),
        last_duration: Arc::default(),
    };
    Router::new()
        .route("/metrics", get(scrape))
        .route("/", get(scrape))
        .layer(CompressionLayer::new().gzip(true))
        .with_state(state)
}

async fn scrape(State(exporter): State<Exporter>, headers: HeaderMap) -> Response {
    if let Some(secret) = &exporter.secret
        && !secret.authorizes(&headers)
    {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "missing or wrong bearer token\n",
        )
            .into_response();
    }
    let started = Instant::now();
    if let Some(refresh) = &exporter.hooks.refresh {
        refresh().await;
    }
    let mut figures = exporter
        .hooks
        .figures
        .as_ref()
        .map_or_else(ServerFigures::default, |hook| hook());
    figures.build = Some(BuildInfo {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        mediasoup_version: MEDIASOUP_VERSION.to_owned(),
    });
    // This scrape's own duration is only known once its text exists, so each
    // scrape reports the one before it.
    figures.scrape_duration = *exporter.last_duration.lock();
    let rendered = exporter.engine.render(figures).await;
    *exporter.last_duration.lock() = Some(started.elapsed());
    match rendered {
        Ok(text) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response(),
    }
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
