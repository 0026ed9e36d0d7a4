//! Bulk and conditional writes beside the best statement written by hand:
//!
//! - `insert_many_1000`: `Repo::insert_many` of 1,000 rows, against one hand-written statement
//!   inserting the same 1,000 rows (the floor: a multi-row `VALUES`, or on PostgreSQL
//!   `INSERT .. SELECT * FROM UNNEST(..)` binding one array per column when that is faster),
//!   and against 1,000 `insert` calls (the throughput `insert_many` exists to beat);
//! - `insert_1000_unnest_vs_values` (PostgreSQL): which hand-written batch is the floor;
//! - `insert_1000_prepared_each_call`: what the 1,000-row statement costs when the connection's
//!   statement cache does not hold it (a batch size seen for the first time);
//! - `update_where` and `upsert`: the repository call, the same statement hand-written with
//!   sqlx, and sea-query built on every call.
//!
//! Inserted rows are deleted between batches (untimed), so every version inserts into the same
//! 200-row table; on PostgreSQL the table is vacuumed then too. SQLite in memory always; PostgreSQL too when DATABASE_URL is set, on a fresh
//! schema. The table is written to `target/bench-bulk.md`.

// The entities below are benchmark fixtures, public only so the macro generates what a user's
// public entity gets; they are not documented API.
#![allow(missing_docs)]

use std::sync::atomic::{AtomicI64, Ordering};

use criterion::Criterion;
use sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_query_sqlx::SqlxBinder;
use sqlx::{AssertSqlSafe, Row};
use tenant::{Plan, TenantCtx, TenantId, tenant_scoped};
use tenant_benches::{REPO, Versions, compare};

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
const INSERTED: [&str; 5] = ["tenant_id", "id", "customer", "amount_cents", "paid"];
const BATCH: usize = 1000;

const VALUES_FLOOR: Versions = Versions {
    subject: "insert_many",
    floor: "handwritten_values",
    other: "insert_x1000",
};

const UNNEST_FLOOR: Versions = Versions {
    subject: "insert_many",
    floor: "handwritten_unnest",
    other: "insert_x1000",
};

const UNNEST_VS_VALUES: Versions = Versions {
    subject: "handwritten_unnest",
    floor: "handwritten_values",
    other: "insert_many",
};

const PREPARE: Versions = Versions {
    subject: "prepared_each_call",
    floor: "cached_statement",
    other: "insert_many",
};

/// The hand-written statements, one set per placeholder style.
struct Sql {
    /// Placeholder `n` (1-based) of a statement.
    placeholder: fn(usize) -> String,
    update_where: &'static str,
    upsert: &'static str,
    /// Whether the backend binds arrays (PostgreSQL): `unnest` is its batch statement.
    arrays: bool,
    /// Run after every batch, untimed: PostgreSQL keeps the dead rows of deletes and updates
    /// until a vacuum, and thousands of updates of the same rows made `update_where` 30 times
    /// slower (4 ms) by the end of criterion's run.
    vacuum: Option<&'static str>,
}

const SQLITE: Sql = Sql {
    placeholder: |_| "?".to_owned(),
    update_where: r#"UPDATE "invoices" SET "amount_cents" = ? WHERE "customer" = ? AND "tenant_id" = ?"#,
    upsert: r#"INSERT INTO "invoices" ("tenant_id", "id", "customer", "amount_cents", "paid") VALUES (?, ?, ?, ?, ?) ON CONFLICT ("tenant_id", "id") DO UPDATE SET "amount_cents" = ? RETURNING "id", "tenant_id", "customer", "amount_cents", "paid""#,
    arrays: false,
    vacuum: None,
};

const POSTGRES: Sql = Sql {
    placeholder: |n| format!("${n}"),
    update_where: r#"UPDATE "invoices" SET "amount_cents" = $1 WHERE "customer" = $2 AND "tenant_id" = $3"#,
    upsert: r#"INSERT INTO "invoices" ("tenant_id", "id", "customer", "amount_cents", "paid") VALUES ($1, $2, $3, $4, $5) ON CONFLICT ("tenant_id", "id") DO UPDATE SET "amount_cents" = $6 RETURNING "id", "tenant_id", "customer", "amount_cents", "paid""#,
    arrays: true,
    vacuum: Some(r#"VACUUM "invoices""#),
};

const RESET: &str = r#"DELETE FROM "invoices" WHERE "id" >= 1000"#;

/// One multi-row INSERT of `rows` rows, written out once (leaked: a `&'static str` is what
/// sqlx takes without copying, as a hand-written constant would be).
fn values_statement(sql: &Sql, rows: usize) -> &'static str {
    let mut text = format!(r#"INSERT INTO "invoices" ({}) VALUES "#, {
        let quoted: Vec<String> = INSERTED.iter().map(|c| format!("\"{c}\"")).collect();
        quoted.join(", ")
    });
    for row in 0..rows {
        let slots: Vec<String> = (1..=INSERTED.len())
            .map(|col| (sql.placeholder)(row * INSERTED.len() + col))
            .collect();
        if row > 0 {
            text.push_str(", ");
        }
        text.push('(');
        text.push_str(&slots.join(", "));
        text.push(')');
    }
    Box::leak(text.into_boxed_str())
}

