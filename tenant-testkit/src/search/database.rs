//! [`Database`]: one fresh database a program runs on, and how a tenant's transaction begins.

use std::fmt::{self, Debug};
use std::future::Future;
use std::sync::Arc;

use tenant::TenantCtx;
use tenant::sqlx::{Error, TenantTx};

use super::fixture::KitDb;
use super::op::BoxFuture;

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
    pub(super) pool: sqlx::Pool<DB>,
    pub(super) tenants: Vec<TenantCtx>,
    pub(super) begin: BeginFn<DB>,
    pub(super) every_op_in_tx: bool,
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

    pub(super) async fn close(self) {
        match self.close {
            Some(close) => close(self.pool, self.tenants).await,
            None => self.pool.close().await,
        }
    }
}

#[cfg(feature = "sqlite")]
impl Database<sqlx::Sqlite> {
    /// `file`'s pool with the repositories' own tenant predicates alone (as [`new`](Self::new));
    /// the file is removed when the run ends.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sqlx::Error> {
    /// use tenant::{Plan, TenantCtx};
    /// use tenant_testkit::{Database, SqliteFile};
    /// let file = SqliteFile::create("notes_leak_search").await?;
    /// // Create the tables on `file.pool()` here.
    /// let tenants = (0..8)
    ///     .map(|t| TenantCtx::trusted(format!("t{t}").parse().unwrap(), format!("s{t}").parse().unwrap(), Plan::Free))
    ///     .collect();
    /// let db = Database::sqlite_file(file, tenants);
    /// # let _ = db;
    /// # Ok(())
    /// # }
    /// ```
    pub fn sqlite_file(file: crate::SqliteFile, tenants: Vec<TenantCtx>) -> Self {
        Database::new(file.pool().clone(), tenants).on_close(move |_, _| file.remove())
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

/// Makes a fresh database for one run (`None`: the backend is not configured here, and the
/// search is skipped).
pub type SetupFn<DB> = Arc<dyn Fn() -> BoxFuture<'static, Option<Database<DB>>> + Send + Sync>;
