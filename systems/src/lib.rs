//! Ejtimaa's pure core: the world model as bevy_ecs entities, the
//! [`WorldEvent`]s that change it, and the export system that renders the
//! Prometheus text exposition from it. No I/O, no async, no mediasoup.
//!
//! ```
//! use ejtimaa_systems::{Core, WorldEvent};
//!
//! let mut core = Core::default();
//! core.apply_all([
//!     WorldEvent::WorkerStarted { worker: "w1".into(), pid: 42 },
//!     WorldEvent::RoomOpened { room: "lobby".into(), worker: "w1".into() },
//! ]);
//! assert!(core.render().contains("Ejtimaa_rooms 1\n"));
//! ```

mod core;
pub mod event;
pub mod export;
pub mod ids;
pub mod media;
pub mod net;
pub mod views;
pub mod world;

pub use crate::core::{ApplySchedule, Core, ExportSchedule};
pub use event::{StreamOwner, WorldEvent};
pub use export::{ExportOptions, MetricsMode, ServerFigures};
pub use ids::{ConsumerId, PeerId, ProducerId, RoomId, RouterId, TransportId, WorkerId};
pub use media::{MediaKind, MimeType, RtpStreamStats, RtpStreamType, Score};
pub use net::{Endpoint, Host, IceState, Protocol, TransportKind, TransportTuple};
pub use views::{ConsumerView, PeerView, ProducerView, RoomView, Summary, TransportView};
pub use world::{EventCounts, Ignored};
