//! [`LeakSearch`]: random programs over your entities and checked queries, run concurrently
//! against a real database and against a model; any difference, and any value of another
//! tenant that reaches a caller, fails the run, shrunk to its shortest failing program.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt::{self, Debug};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tenant::sqlx::{Backend, Cursor, Entity, Error, Order, PageRequest, TenantTx};
use tenant::{TenantCtx, TenantId};

use crate::model::{Stored, TenantModel};
use crate::value::{Gen, Generate, tag};
use crate::{Counts, Rng, run_partitioned, shrink};

/// A boxed, sendable future: what [`LeakSearch::query`] operations and [`Database`] setups
/// return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the leak search needs of one of your `#[tenant_scoped]` entities: how to make its
/// rows and patches, and what a patch does (the model's half). Values come from each field's
/// [`Generate`]; parents from [`Gen::parent`].
///
/// Entities whose key the database generates (`#[key(generated)]`) are not supported: the
/// search chooses keys, so that they collide across tenants.
///
/// ```
/// use tenant::{tenant_scoped, TenantId};
/// use tenant_testkit::{Fixture, Gen};
///
/// #[tenant_scoped(table = "notes")]
/// #[derive(Debug, Clone, PartialEq)]
/// pub struct Note { #[key] pub id: i64, #[tenant] pub tenant_id: TenantId, pub body: String }
///
/// impl Fixture for Note {
///     fn key(&self) -> i64 { self.id }
///     fn tenant(&self) -> &TenantId { &self.tenant_id }
///     fn new_row(id: i64, g: &mut Gen<'_>) -> NewNote { NewNote { id, body: g.value() } }
///     fn patch(g: &mut Gen<'_>) -> NotePatch { NotePatch { body: g.value() } }
///     fn stored(new: &NewNote, tenant: &TenantId) -> Option<Note> {
///         Some(Note { id: new.id, tenant_id: tenant.clone(), body: new.body.clone() })
///     }
///     fn apply(&mut self, patch: &NotePatch) {
///         if let Some(body) = &patch.body { self.body.clone_from(body) }
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a leak-search fixture",
    label = "no `tenant_testkit::Fixture` impl",
    note = "implement `tenant_testkit::Fixture` for `{Self}` (how to make its rows and patches), in the entity's crate behind a `testkit` feature"
)]
pub trait Fixture:
    Entity<
        Key: Generate + Clone + Ord + Debug + Send + Sync + 'static + tenant::sqlx::Orderable,
        New: Clone + Debug + Send + Sync + 'static,
        Patch: Clone + Debug + Send + Sync + 'static,
    > + Clone
    + Debug
    + Sync
{
    /// The row's `#[key]`.
    fn key(&self) -> Self::Key;
    /// The row's `#[tenant]`: a row whose tenant is not the caller's is a leak.
    fn tenant(&self) -> &TenantId;
    /// A new row with `key`, its other values from `g` (parents from [`Gen::parent`]).
    fn new_row(key: Self::Key, g: &mut Gen<'_>) -> Self::New;
    /// A patch: `None` or a value per field (an all-`None` patch is tried too, and must be
    /// refused). A `#[belongs_to]` field set here must come from [`Gen::parent`].
    fn patch(g: &mut Gen<'_>) -> Self::Patch;
    /// The row the database stores for `new` inserted by `tenant`, or `None` when the
    /// database fills a column (a default, a generated value): the model's own code, never the
    /// crate's, so an insert that returns or stores something else is a difference.
    fn stored(new: &Self::New, tenant: &TenantId) -> Option<Self>;
    /// What `patch` does to a row: the model's own code, never the crate's.
    fn apply(&mut self, patch: &Self::Patch);
    /// An order for keyset pages, if the search should page (and try cursors of other
    /// tenants). `None`: no page operations.
    fn page_order() -> Option<Order<Self>> {
        None
    }
}

/// A backend the kit runs on: SQLite (feature `sqlite`) and PostgreSQL (feature `postgres`).
/// Sealed; its items are the kit's, not an API.
pub trait KitDb: Backend + sealed::Sealed {
    #[doc(hidden)]
    fn begin<'a>(
        pool: &'a sqlx::Pool<Self>,
        ctx: &'a TenantCtx,
    ) -> BoxFuture<'a, Result<TenantTx<Self>, Error>>;
    #[doc(hidden)]
    fn finish(tx: TenantTx<Self>, commit: bool) -> BoxFuture<'static, Result<(), Error>>;
}

mod sealed {
    pub trait Sealed {}
}

/// An entity the kit can search on backend `DB`: every [`Fixture`] whose backend feature is
/// on. Implemented for you.
#[diagnostic::on_unimplemented(
    message = "the leak search cannot make rows of `{Self}` on `{DB}`",
    label = "no `tenant_testkit::Fixture` for `{Self}`, or no backend feature for `{DB}`",
    note = "implement `tenant_testkit::Fixture` for `{Self}` (a #[tenant_scoped] entity; the impl goes in the entity's crate, behind a `testkit` feature) and enable the kit's `sqlite` or `postgres` feature"
)]
pub trait OnBackend<DB: KitDb>: Fixture {
    #[doc(hidden)]
    fn driver() -> DriverBox<DB>;
}

/// An entity's type-erased operations. Not an API.
#[doc(hidden)]
pub struct DriverBox<DB: KitDb>(Arc<dyn Driver<DB>>);

impl<DB: KitDb> Debug for DriverBox<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.table())
    }
}

/// Begins a tenant's transaction on a pool: [`TenantTx::begin`], `RowSecurity::begin`,
/// `TenantTx::begin_in_schema`, or a setup of yours.
pub type BeginFn<DB> = Arc<
    dyn for<'a> Fn(&'a sqlx::Pool<DB>, &'a TenantCtx) -> BoxFuture<'a, Result<TenantTx<DB>, Error>>
        + Send
        + Sync,
>;

/// Runs after a run, with the database's pool and tenants (to drop schemas, delete a file).
pub type CloseFn<DB> =
    Box<dyn FnOnce(sqlx::Pool<DB>, Vec<TenantCtx>) -> BoxFuture<'static, ()> + Send + Sync>;

