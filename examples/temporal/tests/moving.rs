//! Moving a tenant online with the `MoveTenant` workflow, on the Temporal server at
//! `TEMPORAL_ADDRESS` and the PostgreSQL server at `DATABASE_URL` (`.ci/run` starts both):
//! shared tables -> its own schema -> its own database -> shared tables again, while a writer
//! of the moving tenant and one of its neighbour write all along.
//!
//! Every write acknowledged (committed) is at the end exactly once where the registry places
//! the tenant, and nowhere else; the neighbour never sees an error; the moving tenant sees only
//! `Fenced` (the 503 of the service) and `Moved` (refresh the route and retry).

use example_temporal as provisioning;

use std::collections::BTreeSet;
use std::error::Error;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use provisioning::{
    Comment, Document, Fleet, MoveTenant, Mover, NewComment, NewDocument, Provisioning,
};
use sqlx::{AssertSqlSafe, PgPool};
use temporalio_client::{Client, WorkflowGetResultOptions};
use tenant::sqlx::{Error as SqlError, NewTenant, PlacementFence, PoolSet, SqlRegistry};
use tenant::temporal::RouteExt;
use tenant::{Placement, Plan, ProvisionCtx, TenantCtx, TenantId, TenantRegistry, Tier};

const CLAIM_KEYS: &str = "claims1:tlL9C3QBIVlBWxotkSiN2fBkFH9h2Y3eQ+jLNdhOimU=";

fn unique() -> u64 {
    (SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        % 1_000_000_000_000) as u64
}

/// The moving tenant's writer: documents with ids counting up, each retried until it is
/// acknowledged; `Fenced` waits, `Moved` reads the registry again (what a `CachedRegistry`
/// behind `on_moved` does for a service).
async fn write_through_moves(
    pools: PoolSet<sqlx::Postgres>,
    registry: SqlRegistry<sqlx::Postgres>,
    mut ctx: TenantCtx,
    first_id: i64,
    stop: Arc<AtomicBool>,
    refusals: Arc<AtomicU64>,
) -> Result<Vec<i64>, String> {
    let mut acked = Vec::new();
    let mut id = first_id;
    while !stop.load(Ordering::Relaxed) {
        let attempt = async {
            let mut tx = pools.begin(&ctx).await?;
            tx.repo::<Document>()
                .insert(
                    &ctx,
                    NewDocument {
                        id,
                        title: format!("doc {id}"),
                    },
                )
                .await?;
            tx.commit().await
        };
        match attempt.await {
            Ok(()) => {
                acked.push(id);
                id += 1;
            }
            Err(SqlError::Fenced { .. }) => {
                refusals.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(SqlError::Moved { .. }) => {
                refusals.fetch_add(1, Ordering::Relaxed);
                let record = registry
                    .find_by_id(ctx.tenant_id())
                    .await
                    .map_err(|e| e.to_string())?
                    .ok_or("the tenant vanished")?;
                ctx = ctx.with_placement(record.placement);
            }
            Err(other) => return Err(format!("write {id}: {other}")),
        }
    }
    Ok(acked)
}

/// The neighbour's writer: any error at all fails the test.
async fn write_beside(
    pools: PoolSet<sqlx::Postgres>,
    ctx: TenantCtx,
    stop: Arc<AtomicBool>,
) -> Result<Vec<i64>, String> {
    let mut acked = Vec::new();
    let mut id = 1;
    while !stop.load(Ordering::Relaxed) {
        let mut tx = pools.begin(&ctx).await.map_err(|e| format!("neighbour: {e}"))?;
        tx.repo::<Document>()
            .insert(&ctx, NewDocument { id, title: "n".into() })
            .await
            .map_err(|e| format!("neighbour: {e}"))?;
        tx.commit().await.map_err(|e| format!("neighbour: {e}"))?;
        acked.push(id);
        id += 1;
    }
    Ok(acked)
}

async fn document_ids(pool: &PgPool, schema: Option<&str>, tenant: &TenantId) -> Result<Vec<i64>, sqlx::Error> {
    let table = match schema {
        Some(schema) => format!("{schema}.documents"),
        None => "documents".to_owned(),
    };
    sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT id FROM {table} WHERE tenant_id = $1 ORDER BY id"
    )))
    .bind(tenant.as_str())
    .fetch_all(pool)
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_moves_between_tiers_under_load() -> Result<(), Box<dyn Error>> {
    let Some(address) = tenant_test_support::server_var("TEMPORAL_ADDRESS", "the move test")
    else {
        return Ok(());
    };
    let Some(database_url) = tenant_test_support::server_var("DATABASE_URL", "the move test")
    else {
        return Ok(());
    };
    // A fresh schema: the registry's and the shared tables'.
    let Some(pool) = tenant_test_support::postgres("the move test").await else {
        return Ok(());
    };
    let run = unique();
    let moving: TenantId = format!("mv-{run}").parse()?;
    let neighbour: TenantId = format!("nb-{run}").parse()?;
    // The tenant's own database, named after it (the `own` label's URL is a template).
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE \"{moving}\"")))
        .execute(&pool)
        .await?;
    let outcome = scenario(&address, &database_url, &pool, run, &moving, &neighbour).await;
    sqlx::query(AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{moving}\" WITH (FORCE)"
    )))
    .execute(&pool)
    .await?;
    sqlx::query(AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS tenant_mv_{run} CASCADE"
    )))
    .execute(&pool)
    .await?;
    outcome
}

