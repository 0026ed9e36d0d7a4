//! `DbBudget`: a tenant holds at most its plan-weighted share of a shared pool while the others
//! go on, and a plan's statement timeout is a typed error (PostgreSQL).

use std::future::Future;
use std::task::Poll;
use std::time::Duration;

use tenant::sqlx::{Backend, DbBudget, Error, PlacementFence, RowSecurity};
use tenant::{Plan, Tier};
use tenant_test_support::ctx;

/// Whether `future` is still waiting after one poll (deterministic: no clock involved).
async fn is_pending<F: Future>(future: &mut std::pin::Pin<Box<F>>) -> bool {
    std::future::poll_fn(|cx| Poll::Ready(future.as_mut().poll(cx).is_pending())).await
}

/// With a pool of `max`: the free tenant's share is 1, so its second transaction waits for its
/// first; the pro and enterprise tenants begin theirs meanwhile, up to their own shares, and
/// nobody else is ever made to wait by the free tenant.
async fn shares_are_enforced<DB: Backend>(pool: sqlx::Pool<DB>, shares: [usize; 3]) {
    let budget = DbBudget::new(pool);
    let (free, pro, ent) = (
        ctx("free-1", Plan::Free),
        ctx("pro-1", Plan::Pro),
        ctx("ent-1", Plan::Enterprise),
    );
    assert_eq!(
        [
            budget.share_of(&free),
            budget.share_of(&pro),
            budget.share_of(&ent)
        ],
        shares
    );
    let mut held = Vec::new();
    for _ in 0..shares[0] {
        held.push(budget.begin(&free).await.unwrap());
    }
    let mut waiting = Box::pin(budget.begin(&free));
    assert!(is_pending(&mut waiting).await, "free went past its share");
    // The others are not refused or held up by the free tenant: the enterprise tenant takes
    // its whole share (the shares overlap: together they may exceed the pool, each alone
    // leaves room), then is held at it by the budget, before the pool.
    let mut others = Vec::new();
    for _ in 0..shares[2] {
        others.push(budget.begin(&ent).await.unwrap());
    }
    assert_eq!(budget.held(ent.tenant_id()), shares[2]);
    let mut over = Box::pin(budget.begin(&ent));
    assert!(
        is_pending(&mut over).await,
        "enterprise went past its share"
    );
    drop(over);
    // Where the pool has room left, the pro tenant gets it while the free tenant waits.
    if shares[0] + shares[2] < budget.pool().options().get_max_connections() as usize {
        others.push(budget.begin(&pro).await.unwrap());
        assert_eq!(budget.held(pro.tenant_id()), 1);
    }
    assert_eq!(budget.held(free.tenant_id()), shares[0]);
    // One of the free tenant's own ends: its waiting transaction begins.
    held.pop().unwrap().commit().await.unwrap();
    let tx = waiting.await.unwrap();
    assert_eq!(budget.held(free.tenant_id()), shares[0]);
    drop(tx);
    drop(others);
    drop(held);
    assert_eq!(budget.held(pro.tenant_id()), 0);
}

#[tokio::test]
async fn sqlite_a_tenant_holds_at_most_its_share_of_the_pool() {
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(10)
        .connect("sqlite::memory:")
        .await
        .unwrap();
    shares_are_enforced(pool, [1, 3, 8]).await;
}

#[tokio::test]
async fn postgres_a_tenant_holds_at_most_its_share_of_the_pool() {
    let Some(pool) = tenant_test_support::postgres("budget_shares").await else {
        return;
    };
    // A pool of 4: free ⌈4/14⌉ = 1, pro ⌈12/14⌉ = 1, enterprise ⌈40/14⌉ = 3 = 4 − 1.
    shares_are_enforced(pool, [1, 1, 3]).await;
}

