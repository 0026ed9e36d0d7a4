//! Row-level security and tenant-bound transactions on PostgreSQL, as the application role
//! (`APP_DATABASE_URL`: no superuser, no BYPASSRLS, owns no table). Each test tries to get past
//! the policy: raw SQL, no tenant set, another tenant's id in a write, a pooled connection after
//! a tenant-bound transaction. SQLite has no row-level security; its `TenantTx` is checked last.

#![allow(missing_docs)] // test entities

use sqlx::PgPool;

use tenant::sqlx::{Error, Finding, IsolationAudit, RowSecurity, TenantTx};
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

/// The key the tests' database holds (`seeded` installs it).
fn rls() -> RowSecurity {
    support::row_security()
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

/// As [`seeded_for_audit`], with the PL/pgSQL version of `tenant_rls`
/// (`RowSecurity::install_plpgsql`), whose setting is `app.tenant_id` with a tag: a database of
/// its own, since the shared one has the C extension.
async fn seeded_plpgsql(
    test: &str,
    app_connections: u32,
) -> Option<(PgPool, PgPool, TenantCtx, TenantCtx)> {
    let (owner, app) = support::postgres_app_database(test, app_connections).await?;
    support::install_row_security_plpgsql(&owner).await;
    Some(seed_with(owner, app, false).await)
}

/// The C extension's version (always: whatever an earlier run, such as the benchmark's
/// `TENANT_BENCH_PLPGSQL=1`, left in the database), then the table and its rows.
async fn seed(owner: PgPool, app: PgPool) -> (PgPool, PgPool, TenantCtx, TenantCtx) {
    seed_with(owner, app, true).await
}

async fn seed_with(
    owner: PgPool,
    app: PgPool,
    extension: bool,
) -> (PgPool, PgPool, TenantCtx, TenantCtx) {
    if extension {
        support::install_row_security(&owner).await;
    }
    let mut repo = InvoiceRepo::new(&owner);
    repo.create_table().await.unwrap();
    repo.row_level_security().await.unwrap();
    let (acme, globex) = tenants();
    for (ctx, n) in [(&acme, 3), (&globex, 2)] {
        let mut tx = rls().begin(&app, ctx).await.unwrap();
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
    let mut tx = rls().begin(&app, &acme).await.unwrap();
    // No WHERE at all: the policy is the only filter.
    assert_eq!(raw_count(tx.executor()).await, 3);
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM invoices ORDER BY id")
        .fetch_all(tx.executor())
        .await
        .unwrap();
    assert_eq!(ids, [1, 2, 3]);
    let changed = sqlx::query("UPDATE invoices SET amount_cents = 0")
        .execute(tx.executor())
        .await
        .unwrap();
    assert_eq!(changed.rows_affected(), 3);
    let deleted = sqlx::query("DELETE FROM invoices WHERE id = 2")
        .execute(tx.executor())
        .await
        .unwrap();
    assert_eq!(deleted.rows_affected(), 1);
    tx.commit().await.unwrap();

    let mut tx = rls().begin(&app, &globex).await.unwrap();
    let theirs: Vec<(i64, i64)> =
        sqlx::query_as("SELECT id, amount_cents FROM invoices ORDER BY id")
            .fetch_all(tx.executor())
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
    let mut tx = rls().begin(&app, &acme).await.unwrap();
    let refused =
        sqlx::query("INSERT INTO invoices (tenant_id, id, amount_cents) VALUES ('globex', 7, 1)")
            .execute(tx.executor())
            .await
            .unwrap_err();
    assert_eq!(sqlstate(&refused).as_deref(), Some("42501"), "{refused}");
    tx.rollback().await.unwrap();

    // Moving one's own row to another tenant fails WITH CHECK.
    let mut tx = rls().begin(&app, &acme).await.unwrap();
    let refused = sqlx::query("UPDATE invoices SET tenant_id = 'globex' WHERE id = 1")
        .execute(tx.executor())
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&refused).as_deref(), Some("42501"), "{refused}");
    tx.rollback().await.unwrap();

    // A repository given the other tenant's ctx inside acme's transaction is refused before
    // the database sees it (a_tenant_tx_refuses_another_tenants_ctx_on_postgres).
    let mut tx = rls().begin(&app, &acme).await.unwrap();
    assert!(matches!(
        tx.repo::<Invoice>().count(&globex).await,
        Err(Error::TenantMismatch { .. })
    ));
    assert_eq!(tx.repo::<Invoice>().count(&acme).await.unwrap(), 3);
    tx.rollback().await.unwrap();

    let mut tx = rls().begin(&app, &globex).await.unwrap();
    assert_eq!(raw_count(tx.executor()).await, 2);
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
        let mut tx = rls().begin(&app, &acme).await.unwrap();
        assert_eq!(raw_count(tx.executor()).await, 3, "{end}");
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
    let mut tx = rls().begin(&app, &acme).await.unwrap();
    assert_eq!(tx.ctx().tenant_id().as_str(), "acme");
    let mut repo = tx.repo::<Invoice>();
    assert_eq!(repo.list(&acme).await.unwrap().len(), 3);
    assert_eq!(
        repo.get(&acme, 1).await.unwrap().map(|i| i.amount_cents),
        Some(100)
    );
    // globex has id 1 too; acme's transaction cannot reach it even by naming globex.
    assert!(matches!(
        repo.get(&globex, 1).await,
        Err(Error::TenantMismatch { .. })
    ));
    assert!(matches!(
        repo.delete(&globex, 1).await,
        Err(Error::TenantMismatch { .. })
    ));
    tx.commit().await.unwrap();
    let mut tx = rls().begin(&app, &globex).await.unwrap();
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
            let mut tx = rls().begin(&app, &ctx).await.unwrap();
            tokio::task::yield_now().await;
            let seen = raw_count(tx.executor()).await;
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
    // The owner may lift the policy at any time, owns the database (TEMP) and `tenant_rls`
    // (the key): it never passes. Those findings are set aside below to compare what each
    // broken invariant adds.
    let owner_role: String = sqlx::query_scalar("SELECT current_user::text")
        .fetch_one(&owner)
        .await
        .unwrap();
    let owners_own = |found: Vec<Finding>| -> Vec<Finding> {
        found
            .into_iter()
            .filter(|f| {
                !matches!(
                    f,
                    Finding::OwnsTable { .. }
                        | Finding::TempPrivilege { .. }
                        | Finding::OwnsRowSecurity { .. }
                )
            })
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
                     USING (tenant_id = (SELECT tenant_rls.current_tenant())) \
                     WITH CHECK (tenant_id = (SELECT tenant_rls.current_tenant()))";
    let expected =
        "(tenant_id = ( SELECT tenant_rls.current_tenant() AS current_tenant))".to_owned();
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
               USING (tenant_id = (SELECT tenant_rls.current_tenant()))",
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

// ---- issue 21: the holes the security review found, each tried once more ----

/// Item 3. A temporary table left on a pooled connection has no row-level security; PostgreSQL
/// searches `pg_temp` first unless the search path names it, so before the fix the tenant's
/// statements went to the temporary table instead.
#[tokio::test]
async fn a_temp_table_on_a_pooled_connection_does_not_shadow_the_tenant_table() {
    let Some((_, app, acme, _)) = seeded("a_temp_table_does_not_shadow", 1).await else {
        return;
    };
    sqlx::raw_sql(
        "CREATE TEMP TABLE invoices (tenant_id TEXT, id BIGINT, amount_cents BIGINT); \
         INSERT INTO invoices VALUES ('globex', 1, 1)",
    )
    .execute(&app)
    .await
    .unwrap();
    let mut tx = rls().begin(&app, &acme).await.unwrap();
    assert_eq!(
        raw_count(tx.executor()).await,
        3,
        "raw SQL read the temp table"
    );
    assert_eq!(tx.repo::<Invoice>().count(&acme).await.unwrap(), 3);
    tx.repo::<Invoice>()
        .insert(
            &acme,
            NewInvoice {
                id: 4,
                amount_cents: 400,
            },
        )
        .await
        .unwrap();
    tx.commit().await.unwrap();
    // The temp table kept its one row: the insert went to the tenant's table.
    let temp: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pg_temp.invoices")
        .fetch_one(&app)
        .await
        .unwrap();
    assert_eq!(temp, 1);
}

/// Item 4. Raw SQL inside acme's transaction sets the tenant setting to globex: plainly, with a
/// value copied from a transaction of globex's (on another connection, and on the same one), and
/// by calling the functions itself. Before the fix the first alone read globex's rows.
#[tokio::test]
async fn raw_sql_cannot_forge_the_tenant_setting() {
    let Some((_, app, acme, globex)) =
        seeded_plpgsql("raw_sql_cannot_forge_the_tenant_setting", 2).await
    else {
        return;
    };
    let setting = "SELECT current_setting('app.tenant_id')";
    let mut theirs = rls().begin(&app, &globex).await.unwrap();
    let copied: String = sqlx::query_scalar(setting)
        .fetch_one(theirs.executor())
        .await
        .unwrap();
    assert!(copied.starts_with("globex:"), "{copied}");
    let mut tx = rls().begin(&app, &acme).await.unwrap();
    let own: String = sqlx::query_scalar(setting)
        .fetch_one(tx.executor())
        .await
        .unwrap();
    for forged in [
        "globex".to_owned(),
        copied.clone(),
        own.replacen("acme", "globex", 1),
    ] {
        sqlx::query("SELECT set_config('app.tenant_id', $1, true)")
            .bind(&forged)
            .execute(tx.executor())
            .await
            .unwrap();
        let rows: Vec<(String, i64)> = sqlx::query_as("SELECT tenant_id, id FROM invoices")
            .fetch_all(tx.executor())
            .await
            .unwrap();
        assert_eq!(rows, [], "the forged setting {forged:?} read rows");
        let refused = sqlx::query(
            "INSERT INTO invoices (tenant_id, id, amount_cents) VALUES ('globex', 7, 1)",
        )
        .execute(tx.executor())
        .await
        .unwrap_err();
        assert_eq!(sqlstate(&refused).as_deref(), Some("42501"), "{refused}");
        tx.rollback().await.unwrap();
        tx = rls().begin(&app, &acme).await.unwrap();
    }
    theirs.rollback().await.unwrap();
    // Without the key, the function that sets the setting refuses.
    let refused = sqlx::query("SELECT tenant_rls.enter('globex', repeat('0', 64))")
        .execute(tx.executor())
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&refused).as_deref(), Some("28000"), "{refused}");
    tx.rollback().await.unwrap();
    // Globex's value copied on the very connection globex used, in a later transaction.
    let one = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_with((*app.connect_options()).clone())
        .await
        .unwrap();
    let copied: String = {
        let mut theirs = rls().begin(&one, &globex).await.unwrap();
        let value = sqlx::query_scalar(setting)
            .fetch_one(theirs.executor())
            .await
            .unwrap();
        theirs.commit().await.unwrap();
        value
    };
    let mut tx = rls().begin(&one, &acme).await.unwrap();
    sqlx::query("SELECT set_config('app.tenant_id', $1, true)")
        .bind(&copied)
        .execute(tx.executor())
        .await
        .unwrap();
    let verified: Option<String> = sqlx::query_scalar("SELECT tenant_rls.current_tenant()")
        .fetch_one(tx.executor())
        .await
        .unwrap();
    assert_eq!(verified, None);
    tx.rollback().await.unwrap();
}

