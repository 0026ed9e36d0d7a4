// A filter built from another entity's columns is rejected: its column indexes would mean other columns of this table.
use tenant::{tenant_scoped, TenantCtx, TenantId};

#[tenant_scoped(table = "invoices")]
pub struct Invoice {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    pub amount_cents: i64,
}

#[tenant_scoped(table = "payments")]
pub struct Payment {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    pub amount_cents: i64,
}

async fn big_invoices(pool: &sqlx::SqlitePool, ctx: &TenantCtx) -> Result<(), tenant::sqlx::Error> {
    let mut repo = InvoiceRepo::new(pool);
    let _rows = repo.list_where(ctx, Payment::columns().amount_cents.gt(5)).await?;
    Ok(())
}

fn main() {
    let _ = big_invoices;
}
