//! [`TenantTx`]: a transaction bound to one tenant, for row-level security on PostgreSQL.

use std::ops::{Deref, DerefMut};

use sqlx::{AssertSqlSafe, Pool, Transaction};

use tenant_core::{TenantCtx, TenantId};

use crate::error::Error;
#[cfg(feature = "postgres")]
use crate::repo::rls::TENANT_SETTING;
use crate::repo::{Backend, Conn, Entity, Repo};

/// A transaction bound to one tenant.
///
/// On PostgreSQL it begins with `BEGIN; SELECT set_config('app.tenant_id', <tenant>, true)`, in
/// one round trip. The setting is transaction-local: it ends with the transaction, commit or
/// rollback, so the pooled connection goes back with no tenant (safe under PgBouncer's
/// transaction pooling too), and the next user of that connection sees nothing of this tenant.
/// Tables with [row-level security](Repo::row_level_security) then show and accept only this
/// tenant's rows, for repository calls and raw SQL alike.
///
/// On SQLite, which has neither settings nor row-level security, it is a plain transaction that
/// carries the context.
///
/// On PostgreSQL, [`begin_in_schema`](TenantTx::begin_in_schema) also sets the search path
/// to the tenant's own schema, for a schema per tenant.
///
/// Repositories run over it with [`repo`](Self::repo) (or `Repo::new(&mut tx)`); raw sqlx
/// queries run on `&mut *tx`, as on a `sqlx::Transaction`:
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
/// let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM notes").fetch_one(&mut *tx).await?;
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
    /// Begins a transaction on a connection of `pool`, bound to `ctx`'s tenant.
    pub async fn begin(pool: &Pool<DB>, ctx: &TenantCtx) -> Result<Self, Error> {
        let begin = DB::begin_tenant(ctx.tenant_id());
        let tx = pool.begin_with(AssertSqlSafe(begin)).await?;
        Ok(TenantTx {
            tx,
            ctx: ctx.clone(),
        })
    }

    /// The tenant the transaction is bound to.
    ///
    /// (On PostgreSQL, see also [`begin_in_schema`](TenantTx::begin_in_schema).)
    pub fn ctx(&self) -> &TenantCtx {
        &self.ctx
    }

    /// The repository of `E` over this transaction.
    pub fn repo<E: Entity>(&mut self) -> Repo<E, &mut Self> {
        Repo::new(self)
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

impl<DB: Backend> Deref for TenantTx<DB> {
    type Target = DB::Connection;

    fn deref(&self) -> &DB::Connection {
        &self.tx
    }
}

impl<DB: Backend> DerefMut for TenantTx<DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        &mut self.tx
    }
}

impl<DB: Backend> std::fmt::Debug for TenantTx<DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantTx")
            .field("tenant_id", self.ctx.tenant_id())
            .finish_non_exhaustive()
    }
}

impl<DB: Backend> Conn for &mut TenantTx<DB>
where
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    type Database = DB;

    fn bound_tenant(&self) -> Option<&TenantId> {
        Some(self.ctx.tenant_id())
    }

    fn executor(&mut self) -> impl sqlx::Executor<'_, Database = DB> {
        &mut *self.tx
    }

    fn begin(
        &mut self,
    ) -> impl std::future::Future<Output = Result<Transaction<'_, DB>, sqlx::Error>> + Send {
        // A savepoint: the tenant setting of the enclosing transaction still holds inside it.
        sqlx::Connection::begin(&mut *self.tx)
    }
}

#[cfg(feature = "postgres")]
impl TenantTx<sqlx::Postgres> {
    /// Begins a transaction bound to `ctx`'s tenant whose search path is the tenant's schema
    /// alone (`ctx.schema_name()`, which the registry gave and [`SchemaName`] validated), set
    /// transaction-locally in the same round trip as BEGIN. Unqualified table names, those of
    /// every repository among them, then resolve in the tenant's schema.
    ///
    /// The path holds nothing else, not even `public`: a table missing from the tenant's
    /// schema is an error, never a shared table of the same name that other tenants write to.
    /// Create the schema and its tables with [`TenantSchema`](crate::TenantSchema).
    ///
    /// [`SchemaName`]: tenant_core::SchemaName
    pub async fn begin_in_schema(
        pool: &Pool<sqlx::Postgres>,
        ctx: &TenantCtx,
    ) -> Result<Self, Error> {
        // Both values are validated types of `[a-z0-9_-]`: they cannot end the literal.
        let begin = format!(
            "BEGIN; SELECT set_config('{}', '{}', true), set_config('search_path', '{}', true)",
            TENANT_SETTING,
            ctx.tenant_id().as_str(),
            ctx.schema_name().as_str()
        );
        let tx = pool.begin_with(AssertSqlSafe(begin)).await?;
        Ok(TenantTx {
            tx,
            ctx: ctx.clone(),
        })
    }
}
