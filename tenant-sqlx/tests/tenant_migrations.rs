//! `TenantMigrations` over many tenants on PostgreSQL: 200 schemas with one tenant whose data
//! breaks a migration (199 reach the new version, the report names the one, a rerun after the
//! fix applies it there and nowhere else), two runners at once, a changed or unknown migration,
//! schemas that are absent or not `TenantSchema`'s, and tenants in databases of their own.
//!
//! Every migration counts its executions in tables and sequences outside the tenants' schemas
//! (a sequence is not rolled back with a failed transaction: it counts attempts too), so "not
//! run again" is asserted by what the database saw, not by the report alone.
//!
//! `TENANT_MIGRATION_SCHEMAS` sets the size of the big test (200 by default).

#![allow(missing_docs)]

use std::str::FromStr;

use futures::StreamExt as _;
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use tenant::sqlx::{Error, MigrationTarget, TenantMigrations, TenantSchema};
use tenant::{ProvisionCtx, SchemaName, TenantId};
use tenant_test_support as support;

/// `n` tenants, each in a fresh schema made by `TenantSchema::create` on `pool`, named so that
/// no other test or run shares them.
async fn tenants(pool: &PgPool, prefix: &str, n: usize) -> Vec<MigrationTarget> {
    static RUN: AtomicU32 = AtomicU32::new(0);
    let run = RUN.fetch_add(1, Ordering::Relaxed);
    let provision = ProvisionCtx::new("test: tenant schemas to migrate").unwrap();
    let targets: Vec<MigrationTarget> = (0..n)
        .map(|i| {
            let tenant: TenantId = format!("{prefix}-{i:04}").parse().unwrap();
            let schema: SchemaName = format!("tm_{prefix}_{}_{run}_{i:04}", std::process::id())
                .parse()
                .unwrap();
            MigrationTarget::new(tenant, pool.clone(), schema)
        })
        .collect();
    futures::stream::iter(&targets)
        .for_each_concurrent(4, |target| async {
            TenantSchema::new()
                .create(&provision, pool, target.schema())
                .await
                .unwrap();
        })
        .await;
    targets
}

/// Drops the tenants' schemas (test cleanup; `TenantSchema::drop` is tested elsewhere).
async fn cleanup(pool: &PgPool, targets: &[MigrationTarget]) {
    let schemas: Vec<String> = targets.iter().map(|t| t.schema().to_string()).collect();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS {} CASCADE",
        schemas.join(", ")
    )))
    .execute(pool)
    .await
    .unwrap();
}

/// The schema the test's pool works in (`support::postgres` makes a fresh one): the counters
/// live there, outside every tenant's schema.
async fn home(pool: &PgPool) -> String {
    sqlx::query_scalar("SELECT current_schema()")
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn scalar(pool: &PgPool, sql: String) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .fetch_one(pool)
        .await
        .unwrap()
}

fn size() -> usize {
    std::env::var("TENANT_MIGRATION_SCHEMAS")
        .ok()
        .map(|n| n.parse().expect("TENANT_MIGRATION_SCHEMAS is a number"))
        .unwrap_or(200)
}

fn sqlstate(error: &Error) -> Option<String> {
    match error {
        Error::Database(e) => e
            .as_database_error()
            .and_then(|e| e.code())
            .map(|c| c.into_owned()),
        _ => None,
    }
}

/// The migrations of the big test: v1 makes `notes`, v2 forbids empty bodies (which one
/// tenant's data breaks). Each records its run in `{home}.runs` (rolled back with a failure)
/// and v2 its attempts in `{home}.v2_attempts` (a sequence: never rolled back).
fn migrations(home: &str, latest: i64) -> TenantMigrations {
    let all = TenantMigrations::new()
        .step(
            1,
            "notes",
            format!(
                "CREATE TABLE notes (id BIGINT PRIMARY KEY, body TEXT NOT NULL);\n\
                 INSERT INTO {home}.runs (schema_name, version) VALUES (current_schema(), 1);"
            ),
        )
        .step(
            2,
            "notes are never empty",
            format!(
                "SELECT nextval('{home}.v2_attempts');\n\
                 ALTER TABLE notes ADD CONSTRAINT notes_body_present CHECK (body <> '');\n\
                 INSERT INTO {home}.runs (schema_name, version) VALUES (current_schema(), 2);"
            ),
        );
    if latest == 2 {
        return all;
    }
    TenantMigrations::new().step(
        1,
        "notes",
        format!(
            "CREATE TABLE notes (id BIGINT PRIMARY KEY, body TEXT NOT NULL);\n\
             INSERT INTO {home}.runs (schema_name, version) VALUES (current_schema(), 1);"
        ),
    )
}

