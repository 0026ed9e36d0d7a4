//! The rendered statements run on real SQLite and PostgreSQL, with two tenants holding
//! colliding keys: for each pass case, the checked statement over both tenants' rows gives
//! exactly what the user's statement gives over the context tenant's rows alone (nothing leaks,
//! nothing is lost), and a write leaves the other tenant's rows as they were.
//!
//! PostgreSQL needs `DATABASE_URL` (a database the test may create schemas in); without it
//! those tests print a notice and pass, unless `CI` is set.

mod support;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::sqlite::{SqlitePool, SqlitePoolOptions, SqliteRow};
use sqlx::{Executor, Row};
use tenant_sqlcheck::{Checked, Options, check};

const SCHEMA: &[&str] = &[
    "CREATE TABLE invoices (tenant_id TEXT NOT NULL, id INTEGER NOT NULL, customer_id INTEGER, parent_id INTEGER, total INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (tenant_id, id))",
    "CREATE TABLE customers (tenant_id TEXT NOT NULL, id INTEGER NOT NULL, name TEXT, country TEXT, PRIMARY KEY (tenant_id, id))",
    // Another tenant column name, so a restriction on the wrong table's column fails.
    "CREATE TABLE payments (org TEXT NOT NULL, id INTEGER NOT NULL, invoice_id INTEGER, amount INTEGER, PRIMARY KEY (org, id))",
    "CREATE TABLE countries (code TEXT PRIMARY KEY, name TEXT)",
];

/// Colliding keys: both tenants have invoice 1 and 2, customer 1, payment 1.
fn rows(tenant: &str) -> Vec<String> {
    let t = tenant;
    let k = if tenant == "acme" { 0 } else { 100 };
    vec![
        format!(
            "INSERT INTO customers VALUES ('{t}', 1, '{t}-c1', 'FR'), ('{t}', 2, '{t}-c2', 'DE')"
        ),
        format!(
            "INSERT INTO invoices VALUES ('{t}', 1, 1, NULL, {}), ('{t}', 2, 1, 1, {}), ('{t}', 3, 2, 2, {})",
            10 + k,
            20 + k,
            30 + k
        ),
        format!(
            "INSERT INTO payments VALUES ('{t}', 1, 1, {}), ('{t}', 2, 1, {})",
            5 + k,
            7 + k
        ),
    ]
}

/// One backend's database: SQLite in memory, or a fresh PostgreSQL schema.
enum Db {
    Sqlite(SqlitePool),
    /// The pool and its schema, dropped by `dispose`.
    Pg(PgPool, String),
}

#[derive(Clone, Copy)]
enum Backend {
    Sqlite,
    Pg,
}

static SCHEMAS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The PostgreSQL server, or `None` (with a notice) when `DATABASE_URL` is unset outside CI.
fn pg_url() -> Option<String> {
    match std::env::var("DATABASE_URL") {
        Ok(url) => Some(url),
        Err(_) if std::env::var_os("CI").is_some() => panic!("CI needs DATABASE_URL"),
        Err(_) => {
            eprintln!("DATABASE_URL is not set: the PostgreSQL half is skipped");
            None
        }
    }
}

async fn execute(db: &Db, sql: &str) {
    let sql = sqlx::AssertSqlSafe(sql.to_owned());
    match db {
        Db::Sqlite(pool) => pool.execute(sql).await.map(drop),
        Db::Pg(pool, _) => pool.execute(sql).await.map(drop),
    }
    .unwrap();
}

