//! [`DbBudget`]: a tenant's share of a shared pool by plan weight, and a statement timeout per
//! plan set in the BEGIN round trip.

use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use sqlx::{AssertSqlSafe, Pool};
use tenant_core::labels::TenantLabels;
use tenant_core::{Plan, PlanWeights, TenantCtx, TenantId};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::Error;
use crate::placement::PlacementBackend;
use crate::repo::Backend;
#[cfg(feature = "postgres")]
use crate::row_security::RowSecurity;
use crate::tenant_tx::TenantTx;

/// The weight a tenant needs to be allowed the whole pool but one connection, by default (one
/// constant with `tenant::http::FairLayer`'s).
pub use tenant_core::DEFAULT_FULL_WEIGHT;

/// Plan-weighted budgets over one shared pool:
///
/// - **Connections.** A tenant of weight `w` holds at most `⌈max × w / full_weight⌉`
///   connections of a pool of `max` at once, and never more than `max − 1`: with the default
///   weights and a pool of 10, enterprise 8, pro 3, free 1. Its further transactions wait for
///   one of its own to end, while other tenants' go on, so one tenant's slow queries cannot
///   hold the whole pool. (A fixed cap: an idle pool does not lend a tenant more.)
/// - **Statement time.** A plan's `statement_timeout` is set transaction-locally in the
///   BEGIN's own round trip (`set_config('statement_timeout', .., true)`: no extra round trip,
///   gone when the transaction ends, safe under transaction pooling), in plain transactions
///   ([`begin`](Self::begin)), behind the placement fence ([`begin_fenced`](Self::begin_fenced))
///   and with row-level security ([`begin_row_security`](DbBudget::begin_row_security),
///   [`begin_fenced_row_security`](DbBudget::begin_fenced_row_security)), in the same `SELECT`
///   as the fence and the credential. A statement past it is
///   cancelled by PostgreSQL and returned as [`Error::StatementTimeout`]. SQLite has no
///   statement timeout: a plan with one is [`Error::Unsupported`] there, not ignored.
/// - **Metrics** through the `metrics` facade, the tenant label bounded as the request
///   boundary's is ([`TenantLabels`]): `tenant_db_seconds{tenant}` (histogram: how long each
///   budgeted transaction held its connection) and `tenant_db_connections{tenant}` (gauge:
///   connections held now).
///
/// ```
/// use std::time::Duration;
/// use tenant::sqlx::DbBudget;
/// use tenant::{Plan, TenantCtx};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let pool = sqlx::sqlite::SqlitePoolOptions::new().max_connections(10)
///     .connect("sqlite::memory:").await?;
/// let budget = DbBudget::new(pool);
/// let free = TenantCtx::trusted("globex".parse()?, "tenant_globex".parse()?, Plan::Free);
/// let big = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Enterprise);
/// assert_eq!((budget.share_of(&free), budget.share_of(&big)), (1, 8));
///
/// let tx = budget.begin(&free).await?; // holds globex's only connection until it ends
/// assert_eq!(budget.held(free.tenant_id()), 1);
/// tx.commit().await?;
/// assert_eq!(budget.held(free.tenant_id()), 0);
///
/// // SQLite cannot enforce a statement timeout: asking for one is an error, not a no-op.
/// let budget = budget.statement_timeout(Plan::Free, Duration::from_secs(2));
/// assert!(budget.begin(&free).await.is_err());
/// # Ok(())
/// # }
/// ```
pub struct DbBudget<DB: Backend> {
    pool: Pool<DB>,
    weights: PlanWeights,
    full_weight: f64,
    timeouts: HashMap<Plan, Duration>,
    labels: Arc<TenantLabels>,
    /// Labels shared with the request boundary, which counts the traffic; ours count it here.
    counts_traffic: bool,
    shares: Mutex<HashMap<TenantId, Share>>,
}

impl<DB: Backend> DbBudget<DB> {
    /// Budgets over `pool` with the default plan weights, [`DEFAULT_FULL_WEIGHT`], no statement
    /// timeout, and metrics naming the 20 busiest tenants.
    pub fn new(pool: Pool<DB>) -> Self {
        DbBudget {
            pool,
            weights: PlanWeights::default(),
            full_weight: DEFAULT_FULL_WEIGHT,
            timeouts: HashMap::new(),
            labels: Arc::new(TenantLabels::new(20)),
            counts_traffic: true,
            shares: Mutex::new(HashMap::new()),
        }
    }

