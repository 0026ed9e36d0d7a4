// `update` takes an `InvoicePatch`, not a `NewInvoice`: a full row would also carry the key.
use tenant::{tenant_scoped, TenantCtx, TenantId};

#[tenant_scoped(table = "invoices")]
pub struct Invoice {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    pub amount_cents: i64,
}

async fn reprice(pool: &sqlx::SqlitePool, ctx: &TenantCtx) -> Result<(), tenant::sqlx::Error> {
    let mut repo = InvoiceRepo::new(pool);
    let _changed = repo.update(ctx, 1, NewInvoice { id: 2, amount_cents: 5 }).await?;
    Ok(())
}

fn main() {
    let _ = reprice;
}
