//! Synthetic media: when a packet is due, and its payload, timestamp,
//! sequence number and marker bit. Pure: no str0m, no sockets.
//!
//! What matters to the SFU is that the RTP framing is right (mediasoup
//! parses the VP8 payload descriptor and the frame tag to find keyframes,
//! and watches sequence numbers for loss); a browser consuming the video
//! also decodes it, so each frame starts with a real VP8 frame (`vp8`) and
//! is padded with filler to its size; Opus packets are silence (`opus`)
//! padded the same way.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::seqs::{TAG_LEN, write_tag};
use super::{opus, vp8};
use crate::rng::Rng;

/// Largest RTP payload we write, descriptor included: with the RTP header,
/// extensions and SRTP tag a packet stays well under a 1280-byte path MTU.
pub const MAX_PAYLOAD: usize = 1150;
/// Opus packetisation time.
const AUDIO_PTIME: Duration = Duration::from_millis(20);
/// When a source falls this far behind (a stalled runtime), it skips ahead
/// instead of bursting the backlog out at once, as a real encoder would.
const MAX_LAG: Duration = Duration::from_millis(500);
/// Size of the VP8 payload descriptor we write (X, I with a 15-bit picture
/// id, L, T/K).
const VP8_DESCRIPTOR: usize = 6;

/// One RTP packet to hand to str0m's stream writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpOut {
    /// Extended sequence number (str0m's `SeqNo`).
    pub seq: u64,
    /// RTP timestamp in the codec's clock.
    pub timestamp: u32,
    /// Marker bit: last packet of a video frame.
    pub marker: bool,
    /// The payload.
    pub payload: Vec<u8>,
}

/// Sequence numbers and the frame clock shared by both sources.
#[derive(Debug)]
struct Clock {
    /// When frame 0 was due.
    start: Instant,
    /// Frames since `start`.
    frame: u64,
    interval: Duration,
    /// RTP clock ticks per frame.
    ticks: u64,
    base_ts: u32,
    seq: u64,
    /// Frames skipped after stalls (see [`Clock::due`]).
    skipped: u64,
}

impl Clock {
    fn new(now: Instant, interval: Duration, ticks: u64, rng: &mut Rng) -> Self {
        Clock {
            start: now,
            frame: 0,
            interval,
            ticks,
            base_ts: rng.next_u64() as u32,
            // Below 2^15 so that str0m's first SeqNo has ROC 0 (it warns
            // otherwise: the receiver cannot know a non-zero ROC).
            seq: rng.next_u64() % 0x8000,
            skipped: 0,
        }
    }

    fn due_at(&self) -> Instant {
        self.start + self.interval * self.frame as u32
    }

    /// Whether a frame is due at `now`; skips ahead after a long stall.
    fn due(&mut self, now: Instant) -> bool {
        let due = self.due_at();
        if now < due {
            return false;
        }
        if now - due > MAX_LAG {
            let behind = ((now - due).as_nanos() / self.interval.as_nanos().max(1)) as u64;
            self.frame += behind;
            self.skipped += behind;
        }
        true
    }

    /// The timestamp of the current frame, then moves to the next frame.
    fn advance(&mut self) -> u32 {
        let ts = self
            .base_ts
            .wrapping_add((self.frame.wrapping_mul(self.ticks)) as u32);
        self.frame += 1;
        ts
    }

    /// Moves the schedule so that the next frame is due at `now`, keeping
    /// timestamps continuous.
    fn restart(&mut self, now: Instant) {
        let elapsed = self.interval * self.frame as u32;
        self.start = now.checked_sub(elapsed).unwrap_or(now);
    }

    fn next_seq(&mut self) -> u64 {
        let s = self.seq;
        self.seq += 1;
        s
    }
}

/// Opus at 20 ms: 50 packets/s whose payloads average `bitrate` (+-10 %
/// per packet, as a variable-bitrate encoder's do).
#[derive(Debug)]
pub struct AudioSource {
    clock: Clock,
    rng: Rng,
    /// Average payload size, bytes.
    size: usize,
}

