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
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use provisioning::{
    Comment, Document, Fleet, MoveStep, MoveTenant, Mover, NewComment, NewDocument, Provisioning,
    StepEvent,
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
        let mut tx = pools
            .begin(&ctx)
            .await
            .map_err(|e| format!("neighbour: {e}"))?;
        tx.repo::<Document>()
            .insert(
                &ctx,
                NewDocument {
                    id,
                    title: "n".into(),
                },
            )
            .await
            .map_err(|e| format!("neighbour: {e}"))?;
        tx.commit().await.map_err(|e| format!("neighbour: {e}"))?;
        acked.push(id);
        id += 1;
    }
    Ok(acked)
}

async fn document_ids(
    pool: &PgPool,
    schema: Option<&str>,
    tenant: &TenantId,
) -> Result<Vec<i64>, sqlx::Error> {
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
    let Some(address) = tenant_test_support::server_var("TEMPORAL_ADDRESS", "the move test") else {
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
    let activities =
        Provisioning::for_fleet(fleet.clone(), pool.clone(), CLAIM_KEYS.parse()?).await?;
    let registry = SqlRegistry::new(pool.clone());
    let provision = ProvisionCtx::new("the move test: shared tables")?;
    provisioning::tenant_schema()
        .install(&provision, pool)
        .await?;
    PlacementFence::new(pool).install().await?;
    let mut ctxs = Vec::new();
    for (id, schema) in [
        (moving, format!("tenant_mv_{run}")),
        (neighbour, format!("tenant_nb_{run}")),
    ] {
        let record = registry
            .create(NewTenant {
                id: id.clone(),
                slug: id.clone(),
                name: id.to_string(),
                plan: Plan::Free,
                schema_name: schema.parse()?,
            })
            .await?;
        PlacementFence::new(pool)
            .place(id, Tier::Shared, false)
            .await?;
        ctxs.push(TenantCtx::trusted(
            id.clone(),
            record.schema_name,
            Plan::Free,
        ));
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
            .insert(
                &moving_ctx,
                NewDocument {
                    id: -1 - id,
                    title: "seed".into(),
                },
            )
            .await?;
        tx.repo::<Comment>()
            .insert(
                &moving_ctx,
                NewComment {
                    id,
                    document_id: -1 - id,
                    body: "c".into(),
                },
            )
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
    // Every process's consumer of the move's events (here one), its group there before the moves.
    let mut consumer = None;
    let mover = match tenant_test_support::server_var("REDIS_URL", "the move's events") {
        Some(url) => {
            let conn = redis::Client::open(url.as_str())?
                .get_multiplexed_async_connection()
                .await?;
            let events = provisioning::Events::new(
                conn,
                format!("tenant-moves-{run}"),
                Arc::new(CLAIM_KEYS.parse::<tenant::SigningKeys>()?),
            );
            let group = events.consumer("caches", "process-1");
            group.ensure_group().await?;
            consumer = Some(group);
            mover.with_events(events)
        }
        None => mover,
    };
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
    let beside = tokio::spawn(write_beside(
        pools.clone(),
        neighbour_ctx.clone(),
        stop.clone(),
    ));

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
            let request = mover
                .move_request(moving, to, Duration::from_secs(1))
                .await?;
            let id = format!("move-{moving}-{leg}");
            let options = fleet.workflow_route(&moving_ctx).workflow_start_options(id);
            let handle = client
                .start_workflow(MoveTenant::run, request.into(), options)
                .await?;
            let report = handle
                .get_result(WorkflowGetResultOptions::default())
                .await?;
            eprintln!(
                "move {leg} to {to}: {:?} in {:?}",
                report,
                started.elapsed()
            );
            // Writes go on after the move too, at the target.
            tokio::time::sleep(Duration::from_millis(200)).await;
            reports.push(report);
        }
        Ok(reports)
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    let acked = writer
        .await?
        .map_err(|e| format!("moving tenant's writer: {e}"))?;
    let neighbour_acked = beside
        .await?
        .map_err(|e| format!("neighbour's writer: {e}"))?;
    let reports = moves?;

    // The registry places the tenant back in the shared tables; every acknowledged write is
    // there once, and nothing else is.
    let record = registry.find_by_id(moving).await?.ok_or("no record")?;
    assert_eq!(record.placement, path[3]);
    let at_target = document_ids(pool, None, moving).await?;
    let mut expected: BTreeSet<i64> = acked.iter().copied().collect();
    expected.extend((0..50).map(|id| -1 - id));
    assert_eq!(
        at_target.len(),
        expected.len(),
        "a document twice or missing"
    );
    assert_eq!(at_target.iter().copied().collect::<BTreeSet<_>>(), expected);
    assert!(
        acked.len() > 10,
        "the writer wrote too little to prove anything: {acked:?}"
    );
    // The sources hold nothing of the tenant after their cleanup.
    let schema = format!("tenant_mv_{run}");
    assert_eq!(
        document_ids(pool, Some(&schema), moving).await?,
        Vec::<i64>::new()
    );
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
    // Every process was told, once per move, by a signed event its consumer verified.
    if let Some(mut consumer) = consumer {
        let seen = std::sync::Mutex::new(Vec::new());
        for _ in 0..5 {
            consumer
                .poll(&registry, |ctx, changed: provisioning::PlacementChanged| {
                    // A service's consumer calls `CachedRegistry::invalidate` here.
                    seen.lock()
                        .unwrap()
                        .push((ctx.tenant_id().clone(), changed.placement));
                    async { Ok::<(), String>(()) }
                })
                .await?;
            if seen.lock().unwrap().len() >= 3 {
                break;
            }
        }
        let expected: Vec<(TenantId, String)> = path[1..]
            .iter()
            .map(|to| (moving.clone(), to.to_string()))
            .collect();
        assert_eq!(seen.into_inner().unwrap(), expected);
    }
    assert!(
        refusals.load(Ordering::Relaxed) > 0,
        "the writer was never fenced"
    );
    Ok(())
}

/// The variables of a move worker process ([`move_worker_process`]).
const SERVE_PREFIX: &str = "MOVE_SERVE_PREFIX";
const SERVE_SLOW_STEP: &str = "MOVE_SERVE_SLOW_STEP";
const SERVE_OWN_TEMPLATE: &str = "MOVE_SERVE_OWN_TEMPLATE";
/// Which steps the worker-kill test kills a worker in: `copy` unless `MOVE_KILL_STEPS` says
/// `all` or lists them (`prepare,fence,...`).
const KILL_STEPS: &str = "MOVE_KILL_STEPS";

fn step_named(name: &str) -> Result<MoveStep, Box<dyn Error>> {
    Ok(serde_json::from_value(serde_json::Value::String(
        name.to_owned(),
    ))?)
}

/// The body of the worker process the worker-kill test spawns (this binary again, only this
/// function selected): the fleet's workers with the move's activities, `MOVE_SERVE_SLOW_STEP`
/// made to take two minutes, printing `move-step {step} {attempt}` as each attempt starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the worker process the move's worker-kill test spawns"]
async fn move_worker_process() -> Result<(), Box<dyn Error>> {
    let prefix = std::env::var(SERVE_PREFIX).map_err(|_| format!("{SERVE_PREFIX} is not set"))?;
    let slow = step_named(&std::env::var(SERVE_SLOW_STEP)?)?;
    let pool = PgPool::connect(&std::env::var("DATABASE_URL")?).await?;
    let fleet = Fleet::new(prefix);
    let keys: tenant::SigningKeys = CLAIM_KEYS.parse()?;
    let activities = Provisioning::for_fleet(fleet.clone(), pool.clone(), keys.clone()).await?;
    let pools = PoolSet::<sqlx::Postgres>::builder()
        .database("main".parse()?, pool.clone())
        .url("own".parse()?, &std::env::var(SERVE_OWN_TEMPLATE)?)?
        .build()?;
    let mover = Mover::new(
        fleet,
        pools,
        SqlRegistry::new(pool),
        provisioning::tenant_schema(),
        provisioning::move_tables(),
        keys,
    )
    .with_slow_step(slow, Duration::from_secs(120))
    .with_observer(|step, attempt, event| {
        if event == StepEvent::Started {
            println!("move-step {} {attempt}", step.as_str());
        }
    });
    let client = provisioning::connect(&std::env::var("TEMPORAL_ADDRESS")?).await?;
    println!("serving");
    provisioning::with_move_workers(&client, &activities, &mover, std::future::pending()).await
}

/// A move whose worker process is SIGKILLed in the middle of a step: a fresh worker finishes
/// it, with the same result as a move nobody killed (every row at the target once, the source
/// empty, the registry switched, the tenant writable at the target). While the killed step
/// waits to be retried, the tenant is refused with `Fenced` or served where it was, never
/// lost. In CI the copy; `MOVE_KILL_STEPS=all` kills one worker in each step, one move each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_resumes_after_its_worker_is_killed() -> Result<(), Box<dyn Error>> {
    let Some(address) = tenant_test_support::server_var("TEMPORAL_ADDRESS", "the move kill test")
    else {
        return Ok(());
    };
    let Some(database_url) = tenant_test_support::server_var("DATABASE_URL", "the move kill test")
    else {
        return Ok(());
    };
    let Some(pool) = tenant_test_support::postgres("the move kill test").await else {
        return Ok(());
    };
    let steps: Vec<MoveStep> = match std::env::var(KILL_STEPS).as_deref() {
        Err(_) => vec![MoveStep::Copy],
        Ok("all") => vec![
            MoveStep::Prepare,
            MoveStep::Fence,
            MoveStep::Copy,
            MoveStep::Verify,
            MoveStep::Switch,
            MoveStep::Unfence,
            MoveStep::Cleanup,
        ],
        Ok(list) => list.split(',').map(step_named).collect::<Result<_, _>>()?,
    };
    let schema: String = sqlx::query_scalar("SELECT current_schema()::text")
        .fetch_one(&pool)
        .await?;
    let (base, _) = database_url
        .rsplit_once('/')
        .ok_or("DATABASE_URL has no database name")?;
    let own_template = format!("{base}/{{tenant}}");
    let provision = ProvisionCtx::new("the move kill test: shared tables")?;
    provisioning::tenant_schema()
        .install(&provision, &pool)
        .await?;
    PlacementFence::new(&pool).install().await?;
    let registry = SqlRegistry::new(pool.clone());
    registry.migrate().await?;
    let client: Client = provisioning::connect(&address).await?;
    for step in steps {
        let run = unique();
        let tenant: TenantId = format!("mk-{run}").parse()?;
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE \"{tenant}\"")))
            .execute(&pool)
            .await?;
        let outcome = killed_in(
            step,
            &client,
            &address,
            &database_url,
            &schema,
            &own_template,
            &pool,
            &registry,
            run,
            &tenant,
        )
        .await;
        sqlx::query(AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS \"{tenant}\" WITH (FORCE)"
        )))
        .execute(&pool)
        .await?;
        outcome.map_err(|e| format!("killed in {step:?}: {e}"))?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn killed_in(
    step: MoveStep,
    client: &Client,
    address: &str,
    database_url: &str,
    schema: &str,
    own_template: &str,
    pool: &PgPool,
    registry: &SqlRegistry<sqlx::Postgres>,
    run: u64,
    tenant: &TenantId,
) -> Result<(), Box<dyn Error>> {
    let fleet = Fleet::new(format!("mkill-{run}"));
    let record = registry
        .create(NewTenant {
            id: tenant.clone(),
            slug: tenant.clone(),
            name: tenant.to_string(),
            plan: Plan::Free,
            schema_name: format!("tenant_mk_{run}").parse()?,
        })
        .await?;
    PlacementFence::new(pool)
        .place(tenant, Tier::Shared, false)
        .await?;
    let ctx = TenantCtx::trusted(tenant.clone(), record.schema_name, Plan::Free);
    let pools = PoolSet::<sqlx::Postgres>::builder()
        .database("main".parse()?, pool.clone())
        .url("own".parse()?, own_template)?
        .build()?;
    let mut tx = pools.begin(&ctx).await?;
    for id in 0..100 {
        tx.repo::<Document>()
            .insert(
                &ctx,
                NewDocument {
                    id,
                    title: "seed".into(),
                },
            )
            .await?;
        tx.repo::<Comment>()
            .insert(
                &ctx,
                NewComment {
                    id,
                    document_id: id,
                    body: "c".into(),
                },
            )
            .await?;
    }
    tx.commit().await?;

    // Worker A: a process of its own, the step made slow; killed once it is in it.
    let separator = if database_url.contains('?') { '&' } else { '?' };
    let mut child = Command::new(std::env::current_exe()?)
        .args(["move_worker_process", "--exact", "--ignored", "--nocapture"])
        .env("TEMPORAL_ADDRESS", address)
        .env(
            "DATABASE_URL",
            format!("{database_url}{separator}options=-c%20search_path%3D{schema}"),
        )
        .env(SERVE_PREFIX, fleet.prefix())
        .env(SERVE_SLOW_STEP, step.as_str().trim_start_matches("move_"))
        .env(SERVE_OWN_TEMPLATE, own_template)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let (lines, seen) = std::sync::mpsc::channel();
    let out = BufReader::new(child.stdout.take().ok_or("no stdout")?);
    std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            eprintln!("[worker A] {line}");
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let wait_for = |wanted: String| -> Result<(), Box<dyn Error>> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = seen
                .recv_timeout(left)
                .map_err(|_| format!("worker A never printed `{wanted}`"))?;
            if line == wanted {
                return Ok(());
            }
        }
    };
    let outcome = async {
        wait_for("serving".into())?;
        let keys: tenant::SigningKeys = CLAIM_KEYS.parse()?;
        let activities = Provisioning::for_fleet(fleet.clone(), pool.clone(), keys.clone()).await?;
        let mover = Mover::new(
            fleet.clone(),
            pools.clone(),
            registry.clone(),
            provisioning::tenant_schema(),
            provisioning::move_tables(),
            keys,
        );
        let to: Placement = "own/database".parse()?;
        let request = mover.move_request(tenant, &to, Duration::ZERO).await?;
        let options = fleet
            .workflow_route(&ctx)
            .workflow_start_options(format!("move-kill-{tenant}"));
        let handle = client
            .start_workflow(MoveTenant::run, request.into(), options)
            .await?;
        wait_for(format!("move-step {} 1", step.as_str()))?;
        // SIGKILL: no shutdown, no goodbye to the server.
        child.kill()?;
        child.wait()?;
        // Worker B, in this process, at full speed.
        let report = tokio::time::timeout(
            Duration::from_secs(90),
            provisioning::with_move_workers(client, &activities, &mover, async {
                Ok(handle
                    .get_result(WorkflowGetResultOptions::default())
                    .await?)
            }),
        )
        .await
        .map_err(|_| "the move did not finish within 90 s of the kill")??;
        assert_eq!(report.copied, 200, "{report:?}");
        assert_eq!(report.deleted, 200, "{report:?}");
        let record = registry.find_by_id(tenant).await?.ok_or("no record")?;
        assert_eq!(record.placement, to);
        let own = PgPool::connect(&own_template.replace("{tenant}", tenant.as_str())).await?;
        assert_eq!(
            document_ids(&own, None, tenant).await?,
            (0..100).collect::<Vec<i64>>()
        );
        own.close().await;
        assert_eq!(document_ids(pool, None, tenant).await?, Vec::<i64>::new());
        // The tenant writes at its new place.
        let moved = ctx.clone().with_placement(to);
        let mut tx = pools.begin(&moved).await?;
        tx.repo::<Document>()
            .insert(
                &moved,
                NewDocument {
                    id: 100,
                    title: "after".into(),
                },
            )
            .await?;
        tx.commit().await?;
        Ok::<(), Box<dyn Error>>(())
    }
    .await;
    let _ = child.kill();
    let _ = child.wait();
    outcome
}

