//! The sections of the configuration file, with their defaults.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// `[http]`: the signaling listener (socket.io on axum).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Address to bind.
    pub listen: IpAddr,
    /// Port to bind; 0 picks a free one (logged at start).
    pub port: u16,
    /// How long a client has to complete the TLS handshake, and then to send
    /// a request's headers (also how long an idle keep-alive connection stays
    /// open), in ms.
    pub header_timeout_ms: u64,
    /// How long a request may take until its response starts (ms); then it is
    /// answered 408 and the connection closed. socket.io long-polling GETs
    /// wait up to its 25 s ping interval, so this is at least 30 s.
    pub request_timeout_ms: u64,
    /// Serve HTTPS with these files; plain HTTP when absent.
    pub tls: Option<TlsConfig>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: LOOPBACK,
            port: 4443,
            header_timeout_ms: 10_000,
            request_timeout_ms: 60_000,
            tls: None,
        }
    }
}

/// `[http.tls]`, `[prometheus.tls]`: PEM certificate chain and private key,
/// read again on SIGHUP.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// Certificate chain (PEM).
    pub cert: PathBuf,
    /// Private key (PEM).
    pub key: PathBuf,
}

/// `[auth]`: join tokens. With a secret, every client must present a token
/// naming its room and peer id, signed with it (`ejtimaa token` mints them);
/// without one, signaling is open to whoever can reach it.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// The signing secret itself (at least 32 bytes). Prefer `secret_file`
    /// or the `EJTIMAA_AUTH_SECRET` environment variable; never printed.
    pub secret: Option<String>,
    /// A file holding the secret (one trailing newline is ignored).
    pub secret_file: Option<PathBuf>,
    /// Run without a secret even when signaling listens on a non-loopback
    /// address; refused otherwise, so that an open server is always a choice.
    pub allow_open: bool,
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("secret", &self.secret.as_ref().map(|_| ".."))
            .field("secret_file", &self.secret_file)
            .field("allow_open", &self.allow_open)
            .finish()
    }
}

/// mediasoup worker log level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum WorkerLogLevel {
    /// Everything.
    Debug,
    /// Warnings and errors.
    #[default]
    Warn,
    /// Errors only.
    Error,
    /// Nothing.
    None,
}

/// A codec the routers offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CodecName {
    /// Opus audio, 48 kHz stereo.
    Opus,
    /// VP8 video.
    Vp8,
    /// H.264 video (constrained baseline, packetization-mode 1).
    H264,
}

/// `[mediasoup]`: workers and media.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MediasoupConfig {
    /// Number of workers; one per CPU core when absent.
    pub num_workers: Option<usize>,
    /// Worker log level.
    pub log_level: WorkerLogLevel,
    /// IP the WebRTC transports listen on.
    pub rtc_listen_ip: IpAddr,
    /// Address (IP or host name) announced to clients instead of the listen IP,
    /// e.g. the public address behind NAT.
    pub announced_address: Option<String>,
    /// Lowest RTC port.
    pub rtc_min_port: u16,
    /// Highest RTC port.
    pub rtc_max_port: u16,
    /// When set, each worker runs one WebRtcServer on `webrtc_server_port + n`
    /// (n = worker index) instead of a port per transport from the range.
    pub webrtc_server_port: Option<u16>,
    /// Codecs the routers offer.
    pub codecs: Vec<CodecName>,
    /// Initial outgoing bitrate estimate of a WebRTC transport (bps).
    pub initial_available_outgoing_bitrate: u32,
    /// Cap on what one WebRTC transport may receive (bps); 0 means no cap.
    pub max_incoming_bitrate: u32,
}

impl Default for MediasoupConfig {
    fn default() -> Self {
        Self {
            num_workers: None,
            log_level: WorkerLogLevel::Warn,
            rtc_listen_ip: LOOPBACK,
            announced_address: None,
            rtc_min_port: 40000,
            rtc_max_port: 49999,
            webrtc_server_port: None,
            codecs: vec![CodecName::Opus, CodecName::Vp8, CodecName::H264],
            initial_available_outgoing_bitrate: 1_000_000,
            max_incoming_bitrate: 1_500_000,
        }
    }
}

