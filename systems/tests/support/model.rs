//! An independent model of what the exporter must show, written plainly with
//! maps and without the ECS, to check the real implementation against.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use ejtimaa_systems::{
    Endpoint, ExportOptions, Host, IceState, MediaKind, RtpStreamStats, RtpStreamType, StreamOwner,
    TransportKind, TransportTuple, WorldEvent,
};

/// A label set, name → value.
pub type Labels = BTreeMap<String, String>;

/// `(owner id, stream type, ssrc)` of a stream.
pub type StreamKey = (String, RtpStreamType, u32);

/// One expected series: its value and the streams that make it up.
#[derive(Debug, Clone, PartialEq)]
pub struct Expected {
    pub value: f64,
    /// Each contributing stream.
    pub contributors: BTreeSet<StreamKey>,
}

/// Expected series of every family, by family name.
pub type Families = BTreeMap<String, BTreeMap<Labels, Expected>>;

#[derive(Debug, Clone)]
pub struct MPeer {
    pub room: String,
    pub display_name: String,
    pub user_agent: String,
}

#[derive(Debug, Clone)]
pub struct MTransport {
    pub peer: String,
    pub kind: TransportKind,
    pub ice: IceState,
    pub tuple: Option<TransportTuple>,
    /// The names its address labels use, fixed when it is first exported with
    /// a tuple (for that tuple): `None` writes `ip:port`.
    pub pinned: Option<(TransportTuple, [Option<String>; 2])>,
}

#[derive(Debug, Clone)]
pub struct MOwner {
    pub transport: String,
    pub kind: MediaKind,
    pub mime: String,
    pub clock_rate: u32,
    pub paused: bool,
    pub streams: BTreeMap<(RtpStreamType, u32), RtpStreamStats>,
}

/// Producer or consumer, as the model keys them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Producer,
    Consumer,
}

#[derive(Debug, Default, Clone)]
pub struct Model {
    pub workers: BTreeMap<String, u32>,
    pub rooms: BTreeMap<String, String>,
    /// A room's further routers: router → (room, worker).
    pub routers: BTreeMap<String, (String, String)>,
    /// A room's pipe transports: transport → (room, worker).
    pub pipes: BTreeMap<String, (String, String)>,
    pub peers: BTreeMap<String, MPeer>,
    pub transports: BTreeMap<String, MTransport>,
    pub owners: BTreeMap<(Role, String), MOwner>,
    pub dns: HashMap<IpAddr, String>,
    pub peers_joined: u64,
    pub peers_left: u64,
    pub worker_deaths: u64,
}

/// What one event did to the model: ids of everything it closed.
#[derive(Debug, Default)]
pub struct Closed {
    pub rooms: Vec<String>,
    pub peers: Vec<String>,
    pub transports: Vec<String>,
    pub owners: Vec<String>,
}

