//! [`ServerFigures`]: what only the server process knows (build, scrape timing,
//! stats timeouts, signaling counts and latencies, worker and process figures,
//! reverse DNS), handed to the engine with each scrape and rendered beside the
//! World's own figures.

use std::time::Duration;

use bevy_ecs::prelude::*;

/// The server's own figures at the time of a scrape. The default (nothing
/// known) renders the families' headers without series.
#[derive(Resource, Clone, Debug, Default, PartialEq)]
pub struct ServerFigures {
    /// Versions, for `Ejtimaa_build_info`.
    pub build: Option<BuildInfo>,
    /// How long the previous scrape took, from request to body ready.
    pub scrape_duration: Option<Duration>,
    /// `get_stats` calls that missed their deadline, since start.
    pub stats_timeouts: u64,
    /// Signaling requests and errors by method, in a fixed order.
    pub signaling: Vec<MethodCounts>,
    /// CPU time of each worker thread.
    pub worker_cpu: Vec<WorkerCpu>,
    /// How long signaling requests took, by method, in the order of `signaling`.
    pub signaling_latency: Vec<MethodLatency>,
    /// The server process's `/proc` figures (the standard `process_*` families).
    pub process: Option<ProcessFigures>,
    /// The reverse DNS cache's counts (zeros while it is off); `None`:
    /// unknown, the families are declared without series.
    pub rdns: Option<RdnsFigures>,
    /// How the exporter itself is doing; `None`: unknown, the families are
    /// declared without series.
    pub scrape: Option<ScrapeFigures>,
    /// Requests and connections each limit refused, since start; `None`:
    /// unknown, the family is declared without series.
    pub refusals: Option<LimitRefusals>,
    /// Whether join tokens are required and why they were refused; `None`:
    /// unknown, the families are declared without series.
    pub auth: Option<crate::export::AuthFigures>,
}

/// A configured limit on what clients may ask of the server; its label
/// value is the name of its option: in `[limits]` (`rates.*`: a method
/// family's request rate, in the `[limits.rates]` table), or in
/// `[prometheus]` for the exporter's connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Limit {
    /// `max_rooms`: rooms open at once.
    Rooms,
    /// `max_peers_per_room`.
    PeersPerRoom,
    /// `max_transports_per_peer`.
    TransportsPerPeer,
    /// `max_producers_per_peer`.
    ProducersPerPeer,
    /// `max_transports_before_join`: transports a peer may create before
    /// it has joined.
    TransportsBeforeJoin,
    /// `max_message_bytes`: the size of one request.
    MessageBytes,
    /// `max_connections`: connections to the signaling listener.
    Connections,
    /// `max_connections_per_ip`: connections to the signaling listener
    /// from one address.
    ConnectionsPerIp,
    /// `max_scrape_connections` (`[prometheus]`): connections to the exporter.
    ScrapeConnections,
    /// `max_scrape_connections_per_ip` (`[prometheus]`): connections to the
    /// exporter from one address.
    ScrapeConnectionsPerIp,
    /// `max_requests_in_flight`: one socket's requests not yet answered.
    RequestsInFlight,
    /// `max_queued_messages`: messages waiting to go out to one socket; a
    /// client over it is not reading and is disconnected.
    QueuedMessages,
    /// `request_timeout_ms`: a request (or a room's opening) the media
    /// worker did not answer in time.
    RequestTimeout,
    /// `max_string_bytes`: any one string (or object key) in a request.
    StringBytes,
    /// `max_app_data_bytes`: a producer's `appData`, as JSON.
    AppDataBytes,
    /// `max_device_bytes`: a peer's `device` description, as JSON.
    DeviceBytes,
    /// `rates.setup`: joining, transports and producers.
    SetupRate,
    /// `rates.control`: pausing, resuming and closing, preferred layers.
    ControlRate,
    /// `rates.stats`: the `get*Stats` requests.
    StatsRate,
    /// `rates.ice_restart`: `restartIce`.
    IceRestartRate,
    /// `rates.key_frame`: `requestConsumerKeyFrame`.
    KeyFrameRate,
    /// `rates.display_name`: `changeDisplayName`.
    DisplayNameRate,
}

