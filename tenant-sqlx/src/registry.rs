//! [`SqlRegistry`]: the `tenants` table on SQLite or PostgreSQL.

// Without a driver feature only the shared parts are compiled.
#![cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]

use std::fmt;
use std::future::Future;

use sqlx::Pool;
use sqlx::error::BoxDynError;

use tenant_core::registry::{from_unix_millis, now_unix_millis};
use tenant_core::{Plan, SchemaName, Tenant, TenantId, TenantRegistry};

use crate::{Backend, Error};

/// The registry's table.
const TABLE: &str = "tenants";

/// The table, and the unique indexes of slugs and schemas (a schema is where one tenant's data
/// lives: two tenants must never share one). Identical on SQLite and PostgreSQL; timestamps are
/// milliseconds since the Unix epoch, so both databases store and compare them the same way.
const DDL: [&str; 3] = [
    "CREATE TABLE IF NOT EXISTS tenants (\
     id TEXT NOT NULL PRIMARY KEY, \
     slug TEXT NOT NULL, \
     name TEXT NOT NULL, \
     plan TEXT NOT NULL, \
     schema_name TEXT NOT NULL, \
     is_active BOOLEAN NOT NULL, \
     created_at BIGINT NOT NULL, \
     updated_at BIGINT NOT NULL)",
    "CREATE UNIQUE INDEX IF NOT EXISTS tenants_slug_key ON tenants (slug)",
    "CREATE UNIQUE INDEX IF NOT EXISTS tenants_schema_name_key ON tenants (schema_name)",
];

/// What [`SqlRegistry::create`] needs to register a tenant. The registry sets the rest: the
/// tenant starts active, and both timestamps are the time of creation.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTenant {
    /// The tenant's id. Unique.
    pub id: TenantId,
    /// The tenant's slug, for subdomains and path segments. Unique.
    pub slug: TenantId,
    /// Display name.
    pub name: String,
    /// Subscription plan.
    pub plan: Plan,
    /// The tenant's database schema.
    pub schema_name: SchemaName,
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
/// | `created_at`, `updated_at` | `BIGINT NOT NULL` | milliseconds since the Unix epoch |
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
    /// NOT EXISTS tenants (..)` and the unique index on `slug`.
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
        let (millis, now) = now_unix_millis();
        DB::insert(&self.pool, &new, millis).await?;
        Ok(Tenant {
            id: new.id,
            slug: new.slug,
            name: new.name,
            plan: new.plan,
            schema_name: new.schema_name,
            is_active: true,
            created_at: now,
            updated_at: now,
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
        let (millis, _) = now_unix_millis();
        DB::deactivate(&self.pool, id, millis).await
    }
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

/// A database the `tenants` table can live on: `sqlx::Sqlite` (feature `sqlite`) and
/// `sqlx::Postgres` (feature `postgres`). Sealed; its items are not a stable API.
pub trait RegistryBackend: Backend {
    #[doc(hidden)]
    const DDL: &'static [&'static str];

    #[doc(hidden)]
    fn migrate(pool: &Pool<Self>) -> impl Future<Output = Result<(), Error>> + Send;

    #[doc(hidden)]
    fn select_by_id(
        pool: &Pool<Self>,
        id: &TenantId,
    ) -> impl Future<Output = Result<Option<Tenant>, Error>> + Send;

    #[doc(hidden)]
    fn select_by_slug(
        pool: &Pool<Self>,
        slug: &TenantId,
    ) -> impl Future<Output = Result<Option<Tenant>, Error>> + Send;

    #[doc(hidden)]
    fn insert(
        pool: &Pool<Self>,
        new: &NewTenant,
        millis: i64,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    #[doc(hidden)]
    fn deactivate(
        pool: &Pool<Self>,
        id: &TenantId,
        millis: i64,
    ) -> impl Future<Output = Result<bool, Error>> + Send;
}

/// A column that holds a value this crate would not have written.
fn corrupt(column: &str, source: impl Into<BoxDynError>) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: format!("{column:?}"),
        source: source.into(),
    }
}

/// Decodes and validates one row of `SELECT id, slug, name, plan, schema_name, is_active,
/// created_at, updated_at`.
fn decode_tenant<R>(row: &R) -> Result<Tenant, sqlx::Error>
where
    R: sqlx::Row,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    bool: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let text = |column: &str| row.try_get::<String, _>(column);
    let tenant_id = |column: &str| {
        TenantId::parse(&text(column)?)
            .map_err(|e| corrupt(column, tenant_core::Error::InvalidTenantId(e)))
    };
    let time = |column: &str| {
        let millis: i64 = row.try_get(column)?;
        from_unix_millis(millis).ok_or_else(|| {
            corrupt(
                column,
                format!("{millis} ms from the Unix epoch is out of range"),
            )
        })
    };
    Ok(Tenant {
        id: tenant_id("id")?,
        slug: tenant_id("slug")?,
        name: text("name")?,
        plan: text("plan")?
            .parse()
            .map_err(|e: tenant_core::Error| corrupt("plan", e))?,
        schema_name: text("schema_name")?
            .parse()
            .map_err(|e: tenant_core::Error| corrupt("schema_name", e))?,
        is_active: row.try_get("is_active")?,
        created_at: time("created_at")?,
        updated_at: time("updated_at")?,
    })
}

