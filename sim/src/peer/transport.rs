//! One WebRTC transport of a peer: a str0m `Rtc` (RTP mode, direct API)
//! against one mediasoup WebRtcTransport, over its own UDP socket on
//! 127.0.0.1, driven by a tokio task.
//!
//! The endpoint itself is set up in `endpoint.rs`; this file runs it:
//! sockets in, str0m events, media out on schedule.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use str0m::media::{Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{RtpWrite, SeqNo, Ssrc};
use str0m::{Event, IceConnectionState, Input, Output};
use tokio::sync::{mpsc, oneshot};

use super::endpoint::{Direction, Endpoint, str_kind};
use super::media::RtpOut;
use super::outgoing::{Outgoing, egress_stats, keyframe_request};
use super::probes::PROBE_SSRC;
use super::seqs::{layer_tag, read_tag, write_tag};
use super::stats::{ConsumerCounters, PeerStats};
use super::udp_batch::{RECV_SLOTS, RecvBatch, SendBatch};

/// Longest sleep between two looks at the clock: keeps the loop responsive
/// even if str0m asks to be woken much later.
const MAX_WAIT: Duration = Duration::from_millis(100);
/// Most datagrams read in one wake-up before the loop looks at its timer
/// and commands again.
const RECV_BATCH: usize = 64;

/// What the session tells the receiving task.
#[derive(Debug)]
pub enum Command {
    /// Expect this consumer's SSRC on its mid; answers once str0m knows it.
    AddConsumer {
        /// The consumer's counters (id, kind, SSRC).
        counters: Arc<ConsumerCounters>,
        /// Its mid.
        mid: String,
        /// The SSRC of its retransmissions, if it has RTX.
        rtx_ssrc: Option<u32>,
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
    /// Per outgoing stream, where its next sequence number is published.
    next_seqs: Vec<Arc<AtomicU64>>,
    /// Drop every Nth generated packet instead of sending it (a known loss).
    drop_every: Option<u64>,
    /// Lose every Nth datagram once connected (a lossy link).
    lose_every: Option<u64>,
    /// Datagrams sent since connected.
    transmitted: u64,
    commands: mpsc::Receiver<Command>,
    /// Consumers by SSRC.
    consumers: HashMap<u32, Arc<ConsumerCounters>>,
    connected: bool,
    /// Datagrams str0m produced, sent together at the end of a wake-up.
    outbox: SendBatch,
    /// Buffers for reading several datagrams per system call.
    inbox: RecvBatch,
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
        let next_seqs = outgoing
            .iter()
            .map(|o| stats.next_seq_slot(o.ssrc()))
            .collect();
        Driver {
            endpoint,
            stats,
            peer,
            outgoing,
            next_seqs,
            drop_every: None,
            lose_every: None,
            transmitted: 0,
            commands,
            consumers: HashMap::new(),
            connected: false,
            outbox: SendBatch::default(),
            inbox: RecvBatch::default(),
        }
    }

    /// Sends no media when `silent` (set-up and RTCP only).
    pub fn silent(mut self, silent: bool) -> Self {
        if silent {
            self.outgoing.clear();
        }
        self
    }

    /// Drops every `n`th packet the sources generate (by sequence number)
    /// instead of sending it: a loss the delivered ratio must show.
    pub fn with_drop_every(mut self, n: Option<u32>) -> Self {
        self.drop_every = n.filter(|&n| n > 0).map(u64::from);
        self
    }

    /// Loses every `n`th datagram once connected, after str0m sent it: a
    /// lossy link the other end's NACKs (and our RTX) can repair.
    pub fn with_lose_every(mut self, n: Option<u32>) -> Self {
        self.lose_every = n.filter(|&n| n > 0).map(u64::from);
        self
    }

