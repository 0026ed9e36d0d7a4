//! A schema per tenant on PostgreSQL: two tenants with the same table names and keys in two
//! schemas cannot see each other, a table missing from a tenant's schema is an error rather than
//! a shared table of the same name, a failed migration leaves no schema, and dropping one
//! tenant's schema leaves the other's intact.

#![allow(missing_docs)] // test entities

use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::PgPool;

use tenant::sqlx::{Error, TenantSchema, TenantTx};
use tenant::{Plan, ProvisionCtx, TenantCtx, TenantId, tenant_scoped};
use tenant_test_support as support;

#[tenant_scoped(table = "invoices")]
#[derive(Debug, Clone, PartialEq)]
pub struct Invoice {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    pub amount_cents: i64,
}

/// A context with a schema name no other test or run uses.
fn tenant(id: &str) -> TenantCtx {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let schema = format!(
        "tenant_{id}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    TenantCtx::trusted(id.parse().unwrap(), schema.parse().unwrap(), Plan::Pro)
}

fn schema() -> TenantSchema {
    TenantSchema::new()
        .entity::<Invoice>()
        .migration("CREATE TABLE notes (id BIGINT PRIMARY KEY, body TEXT NOT NULL)")
        .table("notes")
}

async fn schema_exists(pool: &PgPool, ctx: &TenantCtx) -> bool {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
        .bind(ctx.schema_name().as_str())
        .fetch_one(pool)
        .await
        .unwrap()
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

#[tokio::test]
async fn two_schemas_with_the_same_tables_and_keys_stay_apart() {
    let Some(pool) =
        support::postgres("two_schemas_with_the_same_tables_and_keys_stay_apart").await
    else {
        return;
    };
    let sys = ProvisionCtx::new("provision test tenants").unwrap();
    let (acme, globex) = (tenant("acme"), tenant("globex"));
    for (ctx, amount) in [(&acme, 100), (&globex, 999)] {
        schema()
            .create(&sys, &pool, ctx.schema_name())
            .await
            .unwrap();
        let mut tx = TenantTx::begin_in_schema(&pool, ctx).await.unwrap();
        tx.repo::<Invoice>()
            .insert(
                ctx,
                NewInvoice {
                    id: 1,
                    amount_cents: amount,
                },
            )
            .await
            .unwrap();
        sqlx::query("INSERT INTO notes VALUES (1, $1)")
            .bind(ctx.tenant_id().as_str())
            .execute(tx.executor())
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }

    let mut tx = TenantTx::begin_in_schema(&pool, &acme).await.unwrap();
    let rows: Vec<(String, i64, i64)> =
        sqlx::query_as("SELECT tenant_id, id, amount_cents FROM invoices")
            .fetch_all(tx.executor())
            .await
            .unwrap();
    assert_eq!(rows, [("acme".to_owned(), 1, 100)]);
    let note: String = sqlx::query_scalar("SELECT body FROM notes")
        .fetch_one(tx.executor())
        .await
        .unwrap();
    assert_eq!(note, "acme");
    // The repository asked for globex's rows in acme's transaction refuses.
    assert!(matches!(
        tx.repo::<Invoice>().get(&globex, 1).await,
        Err(Error::TenantMismatch { .. })
    ));
    tx.rollback().await.unwrap();

    // Offboarding acme leaves globex whole.
    schema()
        .drop(&sys, &pool, acme.schema_name())
        .await
        .unwrap();
    assert!(!schema_exists(&pool, &acme).await);
    let mut tx = TenantTx::begin_in_schema(&pool, &globex).await.unwrap();
    let theirs = tx.repo::<Invoice>().list(&globex).await.unwrap();
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0].amount_cents, 999);
    tx.rollback().await.unwrap();
    // acme's schema is gone: its transactions fail rather than reading anything.
    let mut tx = TenantTx::begin_in_schema(&pool, &acme).await.unwrap();
    let gone = tx.repo::<Invoice>().list(&acme).await.unwrap_err();
    assert_eq!(sqlstate(&gone).as_deref(), Some("42P01"), "{gone:?}");
    drop(tx);
    schema()
        .drop(&sys, &pool, globex.schema_name())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_table_missing_from_the_tenant_schema_is_an_error_not_a_shared_table() {
    let Some(pool) = support::postgres("a_table_missing_from_the_tenant_schema").await else {
        return;
    };
    let sys = ProvisionCtx::new("provision test tenants").unwrap();
    // A shared `invoices` in the pool's own schema, holding another tenant's row.
    let globex = tenant("globex");
    let mut shared = InvoiceRepo::new(&pool);
    shared.create_table().await.unwrap();
    shared
        .insert(
            &globex,
            NewInvoice {
                id: 1,
                amount_cents: 999,
            },
        )
        .await
        .unwrap();

    // acme's schema was made without the invoices table.
    let acme = tenant("acme");
    TenantSchema::new()
        .migration("CREATE TABLE notes (id BIGINT PRIMARY KEY)")
        .table("notes")
        .create(&sys, &pool, acme.schema_name())
        .await
        .unwrap();
    let mut tx = TenantTx::begin_in_schema(&pool, &acme).await.unwrap();
    let missing = tx.repo::<Invoice>().list(&acme).await.unwrap_err();
    assert_eq!(sqlstate(&missing).as_deref(), Some("42P01"), "{missing:?}");
    drop(tx);
    TenantSchema::new()
        .table("notes")
        .drop(&sys, &pool, acme.schema_name())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_failing_migration_leaves_no_schema() {
    let Some(pool) = support::postgres("a_failing_migration_leaves_no_schema").await else {
        return;
    };
    let sys = ProvisionCtx::new("provision test tenants").unwrap();
    let acme = tenant("acme");
    let broken = schema().migration("CREATE TABLE broken (");
    let failed = broken
        .create(&sys, &pool, acme.schema_name())
        .await
        .unwrap_err();
    assert!(matches!(failed, Error::Database(_)), "{failed:?}");
    assert!(!schema_exists(&pool, &acme).await);
    // Creating again re-runs the migrations, which are the application's and not idempotent
    // here: the second attempt fails as a whole and the first schema is untouched.
    schema()
        .create(&sys, &pool, acme.schema_name())
        .await
        .unwrap();
    let again = schema()
        .create(&sys, &pool, acme.schema_name())
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&again).as_deref(), Some("42P07"), "{again:?}");
    let mut tx = TenantTx::begin_in_schema(&pool, &acme).await.unwrap();
    assert_eq!(tx.repo::<Invoice>().count(&acme).await.unwrap(), 0);
    drop(tx);
    // Dropping twice is fine.
    schema()
        .drop(&sys, &pool, acme.schema_name())
        .await
        .unwrap();
    schema()
        .drop(&sys, &pool, acme.schema_name())
        .await
        .unwrap();
}

