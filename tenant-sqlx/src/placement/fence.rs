//! The placement fence: each database's own record of which tenants it holds, checked by every
//! tenant-bound transaction a [`PoolSet`](crate::PoolSet) begins, and the primitives a move
//! uses to fence a tenant, switch it and lift the fence.

use std::future::Future;
use std::time::Duration;

use sqlx::{AssertSqlSafe, Pool, Transaction};
use tenant_core::{TenantCtx, TenantId, Tier};

use crate::error::Error;
use crate::repo::Backend;
use crate::tenant_tx::TenantTx;

/// What a database's placement table says about one tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlacedState {
    /// The tier the tenant has in this database.
    pub tier: Tier,
    /// Whether its transactions are refused ([`Error::Fenced`]) while a move copies it.
    pub fenced: bool,
}

/// The placement table of one database, and the move's primitives on it.
///
/// Each database (each PostgreSQL database, each SQLite file) records the tenants it holds:
/// `tenant_placement.tenants` on PostgreSQL, `tenant_placement` on SQLite, one row per tenant
/// with its tier and a `fenced` flag. A transaction begun by [`PoolSet::begin`] (or
/// [`TenantTx::begin_fenced`]) checks, in the round trip of its BEGIN, that the row of its
/// tenant is there, of the context's tier, and not fenced (a row of another tier is a tenant
/// moved between tiers of this database), and is refused otherwise with [`Error::Moved`] or
/// [`Error::Fenced`]. The caller chooses nothing that is compared: the tenant is the verified
/// context's, and the answer is the row of the database the statement runs on.
///
/// On PostgreSQL the check is `tenant_placement.enter(tenant, tier)`, in the `SELECT` of the
/// BEGIN simple query: the `tenant_rls` extension's C function where the server has it, a
/// `SECURITY DEFINER` PL/pgSQL one elsewhere ([`install`](Self::install)); over the extension
/// at 1.3, BEGIN calls `tenant_rls.placement_enter(tenant, tier, search_path)`, which also sets
/// the search path (one function call, as in a plain BEGIN). Each reads the row in a snapshot of
/// the transaction; the 1.3 call takes no lock (the others keep a shared advisory lock for the
/// drains of earlier releases). [`fence`](Self::fence) commits the flag,
/// then waits (the drain) for every transaction of the database that was running at that
/// moment, and then for every prepared one: a transaction that was not running then began
/// after the flag's commit, so its check sees the flag. When `fence` returns, no transaction
/// that passed the check is running here, and none can start. The drain waits for the
/// database's other tenants' transactions too, up to a bound
/// ([`with_drain_timeout`](Self::with_drain_timeout)), past which it answers
/// [`Error::DrainTimeout`], the tenant still fenced, and the move retries.
/// On SQLite the transaction begins `IMMEDIATE` (it holds the database's write lock from its
/// BEGIN) and the check is a `SELECT` in it; the flag's `UPDATE` waits for the write lock, so
/// for every transaction that passed the check before it, and none passes after it. Fenced
/// transactions of a SQLite database therefore run one at a time, as its writers do anyway:
/// a deferred one would read for the check, and its first write would then be refused at once
/// (`SQLITE_BUSY_SNAPSHOT`) whenever another connection had written since that read.
///
/// A move, with every step idempotent:
/// 1. [`place`](Self::place) the tenant at the target, fenced (on PostgreSQL
///    `place_for_move`, which records the move's identity for its copy);
/// 2. [`fence`](Self::fence) it at the source (waits for in-flight transactions; on PostgreSQL
///    `fence_for_move`);
/// 3. copy ([`TenantCopy`](crate::TenantCopy), which checks the target's fence in the
///    transaction that writes), verify;
/// 4. switch the registry ([`SqlRegistry::place`](crate::SqlRegistry::place)) and
///    [`unplace_fenced`](Self::unplace_fenced) it at the source (between tiers of one database:
///    [`retier_fenced`](Self::retier_fenced)): a process whose cache still routes to the
///    source gets [`Error::Moved`], refreshes, and goes to the target;
/// 5. [`unfence`](Self::unfence) it at the target.
///
/// ```
/// use tenant::sqlx::{Error, PlacementFence};
/// use tenant::{Plan, TenantCtx, Tier};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?;
/// let fence = PlacementFence::new(&pool);
/// fence.install().await?;
/// let acme = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Free);
///
/// // Not placed here: refused before anything runs.
/// let refused = tenant::sqlx::TenantTx::begin_fenced(&pool, &acme).await;
/// assert!(matches!(refused, Err(Error::Moved { .. })));
///
/// fence.place(acme.tenant_id(), Tier::Shared, false).await?;
/// tenant::sqlx::TenantTx::begin_fenced(&pool, &acme).await?.commit().await?;
///
/// assert!(fence.fence(acme.tenant_id()).await?);
/// let fenced = tenant::sqlx::TenantTx::begin_fenced(&pool, &acme).await;
/// assert!(matches!(fenced, Err(Error::Fenced { .. })));
/// assert!(fence.unfence(acme.tenant_id()).await?);
/// # Ok(())
/// # }
/// ```
///
/// [`PoolSet::begin`]: crate::PoolSet::begin
#[derive(Debug, Clone, Copy)]
pub struct PlacementFence<'p, DB: PlacementBackend> {
    pool: &'p Pool<DB>,
    drain_timeout: Duration,
}

