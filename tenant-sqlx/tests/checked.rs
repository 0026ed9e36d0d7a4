//! Checked queries (`tenant::sqlx::query!`, `query_as!`, `query_scalar!`) at run time, on SQLite
//! always and on PostgreSQL when `DATABASE_URL` is set. Two tenants hold rows with the same keys,
//! and each statement is one where a missing tenant restriction shows: a join that would pair
//! acme's customer 1 with globex's invoices of customer 1, a LEFT JOIN or anti-join that would
//! find globex's invoice of acme's customer 4, an aggregate that would count globex's rows. Each
//! test asserts the exact rows of the tenant: nothing leaked, nothing lost.

#![allow(missing_docs)] // test entities

use tenant_test_support as support;

use futures::TryStreamExt as _;
use support::ctx;
use tenant::sqlx::{Error, TenantTx, query, query_as, query_scalar};
use tenant::{Plan, TenantCtx, TenantId, tenant_scoped};

#[tenant_scoped(table = "customers")]
#[derive(Debug, Clone, PartialEq)]
pub struct Customer {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    pub name: String,
    pub country: String,
}

#[tenant_scoped(table = "invoices")]
#[derive(Debug, Clone, PartialEq)]
pub struct Invoice {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    pub customer_id: i64,
    pub total: i64,
}

#[tenant_scoped(table = "payments")]
#[derive(Debug, Clone, PartialEq)]
pub struct Payment {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    pub invoice_id: i64,
    pub cents: i64,
}

/// Where `INSERT .. SELECT` copies invoices to.
#[tenant_scoped(table = "archived_invoices")]
#[derive(Debug, Clone, PartialEq)]
pub struct Archived {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    pub total: i64,
}

/// A tree, for the recursive CTE: both tenants have nodes 1 and 2, and globex's node 4 hangs
/// under its node 2, where a walk that crossed tenants would find it from acme's node 1.
#[tenant_scoped(table = "categories")]
#[derive(Debug, Clone, PartialEq)]
pub struct Category {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    pub parent_id: Option<i64>,
}

/// A report row, decoded by name (as `#[derive(sqlx::FromRow)]` would, without sqlx's macros).
#[derive(Debug, PartialEq)]
pub struct Owed {
    pub name: String,
    pub invoices: i64,
    pub paid: i64,
}

impl<'r, R: sqlx::Row> sqlx::FromRow<'r, R> for Owed
where
    &'static str: sqlx::ColumnIndex<R>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    fn from_row(row: &'r R) -> Result<Self, sqlx::Error> {
        Ok(Owed {
            name: row.try_get("name")?,
            invoices: row.try_get("invoices")?,
            paid: row.try_get("paid")?,
        })
    }
}

fn tenants() -> (TenantCtx, TenantCtx) {
    (ctx("acme", Plan::Pro), ctx("globex", Plan::Free))
}

