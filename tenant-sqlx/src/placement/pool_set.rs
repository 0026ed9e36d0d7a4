//! [`PoolSet`]: the pools of every configured database, and the one a context's placement
//! names.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use sqlx::Pool;
use sqlx::pool::PoolOptions;
use tenant_core::{DatabaseLabel, SystemCtx, TenantCtx, TenantId};

use super::fence::PlacementBackend;
use crate::error::Error;
use crate::repo::{Backend, Conn, Entity, EntityIo, Repo, Token};
use crate::tenant_tx::TenantTx;

/// What a label's URL holds in place of the tenant id when each tenant has a database of its
/// own: `sqlite:///var/lib/app/tenants/{tenant}.db?mode=rw`, `postgres://db-2/t_{tenant}`.
pub const TENANT_PLACEHOLDER: &str = "{tenant}";

/// How many per-tenant pools stay open by default (see [`PoolSetBuilder::max_open_pools`]).
pub const DEFAULT_MAX_OPEN_POOLS: usize = 64;

type MovedHook = Arc<dyn Fn(&TenantId) + Send + Sync>;

/// The pools of every configured database, by [`DatabaseLabel`]: a context's placement chooses
/// the pool, not the caller.
///
/// - [`begin`](Self::begin): a [`TenantTx`] on the tenant's database, behind the placement
///   fence ([`PlacementFence`](crate::PlacementFence)): refused with [`Error::Moved`] (and the
///   `on_moved` hooks told) when that database does not hold the tenant, [`Error::Fenced`]
///   while a move copies it. Its repositories (`tx.repo::<E>()`), raw sqlx queries and
///   checked queries (`tx.executor()`) run there. The path for writes.
/// - [`route`](Self::route), [`repo`](Self::repo): a **read-only** handle for a [`Repo`] and
///   for checked queries that only read ([`Reads`](crate::Reads)) on the tenant's pool, bound
///   to the tenant (another tenant's context is a
///   [`Error::TenantMismatch`]). Each statement runs on its own, without the fence's check, so
///   the repository's write methods do not compile on it ([`WriteConn`](crate::WriteConn)),
///   nor does a checked query that writes ([`CheckedExecutor`](crate::CheckedExecutor)): a
///   process whose cache is stale would write in the database the tenant left. A read through
///   a stale route reads that database: the tenant's rows as they were when the move fenced
///   it (no write lands there after the fence), until the move's cleanup deletes them; then
///   nothing. A read that must see the latest write reads in [`begin`](Self::begin)'s
///   transaction.
/// - [`unfenced_pool`](Self::unfenced_pool), [`unfenced_pool_at`](Self::unfenced_pool_at):
///   the raw pool, outside the fence, for administration only; the authority inventory lists
///   every call.
/// - [`system_count`](Self::system_count), [`system_tenant_ids`](Self::system_tenant_ids): a
///   [`SystemCtx`]'s reads over every labelled database, merged.
///
/// A label whose URL has `{tenant}` in it ([`TENANT_PLACEHOLDER`]) is a database per tenant
/// (a SQLite file each, or a PostgreSQL database each): its pools open on first use and at most
/// [`max_open_pools`](PoolSetBuilder::max_open_pools) stay open, the least recently used closed
/// first.
///
/// Pools are cheap to clone handles; the set is too (an `Arc`).
///
/// ```
/// use tenant::sqlx::{PlacementFence, PoolSet};
/// use tenant::{tenant_scoped, Plan, TenantCtx, TenantId, Tier};
/// # #[tenant_scoped(table = "notes")]
/// # pub struct Note { #[key] pub id: i64, #[tenant] pub tenant_id: TenantId, pub body: String }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let main = sqlx::SqlitePool::connect("sqlite::memory:").await?;
/// let eu = sqlx::SqlitePool::connect("sqlite::memory:").await?;
/// let pools = PoolSet::builder().database("main".parse()?, main).database("eu".parse()?, eu).build()?;
///
/// // Acme lives in `eu` (the registry says so; a verified context carries it).
/// let acme = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Free)
///     .with_placement("eu/shared".parse()?);
/// // Administration, outside the fence: the fence's table, the tenant's place, the tables.
/// let eu = pools.unfenced_pool(&acme)?;
/// PlacementFence::new(&eu).install().await?;
/// PlacementFence::new(&eu).place(acme.tenant_id(), Tier::Shared, false).await?;
/// NoteRepo::new(&eu).create_table().await?;
///
/// let mut tx = pools.begin(&acme).await?;
/// tx.repo::<Note>().insert(&acme, NewNote { id: 1, body: "hello".into() }).await?;
/// tx.commit().await?;
/// assert_eq!(NoteRepo::new(pools.route(&acme)?).count(&acme).await?, 1);
/// // A checked query that only reads runs on the route too; one that writes does not compile
/// // there, and runs in `pools.begin(&acme)`'s transaction.
/// let n = tenant::sqlx::query_scalar!(&acme, i64, "SELECT count(*) FROM {Note}")
///     .fetch_one(&pools.route(&acme)?)
///     .await?;
/// assert_eq!(n, 1);
/// # Ok(())
/// # }
/// ```
pub struct PoolSet<DB: Backend> {
    inner: Arc<Inner<DB>>,
}

