//! What a checked query costs at run time (issue 22): `tenant::sqlx::query!` and its siblings
//! against the same statement hand-written with sqlx, the SQL the macro renders (checked equal
//! at start-up) with the tenant bound by hand as its last parameter.
//!
//! Four statements, on SQLite in-memory always and on PostgreSQL when DATABASE_URL is set: a
//! point get, a three-table join with GROUP BY, an UPDATE and an INSERT .. SELECT. Every group
//! runs three versions, each on a pool of its own (one connection), in interleaved rounds:
//!
//! - `checked`: the macro's query;
//! - `handwritten`: `sqlx::query_as(SQL).bind(..).bind(tenant)` (the floor);
//! - `handwritten_again`: the floor once more on a third pool, the A/A control: how far from
//!   1.000 two identical versions land shows what the rounds can resolve.

// The entities below are benchmark fixtures, public only so the macro generates what a user's
// public entity gets; they are not documented API.
#![allow(missing_docs)]

use std::sync::atomic::{AtomicI64, Ordering};

use criterion::Criterion;
use tenant::sqlx::{query, query_as};
use tenant::{Plan, TenantCtx, TenantId, tenant_scoped};
use tenant_benches::{Versions, compare};

#[tenant_scoped(table = "invoices")]
#[derive(Debug, Clone, PartialEq)]
pub struct Invoice {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    pub customer_id: i64,
    pub amount_cents: i64,
    pub paid: bool,
}

#[tenant_scoped(table = "customers")]
#[derive(Debug, Clone, PartialEq)]
pub struct Customer {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    pub name: String,
}

#[tenant_scoped(table = "payments")]
#[derive(Debug, Clone, PartialEq)]
pub struct Payment {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    pub invoice_id: i64,
    pub amount_cents: i64,
}

const CHECKED: Versions = Versions {
    subject: "checked",
    floor: "handwritten",
    other: "handwritten_again",
};

/// Invoices per tenant; each has two payments, and customer `id % CUSTOMERS`.
const INVOICES: i64 = 100;
const CUSTOMERS: i64 = 10;
/// Ids of the payments `insert_select` adds start here; each batch's are deleted after it.
const INSERTED_FROM: i64 = 1_000_000;

/// The statements as the macro renders them: the entity's table quoted, every reference
/// restricted to the tenant, bound last. `run` checks each against the macro's own text.
mod sql {
    pub(crate) const GET: &str = r#"SELECT id, customer_id, amount_cents, paid FROM "invoices" AS __tenant_a0__ WHERE (id = $1) AND __tenant_a0__."tenant_id" = $2"#;
    pub(crate) const JOIN_GROUP: &str = r#"SELECT c.name, CAST(count(*) AS BIGINT), CAST(sum(p.amount_cents) AS BIGINT) FROM "invoices" i JOIN "customers" c ON c.id = i.customer_id JOIN "payments" p ON p.invoice_id = i.id WHERE i."tenant_id" = $1 AND c."tenant_id" = $1 AND p."tenant_id" = $1 GROUP BY c.name ORDER BY c.name"#;
    pub(crate) const UPDATE: &str = r#"UPDATE "invoices" AS __tenant_a0__ SET amount_cents = $1 WHERE (id = $2) AND __tenant_a0__."tenant_id" = $3"#;
    pub(crate) const INSERT_SELECT: &str = r#"INSERT INTO "payments" (id, invoice_id, amount_cents, "tenant_id") SELECT $1, i.id, i.amount_cents, $3 FROM "invoices" i WHERE (i.id = $2) AND i."tenant_id" = $3"#;
    pub(crate) const RESET: &str = "DELETE FROM payments WHERE id >= 1000000";
}

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

