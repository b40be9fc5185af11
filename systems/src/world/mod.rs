//! The world model: components, the id index and the apply system.

mod apply;
mod components;
mod counters;
mod index;

pub use apply::{Inbox, ReverseDns, apply_event, apply_events};
pub use components::{
    Consumer, Peer, PeerTotals, PipeOf, Producer, Room, Router, RtpStreams, Transport, Worker,
};
pub use counters::{EventCounts, Ignored, Topology};
pub use index::{IdIndex, Indexed};