async fn counters(pool: &PgPool, home: &str) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE TABLE {home}.runs (schema_name TEXT NOT NULL, version BIGINT NOT NULL);\n\
         CREATE SEQUENCE {home}.v2_attempts;"
    )))
    .execute(pool)
    .await
    .unwrap();
}

async fn recorded(pool: &PgPool, target: &MigrationTarget) -> Vec<i64> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT version FROM {}.tenant_migrations ORDER BY version",
        target.schema()
    )))
    .fetch_all(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn postgres_many_schemas_one_failing_tenant_is_isolated_and_a_rerun_resumes() {
    let Some(pool) = support::postgres("many_schemas_one_failing_tenant").await else {
        return;
    };
    let home = home(&pool).await;
    counters(&pool, &home).await;
    let n = size();
    let targets = tenants(&pool, "many", n).await;
    let provision = ProvisionCtx::new("test: migrate every tenant").unwrap();

    // Release 1: every tenant gets v1.
    let first = migrations(&home, 1)
        .workers(4)
        .run(&provision, targets.clone())
        .await
        .unwrap();
    assert!(first.is_success(), "{:?}", first.failed);
    assert_eq!(first.migrated.len(), n);
    assert!(
        first
            .migrated
            .iter()
            .all(|m| m.applied == [1] && m.version == Some(1))
    );

    // Data: every tenant has a note; one tenant's is empty, which v2 forbids.
    let bad = &targets[(n / 2 + 3).min(n - 1)];
    for target in &targets {
        let body = if target.tenant() == bad.tenant() {
            ""
        } else {
            "hello"
        };
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO {}.notes (id, body) VALUES (1, $1)",
            target.schema()
        )))
        .bind(body)
        .execute(&pool)
        .await
        .unwrap();
    }

    // Release 2: v2 fails on that tenant only; the others all get it.
    let second = migrations(&home, 2)
        .workers(4)
        .run(&provision, targets.clone())
        .await
        .unwrap();
    assert_eq!(second.migrated.len(), n - 1);
    assert!(
        second
            .migrated
            .iter()
            .all(|m| m.applied == [2] && m.version == Some(2))
    );
    assert_eq!(second.failed.len(), 1, "{:?}", second.failed);
    let failure = &second.failed[0];
    assert_eq!(&failure.tenant, bad.tenant());
    assert_eq!(&failure.schema, bad.schema());
    assert_eq!(failure.migration, Some(2));
    assert_eq!(
        failure.description.as_deref(),
        Some("notes are never empty")
    );
    assert_eq!(failure.version, Some(1), "the failing tenant stays at v1");
    assert_eq!(
        sqlstate(&failure.error).as_deref(),
        Some("23514"),
        "{}",
        failure.error
    );
    let message = failure.to_string();
    assert!(
        message.contains(bad.tenant().as_str()) && message.contains("notes_body_present"),
        "{message}"
    );
    // The failed migration left nothing: no record, no constraint.
    assert_eq!(recorded(&pool, bad).await, [1]);
    let constraints = scalar(
        &pool,
        format!(
            "SELECT count(*) FROM pg_constraint WHERE conname = 'notes_body_present' \
             AND connamespace = '{}'::regnamespace",
            bad.schema()
        ),
    )
    .await;
    assert_eq!(constraints, 0);
    // `ensure` turns the report into an error that names the tenant.
    let ensured = migrations(&home, 2)
        .workers(4)
        .run(&provision, targets.clone())
        .await
        .unwrap()
        .ensure()
        .unwrap_err();
    assert!(
        matches!(&ensured, Error::Migrations { failed } if failed.len() == 1),
        "{ensured:?}"
    );
    assert!(
        ensured.to_string().contains(bad.tenant().as_str()),
        "{ensured}"
    );
    let attempts_before_fix =
        scalar(&pool, format!("SELECT last_value FROM {home}.v2_attempts")).await;
    assert_eq!(
        attempts_before_fix,
        n as i64 + 1,
        "v2 ran on every tenant once, and once more on the failing one (the ensure run)"
    );

    // The fix is the tenant's data; the rerun applies v2 there and runs nothing elsewhere.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE {}.notes SET body = 'fixed'",
        bad.schema()
    )))
    .execute(&pool)
    .await
    .unwrap();
    let rerun = migrations(&home, 2)
        .workers(4)
        .run(&provision, targets.clone())
        .await
        .unwrap();
    assert!(rerun.is_success(), "{:?}", rerun.failed);
    assert_eq!(rerun.migrated.len(), n);
    for migrated in &rerun.migrated {
        assert_eq!(migrated.version, Some(2));
        let expected: &[i64] = if &migrated.tenant == bad.tenant() {
            &[2]
        } else {
            &[]
        };
        assert_eq!(migrated.applied, expected, "{}", migrated.tenant);
    }
    let attempts = scalar(&pool, format!("SELECT last_value FROM {home}.v2_attempts")).await;
    assert_eq!(
        attempts,
        attempts_before_fix + 1,
        "the rerun ran v2 once, on the fixed tenant"
    );
    for version in [1, 2] {
        let per_schema = scalar(
            &pool,
            format!(
                "SELECT count(*) FROM (SELECT schema_name FROM {home}.runs WHERE version = {version} \
                 GROUP BY schema_name HAVING count(*) = 1) once"
            ),
        )
        .await;
        assert_eq!(
            per_schema, n as i64,
            "v{version} committed exactly once per tenant"
        );
        let total = scalar(
            &pool,
            format!("SELECT count(*) FROM {home}.runs WHERE version = {version}"),
        )
        .await;
        assert_eq!(total, n as i64, "v{version}");
    }
    assert_eq!(recorded(&pool, bad).await, [1, 2]);
    cleanup(&pool, &targets).await;
}

