//! What the safety costs at run time. Every group runs three versions of one operation side by
//! side, in one run, on the same database:
//!
//! - `generated`: the `#[tenant_scoped]` repository call;
//! - `handwritten`: the same statement hand-written with sqlx and a static SQL string, decoded
//!   into the same struct (the floor);
//! - `sea_query_per_call`: the statement built with sea-query on every call and bound through
//!   sea-query-sqlx (what users write otherwise).
//!
//! SQLite in-memory always; PostgreSQL too when DATABASE_URL is set. The interleaved rounds at
//! the end print the ratios to the floor that BENCHMARKS.md reports.

// The entities below are benchmark fixtures, public only so the macro generates what a user's
// public entity gets; they are not documented API.
#![allow(missing_docs)]

use std::sync::atomic::{AtomicI64, Ordering};

use criterion::Criterion;
use sea_query::{Expr, ExprTrait, Func, Order, Query};
use sea_query_sqlx::SqlxBinder;
use sqlx::{AssertSqlSafe, Row};
use tenant::{Plan, TenantCtx, TenantId, tenant_scoped};
use tenant_benches::{REPO, compare};

#[tenant_scoped(table = "invoices")]
#[derive(Debug, Clone, PartialEq)]
pub struct Invoice {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    #[index]
    pub customer: String,
    pub amount_cents: i64,
    pub paid: bool,
}

const COLUMNS: [&str; 5] = ["id", "tenant_id", "customer", "amount_cents", "paid"];

/// The hand-written statements, one set per placeholder style.
struct Sql {
    get: &'static str,
    list: &'static str,
    count: &'static str,
    insert: &'static str,
    update: &'static str,
    list_where: &'static str,
    count_where: &'static str,
    exists: &'static str,
    select_top: &'static str,
    delete_where: &'static str,
    reset: &'static str,
}

const SQLITE: Sql = Sql {
    get: r#"SELECT "id", "tenant_id", "customer", "amount_cents", "paid" FROM "invoices" WHERE "tenant_id" = ? AND "id" = ?"#,
    list: r#"SELECT "id", "tenant_id", "customer", "amount_cents", "paid" FROM "invoices" WHERE "tenant_id" = ? ORDER BY "id" ASC"#,
    count: r#"SELECT COUNT("id") FROM "invoices" WHERE "tenant_id" = ?"#,
    insert: r#"INSERT INTO "invoices" ("tenant_id", "id", "customer", "amount_cents", "paid") VALUES (?, ?, ?, ?, ?)"#,
    update: r#"UPDATE "invoices" SET "amount_cents" = ? WHERE "tenant_id" = ? AND "id" = ?"#,
    list_where: r#"SELECT "id", "tenant_id", "customer", "amount_cents", "paid" FROM "invoices" WHERE "tenant_id" = ? AND "amount_cents" >= ? AND "customer" = ? ORDER BY "id" ASC"#,
    count_where: r#"SELECT COUNT("id") FROM "invoices" WHERE ("customer" = ? OR "amount_cents" >= ?) AND "tenant_id" = ?"#,
    exists: r#"SELECT 1 FROM "invoices" WHERE "customer" = ? AND "tenant_id" = ? LIMIT 1"#,
    select_top: r#"SELECT "id", "tenant_id", "customer", "amount_cents", "paid" FROM "invoices" WHERE "customer" = ? AND "tenant_id" = ? ORDER BY "amount_cents" DESC, "id" ASC LIMIT ?"#,
    delete_where: r#"DELETE FROM "invoices" WHERE "customer" = ? AND "amount_cents" < ? AND "tenant_id" = ?"#,
    reset: r#"DELETE FROM "invoices" WHERE "id" >= 1000"#,
};