impl<'p, DB: PlacementBackend> PlacementFence<'p, DB> {
    /// How long [`fence`](Self::fence) waits, by default, for the transactions that began before
    /// its flag: a move's fence step, retried, waits again.
    pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

    /// The placement table of the database `pool` connects to.
    pub fn new(pool: &'p Pool<DB>) -> Self {
        PlacementFence {
            pool,
            drain_timeout: Self::DRAIN_TIMEOUT,
        }
    }

    /// The bound of [`fence`](Self::fence)'s wait for the transactions that began before its
    /// flag ([`DRAIN_TIMEOUT`](Self::DRAIN_TIMEOUT) unless set). On PostgreSQL these are every
    /// transaction of the database (and every prepared one), not only the tenant's: a session
    /// left idle in a transaction holds a move back until the bound, then `fence` answers
    /// [`Error::DrainTimeout`] with the tenant fenced, and the move's step retries (the
    /// example's workflow maps it to a transient failure), waiting again for what runs then.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tenant::sqlx::PlacementFence;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?;
    /// let fence = PlacementFence::new(&pool).with_drain_timeout(Duration::from_secs(4));
    /// fence.install().await?;
    /// assert!(!fence.fence(&"acme".parse()?).await?); // not placed here: nothing to fence
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn with_drain_timeout(self, timeout: Duration) -> Self {
        PlacementFence {
            drain_timeout: timeout,
            ..self
        }
    }

    /// Creates the placement table (and on PostgreSQL its schema and `enter` function) if they
    /// do not exist. Idempotent. Run it as the owner of the database's tables: the application
    /// role needs no right on the table, only to call `enter`.
    ///
    /// On PostgreSQL, where the server has the `tenant_rls` extension (`tenant-sqlx/pg`, as
    /// for [`RowSecurity::install`](crate::RowSecurity::install)), `enter` is a SQL function
    /// over its C check, which the planner inlines into BEGIN's query; the extension is created
    /// (or updated) in the `tenant_rls` schema if it is not there yet. Elsewhere (managed
    /// PostgreSQL), or with [`install_plpgsql`](PlacementFence::install_plpgsql), it is
    /// PL/pgSQL. The two refuse the same transactions; the C one costs a third of the
    /// PL/pgSQL one per BEGIN (BENCHMARKS.md).
    pub async fn install(&self) -> Result<(), Error> {
        DB::install(self.pool, true).await
    }

    /// Records that this database holds `tenant` in `tier`, fenced or not (a move places the
    /// tenant at its target fenced, and unfences it after the switch). Idempotent: an existing
    /// row takes the new tier and flag.
    pub async fn place(&self, tenant: &TenantId, tier: Tier, fenced: bool) -> Result<(), Error> {
        DB::place(self.pool, tenant, tier, fenced).await
    }

    /// Removes `tenant` from this database's placement table: its transactions here are then
    /// refused with [`Error::Moved`]. Returns whether a row was removed. Idempotent.
    pub async fn unplace(&self, tenant: &TenantId) -> Result<bool, Error> {
        DB::unplace(self.pool, tenant).await
    }

