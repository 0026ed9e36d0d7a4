//! What a user implements ([`Fixture`]) and what the kit implements for them ([`KitDb`],
//! [`OnBackend`]), with the type-erased interface ([`Driver`]) one search holds its entities by.

use std::fmt::{self, Debug};
use std::sync::Arc;

use tenant::sqlx::{Backend, Entity, Error, Order, TenantTx};
use tenant::{TenantCtx, TenantId};

use super::op::{BoxFuture, Check, CursorBox, Expect, Kind, Outcome};
use crate::model::TenantModel;
use crate::value::{Gen, Generate};

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
pub struct DriverBox<DB: KitDb>(pub(super) Arc<dyn Driver<DB>>);

impl<DB: KitDb> Debug for DriverBox<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.table())
    }
}

/// The handle an op runs on: the pool, or the tenant's transaction.
pub(super) enum On<'a, DB: KitDb> {
    Pool(&'a sqlx::Pool<DB>),
    Tx(&'a mut TenantTx<DB>),
}

/// One registered entity, its type erased so one search spans several.
pub(super) trait Driver<DB: KitDb>: Send + Sync {
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

macro_rules! kit_db {
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
    };
}

kit_db!("sqlite", sqlx::Sqlite);
kit_db!("postgres", sqlx::Postgres);
