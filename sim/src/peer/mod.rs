//! The synthetic peer: one browserless WebRTC participant.
//!
//! A [`Peer`] speaks the server's socket.io signaling exactly as a browser
//! client would (see `docs/design.md`, "Signaling") and sends and receives
//! real media through str0m (RTP mode, direct API): ICE controlling against
//! mediasoup's ICE-lite candidate, DTLS client, SRTP. Its transports sit
//! on UDP sockets shared with other peers' transports (see `hub`). It publishes Opus (50 packets/s at a
//! configurable bitrate) and VP8 (configurable bitrate and frame rate,
//! keyframes on a schedule and on PLI/FIR; optionally as three simulcast
//! layers, see [`layer_bitrates`]), accepts every consumer the server
//! offers (asking for [`PeerConfig::preferred_layer`] on simulcast ones)
//! and counts what each one delivers in [`PeerStats`]. On the
//! wire it behaves like a browser ([`WireFeatures`]): RTX resends on NACK,
//! transport-cc feedback, paced video.
//!
//! Every peer is a few tokio tasks (signaling, its session) on the
//! caller's runtime, and its two transports run on the thread's hubs: no
//! thread, and no task, per transport.
//!
//! ```no_run
//! # async fn demo() -> Result<(), ejtimaa_sim::peer::PeerError> {
//! use ejtimaa_sim::peer::{Peer, PeerConfig};
//!
//! let peer = Peer::spawn("http://127.0.0.1:3443", PeerConfig::new("room1", "alice")).await?;
//! tokio::time::sleep(std::time::Duration::from_secs(5)).await;
//! println!("{:?}", peer.stats().snapshot().received);
//! peer.leave().await;
//! # Ok(())
//! # }
//! ```
//!
//! Files: `negotiate` (capabilities and RTP parameters), `offer` (what a
//! consumer will carry), `media` (packetisation and pacing), `outgoing` (a
//! published stream), `endpoint` (a str0m endpoint against a mediasoup
//! transport), `driver` (one transport, sans IO), `hub` (a shared socket
//! and the task that drives its transports), `seat` (which hub a transport
//! sits on), `probes` (mediasoup's bandwidth probes), `udp_batch` (several
//! datagrams per system call), `session` (signaling), `stats` (counters).

mod config;
mod driver;
mod dtls;
mod endpoint;
mod error;
mod hub;
pub mod media;
mod negotiate;
mod offer;
mod opus;
mod outgoing;
mod probes;
mod publish;
mod seat;
pub mod seqs;
mod session;
mod stats;
mod udp_batch;
mod vp8;

pub use config::{
    DEFAULT_AUDIO_BITRATE, PeerConfig, SIMULCAST_LAYERS, WireFeatures, layer_bitrates,
};
pub use error::PeerError;
pub use stats::{
    ConsumerSnapshot, Counts, MediaKind, PeerStats, PeerStatsSnapshot, ProducerLayer,
    ProducerSnapshot, ReceivedSeqs,
};

use crate::signaling::{Client, Landed};
use session::Tasks;

/// Does the process's one-time crypto set-up now (the DTLS certificate
/// every transport shares, and with it the seeding of the random number
/// generator, tens of milliseconds on a virtual machine), so that it
/// stalls no join that is being timed.
pub fn prepare() {
    endpoint::shared_dtls_cert();
}

/// A running synthetic peer.
///
/// Dropping it is an abrupt leave (like [`Peer::abort`]): the signaling
/// socket and the media tasks just stop.
pub struct Peer {
    config: PeerConfig,
    client: Client,
    stats: PeerStats,
    tasks: Tasks,
}

impl std::fmt::Debug for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peer")
            .field("room_id", &self.config.room_id)
            .field("peer_id", &self.config.peer_id)
            .finish_non_exhaustive()
    }
}

impl Peer {
    /// Connects to the server at `server_url` (e.g. `http://127.0.0.1:3443`),
    /// creates and connects its transports, joins and produces. Returns once
    /// the producers exist; media starts as soon as ICE and DTLS complete
    /// (milliseconds on loopback). Must run inside a tokio runtime with the
    /// time and net drivers enabled.
    pub async fn spawn(server_url: &str, config: PeerConfig) -> Result<Peer, PeerError> {
        // Idempotent: the first call installs aws-lc-rs for the process.
        str0m::crypto::from_feature_flags().install_process_default();
        let stats = PeerStats::default();
        let established = session::establish(server_url, &config, &stats).await?;
        tracing::info!(peer = %config.peer_id, room = %config.room_id, "sim peer up");
        Ok(Peer {
            config,
            client: established.client,
            stats,
            tasks: established.tasks,
        })
    }

    /// Its configuration.
    pub fn config(&self) -> &PeerConfig {
        &self.config
    }

    /// Its peer id.
    pub fn id(&self) -> &str {
        &self.config.peer_id
    }

    /// Where its signaling connected, after any cluster redirects.
    pub fn landed(&self) -> &Landed {
        self.client.landed()
    }

    /// Its live counters (a shared handle; take a snapshot to read).
    pub fn stats(&self) -> PeerStats {
        self.stats.clone()
    }

    /// Leaves cleanly: a socket.io disconnect the server sees at once, then
    /// the media stops.
    pub async fn leave(self) {
        self.client.disconnect().await;
        tracing::info!(peer = %self.config.peer_id, "sim peer left");
        drop(self);
    }

    /// Leaves abruptly, like a crashed tab: the connection just drops (the
    /// server notices through the closed socket) and so does the media.
    pub fn abort(self) {
        self.client.abort();
        tracing::info!(peer = %self.config.peer_id, "sim peer aborted");
        drop(self);
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        // Tasks abort on their own drop; the connection ends with the last
        // `Client` handle. Said here so that the order is deliberate: media
        // stops no later than signaling.
        self.tasks.abort_all();
    }
}
