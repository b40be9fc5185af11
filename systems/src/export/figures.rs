//! [`ServerFigures`]: what only the server process knows (build, scrape timing,
//! stats timeouts, signaling counts, worker CPU), handed to the engine with
//! each scrape and rendered beside the World's own figures.

use std::time::Duration;

use bevy_ecs::prelude::*;

/// The server's own figures at the time of a scrape. The default (nothing
/// known) renders the families' headers without series.
#[derive(Resource, Clone, Debug, Default, PartialEq)]
pub struct ServerFigures {
    /// Versions, for `Ejtimaa_build_info`.
    pub build: Option<BuildInfo>,
    /// How long the previous scrape took, from request to rendered text.
    pub scrape_duration: Option<Duration>,
    /// `get_stats` calls that missed their deadline, since start.
    pub stats_timeouts: u64,
    /// Signaling requests and errors by method, in a fixed order.
    pub signaling: Vec<MethodCounts>,
    /// CPU time of each worker thread.
    pub worker_cpu: Vec<WorkerCpu>,
    /// How the exporter itself is doing.
    pub scrape: ScrapeFigures,
}

/// The exporter's own figures: how stats are refreshed and what scrapes cost.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ScrapeFigures {
    /// The background stats interval; zero when stats are collected at each scrape.
    pub stats_interval: Duration,
    /// How long the last complete stats round took (background mode).
    pub stats_round: Option<Duration>,
    /// Size of the previous scrape's body, uncompressed and gzip (when it was
    /// compressed).
    pub body: Option<BodySize>,
    /// Scrapes answered with a render of their own.
    pub rendered: u64,
    /// Scrapes answered with a render another scrape had started.
    pub shared: u64,
    /// Scrapes refused because too many were waiting.
    pub rejected: u64,
}

/// The size of one exposition, as text and as gzip.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BodySize {
    /// Bytes of text.
    pub identity: u64,
    /// Bytes of gzip, if the text was compressed.
    pub gzip: Option<u64>,
}

/// Versions of the running build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildInfo {
    /// Ejtimaa's version.
    pub version: String,
    /// The mediasoup crate's version.
    pub mediasoup_version: String,
}

/// Requests of one signaling method and how many of them failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MethodCounts {
    /// The method (`join`, `produce`, ...; `unknown` for anything else).
    pub method: &'static str,
    /// Requests received.
    pub requests: u64,
    /// Requests answered with an error.
    pub errors: u64,
}

/// CPU time one worker thread has used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkerCpu {
    /// The worker's `pid` label (its OS thread id).
    pub pid: u32,
    /// Time in user mode.
    pub user: Duration,
    /// Time in the kernel.
    pub system: Duration,
}
