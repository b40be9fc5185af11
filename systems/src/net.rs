//! Transport vocabulary: kinds, ICE state and the selected tuple.

use core::fmt;
use std::net::IpAddr;

/// The kind of a mediasoup transport.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum TransportKind {
    /// ICE + DTLS + SRTP towards a client; the only kind the exporter shows.
    WebRtc,
    /// Plain RTP.
    Plain,
    /// Router-to-router pipe.
    Pipe,
    /// In-process direct transport.
    Direct,
}

impl TransportKind {
    /// Every kind, in label order.
    pub const ALL: [TransportKind; 4] = [
        TransportKind::WebRtc,
        TransportKind::Plain,
        TransportKind::Pipe,
        TransportKind::Direct,
    ];

    /// `webrtc`, `plain`, `pipe` or `direct`: the `type` label of `Ejtimaa_transports`.
    pub fn as_str(self) -> &'static str {
        match self {
            TransportKind::WebRtc => "webrtc",
            TransportKind::Plain => "plain",
            TransportKind::Pipe => "pipe",
            TransportKind::Direct => "direct",
        }
    }
}

/// The ICE state of a WebRTC transport, as mediasoup reports it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum IceState {
    /// No connectivity checks yet.
    #[default]
    New,
    /// A valid pair, not yet nominated.
    Connected,
    /// Nominated: media flows. Only transports in this state are exported.
    Completed,
    /// Consent lost.
    Disconnected,
    /// Closed.
    Closed,
}

impl IceState {
    /// Every state, in label order.
    pub const ALL: [IceState; 5] = [
        IceState::New,
        IceState::Connected,
        IceState::Completed,
        IceState::Disconnected,
        IceState::Closed,
    ];

    /// The state as mediasoup names it (`completed`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            IceState::New => "new",
            IceState::Connected => "connected",
            IceState::Completed => "completed",
            IceState::Disconnected => "disconnected",
            IceState::Closed => "closed",
        }
    }
}

/// The transport protocol of a tuple.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Protocol {
    /// UDP.
    Udp,
    /// TCP.
    Tcp,
}

impl Protocol {
    /// `udp` or `tcp`, the `proto` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Udp => "udp",
            Protocol::Tcp => "tcp",
        }
    }
}

/// A host as mediasoup names it: an IP address, or (for an announced local
/// address) a name.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum Host {
    /// A numeric address.
    Ip(IpAddr),
    /// A host name.
    Name(Box<str>),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Ip(ip) => ip.fmt(f),
            Host::Name(name) => f.write_str(name),
        }
    }
}

/// One end of a tuple.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Endpoint {
    /// Address or name.
    pub host: Host,
    /// Port.
    pub port: u16,
}

/// The ICE selected tuple of a transport.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct TransportTuple {
    /// UDP or TCP.
    pub protocol: Protocol,
    /// Our end.
    pub local: Endpoint,
    /// The client's end.
    pub remote: Endpoint,
}

/// The reverse DNS names a transport's address labels use for one tuple,
/// fixed when its streams become exported (ICE completed with a selected
/// tuple): a name known then, or `None` for `ip:port`. Fixing them keeps a
/// later DNS answer from turning a live series into a new one.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PinnedNames {
    /// The tuple the names are for.
    pub tuple: TransportTuple,
    /// The local end's name.
    pub local: Option<Box<str>>,
    /// The remote end's name.
    pub remote: Option<Box<str>>,
}