/// Item 4: a key the database does not hold enters no tenant; the transaction is not begun.
#[tokio::test]
async fn a_wrong_key_is_refused_with_a_typed_error() {
    let Some((_, app, acme, _)) = seeded("a_wrong_key_is_refused", 1).await else {
        return;
    };
    let wrong = RowSecurity::new(&[42; 32]).unwrap();
    let refused = wrong.begin(&app, &acme).await.unwrap_err();
    assert!(matches!(refused, Error::RowSecurityRefused), "{refused:?}");
    // The connection went back clean: the right key works on it at once.
    let mut tx = rls().begin(&app, &acme).await.unwrap();
    assert_eq!(raw_count(tx.executor()).await, 3);
    tx.rollback().await.unwrap();
}

/// Item 9. After a tenant transaction the setting reads `''`, not NULL, on that connection:
/// a row whose tenant is `''` passed the policy there.
#[tokio::test]
async fn no_row_with_an_empty_tenant_can_be_written_after_a_tenant_tx() {
    let Some((_, app, acme, _)) = seeded("no_row_with_an_empty_tenant", 1).await else {
        return;
    };
    let tx = rls().begin(&app, &acme).await.unwrap();
    tx.commit().await.unwrap();
    let refused =
        sqlx::query("INSERT INTO invoices (tenant_id, id, amount_cents) VALUES ('', 9, 1)")
            .execute(&app)
            .await;
    assert!(refused.is_err(), "a row with an empty tenant was written");
    assert_eq!(raw_count(&app).await, 0);
}

/// Item 10. A session-level `SET` in raw SQL outlives the transaction that ran it.
#[tokio::test]
async fn a_session_level_set_does_not_survive_on_the_pooled_connection() {
    let Some((_, app, acme, _)) = seeded("a_session_level_set_does_not_survive", 1).await else {
        return;
    };
    let mut tx = rls().begin(&app, &acme).await.unwrap();
    sqlx::raw_sql("SET app.tenant_id = 'globex'")
        .execute(tx.executor())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    // acme's own verified value, kept at session level past its transaction.
    let mut tx = rls().begin(&app, &acme).await.unwrap();
    sqlx::raw_sql("SELECT set_config('app.tenant_id', current_setting('app.tenant_id'), false)")
        .execute(tx.executor())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    // Outside any tenant transaction, on the very connection.
    assert_eq!(
        raw_count(&app).await,
        0,
        "globex's rows outside a tenant tx"
    );
    // The next tenant transaction on it is acme's alone.
    let mut tx = rls().begin(&app, &acme).await.unwrap();
    assert_eq!(raw_count(tx.executor()).await, 3);
    tx.commit().await.unwrap();
    let left: Option<String> = sqlx::query_scalar("SELECT current_setting('app.tenant_id', true)")
        .fetch_one(&app)
        .await
        .unwrap();
    assert_ne!(left.as_deref(), Some("globex"));
}

/// Item 12. A transaction bound to acme given globex's context.
#[tokio::test]
async fn a_tenant_tx_refuses_another_tenants_ctx_on_postgres() {
    let Some((_, app, acme, globex)) = seeded("a_tenant_tx_refuses_another_ctx", 2).await else {
        return;
    };
    let mut tx = rls().begin(&app, &acme).await.unwrap();
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
        matches!(refused, Error::TenantMismatch { .. }),
        "{refused:?}"
    );
    tx.rollback().await.unwrap();
}

#[tokio::test]
async fn a_tenant_tx_refuses_another_tenants_ctx_on_sqlite() {
    let pool = support::sqlite().await;
    let (acme, globex) = tenants();
    InvoiceRepo::new(&pool).create_table().await.unwrap();
    let mut tx = TenantTx::begin(&pool, &acme).await.unwrap();
    let mut repo = tx.repo::<Invoice>();
    let new = NewInvoice {
        id: 1,
        amount_cents: 5,
    };
    let refused = repo.insert(&globex, new).await.unwrap_err();
    assert!(
        matches!(refused, Error::TenantMismatch { .. }),
        "{refused:?}"
    );
    assert!(matches!(
        repo.list(&globex).await,
        Err(Error::TenantMismatch { .. })
    ));
    assert!(matches!(
        repo.count(&globex).await,
        Err(Error::TenantMismatch { .. })
    ));
    tx.commit().await.unwrap();
    assert_eq!(InvoiceRepo::new(&pool).count(&globex).await.unwrap(), 0);
}

