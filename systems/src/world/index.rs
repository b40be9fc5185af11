//! The id → entity indexes: one typed [`IdIndex`] resource per indexed
//! component, for constant-time lookups, kept consistent with despawns by an
//! `on_remove` hook on every indexed component.

use std::collections::HashMap;
use std::hash::Hash;

use bevy_ecs::lifecycle::HookContext;
use bevy_ecs::prelude::*;
use bevy_ecs::world::DeferredWorld;

/// A component that carries the id it is indexed by.
pub trait Indexed: Component {
    /// Its typed id.
    type Id: Clone + Eq + Hash + Send + Sync + 'static;
    /// The id of this object.
    fn id(&self) -> &Self::Id;
}

/// Maps every live `T`'s id to its entity.
#[derive(Resource)]
pub struct IdIndex<T: Indexed> {
    entities: HashMap<T::Id, Entity>,
}

impl<T: Indexed> Default for IdIndex<T> {
    fn default() -> Self {
        Self {
            entities: HashMap::new(),
        }
    }
}

impl<T: Indexed> IdIndex<T> {
    /// The entity of the live `T` with this id.
    pub fn get(&self, id: &T::Id) -> Option<Entity> {
        self.entities.get(id).copied()
    }

    /// How many live `T`s there are.
    pub fn len(&self) -> usize {
        self.entities.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entities.is_empty()
    }

    pub(crate) fn insert(&mut self, id: T::Id, entity: Entity) {
        self.entities.insert(id, entity);
    }
}

/// `on_remove` hook: forget the entity's id, but only if the index still points
/// at this entity.
pub(crate) fn unindex<T: Indexed>(mut world: DeferredWorld, ctx: HookContext) {
    let Some(id) = world.get::<T>(ctx.entity).map(|c| c.id().clone()) else {
        return;
    };
    let Some(mut index) = world.get_resource_mut::<IdIndex<T>>() else {
        return;
    };
    if index.get(&id) == Some(ctx.entity) {
        index.entities.remove(&id);
    }
}
