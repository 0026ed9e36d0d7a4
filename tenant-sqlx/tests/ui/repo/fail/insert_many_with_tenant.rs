// The rows of `insert_many` have no tenant field: the repository binds `ctx`'s tenant into each.
use tenant::{tenant_scoped, TenantId};

#[tenant_scoped(table = "invoices")]
pub struct Invoice {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    pub amount_cents: i64,
}

async fn import(pool: &sqlx::SqlitePool, ctx: &tenant::TenantCtx) -> Result<(), tenant::sqlx::Error> {
    let rows = vec![NewInvoice { id: 1, tenant_id: "globex".parse()?, amount_cents: 5 }];
    InvoiceRepo::new(pool).insert_many(ctx, rows).await?;
    Ok(())
}

fn main() {
    let _ = import;
}