/// Item 9, the column's own CHECK: a tenant id PostgreSQL or SQLite would store, but no
/// `TenantId` can be, is refused by the table itself, with or without row-level security.
#[tokio::test]
async fn the_tenant_column_refuses_what_is_not_a_tenant_id() {
    let sqlite = support::sqlite().await;
    InvoiceRepo::new(&sqlite).create_table().await.unwrap();
    for bad in ["", "ACME", "-acme", "acme-", "a b", &"a".repeat(64)] {
        let refused =
            sqlx::query("INSERT INTO invoices (tenant_id, id, amount_cents) VALUES (?, 1, 1)")
                .bind(bad)
                .execute(&sqlite)
                .await;
        assert!(refused.is_err(), "sqlite stored {bad:?}");
    }
    sqlx::query("INSERT INTO invoices (tenant_id, id, amount_cents) VALUES ('a', 1, 1)")
        .execute(&sqlite)
        .await
        .unwrap();
    let Some(pg) = support::postgres("the_tenant_column_refuses_what_is_not_a_tenant_id").await
    else {
        return;
    };
    InvoiceRepo::new(&pg).create_table().await.unwrap();
    for bad in ["", "ACME", "-acme", "acme-", "a b", &"a".repeat(64)] {
        let refused =
            sqlx::query("INSERT INTO invoices (tenant_id, id, amount_cents) VALUES ($1, 1, 1)")
                .bind(bad)
                .execute(&pg)
                .await
                .unwrap_err();
        assert_eq!(
            sqlstate(&refused).as_deref(),
            Some("23514"),
            "{bad:?}: {refused}"
        );
    }
    sqlx::query("INSERT INTO invoices (tenant_id, id, amount_cents) VALUES ($1, 1, 1)")
        .bind("a".repeat(63))
        .execute(&pg)
        .await
        .unwrap();
}

/// Items 3, 4 and 12 together: row-level security in the tenant's schema
/// (`RowSecurity::begin_in_schema`). Here the "tenant schema" is the test's own, with the
/// policy on: the verified setting, the search path and the context check all hold at once.
#[tokio::test]
async fn row_security_in_the_tenants_schema() {
    let Some((owner, app, _, globex)) = seeded("rls_in_schema", 1).await else {
        return;
    };
    let schema: String = sqlx::query_scalar("SELECT current_schema()::text")
        .fetch_one(&owner)
        .await
        .unwrap();
    let acme = TenantCtx::trusted("acme".parse().unwrap(), schema.parse().unwrap(), Plan::Pro);
    sqlx::raw_sql("CREATE TEMP TABLE invoices (tenant_id TEXT, id BIGINT, amount_cents BIGINT)")
        .execute(&app)
        .await
        .unwrap();
    let mut tx = rls().begin_in_schema(&app, &acme).await.unwrap();
    assert_eq!(raw_count(tx.executor()).await, 3);
    assert!(matches!(
        tx.repo::<Invoice>().count(&globex).await,
        Err(Error::TenantMismatch { .. })
    ));
    // The C extension's policy does not read `app.tenant_id`: forging it changes nothing.
    sqlx::query("SELECT set_config('app.tenant_id', 'globex', true)")
        .execute(tx.executor())
        .await
        .unwrap();
    assert_eq!(raw_count(tx.executor()).await, 3);
    tx.rollback().await.unwrap();
}

/// Issue 21 item 4, its cost: `current_tenant()` runs once per statement, so it has no
/// `SET search_path` clause (a GUC save and restore per call). Its body then resolves names
/// with the caller's search path, which raw SQL sets: every name in it is qualified, and raw SQL
/// that puts its own key table, types and functions first on the path still forges nothing.
#[tokio::test]
async fn current_tenant_has_no_set_clause_and_the_search_path_cannot_hijack_it() {
    let Some((owner, app, acme, _)) = seeded_plpgsql("current_tenant_search_path_hijack", 1).await
    else {
        return;
    };
    // The attack needs temporary objects, which `seeded_plpgsql`'s database does not grant.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "GRANT TEMPORARY ON DATABASE {} TO {}",
        sqlx::query_scalar::<_, String>("SELECT current_database()::text")
            .fetch_one(&owner)
            .await
            .unwrap(),
        app.connect_options().get_username()
    )))
    .execute(&owner)
    .await
    .unwrap();
    let config: Option<Vec<String>> = sqlx::query_scalar(
        "SELECT proconfig FROM pg_proc WHERE oid = 'tenant_rls.current_tenant()'::regprocedure",
    )
    .fetch_one(&app)
    .await
    .unwrap();
    assert_eq!(config, None, "current_tenant() pays for a SET clause");

    let mut tx = rls().begin(&app, &acme).await.unwrap();
    // A key table of the attacker's, found first (pg_temp, named first), with pads it knows,
    // and a tag for globex computed under them in the function's own message format; then
    // look-alikes of what the body calls, in pg_temp and first on the path.
    for sql in [
        "CREATE TEMP TABLE key (id integer, inner_pad bytea, outer_pad bytea)",
        "INSERT INTO pg_temp.key VALUES (1, decode(repeat('36', 64), 'hex'), \
         decode(repeat('5c', 64), 'hex'))",
        "SELECT set_config('search_path', 'pg_temp, tenant_rls, ' || current_setting('search_path'), true)",
        "SELECT set_config('app.tenant_id', 'globex:' || encode(sha256(k.outer_pad || \
         sha256(k.inner_pad || convert_to('tx:globex', 'UTF8') || int4send(pg_backend_pid()) || \
         timestamptz_send(now()))), 'hex'), true) FROM pg_temp.key AS k",
        "CREATE FUNCTION pg_temp.sha256(bytea) RETURNS bytea LANGUAGE sql AS $$ SELECT $1 $$",
        "CREATE FUNCTION pg_temp.split_part(text, text, integer) RETURNS text \
         LANGUAGE sql AS $$ SELECT 'globex'::pg_catalog.text $$",
        "CREATE DOMAIN pg_temp.bytea AS pg_catalog.text",
    ] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(tx.executor())
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    let verified: Option<String> = sqlx::query_scalar("SELECT tenant_rls.current_tenant()")
        .fetch_one(tx.executor())
        .await
        .unwrap();
    assert_eq!(verified, None, "a key table of the caller's verified a tag");
    assert_eq!(raw_count(tx.executor()).await, 0);
    tx.rollback().await.unwrap();
    // And the genuine setting still verifies, whatever the search path.
    let mut tx = rls().begin(&app, &acme).await.unwrap();
    sqlx::raw_sql(
        "SET LOCAL search_path = pg_temp, tenant_rls, public; SET LOCAL TimeZone = 'Asia/Kolkata'",
    )
    .execute(tx.executor())
    .await
    .unwrap();
    let verified: Option<String> = sqlx::query_scalar("SELECT tenant_rls.current_tenant()")
        .fetch_one(tx.executor())
        .await
        .unwrap();
    assert_eq!(verified.as_deref(), Some("acme"));
    tx.rollback().await.unwrap();
}

/// The credential another session of the application's role can read in `pg_stat_activity`
/// while `session`'s transaction is open, if any: what follows `enter('<tenant>', '` (or
/// `enter_text(..`).
async fn credential_seen_by(reader: &PgPool, tenant: &str) -> Option<String> {
    let texts: Vec<String> = sqlx::query_scalar(
        "SELECT query FROM pg_stat_activity \
         WHERE pid <> pg_backend_pid() AND usename = current_user \
           AND datname = current_database() AND query IS NOT NULL",
    )
    .fetch_all(reader)
    .await
    .unwrap();
    // `enter('<tenant>', '` or `enter_text('<tenant>', '`.
    let marker = format!("('{tenant}', '");
    texts.iter().find_map(|text| {
        let at = text.find(&marker)? + marker.len();
        if !text[..at].contains("tenant_rls.enter") {
            return None;
        }
        Some(text[at..].split('\'').next()?.to_owned())
    })
}

/// `tenant`'s text credential for `database` and `user` (what `RowSecurity::begin` writes into
/// BEGIN's query where texts are hidden), computed from the key table by its owner.
async fn text_credential_of(owner: &PgPool, tenant: &str, database: &str, user: &str) -> String {
    sqlx::query_scalar(
        "SELECT encode(sha256(outer_pad || sha256(inner_pad || \
           convert_to('enter-text:' || $1 || ':' || $2, 'UTF8') || '\\x00'::bytea || \
           convert_to($3, 'UTF8'))), 'hex') FROM tenant_rls.key",
    )
    .bind(tenant)
    .bind(database)
    .bind(user)
    .fetch_one(owner)
    .await
    .unwrap()
}

