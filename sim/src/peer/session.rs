//! The signaling side of a peer, in the order a browser client of this
//! server goes: connect, router capabilities, a sending and a receiving
//! transport (each connected with our DTLS fingerprint), `join`, `produce`;
//! then answering `newConsumer` and following closes until the end.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracing::Instrument as _;

use super::config::{PeerConfig, SIMULCAST_LAYERS};
use super::driver::{Command, Driver};
use super::endpoint::{Direction, Endpoint, RemoteTransport};
use super::error::PeerError;
use super::negotiate::RouterCaps;
use super::offer::ConsumerOffer;
use super::publish;
use super::seat::{Link, Seat, Stopper};
use super::stats::{ConsumerCounters, MediaKind, PeerStats, ProducerLayer, ProducerSnapshot};
use crate::rng::{Rng, seed_from};
use crate::signaling::{AckResponder, Client, ConnectOptions, Incoming, ServerMessage};

/// How long the receiving task may take to register a consumer's SSRC.
const REGISTER_TIMEOUT: Duration = Duration::from_secs(5);
/// Tasks and transports that die with their owner: stopped on drop.
#[derive(Default)]
pub struct Tasks {
    tasks: Vec<JoinHandle<()>>,
    transports: Vec<Stopper>,
}

impl Tasks {
    fn spawn(&mut self, task: impl Future<Output = ()> + Send + 'static) {
        self.tasks.push(tokio::spawn(task));
    }

