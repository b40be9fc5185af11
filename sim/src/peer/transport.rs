//! One WebRTC transport of a peer: a str0m `Rtc` (RTP mode, direct API)
//! against one mediasoup WebRtcTransport, over its own UDP socket on
//! 127.0.0.1, driven by a tokio task.
//!
//! mediasoup is ICE-lite, so we are ICE controlling and nominate; we are
//! the DTLS client, so `connectWebRtcTransport` says role `client` and
//! mediasoup serves.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use str0m::config::Fingerprint;
use str0m::ice::IceCreds;
use str0m::media::{KeyframeRequestKind, MediaKind as StrKind, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{RtpWrite, SeqNo, Ssrc};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcConfig};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

use super::error::PeerError;
use super::media::{AudioSource, RtpOut, VideoSource};
use super::stats::{ConsumerCounters, MediaKind, PeerStats};

/// Longest sleep between two looks at the clock: keeps the loop responsive
/// even if str0m asks to be woken much later.
const MAX_WAIT: Duration = Duration::from_millis(100);
/// A burst of PLIs (one per new consumer) needs only one keyframe.
const MIN_KEYFRAME_GAP: Duration = Duration::from_millis(250);

/// mediasoup's side of a transport, from `createWebRtcTransport`.
#[derive(Debug, Clone)]
pub struct RemoteTransport {
    /// Transport id.
    pub id: String,
    ice_ufrag: String,
    ice_pwd: String,
    /// Its UDP candidate.
    candidate: SocketAddr,
    /// Its sha-256 certificate fingerprint.
    fingerprint: Vec<u8>,
}