impl Model {
    pub fn apply(&mut self, event: &WorldEvent) -> Closed {
        let mut closed = Closed::default();
        match event {
            WorldEvent::WorkerStarted { worker, pid } => {
                self.workers.entry(worker.to_string()).or_insert(*pid);
            }
            WorldEvent::WorkerClosed { worker } | WorldEvent::WorkerDied { worker } => {
                if self.workers.remove(worker.as_str()).is_some() {
                    if matches!(event, WorldEvent::WorkerDied { .. }) {
                        self.worker_deaths += 1;
                    }
                    let rooms: Vec<String> = self
                        .rooms
                        .iter()
                        .filter(|(_, w)| *w == worker.as_str())
                        .map(|(r, _)| r.clone())
                        .collect();
                    for room in rooms {
                        self.close_room(&room, &mut closed);
                    }
                    self.routers.retain(|_, (_, w)| w != worker.as_str());
                    self.pipes.retain(|_, (_, w)| w != worker.as_str());
                }
            }
            WorldEvent::RouterOpened {
                router,
                room,
                worker,
            } => {
                if self.rooms.contains_key(room.as_str())
                    && self.workers.contains_key(worker.as_str())
                {
                    self.routers
                        .entry(router.to_string())
                        .or_insert_with(|| (room.to_string(), worker.to_string()));
                }
            }
            WorldEvent::RouterClosed { router } => {
                self.routers.remove(router.as_str());
            }
            WorldEvent::PipeTransportCreated {
                transport,
                room,
                worker,
            } => {
                if self.rooms.contains_key(room.as_str())
                    && self.workers.contains_key(worker.as_str())
                    && !self.transports.contains_key(transport.as_str())
                {
                    self.pipes
                        .entry(transport.to_string())
                        .or_insert_with(|| (room.to_string(), worker.to_string()));
                }
            }
            WorldEvent::RoomOpened { room, worker } => {
                if self.workers.contains_key(worker.as_str())
                    && !self.rooms.contains_key(room.as_str())
                {
                    self.rooms.insert(room.to_string(), worker.to_string());
                }
            }
            WorldEvent::RoomClosed { room } => self.close_room(room.as_str(), &mut closed),
            WorldEvent::PeerJoined {
                peer,
                room,
                display_name,
                user_agent,
            } => {
                if self.rooms.contains_key(room.as_str()) && !self.peers.contains_key(peer.as_str())
                {
                    let p = MPeer {
                        room: room.to_string(),
                        display_name: display_name.clone(),
                        user_agent: user_agent.clone(),
                    };
                    self.peers.insert(peer.to_string(), p);
                    self.peers_joined += 1;
                }
            }
            WorldEvent::PeerRenamed { peer, display_name } => {
                if let Some(p) = self.peers.get_mut(peer.as_str()) {
                    p.display_name = display_name.clone();
                }
            }
            WorldEvent::PeerLeft { peer } => self.close_peer(peer.as_str(), &mut closed),
            WorldEvent::TransportCreated {
                transport,
                peer,
                kind,
            } => {
                if self.peers.contains_key(peer.as_str())
                    && !self.transports.contains_key(transport.as_str())
                    && !self.pipes.contains_key(transport.as_str())
                {
                    let t = MTransport {
                        peer: peer.to_string(),
                        kind: *kind,
                        ice: IceState::New,
                        tuple: None,
                        pinned: None,
                    };
                    self.transports.insert(transport.to_string(), t);
                }
            }
            WorldEvent::TransportClosed { transport } => {
                self.close_transport(transport.as_str(), &mut closed)
            }
            WorldEvent::IceStateChanged { transport, state } => {
                if let Some(t) = self.transports.get_mut(transport.as_str()) {
                    t.ice = *state;
                }
                self.pin(transport.as_str());
            }
            WorldEvent::IceSelectedTupleChanged { transport, tuple } => {
                if let Some(t) = self.transports.get_mut(transport.as_str()) {
                    t.tuple = tuple.clone();
                }
                self.pin(transport.as_str());
            }
            WorldEvent::ProducerCreated {
                producer,
                transport,
                kind,
                mime_type,
                clock_rate,
                paused,
            } => self.create_owner(
                Role::Producer,
                producer.as_str(),
                transport.as_str(),
                (*kind, mime_type.as_str(), clock_rate.get()),
                *paused,
            ),
            WorldEvent::ConsumerCreated {
                consumer,
                transport,
                kind,
                mime_type,
                clock_rate,
                paused,
                ..
            } => self.create_owner(
                Role::Consumer,
                consumer.as_str(),
                transport.as_str(),
                (*kind, mime_type.as_str(), clock_rate.get()),
                *paused,
            ),
            WorldEvent::ProducerClosed { producer } => {
                if self
                    .owners
                    .remove(&(Role::Producer, producer.to_string()))
                    .is_some()
                {
                    closed.owners.push(producer.to_string());
                }
            }
            WorldEvent::ConsumerClosed { consumer } => {
                if self
                    .owners
                    .remove(&(Role::Consumer, consumer.to_string()))
                    .is_some()
                {
                    closed.owners.push(consumer.to_string());
                }
            }
            WorldEvent::ProducerPaused { producer, paused } => {
                if let Some(o) = self.owners.get_mut(&(Role::Producer, producer.to_string())) {
                    o.paused = *paused;
                }
            }
            WorldEvent::ConsumerPaused { consumer, paused } => {
                if let Some(o) = self.owners.get_mut(&(Role::Consumer, consumer.to_string())) {
                    o.paused = *paused;
                }
            }
            WorldEvent::ScoreChanged { owner, ssrc, score } => {
                let (key, ty) = owner_key(owner);
                if let Some(o) = self.owners.get_mut(&key) {
                    let s = o
                        .streams
                        .entry((ty, *ssrc))
                        .or_insert_with(|| RtpStreamStats::empty(ty, *ssrc));
                    s.score = *score;
                }
            }
            WorldEvent::StatsUpdated { owner, stats } => {
                let (key, _) = owner_key(owner);
                if let Some(o) = self.owners.get_mut(&key) {
                    let s = o
                        .streams
                        .entry((stats.stream_type, stats.ssrc))
                        .or_insert_with(|| RtpStreamStats::empty(stats.stream_type, stats.ssrc));
                    // Counters never go backwards: older figures are dropped.
                    let older = stats.byte_count < s.byte_count
                        || stats.packet_count < s.packet_count
                        || stats.nack_count < s.nack_count
                        || stats.pli_count < s.pli_count
                        || stats.fir_count < s.fir_count;
                    if !older {
                        *s = stats.clone();
                    }
                }
            }
            WorldEvent::HostnameResolved { ip, hostname } => match hostname {
                Some(name) => {
                    self.dns.insert(*ip, name.clone());
                }
                None => {
                    self.dns.remove(ip);
                }
            },
        }
        closed
    }

