// An order built from another entity's columns is rejected: its column indexes would mean other
// columns of this table.
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

async fn biggest_invoices(pool: &sqlx::SqlitePool, ctx: &TenantCtx) -> Result<(), tenant::sqlx::Error> {
    let mut repo = InvoiceRepo::new(pool);
    let _rows = repo.select(ctx).order(Payment::columns().amount_cents.desc()).all().await?;
    Ok(())
}

fn main() {
    let _ = biggest_invoices;
}
