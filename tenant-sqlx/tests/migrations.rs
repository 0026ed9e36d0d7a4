//! `Migration` files are what `sqlx migrate` runs: generated into a directory, applied by
//! sqlx's own `Migrator` on SQLite and PostgreSQL, they give the same tables `create_table`
//! would, and on PostgreSQL row-level security that the isolation audit accepts.

#![allow(missing_docs)] // test entities

use std::path::PathBuf;

use sqlx::migrate::Migrator;

use tenant::sqlx::{Error, IsolationAudit, Migration};
use tenant::{Plan, TenantId, tenant_scoped};
use tenant_test_support as support;

#[tenant_scoped(table = "customers")]
#[derive(Debug)]
pub struct Customer {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    #[unique]
    pub email: String,
}

#[tenant_scoped(table = "orders")]
pub struct Order {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    #[index]
    pub customer_id: i64,
}

fn dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tenant-migrations-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[tokio::test]
async fn sqlite_applies_the_generated_migration() {
    let dir = dir("sqlite");
    let migration = Migration::new("tenant tables")
        .entity::<Customer>()
        .entity::<Order>();
    let path = migration.write::<sqlx::Sqlite>(&dir, 1).unwrap();
    assert!(path.ends_with("1_tenant_tables.sql"));
    let pool = support::sqlite().await;
    Migrator::new(dir.as_path())
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();

    let acme = support::ctx("acme", Plan::Free);
    let mut customers = CustomerRepo::new(&pool);
    customers
        .insert(
            &acme,
            NewCustomer {
                id: 1,
                email: "a@example.com".into(),
            },
        )
        .await
        .unwrap();
    // The per-tenant unique index came with the file.
    let again = customers
        .insert(
            &acme,
            NewCustomer {
                id: 2,
                email: "a@example.com".into(),
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            again,
            Error::Conflict {
                table: "customers",
                ..
            }
        ),
        "{again:?}"
    );
    // And `create_table` on top of it finds everything there already.
    customers.create_table().await.unwrap();
    std::fs::remove_dir_all(dir).unwrap();

    // Row-level security does not exist on SQLite: refused, not skipped.
    let refused = migration
        .row_level_security()
        .sql::<sqlx::Sqlite>()
        .unwrap_err();
    assert!(
        matches!(
            refused,
            Error::Unsupported {
                what: "row-level security",
                ..
            }
        ),
        "{refused:?}"
    );
}

#[tokio::test]
async fn postgres_applies_the_generated_migration_with_row_level_security() {
    let Some((owner, app)) =
        support::postgres_app_database("postgres_applies_the_generated_migration", 2).await
    else {
        return;
    };
    let dir = dir("postgres");
    Migration::new("tenant tables")
        .entity::<Customer>()
        .entity::<Order>()
        .row_level_security()
        .write::<sqlx::Postgres>(&dir, 20261126000000)
        .unwrap();
    Migrator::new(dir.as_path())
        .await
        .unwrap()
        .run(&owner)
        .await
        .unwrap();
    std::fs::remove_dir_all(dir).unwrap();

    IsolationAudit::new()
        .entity::<Customer>()
        .entity::<Order>()
        .ensure(&app)
        .await
        .unwrap();
    let acme = support::ctx("acme", Plan::Free);
    let mut tx = support::install_row_security(&owner)
        .await
        .begin(&app, &acme)
        .await
        .unwrap();
    tx.repo::<Order>()
        .insert(
            &acme,
            NewOrder {
                id: 1,
                customer_id: 7,
            },
        )
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        OrderRepo::new(&app).count(&acme).await.unwrap(),
        0,
        "no tenant set: nothing"
    );
}

/// Regression (issue 21): the description was written into the file's first comment as given,
/// so a newline ended the comment and the rest ran as SQL when the migration was applied.
#[tokio::test]
async fn a_description_cannot_inject_sql_into_the_file() {
    let dir = dir("injection");
    let description = "tenant tables\nCREATE TABLE pwned (x INTEGER);\n--";
    let written = Migration::new(description)
        .entity::<Customer>()
        .write::<sqlx::Sqlite>(&dir, 1);
    let pool = support::sqlite().await;
    if written.is_ok() {
        Migrator::new(dir.as_path())
            .await
            .unwrap()
            .run(&pool)
            .await
            .unwrap();
    }
    let pwned: Option<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE name = 'pwned'")
            .fetch_optional(&pool)
            .await
            .unwrap();
    assert_eq!(pwned, None, "the description ran as SQL");
    assert!(
        matches!(&written, Err(Error::MigrationDescription { description: d, .. }) if d == description),
        "{written:?}"
    );
    assert!(
        !dir.exists(),
        "nothing is written for a refused description"
    );
    // Every line break and control character, and an empty description, on either backend.
    for bad in [
        "a\rDROP TABLE x",
        "a\u{85}b",
        "tab\there",
        "nul\0",
        "",
        "   ",
    ] {
        let migration = Migration::new(bad).entity::<Customer>();
        assert!(
            matches!(
                migration.sql::<sqlx::Sqlite>(),
                Err(Error::MigrationDescription { .. })
            ),
            "{bad:?}"
        );
        assert!(
            matches!(
                migration.sql::<sqlx::Postgres>(),
                Err(Error::MigrationDescription { .. })
            ),
            "{bad:?}"
        );
    }
    // Punctuation and other scripts stay allowed: only control text could leave the comment.
    let sql = Migration::new("tenant tables: v2 (größer) */ --")
        .entity::<Customer>()
        .sql::<sqlx::Postgres>()
        .unwrap();
    assert!(sql.starts_with("-- tenant tables: v2 (größer) */ --: generated"));
}

/// Regression (issue 21, item 11): in a migration file too, `CREATE UNIQUE INDEX IF NOT EXISTS`
/// skipped the index silently when another relation had its name; the file now verifies each
/// index after creating it, and the migration fails instead.
#[tokio::test]
async fn postgres_a_migration_fails_when_an_index_name_is_taken() {
    let Some(pool) = support::postgres("migration_index_taken").await else {
        return;
    };
    sqlx::query("CREATE SEQUENCE t9_customers_email_key")
        .execute(&pool)
        .await
        .unwrap();
    let dir = dir("index-taken");
    Migration::new("tenant tables")
        .entity::<Customer>()
        .write::<sqlx::Postgres>(&dir, 1)
        .unwrap();
    let applied = Migrator::new(dir.as_path()).await.unwrap().run(&pool).await;
    std::fs::remove_dir_all(dir).unwrap();
    let error = applied.expect_err("the migration applied without its unique index");
    assert!(
        error.to_string().contains("t9_customers_email_key"),
        "{error}"
    );
}