/// Two runners started at once over the same tenants (two deploys): each migration runs once
/// per tenant, neither reports a failure, and between them each tenant's migrations are applied
/// exactly once.
#[tokio::test]
async fn postgres_two_runners_at_once_apply_each_migration_once() {
    let Some(pool) = support::postgres("two_runners_at_once").await else {
        return;
    };
    let home = home(&pool).await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE SEQUENCE {home}.attempts"
    )))
    .execute(&pool)
    .await
    .unwrap();
    let targets = tenants(&pool, "race", 16).await;
    // The second runner is another process: its own pool, its own connections.
    let url = std::env::var("DATABASE_URL").unwrap();
    let other = PgPoolOptions::new()
        .max_connections(4)
        .connect_with(PgConnectOptions::from_str(&url).unwrap())
        .await
        .unwrap();
    let retarget = |pool: &PgPool| -> Vec<MigrationTarget> {
        targets
            .iter()
            .map(|t| MigrationTarget::new(t.tenant().clone(), pool.clone(), t.schema().clone()))
            .collect()
    };
    // Each migration sleeps a little, so the two runners overlap on every tenant.
    let migrations = TenantMigrations::new()
        .step(
            1,
            "items",
            format!(
                "SELECT nextval('{home}.attempts'); SELECT pg_sleep(0.005);\n\
                 CREATE TABLE items (id BIGINT PRIMARY KEY);"
            ),
        )
        .step(
            2,
            "item names",
            format!(
                "SELECT nextval('{home}.attempts'); SELECT pg_sleep(0.005);\n\
                 ALTER TABLE items ADD COLUMN name TEXT;"
            ),
        )
        .workers(4);
    let provision = ProvisionCtx::new("test: two deploys at once").unwrap();
    let (a, b) = tokio::join!(
        migrations.run(&provision, retarget(&pool)),
        migrations.run(&provision, retarget(&other)),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(a.is_success(), "{:?}", a.failed);
    assert!(b.is_success(), "{:?}", b.failed);
    for (x, y) in a.migrated.iter().zip(&b.migrated) {
        assert_eq!(x.tenant, y.tenant);
        assert_eq!((x.version, y.version), (Some(2), Some(2)));
        let mut both = [x.applied.clone(), y.applied.clone()].concat();
        both.sort_unstable();
        assert_eq!(
            both,
            [1, 2],
            "{}: each migration applied by exactly one runner",
            x.tenant
        );
    }
    let attempts = scalar(&pool, format!("SELECT last_value FROM {home}.attempts")).await;
    assert_eq!(
        attempts,
        2 * targets.len() as i64,
        "each migration ran once per tenant"
    );
    other.close().await;
    cleanup(&pool, &targets).await;
}

