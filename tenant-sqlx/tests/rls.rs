//! Row-level security and tenant-bound transactions on PostgreSQL, as the application role
//! (`APP_DATABASE_URL`: no superuser, no BYPASSRLS, owns no table). Each test tries to get past
//! the policy: raw SQL, no tenant set, another tenant's id in a write, a pooled connection after
//! a tenant-bound transaction. SQLite has no row-level security; its `TenantTx` is checked last.

#![allow(missing_docs)] // test entities

use sqlx::PgPool;

use tenant::sqlx::{Error, Finding, IsolationAudit, TenantTx};
use tenant::{Plan, TenantCtx, TenantId, tenant_scoped};
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

fn tenants() -> (TenantCtx, TenantCtx) {
    (
        support::ctx("acme", Plan::Pro),
        support::ctx("globex", Plan::Free),
    )
}

/// The owner creates the table and turns row-level security on; acme and globex get ids 1..=3
/// and 1..=2, written through tenant-bound transactions of the application role.
async fn seeded(
    test: &str,
    app_connections: u32,
) -> Option<(PgPool, PgPool, TenantCtx, TenantCtx)> {
    let (owner, app) = support::postgres_app_role(test, app_connections).await?;
    Some(seed(owner, app).await)
}

/// As [`seeded`], on a database of its own without TEMP for `PUBLIC`, where the isolation audit
/// passes as the application role.
async fn seeded_for_audit(
    test: &str,
    app_connections: u32,
) -> Option<(PgPool, PgPool, TenantCtx, TenantCtx)> {
    let (owner, app) = support::postgres_app_database(test, app_connections).await?;
    Some(seed(owner, app).await)
}