/// The size of the measured moves (`MOVE_BENCH_ROWS`, e.g. 100000): unset, the measurement
/// does not run (it takes minutes).
const BENCH_ROWS: &str = "MOVE_BENCH_ROWS";

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// BENCHMARKS.md's move rows: a tenant of `MOVE_BENCH_ROWS` rows (half documents, half their
/// comments) moved 5 times between the shared tables and its own database, under a write load
/// of its own and a neighbour's; prints each move's total time, the moving tenant's longest
/// stretch without an acknowledged write (the write-unavailability window), and the
/// neighbour's p99 write latency before and during the moves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn measure_moves() -> Result<(), Box<dyn Error>> {
    let Ok(rows) = std::env::var(BENCH_ROWS) else {
        eprintln!("notice: {BENCH_ROWS} is not set: the move measurement does not run");
        return Ok(());
    };
    let rows: i64 = rows.parse()?;
    let (Some(address), Some(database_url)) = (
        tenant_test_support::server_var("TEMPORAL_ADDRESS", "the move measurement"),
        tenant_test_support::server_var("DATABASE_URL", "the move measurement"),
    ) else {
        return Ok(());
    };
    let Some(pool) = tenant_test_support::postgres("the move measurement").await else {
        return Ok(());
    };
    let run = unique();
    let moving: TenantId = format!("mb-{run}").parse()?;
    let neighbour: TenantId = format!("nb-{run}").parse()?;
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE \"{moving}\"")))
        .execute(&pool)
        .await?;
    let outcome = measure(
        &address,
        &database_url,
        &pool,
        run,
        rows,
        &moving,
        &neighbour,
    )
    .await;
    sqlx::query(AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{moving}\" WITH (FORCE)"
    )))
    .execute(&pool)
    .await?;
    outcome
}