struct Inner<DB: Backend> {
    sources: HashMap<DatabaseLabel, Source<DB>>,
    on_moved: Vec<MovedHook>,
}

enum Source<DB: Backend> {
    Shared(Pool<DB>),
    PerTenant(PerTenant<DB>),
}

/// The pools of a label with a database per tenant: opened lazily, least recently used closed
/// first beyond `max_open`.
struct PerTenant<DB: Backend> {
    template: String,
    max_connections: u32,
    max_open: usize,
    open: Mutex<Lru<DB>>,
}

struct Lru<DB: Backend> {
    pools: HashMap<TenantId, (Pool<DB>, u64)>,
    clock: u64,
}

impl<DB: Backend> Clone for PoolSet<DB> {
    fn clone(&self) -> Self {
        PoolSet {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<DB: Backend> PoolSet<DB> {
    /// A builder with no database yet.
    pub fn builder() -> PoolSetBuilder<DB> {
        PoolSetBuilder {
            sources: Vec::new(),
            on_moved: Vec::new(),
            max_open: DEFAULT_MAX_OPEN_POOLS,
            max_connections: 10,
            per_tenant_connections: 1,
        }
    }

    /// **Unfenced**: the raw pool of the tenant's database, for administration only (creating
    /// its tables, installing the placement fence, a move's copy). Like
    /// [`TenantCtx::trusted`], it is loud on purpose, and the authority inventory
    /// (`tenant-audit`, kind `unfenced`) lists every call.
    ///
    /// Nothing on this pool is bound to the tenant or checked against the placement fence: a
    /// process whose registry cache still places the tenant where it was writes, through it,
    /// in the database the tenant was moved from, and the move's cleanup later deletes those
    /// acknowledged writes. Tenant work goes through [`begin`](Self::begin) (writes, behind
    /// the fence) and [`route`](Self::route) (reads, checked queries that only read included).
    ///
    /// For a label with a database per tenant it opens (lazily: it connects on first use) the
    /// tenant's pool if it is not open, and may close the least recently used other one.
    ///
    /// ```
    /// # use tenant::sqlx::PoolSet;
    /// # use tenant::{Plan, TenantCtx};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let pools = PoolSet::builder()
    ///     .database("main".parse()?, sqlx::SqlitePool::connect("sqlite::memory:").await?)
    ///     .build()?;
    /// let acme = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Free);
    /// // Administration: the fence's table, before any tenant work.
    /// tenant::sqlx::PlacementFence::new(&pools.unfenced_pool(&acme)?).install().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn unfenced_pool(&self, ctx: &TenantCtx) -> Result<Pool<DB>, Error> {
        self.pool_of(ctx)
    }

    /// The pool a context's placement names: what [`begin`](Self::begin) fences and
    /// [`route`](Self::route) binds.
    fn pool_of(&self, ctx: &TenantCtx) -> Result<Pool<DB>, Error> {
        self.pool_for(ctx.placement().database(), ctx.tenant_id())
    }

    /// **Unfenced**: the raw pool of database `label` for `tenant`, what a move needs for its
    /// source and its target, which no context names at once. Like
    /// [`unfenced_pool`](Self::unfenced_pool), outside the placement fence and listed by the
    /// authority inventory: tenant work goes through [`begin`](Self::begin) and
    /// [`route`](Self::route).
    ///
    /// ```
    /// # use tenant::sqlx::PoolSet;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let pools = PoolSet::builder()
    ///     .database("main".parse()?, sqlx::SqlitePool::connect("sqlite::memory:").await?)
    ///     .build()?;
    /// assert!(pools.unfenced_pool_at(&"main".parse()?, &"acme".parse()?).is_ok());
    /// assert!(matches!(
    ///     pools.unfenced_pool_at(&"eu".parse()?, &"acme".parse()?),
    ///     Err(tenant::sqlx::Error::UnknownDatabase { .. })
    /// ));
    /// # Ok(())
    /// # }
    /// ```
    pub fn unfenced_pool_at(
        &self,
        label: &DatabaseLabel,
        tenant: &TenantId,
    ) -> Result<Pool<DB>, Error> {
        self.pool_for(label, tenant)
    }

    /// The pool of database `label` for `tenant`, opened if it is per tenant. Private, so
    /// that the inventory's `unfenced` lines are the calls from outside.
    fn pool_for(&self, label: &DatabaseLabel, tenant: &TenantId) -> Result<Pool<DB>, Error> {
        match self.inner.sources.get(label) {
            Some(Source::Shared(pool)) => Ok(pool.clone()),
            Some(Source::PerTenant(per_tenant)) => per_tenant.pool(tenant),
            None => Err(Error::UnknownDatabase {
                label: label.clone(),
            }),
        }
    }

    /// A read-only handle a [`Repo`] and a checked query that reads run on: the tenant's pool,
    /// bound to `ctx`'s tenant. Statements run without the placement check, so the
    /// repository's write methods ([`WriteConn`](crate::WriteConn)) and checked queries that
    /// write ([`CheckedExecutor`](crate::CheckedExecutor)) do not compile on it: write in
    /// [`begin`](Self::begin)'s transaction. A stale route reads the database the tenant left (see [`PoolSet`]).
    pub fn route(&self, ctx: &TenantCtx) -> Result<Routed<DB>, Error> {
        Ok(Routed {
            pool: self.pool_of(ctx)?,
            tenant: ctx.tenant_id().clone(),
        })
    }

    /// The read-only repository of `E` on the tenant's pool: `Repo::new(self.route(ctx)?)`.
    pub fn repo<E: Entity>(&self, ctx: &TenantCtx) -> Result<Repo<E, Routed<DB>>, Error> {
        Ok(Repo::over(self.route(ctx)?))
    }

    /// How many per-tenant pools are open now, over every label with a database per tenant.
    pub fn open_pools(&self) -> usize {
        self.inner
            .sources
            .values()
            .map(|source| match source {
                Source::Shared(_) => 0,
                Source::PerTenant(per_tenant) => per_tenant.lock().pools.len(),
            })
            .sum()
    }

    /// The labels and pools of the databases shared by many tenants (not those with a
    /// database per tenant, which only the registry can list), in label order.
    pub fn shared_databases(&self) -> Vec<(&DatabaseLabel, &Pool<DB>)> {
        let mut shared: Vec<_> = self
            .inner
            .sources
            .iter()
            .filter_map(|(label, source)| match source {
                Source::Shared(pool) => Some((label, pool)),
                Source::PerTenant(_) => None,
            })
            .collect();
        shared.sort_by(|a, b| a.0.cmp(b.0));
        shared
    }

    /// How many rows of `E` all tenants own together, over every shared database. Audited
    /// once per database. A tenant in the middle of a move is counted in each database that
    /// holds its rows: copy and source until the source's rows are deleted.
    pub async fn system_count<E: EntityIo<DB>>(&self, sys: &SystemCtx) -> Result<u64, Error>
    where
        for<'a> &'a Pool<DB>: Conn<Database = DB>,
    {
        let mut total = 0;
        for (_, pool) in self.shared_databases() {
            total += Repo::<E, _>::new(pool).system_count(sys).await?;
        }
        Ok(total)
    }

    /// The tenants that own at least one row of `E`, over every shared database: sorted, each
    /// once.
    pub async fn system_tenant_ids<E: EntityIo<DB>>(
        &self,
        sys: &SystemCtx,
    ) -> Result<Vec<TenantId>, Error>
    where
        for<'a> &'a Pool<DB>: Conn<Database = DB>,
    {
        let mut ids = Vec::new();
        for (_, pool) in self.shared_databases() {
            ids.extend(Repo::<E, _>::new(pool).system_tenant_ids(sys).await?);
        }
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    /// Tells the `on_moved` hooks that `tenant` is not where its context said, and closes its
    /// own pool if it has one.
    fn moved(&self, tenant: &TenantId) {
        for source in self.inner.sources.values() {
            if let Source::PerTenant(per_tenant) = source {
                per_tenant.lock().pools.remove(tenant);
            }
        }
        for hook in &self.inner.on_moved {
            hook(tenant);
        }
    }
}

impl<DB: PlacementBackend> PoolSet<DB> {
    /// Begins a transaction bound to `ctx`'s tenant on its database, behind the placement fence
    /// ([`TenantTx::begin_fenced`]). On [`Error::Moved`] the `on_moved` hooks have run (a
    /// [`CachedRegistry`](tenant_core::CachedRegistry) drops its entry), so verifying the
    /// claim again and retrying reaches the new placement.
    pub async fn begin(&self, ctx: &TenantCtx) -> Result<TenantTx<DB>, Error> {
        let pool = self.pool_of(ctx)?;
        match TenantTx::begin_fenced(&pool, ctx).await {
            Err(Error::Moved { tenant }) => {
                self.moved(&tenant);
                Err(Error::Moved { tenant })
            }
            other => other,
        }
    }
}

#[cfg(feature = "postgres")]
impl PoolSet<sqlx::Postgres> {
    /// [`begin`](Self::begin) with row-level security: a
    /// [`RowSecurity::begin_fenced`](crate::RowSecurity::begin_fenced) transaction on the
    /// tenant's database, the placement check and the verified tenant setting in the same
    /// BEGIN (one round trip where the role's sessions hide their query texts: see
    /// [`RowSecurity::begin`](crate::RowSecurity::begin)).
    /// On [`Error::Moved`] the `on_moved` hooks have run.
    pub async fn begin_row_security(
        &self,
        security: &crate::RowSecurity,
        ctx: &TenantCtx,
    ) -> Result<TenantTx<sqlx::Postgres>, Error> {
        let pool = self.pool_of(ctx)?;
        match security.begin_fenced(&pool, ctx).await {
            Err(Error::Moved { tenant }) => {
                self.moved(&tenant);
                Err(Error::Moved { tenant })
            }
            other => other,
        }
    }
}

impl<DB: Backend> PerTenant<DB> {
    fn lock(&self) -> MutexGuard<'_, Lru<DB>> {
        // A panic while the lock was held left the map consistent (each step is one insert or
        // remove): keep going with it.
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn pool(&self, tenant: &TenantId) -> Result<Pool<DB>, Error> {
        let mut lru = self.lock();
        lru.clock += 1;
        let now = lru.clock;
        if let Some((pool, used)) = lru.pools.get_mut(tenant) {
            *used = now;
            return Ok(pool.clone());
        }
        // `connect_lazy` parses the URL and connects on first use: nothing waits under the
        // lock. A pool closed here stays usable by whoever still holds a clone of it.
        let url = self.template.replace(TENANT_PLACEHOLDER, tenant.as_str());
        let pool = PoolOptions::<DB>::new()
            .max_connections(self.max_connections)
            .connect_lazy(&url)?;
        while lru.pools.len() >= self.max_open {
            let Some(oldest) = lru
                .pools
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(id, _)| id.clone())
            else {
                break;
            };
            lru.pools.remove(&oldest);
        }
        lru.pools.insert(tenant.clone(), (pool.clone(), now));
        Ok(pool)
    }
}

/// A [`Repo`]'s read-only handle on the tenant's pool, from [`PoolSet::route`]: bound to that
/// tenant, so the repository, and a checked query on `&Routed`, refuse any other tenant's
/// context ([`Error::TenantMismatch`]). It is a [`Conn`] but not a
/// [`WriteConn`](crate::WriteConn), and `&Routed` a [`CheckedReader`](crate::CheckedReader)
/// but not a [`CheckedExecutor`](crate::CheckedExecutor): each statement runs outside the
/// placement fence, so writes go through [`PoolSet::begin`] instead.
pub struct Routed<DB: Backend> {
    pool: Pool<DB>,
    tenant: TenantId,
}

// Read by the checked executors, which exist per backend feature.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
impl<DB: Backend> Routed<DB> {
    /// The tenant's pool: what a checked query that reads runs on.
    pub(crate) fn pool(&self) -> &Pool<DB> {
        &self.pool
    }

    /// The tenant the handle is bound to.
    pub(crate) fn tenant(&self) -> &TenantId {
        &self.tenant
    }
}

impl<DB: Backend> fmt::Debug for Routed<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Routed")
            .field("tenant_id", &self.tenant)
            .finish_non_exhaustive()
    }
}