/// The free plan's statements are cancelled after 100 ms: `pg_sleep(30)` ends as the typed
/// `Error::StatementTimeout` (before `DbBudget`, nothing bounded it). The pro plan has no
/// timeout, and the setting does not outlive the transaction on the pooled connection.
#[tokio::test]
async fn postgres_a_statement_past_the_plans_timeout_is_a_typed_error() {
    let Some(pool) = tenant_test_support::postgres("budget_timeout").await else {
        return;
    };
    let budget =
        DbBudget::new(pool.clone()).statement_timeout(Plan::Free, Duration::from_millis(100));
    let free = ctx("free-1", Plan::Free);
    let mut tx = budget.begin(&free).await.unwrap();
    let setting: String = sqlx::query_scalar("SHOW statement_timeout")
        .fetch_one(tx.executor())
        .await
        .unwrap();
    assert_eq!(setting, "100ms");
    let slept = sqlx::query("SELECT pg_sleep(30)")
        .execute(tx.executor())
        .await
        .map_err(Error::from);
    match slept {
        Err(Error::StatementTimeout(source)) => {
            let code = source.as_database_error().and_then(|e| e.code());
            assert_eq!(code.as_deref(), Some("57014"));
        }
        other => panic!("expected a statement timeout, got {other:?}"),
    }
    drop(tx);

    let pro = ctx("pro-1", Plan::Pro);
    let mut tx = budget.begin(&pro).await.unwrap();
    let setting: String = sqlx::query_scalar("SHOW statement_timeout")
        .fetch_one(tx.executor())
        .await
        .unwrap();
    assert_eq!(setting, "0", "the pro plan has no timeout");
    tx.commit().await.unwrap();
    // Transaction-local: every pooled connection is back to the server's default.
    for _ in 0..4 {
        let setting: String = sqlx::query_scalar("SHOW statement_timeout")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(setting, "0");
    }
}