/// The smallest Opus payload we write: a silent packet and the sequence
/// tag in its padding.
const MIN_AUDIO_PAYLOAD: usize = opus::MIN_PACKET + TAG_LEN;

impl AudioSource {
    /// A source whose first packet is due at `now`; `clock_rate` is the
    /// negotiated Opus clock (48 kHz), `bitrate` the average payload bitrate.
    pub fn new(now: Instant, clock_rate: u32, bitrate: u32, mut rng: Rng) -> Self {
        let ticks = u64::from(clock_rate) * AUDIO_PTIME.as_millis() as u64 / 1000;
        let per_second = 1000 / AUDIO_PTIME.as_millis() as u64;
        let size = (u64::from(bitrate) / 8 / per_second) as usize;
        AudioSource {
            clock: Clock::new(now, AUDIO_PTIME, ticks, &mut rng),
            rng,
            size: size.clamp(MIN_AUDIO_PAYLOAD, MAX_PAYLOAD),
        }
    }

    /// When the next packet is due.
    pub fn next_due(&self) -> Instant {
        self.clock.due_at()
    }

    /// Makes the next packet due at `now` (the transport just connected).
    pub fn restart(&mut self, now: Instant) {
        self.clock.restart(now);
    }

    /// Packets that were due but skipped because the source was polled
    /// over [`MAX_LAG`] late: load the sim owed and never sent.
    pub fn skipped(&self) -> u64 {
        self.clock.skipped
    }

    /// The packet due at `now`, if any.
    pub fn poll(&mut self, now: Instant) -> Option<RtpOut> {
        if !self.clock.due(now) {
            return None;
        }
        let timestamp = self.clock.advance();
        let len = self
            .rng
            .range(self.size * 9 / 10, self.size * 11 / 10)
            .max(MIN_AUDIO_PAYLOAD);
        // Silence, and filler in the padding that makes up the size.
        let mut payload = opus::silent_packet(len, |filler| self.rng.fill(filler));
        let seq = self.clock.next_seq();
        // The receivers' delivery count reads it (see `seqs`).
        write_tag(&mut payload, seq);
        Some(RtpOut {
            seq,
            timestamp,
            marker: false,
            payload,
        })
    }
}

/// Parameters of a [`VideoSource`].
#[derive(Debug, Clone, Copy)]
pub struct VideoParams {
    /// Average bitrate, bits per second.
    pub bitrate: u32,
    /// Frames per second.
    pub fps: u32,
    /// Time between scheduled keyframes.
    pub keyframe_interval: Duration,
}

/// VP8 frames at a bitrate and frame rate, keyframes on a schedule and on
/// request, each frame split into packets of at most [`MAX_PAYLOAD`].
#[derive(Debug)]
pub struct VideoSource {
    clock: Clock,
    rng: Rng,
    params: VideoParams,
    /// Frames between scheduled keyframes.
    gop: u64,
    frames_since_key: u64,
    force_keyframe: bool,
    /// Bytes sent over the budget by requested keyframes, paid back by the
    /// next delta frames (an encoder's rate control keeps its bitrate
    /// however often it is asked for keyframes).
    debt: usize,
    picture_id: u16,
    tl0_pic_idx: u8,
}

/// A frame: its packets and whether it is a keyframe.
#[derive(Debug)]
pub struct Frame {
    /// Its packets, marker set on the last.
    pub packets: Vec<RtpOut>,
    /// Intra frame.
    pub keyframe: bool,
}

impl VideoSource {
    /// A source whose first frame (a keyframe) is due at `now`.
    pub fn new(now: Instant, params: VideoParams, mut rng: Rng) -> Self {
        let fps = params.fps.clamp(1, 120);
        let params = VideoParams { fps, ..params };
        let interval = Duration::from_secs(1) / fps;
        let gop = (params.keyframe_interval.as_secs_f64() * f64::from(fps)).round() as u64;
        VideoSource {
            clock: Clock::new(now, interval, 90_000 / u64::from(fps), &mut rng),
            picture_id: (rng.next_u64() & 0x7fff) as u16,
            tl0_pic_idx: rng.next_u64() as u8,
            rng,
            params,
            gop: gop.max(1),
            frames_since_key: 0,
            force_keyframe: true,
            debt: 0,
        }
    }

