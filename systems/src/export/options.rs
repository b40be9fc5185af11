//! The exporter's label options (`[prometheus]` in the config file).

use bevy_ecs::prelude::*;

/// How the exporter writes identifying labels.
#[derive(Resource, Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct ExportOptions {
    /// Mask addresses: `xx.xx.3.4:port`; IPv6 keeps its last two groups.
    pub deidentify: bool,
    /// Addresses as `ip:port`, no reverse DNS names.
    pub numeric: bool,
    /// Leave the `transport_id` and `id` labels empty.
    pub quiet: bool,
}
