//! `IsolationAudit` against a real PostgreSQL, as the plain application role: on a database
//! set up as SECURITY.md asks (the role owns nothing, bypasses nothing, has no TEMP), the audit
//! passes; then each invariant the role or the database could break is broken once, by a
//! superuser, and the audit must fail naming it (issue 21, item 5). Where it is cheap, the test
//! also shows the hole is real: the broken invariant lets the role read every tenant's rows.
//!
//! Role memberships, role settings and objects owned by a BYPASSRLS role need a superuser, and
//! roles are cluster-wide, so this runs on a private cluster of its own ([`support::PgServer`]),
//! not on `DATABASE_URL`: nothing it grants can disturb another test.

#![allow(missing_docs)] // test entities

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};

use tenant::sqlx::{Error, Finding, IsolationAudit};
use tenant::{Plan, TenantId, tenant_scoped};
use tenant_test_support as support;
use tenant_test_support::PgServer;

#[tenant_scoped(table = "invoices")]
#[derive(Debug)]
pub struct Invoice {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    pub amount_cents: i64,
}

/// The private cluster: its superuser's pool, and the database `shop` where `owner` owns the
/// tenant table and `app` may only read and write it.
struct Cluster {
    // Dropped last: stopped and removed with the test.
    server: PgServer,
    su: PgPool,
    app: PgPool,
    owner: PgPool,
}

impl Cluster {
    fn url(&self, user: &str) -> String {
        format!("postgres://{user}@127.0.0.1:{}/shop", self.server.port())
    }

    /// Runs `sql` as the superuser in `shop`.
    async fn su(&self, sql: &str) {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&self.su)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// A pool of fresh connections of the application role, for the audit.
    async fn app_fresh(&self) -> PgPool {
        pool(&self.url("app")).await
    }

    /// A fresh connection of the application role: role and database settings apply at login.
    async fn app_connection(&self) -> PgConnection {
        PgConnection::connect(&self.url("app")).await.unwrap()
    }
}

async fn pool(url: &str) -> PgPool {
    PgPoolOptions::new()
        .max_connections(2)
        .connect_with(PgConnectOptions::from_str(url).unwrap())
        .await
        .unwrap()
}

