//! Scenario fields from the command line: every field of a [`Scenario`]
//! can be set by a flag, over the scenario file's value (or the built-in
//! default run's, when no file is given). Durations take units (`20s`,
//! `500ms`, `2m`; a bare number is seconds) and bitrates suffixes (`500k`,
//! `1.5M`; a bare number is bits per second).

use clap::Args;

use crate::scenario::{Burst, Capacity, Churn, ClusterRun, Scenario, ScenarioError};

/// Flags that override scenario fields; unset ones leave the field alone.
#[derive(Debug, Clone, Default, Args)]
pub struct Overrides {
    /// Name of the run in reports.
    #[arg(long, help_heading = "Scenario")]
    pub name: Option<String>,
    /// Number of rooms.
    #[arg(long, help_heading = "Scenario")]
    pub rooms: Option<usize>,
    /// Peers joining each room.
    #[arg(long, help_heading = "Scenario")]
    pub peers_per_room: Option<usize>,
    /// From the first join until everyone leaves (`20s`, `2m`, or seconds).
    #[arg(long, value_parser = parse_secs, help_heading = "Scenario")]
    pub duration: Option<f64>,
    /// Every peer publishes Opus.
    #[arg(long, overrides_with = "no_audio", help_heading = "Scenario")]
    pub audio: bool,
    /// No peer publishes audio.
    #[arg(long, overrides_with = "audio", help_heading = "Scenario")]
    pub no_audio: bool,
    /// Every peer publishes VP8.
    #[arg(long, overrides_with = "no_video", help_heading = "Scenario")]
    pub video: bool,
    /// No peer publishes video.
    #[arg(long, overrides_with = "video", help_heading = "Scenario")]
    pub no_video: bool,
    /// Opus payload bitrate (`26k`, or bits per second).
    #[arg(long, value_parser = parse_bitrate, help_heading = "Scenario")]
    pub audio_bitrate: Option<u32>,
    /// VP8 bitrate (`500k`, `1.5M`, or bits per second).
    #[arg(long, value_parser = parse_bitrate, help_heading = "Scenario")]
    pub video_bitrate: Option<u32>,
    /// VP8 frames per second.
    #[arg(long, help_heading = "Scenario")]
    pub video_fps: Option<u32>,
    /// VP8 as three simulcast layers (top at `--video-bitrate`).
    #[arg(long, overrides_with = "no_simulcast", help_heading = "Scenario")]
    pub simulcast: bool,
    /// VP8 as one stream.
    #[arg(long, overrides_with = "simulcast", help_heading = "Scenario")]
    pub no_simulcast: bool,
    /// The spatial layer (0 to 2) consumers of simulcast producers ask for.
    #[arg(long, help_heading = "Scenario")]
    pub preferred_layer: Option<u8>,
    /// Time between unprompted VP8 keyframes.
    #[arg(long, value_parser = parse_secs, help_heading = "Scenario")]
    pub keyframe_interval: Option<f64>,
    /// VP8 with RTX (resends on NACK), as browsers do.
    #[arg(long, overrides_with = "no_rtx", help_heading = "Wire")]
    pub rtx: bool,
    /// No RTX: NACKed packets are not resent.
    #[arg(long, overrides_with = "rtx", help_heading = "Wire")]
    pub no_rtx: bool,
    /// transport-wide-cc and transport-cc feedback, as browsers do.
    #[arg(long, overrides_with = "no_twcc", help_heading = "Wire")]
    pub twcc: bool,
    /// No transport-wide-cc.
    #[arg(long, overrides_with = "twcc", help_heading = "Wire")]
    pub no_twcc: bool,
    /// Video paced at 2.5x its bitrate, as browsers do.
    #[arg(long, overrides_with = "no_pacing", help_heading = "Wire")]
    pub pacing: bool,
    /// Each video frame sent in one burst.
    #[arg(long, overrides_with = "pacing", help_heading = "Wire")]
    pub no_pacing: bool,
    /// Every peer consumes the others of its room.
    #[arg(long, overrides_with = "no_consume", help_heading = "Scenario")]
    pub consume: bool,
    /// Peers only publish.
    #[arg(long, overrides_with = "consume", help_heading = "Scenario")]
    pub no_consume: bool,
    /// Peers started per second (all rooms together).
    #[arg(long, help_heading = "Scenario")]
    pub ramp_up: Option<f64>,
    /// Time between exporter scrapes.
    #[arg(long, value_parser = parse_secs, help_heading = "Scenario")]
    pub scrape_interval: Option<f64>,
    /// How old a stream must be before its counters must rise and its score be high.
    #[arg(long, value_parser = parse_secs, help_heading = "Scenario")]
    pub warm_up: Option<f64>,
    /// Lowest acceptable score after the warm-up (0 to 10).
    #[arg(long, help_heading = "Scenario")]
    pub min_score: Option<u8>,
    /// Every publisher drops every Nth packet before sending it (a known
    /// 1/N uplink loss).
    #[arg(long, help_heading = "Scenario")]
    pub drop_every: Option<u32>,
    /// Every publisher loses every Nth datagram on the wire (a lossy
    /// uplink; NACK and RTX repair video).
    #[arg(long, help_heading = "Wire")]
    pub lose_every: Option<u32>,
    /// Churn: peers leaving (and replaced) per second.
    #[arg(long, help_heading = "Churn")]
    pub churn: Option<f64>,
    /// Churn: share of leaves that drop the socket (0 to 1).
    #[arg(long, help_heading = "Churn")]
    pub churn_abrupt: Option<f64>,
    /// Run the capacity ramp (steps of `--rooms` x `--peers-per-room`).
    #[arg(long, help_heading = "Capacity")]
    pub capacity: bool,
    /// Capacity: time after a step's joins before it is measured.
    #[arg(long, value_parser = parse_secs, help_heading = "Capacity")]
    pub settle: Option<f64>,
    /// Capacity: how long each step is measured.
    #[arg(long, value_parser = parse_secs, help_heading = "Capacity")]
    pub step: Option<f64>,
    /// Capacity: the delivered ratio a step needs (0 to 1).
    #[arg(long, help_heading = "Capacity")]
    pub min_delivered: Option<f64>,
    /// Capacity: no step beyond this many peers.
    #[arg(long, help_heading = "Capacity")]
    pub max_peers: Option<usize>,
    /// Capacity: a join burst of this many peers first.
    #[arg(long, help_heading = "Capacity")]
    pub burst: Option<usize>,
    /// Capacity: joins under way at once in the burst.
    #[arg(long, help_heading = "Capacity")]
    pub burst_concurrency: Option<usize>,
    /// Cluster: run across every node in the exporter's `GET /sd`, needing
    /// at least this many.
    #[arg(long, help_heading = "Cluster")]
    pub cluster_nodes: Option<usize>,
}

