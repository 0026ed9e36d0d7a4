//! Keyset pages over 10^6 rows of 100 tenants: does a page deep in a tenant's rows cost what the
//! first page costs, and what does offset paging cost at the same depth? And is `Repo::page`
//! the cost of the same keyset statement hand-written with sqlx?
//!
//! One tenant, `big`, has 200,000 rows; 99 others share the remaining 800,000 (8,081 each).
//! Pages are 50 rows, by key and by an indexed column (`amount` descending, key ascending).
//! SQLite in memory always; PostgreSQL too when DATABASE_URL is set.

// The entities below are benchmark fixtures, public only so the macro generates what a user's
// public entity gets; they are not documented API.
#![allow(missing_docs)]

use std::sync::atomic::{AtomicI64, Ordering};

use criterion::Criterion;
use sqlx::{AssertSqlSafe, Row};
use tenant::sqlx::{Cursor, PageRequest};
use tenant::{Plan, TenantCtx, TenantId, tenant_scoped};
use tenant_benches::{Versions, compare};

#[tenant_scoped(table = "items")]
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    #[index]
    pub amount: i64,
    pub name: String,
}

const BIG_ROWS: i64 = 200_000;
const OTHER_TENANTS: i64 = 99;
const OTHER_ROWS: i64 = 8_081;
const DEPTH: u64 = 100_000;
const PAGE: u64 = 50;

const DEPTH_VERSIONS: Versions = Versions {
    subject: "keyset_at_depth",
    floor: "keyset_first_page",
    other: "offset_at_depth",
};

const STATEMENT_VERSIONS: Versions = Versions {
    subject: "generated",
    floor: "handwritten",
    other: "generated_first_page",
};

fn big() -> TenantCtx {
    TenantCtx::trusted(
        "big".parse().unwrap(),
        "tenant_big".parse().unwrap(),
        Plan::Pro,
    )
}

/// Hand-written keyset statements (what `Repo::page` renders) and the seeding statement.
struct Sql {
    seed: &'static str,
    after_key: &'static str,
    after_amount: &'static str,
}

// `amount` is a permutation-like spread (id * 7919 mod 1,000,003) so ties are rare but possible.
const SQLITE: Sql = Sql {
    seed: "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?2) \
           INSERT INTO items (tenant_id, id, amount, name) \
           SELECT ?1, i, (i * 7919) % 1000003, 'item ' || i FROM n",
    after_key: r#"SELECT "id", "tenant_id", "amount", "name" FROM "items" WHERE "id" > ? AND "tenant_id" = ? ORDER BY "id" ASC LIMIT ?"#,
    after_amount: r#"SELECT "id", "tenant_id", "amount", "name" FROM "items" WHERE "amount" <= ? AND ("amount" < ? OR ("amount" = ? AND "id" > ?)) AND "tenant_id" = ? ORDER BY "amount" DESC, "id" ASC LIMIT ?"#,
};

const POSTGRES: Sql = Sql {
    seed: "INSERT INTO items (tenant_id, id, amount, name) \
           SELECT $1, i, (i * 7919) % 1000003, 'item ' || i FROM generate_series(1, $2::bigint) AS i",
    after_key: r#"SELECT "id", "tenant_id", "amount", "name" FROM "items" WHERE "id" > $1 AND "tenant_id" = $2 ORDER BY "id" ASC LIMIT $3"#,
    after_amount: r#"SELECT "id", "tenant_id", "amount", "name" FROM "items" WHERE "amount" <= $1 AND ("amount" < $2 OR ("amount" = $3 AND "id" > $4)) AND "tenant_id" = $5 ORDER BY "amount" DESC, "id" ASC LIMIT $6"#,
};