const POSTGRES: Sql = Sql {
    get: r#"SELECT "id", "tenant_id", "customer", "amount_cents", "paid" FROM "invoices" WHERE "tenant_id" = $1 AND "id" = $2"#,
    list: r#"SELECT "id", "tenant_id", "customer", "amount_cents", "paid" FROM "invoices" WHERE "tenant_id" = $1 ORDER BY "id" ASC"#,
    count: r#"SELECT COUNT("id") FROM "invoices" WHERE "tenant_id" = $1"#,
    insert: r#"INSERT INTO "invoices" ("tenant_id", "id", "customer", "amount_cents", "paid") VALUES ($1, $2, $3, $4, $5)"#,
    update: r#"UPDATE "invoices" SET "amount_cents" = $1 WHERE "tenant_id" = $2 AND "id" = $3"#,
    list_where: r#"SELECT "id", "tenant_id", "customer", "amount_cents", "paid" FROM "invoices" WHERE "tenant_id" = $1 AND "amount_cents" >= $2 AND "customer" = $3 ORDER BY "id" ASC"#,
    count_where: r#"SELECT COUNT("id") FROM "invoices" WHERE ("customer" = $1 OR "amount_cents" >= $2) AND "tenant_id" = $3"#,
    exists: r#"SELECT 1 FROM "invoices" WHERE "customer" = $1 AND "tenant_id" = $2 LIMIT 1"#,
    select_top: r#"SELECT "id", "tenant_id", "customer", "amount_cents", "paid" FROM "invoices" WHERE "customer" = $1 AND "tenant_id" = $2 ORDER BY "amount_cents" DESC, "id" ASC LIMIT $3"#,
    delete_where: r#"DELETE FROM "invoices" WHERE "customer" = $1 AND "amount_cents" < $2 AND "tenant_id" = $3"#,
    reset: r#"DELETE FROM "invoices" WHERE "id" >= 1000"#,
};