macro_rules! checked_suite {
    ($backend:ident, $pool_type:ty, |$test:ident| $pool:expr) => {
        mod $backend {
            use super::*;

            /// acme: customers 1 Ann (DE), 2 Bob (FR), 4 Dee (FR, no invoice); invoices 1 and 2
            /// of Ann (100, 200), 3 of Bob (50); payments 1 (invoice 1, 100), 2 (invoice 2, 50);
            /// categories 1 <- 2 <- 3.
            /// globex: customers 1 Gus (FR), 3 Hal (DE); invoices 1 of Gus (1000), 2 of Hal
            /// (2000), 4 of Gus (10), 5 of customer 4 (7); payments 1 (invoice 2, 2000),
            /// 3 (invoice 4, 5); categories 1 <- 2 <- 4.
            async fn seeded($test: &str) -> Option<($pool_type, TenantCtx, TenantCtx)> {
                let pool = $pool?;
                let (acme, globex) = seed(&pool).await;
                Some((pool, acme, globex))
            }

            pub(super) async fn seed(pool: &$pool_type) -> (TenantCtx, TenantCtx) {
                let pool = pool.clone();
                let (acme, globex) = tenants();
                CustomerRepo::new(&pool).create_table().await.unwrap();
                InvoiceRepo::new(&pool).create_table().await.unwrap();
                PaymentRepo::new(&pool).create_table().await.unwrap();
                ArchivedRepo::new(&pool).create_table().await.unwrap();
                CategoryRepo::new(&pool).create_table().await.unwrap();
                sqlx::raw_sql(
                    "CREATE TABLE countries (code TEXT PRIMARY KEY, name TEXT NOT NULL); \
                     INSERT INTO countries VALUES ('DE', 'Germany'), ('FR', 'France')",
                )
                .execute(&pool)
                .await
                .unwrap();
                let customers = [
                    (&acme, 1, "Ann", "DE"),
                    (&acme, 2, "Bob", "FR"),
                    (&acme, 4, "Dee", "FR"),
                    (&globex, 1, "Gus", "FR"),
                    (&globex, 3, "Hal", "DE"),
                ];
                for (ctx, id, name, country) in customers {
                    let new = NewCustomer { id, name: name.into(), country: country.into() };
                    CustomerRepo::new(&pool).insert(ctx, new).await.unwrap();
                }
                let invoices = [
                    (&acme, 1, 1, 100),
                    (&acme, 2, 1, 200),
                    (&acme, 3, 2, 50),
                    (&globex, 1, 1, 1000),
                    (&globex, 2, 3, 2000),
                    (&globex, 4, 1, 10),
                    (&globex, 5, 4, 7),
                ];
                for (ctx, id, customer_id, total) in invoices {
                    let new = NewInvoice { id, customer_id, total };
                    InvoiceRepo::new(&pool).insert(ctx, new).await.unwrap();
                }
                let payments = [
                    (&acme, 1, 1, 100),
                    (&acme, 2, 2, 50),
                    (&globex, 1, 2, 2000),
                    (&globex, 3, 4, 5),
                ];
                for (ctx, id, invoice_id, cents) in payments {
                    let new = NewPayment { id, invoice_id, cents };
                    PaymentRepo::new(&pool).insert(ctx, new).await.unwrap();
                }
                let categories = [
                    (&acme, 1, None),
                    (&acme, 2, Some(1)),
                    (&acme, 3, Some(2)),
                    (&globex, 1, None),
                    (&globex, 2, Some(1)),
                    (&globex, 4, Some(2)),
                ];
                for (ctx, id, parent_id) in categories {
                    let new = NewCategory { id, parent_id };
                    CategoryRepo::new(&pool).insert(ctx, new).await.unwrap();
                }
                (acme, globex)
            }

            macro_rules! setup {
                ($name:literal) => {{
                    let Some(seeded) = seeded($name).await else {
                        return;
                    };
                    seeded
                }};
            }

            async fn totals(pool: &$pool_type, ctx: &TenantCtx) -> Vec<(i64, i64)> {
                let mut rows: Vec<(i64, i64)> = InvoiceRepo::new(pool)
                    .list(ctx)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|i| (i.id, i.total))
                    .collect();
                rows.sort();
                rows
            }

            #[tokio::test]
            async fn three_table_join_with_group_by_and_having() {
                let (pool, acme, globex) = setup!("checked_join3");
                let report = |ctx| {
                    query_as!(
                        ctx,
                        Owed,
                        "SELECT c.name AS name, CAST(count(DISTINCT i.id) AS BIGINT) AS invoices, \
                                CAST(sum(p.cents) AS BIGINT) AS paid \
                         FROM {Customer} c \
                         JOIN {Invoice} i ON i.customer_id = c.id \
                         JOIN {Payment} p ON p.invoice_id = i.id \
                         GROUP BY c.name HAVING sum(p.cents) > $1 ORDER BY c.name",
                        0_i64
                    )
                };
                let owed = |name: &str, invoices, paid| Owed { name: name.into(), invoices, paid };
                assert_eq!(report(&acme).fetch_all(&pool).await.unwrap(), [owed("Ann", 2, 150)]);
                assert_eq!(
                    report(&globex).fetch_all(&pool).await.unwrap(),
                    [owed("Gus", 1, 5), owed("Hal", 1, 2000)]
                );
            }

            #[tokio::test]
            async fn window_function() {
                let (pool, acme, globex) = setup!("checked_window");
                let ranked = |ctx| {
                    query_as!(
                        ctx,
                        (i64, i64, i64),
                        "SELECT id, total, CAST(rank() OVER (ORDER BY total DESC) AS BIGINT) \
                         FROM {Invoice} ORDER BY id"
                    )
                };
                assert_eq!(
                    ranked(&acme).fetch_all(&pool).await.unwrap(),
                    [(1, 100, 2), (2, 200, 1), (3, 50, 3)]
                );
                assert_eq!(
                    ranked(&globex).fetch_all(&pool).await.unwrap(),
                    [(1, 1000, 2), (2, 2000, 1), (4, 10, 3), (5, 7, 4)]
                );
            }

            #[tokio::test]
            async fn recursive_cte() {
                let (pool, acme, globex) = setup!("checked_recursive");
                let below = |ctx, root: i64| {
                    query_scalar!(
                        ctx,
                        i64,
                        "WITH RECURSIVE tree (id) AS ( \
                             SELECT id FROM {Category} WHERE id = $1 \
                             UNION ALL \
                             SELECT c.id FROM {Category} c JOIN tree t ON c.parent_id = t.id) \
                         SELECT id FROM tree ORDER BY id",
                        root
                    )
                };
                assert_eq!(below(&acme, 1).fetch_all(&pool).await.unwrap(), [1, 2, 3]);
                assert_eq!(below(&globex, 1).fetch_all(&pool).await.unwrap(), [1, 2, 4]);
                assert!(below(&globex, 3).fetch_all(&pool).await.unwrap().is_empty());
            }

            #[tokio::test]
            async fn left_join_whose_right_side_is_a_tenant_table() {
                let (pool, acme, globex) = setup!("checked_left_join");
                let invoices_of = |ctx| {
                    query_as!(
                        ctx,
                        (i64, Option<i64>),
                        "SELECT c.id, i.id FROM {Customer} c \
                         LEFT JOIN {Invoice} i ON i.customer_id = c.id ORDER BY c.id, i.id"
                    )
                };
                assert_eq!(
                    invoices_of(&acme).fetch_all(&pool).await.unwrap(),
                    [(1, Some(1)), (1, Some(2)), (2, Some(3)), (4, None)]
                );
                assert_eq!(
                    invoices_of(&globex).fetch_all(&pool).await.unwrap(),
                    [(1, Some(1)), (1, Some(4)), (3, Some(2))]
                );
            }

            #[tokio::test]
            async fn anti_joins() {
                let (pool, acme, globex) = setup!("checked_anti_join");
                for ctx in [&acme, &globex] {
                    let not_exists = query_scalar!(
                        ctx,
                        i64,
                        "SELECT c.id FROM {Customer} c WHERE NOT EXISTS \
                         (SELECT 1 FROM {Invoice} i WHERE i.customer_id = c.id) ORDER BY c.id"
                    )
                    .fetch_all(&pool)
                    .await
                    .unwrap();
                    let left_join = query_scalar!(
                        ctx,
                        i64,
                        "SELECT c.id FROM {Customer} c LEFT JOIN {Invoice} i \
                         ON i.customer_id = c.id WHERE i.id IS NULL ORDER BY c.id"
                    )
                    .fetch_all(&pool)
                    .await
                    .unwrap();
                    let not_in = query_scalar!(
                        ctx,
                        i64,
                        "SELECT id FROM {Customer} WHERE id NOT IN \
                         (SELECT customer_id FROM {Invoice}) ORDER BY id"
                    )
                    .fetch_all(&pool)
                    .await
                    .unwrap();
                    let expected: &[i64] = if ctx == &acme { &[4] } else { &[] };
                    assert_eq!(not_exists, expected);
                    assert_eq!(left_join, expected);
                    assert_eq!(not_in, expected);
                }
            }

            #[tokio::test]
            async fn aggregate() {
                let (pool, acme, globex) = setup!("checked_aggregate");
                let sums = |ctx| {
                    query_as!(
                        ctx,
                        (i64, i64),
                        "SELECT CAST(count(*) AS BIGINT), CAST(sum(total) AS BIGINT) FROM {Invoice}"
                    )
                };
                assert_eq!(sums(&acme).fetch_one(&pool).await.unwrap(), (3, 350));
                assert_eq!(sums(&globex).fetch_one(&pool).await.unwrap(), (4, 3017));
            }

            #[tokio::test]
            async fn update_from() {
                let (pool, acme, globex) = setup!("checked_update_from");
                let done = query!(
                    &acme,
                    "UPDATE {Invoice} AS i SET total = i.total + p.cents \
                     FROM {Payment} p WHERE p.invoice_id = i.id"
                )
                .execute(&pool)
                .await
                .unwrap();
                assert_eq!(done.rows_affected(), 2);
                assert_eq!(totals(&pool, &acme).await, [(1, 200), (2, 250), (3, 50)]);
                assert_eq!(
                    totals(&pool, &globex).await,
                    [(1, 1000), (2, 2000), (4, 10), (5, 7)]
                );
            }

            #[tokio::test]
            async fn delete_with_a_subquery() {
                let (pool, acme, globex) = setup!("checked_delete_in");
                // acme's invoice 2 is over 150; globex's payment 1 is of its invoice 2 too.
                let done = query!(
                    &acme,
                    "DELETE FROM {Payment} WHERE invoice_id IN \
                     (SELECT id FROM {Invoice} WHERE total > $1)",
                    150_i64
                )
                .execute(&pool)
                .await
                .unwrap();
                assert_eq!(done.rows_affected(), 1);
                let left = |ctx| query_scalar!(ctx, i64, "SELECT id FROM {Payment} ORDER BY id");
                assert_eq!(left(&acme).fetch_all(&pool).await.unwrap(), [1]);
                assert_eq!(left(&globex).fetch_all(&pool).await.unwrap(), [1, 3]);
            }

            #[tokio::test]
            async fn delete_using() {
                let (pool, acme, globex) = setup!("checked_delete_using");
                let delete = query!(
                    &acme,
                    "DELETE FROM {Payment} p USING {Invoice} i \
                     WHERE p.invoice_id = i.id AND i.total > $1",
                    150_i64
                );
                let done = delete.execute(&pool).await.unwrap();
                assert_eq!(done.rows_affected(), 1);
                let left = |ctx| query_scalar!(ctx, i64, "SELECT id FROM {Payment} ORDER BY id");
                assert_eq!(left(&acme).fetch_all(&pool).await.unwrap(), [1]);
                assert_eq!(left(&globex).fetch_all(&pool).await.unwrap(), [1, 3]);
            }

            #[tokio::test]
            async fn insert_select_between_two_entities() {
                let (pool, acme, globex) = setup!("checked_insert_select");
                let done = query!(
                    &acme,
                    "INSERT INTO {Archived} (id, total) SELECT id, total FROM {Invoice} \
                     WHERE total >= $1",
                    100_i64
                )
                .execute(&pool)
                .await
                .unwrap();
                assert_eq!(done.rows_affected(), 2);
                let archived = ArchivedRepo::new(&pool).list(&acme).await.unwrap();
                let mut archived: Vec<(i64, i64)> =
                    archived.into_iter().map(|a| (a.id, a.total)).collect();
                archived.sort();
                assert_eq!(archived, [(1, 100), (2, 200)]);
                assert!(ArchivedRepo::new(&pool).list(&globex).await.unwrap().is_empty());
            }

            #[tokio::test]
            async fn upsert_with_returning() {
                let (pool, acme, globex) = setup!("checked_upsert");
                let upsert = |ctx, id: i64, total: i64| {
                    query_as!(
                        ctx,
                        (i64, i64),
                        "INSERT INTO {Invoice} (id, customer_id, total) VALUES ($1, 1, $2) \
                         ON CONFLICT (id) DO UPDATE SET total = excluded.total \
                         RETURNING id, total",
                        id,
                        total
                    )
                };
                // Key 1 exists for both: acme's changes, globex's stays.
                assert_eq!(upsert(&acme, 1, 999).fetch_one(&pool).await.unwrap(), (1, 999));
                // Key 3 exists only for acme: globex gets a row of its own.
                assert_eq!(upsert(&globex, 3, 33).fetch_one(&pool).await.unwrap(), (3, 33));
                assert_eq!(totals(&pool, &acme).await, [(1, 999), (2, 200), (3, 50)]);
                assert_eq!(
                    totals(&pool, &globex).await,
                    [(1, 1000), (2, 2000), (3, 33), (4, 10), (5, 7)]
                );
            }

            #[tokio::test]
            async fn shared_reference_table() {
                let (pool, acme, globex) = setup!("checked_shared");
                let countries = |ctx| {
                    query_as!(
                        ctx,
                        shared(countries),
                        (String, String),
                        "SELECT c.name, k.name FROM {Customer} c \
                         JOIN countries k ON k.code = c.country ORDER BY c.id"
                    )
                };
                let pairs = |p: &[(&str, &str)]| -> Vec<(String, String)> {
                    p.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
                };
                assert_eq!(
                    countries(&acme).fetch_all(&pool).await.unwrap(),
                    pairs(&[("Ann", "Germany"), ("Bob", "France"), ("Dee", "France")])
                );
                assert_eq!(
                    countries(&globex).fetch_all(&pool).await.unwrap(),
                    pairs(&[("Gus", "France"), ("Hal", "Germany")])
                );
            }

            #[tokio::test]
            async fn runs_on_every_handle() {
                let (pool, acme, globex) = setup!("checked_handles");
                let count = |ctx| query_scalar!(ctx, i64, "SELECT CAST(count(*) AS BIGINT) FROM {Invoice}");
                assert_eq!(count(&acme).fetch_one(&pool).await.unwrap(), 3);

                let mut tx = pool.begin().await.unwrap();
                assert_eq!(count(&acme).fetch_one(&mut tx).await.unwrap(), 3);
                assert_eq!(count(&globex).fetch_one(&mut *tx).await.unwrap(), 4);
                tx.rollback().await.unwrap();

                let mut connection = pool.acquire().await.unwrap();
                assert_eq!(count(&acme).fetch_optional(&mut connection).await.unwrap(), Some(3));
                let streamed: Vec<i64> = query_scalar!(&globex, i64, "SELECT id FROM {Invoice} ORDER BY id")
                    .fetch(&mut *connection)
                    .try_collect()
                    .await
                    .unwrap();
                assert_eq!(streamed, [1, 2, 4, 5]);

                let rows = query!(&acme, "SELECT id FROM {Invoice} WHERE total > $1", 150_i64)
                    .fetch_all(&pool)
                    .await
                    .unwrap();
                assert_eq!(rows.len(), 1);
                assert!(query!(&acme, "SELECT id FROM {Invoice} WHERE id = $1", 5_i64)
                    .fetch_optional(&pool)
                    .await
                    .unwrap()
                    .is_none());
                // Not found is sqlx's RowNotFound, typed.
                assert!(matches!(
                    query!(&acme, "SELECT id FROM {Invoice} WHERE id = $1", 5_i64).fetch_one(&pool).await,
                    Err(Error::Database(sqlx::Error::RowNotFound))
                ));
            }

            #[tokio::test]
            async fn a_tenant_transaction_refuses_another_tenants_context() {
                let (pool, acme, globex) = setup!("checked_tenant_tx");
                let mut tx = TenantTx::begin(&pool, &acme).await.unwrap();
                let count = |ctx| query_scalar!(ctx, i64, "SELECT CAST(count(*) AS BIGINT) FROM {Invoice}");
                assert_eq!(count(&acme).fetch_one(&mut tx).await.unwrap(), 3);
                let refused = count(&globex).fetch_one(&mut tx).await;
                assert!(matches!(refused, Err(Error::TenantMismatch { .. })), "{refused:?}");
                let write = query!(&globex, "DELETE FROM {Invoice}").execute(&mut tx).await;
                assert!(matches!(write, Err(Error::TenantMismatch { .. })));
                let stream: Result<Vec<i64>, Error> = count(&globex).fetch(&mut tx).try_collect().await;
                assert!(matches!(stream, Err(Error::TenantMismatch { .. })));
                tx.commit().await.unwrap();
                // Nothing was sent: globex's invoices are all there.
                assert_eq!(count(&globex).fetch_one(&pool).await.unwrap(), 4);
            }
        }
    };
}

