//! [`TenantPool`]: a pool that gives out tenant-bound transactions and nothing else.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tenant_core::TenantCtx;

use super::fence::PlacementBackend;
use super::pool_set::PoolSet;
use crate::error::Error;
use crate::tenant_tx::TenantTx;

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How a [`TenantPool`] begins: behind the placement fence, and on PostgreSQL with the verified
/// tenant setting when row-level security is configured.
trait Begin<DB: PlacementBackend>: Send + Sync {
    fn begin<'a>(
        &'a self,
        pools: &'a PoolSet<DB>,
        ctx: &'a TenantCtx,
    ) -> BoxFuture<'a, Result<TenantTx<DB>, Error>>;
}

/// [`PoolSet::begin`].
struct Fenced;

impl<DB: PlacementBackend> Begin<DB> for Fenced {
    fn begin<'a>(
        &'a self,
        pools: &'a PoolSet<DB>,
        ctx: &'a TenantCtx,
    ) -> BoxFuture<'a, Result<TenantTx<DB>, Error>> {
        Box::pin(pools.begin(ctx))
    }
}

/// [`PoolSet::begin_row_security`].
#[cfg(feature = "postgres")]
struct WithRowSecurity(crate::RowSecurity);

#[cfg(feature = "postgres")]
impl Begin<sqlx::Postgres> for WithRowSecurity {
    fn begin<'a>(
        &'a self,
        pools: &'a PoolSet<sqlx::Postgres>,
        ctx: &'a TenantCtx,
    ) -> BoxFuture<'a, Result<TenantTx<sqlx::Postgres>, Error>> {
        Box::pin(pools.begin_row_security(&self.0, ctx))
    }
}

/// A pool that only gives out tenant-bound transactions: [`begin`](Self::begin) is all it has.
///
/// It is not a [`Conn`](crate::Conn), and hands out no pool, connection or route, so a
/// repository over it does not compile: the statements of a service that holds only a
/// `TenantPool` run inside a [`TenantTx`] of a verified context, on the tenant's database
/// ([`PoolSet::begin`], behind the placement fence), with row-level security's tenant
/// setting when [`with_row_security`](TenantPool::with_row_security) configured it. On a table
/// with forced row-level security, a repository on the plain pool would have read nothing and
/// written nothing, at run time (`[]`, `0`, [`Error::RowSecurityViolation`]).
///
/// With the `axum` feature, [`RequestTxLayer`](crate::axum::RequestTxLayer) begins one per
/// request and commits it when the handler succeeds.
///
/// ```
/// use tenant::sqlx::{PlacementFence, PoolSet, TenantPool};
/// use tenant::{tenant_scoped, Plan, TenantCtx, TenantId, Tier};
/// # #[tenant_scoped(table = "notes")]
/// # pub struct Note { #[key] pub id: i64, #[tenant] pub tenant_id: TenantId, pub body: String }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let main = sqlx::SqlitePool::connect("sqlite::memory:").await?;
/// NoteRepo::new(&main).create_table().await?;
/// let acme = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Free);
/// PlacementFence::new(&main).install().await?;
/// PlacementFence::new(&main).place(acme.tenant_id(), Tier::Shared, false).await?;
///
/// let pool = TenantPool::new(PoolSet::builder().database("main".parse()?, main).build()?);
/// let mut tx = pool.begin(&acme).await?;
/// tx.repo::<Note>().insert(&acme, NewNote { id: 1, body: "hello".into() }).await?;
/// tx.commit().await?;
/// // `NoteRepo::new(&pool)` does not compile: a `TenantPool` is not a connection.
/// # Ok(())
/// # }
/// ```
pub struct TenantPool<DB: PlacementBackend> {
    pools: PoolSet<DB>,
    begin: Arc<dyn Begin<DB>>,
}

impl<DB: PlacementBackend> Clone for TenantPool<DB> {
    fn clone(&self) -> Self {
        TenantPool {
            pools: self.pools.clone(),
            begin: Arc::clone(&self.begin),
        }
    }
}

impl<DB: PlacementBackend> TenantPool<DB> {
    /// Transactions begun with [`PoolSet::begin`]: on the tenant's database, behind its
    /// placement fence. On PostgreSQL they set no tenant setting; a database whose tables have
    /// row-level security needs [`with_row_security`](TenantPool::with_row_security).
    pub fn new(pools: PoolSet<DB>) -> Self {
        TenantPool {
            pools,
            begin: Arc::new(Fenced),
        }
    }

    /// A transaction bound to `ctx`'s tenant on its database. [`Error::Moved`] and
    /// [`Error::Fenced`] as [`PoolSet::begin`].
    pub async fn begin(&self, ctx: &TenantCtx) -> Result<TenantTx<DB>, Error> {
        self.begin.begin(&self.pools, ctx).await
    }
}

#[cfg(feature = "postgres")]
impl TenantPool<sqlx::Postgres> {
    /// Transactions begun with [`PoolSet::begin_row_security`]: behind the placement fence,
    /// with the verified tenant setting that the tables' row-level security policies check.
    pub fn with_row_security(pools: PoolSet<sqlx::Postgres>, security: crate::RowSecurity) -> Self {
        TenantPool {
            pools,
            begin: Arc::new(WithRowSecurity(security)),
        }
    }
}

impl<DB: PlacementBackend> fmt::Debug for TenantPool<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantPool")
            .field("pools", &self.pools)
            .finish_non_exhaustive()
    }
}
