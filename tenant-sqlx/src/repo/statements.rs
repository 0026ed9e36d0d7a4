//! Statements rendered once per entity and dialect, then reused by every call.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, OnceLock, PoisonError, RwLock};

use super::backend::{DIALECTS, Dialect};
use super::filter::Op;
use super::meta::EntityMeta;
use super::sql;

/// The statements whose text depends only on the entity.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Fixed {
    Get,
    List,
    Count,
    Insert,
    Delete,
    SystemList,
    SystemCount,
    SystemTenantIds,
}

const FIXED: usize = 8;

impl Fixed {
    fn render(self, meta: &EntityMeta, dialect: Dialect) -> String {
        match self {
            Fixed::Get => sql::get(meta, dialect),
            Fixed::List => sql::list(meta, dialect),
            Fixed::Count => sql::count(meta, dialect),
            Fixed::Insert => sql::insert(meta, dialect),
            Fixed::Delete => sql::delete(meta, dialect),
            Fixed::SystemList => sql::system_list(meta, dialect),
            Fixed::SystemCount => sql::system_count(meta, dialect),
            Fixed::SystemTenantIds => sql::system_tenant_ids(meta, dialect),
        }
    }
}

/// Statements whose text depends on a runtime shape (which fields a patch sets, which predicates
/// a filter has). Shapes come from the program's own call sites, so the map stays small.
struct ShapeCache<K>(OnceLock<RwLock<ShapeMap<K>>>);

/// FNV-1a: the keys are a few machine words from the program's own call sites, not attacker
/// input, and SipHash showed up in the `update` and `list_where` benchmarks.
type ShapeMap<K> = HashMap<K, Arc<str>, fnv::FnvBuildHasher>;

impl<K: Hash + Eq> ShapeCache<K> {
    const fn new() -> Self {
        ShapeCache(OnceLock::new())
    }

    fn get_or_render<Q>(&self, shape: &Q, render: impl FnOnce() -> (K, String)) -> Arc<str>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let map = self.0.get_or_init(Default::default);
        let cached = map
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(shape)
            .cloned();
        if let Some(sql) = cached {
            return sql;
        }
        let (key, sql) = render();
        map.write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key)
            .or_insert_with(|| Arc::from(sql))
            .clone()
    }
}

struct DialectStatements {
    fixed: [OnceLock<String>; FIXED],
    ddl: OnceLock<Vec<String>>,
    updates: ShapeCache<u64>,
    filters: ShapeCache<Box<[(usize, Op)]>>,
}

/// The statement cache of one entity. `#[tenant_scoped]` puts one in a `static`.
#[doc(hidden)]
pub struct Statements {
    dialects: [DialectStatements; DIALECTS],
}

impl Default for Statements {
    fn default() -> Self {
        Self::new()
    }
}

impl Statements {
    /// An empty cache.
    pub const fn new() -> Self {
        Statements {
            dialects: [const {
                DialectStatements {
                    fixed: [const { OnceLock::new() }; FIXED],
                    ddl: OnceLock::new(),
                    updates: ShapeCache::new(),
                    filters: ShapeCache::new(),
                }
            }; DIALECTS],
        }
    }

    pub(crate) fn fixed(
        &'static self,
        meta: &EntityMeta,
        dialect: Dialect,
        which: Fixed,
    ) -> &'static str {
        self.dialects[dialect as usize].fixed[which as usize]
            .get_or_init(|| which.render(meta, dialect))
    }

    pub(crate) fn ddl(&'static self, meta: &EntityMeta, dialect: Dialect) -> &'static [String] {
        self.dialects[dialect as usize]
            .ddl
            .get_or_init(|| sql::ddl(meta, dialect))
    }

    pub(crate) fn update(&self, meta: &EntityMeta, dialect: Dialect, mask: u64) -> Arc<str> {
        self.dialects[dialect as usize]
            .updates
            .get_or_render(&mask, || (mask, sql::update(meta, dialect, mask)))
    }

    pub(crate) fn list_where(
        &self,
        meta: &EntityMeta,
        dialect: Dialect,
        shape: &[(usize, Op)],
    ) -> Arc<str> {
        self.dialects[dialect as usize]
            .filters
            .get_or_render(shape, || {
                (shape.into(), sql::list_where(meta, dialect, shape))
            })
    }
}
