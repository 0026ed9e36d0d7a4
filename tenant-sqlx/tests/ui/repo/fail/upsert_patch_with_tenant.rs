// `InvoicePatch` has no tenant: an upsert cannot hand the row it conflicts with to another tenant.
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
    let patch = InvoicePatch { tenant_id: Some("globex".parse()?), ..Default::default() };
    InvoiceRepo::new(pool).upsert(ctx, new, patch).await?;
    Ok(())
}

fn main() {
    let _ = upsert;
}
