//! The order in which series are written, cached between scrapes.
//!
//! Series are sorted by their identifying labels, then by their whole label
//! text, so the output depends only on what the world holds, never on the
//! order things happened in; and series whose label sets coincide sit side by
//! side, so the renderer merges them instead of writing a duplicate: rows
//! with the same 13 labels (with `quiet`, two producers of one transport,
//! kind and codec) for the original families and `_info`, rows with the same
//! identifying labels (with `quiet`, a peer's streams of one kind) for the
//! detail families. The order is rebuilt only when the world's shape or a label
//! changed since the last scrape.

use bevy_ecs::prelude::*;
use bevy_ecs::system::SystemParam;

use super::labels::LabelFragment;
use crate::world::{Consumer, Producer, Room, Topology, Transport};

/// One producer or consumer whose streams are exported, with its ancestors.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Row {
    pub owner: Entity,
    pub transport: Entity,
    pub peer: Entity,
    pub room: Entity,
    /// Same four label fragments as the row before: its series merge with it.
    pub same_labels_as_previous: bool,
    /// Same identifying labels as the row before: its detail series merge with it.
    pub same_identity_as_previous: bool,
}

/// The cached order; see the module doc.
#[derive(Resource, Default)]
pub struct ExportOrder {
    built_at: Option<u64>,
    pub(crate) rooms: Vec<Entity>,
    pub(crate) producers: Vec<Row>,
    pub(crate) consumers: Vec<Row>,
}

/// What the order is built from: the objects and their label fragments.
#[derive(SystemParam)]
pub struct OrderSources<'w, 's> {
    rooms: Query<'w, 's, (Entity, &'static Room)>,
    producers: Query<'w, 's, (Entity, &'static ChildOf), With<Producer>>,
    consumers: Query<'w, 's, (Entity, &'static ChildOf), With<Consumer>>,
    transports: Query<'w, 's, (&'static Transport, &'static ChildOf)>,
    parents: Query<'w, 's, &'static ChildOf>,
    fragments: Query<'w, 's, &'static LabelFragment>,
    /// Fragments whose text changed (or that appeared) since the last run.
    changed_fragments: Query<'w, 's, (), Changed<LabelFragment>>,
}

/// Rebuilds [`ExportOrder`] if the topology or any label changed.
pub fn rebuild_export_order(
    mut order: ResMut<ExportOrder>,
    topology: Res<Topology>,
    sources: OrderSources,
) {
    if order.built_at == Some(topology.generation) && sources.changed_fragments.is_empty() {
        return;
    }
    let OrderSources {
        rooms,
        producers,
        consumers,
        transports,
        parents,
        fragments,
        changed_fragments: _,
    } = sources;
    let order = &mut *order;
    order.built_at = Some(topology.generation);

    // By the room_id label as written (cut to `label_value_max`), so rooms
    // whose labels coincide sit side by side and their series merge.
    let mut sorted_rooms: Vec<(&str, &str, Entity)> = rooms
        .iter()
        .map(|(e, room)| {
            let label = fragments.get(e).map_or("", LabelFragment::identity);
            (label, room.id.as_str(), e)
        })
        .collect();
    sorted_rooms.sort_unstable();
    order.rooms.clear();
    order
        .rooms
        .extend(sorted_rooms.into_iter().map(|(_, _, e)| e));

    let row_of = |(owner, child_of): (Entity, &ChildOf)| -> Option<Row> {
        let transport = child_of.parent();
        let (t, t_parent) = transports.get(transport).ok()?;
        if !t.is_exported() {
            return None;
        }
        let peer = t_parent.parent();
        let room = parents.get(peer).ok()?.parent();
        Some(Row {
            owner,
            transport,
            peer,
            room,
            same_labels_as_previous: false,
            same_identity_as_previous: false,
        })
    };
    sort_rows(
        &mut order.producers,
        producers.iter().filter_map(row_of),
        &fragments,
    );
    sort_rows(
        &mut order.consumers,
        consumers.iter().filter_map(row_of),
        &fragments,
    );
}

fn sort_rows(
    rows: &mut Vec<Row>,
    found: impl Iterator<Item = Row>,
    fragments: &Query<&LabelFragment>,
) {
    let text = |e: Entity| fragments.get(e).map_or("", LabelFragment::as_str);
    let identity = |e: Entity| fragments.get(e).map_or("", LabelFragment::identity);
    let mut keyed: Vec<([&str; 3], [&str; 4], Row)> = found
        .map(|row| {
            let id = [identity(row.room), identity(row.peer), identity(row.owner)];
            let all = [
                text(row.room),
                text(row.peer),
                text(row.transport),
                text(row.owner),
            ];
            (id, all, row)
        })
        .collect();
    keyed.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    rows.clear();
    let mut previous: Option<([&str; 3], [&str; 4])> = None;
    for (id, all, mut row) in keyed {
        row.same_identity_as_previous = previous.is_some_and(|p| p.0 == id);
        row.same_labels_as_previous = previous.is_some_and(|p| p.1 == all);
        previous = Some((id, all));
        rows.push(row);
    }
}