/// Calls `function` (`enter` or `enter_text`) for `tenant` with `credential` in a transaction of
/// `pool`, and counts the invoices it then sees: `Err` with the SQLSTATE when refused.
async fn enter_with(
    pool: &PgPool,
    function: &str,
    tenant: &str,
    credential: &str,
) -> Result<i64, Option<String>> {
    let mut tx = pool.begin().await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT set_config('app.tenant_id', tenant_rls.{function}($1, $2), true)"
    )))
    .bind(tenant)
    .bind(credential)
    .execute(&mut *tx)
    .await
    .map_err(|e| sqlstate(&e))?;
    let n = raw_count(&mut *tx).await;
    tx.rollback().await.unwrap();
    Ok(n)
}

/// A login role of the test's own (CI runs test binaries side by side on one cluster: the
/// shared application role's settings are never changed), a member of the application role
/// (its grants), with `settings` applied by the superuser (`ALTER ROLE .. SET ..`). Returns the
/// superuser's pool and the role's URL for `database`.
async fn own_role(
    test: &str,
    role: &str,
    database: &str,
    settings: &[&str],
) -> Option<(PgPool, String)> {
    let superuser = support::server_var("SUPERUSER_DATABASE_URL", test)?;
    let superuser = PgPool::connect(&superuser).await.unwrap();
    let app_url = std::env::var("APP_DATABASE_URL").unwrap();
    let app: sqlx::postgres::PgConnectOptions = app_url.parse().unwrap();
    let mut statements = vec![
        format!("DROP ROLE IF EXISTS {role}"),
        format!(
            "CREATE ROLE {role} LOGIN PASSWORD '{role}' IN ROLE {}",
            app.get_username()
        ),
    ];
    statements.extend(
        settings
            .iter()
            .map(|setting| format!("ALTER ROLE {role} SET {setting}")),
    );
    for statement in statements {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
            .execute(&superuser)
            .await
            .unwrap();
    }
    let (scheme, rest) = app_url.split_once("://").unwrap();
    let (_, host) = rest.split_once('@').unwrap();
    let (host, _) = host.split_once('/').unwrap();
    Some((
        superuser,
        format!("{scheme}://{role}:{role}@{host}/{database}"),
    ))
}

async fn drop_role(superuser: &PgPool, role: &str) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'; \
         DROP ROLE {role}"
    )))
    .execute(superuser)
    .await
    .unwrap();
}

/// How many times the connection called `tenant_rls.enter` and `tenant_rls.enter_text` so far
/// (`track_functions = 'all'` and `stats_fetch_consistency = none` for the role): the counts
/// flushed to the shared statistics plus those still pending in the backend, which it flushes
/// only between transactions.
async fn enter_calls(executor: impl sqlx::PgExecutor<'_>) -> (i64, i64) {
    sqlx::query_as(
        "SELECT coalesce(pg_stat_get_function_calls(e), 0) + coalesce(pg_stat_get_xact_function_calls(e), 0), \
                coalesce(pg_stat_get_function_calls(t), 0) + coalesce(pg_stat_get_xact_function_calls(t), 0) \
         FROM (SELECT 'tenant_rls.enter(text, text)'::regprocedure::oid AS e, \
                      'tenant_rls.enter_text(text, text)'::regprocedure::oid AS t) AS f",
    )
    .fetch_one(executor)
    .await
    .unwrap()
}

/// [`own_role`] named `test`, its texts hidden and its calls of functions counted (see
/// [`enter_calls`]), in `owner`'s database: that database's name, the superuser's pool, the
/// role's URL and a pool of one connection as the role.
async fn counting_role(test: &str, owner: &PgPool) -> Option<(String, PgPool, String, PgPool)> {
    let database: String = sqlx::query_scalar("SELECT current_database()::text")
        .fetch_one(owner)
        .await
        .unwrap();
    let settings = [
        "track_activities = off",
        "track_functions = 'all'",
        "stats_fetch_consistency = none",
    ];
    let (superuser, url) = own_role(test, test, &database, &settings).await?;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .unwrap();
    Some((database, superuser, url, pool))
}

/// `security.begin` on `pool` (of one connection), and how many times its BEGIN called
/// `enter` and `enter_text`.
async fn begin_counting(
    security: &RowSecurity,
    pool: &PgPool,
    ctx: &TenantCtx,
) -> (TenantTx<sqlx::Postgres>, (i64, i64)) {
    let before = enter_calls(pool).await;
    let mut tx = security.begin(pool, ctx).await.unwrap();
    let after = enter_calls(tx.executor()).await;
    (tx, (after.0 - before.0, after.1 - before.1))
}