/// One fresh database to run a program on: a pool on it (its tables created), the test
/// tenants' contexts, and how a tenant's transaction begins.
pub struct Database<DB: KitDb> {
    pool: sqlx::Pool<DB>,
    tenants: Vec<TenantCtx>,
    begin: BeginFn<DB>,
    every_op_in_tx: bool,
    close: Option<CloseFn<DB>>,
}

impl<DB: KitDb> Debug for Database<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Database")
            .field("tenants", &self.tenants.len())
            .field("every_op_in_tx", &self.every_op_in_tx)
            .finish_non_exhaustive()
    }
}

impl<DB: KitDb> Database<DB> {
    /// `pool` with the repositories' own tenant predicates alone: ops run on the pool, and one
    /// in five inside a [`TenantTx`]. `tenants` are the test tenants (two at least; eight or
    /// more find more).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tenant::{Plan, TenantCtx};
    /// let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?;
    /// let tenants = (0..8)
    ///     .map(|t| TenantCtx::trusted(format!("t{t}").parse().unwrap(), format!("s{t}").parse().unwrap(), Plan::Free))
    ///     .collect();
    /// let db = tenant_testkit::Database::new(pool, tenants);
    /// # let _ = db;
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(pool: sqlx::Pool<DB>, tenants: Vec<TenantCtx>) -> Self {
        Database {
            pool,
            tenants,
            begin: Arc::new(DB::begin),
            every_op_in_tx: false,
            close: None,
        }
    }

    /// Every op inside a tenant's transaction begun by `begin`: row-level security
    /// (`RowSecurity::begin`) and a schema per tenant (`TenantTx::begin_in_schema`), where
    /// nothing outside such a transaction may see a row.
    pub fn begin_with(mut self, begin: BeginFn<DB>) -> Self {
        self.begin = begin;
        self.every_op_in_tx = true;
        self
    }

    /// Every op inside [`TenantTx::begin`] (the repositories' own predicates, no op on the
    /// bare pool): what a transaction-pooling PgBouncer needs, where a statement outside a
    /// transaction may lose its prepared half to another client.
    pub fn every_op_in_tenant_tx(self) -> Self {
        self.begin_with(Arc::new(DB::begin))
    }

    /// Runs `close` with the pool and the tenants when the run ends (drop its schemas,
    /// delete its file); without one, the pool is closed.
    pub fn on_close<F, Fut>(mut self, close: F) -> Self
    where
        F: FnOnce(sqlx::Pool<DB>, Vec<TenantCtx>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.close = Some(Box::new(move |pool, tenants| {
            Box::pin(close(pool, tenants))
        }));
        self
    }

    async fn close(self) {
        match self.close {
            Some(close) => close(self.pool, self.tenants).await,
            None => self.pool.close().await,
        }
    }
}

#[cfg(feature = "postgres")]
impl Database<sqlx::Postgres> {
    /// Every op inside [`RowSecurity::begin`](tenant::sqlx::RowSecurity::begin): `pool` is the
    /// application role's, whose raw SQL sees only the transaction's tenant.
    pub fn row_security(self, rls: tenant::sqlx::RowSecurity) -> Self {
        let rls = Arc::new(rls);
        self.begin_with(begin_fn(move |pool, ctx| {
            let rls = rls.clone();
            Box::pin(async move { rls.begin(pool, ctx).await })
        }))
    }

    /// Every op inside [`TenantTx::begin_in_schema`]: each tenant context names its own schema
    /// (made with `TenantSchema`), and the search path alone decides what raw SQL sees.
    pub fn schema_per_tenant(self) -> Self {
        self.begin_with(begin_fn(|pool, ctx| {
            Box::pin(TenantTx::begin_in_schema(pool, ctx))
        }))
    }
}

/// A [`BeginFn`] from a closure: the bound gives the closure its higher-ranked signature.
///
/// ```
/// use tenant::sqlx::TenantTx;
/// let begin = tenant_testkit::begin_fn::<sqlx::Sqlite, _>(|pool, ctx| Box::pin(TenantTx::begin(pool, ctx)));
/// # let _ = begin;
/// ```
pub fn begin_fn<DB, F>(begin: F) -> BeginFn<DB>
where
    DB: KitDb,
    F: for<'a> Fn(&'a sqlx::Pool<DB>, &'a TenantCtx) -> BoxFuture<'a, Result<TenantTx<DB>, Error>>
        + Send
        + Sync
        + 'static,
{
    Arc::new(begin)
}

/// An error, by the class the model predicts.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ErrKind {
    Conflict,
    ForeignKey,
    EmptyPatch,
    Cursor,
    /// Never predicted: always a difference.
    Other(String),
}

fn err_kind(error: &Error) -> ErrKind {
    match error {
        Error::Conflict { .. } => ErrKind::Conflict,
        Error::ForeignKey { .. } => ErrKind::ForeignKey,
        Error::EmptyPatch => ErrKind::EmptyPatch,
        Error::Cursor(_) => ErrKind::Cursor,
        other => ErrKind::Other(other.to_string()),
    }
}

/// What an op returned, rows as their `Debug` text.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Row(Option<String>),
    Rows(Vec<String>),
    Count(u64),
    Page { rows: usize, more: bool },
    Text(String),
    Err(ErrKind),
}

/// What the model expects; some ops allow more than one outcome (a unique value the model does
/// not track, a page after a cursor).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expect {
    Exactly(Outcome),
    /// A row was returned (its values filled by the database, which the model cannot know).
    AnyRow,
    /// As many rows as the model has (some of whose values the model cannot know).
    RowCount(usize),
    /// A page of at most this many rows.
    PageUpTo(usize),
    /// Any successful result (a checked query's).
    AnyOk,
}

/// A page op's cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum After {
    Start,
    Own,
    /// A cursor minted for this sibling tenant (one the same task runs).
    Foreign(usize),
}

type AnyArc = Arc<dyn Any + Send + Sync>;