    /// The switch's write at the source of a move between databases: removes `tenant` from
    /// this database's placement table **only while it is fenced** here, checked by the same
    /// statement. Returns whether a row was removed: `false` when the tenant is not placed here
    /// (the switch ran before: nothing to do) or is placed and not fenced. A switch step that
    /// outlived its attempt and runs after the fence was lifted (an abort unfenced the source,
    /// or a later move placed the tenant here again) must not unplace a tenant that is taking
    /// its transactions here; [`unplace`](Self::unplace) would.
    ///
    /// ```
    /// # use tenant::sqlx::PlacementFence;
    /// # use tenant::Tier;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?;
    /// let source = PlacementFence::new(&pool);
    /// source.install().await?;
    /// let acme = "acme".parse()?;
    /// source.place(&acme, Tier::Shared, false).await?;
    /// assert!(!source.unplace_fenced(&acme).await?); // taking transactions: left alone
    /// assert!(source.fence(&acme).await?);
    /// assert!(source.unplace_fenced(&acme).await?);
    /// assert_eq!(source.state(&acme).await?, None);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn unplace_fenced(&self, tenant: &TenantId) -> Result<bool, Error> {
        DB::unplace_fenced(self.pool, tenant).await
    }

    /// The switch's write of a move between tiers of this database: the tenant's row takes
    /// `tier`, **only while it is fenced**, checked by the same statement, and stays fenced.
    /// Returns whether the row changed: `false` when the tenant is not placed here, or is
    /// placed and not fenced (a late switch after the move lifted the fence, which
    /// [`place`](Self::place) would fence again, shutting the tenant out).
    ///
    /// ```
    /// # use tenant::sqlx::{PlacedState, PlacementFence};
    /// # use tenant::Tier;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?;
    /// let fence = PlacementFence::new(&pool);
    /// fence.install().await?;
    /// let acme = "acme".parse()?;
    /// fence.place(&acme, Tier::Shared, true).await?; // fenced by the move
    /// assert!(fence.retier_fenced(&acme, Tier::Schema).await?);
    /// assert!(fence.unfence(&acme).await?);
    /// assert!(!fence.retier_fenced(&acme, Tier::Schema).await?); // late: not fenced again
    /// assert_eq!(fence.state(&acme).await?, Some(PlacedState { tier: Tier::Schema, fenced: false }));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn retier_fenced(&self, tenant: &TenantId, tier: Tier) -> Result<bool, Error> {
        DB::retier_fenced(self.pool, tenant, tier).await
    }

    /// Fences `tenant`: sets the flag, then waits until no transaction of the tenant that
    /// began before is still running here. Returns whether the tenant is placed here (`false`:
    /// nothing to fence). Idempotent; other tenants' transactions neither wait nor fail, but
    /// the wait is for them too on PostgreSQL, up to its bound
    /// ([`with_drain_timeout`](Self::with_drain_timeout)): past it, [`Error::DrainTimeout`].
    pub async fn fence(&self, tenant: &TenantId) -> Result<bool, Error> {
        if !DB::set_fenced(self.pool, tenant, true).await? {
            return Ok(false);
        }
        DB::drain(self.pool, tenant, self.drain_timeout).await?;
        Ok(true)
    }

    /// Lifts the fence of `tenant`. Returns whether the tenant is placed here. Idempotent.
    pub async fn unfence(&self, tenant: &TenantId) -> Result<bool, Error> {
        DB::set_fenced(self.pool, tenant, false).await
    }

    /// What this database's placement table says about `tenant`: `None` if it does not hold it.
    pub async fn state(&self, tenant: &TenantId) -> Result<Option<PlacedState>, Error> {
        DB::state(self.pool, tenant).await
    }
}

#[cfg(feature = "postgres")]
impl PlacementFence<'_, sqlx::Postgres> {
    /// [`install`](Self::install) with the PL/pgSQL `enter` whether or not the server has the
    /// C extension: a `SECURITY DEFINER` function, for servers where no extension can be
    /// installed, and to measure or test that version. A database that had the C version gets
    /// the PL/pgSQL one in its place.
    ///
    /// ```no_run
    /// # async fn run(owner: sqlx::PgPool) -> Result<(), tenant::sqlx::Error> {
    /// tenant::sqlx::PlacementFence::new(&owner).install_plpgsql().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn install_plpgsql(&self) -> Result<(), Error> {
        <sqlx::Postgres as PlacementBackend>::install(self.pool, false).await
    }

    /// [`place`](Self::place) the tenant here fenced, by the move `move_id` (a move's target):
    /// [`TenantCopy::copy_for_move`](crate::TenantCopy::copy_for_move) of that move, and of no
    /// other, may then write here. Idempotent; an existing row takes the tier, the fence and the
    /// move. Lifting the fence ([`unfence`](Self::unfence), [`place`](Self::place) unfenced)
    /// forgets the move.
    ///
    /// ```no_run
    /// # async fn run(target: sqlx::PgPool) -> Result<(), tenant::sqlx::Error> {
    /// let acme = "acme".parse()?;
    /// tenant::sqlx::PlacementFence::new(&target)
    ///     .place_for_move(&acme, tenant::Tier::Shared, "move-acme-to-eu")
    ///     .await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn place_for_move(
        &self,
        tenant: &TenantId,
        tier: Tier,
        move_id: &str,
    ) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO tenant_placement.tenants (tenant_id, tier, fenced, move_id) \
             VALUES ($1, $2, TRUE, $3) ON CONFLICT (tenant_id) DO UPDATE \
             SET tier = EXCLUDED.tier, fenced = TRUE, move_id = EXCLUDED.move_id",
        )
        .bind(tenant.as_str())
        .bind(tier.as_str())
        .bind(move_id)
        .execute(self.pool)
        .await?;
        Ok(())
    }

    /// [`fence`](Self::fence) by the move `move_id` (a move's source, or the one row of a move
    /// between tiers of this database): sets the flag and the move, then waits for the
    /// tenant's transactions that began before. Returns `false`, fencing nothing, when the
    /// tenant is not placed here or is fenced by **another** move (a step of an earlier move
    /// that outlived it must not take a later move's fence). Idempotent for the same move.
    ///
    /// ```no_run
    /// # async fn run(source: sqlx::PgPool) -> Result<(), tenant::sqlx::Error> {
    /// let acme = "acme".parse()?;
    /// let fenced = tenant::sqlx::PlacementFence::new(&source)
    ///     .fence_for_move(&acme, "move-acme-to-eu")
    ///     .await?;
    /// assert!(fenced, "acme is not placed here, or another move holds it");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn fence_for_move(&self, tenant: &TenantId, move_id: &str) -> Result<bool, Error> {
        let done = sqlx::query(
            "UPDATE tenant_placement.tenants SET fenced = TRUE, move_id = $2 \
             WHERE tenant_id = $1 AND (NOT fenced OR move_id IS NULL OR move_id = $2)",
        )
        .bind(tenant.as_str())
        .bind(move_id)
        .execute(self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        <sqlx::Postgres as PlacementBackend>::drain(self.pool, tenant, self.drain_timeout).await?;
        Ok(true)
    }
}