    /// The plans' weights, and the weight that would be allowed the whole pool (but one
    /// connection). A `full_weight` that is not positive and finite is
    /// [`Error::Core`]`(InvalidPlanWeights)`.
    pub fn weights(mut self, weights: PlanWeights, full_weight: f64) -> Result<Self, Error> {
        if !(full_weight.is_finite() && full_weight > 0.0) {
            return Err(Error::Core(tenant_core::Error::InvalidPlanWeights {
                entry: format!("full weight {full_weight}"),
            }));
        }
        self.weights = weights;
        self.full_weight = full_weight;
        Ok(self)
    }

    /// Statements of tenants on `plan` are cancelled after `timeout` (PostgreSQL; whole
    /// milliseconds, at least 1).
    pub fn statement_timeout(mut self, plan: Plan, timeout: Duration) -> Self {
        self.timeouts.insert(plan, timeout);
        self
    }

    /// Labels the metrics with `labels`, shared with the request boundary's `FairLayer` (which
    /// counts the traffic that ranks the tenants), so both name the same tenants.
    pub fn metrics_labels(mut self, labels: Arc<TenantLabels>) -> Self {
        self.labels = labels;
        self.counts_traffic = false;
        self
    }

    /// The pool.
    pub fn pool(&self) -> &Pool<DB> {
        &self.pool
    }

    /// How many connections `ctx`'s tenant may hold at once.
    pub fn share_of(&self, ctx: &TenantCtx) -> usize {
        let max = self.pool.options().get_max_connections().max(1) as usize;
        let weight = self.weights.weight(ctx.plan());
        let share = (max as f64 * weight / self.full_weight).ceil() as usize;
        share.clamp(1, (max - 1).max(1))
    }

    /// How many connections `tenant` holds through this budget now.
    pub fn held(&self, tenant: &TenantId) -> usize {
        self.lock()
            .get(tenant)
            .map_or(0, |share| share.size - share.semaphore.available_permits())
    }

    /// Begins a [`TenantTx`] for `ctx` within its budget: waits until the tenant holds fewer
    /// connections than its share, then begins with the plan's statement timeout in the BEGIN
    /// round trip. The share is held until the transaction ends. Behind the placement fence:
    /// [`begin_fenced`](Self::begin_fenced); with row-level security:
    /// [`begin_row_security`](DbBudget::begin_row_security).
    pub async fn begin(&self, ctx: &TenantCtx) -> Result<BudgetTx<DB>, Error> {
        let begin = self.begin_statement(ctx)?;
        let permit = self.admit(ctx).await?;
        let tx = self.pool.begin_with(AssertSqlSafe(begin)).await?;
        Ok(self.admitted(ctx, TenantTx::from_parts(tx, ctx), permit))
    }

    /// The plan's statement timeout in whole milliseconds (at least 1), if it has one; on a
    /// backend without statement timeouts, [`Error::Unsupported`] rather than none.
    fn timeout_ms(&self, ctx: &TenantCtx) -> Result<Option<u32>, Error> {
        let Some(timeout) = self.timeouts.get(ctx.plan()) else {
            return Ok(None);
        };
        // By name: the build may have no PostgreSQL driver to compare types with.
        if DB::NAME != "PostgreSQL" {
            return Err(Error::Unsupported {
                what: "a statement timeout",
                backend: DB::NAME,
            });
        }
        let millis = timeout.as_millis().clamp(1, i32::MAX as u128);
        Ok(Some(u32::try_from(millis).unwrap_or(i32::MAX as u32)))
    }

    /// Waits for a connection of the tenant's share.
    async fn admit(&self, ctx: &TenantCtx) -> Result<OwnedSemaphorePermit, Error> {
        // The semaphore is never closed: `acquire_owned` fails only on a closed one.
        self.share(ctx)
            .acquire_owned()
            .await
            .map_err(|_| Error::Unsupported {
                what: "a closed connection budget",
                backend: DB::NAME,
            })
    }

