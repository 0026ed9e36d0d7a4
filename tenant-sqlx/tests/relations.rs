//! Relations that carry the tenant (`#[belongs_to]`), on SQLite always and on PostgreSQL when
//! `DATABASE_URL` is set. Both tenants hold parents with the same keys, and one key only the
//! other tenant has: a foreign key on the key alone would let a row point across tenants; the
//! composite (tenant, key) one must refuse it, on every write path.

#![allow(missing_docs)] // test entities

use tenant_test_support as support;

use support::ctx;
use tenant::sqlx::{Error, Migration};
use tenant::{Plan, TenantCtx, TenantId, tenant_scoped};

#[tenant_scoped(table = "customers")]
#[derive(Debug, Clone, PartialEq)]
pub struct Customer {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    pub name: String,
}

/// A text key, for an optional foreign key.
#[tenant_scoped(table = "coupons")]
#[derive(Debug, Clone, PartialEq)]
pub struct Coupon {
    #[key]
    pub code: String,
    #[tenant]
    pub tenant_id: TenantId,
    pub percent: i64,
}

#[tenant_scoped(table = "orders")]
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    #[belongs_to(Customer)]
    pub customer_id: i64,
    #[belongs_to(Coupon)]
    pub coupon: Option<String>,
    pub total: i64,
}

/// A generated key: on SQLite the rowid is the primary key and (tenant, key) a unique index,
/// which the child's foreign key references.
#[tenant_scoped(table = "projects")]
#[derive(Debug, Clone, PartialEq)]
pub struct Project {
    #[key(generated)]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    pub name: String,
}

#[tenant_scoped(table = "tasks")]
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    #[belongs_to(Project)]
    pub project_id: i64,
    pub title: String,
}

fn order(id: i64, customer_id: i64, coupon: Option<&str>) -> NewOrder {
    NewOrder {
        id,
        customer_id,
        coupon: coupon.map(str::to_owned),
        total: 100 * id,
    }
}

fn is_foreign_key<T: std::fmt::Debug>(result: Result<T, Error>, table: &str) {
    match result {
        Err(Error::ForeignKey { table: t, .. }) if t == table => {}
        other => panic!("expected Error::ForeignKey on {table}, got {other:?}"),
    }
}