/// Issue 21 item 4, BEGIN's one round trip, safe by default. The application role's query
/// texts are published (CI's default): `begin` binds the credential (two round trips) and
/// stays there. A credential written into a query text that another session of the role reads
/// in `pg_stat_activity` enters no tenant: `enter_text` refuses it (TR001) in every session that
/// publishes texts, before looking at it, and `enter` refuses it as a bound one (28000). Before
/// the fix, `RowSecurity::one_round_trip()` wrote the bound credential into the text, and the
/// reader entered globex with it (this test's old version asserted that replay succeeded).
#[tokio::test]
async fn a_credential_read_in_pg_stat_activity_enters_no_tenant() {
    let test = "rtt_published_texts";
    let Some((owner, app, acme, globex)) = seeded_for_audit(test, 2).await else {
        return;
    };
    let database: String = sqlx::query_scalar("SELECT current_database()::text")
        .fetch_one(&owner)
        .await
        .unwrap();
    let app_options: sqlx::postgres::PgConnectOptions =
        std::env::var("APP_DATABASE_URL").unwrap().parse().unwrap();
    let app_role = app_options.get_username().to_owned();

    // Texts published: two round trips, every time, working.
    let security = rls();
    for _ in 0..2 {
        let mut tx = security.begin(&app, &acme).await.unwrap();
        assert_eq!(visible_tenants(tx.executor()).await, acme_rows());
        tx.commit().await.unwrap();
        assert!(!security.begins_in_one_round_trip(&app));
    }
    let hidden: bool = sqlx::query_scalar("SELECT tenant_rls.texts_hidden()")
        .fetch_one(&app)
        .await
        .unwrap();
    assert!(!hidden);
    // Two round trips: the text another session sees holds placeholders, not the credential.
    let theirs = security.begin(&app, &globex).await.unwrap();
    assert_eq!(credential_seen_by(&app, "globex").await, None);
    theirs.rollback().await.unwrap();

    // A session writes globex's genuine text credential into its query (as a one-round-trip
    // BEGIN would), the sleep first so that the text is there to read.
    let genuine = text_credential_of(&owner, "globex", &database, &app_role).await;
    let victim = {
        let app = app.clone();
        let sql =
            format!("SELECT pg_sleep(1), tenant_rls.enter_text('globex', '{genuine}'); BEGIN");
        tokio::spawn(async move { app.begin_with(sqlx::AssertSqlSafe(sql)).await.map(drop) })
    };
    let mut stolen = None;
    for _ in 0..100 {
        stolen = credential_seen_by(&app, "globex").await;
        if stolen.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let stolen = stolen.expect("the credential in pg_stat_activity");
    assert_eq!(stolen, genuine);
    let refused = victim.await.unwrap().unwrap_err();
    assert_eq!(sqlstate(&refused).as_deref(), Some("TR001"), "{refused}");
    // The refusing session overwrote its text: nothing left to read.
    assert_eq!(credential_seen_by(&app, "globex").await, None);
    // Replayed by a session of the role: refused as a text credential, and as a bound one.
    assert_eq!(
        enter_with(&app, "enter_text", "globex", &stolen).await,
        Err(Some("TR001".into()))
    );
    assert_eq!(
        enter_with(&app, "enter", "globex", &stolen).await,
        Err(Some("28000".into()))
    );
    // The audit, told that `begin` may write text credentials: the role's sessions agree.
    let audit = || IsolationAudit::new().entity::<Invoice>();
    assert_eq!(
        audit()
            .row_security(&security)
            .findings(&app)
            .await
            .unwrap(),
        []
    );
}

/// Where the role's sessions hide their query texts (`track_activities = off`, set by a
/// superuser, which the role cannot undo), the default `begin` learns it from its first
/// (two-round-trip) BEGIN and then begins in **one**: the transaction called `enter_text` in
/// BEGIN's query and never `enter`. Row security holds in that mode. A text credential is bound
/// to its kind, its database and its role: a bound credential is refused as a text one and the
/// reverse, and a text credential for another database or role is refused.
#[tokio::test]
async fn hidden_texts_begin_in_one_round_trip_with_credentials_bound_to_them() {
    let test = "rtt_hidden_texts";
    let Some((owner, app, acme, globex)) = seeded_for_audit(test, 1).await else {
        return;
    };
    let Some((database, superuser, _, hidden)) = counting_role(test, &owner).await else {
        return;
    };
    let role = test;
    let security = rls();
    assert!(!security.begins_in_one_round_trip(&hidden));
    let (tx, calls) = begin_counting(&security, &hidden, &acme).await;
    assert_eq!(calls, (1, 0), "the first BEGIN binds");
    tx.commit().await.unwrap();
    assert!(security.begins_in_one_round_trip(&hidden));
    // Learned per pool: the application role's pool (texts published) is not affected.
    assert!(!security.begins_in_one_round_trip(&app));
    for (ctx, rows) in [(&acme, acme_rows()), (&globex, vec!["globex".into(); 2])] {
        let (mut tx, calls) = begin_counting(&security, &hidden, ctx).await;
        assert_eq!(calls, (0, 1), "one round trip");
        assert_eq!(visible_tenants(tx.executor()).await, rows);
        // Raw SQL still cannot switch tenants, nor see the other's rows.
        let forged = sqlx::raw_sql("SELECT set_config('tenant_rls.tenant', 'globex', true)")
            .execute(tx.executor())
            .await
            .unwrap_err();
        assert_eq!(sqlstate(&forged).as_deref(), Some("42501"), "{forged}");
        tx.rollback().await.unwrap();
    }
    // Opting out: bound, every time.
    let two = security.clone().two_round_trips();
    let (tx, calls) = begin_counting(&two, &hidden, &acme).await;
    assert_eq!(calls, (1, 0));
    tx.rollback().await.unwrap();
    assert!(!two.begins_in_one_round_trip(&hidden));
    // The key rotated under a pool that begins in one round trip: refused (not retried with
    // a bound credential), and the connection is left idle, usable.
    RowSecurity::new(&[42; 32])
        .unwrap()
        .install(&owner)
        .await
        .unwrap();
    assert!(matches!(
        security.begin(&hidden, &acme).await,
        Err(Error::RowSecurityRefused)
    ));
    assert!(security.begins_in_one_round_trip(&hidden));
    support::install_row_security(&owner).await;
    let (tx, calls) = begin_counting(&security, &hidden, &acme).await;
    assert_eq!(calls, (0, 1));
    tx.rollback().await.unwrap();

    // Who chooses what the C function compares: the tenant and the credential, the caller;
    // the kind (which function), the caller; the database, the session user and whether texts
    // are hidden, the server.
    let text = text_credential_of(&owner, "acme", &database, role).await;
    let bound = credential_of(&owner, "acme").await;
    assert_eq!(
        enter_with(&hidden, "enter_text", "acme", &text).await,
        Ok(3)
    );
    assert_eq!(enter_with(&hidden, "enter", "acme", &bound).await, Ok(3));
    assert_eq!(
        enter_with(&hidden, "enter_text", "acme", &bound).await,
        Err(Some("28000".into())),
        "a bound credential as a text one"
    );
    assert_eq!(
        enter_with(&hidden, "enter", "acme", &text).await,
        Err(Some("28000".into())),
        "a text credential as a bound one"
    );
    assert_eq!(
        enter_with(&hidden, "enter_text", "globex", &text).await,
        Err(Some("28000".into())),
        "acme's for globex"
    );
    let elsewhere = text_credential_of(&owner, "acme", "tenant_test", role).await;
    assert_eq!(
        enter_with(&hidden, "enter_text", "acme", &elsewhere).await,
        Err(Some("28000".into())),
        "another database's"
    );
    let app_options: sqlx::postgres::PgConnectOptions =
        std::env::var("APP_DATABASE_URL").unwrap().parse().unwrap();
    let other_role =
        text_credential_of(&owner, "acme", &database, app_options.get_username()).await;
    assert_eq!(
        enter_with(&hidden, "enter_text", "acme", &other_role).await,
        Err(Some("28000".into())),
        "another role's"
    );
    // SET ROLE changes the current user, not the session user the credential names.
    let mut tx = hidden.begin().await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "SET LOCAL ROLE {}",
        app_options.get_username()
    )))
    .execute(&mut *tx)
    .await
    .unwrap();
    let refused = sqlx::query("SELECT tenant_rls.enter_text('acme', $1)")
        .bind(&other_role)
        .execute(&mut *tx)
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&refused).as_deref(), Some("28000"), "{refused}");
    tx.rollback().await.unwrap();
    // The role cannot publish (or hide) its texts itself.
    let refused = sqlx::raw_sql("SET track_activities = on")
        .execute(&hidden)
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&refused).as_deref(), Some("42501"), "{refused}");
    hidden.close().await;
    drop_role(&superuser, role).await;
}

/// A superuser turns the role's texts back on: sessions that log in from then on publish them.
/// While the role's old sessions (texts hidden) and new ones disagree, the audit says so (a
/// text refused by a new session showed in `pg_stat_activity`, and an old one would accept
/// it). The default `begin`, which learned that texts are hidden, is refused by a new session
/// before the credential is looked at, binds it in the same call, and forgets the pool.
#[tokio::test]
async fn the_default_falls_back_to_two_round_trips_when_texts_are_turned_back_on() {
    let test = "rtt_texts_back_on";
    let Some((owner, _app, acme, _)) = seeded_for_audit(test, 1).await else {
        return;
    };
    let Some((_, superuser, url, pool)) = counting_role(test, &owner).await else {
        return;
    };
    let role = test;
    let security = rls();
    security
        .begin(&pool, &acme)
        .await
        .unwrap()
        .commit()
        .await
        .unwrap();
    assert!(security.begins_in_one_round_trip(&pool));
    // An old session, texts hidden, stays.
    let old = PgPool::connect(&url).await.unwrap();
    let mut old_session = old.acquire().await.unwrap();

    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "ALTER ROLE {role} SET track_activities = on; \
         SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE usename = '{role}' AND pid <> {}",
        sqlx::query_scalar::<_, i32>("SELECT pg_backend_pid()")
            .fetch_one(&mut *old_session)
            .await
            .unwrap()
    )))
    .execute(&superuser)
    .await
    .unwrap();
    // The audit, from a new session: the role's sessions disagree.
    let audit = || IsolationAudit::new().entity::<Invoice>();
    let found = audit()
        .row_security(&security)
        .findings(&pool)
        .await
        .unwrap();
    assert!(
        matches!(&found[..], [Finding::QueryTextsVisible { role: r }] if r == role),
        "{found:?}"
    );
    // Bound credentials only: nothing to replay.
    assert_eq!(
        audit()
            .row_security(&security.clone().two_round_trips())
            .findings(&pool)
            .await
            .unwrap(),
        []
    );
    // Still learned: this BEGIN tries one round trip, is refused, binds.
    assert!(security.begins_in_one_round_trip(&pool));
    let (mut tx, calls) = begin_counting(&security, &pool, &acme).await;
    assert_eq!(calls, (1, 0), "bound, after the refusal");
    assert_eq!(visible_tenants(tx.executor()).await, acme_rows());
    tx.commit().await.unwrap();
    assert!(!security.begins_in_one_round_trip(&pool), "forgotten");
    let (tx, calls) = begin_counting(&security, &pool, &acme).await;
    assert_eq!(calls, (1, 0), "and not learned again");
    tx.rollback().await.unwrap();
    drop(old_session);
    old.close().await;
    pool.close().await;
    drop_role(&superuser, role).await;
}

// ---- issue 21 item 4, the C extension: `tenant_rls.tenant`, a setting only a superuser sets ----

