//! What the safety costs at run time. Every group runs three versions of one operation side by
//! side, in one run, on the same database:
//!
//! - `generated`: the `#[tenant_scoped]` repository call;
//! - `handwritten`: the same statement hand-written with sqlx and a static SQL string, decoded
//!   into the same struct (the floor);
//! - `sea_query_per_call`: the statement built with sea-query on every call and bound through
//!   sea-query-sqlx (what users write otherwise).
//!
//! SQLite in-memory always; PostgreSQL too when DATABASE_URL is set. `benches/report.py` turns
//! criterion's estimates into ratios to the floor (BENCHMARKS.md).

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, criterion_group, criterion_main};
use sea_query::{Expr, ExprTrait, Func, Order, Query};
use sea_query_sqlx::SqlxBinder;
use sqlx::{AssertSqlSafe, Row};
use tenant::{Plan, TenantCtx, TenantId, tenant_scoped};

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
}

const SQLITE: Sql = Sql {
    get: r#"SELECT "id", "tenant_id", "customer", "amount_cents", "paid" FROM "invoices" WHERE "tenant_id" = ? AND "id" = ?"#,
    list: r#"SELECT "id", "tenant_id", "customer", "amount_cents", "paid" FROM "invoices" WHERE "tenant_id" = ? ORDER BY "id" ASC"#,
    count: r#"SELECT COUNT("id") FROM "invoices" WHERE "tenant_id" = ?"#,
    insert: r#"INSERT INTO "invoices" ("tenant_id", "id", "customer", "amount_cents", "paid") VALUES (?, ?, ?, ?, ?)"#,
    update: r#"UPDATE "invoices" SET "amount_cents" = ? WHERE "tenant_id" = ? AND "id" = ?"#,
    list_where: r#"SELECT "id", "tenant_id", "customer", "amount_cents", "paid" FROM "invoices" WHERE "tenant_id" = ? AND "amount_cents" >= ? AND "customer" = ? ORDER BY "id" ASC"#,
};