#[tokio::test]
async fn provisioning_and_offboarding_are_audited() {
    let Some(pool) = support::postgres("provisioning_and_offboarding_are_audited").await else {
        return;
    };
    let (log, _guard) = support::capture_audit();
    let sys = ProvisionCtx::new("offboard acme").unwrap();
    let acme = tenant("acme");
    schema()
        .create(&sys, &pool, acme.schema_name())
        .await
        .unwrap();
    schema()
        .drop(&sys, &pool, acme.schema_name())
        .await
        .unwrap();
    let log = support::text(&log);
    assert!(
        log.contains("create_schema") && log.contains("drop_schema"),
        "{log}"
    );
    assert!(log.contains("offboard acme"), "{log}");
    // The provisioning capability's own events, naming the schema it changed.
    assert!(log.contains("provisioning context created"), "{log}");
    assert!(log.contains("provisioning context used"), "{log}");
    assert!(log.contains(acme.schema_name().as_str()), "{log}");
}

/// One connection, so every statement is prepared once and reused across tenants: PostgreSQL
/// must resolve `items` in the search path of each execution, not of the first (it re-analyses
/// a prepared statement when the search path changes). Were it not so, globex would read acme's
/// rows through acme's cached statement.
#[tokio::test]
async fn prepared_statements_follow_the_search_path_of_each_transaction() {
    let Some(pool) = support::postgres("prepared_statements_follow_the_search_path").await else {
        return;
    };
    let sys = ProvisionCtx::new("provision test tenants").unwrap();
    let (acme, globex) = (tenant("acme"), tenant("globex"));
    let url = std::env::var("DATABASE_URL").unwrap();
    let one = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .unwrap();
    for (ctx, amount) in [(&acme, 100), (&globex, 999)] {
        schema()
            .create(&sys, &pool, ctx.schema_name())
            .await
            .unwrap();
        let mut tx = TenantTx::begin_in_schema(&one, ctx).await.unwrap();
        tx.repo::<Invoice>()
            .insert(
                ctx,
                NewInvoice {
                    id: 1,
                    amount_cents: amount,
                },
            )
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    for round in 0..20 {
        let (ctx, amount) = if round % 2 == 0 {
            (&acme, 100)
        } else {
            (&globex, 999)
        };
        let mut tx = TenantTx::begin_in_schema(&one, ctx).await.unwrap();
        let got = tx.repo::<Invoice>().get(ctx, 1).await.unwrap().unwrap();
        let raw: i64 = sqlx::query_scalar("SELECT amount_cents FROM invoices WHERE id = 1")
            .fetch_one(tx.executor())
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!((got.amount_cents, raw), (amount, amount), "round {round}");
    }
    one.close().await;
    for ctx in [&acme, &globex] {
        schema().drop(&sys, &pool, ctx.schema_name()).await.unwrap();
    }
}

// --- issue 21, item 14: adopt only what we created, drop only what we know ------------------

async fn raw(pool: &PgPool, sql: String) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(pool)
        .await
        .unwrap();
}