    /// An exported transport with a tuple keeps the names known now for
    /// that tuple, whatever reverse DNS says later.
    fn pin(&mut self, transport: &str) {
        let Some(t) = self.transports.get(transport) else {
            return;
        };
        let exported = t.kind == TransportKind::WebRtc && t.ice == IceState::Completed;
        let Some(tuple) = t.tuple.clone().filter(|_| exported) else {
            return;
        };
        if t.pinned.as_ref().is_some_and(|(p, _)| *p == tuple) {
            return;
        }
        let name = |host: &Host| match host {
            Host::Ip(ip) => self.dns.get(ip).cloned(),
            Host::Name(_) => None,
        };
        let names = [name(&tuple.local.host), name(&tuple.remote.host)];
        if let Some(t) = self.transports.get_mut(transport) {
            t.pinned = Some((tuple, names));
        }
    }

    fn create_owner(
        &mut self,
        role: Role,
        id: &str,
        transport: &str,
        (kind, mime, clock_rate): (MediaKind, &str, u32),
        paused: bool,
    ) {
        let key = (role, id.to_string());
        if self.transports.contains_key(transport) && !self.owners.contains_key(&key) {
            let owner = MOwner {
                transport: transport.to_string(),
                kind,
                mime: mime.to_string(),
                clock_rate,
                paused,
                streams: BTreeMap::new(),
            };
            self.owners.insert(key, owner);
        }
    }

    fn close_room(&mut self, room: &str, closed: &mut Closed) {
        if self.rooms.remove(room).is_none() {
            return;
        }
        closed.rooms.push(room.to_string());
        self.routers.retain(|_, (r, _)| r != room);
        let pipes: Vec<String> = self
            .pipes
            .iter()
            .filter(|(_, (r, _))| r == room)
            .map(|(t, _)| t.clone())
            .collect();
        for pipe in pipes {
            self.close_transport(&pipe, closed);
        }
        let peers: Vec<String> = self
            .peers
            .iter()
            .filter(|(_, p)| p.room == room)
            .map(|(id, _)| id.clone())
            .collect();
        for peer in peers {
            self.close_peer(&peer, closed);
        }
    }

    fn close_peer(&mut self, peer: &str, closed: &mut Closed) {
        if self.peers.remove(peer).is_none() {
            return;
        }
        self.peers_left += 1;
        closed.peers.push(peer.to_string());
        let transports: Vec<String> = self
            .transports
            .iter()
            .filter(|(_, t)| t.peer == peer)
            .map(|(id, _)| id.clone())
            .collect();
        for transport in transports {
            self.close_transport(&transport, closed);
        }
    }

    fn close_transport(&mut self, transport: &str, closed: &mut Closed) {
        if self.pipes.remove(transport).is_some() {
            closed.transports.push(transport.to_string());
            return;
        }
        if self.transports.remove(transport).is_none() {
            return;
        }
        closed.transports.push(transport.to_string());
        let owners: Vec<(Role, String)> = self
            .owners
            .iter()
            .filter(|(_, o)| o.transport == transport)
            .map(|(k, _)| k.clone())
            .collect();
        for key in owners {
            self.owners.remove(&key);
            closed.owners.push(key.1);
        }
    }

    /// `Ejtimaa_peers`: room → peers in it, for every open room.
    pub fn peers_per_room(&self) -> BTreeMap<String, u64> {
        let mut counts: BTreeMap<String, u64> = self.rooms.keys().map(|r| (r.clone(), 0)).collect();
        for p in self.peers.values() {
            *counts.get_mut(&p.room).expect("peer in an open room") += 1;
        }
        counts
    }