checked_suite!(sqlite, sqlx::SqlitePool, |_test| Some(
    support::sqlite().await
));
checked_suite!(postgres, sqlx::PgPool, |test| support::postgres(test).await);

/// The read queries of the suite, each result formatted, run on `$on` (evaluated for each).
macro_rules! reads {
    ($ctx:expr, $on:expr) => {{
        let ctx: &TenantCtx = $ctx;
        vec![
            format!("{:?}", query_as!(
                ctx,
                (String, i64),
                "SELECT c.name, CAST(sum(p.cents) AS BIGINT) FROM {Customer} c \
                 JOIN {Invoice} i ON i.customer_id = c.id JOIN {Payment} p ON p.invoice_id = i.id \
                 GROUP BY c.name HAVING sum(p.cents) > $1 ORDER BY c.name",
                0_i64
            ).fetch_all($on).await.unwrap()),
            format!("{:?}", query_as!(
                ctx,
                (i64, i64),
                "SELECT id, CAST(rank() OVER (ORDER BY total DESC) AS BIGINT) FROM {Invoice} ORDER BY id"
            ).fetch_all($on).await.unwrap()),
            format!("{:?}", query_scalar!(
                ctx,
                i64,
                "WITH RECURSIVE tree (id) AS (SELECT id FROM {Category} WHERE id = 1 UNION ALL \
                 SELECT c.id FROM {Category} c JOIN tree t ON c.parent_id = t.id) \
                 SELECT id FROM tree ORDER BY id"
            ).fetch_all($on).await.unwrap()),
            format!("{:?}", query_as!(
                ctx,
                (i64, Option<i64>),
                "SELECT c.id, i.id FROM {Customer} c LEFT JOIN {Invoice} i \
                 ON i.customer_id = c.id ORDER BY c.id, i.id"
            ).fetch_all($on).await.unwrap()),
            format!("{:?}", query_scalar!(
                ctx,
                i64,
                "SELECT c.id FROM {Customer} c WHERE NOT EXISTS \
                 (SELECT 1 FROM {Invoice} i WHERE i.customer_id = c.id) ORDER BY c.id"
            ).fetch_all($on).await.unwrap()),
            format!("{:?}", query_as!(
                ctx,
                (i64, i64),
                "SELECT CAST(count(*) AS BIGINT), CAST(sum(total) AS BIGINT) FROM {Invoice}"
            ).fetch_one($on).await.unwrap()),
            format!("{:?}", query_as!(
                ctx,
                shared(countries),
                (String, String),
                "SELECT c.name, k.name FROM {Customer} c JOIN countries k ON k.code = c.country \
                 ORDER BY c.id"
            ).fetch_all($on).await.unwrap()),
        ]
    }};
}