async fn relation_exists(pool: &PgPool, ctx: &TenantCtx, name: &str) -> bool {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = $1 AND c.relname = $2)",
    )
    .bind(ctx.schema_name().as_str())
    .bind(name)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// A schema someone else made (with a trigger-bearing table of theirs, say) is not adopted:
/// the tenant's tables would live beside objects nobody reviewed, owned by whoever made them.
#[tokio::test]
async fn an_existing_schema_we_did_not_create_is_refused() {
    let Some(pool) = support::postgres("an_existing_schema_we_did_not_create_is_refused").await
    else {
        return;
    };
    let sys = ProvisionCtx::new("provision test tenants").unwrap();
    let acme = tenant("acme");
    let name = acme.schema_name().as_str();
    raw(
        &pool,
        format!("CREATE SCHEMA {name}; CREATE TABLE {name}.planted (x INT)"),
    )
    .await;
    let refused = schema()
        .create(&sys, &pool, acme.schema_name())
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, Error::ForeignSchema { schema } if schema == acme.schema_name())
            && refused
                .to_string()
                .contains("was not created by TenantSchema"),
        "{refused}"
    );
    // Nothing was added to it.
    assert!(!relation_exists(&pool, &acme, "invoices").await);
    assert!(relation_exists(&pool, &acme, "planted").await);
    raw(&pool, format!("DROP SCHEMA {name} CASCADE")).await;
}

