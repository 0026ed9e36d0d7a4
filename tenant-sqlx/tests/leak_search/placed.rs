//! The leak search over two placements: two databases behind a `PoolSet` (two SQLite files, or
//! two private PostgreSQL servers on their own ports), the tenants spread over both by a
//! `SqlRegistry`, each process's view of it a `CachedRegistry` that the pool set's `on_moved`
//! hook invalidates. Every op goes through the pool set: `begin` (the fenced transaction) for
//! ops in a transaction, `route` for repository ops outside one, the routed pool for checked
//! queries outside one.
//!
//! `Move` ops, put at random points of the program, move their tenant to the other database
//! with the steps of the `MoveTenant` workflow (examples/temporal/src/moving.rs), driven here
//! directly, in the tenant's own program order, while every other tenant's ops run on:
//! place at the target fenced, fence the source, copy (PostgreSQL: `TenantCopy`, as the
//! workflow; SQLite, which `TenantCopy` does not serve: the repositories, in one transaction at
//! the target), verify both sides, switch the registry and unplace at the source, unfence the
//! target, delete the source's rows. The move reports what the model predicts: a write during
//! the fence is `Fenced`; a write through the cache of before the switch (a stale process) is
//! `Moved`, told to the hook, and the next verification routes to the target; the source holds
//! none of the tenant's rows after the cleanup. The tenant's ops after the move run at the
//! target against the same model, so a lost or duplicated row is a difference; at the end, the
//! rows over both databases (a `SystemCtx` fan-out) are the model's total.

use std::sync::{Arc, Mutex};

use sqlx::Pool;
use tenant::sqlx::{
    NewTenant, PlacementBackend, PlacementFence, PoolSet, RegistryBackend, SqlRegistry, Switch,
};
use tenant::{
    CachedRegistry, DatabaseLabel, Placement, SystemCtx, TenancyConfig, TenantClaim, TenantCtx,
    TenantId, Tier,
};
use tenant_testkit::SqliteFile;

use super::model::Op;
use super::*;

/// How many ops a placed search runs: `TENANT_LEAK_PLACED_OPS`, default 2,000 (seconds on
/// either backend; CI keeps the default).
pub(crate) fn ops() -> usize {
    std::env::var("TENANT_LEAK_PLACED_OPS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2_000)
}

/// `ops` with `Move` ops put in at random points: one per 400 ops and at least one, each of a
/// random tenant (a tenant may move twice, back again).
pub(crate) fn with_moves(mut ops: Vec<Op>, seed: u64) -> Vec<Op> {
    let mut rng = Rng::new(seed ^ 0x6d6f_7665);
    let moves = 1 + ops.len() / 400;
    for _ in 0..moves {
        let at = rng.below(ops.len() as u64 + 1) as usize;
        let tenant = rng.below(TENANTS as u64) as usize;
        ops.insert(
            at,
            Op {
                tenant,
                in_tx: false,
                cross: false,
                kind: Kind::Move,
            },
        );
    }
    ops
}

/// What a move saw, step by step: the model predicts all of it ([`MoveSeen::expected`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MoveSeen {
    /// A write of the tenant while the source is fenced.
    pub(crate) fenced_write: Result<(), ErrKind>,
    /// Rows copied: the tenant's groups and items.
    pub(crate) copied: u64,
    /// Both sides' counts and checksums agreed.
    pub(crate) verified: bool,
    /// The process's cache still routed to the source after the switch (it is stale).
    pub(crate) stale_route: bool,
    /// A write through that stale route.
    pub(crate) stale_write: Result<(), ErrKind>,
    /// The pool set's `on_moved` hook was told, and the next verification routes to the target.
    pub(crate) refreshed: bool,
    /// The tenant's rows left at the source after the cleanup.
    pub(crate) left_at_source: u64,
}

impl MoveSeen {
    /// What a correct move of a tenant holding `items` items (and its groups) does.
    pub(crate) fn expected(t: usize, items: usize) -> MoveSeen {
        MoveSeen {
            fenced_write: Err(ErrKind::Fenced),
            copied: (tenant_groups(t).count() + items) as u64,
            verified: true,
            stale_route: true,
            stale_write: Err(ErrKind::Moved),
            refreshed: true,
            left_at_source: 0,
        }
    }
}