async fn scenario(
    address: &str,
    database_url: &str,
    pool: &PgPool,
    run: u64,
    moving: &TenantId,
    neighbour: &TenantId,
) -> Result<(), Box<dyn Error>> {
    let client: Client = provisioning::connect(address).await?;
    let fleet = Fleet::new(format!("move-{run}"));
    let activities = Provisioning::for_fleet(fleet.clone(), pool.clone(), CLAIM_KEYS.parse()?).await?;
    let registry = SqlRegistry::new(pool.clone());
    let provision = ProvisionCtx::new("the move test: shared tables")?;
    provisioning::tenant_schema().install(&provision, pool).await?;
    PlacementFence::new(pool).install().await?;
    let mut ctxs = Vec::new();
    for (id, schema) in [(moving, format!("tenant_mv_{run}")), (neighbour, format!("tenant_nb_{run}"))] {
        let record = registry
            .create(NewTenant {
                id: id.clone(),
                slug: id.clone(),
                name: id.to_string(),
                plan: Plan::Free,
                schema_name: schema.parse()?,
            })
            .await?;
        PlacementFence::new(pool).place(id, Tier::Shared, false).await?;
        ctxs.push(TenantCtx::trusted(id.clone(), record.schema_name, Plan::Free));
    }
    let (moving_ctx, neighbour_ctx) = (ctxs[0].clone(), ctxs[1].clone());
    let (base, _) = database_url
        .rsplit_once('/')
        .ok_or("DATABASE_URL has no database name")?;
    let pools = PoolSet::<sqlx::Postgres>::builder()
        .database("main".parse()?, pool.clone())
        .url("own".parse()?, &format!("{base}/{{tenant}}"))?
        .build()?;

    // Rows with children before the load starts.
    let mut tx = pools.begin(&moving_ctx).await?;
    for id in 0..50 {
        tx.repo::<Document>()
            .insert(&moving_ctx, NewDocument { id: -1 - id, title: "seed".into() })
            .await?;
        tx.repo::<Comment>()
            .insert(&moving_ctx, NewComment { id, document_id: -1 - id, body: "c".into() })
            .await?;
    }
    tx.commit().await?;

    let mover = Mover::new(
        fleet.clone(),
        pools.clone(),
        registry.clone(),
        provisioning::tenant_schema(),
        provisioning::move_tables(),
        CLAIM_KEYS.parse()?,
    );
    let stop = Arc::new(AtomicBool::new(false));
    let refusals = Arc::new(AtomicU64::new(0));
    let writer = tokio::spawn(write_through_moves(
        pools.clone(),
        registry.clone(),
        moving_ctx.clone(),
        1,
        stop.clone(),
        refusals.clone(),
    ));
    let beside = tokio::spawn(write_beside(pools.clone(), neighbour_ctx.clone(), stop.clone()));

    let path: [Placement; 4] = [
        "main/shared".parse()?,
        "main/schema".parse()?,
        "own/database".parse()?,
        "main/shared".parse()?,
    ];
    let moves = provisioning::with_move_workers(&client, &activities, &mover, async {
        let mut reports = Vec::new();
        for (leg, to) in path.iter().skip(1).enumerate() {
            let started = Instant::now();
            let request = mover.move_request(moving, to, Duration::from_secs(1)).await?;
            let id = format!("move-{moving}-{leg}");
            let options = fleet.workflow_route(&moving_ctx).workflow_start_options(id);
            let handle = client
                .start_workflow(MoveTenant::run, request.into(), options)
                .await?;
            let report = handle.get_result(WorkflowGetResultOptions::default()).await?;
            eprintln!("move {leg} to {to}: {:?} in {:?}", report, started.elapsed());
            // Writes go on after the move too, at the target.
            tokio::time::sleep(Duration::from_millis(200)).await;
            reports.push(report);
        }
        Ok(reports)
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    let acked = writer.await?.map_err(|e| format!("moving tenant's writer: {e}"))?;
    let neighbour_acked = beside.await?.map_err(|e| format!("neighbour's writer: {e}"))?;
    let reports = moves?;

    // The registry places the tenant back in the shared tables; every acknowledged write is
    // there once, and nothing else is.
    let record = registry.find_by_id(moving).await?.ok_or("no record")?;
    assert_eq!(record.placement, path[3]);
    let at_target = document_ids(pool, None, moving).await?;
    let mut expected: BTreeSet<i64> = acked.iter().copied().collect();
    expected.extend((0..50).map(|id| -1 - id));
    assert_eq!(at_target.len(), expected.len(), "a document twice or missing");
    assert_eq!(at_target.iter().copied().collect::<BTreeSet<_>>(), expected);
    assert!(acked.len() > 10, "the writer wrote too little to prove anything: {acked:?}");
    // The sources hold nothing of the tenant after their cleanup.
    let schema = format!("tenant_mv_{run}");
    assert_eq!(document_ids(pool, Some(&schema), moving).await?, Vec::<i64>::new());
    let own = PgPool::connect(&format!("{base}/{moving}")).await?;
    assert_eq!(document_ids(&own, None, moving).await?, Vec::<i64>::new());
    own.close().await;
    // Each move copied and verified the children with their parents.
    for report in &reports {
        let comments = report
            .verified
            .iter()
            .find(|sum| sum.table == "comments")
            .ok_or("no comments verified")?;
        assert_eq!(comments.rows, 50);
        assert_eq!(report.deleted, report.copied, "{report:?}");
    }
    // The neighbour never noticed.
    assert_eq!(document_ids(pool, None, neighbour).await?, neighbour_acked);
    assert!(refusals.load(Ordering::Relaxed) > 0, "the writer was never fenced");
    Ok(())
}
