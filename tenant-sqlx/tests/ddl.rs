//! The DDL of two entities whose table and column names could run together: each keeps its
//! own per-tenant unique index, on SQLite and on PostgreSQL.

#![allow(missing_docs)] // test entities

use tenant::sqlx::Error;
use tenant::{Plan, TenantId, tenant_scoped};
use tenant_test_support as support;

#[tenant_scoped(table = "invoice")]
#[derive(Debug)]
pub struct Invoice {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    #[unique]
    pub line_number: String,
}

#[tenant_scoped(table = "invoice_line")]
#[derive(Debug)]
pub struct InvoiceLine {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    #[unique]
    pub number: String,
}

macro_rules! ddl_suite {
    ($backend:ident, $pool:expr) => {
        mod $backend {
            use super::*;

            // Regression: both indexes were named `invoice_line_number_key`;
            // `IF NOT EXISTS` skipped the second, and `invoice_line.number` was not unique.
            #[tokio::test]
            async fn each_table_keeps_its_unique_index() {
                let Some(pool) = $pool else { return };
                let acme = support::ctx("acme", Plan::Free);
                let mut invoices = InvoiceRepo::new(&pool);
                let mut lines = InvoiceLineRepo::new(&pool);
                invoices.create_table().await.unwrap();
                lines.create_table().await.unwrap();

                let line = |id: i64| NewInvoiceLine {
                    id,
                    number: "L-1".into(),
                };
                lines.insert(&acme, line(1)).await.unwrap();
                let twin = lines.insert(&acme, line(2)).await;
                assert!(
                    matches!(
                        twin,
                        Err(Error::Conflict {
                            table: "invoice_line",
                            ..
                        })
                    ),
                    "{twin:?}"
                );
                let invoice = |id: i64| NewInvoice {
                    id,
                    line_number: "7".into(),
                };
                invoices.insert(&acme, invoice(1)).await.unwrap();
                let twin = invoices.insert(&acme, invoice(2)).await;
                assert!(
                    matches!(
                        twin,
                        Err(Error::Conflict {
                            table: "invoice",
                            ..
                        })
                    ),
                    "{twin:?}"
                );
            }

            // Regression: an index of the same name on another table made
            // `IF NOT EXISTS` skip ours silently; now it is a typed error.
            #[tokio::test]
            async fn an_index_name_taken_by_another_table_is_an_error() {
                let Some(pool) = $pool else { return };
                sqlx::query("CREATE TABLE legacy (id BIGINT, line_number TEXT)")
                    .execute(&pool)
                    .await
                    .unwrap();
                sqlx::query(
                    "CREATE INDEX t7_invoice_line_number_key ON legacy (line_number)",
                )
                .execute(&pool)
                .await
                .unwrap();
                let taken = InvoiceRepo::new(&pool).create_table().await;
                assert!(
                    matches!(
                        &taken,
                        Err(Error::IndexNameTaken { index, table })
                            if index == "t7_invoice_line_number_key" && table == "legacy"
                    ),
                    "{taken:?}"
                );
                // Creating it again once the table is ours is idempotent.
                let mut lines = InvoiceLineRepo::new(&pool);
                lines.create_table().await.unwrap();
                lines.create_table().await.unwrap();
            }

            // Regression (issue 21): any relation with the index's name (a table here), or an
            // index of that name on our own table but on other columns and not unique, made
            // `IF NOT EXISTS` skip ours silently on PostgreSQL (SQLite refused the first with
            // an untyped error and skipped the second): the column was not unique per tenant.
            #[tokio::test]
            async fn a_relation_with_the_index_name_is_an_error() {
                let Some(pool) = $pool else { return };
                sqlx::query("CREATE TABLE t7_invoice_line_number_key (x INTEGER)")
                    .execute(&pool)
                    .await
                    .unwrap();
                let taken = InvoiceRepo::new(&pool).create_table().await;
                assert!(
                    matches!(
                        &taken,
                        Err(Error::IndexMismatch { index, found, .. })
                            if index == "t7_invoice_line_number_key" && found == "a table"
                    ),
                    "{taken:?}"
                );
            }

            #[tokio::test]
            async fn an_index_of_the_name_with_another_shape_is_an_error() {
                let Some(pool) = $pool else { return };
                sqlx::raw_sql(
                    "CREATE TABLE invoice (id BIGINT NOT NULL, tenant_id TEXT NOT NULL, \
                       line_number TEXT NOT NULL, PRIMARY KEY (tenant_id, id)); \
                     CREATE INDEX t7_invoice_line_number_key ON invoice (line_number)",
                )
                .execute(&pool)
                .await
                .unwrap();
                let mut invoices = InvoiceRepo::new(&pool);
                let skipped = invoices.create_table().await;
                assert!(
                    matches!(
                        &skipped,
                        Err(Error::IndexMismatch { index, table: "invoice", found, .. })
                            if index == "t7_invoice_line_number_key"
                                && found == "an index on (line_number)"
                    ),
                    "{skipped:?}"
                );
                // A partial unique index on the right columns enforces nothing outside its
                // predicate: not the index either.
                sqlx::query("DROP INDEX t7_invoice_line_number_key")
                    .execute(&pool)
                    .await
                    .unwrap();
                sqlx::query(
                    "CREATE UNIQUE INDEX t7_invoice_line_number_key \
                     ON invoice (tenant_id, line_number) WHERE id < 0",
                )
                .execute(&pool)
                .await
                .unwrap();
                let partial = invoices.create_table().await;
                assert!(
                    matches!(&partial, Err(Error::IndexMismatch { found, .. })
                        if found == "a partial unique index on (tenant_id, line_number)"),
                    "{partial:?}"
                );
                // The right index makes it idempotent again.
                sqlx::query("DROP INDEX t7_invoice_line_number_key")
                    .execute(&pool)
                    .await
                    .unwrap();
                invoices.create_table().await.unwrap();
                invoices.create_table().await.unwrap();
            }
        }
    };
}

/// On PostgreSQL every kind of relation shares the name space of indexes: a sequence of the
/// name made `IF NOT EXISTS` skip the unique index silently.
#[tokio::test]
async fn postgres_a_sequence_with_the_index_name_is_an_error() {
    let Some(pool) = support::postgres("ddl_sequence").await else {
        return;
    };
    sqlx::query("CREATE SEQUENCE t7_invoice_line_number_key")
        .execute(&pool)
        .await
        .unwrap();
    let taken = InvoiceRepo::new(&pool).create_table().await;
    assert!(
        matches!(&taken, Err(Error::IndexMismatch { found, .. }) if found == "a sequence"),
        "{taken:?}"
    );
}

ddl_suite!(sqlite, Some(support::sqlite().await));
ddl_suite!(postgres, support::postgres("ddl").await);