impl<DB: Backend> Conn for Routed<DB>
where
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    type Database = DB;

    fn executor(&mut self) -> impl sqlx::Executor<'_, Database = DB> {
        &self.pool
    }

    fn bound_tenant(&self) -> Option<&TenantId> {
        Some(&self.tenant)
    }

    fn begin(
        &mut self,
        _: Token,
    ) -> impl Future<Output = Result<sqlx::Transaction<'_, DB>, sqlx::Error>> + Send {
        let pool = &self.pool;
        // `Pool::begin` gives a `Transaction<'static>`; shortened to the borrow here.
        async move {
            let tx: sqlx::Transaction<'_, DB> = pool.begin().await?;
            Ok(tx)
        }
    }
}

/// Builds a [`PoolSet`]: from pools ([`database`](Self::database)), from URLs
/// ([`url`](Self::url)), or from the environment ([`from_env`](Self::from_env)).
#[must_use]
pub struct PoolSetBuilder<DB: Backend> {
    sources: Vec<(DatabaseLabel, Source<DB>)>,
    on_moved: Vec<MovedHook>,
    max_open: usize,
    max_connections: u32,
    per_tenant_connections: u32,
}

impl<DB: Backend> PoolSetBuilder<DB> {
    /// The database `label` is `pool`, shared by the tenants placed on it.
    pub fn database(mut self, label: DatabaseLabel, pool: Pool<DB>) -> Self {
        self.sources.push((label, Source::Shared(pool)));
        self
    }

