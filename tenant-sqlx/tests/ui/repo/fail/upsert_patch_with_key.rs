// `InvoicePatch` has no key: an upsert cannot move the row it conflicts with to another key.
use tenant::{tenant_scoped, TenantId};

#[tenant_scoped(table = "invoices")]
pub struct Invoice {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    pub amount_cents: i64,
}

async fn upsert(pool: &sqlx::SqlitePool, ctx: &tenant::TenantCtx) -> Result<(), tenant::sqlx::Error> {
    let new = NewInvoice { id: 1, amount_cents: 5 };
    let patch = InvoicePatch { id: Some(2), ..Default::default() };
    InvoiceRepo::new(pool).upsert(ctx, new, patch).await?;
    Ok(())
}

fn main() {
    let _ = upsert;
}
