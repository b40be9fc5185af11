//! The exporter's options (`[prometheus]` in the config file).

use bevy_ecs::prelude::*;

/// The default of [`ExportOptions::label_value_max`], in characters.
pub const DEFAULT_LABEL_VALUE_MAX: usize = 128;

/// How the exporter writes identifying labels, and which stream families it shows.
#[derive(Resource, Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExportOptions {
    /// Mask addresses: `xx.xx.3.4:port`; IPv6 keeps its last two groups.
    pub deidentify: bool,
    /// Addresses as `ip:port`, no reverse DNS names.
    pub numeric: bool,
    /// Leave the `transport_id` and `id` labels empty.
    pub quiet: bool,
    /// Per-stream series, per-room aggregates, or both.
    pub metrics: MetricsMode,
    /// Most characters of a label value taken from the World (ids, names, user
    /// agents, addresses, codecs, versions); longer ones are cut and end in
    /// `…`, which counts towards the bound.
    pub label_value_max: usize,
}

impl Default for ExportOptions {
    fn default() -> Self {
        Self {
            deidentify: false,
            numeric: false,
            quiet: false,
            metrics: MetricsMode::Default,
            label_value_max: DEFAULT_LABEL_VALUE_MAX,
        }
    }
}

/// Which stream families the exporter writes.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq, Hash)]
pub enum MetricsMode {
    /// One series per RTP stream: the original's families with its 13 labels,
    /// the `_info` families, and the detail families with identifying labels.
    #[default]
    Default,
    /// No per-peer labels: sum, count, and the worst value per room, role and
    /// kind. For deployments where per-stream series are too many.
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
