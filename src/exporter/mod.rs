//! The exporter's HTTP side: `GET /metrics` (and `GET /`, the original's path).
//!
//! A scrape first asks the media layer for fresh stats (concurrently, bounded
//! by a deadline), then asks the engine thread to render. The HTTP side never
//! touches the World.

mod auth;
pub mod dns;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use ejtimaa_systems::export::CONTENT_TYPE;
use tower_http::compression::CompressionLayer;

use crate::engine::EngineHandle;

pub use auth::BearerSecret;

/// Refreshes stats before a render; the media layer provides it.
pub type StatsRefresh = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

#[derive(Clone)]
struct Exporter {
    engine: EngineHandle,
    refresh: Option<StatsRefresh>,
    secret: Option<Arc<BearerSecret>>,
}

/// The exporter's routes.
pub fn router(
    engine: EngineHandle,
    refresh: Option<StatsRefresh>,
    secret: Option<BearerSecret>,
) -> Router {
    let state = Exporter {
        engine,
        refresh,
        secret: secret.map(Arc::new),
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
    if let Some(refresh) = &exporter.refresh {
        refresh().await;
    }
    match exporter.engine.render().await {
        Ok(text) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response(),
    }
}