    /// The exported streams of `role` grouped by label set: the streams on
    /// ICE-completed WebRTC transports, of the types the role shows, each with
    /// its owner's kind and clock rate.
    pub fn exported_streams(
        &self,
        role: Role,
        options: &ExportOptions,
    ) -> BTreeMap<Labels, Vec<(StreamKey, MediaKind, u32, &RtpStreamStats)>> {
        let mut groups: BTreeMap<Labels, Vec<_>> = BTreeMap::new();
        for ((r, id), owner) in &self.owners {
            if *r != role {
                continue;
            }
            let t = &self.transports[&owner.transport];
            if t.kind != TransportKind::WebRtc || t.ice != IceState::Completed {
                continue;
            }
            let peer = &self.peers[&t.peer];
            let pid = self.workers[&self.rooms[&peer.room]];
            for ((ty, ssrc), stream) in &owner.streams {
                if role == Role::Consumer && *ty == RtpStreamType::InboundRtp {
                    continue;
                }
                let max = options.label_value_max;
                let names = match (&t.pinned, &t.tuple) {
                    (Some((pinned, names)), Some(tuple)) if pinned == tuple => names.clone(),
                    _ => [None, None],
                };
                let [local_name, remote_name] = names;
                let (local, remote) = match &t.tuple {
                    Some(tuple) => (
                        address(&tuple.local, local_name.as_deref(), options),
                        address(&tuple.remote, remote_name.as_deref(), options),
                    ),
                    None => (String::new(), String::new()),
                };
                let cut = |s: &str| cap(s, max);
                let labels: Labels = [
                    ("pid", pid.to_string()),
                    ("room_id", cut(&peer.room)),
                    ("peer_id", cut(&t.peer)),
                    ("display_name", cut(&peer.display_name)),
                    ("user_agent", cut(&peer.user_agent)),
                    (
                        "transport_id",
                        if options.quiet {
                            String::new()
                        } else {
                            cut(&owner.transport)
                        },
                    ),
                    (
                        "proto",
                        t.tuple
                            .as_ref()
                            .map(|t| format!("{:?}", t.protocol).to_lowercase())
                            .unwrap_or_default(),
                    ),
                    ("local_addr", cut(&local)),
                    ("remote_addr", cut(&remote)),
                    (
                        "id",
                        if options.quiet {
                            String::new()
                        } else {
                            cut(id)
                        },
                    ),
                    ("kind", format!("{:?}", owner.kind).to_lowercase()),
                    (
                        "codec",
                        cut(owner.mime.split('/').nth(1).unwrap_or(&owner.mime)),
                    ),
                    (
                        "type",
                        match ty {
                            RtpStreamType::InboundRtp => "inbound-rtp",
                            RtpStreamType::OutboundRtp => "outbound-rtp",
                        }
                        .to_string(),
                    ),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect();
                groups.entry(labels).or_default().push((
                    (id.clone(), *ty, *ssrc),
                    owner.kind,
                    owner.clock_rate,
                    stream,
                ));
            }
        }
        groups
    }
}

/// The address label, written independently of the exporter's code; `name`
/// is the name fixed for the transport, if any.
fn address(endpoint: &Endpoint, name: Option<&str>, options: &ExportOptions) -> String {
    let port = endpoint.port;
    match &endpoint.host {
        Host::Ip(IpAddr::V4(v4)) if options.deidentify => {
            let o = v4.octets();
            format!("xx.xx.{}.{}:{port}", o[2], o[3])
        }
        Host::Ip(IpAddr::V6(v6)) if options.deidentify => {
            let s = v6.segments();
            format!("[xx:xx:xx:xx:xx:xx:{:x}:{:x}]:{port}", s[6], s[7])
        }
        Host::Name(name) if options.deidentify => {
            let parts: Vec<&str> = name.split('.').collect();
            let n = parts.len();
            let masked: Vec<&str> = parts
                .iter()
                .enumerate()
                .map(|(i, p)| if i + 2 < n { "xx" } else { *p })
                .collect();
            format!("{}:{port}", masked.join("."))
        }
        Host::Ip(ip) => match name {
            Some(name) if !options.numeric => format!("{name}:{port}"),
            _ => match ip {
                IpAddr::V4(v4) => format!("{v4}:{port}"),
                IpAddr::V6(v6) => format!("[{v6}]:{port}"),
            },
        },
        Host::Name(name) => format!("{name}:{port}"),
    }
}

/// A label value as the exporter must cut it: at most `max` characters, the
/// last one `…` when anything was cut.
pub fn cap(value: &str, max: usize) -> String {
    if value.chars().count() <= max {
        return value.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out: String = value.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// A stream's round-trip time in seconds, if it has a usable one.
pub fn rtt_seconds(s: &RtpStreamStats) -> Option<f64> {
    let ms = s.round_trip_time?;
    (ms.is_finite() && ms >= 0.0).then(|| f64::from(ms) / 1000.0)
}

fn owner_key(owner: &StreamOwner) -> ((Role, String), RtpStreamType) {
    match owner {
        StreamOwner::Producer(id) => ((Role::Producer, id.to_string()), RtpStreamType::InboundRtp),
        StreamOwner::Consumer(id) => ((Role::Consumer, id.to_string()), RtpStreamType::OutboundRtp),
    }
}
