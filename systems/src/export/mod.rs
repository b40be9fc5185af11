//! The export system: renders the Prometheus text exposition from the world.
//!
//! Each scrape runs [`refresh_room_labels`] and its siblings (recompute label
//! fragments of what changed), [`rebuild_export_order`] (only when the world's
//! shape or a label changed) and [`render_exposition`] (copies fragments and
//! numbers into one reused buffer).

mod address;
mod auth;
mod bound;
mod escape;
mod figures;
mod labels;
mod options;
mod order;
mod render;

pub use address::push_endpoint;
pub use auth::{AuthFigures, AuthRefusal};
pub use bound::{ORIGINAL_LABELS, max_series_len};
pub use escape::{
    TRUNCATION_MARKER, capped, push_capped_label, push_capped_value, push_label, push_label_value,
};
pub use figures::{
    BodySize, BuildInfo, LATENCY_BOUNDS, Limit, LimitRefusals, MethodCounts, MethodLatency,
    ProcessFigures, RdnsFigures, ScrapeFigures, ServerFigures, WorkerCpu,
};
pub use labels::{
    LabelFragment, Scratch, StreamOwnerComponent, refresh_owner_labels, refresh_peer_labels,
    refresh_room_labels, refresh_transport_labels,
};
pub use options::{DEFAULT_LABEL_VALUE_MAX, ExportOptions, MetricsMode};
pub use order::{ExportOrder, rebuild_export_order};
pub use render::{CONTENT_TYPE, Exposition, ServerSources, StreamSources, render_exposition};
