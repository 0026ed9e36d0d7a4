//! The app proves its isolation with tenant-testkit: the leak search over its four entities
//! and its checked query on SQLite, PostgreSQL, PostgreSQL with row-level security and through
//! a transaction-pooling PgBouncer (`TenantTx`, row-level security, a schema per tenant); the
//! pooled-connection check directly and through PgBouncer; the isolation probe on the
//! application role. Sizes: `TENANT_APP_LEAK_OPS` (400 unless set), seeds `TENANT_LEAK_SEED`.

mod common;

use common::{ops, tenants};
use example_app::{Comment, Customer, Project, Task};
use tenant::ProvisionCtx;
use tenant_test_support as support;
use tenant_testkit::{IsolationProbe, PooledCheck};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn leak_search_on_sqlite() {
    common::sqlite_search("example app on SQLite")
        .check_ops(ops())
        .await
        .expect("SQLite is always there");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn leak_search_on_postgres() {
    common::postgres_search("example app on PostgreSQL", common::postgres)
        .check_ops(ops())
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn leak_search_on_postgres_with_row_level_security() {
    common::postgres_search("example app with row-level security", common::postgres_rls)
        .check_ops(ops())
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn leak_search_through_pgbouncer_in_tenant_transactions() {
    common::postgres_search(
        "example app through PgBouncer, TenantTx",
        common::pgbouncer_tenant_tx,
    )
    .check_ops(ops())
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn leak_search_through_pgbouncer_with_row_level_security() {
    common::postgres_search(
        "example app through PgBouncer, row-level security",
        common::pgbouncer_rls,
    )
    .check_ops(ops())
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn leak_search_through_pgbouncer_with_a_schema_per_tenant() {
    common::postgres_search(
        "example app through PgBouncer, schema per tenant",
        common::pgbouncer_schemas,
    )
    .check_ops(ops())
    .await;
}

/// Two tenants in turn on the one connection of a pool of one, straight to the server.
#[tokio::test]
async fn pooled_connection_check_on_the_server() {
    let Some(url) = support::server_var("DATABASE_URL", "the pooled-connection check") else {
        return;
    };
    let t = tenants("pooled");
    let report = PooledCheck::new(url, t[0].clone(), t[1].clone())
        .run()
        .await
        .unwrap();
    println!("{report}");
    assert!(
        !report.two_clients,
        "one pool of one connection: one client"
    );
    assert_eq!(report.turns, 4);
    assert!(report.passed(), "{report}");
}

/// Two clients through PgBouncer's one server connection, TenantTx then a schema per tenant.
#[tokio::test]
async fn pooled_connection_check_through_pgbouncer() {
    let Some(url) = support::server_var(
        "PGBOUNCER_SINGLE_DATABASE_URL",
        "the pooled-connection check through PgBouncer",
    ) else {
        return;
    };
    let t = tenants(&support::unique_name("pooled_s"));
    let report = PooledCheck::new(url.clone(), t[0].clone(), t[1].clone())
        .run()
        .await
        .unwrap();
    println!("{report}");
    assert!(
        report.two_clients,
        "PgBouncer hands both clients its one server connection"
    );
    assert!(report.passed(), "{report}");

    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_with(common::through_pgbouncer(&url))
        .await
        .unwrap();
    let sys = ProvisionCtx::new("example app tests: pooled check schemas").unwrap();
    for ctx in &t[..2] {
        common::app_schema()
            .create(&sys, &pool, ctx.schema_name())
            .await
            .unwrap();
    }
    let report = PooledCheck::new(url, t[0].clone(), t[1].clone())
        .schema_per_tenant()
        .run()
        .await
        .unwrap();
    println!("{report}");
    for ctx in &t[..2] {
        common::app_schema()
            .drop(&sys, &pool, ctx.schema_name())
            .await
            .unwrap();
    }
    assert!(report.two_clients);
    assert!(report.passed(), "{report}");
}

/// The database as SECURITY.md asks for it (row-level security on, the application role, no
/// TEMP): neither the catalog audit nor the live probe finds anything.
#[tokio::test]
async fn isolation_probe_finds_nothing_with_row_level_security() {
    let Some((owner, app)) = support::postgres_app_database("example_app_probe", 2).await else {
        return;
    };
    example_app::postgres::create_tables(&owner).await.unwrap();
    let rls = support::install_row_security(&owner).await;
    common::enable_row_security(&owner).await;
    let t = tenants("probe");
    let findings = IsolationProbe::new(app, t[0].clone(), t[1].clone())
        .row_security(rls)
        .entity::<Customer>()
        .entity::<Project>()
        .entity::<Task>()
        .entity::<Comment>()
        .findings()
        .await
        .unwrap();
    println!("{findings}");
    assert!(findings.is_empty(), "{findings}");
}
