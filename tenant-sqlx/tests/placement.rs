//! Placement: the pool set routes a context to its tenant's database, and the placement fence
//! of each database refuses a tenant it does not hold (`Moved`) or holds fenced (`Fenced`).
//!
//! On PostgreSQL the tests start two private clusters (test-support's `PgServer`): a tenant
//! moves from one to the other under a process whose registry cache still points at the first.
//! On SQLite they use files, one per tenant for the database-per-tenant tier.

#![allow(missing_docs)] // test entities

use tenant_test_support as support;

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::SqlitePoolOptions;
use sqlx::{PgPool, SqlitePool};
use tenant::sqlx::{
    Error, NewTenant, PlacementFence, PoolSet, SqlRegistry, TablesAt, TenantCopy, TenantTx,
};
use tenant::{
    CachedRegistry, Plan, SystemCtx, TenancyConfig, TenantClaim, TenantCtx, TenantId, Tier,
    tenant_scoped,
};

#[tenant_scoped(table = "placed_notes")]
#[derive(Debug, Clone, PartialEq)]
pub struct PlacedNote {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    pub body: String,
}

fn id(text: &str) -> TenantId {
    text.parse().unwrap()
}

fn note(id: i64, body: &str) -> NewPlacedNote {
    NewPlacedNote {
        id,
        body: body.into(),
    }
}

fn new_tenant(tenant: &str) -> NewTenant {
    NewTenant {
        id: id(tenant),
        slug: id(tenant),
        name: tenant.into(),
        plan: Plan::Free,
        schema_name: format!("tenant_{tenant}").parse().unwrap(),
    }
}

async fn pg_pool(url: &str) -> PgPool {
    PgPoolOptions::new()
        .max_connections(4)
        .connect(url)
        .await
        .unwrap()
}

/// A database ready for placed tenants: the fence installed, the notes table created.
async fn prepare_pg(pool: &PgPool) {
    PlacementFence::new(pool).install().await.unwrap();
    PlacedNoteRepo::new(pool).create_table().await.unwrap();
}