/// A migration whose SQL changed after it was applied, and a recorded version the list does not
/// have, are each a failure of the tenants concerned; nothing is run over them.
#[tokio::test]
async fn postgres_a_changed_or_unknown_migration_is_reported_not_run() {
    let Some(pool) = support::postgres("changed_or_unknown_migration").await else {
        return;
    };
    let targets = tenants(&pool, "changed", 2).await;
    let provision = ProvisionCtx::new("test: changed migrations").unwrap();
    let v1 = "CREATE TABLE notes (id BIGINT PRIMARY KEY)";
    let v2 = "ALTER TABLE notes ADD COLUMN body TEXT";
    TenantMigrations::new()
        .step(1, "notes", v1)
        .run(&provision, targets[..1].to_vec())
        .await
        .unwrap()
        .ensure()
        .unwrap();
    TenantMigrations::new()
        .step(1, "notes", v1)
        .step(2, "bodies", v2)
        .run(&provision, targets[1..].to_vec())
        .await
        .unwrap()
        .ensure()
        .unwrap();

    // v1 edited after the fact: both tenants refuse; v2 is not tried on the first.
    let edited = TenantMigrations::new()
        .step(
            1,
            "notes",
            "CREATE TABLE notes (id BIGINT PRIMARY KEY, extra INT)",
        )
        .step(2, "bodies", v2)
        .run(&provision, targets.clone())
        .await
        .unwrap();
    assert_eq!(edited.failed.len(), 2, "{:?}", edited.migrated);
    for failure in &edited.failed {
        assert!(
            matches!(failure.error, Error::MigrationChanged { version: 1, .. }),
            "{failure}"
        );
    }
    assert_eq!(
        recorded(&pool, &targets[0]).await,
        [1],
        "v2 was not run over it"
    );

    // The second tenant records v2, which an older list does not know.
    let older = TenantMigrations::new()
        .step(1, "notes", v1)
        .run(&provision, targets.clone())
        .await
        .unwrap();
    assert_eq!(older.migrated.len(), 1);
    assert_eq!(&older.migrated[0].tenant, targets[0].tenant());
    assert_eq!(older.failed.len(), 1);
    assert_eq!(&older.failed[0].tenant, targets[1].tenant());
    assert!(
        matches!(
            older.failed[0].error,
            Error::MigrationUnknown { version: 2 }
        ),
        "{}",
        older.failed[0]
    );
    cleanup(&pool, &targets).await;
}

/// A schema that does not exist, and one `TenantSchema` did not make, fail their tenants (and
/// nothing is created in the foreign one); the tenants beside them are migrated.
#[tokio::test]
async fn postgres_absent_and_foreign_schemas_fail_their_tenants_only() {
    let Some(pool) = support::postgres("absent_and_foreign_schemas").await else {
        return;
    };
    let mut targets = tenants(&pool, "mixed", 2).await;
    let foreign: SchemaName = format!("tm_foreign_{}", std::process::id())
        .parse()
        .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS {foreign} CASCADE; CREATE SCHEMA {foreign}"
    )))
    .execute(&pool)
    .await
    .unwrap();
    let absent: SchemaName = format!("tm_absent_{}", std::process::id()).parse().unwrap();
    targets.push(MigrationTarget::new(
        "foreign".parse().unwrap(),
        pool.clone(),
        foreign.clone(),
    ));
    targets.push(MigrationTarget::new(
        "absent".parse().unwrap(),
        pool.clone(),
        absent.clone(),
    ));
    let (events, guard) = support::capture_audit();
    let report = TenantMigrations::new()
        .step(1, "notes", "CREATE TABLE notes (id BIGINT PRIMARY KEY)")
        .workers(2)
        .run(
            &ProvisionCtx::new("test: mixed schemas").unwrap(),
            targets.clone(),
        )
        .await
        .unwrap();
    drop(guard);
    // Progress and the audit trail, through tracing: each failed tenant named with its error,
    // every schema's change audited with the provisioning reason, and the totals.
    let events = support::text(&events);
    for expected in [
        "tenant migrations: started tenants=4 workers=2 migrations=1 latest=1",
        &format!("schema=\"{absent}\""),
        "tenant migrations: tenant failed tenant=absent",
        "tenant migrations: tenant failed tenant=foreign",
        "tenant migrations: finished migrated=2 failed=2",
    ] {
        assert!(events.contains(expected), "{expected:?} not in:\n{events}");
    }
    assert_eq!(
        events.matches("operation=\"migrate_schema\"").count(),
        4,
        "one audit event per tenant's schema:\n{events}"
    );
    assert_eq!(report.migrated.len(), 2);
    assert_eq!(report.failed.len(), 2);
    let by = |id: &str| {
        report
            .failed
            .iter()
            .find(|f| f.tenant.as_str() == id)
            .unwrap()
    };
    assert!(matches!(&by("absent").error, Error::SchemaAbsent { schema } if *schema == absent));
    assert!(matches!(&by("foreign").error, Error::ForeignSchema { schema } if *schema == foreign));
    let in_foreign = scalar(
        &pool,
        format!("SELECT count(*) FROM pg_class WHERE relnamespace = '{foreign}'::regnamespace"),
    )
    .await;
    assert_eq!(
        in_foreign, 0,
        "nothing was created in a schema that is not TenantSchema's"
    );
    cleanup(&pool, &targets[..3]).await;
}