/// The marker is a comment, which whoever owns a schema can write: a schema owned by another
/// role is refused even when it carries the marker. The other role needs `CREATE` on a
/// database, so this runs in a database of its own, dropped at the end, rather than grant it on
/// the shared one.
#[tokio::test]
async fn a_forged_marker_on_a_schema_of_another_role_is_refused() {
    use sqlx::postgres::PgConnectOptions;
    use std::str::FromStr;

    let test = "a_forged_marker_on_a_schema_of_another_role";
    let (Some(url), Some(app_url)) = (
        support::server_var("DATABASE_URL", test),
        support::server_var("APP_DATABASE_URL", test),
    ) else {
        return;
    };
    let sys = ProvisionCtx::new("provision test tenants").unwrap();
    let shared = PgPool::connect(&url).await.unwrap();
    let db = format!("tenant_forged_marker_{}", std::process::id());
    raw(&shared, format!("DROP DATABASE IF EXISTS {db}")).await;
    raw(&shared, format!("CREATE DATABASE {db}")).await;
    let on = |url: &str| PgConnectOptions::from_str(url).unwrap().database(&db);
    let owner = PgPool::connect_with(on(&url)).await.unwrap();
    let app = PgPool::connect_with(on(&app_url)).await.unwrap();

    // The marker as TenantSchema writes it, read from a schema it made.
    let made = tenant("made");
    schema()
        .create(&sys, &owner, made.schema_name())
        .await
        .unwrap();
    let marker: Option<String> = sqlx::query_scalar(
        "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = $1",
    )
    .bind(made.schema_name().as_str())
    .fetch_one(&owner)
    .await
    .unwrap();
    let app_role: String = sqlx::query_scalar("SELECT current_user::text")
        .fetch_one(&app)
        .await
        .unwrap();
    raw(
        &owner,
        format!("GRANT CREATE ON DATABASE {db} TO {app_role}"),
    )
    .await;
    let acme = tenant("acme");
    let name = acme.schema_name().as_str();
    raw(
        &app,
        format!(
            "CREATE SCHEMA {name}; COMMENT ON SCHEMA {name} IS '{}'",
            marker.unwrap_or_default().replace('\'', "''")
        ),
    )
    .await;

    let refused = schema()
        .create(&sys, &owner, acme.schema_name())
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, Error::ForeignSchema { schema } if schema == acme.schema_name())
            && refused
                .to_string()
                .contains("was not created by TenantSchema"),
        "{refused}"
    );
    let refused = schema()
        .drop(&sys, &owner, acme.schema_name())
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, Error::ForeignSchema { schema } if schema == acme.schema_name())
            && refused
                .to_string()
                .contains("was not created by TenantSchema"),
        "{refused}"
    );
    assert!(schema_exists(&owner, &acme).await);

    app.close().await;
    owner.close().await;
    // FORCE terminates what is still connected, but only backends of roles this one may
    // signal: a backend another test or autovacuum has there for a moment refuses it (42501).
    // Try again shortly rather than fail a test whose assertions all held.
    for attempt in 1.. {
        let dropped = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {db} WITH (FORCE)"
        )))
        .execute(&shared)
        .await;
        match dropped {
            Ok(_) => break,
            Err(err) if attempt < 20 => {
                eprintln!("DROP DATABASE {db}, attempt {attempt}: {err}");
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            }
            Err(err) => panic!("DROP DATABASE {db}: {err}"),
        }
    }
}

/// Offboarding never drops a schema it did not make, whatever its name.
#[tokio::test]
async fn offboarding_refuses_a_schema_we_did_not_create() {
    let Some(pool) = support::postgres("offboarding_refuses_a_schema_we_did_not_create").await
    else {
        return;
    };
    let sys = ProvisionCtx::new("offboard test tenants").unwrap();
    let acme = tenant("acme");
    let name = acme.schema_name().as_str();
    raw(
        &pool,
        format!("CREATE SCHEMA {name}; CREATE TABLE {name}.invoices (x INT)"),
    )
    .await;
    let refused = schema()
        .drop(&sys, &pool, acme.schema_name())
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, Error::ForeignSchema { schema } if schema == acme.schema_name())
            && refused
                .to_string()
                .contains("was not created by TenantSchema"),
        "{refused}"
    );
    assert!(relation_exists(&pool, &acme, "invoices").await);
    raw(&pool, format!("DROP SCHEMA {name} CASCADE")).await;
}