macro_rules! relations_suite {
    ($backend:ident, $pool_type:ty, |$test:ident| $pool:expr) => {
        mod $backend {
            use super::*;

            /// Customers: acme 1, 2, 4; globex 1, 3 (3 is globex's only). Coupons: acme ACME5,
            /// globex GLOBEX10. Orders: acme 10 -> 1, 11 -> 2 (ACME5); globex 10 -> 1,
            /// 12 -> 3 (GLOBEX10). The tables are created children first, through a migration,
            /// which puts the parents first.
            async fn seeded($test: &str) -> Option<($pool_type, TenantCtx, TenantCtx)> {
                let pool = $pool?;
                let migration = Migration::new("shop")
                    .entity::<Order>()
                    .entity::<Task>()
                    .entity::<Customer>()
                    .entity::<Coupon>()
                    .entity::<Project>();
                let sql = migration.sql::<<$pool_type as PoolDb>::Db>().unwrap();
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                    .execute(&pool)
                    .await
                    .unwrap();
                let (acme, globex) = (ctx("acme", Plan::Pro), ctx("globex", Plan::Free));
                let mut customers = CustomerRepo::new(&pool);
                let mut coupons = CouponRepo::new(&pool);
                let mut orders = OrderRepo::new(&pool);
                for (ctx, ids, code, percent) in [
                    (&acme, [1, 2, 4], "ACME5", 5),
                    (&globex, [1, 3, 0], "GLOBEX10", 10),
                ] {
                    for id in ids.into_iter().filter(|&id| id != 0) {
                        let name = format!("{}-{id}", ctx.tenant_id());
                        customers
                            .insert(ctx, NewCustomer { id, name })
                            .await
                            .unwrap();
                    }
                    coupons
                        .insert(
                            ctx,
                            NewCoupon {
                                code: code.into(),
                                percent,
                            },
                        )
                        .await
                        .unwrap();
                }
                orders.insert(&acme, order(10, 1, None)).await.unwrap();
                orders
                    .insert(&acme, order(11, 2, Some("ACME5")))
                    .await
                    .unwrap();
                orders.insert(&globex, order(10, 1, None)).await.unwrap();
                orders
                    .insert(&globex, order(12, 3, Some("GLOBEX10")))
                    .await
                    .unwrap();
                Some((pool, acme, globex))
            }

            macro_rules! setup {
                ($name:literal) => {{
                    let Some(seeded) = seeded($name).await else {
                        return;
                    };
                    seeded
                }};
            }

            #[tokio::test]
            async fn a_child_cannot_point_at_another_tenants_parent() {
                let (pool, acme, globex) = setup!("insert_across");
                let mut orders = OrderRepo::new(&pool);
                // Customer 3 exists, but only for globex.
                is_foreign_key(orders.insert(&acme, order(20, 3, None)).await, "orders");
                // So does coupon GLOBEX10.
                is_foreign_key(
                    orders.insert(&acme, order(21, 1, Some("GLOBEX10"))).await,
                    "orders",
                );
                // No such parent at all.
                is_foreign_key(orders.insert(&acme, order(22, 99, None)).await, "orders");
                // A batch with one such row: refused, and nothing of it inserted.
                let batch = [order(23, 1, None), order(24, 3, None)];
                is_foreign_key(orders.insert_many(&acme, batch).await, "orders");
                assert_eq!(orders.count(&acme).await.unwrap(), 2);
                // Its own parents: fine, with and without the optional one.
                orders.insert(&acme, order(20, 4, None)).await.unwrap();
                orders
                    .insert(&acme, order(21, 1, Some("ACME5")))
                    .await
                    .unwrap();
                orders
                    .insert_many(
                        &globex,
                        [order(20, 3, None), order(21, 1, Some("GLOBEX10"))],
                    )
                    .await
                    .unwrap();
                assert_eq!(orders.count(&acme).await.unwrap(), 4);
                assert_eq!(orders.count(&globex).await.unwrap(), 4);
            }

            #[tokio::test]
            async fn updates_and_upserts_cannot_move_a_child_to_another_tenants_parent() {
                let (pool, acme, _) = setup!("update_across");
                let mut orders = OrderRepo::new(&pool);
                let to = |customer_id| OrderPatch {
                    customer_id: Some(customer_id),
                    ..Default::default()
                };
                is_foreign_key(orders.update(&acme, 10, to(3)).await, "orders");
                let c = Order::columns();
                is_foreign_key(
                    orders.update_where(&acme, c.total.gt(0), to(3)).await,
                    "orders",
                );
                let to_coupon = OrderPatch {
                    coupon: Some(Some("GLOBEX10".into())),
                    ..Default::default()
                };
                is_foreign_key(
                    orders.update_where(&acme, c.id.eq(10), to_coupon).await,
                    "orders",
                );
                // The conflict path (acme's order 10 exists) and the insert path.
                is_foreign_key(
                    orders.upsert(&acme, order(10, 1, None), to(3)).await,
                    "orders",
                );
                is_foreign_key(
                    orders
                        .upsert(&acme, order(30, 3, None), OrderPatch::default())
                        .await,
                    "orders",
                );
                let mine = orders.list(&acme).await.unwrap();
                assert_eq!(
                    mine.iter()
                        .map(|o| (o.id, o.customer_id))
                        .collect::<Vec<_>>(),
                    [(10, 1), (11, 2)]
                );
                // Within the tenant: fine.
                assert_eq!(orders.update(&acme, 10, to(4)).await.unwrap(), 1);
                let moved = orders
                    .upsert(&acme, order(10, 1, None), to(2))
                    .await
                    .unwrap();
                assert_eq!(moved.customer_id, 2);
            }

            #[tokio::test]
            async fn a_parent_with_children_cannot_be_deleted() {
                let (pool, acme, globex) = setup!("delete_parent");
                let mut customers = CustomerRepo::new(&pool);
                let mut orders = OrderRepo::new(&pool);
                is_foreign_key(customers.delete(&acme, 1).await, "customers");
                let c = Customer::columns();
                is_foreign_key(customers.delete_where(&acme, c.id.le(2)).await, "customers");
                is_foreign_key(
                    CouponRepo::new(&pool).delete(&acme, "ACME5".into()).await,
                    "coupons",
                );
                assert_eq!(customers.count(&acme).await.unwrap(), 3);
                // A parent without children goes.
                assert_eq!(customers.delete(&acme, 4).await.unwrap(), 1);
                // Without its own children, acme's customer 1 goes, though globex's orders
                // point at globex's customer 1.
                assert_eq!(orders.delete(&acme, 10).await.unwrap(), 1);
                assert_eq!(customers.delete(&acme, 1).await.unwrap(), 1);
                assert!(customers.get(&globex, 1).await.unwrap().is_some());
                is_foreign_key(customers.delete(&globex, 1).await, "customers");
            }

            #[tokio::test]
            async fn the_join_reads_only_the_tenants_own_pairs() {
                let (pool, acme, globex) = setup!("join");
                let mut orders = OrderRepo::new(&pool);
                let pairs = orders.with_parent::<Customer>(&acme, None).await.unwrap();
                let seen: Vec<_> = pairs
                    .iter()
                    .map(|(o, c)| (o.id, c.id, c.name.as_str()))
                    .collect();
                assert_eq!(seen, [(10, 1, "acme-1"), (11, 2, "acme-2")]);
                assert!(pairs.iter().all(|(o, c)| {
                    o.tenant_id.as_str() == "acme" && c.tenant_id.as_str() == "acme"
                }));
                let pairs = orders.with_parent::<Customer>(&globex, None).await.unwrap();
                let seen: Vec<_> = pairs
                    .iter()
                    .map(|(o, c)| (o.id, c.id, c.name.as_str()))
                    .collect();
                assert_eq!(seen, [(10, 1, "globex-1"), (12, 3, "globex-3")]);
                // A filter on the child, including one that would match every tenant's rows
                // if the tenant predicates were inside the OR.
                let c = Order::columns();
                let filtered = orders
                    .with_parent::<Customer>(&acme, c.total.ge(1100).or(c.total.lt(1100)))
                    .await
                    .unwrap();
                assert_eq!(filtered.len(), 2);
                let one = orders
                    .with_parent::<Customer>(&acme, c.customer_id.eq(2))
                    .await
                    .unwrap();
                assert_eq!(one.len(), 1);
                assert_eq!(one[0].1.name, "acme-2");
                // The optional parent: orders without a coupon have no pair.
                let with_coupons = orders.with_parent::<Coupon>(&globex, None).await.unwrap();
                assert_eq!(with_coupons.len(), 1);
                assert_eq!((with_coupons[0].0.id, with_coupons[0].1.percent), (12, 10));
                // The children of one parent: a filter on the foreign key column.
                let of_customer_1 = orders
                    .list_where(&globex, c.customer_id.eq(1))
                    .await
                    .unwrap();
                assert_eq!(of_customer_1.iter().map(|o| o.id).collect::<Vec<_>>(), [10]);
                // A tenant with nothing sees nothing.
                let initech = ctx("initech", Plan::Free);
                assert!(
                    orders
                        .with_parent::<Customer>(&initech, None)
                        .await
                        .unwrap()
                        .is_empty()
                );
            }

            #[tokio::test]
            async fn a_generated_parent_key_is_referenced_with_its_tenant() {
                let (pool, acme, globex) = setup!("generated_parent");
                let mut projects = ProjectRepo::new(&pool);
                let mut tasks = TaskRepo::new(&pool);
                let mine = projects
                    .insert(&acme, NewProject { name: "a".into() })
                    .await
                    .unwrap();
                let theirs = projects
                    .insert(&globex, NewProject { name: "g".into() })
                    .await
                    .unwrap();
                let task = |id, project_id| NewTask {
                    id,
                    project_id,
                    title: "t".into(),
                };
                is_foreign_key(tasks.insert(&acme, task(1, theirs.id)).await, "tasks");
                tasks.insert(&acme, task(1, mine.id)).await.unwrap();
                let pairs = tasks.with_parent::<Project>(&acme, None).await.unwrap();
                assert_eq!(pairs.len(), 1);
                assert_eq!(pairs[0].1, mine);
                is_foreign_key(projects.delete(&acme, mine.id).await, "projects");
            }
        }
    };
}

