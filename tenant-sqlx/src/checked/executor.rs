//! What a checked query runs on: the handles sqlx runs statements on, a `TenantTx`, and for
//! the queries that only read a `Routed`.

use tenant_core::TenantId;

// Named by the per-backend impls only.
use crate::repo::Backend;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
use crate::{Routed, TenantTx};

mod sealed {
    pub trait Sealed {}
}

/// What a checked query is, as its macro parsed it: [`Reads`] or [`Writes`], the last type
/// parameter of [`CheckedQuery`](crate::CheckedQuery) and its kin. A query that reads runs on
/// every [`CheckedReader`]; a query that writes only on a [`CheckedExecutor`].
///
/// ```
/// use tenant::sqlx::{CheckedQuery, CheckedQueryScalar, Reads, Writes};
/// use tenant::{tenant_scoped, Plan, TenantCtx, TenantId};
///
/// #[tenant_scoped(table = "notes")]
/// pub struct Note { #[key] pub id: i64, #[tenant] pub tenant_id: TenantId, pub body: String }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let acme = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Free);
/// let _: CheckedQueryScalar<'_, i64, (), Reads> =
///     tenant::sqlx::query_scalar!(&acme, i64, "SELECT count(*) FROM {Note}");
/// let _: CheckedQuery<'_, (i64,), Writes> =
///     tenant::sqlx::query!(&acme, "DELETE FROM {Note} WHERE id = $1", 1_i64);
/// let _: CheckedQuery<'_, (), Writes> =
///     tenant::sqlx::query!(&acme, "SELECT id FROM {Note} FOR UPDATE");
/// # Ok(())
/// # }
/// ```
pub trait Access: sealed::Sealed + Send + 'static {}

/// A checked query that only reads: a SELECT without a locking clause (`FOR UPDATE`,
/// `FOR SHARE`) at any level. It runs on a [`CheckedReader`], a routed handle included. See
/// [`Access`] for an example.
#[derive(Debug)]
pub enum Reads {}

/// A checked query that writes: an INSERT, UPDATE or DELETE, or a SELECT that locks rows. It
/// runs on a [`CheckedExecutor`] only: in a fenced transaction ([`PoolSet::begin`]), or on a
/// handle the caller chose. See [`Access`] for an example.
///
/// [`PoolSet::begin`]: crate::PoolSet::begin
#[derive(Debug)]
pub enum Writes {}

impl sealed::Sealed for Reads {}
impl sealed::Sealed for Writes {}
impl Access for Reads {}
impl Access for Writes {}

/// A handle a checked query that reads runs on, as sqlx's `Executor`: every
/// [`CheckedExecutor`], and `&Routed` ([`PoolSet::route`](crate::PoolSet::route)), whose
/// statements run outside the placement fence.
///
/// Sealed: a [`TenantTx`] and a `Routed` say which tenant they are bound to, and a query with
/// another tenant's context is refused with
/// [`Error::TenantMismatch`](crate::Error::TenantMismatch) before a statement is sent.
///
/// ```
/// use tenant::sqlx::{CheckedReader, PoolSet};
/// use tenant::{Plan, TenantCtx};
///
/// fn reads_checked<'c, X: CheckedReader<'c>>(_: X) {}
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?;
/// let pools = PoolSet::builder().database("main".parse()?, pool.clone()).build()?;
/// let acme = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Free);
/// reads_checked(&pools.route(&acme)?);
/// reads_checked(&pool);
/// # Ok(())
/// # }
/// ```
#[diagnostic::on_unimplemented(
    message = "a checked query cannot run on `{Self}`",
    label = "not a pool, connection or transaction of an enabled backend",
    note = "checked queries run on `&Pool`, `&mut Transaction`, `&mut PoolConnection`, `&mut Connection` and `&mut TenantTx` of the backends whose feature is enabled (`sqlite`, `postgres`), and those that only read on `&Routed` (`PoolSet::route`)"
)]
pub trait CheckedReader<'c>: Send + sealed::Sealed {
    /// The database behind the handle.
    type Database: Backend;
    /// The sqlx executor the statement is sent through.
    #[doc(hidden)]
    type Executor: sqlx::Executor<'c, Database = Self::Database>;

    /// The tenant the handle is bound to (a [`TenantTx`]'s, a `Routed`'s), `None` for the rest.
    #[doc(hidden)]
    fn bound_tenant(&self) -> Option<&TenantId>;

    #[doc(hidden)]
    fn into_executor(self) -> Self::Executor;
}

/// A handle every checked query runs on, those that write included, as sqlx's `Executor`:
/// `&Pool`, `&mut Transaction`, `&mut PoolConnection`, `&mut <Connection>` (so `&mut *tx` too)
/// and `&mut TenantTx`, of each enabled backend (features `sqlite`, `postgres`). Not a
/// `&Routed`: it runs each statement outside the placement fence, so it only reads.
///
/// Sealed: a [`TenantTx`] says which tenant it is bound to, and a query with another tenant's
/// context is refused with [`Error::TenantMismatch`](crate::Error::TenantMismatch) before a
/// statement is sent.
///
/// ```
/// use tenant::sqlx::CheckedExecutor;
///
/// fn runs_checked<'c, X: CheckedExecutor<'c>>(_: X) {}
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), sqlx::Error> {
/// let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?;
/// runs_checked(&pool);
/// let mut tx = pool.begin().await?;
/// runs_checked(&mut tx);
/// runs_checked(&mut *tx);
/// # Ok(())
/// # }
/// ```
#[diagnostic::on_unimplemented(
    message = "a checked query that writes cannot run on `{Self}`",
    label = "not a fenced transaction, nor a pool, connection or transaction of an enabled backend",
    note = "a routed handle (`PoolSet::route`) runs each statement outside the placement fence: a write through it could land in the database the tenant was moved from, and be deleted with its rows",
    note = "write in a fenced transaction: `let mut tx = pools.begin(&ctx).await?;` then `query!(..).execute(&mut tx)`, and `tx.commit()`"
)]
pub trait CheckedExecutor<'c>: CheckedReader<'c> {}

