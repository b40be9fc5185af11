//! The exporter's options (`[prometheus]` in the config file).

use bevy_ecs::prelude::*;

/// How the exporter writes identifying labels, and which stream families it shows.
#[derive(Resource, Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct ExportOptions {
    /// Mask addresses: `xx.xx.3.4:port`; IPv6 keeps its last two groups.
    pub deidentify: bool,
    /// Addresses as `ip:port`, no reverse DNS names.
    pub numeric: bool,
    /// Leave the `transport_id` and `id` labels empty.
    pub quiet: bool,
    /// Per-stream series, per-room aggregates, or both.
    pub metrics: MetricsMode,
}

/// Which stream families the exporter writes.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq, Hash)]
pub enum MetricsMode {
    /// One series per RTP stream with the original's 13 labels (its families,
    /// and the richer ones beside them).
    #[default]
    Default,
    /// No per-peer labels: min, max and mean per room, role and kind. For
    /// deployments where per-stream series are too many.
    Aggregated,
    /// Both of the above.
    Both,
}

impl MetricsMode {
    /// Whether per-stream series are written.
    pub fn per_stream(self) -> bool {
        matches!(self, MetricsMode::Default | MetricsMode::Both)
    }

    /// Whether per-room aggregates are written.
    pub fn aggregated(self) -> bool {
        matches!(self, MetricsMode::Aggregated | MetricsMode::Both)
    }
}