async fn seed(owner: PgPool, app: PgPool) -> (PgPool, PgPool, TenantCtx, TenantCtx) {
    let mut repo = InvoiceRepo::new(&owner);
    repo.create_table().await.unwrap();
    repo.row_level_security().await.unwrap();
    let (acme, globex) = tenants();
    for (ctx, n) in [(&acme, 3), (&globex, 2)] {
        let mut tx = TenantTx::begin(&app, ctx).await.unwrap();
        for id in 1..=n {
            tx.repo::<Invoice>()
                .insert(
                    ctx,
                    NewInvoice {
                        id,
                        amount_cents: 100 * id,
                    },
                )
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
    }
    (owner, app, acme, globex)
}

async fn raw_count(executor: impl sqlx::PgExecutor<'_>) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM invoices")
        .fetch_one(executor)
        .await
        .unwrap()
}

fn sqlstate(error: &sqlx::Error) -> Option<String> {
    error
        .as_database_error()
        .and_then(|e| e.code())
        .map(|code| code.into_owned())
}

#[tokio::test]
async fn raw_sql_in_a_tenant_tx_sees_and_changes_only_that_tenant() {
    let Some((_, app, acme, globex)) = seeded(
        "raw_sql_in_a_tenant_tx_sees_and_changes_only_that_tenant",
        2,
    )
    .await
    else {
        return;
    };
    let mut tx = TenantTx::begin(&app, &acme).await.unwrap();
    // No WHERE at all: the policy is the only filter.
    assert_eq!(raw_count(&mut *tx).await, 3);
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM invoices ORDER BY id")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert_eq!(ids, [1, 2, 3]);
    let changed = sqlx::query("UPDATE invoices SET amount_cents = 0")
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(changed.rows_affected(), 3);
    let deleted = sqlx::query("DELETE FROM invoices WHERE id = 2")
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(deleted.rows_affected(), 1);
    tx.commit().await.unwrap();

    let mut tx = TenantTx::begin(&app, &globex).await.unwrap();
    let theirs: Vec<(i64, i64)> =
        sqlx::query_as("SELECT id, amount_cents FROM invoices ORDER BY id")
            .fetch_all(&mut *tx)
            .await
            .unwrap();
    assert_eq!(theirs, [(1, 100), (2, 200)]);
    tx.rollback().await.unwrap();
}

#[tokio::test]
async fn outside_a_tenant_tx_the_table_shows_nothing() {
    let Some((owner, app, acme, _)) =
        seeded("outside_a_tenant_tx_the_table_shows_nothing", 2).await
    else {
        return;
    };
    assert_eq!(raw_count(&app).await, 0);
    // Repositories on the bare pool see nothing either: fail closed, not open.
    assert_eq!(InvoiceRepo::new(&app).count(&acme).await.unwrap(), 0);
    // A plain transaction is not a tenant-bound one.
    let mut tx = app.begin().await.unwrap();
    assert_eq!(raw_count(&mut *tx).await, 0);
    tx.rollback().await.unwrap();
    // FORCE: the owner is subject to the policy too.
    assert_eq!(raw_count(&owner).await, 0);
    // A write without a tenant set is refused, not written unscoped.
    let refused =
        sqlx::query("INSERT INTO invoices (tenant_id, id, amount_cents) VALUES ('acme', 9, 1)")
            .execute(&app)
            .await
            .unwrap_err();
    assert_eq!(sqlstate(&refused).as_deref(), Some("42501"), "{refused}");
}

#[tokio::test]
async fn writes_naming_another_tenant_fail() {
    let Some((_, app, acme, globex)) = seeded("writes_naming_another_tenant_fail", 2).await else {
        return;
    };
    let mut tx = TenantTx::begin(&app, &acme).await.unwrap();
    let refused =
        sqlx::query("INSERT INTO invoices (tenant_id, id, amount_cents) VALUES ('globex', 7, 1)")
            .execute(&mut *tx)
            .await
            .unwrap_err();
    assert_eq!(sqlstate(&refused).as_deref(), Some("42501"), "{refused}");
    tx.rollback().await.unwrap();

    // Moving one's own row to another tenant fails WITH CHECK.
    let mut tx = TenantTx::begin(&app, &acme).await.unwrap();
    let refused = sqlx::query("UPDATE invoices SET tenant_id = 'globex' WHERE id = 1")
        .execute(&mut *tx)
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&refused).as_deref(), Some("42501"), "{refused}");
    tx.rollback().await.unwrap();

    // A repository given the other tenant's ctx inside acme's transaction: the insert is
    // refused by the database and the read finds nothing.
    let mut tx = TenantTx::begin(&app, &acme).await.unwrap();
    let refused = tx
        .repo::<Invoice>()
        .insert(
            &globex,
            NewInvoice {
                id: 8,
                amount_cents: 1,
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, Error::Database(e) if sqlstate(e).as_deref() == Some("42501")),
        "{refused:?}"
    );
    tx.rollback().await.unwrap();
    let mut tx = TenantTx::begin(&app, &acme).await.unwrap();
    assert_eq!(tx.repo::<Invoice>().count(&globex).await.unwrap(), 0);
    assert_eq!(tx.repo::<Invoice>().count(&acme).await.unwrap(), 3);
    tx.rollback().await.unwrap();

    let mut tx = TenantTx::begin(&app, &globex).await.unwrap();
    assert_eq!(raw_count(&mut *tx).await, 2);
    tx.rollback().await.unwrap();
}

#[tokio::test]
async fn a_pooled_connection_carries_no_tenant_after_the_transaction() {
    // One connection, so the next user gets the very connection the tenant used.
    let Some((_, app, acme, _)) = seeded(
        "a_pooled_connection_carries_no_tenant_after_the_transaction",
        1,
    )
    .await
    else {
        return;
    };
    for end in ["commit", "rollback", "drop"] {
        let mut tx = TenantTx::begin(&app, &acme).await.unwrap();
        assert_eq!(raw_count(&mut *tx).await, 3, "{end}");
        match end {
            "commit" => tx.commit().await.unwrap(),
            "rollback" => tx.rollback().await.unwrap(),
            _ => drop(tx),
        }
        let setting: Option<String> =
            sqlx::query_scalar("SELECT current_setting('app.tenant_id', true)")
                .fetch_one(&app)
                .await
                .unwrap();
        assert!(setting.unwrap_or_default().is_empty(), "after {end}");
        assert_eq!(raw_count(&app).await, 0, "after {end}");
    }
}

#[tokio::test]
async fn repositories_run_over_a_tenant_tx() {
    let Some((_, app, acme, globex)) = seeded("repositories_run_over_a_tenant_tx", 2).await else {
        return;
    };
    let mut tx = TenantTx::begin(&app, &acme).await.unwrap();
    assert_eq!(tx.ctx().tenant_id().as_str(), "acme");
    let mut repo = tx.repo::<Invoice>();
    assert_eq!(repo.list(&acme).await.unwrap().len(), 3);
    assert_eq!(
        repo.get(&acme, 1).await.unwrap().map(|i| i.amount_cents),
        Some(100)
    );
    // globex has id 1 too; acme's transaction cannot reach it even by naming globex.
    assert!(repo.get(&globex, 1).await.unwrap().is_none());
    assert_eq!(repo.delete(&globex, 1).await.unwrap(), 0);
    tx.commit().await.unwrap();
    let mut tx = TenantTx::begin(&app, &globex).await.unwrap();
    assert_eq!(tx.repo::<Invoice>().count(&globex).await.unwrap(), 2);
    tx.rollback().await.unwrap();
}