    /// Aborts every task (they stop at their next await point) and drops
    /// every transport from its hub without a word, like a crashed tab.
    pub fn abort_all(&self) {
        for t in &self.transports {
            t.stop();
        }
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Drop for Tasks {
    fn drop(&mut self) {
        self.abort_all();
    }
}

/// A peer that has joined and produced, with its tasks running.
pub struct Established {
    /// The signaling connection.
    pub client: Client,
    /// Session and transport tasks.
    pub tasks: Tasks,
}

async fn request(client: &Client, method: &'static str, data: Value) -> Result<Value, PeerError> {
    client
        .request(method, data)
        .await?
        .map_err(|error| PeerError::Refused { method, error })
}

fn check(config: &PeerConfig) -> Result<(), PeerError> {
    let publishes_video = config.publish_video;
    if publishes_video && !(1..=120).contains(&config.video_fps) {
        return Err(PeerError::Config("video_fps must be 1 to 120".into()));
    }
    if publishes_video && config.video_bitrate < 8_000 {
        return Err(PeerError::Config(
            "video_bitrate must be at least 8000 bit/s".into(),
        ));
    }
    if config.preferred_layer >= SIMULCAST_LAYERS {
        return Err(PeerError::Config(format!(
            "preferred_layer must be below {SIMULCAST_LAYERS}"
        )));
    }
    if publishes_video && config.keyframe_interval.is_zero() {
        return Err(PeerError::Config(
            "keyframe_interval must not be zero".into(),
        ));
    }
    Ok(())
}

/// Runs the whole set-up; on success the peer's tasks are running.
pub async fn establish(
    url: &str,
    config: &PeerConfig,
    stats: &PeerStats,
) -> Result<Established, PeerError> {
    check(config)?;
    let peer = config.peer_id.clone();
    let query = [
        ("roomId", config.room_id.as_str()),
        ("peerId", config.peer_id.as_str()),
    ];
    let options = ConnectOptions {
        auth: config.token.as_ref().map(|token| json!({ "token": token })),
        tls: config.tls.clone(),
        ..ConnectOptions::default()
    };
    let (client, incoming) =
        Client::connect_with(url, &query, Some(&config.user_agent), options).await?;
    let caps = RouterCaps::parse(&request(&client, "getRouterRtpCapabilities", json!({})).await?)?
        .with_features(config.wire);
    // Fail before creating anything if a wanted codec is missing.
    if config.publish_audio {
        caps.codec(MediaKind::Audio)?;
    }
    if config.publish_video {
        caps.codec(MediaKind::Video)?;
    }

    let mut tasks = Tasks::default();
    let mut rng = Rng::new(seed_from(&peer));
    let mut published = Vec::new();
    let mut send_commands = None;
    let mut send_transport_id = None;
    if config.publish_audio || config.publish_video {
        let (remote, mut endpoint, seat) =
            create_transport(&client, &caps, Direction::Send).await?;
        let (outgoing, streams) =
            publish::declare(&mut endpoint, &caps, config, &mut rng, Instant::now())?;
        published = streams;
        connect_transport(&client, &remote, &mut endpoint).await?;
        let driver = Driver::new(endpoint, stats.clone(), peer.clone(), outgoing)
            .with_drop_every(config.drop_every)
            .silent(config.silent)
            .with_lose_every(config.lose_every);
        let link = seat.start(driver);
        tasks.transports.push(link.stopper());
        send_commands = Some(link);
        send_transport_id = Some(remote.id);
    }

    let mut recv_commands = None;
    if config.consume {
        let (remote, mut endpoint, seat) =
            create_transport(&client, &caps, Direction::Recv).await?;
        if config.wire.twcc {
            endpoint.enable_twcc_feedback();
        }
        connect_transport(&client, &remote, &mut endpoint).await?;
        let driver = Driver::new(endpoint, stats.clone(), peer.clone(), Vec::new());
        let link = seat.start(driver);
        tasks.transports.push(link.stopper());
        recv_commands = Some(link);
    }

    let mut join = json!({
        "displayName": config.display_name,
        "device": { "flag": "ejtimaa-sim", "name": "ejtimaa-sim", "version": env!("CARGO_PKG_VERSION") },
    });
    // Without capabilities the server offers us nothing, which is what a
    // peer that does not consume wants.
    if config.consume {
        join["rtpCapabilities"] = caps.receive_capabilities();
    }
    let joined = request(&client, "join", join).await?;
    tracing::debug!(peer = %peer, others = joined["peers"].as_array().map_or(0, Vec::len), "joined");

    // The session starts reading before we produce: `newConsumer` requests
    // for the others' producers are already on their way.
    let session = Session {
        peer: peer.clone(),
        client: client.clone(),
        preferred_layer: config.preferred_layer,
        requests: tokio::task::JoinSet::new(),
        caps: caps.clone(),
        stats: stats.clone(),
        recv: recv_commands,
        _send: send_commands,
    };
    let span = tracing::debug_span!("session", peer = %peer);
    tasks.spawn(session.run(incoming).instrument(span));

    if let Some(transport_id) = send_transport_id {
        let cname = format!("ejtimaa-sim-{peer}");
        for (kind, mid, encodings) in published {
            let source = match kind {
                MediaKind::Audio => "mic",
                MediaKind::Video => "webcam",
            };
            let data = json!({
                "transportId": transport_id,
                "kind": kind.as_str(),
                "rtpParameters": caps.producer_parameters_of(kind, mid, &encodings, &cname)?,
                "appData": { "source": source },
            });
            let reply = request(&client, "produce", data).await?;
            let id = reply["id"]
                .as_str()
                .ok_or_else(|| PeerError::bad("produce", "no producer `id`"))?;
            let ssrc = encodings.first().map_or(0, |e| e.ssrc);
            tracing::debug!(peer = %peer, producer = id, %kind, ssrc, streams = encodings.len(), "producing");
            let layers = match encodings.len() {
                1 => Vec::new(),
                _ => encodings
                    .iter()
                    .map(|e| ProducerLayer {
                        ssrc: e.ssrc,
                        next_seq: None,
                    })
                    .collect(),
            };
            stats.add_producer(ProducerSnapshot::new(id, kind, ssrc, layers));
        }
    }
    Ok(Established { client, tasks })
}

/// `createWebRtcTransport`, a seat on a hub for it, and a str0m endpoint
/// wired against it.
async fn create_transport(
    client: &Client,
    caps: &RouterCaps,
    direction: Direction,
) -> Result<(RemoteTransport, Endpoint, Seat), PeerError> {
    let sending = direction == Direction::Send;
    let reply = request(
        client,
        "createWebRtcTransport",
        json!({ "forceTcp": false, "producing": sending, "consuming": !sending }),
    )
    .await?;
    let remote = RemoteTransport::parse(&reply)?;
    let config = if sending {
        caps.send_config()
    } else {
        // Harmless without transport-cc: no stream expects the probes then.
        super::probes::with_probe_codec(caps.receive_config())
    };
    let seat = Seat::take(remote.candidate)?;
    let endpoint = Endpoint::new(config, &remote, direction, seat.local())?;
    Ok((remote, endpoint, seat))
}

/// `connectWebRtcTransport`, before any packet flows: mediasoup must know
/// our role and fingerprint when our DTLS ClientHello arrives.
async fn connect_transport(
    client: &Client,
    remote: &RemoteTransport,
    endpoint: &mut Endpoint,
) -> Result<(), PeerError> {
    let data = json!({ "transportId": remote.id, "dtlsParameters": endpoint.dtls_parameters() });
    request(client, "connectWebRtcTransport", data).await?;
    Ok(())
}

/// Follows the server's messages for the life of the connection.
struct Session {
    peer: String,
    /// For requests of our own (`setConsumerPreferredLayers`).
    client: Client,
    /// The spatial layer asked for on simulcast consumers.
    preferred_layer: u8,
    /// Requests under way, sent off the message loop (their acks arrive
    /// through it); aborted with the session.
    requests: tokio::task::JoinSet<()>,
    caps: RouterCaps,
    stats: PeerStats,
    /// Commands to the receiving transport; dropping it closes that
    /// transport.
    recv: Option<Link>,
    /// Held only so that the sending transport lives as long as the
    /// session.
    _send: Option<Link>,
}

impl Session {
    async fn run(mut self, mut incoming: Incoming) {
        while let Some(message) = incoming.recv().await {
            match message {
                ServerMessage::Request(r) => {
                    if r.method == "newConsumer" {
                        self.new_consumer(&r.data, r.responder).await;
                    } else {
                        tracing::debug!(method = %r.method, "unknown server request");
                        let error = json!(format!("unsupported request `{}`", r.method));
                        let _ = r.responder.err(error).await;
                    }
                }
                ServerMessage::Notification { method, data } => {
                    self.notification(&method, &data).await;
                }
                ServerMessage::Event { event, ack, .. } => {
                    tracing::debug!(%event, "unexpected server event");
                    if let Some(ack) = ack {
                        let _ = ack.err(json!(format!("unsupported event `{event}`"))).await;
                    }
                }
                ServerMessage::Disconnected(reason) => {
                    tracing::debug!(peer = %self.peer, %reason, "signaling ended");
                    self.stats.set_disconnected(reason.to_string());
                    break;
                }
            }
        }
        // Dropping the links here closes the transports: a peer whose
        // signaling is gone is gone.
    }

    /// Registers the consumer's SSRC with the receiving task, then accepts
    /// (`cb(null)`), so that the server resumes it only once we listen.
    async fn new_consumer(&mut self, data: &Value, responder: AckResponder) {
        match self.add_consumer(data).await {
            Ok(counters) => {
                let _ = responder.send(vec![Value::Null]).await;
                if counters.simulcast {
                    self.prefer_layer(counters);
                }
            }
            Err(reason) => {
                tracing::warn!(peer = %self.peer, "refusing newConsumer: {reason}");
                let _ = responder.err(json!(reason)).await;
            }
        }
    }

    /// Asks for our preferred spatial layer on a simulcast consumer, as an
    /// app does after `newConsumer`; the counters remember it once the
    /// server accepted.
    fn prefer_layer(&mut self, counters: Arc<ConsumerCounters>) {
        // Reap finished requests so that the set stays small.
        while self.requests.try_join_next().is_some() {}
        let client = self.client.clone();
        let layer = self.preferred_layer;
        let peer = self.peer.clone();
        self.requests.spawn(async move {
            let data = json!({ "consumerId": counters.id, "spatialLayer": layer });
            match request(&client, "setConsumerPreferredLayers", data).await {
                Ok(_) => counters
                    .preferred_layer
                    .store(u64::from(layer), Ordering::Relaxed),
                Err(e) => {
                    tracing::warn!(peer = %peer, consumer = %counters.id, "setConsumerPreferredLayers: {e}")
                }
            }
        });
    }

    async fn add_consumer(&mut self, data: &Value) -> Result<Arc<ConsumerCounters>, String> {
        let offer = ConsumerOffer::parse(data).map_err(|e| e.to_string())?;
        let recv = self.recv.as_ref().ok_or("this peer does not consume")?;
        offer.check(&self.caps)?;
        if self.stats.consumer(&offer.id).is_some() {
            return Err(format!("consumer {} offered twice", offer.id));
        }
        let mut counters = ConsumerCounters::new(
            offer.id.clone(),
            offer.producer_id.clone(),
            offer.peer_id.clone(),
            offer.kind,
            offer.ssrc,
        );
        counters.simulcast = data["type"].as_str() == Some("simulcast");
        let counters = Arc::new(counters);
        if data["producerPaused"].as_bool() == Some(true) {
            counters.paused.store(true, Ordering::Relaxed);
        }
        let (done, registered) = oneshot::channel();
        let command = Command::AddConsumer {
            counters: Arc::clone(&counters),
            mid: offer.mid.clone(),
            rtx_ssrc: offer.rtx_ssrc,
            done,
        };
        if !recv.send(command) {
            return Err("the receiving transport is gone".into());
        }
        match tokio::time::timeout(REGISTER_TIMEOUT, registered).await {
            Ok(Ok(())) => {}
            _ => return Err("the receiving transport did not register the consumer".into()),
        }
        tracing::debug!(
            peer = %self.peer, consumer = %offer.id, from = %offer.peer_id,
            kind = %offer.kind, ssrc = offer.ssrc, mid = %offer.mid, "consuming"
        );
        self.stats.add_consumer(Arc::clone(&counters));
        Ok(counters)
    }

    async fn notification(&mut self, method: &str, data: &Value) {
        let str_of = |key: &str| data[key].as_str().unwrap_or_default();
        match method {
            "consumerClosed" => self.close_consumer(str_of("consumerId")).await,
            "peerClosed" => {
                let gone = str_of("peerId");
                tracing::debug!(peer = %self.peer, gone, "peer closed");
                for id in self.stats.open_consumers_of(gone) {
                    self.close_consumer(&id).await;
                }
            }
            "consumerPaused" | "consumerResumed" => {
                if let Some(c) = self.stats.consumer(str_of("consumerId")) {
                    c.paused
                        .store(method == "consumerPaused", Ordering::Relaxed);
                }
            }
            "consumerScore" => {
                let score = data["score"]["score"].as_u64();
                if let (Some(c), Some(s)) = (self.stats.consumer(str_of("consumerId")), score) {
                    c.score.store(s.min(10), Ordering::Relaxed);
                }
            }
            "producerScore" => {
                // One entry per encoding; the lowest is the stream's worst.
                let scores: Vec<u64> = data["score"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|s| s["score"].as_u64())
                    .collect();
                if let Some(&s) = scores.iter().min() {
                    let s = u8::try_from(s.min(10)).unwrap_or(10);
                    self.stats
                        .set_producer_score(str_of("producerId"), s, scores.len());
                }
            }
            _ => tracing::trace!(method, "notification"),
        }
    }

    async fn close_consumer(&mut self, id: &str) {
        let Some(c) = self.stats.consumer(id) else {
            return;
        };
        if c.closed.swap(true, Ordering::Relaxed) {
            return;
        }
        if let Some(recv) = &self.recv {
            recv.send(Command::RemoveConsumer { ssrc: c.ssrc });
        }
    }
}
