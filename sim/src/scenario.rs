//! Scenario files: what a simulator run does (TOML in `sim/scenarios/`).
//!
//! Unknown keys are errors so that a typo never silently runs the defaults.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::peer::{PeerConfig, WireFeatures};

/// Why a scenario could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("cannot read scenario {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TOML is malformed or has unknown keys.
    #[error("invalid scenario {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The TOML error.
        source: toml::de::Error,
    },
    /// The values make no sense.
    #[error("invalid scenario {name}: {reason}")]
    Invalid {
        /// The scenario's name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A bare name that is no built-in scenario (nor a file).
    #[error("no scenario {name}: give a TOML path or one of {}", built_in_names())]
    Unknown {
        /// The name given.
        name: String,
    },
}

/// The scenarios of `sim/scenarios/`, built into the binary so that a bare
/// name works wherever it runs, by name.
pub const BUILT_IN: &[(&str, &str)] = &[
    ("default", include_str!("../scenarios/default.toml")),
    ("smoke", include_str!("../scenarios/smoke.toml")),
    ("capacity", include_str!("../scenarios/capacity.toml")),
    ("churn", include_str!("../scenarios/churn.toml")),
    ("big-room", include_str!("../scenarios/big-room.toml")),
    (
        "big-room-spread",
        include_str!("../scenarios/big-room-spread.toml"),
    ),
    ("cluster", include_str!("../scenarios/cluster.toml")),
    ("exporter-1k", include_str!("../scenarios/exporter-1k.toml")),
    ("exporter-2k", include_str!("../scenarios/exporter-2k.toml")),
];

/// The names of the built-in scenarios, for messages.
fn built_in_names() -> String {
    BUILT_IN
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// One simulator run: rooms of peers that publish and consume for a while.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// A name for reports; defaults to the file's stem.
    #[serde(default)]
    pub name: String,
    /// Number of rooms.
    pub rooms: usize,
    /// Peers joining each room.
    pub peers_per_room: usize,
    /// Every peer publishes an Opus stream.
    #[serde(default = "yes")]
    pub publish_audio: bool,
    /// Opus payload bitrate, bits per second (Chromium's fake microphone
    /// by default).
    #[serde(default = "default_audio_bitrate")]
    pub audio_bitrate: u32,
    /// Every peer publishes a VP8 stream.
    #[serde(default = "yes")]
    pub publish_video: bool,
    /// VP8 bitrate, bits per second.
    #[serde(default = "default_video_bitrate")]
    pub video_bitrate: u32,
    /// VP8 frames per second.
    #[serde(default = "default_video_fps")]
    pub video_fps: u32,
    /// VP8 published as three simulcast layers (a quarter, half and full
    /// resolution; the top layer at `video_bitrate`, see
    /// `peer::layer_bitrates`), like mediasoup-client's default. Off by
    /// default.
    #[serde(default)]
    pub simulcast: bool,
    /// The spatial layer (0 to 2) every consumer of a simulcast producer
    /// asks for with `setConsumerPreferredLayers`; the top one by default.
    #[serde(default = "default_preferred_layer")]
    pub preferred_layer: u8,
    /// Seconds between unprompted VP8 keyframes.
    #[serde(default = "default_keyframe_interval")]
    pub keyframe_interval: f64,
    /// VP8 with RTX: NACKed packets are resent (like a browser).
    #[serde(default = "yes")]
    pub rtx: bool,
    /// transport-wide-cc on both transports, with transport-cc feedback
    /// from the receiving one (like a browser).
    #[serde(default = "yes")]
    pub twcc: bool,
    /// Video packets paced at 2.5x the bitrate rather than sent a frame
    /// at a time (like a browser).
    #[serde(default = "yes")]
    pub pacing: bool,
    /// Every peer consumes the others of its room.
    #[serde(default = "yes")]
    pub consume: bool,
    /// Peers started per second (all rooms together).
    #[serde(default = "default_ramp_up")]
    pub ramp_up: f64,
    /// Seconds from the first join until every peer leaves.
    pub duration_secs: f64,
    /// Seconds between exporter scrapes.
    #[serde(default = "default_scrape_interval")]
    pub scrape_interval_secs: f64,
    /// Seconds a stream must have existed before its counters must rise and
    /// its score must be high (mediasoup scores from receiver reports, which
    /// take a few seconds to say anything).
    #[serde(default = "default_warm_up")]
    pub warm_up_secs: f64,
    /// The lowest acceptable score after warm-up (loss-free loopback: 8).
    #[serde(default = "default_min_score")]
    pub min_score: u8,
    /// Every publisher drops every Nth packet it generates instead of
    /// sending it (by sequence number): a known uplink loss of 1/N that the
    /// delivered ratio must show. Off by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop_every: Option<u32>,
    /// Every publisher's sending transport loses every Nth datagram after
    /// it left str0m: a lossy uplink that NACKs and RTX repair for video
    /// when `rtx` is on (Opus is not resent). Off by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lose_every: Option<u32>,
    /// Join/leave churn once the initial ramp is done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub churn: Option<Churn>,
    /// A capacity ramp instead of a fixed run (see [`Capacity`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<Capacity>,
    /// A run across a cluster's nodes (see [`ClusterRun`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterRun>,
}