/// The data steps of a move on one backend, and the probes the search makes.
pub(crate) trait MoveData: PlacementBackend + RegistryBackend {
    /// The tenant's rows from `source` into a cleaned `target`; the rows copied.
    async fn copy(source: &Pool<Self>, target: &Pool<Self>, ctx: &TenantCtx) -> Result<u64, Error>;
    /// Per table: its name, the tenant's rows, and a checksum of them.
    async fn sums(pool: &Pool<Self>, ctx: &TenantCtx) -> Result<Vec<(String, i64, String)>, Error>;
    /// Deletes the tenant's rows at `pool`.
    async fn delete(pool: &Pool<Self>, ctx: &TenantCtx) -> Result<u64, Error>;
    /// A write of the tenant through the pool set's fenced transaction, committed if it is let
    /// in (a refusal is the expected answer).
    async fn probe_write(pools: &PoolSet<Self>, ctx: &TenantCtx) -> Result<(), Error>;
    /// Every tenant's items over every database of the set.
    async fn total_items(pools: &PoolSet<Self>) -> Result<u64, Error>;
}

/// A key no generated op uses: the probe writes of a move.
const PROBE_ID: i64 = 1_000_000;

fn probe_item() -> NewItem {
    NewItem {
        id: PROBE_ID,
        code: "probe".into(),
        label: "probe".into(),
        amount: 0,
        note: None,
        group_id: 1,
    }
}

impl MoveData for sqlx::Sqlite {
    async fn copy(source: &Pool<Self>, target: &Pool<Self>, ctx: &TenantCtx) -> Result<u64, Error> {
        // One snapshot of the source, one transaction at the target; outside the fence (the
        // tenant is fenced at both ends), as the workflow's copy runs.
        let mut read = TenantTx::begin(source, ctx).await?;
        let groups = read.repo::<Group>().list(ctx).await?;
        let items = read.repo::<Item>().list(ctx).await?;
        read.commit().await?;
        let mut write = TenantTx::begin(target, ctx).await?;
        delete_in(&mut write, ctx).await?;
        let mut copied = write
            .repo::<Group>()
            .insert_many(
                ctx,
                groups.into_iter().map(|g| NewGroup {
                    id: g.id,
                    name: g.name,
                }),
            )
            .await?;
        copied += write
            .repo::<Item>()
            .insert_many(
                ctx,
                items.into_iter().map(|i| NewItem {
                    id: i.id,
                    code: i.code,
                    label: i.label,
                    amount: i.amount,
                    note: i.note,
                    group_id: i.group_id,
                }),
            )
            .await?;
        write.commit().await?;
        Ok(copied)
    }

    async fn sums(pool: &Pool<Self>, ctx: &TenantCtx) -> Result<Vec<(String, i64, String)>, Error> {
        let mut tx = TenantTx::begin(pool, ctx).await?;
        let groups = tx.repo::<Group>().list(ctx).await?;
        let items = tx.repo::<Item>().list(ctx).await?;
        tx.commit().await?;
        // The rows themselves stand for the checksum: both lists come in key order.
        Ok(vec![
            (
                "leak_groups".into(),
                groups.len() as i64,
                format!("{groups:?}"),
            ),
            (
                "leak_items".into(),
                items.len() as i64,
                format!("{items:?}"),
            ),
        ])
    }

    async fn delete(pool: &Pool<Self>, ctx: &TenantCtx) -> Result<u64, Error> {
        let mut tx = TenantTx::begin(pool, ctx).await?;
        let deleted = delete_in(&mut tx, ctx).await?;
        tx.commit().await?;
        Ok(deleted)
    }

    async fn probe_write(pools: &PoolSet<Self>, ctx: &TenantCtx) -> Result<(), Error> {
        let mut tx = pools.begin(ctx).await?;
        tx.repo::<Item>().insert(ctx, probe_item()).await?;
        tx.commit().await
    }

    async fn total_items(pools: &PoolSet<Self>) -> Result<u64, Error> {
        let sys = SystemCtx::new("leak search: every tenant's items over both databases")?;
        pools.system_count::<Item>(&sys).await
    }
}

/// The tenant's items, then its groups, by raw SQL in its transaction.
async fn delete_in(tx: &mut TenantTx<sqlx::Sqlite>, ctx: &TenantCtx) -> Result<u64, Error> {
    let mut deleted = 0;
    for table in ["leak_items", "leak_groups"] {
        deleted += sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM {table} WHERE tenant_id = ?1"
        )))
        .bind(ctx.tenant_id().as_str())
        .execute(tx.executor())
        .await?
        .rows_affected();
    }
    Ok(deleted)
}

