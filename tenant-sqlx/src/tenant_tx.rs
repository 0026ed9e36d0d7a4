//! [`TenantTx`]: a transaction bound to one tenant, for row-level security on PostgreSQL.

use std::ops::Deref;

use sqlx::{AssertSqlSafe, Executor, Pool, Transaction};

use tenant_core::{TenantCtx, TenantId};

use crate::error::Error;
use crate::repo::{Backend, Conn, Entity, Repo, Token, WriteConn};

/// A transaction bound to one tenant.
///
/// Its repositories ([`repo`](Self::repo), or `Repo::new(&mut tx)`) take only the bound
/// tenant's context: any other is an [`Error::TenantMismatch`], before anything is sent. Raw
/// sqlx queries run on [`tx.executor()`](Self::executor). The connection itself is never handed
/// out mutably: two transactions' connections cannot be swapped.
///
/// On PostgreSQL it begins with `BEGIN; RESET app.tenant_id; SELECT set_config('search_path',
/// .., true)`, in one round trip: a session-level tenant setting left on the pooled connection
/// ends, and the search path names `pg_temp` last, so a temporary table cannot shadow the
/// tenant's. [`RowSecurity::begin`](crate::RowSecurity::begin) then adds the verified tenant
/// setting that row-level security policies check; [`begin_in_schema`](TenantTx::begin_in_schema)
/// sets the search path to the tenant's own schema.
///
/// On SQLite, which has neither settings nor row-level security, it is a plain transaction that
/// carries the context.
///
/// ```
/// # use tenant::{tenant_scoped, Plan, TenantCtx, TenantId};
/// # use tenant::sqlx::TenantTx;
/// # #[tenant_scoped(table = "notes")]
/// # pub struct Note { #[key] pub id: i64, #[tenant] pub tenant_id: TenantId, pub body: String }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let acme = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Free);
/// let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?;
/// NoteRepo::new(&pool).create_table().await?;
///
/// let mut tx = TenantTx::begin(&pool, &acme).await?;
/// tx.repo::<Note>().insert(&acme, NewNote { id: 1, body: "draft".into() }).await?;
/// let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM notes").fetch_one(tx.executor()).await?;
/// assert_eq!(n, 1);
/// tx.commit().await?;
/// # Ok(())
/// # }
/// ```
pub struct TenantTx<DB: Backend> {
    tx: Transaction<'static, DB>,
    ctx: TenantCtx,
}

impl<DB: Backend> TenantTx<DB> {
    /// Begins a transaction on a connection of `pool`, bound to `ctx`'s tenant. On PostgreSQL
    /// it sets no tenant setting: row-level security needs
    /// [`RowSecurity::begin`](crate::RowSecurity::begin).
    pub async fn begin(pool: &Pool<DB>, ctx: &TenantCtx) -> Result<Self, Error> {
        let tx = pool.begin_with(AssertSqlSafe(DB::begin_tenant())).await?;
        Ok(Self::from_parts(tx, ctx))
    }

    pub(crate) fn from_parts(tx: Transaction<'static, DB>, ctx: &TenantCtx) -> Self {
        TenantTx {
            tx,
            ctx: ctx.clone(),
        }
    }

    /// The tenant the transaction is bound to.
    pub fn ctx(&self) -> &TenantCtx {
        &self.ctx
    }

    /// The repository of `E` over this transaction.
    pub fn repo<E: Entity>(&mut self) -> Repo<E, &mut Self> {
        Repo::over(self)
    }

    /// The executor of raw sqlx queries inside the transaction:
    /// `sqlx::query(..).fetch_one(tx.executor())`.
    ///
    /// Its type is opaque on purpose: it runs statements on the transaction's connection, and
    /// gives no way to the connection itself (a `&mut Connection` could be `mem::swap`ped with
    /// another transaction's). It is a method rather than `sqlx::Executor for &mut TenantTx`
    /// because that trait's `describe` exists only with sqlx's `offline` feature, which would
    /// have to be forced on every driver of the build.
    pub fn executor(&mut self) -> impl Executor<'_, Database = DB>
    where
        for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    {
        &mut *self.tx
    }

    /// The transaction's connection, for the checked queries run on `&mut TenantTx`, which
    /// have checked the context's tenant first. Crate-private: see `executor`, whose
    /// per-backend impls are its only callers.
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    pub(crate) fn connection(&mut self) -> &mut DB::Connection {
        &mut self.tx
    }

    /// Commits. The tenant setting ends with the transaction.
    pub async fn commit(self) -> Result<(), Error> {
        Ok(self.tx.commit().await?)
    }

    /// Rolls back. Dropping the transaction rolls back too.
    pub async fn rollback(self) -> Result<(), Error> {
        Ok(self.tx.rollback().await?)
    }
}

/// Read-only: the connection's state (`is_closed`, the server version). There is no `DerefMut`:
/// with `&mut Connection` safe code could `mem::swap` two transactions' connections, and run
/// acme's statements in globex's transaction.
impl<DB: Backend> Deref for TenantTx<DB> {
    type Target = DB::Connection;

    fn deref(&self) -> &DB::Connection {
        &self.tx
    }
}

impl<DB: Backend> std::fmt::Debug for TenantTx<DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantTx")
            .field("tenant_id", self.ctx.tenant_id())
            .finish_non_exhaustive()
    }
}

impl<DB: Backend> WriteConn for &mut TenantTx<DB> where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>
{
}

impl<DB: Backend> Conn for &mut TenantTx<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    type Database = DB;

    fn bound_tenant(&self) -> Option<&TenantId> {
        Some(self.ctx.tenant_id())
    }

    fn executor(&mut self) -> impl Executor<'_, Database = DB> {
        &mut *self.tx
    }

    fn begin(
        &mut self,
        _: Token,
    ) -> impl std::future::Future<Output = Result<Transaction<'_, DB>, sqlx::Error>> + Send {
        // A savepoint: the tenant setting of the enclosing transaction still holds inside it.
        sqlx::Connection::begin(&mut *self.tx)
    }
}

#[cfg(feature = "postgres")]
impl TenantTx<sqlx::Postgres> {
    /// Begins a transaction bound to `ctx`'s tenant whose search path is the tenant's schema
    /// (`ctx.schema_name()`, which the registry gave and [`SchemaName`] validated), then
    /// `pg_temp`, set transaction-locally in the same round trip as BEGIN. Unqualified table
    /// names, those of every repository among them, then resolve in the tenant's schema.
    ///
    /// The path holds nothing else, not even `public`: a table missing from the tenant's
    /// schema is an error, never a shared table of the same name that other tenants write to.
    /// `pg_temp` comes last, named, so a temporary table left on the pooled connection cannot
    /// shadow the tenant's (unnamed, PostgreSQL would search it first). Create the schema and
    /// its tables with [`TenantSchema`](crate::TenantSchema); with row-level security too, use
    /// [`RowSecurity::begin_in_schema`](crate::RowSecurity::begin_in_schema).
    ///
    /// [`SchemaName`]: tenant_core::SchemaName
    pub async fn begin_in_schema(
        pool: &Pool<sqlx::Postgres>,
        ctx: &TenantCtx,
    ) -> Result<Self, Error> {
        let begin = crate::repo::rls::begin_statement(Some(ctx.schema_name()));
        let tx = pool.begin_with(AssertSqlSafe(begin)).await?;
        Ok(Self::from_parts(tx, ctx))
    }
}