fn parse_fingerprint(hex: &str) -> Option<Vec<u8>> {
    let bytes = hex
        .split(':')
        .map(|b| u8::from_str_radix(b, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    (bytes.len() == 32).then_some(bytes)
}

impl RemoteTransport {
    /// Reads `createWebRtcTransport`'s reply.
    pub fn parse(reply: &Value) -> Result<Self, PeerError> {
        let what = "createWebRtcTransport";
        let s = |v: &Value, name: &str| -> Result<String, PeerError> {
            v.as_str()
                .map(str::to_string)
                .ok_or_else(|| PeerError::bad(what, format!("no `{name}`")))
        };
        let candidate = reply["iceCandidates"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["protocol"].as_str() == Some("udp"))
            .find_map(|c| {
                let ip = c["address"].as_str().or(c["ip"].as_str())?.parse().ok()?;
                let port = c["port"].as_u64().and_then(|p| u16::try_from(p).ok())?;
                Some(SocketAddr::new(ip, port))
            })
            .ok_or_else(|| PeerError::bad(what, "no UDP candidate"))?;
        let fingerprint = reply["dtlsParameters"]["fingerprints"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|f| f["algorithm"].as_str() == Some("sha-256"))
            .find_map(|f| parse_fingerprint(f["value"].as_str()?))
            .ok_or_else(|| PeerError::bad(what, "no sha-256 fingerprint"))?;
        Ok(RemoteTransport {
            id: s(&reply["id"], "id")?,
            ice_ufrag: s(
                &reply["iceParameters"]["usernameFragment"],
                "usernameFragment",
            )?,
            ice_pwd: s(&reply["iceParameters"]["password"], "password")?,
            candidate,
            fingerprint,
        })
    }
}

/// Which transport a task drives (for logs and counters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Carries our producers.
    Send,
    /// Carries our consumers.
    Recv,
}

/// A str0m endpoint wired against one mediasoup transport, not yet running.
pub struct Endpoint {
    rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    direction: Direction,
}

impl Endpoint {
    /// Binds a loopback socket and sets up ICE and DTLS against `remote`.
    pub async fn new(
        config: RtcConfig,
        remote: &RemoteTransport,
        direction: Direction,
    ) -> Result<Self, PeerError> {
        let any: IpAddr = if remote.candidate.is_ipv4() {
            Ipv4Addr::UNSPECIFIED.into()
        } else {
            Ipv6Addr::UNSPECIFIED.into()
        };
        let socket = UdpSocket::bind(SocketAddr::new(any, 0)).await?;
        // Connecting picks the source address the kernel routes to the
        // server from (127.0.0.1 for a local one), which is the host
        // candidate str0m must announce; it also filters other senders.
        socket.connect(remote.candidate).await?;
        let local = socket.local_addr()?;
        let mut rtc = config
            .set_rtp_mode(true)
            .set_stats_interval(Some(Duration::from_secs(1)))
            .build(Instant::now());
        let rtc_err = |e: &dyn std::fmt::Display| PeerError::Rtc(e.to_string());
        let local_candidate = Candidate::host(local, "udp").map_err(|e| rtc_err(&e))?;
        rtc.add_local_candidate(local_candidate)
            .ok_or_else(|| PeerError::Rtc("local candidate refused".into()))?;
        rtc.add_remote_candidate(
            Candidate::host(remote.candidate, "udp").map_err(|e| rtc_err(&e))?,
        );
        {
            let mut api = rtc.direct_api();
            // mediasoup is ICE-lite (always controlled): we nominate.
            api.set_ice_controlling(true);
            api.set_remote_ice_credentials(IceCreds {
                ufrag: remote.ice_ufrag.clone(),
                pass: remote.ice_pwd.clone(),
            });
            api.set_remote_fingerprint(Fingerprint {
                hash_func: "sha-256".into(),
                bytes: remote.fingerprint.clone(),
            });
            // Active: we are the DTLS client.
            api.start_dtls(true).map_err(|e| rtc_err(&e))?;
        }
        Ok(Endpoint {
            rtc,
            socket,
            local,
            direction,
        })
    }

    /// `connectWebRtcTransport`'s `dtlsParameters`: our fingerprint, and
    /// role `client` (we started DTLS active).
    pub fn dtls_parameters(&mut self) -> Value {
        let fp = self.rtc.direct_api().local_dtls_fingerprint().clone();
        let mut value = String::with_capacity(fp.bytes.len() * 3);
        for (i, b) in fp.bytes.iter().enumerate() {
            if i > 0 {
                value.push(':');
            }
            let _ = write!(value, "{b:02X}");
        }
        json!({
            "role": "client",
            "fingerprints": [{ "algorithm": fp.hash_func, "value": value }],
        })
    }

    /// Declares a stream we will send: a media section `mid` and its SSRC.
    /// Returns the SSRC (str0m picks a random one).
    pub fn declare_send(&mut self, mid: &str, kind: MediaKind) -> u32 {
        let mut api = self.rtc.direct_api();
        let ssrc = api.new_ssrc();
        let mid = Mid::from(mid);
        api.declare_media(mid, str_kind(kind));
        // No RTX SSRC, and `config_with` gives no codec an RTX payload
        // type: str0m then caches nothing for resends and never sends RTX,
        // matching `produce`, which announces none.
        api.declare_stream_tx(ssrc, None, mid, None);
        *ssrc
    }
}

fn str_kind(kind: MediaKind) -> StrKind {
    match kind {
        MediaKind::Audio => StrKind::Audio,
        MediaKind::Video => StrKind::Video,
    }
}

/// A stream we publish, with its generator.
pub enum Outgoing {
    /// Opus.
    Audio {
        /// str0m's SSRC for it.
        ssrc: u32,
        /// Payload type.
        pt: u8,
        /// The generator.
        source: AudioSource,
    },
    /// VP8.
    Video {
        /// str0m's SSRC for it.
        ssrc: u32,
        /// Its mid, to match keyframe requests.
        mid: String,
        /// Payload type.
        pt: u8,
        /// The generator.
        source: VideoSource,
        /// When the last keyframe was forced by a request.
        last_forced: Option<Instant>,
    },
}

impl Outgoing {
    fn next_due(&self) -> Instant {
        match self {
            Outgoing::Audio { source, .. } => source.next_due(),
            Outgoing::Video { source, .. } => source.next_due(),
        }
    }
}

/// What the session tells the receiving task.
#[derive(Debug)]
pub enum Command {
    /// Expect this consumer's SSRC on its mid; answers once str0m knows it.
    AddConsumer {
        /// The consumer's counters (id, kind, SSRC).
        counters: Arc<ConsumerCounters>,
        /// Its mid.
        mid: String,
        /// Done.
        done: oneshot::Sender<()>,
    },
    /// Forget a consumer's SSRC (it was closed).
    RemoveConsumer {
        /// Its SSRC.
        ssrc: u32,
    },
}

/// The running state of one transport task.
pub struct Driver {
    endpoint: Endpoint,
    stats: PeerStats,
    peer: String,
    outgoing: Vec<Outgoing>,
    commands: mpsc::Receiver<Command>,
    /// Consumers by SSRC.
    consumers: HashMap<u32, Arc<ConsumerCounters>>,
    connected: bool,
}

impl Driver {
    /// A driver for `endpoint`; `outgoing` are the streams to publish once
    /// connected; `commands` ends the task when its sender is dropped.
    pub fn new(
        endpoint: Endpoint,
        stats: PeerStats,
        peer: String,
        outgoing: Vec<Outgoing>,
        commands: mpsc::Receiver<Command>,
    ) -> Self {
        Driver {
            endpoint,
            stats,
            peer,
            outgoing,
            commands,
            consumers: HashMap::new(),
            connected: false,
        }
    }

    /// Runs until the session drops its command sender, str0m fails, or
    /// the task is aborted.
    pub async fn run(mut self) {
        let dir = self.endpoint.direction;
        let mut buf = vec![0u8; 2000];
        loop {
            let Some(timeout) = self.drain_output() else {
                return;
            };
            if !self.endpoint.rtc.is_alive() {
                tracing::debug!(peer = %self.peer, ?dir, "rtc closed");
                return;
            }
            let now = Instant::now();
            if self.connected && self.write_due_media(now) {
                // Let str0m move the queued packets out now, then loop to
                // transmit them.
                self.input(Input::Timeout(now));
                continue;
            }
            let mut deadline = timeout.min(now + MAX_WAIT);
            if self.connected {
                for o in &self.outgoing {
                    deadline = deadline.min(o.next_due());
                }
            }
            let socket = &self.endpoint.socket;
            tokio::select! {
                received = socket.recv_from(&mut buf) => match received {
                    Ok((n, source)) => {
                        let destination = self.endpoint.local;
                        // Anything str0m cannot classify (not STUN, DTLS,
                        // RTP or RTCP) is dropped, as a browser would.
                        if let Ok(contents) = buf[..n].try_into() {
                            let r = Receive { proto: Protocol::Udp, source, destination, contents };
                            self.input(Input::Receive(Instant::now(), r));
                        }
                    }
                    Err(e) => {
                        // ICMP "port unreachable" shows up as an error on
                        // Linux; the server may come back, so keep going.
                        tracing::debug!(peer = %self.peer, ?dir, "udp recv: {e}");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                },
                command = self.commands.recv() => match command {
                    Some(c) => self.command(c),
                    None => {
                        self.endpoint.rtc.disconnect();
                        let _ = self.drain_output();
                        return;
                    }
                },
                () = tokio::time::sleep_until(deadline.into()) => {
                    self.input(Input::Timeout(Instant::now()));
                }
            }
        }
    }

    fn input(&mut self, input: Input<'_>) {
        if let Err(e) = self.endpoint.rtc.handle_input(input) {
            tracing::debug!(peer = %self.peer, dir = ?self.endpoint.direction, "str0m input: {e}");
        }
    }

    /// Sends what str0m wants sent and handles its events; returns when it
    /// next wants to be woken, or `None` if it failed.
    fn drain_output(&mut self) -> Option<Instant> {
        loop {
            match self.endpoint.rtc.poll_output() {
                Ok(Output::Timeout(t)) => return Some(t),
                Ok(Output::Transmit(t)) => {
                    // A full socket buffer drops the datagram, like a
                    // congested network would; never block the loop on it.
                    let _ = self.endpoint.socket.try_send_to(&t.contents, t.destination);
                }
                Ok(Output::Event(e)) => self.event(e),
                Err(e) => {
                    tracing::warn!(peer = %self.peer, dir = ?self.endpoint.direction, "str0m failed: {e}");
                    return None;
                }
            }
        }
    }

    fn event(&mut self, event: Event) {
        let dir = self.endpoint.direction;
        let stats = &self.stats.inner;
        match event {
            Event::Connected => {
                tracing::debug!(peer = %self.peer, ?dir, "connected (ICE + DTLS + SRTP)");
                self.connected = true;
                let flag = match dir {
                    Direction::Send => &stats.send_connected,
                    Direction::Recv => &stats.recv_connected,
                };
                flag.store(true, Ordering::Relaxed);
                // Start the media clocks now, not at creation, so that the
                // first frames are not a backlog.
                let now = Instant::now();
                for o in &mut self.outgoing {
                    match o {
                        Outgoing::Audio { source, .. } => source.restart(now),
                        Outgoing::Video { source, .. } => source.restart(now),
                    }
                }
            }
            Event::IceConnectionStateChange(state) => {
                tracing::debug!(peer = %self.peer, ?dir, ?state, "ICE state");
                if state == IceConnectionState::Disconnected {
                    tracing::warn!(peer = %self.peer, ?dir, "ICE disconnected");
                }
            }
            Event::RtpPacket(p) => {
                let len = p.payload.len();
                stats.received.add(len);
                match self.consumers.get(&*p.header.ssrc) {
                    Some(c) => c.received.add(len),
                    None => {
                        stats.unknown_ssrc_packets.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            Event::KeyframeRequest(r) => {
                stats.keyframe_requests.fetch_add(1, Ordering::Relaxed);
                let now = Instant::now();
                for o in &mut self.outgoing {
                    if let Outgoing::Video {
                        mid,
                        source,
                        last_forced,
                        ..
                    } = o
                        && Mid::from(mid.as_str()) == r.mid
                    {
                        // A FIR is always honoured; PLIs are coalesced.
                        let recent = last_forced.is_some_and(|t| now - t < MIN_KEYFRAME_GAP);
                        if r.kind == KeyframeRequestKind::Fir || !recent {
                            source.request_keyframe();
                            *last_forced = Some(now);
                        }
                    }
                }
            }
            _ => {}
        }
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::AddConsumer {
                counters,
                mid,
                done,
            } => {
                let mid = Mid::from(mid.as_str());
                // A mid is never reused by mediasoup; if it somehow is, the
                // media section is already there and only the SSRC is new.
                let missing = self.endpoint.rtc.media(mid).is_none();
                let mut api = self.endpoint.rtc.direct_api();
                if missing {
                    api.declare_media(mid, str_kind(counters.kind));
                }
                api.expect_stream_rx(counters.ssrc.into(), None, mid, None);
                self.consumers.insert(counters.ssrc, counters);
                let _ = done.send(());
            }
            Command::RemoveConsumer { ssrc } => {
                self.consumers.remove(&ssrc);
                self.endpoint
                    .rtc
                    .direct_api()
                    .remove_stream_rx(Ssrc::from(ssrc));
            }
        }
    }

    /// Writes every packet that is due; whether any was.
    fn write_due_media(&mut self, now: Instant) -> bool {
        let stats = &self.stats.inner;
        let mut api = self.endpoint.rtc.direct_api();
        let mut wrote = false;
        for o in &mut self.outgoing {
            match o {
                Outgoing::Audio { ssrc, pt, source } => {
                    while let Some(p) = source.poll(now) {
                        let Some(stream) = api.stream_tx(&Ssrc::from(*ssrc)) else {
                            break;
                        };
                        stats.audio_sent.add(p.payload.len());
                        stream.write_rtp(rtp_write(*pt, now, p));
                        wrote = true;
                    }
                }
                Outgoing::Video {
                    ssrc, pt, source, ..
                } => {
                    while let Some(frame) = source.poll(now) {
                        let Some(stream) = api.stream_tx(&Ssrc::from(*ssrc)) else {
                            break;
                        };
                        if frame.keyframe {
                            stats.keyframes_sent.fetch_add(1, Ordering::Relaxed);
                        }
                        for p in frame.packets {
                            stats.video_sent.add(p.payload.len());
                            stream.write_rtp(rtp_write(*pt, now, p).nackable(true));
                        }
                        wrote = true;
                    }
                }
            }
        }
        wrote
    }
}

fn rtp_write(pt: u8, now: Instant, p: RtpOut) -> RtpWrite {
    RtpWrite::new(
        Pt::from(pt),
        SeqNo::from(p.seq),
        p.timestamp,
        now,
        p.payload,
    )
    .marker(p.marker)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_transport_and_refuses_garbage() {
        let fp = vec!["AB"; 32].join(":");
        let good = json!({
            "id": "t1",
            "iceParameters": { "usernameFragment": "u", "password": "p", "iceLite": true },
            "iceCandidates": [
                { "protocol": "tcp", "address": "127.0.0.1", "port": 1 },
                { "protocol": "udp", "address": "127.0.0.1", "port": 40000 }
            ],
            "dtlsParameters": { "role": "auto", "fingerprints": [
                { "algorithm": "sha-512", "value": "00" },
                { "algorithm": "sha-256", "value": fp }
            ] }
        });
        let t = RemoteTransport::parse(&good).unwrap();
        assert_eq!(t.candidate, "127.0.0.1:40000".parse().unwrap());
        assert_eq!(t.fingerprint, vec![0xab; 32]);
        for bad in [
            json!(null),
            json!({ "id": "t1" }),
            json!({ "id": 5, "iceCandidates": "x" }),
        ] {
            assert!(RemoteTransport::parse(&bad).is_err(), "{bad}");
        }
        let mut short = good.clone();
        short["dtlsParameters"]["fingerprints"][1]["value"] = json!("AB:CD");
        assert!(RemoteTransport::parse(&short).is_err());
        let mut tcp_only = good;
        tcp_only["iceCandidates"] =
            json!([{ "protocol": "tcp", "address": "127.0.0.1", "port": 1 }]);
        assert!(RemoteTransport::parse(&tcp_only).is_err());
    }
}