fn copy_tables() -> tenant::sqlx::TenantCopy {
    tenant::sqlx::TenantCopy::new()
        .entity::<Item>()
        .entity::<Group>()
}

fn at(pool: &sqlx::PgPool) -> tenant::sqlx::TablesAt<'_> {
    tenant::sqlx::TablesAt { pool, schema: None }
}

impl MoveData for sqlx::Postgres {
    async fn copy(source: &Pool<Self>, target: &Pool<Self>, ctx: &TenantCtx) -> Result<u64, Error> {
        copy_tables()
            .copy(ctx.tenant_id(), at(source), at(target), |_| async {})
            .await
    }

    async fn sums(pool: &Pool<Self>, ctx: &TenantCtx) -> Result<Vec<(String, i64, String)>, Error> {
        Ok(copy_tables()
            .sums(ctx.tenant_id(), at(pool))
            .await?
            .into_iter()
            .map(|sum| (sum.table, sum.rows, sum.checksum))
            .collect())
    }

    async fn delete(pool: &Pool<Self>, ctx: &TenantCtx) -> Result<u64, Error> {
        copy_tables().delete(ctx.tenant_id(), at(pool)).await
    }

    async fn probe_write(pools: &PoolSet<Self>, ctx: &TenantCtx) -> Result<(), Error> {
        let mut tx = pools.begin(ctx).await?;
        tx.repo::<Item>().insert(ctx, probe_item()).await?;
        tx.commit().await
    }

    async fn total_items(pools: &PoolSet<Self>) -> Result<u64, Error> {
        let sys = SystemCtx::new("leak search: every tenant's items over both databases")?;
        pools.system_count::<Item>(&sys).await
    }
}

/// The labels of the two databases.
const LABELS: [&str; 2] = ["main", "eu"];

/// Where tenant `t` starts: each task owns tenants on both databases.
fn first_label(t: usize) -> usize {
    (t / TASKS) % 2
}

/// How a run's databases are removed when it ends.
pub(crate) enum Cleanup {
    /// SQLite files.
    Files(Vec<SqliteFile>),
    /// PostgreSQL databases: the server's admin URL and the database's name.
    Databases(Vec<(String, String)>),
}

