//! The id → entity index: constant-time lookups, kept consistent with despawns
//! by an `on_remove` hook on every indexed component.

use std::any::{Any, TypeId};
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

/// Maps every live object's id to its entity, one table per indexed component.
#[derive(Resource, Default)]
pub struct IdIndex {
    tables: HashMap<TypeId, Box<dyn Any + Send + Sync>>,
}

impl IdIndex {
    /// The entity of the live `T` with this id.
    pub fn get<T: Indexed>(&self, id: &T::Id) -> Option<Entity> {
        self.table::<T>()?.get(id).copied()
    }

    /// How many live `T`s there are.
    pub fn count<T: Indexed>(&self) -> usize {
        self.table::<T>().map_or(0, HashMap::len)
    }

    pub(crate) fn insert<T: Indexed>(&mut self, id: T::Id, entity: Entity) {
        self.table_mut::<T>().insert(id, entity);
    }

    fn table<T: Indexed>(&self) -> Option<&HashMap<T::Id, Entity>> {
        self.tables
            .get(&TypeId::of::<T>())
            .and_then(|t| t.downcast_ref())
    }

    fn table_mut<T: Indexed>(&mut self) -> &mut HashMap<T::Id, Entity> {
        self.tables
            .entry(TypeId::of::<T>())
            .or_insert_with(|| Box::new(HashMap::<T::Id, Entity>::new()))
            .downcast_mut()
            .expect("IdIndex tables are keyed by their own type")
    }
}

/// `on_remove` hook: forget the entity's id, but only if the index still points
/// at this entity.
pub(crate) fn unindex<T: Indexed>(mut world: DeferredWorld, ctx: HookContext) {
    let Some(id) = world.get::<T>(ctx.entity).map(|c| c.id().clone()) else {
        return;
    };
    let Some(mut index) = world.get_resource_mut::<IdIndex>() else {
        return;
    };
    let table = index.table_mut::<T>();
    if table.get(&id) == Some(&ctx.entity) {
        table.remove(&id);
    }
}