/// A run across a cluster: the nodes are read from `GET /sd` on the
/// exporter the sim is given; peer `n` of room `r` connects to node
/// `(r + n) mod nodes`, so rooms start spread over the nodes and most of
/// their later peers are redirected to their room's node. Each node's
/// exporter is checked against the rooms and peers that ended up on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterRun {
    /// The run refuses to start with fewer live nodes than this.
    #[serde(default = "default_min_nodes")]
    pub min_nodes: usize,
}

impl Default for ClusterRun {
    fn default() -> Self {
        ClusterRun {
            min_nodes: default_min_nodes(),
        }
    }
}

/// A capacity ramp: `rooms` new rooms of `peers_per_room` peers per step,
/// each step held and measured, until delivery degrades or `max_peers` is
/// reached; `duration_secs` caps the whole ramp. An optional join-rate
/// burst runs first, on the fresh server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capacity {
    /// Seconds after a step's joins before its measurement starts (new
    /// consumers wait for a keyframe; receiver reports settle).
    #[serde(default = "default_settle")]
    pub settle_secs: f64,
    /// Seconds each step is measured.
    #[serde(default = "default_step")]
    pub step_secs: f64,
    /// A step whose delivered ratio is below this fails and ends the ramp.
    #[serde(default = "default_min_delivered")]
    pub min_delivered: f64,
    /// No step goes beyond this many peers.
    #[serde(default = "default_max_peers")]
    pub max_peers: usize,
    /// The join-rate burst, when wanted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<Burst>,
}

/// A join-rate burst: `peers` peers (in rooms of `peers_per_room`, publishing
/// as the scenario says, consuming nothing) started as fast as possible, at
/// most `concurrency` joins at a time; then they all leave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Burst {
    /// Joins to make.
    pub peers: usize,
    /// Joins under way at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
}

/// Peers leaving and new ones joining during the run: once every initial
/// peer is up, `leaves_per_sec` times a second a random live peer leaves
/// (never the last of its room) and a new peer, with a new id, joins a
/// random room. Nothing churns in the last two seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Churn {
    /// Peers leaving per second (each replaced by a new one).
    pub leaves_per_sec: f64,
    /// Fraction of leaves that drop the socket instead of disconnecting.
    #[serde(default)]
    pub abrupt_fraction: f64,
}

fn yes() -> bool {
    true
}
fn default_audio_bitrate() -> u32 {
    crate::peer::DEFAULT_AUDIO_BITRATE
}
fn default_video_bitrate() -> u32 {
    500_000
}
fn default_preferred_layer() -> u8 {
    crate::peer::SIMULCAST_LAYERS - 1
}
fn default_video_fps() -> u32 {
    30
}
fn default_keyframe_interval() -> f64 {
    2.0
}
fn default_ramp_up() -> f64 {
    20.0
}
fn default_scrape_interval() -> f64 {
    2.0
}
fn default_warm_up() -> f64 {
    5.0
}
fn default_min_score() -> u8 {
    8
}
fn default_settle() -> f64 {
    3.0
}
fn default_step() -> f64 {
    5.0
}
fn default_min_delivered() -> f64 {
    0.99
}
fn default_max_peers() -> usize {
    200
}
/// Joins under way at once in a burst unless told otherwise. A join
/// mostly waits on its dozen round trips; 40 at a time overlap more of
/// those waits than 25 (see the README's capacity section).
pub const DEFAULT_BURST_CONCURRENCY: usize = 40;

fn default_concurrency() -> usize {
    DEFAULT_BURST_CONCURRENCY
}
fn default_min_nodes() -> usize {
    2
}

impl Default for Capacity {
    fn default() -> Self {
        Capacity {
            settle_secs: default_settle(),
            step_secs: default_step(),
            min_delivered: default_min_delivered(),
            max_peers: default_max_peers(),
            burst: None,
        }
    }
}

impl Capacity {
    /// Checks the values; `step_peers` is the peers one step adds.
    fn validate(&self, step_peers: usize) -> Result<(), String> {
        if !self.settle_secs.is_finite() || self.settle_secs < 0.0 {
            return Err("settle_secs must be >= 0".into());
        }
        if !self.step_secs.is_finite() || self.step_secs <= 0.0 {
            return Err("step_secs must be > 0".into());
        }
        if !(self.min_delivered > 0.0 && self.min_delivered <= 1.0) {
            return Err("min_delivered must be within (0, 1]".into());
        }
        if self.max_peers < step_peers {
            return Err(format!(
                "max_peers ({}) is below one step ({step_peers} peers)",
                self.max_peers
            ));
        }
        if let Some(b) = &self.burst
            && (b.peers == 0 || b.concurrency == 0)
        {
            return Err("burst: peers and concurrency must be at least 1".into());
        }
        Ok(())
    }