/// Two databases behind a pool set, the tenants spread over both.
pub(crate) struct Placed<DB: MoveData> {
    pub(crate) pools: PoolSet<DB>,
    registry: SqlRegistry<DB>,
    /// The process's registry view: a cache the pool set's `on_moved` hook invalidates.
    cache: Arc<CachedRegistry<SqlRegistry<DB>>>,
    /// The tenants the hook was told of, in order.
    told: Arc<Mutex<Vec<TenantId>>>,
    /// Each tenant's context as the process holds it; only the task that owns a tenant
    /// replaces its context (after a move), so each tenant's history stays sequential.
    ctxs: Mutex<Vec<TenantCtx>>,
    databases: Vec<Pool<DB>>,
    cleanup: Cleanup,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl<DB: MoveData> Placed<DB> {
    /// Registers every tenant on the registry of `databases[0]` and places it on its first
    /// database, with its groups there. The tables and the fence are already in both.
    pub(crate) async fn new(
        databases: Vec<Pool<DB>>,
        registry: SqlRegistry<DB>,
        cleanup: Cleanup,
        groups: impl AsyncFn(&Pool<DB>, usize) -> Result<(), Error>,
    ) -> Result<Placed<DB>, Box<dyn std::error::Error>> {
        registry.migrate().await?;
        let cache = Arc::new(CachedRegistry::new(
            SqlRegistry::new(registry.pool().clone()),
            Duration::from_secs(3600),
            TENANTS * 2,
        ));
        let told = Arc::new(Mutex::new(Vec::new()));
        let mut builder = PoolSet::builder();
        for (label, pool) in LABELS.iter().zip(&databases) {
            builder = builder.database(label.parse()?, pool.clone());
        }
        let (hook_cache, hook_told) = (Arc::clone(&cache), Arc::clone(&told));
        let pools = builder
            .on_moved(move |tenant| {
                hook_cache.invalidate(tenant);
                lock(&hook_told).push(tenant.clone());
            })
            .build()?;
        let mut ctxs = Vec::with_capacity(TENANTS);
        for t in 0..TENANTS {
            let id: TenantId = tenant_name(t).parse()?;
            registry
                .create(NewTenant {
                    id: id.clone(),
                    slug: id.clone(),
                    name: tenant_name(t),
                    plan: Plan::Free,
                    schema_name: format!("tenant_{}", tenant_name(t)).parse()?,
                })
                .await?;
            let first = first_label(t);
            let placement = Placement::new(LABELS[first].parse()?, Tier::Shared);
            registry.place(&id, &placement).await?;
            let pool = &databases[first];
            PlacementFence::new(pool)
                .place(&id, Tier::Shared, false)
                .await?;
            groups(pool, t).await?;
            let ctx = TenantClaim::new(id)
                .verify(&*cache, &TenancyConfig::default())
                .await?;
            assert_eq!(ctx.placement(), &placement, "the registry's placement");
            ctxs.push(ctx);
        }
        Ok(Placed {
            pools,
            registry,
            cache,
            told,
            ctxs: Mutex::new(ctxs),
            databases,
            cleanup,
        })
    }

    pub(crate) fn ctx(&self, t: usize) -> TenantCtx {
        lock(&self.ctxs)[t].clone()
    }

    /// Moves tenant `t` to the other database, step by step as the workflow does, and says
    /// what each step saw. `Err`: a step failed outright (never predicted).
    pub(crate) async fn move_tenant(&self, t: usize) -> Result<MoveSeen, String> {
        let step = |name: &'static str| move |e: Error| format!("move step {name}: {e}");
        let ctx = self.ctx(t);
        let tenant = ctx.tenant_id().clone();
        let from = ctx.placement().clone();
        let here = LABELS
            .iter()
            .position(|l| *l == from.database().as_str())
            .ok_or("a tenant outside both databases")?;
        let to = Placement::new(LABELS[1 - here].parse().unwrap(), Tier::Shared);
        let label = |p: &Placement| -> DatabaseLabel { p.database().clone() };
        let source_pool = self
            .pools
            .unfenced_pool_at(&label(&from), &tenant)
            .map_err(step("route"))?;
        let target_pool = self
            .pools
            .unfenced_pool_at(&label(&to), &tenant)
            .map_err(step("route"))?;
        let (source, target) = (
            PlacementFence::new(&source_pool),
            PlacementFence::new(&target_pool),
        );
        // prepare: the target holds the tenant, fenced.
        target
            .place(&tenant, Tier::Shared, true)
            .await
            .map_err(step("prepare"))?;
        // fence: the source refuses the tenant, none of its transactions running.
        if !source.fence(&tenant).await.map_err(step("fence"))? {
            return Err("the source does not hold the tenant".into());
        }
        let fenced_write = DB::probe_write(&self.pools, &ctx)
            .await
            .map_err(|e| ErrKind::of(&e));
        // copy, verify.
        let copied = DB::copy(&source_pool, &target_pool, &ctx)
            .await
            .map_err(step("copy"))?;
        let verified = DB::sums(&source_pool, &ctx).await.map_err(step("verify"))?
            == DB::sums(&target_pool, &ctx).await.map_err(step("verify"))?;
        if !verified {
            // As the workflow's abort: the target forgets the tenant, the source takes it again.
            target.unplace(&tenant).await.map_err(step("abort"))?;
            source.unfence(&tenant).await.map_err(step("abort"))?;
            DB::delete(&target_pool, &ctx)
                .await
                .map_err(step("abort"))?;
        } else {
            // A process whose cache holds the tenant as it was before the switch. Filled here,
            // not left to earlier lookups: the cache does not store a lookup that any
            // invalidation overtook (a move of another tenant, running beside this one), so
            // the tenant may be missing from it, and a process without it reads the switched
            // registry, not a stale route.
            for _ in 0..100 {
                if self.cache.is_cached_by_id(&tenant) {
                    break;
                }
                TenantClaim::new(tenant.clone())
                    .verify(&*self.cache, &TenancyConfig::default())
                    .await
                    .map_err(|e| format!("verify: {e}"))?;
            }
            // switch: the registry, compare-and-set, then the source forgets the tenant.
            let switched = self
                .registry
                .switch(&tenant, &from, &to)
                .await
                .map_err(step("switch"))?;
            if switched != Switch::Switched {
                return Err(format!("move step switch: {switched:?}"));
            }
            source.unplace(&tenant).await.map_err(step("switch"))?;
        }
        // The process whose cache was filled before the switch: still routed to the source.
        let config = TenancyConfig::default();
        let verify = async || {
            TenantClaim::new(tenant.clone())
                .verify(&*self.cache, &config)
                .await
                .map_err(|e| format!("verify: {e}"))
        };
        let stale = verify().await?;
        let stale_route = stale.placement() == &from;
        let told_before = lock(&self.told).len();
        let stale_write = DB::probe_write(&self.pools, &stale)
            .await
            .map_err(|e| ErrKind::of(&e));
        let told = lock(&self.told)[told_before..].contains(&tenant);
        let fresh = verify().await?;
        let refreshed = told && fresh.placement() == &to;
        if verified {
            // unfence at the target, then (the grace period being over) the source's rows go.
            target.unfence(&tenant).await.map_err(step("unfence"))?;
            DB::delete(&source_pool, &ctx)
                .await
                .map_err(step("cleanup"))?;
        }
        let left_at_source = DB::sums(&source_pool, &ctx)
            .await
            .map_err(step("after cleanup"))?
            .iter()
            .map(|(_, rows, _)| *rows as u64)
            .sum();
        lock(&self.ctxs)[t] = fresh;
        Ok(MoveSeen {
            fenced_write,
            copied,
            verified,
            stale_route,
            stale_write,
            refreshed,
            left_at_source,
        })
    }

    /// Every tenant's items over both databases, by a `SystemCtx` fan-out.
    pub(crate) async fn total_items(&self) -> Result<u64, Error> {
        DB::total_items(&self.pools).await
    }

    pub(crate) async fn close(&self) {
        for pool in &self.databases {
            pool.close().await;
        }
        self.registry.pool().close().await;
        match &self.cleanup {
            Cleanup::Files(files) => {
                for file in files {
                    file.clone().remove().await;
                }
            }
            Cleanup::Databases(databases) => {
                for (admin, name) in databases {
                    support::drop_database(admin, name).await;
                }
            }
        }
    }
}

/// Two fresh SQLite files, placed.
pub(crate) async fn sqlite() -> Placed<sqlx::Sqlite> {
    let mut pools = Vec::new();
    let mut files = Vec::new();
    for label in LABELS {
        let file = SqliteFile::create(&format!("tenant_leak_placed_{label}"))
            .await
            .unwrap();
        let pool = file.pool().clone();
        GroupRepo::new(&pool).create_table().await.unwrap();
        ItemRepo::new(&pool).create_table().await.unwrap();
        PlacementFence::new(&pool).install().await.unwrap();
        pools.push(pool);
        files.push(file);
    }
    let registry = SqlRegistry::new(pools[0].clone());
    Placed::new(
        pools,
        registry,
        Cleanup::Files(files),
        async |pool: &sqlx::SqlitePool, t| {
            GroupRepo::new(pool)
                .insert_many(&ctx(t), tenant_groups(t))
                .await
                .map(drop)
        },
    )
    .await
    .unwrap()
}

/// A fresh database on each of the two servers at `urls`, placed.
pub(crate) async fn postgres(urls: &[String; 2], n: u32) -> Placed<sqlx::Postgres> {
    use sqlx::postgres::PgPoolOptions;
    let name = format!("leak_placed_{n}");
    let mut pools = Vec::new();
    let mut databases = Vec::new();
    for url in urls {
        let options = support::fresh_database(url, &name).await;
        let pool = PgPoolOptions::new()
            .max_connections(TASKS as u32)
            .connect_with(options)
            .await
            .unwrap();
        GroupRepo::new(&pool).create_table().await.unwrap();
        ItemRepo::new(&pool).create_table().await.unwrap();
        PlacementFence::new(&pool).install().await.unwrap();
        pools.push(pool);
        databases.push((url.clone(), name.clone()));
    }
    let registry = SqlRegistry::new(pools[0].clone());
    Placed::new(
        pools,
        registry,
        Cleanup::Databases(databases),
        async |pool: &sqlx::PgPool, t| {
            GroupRepo::new(pool)
                .insert_many(&ctx(t), tenant_groups(t))
                .await
                .map(drop)
        },
    )
    .await
    .unwrap()
}
