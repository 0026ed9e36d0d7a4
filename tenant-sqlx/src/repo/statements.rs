//! Statements rendered once per entity and dialect, then reused by every call.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, OnceLock, PoisonError, RwLock};

use super::dialect::{DIALECTS, Dialect};
use super::meta::EntityMeta;
use super::shape::{Node, Term};
use super::sql::read::{self, Filtered, Ordered};
use super::sql::{ddl, write};

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
            Fixed::Get => read::get(meta, dialect),
            Fixed::List => read::list(meta, dialect),
            Fixed::Count => read::count(meta, dialect),
            Fixed::Insert => write::insert(meta, dialect),
            Fixed::Delete => write::delete(meta, dialect),
            Fixed::SystemList => read::system_list(meta, dialect),
            Fixed::SystemCount => read::system_count(meta, dialect),
            Fixed::SystemTenantIds => read::system_tenant_ids(meta, dialect),
        }
    }
}

/// Statements whose text depends on a runtime shape (which fields a patch sets, which predicates
/// a filter has). Shapes usually come from the program's own call sites, but a filter built from
/// request data (a search form ANDing what the user picked) can take any number of shapes, so
/// the cache holds at most [`SHAPES_MAX`] of them (and, for the statements whose text grows
/// with the shape, a budget of bytes) and renders the rest on each call.
struct ShapeCache<K> {
    shapes: OnceLock<RwLock<Shapes<K>>>,
    max_shapes: usize,
    max_bytes: usize,
}

/// The most shapes one cache keeps, per entity and dialect.
const SHAPES_MAX: usize = 1024;

/// `insert_many`'s statements by row count: at most this many sizes, of at most
/// [`INSERT_MANY_BYTES`] of text together, per entity and dialect. A program that inserts in
/// batches of a steady size has that size (and the full chunk, and its own tails) cached after
/// the first call. Sizes beyond the bounds are rendered on each call, which is cheap (1,000
/// rows of 4 columns: about 8 µs on SQLite and 40 µs on PostgreSQL, against 1.3 and 5 ms for
/// the insert), and are not kept in the connection's cache of prepared statements either (see
/// `write.rs`).
const INSERT_MANY_SHAPES: usize = 64;

/// The text budget of `insert_many`'s cache: a full PostgreSQL chunk of a narrow table
/// (65535 placeholders) is about 500 kB, 1,000 rows of 5 columns about 40 kB.
const INSERT_MANY_BYTES: usize = 2 << 20;

/// FNV-1a: the keys are a few machine words from the program's own call sites, not attacker
/// input, and SipHash showed up in the `update` and `list_where` benchmarks.
type ShapeMap<K> = HashMap<K, Arc<str>, fnv::FnvBuildHasher>;

struct Shapes<K> {
    map: ShapeMap<K>,
    /// The length of every statement in `map`.
    bytes: usize,
}

impl<K> Default for Shapes<K> {
    fn default() -> Self {
        Shapes {
            map: ShapeMap::default(),
            bytes: 0,
        }
    }
}

impl<K: Hash + Eq> ShapeCache<K> {
    const fn new() -> Self {
        Self::bounded(SHAPES_MAX, usize::MAX)
    }

    const fn bounded(max_shapes: usize, max_bytes: usize) -> Self {
        ShapeCache {
            shapes: OnceLock::new(),
            max_shapes,
            max_bytes,
        }
    }

    fn get_or_render<Q>(&self, shape: &Q, render: impl FnOnce() -> (K, String)) -> Arc<str>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.get_or_render_cached(shape, render).0
    }

    /// The statement of `shape`, and whether the cache holds it (it may be over the bounds).
    fn get_or_render_cached<Q>(
        &self,
        shape: &Q,
        render: impl FnOnce() -> (K, String),
    ) -> (Arc<str>, bool)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let shapes = self.shapes.get_or_init(Default::default);
        let cached = shapes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .map
            .get(shape)
            .cloned();
        if let Some(sql) = cached {
            return (sql, true);
        }
        let (key, sql) = render();
        let mut shapes = shapes.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(sql) = shapes.map.get(key.borrow()) {
            return (sql.clone(), true);
        }
        let full = shapes.map.len() >= self.max_shapes
            || shapes.bytes.saturating_add(sql.len()) > self.max_bytes;
        let sql = Arc::<str>::from(sql);
        if full {
            return (sql, false);
        }
        shapes.bytes += sql.len();
        shapes.map.insert(key, sql.clone());
        (sql, true)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.shapes.get().map_or(0, |shapes| {
            shapes
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .map
                .len()
        })
    }
}