    /// The database `label` is at `url`, connected lazily (on first use). A URL with
    /// `{tenant}` in it ([`TENANT_PLACEHOLDER`]) is a database per tenant. Call it inside a
    /// Tokio runtime: sqlx starts a pool's maintenance task when the pool is made.
    pub fn url(mut self, label: DatabaseLabel, url: &str) -> Result<Self, Error> {
        // sqlx's PostgreSQL options read `mysql://..` without complaint: a URL of another
        // database would be a pool that fails at its first use, far from the configuration.
        let schemes: &[&str] = match DB::DIALECT {
            crate::repo::Dialect::Sqlite => &["sqlite:"],
            crate::repo::Dialect::Postgres => &["postgres://", "postgresql://"],
        };
        if !schemes.iter().any(|scheme| url.starts_with(scheme)) {
            return Err(Error::DatabasesConfig {
                reason: format!(
                    "the URL of `{label}` is not for this database (expected {})",
                    schemes.join(" or ")
                ),
            });
        }
        let source = if url.contains(TENANT_PLACEHOLDER) {
            // Checked now, with a valid id in place: a malformed template is a configuration
            // error at start-up, not on some tenant's first request.
            let probe = url.replace(TENANT_PLACEHOLDER, "probe");
            probe
                .parse::<<DB::Connection as sqlx::Connection>::Options>()
                .map_err(|_| Error::DatabasesConfig {
                    reason: format!("the URL of `{label}` is not a valid database URL"),
                })?;
            Source::PerTenant(PerTenant {
                template: url.to_owned(),
                max_connections: self.per_tenant_connections,
                max_open: self.max_open,
                open: Mutex::new(Lru {
                    pools: HashMap::new(),
                    clock: 0,
                }),
            })
        } else {
            let pool = PoolOptions::<DB>::new()
                .max_connections(self.max_connections)
                .connect_lazy(url)
                .map_err(|_| Error::DatabasesConfig {
                    reason: format!("the URL of `{label}` is not a valid database URL"),
                })?;
            Source::Shared(pool)
        };
        self.sources.push((label, source));
        Ok(self)
    }