/// Offboarding drops the tables it knows, then the schema `RESTRICT`: an object it does not
/// know (a table or view added outside the TenantSchema) stops it with a typed error that names
/// the object, and nothing is dropped.
#[tokio::test]
async fn an_unknown_object_stops_offboarding_instead_of_a_cascade() {
    let Some(pool) = support::postgres("an_unknown_object_stops_offboarding").await else {
        return;
    };
    let sys = ProvisionCtx::new("offboard test tenants").unwrap();
    let acme = tenant("acme");
    let name = acme.schema_name().as_str();
    schema()
        .create(&sys, &pool, acme.schema_name())
        .await
        .unwrap();
    raw(
        &pool,
        format!(
            "CREATE TABLE {name}.stray (x INT); CREATE VIEW {name}.totals AS SELECT sum(amount_cents) FROM {name}.invoices"
        ),
    )
    .await;
    let refused = schema()
        .drop(&sys, &pool, acme.schema_name())
        .await
        .unwrap_err();
    match &refused {
        Error::SchemaNotEmpty { schema, objects } => {
            assert_eq!(schema, acme.schema_name());
            assert_eq!(objects, &["table stray", "view totals"]);
        }
        other => panic!("expected SchemaNotEmpty, got {other:?}"),
    }
    assert!(
        refused.to_string().contains("table stray, view totals"),
        "{refused}"
    );
    // All or nothing: the known tables are still there too.
    for table in ["invoices", "notes", "stray", "totals"] {
        assert!(relation_exists(&pool, &acme, table).await, "{table}");
    }
    // Once the operator has dealt with them, offboarding goes through.
    raw(
        &pool,
        format!("DROP VIEW {name}.totals; DROP TABLE {name}.stray"),
    )
    .await;
    schema()
        .drop(&sys, &pool, acme.schema_name())
        .await
        .unwrap();
    assert!(!schema_exists(&pool, &acme).await);
}

/// Issue 21, item 3: a temporary table on the pooled connection named like the tenant's table.
/// PostgreSQL searches `pg_temp` first unless the search path names it.
#[tokio::test]
async fn a_temp_table_does_not_shadow_the_tenant_schema() {
    let Some(pool) = support::postgres("a_temp_table_does_not_shadow_the_tenant_schema").await
    else {
        return;
    };
    let sys = ProvisionCtx::new("provision test tenants").unwrap();
    let acme = tenant("acme");
    schema()
        .create(&sys, &pool, acme.schema_name())
        .await
        .unwrap();
    let url = std::env::var("DATABASE_URL").unwrap();
    let one = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .unwrap();
    sqlx::raw_sql(
        "CREATE TEMP TABLE invoices (tenant_id TEXT, id BIGINT, amount_cents BIGINT); \
         INSERT INTO invoices VALUES ('globex', 1, 999)",
    )
    .execute(&one)
    .await
    .unwrap();
    let mut tx = TenantTx::begin_in_schema(&one, &acme).await.unwrap();
    tx.repo::<Invoice>()
        .insert(
            &acme,
            NewInvoice {
                id: 2,
                amount_cents: 100,
            },
        )
        .await
        .unwrap();
    let rows: Vec<(String, i64)> = sqlx::query_as("SELECT tenant_id, id FROM invoices")
        .fetch_all(tx.executor())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(rows, [("acme".to_owned(), 2)]);
    one.close().await;
    schema()
        .drop(&sys, &pool, acme.schema_name())
        .await
        .unwrap();
}

/// Issue 21, item 12: acme's schema-bound transaction given globex's context wrote globex's row
/// into acme's schema.
#[tokio::test]
async fn a_schema_bound_tx_refuses_another_tenants_ctx() {
    let Some(pool) = support::postgres("a_schema_bound_tx_refuses_another_tenants_ctx").await
    else {
        return;
    };
    let sys = ProvisionCtx::new("provision test tenants").unwrap();
    let (acme, globex) = (tenant("acme"), tenant("globex"));
    schema()
        .create(&sys, &pool, acme.schema_name())
        .await
        .unwrap();
    let mut tx = TenantTx::begin_in_schema(&pool, &acme).await.unwrap();
    let refused = tx
        .repo::<Invoice>()
        .insert(
            &globex,
            NewInvoice {
                id: 1,
                amount_cents: 999,
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(refused, Error::TenantMismatch { .. }),
        "{refused:?}"
    );
    tx.rollback().await.unwrap();
    schema()
        .drop(&sys, &pool, acme.schema_name())
        .await
        .unwrap();
}