/// The tenants of the rows the connection sees.
async fn visible_tenants(executor: impl sqlx::PgExecutor<'_>) -> Vec<String> {
    sqlx::query_scalar("SELECT tenant_id FROM invoices ORDER BY tenant_id, id")
        .fetch_all(executor)
        .await
        .unwrap()
}

fn acme_rows() -> Vec<String> {
    vec!["acme".to_owned(); 3]
}

/// `tenant`'s credential, computed from the key table by its owner, as the application does.
async fn credential_of(owner: &PgPool, tenant: &str) -> String {
    sqlx::query_scalar(
        "SELECT encode(sha256(outer_pad || sha256(inner_pad || convert_to('enter:' || $1, 'UTF8'))), \
         'hex') FROM tenant_rls.key",
    )
    .bind(tenant)
    .fetch_one(owner)
    .await
    .unwrap()
}

/// Runs `sql` in a savepoint of `tx` and rolls back to it: the SQLSTATE of its error.
async fn attempt(tx: &mut TenantTx<sqlx::Postgres>, sql: &str) -> Option<String> {
    sqlx::raw_sql("SAVEPOINT attempt")
        .execute(tx.executor())
        .await
        .unwrap();
    let outcome = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(tx.executor())
        .await;
    sqlx::raw_sql("ROLLBACK TO SAVEPOINT attempt")
        .execute(tx.executor())
        .await
        .unwrap();
    match outcome {
        Ok(_) => panic!("{sql} succeeded"),
        Err(e) => sqlstate(&e),
    }
}

/// Inside acme's transaction, raw SQL of the application's role tries every way of naming
/// another tenant in the setting the C policy reads, or of dropping it: each is refused (42501),
/// and after rolling back to a savepoint the transaction is still acme's, with acme's rows.
/// The PL/pgSQL version's `app.tenant_id` is not read by the policy at all.
#[tokio::test]
async fn raw_sql_cannot_set_or_reset_the_extensions_tenant() {
    let Some((_, app, acme, _)) = seeded("c_raw_sql_cannot_set", 1).await else {
        return;
    };
    let mut tx = rls().begin(&app, &acme).await.unwrap();
    for sql in [
        "SET tenant_rls.tenant = 'globex'",
        "SET LOCAL tenant_rls.tenant = 'globex'",
        "SET SESSION tenant_rls.tenant = ''",
        "RESET tenant_rls.tenant",
        "SELECT set_config('tenant_rls.tenant', 'globex', true)",
        "SELECT set_config('tenant_rls.tenant', 'globex', false)",
        "SELECT set_config('tenant_rls.tenant', '', true)",
        "SET tenant_rls.tenant_other = 'globex'", // a reserved prefix: 42602
    ] {
        let refused = attempt(&mut tx, sql).await;
        assert!(
            matches!(refused.as_deref(), Some("42501" | "42602")),
            "{sql}: {refused:?}"
        );
        assert_eq!(visible_tenants(tx.executor()).await, acme_rows(), "{sql}");
    }
    sqlx::query("SELECT set_config('app.tenant_id', 'globex', true)")
        .execute(tx.executor())
        .await
        .unwrap();
    assert_eq!(visible_tenants(tx.executor()).await, acme_rows());
    // RESET ALL does reset superuser-only settings: to the empty default, so nothing is seen.
    sqlx::raw_sql("SAVEPOINT reset_all; RESET ALL")
        .execute(tx.executor())
        .await
        .unwrap();
    assert_eq!(visible_tenants(tx.executor()).await, Vec::<String>::new());
    sqlx::raw_sql("ROLLBACK TO SAVEPOINT reset_all")
        .execute(tx.executor())
        .await
        .unwrap();
    assert_eq!(visible_tenants(tx.executor()).await, acme_rows());
    tx.rollback().await.unwrap();
}

/// Before `tenant_rls` is loaded in a backend, `tenant_rls.tenant` is an unknown name, which
/// PostgreSQL lets any role SET as a placeholder. Loading the library (the first policy that
/// calls it) must discard what a non-superuser set, at session level and transaction-locally.
#[tokio::test]
async fn a_placeholder_set_before_the_library_loads_does_not_survive() {
    let Some((_, app, acme, _)) = seeded("c_placeholder", 1).await else {
        return;
    };
    // A backend of its own, which has not loaded the library yet.
    let fresh = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_with((*app.connect_options()).clone())
        .await
        .unwrap();
    // Accepted, so the library is not loaded yet (loaded, it refuses this with 42501).
    sqlx::raw_sql("SET tenant_rls.tenant = 'globex'")
        .execute(&fresh)
        .await
        .unwrap();
    let placeholder: String = sqlx::query_scalar("SELECT current_setting('tenant_rls.tenant')")
        .fetch_one(&fresh)
        .await
        .unwrap();
    assert_eq!(placeholder, "globex");
    let mut tx = fresh.begin().await.unwrap();
    sqlx::raw_sql("SET LOCAL tenant_rls.tenant = 'globex'")
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(visible_tenants(&mut *tx).await, Vec::<String>::new());
    let current: Option<String> = sqlx::query_scalar("SELECT tenant_rls.current_tenant()")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(current, None);
    tx.commit().await.unwrap();
    let (context, value): (String, String) = sqlx::query_as(
        "SELECT context::text, current_setting('tenant_rls.tenant') FROM pg_settings \
         WHERE name = 'tenant_rls.tenant'",
    )
    .fetch_one(&fresh)
    .await
    .unwrap();
    assert_eq!((context.as_str(), value.as_str()), ("superuser", ""));
    assert_eq!(visible_tenants(&fresh).await, Vec::<String>::new());
    let mut tx = rls().begin(&fresh, &acme).await.unwrap();
    assert_eq!(visible_tenants(tx.executor()).await, acme_rows());
    tx.rollback().await.unwrap();
}

/// A role default would set the tenant at every login, outside any transaction: neither the
/// application's role (for itself) nor the database's owner can write one, whether or not the
/// backend has loaded the library. On a database of its own, where the audit then passes.
#[tokio::test]
async fn no_role_but_a_superuser_can_give_the_extensions_tenant_a_default() {
    let Some((owner, app, _, _)) = seeded_for_audit("c_alter_role", 1).await else {
        return;
    };
    let database: String = sqlx::query_scalar("SELECT current_database()::text")
        .fetch_one(&owner)
        .await
        .unwrap();
    let statements = [
        "ALTER ROLE CURRENT_USER SET tenant_rls.tenant = 'globex'".to_owned(),
        format!("ALTER ROLE CURRENT_USER IN DATABASE {database} SET tenant_rls.tenant = 'globex'"),
        format!("ALTER DATABASE {database} SET tenant_rls.tenant = 'globex'"),
    ];
    for loaded in [false, true] {
        for pool in [&app, &owner] {
            let fresh = sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                .connect_with((*pool.connect_options()).clone())
                .await
                .unwrap();
            if loaded {
                sqlx::query("SELECT tenant_rls.current_tenant()")
                    .execute(&fresh)
                    .await
                    .unwrap();
            }
            for sql in &statements {
                let refused = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone()))
                    .execute(&fresh)
                    .await
                    .expect_err(sql);
                assert_eq!(
                    sqlstate(&refused).as_deref(),
                    Some("42501"),
                    "{sql}: {refused}"
                );
            }
            fresh.close().await;
        }
    }
    let audit = IsolationAudit::new()
        .entity::<Invoice>()
        .row_security(&rls());
    assert_eq!(audit.findings(&app).await.unwrap(), []);
}