/// `[prometheus]`: the exporter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrometheusConfig {
    /// Start the exporter.
    pub enabled: bool,
    /// Address to bind (the original bound every interface; we default to loopback).
    pub listen: IpAddr,
    /// Port to bind; 0 picks a free one (logged at start).
    pub port: u16,
    /// Mask addresses: `xx.xx.3.4:port`; IPv6 keeps its last two groups.
    pub deidentify: bool,
    /// Addresses as `ip:port`; when both this and `deidentify` are false,
    /// reverse DNS names (cached, never blocking a scrape).
    pub numeric: bool,
    /// Leave the `transport_id` and `id` labels empty.
    pub quiet: bool,
    /// Most characters of a label value taken from clients or the World (ids,
    /// display names, user agents, addresses); longer ones are cut, ending in `…`.
    pub label_value_max: usize,
    /// Per-stream series (`default`), per-room aggregates (`aggregated`) or `both`.
    pub metrics: MetricsSetting,
    /// When set, scrapes must send `Authorization: Bearer <secret>`.
    pub secret: Option<String>,
    /// How often mediasoup's stats are refreshed in the background (ms), in
    /// slices spread over the interval; 0 collects them at each scrape
    /// instead (the original's way).
    pub stats_interval_ms: u64,
    /// How long one stats fan-out waits for mediasoup (ms); late objects keep
    /// their previous values.
    pub stats_deadline_ms: u64,
    /// Most get_stats calls in flight at once.
    pub stats_concurrency: usize,
    /// gzip level for scrapers that accept it: 1 (fastest) to 9.
    pub gzip_level: u32,
    /// Scrapes that may wait for a render at once; more get a 503.
    pub max_concurrent_scrapes: usize,
    /// How long before a steady scraper's foretold scrape its body is
    /// rendered and compressed (ms); 0 renders every scrape on arrival.
    pub prepare_ahead_ms: u64,
    /// How long a reverse DNS answer is kept (s).
    pub dns_ttl_secs: u64,
    /// How long a reverse DNS lookup may take (ms).
    pub dns_timeout_ms: u64,
    /// Connections to the exporter open at once; more are refused.
    pub max_scrape_connections: usize,
    /// Connections to the exporter from one client address (IPv6: one /64).
    pub max_scrape_connections_per_ip: usize,
    /// Like `[http]`'s: TLS handshake, then request headers (ms).
    pub header_timeout_ms: u64,
    /// How long a scrape may take until its response starts (ms).
    pub request_timeout_ms: u64,
    /// Serve HTTPS with the signaling's certificate (`[http.tls]`).
    pub reuse_http_tls: bool,
    /// Serve HTTPS with these files; plain HTTP when absent (and
    /// `reuse_http_tls` is false).
    pub tls: Option<TlsConfig>,
}

impl Default for PrometheusConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: LOOPBACK,
            port: 8889,
            deidentify: false,
            numeric: false,
            quiet: false,
            label_value_max: ejtimaa_systems::export::DEFAULT_LABEL_VALUE_MAX,
            metrics: MetricsSetting::Default,
            secret: None,
            stats_interval_ms: 5000,
            stats_deadline_ms: 2000,
            stats_concurrency: 64,
            gzip_level: 1,
            max_concurrent_scrapes: 16,
            prepare_ahead_ms: 50,
            dns_ttl_secs: 300,
            dns_timeout_ms: 1000,
            max_scrape_connections: 64,
            max_scrape_connections_per_ip: 16,
            header_timeout_ms: 10_000,
            request_timeout_ms: 30_000,
            reuse_http_tls: false,
            tls: None,
        }
    }
}

/// `prometheus.metrics`: which stream families the exporter writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum MetricsSetting {
    /// One series per RTP stream: the original's families with its 13 labels,
    /// `_info`, and the detail families with identifying labels.
    #[default]
    Default,
    /// No per-peer labels: sum, count and the worst stream per room, role and kind.
    Aggregated,
    /// Both.
    Both,
}

impl From<MetricsSetting> for ejtimaa_systems::MetricsMode {
    fn from(setting: MetricsSetting) -> Self {
        match setting {
            MetricsSetting::Default => Self::Default,
            MetricsSetting::Aggregated => Self::Aggregated,
            MetricsSetting::Both => Self::Both,
        }
    }
}

/// `[admin]`: the interactive admin socket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// Listen on the admin socket.
    pub enabled: bool,
    /// Unix socket path (created with mode 0600), in a directory only the
    /// server's user may write (created with mode 0700 when missing).
    pub socket: PathBuf,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            socket: default_admin_socket(),
        }
    }
}

/// The default admin socket of this user: `admin.sock` in
/// `$XDG_RUNTIME_DIR/ejtimaa/` when the session has one, in `/run/ejtimaa/`
/// for root, else in `/tmp/ejtimaa-<uid>/`: a directory of its own, which
/// the server makes private.
fn default_admin_socket() -> PathBuf {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() };
    let dir = match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(runtime) => PathBuf::from(runtime).join("ejtimaa"),
        None if uid == 0 => PathBuf::from("/run/ejtimaa"),
        None => std::env::temp_dir().join(format!("ejtimaa-{uid}")),
    };
    dir.join("admin.sock")
}