    /// When the next frame is due.
    pub fn next_due(&self) -> Instant {
        self.clock.due_at()
    }

    /// Makes the next frame due at `now` (the transport just connected).
    pub fn restart(&mut self, now: Instant) {
        self.clock.restart(now);
    }

    /// Frames that were due but skipped because the source was polled
    /// over [`MAX_LAG`] late: load the sim owed and never sent.
    pub fn skipped(&self) -> u64 {
        self.clock.skipped
    }

    /// Makes the next frame a keyframe (a PLI or FIR arrived).
    pub fn request_keyframe(&mut self) {
        self.force_keyframe = true;
    }

    /// Sizes of a keyframe and a delta frame that average to the bitrate:
    /// a keyframe is worth four delta frames, as with real encoders at
    /// moderate motion.
    fn frame_sizes(&self) -> (usize, usize) {
        let per_frame = (u64::from(self.params.bitrate) / 8 / u64::from(self.params.fps)).max(1);
        let gop = self.gop;
        let delta = if gop > 1 {
            (per_frame * gop).saturating_sub(4 * per_frame) / (gop - 1)
        } else {
            per_frame
        };
        let delta = delta.max(per_frame / 4).max(20);
        let key = (4 * per_frame).max(delta).max(40);
        (key as usize, delta as usize)
    }

    /// The frame due at `now`, if any.
    pub fn poll(&mut self, now: Instant) -> Option<Frame> {
        if !self.clock.due(now) {
            return None;
        }
        let scheduled = self.frames_since_key >= self.gop;
        // The very first keyframe is part of the schedule, not extra.
        let extra = self.force_keyframe && !scheduled && self.frames_since_key > 0;
        let keyframe = self.force_keyframe || scheduled;
        if keyframe {
            self.force_keyframe = false;
            self.frames_since_key = 0;
        }
        self.frames_since_key += 1;
        let timestamp = self.clock.advance();
        let (key_size, delta_size) = self.frame_sizes();
        let base = if keyframe {
            if extra {
                // In place of a delta frame: the difference is owed.
                self.debt += key_size.saturating_sub(delta_size);
            }
            key_size
        } else {
            // Pay back at most half of a delta frame at a time.
            let pay = self.debt.min(delta_size / 2);
            self.debt -= pay;
            delta_size - pay
        };
        // +-10 % so that packet counts vary a little, as real frames do.
        let size = self.rng.range(base * 9 / 10, base * 11 / 10).max(16);
        let data = self.frame_data(keyframe, size);
        let packets = self.packetize(&data, timestamp);
        self.picture_id = (self.picture_id + 1) & 0x7fff;
        // Every frame is on temporal layer 0, so TL0PICIDX counts frames.
        self.tl0_pic_idx = self.tl0_pic_idx.wrapping_add(1);
        Some(Frame { packets, keyframe })
    }

    /// A VP8 frame a decoder shows (a flat picture, see `vp8`), then
    /// filler up to `size`. The frame stays whole in the first packet,
    /// ahead of its sequence tag: a first packet holds at least
    /// `min(size, half of MAX_PAYLOAD)` bytes of frame, more than a
    /// 640x360 keyframe and the tag need.
    fn frame_data(&mut self, keyframe: bool, size: usize) -> Vec<u8> {
        let frame = if keyframe {
            vp8::keyframe()
        } else {
            vp8::interframe()
        };
        let size = size.max(frame.len() + TAG_LEN);
        let mut data = Vec::with_capacity(size);
        data.extend_from_slice(frame);
        data.resize(size, 0);
        self.rng.fill(&mut data[frame.len()..]);
        data
    }