    /// Runs until the session drops its command sender, str0m fails, or
    /// the task is aborted.
    ///
    /// Cheap per packet, since a sim machine must load a server machine:
    /// one timer re-armed only when its deadline moves, every datagram
    /// waiting on the socket read in one wake-up, and what str0m wants sent
    /// handed to the kernel in one `sendmmsg` per wake-up.
    pub async fn run(mut self) {
        let dir = self.endpoint.direction;
        let timer = tokio::time::sleep(MAX_WAIT);
        tokio::pin!(timer);
        let mut armed: Option<Instant> = None;
        loop {
            let Some(timeout) = self.drain_output() else {
                self.flush();
                return;
            };
            self.flush();
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
            if timeout <= now {
                // Due already: no need to go through the timer.
                self.input(Input::Timeout(now));
                continue;
            }
            let mut deadline = timeout.min(now + MAX_WAIT);
            if self.connected {
                for o in &self.outgoing {
                    deadline = deadline.min(o.next_due());
                }
            }
            if armed != Some(deadline) {
                timer.as_mut().reset(deadline.into());
                armed = Some(deadline);
            }
            let socket = &self.endpoint.socket;
            tokio::select! {
                ready = socket.readable() => match ready {
                    Ok(()) => self.receive_waiting(),
                    Err(e) => {
                        tracing::debug!(peer = %self.peer, ?dir, "udp readable: {e}");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                },
                command = self.commands.recv() => match command {
                    Some(c) => self.command(c),
                    None => {
                        self.endpoint.rtc.disconnect();
                        let _ = self.drain_output();
                        self.flush();
                        return;
                    }
                },
                () = &mut timer => {
                    armed = None;
                    self.input(Input::Timeout(Instant::now()));
                }
            }
        }
    }

    /// Reads the datagrams waiting on the socket (at most [`RECV_BATCH`],
    /// a few per system call) into str0m, handling its output after each.
    fn receive_waiting(&mut self) {
        let (source, destination) = (self.endpoint.remote, self.endpoint.local);
        let mut inbox = std::mem::take(&mut self.inbox);
        let mut read = 0;
        while read < RECV_BATCH {
            let n = match inbox.recv(&self.endpoint.socket) {
                Ok(n) => n,
                // ICMP "port unreachable" shows up as an error on Linux
                // (once per datagram); the server may come back, so keep
                // going.
                Err(e) => {
                    tracing::debug!(peer = %self.peer, dir = ?self.endpoint.direction, "udp recv: {e}");
                    break;
                }
            };
            let now = Instant::now();
            for i in 0..n {
                // The socket is connected: every datagram is the server's.
                // Anything str0m cannot classify (not STUN, DTLS, RTP or
                // RTCP), or a truncated one, is dropped, as a browser would.
                if let Ok(contents) = inbox.datagram(i).try_into() {
                    let r = Receive {
                        proto: Protocol::Udp,
                        source,
                        destination,
                        contents,
                    };
                    self.input(Input::Receive(now, r));
                    if self.drain_output().is_none() {
                        break;
                    }
                }
            }
            read += n;
            if n < RECV_SLOTS {
                break;
            }
        }
        self.inbox = inbox;
    }

    /// Hands every datagram str0m produced since the last flush to the
    /// kernel at once.
    fn flush(&mut self) {
        if !self.outbox.is_empty() {
            self.outbox.flush(&self.endpoint.socket);
        }
    }

    fn input(&mut self, input: Input<'_>) {
        if let Err(e) = self.endpoint.rtc.handle_input(input) {
            tracing::debug!(peer = %self.peer, dir = ?self.endpoint.direction, "str0m input: {e}");
        }
    }

    /// Queues what str0m wants sent and handles its events; returns when
    /// it next wants to be woken, or `None` if it failed.
    fn drain_output(&mut self) -> Option<Instant> {
        loop {
            match self.endpoint.rtc.poll_output() {
                Ok(Output::Timeout(t)) => return Some(t),
                Ok(Output::Transmit(t)) => {
                    if self.connected {
                        self.transmitted += 1;
                        if self
                            .lose_every
                            .is_some_and(|n| self.transmitted.is_multiple_of(n))
                        {
                            continue;
                        }
                    }
                    if t.destination == self.endpoint.remote {
                        self.outbox.push(t.contents.into());
                    } else {
                        // Not the connected address (never, with one remote
                        // candidate): send it on its own. A full socket
                        // buffer drops the datagram, like a congested
                        // network would; never block the loop on it.
                        let _ = self.endpoint.socket.try_send_to(&t.contents, t.destination);
                    }
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
                let ssrc = *p.header.ssrc;
                match self.consumers.get(&ssrc) {
                    Some(c) => {
                        stats.received.add(len);
                        c.received.add(len);
                        if let Some(seq) = read_tag(&p.payload) {
                            c.seqs.insert(seq);
                        }
                    }
                    // A bandwidth probe: str0m has already counted it for
                    // transport-cc, and it carries no media.
                    None if ssrc == PROBE_SSRC => {
                        stats.probe_packets.fetch_add(1, Ordering::Relaxed);
                    }
                    None => {
                        stats.received.add(len);
                        stats.unknown_ssrc_packets.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            Event::MediaEgressStats(s) => {
                if let Some((resent, nacks)) = egress_stats(&mut self.outgoing, &s) {
                    stats.retransmissions.fetch_max(resent, Ordering::Relaxed);
                    stats.nacks_received.fetch_max(nacks, Ordering::Relaxed);
                }
            }
            Event::KeyframeRequest(r) => {
                stats.keyframe_requests.fetch_add(1, Ordering::Relaxed);
                keyframe_request(&mut self.outgoing, &r, Instant::now());
            }
            _ => {}
        }
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::AddConsumer {
                counters,
                mid,
                rtx_ssrc,
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
                api.expect_stream_rx(counters.ssrc.into(), rtx_ssrc.map(Ssrc::from), mid, None);
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
        let drop_every = self.drop_every;
        let dropped = |seq: u64| drop_every.is_some_and(|n| seq.is_multiple_of(n));
        for (o, next_seq) in self.outgoing.iter_mut().zip(&self.next_seqs) {
            match o {
                Outgoing::Audio { ssrc, pt, source } => {
                    while let Some(p) = source.poll(now) {
                        let Some(stream) = api.stream_tx(&Ssrc::from(*ssrc)) else {
                            break;
                        };
                        next_seq.store(p.seq + 1, Ordering::Relaxed);
                        if dropped(p.seq) {
                            continue;
                        }
                        stats.audio_sent.add(p.payload.len());
                        stream.write_rtp(rtp_write(*pt, now, p));
                        wrote = true;
                    }
                }
                Outgoing::Video {
                    ssrc,
                    pt,
                    source,
                    pacer,
                    written,
                    layer,
                    ..
                } => {
                    let Some(stream) = api.stream_tx(&Ssrc::from(*ssrc)) else {
                        continue;
                    };
                    while let Some(frame) = source.poll(now) {
                        if frame.keyframe {
                            stats.keyframes_sent.fetch_add(1, Ordering::Relaxed);
                        }
                        pacer.push(frame.packets);
                    }
                    while let Some(mut p) = pacer.pop(now) {
                        next_seq.store(p.seq + 1, Ordering::Relaxed);
                        if dropped(p.seq) {
                            continue;
                        }
                        if *layer > 0 {
                            // The receiver must know which layer's packet
                            // it got (see `seqs`).
                            write_tag(&mut p.payload, layer_tag(*layer, p.seq));
                        }
                        stats.video_sent.add(p.payload.len());
                        *written += 1;
                        stream.write_rtp(rtp_write(*pt, now, p).nackable(true));
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
