//! [`Core`]: a World with its schedules, the one object the engine thread owns.

use bevy_ecs::prelude::*;
use bevy_ecs::schedule::ScheduleLabel;

use crate::event::WorldEvent;
use crate::export::{
    ExportOptions, ExportOrder, Exposition, ServerFigures, rebuild_export_order,
    refresh_owner_labels, refresh_peer_labels, refresh_room_labels, refresh_transport_labels,
    render_exposition,
};
use crate::views::{self, PeerView, RoomView, Summary};
use crate::world::{
    Consumer, EventCounts, IdIndex, Inbox, Peer, PeerTotals, Producer, ReverseDns, Room, Router,
    Topology, Transport, Worker, apply_events,
};

/// Runs [`apply_events`]: events in, state out.
#[derive(ScheduleLabel, Clone, Debug, PartialEq, Eq, Hash)]
pub struct ApplySchedule;

/// Refreshes label caches and renders the exposition.
#[derive(ScheduleLabel, Clone, Debug, PartialEq, Eq, Hash)]
pub struct ExportSchedule;

/// The world and its systems.
pub struct Core {
    world: World,
}

impl Default for Core {
    fn default() -> Self {
        Self::new(ExportOptions::default())
    }
}

impl Core {
    /// An empty world exporting with `options`.
    pub fn new(options: ExportOptions) -> Self {
        let mut world = World::new();
        world.init_resource::<IdIndex<Worker>>();
        world.init_resource::<IdIndex<Room>>();
        world.init_resource::<IdIndex<Router>>();
        world.init_resource::<IdIndex<Peer>>();
        world.init_resource::<IdIndex<Transport>>();
        world.init_resource::<IdIndex<Producer>>();
        world.init_resource::<IdIndex<Consumer>>();
        world.init_resource::<Inbox>();
        world.init_resource::<EventCounts>();
        world.init_resource::<Topology>();
        world.init_resource::<ReverseDns>();
        world.init_resource::<ExportOrder>();
        world.init_resource::<Exposition>();
        world.init_resource::<PeerTotals>();
        world.init_resource::<ServerFigures>();
        world.insert_resource(options);

        let mut apply = Schedule::new(ApplySchedule);
        apply.add_systems(apply_events);
        world.add_schedule(apply);

        let mut export = Schedule::new(ExportSchedule);
        export.add_systems(
            (
                (
                    refresh_room_labels,
                    refresh_peer_labels,
                    refresh_transport_labels,
                    refresh_owner_labels::<Producer>,
                    refresh_owner_labels::<Consumer>,
                ),
                rebuild_export_order,
                render_exposition,
            )
                .chain(),
        );
        world.add_schedule(export);
        Self { world }
    }

    /// Queues an event for the next [`Core::apply`].
    pub fn push(&mut self, event: WorldEvent) {
        self.world.resource_mut::<Inbox>().0.push(event);
    }

    /// Applies the queued events.
    pub fn apply(&mut self) {
        if !self.world.resource::<Inbox>().0.is_empty() {
            self.world.run_schedule(ApplySchedule);
        }
        // Keeps change ticks from wrapping on a long-running server; cheap when
        // there is nothing to do.
        self.world.check_change_ticks();
    }

    /// Queues and applies events.
    pub fn apply_all(&mut self, events: impl IntoIterator<Item = WorldEvent>) {
        self.world.resource_mut::<Inbox>().0.extend(events);
        self.apply();
    }

    /// Changes the export options (a no-op if they are the same).
    pub fn set_options(&mut self, options: ExportOptions) {
        let mut current = self.world.resource_mut::<ExportOptions>();
        if *current != options {
            *current = options;
        }
    }

    /// Sets the server's own figures for the next renders.
    pub fn set_server_figures(&mut self, figures: ServerFigures) {
        *self.world.resource_mut::<ServerFigures>() = figures;
    }

    /// Applies queued events and renders the exposition text.
    pub fn render(&mut self) -> &str {
        self.apply();
        self.world.run_schedule(ExportSchedule);
        self.world.resource::<Exposition>().as_str()
    }

    /// Applies queued events, renders, and hands the text over without
    /// copying it; `spare` becomes the buffer of the next render (pass the
    /// previous text back when nobody holds it any more, so that steady-state
    /// renders do not allocate).
    pub fn render_owned(&mut self, spare: String) -> String {
        self.render();
        self.world.resource_mut::<Exposition>().take_text(spare)
    }

    /// What the apply system did so far.
    pub fn counts(&self) -> &EventCounts {
        self.world.resource::<EventCounts>()
    }

    /// How many live objects of each kind there are.
    pub fn summary(&self) -> Summary {
        views::summary(&self.world)
    }

    /// The rooms, sorted by id.
    pub fn rooms(&mut self) -> Vec<RoomView> {
        views::rooms(&mut self.world)
    }

    /// The peers with their transports, producers and consumers, sorted by id.
    pub fn peers(&mut self) -> Vec<PeerView> {
        views::peers(&mut self.world)
    }

    /// The world, for queries (tests, benches).
    pub fn world(&self) -> &World {
        &self.world
    }

    /// The world, mutably.
    pub fn world_mut(&mut self) -> &mut World {
        &mut self.world
    }
}