/// The two layers agree: as the application role, inside a `RowSecurity` transaction (where
/// the policies hide every other tenant's rows), the checked queries give the rows they give
/// on the plain pool, where only their injected restriction does.
#[tokio::test]
async fn row_security_gives_the_same_rows() {
    let Some((owner, app)) = support::postgres_app_role("checked_rls", 2).await else {
        return;
    };
    let (acme, globex) = postgres::seed(&owner).await;
    let mut plain = Vec::new();
    for ctx in [&acme, &globex] {
        plain.push(reads!(ctx, &owner));
    }
    let rls = support::install_row_security(&owner).await;
    CustomerRepo::new(&owner)
        .row_level_security()
        .await
        .unwrap();
    InvoiceRepo::new(&owner).row_level_security().await.unwrap();
    PaymentRepo::new(&owner).row_level_security().await.unwrap();
    CategoryRepo::new(&owner)
        .row_level_security()
        .await
        .unwrap();
    for (ctx, plain) in [&acme, &globex].into_iter().zip(plain) {
        let mut tx = rls.begin(&app, ctx).await.unwrap();
        assert_eq!(reads!(ctx, &mut tx), plain, "{}", ctx.tenant_id());
        // A write through both layers: the restriction and the policy agree on the rows.
        let done = query!(
            ctx,
            "UPDATE {Invoice} AS i SET total = i.total + p.cents FROM {Payment} p \
             WHERE p.invoice_id = i.id"
        )
        .execute(&mut tx)
        .await
        .unwrap();
        assert_eq!(done.rows_affected(), 2, "{}", ctx.tenant_id());
        tx.rollback().await.unwrap();
    }
    // Outside a tenant transaction the policies show nothing, whatever the query injects.
    let hidden = query_scalar!(&acme, i64, "SELECT CAST(count(*) AS BIGINT) FROM {Invoice}")
        .fetch_one(&app)
        .await
        .unwrap();
    assert_eq!(hidden, 0);
}

