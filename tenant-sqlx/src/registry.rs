//! [`SqlRegistry`]: the `tenants` table on SQLite or PostgreSQL. The table's SQL on each
//! backend is [`backend`]'s.

// Without a driver feature only the shared parts are compiled.
#![cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]

mod backend;

use std::fmt;
use std::future::Future;

use sqlx::Pool;

use time::OffsetDateTime;

use tenant_core::{Limits, Placement, Tenant, TenantId, TenantRegistry};

use crate::error::Error;

pub use backend::{NewTenant, RegistryBackend};

/// Now, to the millisecond: what both databases store exactly, so the record `create` returns
/// equals the one read back.
fn now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(now.nanosecond() / 1_000_000 * 1_000_000)
        .unwrap_or(now)
}

/// The tenant registry stored in the `tenants` table of a SQLite or PostgreSQL database,
/// reached through a `sqlx` pool.
///
/// | column | type | |
/// |---|---|---|
/// | `id` | `TEXT NOT NULL` | primary key |
/// | `slug` | `TEXT NOT NULL` | unique index `tenants_slug_key` |
/// | `name`, `plan`, `schema_name` | `TEXT NOT NULL` | |
/// | `is_active` | `BOOLEAN NOT NULL` | |
/// | `created_at`, `updated_at` | `TIMESTAMPTZ NOT NULL` (PostgreSQL), `TEXT NOT NULL` (SQLite: RFC 3339 in UTC, to the millisecond, so text order is time order) | |
///
/// Every value read back is validated as it would be from any other input: a row whose id,
/// slug, plan or schema name was written around this type (by hand, by another program) and
/// does not parse is an [`Error::Database`] holding a `sqlx::Error::ColumnDecode` that names the
/// column, never a panic and never a half-valid [`Tenant`].
///
/// Lookups go to the database every time; wrap the registry in a
/// [`CachedRegistry`](tenant_core::CachedRegistry) on the request path.
///
/// ```
/// use tenant::sqlx::{NewTenant, SqlRegistry};
/// use tenant::{Plan, TenantRegistry};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?; // or a PgPool
/// let registry = SqlRegistry::new(pool);
/// registry.migrate().await?;
///
/// let acme = registry
///     .create(NewTenant {
///         id: "0b9a4c1e-3f5d-4a51-9d55-0f6f1c9c2a10".parse()?,
///         slug: "acme".parse()?,
///         name: "Acme Corp.".into(),
///         plan: Plan::Pro,
///         schema_name: "tenant_acme".parse()?,
///     })
///     .await?;
/// assert!(acme.is_active);
/// assert_eq!(registry.find_by_slug(&"acme".parse()?).await?, Some(acme.clone()));
///
/// assert!(registry.deactivate(&acme.id).await?);
/// assert!(!registry.find_by_id(&acme.id).await?.unwrap().is_active);
/// # Ok(())
/// # }
/// ```
pub struct SqlRegistry<DB: sqlx::Database> {
    pool: Pool<DB>,
}

impl<DB: sqlx::Database> Clone for SqlRegistry<DB> {
    fn clone(&self) -> Self {
        SqlRegistry {
            pool: self.pool.clone(),
        }
    }
}

impl<DB: sqlx::Database> fmt::Debug for SqlRegistry<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlRegistry")
            .field("pool", &self.pool)
            .finish()
    }
}

impl<DB: sqlx::Database> SqlRegistry<DB> {
    /// A registry on the `tenants` table of the database behind `pool`. Call
    /// [`migrate`](Self::migrate) once (or run [`ddl`](Self::ddl) from a migration) before
    /// using it.
    pub fn new(pool: Pool<DB>) -> Self {
        SqlRegistry { pool }
    }

    /// The pool the registry runs its statements through.
    pub fn pool(&self) -> &Pool<DB> {
        &self.pool
    }
}

