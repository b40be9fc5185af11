//! One WebRTC transport of a peer, sans IO: a str0m `Rtc` (RTP mode,
//! direct API) against one mediasoup WebRtcTransport, the media it
//! publishes on schedule and the counters of what it receives.
//!
//! The driver owns no socket and no clock: the hub that carries it (see
//! `hub`) hands it each datagram from its server with the time, asks it to
//! advance when its deadline comes, and sends what it queued. The endpoint
//! itself is set up in `endpoint.rs`.

use rustc_hash::FxHashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use str0m::media::{Mid, Pt};
use str0m::net::{Protocol, Receive, Transmit};
use str0m::rtp::{RtpWrite, SeqNo, Ssrc};
use str0m::{Event, IceConnectionState, Input, Output};
use tokio::sync::oneshot;

use super::endpoint::{Direction, Endpoint, str_kind};
use super::media::RtpOut;
use super::outgoing::{Outgoing, egress_stats, keyframe_request};
use super::probes::PROBE_SSRC;
use super::seqs::{layer_tag, read_tag, write_tag};
use super::stats::{ConsumerCounters, PeerStats};
use super::udp_batch::SendBatch;

/// Longest wait between two advances: keeps a driver responsive even if
/// str0m asks to be woken much later.
const MAX_WAIT: Duration = Duration::from_millis(100);

/// What the session tells the receiving transport.
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

/// The state of one transport.
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
    /// Consumers by SSRC.
    consumers: FxHashMap<u32, Arc<ConsumerCounters>>,
    connected: bool,
}