macro_rules! backend_benches {
    ($name:ident, $db:ty, $pool:ty, $sql:expr) => {
        fn decode(row: &<$db as sqlx::Database>::Row) -> Result<Item, sqlx::Error> {
            Ok(Item {
                id: row.try_get(0)?,
                tenant_id: row.try_get(1)?,
                amount: row.try_get(2)?,
                name: row.try_get(3)?,
            })
        }

        pub(crate) async fn seed(pool: &$pool) {
            let sql: Sql = $sql;
            ItemRepo::new(pool).create_table().await.unwrap();
            sqlx::query(sql.seed)
                .bind("big")
                .bind(BIG_ROWS)
                .execute(pool)
                .await
                .unwrap();
            for t in 0..OTHER_TENANTS {
                sqlx::query(sql.seed)
                    .bind(format!("t{t:02}"))
                    .bind(OTHER_ROWS)
                    .execute(pool)
                    .await
                    .unwrap();
            }
            let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM items")
                .fetch_one(pool)
                .await
                .unwrap();
            assert_eq!(total, BIG_ROWS + OTHER_TENANTS * OTHER_ROWS);
            eprintln!(
                "{}: seeded {total} rows of {} tenants",
                stringify!($name),
                OTHER_TENANTS + 1
            );
        }

        /// The cursor after the first `DEPTH` rows in `order`, and the last row before it.
        async fn deep_cursor(
            pool: &$pool,
            ctx: &TenantCtx,
            order: &tenant::sqlx::Order<Item>,
        ) -> (Cursor<Item>, Item) {
            let mut repo = ItemRepo::new(pool);
            let (mut after, mut last, mut seen) = (None, None, 0);
            while seen < DEPTH {
                let page = repo
                    .page(ctx, PageRequest::new(order.clone(), 10_000).after(after))
                    .await
                    .unwrap();
                seen += page.items.len() as u64;
                last = page.items.last().cloned();
                after = page.next;
            }
            (after.unwrap(), last.unwrap())
        }

        pub(crate) fn run(
            c: &mut Criterion,
            label: &str,
            rt: &tokio::runtime::Runtime,
            pool: &$pool,
        ) {
            let sql: Sql = $sql;
            let ctx = big();
            let tenant = ctx.tenant_id().as_str();
            let columns = Item::columns();
            let repo = || ItemRepo::new(pool);

            for (order_name, order) in [
                ("by_key", columns.id.asc()),
                ("by_amount_desc", columns.amount.desc()),
            ] {
                let (cursor, last) = rt.block_on(deep_cursor(pool, &ctx, &order));
                let deep = || PageRequest::new(order.clone(), PAGE).after(Some(cursor.clone()));
                let first = || PageRequest::new(order.clone(), PAGE);
                compare(
                    c,
                    rt,
                    &DEPTH_VERSIONS,
                    &format!("{label}/page_depth_{DEPTH}_{order_name}"),
                    async || checked(repo().page(&ctx, deep()).await.unwrap().items),
                    async || checked(repo().page(&ctx, first()).await.unwrap().items),
                    async || {
                        let mut repo = repo();
                        let rows = repo
                            .select(&ctx)
                            .order(order.clone())
                            .offset(DEPTH)
                            .limit(PAGE)
                            .all()
                            .await
                            .unwrap();
                        checked(rows)
                    },
                    &|| (),
                );

                // The same keyset statement, hand-written: limit + 1 rows, as the repository
                // fetches one more to know whether there is a next page.
                let limit = PAGE as i64 + 1;
                compare(
                    c,
                    rt,
                    &STATEMENT_VERSIONS,
                    &format!("{label}/page_{order_name}_vs_handwritten"),
                    async || checked(repo().page(&ctx, deep()).await.unwrap().items),
                    async || {
                        let query = if order_name == "by_key" {
                            sqlx::query(sql.after_key)
                                .bind(last.id)
                                .bind(tenant)
                                .bind(limit)
                        } else {
                            sqlx::query(sql.after_amount)
                                .bind(last.amount)
                                .bind(last.amount)
                                .bind(last.amount)
                                .bind(last.id)
                                .bind(tenant)
                                .bind(limit)
                        };
                        let mut rows = query
                            .try_map(|row| decode(&row))
                            .fetch_all(pool)
                            .await
                            .unwrap();
                        rows.truncate(PAGE as usize);
                        checked(rows)
                    },
                    async || checked(repo().page(&ctx, first()).await.unwrap().items),
                    &|| (),
                );
            }
        }
    };
}

fn checked(rows: Vec<Item>) -> Vec<Item> {
    assert_eq!(rows.len(), PAGE as usize);
    rows
}

mod sqlite {
    use super::*;
    backend_benches!(sqlite, sqlx::Sqlite, sqlx::SqlitePool, SQLITE);
}

mod postgres {
    use super::*;
    backend_benches!(postgres, sqlx::Postgres, sqlx::PgPool, POSTGRES);
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let pool = rt.block_on(async {
        let options = sqlx::sqlite::SqlitePoolOptions::new().max_connections(1);
        let pool = options.connect("sqlite::memory:").await.unwrap();
        sqlite::seed(&pool).await;
        pool
    });
    sqlite::run(&mut c, "sqlite", &rt, &pool);
    drop(pool);

    match std::env::var("DATABASE_URL") {
        Ok(url) => {
            static SCHEMA: AtomicI64 = AtomicI64::new(0);
            let pool = rt.block_on(async {
                let schema = format!(
                    "bench_pages_{}_{}",
                    std::process::id(),
                    SCHEMA.fetch_add(1, Ordering::Relaxed)
                );
                let admin = sqlx::PgPool::connect(&url).await.unwrap();
                let pool = tenant_benches::fresh_schema(&admin, &url, &schema).await;
                postgres::seed(&pool).await;
                sqlx::query("ANALYZE items").execute(&pool).await.unwrap();
                (pool, admin, schema)
            });
            postgres::run(&mut c, "postgres", &rt, &pool.0);
            rt.block_on(async {
                pool.0.close().await;
                sqlx::query(AssertSqlSafe(format!("DROP SCHEMA {} CASCADE", pool.2)))
                    .execute(&pool.1)
                    .await
                    .unwrap();
            });
        }
        Err(_) => eprintln!("notice: PostgreSQL benchmarks skipped: DATABASE_URL is not set"),
    }
    c.final_summary();
    tenant_benches::report("bench-pages.md");
}