/// Tenants in databases of their own and tenants in schemas of a shared one, in one run; and
/// `TenantSchema::drop` removes a migrated schema, record included.
#[tokio::test]
async fn postgres_schemas_and_own_databases_in_one_run() {
    let Some(shared) = support::postgres("schemas_and_own_databases").await else {
        return;
    };
    let Some((own_a, _)) = support::postgres_app_database("tm_own_database_a", 1).await else {
        return;
    };
    let Some((own_b, _)) = support::postgres_app_database("tm_own_database_b", 1).await else {
        return;
    };
    let mut targets = tenants(&shared, "shared", 3).await;
    let provision = ProvisionCtx::new("test: placements").unwrap();
    // Both own databases use the same schema name: advisory locks and records are per database.
    let schema: SchemaName = "tenant_data".parse().unwrap();
    for (id, pool) in [("own-a", &own_a), ("own-b", &own_b)] {
        TenantSchema::new()
            .create(&provision, pool, &schema)
            .await
            .unwrap();
        targets.push(MigrationTarget::new(
            id.parse().unwrap(),
            pool.clone(),
            schema.clone(),
        ));
    }
    let migrations = TenantMigrations::new()
        .step(1, "notes", "CREATE TABLE notes (id BIGINT PRIMARY KEY)")
        .workers(3);
    let report = migrations
        .run(&provision, targets.clone())
        .await
        .unwrap()
        .ensure()
        .unwrap();
    assert_eq!(report.migrated.len(), 5);
    assert!(report.migrated.iter().all(|m| m.applied == [1]));
    for pool in [&own_a, &own_b] {
        let tables = scalar(
            pool,
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'tenant_data' \
             AND tablename IN ('notes', 'tenant_migrations')"
                .into(),
        )
        .await;
        assert_eq!(tables, 2);
    }
    // Offboarding: the schema's record does not make `drop` refuse it.
    TenantSchema::new()
        .table("notes")
        .drop(&provision, &own_a, &schema)
        .await
        .unwrap();
    let left = scalar(
        &own_a,
        "SELECT count(*) FROM pg_namespace WHERE nspname = 'tenant_data'".into(),
    )
    .await;
    assert_eq!(left, 0);
    cleanup(&shared, &targets[..3]).await;
}

/// A list that cannot run is refused before anything runs, with the reason.
#[tokio::test]
async fn an_invalid_list_is_refused_before_anything_runs() {
    let provision = ProvisionCtx::new("test: invalid lists").unwrap();
    let cases = [
        (
            TenantMigrations::new().step(1, "a", "SELECT 1").workers(0),
            "zero workers",
        ),
        (
            TenantMigrations::new()
                .step(2, "a", "SELECT 1")
                .step(2, "b", "SELECT 1"),
            "version 2 is used twice",
        ),
        (
            TenantMigrations::new().step(0, "a", "SELECT 1"),
            "not positive",
        ),
        (
            TenantMigrations::new().step(1, "a\nb", "SELECT 1"),
            "not one line",
        ),
        (
            TenantMigrations::new().step(1, " ", "SELECT 1"),
            "not one line",
        ),
        (
            TenantMigrations::new().step(1, "a", "SELECT 1"),
            "listed twice",
        ),
    ];
    // Never connected: the list is refused before any target is used.
    let pool = PgPool::connect_lazy("postgres://nobody@127.0.0.1:1/nothing").unwrap();
    let twice =
        |id: &str| MigrationTarget::new(id.parse().unwrap(), pool.clone(), "s".parse().unwrap());
    for (migrations, reason) in cases {
        let refused = migrations
            .run(&provision, [twice("acme"), twice("acme")])
            .await
            .unwrap_err();
        assert!(
            matches!(&refused, Error::MigrationPlan { reason: r } if r.contains(reason)),
            "{refused:?}"
        );
    }
}