/// The database of a pool type, for `Migration::sql`.
trait PoolDb {
    type Db: tenant::sqlx::Backend;
}

impl PoolDb for sqlx::SqlitePool {
    type Db = sqlx::Sqlite;
}

impl PoolDb for sqlx::PgPool {
    type Db = sqlx::Postgres;
}

relations_suite!(sqlite, sqlx::SqlitePool, |_test| Some(
    support::sqlite().await
));
relations_suite!(postgres, sqlx::PgPool, |test| support::postgres(test).await);

/// sqlx turns SQLite's foreign keys on for every connection it opens (SQLite leaves them off by
/// default); the composite foreign keys rely on it.
#[tokio::test]
async fn sqlx_turns_sqlite_foreign_keys_on() {
    let pool = support::sqlite().await;
    let on: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(on, 1);
}

/// PostgreSQL: the table's creation fails when the parent's table does not exist yet, so the
/// parents go first (as `Migration` and `TenantSchema` order them).
#[tokio::test]
async fn postgres_creates_a_child_only_after_its_parent() {
    let Some(pool) = support::postgres("create_order").await else {
        return;
    };
    assert!(OrderRepo::new(&pool).create_table().await.is_err());
    CustomerRepo::new(&pool).create_table().await.unwrap();
    CouponRepo::new(&pool).create_table().await.unwrap();
    OrderRepo::new(&pool).create_table().await.unwrap();
}

