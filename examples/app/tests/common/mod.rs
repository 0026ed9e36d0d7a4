//! The app's test databases, as a user of the kit writes them: one fresh database per run,
//! the test tenants, and the app's checked query registered as an operation.

#![allow(dead_code)] // each test binary uses its part

use std::future::Future;
use std::str::FromStr;

use example_app::{Comment, Customer, Project, Task};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, Sqlite};
use tenant::sqlx::{Error, Repo, TenantSchema, TenantTx};
use tenant::{Plan, ProvisionCtx, TenantCtx};
use tenant_test_support as support;
use tenant_testkit::{BoxFuture, Database, LeakSearch, SqliteFile};

/// Test tenants per run: enough that keys, parents and cursors collide across them.
pub(crate) const TENANTS: usize = 8;

/// Ops per search: small by default (each backend, and PgBouncer, costs CI seconds);
/// `TENANT_APP_LEAK_OPS` for a longer run.
pub(crate) fn ops() -> usize {
    tenant_testkit::ops_from_var("TENANT_APP_LEAK_OPS", 400)
}

/// The test tenants; `schema_prefix` names each one's schema.
pub(crate) fn tenants(schema_prefix: &str) -> Vec<TenantCtx> {
    (0..TENANTS)
        .map(|t| {
            TenantCtx::trusted(
                format!("app-t{t}").parse().unwrap(),
                format!("{schema_prefix}_t{t}").parse().unwrap(),
                Plan::Free,
            )
        })
        .collect()
}

/// The app's checked query, as an operation of the search: its result must show the caller's
/// customers only.
pub(crate) fn open_tasks_sqlite<'a>(
    ctx: &'a TenantCtx,
    tx: &'a mut TenantTx<Sqlite>,
) -> BoxFuture<'a, Result<String, Error>> {
    Box::pin(async move {
        let rows = example_app::sqlite::open_tasks_per_customer(ctx, tx).await?;
        Ok(format!("{rows:?}"))
    })
}

/// The same on PostgreSQL.
pub(crate) fn open_tasks_postgres<'a>(
    ctx: &'a TenantCtx,
    tx: &'a mut TenantTx<Postgres>,
) -> BoxFuture<'a, Result<String, Error>> {
    Box::pin(async move {
        let rows = example_app::postgres::open_tasks_per_customer(ctx, tx).await?;
        Ok(format!("{rows:?}"))
    })
}

/// A fresh SQLite file with several connections (state left on a pooled connection is among
/// what is sought, which one connection cannot show), deleted when the run ends.
pub(crate) async fn sqlite() -> Option<Database<Sqlite>> {
    let file = SqliteFile::create("example_app").await.unwrap();
    example_app::sqlite::create_tables(file.pool())
        .await
        .unwrap();
    Some(Database::sqlite_file(file, tenants("sqlite")))
}

/// The search over the app's four entities and its checked query, on SQLite.
pub(crate) fn sqlite_search(name: &str) -> LeakSearch<Sqlite> {
    LeakSearch::new(name, sqlite)
        .entity::<Customer>()
        .entity::<Project>()
        .entity::<Task>()
        .entity::<Comment>()
        .query("open_tasks_per_customer", open_tasks_sqlite)
}

/// The search on PostgreSQL databases from `setup`.
pub(crate) fn postgres_search<F, Fut>(name: &str, setup: F) -> LeakSearch<Postgres>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Option<Database<Postgres>>> + Send + 'static,
{
    LeakSearch::new(name, setup)
        .entity::<Customer>()
        .entity::<Project>()
        .entity::<Task>()
        .entity::<Comment>()
        .query("open_tasks_per_customer", open_tasks_postgres)
}

/// A fresh schema of `DATABASE_URL`: the repositories' own predicates alone.
pub(crate) async fn postgres() -> Option<Database<Postgres>> {
    let pool = support::postgres(&support::unique_name("example_app")).await?;
    example_app::postgres::create_tables(&pool).await.unwrap();
    Some(Database::new(pool, tenants("pgp")))
}

/// Enables row-level security on the app's tables, as their owner.
pub(crate) async fn enable_row_security(owner: &PgPool) {
    Repo::<Customer, _>::new(owner)
        .row_level_security()
        .await
        .unwrap();
    Repo::<Project, _>::new(owner)
        .row_level_security()
        .await
        .unwrap();
    Repo::<Task, _>::new(owner)
        .row_level_security()
        .await
        .unwrap();
    Repo::<Comment, _>::new(owner)
        .row_level_security()
        .await
        .unwrap();
}

