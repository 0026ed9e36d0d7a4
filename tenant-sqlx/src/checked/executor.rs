//! What a checked query runs on: the handles sqlx runs statements on, and a `TenantTx`.

use tenant_core::TenantId;

// Named by the per-backend impls only.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
use crate::TenantTx;
use crate::repo::Backend;

mod sealed {
    pub trait Sealed {}
}

/// A handle a checked query runs on, as sqlx's `Executor`: `&Pool`, `&mut Transaction`,
/// `&mut PoolConnection`, `&mut <Connection>` (so `&mut *tx` too) and `&mut TenantTx`, of each
/// enabled backend (features `sqlite`, `postgres`).
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
    message = "a checked query cannot run on `{Self}`",
    label = "not a pool, connection or transaction of an enabled backend",
    note = "checked queries run on `&Pool`, `&mut Transaction`, `&mut PoolConnection`, `&mut Connection` and `&mut TenantTx` of the backends whose feature is enabled (`sqlite`, `postgres`)"
)]
pub trait CheckedExecutor<'c>: Send + sealed::Sealed {
    /// The database behind the handle.
    type Database: Backend;
    /// The sqlx executor the statement is sent through.
    #[doc(hidden)]
    type Executor: sqlx::Executor<'c, Database = Self::Database>;

    /// The tenant the handle is bound to (a [`TenantTx`]'s), `None` for the rest.
    #[doc(hidden)]
    fn bound_tenant(&self) -> Option<&TenantId>;

    #[doc(hidden)]
    fn into_executor(self) -> Self::Executor;
}

macro_rules! executors {
    ($feature:literal, $db:ty, $connection:ty) => {
        #[cfg(feature = $feature)]
        impl sealed::Sealed for &sqlx::Pool<$db> {}
        #[cfg(feature = $feature)]
        // For every `'c`, as sqlx's `Executor` for `&Pool`: a pool hands out connections of
        // its own, and a future that holds `&Pool` stays `Send` in a spawned task.
        impl<'c, 'p> CheckedExecutor<'c> for &'p sqlx::Pool<$db> {
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
        impl<'c, 'x: 'c> CheckedExecutor<'c> for &'x mut $connection {
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
        impl<'c, 'x: 'c> CheckedExecutor<'c> for &'x mut sqlx::Transaction<'_, $db> {
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
        impl<'c, 'x: 'c> CheckedExecutor<'c> for &'x mut sqlx::pool::PoolConnection<$db> {
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
        impl<'c, 'x: 'c> CheckedExecutor<'c> for &'x mut TenantTx<$db> {
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

executors!("sqlite", sqlx::Sqlite, sqlx::SqliteConnection);
executors!("postgres", sqlx::Postgres, sqlx::PgConnection);