impl Overrides {
    /// `scenario` with every given flag applied, validated again.
    pub fn apply(&self, mut s: Scenario) -> Result<Scenario, ScenarioError> {
        fn set<T: Clone>(field: &mut T, value: &Option<T>) {
            if let Some(v) = value {
                *field = v.clone();
            }
        }
        set(&mut s.name, &self.name);
        set(&mut s.rooms, &self.rooms);
        set(&mut s.peers_per_room, &self.peers_per_room);
        set(&mut s.duration_secs, &self.duration);
        set(&mut s.audio_bitrate, &self.audio_bitrate);
        set(&mut s.video_bitrate, &self.video_bitrate);
        set(&mut s.video_fps, &self.video_fps);
        set(&mut s.keyframe_interval, &self.keyframe_interval);
        set(&mut s.preferred_layer, &self.preferred_layer);
        set(&mut s.ramp_up, &self.ramp_up);
        set(&mut s.scrape_interval_secs, &self.scrape_interval);
        set(&mut s.warm_up_secs, &self.warm_up);
        set(&mut s.min_score, &self.min_score);
        if self.drop_every.is_some() {
            s.drop_every = self.drop_every;
        }
        if self.lose_every.is_some() {
            s.lose_every = self.lose_every;
        }
        for (field, on, off) in [
            (&mut s.publish_audio, self.audio, self.no_audio),
            (&mut s.publish_video, self.video, self.no_video),
            (&mut s.simulcast, self.simulcast, self.no_simulcast),
            (&mut s.consume, self.consume, self.no_consume),
            (&mut s.rtx, self.rtx, self.no_rtx),
            (&mut s.twcc, self.twcc, self.no_twcc),
            (&mut s.pacing, self.pacing, self.no_pacing),
        ] {
            if on {
                *field = true;
            } else if off {
                *field = false;
            }
        }
        if self.churn.is_some() || self.churn_abrupt.is_some() {
            let churn = s.churn.get_or_insert(Churn {
                leaves_per_sec: 1.0,
                abrupt_fraction: 0.0,
            });
            set(&mut churn.leaves_per_sec, &self.churn);
            set(&mut churn.abrupt_fraction, &self.churn_abrupt);
        }
        let wants_capacity = self.capacity
            || self.settle.is_some()
            || self.step.is_some()
            || self.min_delivered.is_some()
            || self.max_peers.is_some()
            || self.burst.is_some()
            || self.burst_concurrency.is_some();
        if wants_capacity {
            let cap = s.capacity.get_or_insert_with(Capacity::default);
            set(&mut cap.settle_secs, &self.settle);
            set(&mut cap.step_secs, &self.step);
            set(&mut cap.min_delivered, &self.min_delivered);
            set(&mut cap.max_peers, &self.max_peers);
            if self.burst.is_some() || self.burst_concurrency.is_some() {
                let burst = cap.burst.get_or_insert(Burst {
                    peers: 100,
                    concurrency: crate::scenario::DEFAULT_BURST_CONCURRENCY,
                });
                set(&mut burst.peers, &self.burst);
                set(&mut burst.concurrency, &self.burst_concurrency);
            }
        }
        if self.cluster_nodes.is_some() {
            let cluster = s.cluster.get_or_insert_with(ClusterRun::default);
            set(&mut cluster.min_nodes, &self.cluster_nodes);
        }
        s.validate()?;
        Ok(s)
    }
}