/// The three tables, and for two tenants with colliding keys: 10 customers, 100 invoices, 200
/// payments (through the repositories, so the rows are what the application writes).
macro_rules! seed {
    ($pool:expr) => {{
        let pool = $pool;
        InvoiceRepo::new(&pool).create_table().await.unwrap();
        CustomerRepo::new(&pool).create_table().await.unwrap();
        PaymentRepo::new(&pool).create_table().await.unwrap();
        for tenant in ["acme", "globex"] {
            let ctx = TenantCtx::trusted(tenant.parse().unwrap(), "s".parse().unwrap(), Plan::Free);
            for id in 0..CUSTOMERS {
                let name = format!("{tenant} customer {id}");
                CustomerRepo::new(&pool)
                    .insert(&ctx, NewCustomer { id, name })
                    .await
                    .unwrap();
            }
            for id in 0..INVOICES {
                let new = NewInvoice {
                    id,
                    customer_id: id % CUSTOMERS,
                    amount_cents: id * 100,
                    paid: false,
                };
                InvoiceRepo::new(&pool).insert(&ctx, new).await.unwrap();
                for k in 0..2 {
                    let payment = NewPayment {
                        id: 2 * id + k,
                        invoice_id: id,
                        amount_cents: 10 * id + k,
                    };
                    PaymentRepo::new(&pool).insert(&ctx, payment).await.unwrap();
                }
            }
        }
        pool
    }};
}

type Grouped = (String, i64, i64);

macro_rules! backend_benches {
    ($pool:ty) => {
        /// `pools`: the checked version's, the floor's and the control's, on the same rows.
        pub(crate) fn run(
            c: &mut Criterion,
            label: &str,
            rt: &tokio::runtime::Runtime,
            pools: [$pool; 3],
        ) {
            let [checked, floor, again] = &pools;
            let ctx = ctx();
            let tenant = ctx.tenant_id().as_str();
            let name = |op: &str| format!("{label}/{op}");
            let next_id = AtomicI64::new(INSERTED_FROM);
            let fresh_id = || next_id.fetch_add(1, Ordering::Relaxed);

            // The floor runs the macro's very statement: a change in the rendering fails here,
            // not silently in the ratios.
            let get = |ctx| {
                query_as!(ctx, (i64, i64, i64, bool), "SELECT id, customer_id, amount_cents, paid FROM {Invoice} WHERE id = $1", 42_i64)
            };
            let join_group = |ctx| {
                query_as!(
                    ctx,
                    Grouped,
                    "SELECT c.name, CAST(count(*) AS BIGINT), CAST(sum(p.amount_cents) AS BIGINT) \
                     FROM {Invoice} i JOIN {Customer} c ON c.id = i.customer_id \
                     JOIN {Payment} p ON p.invoice_id = i.id GROUP BY c.name ORDER BY c.name"
                )
            };
            let update = |ctx, cents: i64| {
                query!(ctx, "UPDATE {Invoice} SET amount_cents = $1 WHERE id = $2", cents, 42_i64)
            };
            let insert_select = |ctx, id: i64| {
                query!(
                    ctx,
                    "INSERT INTO {Payment} (id, invoice_id, amount_cents) \
                     SELECT $1, i.id, i.amount_cents FROM {Invoice} i WHERE i.id = $2",
                    id,
                    42_i64
                )
            };
            assert_eq!(get(&ctx).sql(), sql::GET);
            assert_eq!(join_group(&ctx).sql(), sql::JOIN_GROUP);
            assert_eq!(update(&ctx, 0).sql(), sql::UPDATE);
            assert_eq!(insert_select(&ctx, 0).sql(), sql::INSERT_SELECT);

            let by_hand_get = async |pool: &$pool| {
                sqlx::query_as::<_, (i64, i64, i64, bool)>(sql::GET)
                    .bind(42_i64)
                    .bind(tenant)
                    .fetch_one(pool)
                    .await
                    .unwrap()
            };
            let expected = rt.block_on(by_hand_get(floor));
            assert_eq!(rt.block_on(get(&ctx).fetch_one(checked)).unwrap(), expected);
            compare(
                c,
                rt,
                &CHECKED,
                &name("get"),
                async || get(&ctx).fetch_one(checked).await.unwrap(),
                async || by_hand_get(floor).await,
                async || by_hand_get(again).await,
                &|| (),
            );

            let by_hand_join = async |pool: &$pool| {
                sqlx::query_as::<_, Grouped>(sql::JOIN_GROUP)
                    .bind(tenant)
                    .fetch_all(pool)
                    .await
                    .unwrap()
            };
            let grouped = rt.block_on(by_hand_join(floor));
            assert_eq!(grouped.len(), CUSTOMERS as usize);
            assert_eq!(rt.block_on(join_group(&ctx).fetch_all(checked)).unwrap(), grouped);
            compare(
                c,
                rt,
                &CHECKED,
                &name("join3_group_by"),
                async || join_group(&ctx).fetch_all(checked).await.unwrap(),
                async || by_hand_join(floor).await,
                async || by_hand_join(again).await,
                &|| (),
            );

            let by_hand_update = async |pool: &$pool| {
                let done = sqlx::query(sql::UPDATE)
                    .bind(4200_i64)
                    .bind(42_i64)
                    .bind(tenant)
                    .execute(pool)
                    .await
                    .unwrap();
                assert_eq!(done.rows_affected(), 1);
            };
            compare(
                c,
                rt,
                &CHECKED,
                &name("update"),
                async || {
                    let done = update(&ctx, 4200).execute(checked).await.unwrap();
                    assert_eq!(done.rows_affected(), 1);
                },
                async || by_hand_update(floor).await,
                async || by_hand_update(again).await,
                &|| (),
            );

            let by_hand_insert = async |pool: &$pool| {
                let done = sqlx::query(sql::INSERT_SELECT)
                    .bind(fresh_id())
                    .bind(42_i64)
                    .bind(tenant)
                    .execute(pool)
                    .await
                    .unwrap();
                assert_eq!(done.rows_affected(), 1);
            };
            // Each batch's rows go again, untimed, so every version inserts into a table of
            // the same size.
            let reset = || {
                rt.block_on(async {
                    for pool in &pools {
                        sqlx::query(sql::RESET).execute(pool).await.unwrap();
                    }
                })
            };
            compare(
                c,
                rt,
                &CHECKED,
                &name("insert_select"),
                async || {
                    let done = insert_select(&ctx, fresh_id()).execute(checked).await.unwrap();
                    assert_eq!(done.rows_affected(), 1);
                },
                async || by_hand_insert(floor).await,
                async || by_hand_insert(again).await,
                &reset,
            );
        }
    };
}