/// What the checked queries send (`-- --nocapture` prints them): the restriction of each
/// entity reference, where its clause needs it (the ON of a LEFT JOIN's inner side, not the
/// WHERE, which would turn it into an inner join), and the tenant as the last parameter.
#[test]
fn rendered_statements() {
    let acme = ctx("acme", Plan::Free);
    let cases = [
        (
            query!(&acme, "SELECT c.id, i.id FROM {Customer} c LEFT JOIN {Invoice} i ON i.customer_id = c.id").sql(),
            &[r#"LEFT JOIN "invoices" i ON (i.customer_id = c.id) AND i."tenant_id" = $1"#, r#"WHERE c."tenant_id" = $1"#][..],
        ),
        (
            query!(&acme, "DELETE FROM {Payment} p USING {Invoice} i WHERE p.invoice_id = i.id AND i.total > $1", 1_i64).sql(),
            &[r#"i."tenant_id" = $2"#, r#"p."tenant_id" = $2"#][..],
        ),
        (
            query!(&acme, "INSERT INTO {Invoice} (id, customer_id, total) VALUES ($1, 1, $2) ON CONFLICT (id) DO UPDATE SET total = excluded.total RETURNING id", 1_i64, 2_i64).sql(),
            &[r#"(id, customer_id, total, "tenant_id") VALUES ($1, 1, $2, $3)"#, r#"ON CONFLICT("tenant_id", id)"#, r#"WHERE "invoices"."tenant_id" = $3"#][..],
        ),
    ];
    for (sql, fragments) in cases {
        println!("{sql}");
        for fragment in fragments {
            assert!(sql.contains(fragment), "{fragment} missing from {sql}");
        }
    }
}