    /// Reads `TENANT_DATABASES` (`main=postgres://..,eu=postgres://..`) and `DATABASE_URL`
    /// (the database `main`, unless `TENANT_DATABASES` names one): see
    /// [`config`](Self::config).
    pub fn from_env(self) -> Result<Self, Error> {
        let databases = std::env::var("TENANT_DATABASES").ok();
        let default = std::env::var("DATABASE_URL").ok();
        self.config(databases.as_deref(), default.as_deref())
    }

    /// Adds the databases of a `TENANT_DATABASES` value, `label=url` entries separated by
    /// commas, and `default_url` as the database `main` unless an entry names `main`. An empty
    /// configuration, a malformed entry, an invalid label or URL, or a label given twice is an
    /// [`Error::DatabasesConfig`] that names the entry by position and label, never its URL
    /// (which may hold a password).
    ///
    /// ```
    /// use tenant::sqlx::{Error, PoolSet};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Error> {
    /// let pools = PoolSet::<sqlx::Sqlite>::builder()
    ///     .config(Some("eu=sqlite::memory:,files=sqlite:///tmp/t/{tenant}.db?mode=rw"), Some("sqlite::memory:"))?
    ///     .build()?;
    /// let labels: Vec<_> = pools.shared_databases().into_iter().map(|(l, _)| l.to_string()).collect();
    /// assert_eq!(labels, ["eu", "main"]);
    ///
    /// let bad = PoolSet::<sqlx::Sqlite>::builder().config(Some("eu=sqlite::memory:,EU"), None);
    /// assert!(matches!(bad, Err(Error::DatabasesConfig { .. })));
    /// # Ok(())
    /// # }
    /// ```
    pub fn config(
        mut self,
        databases: Option<&str>,
        default_url: Option<&str>,
    ) -> Result<Self, Error> {
        let mut has_main = false;
        for (position, entry) in databases
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .enumerate()
        {
            let (label, url) = entry
                .split_once('=')
                .ok_or_else(|| Error::DatabasesConfig {
                    reason: format!(
                        "entry {} of TENANT_DATABASES is not `label=url`",
                        position + 1
                    ),
                })?;
            let label: DatabaseLabel =
                label.trim().parse().map_err(|e| Error::DatabasesConfig {
                    reason: format!("entry {} of TENANT_DATABASES: {e}", position + 1),
                })?;
            has_main |= label.as_str() == DatabaseLabel::MAIN;
            self = self.url(label, url.trim())?;
        }
        if let (false, Some(url)) = (has_main, default_url) {
            self = self.url(DatabaseLabel::default(), url)?;
        }
        Ok(self)
    }