macro_rules! executors {
    ($feature:literal, $db:ty, $connection:ty) => {
        #[cfg(feature = $feature)]
        impl sealed::Sealed for &sqlx::Pool<$db> {}
        #[cfg(feature = $feature)]
        // For every `'c`, as sqlx's `Executor` for `&Pool`: a pool hands out connections of
        // its own, and a future that holds `&Pool` stays `Send` in a spawned task.
        impl<'c, 'p> CheckedReader<'c> for &'p sqlx::Pool<$db> {
            type Database = $db;
            type Executor = &'p sqlx::Pool<$db>;
            fn bound_tenant(&self) -> Option<&TenantId> {
                None
            }
            fn into_executor(self) -> Self::Executor {
                self
            }
        }

        #[cfg(feature = $feature)]
        impl sealed::Sealed for &mut $connection {}
        #[cfg(feature = $feature)]
        impl<'c, 'x: 'c> CheckedReader<'c> for &'x mut $connection {
            type Database = $db;
            type Executor = &'c mut $connection;
            fn bound_tenant(&self) -> Option<&TenantId> {
                None
            }
            fn into_executor(self) -> Self::Executor {
                self
            }
        }

        #[cfg(feature = $feature)]
        impl sealed::Sealed for &mut sqlx::Transaction<'_, $db> {}
        #[cfg(feature = $feature)]
        impl<'c, 'x: 'c> CheckedReader<'c> for &'x mut sqlx::Transaction<'_, $db> {
            type Database = $db;
            type Executor = &'c mut $connection;
            fn bound_tenant(&self) -> Option<&TenantId> {
                None
            }
            fn into_executor(self) -> Self::Executor {
                &mut **self
            }
        }

        #[cfg(feature = $feature)]
        impl sealed::Sealed for &mut sqlx::pool::PoolConnection<$db> {}
        #[cfg(feature = $feature)]
        impl<'c, 'x: 'c> CheckedReader<'c> for &'x mut sqlx::pool::PoolConnection<$db> {
            type Database = $db;
            type Executor = &'c mut $connection;
            fn bound_tenant(&self) -> Option<&TenantId> {
                None
            }
            fn into_executor(self) -> Self::Executor {
                &mut **self
            }
        }

        #[cfg(feature = $feature)]
        impl sealed::Sealed for &mut TenantTx<$db> {}
        #[cfg(feature = $feature)]
        impl<'c, 'x: 'c> CheckedReader<'c> for &'x mut TenantTx<$db> {
            type Database = $db;
            type Executor = &'c mut $connection;
            fn bound_tenant(&self) -> Option<&TenantId> {
                Some(self.ctx().tenant_id())
            }
            fn into_executor(self) -> Self::Executor {
                self.connection()
            }
        }
    };
}

/// `CheckedExecutor` for handles already `CheckedReader`: everything but `&Routed`.
macro_rules! writers {
    ($feature:literal, $db:ty, $connection:ty) => {
        #[cfg(feature = $feature)]
        impl<'c, 'p> CheckedExecutor<'c> for &'p sqlx::Pool<$db> {}
        #[cfg(feature = $feature)]
        impl<'c, 'x: 'c> CheckedExecutor<'c> for &'x mut $connection {}
        #[cfg(feature = $feature)]
        impl<'c, 'x: 'c> CheckedExecutor<'c> for &'x mut sqlx::Transaction<'_, $db> {}
        #[cfg(feature = $feature)]
        impl<'c, 'x: 'c> CheckedExecutor<'c> for &'x mut sqlx::pool::PoolConnection<$db> {}
        #[cfg(feature = $feature)]
        impl<'c, 'x: 'c> CheckedExecutor<'c> for &'x mut TenantTx<$db> {}

        #[cfg(feature = $feature)]
        impl sealed::Sealed for &Routed<$db> {}
        #[cfg(feature = $feature)]
        // Reads only: each statement runs on the tenant's pool, outside the placement fence.
        impl<'c, 'r> CheckedReader<'c> for &'r Routed<$db> {
            type Database = $db;
            type Executor = &'r sqlx::Pool<$db>;
            fn bound_tenant(&self) -> Option<&TenantId> {
                Some(self.tenant())
            }
            fn into_executor(self) -> Self::Executor {
                self.pool()
            }
        }
    };
}

executors!("sqlite", sqlx::Sqlite, sqlx::SqliteConnection);
executors!("postgres", sqlx::Postgres, sqlx::PgConnection);
writers!("sqlite", sqlx::Sqlite, sqlx::SqliteConnection);
writers!("postgres", sqlx::Postgres, sqlx::PgConnection);