#[derive(Clone)]
enum Kind {
    Insert {
        entity: usize,
        key: AnyArc,
        key_text: String,
        new: AnyArc,
        parents: Vec<(usize, String)>,
        text: String,
    },
    Get {
        entity: usize,
        key: AnyArc,
        key_text: String,
    },
    Update {
        entity: usize,
        key: AnyArc,
        key_text: String,
        patch: AnyArc,
        parents: Vec<(usize, String)>,
        text: String,
    },
    Delete {
        entity: usize,
        key: AnyArc,
        key_text: String,
    },
    List {
        entity: usize,
    },
    Count {
        entity: usize,
    },
    Page {
        entity: usize,
        limit: u32,
        after: After,
    },
    Query {
        index: usize,
    },
}

impl Kind {
    fn name(&self) -> &'static str {
        match self {
            Kind::Insert { .. } => "insert",
            Kind::Get { .. } => "get",
            Kind::Update { .. } => "update",
            Kind::Delete { .. } => "delete",
            Kind::List { .. } => "list",
            Kind::Count { .. } => "count",
            Kind::Page { .. } => "page",
            Kind::Query { .. } => "query",
        }
    }
}

/// One operation of a generated program: a tenant, what it does, and whether it names
/// something of another tenant. Its `Debug` text is what a failure report shows.
#[derive(Clone)]
pub struct Op {
    tenant: usize,
    in_tx: bool,
    cross: bool,
    kind: Kind,
    /// The entity's table or the query's name, for the report.
    target: &'static str,
}

impl Op {
    /// The index of the op's tenant among the database's test tenants.
    pub fn tenant(&self) -> usize {
        self.tenant
    }
}

impl Debug for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tx = if self.in_tx { " in tx" } else { "" };
        let cross = if self.cross { " (cross-tenant)" } else { "" };
        write!(
            f,
            "tenant #{}{tx}: {} {}",
            self.tenant,
            self.kind.name(),
            self.target
        )?;
        match &self.kind {
            Kind::Insert { text, .. } => write!(f, " {text}")?,
            Kind::Get { key_text, .. } | Kind::Delete { key_text, .. } => {
                write!(f, " key {key_text}")?
            }
            Kind::Update { key_text, text, .. } => write!(f, " key {key_text} {text}")?,
            Kind::Page { limit, after, .. } => write!(f, " limit {limit} after {after:?}")?,
            Kind::List { .. } | Kind::Count { .. } | Kind::Query { .. } => {}
        }
        write!(f, "{cross}")
    }
}

/// The handle an op runs on: the pool, or the tenant's transaction.
enum On<'a, DB: KitDb> {
    Pool(&'a sqlx::Pool<DB>),
    Tx(&'a mut TenantTx<DB>),
}

/// Counts the values of other tenants that reach a caller.
struct Check {
    tenant: TenantId,
    index: usize,
    tenants: usize,
    leaks: u64,
}

impl Check {
    /// `text` (a row's or a result's `Debug`) carries another tenant's tag.
    fn text(&mut self, text: &str) {
        if (0..self.tenants).any(|t| t != self.index && text.contains(&tag(t))) {
            self.leaks += 1;
        }
    }

    fn row<E: Fixture>(&mut self, row: &E) -> String {
        let text = format!("{row:?}");
        if row.tenant() != &self.tenant {
            self.leaks += 1;
        } else {
            self.text(&text);
        }
        text
    }
}

type CursorBox = Arc<dyn Any + Send + Sync>;

/// One registered entity, its type erased so one search spans several.
trait Driver<DB: KitDb>: Send + Sync {
    fn table(&self) -> &'static str;
    fn generate(&self, entity: usize, g: &mut Gen<'_>, siblings: &[usize]) -> Kind;
    fn settle(
        &self,
        model: &mut TenantModel,
        tenant: &TenantId,
        kind: &Kind,
        actual: Option<&Outcome>,
    ) -> Expect;
    fn execute<'a>(
        &'a self,
        on: On<'a, DB>,
        ctx: &'a TenantCtx,
        kind: &'a Kind,
        cursor: Option<CursorBox>,
        check: &'a mut Check,
    ) -> BoxFuture<'a, (Outcome, Option<CursorBox>)>;
}

struct EntityDriver<E>(std::marker::PhantomData<fn() -> E>);

fn typed<T: 'static>(value: &AnyArc) -> &T {
    value
        .downcast_ref::<T>()
        .expect("an op's payload has its entity's type")
}

impl<E: Fixture> EntityDriver<E> {
    /// A key: often the tenant's own, often one only another tenant has, sometimes any.
    fn key(g: &mut Gen<'_>, entity: usize) -> E::Key {
        let roll = g.rng.below(100);
        let own = g.models[g.tenant].keys::<E::Key>(entity);
        if roll < 50 && !own.is_empty() {
            return own[g.rng.below(own.len() as u64) as usize].clone();
        }
        if roll < 80 && g.models.len() > 1 {
            let other =
                (g.tenant + 1 + g.rng.below(g.models.len() as u64 - 1) as usize) % g.models.len();
            let theirs: Vec<E::Key> = g.models[other]
                .keys::<E::Key>(entity)
                .into_iter()
                .filter(|k| !g.models[g.tenant].has(entity, &format!("{k:?}")))
                .collect();
            if let Some(key) = g.rng.pick(&theirs) {
                g.cross = true;
                return key.clone();
            }
        }
        E::Key::generate(g)
    }

    fn has_unique() -> bool {
        E::META.columns.iter().any(|c| c.unique)
    }

    fn model_row(new: &E::New, tenant: &TenantId) -> Option<E> {
        E::stored(new, tenant)
    }