impl<DB: PlacementBackend> TenantTx<DB> {
    /// Begins a transaction on `pool` bound to `ctx`'s tenant, behind the placement fence: in
    /// the BEGIN round trip the database checks that its placement table holds the tenant, not
    /// fenced ([`PlacementFence`]); otherwise nothing runs and the answer is [`Error::Moved`] or
    /// [`Error::Fenced`]. With the tier [`Tier::Schema`], the search path is the tenant's
    /// schema as in [`begin_in_schema`](TenantTx::begin_in_schema).
    ///
    /// [`PoolSet::begin`](crate::PoolSet::begin) chooses the pool from the context's placement
    /// and calls this; call it directly only with a pool chosen by hand.
    pub async fn begin_fenced(pool: &Pool<DB>, ctx: &TenantCtx) -> Result<Self, Error> {
        Self::begin_fenced_with(pool, ctx, None).await
    }

    /// [`begin_fenced`](Self::begin_fenced) with a statement timeout in the same BEGIN
    /// ([`DbBudget::begin_fenced`](crate::DbBudget::begin_fenced)).
    pub(crate) async fn begin_fenced_with(
        pool: &Pool<DB>,
        ctx: &TenantCtx,
        statement_timeout_ms: Option<u32>,
    ) -> Result<Self, Error> {
        let schema = (ctx.placement().tier() == Tier::Schema).then(|| ctx.schema_name());
        let tier = ctx.placement().tier();
        let tenant = ctx.tenant_id();
        let native = DB::native_fence(pool).await?;
        let begin = DB::fenced_begin(schema, tenant, tier, statement_timeout_ms, native)?;
        let mut tx = match pool.begin_with(AssertSqlSafe(begin)).await {
            Ok(tx) => tx,
            // The extension was dropped since (`RowSecurity::install_plpgsql` drops it, and
            // gives `tenant_placement.enter` its PL/pgSQL body back): nothing ran; the
            // database's own `enter` decides, from now on.
            Err(e) if native && DB::native_fence_gone(pool, &e) => {
                let begin = DB::fenced_begin(schema, tenant, tier, statement_timeout_ms, false)?;
                pool.begin_with(AssertSqlSafe(begin))
                    .await
                    .map_err(|e| refusal(e, tenant))?
            }
            Err(e) => return Err(refusal(e, tenant)),
        };
        DB::check_in(&mut tx, ctx.tenant_id(), tier).await?;
        Ok(TenantTx::from_parts(tx, ctx))
    }
}

/// `tenant_placement.enter`'s refusals: SQLSTATE `TP001` (not placed here), `TP002` (fenced).
pub(crate) fn refusal(error: sqlx::Error, tenant: &TenantId) -> Error {
    match error.as_database_error().and_then(|e| e.code()).as_deref() {
        Some("TP001") => Error::Moved {
            tenant: tenant.clone(),
        },
        Some("TP002") => Error::Fenced {
            tenant: tenant.clone(),
        },
        _ => Error::Database(error),
    }
}