struct DialectStatements {
    fixed: [OnceLock<String>; FIXED],
    ddl: OnceLock<Vec<String>>,
    updates: ShapeCache<u64>,
    rows: ShapeCache<Box<[Node]>>,
    counts: ShapeCache<Box<[Node]>>,
    exists: ShapeCache<Box<[Node]>>,
    deletes: ShapeCache<Box<[Node]>>,
    ordered: ShapeCache<OrderedKey>,
    /// `update_where`, by (patch mask, filter shape).
    update_wheres: ShapeCache<(u64, Box<[Node]>)>,
    /// `insert_many`, by row count, within [`INSERT_MANY_SHAPES`] and [`INSERT_MANY_BYTES`].
    insert_many: ShapeCache<usize>,
    /// `upsert`, by patch mask.
    upserts: ShapeCache<u64>,
    /// `with_parent`, by (foreign key column, filter shape): the column names the parent.
    with_parents: ShapeCache<(usize, Box<[Node]>)>,
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
                    rows: ShapeCache::new(),
                    counts: ShapeCache::new(),
                    exists: ShapeCache::new(),
                    deletes: ShapeCache::new(),
                    ordered: ShapeCache::new(),
                    update_wheres: ShapeCache::new(),
                    insert_many: ShapeCache::bounded(INSERT_MANY_SHAPES, INSERT_MANY_BYTES),
                    upserts: ShapeCache::new(),
                    with_parents: ShapeCache::new(),
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
            .get_or_init(|| ddl::ddl(meta, dialect))
    }

    pub(crate) fn update(&self, meta: &EntityMeta, dialect: Dialect, mask: u64) -> Arc<str> {
        self.dialects[dialect as usize]
            .updates
            .get_or_render(&mask, || (mask, write::update(meta, dialect, mask)))
    }

    pub(crate) fn delete_where(
        &self,
        meta: &EntityMeta,
        dialect: Dialect,
        shape: &[Node],
    ) -> Arc<str> {
        self.dialects[dialect as usize]
            .deletes
            .get_or_render(shape, || {
                (shape.into(), write::delete_where(meta, dialect, shape))
            })
    }

    pub(crate) fn update_where(
        &self,
        meta: &EntityMeta,
        dialect: Dialect,
        mask: u64,
        shape: &[Node],
    ) -> Arc<str> {
        let key = (mask, Box::<[Node]>::from(shape));
        self.dialects[dialect as usize]
            .update_wheres
            .get_or_render(&key, || {
                let sql = write::update_where(meta, dialect, mask, shape);
                (key.clone(), sql)
            })
    }

    /// The multi-row INSERT of `rows` rows, and whether it is cached: a size over the cache's
    /// bounds is rendered for this call only.
    pub(crate) fn insert_many(
        &self,
        meta: &EntityMeta,
        dialect: Dialect,
        rows: usize,
    ) -> (Arc<str>, bool) {
        self.dialects[dialect as usize]
            .insert_many
            .get_or_render_cached(&rows, || (rows, write::insert_many(meta, dialect, rows)))
    }

    pub(crate) fn upsert(&self, meta: &EntityMeta, dialect: Dialect, mask: u64) -> Arc<str> {
        self.dialects[dialect as usize]
            .upserts
            .get_or_render(&mask, || (mask, write::upsert(meta, dialect, mask)))
    }

    /// `parent` is the table of `meta`'s `#[belongs_to]` column `column`.
    pub(crate) fn with_parent(
        &self,
        meta: &EntityMeta,
        parent: &EntityMeta,
        dialect: Dialect,
        column: usize,
        shape: &[Node],
    ) -> Arc<str> {
        let key = (column, Box::<[Node]>::from(shape));
        self.dialects[dialect as usize]
            .with_parents
            .get_or_render(&key, || {
                let sql = read::with_parent(meta, parent, dialect, column, shape);
                (key.clone(), sql)
            })
    }

    pub(crate) fn filtered(
        &self,
        meta: &EntityMeta,
        dialect: Dialect,
        kind: Filtered,
        shape: &[Node],
    ) -> Arc<str> {
        let statements = &self.dialects[dialect as usize];
        let cache = match kind {
            Filtered::Rows => &statements.rows,
            Filtered::Count => &statements.counts,
            Filtered::Exists => &statements.exists,
        };
        cache.get_or_render(shape, || {
            (shape.into(), read::filtered(meta, dialect, kind, shape))
        })
    }
}

/// The cache key of an ordered statement: what it returns, its order and its filter's shape.
struct OrderedKey {
    kind: Ordered,
    order: Box<[Term]>,
    shape: Box<[Node]>,
}

/// An ordered statement's key, owned or borrowed from the call, so a lookup needs no
/// allocation: the map's keys borrow as `dyn OrderedShape`, hashed and compared through
/// [`parts`](OrderedShape::parts) alike.
trait OrderedShape {
    fn parts(&self) -> (Ordered, &[Term], &[Node]);
}