/// A stale process (its registry cached with an hour's TTL) writes after the tenant moved from
/// `main` to `eu`: refused with `Moved`, nothing lands in `main`; its cache drops the tenant,
/// a new verification routes to `eu`, and the retry succeeds there. A fenced tenant's
/// transactions get `Fenced` while its neighbours on the same database proceed, and the fence
/// waits for a transaction that was already running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_process_is_refused_after_the_switch_and_succeeds_after_refresh() {
    let Some(main_server) = support::PgServer::new("placement: two PostgreSQL servers") else {
        return;
    };
    let Some(eu_server) = support::PgServer::new("placement: two PostgreSQL servers") else {
        return;
    };
    let main = pg_pool(&main_server.url()).await;
    let eu = pg_pool(&eu_server.url()).await;
    prepare_pg(&main).await;
    prepare_pg(&eu).await;

    // The registry lives on `main`; both tenants start there.
    let registry = SqlRegistry::new(main.clone());
    registry.migrate().await.unwrap();
    for tenant in ["acme", "globex"] {
        registry.create(new_tenant(tenant)).await.unwrap();
        PlacementFence::new(&main)
            .place(&id(tenant), Tier::Shared, false)
            .await
            .unwrap();
    }

    // The stale process: its own cache of the registry and its own pool set.
    let cached = Arc::new(CachedRegistry::new(
        SqlRegistry::new(main.clone()),
        Duration::from_secs(3600),
        100,
    ));
    let hook = Arc::clone(&cached);
    let pools = PoolSet::builder()
        .database("main".parse().unwrap(), main.clone())
        .database("eu".parse().unwrap(), eu.clone())
        .on_moved(move |tenant| hook.invalidate(tenant))
        .build()
        .unwrap();
    let config = TenancyConfig::default();
    let verify = |tenant: &'static str| {
        let cached = Arc::clone(&cached);
        let config = config.clone();
        async move {
            TenantClaim::new(id(tenant))
                .verify(&*cached, &config)
                .await
                .unwrap()
        }
    };

    let acme = verify("acme").await;
    let globex = verify("globex").await;
    assert_eq!(acme.placement().to_string(), "main/shared");
    let mut tx = pools.begin(&acme).await.unwrap();
    tx.repo::<PlacedNote>()
        .insert(&acme, note(1, "before the move"))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    // The move, by another process: place at the target fenced, fence the source (it waits
    // for acme's transaction that is running now), copy, switch, unplace, unfence.
    let running = pools.begin(&acme).await.unwrap();
    let source = PlacementFence::new(&main);
    let target = PlacementFence::new(&eu);
    target.place(&id("acme"), Tier::Shared, true).await.unwrap();
    let fencing = {
        let main = main.clone();
        tokio::spawn(async move { PlacementFence::new(&main).fence(&id("acme")).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !fencing.is_finished(),
        "the fence returned while a transaction of the tenant was still running"
    );
    running.commit().await.unwrap();
    assert!(fencing.await.unwrap().unwrap());
    assert!(
        source.fence(&id("acme")).await.unwrap(),
        "fence is idempotent"
    );

    // Fenced: acme is refused, its neighbour on the same database is not.
    assert!(matches!(
        pools.begin(&acme).await,
        Err(Error::Fenced { tenant }) if tenant.as_str() == "acme"
    ));
    let mut neighbour = pools.begin(&globex).await.unwrap();
    neighbour
        .repo::<PlacedNote>()
        .insert(&globex, note(1, "neighbour during the move"))
        .await
        .unwrap();
    neighbour.commit().await.unwrap();

    let rows = PlacedNoteRepo::new(&main).list(&acme).await.unwrap();
    let copy: Vec<_> = rows.iter().map(|row| note(row.id, &row.body)).collect();
    PlacedNoteRepo::new(&eu)
        .insert_many(&acme, copy)
        .await
        .unwrap();
    assert!(
        registry
            .place(&id("acme"), &"eu/shared".parse().unwrap())
            .await
            .unwrap()
    );
    assert!(source.unplace(&id("acme")).await.unwrap());
    assert!(!source.unplace(&id("acme")).await.unwrap(), "idempotent");
    assert!(target.unfence(&id("acme")).await.unwrap());

    // The stale process still routes acme to `main`: refused, and nothing written there.
    let stale = verify("acme").await;
    assert_eq!(stale.placement().to_string(), "main/shared");
    assert!(
        matches!(pools.begin(&stale).await, Err(Error::Moved { tenant }) if tenant.as_str() == "acme")
    );
    assert_eq!(PlacedNoteRepo::new(&main).count(&acme).await.unwrap(), 1);

    // `Moved` told the hook: the cache dropped acme, verification reads `eu`, the retry works.
    assert!(!cached.is_cached_by_id(&id("acme")));
    let fresh = verify("acme").await;
    assert_eq!(fresh.placement().to_string(), "eu/shared");
    let mut tx = pools.begin(&fresh).await.unwrap();
    tx.repo::<PlacedNote>()
        .insert(&fresh, note(2, "after the move"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(PlacedNoteRepo::new(&eu).count(&fresh).await.unwrap(), 2);
    assert_eq!(PlacedNoteRepo::new(&main).count(&fresh).await.unwrap(), 1);
    // The neighbour never moved and never noticed.
    assert_eq!(PlacedNoteRepo::new(&main).count(&globex).await.unwrap(), 1);

    // A system read fans out over both databases: acme's source rows (until the grace period
    // ends) and copy, and globex's row.
    let sys = SystemCtx::new("placement test: count over every database").unwrap();
    assert_eq!(pools.system_count::<PlacedNote>(&sys).await.unwrap(), 4);
    assert_eq!(
        pools.system_tenant_ids::<PlacedNote>(&sys).await.unwrap(),
        [id("acme"), id("globex")]
    );
}

/// Who chooses each value the fence compares: the tenant is the context's, the answer is the
/// row of the database the statement runs on. A context placed by the caller on a database
/// that does not hold its tenant is refused; the application role cannot write the placement
/// table to let itself in, and still passes the check through `enter` (SECURITY DEFINER).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_placement_check_cannot_be_skipped_by_the_caller() {
    let Some(server) = support::PgServer::new("placement: the check cannot be skipped") else {
        return;
    };
    let owner = pg_pool(&server.url()).await;
    prepare_pg(&owner).await;
    for statement in [
        "CREATE ROLE placement_app LOGIN",
        "GRANT SELECT, INSERT, UPDATE, DELETE ON placed_notes TO placement_app",
    ] {
        sqlx::raw_sql(statement).execute(&owner).await.unwrap();
    }
    PlacementFence::new(&owner)
        .place(&id("globex"), Tier::Shared, false)
        .await
        .unwrap();
    let app_url = server.url().replace("postgres@", "placement_app@");
    let app = pg_pool(&app_url).await;
    let pools = PoolSet::builder()
        .database("main".parse().unwrap(), app.clone())
        .build()
        .unwrap();

    // Acme is not placed here, whatever its context says.
    let acme = support::ctx("acme", Plan::Free).with_placement("main/shared".parse().unwrap());
    assert!(matches!(pools.begin(&acme).await, Err(Error::Moved { .. })));
    assert!(matches!(
        tenant::sqlx::TenantTx::begin_fenced(&app, &acme).await,
        Err(Error::Moved { .. })
    ));
    // The application role cannot place it, nor lift a fence.
    for forged in [
        "INSERT INTO tenant_placement.tenants (tenant_id, tier) VALUES ('acme', 'shared')",
        "UPDATE tenant_placement.tenants SET fenced = FALSE",
    ] {
        let denied = sqlx::raw_sql(forged).execute(&app).await.unwrap_err();
        assert_eq!(
            denied.as_database_error().and_then(|e| e.code()).as_deref(),
            Some("42501"),
            "{forged}: {denied}"
        );
    }
    // A refused BEGIN leaves the connection idle and usable, not in an aborted transaction.
    let mut conn = app.acquire().await.unwrap();
    let refused = sqlx::raw_sql(
        "RESET app.tenant_id; SELECT tenant_placement.enter('acme', 'shared'); BEGIN",
    )
    .execute(&mut *conn)
    .await;
    assert!(refused.is_err());
    let one: i32 = sqlx::query_scalar("SELECT 1")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(one, 1);
    drop(conn);

    // Globex is placed: the application role passes, and writes.
    let globex = support::ctx("globex", Plan::Free);
    let mut tx = pools.begin(&globex).await.unwrap();
    tx.repo::<PlacedNote>()
        .insert(&globex, note(1, "placed"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    // A label the set does not know is a typed error, not the default database.
    let elsewhere = globex.clone().with_placement("eu/shared".parse().unwrap());
    assert!(matches!(
        pools.begin(&elsewhere).await,
        Err(Error::UnknownDatabase { label }) if label.as_str() == "eu"
    ));
}

/// A tenant moved between tiers of one database (shared tables to its own schema) keeps its
/// row in that database's placement table, with the new tier: a process whose cache still
/// says `shared` must be refused (`Moved`), not let into the shared tables it left, where the
/// move's cleanup would delete what it wrote. Before the tier was compared, it passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_tier_in_the_same_database_is_moved_postgres() {
    let Some(server) = support::PgServer::new("placement: a stale tier") else {
        return;
    };
    let pool = pg_pool(&server.url()).await;
    prepare_pg(&pool).await;
    let fence = PlacementFence::new(&pool);
    let shared = support::ctx("acme", Plan::Free).with_placement("main/shared".parse().unwrap());
    fence
        .place(shared.tenant_id(), Tier::Shared, false)
        .await
        .unwrap();
    tenant::sqlx::TenantTx::begin_fenced(&pool, &shared)
        .await
        .unwrap()
        .commit()
        .await
        .unwrap();
    // The switch of a move to the tenant's schema in this database.
    fence
        .place(shared.tenant_id(), Tier::Schema, false)
        .await
        .unwrap();
    assert!(matches!(
        tenant::sqlx::TenantTx::begin_fenced(&pool, &shared).await,
        Err(Error::Moved { .. })
    ));
}

/// The same on SQLite: a row of another tier is `Moved`.
#[tokio::test]
async fn a_stale_tier_in_the_same_database_is_moved_sqlite() {
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect("sqlite::memory:")
        .await
        .unwrap();
    let fence = PlacementFence::new(&pool);
    fence.install().await.unwrap();
    let shared = support::ctx("acme", Plan::Free);
    fence
        .place(shared.tenant_id(), Tier::Shared, false)
        .await
        .unwrap();
    tenant::sqlx::TenantTx::begin_fenced(&pool, &shared)
        .await
        .unwrap()
        .commit()
        .await
        .unwrap();
    fence
        .place(shared.tenant_id(), Tier::Database, false)
        .await
        .unwrap();
    assert!(matches!(
        tenant::sqlx::TenantTx::begin_fenced(&pool, &shared).await,
        Err(Error::Moved { .. })
    ));
}

/// A pool of one connection on a fresh in-memory SQLite database: whatever state a refused
/// BEGIN leaves its connection in, the next transaction gets that same connection.
async fn one_sqlite_connection() -> SqlitePool {
    SqlitePoolOptions::new()
        .max_connections(1)
        .connect("sqlite::memory:")
        .await
        .unwrap()
}

/// The pool's one connection is outside any transaction, and takes a fenced transaction of
/// `placed` that writes and commits: a refused BEGIN did not leave its transaction open
/// (which would hold SQLite's write lock, and make the next BEGIN fail with "cannot start a
/// transaction within a transaction").
async fn assert_clean(pool: &SqlitePool, placed: &TenantCtx, note_id: i64) {
    let mut conn = pool.acquire().await.unwrap();
    // A BEGIN inside a transaction is an error in SQLite.
    sqlx::raw_sql("BEGIN; ROLLBACK")
        .execute(&mut *conn)
        .await
        .expect("the refused BEGIN left its transaction open");
    drop(conn);
    let mut tx = TenantTx::begin_fenced(pool, placed).await.unwrap();
    tx.repo::<PlacedNote>()
        .insert(placed, note(note_id, "after a refusal"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut tx = TenantTx::begin(pool, placed).await.unwrap();
    assert!(
        tx.repo::<PlacedNote>()
            .get(placed, note_id)
            .await
            .unwrap()
            .is_some(),
        "the write after the refusal was committed"
    );
    tx.commit().await.unwrap();
}

/// SQLite's fence refuses a tenant without a row `Moved`, one of another tier `Moved` (also
/// when fenced: its route is stale), a fenced one `Fenced`; and after each refusal the same
/// single connection begins, writes and commits for another tenant: a refused BEGIN leaves no
/// transaction open (which would hold SQLite's write lock and fail the next BEGIN).
#[tokio::test]
async fn sqlite_refusals_leave_the_connection_clean() {
    let pool = one_sqlite_connection().await;
    let fence = PlacementFence::new(&pool);
    fence.install().await.unwrap();
    PlacedNoteRepo::new(&pool).create_table().await.unwrap();
    let placed = support::ctx("globex", Plan::Free);
    fence
        .place(placed.tenant_id(), Tier::Shared, false)
        .await
        .unwrap();
    let fenced = support::ctx("acme", Plan::Free);
    fence
        .place(fenced.tenant_id(), Tier::Shared, true)
        .await
        .unwrap();
    let other_tier = support::ctx("initech", Plan::Free);
    fence
        .place(other_tier.tenant_id(), Tier::Database, false)
        .await
        .unwrap();
    // A tenant fenced *and* of another tier is `Moved`: its route is stale, whatever the flag.
    let stale_and_fenced = support::ctx("hooli", Plan::Free);
    fence
        .place(stale_and_fenced.tenant_id(), Tier::Schema, true)
        .await
        .unwrap();
    let unplaced = support::ctx("umbrella", Plan::Free);

    let cases = [
        (&unplaced, "moved"),
        (&other_tier, "moved"),
        (&stale_and_fenced, "moved"),
        (&fenced, "fenced"),
    ];
    for (note_id, (ctx, expected)) in (1..).zip(cases) {
        let refused = TenantTx::begin_fenced(&pool, ctx).await;
        let got = match &refused {
            Err(Error::Moved { tenant }) if tenant == ctx.tenant_id() => "moved",
            Err(Error::Fenced { tenant }) if tenant == ctx.tenant_id() => "fenced",
            Err(other) => panic!("{}: {other:?}", ctx.tenant_id()),
            Ok(_) => panic!("{}: passed the fence", ctx.tenant_id()),
        };
        assert_eq!(got, expected, "{}", ctx.tenant_id());
        drop(refused);
        assert_clean(&pool, &placed, note_id).await;
    }
    // Lifting the fence lets the fenced tenant in, on the same connection.
    assert!(fence.unfence(fenced.tenant_id()).await.unwrap());
    TenantTx::begin_fenced(&pool, &fenced)
        .await
        .unwrap()
        .commit()
        .await
        .unwrap();
}

/// A database without the placement table (the fence never installed there): a fenced BEGIN
/// fails closed with a typed error (not a pass, not a panic), and the connection is clean
/// after it;
/// `install` then lets a placed tenant in.
#[tokio::test]
async fn sqlite_a_database_without_the_fence_fails_closed() {
    let pool = one_sqlite_connection().await;
    PlacedNoteRepo::new(&pool).create_table().await.unwrap();
    let acme = support::ctx("acme", Plan::Free);
    match TenantTx::begin_fenced(&pool, &acme).await {
        Err(Error::Database(e)) => {
            assert!(e.to_string().contains("no such table"), "{e}");
        }
        other => panic!("passed or mistyped: {:?}", other.map(|_| ())),
    }
    assert_plain_commit(&pool, &acme, 1).await;
    let fence = PlacementFence::new(&pool);
    fence.install().await.unwrap();
    fence
        .place(acme.tenant_id(), Tier::Shared, false)
        .await
        .unwrap();
    assert_clean(&pool, &acme, 2).await;
}

/// The pool's one connection takes a plain transaction that writes and commits.
async fn assert_plain_commit(pool: &SqlitePool, ctx: &TenantCtx, note_id: i64) {
    let mut tx = TenantTx::begin(pool, ctx).await.unwrap();
    tx.repo::<PlacedNote>()
        .insert(ctx, note(note_id, "plain"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

fn temp_dir(test: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tenant-placement-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A SQLite file for `tenant` in `dir`, holding the tenant (placed, tables created).
async fn tenant_file(dir: &std::path::Path, tenant: &str) {
    let url = format!("sqlite://{}/{tenant}.db?mode=rwc", dir.display());
    let pool = SqlitePool::connect(&url).await.unwrap();
    PlacementFence::new(&pool).install().await.unwrap();
    PlacementFence::new(&pool)
        .place(&id(tenant), Tier::Database, false)
        .await
        .unwrap();
    PlacedNoteRepo::new(&pool).create_table().await.unwrap();
    pool.close().await;
}

/// A SQLite file per tenant: pools open on first use, at most `max_open_pools` stay open
/// with more tenants than that, and each tenant's rows are in its own file. 7 tenants behind a
/// bound of 3 by default; `TENANT_PLACEMENT_FILES=10000` runs the size (slow: a file
/// each). A file that does
/// not hold the tenant (another tenant's, copied to its name) refuses it with `Moved`.
#[tokio::test]
async fn sqlite_files_per_tenant_open_lazily_behind_a_bound() {
    let dir = temp_dir("files");
    let tenant_count: usize = std::env::var("TENANT_PLACEMENT_FILES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(7);
    const BOUND: usize = 3;
    let tenants: Vec<String> = (0..tenant_count).map(|i| format!("t{i}")).collect();
    for tenant in &tenants {
        tenant_file(&dir, tenant).await;
    }
    let pools = PoolSet::<sqlx::Sqlite>::builder()
        .max_open_pools(BOUND)
        .config(
            Some(&format!(
                "files=sqlite://{}/{{tenant}}.db?mode=rw",
                dir.display()
            )),
            Some("sqlite::memory:"),
        )
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(pools.open_pools(), 0, "nothing opens before it is used");
    for round in 0..2 {
        for (i, tenant) in tenants.iter().enumerate() {
            let ctx =
                support::ctx(tenant, Plan::Free).with_placement("files/database".parse().unwrap());
            let mut tx = pools.begin(&ctx).await.unwrap();
            tx.repo::<PlacedNote>()
                .insert(&ctx, note(round, &format!("{tenant} {round}")))
                .await
                .unwrap();
            tx.commit().await.unwrap();
            assert!(pools.open_pools() <= BOUND, "{} open", pools.open_pools());
            assert_eq!(
                pools.open_pools(),
                (i + 1 + round as usize * tenant_count).min(BOUND)
            );
        }
    }
    for tenant in &tenants {
        let ctx =
            support::ctx(tenant, Plan::Free).with_placement("files/database".parse().unwrap());
        let rows = pools
            .repo::<PlacedNote>(&ctx)
            .unwrap()
            .list(&ctx)
            .await
            .unwrap();
        assert_eq!(rows.len(), 2, "{tenant}");
        assert!(rows.iter().all(|row| row.body.starts_with(tenant.as_str())));
    }

    // A file that does not hold the tenant: t1's file under t0's name.
    std::fs::copy(dir.join("t1.db"), dir.join("t0.db")).unwrap();
    let pools = PoolSet::<sqlx::Sqlite>::builder()
        .config(
            Some(&format!(
                "files=sqlite://{}/{{tenant}}.db?mode=rw",
                dir.display()
            )),
            None,
        )
        .unwrap()
        .build()
        .unwrap();
    let t0 = support::ctx("t0", Plan::Free).with_placement("files/database".parse().unwrap());
    assert!(matches!(pools.begin(&t0).await, Err(Error::Moved { .. })));
    // A tenant with no file at all is an error of the database (mode=rw creates nothing).
    let ghost = support::ctx("ghost", Plan::Free).with_placement("files/database".parse().unwrap());
    assert!(matches!(pools.begin(&ghost).await, Err(Error::Database(_))));
    assert!(!dir.join("ghost.db").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// The fence on a shared SQLite database: a fenced tenant is refused while its neighbour
/// writes; an unplaced one is `Moved`; and a system count fans out over two databases.
#[tokio::test]
async fn sqlite_fence_and_fan_out_over_two_databases() {
    let dir = temp_dir("shared");
    let open = |name: &str| {
        let url = format!("sqlite://{}/{name}.db?mode=rwc", dir.display());
        async move {
            SqlitePoolOptions::new()
                .max_connections(2)
                .connect(&url)
                .await
                .unwrap()
        }
    };
    let main = open("main").await;
    let eu = open("eu").await;
    for pool in [&main, &eu] {
        PlacementFence::new(pool).install().await.unwrap();
        PlacedNoteRepo::new(pool).create_table().await.unwrap();
    }
    let pools = PoolSet::builder()
        .database("main".parse().unwrap(), main.clone())
        .database("eu".parse().unwrap(), eu.clone())
        .build()
        .unwrap();
    let acme = support::ctx("acme", Plan::Free);
    let globex = support::ctx("globex", Plan::Free).with_placement("eu/shared".parse().unwrap());
    PlacementFence::new(&main)
        .place(acme.tenant_id(), Tier::Shared, false)
        .await
        .unwrap();
    PlacementFence::new(&eu)
        .place(globex.tenant_id(), Tier::Shared, false)
        .await
        .unwrap();
    for (ctx, n) in [(&acme, 3), (&globex, 2)] {
        let mut tx = pools.begin(ctx).await.unwrap();
        for i in 0..n {
            tx.repo::<PlacedNote>()
                .insert(ctx, note(i, "x"))
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
    }
    let sys = SystemCtx::new("placement test: count over every database").unwrap();
    assert_eq!(pools.system_count::<PlacedNote>(&sys).await.unwrap(), 5);
    assert_eq!(
        pools.system_tenant_ids::<PlacedNote>(&sys).await.unwrap(),
        [id("acme"), id("globex")]
    );

    // acme is not placed in eu: a context that says so is refused there.
    let misplaced = acme.clone().with_placement("eu/shared".parse().unwrap());
    assert!(matches!(
        pools.begin(&misplaced).await,
        Err(Error::Moved { .. })
    ));
    // Fenced acme is refused; globex proceeds; after unfence acme writes again.
    assert!(
        PlacementFence::new(&main)
            .fence(acme.tenant_id())
            .await
            .unwrap()
    );
    assert!(matches!(
        pools.begin(&acme).await,
        Err(Error::Fenced { .. })
    ));
    pools.begin(&globex).await.unwrap().commit().await.unwrap();
    assert!(
        PlacementFence::new(&main)
            .unfence(acme.tenant_id())
            .await
            .unwrap()
    );
    pools.begin(&acme).await.unwrap().commit().await.unwrap();
    // A schema per tenant does not exist on SQLite: a typed error.
    let schema = acme.clone().with_placement("main/schema".parse().unwrap());
    assert!(matches!(
        pools.begin(&schema).await,
        Err(Error::Unsupported { .. })
    ));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Two tenants' fenced transactions on one SQLite file, the second committing a write while
/// the first is open: the first still writes, and the second waited for it. Found by the leak
/// search over two placements: the placement check is a read, so a deferred transaction that
/// wrote after it had to upgrade a snapshot another connection had written past, which SQLite
/// refuses at once (`SQLITE_BUSY_SNAPSHOT`, "database is locked") instead of waiting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_fenced_writers_of_two_tenants_wait_for_each_other() {
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
    let dir = temp_dir("writers");
    let options = SqliteConnectOptions::new()
        .filename(dir.join("main.db"))
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .busy_timeout(Duration::from_secs(10));
    let main = SqlitePoolOptions::new()
        .max_connections(2)
        .connect_with(options)
        .await
        .unwrap();
    PlacementFence::new(&main).install().await.unwrap();
    PlacedNoteRepo::new(&main).create_table().await.unwrap();
    let pools = PoolSet::builder()
        .database("main".parse().unwrap(), main.clone())
        .build()
        .unwrap();
    let (acme, globex) = (
        support::ctx("acme", Plan::Free),
        support::ctx("globex", Plan::Free),
    );
    for ctx in [&acme, &globex] {
        PlacementFence::new(&main)
            .place(ctx.tenant_id(), Tier::Shared, false)
            .await
            .unwrap();
    }
    let mut first = pools.begin(&acme).await.unwrap();
    let second = {
        let (pools, globex) = (pools.clone(), globex.clone());
        tokio::spawn(async move {
            let mut tx = pools.begin(&globex).await?;
            tx.repo::<PlacedNote>()
                .insert(&globex, note(1, "second"))
                .await?;
            tx.commit().await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    first
        .repo::<PlacedNote>()
        .insert(&acme, note(1, "first"))
        .await
        .expect("the first transaction writes after its neighbour began");
    first.commit().await.unwrap();
    second
        .await
        .unwrap()
        .expect("the second transaction waited");
    let sys = SystemCtx::new("placement test: count the writers' notes").unwrap();
    assert_eq!(pools.system_count::<PlacedNote>(&sys).await.unwrap(), 2);
    main.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Routed repositories are bound to their tenant: another tenant's context is refused before
/// anything is sent.
#[tokio::test]
async fn a_routed_repository_refuses_another_tenants_context() {
    let pool = support::sqlite().await;
    PlacedNoteRepo::new(&pool).create_table().await.unwrap();
    let pools = PoolSet::builder()
        .database("main".parse().unwrap(), pool.clone())
        .build()
        .unwrap();
    let acme: TenantCtx = support::ctx("acme", Plan::Free);
    let globex = support::ctx("globex", Plan::Free);
    PlacedNoteRepo::new(&pool)
        .insert(&globex, note(1, "theirs"))
        .await
        .unwrap();
    let mut repo = pools.repo::<PlacedNote>(&acme).unwrap();
    assert_eq!(repo.count(&acme).await.unwrap(), 0);
    assert!(matches!(
        repo.count(&globex).await,
        Err(Error::TenantMismatch { .. })
    ));
    assert!(matches!(
        repo.get(&globex, 1).await,
        Err(Error::TenantMismatch { .. })
    ));
}

/// A tenant moved from `main` to `eu`: the move's steps on two databases (placed at the target
/// fenced, the source fenced, the rows copied, the source unplaced, the target unfenced), its
/// one row written before. `$main` and `$eu` are pools of the two databases, prepared.
macro_rules! moved_to_eu {
    ($main:expr, $eu:expr, $acme:expr) => {{
        let (main, eu, acme) = ($main, $eu, $acme);
        PlacementFence::new(main)
            .place(acme.tenant_id(), Tier::Shared, false)
            .await
            .unwrap();
        let mut tx = TenantTx::begin_fenced(main, acme).await.unwrap();
        tx.repo::<PlacedNote>()
            .insert(acme, note(1, "before the move"))
            .await
            .unwrap();
        tx.commit().await.unwrap();
        PlacementFence::new(eu)
            .place(acme.tenant_id(), Tier::Shared, true)
            .await
            .unwrap();
        assert!(
            PlacementFence::new(main)
                .fence(acme.tenant_id())
                .await
                .unwrap()
        );
        let rows = PlacedNoteRepo::new(main).list(acme).await.unwrap();
        let copy: Vec<_> = rows.iter().map(|row| note(row.id, &row.body)).collect();
        PlacedNoteRepo::new(eu)
            .insert_many(acme, copy)
            .await
            .unwrap();
        assert!(
            PlacementFence::new(main)
                .unplace(acme.tenant_id())
                .await
                .unwrap()
        );
        assert!(
            PlacementFence::new(eu)
                .unfence(acme.tenant_id())
                .await
                .unwrap()
        );
    }};
}

/// A process whose cache still places acme in `main` after the move writes through the pool
/// set's routed repository: nothing may land at the source, whose rows the move's cleanup
/// deletes (an acknowledged write lost). Regression: `pools.repo` ran each statement on the
/// bare pool, outside the fence, and the insert landed in `main`.
macro_rules! stale_routed_write {
    ($main:expr, $eu:expr) => {{
        let (main, eu) = ($main, $eu);
        let pools = PoolSet::builder()
            .database("main".parse().unwrap(), main.clone())
            .database("eu".parse().unwrap(), eu.clone())
            .build()
            .unwrap();
        let stale = support::ctx("acme", Plan::Free);
        moved_to_eu!(&main, &eu, &stale);
        // `pools.repo::<PlacedNote>(&stale)?.insert(..)` no longer compiles (the trybuild case
        // `routed_repo_write`): the one write the pool set gives is its fenced transaction.
        let written = async {
            let mut tx = pools.begin(&stale).await?;
            tx.repo::<PlacedNote>()
                .insert(&stale, note(2, "through a stale route"))
                .await?;
            tx.commit().await
        }
        .await;
        assert!(
            matches!(written, Err(Error::Moved { .. })),
            "a stale write was let in: {written:?}"
        );
        assert_eq!(PlacedNoteRepo::new(&main).count(&stale).await.unwrap(), 1);
        // A stale read still reads the source: the rows as the fence left them, until the
        // move's cleanup deletes them.
        let mut routed = pools.repo::<PlacedNote>(&stale).unwrap();
        assert_eq!(routed.list(&stale).await.unwrap().len(), 1);
        PlacedNoteRepo::new(&main).delete(&stale, 1).await.unwrap();
        assert_eq!(routed.count(&stale).await.unwrap(), 0);
    }};
}

#[tokio::test]
async fn a_stale_routed_write_lands_nowhere_sqlite() {
    let open = || async {
        SqlitePoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .unwrap()
    };
    let (main, eu) = (open().await, open().await);
    for pool in [&main, &eu] {
        PlacementFence::new(pool).install().await.unwrap();
        PlacedNoteRepo::new(pool).create_table().await.unwrap();
    }
    stale_routed_write!(main, eu);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_routed_write_lands_nowhere_postgres() {
    let Some(server) = support::PgServer::new("placement: a stale routed write") else {
        return;
    };
    let (main, eu) = two_pg_databases(&server, "placement_eu").await;
    stale_routed_write!(main, eu);
}

/// A process whose cache still places acme in `main` after the move runs a checked write with
/// what the pool set gives it. Regression: `pools.pool(&stale)` handed out the bare pool of the
/// database the tenant left, and a checked INSERT on it landed there (acknowledged), outside
/// the fence, to be deleted with the source's rows by the move's cleanup. Now the bare pool is
/// `unfenced_pool` (administration, listed by the inventory), a checked write on
/// `&pools.route(&stale)?` does not compile (the trybuild case `routed_checked_write`), and
/// the one place a checked write runs, `pools.begin`'s transaction, refuses with `Moved`.
macro_rules! stale_checked_write {
    ($main:expr, $eu:expr) => {{
        let (main, eu) = ($main, $eu);
        let pools = PoolSet::builder()
            .database("main".parse().unwrap(), main.clone())
            .database("eu".parse().unwrap(), eu.clone())
            .build()
            .unwrap();
        let stale = support::ctx("acme", Plan::Free);
        moved_to_eu!(&main, &eu, &stale);
        let written = async {
            let mut tx = pools.begin(&stale).await?;
            tenant::sqlx::query!(
                &stale,
                "INSERT INTO {PlacedNote} (id, body) VALUES ($1, $2)",
                2_i64,
                "through a stale route"
            )
            .execute(&mut tx)
            .await?;
            tx.commit().await
        }
        .await;
        assert!(
            matches!(written, Err(Error::Moved { .. })),
            "a stale checked write was let in: {written:?}"
        );
        assert_eq!(PlacedNoteRepo::new(&main).count(&stale).await.unwrap(), 1);
        assert_eq!(PlacedNoteRepo::new(&eu).count(&stale).await.unwrap(), 1);
        // A checked read on the stale route reads the source as the fence left it, bound to
        // acme: another tenant's context is refused before anything is sent.
        let routed = pools.route(&stale).unwrap();
        let bodies = tenant::sqlx::query_scalar!(&stale, String, "SELECT body FROM {PlacedNote}")
            .fetch_all(&routed)
            .await
            .unwrap();
        assert_eq!(bodies, ["before the move"]);
        let globex = support::ctx("globex", Plan::Free);
        let refused =
            tenant::sqlx::query_scalar!(&globex, i64, "SELECT count(*) FROM {PlacedNote}")
                .fetch_one(&routed)
                .await;
        assert!(
            matches!(refused, Err(Error::TenantMismatch { .. })),
            "{refused:?}"
        );
    }};
}

#[tokio::test]
async fn a_stale_checked_write_lands_nowhere_sqlite() {
    let open = || async {
        SqlitePoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .unwrap()
    };
    let (main, eu) = (open().await, open().await);
    for pool in [&main, &eu] {
        PlacementFence::new(pool).install().await.unwrap();
        PlacedNoteRepo::new(pool).create_table().await.unwrap();
    }
    stale_checked_write!(main, eu);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_checked_write_lands_nowhere_postgres() {
    let Some(server) = support::PgServer::new("placement: a stale checked write") else {
        return;
    };
    let (main, eu) = two_pg_databases(&server, "placement_eu").await;
    stale_checked_write!(main, eu);
}

/// Two databases of one private server, prepared, for a move's data steps.
async fn two_pg_databases(server: &support::PgServer, eu: &str) -> (PgPool, PgPool) {
    let main = pg_pool(&server.url()).await;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {eu}")))
        .execute(&main)
        .await
        .unwrap();
    let eu_url = format!("{}/{eu}", server.url().rsplit_once('/').unwrap().0);
    let eu = pg_pool(&eu_url).await;
    prepare_pg(&main).await;
    prepare_pg(&eu).await;
    (main, eu)
}

/// A copy step that outlived its attempt runs again after the move switched and lifted the
/// fence at the target, where the tenant has written since: it must write nothing there (it
/// would delete the new row and put back the source's). Regression: the copy checked nothing
/// in its target transaction, and the row written after the move was lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_after_the_fence_is_lifted_writes_nothing() {
    let Some(server) = support::PgServer::new("placement: a late copy") else {
        return;
    };
    let (main, eu) = two_pg_databases(&server, "late_copy_eu").await;
    let acme = support::ctx("acme", Plan::Free);
    let tables = TenantCopy::new().entity::<PlacedNote>();
    let (source, target) = (
        TablesAt {
            pool: &main,
            schema: None,
        },
        TablesAt {
            pool: &eu,
            schema: None,
        },
    );
    moved_to_eu!(&main, &eu, &acme);
    // The move's own copy, while the target was fenced, went through (`moved_to_eu` copied by
    // hand; the workflow's copy, run again before the switch, is idempotent).
    PlacementFence::new(&eu)
        .place(acme.tenant_id(), Tier::Shared, true)
        .await
        .unwrap();
    assert_eq!(
        tables
            .copy(acme.tenant_id(), source, target, |_| async {})
            .await
            .unwrap(),
        1
    );
    assert!(
        PlacementFence::new(&eu)
            .unfence(acme.tenant_id())
            .await
            .unwrap()
    );
    let fresh = acme.clone().with_placement("eu/shared".parse().unwrap());
    let mut tx = TenantTx::begin_fenced(&eu, &fresh).await.unwrap();
    tx.repo::<PlacedNote>()
        .insert(&fresh, note(2, "after the move"))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let late = tables
        .copy(acme.tenant_id(), source, target, |_| async {})
        .await;
    assert!(
        matches!(late, Err(Error::CopyNotFenced { .. })),
        "a copy ran at an unfenced target: {late:?}"
    );
    let rows = PlacedNoteRepo::new(&eu).list(&fresh).await.unwrap();
    assert_eq!(rows.iter().map(|r| r.id).collect::<Vec<_>>(), [1, 2]);
    // Not placed at all (a move aborted, the target forgot the tenant): nothing either.
    assert!(
        PlacementFence::new(&eu)
            .unplace(acme.tenant_id())
            .await
            .unwrap()
    );
    let late = tables
        .copy(acme.tenant_id(), source, target, |_| async {})
        .await;
    assert!(matches!(late, Err(Error::CopyNotFenced { .. })), "{late:?}");
    assert_eq!(PlacedNoteRepo::new(&eu).count(&fresh).await.unwrap(), 2);
}

/// A copy of an earlier move that outlived it runs while a later move of the same tenant, back
/// the other way, holds both databases fenced: the target of the old copy is the new move's
/// source, holding the tenant's only current rows. Checked by the move's identity, the old copy
/// writes nothing there; by the fence alone it would have passed (both are fenced).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_of_an_earlier_move_writes_nothing_during_a_later_one() {
    let Some(server) = support::PgServer::new("placement: a copy of an earlier move") else {
        return;
    };
    let (main, eu) = two_pg_databases(&server, "earlier_move_eu").await;
    let acme = support::ctx("acme", Plan::Free);
    let tables = TenantCopy::new().entity::<PlacedNote>();
    let at = |pool| TablesAt { pool, schema: None };
    let (main_fence, eu_fence) = (PlacementFence::new(&main), PlacementFence::new(&eu));
    main_fence
        .place(acme.tenant_id(), Tier::Shared, false)
        .await
        .unwrap();
    PlacedNoteRepo::new(&main)
        .insert(&acme, note(1, "before move 1"))
        .await
        .unwrap();
    // Move 1, main -> eu, to its end.
    eu_fence
        .place_for_move(acme.tenant_id(), Tier::Shared, "move-1")
        .await
        .unwrap();
    assert!(
        main_fence
            .fence_for_move(acme.tenant_id(), "move-1")
            .await
            .unwrap()
    );
    let copied = tables
        .copy_for_move(acme.tenant_id(), "move-1", at(&main), at(&eu), |_| async {})
        .await
        .unwrap();
    assert_eq!(copied, 1);
    assert!(main_fence.unplace_fenced(acme.tenant_id()).await.unwrap());
    assert!(eu_fence.unfence(acme.tenant_id()).await.unwrap());
    PlacedNoteRepo::new(&main).delete(&acme, 1).await.unwrap(); // cleanup
    PlacedNoteRepo::new(&eu)
        .insert(&acme, note(2, "after move 1"))
        .await
        .unwrap();
    // Move 2, eu -> main, fenced at both ends.
    main_fence
        .place_for_move(acme.tenant_id(), Tier::Shared, "move-2")
        .await
        .unwrap();
    assert!(
        eu_fence
            .fence_for_move(acme.tenant_id(), "move-2")
            .await
            .unwrap()
    );

    // Move 1's late copy, into eu (move 2's source), from main (empty, move 2's target).
    let late = tables
        .copy_for_move(acme.tenant_id(), "move-1", at(&main), at(&eu), |_| async {})
        .await;
    assert!(matches!(late, Err(Error::CopyNotFenced { .. })), "{late:?}");
    assert_eq!(PlacedNoteRepo::new(&eu).count(&acme).await.unwrap(), 2);
    // Nor can its late fence take move 2's.
    assert!(
        !eu_fence
            .fence_for_move(acme.tenant_id(), "move-1")
            .await
            .unwrap()
    );
    // Move 2's own copy goes through.
    let copied = tables
        .copy_for_move(acme.tenant_id(), "move-2", at(&eu), at(&main), |_| async {})
        .await
        .unwrap();
    assert_eq!(copied, 2);
}

/// A running copy keeps the fence in place: lifting it at the target waits until the copy's
/// transaction ends, so no write of the tenant there can run beside the copy's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_copy_holds_the_fence_until_it_commits() {
    let Some(server) = support::PgServer::new("placement: a copy holds the fence") else {
        return;
    };
    let (main, eu) = two_pg_databases(&server, "held_copy_eu").await;
    let acme = support::ctx("acme", Plan::Free);
    PlacementFence::new(&main)
        .place(acme.tenant_id(), Tier::Shared, true)
        .await
        .unwrap();
    PlacedNoteRepo::new(&main)
        .insert(&acme, note(1, "at the source"))
        .await
        .unwrap();
    PlacementFence::new(&eu)
        .place(acme.tenant_id(), Tier::Shared, true)
        .await
        .unwrap();
    let (copying, copied) = (
        Arc::new(tokio::sync::Notify::new()),
        Arc::new(tokio::sync::Notify::new()),
    );
    let copy = {
        let (main, eu, tenant) = (main.clone(), eu.clone(), acme.tenant_id().clone());
        let (copying, copied) = (Arc::clone(&copying), Arc::clone(&copied));
        tokio::spawn(async move {
            let (source, target) = (
                TablesAt {
                    pool: &main,
                    schema: None,
                },
                TablesAt {
                    pool: &eu,
                    schema: None,
                },
            );
            TenantCopy::new()
                .entity::<PlacedNote>()
                .copy(&tenant, source, target, |_| {
                    let (copying, copied) = (Arc::clone(&copying), Arc::clone(&copied));
                    async move {
                        copying.notify_one();
                        copied.notified().await;
                    }
                })
                .await
        })
    };
    copying.notified().await;
    let unfence = {
        let (eu, tenant) = (eu.clone(), acme.tenant_id().clone());
        tokio::spawn(async move { PlacementFence::new(&eu).unfence(&tenant).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !unfence.is_finished(),
        "the fence was lifted while a copy was writing"
    );
    copied.notify_one();
    assert_eq!(copy.await.unwrap().unwrap(), 1);
    assert!(unfence.await.unwrap().unwrap());
    assert_eq!(
        PlacementFence::new(&eu)
            .state(acme.tenant_id())
            .await
            .unwrap(),
        Some(tenant::sqlx::PlacedState {
            tier: Tier::Shared,
            fenced: false
        })
    );
}

/// The switch's writes at the source hold only while the source is fenced, checked by the
/// statement that writes: a switch step that outlived its attempt and runs after the fence was
/// lifted neither fences the tenant again (a move between tiers of one database: it would shut
/// the tenant out) nor unplaces it (placed here again by a later move, taking transactions).
macro_rules! late_switch {
    ($pool:expr) => {{
        let fence = PlacementFence::new($pool);
        // A tenant of this test's own, whatever else the database's placement table holds.
        let acme = id("late-switch");
        fence.place(&acme, Tier::Shared, true).await.unwrap();
        assert!(fence.retier_fenced(&acme, Tier::Schema).await.unwrap());
        assert!(fence.unfence(&acme).await.unwrap());
        assert!(!fence.retier_fenced(&acme, Tier::Schema).await.unwrap());
        assert!(!fence.retier_fenced(&acme, Tier::Shared).await.unwrap());
        let placed = tenant::sqlx::PlacedState {
            tier: Tier::Schema,
            fenced: false,
        };
        assert_eq!(fence.state(&acme).await.unwrap(), Some(placed));
        assert!(!fence.unplace_fenced(&acme).await.unwrap());
        assert_eq!(fence.state(&acme).await.unwrap(), Some(placed));
        assert!(fence.fence(&acme).await.unwrap());
        assert!(fence.unplace_fenced(&acme).await.unwrap());
        assert!(!fence.unplace_fenced(&acme).await.unwrap(), "idempotent");
        assert_eq!(fence.state(&acme).await.unwrap(), None);
    }};
}

#[tokio::test]
async fn a_late_switch_leaves_an_unfenced_tenant_alone_sqlite() {
    let pool = support::sqlite().await;
    PlacementFence::new(&pool).install().await.unwrap();
    late_switch!(&pool);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_switch_leaves_an_unfenced_tenant_alone_postgres() {
    // A database of its own: the fence's drain waits for every transaction of its database,
    // and the shared test database has the other test binaries' transactions.
    let Some((pool, _app)) = support::postgres_app_database("placement_late_switch", 1).await
    else {
        return;
    };
    PlacementFence::new(&pool).install().await.unwrap();
    late_switch!(&pool);
}

/// The `tenants` table as it was before placements.
const OLD_TENANTS: &str = "CREATE TABLE tenants (id TEXT NOT NULL PRIMARY KEY, slug TEXT NOT NULL, \
     name TEXT NOT NULL, plan TEXT NOT NULL, schema_name TEXT NOT NULL, is_active BOOLEAN NOT NULL, \
     created_at TEXT NOT NULL, updated_at TEXT NOT NULL)";

/// A registry created before placements gets the column on `migrate`, every existing tenant on
/// the default placement (and the `limits` column, every tenant on its plan's); `place` moves
/// one; a stored placement this crate would not write is a typed decoding error, never the
/// default.
async fn old_registry_is_migrated<DB>(registry: SqlRegistry<DB>, old: &str, insert_old: &str)
where
    DB: tenant::sqlx::RegistryBackend,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    use tenant::TenantRegistry;
    sqlx::raw_sql(sqlx::AssertSqlSafe(old.to_owned()))
        .execute(registry.pool())
        .await
        .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(insert_old.to_owned()))
        .execute(registry.pool())
        .await
        .unwrap();
    registry.migrate().await.unwrap();
    registry.migrate().await.unwrap();
    let acme = registry.find_by_id(&id("acme")).await.unwrap().unwrap();
    assert_eq!(acme.placement, tenant::Placement::default());
    assert_eq!(acme.limits, None);
    assert!(
        registry
            .place(&acme.id, &"eu/schema".parse().unwrap())
            .await
            .unwrap()
    );
    let acme = registry.find_by_id(&id("acme")).await.unwrap().unwrap();
    assert_eq!(acme.placement.to_string(), "eu/schema");
    let own = tenant::Limits::new(5, 5, 1).unwrap();
    assert!(registry.set_limits(&acme.id, Some(&own)).await.unwrap());
    let acme = registry.find_by_id(&id("acme")).await.unwrap().unwrap();
    assert_eq!(acme.limits, Some(own));
    let created = registry.create(new_tenant("globex")).await.unwrap();
    assert_eq!(
        registry.find_by_id(&created.id).await.unwrap().unwrap(),
        created
    );
    sqlx::raw_sql("UPDATE tenants SET placement = 'eu/sharded' WHERE id = 'acme'")
        .execute(registry.pool())
        .await
        .unwrap();
    assert!(matches!(
        registry.find_by_id(&id("acme")).await,
        Err(Error::Database(sqlx::Error::ColumnDecode { index, .. })) if index.contains("placement")
    ));
}

/// The `tenants` table as the release before tenants' own limits left it.
const LAST_RELEASES_TENANTS: &str = "CREATE TABLE tenants (id TEXT NOT NULL PRIMARY KEY, \
     slug TEXT NOT NULL, name TEXT NOT NULL, plan TEXT NOT NULL, schema_name TEXT NOT NULL, \
     is_active BOOLEAN NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, \
     placement TEXT NOT NULL DEFAULT 'main/shared')";

/// [`old_registry_is_migrated`] on SQLite, over `table` holding acme as an older release wrote it.
async fn an_old_sqlite_registry_is_migrated(table: &str) {
    old_registry_is_migrated(
        SqlRegistry::new(support::sqlite().await),
        table,
        "INSERT INTO tenants (id, slug, name, plan, schema_name, is_active, created_at, updated_at) \
         VALUES ('acme', 'acme', 'Acme', 'free', 'tenant_acme', TRUE, \
         '2024-01-01T00:00:00.000Z', '2024-01-01T00:00:00.000Z')",
    )
    .await;
}

/// The same on PostgreSQL, `table`'s timestamps as PostgreSQL's.
async fn an_old_postgres_registry_is_migrated(test: &str, table: &str) {
    let Some(pool) = support::postgres(test).await else {
        return;
    };
    old_registry_is_migrated(
        SqlRegistry::new(pool),
        &table.replace(
            "TEXT NOT NULL, updated_at TEXT",
            "TIMESTAMPTZ NOT NULL, updated_at TIMESTAMPTZ",
        ),
        "INSERT INTO tenants (id, slug, name, plan, schema_name, is_active, created_at, updated_at) \
         VALUES ('acme', 'acme', 'Acme', 'free', 'tenant_acme', TRUE, now(), now())",
    )
    .await;
}

#[tokio::test]
async fn the_last_releases_registry_gets_limits_on_migrate_sqlite() {
    an_old_sqlite_registry_is_migrated(LAST_RELEASES_TENANTS).await;
}

#[tokio::test]
async fn the_last_releases_registry_gets_limits_on_migrate_postgres() {
    an_old_postgres_registry_is_migrated("last release registry", LAST_RELEASES_TENANTS).await;
}

#[tokio::test]
async fn an_old_registry_gets_placements_on_migrate_sqlite() {
    an_old_sqlite_registry_is_migrated(OLD_TENANTS).await;
}

#[tokio::test]
async fn an_old_registry_gets_placements_on_migrate_postgres() {
    an_old_postgres_registry_is_migrated("old registry", OLD_TENANTS).await;
}

/// A configuration that cannot be read is a typed error naming the entry by position and
/// label, never its URL (which may hold a password); no database at all is an error, not a
/// default.
#[tokio::test]
async fn bad_database_configuration_is_a_typed_error_without_urls() {
    let secret = "hunter2";
    for (databases, default) in [
        (
            Some("main=postgres://u:hunter2@db/x,main=postgres://u:hunter2@db/y"),
            None,
        ),
        (Some("eu=mysql://u:hunter2@db/x"), None),
        (
            Some("eu=postgres://u:hunter2@db/{tenant}?sslmode=bogus"),
            None,
        ),
        (Some("postgres://u:hunter2@db/x"), None),
        (Some("EU=postgres://u:hunter2@db/x"), None),
        (Some(""), None),
        (None, None),
        (Some(" , "), None),
    ] {
        let built = PoolSet::<sqlx::Postgres>::builder()
            .config(databases, default)
            .and_then(|builder| builder.build());
        let Err(error @ Error::DatabasesConfig { .. }) = built else {
            panic!("{databases:?} was accepted or gave another error: {built:?}");
        };
        assert!(!error.to_string().contains(secret), "{error}");
    }
    // DATABASE_URL is `main` unless TENANT_DATABASES names one.
    let pools = PoolSet::<sqlx::Postgres>::builder()
        .config(Some("eu=postgres://db/eu"), Some("postgres://db/main"))
        .unwrap()
        .build()
        .unwrap();
    let labels: Vec<String> = pools
        .shared_databases()
        .into_iter()
        .map(|(label, _)| label.to_string())
        .collect();
    assert_eq!(labels, ["eu", "main"]);
}

/// Row-level security behind the fence, in both modes: the placement check runs before the
/// credential's in the same BEGIN; a tenant not placed is `Moved`, a fenced one `Fenced`, a
/// placed one gets its verified setting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_security_transactions_are_fenced_too() {
    let Some(server) = support::PgServer::new("placement: row security behind the fence") else {
        return;
    };
    let owner = pg_pool(&server.url()).await;
    PlacementFence::new(&owner).install().await.unwrap();
    let security = support::install_row_security(&owner).await;
    // Query texts hidden: after its first transaction, the default begins in one round trip,
    // the fence and the text credential in BEGIN's query.
    sqlx::raw_sql(
        "CREATE ROLE placement_rls_app LOGIN; \
         ALTER ROLE placement_rls_app SET track_activities = off",
    )
    .execute(&owner)
    .await
    .unwrap();
    let app = pg_pool(&server.url().replace("postgres@", "placement_rls_app@")).await;
    let pools = PoolSet::builder()
        .database("main".parse().unwrap(), app)
        .build()
        .unwrap();
    let acme = support::ctx("acme", Plan::Free);
    let two = security.clone().two_round_trips();
    for mode in [two, security.clone(), security.clone()] {
        PlacementFence::new(&owner)
            .unplace(acme.tenant_id())
            .await
            .unwrap();
        assert!(matches!(
            pools.begin_row_security(&mode, &acme).await,
            Err(Error::Moved { .. })
        ));
        PlacementFence::new(&owner)
            .place(acme.tenant_id(), Tier::Shared, true)
            .await
            .unwrap();
        assert!(matches!(
            pools.begin_row_security(&mode, &acme).await,
            Err(Error::Fenced { .. })
        ));
        PlacementFence::new(&owner)
            .unfence(acme.tenant_id())
            .await
            .unwrap();
        let mut tx = pools.begin_row_security(&mode, &acme).await.unwrap();
        let current: Option<String> = sqlx::query_scalar("SELECT tenant_rls.current_tenant()")
            .fetch_one(tx.executor())
            .await
            .unwrap();
        assert_eq!(current.as_deref(), Some("acme"));
        tx.commit().await.unwrap();
    }
}

/// The language `tenant_placement.enter` is written in: `sql` over the C check, or `plpgsql`.
async fn fence_language(pool: &PgPool) -> String {
    sqlx::query_scalar(
        "SELECT l.lanname::text FROM pg_proc AS p JOIN pg_language AS l ON l.oid = p.prolang \
         WHERE p.oid = 'tenant_placement.enter(text, text)'::regprocedure",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

/// The fence in C (over the `tenant_rls` extension) and in PL/pgSQL (managed PostgreSQL)
/// refuse the same transactions, as the application role, which may read nothing of the
/// placement table: a tenant not placed, or placed in another tier, is `Moved`; a fenced one
/// `Fenced`; `fence` waits for a transaction that passed the check before it; a placed one
/// writes. Switched from one version to the other and back in place, on one database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_c_and_the_plpgsql_fence_refuse_alike() {
    let Some((owner, app)) =
        support::postgres_app_database("placement_c_and_plpgsql_fence", 2).await
    else {
        return;
    };
    PlacedNoteRepo::new(&owner).create_table().await.unwrap();
    let fence = PlacementFence::new(&owner);
    let acme = support::ctx("acme", Plan::Free);
    for (round, language) in ["plpgsql", "sql", "plpgsql", "sql"].into_iter().enumerate() {
        if language == "sql" {
            fence.install().await.unwrap();
        } else {
            fence.install_plpgsql().await.unwrap();
        }
        assert_eq!(fence_language(&owner).await, language);
        let begin = || tenant::sqlx::TenantTx::begin_fenced(&app, &acme);

        fence.unplace(acme.tenant_id()).await.unwrap();
        assert!(
            matches!(begin().await, Err(Error::Moved { .. })),
            "{language}"
        );
        fence
            .place(acme.tenant_id(), Tier::Schema, false)
            .await
            .unwrap();
        assert!(
            matches!(begin().await, Err(Error::Moved { .. })),
            "{language}"
        );
        fence
            .place(acme.tenant_id(), Tier::Shared, true)
            .await
            .unwrap();
        assert!(
            matches!(begin().await, Err(Error::Fenced { .. })),
            "{language}"
        );
        fence.unfence(acme.tenant_id()).await.unwrap();

        // In flight when the fence comes: the fence waits for it, then refuses the next.
        let mut tx = begin().await.unwrap();
        let id = i64::try_from(round).unwrap();
        tx.repo::<PlacedNote>()
            .insert(&acme, note(id, language))
            .await
            .unwrap();
        let owner_fence = owner.clone();
        let tenant = acme.tenant_id().clone();
        let mut fencing =
            tokio::spawn(async move { PlacementFence::new(&owner_fence).fence(&tenant).await });
        assert!(
            tokio::time::timeout(Duration::from_millis(300), &mut fencing)
                .await
                .is_err(),
            "{language}: the fence did not wait for the transaction in flight"
        );
        tx.commit().await.unwrap();
        assert!(fencing.await.unwrap().unwrap());
        assert!(
            matches!(begin().await, Err(Error::Fenced { .. })),
            "{language}"
        );
        fence.unfence(acme.tenant_id()).await.unwrap();
    }
    let written: i64 = sqlx::query_scalar("SELECT count(*) FROM placed_notes")
        .fetch_one(&owner)
        .await
        .unwrap();
    assert_eq!(written, 4);
}

/// A database where the fence runs over the C check, whose `tenant_rls` extension is then
/// dropped by `RowSecurity::install_plpgsql` (the row-level security of managed PostgreSQL):
/// the fence gets its PL/pgSQL body back in the same step, and keeps refusing and admitting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fence_survives_row_security_moving_to_plpgsql() {
    let Some((owner, app)) =
        support::postgres_app_database("placement_fence_survives_plpgsql_rls", 2).await
    else {
        return;
    };
    let fence = PlacementFence::new(&owner);
    fence.install().await.unwrap();
    assert_eq!(fence_language(&owner).await, "sql");
    let acme = support::ctx("acme", Plan::Free);
    // Learnt here: this database's fenced BEGIN calls the C check by its own name. The
    // extension then goes; the next BEGIN's call finds no function, and is made again with
    // the database's own (PL/pgSQL) `enter`.
    assert!(matches!(
        tenant::sqlx::TenantTx::begin_fenced(&app, &acme).await,
        Err(Error::Moved { .. })
    ));
    support::install_row_security_plpgsql(&owner).await;
    assert_eq!(fence_language(&owner).await, "plpgsql");
    assert!(matches!(
        tenant::sqlx::TenantTx::begin_fenced(&app, &acme).await,
        Err(Error::Moved { .. })
    ));
    fence
        .place(acme.tenant_id(), Tier::Shared, false)
        .await
        .unwrap();
    tenant::sqlx::TenantTx::begin_fenced(&app, &acme)
        .await
        .unwrap()
        .commit()
        .await
        .unwrap();
}

/// The fenced BEGIN calls the C check by its own name only where the database's fence is the
/// wrapper over the extension's function. A role that may create schemas makes a
/// `tenant_rls.placement_enter` of its own that lets everyone in, where the fence is PL/pgSQL
/// and no extension is installed: the BEGIN still calls the database's `enter`, and a tenant
/// not placed there is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lookalike_c_check_is_not_called() {
    let Some((owner, app)) = support::postgres_app_database("placement_lookalike_check", 2).await
    else {
        return;
    };
    let fence = PlacementFence::new(&owner);
    fence.install_plpgsql().await.unwrap();
    let database: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&owner)
        .await
        .unwrap();
    let app_role: String = sqlx::query_scalar("SELECT current_user")
        .fetch_one(&app)
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "GRANT CREATE ON DATABASE \"{database}\" TO \"{app_role}\""
    )))
    .execute(&owner)
    .await
    .unwrap();
    for statement in [
        "CREATE SCHEMA tenant_rls",
        "CREATE FUNCTION tenant_rls.placement_enter(tenant text, tier text) RETURNS void \
         LANGUAGE sql AS $$ SELECT $$",
    ] {
        sqlx::query(statement).execute(&app).await.unwrap();
    }
    let acme = support::ctx("acme", Plan::Free);
    assert!(matches!(
        tenant::sqlx::TenantTx::begin_fenced(&app, &acme).await,
        Err(Error::Moved { .. })
    ));
    fence
        .place(acme.tenant_id(), Tier::Shared, true)
        .await
        .unwrap();
    assert!(matches!(
        tenant::sqlx::TenantTx::begin_fenced(&app, &acme).await,
        Err(Error::Fenced { .. })
    ));
}

/// A move's data steps run as a role under row-level security (here the tables' owner under
/// `FORCE ROW LEVEL SECURITY`, with no tenant setting): the policy hid the tenant's rows from
/// every step, so the copy copied none, the sums compared zero with zero and the cleanup
/// deleted nothing: a move that verified and left the tenant's rows behind. Regression: `copy`
/// answered `Ok(0)` with a row at the source, `sums` zero rows, `delete` zero.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_under_row_security_is_refused_not_empty() {
    let Some(server) = support::PgServer::new("placement: a copy under row security") else {
        return;
    };
    let (main, eu) = two_pg_databases(&server, "rls_copy_eu").await;
    let acme = support::ctx("acme", Plan::Free);
    PlacedNoteRepo::new(&main)
        .insert(&acme, note(1, "at the source"))
        .await
        .unwrap();
    sqlx::raw_sql(
        "CREATE ROLE copy_owner LOGIN; \
         ALTER TABLE placed_notes OWNER TO copy_owner; \
         ALTER TABLE placed_notes ENABLE ROW LEVEL SECURITY; \
         ALTER TABLE placed_notes FORCE ROW LEVEL SECURITY; \
         CREATE POLICY by_tenant ON placed_notes \
           USING (tenant_id = current_setting('app.tenant_id', true))",
    )
    .execute(&main)
    .await
    .unwrap();
    let owner = pg_pool(&server.url().replace("postgres@", "copy_owner@")).await;
    PlacementFence::new(&eu)
        .place(acme.tenant_id(), Tier::Shared, true)
        .await
        .unwrap();
    let tables = TenantCopy::new().entity::<PlacedNote>();
    let under_policy = TablesAt {
        pool: &owner,
        schema: None,
    };
    let target = TablesAt {
        pool: &eu,
        schema: None,
    };

    let copied = tables
        .copy(acme.tenant_id(), under_policy, target, |_| async {})
        .await;
    assert!(
        matches!(copied, Err(Error::CopyUnderRowSecurity(_))),
        "a copy under a policy: {copied:?}"
    );
    let sums = tables.sums(acme.tenant_id(), under_policy).await;
    assert!(
        matches!(sums, Err(Error::CopyUnderRowSecurity(_))),
        "sums under a policy: {sums:?}"
    );
    let deleted = tables.delete(acme.tenant_id(), under_policy).await;
    assert!(
        matches!(deleted, Err(Error::CopyUnderRowSecurity(_))),
        "a delete under a policy: {deleted:?}"
    );
    assert_eq!(PlacedNoteRepo::new(&eu).count(&acme).await.unwrap(), 0);
    assert_eq!(PlacedNoteRepo::new(&main).count(&acme).await.unwrap(), 1);

    // The same steps as a role the policy does not apply to (the superuser) copy the row.
    let source = TablesAt {
        pool: &main,
        schema: None,
    };
    assert_eq!(
        tables
            .copy(acme.tenant_id(), source, target, |_| async {})
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        tables.sums(acme.tenant_id(), source).await.unwrap(),
        tables.sums(acme.tenant_id(), target).await.unwrap()
    );
}

/// How long a test lets a fence run before it says the fence did not wait.
const STILL_WAITING: Duration = Duration::from_millis(300);

/// Whether `fencing` is still running after [`STILL_WAITING`].
async fn still_waiting<T>(fencing: &mut tokio::task::JoinHandle<T>) -> bool {
    tokio::time::timeout(STILL_WAITING, fencing).await.is_err()
}

/// The fence of `tenant` on `owner`, in a task of its own.
fn fence_in_task(
    owner: &PgPool,
    tenant: &TenantId,
) -> tokio::task::JoinHandle<Result<bool, Error>> {
    let (owner, tenant) = (owner.clone(), tenant.clone());
    tokio::spawn(async move { PlacementFence::new(&owner).fence(&tenant).await })
}

/// A transaction that passed the check before the fence's flag: `fence` (its drain) has not
/// returned while it is open, a transaction that begins after the flag is refused with
/// `Fenced` meanwhile, and once it commits, the fence returns and its write is at the source
/// and in the copy. With the C check and with the PL/pgSQL one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_drain_waits_for_a_transaction_that_passed_the_check() {
    let Some((owner, app)) = support::postgres_app_database("placement_drain_waits", 3).await
    else {
        return;
    };
    let Some((target, _)) = support::postgres_app_database("placement_drain_waits_eu", 1).await
    else {
        return;
    };
    PlacedNoteRepo::new(&owner).create_table().await.unwrap();
    prepare_pg(&target).await;
    let fence = PlacementFence::new(&owner);
    let acme = support::ctx("acme", Plan::Free);
    for (round, language) in ["sql", "plpgsql"].into_iter().enumerate() {
        if language == "sql" {
            fence.install().await.unwrap();
        } else {
            fence.install_plpgsql().await.unwrap();
        }
        assert_eq!(fence_language(&owner).await, language);
        fence
            .place(acme.tenant_id(), Tier::Shared, false)
            .await
            .unwrap();
        let id = i64::try_from(round).unwrap();
        let mut tx = TenantTx::begin_fenced(&app, &acme).await.unwrap();
        let mut fencing = fence_in_task(&owner, acme.tenant_id());
        assert!(
            still_waiting(&mut fencing).await,
            "{language}: the drain returned while a transaction that passed the check was open"
        );
        assert!(
            matches!(
                TenantTx::begin_fenced(&app, &acme).await,
                Err(Error::Fenced { .. })
            ),
            "{language}: a transaction began after the flag"
        );
        // Written after the fence began: the copy must still see it.
        tx.repo::<PlacedNote>()
            .insert(&acme, note(id, language))
            .await
            .unwrap();
        assert!(!fencing.is_finished(), "{language}");
        tx.commit().await.unwrap();
        assert!(fencing.await.unwrap().unwrap(), "{language}");
        let at_source: Vec<i64> =
            sqlx::query_scalar("SELECT id FROM placed_notes WHERE tenant_id = 'acme' ORDER BY id")
                .fetch_all(&owner)
                .await
                .unwrap();
        assert_eq!(at_source, (0..=id).collect::<Vec<_>>(), "{language}");
        fence_target_and_copy(&owner, &target, acme.tenant_id(), id + 1).await;
        fence.unfence(acme.tenant_id()).await.unwrap();
    }
}

/// Copies `tenant` from `source` to `target` (placed there fenced) and checks `rows` arrived.
async fn fence_target_and_copy(source: &PgPool, target: &PgPool, tenant: &TenantId, rows: i64) {
    PlacementFence::new(target)
        .place(tenant, Tier::Shared, true)
        .await
        .unwrap();
    let copied = TenantCopy::new()
        .entity::<PlacedNote>()
        .copy(
            tenant,
            TablesAt {
                pool: source,
                schema: None,
            },
            TablesAt {
                pool: target,
                schema: None,
            },
            |_| async {},
        )
        .await
        .unwrap();
    assert_eq!(i64::try_from(copied).unwrap(), rows);
    let at_target: i64 =
        sqlx::query_scalar("SELECT count(*) FROM placed_notes WHERE tenant_id = $1")
            .bind(tenant.as_str())
            .fetch_one(target)
            .await
            .unwrap();
    assert_eq!(at_target, rows);
}

/// A prepared transaction keeps what it wrote uncommitted after its session's transaction has
/// ended (its virtual transaction id is gone): the drain waits for it too. One was prepared
/// before the fence; another passed the check before the flag and prepares while the drain
/// waits (after the drain listed the running transactions, before it lists the prepared
/// ones). The fence returns only when both are committed, and both writes are at the source.
/// Regression: a drain that waited for the listed virtual transaction ids only returned as
/// soon as the second prepared, with its write not committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_drain_waits_for_prepared_transactions() {
    const GIDS: [&str; 2] = ["placement-drain-1", "placement-drain-2"];
    // A run that failed half-way left its prepared transactions, which would keep the
    // database from being dropped and made again: their role rolls them back.
    if let Ok(app_url) = std::env::var("APP_DATABASE_URL") {
        let url = format!(
            "{}/t_placement_drain_prepared",
            app_url.rsplit_once('/').unwrap().0
        );
        if let Ok(left) = PgPool::connect(&url).await {
            for gid in GIDS {
                let rollback = format!("ROLLBACK PREPARED '{gid}'");
                drop(
                    sqlx::query(sqlx::AssertSqlSafe(rollback))
                        .execute(&left)
                        .await,
                );
            }
        }
    }
    let Some((owner, app)) = support::postgres_app_database("placement_drain_prepared", 3).await
    else {
        return;
    };
    let slots: String = sqlx::query_scalar("SHOW max_prepared_transactions")
        .fetch_one(&owner)
        .await
        .unwrap();
    if slots == "0" {
        eprintln!(
            "skipping the_drain_waits_for_prepared_transactions: the server has \
             max_prepared_transactions = 0 (.ci/pg.sh sets 8)"
        );
        return;
    }
    prepare_pg(&owner).await;
    let fence = PlacementFence::new(&owner);
    let acme = support::ctx("acme", Plan::Free);
    fence
        .place(acme.tenant_id(), Tier::Shared, false)
        .await
        .unwrap();
    let prepare = |gid: &str| sqlx::AssertSqlSafe(format!("PREPARE TRANSACTION '{gid}'"));
    let commit = |gid: &str| sqlx::AssertSqlSafe(format!("COMMIT PREPARED '{gid}'"));
    let mut first = TenantTx::begin_fenced(&app, &acme).await.unwrap();
    first
        .repo::<PlacedNote>()
        .insert(&acme, note(1, "prepared before the fence"))
        .await
        .unwrap();
    sqlx::query(prepare(GIDS[0]))
        .execute(first.executor())
        .await
        .unwrap();
    drop(first);
    let mut second = TenantTx::begin_fenced(&app, &acme).await.unwrap();
    let mut fencing = fence_in_task(&owner, acme.tenant_id());
    assert!(still_waiting(&mut fencing).await, "the drain did not wait");
    second
        .repo::<PlacedNote>()
        .insert(&acme, note(2, "prepared during the drain"))
        .await
        .unwrap();
    sqlx::query(prepare(GIDS[1]))
        .execute(second.executor())
        .await
        .unwrap();
    drop(second);
    sqlx::query(commit(GIDS[0])).execute(&app).await.unwrap();
    assert!(
        still_waiting(&mut fencing).await,
        "the drain returned while a transaction that passed the check was prepared, not committed"
    );
    sqlx::query(commit(GIDS[1])).execute(&app).await.unwrap();
    assert!(fencing.await.unwrap().unwrap());
    let written: i64 =
        sqlx::query_scalar("SELECT count(*) FROM placed_notes WHERE tenant_id = 'acme'")
            .fetch_one(&owner)
            .await
            .unwrap();
    assert_eq!(written, 2);
}

/// The drain waits for every transaction of the database that was running when the flag was
/// committed, not only the tenant's: its wait is bounded, and a transaction of another tenant
/// held open past the bound makes `fence` return `DrainTimeout` (retryable), the tenant still
/// fenced. Fencing again once it has ended succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_drain_gives_up_after_its_bound_with_a_typed_error() {
    let Some((owner, app)) = support::postgres_app_database("placement_drain_bound", 2).await
    else {
        return;
    };
    prepare_pg(&owner).await;
    let fence = PlacementFence::new(&owner).with_drain_timeout(Duration::from_millis(200));
    let (acme, globex) = (
        support::ctx("acme", Plan::Free),
        support::ctx("globex", Plan::Free),
    );
    for ctx in [&acme, &globex] {
        fence
            .place(ctx.tenant_id(), Tier::Shared, false)
            .await
            .unwrap();
    }
    let neighbour = TenantTx::begin_fenced(&app, &globex).await.unwrap();
    let refused = fence.fence(acme.tenant_id()).await;
    assert!(
        matches!(&refused, Err(e @ Error::DrainTimeout { tenant, .. }) if tenant == acme.tenant_id() && e.is_retryable()),
        "{refused:?}"
    );
    assert_eq!(
        fence.state(acme.tenant_id()).await.unwrap(),
        Some(tenant::sqlx::PlacedState {
            tier: Tier::Shared,
            fenced: true
        })
    );
    assert!(matches!(
        TenantTx::begin_fenced(&app, &acme).await,
        Err(Error::Fenced { .. })
    ));
    neighbour.commit().await.unwrap();
    assert!(fence.fence(acme.tenant_id()).await.unwrap());
}

/// The fenced BEGIN over the C check (tenant_rls 1.3) makes one call, which checks and sets the
/// search path: the path inside the transaction is the one `TenantTx::begin` sets (the
/// session's schemas, `pg_temp` last; the tenant's schema, `pg_temp` last, for the schema
/// tier), and a refusal still sets nothing. A database whose extension is at 1.2 is updated in
/// place by `install`, and its fenced BEGIN then takes the one call too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_one_call_fence_sets_the_search_path_as_begin_does() {
    let Some((owner, app)) = support::postgres_app_database("placement_one_call_path", 2).await
    else {
        return;
    };
    sqlx::raw_sql(
        "CREATE SCHEMA tenant_rls; CREATE EXTENSION tenant_rls VERSION '1.2' SCHEMA tenant_rls",
    )
    .execute(&owner)
    .await
    .unwrap();
    let fence = PlacementFence::new(&owner);
    fence.install().await.unwrap();
    let version: (String, bool) = sqlx::query_as(
        "SELECT extversion, \
         to_regprocedure('tenant_rls.placement_enter(text, text, text)') IS NOT NULL \
         FROM pg_extension WHERE extname = 'tenant_rls'",
    )
    .fetch_one(&owner)
    .await
    .unwrap();
    assert_eq!(version, ("1.3".to_owned(), true));
    assert_eq!(fence_language(&owner).await, "sql");
    let acme = support::ctx("acme", Plan::Free);
    let show = "SELECT current_setting('search_path')";
    for tier in [Tier::Shared, Tier::Schema] {
        fence.place(acme.tenant_id(), tier, false).await.unwrap();
        let ctx = acme.clone().with_placement(tenant::Placement::new(
            tenant::DatabaseLabel::default(),
            tier,
        ));
        let mut fenced = TenantTx::begin_fenced(&app, &ctx).await.unwrap();
        let path: String = sqlx::query_scalar(show)
            .fetch_one(fenced.executor())
            .await
            .unwrap();
        fenced.commit().await.unwrap();
        let expected = if tier == Tier::Schema {
            "\"tenant_acme\", pg_temp".to_owned()
        } else {
            let mut plain = TenantTx::begin(&app, &ctx).await.unwrap();
            let path: String = sqlx::query_scalar(show)
                .fetch_one(plain.executor())
                .await
                .unwrap();
            plain.commit().await.unwrap();
            path
        };
        assert_eq!(path, expected, "{tier:?}");
        assert!(path.ends_with("pg_temp"), "{path}");
        // Transaction-local: the session's own path is back after the commit.
        let after: String = sqlx::query_scalar(show).fetch_one(&app).await.unwrap();
        assert!(!after.ends_with("pg_temp"), "{after}");
    }
    fence
        .place(acme.tenant_id(), Tier::Shared, true)
        .await
        .unwrap();
    assert!(matches!(
        TenantTx::begin_fenced(&app, &acme).await,
        Err(Error::Fenced { .. })
    ));
}

/// A process of an earlier release still calls the two-argument check in its BEGIN
/// (`tenant_rls.placement_enter(tenant, tier)` by name, or the database's
/// `tenant_placement.enter`), and its drain waits for those transactions by taking the
/// tenant's advisory lock exclusively. Installing this release (the library every database of
/// the server loads, the PL/pgSQL fence `install_plpgsql` replaces) must not take that lock
/// away from them. Regression: both checks had dropped it, and an older drain returned while
/// a transaction that had passed the check still ran.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_releases_drain_still_waits_for_its_transactions() {
    let Some((owner, app)) =
        support::postgres_app_database("placement_older_releases_drain", 2).await
    else {
        return;
    };
    let fence = PlacementFence::new(&owner);
    let acme = support::ctx("acme", Plan::Free);
    for (install, check) in [
        ("sql", "tenant_rls.placement_enter"),
        ("sql", "tenant_placement.enter"),
        ("plpgsql", "tenant_placement.enter"),
    ] {
        if install == "sql" {
            fence.install().await.unwrap();
        } else {
            fence.install_plpgsql().await.unwrap();
        }
        assert_eq!(fence_language(&owner).await, install);
        fence
            .place(acme.tenant_id(), Tier::Shared, false)
            .await
            .unwrap();
        // The older release's BEGIN: its check, then the transaction goes on.
        let mut old = app.begin().await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {check}($1, 'shared')")))
            .bind(acme.tenant_id().as_str())
            .execute(&mut *old)
            .await
            .unwrap();
        // The older release's drain, after setting the flag.
        let drain = {
            let owner = owner.clone();
            let tenant = acme.tenant_id().as_str().to_owned();
            tokio::spawn(async move {
                let mut tx = owner.begin().await.unwrap();
                sqlx::query("SELECT pg_advisory_xact_lock(1952804464, hashtext($1))")
                    .bind(tenant)
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
            })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            !drain.is_finished(),
            "{check} ({install}): an older drain returned while a checked transaction ran"
        );
        old.commit().await.unwrap();
        tokio::time::timeout(Duration::from_secs(10), drain)
            .await
            .expect("the older drain ends once the transaction has")
            .unwrap();
    }
}

/// The C check remembers, per backend, the placement table it found and where each tenant's row
/// was; nothing it remembers outlives a change. On one application connection (so one backend
/// remembers): a row updated (fenced, moved to another tier), deleted, or deleted and its place
/// reused by another tenant's row after a VACUUM truncated the table; and the table renamed away
/// for another one. Each is refused or admitted as the table says now.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_c_checks_remembered_rows_follow_every_change() {
    let Some((owner, app)) = support::postgres_app_database("placement_c_remembered", 1).await
    else {
        return;
    };
    let fence = PlacementFence::new(&owner);
    fence.install().await.unwrap();
    assert_eq!(fence_language(&owner).await, "sql");
    let acme = support::ctx("acme", Plan::Free);
    let globex = support::ctx("globex", Plan::Free);
    let (a, g) = (acme.tenant_id(), globex.tenant_id());
    let begin = |ctx: &TenantCtx| {
        let (app, ctx) = (app.clone(), ctx.clone());
        async move {
            tenant::sqlx::TenantTx::begin_fenced(&app, &ctx)
                .await
                .map(|_| ())
        }
    };
    let owner_sql = |sql: &'static str| {
        let owner = owner.clone();
        async move { sqlx::raw_sql(sql).execute(&owner).await.unwrap() }
    };
    // acme's row is the table's first: (0,1).
    fence.place(a, Tier::Shared, false).await.unwrap();
    for _ in 0..3 {
        begin(&acme).await.unwrap();
    }

    // Updated: fenced, another tier, back.
    fence.fence(a).await.unwrap();
    assert!(matches!(begin(&acme).await, Err(Error::Fenced { .. })));
    fence.unfence(a).await.unwrap();
    begin(&acme).await.unwrap();
    fence.place(a, Tier::Schema, false).await.unwrap();
    assert!(matches!(begin(&acme).await, Err(Error::Moved { .. })));
    fence.place(a, Tier::Shared, false).await.unwrap();
    begin(&acme).await.unwrap();

    // Deleted, and the table truncated by VACUUM under the remembered place: refused, as
    // `Moved`, not a failure to read a block past the table's end.
    fence.unplace(a).await.unwrap();
    owner_sql("VACUUM tenant_placement.tenants").await;
    let blocks: i64 =
        sqlx::query_scalar("SELECT pg_relation_size('tenant_placement.tenants') / 8192")
            .fetch_one(&owner)
            .await
            .unwrap();
    assert_eq!(blocks, 0, "VACUUM did not truncate the table");
    assert!(matches!(begin(&acme).await, Err(Error::Moved { .. })));

    // The remembered place reused by another tenant's row, with no VACUUM (whose change of the
    // table's statistics would make the backend forget everything): acme's row is updated (a
    // heap-only version, remembered), then fenced (another version); pruning on a read frees
    // the remembered place, and globex's next version, placed and unfenced, takes it. acme is
    // still fenced. (A fill factor of 10 makes a read of the page prune it.)
    owner_sql("DELETE FROM tenant_placement.tenants").await;
    owner_sql("VACUUM tenant_placement.tenants").await;
    owner_sql("ALTER TABLE tenant_placement.tenants SET (fillfactor = 10)").await;
    fence.place(a, Tier::Shared, false).await.unwrap();
    fence.place(g, Tier::Shared, false).await.unwrap();
    for n in 0..12 {
        let filler: TenantId = format!("filler-{n}").parse().unwrap();
        fence.place(&filler, Tier::Shared, false).await.unwrap();
    }
    let place = |tenant: &'static str| {
        let owner = owner.clone();
        async move {
            sqlx::query_scalar::<_, String>(
                "SELECT ctid::text FROM tenant_placement.tenants WHERE tenant_id = $1",
            )
            .bind(tenant)
            .fetch_one(&owner)
            .await
            .unwrap()
        }
    };
    // Pruning waits for every transaction of the server that could still see the freed
    // version (other tests'): tried again until a read prunes and globex's row takes the place.
    let mut reused = false;
    for attempt in 0..50 {
        sqlx::query(
            "UPDATE tenant_placement.tenants SET fenced = FALSE, move_id = $1 \
             WHERE tenant_id = 'acme'",
        )
        .bind(format!("a{attempt}"))
        .execute(&owner)
        .await
        .unwrap();
        begin(&acme).await.unwrap();
        let remembered = place("acme").await;
        fence.fence(a).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20 * attempt)).await;
        owner_sql("SELECT count(*) FROM tenant_placement.tenants").await;
        sqlx::query("UPDATE tenant_placement.tenants SET move_id = $1 WHERE tenant_id = 'globex'")
            .bind(format!("g{attempt}"))
            .execute(&owner)
            .await
            .unwrap();
        if place("globex").await == remembered {
            reused = true;
            break;
        }
    }
    assert!(reused, "no read pruned acme's remembered row in 50 tries");
    assert!(matches!(begin(&acme).await, Err(Error::Fenced { .. })));
    begin(&globex).await.unwrap();

    // The table renamed away, another made in its place where acme is fenced: the old one,
    // where acme is placed and unfenced, is no longer read.
    fence.unfence(a).await.unwrap();
    begin(&acme).await.unwrap();
    owner_sql("ALTER TABLE tenant_placement.tenants RENAME TO old_tenants").await;
    fence.install().await.unwrap();
    fence.place(a, Tier::Shared, true).await.unwrap();
    assert!(matches!(begin(&acme).await, Err(Error::Fenced { .. })));
    assert!(matches!(begin(&globex).await, Err(Error::Moved { .. })));
}