fn ctx() -> TenantCtx {
    TenantCtx::trusted(
        "acme".parse().unwrap(),
        "tenant_acme".parse().unwrap(),
        Plan::Pro,
    )
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Two tenants with 100 rows each (ids 0..100), customers c0..c9, amounts 0, 100, .., 9900.
macro_rules! seed {
    ($pool:expr) => {{
        let pool = $pool;
        let mut repo = InvoiceRepo::new(&pool);
        repo.create_table().await.unwrap();
        for tenant in ["acme", "globex"] {
            let ctx = TenantCtx::trusted(tenant.parse().unwrap(), "s".parse().unwrap(), Plan::Free);
            for id in 0..100 {
                let new = NewInvoice {
                    id,
                    customer: format!("c{}", id % 10),
                    amount_cents: id * 100,
                    paid: false,
                };
                repo.insert(&ctx, new).await.unwrap();
            }
        }
        pool
    }};
}

macro_rules! backend_benches {
    ($name:ident, $db:ty, $pool:ty, $builder:expr, $sql:expr) => {
        fn decode(row: &<$db as sqlx::Database>::Row) -> Result<Invoice, sqlx::Error> {
            Ok(Invoice {
                id: row.try_get(0)?,
                tenant_id: row.try_get(1)?,
                customer: row.try_get(2)?,
                amount_cents: row.try_get(3)?,
                paid: row.try_get(4)?,
            })
        }

        fn select() -> sea_query::SelectStatement {
            let mut select = Query::select();
            select.columns(COLUMNS).from("invoices");
            select
        }

        pub(crate) fn run(
            c: &mut Criterion,
            label: &str,
            rt: &tokio::runtime::Runtime,
            fresh: &dyn Fn() -> $pool,
        ) {
            let sql: Sql = $sql;
            let pool = fresh();
            let ctx = ctx();
            let tenant = ctx.tenant_id().as_str();
            let name = |op: &str| format!("{label}/{op}");

            compare(
                c,
                rt,
                &REPO,
                &name("get"),
                async || {
                    InvoiceRepo::new(&pool)
                        .get(&ctx, 42)
                        .await
                        .unwrap()
                        .unwrap()
                },
                async || {
                    sqlx::query(sql.get)
                        .bind(tenant)
                        .bind(42_i64)
                        .try_map(|row| decode(&row))
                        .fetch_optional(&pool)
                        .await
                        .unwrap()
                        .unwrap()
                },
                async || {
                    let (sql, values) = select()
                        .and_where(Expr::col("tenant_id").eq(tenant))
                        .and_where(Expr::col("id").eq(42_i64))
                        .build_sqlx($builder);
                    sqlx::query_with(AssertSqlSafe(sql), values)
                        .try_map(|row| decode(&row))
                        .fetch_optional(&pool)
                        .await
                        .unwrap()
                        .unwrap()
                },
                &|| (),
            );

            compare(
                c,
                rt,
                &REPO,
                &name("list_100"),
                async || checked_len(InvoiceRepo::new(&pool).list(&ctx).await.unwrap(), 100),
                async || {
                    let rows = sqlx::query(sql.list)
                        .bind(tenant)
                        .try_map(|row| decode(&row))
                        .fetch_all(&pool)
                        .await
                        .unwrap();
                    checked_len(rows, 100)
                },
                async || {
                    let (sql, values) = select()
                        .and_where(Expr::col("tenant_id").eq(tenant))
                        .order_by("id", Order::Asc)
                        .build_sqlx($builder);
                    let rows = sqlx::query_with(AssertSqlSafe(sql), values)
                        .try_map(|row| decode(&row))
                        .fetch_all(&pool)
                        .await
                        .unwrap();
                    checked_len(rows, 100)
                },
                &|| (),
            );

            compare(
                c,
                rt,
                &REPO,
                &name("count"),
                async || InvoiceRepo::new(&pool).count(&ctx).await.unwrap(),
                async || {
                    sqlx::query(sql.count)
                        .bind(tenant)
                        .try_map(|row: <$db as sqlx::Database>::Row| row.try_get::<i64, _>(0))
                        .fetch_one(&pool)
                        .await
                        .unwrap()
                },
                async || {
                    let (sql, values) = Query::select()
                        .expr(Func::count(Expr::col("id")))
                        .from("invoices")
                        .and_where(Expr::col("tenant_id").eq(tenant))
                        .build_sqlx($builder);
                    sqlx::query_with(AssertSqlSafe(sql), values)
                        .try_map(|row: <$db as sqlx::Database>::Row| row.try_get::<i64, _>(0))
                        .fetch_one(&pool)
                        .await
                        .unwrap()
                },
                &|| (),
            );

            let columns = Invoice::columns();
            compare(
                c,
                rt,
                &REPO,
                &name("list_where_2"),
                async || {
                    let filter = columns.amount_cents.ge(5000).and(columns.customer.eq("c3"));
                    checked_len(
                        InvoiceRepo::new(&pool)
                            .list_where(&ctx, filter)
                            .await
                            .unwrap(),
                        5,
                    )
                },
                async || {
                    let rows = sqlx::query(sql.list_where)
                        .bind(tenant)
                        .bind(5000_i64)
                        .bind("c3")
                        .try_map(|row| decode(&row))
                        .fetch_all(&pool)
                        .await
                        .unwrap();
                    checked_len(rows, 5)
                },
                async || {
                    let (sql, values) = select()
                        .and_where(Expr::col("tenant_id").eq(tenant))
                        .and_where(Expr::col("amount_cents").gte(5000_i64))
                        .and_where(Expr::col("customer").eq("c3"))
                        .order_by("id", Order::Asc)
                        .build_sqlx($builder);
                    let rows = sqlx::query_with(AssertSqlSafe(sql), values)
                        .try_map(|row| decode(&row))
                        .fetch_all(&pool)
                        .await
                        .unwrap();
                    checked_len(rows, 5)
                },
                &|| (),
            );

            // `customer = 'c3' OR amount_cents >= 9000`: 10 + 10 - 1 = 19 rows.
            let count_row = |row: <$db as sqlx::Database>::Row| row.try_get::<i64, _>(0);
            compare(
                c,
                rt,
                &REPO,
                &name("count_where_or"),
                async || {
                    let filter = columns.customer.eq("c3").or(columns.amount_cents.ge(9000));
                    InvoiceRepo::new(&pool)
                        .count_where(&ctx, filter)
                        .await
                        .unwrap()
                },
                async || {
                    sqlx::query(sql.count_where)
                        .bind("c3")
                        .bind(9000_i64)
                        .bind(tenant)
                        .try_map(count_row)
                        .fetch_one(&pool)
                        .await
                        .unwrap()
                },
                async || {
                    let (sql, values) = Query::select()
                        .expr(Func::count(Expr::col("id")))
                        .from("invoices")
                        .and_where(
                            Expr::col("customer")
                                .eq("c3")
                                .or(Expr::col("amount_cents").gte(9000_i64)),
                        )
                        .and_where(Expr::col("tenant_id").eq(tenant))
                        .build_sqlx($builder);
                    sqlx::query_with(AssertSqlSafe(sql), values)
                        .try_map(count_row)
                        .fetch_one(&pool)
                        .await
                        .unwrap()
                },
                &|| (),
            );

            compare(
                c,
                rt,
                &REPO,
                &name("exists"),
                async || {
                    let filter = columns.customer.eq("c3");
                    assert!(InvoiceRepo::new(&pool).exists(&ctx, filter).await.unwrap());
                },
                async || {
                    let row = sqlx::query(sql.exists)
                        .bind("c3")
                        .bind(tenant)
                        .fetch_optional(&pool)
                        .await
                        .unwrap();
                    assert!(row.is_some());
                },
                async || {
                    let (sql, values) = Query::select()
                        .expr(Expr::cust("1"))
                        .from("invoices")
                        .and_where(Expr::col("customer").eq("c3"))
                        .and_where(Expr::col("tenant_id").eq(tenant))
                        .limit(1)
                        .build_sqlx($builder);
                    let row = sqlx::query_with(AssertSqlSafe(sql), values)
                        .fetch_optional(&pool)
                        .await
                        .unwrap();
                    assert!(row.is_some());
                },
                &|| (),
            );

            // `customer = 'c3'` ordered by amount, largest first, the top 5 of 10.
            compare(
                c,
                rt,
                &REPO,
                &name("select_order_limit"),
                async || {
                    let mut repo = InvoiceRepo::new(&pool);
                    let rows = repo
                        .select(&ctx)
                        .filter(columns.customer.eq("c3"))
                        .order(columns.amount_cents.desc())
                        .limit(5)
                        .all()
                        .await
                        .unwrap();
                    checked_len(rows, 5)
                },
                async || {
                    let rows = sqlx::query(sql.select_top)
                        .bind("c3")
                        .bind(tenant)
                        .bind(5_i64)
                        .try_map(|row| decode(&row))
                        .fetch_all(&pool)
                        .await
                        .unwrap();
                    checked_len(rows, 5)
                },
                async || {
                    let (sql, values) = select()
                        .and_where(Expr::col("customer").eq("c3"))
                        .and_where(Expr::col("tenant_id").eq(tenant))
                        .order_by("amount_cents", Order::Desc)
                        .order_by("id", Order::Asc)
                        .limit(5)
                        .build_sqlx($builder);
                    let rows = sqlx::query_with(AssertSqlSafe(sql), values)
                        .try_map(|row| decode(&row))
                        .fetch_all(&pool)
                        .await
                        .unwrap();
                    checked_len(rows, 5)
                },
                &|| (),
            );

            // Matches no row (amounts are never negative): the statement's cost, not a
            // shrinking table's.
            compare(
                c,
                rt,
                &REPO,
                &name("delete_where"),
                async || {
                    let filter = columns.customer.eq("c3").and(columns.amount_cents.lt(0));
                    InvoiceRepo::new(&pool)
                        .delete_where(&ctx, filter)
                        .await
                        .unwrap()
                },
                async || {
                    let done = sqlx::query(sql.delete_where)
                        .bind("c3")
                        .bind(0_i64)
                        .bind(tenant)
                        .execute(&pool)
                        .await
                        .unwrap();
                    done.rows_affected()
                },
                async || {
                    let (sql, values) = Query::delete()
                        .from_table("invoices")
                        .and_where(
                            Expr::col("customer")
                                .eq("c3")
                                .and(Expr::col("amount_cents").lt(0_i64)),
                        )
                        .and_where(Expr::col("tenant_id").eq(tenant))
                        .build_sqlx($builder);
                    let done = sqlx::query_with(AssertSqlSafe(sql), values)
                        .execute(&pool)
                        .await
                        .unwrap();
                    done.rows_affected()
                },
                &|| (),
            );

            let amount = AtomicI64::new(0);
            let next = || amount.fetch_add(1, Ordering::Relaxed);
            compare(
                c,
                rt,
                &REPO,
                &name("update"),
                async || {
                    let patch = InvoicePatch {
                        amount_cents: Some(next()),
                        ..Default::default()
                    };
                    InvoiceRepo::new(&pool)
                        .update(&ctx, 42, patch)
                        .await
                        .unwrap()
                },
                async || {
                    let done = sqlx::query(sql.update)
                        .bind(next())
                        .bind(tenant)
                        .bind(42_i64)
                        .execute(&pool)
                        .await
                        .unwrap();
                    done.rows_affected()
                },
                async || {
                    let (sql, values) = Query::update()
                        .table("invoices")
                        .value("amount_cents", next())
                        .and_where(Expr::col("tenant_id").eq(tenant))
                        .and_where(Expr::col("id").eq(42_i64))
                        .build_sqlx($builder);
                    let done = sqlx::query_with(AssertSqlSafe(sql), values)
                        .execute(&pool)
                        .await
                        .unwrap();
                    done.rows_affected()
                },
                &|| (),
            );

            let id = AtomicI64::new(1_000);
            let new = || NewInvoice {
                id: id.fetch_add(1, Ordering::Relaxed),
                customer: "c1".into(),
                amount_cents: 1,
                paid: false,
            };
            // Every batch of inserts is deleted again (untimed), so all three versions insert
            // into the same 200-row table.
            let reset_inserts = || {
                rt.block_on(sqlx::query(sql.reset).execute(&pool)).unwrap();
            };
            compare(
                c,
                rt,
                &REPO,
                &name("insert"),
                async || InvoiceRepo::new(&pool).insert(&ctx, new()).await.unwrap(),
                async || {
                    let new = new();
                    sqlx::query(sql.insert)
                        .bind(tenant)
                        .bind(new.id)
                        .bind(&new.customer)
                        .bind(new.amount_cents)
                        .bind(new.paid)
                        .execute(&pool)
                        .await
                        .unwrap();
                    inserted(&ctx, new)
                },
                async || {
                    let new = new();
                    let (sql, values) = Query::insert()
                        .into_table("invoices")
                        .columns(["tenant_id", "id", "customer", "amount_cents", "paid"])
                        .values_panic([
                            tenant.into(),
                            new.id.into(),
                            new.customer.as_str().into(),
                            new.amount_cents.into(),
                            new.paid.into(),
                        ])
                        .build_sqlx($builder);
                    sqlx::query_with(AssertSqlSafe(sql), values)
                        .execute(&pool)
                        .await
                        .unwrap();
                    inserted(&ctx, new)
                },
                &reset_inserts,
            );
        }
    };
}

fn checked_len(rows: Vec<Invoice>, expected: usize) -> Vec<Invoice> {
    assert_eq!(rows.len(), expected);
    rows
}

/// What the hand-written versions return, like `insert` does.
fn inserted(ctx: &TenantCtx, new: NewInvoice) -> Invoice {
    Invoice {
        id: new.id,
        tenant_id: ctx.tenant_id().clone(),
        customer: new.customer,
        amount_cents: new.amount_cents,
        paid: new.paid,
    }
}

mod sqlite {
    use super::*;
    backend_benches!(
        sqlite,
        sqlx::Sqlite,
        sqlx::SqlitePool,
        sea_query::SqliteQueryBuilder,
        SQLITE
    );
}

mod postgres {
    use super::*;
    backend_benches!(
        postgres,
        sqlx::Postgres,
        sqlx::PgPool,
        sea_query::PostgresQueryBuilder,
        POSTGRES
    );
}

fn benches(c: &mut Criterion) {
    let rt = runtime();
    let fresh_sqlite = || {
        rt.block_on(async {
            let options = sqlx::sqlite::SqlitePoolOptions::new().max_connections(1);
            seed!(options.connect("sqlite::memory:").await.unwrap())
        })
    };
    sqlite::run(c, "sqlite", &rt, &fresh_sqlite);

    match std::env::var("DATABASE_URL") {
        Ok(url) => {
            let schema_counter = AtomicI64::new(0);
            let fresh_postgres = || {
                rt.block_on(async {
                    let schema = format!(
                        "bench_{}_{}",
                        std::process::id(),
                        schema_counter.fetch_add(1, Ordering::Relaxed)
                    );
                    let admin = sqlx::PgPool::connect(&url).await.unwrap();
                    let pool = tenant_benches::fresh_schema(&admin, &url, &schema).await;
                    admin.close().await;
                    seed!(pool)
                })
            };
            postgres::run(c, "postgres", &rt, &fresh_postgres);
        }
        Err(_) => eprintln!("notice: PostgreSQL benchmarks skipped: DATABASE_URL is not set"),
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c);
    c.final_summary();
    tenant_benches::report("bench-ratios.md");
}