impl Driver {
    /// A driver for `endpoint`; `outgoing` are the streams to publish once
    /// connected.
    pub fn new(
        endpoint: Endpoint,
        stats: PeerStats,
        peer: String,
        outgoing: Vec<Outgoing>,
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
            consumers: FxHashMap::default(),
            connected: false,
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

    /// The endpoint it drives (its addresses).
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Does what is due at `now`: str0m's timeouts and the media whose
    /// time has come, queuing what str0m wants sent in `out`. Returns when
    /// it next wants to advance, or `None` once it is finished (str0m
    /// failed or closed).
    pub fn advance(&mut self, mut now: Instant, out: &mut SendBatch) -> Option<Instant> {
        loop {
            let timeout = self.drain_output(out)?;
            if !self.endpoint.rtc.is_alive() {
                tracing::debug!(peer = %self.peer, dir = ?self.endpoint.direction, "rtc closed");
                return None;
            }
            if self.connected && self.write_due_media(now) {
                // Let str0m move the queued packets out now, then loop to
                // queue them.
                self.input(Input::Timeout(now));
                continue;
            }
            if timeout <= now {
                self.input(Input::Timeout(now));
                // str0m may ask again for the same instant; time moves on.
                now = Instant::now();
                continue;
            }
            let mut deadline = timeout.min(now + MAX_WAIT);
            if self.connected {
                for o in &self.outgoing {
                    deadline = deadline.min(o.next_due());
                }
            }
            return Some(deadline);
        }
    }

    /// Runs str0m's timers up to `now`, before the datagrams that arrived
    /// by then are handed over (see [`Driver::receive`]): str0m runs them
    /// with every datagram newer than its clock, so catching up first runs
    /// them once per wake-up instead of once per datagram. Nothing is
    /// judged early: a missing packet is only NACKed once a later one was
    /// handed over, and transport-cc reports what it was given so far.
    pub fn catch_up(&mut self, now: Instant) {
        self.input(Input::Timeout(now));
    }

    /// Hands str0m a datagram from the server that arrived at `arrived`
    /// (before its clock after [`Driver::catch_up`]: str0m then runs no
    /// timer for it) and takes the packet str0m holds for us, leaving what
    /// it wants sent and its next deadline to the [`Driver::advance`] that
    /// follows the wake-up's datagrams; false once str0m failed. Anything
    /// str0m cannot classify (not STUN, DTLS, RTP or RTCP), or a truncated
    /// one, is dropped, as a browser would.
    pub fn receive(&mut self, arrived: Instant, datagram: &[u8], out: &mut SendBatch) -> bool {
        let Ok(contents) = datagram.try_into() else {
            return true;
        };
        let r = Receive {
            proto: Protocol::Udp,
            source: self.endpoint.remote,
            destination: self.endpoint.local,
            contents,
        };
        self.input(Input::Receive(arrived, r));
        self.take_packet(out)
    }

    /// Closes the transport as a leaving browser does (RTCP BYE, DTLS
    /// close_notify), queuing the goodbyes in `out`.
    pub fn close(&mut self, out: &mut SendBatch) {
        self.endpoint.rtc.disconnect();
        let _ = self.drain_output(out);
    }

    fn input(&mut self, input: Input<'_>) {
        if let Err(e) = self.endpoint.rtc.handle_input(input) {
            tracing::debug!(peer = %self.peer, dir = ?self.endpoint.direction, "str0m input: {e}");
        }
    }

    /// Handles str0m's events up to the received RTP packet it holds in
    /// its one slot for it (events come before transmissions, so any
    /// other event waiting is handled too), queuing what it sends on the
    /// way; false if it failed. Stopping there spares str0m working out
    /// its next deadline once per datagram.
    fn take_packet(&mut self, out: &mut SendBatch) -> bool {
        loop {
            match self.endpoint.rtc.poll_output() {
                Ok(Output::Timeout(_)) => return true,
                Ok(Output::Event(e)) => {
                    let packet = matches!(e, Event::RtpPacket(_));
                    self.event(e);
                    if packet {
                        return true;
                    }
                }
                Ok(Output::Transmit(t)) => self.transmit(t, out),
                Err(e) => {
                    tracing::warn!(peer = %self.peer, dir = ?self.endpoint.direction, "str0m failed: {e}");
                    return false;
                }
            }
        }
    }

    /// Queues what str0m wants sent and handles its events; returns when
    /// it next wants to be woken, or `None` if it failed.
    fn drain_output(&mut self, out: &mut SendBatch) -> Option<Instant> {
        loop {
            match self.endpoint.rtc.poll_output() {
                Ok(Output::Timeout(t)) => return Some(t),
                Ok(Output::Transmit(t)) => self.transmit(t, out),
                Ok(Output::Event(e)) => self.event(e),
                Err(e) => {
                    tracing::warn!(peer = %self.peer, dir = ?self.endpoint.direction, "str0m failed: {e}");
                    return None;
                }
            }
        }
    }

    /// Queues a datagram str0m sends, unless the lossy link loses it.
    fn transmit(&mut self, t: Transmit, out: &mut SendBatch) {
        if self.connected {
            self.transmitted += 1;
            if self
                .lose_every
                .is_some_and(|n| self.transmitted.is_multiple_of(n))
            {
                return;
            }
        }
        // A full socket buffer drops the datagram, like a congested
        // network would.
        out.push(t.destination, t.contents.into());
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

    /// Applies a command of the session's.
    pub fn command(&mut self, command: Command) {
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
                    let skipped = source.skipped();
                    while let Some(p) = source.poll(now) {
                        stats.frames_made.fetch_add(1, Ordering::Relaxed);
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
                    count_skipped(&stats.frames_skipped, source.skipped() - skipped);
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
                    let skipped = source.skipped();
                    while let Some(frame) = source.poll(now) {
                        stats.frames_made.fetch_add(1, Ordering::Relaxed);
                        if frame.keyframe {
                            stats.keyframes_sent.fetch_add(1, Ordering::Relaxed);
                        }
                        pacer.push(now, frame.packets);
                    }
                    count_skipped(&stats.frames_skipped, source.skipped() - skipped);
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

/// Adds frames a source skipped (rare: only after a stall) to the count.
fn count_skipped(counter: &AtomicU64, skipped: u64) {
    if skipped > 0 {
        counter.fetch_add(skipped, Ordering::Relaxed);
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