#[tokio::test]
async fn sqlite_a_statement_timeout_is_unsupported_not_ignored() {
    let pool = tenant_test_support::sqlite().await;
    let budget = DbBudget::new(pool).statement_timeout(Plan::Free, Duration::from_secs(1));
    let refused = budget.begin(&ctx("free-1", Plan::Free)).await;
    assert!(matches!(
        refused,
        Err(Error::Unsupported {
            what: "a statement timeout",
            ..
        })
    ));
    // Plans without one are unaffected.
    budget
        .begin(&ctx("pro-1", Plan::Pro))
        .await
        .unwrap()
        .commit()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_full_weight_that_is_not_positive_is_refused() {
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .connect_lazy("sqlite::memory:")
        .unwrap();
    assert!(
        DbBudget::new(pool.clone())
            .weights(Default::default(), 0.0)
            .is_err()
    );
    assert!(
        DbBudget::new(pool)
            .weights(Default::default(), f64::NAN)
            .is_err()
    );
}

/// The plan's timeout holds in every kind of tenant transaction, set in the same BEGIN round
/// trip: with row-level security (both modes), behind the placement fence, and both together.
/// Before, `DbBudget` could only begin a plain `TenantTx`: a service with row-level security
/// or placement had to choose between them and the timeout. The fence and the credential
/// still refuse as they do without the budget, and the refused tenant's share is given back.
#[tokio::test]
async fn postgres_the_timeout_holds_with_row_security_and_behind_the_fence() {
    let Some((owner, app)) =
        tenant_test_support::postgres_app_database("budget_timeout_rls_fence", 2).await
    else {
        return;
    };
    let security = tenant_test_support::install_row_security(&owner).await;
    let fence = PlacementFence::new(&owner);
    fence.install().await.unwrap();
    let free = ctx("acme", Plan::Free);
    fence
        .place(free.tenant_id(), Tier::Shared, false)
        .await
        .unwrap();
    let budget = DbBudget::new(app).statement_timeout(Plan::Free, Duration::from_millis(100));

    async fn timed_out(tx: &mut tenant::sqlx::BudgetTx<sqlx::Postgres>, how: &str) {
        let setting: String = sqlx::query_scalar("SHOW statement_timeout")
            .fetch_one(tx.executor())
            .await
            .unwrap();
        assert_eq!(setting, "100ms", "{how}");
        let slept = sqlx::query("SELECT pg_sleep(30)")
            .execute(tx.executor())
            .await
            .map_err(Error::from);
        assert!(
            matches!(slept, Err(Error::StatementTimeout(_))),
            "{how}: {slept:?}"
        );
    }
    async fn tenant_of(tx: &mut tenant::sqlx::BudgetTx<sqlx::Postgres>) -> Option<String> {
        sqlx::query_scalar("SELECT tenant_rls.current_tenant()")
            .fetch_one(tx.executor())
            .await
            .unwrap()
    }

    for mode in [security.clone(), security.clone().two_round_trips()] {
        let how = format!("{mode:?}");
        let mut tx = budget.begin_row_security(&mode, &free).await.unwrap();
        assert_eq!(tenant_of(&mut tx).await.as_deref(), Some("acme"), "{how}");
        timed_out(&mut tx, &how).await;
        drop(tx);

        let mut tx = budget
            .begin_fenced_row_security(&mode, &free)
            .await
            .unwrap();
        assert_eq!(tenant_of(&mut tx).await.as_deref(), Some("acme"), "{how}");
        timed_out(&mut tx, &how).await;
        drop(tx);

        fence.fence(free.tenant_id()).await.unwrap();
        assert!(matches!(
            budget.begin_fenced_row_security(&mode, &free).await,
            Err(Error::Fenced { .. })
        ));
        fence.unfence(free.tenant_id()).await.unwrap();
        let wrong = RowSecurity::new(&[3; 32]).unwrap();
        assert!(matches!(
            budget.begin_fenced_row_security(&wrong, &free).await,
            Err(Error::RowSecurityRefused)
        ));
    }
    let mut tx = budget.begin_fenced(&free).await.unwrap();
    assert_eq!(tenant_of(&mut tx).await, None, "no credential, no tenant");
    timed_out(&mut tx, "fenced").await;
    drop(tx);
    let unplaced = ctx("globex", Plan::Free);
    assert!(matches!(
        budget.begin_fenced(&unplaced).await,
        Err(Error::Moved { .. })
    ));
    // Every refusal gave its connection back: the free share (1) is free.
    assert_eq!(budget.held(free.tenant_id()), 0);
    assert_eq!(budget.held(unplaced.tenant_id()), 0);
}

#[tokio::test]
async fn sqlite_a_fenced_budget_with_a_timeout_is_unsupported_not_ignored() {
    let pool = tenant_test_support::sqlite().await;
    PlacementFence::new(&pool).install().await.unwrap();
    let free = ctx("free-1", Plan::Free);
    PlacementFence::new(&pool)
        .place(free.tenant_id(), Tier::Shared, false)
        .await
        .unwrap();
    let budget = DbBudget::new(pool).statement_timeout(Plan::Free, Duration::from_secs(1));
    assert!(matches!(
        budget.begin_fenced(&free).await,
        Err(Error::Unsupported {
            what: "a statement timeout",
            ..
        })
    ));
    // A plan without a timeout goes on to the fence, which does not hold pro-1.
    assert!(matches!(
        budget.begin_fenced(&ctx("pro-1", Plan::Pro)).await,
        Err(Error::Moved { .. })
    ));
}

/// `FairLayer` in front of `DbBudget`, with a tenant whose share of the database is exhausted:
/// free tenant globex holds its one connection with a slow transaction (open until the test
/// ends it) and sends more requests than the boundary has slots; each of them waits, inside
/// the handler, for globex's database share. Enterprise tenant acme's requests meanwhile are
/// admitted and served. Before the boundary bounded a tenant's slots by its weighted share,
/// globex's waiting requests held all 8 slots and acme waited at the door until globex's
/// slow transaction ended.
async fn a_tenant_waiting_for_its_database_share_leaves_the_boundary_to_the_others<DB>(
    pool: sqlx::Pool<DB>,
) where
    DB: Backend,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    use std::sync::Arc;

    use axum::extract::{Extension, State};
    use axum::routing::get;
    use tenant::http::{FairLayer, Limits, TenantLayer, TenantResolver};
    use tenant::registry::InMemoryRegistry;
    use tenant::{TenancyConfig, Tenant, TenantCtx};
    use tokio::sync::Semaphore;
    use tower::ServiceExt;

    struct App<DB: Backend> {
        budget: DbBudget<DB>,
        /// Closed until the end: a slow transaction holds its connection until then.
        slow: Semaphore,
    }
    async fn slow<DB: Backend>(
        State(app): State<Arc<App<DB>>>,
        Extension(ctx): Extension<TenantCtx>,
    ) -> &'static str
    where
        for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    {
        let tx = app.budget.begin(&ctx).await.unwrap();
        drop(app.slow.acquire().await.unwrap());
        tx.commit().await.unwrap();
        "slow"
    }
    async fn quick<DB: Backend>(
        State(app): State<Arc<App<DB>>>,
        Extension(ctx): Extension<TenantCtx>,
    ) -> &'static str
    where
        for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    {
        let mut tx = app.budget.begin(&ctx).await.unwrap();
        sqlx::query("SELECT 1")
            .execute(tx.executor())
            .await
            .unwrap();
        tx.commit().await.unwrap();
        "quick"
    }

    let tenant = |name: &str, plan: Plan| {
        let now = std::time::SystemTime::now();
        Tenant {
            id: name.parse().unwrap(),
            slug: name.parse().unwrap(),
            name: name.into(),
            plan,
            schema_name: format!("tenant_{name}").parse().unwrap(),
            is_active: true,
            created_at: now,
            updated_at: now,
            limits: None,
            placement: Default::default(),
        }
    };
    let registry = InMemoryRegistry::new([
        tenant("acme", Plan::Enterprise),
        tenant("globex", Plan::Free),
    ])
    .unwrap();
    let resolver = TenantResolver::new(registry, TenancyConfig::default())
        .anonymous()
        .shared();
    let lots = Limits::new(1_000_000, 1_000_000, 1_000).unwrap();
    let fair = FairLayer::builder(8, lots).build().unwrap();
    let app = Arc::new(App {
        budget: DbBudget::new(pool),
        slow: Semaphore::new(0),
    });
    let router = axum::Router::new()
        .route("/slow", get(slow::<DB>))
        .route("/quick", get(quick::<DB>))
        .with_state(Arc::clone(&app))
        .layer((TenantLayer::new(resolver), fair.clone()));
    let request = |path: &str, tenant: &str| {
        http::Request::get(path)
            .header("x-tenant-id", tenant)
            .body(axum::body::Body::empty())
            .unwrap()
    };

    let globex: Vec<_> = (0..20)
        .map(|_| tokio::spawn(router.clone().oneshot(request("/slow", "globex"))))
        .collect();
    let globex_id = "globex".parse().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while fair.in_flight() + fair.queued(&globex_id) < 20 {
        assert!(
            std::time::Instant::now() < deadline,
            "globex's requests never arrived"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // globex's one connection is taken; the rest of its requests wait for it, at the boundary
    // or in the handler.
    let mut served = 0;
    for _ in 0..5 {
        let response = tokio::time::timeout(
            Duration::from_secs(5),
            router.clone().oneshot(request("/quick", "acme")),
        )
        .await
        .expect("acme waited at the door behind globex's requests")
        .unwrap();
        assert_eq!(response.status(), 200);
        served += 1;
    }
    assert_eq!(served, 5);
    // globex holds no more of the boundary than its weighted share of 8 slots: ⌈8 × 1/14⌉.
    assert_eq!(fair.in_flight(), 1);
    assert_eq!(fair.queued(&globex_id), 19);

    app.slow.add_permits(1_000);
    for request in globex {
        assert_eq!(request.await.unwrap().unwrap().status(), 200);
    }
    assert_eq!(fair.in_flight(), 0);
}

#[tokio::test]
async fn sqlite_a_tenant_waiting_for_its_database_share_leaves_the_boundary_to_the_others() {
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(10)
        .connect("sqlite::memory:")
        .await
        .unwrap();
    a_tenant_waiting_for_its_database_share_leaves_the_boundary_to_the_others(pool).await;
}

#[tokio::test]
async fn postgres_a_tenant_waiting_for_its_database_share_leaves_the_boundary_to_the_others() {
    let Some(pool) = tenant_test_support::postgres("budget_boundary").await else {
        return;
    };
    a_tenant_waiting_for_its_database_share_leaves_the_boundary_to_the_others(pool).await;
}