/// What [`state`](PlacementFence::state) read: a stored tier this crate would not have written
/// is a decoding error, not a default. Called by the per-backend impls only.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
fn placed_state(tier: String, fenced: bool) -> Result<PlacedState, Error> {
    let tier =
        tier.parse()
            .map_err(|e: tenant_core::PlacementError| sqlx::Error::ColumnDecode {
                index: "\"tier\"".into(),
                source: e.into(),
            })?;
    Ok(PlacedState { tier, fenced })
}

/// A database with a placement table: `sqlx::Sqlite` (feature `sqlite`) and `sqlx::Postgres`
/// (feature `postgres`). Sealed; its items are not a stable API.
pub trait PlacementBackend: Backend {
    /// `native`: the C check where the server has it (PostgreSQL).
    #[doc(hidden)]
    fn install(pool: &Pool<Self>, native: bool) -> impl Future<Output = Result<(), Error>> + Send;

    #[doc(hidden)]
    fn place(
        pool: &Pool<Self>,
        tenant: &TenantId,
        tier: Tier,
        fenced: bool,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    #[doc(hidden)]
    fn unplace(
        pool: &Pool<Self>,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<bool, Error>> + Send;

    #[doc(hidden)]
    fn unplace_fenced(
        pool: &Pool<Self>,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<bool, Error>> + Send;

    #[doc(hidden)]
    fn retier_fenced(
        pool: &Pool<Self>,
        tenant: &TenantId,
        tier: Tier,
    ) -> impl Future<Output = Result<bool, Error>> + Send;

    #[doc(hidden)]
    fn set_fenced(
        pool: &Pool<Self>,
        tenant: &TenantId,
        fenced: bool,
    ) -> impl Future<Output = Result<bool, Error>> + Send;

    /// Waits, up to `timeout`, for the transactions that may have passed the check before the
    /// fence's flag was committed.
    #[doc(hidden)]
    fn drain(
        pool: &Pool<Self>,
        tenant: &TenantId,
        timeout: Duration,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    #[doc(hidden)]
    fn state(
        pool: &Pool<Self>,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<Option<PlacedState>, Error>> + Send;

    /// Whether the fenced BEGIN on `pool`'s database calls the C check by its own name: learnt
    /// once per database and process.
    #[doc(hidden)]
    fn native_fence(pool: &Pool<Self>) -> impl Future<Output = Result<bool, Error>> + Send;

    /// Whether `error`, of a BEGIN that called the C check by its name, says the function is
    /// gone; if so, the database's BEGIN calls its own `enter` from now on.
    #[doc(hidden)]
    fn native_fence_gone(pool: &Pool<Self>, error: &sqlx::Error) -> bool;

    /// The simple query that begins a fenced transaction, with a statement timeout if asked;
    /// `native`: the C check called by its own name.
    #[doc(hidden)]
    fn fenced_begin(
        schema: Option<&tenant_core::SchemaName>,
        tenant: &TenantId,
        tier: Tier,
        statement_timeout_ms: Option<u32>,
        native: bool,
    ) -> Result<String, Error>;

    /// The check a backend without server-side functions runs inside the transaction.
    #[doc(hidden)]
    fn check_in(
        tx: &mut Transaction<'static, Self>,
        tenant: &TenantId,
        tier: Tier,
    ) -> impl Future<Output = Result<(), Error>> + Send;
}

macro_rules! placement_backend {
    (
        $feature:literal,
        $db:ty,
        install: |$install_pool:ident, $native:ident| $install:block,
        place: $place:literal,
        unplace: $unplace:literal,
        unplace_fenced: $unplace_fenced:literal,
        retier_fenced: $retier_fenced:literal,
        set_fenced: $set_fenced:literal,
        state: $state:literal,
        drain: |$drain_pool:ident, $drain_tenant:ident, $drain_timeout:ident| $drain:block,
        native_fence: |$native_pool:ident| $native_fence:block,
        native_fence_gone: |$gone_pool:ident, $gone_error:ident| $native_fence_gone:block,
        fenced_begin: |$schema:ident, $begin_tenant:ident, $begin_tier:ident, $timeout:ident, $begin_native:ident| $fenced_begin:block,
        check_in: |$tx:ident, $check_tenant:ident, $check_tier:ident| $check_in:block $(,)?
    ) => {
        #[cfg(feature = $feature)]
        impl PlacementBackend for $db {
            async fn install($install_pool: &Pool<Self>, $native: bool) -> Result<(), Error> $install

            async fn place(
                pool: &Pool<Self>,
                tenant: &TenantId,
                tier: Tier,
                fenced: bool,
            ) -> Result<(), Error> {
                sqlx::query($place)
                    .bind(tenant.as_str())
                    .bind(tier.as_str())
                    .bind(fenced)
                    .execute(pool)
                    .await?;
                Ok(())
            }

            async fn unplace(pool: &Pool<Self>, tenant: &TenantId) -> Result<bool, Error> {
                let done = sqlx::query($unplace)
                    .bind(tenant.as_str())
                    .execute(pool)
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn unplace_fenced(pool: &Pool<Self>, tenant: &TenantId) -> Result<bool, Error> {
                let done = sqlx::query($unplace_fenced)
                    .bind(tenant.as_str())
                    .execute(pool)
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn retier_fenced(
                pool: &Pool<Self>,
                tenant: &TenantId,
                tier: Tier,
            ) -> Result<bool, Error> {
                let done = sqlx::query($retier_fenced)
                    .bind(tenant.as_str())
                    .bind(tier.as_str())
                    .execute(pool)
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn set_fenced(
                pool: &Pool<Self>,
                tenant: &TenantId,
                fenced: bool,
            ) -> Result<bool, Error> {
                let done = sqlx::query($set_fenced)
                    .bind(fenced)
                    .bind(tenant.as_str())
                    .execute(pool)
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn drain(
                $drain_pool: &Pool<Self>,
                $drain_tenant: &TenantId,
                $drain_timeout: Duration,
            ) -> Result<(), Error> $drain

            async fn state(
                pool: &Pool<Self>,
                tenant: &TenantId,
            ) -> Result<Option<PlacedState>, Error> {
                let row: Option<(String, bool)> = sqlx::query_as($state)
                    .bind(tenant.as_str())
                    .fetch_optional(pool)
                    .await?;
                row.map(|(tier, fenced)| placed_state(tier, fenced))
                    .transpose()
            }

            async fn native_fence($native_pool: &Pool<Self>) -> Result<bool, Error> $native_fence

            fn native_fence_gone($gone_pool: &Pool<Self>, $gone_error: &sqlx::Error) -> bool $native_fence_gone

            fn fenced_begin(
                $schema: Option<&tenant_core::SchemaName>,
                $begin_tenant: &TenantId,
                $begin_tier: Tier,
                $timeout: Option<u32>,
                $begin_native: bool,
            ) -> Result<String, Error> $fenced_begin

            async fn check_in(
                $tx: &mut Transaction<'static, Self>,
                $check_tenant: &TenantId,
                $check_tier: Tier,
            ) -> Result<(), Error> $check_in
        }
    };
}

placement_backend!(
    "sqlite",
    sqlx::Sqlite,
    // One check, in SQL: there is no other version to choose.
    install: |pool, _native| {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS tenant_placement (\
             tenant_id TEXT NOT NULL PRIMARY KEY, \
             tier TEXT NOT NULL, \
             fenced BOOLEAN NOT NULL DEFAULT FALSE)",
        )
        .execute(pool)
        .await?;
        Ok(())
    },
    place: "INSERT INTO tenant_placement (tenant_id, tier, fenced) VALUES (?1, ?2, ?3) \
            ON CONFLICT (tenant_id) DO UPDATE SET tier = excluded.tier, fenced = excluded.fenced",
    unplace: "DELETE FROM tenant_placement WHERE tenant_id = ?1",
    unplace_fenced: "DELETE FROM tenant_placement WHERE tenant_id = ?1 AND fenced",
    retier_fenced: "UPDATE tenant_placement SET tier = ?2 WHERE tenant_id = ?1 AND fenced",
    set_fenced: "UPDATE tenant_placement SET fenced = ?1 WHERE tenant_id = ?2",
    state: "SELECT tier, fenced FROM tenant_placement WHERE tenant_id = ?1",
    // The flag's UPDATE took the write lock, so fenced transactions that began before it
    // (each holds the lock from its BEGIN) have finished; `BEGIN IMMEDIATE` waits for any other
    // writer that holds the lock now, then lets go.
    drain: |pool, _tenant, _timeout| {
        let mut conn = pool.acquire().await?;
        sqlx::raw_sql("BEGIN IMMEDIATE; COMMIT").execute(&mut *conn).await?;
        Ok(())
    },
    // One check, in SQL, in process.
    native_fence: |_pool| { Ok(false) },
    native_fence_gone: |_pool, _error| { false },
    fenced_begin: |schema, _tenant, _tier, timeout, _native| {
        if schema.is_some() {
            return Err(Error::Unsupported {
                what: "a schema per tenant",
                backend: "SQLite",
            });
        }
        if timeout.is_some() {
            return Err(Error::Unsupported {
                what: "a statement timeout",
                backend: "SQLite",
            });
        }
        // The write lock from the start (waiting for it under the busy timeout): the check's
        // read and the transaction's writes see one snapshot, which no other connection can
        // write past in between.
        Ok(String::from("BEGIN IMMEDIATE"))
    },
    // In process: no round trip to save. The transaction holds the write lock, so a fence
    // committed before it is seen, and none can be committed until it ends.
    // A row of another tier is a tenant that moved within this database (shared tables to a
    // file of its own is another database, but the same rule keeps the two checks alike).
    check_in: |tx, tenant, tier| {
        let row: Option<(String, bool)> =
            sqlx::query_as("SELECT tier, fenced FROM tenant_placement WHERE tenant_id = ?1")
                .bind(tenant.as_str())
                .fetch_optional(&mut **tx)
                .await?;
        match row {
            None => Err(Error::Moved { tenant: tenant.clone() }),
            Some((placed, _)) if placed != tier.as_str() => {
                Err(Error::Moved { tenant: tenant.clone() })
            }
            Some((_, true)) => Err(Error::Fenced { tenant: tenant.clone() }),
            Some((_, false)) => Ok(()),
        }
    },
);

/// The placement table of PostgreSQL and what surrounds it, both versions of `enter` alike.
#[cfg(feature = "postgres")]
const PLACEMENT_TABLE: &[&str] = &[
    // Serialise concurrent installs (catalog races); the key is "tenplace" in ASCII.
    "SELECT pg_advisory_xact_lock(8387236957311034213)",
    "CREATE SCHEMA IF NOT EXISTS tenant_placement",
    "CREATE TABLE IF NOT EXISTS tenant_placement.tenants (\
         tenant_id TEXT NOT NULL PRIMARY KEY, \
         tier TEXT NOT NULL CHECK (tier IN ('shared', 'schema', 'database')), \
         fenced BOOLEAN NOT NULL DEFAULT FALSE)",
    // The move that fenced the tenant here, if one said so (`place_for_move`, `fence_for_move`):
    // a move's copy checks it. Added to tables of before it; no check reads it.
    "ALTER TABLE tenant_placement.tenants ADD COLUMN IF NOT EXISTS move_id TEXT",
    "REVOKE ALL ON tenant_placement.tenants FROM PUBLIC",
    "GRANT USAGE ON SCHEMA tenant_placement TO PUBLIC",
    // The one-argument `enter` of before the tier was compared: a process still calling it
    // would not see a move between tiers of this database.
    "DROP FUNCTION IF EXISTS tenant_placement.enter(pg_catalog.text)",
];

/// `tenant_placement.enter` in PL/pgSQL, for servers without the C extension.
//
// SECURITY DEFINER: the application role reads the table through this function only,
// and cannot write it. No fixed search path (a `SET` clause costs a GUC save and
// restore on every call, in every BEGIN): instead every function, operator and table
// in the body is qualified, so nothing the caller puts on its search path or in
// `pg_temp` can stand in for them (`boolean` is a keyword type; `text` in the
// signature was resolved when the function was created).
// The tier is compared too: a tenant moved between tiers of this one database (shared
// tables to its schema) keeps its row, with the new tier, and a process whose cache
// says the old one is refused as `Moved`, not let into the tables it left.
// The row is read in a statement snapshot taken after the transaction began, which is all
// this release's drain needs (see `drain`). The shared lock on the tenant's key is kept for
// the drains of earlier releases, which wait by taking it exclusively: `install` replaces this
// function for every process on the database at once, older ones included (the C check in
// BEGIN, `tenant_rls.placement_enter(tenant, tier, search_path)`, takes none: a process that
// calls it is of this release).
#[cfg(feature = "postgres")]
pub(crate) const PLACEMENT_ENTER_PLPGSQL: &str = "CREATE OR REPLACE FUNCTION tenant_placement.enter(tenant pg_catalog.text, tier pg_catalog.text) RETURNS void \
         LANGUAGE plpgsql VOLATILE SECURITY DEFINER AS $fn$ \
         DECLARE is_fenced boolean; placed_tier pg_catalog.text; \
         BEGIN \
           IF NOT pg_catalog.pg_try_advisory_xact_lock_shared(1952804464, pg_catalog.hashtext(tenant)) THEN \
             RAISE EXCEPTION 'tenant is fenced for a move' USING ERRCODE = 'TP002'; \
           END IF; \
           SELECT p.fenced, p.tier INTO is_fenced, placed_tier FROM tenant_placement.tenants AS p \
             WHERE p.tenant_id OPERATOR(pg_catalog.=) tenant; \
           IF NOT FOUND OR placed_tier OPERATOR(pg_catalog.<>) tier THEN \
             RAISE EXCEPTION 'tenant is not placed in this database' USING ERRCODE = 'TP001'; \
           END IF; \
           IF is_fenced THEN \
             RAISE EXCEPTION 'tenant is fenced for a move' USING ERRCODE = 'TP002'; \
           END IF; \
         END $fn$";

/// `tenant_placement.enter` over the extension's C check (`tenant_rls.placement_enter`, the
/// same row and errors as [`PLACEMENT_ENTER_PLPGSQL`]). A SQL function that is neither
/// `SECURITY DEFINER` nor has a `SET` clause, and whose body is one `SELECT` of a call, is
/// inlined into the calling query when it is planned: BEGIN's query calls C directly. The call
/// is qualified, as inlining parses it with the caller's search path; only the schema's owner
/// can create a function in `tenant_rls`. The C function reads the placement table itself, so
/// nothing here runs as the function's owner.
#[cfg(feature = "postgres")]
const PLACEMENT_ENTER_C: &str = "CREATE OR REPLACE FUNCTION tenant_placement.enter(tenant pg_catalog.text, tier pg_catalog.text) \
     RETURNS void LANGUAGE sql VOLATILE \
     AS $fn$ SELECT tenant_rls.placement_enter(tenant, tier) $fn$";

placement_backend!(
    "postgres",
    sqlx::Postgres,
    install: |pool, native| {
        let mut tx = pool.begin().await?;
        for statement in PLACEMENT_TABLE {
            sqlx::query(AssertSqlSafe(*statement))
                .execute(&mut *tx)
                .await?;
        }
        let native = native
            && sqlx::query_scalar::<_, bool>(
                "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_available_extension_versions \
                 WHERE name = $1 AND version = $2)",
            )
            .bind(crate::repo::rls::EXTENSION)
            .bind(crate::repo::rls::EXTENSION_VERSION)
            .fetch_one(&mut *tx)
            .await?;
        if native {
            // The extension lives in `tenant_rls`, as RowSecurity::install creates it (the
            // same lock: the two may install at once).
            let mut statements = vec![
                "SELECT pg_advisory_xact_lock(hashtext('tenant_rls.install'))".to_owned(),
                format!("CREATE SCHEMA IF NOT EXISTS {}", crate::repo::rls::RLS_SCHEMA),
                format!("REVOKE CREATE ON SCHEMA {} FROM PUBLIC", crate::repo::rls::RLS_SCHEMA),
                format!("GRANT USAGE ON SCHEMA {} TO PUBLIC", crate::repo::rls::RLS_SCHEMA),
            ];
            statements.extend(crate::repo::rls::extension_statements());
            statements.push(PLACEMENT_ENTER_C.to_owned());
            for statement in statements {
                sqlx::query(AssertSqlSafe(statement)).execute(&mut *tx).await?;
            }
        } else {
            sqlx::query(PLACEMENT_ENTER_PLPGSQL).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    },
    place: "INSERT INTO tenant_placement.tenants (tenant_id, tier, fenced) VALUES ($1, $2, $3) \
            ON CONFLICT (tenant_id) DO UPDATE SET tier = EXCLUDED.tier, fenced = EXCLUDED.fenced, \
            move_id = NULL",
    unplace: "DELETE FROM tenant_placement.tenants WHERE tenant_id = $1",
    unplace_fenced: "DELETE FROM tenant_placement.tenants WHERE tenant_id = $1 AND fenced",
    retier_fenced: "UPDATE tenant_placement.tenants SET tier = $2 WHERE tenant_id = $1 AND fenced",
    // Lifting the fence forgets the move that set it; fencing again keeps it.
    set_fenced: "UPDATE tenant_placement.tenants SET fenced = $1, \
                 move_id = CASE WHEN $1 THEN move_id END WHERE tenant_id = $2",
    state: "SELECT tier, fenced FROM tenant_placement.tenants WHERE tenant_id = $1",
    drain: |pool, tenant, timeout| { drain::wait(pool, tenant, timeout).await },
    native_fence: |pool| { native::learn(pool).await },
    native_fence_gone: |pool, error| { native::gone(pool, error) },
    fenced_begin: |schema, tenant, tier, timeout, native| {
        Ok(crate::repo::rls::Begin {
            schema,
            fence: Some((tenant, tier)),
            native_fence: native,
            statement_timeout_ms: timeout,
            ..crate::repo::rls::Begin::default()
        }
        .sql())
    },
    check_in: |_tx, _tenant, _tier| {
        // Checked by `tenant_placement.enter` in the BEGIN round trip.
        Ok(())
    },
);

#[cfg(feature = "postgres")]
mod native;

#[cfg(feature = "postgres")]
mod drain;