/// The roles and the database as a deployment sets them up: `owner` runs migrations, `app`
/// serves (no superuser, no BYPASSRLS, no membership, owns nothing, no TEMP). `bypasser`,
/// `admins` and `ops` exist for the cases to grant.
async fn cluster(test: &'static str) -> Option<Cluster> {
    let server = tokio::task::spawn_blocking(move || PgServer::new(test))
        .await
        .unwrap()?;
    let admin = pool(&server.url()).await;
    // One statement at a time: CREATE DATABASE refuses to run in the implicit transaction of
    // a multi-statement query.
    for statement in [
        "CREATE ROLE owner LOGIN",
        "CREATE ROLE app LOGIN NOSUPERUSER NOBYPASSRLS",
        "CREATE ROLE bypasser NOLOGIN BYPASSRLS",
        "CREATE ROLE admins NOLOGIN SUPERUSER",
        "CREATE ROLE ops NOLOGIN",
        "CREATE DATABASE shop OWNER owner",
        "REVOKE TEMPORARY ON DATABASE shop FROM PUBLIC",
    ] {
        sqlx::raw_sql(statement).execute(&admin).await.unwrap();
    }
    admin.close().await;
    let port = server.port();
    let url = |user: &str| format!("postgres://{user}@127.0.0.1:{port}/shop");
    let (su, owner, app) = (
        pool(&url("postgres")).await,
        pool(&url("owner")).await,
        pool(&url("app")).await,
    );
    support::install_row_security(&owner).await;
    let mut invoices = InvoiceRepo::new(&owner);
    invoices.create_table().await.unwrap();
    invoices.row_level_security().await.unwrap();
    sqlx::raw_sql(
        "GRANT SELECT, INSERT, UPDATE, DELETE ON invoices TO app; \
         GRANT SELECT ON invoices TO bypasser",
    )
    .execute(&owner)
    .await
    .unwrap();
    for (tenant, rows) in [("acme", 3), ("globex", 2)] {
        let ctx = support::ctx(tenant, Plan::Free);
        let mut tx = support::row_security().begin(&app, &ctx).await.unwrap();
        for id in 1..=rows {
            tx.repo::<Invoice>()
                .insert(
                    &ctx,
                    NewInvoice {
                        id,
                        amount_cents: 100,
                    },
                )
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
    }
    Some(Cluster {
        server,
        su,
        app,
        owner,
    })
}

async fn count(conn: &mut PgConnection, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// The audit as the application role must fail, and list exactly `expected`.
async fn fails_with(audit: &IsolationAudit, app: &PgPool, case: &str, expected: &[Finding]) {
    let found = audit.findings(app).await.unwrap();
    assert!(
        matches!(audit.ensure(app).await, Err(Error::Isolation(_))),
        "the audit passed with {case}"
    );
    assert_eq!(found, expected, "{case}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_fails_on_each_way_the_role_or_database_gets_around_row_level_security() {
    let Some(db) = cluster("audit_role_and_database").await else {
        return;
    };
    let audit = IsolationAudit::new().entity::<Invoice>();
    audit.ensure(&db.app).await.unwrap();
    let mut app = db.app_connection().await;
    assert_eq!(
        count(&mut app, "SELECT count(*) FROM invoices").await,
        0,
        "no tenant set: nothing"
    );

    // The owner of a forced table is subject to its policy, but may lift it at any time (and
    // owning the database, it may create temporary tables).
    let owner_found = audit.findings(&db.owner).await.unwrap();
    assert_eq!(
        owner_found,
        [
            Finding::OwnsRowSecurity {
                role: "owner".into(),
                object: "function tenant_rls.current_tenant()".into(),
                owner: "owner".into(),
            },
            Finding::OwnsRowSecurity {
                role: "owner".into(),
                object: "schema tenant_rls".into(),
                owner: "owner".into(),
            },
            Finding::OwnsRowSecurity {
                role: "owner".into(),
                object: "table tenant_rls.key".into(),
                owner: "owner".into(),
            },
            Finding::TempPrivilege {
                role: "owner".into(),
                database: "shop".into(),
            },
            Finding::OwnsTable {
                table: "invoices",
                owner: "owner".into(),
                role: "owner".into(),
            },
        ]
    );

    // 1. A member of a superuser role, through another role: SET ROLE leaves RLS behind.
    db.su("GRANT ops TO app; GRANT admins TO ops").await;
    count(&mut app, "SELECT 0::bigint").await;
    sqlx::raw_sql("SET ROLE admins")
        .execute(&mut app)
        .await
        .unwrap();
    assert_eq!(count(&mut app, "SELECT count(*) FROM invoices").await, 5);
    sqlx::raw_sql("RESET ROLE").execute(&mut app).await.unwrap();
    fails_with(
        &audit,
        &db.app,
        "app a member of a superuser role",
        &[Finding::MemberOfBypassingRole {
            role: "app".into(),
            member_of: "admins".into(),
            attribute: "SUPERUSER",
            path: vec!["app".into(), "ops".into(), "admins".into()],
            can_set_role: true,
        }],
    )
    .await;
    db.su("REVOKE admins FROM ops; REVOKE ops FROM app").await;
    audit.ensure(&db.app).await.unwrap();

    // ... and of a BYPASSRLS role, directly.
    db.su("GRANT bypasser TO app").await;
    sqlx::raw_sql("SET ROLE bypasser")
        .execute(&mut app)
        .await
        .unwrap();
    assert_eq!(count(&mut app, "SELECT count(*) FROM invoices").await, 5);
    sqlx::raw_sql("RESET ROLE").execute(&mut app).await.unwrap();
    fails_with(
        &audit,
        &db.app,
        "app a member of a BYPASSRLS role",
        &[Finding::MemberOfBypassingRole {
            role: "app".into(),
            member_of: "bypasser".into(),
            attribute: "BYPASSRLS",
            path: vec!["app".into(), "bypasser".into()],
            can_set_role: true,
        }],
    )
    .await;
    db.su("REVOKE bypasser FROM app").await;
    audit.ensure(&db.app).await.unwrap();

    // 2. The role owns the forced table: it can un-force it itself.
    db.su("ALTER TABLE invoices OWNER TO app").await;
    fails_with(
        &audit,
        &db.app,
        "app owning the forced table",
        &[Finding::OwnsTable {
            table: "invoices",
            owner: "app".into(),
            role: "app".into(),
        }],
    )
    .await;
    sqlx::raw_sql("ALTER TABLE invoices NO FORCE ROW LEVEL SECURITY")
        .execute(&mut app)
        .await
        .unwrap();
    assert_eq!(count(&mut app, "SELECT count(*) FROM invoices").await, 5);
    // Ownership moved back: app's own grants were merged into the owner's while it owned it.
    db.su(
        "ALTER TABLE invoices FORCE ROW LEVEL SECURITY; ALTER TABLE invoices OWNER TO owner; \
         GRANT SELECT, INSERT, UPDATE, DELETE ON invoices TO app",
    )
    .await;
    audit.ensure(&db.app).await.unwrap();
    // ... or is a member of the owner.
    db.su("GRANT owner TO app").await;
    fails_with(
        &audit,
        &db.app,
        "app a member of the table's owner",
        // The owner owns the database too: its members inherit TEMP. It installed
        // `tenant_rls` too: its members can read the key.
        &[
            Finding::OwnsRowSecurity {
                role: "app".into(),
                object: "function tenant_rls.current_tenant()".into(),
                owner: "owner".into(),
            },
            Finding::OwnsRowSecurity {
                role: "app".into(),
                object: "schema tenant_rls".into(),
                owner: "owner".into(),
            },
            Finding::OwnsRowSecurity {
                role: "app".into(),
                object: "table tenant_rls.key".into(),
                owner: "owner".into(),
            },
            Finding::TempPrivilege {
                role: "app".into(),
                database: "shop".into(),
            },
            Finding::OwnsTable {
                table: "invoices",
                owner: "owner".into(),
                role: "app".into(),
            },
        ],
    )
    .await;
    db.su("REVOKE owner FROM app").await;
    audit.ensure(&db.app).await.unwrap();

    // 3. The tenant setting has a default outside any transaction. With `RowSecurity` the value
    // verifies in no transaction, so a new connection sees nothing; the audit still reports it:
    // a tenant bound outside any transaction is a deployment expecting a forgeable setting.
    for (set, reset, scope) in [
        (
            "ALTER ROLE app SET app.tenant_id = 'acme'",
            "ALTER ROLE app RESET app.tenant_id",
            "ALTER ROLE app SET",
        ),
        (
            "ALTER DATABASE shop SET app.tenant_id = 'acme'",
            "ALTER DATABASE shop RESET app.tenant_id",
            "ALTER DATABASE shop SET",
        ),
        (
            "ALTER ROLE app IN DATABASE shop SET APP.TENANT_ID = 'acme'",
            "ALTER ROLE app IN DATABASE shop RESET app.tenant_id",
            "ALTER ROLE app IN DATABASE shop SET",
        ),
    ] {
        db.su(set).await;
        let mut fresh = db.app_connection().await;
        assert_eq!(
            count(&mut fresh, "SELECT count(*) FROM invoices").await,
            0,
            "{set}"
        );
        fresh.close().await.unwrap();
        fails_with(
            &audit,
            &db.app,
            set,
            &[Finding::TenantSettingDefault {
                setting: "app.tenant_id",
                scope: scope.into(),
            }],
        )
        .await;
        db.su(reset).await;
        audit.ensure(&db.app).await.unwrap();
    }
    // ... or the connection itself was opened with it (a startup option).
    let preset = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(
            PgConnectOptions::from_str(&db.url("app"))
                .unwrap()
                .options([("app.tenant_id", "acme")]),
        )
        .await
        .unwrap();
    fails_with(
        &audit,
        &preset,
        "a connection opened with the setting",
        &[Finding::TenantSettingDefault {
            setting: "app.tenant_id",
            scope: "this connection, outside a transaction".into(),
        }],
    )
    .await;
    preset.close().await;

    // 4. TEMP: temporary tables have no row-level security and can shadow tenant tables.
    db.su("GRANT TEMPORARY ON DATABASE shop TO app").await;
    sqlx::raw_sql("CREATE TEMP TABLE scratch (x int); DROP TABLE scratch")
        .execute(&mut app)
        .await
        .unwrap();
    fails_with(
        &audit,
        &db.app,
        "TEMP granted",
        &[Finding::TempPrivilege {
            role: "app".into(),
            database: "shop".into(),
        }],
    )
    .await;
    db.su("REVOKE TEMPORARY ON DATABASE shop FROM app").await;
    audit.ensure(&db.app).await.unwrap();

    // 5. A view over the table owned by a BYPASSRLS role runs with its owner's rights.
    db.su("CREATE VIEW all_invoices AS SELECT * FROM invoices; \
         ALTER VIEW all_invoices OWNER TO bypasser; \
         GRANT SELECT ON all_invoices TO app")
        .await;
    assert_eq!(
        count(&mut app, "SELECT count(*) FROM all_invoices").await,
        5
    );
    fails_with(
        &audit,
        &db.app,
        "a view owned by a BYPASSRLS role",
        &[Finding::BypassingView {
            table: "invoices",
            view: "all_invoices".into(),
            kind: "view",
            owner: "bypasser".into(),
        }],
    )
    .await;
    // With the caller's rights it is harmless.
    db.su("ALTER VIEW all_invoices SET (security_invoker = true)")
        .await;
    assert_eq!(
        count(&mut app, "SELECT count(*) FROM all_invoices").await,
        0
    );
    audit.ensure(&db.app).await.unwrap();
    db.su("DROP VIEW all_invoices").await;
    // The role need not be granted the view: another view over it (owned by a plain role) that
    // the role may query reads it for the role.
    db.su("CREATE VIEW inner_v AS SELECT * FROM invoices; \
         ALTER VIEW inner_v OWNER TO bypasser; \
         GRANT SELECT ON inner_v TO ops; \
         CREATE VIEW outer_v AS SELECT * FROM inner_v; \
         ALTER VIEW outer_v OWNER TO ops; \
         GRANT SELECT ON outer_v TO app")
        .await;
    assert_eq!(count(&mut app, "SELECT count(*) FROM outer_v").await, 5);
    fails_with(
        &audit,
        &db.app,
        "a view owned by a BYPASSRLS role, read through another view",
        &[Finding::BypassingView {
            table: "invoices",
            view: "inner_v".into(),
            kind: "view",
            owner: "bypasser".into(),
        }],
    )
    .await;
    db.su("DROP VIEW outer_v; DROP VIEW inner_v").await;
    audit.ensure(&db.app).await.unwrap();
    // An outer view owned by a bypassing role over a security_invoker view reads with the
    // querying role's rights (nothing): no finding.
    db.su(
        "CREATE VIEW inner_v WITH (security_invoker = true) AS SELECT * FROM invoices; \
         CREATE VIEW outer_v AS SELECT * FROM inner_v; \
         ALTER VIEW inner_v OWNER TO bypasser; \
         ALTER VIEW outer_v OWNER TO bypasser; \
         GRANT SELECT ON outer_v TO app",
    )
    .await;
    assert_eq!(count(&mut app, "SELECT count(*) FROM outer_v").await, 0);
    audit.ensure(&db.app).await.unwrap();
    db.su("DROP VIEW outer_v; DROP VIEW inner_v").await;
    // A materialized view holds what its owner saw.
    db.su(
        "CREATE MATERIALIZED VIEW totals AS SELECT tenant_id, count(*) AS n FROM invoices GROUP BY 1; \
         ALTER MATERIALIZED VIEW totals OWNER TO bypasser; \
         REFRESH MATERIALIZED VIEW totals; \
         GRANT SELECT ON totals TO app",
    )
    .await;
    assert_eq!(count(&mut app, "SELECT count(*) FROM totals").await, 2);
    fails_with(
        &audit,
        &db.app,
        "a materialized view owned by a BYPASSRLS role",
        &[Finding::BypassingView {
            table: "invoices",
            view: "totals".into(),
            kind: "materialized view",
            owner: "bypasser".into(),
        }],
    )
    .await;
    db.su("DROP MATERIALIZED VIEW totals").await;
    audit.ensure(&db.app).await.unwrap();

    // 6. A SECURITY DEFINER function over the table owned by a superuser.
    db.su(
        "CREATE FUNCTION count_invoices() RETURNS bigint LANGUAGE sql SECURITY DEFINER \
         AS $$ SELECT count(*) FROM invoices $$",
    )
    .await;
    assert_eq!(count(&mut app, "SELECT count_invoices()").await, 5);
    fails_with(
        &audit,
        &db.app,
        "a SECURITY DEFINER function owned by a superuser",
        &[Finding::BypassingFunction {
            table: "invoices",
            function: "count_invoices()".into(),
            owner: "postgres".into(),
        }],
    )
    .await;
    db.su("ALTER FUNCTION count_invoices() SECURITY INVOKER")
        .await;
    assert_eq!(count(&mut app, "SELECT count_invoices()").await, 0);
    audit.ensure(&db.app).await.unwrap();

    // 7. An audit given no entity checked nothing: it must not pass.
    fails_with(
        &IsolationAudit::new(),
        &db.app,
        "no entity",
        &[Finding::NoEntities],
    )
    .await;

    // 8. The C extension's setting as a role default (only a superuser can write one): the
    // application's connections start in acme, outside any transaction.
    db.su("ALTER ROLE app IN DATABASE shop SET tenant_rls.tenant = 'acme'")
        .await;
    let mut fresh = db.app_connection().await;
    assert_eq!(count(&mut fresh, "SELECT count(*) FROM invoices").await, 3);
    fails_with(
        &audit,
        &db.app_fresh().await,
        "a default for tenant_rls.tenant",
        &[
            Finding::TenantSettingDefault {
                setting: "tenant_rls.tenant",
                scope: "ALTER ROLE app IN DATABASE shop SET".into(),
            },
            Finding::TenantSettingDefault {
                setting: "tenant_rls.tenant",
                scope: "this connection, outside a transaction".into(),
            },
        ],
    )
    .await;
    db.su("ALTER ROLE app IN DATABASE shop RESET tenant_rls.tenant")
        .await;

    // 9. The application's role owns the key table: it reads the key, computes globex's
    // credential and enters globex.
    db.su("ALTER TABLE tenant_rls.key OWNER TO app").await;
    sqlx::raw_sql(
        "BEGIN; SELECT tenant_rls.enter('globex', encode(sha256(outer_pad || \
         sha256(inner_pad || convert_to('enter:globex', 'UTF8'))), 'hex')) FROM tenant_rls.key",
    )
    .execute(&mut app)
    .await
    .unwrap();
    assert_eq!(count(&mut app, "SELECT count(*) FROM invoices").await, 2);
    sqlx::raw_sql("ROLLBACK").execute(&mut app).await.unwrap();
    fails_with(
        &audit,
        &db.app,
        "app owns tenant_rls.key",
        &[Finding::OwnsRowSecurity {
            role: "app".into(),
            object: "table tenant_rls.key".into(),
            owner: "app".into(),
        }],
    )
    .await;
    db.su("ALTER TABLE tenant_rls.key OWNER TO owner").await;
    audit.ensure(&db.app).await.unwrap();
}