fn ctx() -> TenantCtx {
    TenantCtx::trusted(
        "acme".parse().unwrap(),
        "tenant_acme".parse().unwrap(),
        Plan::Pro,
    )
}

fn new_invoice(id: i64) -> NewInvoice {
    NewInvoice {
        id,
        customer: format!("c{}", id % 10),
        amount_cents: id * 100,
        paid: false,
    }
}

/// Two tenants with 100 rows each (ids 0..100), customers c0..c9.
macro_rules! seed {
    ($pool:expr) => {{
        let pool = $pool;
        let mut repo = InvoiceRepo::new(&pool);
        repo.create_table().await.unwrap();
        for tenant in ["acme", "globex"] {
            let ctx = TenantCtx::trusted(tenant.parse().unwrap(), "s".parse().unwrap(), Plan::Free);
            repo.insert_many(&ctx, (0..100).map(new_invoice))
                .await
                .unwrap();
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

        /// The hand-written multi-row VALUES statement, binding every row.
        async fn values(
            pool: &$pool,
            statement: &'static str,
            tenant: &str,
            rows: &[NewInvoice],
            persistent: bool,
        ) -> u64 {
            let mut query = sqlx::query(statement).persistent(persistent);
            for row in rows {
                query = query
                    .bind(tenant)
                    .bind(row.id)
                    .bind(&row.customer)
                    .bind(row.amount_cents)
                    .bind(row.paid);
            }
            let done = query.execute(pool).await.unwrap();
            checked(done.rows_affected())
        }

        pub(crate) fn run(
            c: &mut Criterion,
            label: &str,
            rt: &tokio::runtime::Runtime,
            pool: &$pool,
        ) {
            let sql: Sql = $sql;
            let ctx = ctx();
            let tenant = ctx.tenant_id().as_str();
            let name = |op: &str| format!("{label}/{op}");
            let statement = values_statement(&sql, BATCH);

            // Every call inserts 1,000 fresh ids; every batch of calls is deleted again.
            let next = AtomicI64::new(1_000);
            let batch = || {
                let start = next.fetch_add(BATCH as i64, Ordering::Relaxed);
                (start..start + BATCH as i64)
                    .map(new_invoice)
                    .collect::<Vec<_>>()
            };
            let vacuum = || {
                if let Some(vacuum) = sql.vacuum {
                    rt.block_on(sqlx::query(vacuum).execute(pool)).unwrap();
                }
            };
            let reset = || {
                rt.block_on(sqlx::query(RESET).execute(pool)).unwrap();
                vacuum();
            };
            let insert_many = async || {
                let done = InvoiceRepo::new(pool)
                    .insert_many(&ctx, batch())
                    .await
                    .unwrap();
                checked(done)
            };
            let handwritten_values = async || values(pool, statement, tenant, &batch(), true).await;
            let unnest = async || unnest(pool, tenant, &batch()).await;

            compare(
                c,
                rt,
                &PREPARE,
                &name("insert_1000_prepared_each_call"),
                async || values(pool, statement, tenant, &batch(), false).await,
                handwritten_values,
                insert_many,
                &reset,
            );

            // The floor is the faster of the two hand-written batches.
            let mut versions = &VALUES_FLOOR;
            if sql.arrays {
                let unnest_over_values = compare(
                    c,
                    rt,
                    &UNNEST_VS_VALUES,
                    &name("insert_1000_unnest_vs_values"),
                    unnest,
                    handwritten_values,
                    insert_many,
                    &reset,
                );
                if unnest_over_values.is_some_and(|ratio| ratio < 1.0) {
                    versions = &UNNEST_FLOOR;
                }
            }
            compare(
                c,
                rt,
                versions,
                &name("insert_many_1000"),
                insert_many,
                async || {
                    if versions.floor == UNNEST_FLOOR.floor {
                        unnest().await
                    } else {
                        handwritten_values().await
                    }
                },
                async || {
                    let mut repo = InvoiceRepo::new(pool);
                    for row in batch() {
                        repo.insert(&ctx, row).await.unwrap();
                    }
                },
                &reset,
            );

            let columns = Invoice::columns();
            let patch = || InvoicePatch {
                amount_cents: Some(7),
                ..Default::default()
            };
            compare(
                c,
                rt,
                &REPO,
                &name("update_where"),
                async || {
                    let filter = columns.customer.eq("c3");
                    let done = InvoiceRepo::new(pool)
                        .update_where(&ctx, filter, patch())
                        .await
                        .unwrap();
                    assert_eq!(done, 10);
                },
                async || {
                    let done = sqlx::query(sql.update_where)
                        .bind(7_i64)
                        .bind("c3")
                        .bind(tenant)
                        .execute(pool)
                        .await
                        .unwrap();
                    assert_eq!(done.rows_affected(), 10);
                },
                async || {
                    let (sql, values) = Query::update()
                        .table("invoices")
                        .value("amount_cents", 7_i64)
                        .and_where(Expr::col("customer").eq("c3"))
                        .and_where(Expr::col("tenant_id").eq(tenant))
                        .build_sqlx($builder);
                    let done = sqlx::query_with(AssertSqlSafe(sql), values)
                        .execute(pool)
                        .await
                        .unwrap();
                    assert_eq!(done.rows_affected(), 10);
                },
                &vacuum,
            );

            // Key 42 exists: every upsert takes the update path and returns the row.
            let upserted = |row: Invoice| assert_eq!((row.id, row.amount_cents), (42, 7));
            compare(
                c,
                rt,
                &REPO,
                &name("upsert"),
                async || {
                    let row = InvoiceRepo::new(pool)
                        .upsert(&ctx, new_invoice(42), patch())
                        .await
                        .unwrap();
                    upserted(row)
                },
                async || {
                    let new = new_invoice(42);
                    let row = sqlx::query(sql.upsert)
                        .bind(tenant)
                        .bind(new.id)
                        .bind(&new.customer)
                        .bind(new.amount_cents)
                        .bind(new.paid)
                        .bind(7_i64)
                        .try_map(|row| decode(&row))
                        .fetch_one(pool)
                        .await
                        .unwrap();
                    upserted(row)
                },
                async || {
                    let new = new_invoice(42);
                    let (sql, values) = Query::insert()
                        .into_table("invoices")
                        .columns(INSERTED)
                        .values_panic([
                            tenant.into(),
                            new.id.into(),
                            new.customer.into(),
                            new.amount_cents.into(),
                            new.paid.into(),
                        ])
                        .on_conflict(
                            OnConflict::columns(["tenant_id", "id"])
                                .value("amount_cents", 7_i64)
                                .to_owned(),
                        )
                        .returning(Query::returning().columns(COLUMNS))
                        .build_sqlx($builder);
                    let row = sqlx::query_with(AssertSqlSafe(sql), values)
                        .try_map(|row| decode(&row))
                        .fetch_one(pool)
                        .await
                        .unwrap();
                    upserted(row)
                },
                &vacuum,
            );
        }
    };
}

fn checked(inserted: u64) -> u64 {
    assert_eq!(inserted, BATCH as u64);
    inserted
}

mod sqlite {
    use super::*;

    async fn unnest(_: &sqlx::SqlitePool, _: &str, _: &[NewInvoice]) -> u64 {
        unreachable!("SQLite binds no arrays: its only hand-written batch is VALUES")
    }

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

    /// One array per column, one statement: the rows are not in the SQL text at all.
    const UNNEST: &str = r#"INSERT INTO "invoices" ("tenant_id", "id", "customer", "amount_cents", "paid") SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::bigint[], $5::boolean[])"#;

    async fn unnest(pool: &sqlx::PgPool, tenant: &str, rows: &[NewInvoice]) -> u64 {
        let tenants = vec![tenant; rows.len()];
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let customers: Vec<&str> = rows.iter().map(|r| r.customer.as_str()).collect();
        let amounts: Vec<i64> = rows.iter().map(|r| r.amount_cents).collect();
        let paid: Vec<bool> = rows.iter().map(|r| r.paid).collect();
        let done = sqlx::query(UNNEST)
            .bind(tenants)
            .bind(ids)
            .bind(customers)
            .bind(amounts)
            .bind(paid)
            .execute(pool)
            .await
            .unwrap();
        checked(done.rows_affected())
    }

    backend_benches!(
        postgres,
        sqlx::Postgres,
        sqlx::PgPool,
        sea_query::PostgresQueryBuilder,
        POSTGRES
    );
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let pool = rt.block_on(async {
        let options = sqlx::sqlite::SqlitePoolOptions::new().max_connections(1);
        seed!(options.connect("sqlite::memory:").await.unwrap())
    });
    sqlite::run(&mut c, "sqlite", &rt, &pool);
    drop(pool);

    match std::env::var("DATABASE_URL") {
        Ok(url) => {
            let schema = format!("bench_bulk_{}", std::process::id());
            let (pool, admin) = rt.block_on(async {
                let admin = sqlx::PgPool::connect(&url).await.unwrap();
                let pool = tenant_benches::fresh_schema(&admin, &url, &schema).await;
                (seed!(pool), admin)
            });
            postgres::run(&mut c, "postgres", &rt, &pool);
            rt.block_on(async {
                pool.close().await;
                sqlx::query(AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                    .execute(&admin)
                    .await
                    .unwrap();
            });
        }
        Err(_) => eprintln!("notice: PostgreSQL benchmarks skipped: DATABASE_URL is not set"),
    }
    c.final_summary();
    tenant_benches::report("bench-bulk.md");
}