    /// Splits `data` into packets, each with a VP8 payload descriptor
    /// (RFC 7741): S set on the first, marker on the last.
    fn packetize(&mut self, data: &[u8], timestamp: u32) -> Vec<RtpOut> {
        let chunk = MAX_PAYLOAD - VP8_DESCRIPTOR;
        let count = data.len().div_ceil(chunk).max(1);
        // Even sizes rather than full packets and a runt.
        let per_packet = data.len().div_ceil(count);
        data.chunks(per_packet.max(1))
            .enumerate()
            .map(|(i, part)| {
                let first = i == 0;
                let mut payload = Vec::with_capacity(VP8_DESCRIPTOR + part.len());
                payload.push(if first { 0x90 } else { 0x80 }); // X=1, S, PID=0
                payload.push(0xE0); // I=1 L=1 T=1 K=0
                payload.push(0x80 | ((self.picture_id >> 8) as u8 & 0x7f)); // M=1
                payload.push(self.picture_id as u8);
                payload.push(self.tl0_pic_idx);
                payload.push(0x20); // TID=0, Y=1, KEYIDX=0
                payload.extend_from_slice(part);
                let seq = self.clock.next_seq();
                // Over filler: a frame is padded to hold the tag after its
                // VP8 bytes (`frame_data`), and a split frame's parts are
                // far larger than the tag.
                write_tag(&mut payload, seq);
                RtpOut {
                    seq,
                    timestamp,
                    marker: i + 1 == count,
                    payload,
                }
            })
            .collect()
    }
}

/// Chromium paces video at 2.5 times its target bitrate: the factor in
/// halves.
const PACING_FACTOR_HALVES: u64 = 5;
/// A pacer holds at most this much of a backlog before sending what is
/// late at once (a real pacer drops its queue limit the same way).
const MAX_PACING_DELAY: Duration = Duration::from_millis(500);

/// Send-side pacing: a frame's packets leave one after another at a
/// pacing rate (a leaky bucket) instead of in one burst. Without a rate
/// every packet is due as soon as it is queued.
#[derive(Debug)]
pub struct Pacer {
    /// Bits per second; `None`: no pacing.
    rate: Option<u64>,
    queue: VecDeque<RtpOut>,
    /// When the bucket has drained what was sent so far.
    free_at: Option<Instant>,
}

impl Pacer {
    /// A pacer for a stream of `bitrate` (bits per second) at
    /// 2.5 times, or one that does not pace.
    pub fn new(bitrate: u32, pace: bool) -> Self {
        let rate = u64::from(bitrate) * PACING_FACTOR_HALVES / 2;
        Pacer {
            rate: pace.then_some(rate.max(8_000)),
            queue: VecDeque::new(),
            free_at: None,
        }
    }

    /// Queues a frame's packets at `now`. An idle bucket banks no credit:
    /// it drains from when the frame came.
    pub fn push(&mut self, now: Instant, packets: impl IntoIterator<Item = RtpOut>) {
        if self.queue.is_empty()
            && let Some(free_at) = &mut self.free_at
        {
            *free_at = (*free_at).max(now);
        }
        self.queue.extend(packets);
    }

    /// When the next queued packet may leave (`None`: nothing queued).
    pub fn next_due(&self) -> Option<Instant> {
        self.queue.front()?;
        Some(match (self.rate, self.free_at) {
            (Some(_), Some(t)) => t,
            // Due at once: any instant in the past will do; the caller
            // compares with its `now`.
            _ => Instant::now(),
        })
    }