impl Limit {
    /// Every limit, in the order of the exported series (by label value).
    pub const ALL: [Limit; 22] = [
        Limit::AppDataBytes,
        Limit::Connections,
        Limit::ConnectionsPerIp,
        Limit::DeviceBytes,
        Limit::MessageBytes,
        Limit::PeersPerRoom,
        Limit::ProducersPerPeer,
        Limit::QueuedMessages,
        Limit::RequestsInFlight,
        Limit::Rooms,
        Limit::ScrapeConnections,
        Limit::ScrapeConnectionsPerIp,
        Limit::StringBytes,
        Limit::TransportsBeforeJoin,
        Limit::TransportsPerPeer,
        Limit::ControlRate,
        Limit::DisplayNameRate,
        Limit::IceRestartRate,
        Limit::KeyFrameRate,
        Limit::SetupRate,
        Limit::StatsRate,
        Limit::RequestTimeout,
    ];

    /// The option's name, and the `limit` label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Limit::Rooms => "max_rooms",
            Limit::PeersPerRoom => "max_peers_per_room",
            Limit::TransportsPerPeer => "max_transports_per_peer",
            Limit::ProducersPerPeer => "max_producers_per_peer",
            Limit::TransportsBeforeJoin => "max_transports_before_join",
            Limit::MessageBytes => "max_message_bytes",
            Limit::Connections => "max_connections",
            Limit::ConnectionsPerIp => "max_connections_per_ip",
            Limit::ScrapeConnections => "max_scrape_connections",
            Limit::ScrapeConnectionsPerIp => "max_scrape_connections_per_ip",
            Limit::RequestsInFlight => "max_requests_in_flight",
            Limit::QueuedMessages => "max_queued_messages",
            Limit::RequestTimeout => "request_timeout_ms",
            Limit::StringBytes => "max_string_bytes",
            Limit::AppDataBytes => "max_app_data_bytes",
            Limit::DeviceBytes => "max_device_bytes",
            Limit::SetupRate => "rates.setup",
            Limit::ControlRate => "rates.control",
            Limit::StatsRate => "rates.stats",
            Limit::IceRestartRate => "rates.ice_restart",
            Limit::KeyFrameRate => "rates.key_frame",
            Limit::DisplayNameRate => "rates.display_name",
        }
    }
}

/// How many times each limit refused, in [`Limit::ALL`] order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LimitRefusals(pub [u64; Limit::ALL.len()]);

impl LimitRefusals {
    /// The refusals of `limit`.
    pub fn get(&self, limit: Limit) -> u64 {
        Limit::ALL
            .iter()
            .position(|l| *l == limit)
            .map_or(0, |i| self.0[i])
    }
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
    /// Scrapes answered with a render made just before they arrived, at
    /// the time the scraper's steady interval foretold.
    pub prepared: u64,
    /// How old the previous scrape's body was when it was sent: from its
    /// render's start to the response.
    pub body_age: Option<Duration>,
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

/// Upper bounds, in seconds, of the signaling latency histogram's buckets
/// (`+Inf` follows): from a cached answer (about a millisecond) to a join or
/// transport creation on a loaded worker (seconds).
pub const LATENCY_BOUNDS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// How long the requests of one signaling method took.
#[derive(Clone, Debug, PartialEq)]
pub struct MethodLatency {
    /// The method, as in [`MethodCounts`].
    pub method: &'static str,
    /// Requests per bucket, not cumulative: `buckets[i]` took at most
    /// `LATENCY_BOUNDS[i]` and more than the bound before; one more entry
    /// for those over the last bound. The count is their sum.
    pub buckets: Vec<u64>,
    /// Total time of those requests, in seconds.
    pub sum_seconds: f64,
}

/// The server process's figures from `/proc`, as the standard `process_*`
/// families of Prometheus' client libraries name them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProcessFigures {
    /// User + system CPU time of every thread, mediasoup workers included.
    pub cpu: Duration,
    /// Resident set size, bytes.
    pub resident_bytes: u64,
    /// Virtual memory size, bytes.
    pub virtual_bytes: u64,
    /// Open file descriptors.
    pub open_fds: u64,
    /// The soft limit on open file descriptors; `None` when unlimited.
    pub max_fds: Option<u64>,
    /// When the process started, since the Unix epoch.
    pub start_time: Duration,
}

/// The reverse DNS service's counts since start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RdnsFigures {
    /// Lookups that found a name.
    pub names: u64,
    /// Lookups that found that the address has no name.
    pub no_names: u64,
    /// Lookups that failed.
    pub errors: u64,
    /// Lookups that took longer than the timeout.
    pub timeouts: u64,
    /// Addresses not looked up because the cache was full.
    pub dropped: u64,
    /// Addresses in the cache now.
    pub cache_entries: u64,
}