macro_rules! registry_backend {
    (
        $feature:literal,
        $db:ty,
        begin_write: $begin_write:literal,
        lock: $lock:expr,
        by_id: $by_id:literal,
        by_slug: $by_slug:literal,
        taken: $taken:literal,
        insert: $insert:literal,
        deactivate: $deactivate:literal $(,)?
    ) => {
        #[cfg(feature = $feature)]
        impl RegistryBackend for $db {
            const DDL: &'static [&'static str] = &DDL;

            async fn migrate(pool: &Pool<Self>) -> Result<(), Error> {
                let mut tx = pool.begin().await?;
                let lock: Option<&'static str> = $lock;
                for statement in lock.iter().chain(DDL.iter()) {
                    sqlx::query(*statement).execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn select_by_id(
                pool: &Pool<Self>,
                id: &TenantId,
            ) -> Result<Option<Tenant>, Error> {
                Ok(sqlx::query($by_id)
                    .bind(id.as_str())
                    .try_map(|row| decode_tenant(&row))
                    .fetch_optional(pool)
                    .await?)
            }

            async fn select_by_slug(
                pool: &Pool<Self>,
                slug: &TenantId,
            ) -> Result<Option<Tenant>, Error> {
                Ok(sqlx::query($by_slug)
                    .bind(slug.as_str())
                    .try_map(|row| decode_tenant(&row))
                    .fetch_optional(pool)
                    .await?)
            }

            async fn insert(pool: &Pool<Self>, new: &NewTenant, millis: i64) -> Result<(), Error> {
                let mut tx = pool.begin_with($begin_write).await?;
                let lock: Option<&'static str> = $lock;
                if let Some(lock) = lock {
                    sqlx::query(lock).execute(&mut *tx).await?;
                }
                // Ids and slugs are one namespace: a request names a tenant by either, so a name
                // may belong to one tenant only. Same-id and same-slug collisions are left to the
                // primary key and the slug index (a `Conflict`).
                let taken: Option<(String, String)> = sqlx::query_as($taken)
                    .bind(new.id.as_str())
                    .bind(new.slug.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
                if let Some((_, slug)) = taken {
                    let (field, value) = if slug == new.id.as_str() {
                        ("id", new.id.clone())
                    } else {
                        ("slug", new.slug.clone())
                    };
                    return Err(tenant_core::Error::DuplicateTenant { field, value }.into());
                }
                sqlx::query($insert)
                    .bind(new.id.as_str())
                    .bind(new.slug.as_str())
                    .bind(new.name.as_str())
                    .bind(new.plan.as_str())
                    .bind(new.schema_name.as_str())
                    .bind(true)
                    .bind(millis)
                    .bind(millis)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| Error::from_write(TABLE, e))?;
                tx.commit().await?;
                Ok(())
            }

            async fn deactivate(
                pool: &Pool<Self>,
                id: &TenantId,
                millis: i64,
            ) -> Result<bool, Error> {
                let done = sqlx::query($deactivate)
                    .bind(millis)
                    .bind(id.as_str())
                    .execute(pool)
                    .await
                    .map_err(|e| Error::from_write(TABLE, e))?;
                Ok(done.rows_affected() > 0)
            }
        }
    };
}

registry_backend!(
    "sqlite",
    sqlx::Sqlite,
    // Take the write lock before the check, so a check and its insert are one step: a deferred
    // transaction that reads, then writes, deadlocks against another one doing the same.
    begin_write: "BEGIN IMMEDIATE",
    lock: None,
    by_id: "SELECT id, slug, name, plan, schema_name, is_active, created_at, updated_at \
            FROM tenants WHERE id = ?",
    by_slug: "SELECT id, slug, name, plan, schema_name, is_active, created_at, updated_at \
              FROM tenants WHERE slug = ?",
    taken: "SELECT id, slug FROM tenants \
            WHERE (slug = ?1 AND id <> ?1) OR (id = ?2 AND slug <> ?2) LIMIT 1",
    insert: "INSERT INTO tenants \
             (id, slug, name, plan, schema_name, is_active, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    deactivate: "UPDATE tenants SET is_active = FALSE, updated_at = MAX(updated_at, ?) \
                 WHERE id = ? AND is_active",
);

registry_backend!(
    "postgres",
    sqlx::Postgres,
    // The advisory lock below serialises creates instead.
    begin_write: "BEGIN",
    // Concurrent `CREATE TABLE IF NOT EXISTS` can fail on PostgreSQL's catalog; serialise them.
    // The key is "tenant" in ASCII.
    lock: Some("SELECT pg_advisory_xact_lock(127978457247348)"),
    by_id: "SELECT id, slug, name, plan, schema_name, is_active, created_at, updated_at \
            FROM tenants WHERE id = $1",
    by_slug: "SELECT id, slug, name, plan, schema_name, is_active, created_at, updated_at \
              FROM tenants WHERE slug = $1",
    taken: "SELECT id, slug FROM tenants \
            WHERE (slug = $1 AND id <> $1) OR (id = $2 AND slug <> $2) LIMIT 1",
    insert: "INSERT INTO tenants \
             (id, slug, name, plan, schema_name, is_active, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    deactivate: "UPDATE tenants SET is_active = FALSE, updated_at = GREATEST(updated_at, $1) \
                 WHERE id = $2 AND is_active",
);