impl<DB: RegistryBackend> SqlRegistry<DB> {
    /// The statements [`migrate`](Self::migrate) runs, for migration files: `CREATE TABLE IF
    /// NOT EXISTS tenants (..)` and the unique indexes on `slug` and `schema_name`. On
    /// PostgreSQL, last, the `ADD COLUMN IF NOT EXISTS` statements (`placement`, `limits`) that
    /// upgrade a table of an older release (on SQLite, which has no `IF NOT EXISTS` there,
    /// [`migrate`](Self::migrate) checks for each column first).
    ///
    /// ```
    /// use tenant::sqlx::SqlRegistry;
    ///
    /// let ddl = SqlRegistry::<sqlx::Postgres>::ddl();
    /// assert!(ddl[0].starts_with("CREATE TABLE IF NOT EXISTS tenants ("));
    /// assert_eq!(ddl[1], "CREATE UNIQUE INDEX IF NOT EXISTS tenants_slug_key ON tenants (slug)");
    /// assert!(ddl[2].ends_with("ON tenants (schema_name)"));
    /// ```
    pub fn ddl() -> &'static [&'static str] {
        DB::DDL
    }

    /// Creates the `tenants` table and its slug index if they do not exist, in one transaction.
    /// Idempotent. On PostgreSQL it takes a transaction-scoped advisory lock first, so that
    /// processes starting together do not race on the catalog.
    ///
    /// ```
    /// # use tenant::sqlx::SqlRegistry;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let registry = SqlRegistry::new(sqlx::SqlitePool::connect("sqlite::memory:").await?);
    /// registry.migrate().await?;
    /// registry.migrate().await?; // nothing to do
    /// # Ok(())
    /// # }
    /// ```
    pub async fn migrate(&self) -> Result<(), Error> {
        DB::migrate(&self.pool).await
    }

    /// Registers a tenant, active, created and updated now (to the millisecond), and returns
    /// its record: the same record [`find_by_id`](TenantRegistry::find_by_id) will return.
    ///
    /// A tenant with the same id, the same slug or the same schema is an [`Error::Conflict`] on
    /// table `"tenants"`. Ids and slugs are one namespace: an id that is another tenant's slug,
    /// or a slug that is another tenant's id, is a `DuplicateTenant` (in [`Error::Core`]).
    ///
    /// ```
    /// use tenant::sqlx::{NewTenant, SqlRegistry};
    /// use tenant::Plan;
    /// use tenant::sqlx::Error;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let registry = SqlRegistry::new(sqlx::SqlitePool::connect("sqlite::memory:").await?);
    /// registry.migrate().await?;
    /// let new = |id: &str, slug: &str| NewTenant {
    ///     id: id.parse().unwrap(),
    ///     slug: slug.parse().unwrap(),
    ///     name: id.into(),
    ///     plan: Plan::Free,
    ///     schema_name: format!("tenant_{}", id.replace('-', "_")).parse().unwrap(),
    /// };
    ///
    /// let acme = registry.create(new("acme", "acme")).await?;
    /// assert!(acme.is_active);
    /// assert_eq!(acme.created_at, acme.updated_at);
    ///
    /// let taken = registry.create(new("globex", "acme")).await.unwrap_err();
    /// assert!(matches!(taken, Error::Conflict { table: "tenants", .. }));
    /// // `/t/acme-corp/` and `X-Tenant-ID: acme-corp` must not name two tenants.
    /// registry.create(new("initech", "acme-corp")).await?;
    /// let shadow = registry.create(new("acme-corp", "acme-corp-2")).await.unwrap_err();
    /// assert!(matches!(
    ///     shadow,
    ///     Error::Core(tenant::Error::DuplicateTenant { field: "id", .. })
    /// ));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn create(&self, new: NewTenant) -> Result<Tenant, Error> {
        let now = now();
        DB::insert(&self.pool, &new, now).await?;
        Ok(Tenant {
            id: new.id,
            slug: new.slug,
            name: new.name,
            plan: new.plan,
            schema_name: new.schema_name,
            limits: None,
            placement: Placement::default(),
            is_active: true,
            created_at: now.into(),
            updated_at: now.into(),
        })
    }

    /// Deactivates the tenant with `id` and sets its `updated_at` to now (never earlier than it
    /// was). Returns `true` if an active tenant was deactivated, `false` if there is no such
    /// tenant or it was already inactive (then nothing is written).
    ///
    /// A [`CachedRegistry`](tenant_core::CachedRegistry) in front of this registry keeps serving
    /// the active record until its entry expires; call
    /// [`invalidate`](tenant_core::CachedRegistry::invalidate) on it too.
    ///
    /// ```
    /// # use tenant::sqlx::{NewTenant, SqlRegistry};
    /// # use tenant::{Plan, TenantRegistry};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let registry = SqlRegistry::new(sqlx::SqlitePool::connect("sqlite::memory:").await?);
    /// # registry.migrate().await?;
    /// # let acme = registry.create(NewTenant { id: "acme".parse()?, slug: "acme".parse()?,
    /// #     name: "Acme".into(), plan: Plan::Free, schema_name: "tenant_acme".parse()? }).await?;
    /// assert!(registry.deactivate(&acme.id).await?);
    /// assert!(!registry.deactivate(&acme.id).await?); // already inactive
    /// assert!(!registry.deactivate(&"nobody".parse()?).await?);
    ///
    /// let stored = registry.find_by_id(&acme.id).await?.unwrap();
    /// assert!(!stored.is_active);
    /// assert!(stored.updated_at >= stored.created_at);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn deactivate(&self, id: &TenantId) -> Result<bool, Error> {
        DB::deactivate(&self.pool, id, now()).await
    }

    /// Every active tenant, in id order, each row validated as a lookup's is. For what a
    /// process needs of all of them at start: `FloodGuard::remember`, so that no live tenant's
    /// first lookup pays from the budget for unknown ids.
    ///
    /// ```
    /// # use tenant::sqlx::{NewTenant, SqlRegistry};
    /// # use tenant::Plan;
    /// use tenant::registry::{CachedRegistry, FloodGuard};
    /// use std::time::Duration;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let registry = SqlRegistry::new(sqlx::SqlitePool::connect("sqlite::memory:").await?);
    /// # registry.migrate().await?;
    /// # for id in ["acme", "globex", "initech"] {
    /// #     registry.create(NewTenant { id: id.parse()?, slug: id.parse()?, name: id.into(),
    /// #         plan: Plan::Free, schema_name: format!("tenant_{id}").parse()? }).await?;
    /// # }
    /// registry.deactivate(&"initech".parse()?).await?;
    /// let active = registry.active_tenants().await?;
    /// let ids: Vec<&str> = active.iter().map(|t| t.id.as_str()).collect();
    /// assert_eq!(ids, ["acme", "globex"]);
    ///
    /// let guard = FloodGuard::new(registry, 20, 40)?;
    /// for tenant in &active {
    ///     guard.remember(tenant);
    /// }
    /// let cached = CachedRegistry::new(guard, Duration::from_secs(30), 10_000);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn active_tenants(&self) -> Result<Vec<Tenant>, Error> {
        DB::select_active(&self.pool).await
    }

    /// Records that the tenant with `id` now lives at `placement`, and sets its `updated_at`
    /// to now (never earlier than it was). Returns `true` if the placement changed, `false` if
    /// there is no such tenant or it was already there (then nothing is written): the switch
    /// step of a move, safe to repeat.
    ///
    /// The registry only routes: the databases' own placement tables (see
    /// [`PlacementFence`](crate::PlacementFence)) decide which transactions they accept, so a
    /// process whose cached record is stale is refused with [`Error::Moved`] rather than
    /// writing to the old database. A [`CachedRegistry`](tenant_core::CachedRegistry) in front
    /// of this one keeps the old record until its entry expires or is invalidated.
    ///
    /// ```
    /// # use tenant::sqlx::{NewTenant, SqlRegistry};
    /// # use tenant::{Plan, TenantRegistry};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let registry = SqlRegistry::new(sqlx::SqlitePool::connect("sqlite::memory:").await?);
    /// # registry.migrate().await?;
    /// # let acme = registry.create(NewTenant { id: "acme".parse()?, slug: "acme".parse()?,
    /// #     name: "Acme".into(), plan: Plan::Free, schema_name: "tenant_acme".parse()? }).await?;
    /// assert_eq!(acme.placement.to_string(), "main/shared");
    /// assert!(registry.place(&acme.id, &"eu/schema".parse()?).await?);
    /// assert!(!registry.place(&acme.id, &"eu/schema".parse()?).await?); // already there
    /// let stored = registry.find_by_id(&acme.id).await?.unwrap();
    /// assert_eq!(stored.placement.to_string(), "eu/schema");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn place(&self, id: &TenantId, placement: &Placement) -> Result<bool, Error> {
        DB::place(&self.pool, id, placement, now()).await
    }

    /// Moves the tenant with `id` from `from` to `to` if, and only if, the registry places it
    /// at `from` now (compare-and-set): the switch of a move, which a rerun, or a second move
    /// started by mistake, cannot apply over another's.
    ///
    /// ```
    /// # use tenant::sqlx::{NewTenant, SqlRegistry, Switch};
    /// # use tenant::Plan;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let registry = SqlRegistry::new(sqlx::SqlitePool::connect("sqlite::memory:").await?);
    /// # registry.migrate().await?;
    /// # let acme = registry.create(NewTenant { id: "acme".parse()?, slug: "acme".parse()?,
    /// #     name: "Acme".into(), plan: Plan::Free, schema_name: "tenant_acme".parse()? }).await?;
    /// let (main, eu) = ("main/shared".parse()?, "eu/schema".parse()?);
    /// assert_eq!(registry.switch(&acme.id, &main, &eu).await?, Switch::Switched);
    /// assert_eq!(registry.switch(&acme.id, &main, &eu).await?, Switch::AlreadyThere); // a rerun
    /// let back = registry.switch(&acme.id, &"us/shared".parse()?, &main).await?;
    /// assert_eq!(back, Switch::Elsewhere(Some(eu)));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn switch(
        &self,
        id: &TenantId,
        from: &Placement,
        to: &Placement,
    ) -> Result<Switch, Error> {
        if DB::switch(&self.pool, id, from, to, now()).await? {
            return Ok(Switch::Switched);
        }
        let now_at = DB::select_by_id(&self.pool, id)
            .await?
            .map(|tenant| tenant.placement);
        Ok(match now_at {
            Some(placement) if &placement == to => Switch::AlreadyThere,
            other => Switch::Elsewhere(other),
        })
    }

    /// Gives the tenant with `id` limits of its own at the request boundary (`None`: its
    /// plan's again), and sets its `updated_at` to now (never earlier than it was). Returns
    /// `true` if they changed, `false` if there is no such tenant or they were already these
    /// (then nothing is written).
    ///
    /// Stored in the `limits` column in their written form (`per_second=N,burst=N,queue=N`,
    /// see [`Limits`]'s `Display`), so an operator can also set them in SQL; a value that does
    /// not read back is a typed error on lookup ([`sqlx::Error::ColumnDecode`] on `"limits"`),
    /// never a tenant without limits. A verified context carries them
    /// ([`TenantCtx::limits`](tenant_core::TenantCtx::limits)) and `tenant::http::FairLayer`
    /// applies them instead of the plan's. A [`CachedRegistry`](tenant_core::CachedRegistry) in
    /// front of this one serves the old record until its entry expires or is invalidated.
    ///
    /// ```
    /// # use tenant::sqlx::{NewTenant, SqlRegistry};
    /// # use tenant::{Limits, Plan, TenantRegistry};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let registry = SqlRegistry::new(sqlx::SqlitePool::connect("sqlite::memory:").await?);
    /// # registry.migrate().await?;
    /// # let acme = registry.create(NewTenant { id: "acme".parse()?, slug: "acme".parse()?,
    /// #     name: "Acme".into(), plan: Plan::Free, schema_name: "tenant_acme".parse()? }).await?;
    /// assert_eq!(acme.limits, None); // its plan's
    /// let own = Limits::new(500, 1_000, 32)?;
    /// assert!(registry.set_limits(&acme.id, Some(&own)).await?);
    /// assert!(!registry.set_limits(&acme.id, Some(&own)).await?); // already these
    /// assert_eq!(registry.find_by_id(&acme.id).await?.unwrap().limits, Some(own));
    /// assert!(registry.set_limits(&acme.id, None).await?); // back to its plan's
    /// assert_eq!(registry.find_by_id(&acme.id).await?.unwrap().limits, None);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn set_limits(&self, id: &TenantId, limits: Option<&Limits>) -> Result<bool, Error> {
        DB::set_limits(&self.pool, id, limits, now()).await
    }
}

/// What [`SqlRegistry::switch`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Switch {
    /// The tenant was at `from`; it is at `to` now.
    Switched,
    /// The tenant was at `to` already (a rerun of the same switch): nothing changed.
    AlreadyThere,
    /// The tenant is neither at `from` nor at `to` (`None`: no such tenant): nothing changed.
    Elsewhere(Option<Placement>),
}

impl<DB: RegistryBackend> TenantRegistry for SqlRegistry<DB> {
    type Error = Error;

    fn find_by_id(
        &self,
        id: &TenantId,
    ) -> impl Future<Output = Result<Option<Tenant>, Error>> + Send {
        DB::select_by_id(&self.pool, id)
    }

    fn find_by_slug(
        &self,
        slug: &TenantId,
    ) -> impl Future<Output = Result<Option<Tenant>, Error>> + Send {
        DB::select_by_slug(&self.pool, slug)
    }
}