    /// The next packet if it may leave at `now`.
    pub fn pop(&mut self, now: Instant) -> Option<RtpOut> {
        let Some(rate) = self.rate else {
            return self.queue.pop_front();
        };
        let free_at = self.free_at.unwrap_or(now);
        let behind = free_at.saturating_duration_since(now);
        if !behind.is_zero() && behind < MAX_PACING_DELAY {
            return None;
        }
        let p = self.queue.pop_front()?;
        // The bucket drains from when it was free: polled late (a rest, a
        // busy machine), the packets that waited leave together, as a
        // browser's pacer catches up, rather than the stream running slow
        // with a growing queue. It catches up on at most the backlog limit,
        // and starts from now once a packet is over it.
        let start = if behind >= MAX_PACING_DELAY {
            now
        } else {
            free_at.max(now.checked_sub(MAX_PACING_DELAY).unwrap_or(now))
        };
        let bits = (p.payload.len() as u64) * 8;
        let cost = Duration::from_nanos(bits * 1_000_000_000 / rate);
        self.free_at = Some(start + cost);
        Some(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audio_is_fifty_packets_a_second() {
        let t0 = Instant::now();
        let mut a = AudioSource::new(t0, 48_000, 40_000, Rng::new(1));
        let mut out = Vec::new();
        let mut t = t0;
        while t < t0 + Duration::from_secs(1) {
            while let Some(p) = a.poll(t) {
                out.push(p);
            }
            t += Duration::from_millis(5);
        }
        assert_eq!(out.len(), 50);
        for w in out.windows(2) {
            assert_eq!(w[1].seq, w[0].seq + 1);
            assert_eq!(w[1].timestamp.wrapping_sub(w[0].timestamp), 960);
        }
        // 40 kbit/s at 50 packets/s: 100 bytes +- 10 %.
        assert!(out.iter().all(|p| (90..=110).contains(&p.payload.len())));
        assert!(
            out.iter()
                .all(|p| super::super::seqs::read_tag(&p.payload) == Some(p.seq))
        );
    }

    #[test]
    fn video_frames_are_packetised_with_descriptor_and_marker() {
        let t0 = Instant::now();
        let params = VideoParams {
            bitrate: 1_000_000,
            fps: 25,
            keyframe_interval: Duration::from_secs(1),
        };
        let mut v = VideoSource::new(t0, params, Rng::new(7));
        let mut frames = Vec::new();
        let mut t = t0;
        while t < t0 + Duration::from_secs(2) {
            while let Some(f) = v.poll(t) {
                frames.push(f);
            }
            t += Duration::from_millis(1);
        }
        assert_eq!(frames.len(), 50);
        let keys: Vec<usize> = (0..frames.len()).filter(|&i| frames[i].keyframe).collect();
        assert_eq!(keys, vec![0, 25]);
        let mut bytes = 0;
        let mut last_seq = None;
        for (i, f) in frames.iter().enumerate() {
            let n = f.packets.len();
            for (j, p) in f.packets.iter().enumerate() {
                assert!(p.payload.len() <= MAX_PAYLOAD);
                assert_eq!(p.marker, j + 1 == n);
                assert_eq!(p.payload[0] & 0x10 != 0, j == 0, "S bit");
                assert_eq!(p.timestamp, f.packets[0].timestamp);
                if let Some(s) = last_seq {
                    assert_eq!(p.seq, s + 1);
                }
                last_seq = Some(p.seq);
                assert_eq!(super::super::seqs::read_tag(&p.payload), Some(p.seq));
                bytes += p.payload.len();
            }
            // mediasoup's keyframe test: S=1, PID=0, frame tag bit 0 clear.
            let first = &f.packets[0].payload;
            assert_eq!(first[VP8_DESCRIPTOR] & 1 == 0, f.keyframe, "frame {i}");
            if i > 0 {
                let prev = frames[i - 1].packets[0].timestamp;
                assert_eq!(f.packets[0].timestamp.wrapping_sub(prev), 3600);
            }
        }
        // Two seconds at 1 Mbit/s: within 15 %.
        let expected = 2 * 1_000_000 / 8;
        assert!(
            bytes > expected * 85 / 100 && bytes < expected * 115 / 100,
            "{bytes}"
        );
    }

    #[test]
    fn keyframe_on_request() {
        let t0 = Instant::now();
        let params = VideoParams {
            bitrate: 300_000,
            fps: 10,
            keyframe_interval: Duration::from_secs(100),
        };
        let mut v = VideoSource::new(t0, params, Rng::new(3));
        assert!(v.poll(t0).unwrap().keyframe);
        let t1 = v.next_due();
        assert!(!v.poll(t1).unwrap().keyframe);
        v.request_keyframe();
        assert!(v.poll(v.next_due()).unwrap().keyframe);
    }

    #[test]
    fn requested_keyframes_keep_the_bitrate() {
        let t0 = Instant::now();
        let params = VideoParams {
            bitrate: 500_000,
            fps: 30,
            keyframe_interval: Duration::from_secs(2),
        };
        let mut v = VideoSource::new(t0, params, Rng::new(5));
        let mut bytes = 0;
        let mut keys = 0;
        let mut t = t0;
        // Four seconds, a keyframe asked for every 15 frames (half a
        // second), as a receiver that cannot decode would.
        for i in 0..120 {
            if i % 15 == 14 {
                v.request_keyframe();
            }
            let f = v.poll(t).expect("due");
            keys += usize::from(f.keyframe);
            bytes += f.packets.iter().map(|p| p.payload.len()).sum::<usize>();
            t = v.next_due();
        }
        assert!(keys >= 8, "{keys}");
        let expected = 4 * 500_000 / 8;
        assert!(
            bytes.abs_diff(expected) * 10 <= expected,
            "{bytes} against {expected}"
        );
    }

    #[test]
    fn skips_ahead_after_a_stall() {
        let t0 = Instant::now();
        let mut a = AudioSource::new(t0, 48_000, 18_000, Rng::new(1));
        assert!(a.poll(t0).is_some());
        let late = t0 + Duration::from_secs(5);
        assert!(a.poll(late).is_some());
        // At most one more packet is due right away, not 250.
        let mut burst = 0;
        while a.poll(late).is_some() {
            burst += 1;
        }
        assert!(burst <= 1, "{burst}");
        // What it skipped is owed load, counted: with what it made, every
        // packet due from 0 to 5 s (251 of them) is accounted for.
        assert_eq!(a.skipped() + 2 + burst, 251);
    }

    #[test]
    fn a_source_kept_on_time_skips_nothing() {
        let t0 = Instant::now();
        let params = VideoParams {
            bitrate: 500_000,
            fps: 30,
            keyframe_interval: Duration::from_secs(2),
        };
        let mut v = VideoSource::new(t0, params, Rng::new(3));
        let mut t = t0;
        let mut frames = 0;
        // Polled late, but never by more than the lag limit.
        while t <= t0 + Duration::from_secs(3) {
            while v.poll(t).is_some() {
                frames += 1;
            }
            t += Duration::from_millis(300);
        }
        t -= Duration::from_millis(300);
        assert_eq!(v.skipped(), 0);
        assert_eq!(frames, 3 * 30 + 1);
        // One stall over the limit: the frames it passed are skipped.
        let late = t + Duration::from_secs(2);
        while v.poll(late).is_some() {
            frames += 1;
        }
        let due = (late - t0).as_millis() as u64 * 30 / 1000 + 1;
        assert!(v.skipped() > 0);
        assert_eq!(v.skipped() + frames, due);
    }

    #[test]
    fn audio_size_follows_the_bitrate() {
        let t0 = Instant::now();
        for (bitrate, lo, hi) in [
            (26_000, 58, 72),
            (0, MIN_AUDIO_PAYLOAD, MIN_AUDIO_PAYLOAD + 1),
        ] {
            let mut a = AudioSource::new(t0, 48_000, bitrate, Rng::new(2));
            let mut t = t0;
            let mut bytes = 0;
            for _ in 0..50 {
                let p = a.poll(t).expect("due");
                assert!((lo..=hi).contains(&p.payload.len()), "{}", p.payload.len());
                assert_eq!(super::super::seqs::read_tag(&p.payload), Some(p.seq));
                bytes += p.payload.len();
                t = a.next_due();
            }
            if bitrate > 0 {
                // One second of packets: within 5 % of the bitrate.
                let expected = bitrate as usize / 8;
                assert!(bytes.abs_diff(expected) * 20 <= expected, "{bytes}");
            }
        }
    }

    fn packet(seq: u64, len: usize) -> RtpOut {
        RtpOut {
            seq,
            timestamp: 0,
            marker: false,
            payload: vec![0; len],
        }
    }

    #[test]
    fn pacer_spreads_a_frame_at_two_and_a_half_times_the_bitrate() {
        let t0 = Instant::now();
        // 400 kbit/s paces at 1 Mbit/s: a 1000-byte packet takes 8 ms.
        let mut p = Pacer::new(400_000, true);
        p.push(t0, (0..4).map(|s| packet(s, 1000)));
        let mut t = t0;
        let mut sent = Vec::new();
        while sent.len() < 4 {
            while let Some(x) = p.pop(t) {
                sent.push((x.seq, t - t0));
            }
            t += Duration::from_millis(1);
        }
        let times: Vec<u64> = sent.iter().map(|(_, d)| d.as_millis() as u64).collect();
        // The first leaves at once, then one every 8 ms (polled each 1 ms).
        assert_eq!(sent.iter().map(|s| s.0).collect::<Vec<_>>(), [0, 1, 2, 3]);
        for (i, ms) in times.iter().enumerate() {
            let want = 8 * i as u64;
            assert!(ms.abs_diff(want) <= 1, "{times:?}");
        }
        assert_eq!(p.next_due(), None);
    }

    #[test]
    fn a_pacer_polled_late_keeps_up_with_its_stream() {
        // 480 kbit/s of video (two 1000-byte packets every 33 ms) paced at
        // 1.25 Mbit/s, polled every 20 ms (a rest, a busy machine): a
        // packet's 6.4 ms of pacing passes between polls and must not be
        // lost, or the queue grows without end and the stream runs slow.
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut p = Pacer::new(500_000, true);
        let (mut pushed, mut sent, mut next_frame) = (0u64, 0u64, t0);
        let mut t = t0;
        while t < t0 + ms(3_000) {
            while next_frame <= t {
                p.push(next_frame, (0..2).map(|s| packet(pushed + s, 1000)));
                pushed += 2;
                next_frame += ms(33);
            }
            sent += std::iter::from_fn(|| p.pop(t)).count() as u64;
            t += ms(20);
        }
        assert!(pushed - sent <= 4, "{sent} of {pushed} sent");
    }

    #[test]
    fn an_idle_pacer_banks_no_credit() {
        // After a second with nothing to send, a frame is still paced.
        let t0 = Instant::now();
        let mut p = Pacer::new(400_000, true);
        p.push(t0, [packet(0, 1000)]);
        assert!(p.pop(t0).is_some());
        let later = t0 + Duration::from_secs(1);
        p.push(later, (1..3).map(|s| packet(s, 1000)));
        assert!(p.pop(later).is_some());
        assert!(p.pop(later).is_none(), "the second waits its 8 ms");
        assert!(p.pop(later + Duration::from_millis(8)).is_some());
    }

    #[test]
    fn unpaced_sends_everything_at_once_and_a_backlog_is_flushed() {
        let t0 = Instant::now();
        let mut p = Pacer::new(400_000, false);
        p.push(t0, (0..10).map(|s| packet(s, 1000)));
        assert_eq!(std::iter::from_fn(|| p.pop(t0)).count(), 10);
        // Paced at 20 kbit/s, a 1000-byte packet holds the next for 400 ms.
        let mut p = Pacer::new(8_000, true);
        p.push(t0, (0..2).map(|s| packet(s, 1000)));
        assert!(p.pop(t0).is_some());
        assert!(p.pop(t0 + Duration::from_millis(390)).is_none());
        assert!(p.pop(t0 + Duration::from_millis(400)).is_some());
        // A backlog longer than the limit (600 ms a packet) goes out at once.
        let mut p = Pacer::new(8_000, true);
        p.push(t0, (0..3).map(|s| packet(s, 1500)));
        assert_eq!(std::iter::from_fn(|| p.pop(t0)).count(), 3);
    }
}