/// `[rooms]`: rooms' lifecycle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoomsConfig {
    /// How long an empty room lives on before it closes (ms), so that a peer
    /// reconnecting quickly finds it.
    pub empty_grace_ms: u64,
    /// Consumers a room's router may carry before the room spreads: a peer
    /// placed after that gets a router of the room on another worker, and
    /// producers are piped between the room's routers. 0 keeps every room on
    /// one worker.
    pub consumers_per_router: usize,
}

impl Default for RoomsConfig {
    fn default() -> Self {
        Self {
            empty_grace_ms: 5000,
            consumers_per_router: 500,
        }
    }
}

/// `[limits]`: what clients may ask for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Peers in one room.
    pub max_peers_per_room: usize,
    /// Rooms open at once.
    pub max_rooms: usize,
    /// Largest signaling message (bytes); bigger ones are refused.
    pub max_message_bytes: usize,
    /// Transports one peer may hold.
    pub max_transports_per_peer: usize,
    /// How long one request may take (ms), mediasoup's answers included;
    /// also bounds opening a room and creating an offered consumer.
    pub request_timeout_ms: u64,
    /// Of those, how many it may create before `join` (the usual client
    /// creates its sending and receiving transports, then joins); 0 makes
    /// clients join first.
    pub max_transports_before_join: usize,
    /// Producers one peer may hold.
    pub max_producers_per_peer: usize,
    /// Connections to the signaling listener open at once (websockets
    /// included); more are refused.
    pub max_connections: usize,
    /// Connections to the signaling listener from one client address (IPv6:
    /// one /64).
    pub max_connections_per_ip: usize,
    /// Requests one socket may have unanswered at once.
    pub max_requests_in_flight: usize,
    /// Messages (answers, notifications, offers) waiting to be sent to one
    /// socket; a client that lets more pile up is not reading and is
    /// disconnected, since what it would miss cannot be replayed.
    pub max_queued_messages: usize,
    /// Longest string (or object key) anywhere in a request's data (bytes):
    /// display names, device fields, ids, RTP parameters.
    pub max_string_bytes: usize,
    /// Largest `appData` of a producer, as JSON (bytes).
    pub max_app_data_bytes: usize,
    /// Largest `device` description of a peer, as JSON (bytes).
    pub max_device_bytes: usize,
    /// Request rates per socket, by method family.
    pub rates: RatesConfig,
}

impl LimitsConfig {
    /// `request_timeout_ms` as a duration.
    pub fn request_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.request_timeout_ms)
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_peers_per_room: 100,
            max_rooms: 1000,
            max_message_bytes: 64 * 1024,
            max_transports_per_peer: 4,
            max_transports_before_join: 2,
            request_timeout_ms: 10_000,
            max_producers_per_peer: 8,
            max_connections: 10_000,
            max_connections_per_ip: 50,
            max_requests_in_flight: 64,
            max_queued_messages: 1024,
            max_string_bytes: 256,
            max_app_data_bytes: 1024,
            max_device_bytes: 1024,
            rates: RatesConfig::default(),
        }
    }
}

/// `[limits.rates]`: a token bucket per socket and method family; each
/// family's defaults are well above what a browser client sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RatesConfig {
    /// `getRouterRtpCapabilities`, `join`, `createWebRtcTransport`,
    /// `connectWebRtcTransport`, `produce` (a join sends about 8).
    pub setup: Rate,
    /// `closeProducer`, `pause*`, `resume*`, `setConsumerPreferredLayers`.
    pub control: Rate,
    /// `getTransportStats`, `getProducerStats`, `getConsumerStats` (the
    /// app's stats panel asks for every stream of the call every 2 s).
    pub stats: Rate,
    /// `restartIce`.
    pub ice_restart: Rate,
    /// `requestConsumerKeyFrame`.
    pub key_frame: Rate,
    /// `changeDisplayName` (each one is sent to every other peer).
    pub display_name: Rate,
}

impl Default for RatesConfig {
    fn default() -> Self {
        let rate = |per_sec, burst| Rate { per_sec, burst };
        Self {
            setup: rate(5.0, 30),
            control: rate(50.0, 200),
            stats: rate(200.0, 400),
            ice_restart: rate(1.0, 4),
            key_frame: rate(50.0, 200),
            display_name: rate(2.0, 5),
        }
    }
}

/// A token bucket's refill rate and size.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    /// Requests per second, sustained.
    pub per_sec: f64,
    /// Requests at once after a quiet spell (the bucket's size).
    pub burst: u32,
}