/// `tenant_rls.enter` with another tenant's name and no credential, acme's own credential, a
/// forged one, one in upper case, one under an old key, and a malformed tenant: refused
/// (28000), and acme's transaction stays acme's.
#[tokio::test]
async fn enter_refuses_every_credential_but_the_tenants_own() {
    let Some((owner, app, acme, _)) = seeded("c_enter_refuses", 1).await else {
        return;
    };
    let own = credential_of(&owner, "acme").await;
    let globex = credential_of(&owner, "globex").await;
    // HMAC-SHA256 of `enter:globex` under a key of 32 bytes 42 (the pads written out).
    let old: String = sqlx::query_scalar(
        "SELECT encode(sha256(decode(repeat('76', 32) || repeat('5c', 32), 'hex') || \
         sha256(decode(repeat('1c', 32) || repeat('36', 32), 'hex') || \
         convert_to('enter:globex', 'UTF8'))), 'hex')",
    )
    .fetch_one(&owner)
    .await
    .unwrap();
    let mut tx = rls().begin(&app, &acme).await.unwrap();
    let forged = [
        ("globex", "NULL".to_owned()),
        ("globex", format!("'{own}'")),
        ("globex", format!("'{}'", "0".repeat(64))),
        ("globex", format!("'{}'", globex.to_uppercase())),
        ("globex", format!("'{}'", &globex[..63])),
        ("globex", format!("'{old}'")),
        ("globex ", format!("'{globex}'")),
        ("-globex", format!("'{globex}'")),
    ];
    for (tenant, credential) in forged {
        let sql = format!("SELECT tenant_rls.enter('{tenant}', {credential})");
        assert_eq!(
            attempt(&mut tx, &sql).await.as_deref(),
            Some("28000"),
            "{sql}"
        );
        assert_eq!(visible_tenants(tx.executor()).await, acme_rows(), "{sql}");
    }
    // The key holder's credential does switch: that is what the key is.
    sqlx::query("SELECT tenant_rls.enter('globex', $1)")
        .bind(&globex)
        .execute(tx.executor())
        .await
        .unwrap();
    assert_eq!(visible_tenants(tx.executor()).await, ["globex", "globex"]);
    tx.rollback().await.unwrap();
}

/// Entered in a savepoint that is rolled back, a tenant is undone with it: the transaction is
/// back to the tenant it entered before (PostgreSQL restores a transaction-local setting).
#[tokio::test]
async fn a_savepoint_rolled_back_takes_its_tenant_with_it() {
    let Some((owner, app, acme, _)) = seeded("c_savepoint", 1).await else {
        return;
    };
    let globex = credential_of(&owner, "globex").await;
    let mut tx = rls().begin(&app, &acme).await.unwrap();
    sqlx::raw_sql("SAVEPOINT s")
        .execute(tx.executor())
        .await
        .unwrap();
    sqlx::query("SELECT tenant_rls.enter('globex', $1)")
        .bind(&globex)
        .execute(tx.executor())
        .await
        .unwrap();
    assert_eq!(visible_tenants(tx.executor()).await, ["globex", "globex"]);
    sqlx::raw_sql("ROLLBACK TO SAVEPOINT s")
        .execute(tx.executor())
        .await
        .unwrap();
    assert_eq!(visible_tenants(tx.executor()).await, acme_rows());
    tx.rollback().await.unwrap();
}

/// On a pooled connection, the tenant of a transaction that committed or rolled back (in either
/// mode of `begin`) is gone: the next transaction that enters none sees nothing.
#[tokio::test]
async fn the_extensions_tenant_does_not_outlive_its_transaction() {
    let Some((_, app, acme, _)) = seeded("c_no_leak", 1).await else {
        return;
    };
    for (rls, commit) in [
        (rls(), true),
        (rls(), false),
        (rls().two_round_trips(), true),
        (rls().two_round_trips(), false),
    ] {
        let mut tx = rls.begin(&app, &acme).await.unwrap();
        assert_eq!(visible_tenants(tx.executor()).await, acme_rows());
        if commit {
            tx.commit().await.unwrap();
        } else {
            tx.rollback().await.unwrap();
        }
        let mut next = app.begin().await.unwrap();
        let (value, current): (String, Option<String>) = sqlx::query_as(
            "SELECT current_setting('tenant_rls.tenant'), tenant_rls.current_tenant()",
        )
        .fetch_one(&mut *next)
        .await
        .unwrap();
        assert_eq!(
            (value.as_str(), current),
            ("", None),
            "{rls:?}, commit {commit}"
        );
        assert_eq!(visible_tenants(&mut *next).await, Vec::<String>::new());
        next.rollback().await.unwrap();
    }
}

/// `native_current_tenant()` is PARALLEL SAFE: a parallel worker gets the leader's settings and
/// libraries, so a query that runs in workers sees the transaction's tenant, not none (nor
/// another).
#[tokio::test]
async fn a_parallel_query_sees_the_transactions_tenant() {
    let Some((_, app, acme, _)) = seeded("c_parallel", 1).await else {
        return;
    };
    let mut tx = rls().begin(&app, &acme).await.unwrap();
    sqlx::raw_sql(
        "SELECT set_config(CASE WHEN current_setting('server_version_num')::int >= 160000 \
           THEN 'debug_parallel_query' ELSE 'force_parallel_mode' END, 'on', true); \
         SET LOCAL parallel_setup_cost = 0; SET LOCAL parallel_tuple_cost = 0; \
         SET LOCAL min_parallel_table_scan_size = 0",
    )
    .execute(tx.executor())
    .await
    .unwrap();
    // PostgreSQL 15 puts no Gather above an InitPlan (the policy's), so the function is asked
    // in a worker directly: forced, the query runs in one (Single Copy).
    let query = "SELECT tenant_rls.current_tenant()";
    let plan: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) {query}"
    )))
    .fetch_all(tx.executor())
    .await
    .unwrap();
    let plan = plan.join("\n");
    assert!(
        plan.contains("Gather") && plan.contains("Workers Launched: 1"),
        "{plan}"
    );
    let in_worker: Option<String> = sqlx::query_scalar(query)
        .fetch_one(tx.executor())
        .await
        .unwrap();
    assert_eq!(in_worker.as_deref(), Some("acme"));
    assert_eq!(visible_tenants(tx.executor()).await, acme_rows());
    tx.rollback().await.unwrap();
}

/// `enter` keeps the key and the credentials it computed per backend: a rotated key must empty
/// that cache before the next credential is compared. On one connection (which cached acme's
/// credential under the first key): after the rotation the old key's credential is refused and
/// the new one's enters; back to the first key (a rotation undone), the first one enters again
/// and the second is refused. A credential cached for acme never enters globex. A database of
/// its own: the key is per database.
#[tokio::test]
async fn a_rotated_key_reaches_a_connection_that_cached_the_old_one() {
    let Some((owner, app, acme, globex)) =
        seeded_for_audit("c_rotated_key_reaches_a_cached_connection", 1).await
    else {
        return;
    };
    let first = rls();
    let second = RowSecurity::new(&[0x5a; 48]).unwrap();
    for round in 0..2 {
        // Twice on the connection: the second enter is the cache's.
        for _ in 0..2 {
            let mut tx = first.begin(&app, &acme).await.unwrap();
            assert_eq!(visible_tenants(tx.executor()).await, acme_rows(), "{round}");
            tx.commit().await.unwrap();
        }
        let own = credential_of(&owner, "acme").await;
        let mut tx = first.begin(&app, &acme).await.unwrap();
        let sql = format!("SELECT tenant_rls.enter('globex', '{own}')");
        assert_eq!(attempt(&mut tx, &sql).await.as_deref(), Some("28000"));
        tx.rollback().await.unwrap();

        second.install(&owner).await.unwrap();
        assert!(matches!(
            first.begin(&app, &acme).await,
            Err(Error::RowSecurityRefused)
        ));
        assert!(matches!(
            first.begin(&app, &globex).await,
            Err(Error::RowSecurityRefused)
        ));
        let mut tx = second.begin(&app, &acme).await.unwrap();
        assert_eq!(visible_tenants(tx.executor()).await, acme_rows());
        tx.commit().await.unwrap();

        first.install(&owner).await.unwrap();
        assert!(matches!(
            second.begin(&app, &acme).await,
            Err(Error::RowSecurityRefused)
        ));
    }
    // Deleted, the key enters no one, cached or not.
    sqlx::query("DELETE FROM tenant_rls.key")
        .execute(&owner)
        .await
        .unwrap();
    assert!(matches!(
        first.begin(&app, &acme).await,
        Err(Error::RowSecurityRefused)
    ));
}

// ---- issue 26 item 5: the whole PostgreSQL setup, as one runnable walk-through ----