mod sqlite {
    use super::*;
    backend_benches!(sqlx::SqlitePool);
}

mod postgres {
    use super::*;
    backend_benches!(sqlx::PgPool);
}

/// A pool of one connection on `schema` whose commits do not wait for the WAL to reach the disk
/// (`synchronous_commit = off`): what is compared is the statement, and a flush's latency on
/// this shared VM's disk spread the UPDATE's per-round ratios from 0.2 to 5 (the A/A control's
/// too).
async fn writes_unflushed(url: &str, schema: &str) -> sqlx::PgPool {
    let options: sqlx::postgres::PgConnectOptions = url.parse().unwrap();
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options.options([("search_path", schema), ("synchronous_commit", "off")]))
        .await
        .unwrap()
}

fn benches(c: &mut Criterion) {
    let rt = runtime();
    // Three in-memory databases seeded alike: in-memory SQLite cannot share one across pools.
    let sqlite_pools = [(); 3].map(|()| {
        rt.block_on(async {
            let options = sqlx::sqlite::SqlitePoolOptions::new().max_connections(1);
            seed!(options.connect("sqlite::memory:").await.unwrap())
        })
    });
    sqlite::run(c, "sqlite", &rt, sqlite_pools);

    match std::env::var("DATABASE_URL") {
        Ok(url) => {
            let pools = rt.block_on(async {
                let schema = format!("bench_checked_{}", std::process::id());
                let admin = sqlx::PgPool::connect(&url).await.unwrap();
                let first = tenant_benches::fresh_schema(&admin, &url, &schema).await;
                admin.close().await;
                let first = seed!(first);
                sqlx::query("ANALYZE").execute(&first).await.unwrap();
                first.close().await;
                [
                    writes_unflushed(&url, &schema).await,
                    writes_unflushed(&url, &schema).await,
                    writes_unflushed(&url, &schema).await,
                ]
            });
            postgres::run(c, "postgres", &rt, pools);
        }
        Err(_) => eprintln!("notice: PostgreSQL benchmarks skipped: DATABASE_URL is not set"),
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c);
    c.final_summary();
    tenant_benches::report("bench-checked-ratios.md");
}