    fn settle(
        model: &mut TenantModel,
        tenant: &TenantId,
        kind: &Kind,
        actual: Option<&Outcome>,
    ) -> Expect {
        // A unique value of another row of this tenant: the model does not track them, the
        // database's refusal is taken as the branch it chose.
        let conflict = actual == Some(&Outcome::Err(ErrKind::Conflict)) && Self::has_unique();
        match kind {
            Kind::Insert {
                entity,
                key,
                key_text,
                new,
                parents,
                ..
            } => {
                if model.has(*entity, key_text) {
                    return Expect::Exactly(Outcome::Err(ErrKind::Conflict));
                }
                if conflict {
                    return Expect::Exactly(Outcome::Err(ErrKind::Conflict));
                }
                if !model.parents_exist(parents) {
                    return Expect::Exactly(Outcome::Err(ErrKind::ForeignKey));
                }
                let row = Self::model_row(typed::<E::New>(new), tenant);
                let expect = match &row {
                    Some(row) => Expect::Exactly(Outcome::Row(Some(format!("{row:?}")))),
                    None => Expect::AnyRow,
                };
                model.tables[*entity].insert(
                    key_text.clone(),
                    Stored {
                        key: key.clone(),
                        row: row.map(|r| Arc::new(r) as AnyArc),
                        parents: parents.clone(),
                    },
                );
                expect
            }
            Kind::Get {
                entity, key_text, ..
            } => match model.tables[*entity].get(key_text) {
                None => Expect::Exactly(Outcome::Row(None)),
                Some(Stored { row: Some(row), .. }) => {
                    Expect::Exactly(Outcome::Row(Some(format!("{:?}", typed::<E>(row)))))
                }
                Some(_) => Expect::AnyRow,
            },
            Kind::Update {
                entity,
                key_text,
                patch,
                parents,
                ..
            } => {
                let patch = typed::<E::Patch>(patch);
                if E::patch_mask(patch) == 0 {
                    return Expect::Exactly(Outcome::Err(ErrKind::EmptyPatch));
                }
                if !model.has(*entity, key_text) {
                    return Expect::Exactly(Outcome::Count(0));
                }
                if conflict {
                    return Expect::Exactly(Outcome::Err(ErrKind::Conflict));
                }
                if !model.parents_exist(parents) {
                    return Expect::Exactly(Outcome::Err(ErrKind::ForeignKey));
                }
                let stored = model.tables[*entity]
                    .get_mut(key_text)
                    .expect("checked above");
                if let Some(row) = &stored.row {
                    let mut row = typed::<E>(row).clone();
                    row.apply(patch);
                    stored.row = Some(Arc::new(row));
                }
                // A parent set by the patch replaces the one of the same entity.
                for (parent, key) in parents {
                    stored.parents.retain(|(e, _)| e != parent);
                    stored.parents.push((*parent, key.clone()));
                }
                Expect::Exactly(Outcome::Count(1))
            }
            Kind::Delete {
                entity, key_text, ..
            } => {
                if !model.has(*entity, key_text) {
                    return Expect::Exactly(Outcome::Count(0));
                }
                if model.has_children(*entity, key_text) {
                    return Expect::Exactly(Outcome::Err(ErrKind::ForeignKey));
                }
                model.tables[*entity].remove(key_text);
                Expect::Exactly(Outcome::Count(1))
            }
            Kind::List { entity } => {
                let table = &model.tables[*entity];
                let rows: Option<Vec<String>> = table
                    .values()
                    .map(|s| s.row.as_ref().map(|r| format!("{:?}", typed::<E>(r))))
                    .collect();
                match rows {
                    Some(mut rows) => {
                        rows.sort();
                        Expect::Exactly(Outcome::Rows(rows))
                    }
                    None => Expect::RowCount(table.len()),
                }
            }
            Kind::Count { entity } => {
                Expect::Exactly(Outcome::Count(model.tables[*entity].len() as u64))
            }
            Kind::Page {
                entity,
                limit,
                after,
            } => {
                let n = model.tables[*entity].len();
                let limit = *limit as usize;
                match after {
                    After::Start => Expect::Exactly(Outcome::Page {
                        rows: n.min(limit),
                        more: n > limit,
                    }),
                    After::Own => Expect::PageUpTo(limit),
                    After::Foreign(_) => Expect::Exactly(Outcome::Err(ErrKind::Cursor)),
                }
            }
            Kind::Query { .. } => Expect::AnyOk,
        }
    }

    fn generate(entity: usize, g: &mut Gen<'_>, siblings: &[usize]) -> Kind {
        let roll = g.rng.below(100);
        match roll {
            0..=29 => {
                let key = Self::key(g, entity);
                g.parents.clear();
                let new = E::new_row(key.clone(), g);
                Kind::Insert {
                    entity,
                    key_text: format!("{key:?}"),
                    key: Arc::new(key),
                    text: format!("{new:?}"),
                    new: Arc::new(new),
                    parents: std::mem::take(&mut g.parents),
                }
            }
            30..=44 => {
                let key = Self::key(g, entity);
                Kind::Get {
                    entity,
                    key_text: format!("{key:?}"),
                    key: Arc::new(key),
                }
            }
            45..=59 => {
                let key = Self::key(g, entity);
                g.parents.clear();
                // A patch whose every field is `None` (the fixture draws them) must be refused.
                let patch = E::patch(g);
                Kind::Update {
                    entity,
                    key_text: format!("{key:?}"),
                    key: Arc::new(key),
                    text: format!("{patch:?}"),
                    patch: Arc::new(patch),
                    parents: std::mem::take(&mut g.parents),
                }
            }
            60..=71 => {
                let key = Self::key(g, entity);
                Kind::Delete {
                    entity,
                    key_text: format!("{key:?}"),
                    key: Arc::new(key),
                }
            }
            72..=79 => Kind::List { entity },
            80..=87 => Kind::Count { entity },
            _ if E::page_order().is_some() => {
                let after = match g.rng.below(10) {
                    0..=2 => After::Start,
                    3..=4 if !siblings.is_empty() => {
                        g.cross = true;
                        After::Foreign(*g.pick(siblings))
                    }
                    _ => After::Own,
                };
                Kind::Page {
                    entity,
                    limit: 1 + g.rng.below(4) as u32,
                    after,
                }
            }
            _ => Kind::List { entity },
        }
    }
}