#[allow(clippy::too_many_arguments)]
async fn measure(
    address: &str,
    database_url: &str,
    pool: &PgPool,
    run: u64,
    rows: i64,
    moving: &TenantId,
    neighbour: &TenantId,
) -> Result<(), Box<dyn Error>> {
    let client: Client = provisioning::connect(address).await?;
    let fleet = Fleet::new(format!("mbench-{run}"));
    let keys: tenant::SigningKeys = CLAIM_KEYS.parse()?;
    let activities = Provisioning::for_fleet(fleet.clone(), pool.clone(), keys.clone()).await?;
    let registry = SqlRegistry::new(pool.clone());
    let provision = ProvisionCtx::new("the move measurement: shared tables")?;
    provisioning::tenant_schema()
        .install(&provision, pool)
        .await?;
    PlacementFence::new(pool).install().await?;
    let mut ctxs = Vec::new();
    for id in [moving, neighbour] {
        let record = registry
            .create(NewTenant {
                id: id.clone(),
                slug: id.clone(),
                name: id.to_string(),
                plan: Plan::Free,
                schema_name: format!("tenant_{}", id.as_str().replace('-', "_")).parse()?,
            })
            .await?;
        PlacementFence::new(pool)
            .place(id, Tier::Shared, false)
            .await?;
        ctxs.push(TenantCtx::trusted(
            id.clone(),
            record.schema_name,
            Plan::Free,
        ));
    }
    let half = rows / 2;
    sqlx::query(
        "INSERT INTO documents (id, tenant_id, title) \
         SELECT -g, $1, 'document ' || g FROM generate_series(1, $2) AS g",
    )
    .bind(moving.as_str())
    .bind(half)
    .execute(pool)
    .await?;
    sqlx::query(
        "INSERT INTO comments (id, tenant_id, document_id, body) \
         SELECT g, $1, -g, 'a comment on document ' || g FROM generate_series(1, $2) AS g",
    )
    .bind(moving.as_str())
    .bind(half)
    .execute(pool)
    .await?;
    let (base, _) = database_url.rsplit_once('/').ok_or("no database name")?;
    let pools = PoolSet::<sqlx::Postgres>::builder()
        .database("main".parse()?, pool.clone())
        .url("own".parse()?, &format!("{base}/{{tenant}}"))?
        .build()?;
    let mover = Mover::new(
        fleet.clone(),
        pools.clone(),
        registry.clone(),
        provisioning::tenant_schema(),
        provisioning::move_tables(),
        keys,
    );
    // The moving tenant's writer records when each write was acknowledged; the neighbour's,
    // how long each took.
    let stop = Arc::new(AtomicBool::new(false));
    let acks = Arc::new(std::sync::Mutex::new(Vec::<Instant>::new()));
    let writer = {
        let (pools, registry, stop, acks) =
            (pools.clone(), registry.clone(), stop.clone(), acks.clone());
        let mut ctx = ctxs[0].clone();
        tokio::spawn(async move {
            let mut id = 1i64;
            while !stop.load(Ordering::Relaxed) {
                let attempt = async {
                    let mut tx = pools.begin(&ctx).await?;
                    tx.repo::<Document>()
                        .insert(
                            &ctx,
                            NewDocument {
                                id,
                                title: "w".into(),
                            },
                        )
                        .await?;
                    tx.commit().await
                };
                match attempt.await {
                    Ok(()) => {
                        acks.lock().unwrap().push(Instant::now());
                        id += 1;
                    }
                    Err(SqlError::Fenced { .. }) => {
                        tokio::time::sleep(Duration::from_millis(2)).await
                    }
                    Err(SqlError::Moved { .. }) => {
                        let record = registry.find_by_id(ctx.tenant_id()).await?.ok_or("gone")?;
                        ctx = ctx.with_placement(record.placement);
                    }
                    Err(other) => {
                        return Err(Box::<dyn Error + Send + Sync>::from(other.to_string()));
                    }
                }
            }
            Ok::<(), Box<dyn Error + Send + Sync>>(())
        })
    };
    let latencies = Arc::new(std::sync::Mutex::new(Vec::<(Instant, Duration)>::new()));
    let beside = {
        let (pools, stop, latencies, ctx) = (
            pools.clone(),
            stop.clone(),
            latencies.clone(),
            ctxs[1].clone(),
        );
        tokio::spawn(async move {
            let mut id = 1i64;
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let mut tx = pools.begin(&ctx).await?;
                tx.repo::<Document>()
                    .insert(
                        &ctx,
                        NewDocument {
                            id,
                            title: "n".into(),
                        },
                    )
                    .await?;
                tx.commit().await?;
                latencies.lock().unwrap().push((started, started.elapsed()));
                id += 1;
                // About 200 writes a second: a neighbour's load, not a saturating one.
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Ok::<(), SqlError>(())
        })
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    let baseline_end = Instant::now();
    let path: [Placement; 2] = ["own/database".parse()?, "main/shared".parse()?];
    let spans = provisioning::with_move_workers(&client, &activities, &mover, async {
        let mut spans = Vec::new();
        for leg in 0..5 {
            let to = &path[leg % 2];
            let started = Instant::now();
            let request = mover.move_request(moving, to, Duration::ZERO).await?;
            let options = fleet
                .workflow_route(&ctxs[0])
                .workflow_start_options(format!("move-bench-{moving}-{leg}"));
            let handle = client
                .start_workflow(MoveTenant::run, request.into(), options)
                .await?;
            let report = handle
                .get_result(WorkflowGetResultOptions::default())
                .await?;
            // The seeded rows, and what the writer wrote before the fence.
            assert!(report.copied as i64 >= 2 * half, "{report:?}");
            spans.push((started, Instant::now()));
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Ok(spans)
    })
    .await?;
    stop.store(true, Ordering::Relaxed);
    writer.await?.map_err(|e| e.to_string())?;
    beside.await??;
    let acks = acks.lock().unwrap().clone();
    let mut windows = Vec::new();
    for (i, (start, end)) in spans.iter().enumerate() {
        let inside: Vec<Instant> = acks
            .iter()
            .copied()
            .filter(|t| t >= start && t <= end)
            .collect();
        let after = acks.iter().copied().find(|t| t > end);
        let mut longest = Duration::ZERO;
        let mut previous = *start;
        for t in inside.iter().copied().chain(after) {
            longest = longest.max(t - previous);
            previous = t;
        }
        windows.push(longest);
        println!(
            "move {i}: total {:?}, write-unavailability {:?}",
            *end - *start,
            longest
        );
    }
    windows.sort();
    let latencies = latencies.lock().unwrap().clone();
    let mut before: Vec<Duration> = latencies
        .iter()
        .filter(|(t, _)| *t < baseline_end)
        .map(|(_, d)| *d)
        .collect();
    let mut during: Vec<Duration> = latencies
        .iter()
        .filter(|(t, _)| spans.iter().any(|(s, e)| t >= s && t <= e))
        .map(|(_, d)| *d)
        .collect();
    before.sort();
    during.sort();
    println!(
        "rows {rows}: unavailability p50 {:?} max {:?}; neighbour p99 before {:?} ({} writes) during {:?} ({} writes)",
        percentile(&windows, 0.5),
        windows.last().copied().unwrap_or_default(),
        percentile(&before, 0.99),
        before.len(),
        percentile(&during, 0.99),
        during.len(),
    );
    Ok(())
}

/// How long the stopped-target test keeps the target's server down: longer than a step's
/// heartbeat timeout and the retry after it, so an attempt that waits for the server without
/// heartbeating would be timed out and a second attempt started beside it.
const TARGET_DOWN: Duration = Duration::from_secs(12);

/// A step attempt the observer saw begin or end.
type StepLog = Arc<std::sync::Mutex<Vec<(MoveStep, u32, StepEvent)>>>;

/// The attempts of one step that ran at the same time: `(step, running, starting)`.
fn overlapping_attempts(log: &[(MoveStep, u32, StepEvent)]) -> Vec<(MoveStep, u32, u32)> {
    let mut running: Vec<(MoveStep, u32)> = Vec::new();
    let mut overlaps = Vec::new();
    for &(step, attempt, event) in log {
        match event {
            StepEvent::Started => {
                overlaps.extend(
                    running
                        .iter()
                        .filter(|(s, _)| *s == step)
                        .map(|&(_, other)| (step, other, attempt)),
                );
                running.push((step, attempt));
            }
            StepEvent::Ended => running.retain(|&r| r != (step, attempt)),
        }
    }
    overlaps
}

/// The target's server (test-support's private `PgServer`) stops in the middle of the copy,
/// after its first batch, under write load, and starts again [`TARGET_DOWN`] later: the move
/// waits, the copy attempt that lost its connection failing with a retryable error and the
/// next one waiting for the server (heartbeating), and completes once the server is back.
/// Nothing is lost: every acknowledged write of the moving tenant is at the target exactly
/// once, where the registry places it, the source keeps none of its rows, the neighbour on the
/// source wrote all along without one error, and no two attempts of a step ran at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_waits_for_its_target_server_stopped_mid_copy() -> Result<(), Box<dyn Error>> {
    let test = "the move with its target stopped";
    let Some(address) = tenant_test_support::server_var("TEMPORAL_ADDRESS", test) else {
        return Ok(());
    };
    let Some(pool) = tenant_test_support::postgres(test).await else {
        return Ok(());
    };
    let Some(server) = tenant_test_support::PgServer::new(test) else {
        return Ok(());
    };
    let run = unique();
    let moving: TenantId = format!("ms-{run}").parse()?;
    let neighbour: TenantId = format!("ns-{run}").parse()?;
    let client: Client = provisioning::connect(&address).await?;
    let fleet = Fleet::new(format!("mstop-{run}"));
    let keys: tenant::SigningKeys = CLAIM_KEYS.parse()?;
    let activities = Provisioning::for_fleet(fleet.clone(), pool.clone(), keys.clone()).await?;
    let registry = SqlRegistry::new(pool.clone());
    let provision = ProvisionCtx::new("the stopped-target test: shared tables")?;
    provisioning::tenant_schema()
        .install(&provision, &pool)
        .await?;
    PlacementFence::new(&pool).install().await?;
    let target = PgPool::connect(&server.url()).await?;
    provisioning::tenant_schema()
        .install(&provision, &target)
        .await?;
    let mut ctxs = Vec::new();
    for id in [&moving, &neighbour] {
        let record = registry
            .create(NewTenant {
                id: id.clone(),
                slug: id.clone(),
                name: id.to_string(),
                plan: Plan::Free,
                schema_name: format!("tenant_{}", id.as_str().replace('-', "_")).parse()?,
            })
            .await?;
        PlacementFence::new(&pool)
            .place(id, Tier::Shared, false)
            .await?;
        ctxs.push(TenantCtx::trusted(
            id.clone(),
            record.schema_name,
            Plan::Free,
        ));
    }
    let (moving_ctx, neighbour_ctx) = (ctxs[0].clone(), ctxs[1].clone());
    let pools = PoolSet::<sqlx::Postgres>::builder()
        .database("main".parse()?, pool.clone())
        .database("eu".parse()?, target.clone())
        .build()?;

    // More rows than one batch of the copy (2,000), parents and children.
    const SEEDED: i64 = 2_500;
    let mut tx = pools.begin(&moving_ctx).await?;
    tx.repo::<Document>()
        .insert_many(
            &moving_ctx,
            (0..SEEDED).map(|id| NewDocument {
                id: -1 - id,
                title: "seed".into(),
            }),
        )
        .await?;
    tx.repo::<Comment>()
        .insert_many(
            &moving_ctx,
            (0..SEEDED).map(|id| NewComment {
                id,
                document_id: -1 - id,
                body: "c".into(),
            }),
        )
        .await?;
    tx.commit().await?;

    // The copy's first batch of its first attempt asks for the stop, and goes on once the
    // server is down: its next statement meets a dead connection.
    let (ask_stop, mut stop_asked) =
        tokio::sync::mpsc::unbounded_channel::<tokio::sync::oneshot::Sender<()>>();
    let asked = Arc::new(AtomicBool::new(false));
    let log: StepLog = Arc::default();
    let observed = Arc::clone(&log);
    let mover = Mover::new(
        fleet.clone(),
        pools.clone(),
        registry.clone(),
        provisioning::tenant_schema(),
        provisioning::move_tables(),
        keys,
    )
    .with_observer(move |step, attempt, event| {
        observed.lock().unwrap().push((step, attempt, event));
    })
    .with_copy_progress(move |attempt, rows| {
        let (ask_stop, asked) = (ask_stop.clone(), Arc::clone(&asked));
        Box::pin(async move {
            if attempt == 1 && rows > 0 && !asked.swap(true, Ordering::SeqCst) {
                let (stopped, wait) = tokio::sync::oneshot::channel();
                if ask_stop.send(stopped).is_ok() {
                    let _ = wait.await;
                }
            }
        })
    });
    let controller = tokio::spawn(async move {
        let stopped = tokio::time::timeout(Duration::from_secs(120), stop_asked.recv())
            .await
            .ok()
            .flatten();
        let Some(stopped) = stopped else {
            return (server, false);
        };
        let server = tokio::task::spawn_blocking(move || {
            let mut server = server;
            server.stop(tenant_test_support::PgStop::Immediate);
            server
        })
        .await
        .expect("stop the target server");
        let _ = stopped.send(());
        tokio::time::sleep(TARGET_DOWN).await;
        let server = tokio::task::spawn_blocking(move || {
            let mut server = server;
            server.start();
            server
        })
        .await
        .expect("start the target server");
        (server, true)
    });

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
    let beside = tokio::spawn(write_beside(
        pools.clone(),
        neighbour_ctx.clone(),
        stop.clone(),
    ));
    let to: Placement = "eu/shared".parse()?;
    let started = Instant::now();
    let report = provisioning::with_move_workers(&client, &activities, &mover, async {
        // Writes before the move starts, too.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let request = mover
            .move_request(&moving, &to, Duration::from_secs(1))
            .await?;
        let options = fleet
            .workflow_route(&moving_ctx)
            .workflow_start_options(format!("move-stop-{moving}"));
        let handle = client
            .start_workflow(MoveTenant::run, request.into(), options)
            .await?;
        let report = tokio::time::timeout(
            Duration::from_secs(180),
            handle.get_result(WorkflowGetResultOptions::default()),
        )
        .await
        .map_err(|_| "the move did not finish within 180 s")??;
        // Writes go on at the target after the move.
        tokio::time::sleep(Duration::from_millis(300)).await;
        Ok(report)
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    let acked = writer
        .await?
        .map_err(|e| format!("moving tenant's writer: {e}"))?;
    let neighbour_acked = beside
        .await?
        .map_err(|e| format!("neighbour's writer: {e}"))?;
    let (_server, was_stopped) = controller.await?;
    let report = report?;
    eprintln!(
        "moved with the target stopped mid-copy: {report:?} in {:?}, {} writes acknowledged, \
         {} refused",
        started.elapsed(),
        acked.len(),
        refusals.load(Ordering::Relaxed)
    );
    assert!(was_stopped, "the copy never reached its second batch");

    // The copy's first attempt failed when the server went away; a later one completed it.
    let log = log.lock().unwrap().clone();
    let copies = log
        .iter()
        .filter(|(step, _, event)| *step == MoveStep::Copy && *event == StepEvent::Started)
        .count();
    eprintln!("copy attempts: {copies}");
    assert!(copies >= 2, "the copy ran once: {log:?}");
    assert_eq!(
        overlapping_attempts(&log),
        Vec::new(),
        "two attempts of a step ran at once: {log:?}"
    );

    // Where the registry places the tenant, every acknowledged write once; nothing at the
    // source; the neighbour untouched.
    let record = registry.find_by_id(&moving).await?.ok_or("no record")?;
    assert_eq!(record.placement, to);
    let at_target = document_ids(&target, None, &moving).await?;
    let mut expected: BTreeSet<i64> = acked.iter().copied().collect();
    expected.extend((0..SEEDED).map(|id| -1 - id));
    assert_eq!(
        at_target.len(),
        expected.len(),
        "a document twice or missing"
    );
    assert_eq!(at_target.iter().copied().collect::<BTreeSet<_>>(), expected);
    let comments: i64 = sqlx::query_scalar("SELECT count(*) FROM comments WHERE tenant_id = $1")
        .bind(moving.as_str())
        .fetch_one(&target)
        .await?;
    assert_eq!(comments, SEEDED);
    assert_eq!(document_ids(&pool, None, &moving).await?, Vec::<i64>::new());
    assert_eq!(report.deleted, report.copied, "{report:?}");
    assert_eq!(
        document_ids(&pool, None, &neighbour).await?,
        neighbour_acked
    );
    assert!(
        !acked.is_empty() && !neighbour_acked.is_empty(),
        "the writers wrote nothing"
    );
    target.close().await;
    Ok(())
}