/// PostgreSQL set up end to end, as a deployment does it; `postgres.md` ("Setting it up")
/// points here. Two roles: `setup_owner` owns the database, the schema and the tables and runs
/// the DDL and the policies; `setup_app`, the application's, owns nothing and bypasses nothing.
/// Needs `SUPERUSER_DATABASE_URL` (roles and databases are cluster-wide); a few seconds.
#[tokio::test]
async fn postgres_setup_end_to_end() {
    use std::str::FromStr;

    use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

    let test = "postgres_setup_end_to_end";
    let Some(superuser_url) = support::server_var("SUPERUSER_DATABASE_URL", test) else {
        return;
    };
    let superuser = PgPool::connect(&superuser_url).await.unwrap();
    let run = async |pool: &PgPool, statements: &[&str]| {
        for sql in statements {
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
                .execute(pool)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    };
    // Left by an earlier run that failed half way.
    let cleanup = [
        "DROP DATABASE IF EXISTS setup_demo WITH (FORCE)",
        "DROP ROLE IF EXISTS setup_app",
        "DROP ROLE IF EXISTS setup_owner",
    ];
    run(&superuser, &cleanup).await;

    // 1. Once, as a superuser (`psql -U postgres`): the two roles, and a database the owner
    //    owns (so it may create the trusted `tenant_rls` extension), where nobody else gets
    //    temporary tables (one could shadow a tenant table).
    run(
        &superuser,
        &[
            "CREATE ROLE setup_owner LOGIN PASSWORD 'owner-secret'",
            "CREATE ROLE setup_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE \
             PASSWORD 'app-secret'",
            "CREATE DATABASE setup_demo OWNER setup_owner",
            "REVOKE TEMPORARY ON DATABASE setup_demo FROM PUBLIC",
        ],
    )
    .await;

    // Both roles reach the tables through the search path, set per connection.
    let connect = async |user: &str, password: &str| {
        let options = PgConnectOptions::from_str(&superuser_url)
            .unwrap()
            .username(user)
            .password(password)
            .database("setup_demo")
            .options([("search_path", "shop")]);
        PgPoolOptions::new()
            .max_connections(2)
            .connect_with(options)
            .await
            .unwrap()
    };

    // 2. As the owner, at deployment (migrations): the schema, the application's grants (before
    //    the tables: default privileges cover the tables created after them), the row-security
    //    key and functions, the tables, and their policies.
    let owner = connect("setup_owner", "owner-secret").await;
    run(
        &owner,
        &[
            "CREATE SCHEMA shop",
            "GRANT USAGE ON SCHEMA shop TO setup_app",
            "ALTER DEFAULT PRIVILEGES IN SCHEMA shop \
             GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO setup_app",
        ],
    )
    .await;
    // In production the key comes from a secret store, the same in every replica.
    let rls = rls();
    rls.install(&owner).await.unwrap();
    let mut invoices = InvoiceRepo::new(&owner);
    invoices.create_table().await.unwrap();
    invoices.row_level_security().await.unwrap();

    // 3. The application connects as its own role and audits the database before serving: no
    //    finding (it would refuse to start with a superuser, a table it owns, RLS off, ..).
    let app = connect("setup_app", "app-secret").await;
    IsolationAudit::new()
        .entity::<Invoice>()
        .ensure(&app)
        .await
        .unwrap();

    // 4. Every tenant's work runs in a tenant-bound transaction.
    let (acme, globex) = tenants();
    for (ctx, rows) in [(&acme, 3), (&globex, 2)] {
        let mut tx = rls.begin(&app, ctx).await.unwrap();
        for id in 1..=rows {
            let new = NewInvoice {
                id,
                amount_cents: 100 * id,
            };
            tx.repo::<Invoice>().insert(ctx, new).await.unwrap();
        }
        tx.commit().await.unwrap();
    }
    let mut tx = rls.begin(&app, &globex).await.unwrap();
    assert_eq!(tx.repo::<Invoice>().count(&globex).await.unwrap(), 2);
    assert_eq!(
        raw_count(tx.executor()).await,
        2,
        "raw SQL sees globex's rows only"
    );
    tx.rollback().await.unwrap();
    // Outside one, the tables show nothing, to the application and to the owner alike (FORCE).
    assert_eq!(raw_count(&app).await, 0);
    assert_eq!(raw_count(&owner).await, 0);

    // 5. Looking at the rows by hand: as the owner, `psql` shows no row (FORCE ROW LEVEL
    //    SECURITY; the owner cannot sign a tenant in without the key). A superuser or a BYPASSRLS
    //    role sees every tenant's:
    //    psql "$SUPERUSER_DATABASE_URL" -d setup_demo \
    //         -c "SELECT tenant_id, id, amount_cents FROM shop.invoices ORDER BY 1, 2"
    let inspector = PgPool::connect_with(
        PgConnectOptions::from_str(&superuser_url)
            .unwrap()
            .database("setup_demo"),
    )
    .await
    .unwrap();
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT tenant_id, id FROM shop.invoices ORDER BY 1, 2")
            .fetch_all(&inspector)
            .await
            .unwrap();
    let expected = [
        ("acme", 1),
        ("acme", 2),
        ("acme", 3),
        ("globex", 1),
        ("globex", 2),
    ];
    assert_eq!(
        rows,
        expected.map(|(t, id)| (t.to_owned(), id)).to_vec(),
        "the superuser sees every tenant"
    );

    for pool in [inspector, app, owner] {
        pool.close().await;
    }
    run(&superuser, &cleanup).await;
}

/// A database created at the extension's 1.1 is updated in place to the current version by
/// `install` (as 1.0 to 1.1), through 1.2 (`enter_text`, `texts_hidden`) to 1.3 (the placement
/// check that sets the search path).
#[tokio::test]
async fn install_updates_an_extension_at_1_1_to_the_current_version() {
    let Some((owner, _app)) = support::postgres_app_database("rtt_extension_1_1", 1).await else {
        return;
    };
    sqlx::raw_sql(
        "CREATE SCHEMA tenant_rls; CREATE EXTENSION tenant_rls VERSION '1.1' SCHEMA tenant_rls",
    )
    .execute(&owner)
    .await
    .unwrap();
    let functions = "SELECT extversion, \
         to_regprocedure('tenant_rls.enter_text(text, text)') IS NOT NULL, \
         to_regprocedure('tenant_rls.placement_enter(text, text, text)') IS NOT NULL \
         FROM pg_extension WHERE extname = 'tenant_rls'";
    let before: (String, bool, bool) = sqlx::query_as(functions).fetch_one(&owner).await.unwrap();
    assert_eq!(before, ("1.1".to_owned(), false, false));
    support::install_row_security(&owner).await;
    let after: (String, bool, bool) = sqlx::query_as(functions).fetch_one(&owner).await.unwrap();
    assert_eq!(after, ("1.3".to_owned(), true, true));
}

/// The PL/pgSQL version has no check that a session hides its texts: it refuses every text
/// credential (TR001), even in a session that hides them, says texts are not hidden, and the
/// default `begin` stays at two round trips there, working.
#[tokio::test]
async fn the_plpgsql_version_refuses_text_credentials() {
    let test = "rtt_plpgsql_text";
    let Some((owner, _app, acme, _)) = seeded_plpgsql(test, 1).await else {
        return;
    };
    let database: String = sqlx::query_scalar("SELECT current_database()::text")
        .fetch_one(&owner)
        .await
        .unwrap();
    let role = "rtt_plpgsql_text";
    let Some((superuser, url)) = own_role(test, role, &database, &["track_activities = off"]).await
    else {
        return;
    };
    let hidden = PgPool::connect(&url).await.unwrap();
    let text = text_credential_of(&owner, "acme", &database, role).await;
    assert_eq!(
        enter_with(&hidden, "enter_text", "acme", &text).await,
        Err(Some("TR001".into()))
    );
    let texts: (bool, String) =
        sqlx::query_as("SELECT tenant_rls.texts_hidden(), current_setting('track_activities')")
            .fetch_one(&hidden)
            .await
            .unwrap();
    assert_eq!(texts, (false, "off".to_owned()));
    let security = rls();
    for _ in 0..2 {
        let mut tx = security.begin(&hidden, &acme).await.unwrap();
        assert_eq!(raw_count(tx.executor()).await, 3);
        tx.rollback().await.unwrap();
        assert!(!security.begins_in_one_round_trip(&hidden));
    }
    hidden.close().await;
    drop_role(&superuser, role).await;
}