/// The repository half of an op, over a pool or a transaction.
async fn exec<E, X>(
    conn: X,
    ctx: &TenantCtx,
    kind: &Kind,
    cursor: Option<CursorBox>,
    check: &mut Check,
) -> (Outcome, Option<CursorBox>)
where
    X: tenant::sqlx::WriteConn,
    E: Fixture + tenant::sqlx::__private::EntityIo<X::Database>,
{
    let mut repo = tenant::sqlx::Repo::<E, X>::new(conn);
    let err = |e: Error| Outcome::Err(err_kind(&e));
    let outcome = match kind {
        Kind::Insert { new, .. } => match repo.insert(ctx, typed::<E::New>(new).clone()).await {
            Ok(row) => Outcome::Row(Some(check.row(&row))),
            Err(e) => err(e),
        },
        Kind::Get { key, .. } => match repo.get(ctx, typed::<E::Key>(key).clone()).await {
            Ok(row) => Outcome::Row(row.map(|r| check.row(&r))),
            Err(e) => err(e),
        },
        Kind::Update { key, patch, .. } => match repo
            .update(
                ctx,
                typed::<E::Key>(key).clone(),
                typed::<E::Patch>(patch).clone(),
            )
            .await
        {
            Ok(n) => Outcome::Count(n),
            Err(e) => err(e),
        },
        Kind::Delete { key, .. } => match repo.delete(ctx, typed::<E::Key>(key).clone()).await {
            Ok(n) => Outcome::Count(n),
            Err(e) => err(e),
        },
        Kind::List { .. } => match repo.list(ctx).await {
            Ok(rows) => {
                let mut rows: Vec<String> = rows.iter().map(|r| check.row(r)).collect();
                rows.sort();
                Outcome::Rows(rows)
            }
            Err(e) => err(e),
        },
        Kind::Count { .. } => match repo.count(ctx).await {
            Ok(n) => Outcome::Count(n),
            Err(e) => err(e),
        },
        Kind::Page { limit, .. } => {
            let Some(order) = E::page_order() else {
                return (Outcome::Err(ErrKind::Other("no page order".into())), None);
            };
            let after = cursor.and_then(|c| c.downcast_ref::<Cursor<E>>().cloned());
            match repo
                .page(ctx, PageRequest::new(order, u64::from(*limit)).after(after))
                .await
            {
                Ok(page) => {
                    for row in &page.items {
                        check.row(row);
                    }
                    let more = page.next.is_some();
                    return (
                        Outcome::Page {
                            rows: page.items.len(),
                            more,
                        },
                        page.next.map(|c| Arc::new(c) as CursorBox),
                    );
                }
                Err(e) => err(e),
            }
        }
        Kind::Query { .. } => Outcome::Err(ErrKind::Other("a query is not an entity op".into())),
    };
    (outcome, None)
}

macro_rules! driver_for {
    ($feature:literal, $db:ty) => {
        #[cfg(feature = $feature)]
        impl sealed::Sealed for $db {}

        #[cfg(feature = $feature)]
        impl KitDb for $db {
            fn begin<'a>(
                pool: &'a sqlx::Pool<Self>,
                ctx: &'a TenantCtx,
            ) -> BoxFuture<'a, Result<TenantTx<Self>, Error>> {
                Box::pin(TenantTx::begin(pool, ctx))
            }

            fn finish(tx: TenantTx<Self>, commit: bool) -> BoxFuture<'static, Result<(), Error>> {
                if commit {
                    Box::pin(tx.commit())
                } else {
                    Box::pin(tx.rollback())
                }
            }
        }

        #[cfg(feature = $feature)]
        impl<E: Fixture + tenant::sqlx::__private::EntityIo<$db>> OnBackend<$db> for E {
            fn driver() -> DriverBox<$db> {
                DriverBox(Arc::new(EntityDriver::<E>(std::marker::PhantomData)))
            }
        }

        #[cfg(feature = $feature)]
        impl<E: Fixture + tenant::sqlx::__private::EntityIo<$db>> Driver<$db> for EntityDriver<E> {
            fn table(&self) -> &'static str {
                E::META.table
            }

            fn generate(&self, entity: usize, g: &mut Gen<'_>, siblings: &[usize]) -> Kind {
                Self::generate(entity, g, siblings)
            }

            fn settle(
                &self,
                model: &mut TenantModel,
                tenant: &TenantId,
                kind: &Kind,
                actual: Option<&Outcome>,
            ) -> Expect {
                Self::settle(model, tenant, kind, actual)
            }

            fn execute<'a>(
                &'a self,
                on: On<'a, $db>,
                ctx: &'a TenantCtx,
                kind: &'a Kind,
                cursor: Option<CursorBox>,
                check: &'a mut Check,
            ) -> BoxFuture<'a, (Outcome, Option<CursorBox>)> {
                Box::pin(async move {
                    match on {
                        On::Pool(pool) => exec::<E, _>(pool, ctx, kind, cursor, check).await,
                        On::Tx(tx) => exec::<E, _>(tx, ctx, kind, cursor, check).await,
                    }
                })
            }
        }
    };
}

driver_for!("sqlite", sqlx::Sqlite);
driver_for!("postgres", sqlx::Postgres);

/// A checked query of yours as an operation: run as a tenant inside its transaction; its
/// result, as text (`format!("{rows:?}")`), must carry no other tenant's tag.
pub type QueryFn<DB> = Arc<
    dyn for<'a> Fn(&'a TenantCtx, &'a mut TenantTx<DB>) -> BoxFuture<'a, Result<String, Error>>
        + Send
        + Sync,
>;

/// A checked query of yours as a plain `fn` (what [`LeakSearch::query`] takes).
pub type QueryFnPtr<DB> =
    for<'a> fn(&'a TenantCtx, &'a mut TenantTx<DB>) -> BoxFuture<'a, Result<String, Error>>;

/// Makes a fresh database for one run (`None`: the backend is not configured here, and the
/// search is skipped).
pub type SetupFn<DB> = Arc<dyn Fn() -> BoxFuture<'static, Option<Database<DB>>> + Send + Sync>;

/// The first difference of a run.
#[derive(Debug, Clone)]
pub struct Mismatch {
    /// Its index in the program.
    pub index: usize,
    /// The op.
    pub op: Op,
    /// What the model expected.
    pub expected: String,
    /// What the database returned.
    pub actual: String,
    /// Values of other tenants the op returned.
    pub leaks: u64,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "op #{}: {:?}\n  model:    {}\n  database: {}\n  values of another tenant returned: {}",
            self.index, self.op, self.expected, self.actual, self.leaks
        )
    }
}