    /// Calls `hook` with the tenant of every [`Error::Moved`] of [`PoolSet::begin`]: give it
    /// the registry cache's `invalidate`, so the next verification reads the new placement.
    pub fn on_moved(mut self, hook: impl Fn(&TenantId) + Send + Sync + 'static) -> Self {
        self.on_moved.push(Arc::new(hook));
        self
    }

    /// At most `max` per-tenant pools stay open per label with a database per tenant (default
    /// [`DEFAULT_MAX_OPEN_POOLS`]); opening one more closes the least recently used. Applies to
    /// the labels added after this call. At least 1.
    pub fn max_open_pools(mut self, max: usize) -> Self {
        self.max_open = max.max(1);
        self
    }

    /// Connections per pool of a shared database opened from a URL (default 10), and per
    /// per-tenant pool (default 1): applies to the labels added after this call. At least 1.
    pub fn max_connections(mut self, shared: u32, per_tenant: u32) -> Self {
        self.max_connections = shared.max(1);
        self.per_tenant_connections = per_tenant.max(1);
        self
    }

    /// The set. No database, or a label given twice, is an [`Error::DatabasesConfig`].
    pub fn build(self) -> Result<PoolSet<DB>, Error> {
        if self.sources.is_empty() {
            return Err(Error::DatabasesConfig {
                reason: "no database: set DATABASE_URL or TENANT_DATABASES".into(),
            });
        }
        let mut sources = HashMap::with_capacity(self.sources.len());
        for (label, source) in self.sources {
            if sources.contains_key(&label) {
                return Err(Error::DatabasesConfig {
                    reason: format!("the database `{label}` is configured twice"),
                });
            }
            sources.insert(label, source);
        }
        Ok(PoolSet {
            inner: Arc::new(Inner {
                sources,
                on_moved: self.on_moved,
            }),
        })
    }
}

impl<DB: Backend> fmt::Debug for PoolSet<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut labels: Vec<_> = self.inner.sources.keys().collect();
        labels.sort();
        f.debug_struct("PoolSet")
            .field("databases", &labels)
            .field("open_pools", &self.open_pools())
            .finish_non_exhaustive()
    }
}