    /// Time between a step's joins and its measurement.
    pub fn settle(&self) -> Duration {
        Duration::from_secs_f64(self.settle_secs)
    }

    /// How long a step is measured.
    pub fn step(&self) -> Duration {
        Duration::from_secs_f64(self.step_secs)
    }
}

impl Scenario {
    /// Parses TOML text; `name` is used when the text names none.
    pub fn from_toml(text: &str, name: &str, path: &Path) -> Result<Scenario, ScenarioError> {
        let mut scenario: Scenario =
            toml::from_str(text).map_err(|source| ScenarioError::Parse {
                path: path.to_path_buf(),
                source,
            })?;
        if scenario.name.is_empty() {
            scenario.name = name.to_string();
        }
        scenario.validate()?;
        Ok(scenario)
    }

    /// The default run (`sim/scenarios/default.toml`, built in), for runs
    /// given by flags alone.
    pub fn builtin() -> Scenario {
        Scenario::named("default").expect("the built-in default scenario is valid")
    }

    /// A scenario given as a TOML path (an existing file, or an argument
    /// with a `/` or ending in `.toml`), or else as the name of a built-in
    /// one (`smoke`, `capacity`, ...: see [`BUILT_IN`]).
    pub fn named(arg: &str) -> Result<Scenario, ScenarioError> {
        let path = Path::new(arg);
        if path.exists() || arg.contains('/') || arg.ends_with(".toml") {
            return Scenario::load(path);
        }
        let (name, text) = BUILT_IN
            .iter()
            .find(|(name, _)| *name == arg)
            .ok_or_else(|| ScenarioError::Unknown { name: arg.into() })?;
        Scenario::from_toml(text, name, Path::new(&format!("{name}.toml")))
    }