/// A failing program, shrunk.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The first difference of the full run.
    pub first: Mismatch,
    /// The shortest failing program found (run on one task, in order).
    pub shrunk: Vec<Op>,
    /// Its difference, `None` when the failure did not reproduce on one task (a race between
    /// tenants: the full program is the reproduction).
    pub shrunk_difference: Option<Mismatch>,
    /// Runs the shrinking took.
    pub shrink_runs: usize,
}

/// What a search did: its seed and size, its counts, its time, and its failure if any. Its
/// `Display` is the text a CI log shows.
#[derive(Debug, Clone)]
pub struct SearchReport {
    /// The search's name.
    pub name: String,
    /// The seed (`TENANT_LEAK_SEED` replays it).
    pub seed: u64,
    /// Ops in the program.
    pub ops: usize,
    /// Tenants and tasks.
    pub tenants: usize,
    /// Tokio tasks the program ran on.
    pub tasks: usize,
    /// What ran, by kind and expected outcome.
    pub counts: Counts,
    /// Time of the full run.
    pub elapsed: Duration,
    /// The failure, shrunk.
    pub failure: Option<Failure>,
}

impl SearchReport {
    /// Whether the model and the database agreed and nothing leaked.
    pub fn passed(&self) -> bool {
        self.failure.is_none()
    }
}

impl fmt::Display for SearchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "leak search {}: seed={} tenants={} tasks={} ops={} cross_tenant={} leaks={} \
             time={:.1}s\n  {}",
            self.name,
            self.seed,
            self.tenants,
            self.tasks,
            self.counts.ops,
            self.counts.cross,
            self.counts.leaks,
            self.elapsed.as_secs_f64(),
            self.counts
        )?;
        if let Some(failure) = &self.failure {
            write!(
                f,
                "\nFAILED: the model and the database differ. Replay: TENANT_LEAK_SEED={} \
                 TENANT_LEAK_OPS={}\nfirst difference: {}\nshortest failing program ({} ops, \
                 {} shrink runs):",
                self.seed,
                self.ops,
                failure.first,
                failure.shrunk.len(),
                failure.shrink_runs
            )?;
            for op in &failure.shrunk {
                write!(f, "\n  {op:?}")?;
            }
            match &failure.shrunk_difference {
                Some(m) => write!(f, "\nits difference: {m}")?,
                None => write!(f, "\n(not reproduced on one task: a race; replay the seed)")?,
            }
        }
        Ok(())
    }
}