/// PostgreSQL: the foreign key alone (no row-level security here) refuses raw SQL that points a
/// row at another tenant's parent.
#[tokio::test]
async fn postgres_refuses_a_raw_cross_tenant_child() {
    let Some(pool) = support::postgres("raw_cross_tenant").await else {
        return;
    };
    CustomerRepo::new(&pool).create_table().await.unwrap();
    CouponRepo::new(&pool).create_table().await.unwrap();
    OrderRepo::new(&pool).create_table().await.unwrap();
    sqlx::raw_sql("INSERT INTO customers (tenant_id, id, name) VALUES ('globex', 3, 'g')")
        .execute(&pool)
        .await
        .unwrap();
    let refused = sqlx::raw_sql(
        "INSERT INTO orders (tenant_id, id, customer_id, total) VALUES ('acme', 1, 3, 1)",
    )
    .execute(&pool)
    .await
    .unwrap_err();
    let code = refused
        .as_database_error()
        .and_then(|e| e.code())
        .map(|c| c.into_owned());
    assert_eq!(code.as_deref(), Some("23503"), "{refused}"); // foreign_key_violation
    sqlx::raw_sql(
        "INSERT INTO orders (tenant_id, id, customer_id, total) VALUES ('globex', 1, 3, 1)",
    )
    .execute(&pool)
    .await
    .unwrap();
}

/// The isolation audit finds a `#[belongs_to]` foreign key dropped, replaced by one on the key
/// alone, or added back unvalidated.
#[tokio::test]
async fn the_isolation_audit_finds_a_missing_foreign_key() {
    use tenant::sqlx::{Finding, IsolationAudit};

    // The owner (`pool`) breaks the invariant; the audit runs as the application role (`app`),
    // on a database where it owns nothing and has no TEMP, so nothing else is found.
    let Some((pool, app)) = support::postgres_app_database("audit_foreign_key", 1).await else {
        return;
    };
    support::install_row_security(&pool).await;
    CustomerRepo::new(&pool).create_table().await.unwrap();
    CouponRepo::new(&pool).create_table().await.unwrap();
    OrderRepo::new(&pool).create_table().await.unwrap();
    CustomerRepo::new(&pool).row_level_security().await.unwrap();
    CouponRepo::new(&pool).row_level_security().await.unwrap();
    OrderRepo::new(&pool).row_level_security().await.unwrap();
    let audit = IsolationAudit::new()
        .entity::<Customer>()
        .entity::<Coupon>()
        .entity::<Order>();
    audit.ensure(&app).await.unwrap();

    let run = |sql: &'static str| {
        let pool = pool.clone();
        async move { sqlx::raw_sql(sql).execute(&pool).await.unwrap() }
    };
    let missing = vec![Finding::ForeignKeyMissing {
        table: "orders",
        columns: vec!["tenant_id", "customer_id"],
        references: "customers (tenant_id, id)".into(),
    }];
    run("ALTER TABLE orders DROP CONSTRAINT t6_orders_customer_id_fkey").await;
    assert_eq!(audit.findings(&app).await.unwrap(), missing);
    assert!(matches!(
        audit.ensure(&app).await,
        Err(tenant::sqlx::Error::Isolation(_))
    ));
    // A foreign key on the key alone does not carry the tenant.
    run("CREATE UNIQUE INDEX customers_id ON customers (id); \
         ALTER TABLE orders ADD CONSTRAINT by_key FOREIGN KEY (customer_id) REFERENCES customers (id)")
    .await;
    assert_eq!(audit.findings(&app).await.unwrap(), missing);
    run("ALTER TABLE orders DROP CONSTRAINT by_key").await;
    // Added back NOT VALID: existing rows were never checked.
    run(
        "ALTER TABLE orders ADD CONSTRAINT t6_orders_customer_id_fkey \
         FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id) NOT VALID",
    )
    .await;
    assert_eq!(audit.findings(&app).await.unwrap(), missing);
    run("ALTER TABLE orders VALIDATE CONSTRAINT t6_orders_customer_id_fkey").await;
    audit.ensure(&app).await.unwrap();
}