    /// The transaction begun within the share, counted in the metrics until it ends.
    fn admitted(
        &self,
        ctx: &TenantCtx,
        tx: TenantTx<DB>,
        permit: OwnedSemaphorePermit,
    ) -> BudgetTx<DB> {
        let label = if self.counts_traffic {
            self.labels.label(ctx.tenant_id())
        } else {
            self.labels.current(ctx.tenant_id())
        };
        metrics::gauge!("tenant_db_connections", "tenant" => Arc::clone(&label)).increment(1.0);
        BudgetTx {
            tx: Some(tx),
            _permit: permit,
            started: Instant::now(),
            label,
        }
    }

    /// The BEGIN of a budgeted transaction: the plain one, then the plan's timeout.
    fn begin_statement(&self, ctx: &TenantCtx) -> Result<String, Error> {
        let Some(millis) = self.timeout_ms(ctx)? else {
            return Ok(DB::begin_tenant());
        };
        // A number of milliseconds: nothing to quote.
        Ok(format!(
            "{}; SELECT set_config('statement_timeout', '{millis}', true)",
            DB::begin_tenant()
        ))
    }

    /// The tenant's semaphore, sized by its plan's share (a new one if the plan changed).
    fn share(&self, ctx: &TenantCtx) -> Arc<Semaphore> {
        let size = self.share_of(ctx);
        let mut shares = self.lock();
        if let Some(share) = shares.get(ctx.tenant_id())
            && share.size == size
        {
            return Arc::clone(&share.semaphore);
        }
        // Tenants whose connections are all back are forgotten now and then, so the map holds
        // about the tenants that are busy.
        if shares.len() >= 1024 {
            shares.retain(|_, share| Arc::strong_count(&share.semaphore) > 1);
        }
        let semaphore = Arc::new(Semaphore::new(size));
        shares.insert(
            ctx.tenant_id().clone(),
            Share {
                semaphore: Arc::clone(&semaphore),
                size,
            },
        );
        semaphore
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<TenantId, Share>> {
        self.shares.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<DB: PlacementBackend> DbBudget<DB> {
    /// [`begin`](Self::begin) behind the placement fence, as
    /// [`TenantTx::begin_fenced`]: the fence's check and the plan's statement timeout in the
    /// same BEGIN round trip. A tenant this database does not hold, or holds fenced, is
    /// [`Error::Moved`] or [`Error::Fenced`] after the wait for its share, which it gives back.
    ///
    /// ```
    /// use tenant::sqlx::{DbBudget, Error, PlacementFence};
    /// use tenant::{Plan, TenantCtx, Tier};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?;
    /// PlacementFence::new(&pool).install().await?;
    /// let budget = DbBudget::new(pool.clone());
    /// let acme = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Free);
    /// assert!(matches!(budget.begin_fenced(&acme).await, Err(Error::Moved { .. })));
    ///
    /// PlacementFence::new(&pool).place(acme.tenant_id(), Tier::Shared, false).await?;
    /// budget.begin_fenced(&acme).await?.commit().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn begin_fenced(&self, ctx: &TenantCtx) -> Result<BudgetTx<DB>, Error> {
        let timeout = self.timeout_ms(ctx)?;
        let permit = self.admit(ctx).await?;
        let tx = TenantTx::begin_fenced_with(&self.pool, ctx, timeout).await?;
        Ok(self.admitted(ctx, tx, permit))
    }
}

#[cfg(feature = "postgres")]
impl DbBudget<sqlx::Postgres> {
    /// [`begin`](Self::begin) as a [`RowSecurity`] transaction: the verified tenant setting and
    /// the plan's statement timeout, the timeout in the BEGIN round trip (with the credential,
    /// where [`RowSecurity::begin`] takes one).
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # use tenant::sqlx::{DbBudget, RowSecurity};
    /// # use tenant::{Plan, TenantCtx};
    /// # async fn run(app: sqlx::PgPool, security: RowSecurity) -> Result<(), Box<dyn std::error::Error>> {
    /// let budget = DbBudget::new(app).statement_timeout(Plan::Free, Duration::from_millis(500));
    /// let acme = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Free);
    /// let mut tx = budget.begin_row_security(&security, &acme).await?;
    /// sqlx::query("SELECT 1").execute(tx.executor()).await?; // acme's rows, within 500 ms
    /// tx.commit().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn begin_row_security(
        &self,
        security: &RowSecurity,
        ctx: &TenantCtx,
    ) -> Result<BudgetTx<sqlx::Postgres>, Error> {
        let timeout = self.timeout_ms(ctx)?;
        let permit = self.admit(ctx).await?;
        let tx = security
            .enter_with(&self.pool, ctx, None, false, timeout)
            .await?;
        Ok(self.admitted(ctx, tx, permit))
    }

    /// [`begin_row_security`](Self::begin_row_security) behind the placement fence, as
    /// [`RowSecurity::begin_fenced`]: the fence, the credential's check and the timeout in
    /// one `SELECT` of the BEGIN round trip.
    ///
    /// ```no_run
    /// # use tenant::sqlx::{DbBudget, RowSecurity};
    /// # use tenant::{Plan, TenantCtx};
    /// # async fn run(budget: DbBudget<sqlx::Postgres>, security: RowSecurity) -> Result<(), Box<dyn std::error::Error>> {
    /// let acme = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Free);
    /// budget.begin_fenced_row_security(&security, &acme).await?.commit().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn begin_fenced_row_security(
        &self,
        security: &RowSecurity,
        ctx: &TenantCtx,
    ) -> Result<BudgetTx<sqlx::Postgres>, Error> {
        let timeout = self.timeout_ms(ctx)?;
        let permit = self.admit(ctx).await?;
        let schema =
            (ctx.placement().tier() == tenant_core::Tier::Schema).then(|| ctx.schema_name());
        let tx = security
            .enter_with(&self.pool, ctx, schema, true, timeout)
            .await?;
        Ok(self.admitted(ctx, tx, permit))
    }
}