/// Closes the database; on PostgreSQL drops its schema, so runs leave nothing behind.
async fn dispose(db: Db) {
    if let Db::Pg(pool, schema) = db {
        pool.close().await;
        let admin = PgPool::connect(&pg_url().expect("a PostgreSQL database"))
            .await
            .unwrap();
        admin
            .execute(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
            .await
            .unwrap();
        admin.close().await;
    }
}

async fn database(backend: Backend, tenants: &[&str]) -> Db {
    let db = match backend {
        Backend::Sqlite => Db::Sqlite(
            SqlitePoolOptions::new()
                .max_connections(1)
                .connect("sqlite::memory:")
                .await
                .unwrap(),
        ),
        Backend::Pg => {
            let url = pg_url().expect("checked by the caller");
            let schema = format!(
                "sqlcheck_{}_{}",
                std::process::id(),
                SCHEMAS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            );
            let admin = PgPool::connect(&url).await.unwrap();
            admin
                .execute(sqlx::AssertSqlSafe(format!(
                    "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
                )))
                .await
                .unwrap();
            admin.close().await;
            let options: PgConnectOptions = url.parse().unwrap();
            Db::Pg(
                PgPoolOptions::new()
                    .max_connections(1)
                    .connect_with(options.options([("search_path", schema.as_str())]))
                    .await
                    .unwrap(),
                schema,
            )
        }
    };
    for sql in SCHEMA {
        execute(&db, sql).await;
    }
    execute(
        &db,
        "INSERT INTO countries VALUES ('FR', 'France'), ('DE', 'Germany')",
    )
    .await;
    for t in tenants {
        for sql in rows(t) {
            execute(&db, &sql).await;
        }
    }
    // Acme's customer 5 has no invoice, and globex has an invoice of a customer 5 (a join key
    // that collides): a LEFT JOIN restricted in its WHERE loses acme's customer, one not
    // restricted in its ON pairs it with globex's invoice.
    if tenants.contains(&"acme") {
        execute(
            &db,
            "INSERT INTO customers VALUES ('acme', 5, 'acme-c5', 'FR')",
        )
        .await;
    }
    if tenants.contains(&"globex") {
        execute(
            &db,
            "INSERT INTO invoices VALUES ('globex', 6, 5, NULL, 555)",
        )
        .await;
        execute(
            &db,
            "INSERT INTO customers VALUES ('globex', 3, 'globex-c3', 'FR')",
        )
        .await;
        execute(
            &db,
            "INSERT INTO invoices VALUES ('globex', 4, 3, NULL, 999)",
        )
        .await;
    }
    db
}

fn table(path: &str) -> (&'static str, &'static str) {
    match path {
        "Invoice" => ("invoices", "tenant_id"),
        "Customer" => ("customers", "tenant_id"),
        "Payment" => ("payments", "org"),
        other => panic!("unknown entity {other}"),
    }
}

fn rendered(checked: &Checked) -> String {
    support::render_with(
        checked,
        |i| table(&checked.entities[i].path).0.to_owned(),
        |i| table(&checked.entities[i].path).1.to_owned(),
    )
}

/// The user's statement with each `{Path}` replaced by its table: what the query means.
fn plain(sql: &str) -> String {
    ["Invoice", "Customer", "Payment"]
        .iter()
        .fold(sql.to_owned(), |sql, p| {
            sql.replace(&format!("{{{p}}}"), table(p).0)
        })
}

fn sqlite_cells(row: &SqliteRow) -> String {
    (0..row.len())
        .map(|i| {
            if let Ok(v) = row.try_get::<Option<i64>, _>(i) {
                return format!("{v:?}");
            }
            format!("{:?}", row.try_get::<Option<String>, _>(i).unwrap())
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn pg_cells(row: &PgRow) -> String {
    (0..row.len())
        .map(|i| {
            if let Ok(v) = row.try_get::<Option<i64>, _>(i) {
                return format!("{v:?}");
            }
            // Integers print alike on both backends.
            if let Ok(v) = row.try_get::<Option<i32>, _>(i) {
                return format!("{:?}", v.map(i64::from));
            }
            format!("{:?}", row.try_get::<Option<String>, _>(i).unwrap())
        })
        .collect::<Vec<_>>()
        .join(",")
}

async fn run(db: &Db, sql: &str, args: &[i64], tenant: Option<&str>) -> Vec<String> {
    let mut out: Vec<String> = match db {
        Db::Sqlite(pool) => {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
            for a in args {
                query = query.bind(*a);
            }
            if let Some(t) = tenant {
                query = query.bind(t.to_owned());
            }
            let rows = query.fetch_all(pool).await;
            rows.unwrap_or_else(|e| panic!("SQLite refused: {sql}\n{e}"))
                .iter()
                .map(sqlite_cells)
                .collect()
        }
        Db::Pg(pool, _) => {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
            for a in args {
                query = query.bind(i32::try_from(*a).unwrap());
            }
            if let Some(t) = tenant {
                query = query.bind(t.to_owned());
            }
            let rows = query.fetch_all(pool).await;
            rows.unwrap_or_else(|e| panic!("PostgreSQL refused: {sql}\n{e}"))
                .iter()
                .map(pg_cells)
                .collect()
        }
    };
    out.sort();
    out
}

async fn dump(db: &Db, tenant_filter: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (table, column) in [
        ("invoices", "tenant_id"),
        ("customers", "tenant_id"),
        ("payments", "org"),
    ] {
        let sql = format!(
            "SELECT CAST('{table}' AS TEXT), * FROM {table} WHERE {column} {tenant_filter} ORDER BY 2, 3"
        );
        out.extend(run(db, &sql, &[], None).await);
    }
    out
}

fn check_sql(sql: &str, args: usize) -> Checked {
    let shared = vec!["countries".to_owned()];
    let checked = check(
        sql,
        &Options {
            args,
            shared: &shared,
        },
    )
    .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    let verify = support::render(&checked);
    support::verify(&verify, args + 1).unwrap_or_else(|e| panic!("{e}\n{verify}"));
    checked
}

const READS: &[(&str, &[i64])] = &[
    (
        "SELECT c.name, count(i.id), sum(p.amount) FROM {Invoice} i JOIN {Customer} c ON c.id = i.customer_id LEFT JOIN {Payment} p ON p.invoice_id = i.id GROUP BY c.name HAVING count(i.id) > $1",
        &[0],
    ),
    (
        "SELECT i.id, sum(i.total) OVER (PARTITION BY i.customer_id ORDER BY i.id) FROM {Invoice} i",
        &[],
    ),
    (
        "WITH RECURSIVE chain(id, parent) AS (SELECT id, parent_id FROM {Invoice} WHERE id = $1 UNION ALL SELECT i.id, i.parent_id FROM {Invoice} i JOIN chain ON i.id = chain.parent) SELECT id FROM chain",
        &[3],
    ),
    (
        "SELECT c.id, i.id FROM {Customer} c LEFT JOIN {Invoice} i ON i.customer_id = c.id",
        &[],
    ),
    (
        "SELECT c.id FROM {Customer} c WHERE NOT EXISTS (SELECT 1 FROM {Invoice} i WHERE i.customer_id = c.id)",
        &[],
    ),
    ("SELECT count(*), sum(total) FROM {Invoice}", &[]),
    (
        "SELECT i.id, p.id FROM {Invoice} i FULL JOIN {Payment} p ON p.invoice_id = i.id",
        &[],
    ),
    (
        "SELECT i.id, c.id FROM {Invoice} i RIGHT JOIN {Customer} c ON c.id = i.customer_id",
        &[],
    ),
    (
        "SELECT c.name, k.name FROM {Customer} c JOIN countries k ON k.code = c.country",
        &[],
    ),
    (
        "SELECT id FROM {Invoice} UNION SELECT invoice_id FROM {Payment} EXCEPT SELECT id FROM {Customer}",
        &[],
    ),
    (
        "SELECT c.id, (SELECT max(total) FROM {Invoice} i WHERE i.customer_id = c.id) FROM {Customer} c",
        &[],
    ),
    (
        "SELECT c.id FROM {Customer} c LEFT JOIN {Invoice} i USING (id)",
        &[],
    ),
];

async fn reads_see_exactly_the_tenants_rows(backend: Backend) {
    let both = database(backend, &["acme", "globex"]).await;
    let alone = database(backend, &["acme"]).await;
    for (sql, args) in READS {
        let checked = check_sql(sql, args.len());
        let got = run(&both, &rendered(&checked), args, Some("acme")).await;
        let want = run(&alone, &plain(sql), args, None).await;
        assert_eq!(got, want, "{sql}\n{}", rendered(&checked));
        assert!(
            !want.is_empty() || sql.contains("NOT EXISTS"),
            "a case that shows nothing proves nothing: {sql}"
        );
    }
    dispose(both).await;
    dispose(alone).await;
}

const WRITES: &[(&str, &[i64])] = &[
    (
        "UPDATE {Invoice} SET total = total + $1 WHERE id = $2",
        &[1, 1],
    ),
    (
        "UPDATE {Invoice} SET total = p.amount FROM {Payment} p WHERE p.invoice_id = {Invoice}.id",
        &[],
    ),
    (
        "UPDATE {Invoice} AS i SET total = p.amount FROM {Payment} p WHERE p.invoice_id = i.id",
        &[],
    ),
    ("DELETE FROM {Invoice} WHERE id = $1", &[2]),
    (
        "DELETE FROM {Invoice} AS i USING {Customer} c WHERE c.id = i.customer_id AND c.id = $1",
        &[1],
    ),
    (
        "INSERT INTO {Invoice} (id, customer_id, total) SELECT 10 + c.id, c.id, 0 FROM {Customer} c",
        &[],
    ),
    (
        "INSERT INTO {Invoice} (id, total) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET total = excluded.total RETURNING id, total",
        &[1, 77],
    ),
    // Globex has an invoice 4, acme has none: the conflict is looked up within the tenant.
    (
        "INSERT INTO {Invoice} (id, total) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
        &[4, 77],
    ),
    (
        "INSERT INTO {Payment} (id, invoice_id, amount) VALUES ($1, $2, $3)",
        &[9, 1, 3],
    ),
];

async fn writes_touch_only_the_tenants_rows(backend: Backend) {
    for (sql, args) in WRITES {
        if sql.contains("{Invoice}.id") {
            // An entity placeholder qualifies no column: refused, with the alias form below.
            assert!(
                check(
                    sql,
                    &Options {
                        args: args.len(),
                        shared: &[]
                    }
                )
                .is_err()
            );
            continue;
        }
        let checked = check_sql(sql, args.len());
        let both = database(backend, &["acme", "globex"]).await;
        let alone = database(backend, &["acme"]).await;
        let globex_before = dump(&both, "= 'globex'").await;
        let r = rendered(&checked);
        let got_rows = run(&both, &r, args, Some("acme")).await;
        let want_rows = run(&alone, &r, args, Some("acme")).await;
        assert_eq!(got_rows, want_rows, "{sql}");
        assert_eq!(
            dump(&both, "= 'globex'").await,
            globex_before,
            "the other tenant changed: {sql}\n{r}"
        );
        assert_eq!(
            dump(&both, "= 'acme'").await,
            dump(&alone, "= 'acme'").await,
            "{sql}\n{r}"
        );
        // And the write did something, so the comparison means something.
        let untouched = database(backend, &["acme"]).await;
        assert_ne!(
            dump(&alone, "= 'acme'").await,
            dump(&untouched, "= 'acme'").await,
            "no effect: {sql}"
        );
        for db in [both, alone, untouched] {
            dispose(db).await;
        }
    }
}

#[tokio::test]
async fn sqlite_reads_see_exactly_the_tenants_rows() {
    reads_see_exactly_the_tenants_rows(Backend::Sqlite).await;
}

#[tokio::test]
async fn sqlite_writes_touch_only_the_tenants_rows() {
    writes_touch_only_the_tenants_rows(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_reads_see_exactly_the_tenants_rows() {
    if pg_url().is_some() {
        reads_see_exactly_the_tenants_rows(Backend::Pg).await;
    }
}

#[tokio::test]
async fn postgres_writes_touch_only_the_tenants_rows() {
    if pg_url().is_some() {
        writes_touch_only_the_tenants_rows(Backend::Pg).await;
    }
}