    /// Loads a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let stem = path
            .file_stem()
            .map_or_else(|| "scenario".into(), |s| s.to_string_lossy().into_owned());
        Scenario::from_toml(&text, &stem, path)
    }

    /// Checks that the values make sense.
    pub fn validate(&self) -> Result<(), ScenarioError> {
        let fail = |reason: &str| {
            Err(ScenarioError::Invalid {
                name: self.name.clone(),
                reason: reason.into(),
            })
        };
        if self.rooms == 0 || self.peers_per_room == 0 {
            return fail("rooms and peers_per_room must be at least 1");
        }
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if !positive(self.ramp_up)
            || !positive(self.duration_secs)
            || !positive(self.scrape_interval_secs)
            || !positive(self.keyframe_interval)
        {
            return fail(
                "ramp_up, duration_secs, scrape_interval_secs, keyframe_interval must be > 0",
            );
        }
        if !self.warm_up_secs.is_finite() || self.warm_up_secs < 0.0 {
            return fail("warm_up_secs must be >= 0");
        }
        if self.drop_every.is_some_and(|n| n < 2) {
            return fail("drop_every must be at least 2");
        }
        if self.lose_every.is_some_and(|n| n < 2) {
            return fail("lose_every must be at least 2");
        }
        if self.preferred_layer >= crate::peer::SIMULCAST_LAYERS {
            return fail("preferred_layer must be within 0..=2");
        }
        if self.min_score > 10 {
            return fail("min_score must be within 0..=10");
        }
        if let Some(c) = &self.churn
            && (!c.leaves_per_sec.is_finite()
                || c.leaves_per_sec < 0.0
                || !(0.0..=1.0).contains(&c.abrupt_fraction))
        {
            return fail("churn: leaves_per_sec must be >= 0, abrupt_fraction within 0..=1");
        }
        if self.publish_video && (self.video_fps == 0 || self.video_bitrate == 0) {
            return fail("video_fps and video_bitrate must be > 0");
        }
        if let Some(c) = &self.capacity {
            if let Err(reason) = c.validate(self.peers()) {
                return fail(&format!("capacity: {reason}"));
            }
            if self.churn.is_some() {
                return fail("capacity and churn cannot be combined");
            }
            if self.cluster.is_some() {
                return fail("capacity and cluster cannot be combined");
            }
        }
        if self.cluster.as_ref().is_some_and(|c| c.min_nodes == 0) {
            return fail("cluster: min_nodes must be at least 1");
        }
        Ok(())
    }

    /// Total peers.
    pub fn peers(&self) -> usize {
        self.rooms * self.peers_per_room
    }

    /// The run length.
    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.duration_secs)
    }

    /// Time between scrapes.
    pub fn scrape_interval(&self) -> Duration {
        Duration::from_secs_f64(self.scrape_interval_secs)
    }

    /// Warm-up time of a stream.
    pub fn warm_up(&self) -> Duration {
        Duration::from_secs_f64(self.warm_up_secs)
    }

    /// The configuration of peer `peer_id` in `room_id`.
    pub fn peer_config(&self, room_id: &str, peer_id: &str, display_name: &str) -> PeerConfig {
        PeerConfig {
            display_name: display_name.into(),
            publish_audio: self.publish_audio,
            publish_video: self.publish_video,
            audio_bitrate: self.audio_bitrate,
            wire: WireFeatures {
                rtx: self.rtx,
                twcc: self.twcc,
                pacing: self.pacing,
            },
            video_bitrate: self.video_bitrate,
            video_fps: self.video_fps,
            simulcast: self.simulcast,
            preferred_layer: self.preferred_layer,
            keyframe_interval: Duration::from_secs_f64(self.keyframe_interval),
            consume: self.consume,
            drop_every: self.drop_every,
            lose_every: self.lose_every,
            ..PeerConfig::new(room_id, peer_id)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_scenarios_parse() {
        for name in [
            "smoke",
            "default",
            "churn",
            "big-room",
            "big-room-spread",
            "capacity",
            "cluster",
        ] {
            let s = Scenario::named(name).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(s.name, name);
            assert_eq!(s.churn.is_some(), name == "churn");
            assert_eq!(s.capacity.is_some(), name == "capacity");
            assert_eq!(s.cluster.is_some(), name == "cluster");
        }
    }

    #[test]
    fn every_scenario_file_is_built_in_and_a_path_still_loads_a_file() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
            .collect();
        files.sort();
        let mut built_in: Vec<String> = BUILT_IN.iter().map(|(n, _)| n.to_string()).collect();
        built_in.sort();
        assert_eq!(files, built_in);
        for name in files {
            let path = dir.join(format!("{name}.toml"));
            let from_file = Scenario::named(path.to_str().unwrap()).unwrap();
            assert_eq!(Scenario::named(&name).unwrap(), from_file, "{name}");
        }
    }

    #[test]
    fn an_unknown_name_is_an_error_that_lists_the_built_ins() {
        let e = Scenario::named("no-such-run").unwrap_err();
        assert!(matches!(e, ScenarioError::Unknown { .. }), "{e:?}");
        let text = e.to_string();
        assert!(
            text.contains("no-such-run") && text.contains("smoke, capacity"),
            "{text}"
        );
        // A path is a path: a missing file is a read error, not a name.
        let e = Scenario::named("nowhere/run.toml").unwrap_err();
        assert!(matches!(e, ScenarioError::Read { .. }), "{e:?}");
    }

    fn capacity_toml(extra: &str) -> Result<Scenario, ScenarioError> {
        let text =
            format!("rooms = 1\npeers_per_room = 5\nduration_secs = 60\n[capacity]\n{extra}");
        Scenario::from_toml(&text, "c", Path::new("c.toml"))
    }

    #[test]
    fn capacity_defaults_and_bad_values() {
        let c = capacity_toml("").unwrap().capacity.unwrap();
        assert_eq!(c.min_delivered, 0.99);
        assert_eq!(c.max_peers, 200);
        assert!(c.burst.is_none());
        let burst = capacity_toml("[capacity.burst]\npeers = 100\n")
            .unwrap()
            .capacity
            .unwrap()
            .burst
            .unwrap();
        assert_eq!((burst.peers, burst.concurrency), (100, 40));
        for (bad, says) in [
            ("min_delivered = 1.5", "min_delivered"),
            ("min_delivered = 0", "min_delivered"),
            ("step_secs = 0", "step_secs"),
            ("settle_secs = -1", "settle_secs"),
            ("max_peers = 4", "max_peers"),
            ("[capacity.burst]\npeers = 0", "burst"),
            ("[capacity.burst]\npeers = 10\nconcurrency = 0", "burst"),
            ("steps = 3", "steps"),
        ] {
            let err = capacity_toml(bad).unwrap_err().to_string();
            assert!(err.contains(says), "{bad}: {err}");
        }
        let churned = Scenario::from_toml(
            "rooms = 1\npeers_per_room = 5\nduration_secs = 60\n\
             [churn]\nleaves_per_sec = 1\n[capacity]\n",
            "c",
            Path::new("c.toml"),
        )
        .unwrap_err();
        assert!(churned.to_string().contains("churn"), "{churned}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = Scenario::from_toml(
            "rooms = 1\npeers_per_room = 2\nduration_secs = 3\nrom = 1\n",
            "x",
            Path::new("x.toml"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("rom"), "{err}");
    }
}