const POSTGRES: Sql = Sql {
    get: r#"SELECT "id", "tenant_id", "customer", "amount_cents", "paid" FROM "invoices" WHERE "tenant_id" = $1 AND "id" = $2"#,
    list: r#"SELECT "id", "tenant_id", "customer", "amount_cents", "paid" FROM "invoices" WHERE "tenant_id" = $1 ORDER BY "id" ASC"#,
    count: r#"SELECT COUNT("id") FROM "invoices" WHERE "tenant_id" = $1"#,
    insert: r#"INSERT INTO "invoices" ("tenant_id", "id", "customer", "amount_cents", "paid") VALUES ($1, $2, $3, $4, $5)"#,
    update: r#"UPDATE "invoices" SET "amount_cents" = $1 WHERE "tenant_id" = $2 AND "id" = $3"#,
    list_where: r#"SELECT "id", "tenant_id", "customer", "amount_cents", "paid" FROM "invoices" WHERE "tenant_id" = $1 AND "amount_cents" >= $2 AND "customer" = $3 ORDER BY "id" ASC"#,
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
            let group_name = |op: &str| format!("{label}/{op}");

            let mut group = c.benchmark_group(group_name("get"));
            configure(&mut group);
            group.bench_function("generated", |b| {
                b.to_async(rt).iter(|| async {
                    InvoiceRepo::new(&pool)
                        .get(&ctx, 42)
                        .await
                        .unwrap()
                        .unwrap()
                })
            });
            group.bench_function("handwritten", |b| {
                b.to_async(rt).iter(|| async {
                    sqlx::query(sql.get)
                        .bind(ctx.tenant_id().as_str())
                        .bind(42_i64)
                        .try_map(|row| decode(&row))
                        .fetch_optional(&pool)
                        .await
                        .unwrap()
                        .unwrap()
                })
            });
            group.bench_function("sea_query_per_call", |b| {
                b.to_async(rt).iter(|| async {
                    let (sql, values) = select()
                        .and_where(Expr::col("tenant_id").eq(ctx.tenant_id().as_str()))
                        .and_where(Expr::col("id").eq(42_i64))
                        .build_sqlx($builder);
                    sqlx::query_with(AssertSqlSafe(sql), values)
                        .try_map(|row| decode(&row))
                        .fetch_optional(&pool)
                        .await
                        .unwrap()
                        .unwrap()
                })
            });
            group.finish();

            let mut group = c.benchmark_group(group_name("list_100"));
            configure(&mut group);
            group.bench_function("generated", |b| {
                b.to_async(rt).iter(|| async {
                    let rows = InvoiceRepo::new(&pool).list(&ctx).await.unwrap();
                    assert_eq!(rows.len(), 100);
                    rows
                })
            });
            group.bench_function("handwritten", |b| {
                b.to_async(rt).iter(|| async {
                    let rows = sqlx::query(sql.list)
                        .bind(ctx.tenant_id().as_str())
                        .try_map(|row| decode(&row))
                        .fetch_all(&pool)
                        .await
                        .unwrap();
                    assert_eq!(rows.len(), 100);
                    rows
                })
            });
            group.bench_function("sea_query_per_call", |b| {
                b.to_async(rt).iter(|| async {
                    let (sql, values) = select()
                        .and_where(Expr::col("tenant_id").eq(ctx.tenant_id().as_str()))
                        .order_by("id", Order::Asc)
                        .build_sqlx($builder);
                    let rows = sqlx::query_with(AssertSqlSafe(sql), values)
                        .try_map(|row| decode(&row))
                        .fetch_all(&pool)
                        .await
                        .unwrap();
                    assert_eq!(rows.len(), 100);
                    rows
                })
            });
            group.finish();

            let mut group = c.benchmark_group(group_name("count"));
            configure(&mut group);
            group.bench_function("generated", |b| {
                b.to_async(rt)
                    .iter(|| async { InvoiceRepo::new(&pool).count(&ctx).await.unwrap() })
            });
            group.bench_function("handwritten", |b| {
                b.to_async(rt).iter(|| async {
                    sqlx::query(sql.count)
                        .bind(ctx.tenant_id().as_str())
                        .try_map(|row: <$db as sqlx::Database>::Row| row.try_get::<i64, _>(0))
                        .fetch_one(&pool)
                        .await
                        .unwrap()
                })
            });
            group.bench_function("sea_query_per_call", |b| {
                b.to_async(rt).iter(|| async {
                    let (sql, values) = Query::select()
                        .expr(Func::count(Expr::col("id")))
                        .from("invoices")
                        .and_where(Expr::col("tenant_id").eq(ctx.tenant_id().as_str()))
                        .build_sqlx($builder);
                    sqlx::query_with(AssertSqlSafe(sql), values)
                        .try_map(|row: <$db as sqlx::Database>::Row| row.try_get::<i64, _>(0))
                        .fetch_one(&pool)
                        .await
                        .unwrap()
                })
            });
            group.finish();

            let mut group = c.benchmark_group(group_name("list_where_2"));
            configure(&mut group);
            let columns = Invoice::columns();
            group.bench_function("generated", |b| {
                b.to_async(rt).iter(|| async {
                    let filter = columns.amount_cents.ge(5000).and(columns.customer.eq("c3"));
                    let rows = InvoiceRepo::new(&pool)
                        .list_where(&ctx, filter)
                        .await
                        .unwrap();
                    assert_eq!(rows.len(), 5);
                    rows
                })
            });
            group.bench_function("handwritten", |b| {
                b.to_async(rt).iter(|| async {
                    let rows = sqlx::query(sql.list_where)
                        .bind(ctx.tenant_id().as_str())
                        .bind(5000_i64)
                        .bind("c3")
                        .try_map(|row| decode(&row))
                        .fetch_all(&pool)
                        .await
                        .unwrap();
                    assert_eq!(rows.len(), 5);
                    rows
                })
            });
            group.bench_function("sea_query_per_call", |b| {
                b.to_async(rt).iter(|| async {
                    let (sql, values) = select()
                        .and_where(Expr::col("tenant_id").eq(ctx.tenant_id().as_str()))
                        .and_where(Expr::col("amount_cents").gte(5000_i64))
                        .and_where(Expr::col("customer").eq("c3"))
                        .order_by("id", Order::Asc)
                        .build_sqlx($builder);
                    let rows = sqlx::query_with(AssertSqlSafe(sql), values)
                        .try_map(|row| decode(&row))
                        .fetch_all(&pool)
                        .await
                        .unwrap();
                    assert_eq!(rows.len(), 5);
                    rows
                })
            });
            group.finish();

            let mut group = c.benchmark_group(group_name("update"));
            configure(&mut group);
            let amount = AtomicI64::new(0);
            let next = || amount.fetch_add(1, Ordering::Relaxed);
            group.bench_function("generated", |b| {
                b.to_async(rt).iter(|| async {
                    let patch = InvoicePatch {
                        amount_cents: Some(next()),
                        ..Default::default()
                    };
                    InvoiceRepo::new(&pool)
                        .update(&ctx, 42, patch)
                        .await
                        .unwrap()
                })
            });
            group.bench_function("handwritten", |b| {
                b.to_async(rt).iter(|| async {
                    let done = sqlx::query(sql.update)
                        .bind(next())
                        .bind(ctx.tenant_id().as_str())
                        .bind(42_i64)
                        .execute(&pool)
                        .await
                        .unwrap();
                    done.rows_affected()
                })
            });
            group.bench_function("sea_query_per_call", |b| {
                b.to_async(rt).iter(|| async {
                    let (sql, values) = Query::update()
                        .table("invoices")
                        .value("amount_cents", next())
                        .and_where(Expr::col("tenant_id").eq(ctx.tenant_id().as_str()))
                        .and_where(Expr::col("id").eq(42_i64))
                        .build_sqlx($builder);
                    let done = sqlx::query_with(AssertSqlSafe(sql), values)
                        .execute(&pool)
                        .await
                        .unwrap();
                    done.rows_affected()
                })
            });
            group.finish();

            // Inserts grow the table: each version gets a database of its own, seeded alike.
            let mut group = c.benchmark_group(group_name("insert"));
            configure(&mut group);
            let id = AtomicI64::new(1_000);
            let next_id = || id.fetch_add(1, Ordering::Relaxed);
            let pool = fresh();
            group.bench_function("generated", |b| {
                b.to_async(rt).iter(|| async {
                    let new = NewInvoice {
                        id: next_id(),
                        customer: "c1".into(),
                        amount_cents: 1,
                        paid: false,
                    };
                    InvoiceRepo::new(&pool).insert(&ctx, new).await.unwrap()
                })
            });
            let pool = fresh();
            group.bench_function("handwritten", |b| {
                b.to_async(rt).iter(|| async {
                    let new = NewInvoice {
                        id: next_id(),
                        customer: "c1".into(),
                        amount_cents: 1,
                        paid: false,
                    };
                    sqlx::query(sql.insert)
                        .bind(ctx.tenant_id().as_str())
                        .bind(new.id)
                        .bind(&new.customer)
                        .bind(new.amount_cents)
                        .bind(new.paid)
                        .execute(&pool)
                        .await
                        .unwrap();
                    Invoice {
                        id: new.id,
                        tenant_id: ctx.tenant_id().clone(),
                        customer: new.customer,
                        amount_cents: new.amount_cents,
                        paid: new.paid,
                    }
                })
            });
            let pool = fresh();
            group.bench_function("sea_query_per_call", |b| {
                b.to_async(rt).iter(|| async {
                    let new = NewInvoice {
                        id: next_id(),
                        customer: "c1".into(),
                        amount_cents: 1,
                        paid: false,
                    };
                    let (sql, values) = Query::insert()
                        .into_table("invoices")
                        .columns(["tenant_id", "id", "customer", "amount_cents", "paid"])
                        .values_panic([
                            ctx.tenant_id().as_str().into(),
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
                    Invoice {
                        id: new.id,
                        tenant_id: ctx.tenant_id().clone(),
                        customer: new.customer,
                        amount_cents: new.amount_cents,
                        paid: new.paid,
                    }
                })
            });
            group.finish();
        }
    };
}

fn configure(group: &mut BenchmarkGroup<'_, WallTime>) {
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(60);
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
                    sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                        .execute(&admin)
                        .await
                        .unwrap();
                    admin.close().await;
                    let options: sqlx::postgres::PgConnectOptions = url.parse().unwrap();
                    let options = options.options([("search_path", schema.as_str())]);
                    let pool = sqlx::postgres::PgPoolOptions::new()
                        .max_connections(1)
                        .connect_with(options)
                        .await
                        .unwrap();
                    seed!(pool)
                })
            };
            postgres::run(c, "postgres", &rt, &fresh_postgres);
        }
        Err(_) => eprintln!("notice: PostgreSQL benchmarks skipped: DATABASE_URL is not set"),
    }
}

criterion_group!(repo, benches);
criterion_main!(repo);