#[tokio::test]
async fn concurrent_tenant_transactions_stay_apart() {
    let Some((_, app, acme, globex)) = seeded("concurrent_tenant_transactions_stay_apart", 8).await
    else {
        return;
    };
    let mut tasks = Vec::new();
    for round in 0..32 {
        let (app, ctx, expected) = if round % 2 == 0 {
            (app.clone(), acme.clone(), 3)
        } else {
            (app.clone(), globex.clone(), 2)
        };
        tasks.push(tokio::spawn(async move {
            let mut tx = TenantTx::begin(&app, &ctx).await.unwrap();
            tokio::task::yield_now().await;
            let seen = raw_count(&mut *tx).await;
            tx.commit().await.unwrap();
            assert_eq!(seen, expected, "{}", ctx.tenant_id());
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(raw_count(&app).await, 0);
}

#[tokio::test]
async fn sqlite_tenant_tx_is_a_transaction_that_carries_the_context() {
    let pool = support::sqlite().await;
    let (acme, _) = tenants();
    InvoiceRepo::new(&pool).create_table().await.unwrap();
    let mut tx = TenantTx::begin(&pool, &acme).await.unwrap();
    tx.repo::<Invoice>()
        .insert(
            &acme,
            NewInvoice {
                id: 1,
                amount_cents: 5,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        format!("{tx:?}"),
        r#"TenantTx { tenant_id: TenantId("acme"), .. }"#
    );
    tx.rollback().await.unwrap();
    assert_eq!(InvoiceRepo::new(&pool).count(&acme).await.unwrap(), 0);
}

#[tenant_scoped(table = "never_created")]
pub struct NeverCreated {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
}

/// The audit passes on a protected table, then each invariant is broken once, by the owner, and
/// the audit names it, as the application role and as the owner.
#[tokio::test]
async fn the_isolation_audit_catches_each_broken_invariant() {
    let Some((owner, app, _, _)) =
        seeded_for_audit("the_isolation_audit_catches_each_broken_invariant", 2).await
    else {
        return;
    };
    let audit = IsolationAudit::new().entity::<Invoice>();
    audit.ensure(&app).await.unwrap();
    // The owner may lift the policy at any time, and owns the database (TEMP): it never passes.
    // Those two findings are set aside below to compare what each broken invariant adds.
    let owner_role: String = sqlx::query_scalar("SELECT current_user::text")
        .fetch_one(&owner)
        .await
        .unwrap();
    let owners_own = |found: Vec<Finding>| -> Vec<Finding> {
        found
            .into_iter()
            .filter(|f| !matches!(f, Finding::OwnsTable { .. } | Finding::TempPrivilege { .. }))
            .collect()
    };
    let owner_found = audit.findings(&owner).await.unwrap();
    assert!(
        owner_found.iter().any(|f| matches!(
            f,
            Finding::OwnsTable { table: "invoices", role, .. } if *role == owner_role
        )),
        "{owner_found:?}"
    );
    assert_eq!(owners_own(owner_found), []);

    let run = |sql: &'static str| {
        let owner = owner.clone();
        async move { sqlx::raw_sql(sql).execute(&owner).await.unwrap() }
    };
    let restore = "ALTER TABLE invoices ENABLE ROW LEVEL SECURITY; \
                   ALTER TABLE invoices FORCE ROW LEVEL SECURITY; \
                   DROP POLICY IF EXISTS support_sees_all ON invoices; \
                   DROP POLICY IF EXISTS tenant_isolation ON invoices; \
                   CREATE POLICY tenant_isolation ON invoices \
                     USING (tenant_id = current_setting('app.tenant_id', true)) \
                     WITH CHECK (tenant_id = current_setting('app.tenant_id', true))";
    let expected = "(tenant_id = current_setting('app.tenant_id'::text, true))".to_owned();
    let cases: [(&str, Vec<Finding>, Vec<Finding>); 5] = [
        (
            "ALTER TABLE invoices NO FORCE ROW LEVEL SECURITY",
            vec![Finding::RlsNotForced { table: "invoices" }],
            vec![Finding::OwnerBypasses { table: "invoices" }],
        ),
        (
            "ALTER TABLE invoices DISABLE ROW LEVEL SECURITY",
            vec![Finding::RlsDisabled { table: "invoices" }],
            vec![Finding::RlsDisabled { table: "invoices" }],
        ),
        (
            "DROP POLICY tenant_isolation ON invoices",
            vec![Finding::PolicyMissing {
                table: "invoices",
                expected: expected.clone(),
            }],
            vec![Finding::PolicyMissing {
                table: "invoices",
                expected: expected.clone(),
            }],
        ),
        (
            "DROP POLICY tenant_isolation ON invoices; \
             CREATE POLICY tenant_isolation ON invoices \
               USING (tenant_id = current_setting('app.tenant_id', true))",
            vec![Finding::PolicyMissing {
                table: "invoices",
                expected: expected.clone(),
            }],
            vec![Finding::PolicyMissing {
                table: "invoices",
                expected: expected.clone(),
            }],
        ),
        (
            "CREATE POLICY support_sees_all ON invoices FOR SELECT USING (true)",
            vec![Finding::ExtraPermissivePolicy {
                table: "invoices",
                policy: "support_sees_all".into(),
            }],
            vec![Finding::ExtraPermissivePolicy {
                table: "invoices",
                policy: "support_sees_all".into(),
            }],
        ),
    ];
    for (break_it, as_app, as_owner) in cases {
        run(break_it).await;
        assert_eq!(audit.findings(&app).await.unwrap(), as_app, "{break_it}");
        assert_eq!(
            owners_own(audit.findings(&owner).await.unwrap()),
            as_owner,
            "{break_it}"
        );
        let refused = audit.ensure(&app).await.unwrap_err();
        assert!(matches!(refused, Error::Isolation(_)), "{refused:?}");
        run(restore).await;
        audit.ensure(&app).await.unwrap();
    }

    // The extra permissive policy is no formality: it opens every tenant's rows.
    run("CREATE POLICY support_sees_all ON invoices FOR SELECT USING (true)").await;
    assert_eq!(raw_count(&app).await, 5);
    run(restore).await;
    assert_eq!(raw_count(&app).await, 0);

    let missing = IsolationAudit::new()
        .entity::<Invoice>()
        .entity::<NeverCreated>();
    assert_eq!(
        missing.findings(&app).await.unwrap(),
        [Finding::TableMissing {
            table: "never_created"
        }]
    );
}

/// A role with BYPASSRLS (`BYPASS_DATABASE_URL`, made by `.ci/pg.sh`) sees every tenant's rows
/// with no tenant set, which is why the audit refuses to pass it.
#[tokio::test]
async fn the_audit_refuses_a_bypassrls_role_which_sees_every_tenant() {
    let Some((owner, app, _, _)) = seeded_for_audit("the_audit_refuses_a_bypassrls_role", 1).await
    else {
        return;
    };
    let Some(bypass_url) = support::server_var("BYPASS_DATABASE_URL", "the BYPASSRLS audit test")
    else {
        return;
    };
    let options: sqlx::postgres::PgConnectOptions = bypass_url.parse().unwrap();
    let role = options.get_username().to_owned();
    let (schema, database): (String, String) =
        sqlx::query_as("SELECT current_schema()::text, current_database()::text")
            .fetch_one(&owner)
            .await
            .unwrap();
    for grant in [
        format!("GRANT USAGE ON SCHEMA {schema} TO {role}"),
        format!("GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {role}"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(grant))
            .execute(&owner)
            .await
            .unwrap();
    }
    let bypass = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_with(
            options
                .database(&database)
                .options([("search_path", schema.as_str())]),
        )
        .await
        .unwrap();
    // No tenant set, and still both tenants' rows: the policy does not apply to this role.
    assert_eq!(raw_count(&bypass).await, 5);
    let audit = IsolationAudit::new().entity::<Invoice>();
    assert_eq!(
        audit.findings(&bypass).await.unwrap(),
        [Finding::BypassRls { role: role.clone() }]
    );
    assert!(matches!(
        audit.ensure(&bypass).await,
        Err(Error::Isolation(_))
    ));
    audit.ensure(&app).await.unwrap();
}