/// A model-checked search for tenant leaks over your entities and checked queries.
///
/// Random programs of repository operations (insert, get, update, delete, list, count, keyset
/// pages) and your registered queries, with keys that collide across tenants, parents and
/// cursors of other tenants, run concurrently (each tenant's ops in order on one task) against
/// a fresh [`Database`], while a model written with none of the crate's code predicts every
/// result. A difference fails the run, and so does any row or value of another tenant that
/// reaches a caller (generated text carries its tenant's tag). A failing program is shrunk by
/// delta debugging, each candidate on a fresh database, and the report prints the seed and the
/// shortest failing program.
///
/// ```
/// # use tenant::{tenant_scoped, Plan, TenantCtx, TenantId};
/// # use tenant_testkit::{Fixture, Gen};
/// # #[tenant_scoped(table = "notes")]
/// # #[derive(Debug, Clone, PartialEq)]
/// # pub struct Note { #[key] pub id: i64, #[tenant] pub tenant_id: TenantId, pub body: String }
/// # impl Fixture for Note {
/// #     fn key(&self) -> i64 { self.id }
/// #     fn tenant(&self) -> &TenantId { &self.tenant_id }
/// #     fn new_row(id: i64, g: &mut Gen<'_>) -> NewNote { NewNote { id, body: g.value() } }
/// #     fn patch(g: &mut Gen<'_>) -> NotePatch { NotePatch { body: g.value() } }
/// #     fn stored(n: &NewNote, t: &TenantId) -> Option<Note> { Some(Note { id: n.id, tenant_id: t.clone(), body: n.body.clone() }) }
/// #     fn apply(&mut self, p: &NotePatch) { if let Some(b) = &p.body { self.body.clone_from(b) } }
/// # }
/// use tenant_testkit::{Database, LeakSearch};
///
/// # #[tokio::main]
/// # async fn main() {
/// let search = LeakSearch::<sqlx::Sqlite>::new("notes on SQLite", || async {
///     // One connection: an in-memory database is per connection.
///     let pool = sqlx::sqlite::SqlitePoolOptions::new()
///         .max_connections(1)
///         .connect("sqlite::memory:")
///         .await
///         .ok()?;
///     NoteRepo::new(&pool).create_table().await.ok()?;
///     let tenants = (0..8)
///         .map(|t| TenantCtx::trusted(format!("t{t}").parse().unwrap(), format!("s{t}").parse().unwrap(), Plan::Free))
///         .collect();
///     Some(Database::new(pool, tenants))
/// })
/// .entity::<Note>();
/// // TENANT_LEAK_OPS and TENANT_LEAK_SEED override; panics with the report on a failure.
/// let report = search.check_ops(200).await.expect("SQLite is always there");
/// assert_eq!(report.counts.ops, 200);
/// assert_eq!(report.counts.leaks, 0);
/// # }
/// ```
pub struct LeakSearch<DB: KitDb> {
    name: String,
    setup: SetupFn<DB>,
    drivers: Vec<Arc<dyn Driver<DB>>>,
    index: HashMap<TypeId, usize>,
    queries: Vec<(&'static str, QueryFn<DB>)>,
    tasks: usize,
    shrink_budget: usize,
}

impl<DB: KitDb> Debug for LeakSearch<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeakSearch")
            .field("name", &self.name)
            .field(
                "entities",
                &self.drivers.iter().map(|d| d.table()).collect::<Vec<_>>(),
            )
            .field(
                "queries",
                &self.queries.iter().map(|q| q.0).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// The task results of one run.
struct Ran {
    counts: Counts,
    first: Option<Mismatch>,
}

impl<DB: KitDb> LeakSearch<DB> {
    /// A search named `name` (reports show it) whose every run gets a fresh database from
    /// `setup`.
    pub fn new<F, Fut>(name: impl Into<String>, setup: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Option<Database<DB>>> + Send + 'static,
    {
        LeakSearch {
            name: name.into(),
            setup: Arc::new(move || Box::pin(setup())),
            drivers: Vec::new(),
            index: HashMap::new(),
            queries: Vec::new(),
            tasks: 8,
            shrink_budget: 300,
        }
    }

    /// Adds an entity's repository operations. Register parents before their children.
    pub fn entity<E: OnBackend<DB>>(mut self) -> Self {
        self.index.insert(TypeId::of::<E>(), self.drivers.len());
        self.drivers.push(E::driver().0);
        self
    }

    /// Adds a checked query of yours as an operation (a `fn` taking the context and the
    /// tenant's transaction; see [`QueryFn`]). It must succeed, and its result must carry no
    /// other tenant's tag.
    pub fn query(mut self, name: &'static str, query: QueryFnPtr<DB>) -> Self {
        let query: QueryFn<DB> = Arc::new(query);
        self.queries.push((name, query));
        self
    }

    /// Tokio tasks a program runs on at once (8 unless set).
    pub fn tasks(mut self, tasks: usize) -> Self {
        self.tasks = tasks.max(1);
        self
    }

    /// Generates a program of `n` ops over `tenants` tenants from `seed`.
    fn generate(&self, seed: u64, n: usize, tenants: usize) -> Vec<Op> {
        let mut rng = Rng::new(seed);
        let mut models = vec![TenantModel::new(self.drivers.len()); tenants];
        let mut ops = Vec::with_capacity(n);
        let dummy: TenantId = "generator".parse().expect("a valid tenant id");
        while ops.len() < n && tenants > 0 {
            let t = rng.below(tenants as u64) as usize;
            let siblings: Vec<usize> = (0..tenants)
                .filter(|&o| o != t && o % self.tasks == t % self.tasks)
                .collect();
            let in_tx = rng.chance(20);
            let slots = self.drivers.len() + usize::from(!self.queries.is_empty());
            let choice = rng.below(slots as u64) as usize;
            let (kind, cross, target) = if choice < self.drivers.len() {
                let driver = &self.drivers[choice];
                let mut g = Gen {
                    rng: &mut rng,
                    tenant: t,
                    tag: tag(t),
                    models: &models,
                    index: &self.index,
                    parents: Vec::new(),
                    cross: false,
                };
                let kind = driver.generate(choice, &mut g, &siblings);
                (kind, g.cross, driver.table())
            } else {
                let index = rng.below(self.queries.len() as u64) as usize;
                (Kind::Query { index }, false, self.queries[index].0)
            };
            if let Kind::Insert { entity, .. }
            | Kind::Update { entity, .. }
            | Kind::Delete { entity, .. } = &kind
            {
                // The generator follows the model's main branch, to choose keys that exist.
                let _ = self.drivers[*entity].settle(&mut models[t], &dummy, &kind, None);
            }
            ops.push(Op {
                tenant: t,
                // A query runs in the tenant's transaction, always.
                in_tx: in_tx || matches!(kind, Kind::Query { .. }),
                cross,
                kind,
                target,
            });
        }
        ops
    }

    /// Runs `ops` on `db` or a fresh database, `tasks` at once. `None` when setup gives none.
    async fn run_once(&self, ops: &[Op], tasks: usize, db: Option<Database<DB>>) -> Option<Ran> {
        let db = match db {
            Some(db) => db,
            None => (self.setup)().await?,
        };
        let db = Arc::new(db);
        let stop = Arc::new(AtomicBool::new(false));
        let drivers = Arc::new(self.drivers.clone());
        let queries = Arc::new(self.queries.clone());
        let results = run_partitioned(
            ops,
            tasks,
            |op| op.tenant,
            |mine| {
                run_task(
                    db.clone(),
                    drivers.clone(),
                    queries.clone(),
                    mine,
                    stop.clone(),
                )
            },
        )
        .await;
        let mut ran = Ran {
            counts: Counts::default(),
            first: None,
        };
        for (counts, first) in results {
            ran.counts.merge(&counts);
            if let Some(m) = first
                && ran.first.as_ref().is_none_or(|f| m.index < f.index)
            {
                ran.first = Some(m);
            }
        }
        if let Ok(db) = Arc::try_unwrap(db) {
            db.close().await;
        }
        Some(ran)
    }

    /// Runs a program of `n` ops from `seed`; on a failure shrinks it. `None` when the setup
    /// gives no database (the backend is not configured here).
    ///
    /// # Panics
    /// When the setup gives fewer than two tenants, or no entity was registered: the test's
    /// own mistake, reported at once.
    pub async fn run(&self, seed: u64, n: usize) -> Option<SearchReport> {
        let db = (self.setup)().await?;
        let tenants = db.tenants.len();
        assert!(
            tenants >= 2,
            "a leak search needs two tenants at least; the setup gave {tenants}"
        );
        assert!(
            !self.drivers.is_empty(),
            "register an entity: .entity::<E>()"
        );
        let ops = self.generate(seed, n, tenants);
        let started = Instant::now();
        let ran = self.run_once(&ops, self.tasks, Some(db)).await?;
        let elapsed = started.elapsed();
        let failure = match ran.first {
            None => None,
            Some(first) => Some(self.shrink_failure(ops, first).await),
        };
        Some(SearchReport {
            name: self.name.clone(),
            seed,
            ops: n,
            tenants,
            tasks: self.tasks,
            counts: ran.counts,
            elapsed,
            failure,
        })
    }

    async fn shrink_failure(&self, ops: Vec<Op>, first: Mismatch) -> Failure {
        let tenant = first.op.tenant;
        // One task: each candidate runs in program order, so a leak between two tenants
        // reproduces without a race.
        let (shrunk, shrink_runs) = shrink(
            ops,
            first.index,
            |op: &Op| op.tenant == tenant,
            self.shrink_budget,
            async |candidate: &[Op]| {
                self.run_once(candidate, 1, None)
                    .await
                    .is_some_and(|r| r.first.is_some())
            },
        )
        .await;
        let shrunk_difference = self.run_once(&shrunk, 1, None).await.and_then(|r| r.first);
        Failure {
            first,
            shrunk,
            shrunk_difference,
            shrink_runs,
        }
    }

    /// The test-suite entry point: `TENANT_LEAK_OPS` ops (else `default_ops`) from
    /// `TENANT_LEAK_SEED` (else random), the report printed on stdout. Returns the report
    /// (`None`: skipped, the setup gave no database).
    ///
    /// # Panics
    /// With the report, when the search failed.
    pub async fn check(&self, default_ops: usize) -> Option<SearchReport> {
        self.check_ops(crate::ops_from_env(default_ops)).await
    }

    /// As [`check`](Self::check), with `ops` ops (from a variable of your own, say).
    ///
    /// # Panics
    /// With the report, when the search failed.
    pub async fn check_ops(&self, ops: usize) -> Option<SearchReport> {
        let report = self.run(crate::seed(), ops).await?;
        println!("{report}");
        assert!(report.passed(), "{report}");
        Some(report)
    }
}

/// Runs one task's ops, in program order, against its tenants' models.
async fn run_task<DB: KitDb>(
    db: Arc<Database<DB>>,
    drivers: Arc<Vec<Arc<dyn Driver<DB>>>>,
    queries: Arc<Vec<(&'static str, QueryFn<DB>)>>,
    ops: Vec<(usize, Op)>,
    stop: Arc<AtomicBool>,
) -> (Counts, Option<Mismatch>) {
    let tenants = db.tenants.len();
    let mut models: HashMap<usize, TenantModel> = HashMap::new();
    let mut cursors: HashMap<(usize, usize), CursorBox> = HashMap::new();
    let mut counts = Counts::default();
    for (index, mut op) in ops {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let t = op.tenant;
        let ctx = &db.tenants[t];
        // A page's cursor: one this tenant was given, or a sibling's; none yet: from the start.
        let mut cursor = None;
        if let Kind::Page { entity, after, .. } = &mut op.kind {
            let owner = match after {
                After::Start => None,
                After::Own => Some(t),
                After::Foreign(o) => Some(*o),
            };
            cursor = owner.and_then(|o| cursors.get(&(o, *entity)).cloned());
            if cursor.is_none() {
                *after = After::Start;
            }
        }
        let mut check = Check {
            tenant: ctx.tenant_id().clone(),
            index: t,
            tenants,
            leaks: 0,
        };
        let in_tx = db.every_op_in_tx || op.in_tx || matches!(op.kind, Kind::Query { .. });
        let (actual, next) = if in_tx {
            match (db.begin)(&db.pool, ctx).await {
                Err(e) => (Outcome::Err(err_kind(&e)), None),
                Ok(mut tx) => {
                    let (out, next) = match &op.kind {
                        Kind::Query { index } => {
                            let out = match (queries[*index].1)(ctx, &mut tx).await {
                                Ok(text) => {
                                    check.text(&text);
                                    Outcome::Text(text)
                                }
                                Err(e) => Outcome::Err(err_kind(&e)),
                            };
                            (out, None)
                        }
                        kind => {
                            let driver = &drivers[entity_of(kind)];
                            driver
                                .execute(On::Tx(&mut tx), ctx, kind, cursor, &mut check)
                                .await
                        }
                    };
                    let done = DB::finish(tx, !matches!(out, Outcome::Err(_))).await;
                    match done {
                        Ok(()) => (out, next),
                        Err(e) => (Outcome::Err(err_kind(&e)), None),
                    }
                }
            }
        } else {
            drivers[entity_of(&op.kind)]
                .execute(On::Pool(&db.pool), ctx, &op.kind, cursor, &mut check)
                .await
        };
        let model = models
            .entry(t)
            .or_insert_with(|| TenantModel::new(drivers.len()));
        let expect = match &op.kind {
            Kind::Query { .. } => Expect::AnyOk,
            kind => drivers[entity_of(kind)].settle(model, ctx.tenant_id(), kind, Some(&actual)),
        };
        if let Kind::Page { entity, .. } = &op.kind {
            match (&actual, next) {
                (Outcome::Page { .. }, Some(next)) => {
                    cursors.insert((t, *entity), next);
                }
                (Outcome::Page { .. }, None) => {
                    cursors.remove(&(t, *entity));
                }
                _ => {}
            }
        }
        let agrees = match &expect {
            Expect::Exactly(outcome) => *outcome == actual,
            Expect::AnyRow => matches!(actual, Outcome::Row(Some(_))),
            Expect::RowCount(n) => matches!(&actual, Outcome::Rows(rows) if rows.len() == *n),
            Expect::PageUpTo(n) => matches!(actual, Outcome::Page { rows, .. } if rows <= *n),
            Expect::AnyOk => !matches!(actual, Outcome::Err(_)),
        };
        counts.op(op.kind.name(), outcome_class(&actual), op.cross);
        counts.leaks += check.leaks;
        if !agrees || check.leaks > 0 {
            stop.store(true, Ordering::Relaxed);
            return (
                counts,
                Some(Mismatch {
                    index,
                    expected: format!("{expect:?}"),
                    actual: format!("{actual:?}"),
                    leaks: check.leaks,
                    op,
                }),
            );
        }
    }
    (counts, None)
}

fn entity_of(kind: &Kind) -> usize {
    match kind {
        Kind::Insert { entity, .. }
        | Kind::Get { entity, .. }
        | Kind::Update { entity, .. }
        | Kind::Delete { entity, .. }
        | Kind::List { entity }
        | Kind::Count { entity }
        | Kind::Page { entity, .. } => *entity,
        Kind::Query { .. } => unreachable!("queries have no entity"),
    }
}

fn outcome_class(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Err(ErrKind::Conflict) => "error_conflict",
        Outcome::Err(ErrKind::ForeignKey) => "error_foreign_key",
        Outcome::Err(ErrKind::Cursor) => "error_cursor",
        Outcome::Err(ErrKind::EmptyPatch) => "error_empty_patch",
        Outcome::Err(ErrKind::Other(_)) => "error_other",
        Outcome::Row(None) | Outcome::Count(0) => "empty",
        Outcome::Rows(rows) if rows.is_empty() => "empty",
        Outcome::Page { rows: 0, .. } => "empty",
        _ => "non_empty",
    }
}
