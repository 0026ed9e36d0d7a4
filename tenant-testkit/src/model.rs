//! The model: what each tenant's tables hold, written with none of the crate's code.

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;

/// One stored row as the model knows it.
#[derive(Clone)]
pub(crate) struct Stored {
    /// The typed key, for generating ops that name it.
    pub(crate) key: Arc<dyn Any + Send + Sync>,
    /// The typed row, when the model can know it (no column the database fills).
    pub(crate) row: Option<Arc<dyn Any + Send + Sync>>,
    /// `(entity, key)` of the parents it names.
    pub(crate) parents: Vec<(usize, String)>,
}

/// One tenant's tables: per entity (in registration order), rows by the `Debug` text of
/// their key.
#[derive(Clone, Default)]
pub(crate) struct TenantModel {
    pub(crate) tables: Vec<BTreeMap<String, Stored>>,
}

impl std::fmt::Debug for TenantModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.tables.iter().map(|t| t.keys().collect::<Vec<_>>()))
            .finish()
    }
}

impl TenantModel {
    pub(crate) fn new(entities: usize) -> Self {
        TenantModel {
            tables: vec![BTreeMap::new(); entities],
        }
    }

    pub(crate) fn has(&self, entity: usize, key: &str) -> bool {
        self.tables[entity].contains_key(key)
    }

    /// The typed keys of `entity`'s rows.
    pub(crate) fn keys<K: Clone + 'static>(&self, entity: usize) -> Vec<K> {
        self.tables[entity]
            .values()
            .filter_map(|s| s.key.downcast_ref::<K>().cloned())
            .collect()
    }

    /// Whether some row of this tenant names `(entity, key)` as its parent: deleting it is a
    /// foreign-key error.
    pub(crate) fn has_children(&self, entity: usize, key: &str) -> bool {
        self.tables.iter().any(|table| {
            table
                .values()
                .any(|s| s.parents.iter().any(|(e, k)| *e == entity && k == key))
        })
    }

    /// Whether every parent named exists for this tenant.
    pub(crate) fn parents_exist(&self, parents: &[(usize, String)]) -> bool {
        parents.iter().all(|(e, k)| self.has(*e, k))
    }
}