struct Share {
    semaphore: Arc<Semaphore>,
    size: usize,
}

impl<DB: Backend> std::fmt::Debug for DbBudget<DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbBudget")
            .field("full_weight", &self.full_weight)
            .field("timeouts", &self.timeouts)
            .finish_non_exhaustive()
    }
}

/// A [`TenantTx`] begun within its tenant's [`DbBudget`]: use it as one (it derefs to it);
/// the tenant's share is given back, and the metrics recorded, when it ends.
pub struct BudgetTx<DB: Backend> {
    tx: Option<TenantTx<DB>>,
    _permit: OwnedSemaphorePermit,
    started: Instant,
    label: Arc<str>,
}

impl<DB: Backend> BudgetTx<DB> {
    /// Commits.
    pub async fn commit(mut self) -> Result<(), Error> {
        match self.tx.take() {
            Some(tx) => tx.commit().await,
            None => Ok(()),
        }
    }

    /// Rolls back. Dropping it rolls back too.
    pub async fn rollback(mut self) -> Result<(), Error> {
        match self.tx.take() {
            Some(tx) => tx.rollback().await,
            None => Ok(()),
        }
    }
}

impl<DB: Backend> Deref for BudgetTx<DB> {
    type Target = TenantTx<DB>;

    fn deref(&self) -> &TenantTx<DB> {
        // `tx` is taken only by `commit` and `rollback`, which consume `self`.
        self.tx
            .as_ref()
            .unwrap_or_else(|| unreachable!("a BudgetTx is used after it ended"))
    }
}

impl<DB: Backend> DerefMut for BudgetTx<DB> {
    fn deref_mut(&mut self) -> &mut TenantTx<DB> {
        self.tx
            .as_mut()
            .unwrap_or_else(|| unreachable!("a BudgetTx is used after it ended"))
    }
}

impl<DB: Backend> Drop for BudgetTx<DB> {
    fn drop(&mut self) {
        metrics::histogram!("tenant_db_seconds", "tenant" => Arc::clone(&self.label))
            .record(self.started.elapsed().as_secs_f64());
        metrics::gauge!("tenant_db_connections", "tenant" => Arc::clone(&self.label))
            .decrement(1.0);
    }
}

impl<DB: Backend> std::fmt::Debug for BudgetTx<DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BudgetTx")
            .field("tx", &self.tx)
            .finish_non_exhaustive()
    }
}
