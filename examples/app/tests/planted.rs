//! Planted bugs the kit must catch: a plain sqlx query that forgets the tenant (the leak
//! search catches it and shrinks the program to a handful of ops), a session-level
//! `SET app.tenant_id` on a pooled connection (the pooled-connection check sees it in the next
//! tenant's session, directly and through PgBouncer), and tables without row-level security
//! (the isolation probe reports every table at once).

mod common;

use common::tenants;
use example_app::{Comment, Customer, Project, Task};
use sqlx::{PgPool, Sqlite};
use tenant::TenantCtx;
use tenant::sqlx::{Error, TENANT_SETTING, TenantTx};
use tenant_test_support as support;
use tenant_testkit::{BoxFuture, IsolationProbe, PooledCheck, PooledFinding, ProbeFinding};

/// The bug: customers' names by plain sqlx, the tenant forgotten.
fn names_forgetting_the_tenant<'a>(
    _ctx: &'a TenantCtx,
    tx: &'a mut TenantTx<Sqlite>,
) -> BoxFuture<'a, Result<String, Error>> {
    Box::pin(async move {
        let names: Vec<String> = sqlx::query_scalar("SELECT name FROM app_customers")
            .fetch_all(tx.executor())
            .await?;
        Ok(format!("{names:?}"))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_query_forgetting_the_tenant_is_caught_and_shrunk() {
    let search = common::sqlite_search("planted: a query forgetting the tenant")
        .query("names_forgetting_the_tenant", names_forgetting_the_tenant);
    let report = search.run(1, 400).await.expect("SQLite is always there");
    println!("{report}");
    let failure = report.failure.as_ref().expect("the leak is caught");
    assert!(failure.first.leaks > 0, "caught as a leak: {report}");
    let shrunk = failure
        .shrunk_difference
        .as_ref()
        .expect("the shrunk program fails again");
    assert!(shrunk.leaks > 0);
    assert!(
        (2..=3).contains(&failure.shrunk.len()),
        "one tenant writes, another runs the query: {report}"
    );
    assert!(
        failure
            .shrunk
            .iter()
            .any(|op| format!("{op:?}").contains("names_forgetting_the_tenant")),
        "the leaking query is kept: {report}"
    );
}

/// The bug: the tenant set for the session, not the transaction. (In one round trip, the
/// simple protocol: behind a transaction pooler a statement sent in two, outside a
/// transaction, may lose its prepared half to another client.)
fn session_level_set<'a>(ctx: &'a TenantCtx, pool: &'a PgPool) -> BoxFuture<'a, Result<(), Error>> {
    Box::pin(async move {
        // A tenant id is `[a-z0-9-]`: nothing to escape in a literal.
        let set = format!(
            "SELECT set_config('{TENANT_SETTING}', '{}', false)",
            ctx.tenant_id().as_str()
        );
        sqlx::raw_sql(sqlx::AssertSqlSafe(set))
            .execute(pool)
            .await?;
        Ok(())
    })
}

/// The tests through PgBouncer's one server connection take it in turn: two checks on it at
/// once would see each other's turns.
static SINGLE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Through PgBouncer the server connection outlives the check's clients: what a planted turn
/// left there must not reach the next test.
async fn discard_session(url: &str) {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_with(common::through_pgbouncer(url))
        .await
        .unwrap();
    sqlx::raw_sql("DISCARD ALL").execute(&pool).await.unwrap();
    pool.close().await;
}

async fn session_set_is_caught(url: String) {
    let t = tenants("planted");
    let report = PooledCheck::new(url.clone(), t[0].clone(), t[1].clone())
        .turn(session_level_set)
        .run()
        .await
        .unwrap();
    discard_session(&url).await;
    println!("{report}");
    assert!(
        report.findings.iter().any(|f| matches!(
            f,
            PooledFinding::Setting { name, value } if name == TENANT_SETTING && value == t[0].tenant_id().as_str()
        )),
        "{report}"
    );
}

/// The bugs: a temporary table that outlives the transaction, a statement prepared for the
/// session with the tenant in its text, a session-level search path (one round trip, as above).
fn session_leftovers<'a>(ctx: &'a TenantCtx, pool: &'a PgPool) -> BoxFuture<'a, Result<(), Error>> {
    Box::pin(async move {
        // A turn runs twice per tenant: fresh names each time.
        static TURN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = TURN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let schema = ctx.schema_name().as_str();
        let leftovers = format!(
            "CREATE TEMP TABLE leftover_{schema}_{n} (x int); \
             PREPARE plan_{schema}_{n} AS SELECT '{}'::text; \
             SET search_path = {schema}",
            ctx.tenant_id().as_str()
        );
        sqlx::raw_sql(sqlx::AssertSqlSafe(leftovers))
            .execute(pool)
            .await?;
        Ok(())
    })
}

/// What `session_leftovers` leaves, by kind, as the check reports it.
async fn leftovers_seen(url: &str) -> (bool, bool, bool) {
    let t = tenants("leftover");
    let report = PooledCheck::new(url.to_owned(), t[0].clone(), t[1].clone())
        .turn(session_leftovers)
        .run()
        .await
        .unwrap();
    println!("{report}");
    let temp = report
        .findings
        .iter()
        .any(|f| matches!(f, PooledFinding::TempTable { name } if name.starts_with("leftover_leftover_t0_")));
    let prepared = report.findings.iter().any(
        |f| matches!(f, PooledFinding::PreparedStatement { name, .. } if name.starts_with("plan_leftover_t0_")),
    );
    let path = report
        .findings
        .iter()
        .any(|f| matches!(f, PooledFinding::SearchPath { value } if value.contains("leftover_t0")));
    (temp, prepared, path)
}

#[tokio::test]
async fn a_temp_table_a_prepared_statement_and_a_search_path_are_caught_on_the_server() {
    if let Some(url) = support::server_var("DATABASE_URL", "the planted session leftovers") {
        assert_eq!(leftovers_seen(&url).await, (true, true, true));
    }
}

/// Through PgBouncer the prepared statement is gone (`.ci/pgbouncer.sh` deallocates them after
/// each transaction); the temporary table and the search path reach the next client.
#[tokio::test]
async fn a_temp_table_and_a_search_path_are_caught_through_pgbouncer() {
    if let Some(url) = support::server_var(
        "PGBOUNCER_SINGLE_DATABASE_URL",
        "the planted session leftovers through PgBouncer",
    ) {
        let _turn = SINGLE.lock().await;
        let seen = leftovers_seen(&url).await;
        discard_session(&url).await;
        assert_eq!(seen, (true, false, true));
    }
}

#[tokio::test]
async fn a_session_level_tenant_setting_is_caught_on_the_server() {
    if let Some(url) = support::server_var("DATABASE_URL", "the planted session SET") {
        session_set_is_caught(url).await;
    }
}

#[tokio::test]
async fn a_session_level_tenant_setting_is_caught_through_pgbouncer() {
    if let Some(url) = support::server_var(
        "PGBOUNCER_SINGLE_DATABASE_URL",
        "the planted session SET through PgBouncer",
    ) {
        let _turn = SINGLE.lock().await;
        session_set_is_caught(url).await;
    }
}

/// The bug: tables without row-level security, probed as their owner. Every table is reported
/// in one run, with the catalog's findings.
#[tokio::test]
async fn tables_without_row_level_security_are_all_reported() {
    let Some(owner) = support::postgres(&support::unique_name("example_app_norls")).await else {
        return;
    };
    example_app::postgres::create_tables(&owner).await.unwrap();
    let t = tenants("norls");
    let findings = IsolationProbe::new(owner, t[0].clone(), t[1].clone())
        .entity::<Customer>()
        .entity::<Project>()
        .entity::<Task>()
        .entity::<Comment>()
        .findings()
        .await
        .unwrap();
    println!("{findings}");
    let reads: Vec<&str> = findings
        .0
        .iter()
        .filter_map(|f| match f {
            ProbeFinding::ReadsOther { table, .. } => Some(*table),
            _ => None,
        })
        .collect();
    assert_eq!(
        reads,
        ["app_customers", "app_projects", "app_tasks", "app_comments"],
        "{findings}"
    );
    assert!(
        findings
            .0
            .iter()
            .any(|f| matches!(f, ProbeFinding::Catalog(_))),
        "{findings}"
    );
}
