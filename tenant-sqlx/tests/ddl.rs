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
        }
    };
}

ddl_suite!(sqlite, Some(support::sqlite().await));
ddl_suite!(postgres, support::postgres("ddl").await);