/// `20s`, `500ms`, `2m`, `1h` or a bare number of seconds.
pub fn parse_secs(text: &str) -> Result<f64, String> {
    let text = text.trim();
    let (number, scale) = if let Some(n) = text.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = text.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (text, 1.0)
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (e.g. 20s, 500ms, 2m)"))?;
    let secs = value * scale;
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("`{text}` must be a duration of zero or more"));
    }
    Ok(secs)
}

/// `500k`, `1.5M`, `2m` or a bare number of bits per second.
pub fn parse_bitrate(text: &str) -> Result<u32, String> {
    let text = text.trim();
    let (number, scale) = match text.chars().last() {
        Some('k' | 'K') => (&text[..text.len() - 1], 1e3),
        Some('m' | 'M') => (&text[..text.len() - 1], 1e6),
        _ => (text, 1.0),
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a bitrate (e.g. 500k, 1.5M)"))?;
    let bps = (value * scale).round();
    if !(1.0..=f64::from(u32::MAX)).contains(&bps) {
        return Err(format!("`{text}` is out of range"));
    }
    Ok(bps as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        o: Overrides,
    }

    fn apply(args: &[&str]) -> Result<Scenario, String> {
        let cli = Cli::try_parse_from(std::iter::once("x").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
        cli.o.apply(Scenario::builtin()).map_err(|e| e.to_string())
    }

    #[test]
    fn units() {
        assert_eq!(parse_secs("20s"), Ok(20.0));
        assert_eq!(parse_secs("20"), Ok(20.0));
        assert_eq!(parse_secs("500ms"), Ok(0.5));
        assert_eq!(parse_secs("2m"), Ok(120.0));
        assert!(parse_secs("-1s").is_err());
        assert!(parse_secs("soon").is_err());
        assert_eq!(parse_bitrate("500k"), Ok(500_000));
        assert_eq!(parse_bitrate("1.5M"), Ok(1_500_000));
        assert_eq!(parse_bitrate("64000"), Ok(64_000));
        assert!(parse_bitrate("0").is_err());
        assert!(parse_bitrate("fast").is_err());
    }

    #[test]
    fn flags_override_fields_and_nothing_else() {
        let base = Scenario::builtin();
        assert_eq!(apply(&[]).unwrap(), base);
        let s = apply(&[
            "--rooms",
            "3",
            "--peers-per-room",
            "4",
            "--duration",
            "20s",
            "--no-audio",
            "--video-bitrate",
            "300k",
            "--video-fps",
            "15",
            "--ramp-up",
            "5",
            "--scrape-interval",
            "1s",
        ])
        .unwrap();
        assert_eq!((s.rooms, s.peers_per_room, s.duration_secs), (3, 4, 20.0));
        assert!(!s.publish_audio && s.publish_video);
        assert_eq!((s.video_bitrate, s.video_fps), (300_000, 15));
        assert_eq!((s.ramp_up, s.scrape_interval_secs), (5.0, 1.0));
        assert_eq!(s.min_score, base.min_score);
        // Browser-like on the wire by default; each part switchable.
        assert!(base.rtx && base.twcc && base.pacing);
        let s = apply(&["--no-rtx", "--no-pacing", "--audio-bitrate", "32k"]).unwrap();
        assert!(!s.rtx && s.twcc && !s.pacing);
        assert_eq!(s.audio_bitrate, 32_000);
        assert!(!apply(&["--no-twcc"]).unwrap().twcc);
        let config = s.peer_config("r", "p", "p");
        assert!(!config.wire.rtx && config.wire.twcc && !config.wire.pacing);
        assert_eq!(config.audio_bitrate, 32_000);
        // Simulcast is off unless asked for; consumers want the top layer.
        assert!(!base.simulcast);
        assert_eq!(base.preferred_layer, 2);
        let s = apply(&["--simulcast", "--preferred-layer", "1"]).unwrap();
        assert!(s.simulcast);
        let config = s.peer_config("r", "p", "p");
        assert!(config.simulcast);
        assert_eq!(config.preferred_layer, 1);
        assert!(!apply(&["--simulcast", "--no-simulcast"]).unwrap().simulcast);
        // The last of a pair wins.
        assert!(apply(&["--no-video", "--video"]).unwrap().publish_video);
        assert!(!apply(&["--video", "--no-video"]).unwrap().publish_video);
    }

    #[test]
    fn churn_and_capacity_tables_are_made_when_asked() {
        let s = apply(&["--churn", "2"]).unwrap();
        assert_eq!(s.churn.map(|c| c.leaves_per_sec), Some(2.0));
        let s = apply(&["--max-peers", "40", "--burst", "50"]).unwrap();
        let cap = s.capacity.unwrap();
        assert_eq!(cap.max_peers, 40);
        assert_eq!(cap.burst.map(|b| b.peers), Some(50));
        let s = apply(&["--cluster-nodes", "3"]).unwrap();
        assert_eq!(s.cluster.map(|c| c.min_nodes), Some(3));
    }

    #[test]
    fn invalid_results_are_refused() {
        let err = apply(&["--rooms", "0"]).unwrap_err();
        assert!(err.contains("rooms"), "{err}");
        let err = apply(&["--min-score", "11"]).unwrap_err();
        assert!(err.contains("min_score"), "{err}");
        let err = apply(&["--preferred-layer", "3"]).unwrap_err();
        assert!(err.contains("preferred_layer"), "{err}");
        let err = apply(&["--cluster-nodes", "0"]).unwrap_err();
        assert!(err.contains("min_nodes"), "{err}");
    }
}