/// A fresh schema, row-level security on, every op as the application role inside
/// `RowSecurity::begin`.
pub(crate) async fn postgres_rls() -> Option<Database<Postgres>> {
    let (owner, app) =
        support::postgres_app_role(&support::unique_name("example_app_rls"), 8).await?;
    example_app::postgres::create_tables(&owner).await.unwrap();
    let rls = support::install_row_security(&owner).await;
    enable_row_security(&owner).await;
    owner.close().await;
    Some(Database::new(app, tenants("rls")).row_security(rls))
}

/// Options for a pool through a transaction-pooling PgBouncer 1.18 (Debian 12's): no
/// statement cache (a client moves between server connections, where statements it prepared
/// elsewhere do not exist) and no startup `options` (it refuses them; the search path travels
/// per transaction). sqlx 0.9 still names every persistent statement (`sqlx_s_N`, per
/// client): `.ci/pgbouncer.sh` deallocates them after each transaction, or two clients on one
/// server connection collide (`42P05`).
pub(crate) fn through_pgbouncer(url: &str) -> PgConnectOptions {
    PgConnectOptions::from_str(url)
        .unwrap()
        .statement_cache_capacity(0)
}

/// A fresh database of its own (the app's tables in `public`, then `prepare` as their owner),
/// and a pool on it through PgBouncer as the role of `var`'s URL.
async fn behind_pgbouncer<R>(
    var: &str,
    prefix: &str,
    prepare: impl AsyncFnOnce(&PgPool) -> R,
) -> Option<(PgPool, R)> {
    let bouncer = support::server_var(var, "the leak search through PgBouncer")?;
    let (owner, app) = support::postgres_app_database(&support::unique_name(prefix), 1).await?;
    app.close().await;
    example_app::postgres::create_tables(&owner).await.unwrap();
    let prepared = prepare(&owner).await;
    let name: String = sqlx::query_scalar("SELECT current_database()::text")
        .fetch_one(&owner)
        .await
        .unwrap();
    owner.close().await;
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .connect_with(through_pgbouncer(&bouncer).database(&name))
        .await
        .unwrap();
    Some((pool, prepared))
}

/// Row-level security on, the application role's pool through PgBouncer.
pub(crate) async fn pgbouncer_rls() -> Option<Database<Postgres>> {
    let (app, rls) = behind_pgbouncer(
        "PGBOUNCER_APP_DATABASE_URL",
        "example_app_pgb",
        async |owner: &PgPool| {
            let rls = support::install_row_security(owner).await;
            enable_row_security(owner).await;
            rls
        },
    )
    .await?;
    Some(Database::new(app, tenants("pgb")).row_security(rls))
}

/// The repositories' predicates alone, the owner's pool through PgBouncer, every op inside a
/// `TenantTx`.
pub(crate) async fn pgbouncer_tenant_tx() -> Option<Database<Postgres>> {
    let (pool, ()) = behind_pgbouncer(
        "PGBOUNCER_DATABASE_URL",
        "example_app_pgt",
        async |_: &PgPool| {},
    )
    .await?;
    Some(Database::new(pool, tenants("pgt")).every_op_in_tenant_tx())
}

/// The app's tables in a schema per tenant.
pub(crate) fn app_schema() -> TenantSchema {
    TenantSchema::new()
        .entity::<Customer>()
        .entity::<Project>()
        .entity::<Task>()
        .entity::<Comment>()
}

/// Every tenant's own schema, made through PgBouncer, every op inside
/// `TenantTx::begin_in_schema`; the schemas are dropped when the run ends.
pub(crate) async fn pgbouncer_schemas() -> Option<Database<Postgres>> {
    let bouncer = support::server_var(
        "PGBOUNCER_DATABASE_URL",
        "the leak search through PgBouncer",
    )?;
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .connect_with(through_pgbouncer(&bouncer))
        .await
        .unwrap();
    let tenants = tenants(&support::unique_name("example_app_s"));
    let sys = ProvisionCtx::new("example app tests: the run's tenant schemas").unwrap();
    for ctx in &tenants {
        app_schema()
            .create(&sys, &pool, ctx.schema_name())
            .await
            .unwrap();
    }
    Some(
        Database::new(pool, tenants)
            .schema_per_tenant()
            .on_close(|pool, tenants| async move {
                let sys = ProvisionCtx::new("example app tests: drop the run's schemas").unwrap();
                for ctx in &tenants {
                    app_schema()
                        .drop(&sys, &pool, ctx.schema_name())
                        .await
                        .unwrap();
                }
                pool.close().await;
            }),
    )
}
