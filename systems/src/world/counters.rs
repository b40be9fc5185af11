//! Counts of what the apply system did with the events it was given.

use bevy_ecs::prelude::*;

/// Why an event changed nothing.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Ignored {
    /// It named an object (or parent) that is unknown or already closed.
    Unknown,
    /// It would have created an object whose id is already live.
    Duplicate,
    /// Stats whose counters went backwards: a `get_stats` reply overtaken by a newer one.
    Stale,
}

/// Totals kept by the apply system: what it applied, what it ignored and why.
#[derive(Resource, Default, Clone, Debug, PartialEq, Eq)]
pub struct EventCounts {
    /// Events that changed the world.
    pub applied: u64,
    /// Events naming unknown or closed objects.
    pub unknown: u64,
    /// Events creating an object whose id was live.
    pub duplicate: u64,
    /// Stats older than those already held.
    pub stale: u64,
    /// Workers that died (not closed on purpose).
    pub worker_deaths: u64,
}

impl EventCounts {
    pub(crate) fn count(&mut self, outcome: Result<(), Ignored>) {
        match outcome {
            Ok(()) => self.applied += 1,
            Err(Ignored::Unknown) => self.unknown += 1,
            Err(Ignored::Duplicate) => self.duplicate += 1,
            Err(Ignored::Stale) => self.stale += 1,
        }
    }
}

/// Bumped whenever an object appears or goes, or a transport starts or stops
/// being exported: lets caches of the world's shape know when to rebuild.
#[derive(Resource, Default, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Topology {
    /// Changes so far.
    pub generation: u64,
}