impl OrderedShape for OrderedKey {
    fn parts(&self) -> (Ordered, &[Term], &[Node]) {
        (self.kind, &self.order, &self.shape)
    }
}

impl OrderedShape for (Ordered, &[Term], &[Node]) {
    fn parts(&self) -> (Ordered, &[Term], &[Node]) {
        *self
    }
}

impl<'a> Borrow<dyn OrderedShape + 'a> for OrderedKey {
    fn borrow(&self) -> &(dyn OrderedShape + 'a) {
        self
    }
}

impl Hash for dyn OrderedShape + '_ {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.parts().hash(state);
    }
}

impl PartialEq for dyn OrderedShape + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for dyn OrderedShape + '_ {}

impl Hash for OrderedKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.parts().hash(state);
    }
}

impl PartialEq for OrderedKey {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for OrderedKey {}

impl Statements {
    pub(crate) fn ordered(
        &self,
        meta: &EntityMeta,
        dialect: Dialect,
        kind: Ordered,
        order: &[Term],
        shape: &[Node],
    ) -> Arc<str> {
        let lookup: &dyn OrderedShape = &(kind, order, shape);
        self.dialects[dialect as usize]
            .ordered
            .get_or_render(lookup, || {
                let key = OrderedKey {
                    kind,
                    order: order.into(),
                    shape: shape.into(),
                };
                (key, read::ordered(meta, dialect, kind, order, shape))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The cache keeps a bounded number of shapes (it once kept every shape ever seen, so a client
    // varying its filters grew it without end), and a shape past the bound is still answered.
    #[test]
    fn the_shape_cache_is_bounded_and_still_answers() {
        let cache: ShapeCache<u64> = ShapeCache::new();
        for shape in 0..(SHAPES_MAX as u64 * 3) {
            let sql = cache.get_or_render(&shape, || (shape, format!("SELECT {shape}")));
            assert_eq!(&*sql, format!("SELECT {shape}"));
        }
        assert_eq!(cache.len(), SHAPES_MAX);
        // A cached shape is still served from the cache.
        let sql = cache.get_or_render(&0, || unreachable!("shape 0 is cached"));
        assert_eq!(&*sql, "SELECT 0");
    }

    #[test]
    fn a_byte_budget_bounds_the_cache_and_says_what_it_kept() {
        let cache: ShapeCache<usize> = ShapeCache::bounded(3, 100);
        let render = |n: usize| move || (n, "x".repeat(n));
        assert!(cache.get_or_render_cached(&60, render(60)).1);
        // Over the byte budget: rendered for the call, not kept.
        let (sql, cached) = cache.get_or_render_cached(&50, render(50));
        assert_eq!((sql.len(), cached), (50, false));
        assert!(cache.get_or_render_cached(&40, render(40)).1);
        assert!(cache.get_or_render_cached(&0, render(0)).1);
        // Over the count, however small.
        assert!(!cache.get_or_render_cached(&1, render(1)).1);
        assert_eq!(cache.len(), 3);
        // A kept size is served from the cache.
        let (sql, cached) = cache.get_or_render_cached(&60, || unreachable!("60 is cached"));
        assert_eq!((sql.len(), cached), (60, true));
    }

    #[test]
    fn ordered_statements_are_cached_by_kind_order_and_filter() {
        use crate::repo::meta::{ColumnMeta, ColumnRole};
        use crate::repo::shape::Dir;
        const META: EntityMeta = EntityMeta {
            table: "t",
            columns: &[
                ColumnMeta::of::<i64>("id", ColumnRole::Key, false, false),
                ColumnMeta::of::<String>("tenant_id", ColumnRole::Tenant, false, false),
            ],
            key: 0,
            tenant: 1,
        };
        let statements = Statements::new();
        let asc = [Term {
            column: 0,
            dir: Dir::Asc,
        }];
        let desc = [Term {
            column: 0,
            dir: Dir::Desc,
        }];
        let page = Ordered::Keyset { after: true };
        let rows = Ordered::Rows {
            limit: true,
            offset: false,
        };
        let a = statements.ordered(&META, Dialect::Sqlite, page, &asc, &[]);
        let b = statements.ordered(&META, Dialect::Sqlite, page, &asc, &[]);
        assert!(Arc::ptr_eq(&a, &b));
        for (kind, order) in [(page, &desc), (rows, &asc)] {
            let other = statements.ordered(&META, Dialect::Sqlite, kind, order, &[]);
            assert_ne!(a, other);
        }
        let filtered = statements.ordered(&META, Dialect::Sqlite, page, &asc, &[Node::IsNull(0)]);
        assert_ne!(a, filtered);
        assert_eq!(statements.dialects[0].ordered.len(), 4);
    }
}
